//! `cargo xtask bench`: the kernel backend on real namespaces, against
//! baselines measured in the same run.
//!
//! - Set-up and tear-down of 10, 50 and 100 peers: a [`Hub`] on the plain
//!   bridge against the same topology built by one `ip -batch` process
//!   (`kernel_backend::baseline`). Targets: 100 peers up < 1 s, down < 0.5 s.
//! - Unimpaired TCP bulk throughput between two peers, through the plain
//!   bridge and through the userspace relay. Target: relay >= 500 Mbit/s.
//! - Latency error of the userspace engine: UDP ping-pongs with L ms added
//!   each way; error = RTT - 2L - the unimpaired RTT measured just before.
//!
//! Needs root; without it the bench says so and writes a "skipped" JSON.
//! JSON into `$TWINNET_BENCH_DIR/kernel.json`.

#[cfg(not(all(target_os = "linux", not(madsim))))]
fn main() {
    println!(
        "the kernel bench needs Linux and real networking (not --cfg madsim): nothing measured"
    );
}

#[cfg(all(target_os = "linux", not(madsim)))]
fn main() {
    real::main();
}

#[cfg(all(target_os = "linux", not(madsim)))]
mod real {
    use std::net::Ipv4Addr;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use kernel_backend::names::Role;
    use kernel_backend::{EngineChoice, Hub, HubConfig, NsRuntime, baseline};
    use madsim_net::LinkImpairment;
    use madsim_net::artifact::write_bench_json;
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    type BenchResult<T> = Result<T, BoxError>;

    const PEER_COUNTS: [usize; 3] = [10, 50, 100];
    const SETUP_REPETITIONS: usize = 5;
    /// Pause after each tear-down: the kernel destroys namespaces
    /// asynchronously, and the next measurement should not pay for it.
    const SETTLE: Duration = Duration::from_millis(200);
    const THROUGHPUT_RUNS: usize = 3;
    const TRANSFER: Duration = Duration::from_secs(2);
    const TRANSFER_CHUNK_BYTES: usize = 256 * 1024;
    const LATENCIES_MS: [u64; 3] = [5, 20, 50];
    const PINGS_PER_SERIES: usize = 200;
    const WARMUP_PINGS: usize = 20;
    const PING_BYTES: usize = 64;
    const IO_TIMEOUT: Duration = Duration::from_secs(10);
    const TCP_PORT: u16 = 7200;
    const ECHO_PORT: u16 = 7100;

    const TARGET_UP_100_MS: f64 = 1_000.0;
    const TARGET_DOWN_100_MS: f64 = 500.0;
    const TARGET_RELAY_MBIT_PER_SEC: f64 = 500.0;

    pub fn main() {
        if !kernel_backend::probe::is_root() {
            skip_not_root();
            return;
        }
        let started = Instant::now();
        let machine = machine();
        let setup = section("set-up/tear-down", bench_setup_teardown);
        let throughput = bench_throughput();
        let latency = section("latency error", bench_latency_error);
        let targets = targets(&setup, &throughput);
        print_targets(&targets);
        let failed = any_error(&[
            &setup,
            &throughput["bridge"],
            &throughput["relay"],
            &latency,
        ]);
        write_bench_json(
            "kernel.json",
            &json!({
                "bench": "kernel",
                "skipped": false,
                "machine": machine,
                "wall_seconds": started.elapsed().as_secs_f64(),
                "load_average_at_end": load_average(),
                "setup_teardown": setup,
                "throughput": throughput,
                "latency_error": latency,
                "targets": targets,
            }),
        );
        if failed {
            std::process::exit(1);
        }
    }

    fn skip_not_root() {
        println!("kernel bench skipped: it needs root (network namespaces, veth, bridge, TUN)");
        write_bench_json(
            "kernel.json",
            &json!({ "bench": "kernel", "skipped": true, "reason": "needs root" }),
        );
    }

    fn any_error(parts: &[&Value]) -> bool {
        parts.iter().any(|part| part.get("error").is_some())
    }

    /// Runs one part; its error goes into the JSON instead of its figures.
    fn section(name: &str, part: fn() -> BenchResult<Value>) -> Value {
        part().unwrap_or_else(|err| {
            eprintln!("error: {name}: {err}");
            json!({ "error": err.to_string() })
        })
    }

    fn machine() -> Value {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        json!({ "kernel": kernel.trim(), "cpus": cpus, "load_average_at_start": load_average() })
    }

    /// The 1-minute load average: other work on the machine shows in the
    /// tails of every figure here.
    fn load_average() -> Option<f64> {
        let text = std::fs::read_to_string("/proc/loadavg").ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    // ---- set-up and tear-down -------------------------------------------

    #[derive(Clone, Copy)]
    struct UpDown {
        up: Duration,
        down: Duration,
        /// Baseline only: from the start of tear-down until the kernel has
        /// removed the last host-side port (namespace destruction is
        /// asynchronous). A hub leaves nothing observable to wait for.
        ports_gone: Option<Duration>,
    }

    /// `Hub::new` + `add_peers` (bridge and all peers, and with the
    /// userspace engine a TUN each and the relay), then `shutdown`.
    fn hub_up_down(peers: usize, engine: EngineChoice) -> BenchResult<UpDown> {
        let started = Instant::now();
        let mut hub = Hub::new(HubConfig {
            engine,
            ..HubConfig::default()
        })?;
        hub.add_peers(peers)?;
        let up = started.elapsed();
        let down = hub.shutdown();
        std::thread::sleep(SETTLE);
        Ok(UpDown {
            up,
            down,
            ports_gone: None,
        })
    }

    /// The `ip -batch` processes' wall times; waits for the kernel to
    /// remove the host-side ports before returning.
    fn baseline_up_down(peers: usize) -> BenchResult<UpDown> {
        let network = baseline::up(peers)?;
        let names = network.names().clone();
        let up = network.setup_time();
        let started = Instant::now();
        let down = network.down()?;
        wait_until_gone(&names, peers);
        let ports_gone = Some(started.elapsed());
        std::thread::sleep(SETTLE);
        Ok(UpDown {
            up,
            down,
            ports_gone,
        })
    }

    fn wait_until_gone(names: &kernel_backend::names::NetworkNames, peers: usize) {
        let deadline = Instant::now() + IO_TIMEOUT;
        let ports: Vec<String> = (0..peers).map(|i| names.name(Role::HubVeth, i)).collect();
        let present = |port: &String| Path::new("/sys/class/net").join(port).exists();
        while ports.iter().any(present) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn bench_setup_teardown() -> BenchResult<Value> {
        println!("set-up/tear-down: {SETUP_REPETITIONS} repetitions of {PEER_COUNTS:?} peers");
        // Warm-up, not counted: the capability probe, reaping stale objects, caches.
        hub_up_down(PEER_COUNTS[0], EngineChoice::Bridge)?;
        baseline_up_down(PEER_COUNTS[0])?;
        let mut hub = vec![Vec::new(); PEER_COUNTS.len()];
        let mut tun = vec![Vec::new(); PEER_COUNTS.len()];
        let mut ip = vec![Vec::new(); PEER_COUNTS.len()];
        for repetition in 0..SETUP_REPETITIONS {
            for (slot, &peers) in PEER_COUNTS.iter().enumerate() {
                // Alternate who goes first, so neither always follows the other.
                if repetition % 2 == 0 {
                    hub[slot].push(hub_up_down(peers, EngineChoice::Bridge)?);
                    ip[slot].push(baseline_up_down(peers)?);
                } else {
                    ip[slot].push(baseline_up_down(peers)?);
                    hub[slot].push(hub_up_down(peers, EngineChoice::Bridge)?);
                }
                tun[slot].push(hub_up_down(peers, EngineChoice::Userspace)?);
            }
        }
        let rows: Vec<Value> = PEER_COUNTS
            .iter()
            .enumerate()
            .map(|(slot, &peers)| setup_row(peers, &hub[slot], &tun[slot], &ip[slot]))
            .collect();
        print_setup_table(&rows);
        Ok(json!({
            "repetitions": SETUP_REPETITIONS,
            "statistic": "median",
            "settle_ms_after_each_teardown": SETTLE.as_millis(),
            "hub_engine": "bridge (hub_*), userspace: a TUN per peer and the relay (userspace_hub_*)",
            "hub_up_measures": "Hub::new + add_peers (bridge namespace, peers with lo up and an address)",
            "hub_down_measures": "Hub::shutdown",
            "baseline_measures": "wall time of one `ip -batch` process each way",
            "down_excludes": "the kernel's asynchronous destruction of the namespaces, for both",
            "baseline_bridge_in_host_namespace": true,
            "baseline_omits": baseline::OMITTED,
            "rows": rows,
        }))
    }

    fn setup_row(peers: usize, hub: &[UpDown], tun: &[UpDown], ip: &[UpDown]) -> Value {
        let runs_ms = |runs: &[UpDown], pick: fn(&UpDown) -> Option<Duration>| -> Vec<f64> {
            runs.iter()
                .filter_map(pick)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect()
        };
        let hub_up = runs_ms(hub, |r| Some(r.up));
        let hub_down = runs_ms(hub, |r| Some(r.down));
        let ip_up = runs_ms(ip, |r| Some(r.up));
        let ip_down = runs_ms(ip, |r| Some(r.down));
        let ip_gone = runs_ms(ip, |r| r.ports_gone);
        let tun_up = runs_ms(tun, |r| Some(r.up));
        let tun_down = runs_ms(tun, |r| Some(r.down));
        json!({
            "peers": peers,
            "hub_up_ms": median_f64(&hub_up),
            "hub_down_ms": median_f64(&hub_down),
            "userspace_hub_up_ms": median_f64(&tun_up),
            "userspace_hub_down_ms": median_f64(&tun_down),
            "baseline_up_ms": median_f64(&ip_up),
            "baseline_down_ms": median_f64(&ip_down),
            "baseline_ports_gone_ms": median_f64(&ip_gone),
            "up_ratio_hub_to_baseline": median_f64(&hub_up) / median_f64(&ip_up),
            "down_ratio_hub_to_baseline": median_f64(&hub_down) / median_f64(&ip_down),
            "runs_ms": {
                "hub_up": hub_up,
                "hub_down": hub_down,
                "userspace_hub_up": tun_up,
                "userspace_hub_down": tun_down,
                "baseline_up": ip_up,
                "baseline_down": ip_down,
            },
        })
    }

    fn print_setup_table(rows: &[Value]) {
        println!(
            "  {:>5}  {:>10} {:>10} {:>8}  {:>10} {:>10} {:>8}  {:>10} {:>10}",
            "peers",
            "hub up ms",
            "ip up ms",
            "ratio",
            "hub dn ms",
            "ip dn ms",
            "ratio",
            "tun up ms",
            "tun dn ms"
        );
        for row in rows {
            let f = |key: &str| row[key].as_f64().unwrap_or(f64::NAN);
            println!(
                "  {:>5}  {:>10.1} {:>10.1} {:>7.2}x  {:>10.1} {:>10.1} {:>7.2}x  {:>10.1} {:>10.1}",
                row["peers"],
                f("hub_up_ms"),
                f("baseline_up_ms"),
                f("up_ratio_hub_to_baseline"),
                f("hub_down_ms"),
                f("baseline_down_ms"),
                f("down_ratio_hub_to_baseline"),
                f("userspace_hub_up_ms"),
                f("userspace_hub_down_ms"),
            );
        }
    }

    // ---- throughput -------------------------------------------------------

    fn two_peer_hub(engine: EngineChoice) -> BenchResult<Hub> {
        let mut hub = Hub::new(HubConfig {
            engine,
            ..HubConfig::default()
        })?;
        hub.add_peers(2)?;
        Ok(hub)
    }

    fn bench_throughput() -> Value {
        let tun_mtu_bytes = HubConfig::default().tun_mtu_bytes;
        println!(
            "TCP throughput: {THROUGHPUT_RUNS} runs of {TRANSFER:?} per engine (TUN MTU {tun_mtu_bytes})"
        );
        let bridge = engine_throughput(EngineChoice::Bridge);
        let relay = engine_throughput(EngineChoice::Userspace);
        let ratio = match (&bridge, &relay) {
            (Ok(bridge), Ok(relay)) => json!(relay.median / bridge.median),
            _ => Value::Null,
        };
        if let Some(ratio) = ratio.as_f64() {
            println!("  relay/bridge: {ratio:.2}x");
        }
        json!({
            "runs": THROUGHPUT_RUNS,
            "seconds_per_run": TRANSFER.as_secs_f64(),
            "statistic": "median",
            "tun_mtu_bytes": tun_mtu_bytes,
            "bridge": throughput_json(&bridge),
            "relay": throughput_json(&relay),
            "relay_to_bridge_ratio": ratio,
        })
    }

    struct Throughput {
        runs_mbit_per_sec: Vec<f64>,
        median: f64,
    }

    fn throughput_json(result: &BenchResult<Throughput>) -> Value {
        match result {
            Ok(t) => json!({ "mbit_per_sec": t.median, "runs_mbit_per_sec": t.runs_mbit_per_sec }),
            Err(err) => json!({ "error": err.to_string() }),
        }
    }

    fn engine_throughput(engine: EngineChoice) -> BenchResult<Throughput> {
        let measured = measure_throughput(engine);
        match &measured {
            Ok(t) => println!(
                "  {engine:>9}: {:>8.0} Mbit/s (runs {:.0?})",
                t.median, t.runs_mbit_per_sec
            ),
            Err(err) => println!("  {engine:>9}: not measured: {err}"),
        }
        measured
    }

    fn measure_throughput(engine: EngineChoice) -> BenchResult<Throughput> {
        let hub = two_peer_hub(engine)?;
        let sender = hub.peer_runtime(0)?;
        let receiver = hub.peer_runtime(1)?;
        let mut runs_mbit_per_sec = Vec::new();
        for run in 0..THROUGHPUT_RUNS {
            let port = TCP_PORT + run as u16;
            let bits_per_sec = tcp_bulk(&sender, &receiver, hub.peer_ip(1)?, port)?;
            runs_mbit_per_sec.push(bits_per_sec / 1e6);
        }
        let median = median_f64(&runs_mbit_per_sec);
        Ok(Throughput {
            runs_mbit_per_sec,
            median,
        })
    }

    /// One bulk transfer of [`TRANSFER`]; bits per second at the receiver,
    /// from accept to end of stream.
    fn tcp_bulk(
        sender: &NsRuntime,
        receiver: &NsRuntime,
        to: Ipv4Addr,
        port: u16,
    ) -> BenchResult<f64> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sink = receiver.spawn(async move {
            let listener = tokio::net::TcpListener::bind((to, port)).await?;
            let _ = ready_tx.send(());
            let (stream, _) = tokio::time::timeout(IO_TIMEOUT, listener.accept()).await??;
            tokio::time::timeout(TRANSFER + IO_TIMEOUT, drain(stream)).await?
        });
        ready_rx.recv_timeout(IO_TIMEOUT)?;
        sender.call(async move {
            tokio::time::timeout(TRANSFER + IO_TIMEOUT, pour(to, port)).await?
        })?;
        let (bytes, elapsed) = receiver.call(sink)??;
        Ok(bytes as f64 * 8.0 / elapsed.as_secs_f64())
    }

    async fn pour(to: Ipv4Addr, port: u16) -> BenchResult<()> {
        let connect = tokio::net::TcpStream::connect((to, port));
        let mut stream = tokio::time::timeout(IO_TIMEOUT, connect).await??;
        let chunk = vec![0xa5u8; TRANSFER_CHUNK_BYTES];
        let deadline = Instant::now() + TRANSFER;
        while Instant::now() < deadline {
            stream.write_all(&chunk).await?;
        }
        stream.shutdown().await?;
        Ok(())
    }

    async fn drain(mut stream: tokio::net::TcpStream) -> BenchResult<(u64, Duration)> {
        let started = Instant::now();
        let mut buffer = vec![0u8; TRANSFER_CHUNK_BYTES];
        let mut bytes = 0u64;
        loop {
            match stream.read(&mut buffer).await? {
                0 => return Ok((bytes, started.elapsed())),
                n => bytes += n as u64,
            }
        }
    }

    // ---- latency error ----------------------------------------------------

    fn bench_latency_error() -> BenchResult<Value> {
        println!(
            "latency error (userspace engine): {PINGS_PER_SERIES} UDP ping-pongs per latency {LATENCIES_MS:?} ms"
        );
        let hub = two_peer_hub(EngineChoice::Userspace)?;
        let client = hub.peer_runtime(0)?;
        let server = hub.peer_runtime(1)?;
        let (from, to) = (hub.peer_ip(0)?, hub.peer_ip(1)?);
        let echo = start_echo(&server, to)?;
        ping_series(&client, from, to, WARMUP_PINGS, Duration::ZERO)?;
        let base = ping_series(&client, from, to, PINGS_PER_SERIES, Duration::ZERO)?;
        let base_rtt_us = median_f64(&base.rtts_us);
        println!(
            "  unimpaired: median RTT {base_rtt_us:.0} us, {} lost",
            base.lost
        );
        let mut rows = Vec::new();
        for latency_ms in LATENCIES_MS {
            rows.push(latency_row(&hub, &client, latency_ms, base_rtt_us)?);
        }
        echo.abort();
        Ok(json!({
            "engine": "userspace",
            "pings_per_latency": PINGS_PER_SERIES,
            "ping_bytes": PING_BYTES,
            "error_definition": "RTT - 2 x latency - median unimpaired RTT (same hub, same run)",
            "base_rtt_us": base_rtt_us,
            "base_lost": base.lost,
            "rows": rows,
        }))
    }

    fn latency_row(
        hub: &Hub,
        client: &NsRuntime,
        latency_ms: u64,
        base_rtt_us: f64,
    ) -> BenchResult<Value> {
        let impairment = LinkImpairment::builder().latency_ms(latency_ms).build()?;
        let (from, to) = (hub.peer_ip(0)?, hub.peer_ip(1)?);
        hub.set_link(0, 1, impairment)?;
        hub.set_link(1, 0, impairment)?;
        let one_way = Duration::from_millis(latency_ms);
        let series = ping_series(client, from, to, PINGS_PER_SERIES, one_way);
        hub.set_link(0, 1, LinkImpairment::none())?;
        hub.set_link(1, 0, LinkImpairment::none())?;
        let series = series?;
        let expected_us = 2.0 * latency_ms as f64 * 1_000.0 + base_rtt_us;
        let signed: Vec<f64> = series.rtts_us.iter().map(|rtt| rtt - expected_us).collect();
        let absolute: Vec<f64> = signed.iter().map(|e| e.abs()).collect();
        let row = json!({
            "latency_ms": latency_ms,
            "median_rtt_us": median_f64(&series.rtts_us),
            "median_signed_error_us": median_f64(&signed),
            "p50_abs_error_us": percentile(&absolute, 50.0),
            "p99_abs_error_us": percentile(&absolute, 99.0),
            "lost": series.lost,
        });
        println!(
            "  {latency_ms:>3} ms each way: median RTT {:>8.0} us, |error| p50 {:>6.0} us, p99 {:>6.0} us, {} lost",
            row["median_rtt_us"].as_f64().unwrap_or(f64::NAN),
            row["p50_abs_error_us"].as_f64().unwrap_or(f64::NAN),
            row["p99_abs_error_us"].as_f64().unwrap_or(f64::NAN),
            series.lost,
        );
        Ok(row)
    }

    /// A UDP echo server on `ip`, running until aborted.
    fn start_echo(
        server: &NsRuntime,
        ip: Ipv4Addr,
    ) -> BenchResult<tokio::task::JoinHandle<std::io::Result<()>>> {
        let socket =
            server.call(async move { tokio::net::UdpSocket::bind((ip, ECHO_PORT)).await })?;
        Ok(server.spawn(async move {
            let mut buffer = [0u8; PING_BYTES];
            loop {
                let (n, peer) = socket.recv_from(&mut buffer).await?;
                socket.send_to(&buffer[..n], peer).await?;
            }
        }))
    }

    struct PingSeries {
        rtts_us: Vec<f64>,
        lost: usize,
    }

    /// `count` sequential ping-pongs; a ping without its pong within
    /// 2 x `one_way` + 1 s counts as lost.
    fn ping_series(
        client: &NsRuntime,
        from: Ipv4Addr,
        to: Ipv4Addr,
        count: usize,
        one_way: Duration,
    ) -> BenchResult<PingSeries> {
        let wait = 2 * one_way + Duration::from_secs(1);
        client.call(async move {
            let socket = tokio::net::UdpSocket::bind((from, 0)).await?;
            socket.connect((to, ECHO_PORT)).await?;
            let mut series = PingSeries {
                rtts_us: Vec::with_capacity(count),
                lost: 0,
            };
            for sequence in 0..count as u64 {
                match ping(&socket, sequence, wait).await? {
                    Some(rtt) => series.rtts_us.push(rtt.as_secs_f64() * 1e6),
                    None => series.lost += 1,
                }
            }
            Ok(series)
        })
    }

    /// One ping-pong; stale pongs of earlier (lost) pings are skipped.
    async fn ping(
        socket: &tokio::net::UdpSocket,
        sequence: u64,
        wait: Duration,
    ) -> BenchResult<Option<Duration>> {
        let mut payload = [0u8; PING_BYTES];
        payload[..8].copy_from_slice(&sequence.to_be_bytes());
        let started = Instant::now();
        socket.send(&payload).await?;
        let mut reply = [0u8; PING_BYTES];
        loop {
            let left = wait.saturating_sub(started.elapsed());
            let Ok(received) = tokio::time::timeout(left, socket.recv(&mut reply)).await else {
                return Ok(None);
            };
            if received? >= 8 && reply[..8] == payload[..8] {
                return Ok(Some(started.elapsed()));
            }
        }
    }

    // ---- targets and statistics ---------------------------------------

    fn targets(setup: &Value, throughput: &Value) -> Value {
        let row_100 = setup["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["peers"] == 100));
        let at_100 = |key: &str| row_100.and_then(|r| r[key].as_f64());
        let relay = throughput["relay"]["mbit_per_sec"].as_f64();
        json!([
            target(
                "hub_up_100_peers_ms",
                "<",
                TARGET_UP_100_MS,
                at_100("hub_up_ms")
            ),
            target(
                "hub_down_100_peers_ms",
                "<",
                TARGET_DOWN_100_MS,
                at_100("hub_down_ms")
            ),
            target(
                "userspace_hub_up_100_peers_ms",
                "<",
                TARGET_UP_100_MS,
                at_100("userspace_hub_up_ms")
            ),
            target(
                "userspace_hub_down_100_peers_ms",
                "<",
                TARGET_DOWN_100_MS,
                at_100("userspace_hub_down_ms")
            ),
            target(
                "relay_tcp_mbit_per_sec",
                ">=",
                TARGET_RELAY_MBIT_PER_SEC,
                relay
            ),
        ])
    }

    fn target(name: &str, op: &str, bound: f64, measured: Option<f64>) -> Value {
        let pass = measured.map(|value| match op {
            "<" => value < bound,
            _ => value >= bound,
        });
        json!({ "name": name, "target": format!("{op} {bound}"), "measured": measured, "pass": pass })
    }

    fn print_targets(targets: &Value) {
        println!("targets:");
        for t in targets.as_array().into_iter().flatten() {
            let verdict = match t["pass"].as_bool() {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "not measured",
            };
            let measured = t["measured"]
                .as_f64()
                .map_or("-".into(), |v| format!("{v:.1}"));
            println!(
                "  {:<24} {:>10} (target {}): {verdict}",
                t["name"].as_str().unwrap_or(""),
                measured,
                t["target"].as_str().unwrap_or(""),
            );
        }
    }

    fn median_f64(values: &[f64]) -> f64 {
        percentile(values, 50.0)
    }

    /// Nearest-rank percentile; NaN for no values.
    fn percentile(values: &[f64], percent: f64) -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        let rank = (percent / 100.0 * values.len() as f64).ceil() as usize;
        values[rank.clamp(1, values.len()) - 1]
    }
}
