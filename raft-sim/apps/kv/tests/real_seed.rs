//! One seed, one route, on a real network: two runs of one seed draw the
//! same fault schedule and the same swarm draw (its fault families, rates
//! and durations), on loopback sockets and, as root, on kernel namespaces;
//! another seed draws another. The run's real timing is never replayable;
//! what the seed decides is.
#![cfg(all(target_os = "linux", not(madsim)))]

use std::path::PathBuf;

use example_kv::KvApp;
use kernel_backend::{EngineChoice, HubConfig, KernelBackend};
use madsim_net::{LoopbackBackend, NetBackend};
use raft_sim::nemesis::{NemesisPreset, Step};
use raft_sim::sweep::case::run_case;
use raft_sim::sweep::{RunConfig, RunFlags};

fn config() -> RunConfig<KvApp> {
    let flags = RunFlags {
        nodes: 3,
        ops: 60,
        clients: 2,
        keys: 2,
        nemesis: NemesisPreset::Standard,
        model: None,
        artifacts: PathBuf::from("target/real-seed"),
        replay_program: None,
        app_flags: Vec::new(),
    };
    flags.config(KvApp::default()).expect("a valid config")
}

/// The schedule and swarm draw a run of `seed` played on `backend`.
async fn drawn<B: NetBackend>(backend: B, seed: u64) -> (Vec<Step>, serde_json::Value) {
    let outcome = run_case(backend, config(), seed).await;
    println!(
        "seed {seed}: {} steps, {} ops, failures {:?}",
        outcome.schedule.len(),
        outcome.history.len() / 2,
        outcome.failures
    );
    assert!(!outcome.history.is_empty(), "the workload ran");
    (outcome.schedule, outcome.swarm)
}

fn assert_one_route(
    first: &(Vec<Step>, serde_json::Value),
    again: &(Vec<Step>, serde_json::Value),
) {
    assert!(!first.0.is_empty(), "the standard nemesis drew no step");
    assert_eq!(first.0, again.0, "one seed drew two schedules");
    assert_eq!(first.1, again.1, "one seed drew two swarm draws");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loopback_runs_of_a_seed_draw_the_same_schedule() {
    let first = drawn(LoopbackBackend::new(41), 41).await;
    let again = drawn(LoopbackBackend::new(41), 41).await;
    assert_one_route(&first, &again);
    let other = drawn(LoopbackBackend::new(42), 42).await;
    assert_ne!(first.0, other.0, "two seeds drew one schedule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kernel_runs_of_a_seed_draw_the_same_schedule() {
    if !kernel_backend::testing::require_root("two_kernel_runs_of_a_seed_draw_the_same_schedule") {
        return;
    }
    let kernel = |seed| {
        KernelBackend::new(HubConfig {
            engine: EngineChoice::Bridge,
            seed,
            ..HubConfig::default()
        })
        .expect("kernel backend")
    };
    let first = drawn(kernel(43), 43).await;
    let again = drawn(kernel(43), 43).await;
    assert_one_route(&first, &again);
}
