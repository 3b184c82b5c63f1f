//! The main job's promises, in the simulator: a clean build passes a 200-seed
//! sweep; every planted bug is caught within 100 seeds, and the failing seed
//! replays to the same trace.
#![cfg(madsim)]

use example_kv::KvApp;
use example_kv::bugs::{Bug, Bugs};
use raft_sim::nemesis::NemesisPreset;
use raft_sim::sweep::{RunConfig, run_seed};
use raft_sim::workload::{Model, WorkloadConfig};

fn config(model: Model, bugs: Bugs) -> RunConfig<KvApp> {
    RunConfig {
        app_name: "kv".into(),
        app: KvApp::with_bugs(bugs),
        nodes: 5,
        nemesis: NemesisPreset::Standard,
        workload: WorkloadConfig {
            model,
            ..WorkloadConfig::default()
        },
        schedule: None,
    }
}

/// Seeds of the clean sweep, run on two threads (each seed is its own
/// simulation, so the split changes nothing but the wall time).
const CLEAN_SEEDS: u64 = 200;

#[test]
fn clean_build_passes_two_hundred_seeds() {
    let config = config(Model::RegisterCas, Bugs::none());
    let faults: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2u64)
            .map(|worker| {
                let config = &config;
                scope.spawn(move || {
                    let mut faults = 0;
                    for seed in (worker..CLEAN_SEEDS).step_by(2) {
                        let outcome = run_seed(seed, config);
                        assert!(
                            outcome.failures.is_empty(),
                            "seed {seed} failed on a clean build: {:?}",
                            outcome.failures
                        );
                        assert!(
                            outcome.history.len() >= 2_000,
                            "seed {seed}: {} events",
                            outcome.history.len()
                        );
                        faults += outcome.fault_count;
                    }
                    faults
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker finished"))
            .sum()
    });
    assert!(
        faults >= CLEAN_SEEDS * 3,
        "the nemesis was nearly idle: {faults} faults over {CLEAN_SEEDS} seeds"
    );
}

/// The first seed below 100 that catches `bug`, with its failures.
fn first_catch(bug: Bug, model: Model) -> (u64, Vec<String>, u64) {
    let config = config(model, Bugs::none().with(bug));
    for seed in 0..100 {
        let outcome = run_seed(seed, &config);
        if !outcome.failures.is_empty() {
            return (seed, outcome.failures, outcome.trace_hash);
        }
    }
    panic!("planted bug {bug} not caught within 100 seeds ({model})");
}

fn caught_and_replayed(bug: Bug, model: Model) {
    let (seed, failures, hash) = first_catch(bug, model);
    println!("{bug} caught at seed {seed}: {failures:?}");
    let replay = run_seed(seed, &config(model, Bugs::none().with(bug)));
    assert_eq!(
        replay.trace_hash, hash,
        "{bug}: seed {seed} did not replay to the same trace"
    );
    assert_eq!(
        replay.failures, failures,
        "{bug}: seed {seed} replayed to other failures"
    );
}

#[test]
fn stale_read_is_caught() {
    caught_and_replayed(Bug::StaleRead, Model::RegisterCas);
}

#[test]
fn forget_vote_is_caught() {
    caught_and_replayed(Bug::ForgetVote, Model::RegisterCas);
}

#[test]
fn early_ack_is_caught() {
    // Power losses right after an ack, with the old leader powered on last.
    caught_and_replayed(Bug::EarlyAck, Model::RegisterCas);
}

#[test]
fn lost_applied_is_caught() {
    // Entries applied again after a restart: the accumulator key's adds
    // show it.
    caught_and_replayed(Bug::LostApplied, Model::RegisterCas);
}

#[test]
fn retry_ambiguous_is_caught() {
    caught_and_replayed(Bug::RetryAmbiguous, Model::RegisterCas);
}

#[test]
fn snapshot_keeps_state_is_caught() {
    // Needs a node that rejoins behind the leader's purged log.
    caught_and_replayed(Bug::SnapshotKeepsState, Model::RegisterCas);
}

#[test]
fn snapshot_drops_membership_is_caught() {
    // Needs a node that restarts from (or installs) a snapshot: its state
    // machine then reports a membership its Raft did not commit.
    caught_and_replayed(Bug::SnapshotDropsMembership, Model::RegisterCas);
}

#[test]
fn response_mixup_is_caught() {
    // Needs a client delayed past its attempt timeout, then another
    // request on the connection the late answer arrives on.
    caught_and_replayed(Bug::ResponseMixup, Model::RegisterCas);
}

#[test]
fn leader_local_read_is_caught() {
    // Needs a deposed leader that still believes it leads while a client
    // reads from it after a write committed at its successor.
    caught_and_replayed(Bug::LeaderLocalRead, Model::RegisterCas);
}

#[test]
fn vote_unsynced_is_caught() {
    // Needs a power loss while an election's votes are unsynced, then a
    // second election in the same term among the nodes that forgot.
    caught_and_replayed(Bug::VoteUnsynced, Model::RegisterCas);
}

#[test]
fn sync_error_ignored_is_caught() {
    // Needs disks that fail while writes are acknowledged, then the power
    // cycle that loses what they never wrote.
    caught_and_replayed(Bug::SyncErrorIgnored, Model::RegisterCas);
}

#[test]
fn lease_read_is_caught() {
    // Needs a leader whose clock runs slow, cut off from its followers
    // while its clients still read from it: its lease outlives the
    // election they hold meanwhile.
    caught_and_replayed(Bug::LeaseRead, Model::RegisterCas);
}
