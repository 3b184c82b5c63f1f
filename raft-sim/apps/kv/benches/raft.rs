//! `cargo xtask bench`: Raft throughput. Under `--cfg madsim`: a 5-node
//! cluster under a steady client load in the simulator, committed writes per
//! simulated second and simulated seconds per wall second (target >= 100x).
//! Without it: the same cluster on LoopbackBackend, writes per real second.
//! JSON into `$TWINNET_BENCH_DIR/raft-{sim,loopback}.json`.

use std::time::Duration;
#[cfg(madsim)]
use std::time::Instant;

use example_kv::KvApp;
use example_kv::types::KvCommand;
use madsim_net::NetBackend;
use raft_sim::cluster::{Cluster, ClusterOptions};

const NODES: usize = 5;
const CLIENTS: usize = 4;
const WRITES_PER_CLIENT: usize = 250;

/// Two loads: closed-loop clients writing back to back (saturation), and
/// clients pausing between writes (a steady service load of ~20 writes/s
/// per client).
const LOADS: [(&str, Duration); 2] = [
    ("saturating", Duration::ZERO),
    ("steady", Duration::from_millis(50)),
];

/// Runs the load, with every disk's fsync taking `fsync` if given (else
/// the default); returns (writes acknowledged, time taken in the
/// backend's clock).
async fn load<B: NetBackend>(
    backend: B,
    think: Duration,
    fsync: Option<Duration>,
) -> (usize, Duration) {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(NODES))
        .await
        .expect("cluster starts");
    if let Some(latency) = fsync {
        for id in 0..NODES as u64 {
            cluster
                .disk(id)
                .expect("a node's disk")
                .set_fsync_latency(latency);
        }
    }
    cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("a leader");
    let start = madsim_net::time::Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = cluster.client();
        tasks.push(
            cluster
                .spawn_client(async move {
                    let mut acked = 0;
                    for i in 0..WRITES_PER_CLIENT {
                        let put = KvCommand::Put {
                            key: format!("c{c}-{}", i % 16),
                            value: i.to_string(),
                        };
                        acked += usize::from(client.write(put).await.is_ok());
                        if !think.is_zero() {
                            madsim_net::time::sleep(think).await;
                        }
                    }
                    acked
                })
                .expect("client node"),
        );
    }
    let mut acked = 0;
    for task in tasks {
        acked += task.await.expect("client finished");
    }
    (acked, start.elapsed())
}

#[cfg(madsim)]
fn main() {
    println!(
        "raft in the simulator: {NODES} nodes, {CLIENTS} clients x {WRITES_PER_CLIENT} writes"
    );
    println!(
        "  {:<12} {:>8} {:>10} {:>10} {:>16} {:>10}",
        "load", "acked", "sim s", "wall s", "writes/sim s", "sim/wall"
    );
    let mut results = Vec::new();
    for (name, think) in LOADS {
        let runtime = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        let wall = Instant::now();
        let (acked, simulated) = runtime.block_on(async move {
            load(
                madsim_net::SimBackend::new().expect("simulation"),
                think,
                None,
            )
            .await
        });
        let wall = wall.elapsed();
        let writes_per_sim_sec = acked as f64 / simulated.as_secs_f64();
        let speed = simulated.as_secs_f64() / wall.as_secs_f64();
        println!(
            "  {name:<12} {acked:>8} {:>10.2} {:>10.3} {writes_per_sim_sec:>16.0} {speed:>9.0}x",
            simulated.as_secs_f64(),
            wall.as_secs_f64()
        );
        results.push(serde_json::json!({
            "load": name,
            "think_ms": think.as_millis() as u64,
            "writes_acknowledged": acked,
            "simulated_seconds": simulated.as_secs_f64(),
            "wall_seconds_including_startup": wall.as_secs_f64(),
            "committed_writes_per_simulated_second": writes_per_sim_sec,
            "simulated_per_wall": speed,
        }));
    }
    println!("  target: >= 100x real time under a steady load");
    let steady_speed = results[1]["simulated_per_wall"].as_f64().unwrap_or(0.0);
    madsim_net::artifact::write_bench_json(
        "raft-sim.json",
        &serde_json::json!({
            "bench": "raft-sim",
            "nodes": NODES, "clients": CLIENTS, "writes_per_client": WRITES_PER_CLIENT,
            "loads": results,
            "target_simulated_per_wall": 100.0,
            "meets_target_under_steady_load": steady_speed >= 100.0,
        }),
    );
}

/// The loopback target: acknowledged writes per second under the
/// saturating load (issue 13).
#[cfg(not(madsim))]
const LOOPBACK_TARGET_WRITES_PER_SEC: f64 = 5_000.0;
/// Runs per disk setting on loopback; the median is reported.
#[cfg(not(madsim))]
const LOOPBACK_RUNS: usize = 3;

/// The saturating load on loopback, `LOOPBACK_RUNS` times; the median
/// (writes acknowledged, seconds).
#[cfg(not(madsim))]
fn loopback_median(fsync: Option<Duration>) -> (usize, Duration) {
    let runs: Vec<(usize, Duration)> = (0..LOOPBACK_RUNS)
        .map(|_| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(load(madsim_net::LoopbackBackend::new(1), LOADS[0].1, fsync))
        })
        .collect();
    median_rate(runs)
}

/// The run of median rate among `runs` of (writes acknowledged, seconds).
#[cfg(not(madsim))]
fn median_rate(mut runs: Vec<(usize, Duration)>) -> (usize, Duration) {
    runs.sort_by(|a, b| {
        let rate = |(acked, took): &(usize, Duration)| *acked as f64 / took.as_secs_f64();
        rate(a).total_cmp(&rate(b))
    });
    runs[runs.len() / 2]
}

#[cfg(not(madsim))]
fn main() {
    println!(
        "raft on LoopbackBackend (real TCP): {NODES} nodes, {CLIENTS} closed-loop clients x {WRITES_PER_CLIENT} writes, median of {LOOPBACK_RUNS}"
    );
    println!(
        "  {:<40} {:>8} {:>10} {:>12}",
        "disk", "acked", "seconds", "writes / s"
    );
    // The default disk (no fsync latency on real sockets), and the
    // simulator's 1 ms fsync for comparison: what the time went to before.
    let settings = [
        ("in memory (the default on real sockets)", None),
        (
            "1 ms fsync (the simulator's default)",
            Some(Duration::from_millis(1)),
        ),
    ];
    let mut rows = Vec::new();
    for (name, fsync) in settings {
        let (acked, elapsed) = loopback_median(fsync);
        let per_sec = acked as f64 / elapsed.as_secs_f64();
        println!(
            "  {name:<40} {acked:>8} {:>10.2} {per_sec:>12.0}",
            elapsed.as_secs_f64()
        );
        rows.push(serde_json::json!({
            "disk": name,
            "fsync_latency_us": fsync.map_or(0, |latency| latency.as_micros() as u64),
            "writes_acknowledged": acked,
            "seconds": elapsed.as_secs_f64(),
            "writes_per_second": per_sec,
        }));
    }
    let kernel = kernel_bridge_rate();
    let default_rate = rows[0]["writes_per_second"].as_f64().unwrap_or(0.0);
    println!("  target: >= {LOOPBACK_TARGET_WRITES_PER_SEC:.0} writes / s with the default disk");
    madsim_net::artifact::write_bench_json(
        "raft-loopback.json",
        &serde_json::json!({
            "bench": "raft-loopback",
            "nodes": NODES, "clients": CLIENTS, "writes_per_client": WRITES_PER_CLIENT,
            "runs_per_setting": LOOPBACK_RUNS,
            "settings": rows,
            "writes_per_second": default_rate,
            "target_writes_per_second": LOOPBACK_TARGET_WRITES_PER_SEC,
            "meets_target": default_rate >= LOOPBACK_TARGET_WRITES_PER_SEC,
            "kernel_bridge": kernel,
        }),
    );
}

/// The same saturating load on kernel namespaces joined by veths and a
/// bridge, no impairment engine (`EngineChoice::Bridge`), the default
/// disk: beside the loopback figure. Needs root; without it, says so.
#[cfg(not(madsim))]
fn kernel_bridge_rate() -> serde_json::Value {
    use kernel_backend::{EngineChoice, HubConfig, KernelBackend};
    let name = "kernel namespaces, bridge engine";
    if !kernel_backend::probe::is_root() {
        println!("  {name:<40} skipped: needs root");
        return serde_json::json!({ "skipped": "needs root" });
    }
    let mut runs = Vec::with_capacity(LOOPBACK_RUNS);
    for seed in 0..LOOPBACK_RUNS as u64 {
        let hub = HubConfig {
            engine: EngineChoice::Bridge,
            seed,
            ..HubConfig::default()
        };
        let backend = match KernelBackend::new(hub) {
            Ok(backend) => backend,
            Err(err) => {
                println!("  {name:<40} skipped: {err}");
                return serde_json::json!({ "skipped": err.to_string() });
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runs.push(runtime.block_on(load(backend, LOADS[0].1, None)));
    }
    let (acked, elapsed) = median_rate(runs);
    let per_sec = acked as f64 / elapsed.as_secs_f64();
    println!(
        "  {name:<40} {acked:>8} {:>10.2} {per_sec:>12.0}",
        elapsed.as_secs_f64()
    );
    serde_json::json!({
        "engine": "bridge",
        "writes_acknowledged": acked,
        "seconds": elapsed.as_secs_f64(),
        "writes_per_second": per_sec,
    })
}
