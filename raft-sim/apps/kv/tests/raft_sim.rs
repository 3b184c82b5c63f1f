//! The Raft scenarios in the simulator, each over many seeds (default 20;
//! `TWINNET_SEEDS=N` for more), a few under madsim's determinism check.
//! A failing seed is named in the panic: rerun it alone with
//! `TWINNET_SEED=N`.
#![cfg(madsim)]

use std::future::Future;

use example_kv::scenarios::{self, ScenarioError};
use madsim::runtime::{Builder, Runtime};
use madsim_net::SimBackend;

fn seeds() -> std::ops::Range<u64> {
    raft_sim::seeds::from_env(20)
}

/// Runs `scenario` once per seed, each in a fresh simulation.
fn sweep<F, Fut, T>(name: &str, scenario: F)
where
    F: Fn(SimBackend) -> Fut,
    Fut: Future<Output = Result<T, ScenarioError>>,
    T: std::fmt::Debug,
{
    for seed in seeds() {
        let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
        let outcome =
            runtime.block_on(async { scenario(SimBackend::new().expect("simulation")).await });
        if let Err(err) = outcome {
            panic!("{name} failed on seed {seed}: {err} (rerun: TWINNET_SEED={seed})");
        }
    }
}

fn backend() -> SimBackend {
    SimBackend::new().expect("simulation")
}

#[test]
fn three_nodes_elect_one_leader_and_replicate() {
    sweep("elect-3", |b| scenarios::elect_and_replicate(b, 3));
}

#[test]
fn five_nodes_elect_one_leader_and_replicate() {
    sweep("elect-5", |b| scenarios::elect_and_replicate(b, 5));
}

#[test]
fn leader_failover_loses_no_acknowledged_write() {
    sweep("failover", scenarios::leader_failover);
}

#[test]
fn lagging_node_catches_up_by_snapshot() {
    sweep("snapshot", |b| scenarios::snapshot_catch_up(b, 1_200));
}

#[test]
fn membership_three_five_three_under_writes() {
    sweep("membership", scenarios::membership_changes);
}

#[test]
fn minority_partition_cannot_commit() {
    sweep("minority", scenarios::minority_partition);
}

#[test]
fn repeated_crashes_lose_no_acknowledged_write() {
    sweep("crash-loop", |b| scenarios::crash_restart_loop(b, 6));
}

#[test]
fn garbage_frames_are_rejected_while_committing() {
    sweep("garbage", scenarios::garbage_frames);
}

fn check(seed: u64, f: fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>) {
    let builder = Builder {
        seed,
        count: 1,
        jobs: 1,
        config: madsim::Config::default(),
        time_limit: None,
        check: true,
        allow_system_thread: false,
    };
    builder.run(f);
}

#[test]
fn failover_is_deterministic() {
    for seed in 0..3 {
        check(seed, || {
            Box::pin(async {
                scenarios::leader_failover(backend())
                    .await
                    .expect("failover");
            })
        });
    }
}

#[test]
fn partition_is_deterministic() {
    for seed in 0..2 {
        check(seed, || {
            Box::pin(async {
                scenarios::minority_partition(backend())
                    .await
                    .expect("minority");
            })
        });
    }
}
