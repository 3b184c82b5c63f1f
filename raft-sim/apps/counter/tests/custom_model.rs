//! The counter's own data model through the sweep: `--model custom` draws
//! its fetch-and-add ops from `App::custom_op` and checks the history with
//! `App::check_custom` (twinnet-check's `check_model::<FetchAdd>`), under
//! the standard nemesis. 50 seeds, on two threads.
#![cfg(madsim)]

use example_counter::CounterApp;
use raft_sim::nemesis::NemesisPreset;
use raft_sim::sweep::{RunConfig, run_seed};
use raft_sim::workload::{EventType, Model, WorkloadConfig};

const SEEDS: u64 = 50;

#[test]
fn fetch_and_add_histories_are_linearizable() {
    let config = RunConfig {
        app_name: "counter".into(),
        app: CounterApp,
        nodes: 5,
        nemesis: NemesisPreset::Standard,
        workload: WorkloadConfig {
            model: Model::Custom,
            ..WorkloadConfig::default()
        },
        schedule: None,
    };
    let adds_acknowledged: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2u64)
            .map(|thread| {
                let config = &config;
                scope.spawn(move || {
                    let mut adds = 0;
                    for seed in (thread..SEEDS).step_by(2) {
                        let outcome = run_seed(seed, config);
                        assert!(
                            outcome.failures.is_empty(),
                            "seed {seed}: {:?}",
                            outcome.failures
                        );
                        adds += outcome
                            .history
                            .iter()
                            .filter(|e| e.f == "add" && e.kind == EventType::Ok)
                            .count();
                    }
                    adds
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    // The workload really spoke the custom model (about 60 % adds).
    assert!(
        adds_acknowledged as u64 >= SEEDS * 300,
        "only {adds_acknowledged} acknowledged adds over {SEEDS} seeds"
    );
}
