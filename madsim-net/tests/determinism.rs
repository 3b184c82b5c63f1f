//! The same seed gives the same trace: run twice, run alone versus inside a
//! multi-seed sweep, and under madsim's own determinism check.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use madsim::runtime::{Builder, Runtime};
use madsim_net::{NetBackend, SimBackend, scenario};

async fn chaos_hash() -> u64 {
    let mut backend = SimBackend::new().expect("inside a simulation");
    let config = scenario::ChaosConfig::draw().expect("valid draw");
    scenario::chaos_case(&mut backend, &config)
        .await
        .expect("chaos case passes");
    backend.trace_hash()
}

fn run_alone(seed: u64) -> u64 {
    Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(chaos_hash())
}

fn builder(seed: u64, count: u64, check: bool) -> Builder {
    Builder {
        seed,
        count,
        jobs: 1,
        config: madsim::Config::default(),
        time_limit: None,
        check,
        allow_system_thread: false,
    }
}

#[test]
fn same_seed_same_trace_hash_different_seed_different_hash() {
    let first = run_alone(7);
    assert_eq!(first, run_alone(7));
    assert_ne!(first, run_alone(8));
}

static SWEEP_HASHES: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

#[test]
fn seed_alone_equals_seed_inside_a_sweep() {
    builder(3, 4, false).run(|| async {
        let seed = madsim::runtime::Handle::current().seed();
        let hash = chaos_hash().await;
        SWEEP_HASHES.lock().unwrap().insert(seed, hash);
    });
    let swept = SWEEP_HASHES.lock().unwrap().clone();
    assert_eq!(swept.keys().copied().collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    for (seed, hash) in swept {
        assert_eq!(
            hash,
            run_alone(seed),
            "seed {seed} differs alone vs in the sweep"
        );
    }
}

#[test]
fn madsim_determinism_check_passes() {
    // Runs the seed twice and compares every random draw (what
    // MADSIM_TEST_CHECK_DETERMINISM=1 does); panics on divergence.
    builder(11, 1, true).run(|| async {
        chaos_hash().await;
    });
}
