//! `raft-sim shrink`'s promises, in the simulator: a seed's own schedule
//! made explicit replays the seed bit for bit, and a shrunk run fails the
//! same way with no more faults, ops or clients, and replays.
#![cfg(madsim)]

use example_kv::KvApp;
use example_kv::bugs::{Bug, Bugs};
use raft_sim::nemesis::NemesisPreset;
use raft_sim::sweep::shrink::{classes_of, failure_class, shrink_run};
use raft_sim::sweep::{RunConfig, run_seed};
use raft_sim::workload::{Model, WorkloadConfig};

fn config(bugs: Bugs) -> RunConfig<KvApp> {
    RunConfig {
        app_name: "kv".into(),
        app: KvApp::with_bugs(bugs),
        nodes: 5,
        nemesis: NemesisPreset::Standard,
        // Fewer ops than the default: every candidate is a whole run.
        workload: WorkloadConfig {
            model: Model::RegisterCas,
            ops: 400,
            ..WorkloadConfig::default()
        },
        schedule: None,
    }
}

#[test]
fn an_explicit_copy_of_the_seeds_schedule_changes_nothing() {
    let drawn = config(Bugs::none());
    for seed in [3, 8] {
        let first = run_seed(seed, &drawn);
        assert!(first.schedule.len() > 1, "seed {seed} drew faults");
        let explicit = RunConfig {
            schedule: Some(first.schedule.clone()),
            ..drawn.clone()
        };
        let second = run_seed(seed, &explicit);
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed}");
        assert_eq!(first.schedule, second.schedule);
    }
}

/// Candidate runs the test's shrink may spend (a debug build runs a seed
/// in seconds).
const MAX_RUNS: u32 = 6;

#[test]
fn a_shrunk_stale_read_still_fails_and_replays() {
    let buggy = config(Bugs::none().with(Bug::StaleRead));
    let (seed, outcome) = (0..50)
        .map(|seed| (seed, run_seed(seed, &buggy)))
        .find(|(_, outcome)| !outcome.failures.is_empty())
        .expect("stale-read is caught within 50 seeds");
    let class = failure_class(&outcome.failures[0]);
    let played = RunConfig {
        schedule: Some(outcome.schedule.clone()),
        ..buggy
    };
    let run = |seed: u64, config: &RunConfig<KvApp>| run_seed(seed, config).failures;
    let (shrunk, report) = shrink_run(seed, played.clone(), class.clone(), MAX_RUNS, &run);
    assert!(report.runs <= MAX_RUNS);
    let steps = shrunk.schedule.as_ref().map_or(0, Vec::len);
    assert!(steps <= outcome.schedule.len());
    assert!(shrunk.workload.ops <= played.workload.ops);
    assert!(shrunk.workload.clients <= played.workload.clients);
    assert!(
        report.log.iter().any(|step| step.kept) || report.runs == MAX_RUNS,
        "something shrank or the budget ran out: {:?}",
        report.log
    );
    let again = run_seed(seed, &shrunk);
    assert!(
        classes_of(&again.failures).contains(&class),
        "{:?}",
        again.failures
    );
    assert_eq!(run_seed(seed, &shrunk).trace_hash, again.trace_hash);
}
