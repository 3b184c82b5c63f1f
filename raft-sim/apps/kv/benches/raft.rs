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

/// Runs the load; returns (writes acknowledged, time taken in the backend's clock).
async fn load<B: NetBackend>(backend: B, think: Duration) -> (usize, Duration) {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(NODES))
        .await
        .expect("cluster starts");
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
            load(madsim_net::SimBackend::new().expect("simulation"), think).await
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

#[cfg(not(madsim))]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (acked, elapsed) =
        runtime.block_on(async { load(madsim_net::LoopbackBackend::new(1), LOADS[0].1).await });
    let per_sec = acked as f64 / elapsed.as_secs_f64();
    println!(
        "raft on LoopbackBackend (real TCP): {NODES} nodes, {CLIENTS} clients x {WRITES_PER_CLIENT} writes"
    );
    println!("  {:<36} {:>12}", "writes acknowledged", acked);
    println!("  {:<36} {:>12.2}", "seconds", elapsed.as_secs_f64());
    println!("  {:<36} {:>12.0}", "writes / s", per_sec);
    madsim_net::artifact::write_bench_json(
        "raft-loopback.json",
        &serde_json::json!({
            "bench": "raft-loopback",
            "nodes": NODES, "clients": CLIENTS, "writes_per_client": WRITES_PER_CLIENT,
            "writes_acknowledged": acked,
            "seconds": elapsed.as_secs_f64(),
            "writes_per_second": per_sec,
        }),
    );
}
