//! HTTP traffic in the simulator replays from its seed: the same seed gives
//! the same trace hash, another seed another one, and madsim's own check
//! (every random draw compared over two runs) passes.
#![cfg(madsim)]

mod common;

use madsim::runtime::{Builder, Runtime};
use madsim_net::{NetBackend, SimBackend};

async fn traffic_hash() -> u64 {
    let mut backend = SimBackend::new().expect("inside a simulation");
    common::jittered_traffic(&mut backend, 20).await;
    backend.trace_hash()
}

fn run(seed: u64) -> u64 {
    Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(traffic_hash())
}

#[test]
fn same_seed_same_trace_hash_different_seed_different_hash() {
    let first = run(7);
    assert_eq!(first, run(7));
    assert_ne!(first, run(8));
}

#[test]
fn madsim_determinism_check_passes() {
    Builder {
        seed: 11,
        count: 1,
        jobs: 1,
        config: madsim::Config::default(),
        time_limit: None,
        check: true,
        allow_system_thread: false,
    }
    .run(|| async {
        traffic_hash().await;
    });
}
