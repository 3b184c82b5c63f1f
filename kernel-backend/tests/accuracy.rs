#![cfg(all(target_os = "linux", not(madsim)))]
//! Accuracy with real traffic between real namespaces: the configured
//! impairment is what the packets experience, within stated tolerances.
//!
//! - `tc` rate (HTB class + TBF, no netem needed): TCP goodput within ±5%
//!   of 10 and 100 Mbit/s.
//! - userspace engine: round trips within max(5%, 0.3 ms) of the configured
//!   latency from 5 to 200 ms; loss, duplication and reordering within
//!   three standard deviations of their rates over 10,000 UDP packets; rate
//!   within ±5%.
//! - netem through the `tc` engine where the kernel has it (reported
//!   skipped, with the reason, where it does not).

use std::time::{Duration, Instant};

use kernel_backend::testing::{require_root, skip};
use kernel_backend::{EngineChoice, Hub, HubConfig, probe};
use madsim_net::LinkImpairment;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const PORT: u16 = 7100;

fn hub(engine: EngineChoice, peers: usize) -> Hub {
    let mut hub = Hub::new(HubConfig {
        engine,
        seed: 42,
        ..HubConfig::default()
    })
    .expect("hub");
    hub.add_peers(peers).expect("peers");
    hub
}

fn impairment(
    build: impl FnOnce(
        madsim_net::impairment::LinkImpairmentBuilder,
    ) -> madsim_net::impairment::LinkImpairmentBuilder,
) -> LinkImpairment {
    build(LinkImpairment::builder())
        .build()
        .expect("valid impairment")
}

// ---- TCP goodput --------------------------------------------------------

/// Goodput of one TCP stream from peer 0 to peer 1, measured at the
/// receiver over `window` after the first `warmup_bytes` (the token
/// bucket's initial burst) have arrived.
fn tcp_goodput_bits_per_sec(hub: &Hub, warmup_bytes: u64, window: Duration) -> f64 {
    let sender = hub.peer_runtime(0).unwrap();
    let receiver = hub.peer_runtime(1).unwrap();
    let (from, to) = (hub.peer_ip(0).unwrap(), hub.peer_ip(1).unwrap());
    let listener = receiver.call(async move { TcpListener::bind((to, PORT)).await.unwrap() });
    let measured = receiver.spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut received = 0u64;
        while received < warmup_bytes {
            received += stream.read(&mut buf).await.unwrap() as u64;
        }
        let started = Instant::now();
        let mut counted = 0u64;
        while started.elapsed() < window {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the sender stopped early");
            counted += n as u64;
        }
        counted as f64 * 8.0 / started.elapsed().as_secs_f64()
    });
    let sending = sender.spawn(async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((from, 0).into()).unwrap();
        let mut stream: TcpStream = socket.connect((to, PORT).into()).await.unwrap();
        let chunk = vec![7u8; 64 * 1024];
        // Until the receiver hangs up after its window.
        while stream.write_all(&chunk).await.is_ok() {}
    });
    let goodput = receiver.call(measured).unwrap();
    drop(receiver);
    let _ = sender.call(sending);
    goodput
}

fn assert_within(what: &str, measured: f64, expected: f64, tolerance: f64) {
    let error = (measured - expected).abs() / expected;
    println!(
        "{what}: measured {measured:.0}, configured {expected:.0}, error {:.2}%",
        error * 100.0
    );
    assert!(
        error <= tolerance,
        "{what}: {measured:.0} is {:.2}% off {expected:.0} (tolerance {:.0}%)",
        error * 100.0,
        tolerance * 100.0
    );
}

#[test]
fn tc_rate_goodput_is_within_5_percent_at_10_and_100_mbit() {
    if !require_root("tc_rate_goodput_is_within_5_percent_at_10_and_100_mbit") {
        return;
    }
    if !probe::capabilities().tbf || !probe::capabilities().htb {
        skip(
            "tc_rate_goodput_is_within_5_percent_at_10_and_100_mbit",
            "the kernel lacks HTB or TBF",
        );
        return;
    }
    for rate_bits_per_sec in [10_000_000u64, 100_000_000] {
        let hub = hub(EngineChoice::Bridge, 2);
        hub.set_link(0, 1, impairment(|b| b.rate_bits_per_sec(rate_bits_per_sec)))
            .unwrap();
        let goodput = tcp_goodput_bits_per_sec(&hub, 512 * 1024, Duration::from_secs(3));
        let mbit = rate_bits_per_sec / 1_000_000;
        assert_within(
            &format!("tc TBF goodput at {mbit} Mbit/s"),
            goodput,
            rate_bits_per_sec as f64,
            0.05,
        );
        // Tighter: TBF meters whole Ethernet frames, 1514 bytes for each
        // 1448 of TCP payload (MTU 1500, timestamps on); in frames, the
        // rate must be met within 2%.
        assert_within(
            &format!("tc TBF frame rate at {mbit} Mbit/s"),
            goodput * 1514.0 / 1448.0,
            rate_bits_per_sec as f64,
            0.02,
        );
    }
}

// ---- UDP probes ---------------------------------------------------------

/// Round trips of `count` UDP pings from peer 0 to peer 1 and back.
fn udp_round_trips(hub: &Hub, count: usize) -> Vec<Duration> {
    let client = hub.peer_runtime(0).unwrap();
    let server = hub.peer_runtime(1).unwrap();
    let (from, to) = (hub.peer_ip(0).unwrap(), hub.peer_ip(1).unwrap());
    let echo_socket = server.call(async move { UdpSocket::bind((to, PORT)).await.unwrap() });
    let echo = server.spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            let (n, peer) = echo_socket.recv_from(&mut buf).await.unwrap();
            echo_socket.send_to(&buf[..n], peer).await.unwrap();
        }
    });
    let rtts = client.call(async move {
        let socket = UdpSocket::bind((from, 0)).await.unwrap();
        let mut rtts = Vec::with_capacity(count);
        let mut buf = [0u8; 64];
        let mut seq = 0u64;
        while rtts.len() < count {
            seq += 1;
            let started = Instant::now();
            socket
                .send_to(&seq.to_be_bytes(), (to, PORT))
                .await
                .unwrap();
            // A ping that does not come back within 2 s is a loss; retry.
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await
            {
                if n == 8 && buf[..8] == seq.to_be_bytes() {
                    rtts.push(started.elapsed());
                    break;
                }
            }
        }
        rtts
    });
    echo.abort();
    rtts
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn userspace_round_trips_match_the_configured_latency() {
    if !require_root("userspace_round_trips_match_the_configured_latency") {
        return;
    }
    let hub = hub(EngineChoice::Userspace, 2);
    // The path's own round trip, measured the same way, is the zero point.
    let mut base = udp_round_trips(&hub, 50);
    base.sort();
    let base_rtt = percentile(&base, 0.5);
    println!("unimpaired round trip: p50 {base_rtt:?}");
    for latency_ms in [5u64, 20, 50, 200] {
        let pings = if latency_ms >= 200 { 15 } else { 40 };
        let one_way = impairment(|b| b.latency_ms(latency_ms));
        hub.set_link(0, 1, one_way).unwrap();
        hub.set_link(1, 0, one_way).unwrap();
        let mut rtts = udp_round_trips(&hub, pings);
        rtts.sort();
        let configured = Duration::from_millis(2 * latency_ms);
        let tolerance = (configured.mul_f64(0.05)).max(Duration::from_micros(300));
        let p50 = percentile(&rtts, 0.5);
        let p90 = percentile(&rtts, 0.9);
        println!(
            "latency {latency_ms} ms each way: rtt p50 {p50:?} p90 {p90:?} (configured {configured:?} + base {base_rtt:?}, tolerance {tolerance:?})"
        );
        for (name, rtt) in [("p50", p50), ("p90", p90)] {
            let error = rtt.saturating_sub(base_rtt).abs_diff(configured);
            assert!(
                error <= tolerance,
                "latency {latency_ms} ms: {name} round trip {rtt:?} is {error:?} off {configured:?} + {base_rtt:?}"
            );
        }
    }
}

/// Sends `count` numbered datagrams from peer 0 to peer 1, paced so no
/// socket buffer overflows, and returns the numbers in arrival order.
fn udp_arrivals(hub: &Hub, count: u32, payload_bytes: usize, gap: Duration) -> Vec<u32> {
    let sender = hub.peer_runtime(0).unwrap();
    let receiver = hub.peer_runtime(1).unwrap();
    let (from, to) = (hub.peer_ip(0).unwrap(), hub.peer_ip(1).unwrap());
    let socket = receiver.call(async move { UdpSocket::bind((to, PORT + 1)).await.unwrap() });
    let arrivals = receiver.spawn(async move {
        let mut seen = Vec::with_capacity(count as usize * 2);
        let mut buf = vec![0u8; 65_536];
        // Done when nothing arrives for a while after the last send.
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1_500), socket.recv(&mut buf)).await
        {
            if n >= 4 {
                seen.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            }
        }
        seen
    });
    sender.call(async move {
        let socket = UdpSocket::bind((from, 0)).await.unwrap();
        let mut datagram = vec![0u8; payload_bytes.max(4)];
        let started = Instant::now();
        for seq in 0..count {
            datagram[..4].copy_from_slice(&seq.to_be_bytes());
            socket.send_to(&datagram, (to, PORT + 1)).await.unwrap();
            // Pace by the clock, not by sleeping per packet (1 ms timer floor).
            let due = started + gap * (seq + 1);
            if let Some(wait) = due.checked_duration_since(Instant::now())
                && wait > Duration::from_millis(2)
            {
                tokio::time::sleep(wait).await;
            }
        }
    });
    receiver.call(arrivals).unwrap()
}

/// Asserts `observed` events out of `trials` match probability `p` within
/// three standard deviations.
fn assert_rate_within_3_sigma(what: &str, observed: u64, trials: u64, p: f64) {
    let expected = trials as f64 * p;
    let sigma = (trials as f64 * p * (1.0 - p)).sqrt();
    let deviation = (observed as f64 - expected).abs();
    println!(
        "{what}: observed {observed} of {trials}, expected {expected:.0} ± {:.1} (3σ)",
        3.0 * sigma
    );
    assert!(
        deviation <= 3.0 * sigma,
        "{what}: {observed} of {trials} is {:.1}σ from the expected {expected:.0}",
        deviation / sigma
    );
}

const PACKETS: u32 = 10_000;

fn distinct(arrivals: &[u32]) -> u64 {
    arrivals
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64
}

#[test]
fn userspace_loss_matches_its_rate_over_10000_packets() {
    if !require_root("userspace_loss_matches_its_rate_over_10000_packets") {
        return;
    }
    let hub = hub(EngineChoice::Userspace, 2);
    hub.set_link(0, 1, impairment(|b| b.loss_percent(10.0)))
        .unwrap();
    let arrivals = udp_arrivals(&hub, PACKETS, 64, Duration::from_micros(50));
    let unique = distinct(&arrivals);
    assert_eq!(
        unique,
        arrivals.len() as u64,
        "loss alone duplicates nothing"
    );
    let lost = u64::from(PACKETS) - unique;
    assert_rate_within_3_sigma("loss 10%", lost, u64::from(PACKETS), 0.10);
}

#[test]
fn userspace_duplicates_match_their_rate_over_10000_packets() {
    if !require_root("userspace_duplicates_match_their_rate_over_10000_packets") {
        return;
    }
    let hub = hub(EngineChoice::Userspace, 2);
    hub.set_link(0, 1, impairment(|b| b.duplicate_percent(5.0)))
        .unwrap();
    let arrivals = udp_arrivals(&hub, PACKETS, 64, Duration::from_micros(50));
    let unique = distinct(&arrivals);
    assert_eq!(
        unique,
        u64::from(PACKETS),
        "duplication alone loses nothing"
    );
    let duplicates = arrivals.len() as u64 - unique;
    assert_rate_within_3_sigma("duplicate 5%", duplicates, u64::from(PACKETS), 0.05);
}

#[test]
fn userspace_reordering_matches_its_rate_over_10000_packets() {
    if !require_root("userspace_reordering_matches_its_rate_over_10000_packets") {
        return;
    }
    let hub = hub(EngineChoice::Userspace, 2);
    // Reordered packets skip the 10 ms delay and overtake the ~100 packets
    // sent before them in that time: each one is seen early.
    hub.set_link(0, 1, impairment(|b| b.latency_ms(10).reorder_percent(20.0)))
        .unwrap();
    let arrivals = udp_arrivals(&hub, PACKETS, 64, Duration::from_micros(100));
    assert_eq!(arrivals.len(), PACKETS as usize, "reordering loses nothing");
    // A packet arrived early if a packet sent before it arrived after it.
    let mut early = 0u64;
    let mut lowest_later = u32::MAX;
    for &seq in arrivals.iter().rev() {
        if lowest_later < seq {
            early += 1;
        }
        lowest_later = lowest_later.min(seq);
    }
    assert_rate_within_3_sigma("reorder 20%", early, u64::from(PACKETS), 0.20);
}

#[test]
fn userspace_rate_is_within_5_percent() {
    if !require_root("userspace_rate_is_within_5_percent") {
        return;
    }
    let hub = hub(EngineChoice::Userspace, 2);
    let rate_bits_per_sec = 10_000_000u64;
    hub.set_link(0, 1, impairment(|b| b.rate_bits_per_sec(rate_bits_per_sec)))
        .unwrap();
    let goodput = tcp_goodput_bits_per_sec(&hub, 256 * 1024, Duration::from_secs(3));
    // The engine's rate counts whole IP packets; TCP goodput is the payload
    // (52 bytes of IP and TCP headers per packet of the TUN MTU).
    let mtu = f64::from(HubConfig::default().tun_mtu_bytes);
    let payload_share = (mtu - 52.0) / mtu;
    assert_within(
        "userspace rate 10 Mbit/s (TCP goodput / payload share)",
        goodput / payload_share,
        rate_bits_per_sec as f64,
        0.05,
    );
}

#[test]
fn tc_netem_latency_matches_where_the_kernel_has_netem() {
    if !require_root("tc_netem_latency_matches_where_the_kernel_has_netem") {
        return;
    }
    if !probe::capabilities().netem {
        skip(
            "tc_netem_latency_matches_where_the_kernel_has_netem",
            "this kernel has no sch_netem (tc engine latency/loss untestable here)",
        );
        return;
    }
    let hub = hub(EngineChoice::Tc, 2);
    let mut base = udp_round_trips(&hub, 20);
    base.sort();
    let base_rtt = percentile(&base, 0.5);
    let one_way = impairment(|b| b.latency_ms(20));
    hub.set_link(0, 1, one_way).unwrap();
    hub.set_link(1, 0, one_way).unwrap();
    let mut rtts = udp_round_trips(&hub, 40);
    rtts.sort();
    let p50 = percentile(&rtts, 0.5);
    let error = p50
        .saturating_sub(base_rtt)
        .abs_diff(Duration::from_millis(40));
    assert!(error <= Duration::from_millis(2), "netem rtt p50 {p50:?}");
}
