//! 100 seeds of the counter under the standard nemesis, in the simulator
//! (debug build: since its seeds span its stretched faults, each seed tests
//! more and costs more; `counter-sweep sweep --seeds 0..200` in release
//! passes 200).
#![cfg(madsim)]

use example_counter::CounterApp;
use raft_sim::nemesis::NemesisPreset;
use raft_sim::sweep::{Coverage, RunConfig, run_seed};
use raft_sim::workload::{EventType, WorkloadConfig};

const SEEDS: u64 = 100;
const THREADS: u64 = 2;

struct SeedSummary {
    seed: u64,
    failures: Vec<String>,
    events: usize,
    ok_writes: usize,
    coverage: Coverage,
}

fn run(seed: u64, config: &RunConfig<CounterApp>) -> SeedSummary {
    let outcome = run_seed(seed, config);
    let ok_writes = outcome
        .history
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f != "read")
        .count();
    SeedSummary {
        seed,
        failures: outcome.failures,
        events: outcome.history.len(),
        ok_writes,
        coverage: outcome.coverage,
    }
}

#[test]
fn a_hundred_seeds_pass() {
    let config = RunConfig {
        app_name: "counter".into(),
        app: CounterApp,
        nodes: 5,
        nemesis: NemesisPreset::Standard,
        workload: WorkloadConfig::default(),
        schedule: None,
    };
    let ops = config.workload.ops;
    let mut results: Vec<SeedSummary> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let config = &config;
                scope.spawn(move || {
                    (0..SEEDS)
                        .filter(|seed| seed % THREADS == thread)
                        .map(|seed| run(seed, config))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a sweep thread panicked"))
            .collect()
    });
    results.sort_by_key(|r| r.seed);
    assert_eq!(results.len() as u64, SEEDS);

    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| format!("seed {}: {:?}", r.seed, r.failures))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {SEEDS} seeds failed:\n{}",
        failed.len(),
        failed.join("\n")
    );

    // Every operation has its invocation and its completion in the history,
    // and a good share of the writes took effect.
    for r in &results {
        assert!(
            r.events >= 2 * ops,
            "seed {}: history of {} events for {ops} ops",
            r.seed,
            r.events
        );
        assert!(
            r.ok_writes >= ops / 10,
            "seed {}: only {} writes succeeded",
            r.seed,
            r.ok_writes
        );
    }

    // The faults did something: leaders changed in many seeds, nodes were
    // killed and lost writes, followers installed snapshots.
    let total = |f: fn(&Coverage) -> u64| results.iter().map(|r| f(&r.coverage)).sum::<u64>();
    let seeds_with =
        |f: fn(&Coverage) -> u64| results.iter().filter(|r| f(&r.coverage) > 0).count();
    let leader_changes = total(|c| c.leader_changes);
    let seeds_with_leader_change = seeds_with(|c| c.leader_changes);
    println!(
        "coverage over {SEEDS} seeds: elections {}, leader changes {leader_changes} \
         (in {seeds_with_leader_change} seeds), kills {}, kills losing writes {}, \
         partitions {}, pauses {}, link bursts {}, snapshots built {}, installed {} \
         (in {} seeds)",
        total(|c| c.elections),
        total(|c| c.kills),
        total(|c| c.kills_losing_writes),
        total(|c| c.partitions),
        total(|c| c.pauses),
        total(|c| c.link_bursts),
        total(|c| c.snapshots_built),
        total(|c| c.snapshots_installed),
        seeds_with(|c| c.snapshots_installed),
    );
    // The standard nemesis stretches its faults to the election timeout
    // (1 s here, 1.67x the presets' reference) and the seed with them (a
    // longer horizon, a paced workload): in a release sweep of seeds
    // 0..200 the leader moved in 154. A fifth is the floor.
    assert!(
        seeds_with_leader_change as u64 >= SEEDS / 5,
        "leaders changed in only {seeds_with_leader_change} of {SEEDS} seeds"
    );
    assert!(total(|c| c.kills_losing_writes) > 0, "no kill lost a write");
    assert!(total(|c| c.snapshots_built) > 0, "no snapshot was built");
    assert!(
        total(|c| c.snapshots_installed) > 0,
        "no follower installed a snapshot"
    );
}
