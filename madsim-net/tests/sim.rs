//! Fidelity of the simulated network against its configuration.
//! Runs only under `RUSTFLAGS="--cfg madsim"` (`cargo xtask test` does both).
#![cfg(madsim)]

use std::time::Duration;

use madsim_net::net::{SocketAddr, TcpListener, TcpStream};
use madsim_net::scenario::{self, ECHO_PORT, ONE_WAY_PAYLOAD_BYTES};
use madsim_net::{FailureInjector, LinkImpairment, NetBackend, NetError, SimBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[madsim::test]
async fn echo_round_trips_follow_latency_and_jitter() {
    let mut backend = SimBackend::new().unwrap();
    let link = LinkImpairment::builder()
        .latency_ms(50)
        .jitter_ms(10)
        .build()
        .unwrap();
    let report = scenario::echo(&mut backend, link, 300, 64).await.unwrap();
    // Base latency is 1 ms each way: RTT = 2 x (50 ± 10) + 2 ms.
    assert_eq!(backend.injector().base_latency(), Duration::from_millis(1));
    for rtt in &report.rtts {
        assert!(
            (78.0..=125.0).contains(&ms(*rtt)),
            "rtt {rtt:?} outside [78, 125] ms"
        );
    }
    let spread = ms(report.max()) - ms(report.min());
    assert!(
        spread > 25.0,
        "jitter unused: spread {spread} ms over 300 rounds"
    );
    let counters = backend.counters();
    assert!(
        counters.delayed >= 600,
        "every segment's delay is an event: {counters:?}"
    );
}

#[madsim::test]
async fn one_mib_at_ten_mbit_takes_point_eighty_four_seconds() {
    let mut backend = SimBackend::new().unwrap();
    let link = LinkImpairment::builder()
        .rate_bits_per_sec(10_000_000)
        .build()
        .unwrap();
    let elapsed = scenario::bulk_round_trip(&mut backend, link, 1024 * 1024)
        .await
        .unwrap();
    let expected = 1024.0 * 1024.0 * 8.0 / 10e6;
    let secs = elapsed.as_secs_f64();
    assert!(
        (secs - expected).abs() <= expected * 0.05,
        "took {secs} s, expected {expected} s ± 5%"
    );
}

#[madsim::test]
async fn one_way_partition_stops_one_direction_only() {
    let mut backend = SimBackend::new().unwrap();
    let report = scenario::one_way_partition(&mut backend, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(report.forward_bytes_during_cut, 0, "{report:?}");
    assert!(report.reverse_bytes_during_cut >= 1000, "{report:?}");
    assert_eq!(
        report.forward_bytes_after_heal, ONE_WAY_PAYLOAD_BYTES,
        "{report:?}"
    );
    assert!(backend.counters().stalled >= 1);
}

#[madsim::test]
async fn timed_partition_heals_on_time_and_delivers_every_byte_once() {
    let mut backend = SimBackend::new().unwrap();
    let heal_after = Duration::from_secs(3);
    let report =
        scenario::timed_partition(&mut backend, LinkImpairment::none(), heal_after, 256 * 1024)
            .await
            .unwrap();
    let first = report.first_byte_after_cut;
    assert!(first >= heal_after, "a byte crossed the cut at {first:?}");
    assert!(
        first <= heal_after + Duration::from_millis(20),
        "heal late: first byte at {first:?}"
    );
    assert_eq!(report.bytes_checked, 256 * 1024);
    let events = backend.events();
    let healed = events
        .iter()
        .find(|e| matches!(e.kind, madsim_net::EventKind::PartitionHealed { .. }))
        .expect("heal recorded");
    let started = events
        .iter()
        .find(|e| matches!(e.kind, madsim_net::EventKind::PartitionStarted { .. }))
        .unwrap();
    // madsim fires timers within a microsecond of their deadline.
    let heal_ns = healed.time_ns - started.time_ns;
    assert!(
        heal_ns.abs_diff(heal_after.as_nanos() as u64) < 1_000,
        "healed after {heal_ns} ns"
    );
}

async fn connect(addr: SocketAddr) -> TcpStream {
    scenario::connect_with_retry(addr).await.expect("connects")
}

#[madsim::test]
async fn kill_resets_peer_streams_and_restart_rebinds() {
    let mut backend = SimBackend::new().unwrap();
    let (server, client) = scenario::add_echo_pair(&mut backend).await.unwrap();
    let addr = SocketAddr::new(backend.node_ip(server).unwrap(), ECHO_PORT);
    let mut stream = backend
        .spawn_on(client, async move { connect(addr).await })
        .unwrap()
        .await
        .unwrap();
    backend.kill(server).await.unwrap();
    let read = backend
        .spawn_on(client, async move {
            let mut buf = [0u8; 4];
            let write = stream.write_all(b"ping").await;
            let read = stream.read(&mut buf).await;
            (write, read)
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        read.0.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    assert_eq!(
        read.1.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
    assert!(backend.counters().streams_reset >= 1);
    assert!(matches!(
        backend.spawn_on(server, async {}),
        Err(NetError::NodeDown(_))
    ));

    backend.restart(server).await.unwrap();
    let echoed = backend
        .spawn_on(client, async move {
            let mut stream = connect(addr).await;
            stream.write_all(b"back").await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(&echoed, b"back");
}

#[madsim::test]
async fn paused_node_answers_only_after_resume() {
    let mut backend = SimBackend::new().unwrap();
    let (server, client) = scenario::add_echo_pair(&mut backend).await.unwrap();
    let addr = SocketAddr::new(backend.node_ip(server).unwrap(), ECHO_PORT);
    let mut stream = backend
        .spawn_on(client, async move { connect(addr).await })
        .unwrap()
        .await
        .unwrap();
    backend.pause(server).await.unwrap();
    let task = backend
        .spawn_on(client, async move {
            let start = madsim_net::time::Instant::now();
            stream.write_all(b"wake").await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            start.elapsed()
        })
        .unwrap();
    madsim_net::time::sleep(Duration::from_secs(2)).await;
    backend.resume(server).await.unwrap();
    let waited = task.await.unwrap();
    assert!(
        waited >= Duration::from_secs(2),
        "answered while paused: {waited:?}"
    );
    assert!(waited < Duration::from_millis(2100), "{waited:?}");
}

#[madsim::test]
async fn connection_limit_is_a_typed_error_and_harmless() {
    let mut backend = SimBackend::new().unwrap();
    let (server, client) = scenario::add_echo_pair(&mut backend).await.unwrap();
    let addr = SocketAddr::new(backend.node_ip(server).unwrap(), ECHO_PORT);
    let outcome = backend
        .spawn_on(client, async move {
            let mut open = Vec::new();
            for _ in 0..madsim_net::limits::MAX_CONNECTIONS_PER_NODE {
                open.push(connect(addr).await);
            }
            let refused = TcpStream::connect(addr).await.unwrap_err();
            let typed = NetError::from_io(&refused).cloned();
            // The open connections still work.
            open[0].write_all(b"ok").await.unwrap();
            let mut buf = [0u8; 2];
            open[0].read_exact(&mut buf).await.unwrap();
            drop(open.pop());
            let after_close = TcpStream::connect(addr).await.is_ok();
            (typed, buf, after_close)
        })
        .unwrap()
        .await
        .unwrap();
    assert!(
        matches!(
            outcome.0,
            Some(NetError::ConnectionLimit { limit: 100, .. })
        ),
        "{:?}",
        outcome.0
    );
    assert_eq!(&outcome.1, b"ok");
    assert!(outcome.2, "a freed slot is usable again");
    assert_eq!(backend.counters().connection_limit_hits, 1);
}

#[madsim::test]
async fn bad_frames_are_typed_errors_and_the_server_survives() {
    use madsim_net::frame;
    let mut backend = SimBackend::new().unwrap();
    let results = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = results.clone();
    let server = backend
        .add_node("frame-server", move || {
            let sink = sink.clone();
            async move {
                let listener = TcpListener::bind(("0.0.0.0", 7100)).await.unwrap();
                while let Ok((mut stream, _)) = listener.accept().await {
                    let outcome = frame::read_frame::<_, String>(&mut stream).await;
                    if let (Err(err), Some(injector)) = (&outcome, FailureInjector::current()) {
                        frame::record_rejection(&injector, 0, err);
                    }
                    sink.lock().push(outcome);
                }
            }
        })
        .await
        .unwrap();
    let client = backend
        .add_node("client", std::future::pending::<()>)
        .await
        .unwrap();
    let addr = SocketAddr::new(backend.node_ip(server).unwrap(), 7100);
    backend
        .spawn_on(client, async move {
            let oversize = ((madsim_net::limits::MAX_RPC_MESSAGE_SIZE + 1) as u32).to_be_bytes();
            let mut garbage = 6u32.to_be_bytes().to_vec();
            garbage.extend_from_slice(&[0xff; 6]);
            let good = frame::encode(&"fine".to_string()).unwrap();
            let truncated = good[..good.len() - 2].to_vec();
            for bytes in [oversize.to_vec(), garbage, truncated, good] {
                let mut stream = connect(addr).await;
                stream.write_all(&bytes).await.unwrap();
                stream.shutdown().await.unwrap();
                madsim_net::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .unwrap()
        .await
        .unwrap();
    let results = results.lock();
    assert_eq!(results.len(), 4);
    assert!(
        matches!(results[0], Err(NetError::FrameTooLarge { .. })),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Err(NetError::FrameGarbage(_))),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(NetError::FrameTruncated { .. })),
        "{:?}",
        results[2]
    );
    assert_eq!(results[3].as_ref().unwrap().as_deref(), Some("fine"));
    assert_eq!(backend.counters().frames_rejected, 3);
}

#[madsim::test]
async fn impossible_impairments_and_partitions_are_refused() {
    let mut backend = SimBackend::new().unwrap();
    let (a, b) = scenario::add_echo_pair(&mut backend).await.unwrap();
    let self_cut = backend
        .partition(madsim_net::Partition::TwoWay { a, b: a }, None)
        .await;
    assert!(matches!(self_cut, Err(NetError::InvalidPartition(_))));
    let unknown = backend.set_link(a, 42, LinkImpairment::wan()).await;
    assert_eq!(unknown, Err(NetError::UnknownNode(42)));
    assert!(
        backend
            .set_link(a, b, LinkImpairment::hostile())
            .await
            .is_ok()
    );
}

/// A node task parked on a channel it also holds the sender of (the
/// channel keeps the task's waker, the task keeps the channel): without
/// `release_nodes` the runtime's drop never frees it, and a sweep process
/// grew by every seed's nodes.
#[test]
fn released_nodes_free_what_their_parked_tasks_held() {
    let held = std::sync::Arc::new(());
    let watch = std::sync::Arc::downgrade(&held);
    let probe = watch.clone();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(7, madsim::Config::default());
    let counts = runtime.block_on(async move {
        let mut backend = SimBackend::new().unwrap();
        let node = backend
            .add_node("parked", std::future::pending::<()>)
            .await
            .unwrap();
        let _task = backend.spawn_on(node, async move {
            let (sender, mut receiver) = tokio::sync::mpsc::channel::<()>(1);
            let _keep = (held, sender);
            receiver.recv().await;
        });
        madsim_net::time::sleep(Duration::from_millis(5)).await;
        let parked = probe.strong_count();
        madsim_net::release_nodes().await;
        (parked, probe.strong_count())
    });
    assert_eq!(counts, (1, 0), "(while parked, after the release)");
    drop(runtime);
    assert_eq!(watch.strong_count(), 0);
}
