//! `cargo xtask bench`: madsim-net's simulated TCP against raw madsim TCP, in
//! one run. Ping-pong round trips per wall second and bulk throughput per
//! wall second, each the best of a few repetitions; the ratio is the target
//! (madsim-net >= 0.8x raw madsim). JSON into `$TWINNET_BENCH_DIR`.

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "the net bench runs in the simulator: use `cargo xtask bench` (RUSTFLAGS=\"--cfg madsim\")"
    );
}

#[cfg(madsim)]
fn main() {
    sim::main();
}

#[cfg(madsim)]
mod sim {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use madsim::runtime::Runtime;
    use madsim_net::{NetBackend, SimBackend};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    const PING_ROUNDS: u64 = 20_000;
    const PING_BYTES: usize = 64;
    const BULK_BYTES: u64 = 256 * 1024 * 1024;
    const BULK_CHUNK: usize = 64 * 1024;
    const REPEATS: usize = 3;
    const PORT: u16 = 9000;

    /// Both sides pay the same 1 ms one-way latency: madsim's own channel
    /// latency for raw streams, madsim-net's base latency for its streams.
    fn config() -> madsim::Config {
        let mut config = madsim::Config::default();
        config.net.send_latency = Duration::from_millis(1)..Duration::from_micros(1_001);
        config
    }

    #[derive(Clone, Copy)]
    enum Stack {
        RawMadsim,
        MadsimNet,
    }

    #[derive(Clone, Copy)]
    enum Load {
        PingPong,
        Bulk,
    }

    /// Wall time of one run (measured outside the simulation: inside it,
    /// the clock is simulated). Node set-up is included and negligible.
    fn run_once(stack: Stack, load: Load) -> Duration {
        let runtime = Runtime::with_seed_and_config(1, config());
        let wall = Instant::now();
        runtime.block_on(async move {
            let mut backend = SimBackend::new().expect("simulation");
            let server = backend
                .add_node("server", move || async move {
                    match stack {
                        Stack::RawMadsim => raw_server(load).await,
                        Stack::MadsimNet => net_server(load).await,
                    }
                })
                .await
                .expect("server");
            let client = backend
                .add_node("client", std::future::pending::<()>)
                .await
                .expect("client");
            let addr = SocketAddr::new(backend.node_ip(server).expect("ip"), PORT);
            let task = backend
                .spawn_on(client, async move {
                    madsim::time::sleep(Duration::from_millis(10)).await;
                    match stack {
                        Stack::RawMadsim => raw_client(addr, load).await,
                        Stack::MadsimNet => net_client(addr, load).await,
                    }
                })
                .expect("spawn");
            task.await.expect("client finished");
        });
        wall.elapsed()
    }

    async fn raw_server(load: Load) {
        let listener = madsim::net::TcpListener::bind(("0.0.0.0", PORT))
            .await
            .expect("bind");
        serve(listener.accept().await.expect("accept").0, load).await;
    }

    async fn raw_client(addr: SocketAddr, load: Load) {
        drive(
            madsim::net::TcpStream::connect(addr)
                .await
                .expect("connect"),
            load,
        )
        .await;
    }

    async fn net_server(load: Load) {
        let listener = madsim_net::net::TcpListener::bind(("0.0.0.0", PORT))
            .await
            .expect("bind");
        serve(listener.accept().await.expect("accept").0, load).await;
    }

    async fn net_client(addr: SocketAddr, load: Load) {
        drive(
            madsim_net::net::TcpStream::connect(addr)
                .await
                .expect("connect"),
            load,
        )
        .await;
    }

    /// The server side of both loads; `flush` is needed by raw madsim (it
    /// sends on flush) and free on madsim-net.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, load: Load) {
        let mut buf = vec![0u8; BULK_CHUNK];
        match load {
            Load::PingPong => {
                while stream.read_exact(&mut buf[..PING_BYTES]).await.is_ok() {
                    stream.write_all(&buf[..PING_BYTES]).await.expect("write");
                    stream.flush().await.expect("flush");
                }
            }
            Load::Bulk => {
                let mut received = 0u64;
                while received < BULK_BYTES {
                    received += stream.read(&mut buf).await.expect("read") as u64;
                }
                stream.write_all(b"k").await.expect("ack");
                stream.flush().await.expect("flush");
            }
        }
    }

    /// The client side of both loads.
    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, load: Load) {
        let mut buf = vec![7u8; BULK_CHUNK];
        match load {
            Load::PingPong => {
                for _ in 0..PING_ROUNDS {
                    stream.write_all(&buf[..PING_BYTES]).await.expect("write");
                    stream.flush().await.expect("flush");
                    stream
                        .read_exact(&mut buf[..PING_BYTES])
                        .await
                        .expect("read");
                }
            }
            Load::Bulk => {
                for _ in 0..BULK_BYTES / BULK_CHUNK as u64 {
                    stream.write_all(&buf).await.expect("write");
                    stream.flush().await.expect("flush");
                }
                stream.read_exact(&mut buf[..1]).await.expect("ack");
            }
        }
    }

    fn best_of(stack: Stack, load: Load) -> Duration {
        (0..REPEATS)
            .map(|_| run_once(stack, load))
            .min()
            .unwrap_or_default()
    }

    pub fn main() {
        let ping_raw = best_of(Stack::RawMadsim, Load::PingPong);
        let ping_net = best_of(Stack::MadsimNet, Load::PingPong);
        let bulk_raw = best_of(Stack::RawMadsim, Load::Bulk);
        let bulk_net = best_of(Stack::MadsimNet, Load::Bulk);
        let per_sec = |count: f64, d: Duration| count / d.as_secs_f64();
        let rt_raw = per_sec(PING_ROUNDS as f64, ping_raw);
        let rt_net = per_sec(PING_ROUNDS as f64, ping_net);
        let mib = BULK_BYTES as f64 / (1024.0 * 1024.0);
        let bulk_raw_mibs = per_sec(mib, bulk_raw);
        let bulk_net_mibs = per_sec(mib, bulk_net);
        let ping_ratio = rt_net / rt_raw;
        let bulk_ratio = bulk_net_mibs / bulk_raw_mibs;
        let target = 0.8;
        println!(
            "madsim-net vs raw madsim TCP (wall clock, best of {REPEATS}, 1 ms one-way latency both)"
        );
        println!(
            "  {:<28} {:>14} {:>14} {:>8}",
            "", "raw madsim", "madsim-net", "ratio"
        );
        println!(
            "  {:<28} {:>14.0} {:>14.0} {:>7.2}x",
            "ping-pong round trips/s", rt_raw, rt_net, ping_ratio
        );
        println!(
            "  {:<28} {:>14.0} {:>14.0} {:>7.2}x",
            "bulk MiB/s (wall)", bulk_raw_mibs, bulk_net_mibs, bulk_ratio
        );
        println!("  target: madsim-net >= {target}x raw madsim on both");
        let json = serde_json::json!({
            "bench": "madsim-net",
            "repeats": REPEATS,
            "ping_pong": {
                "rounds": PING_ROUNDS,
                "message_bytes": PING_BYTES,
                "raw_madsim_round_trips_per_sec": rt_raw,
                "madsim_net_round_trips_per_sec": rt_net,
                "ratio": ping_ratio,
            },
            "bulk": {
                "bytes": BULK_BYTES,
                "write_bytes": BULK_CHUNK,
                "raw_madsim_mib_per_sec": bulk_raw_mibs,
                "madsim_net_mib_per_sec": bulk_net_mibs,
                "ratio": bulk_ratio,
            },
            "target_ratio": target,
            "meets_target": ping_ratio >= target && bulk_ratio >= target,
        });
        madsim_net::artifact::write_bench_json("madsim-net.json", &json);
    }
}
