//! A run's files made without a simulation, for the timeline tests: a
//! register history of 1,000 ops by 5 clients with a stale read planted on
//! key k0, and an artifact with 10 fault episodes (20 applied steps) of
//! every kind the nemesis has, role changes, and the core the checker
//! finds in that history.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use madsim_net::Partition;
use madsim_net::artifact::{Artifact, SCHEMA_VERSION, Status};
use raft_sim::nemesis::{AppliedFault, Fault, Outcome, PartitionKind, Target};
use raft_sim::timeline::{Role, RoleLog, TimelineRecord, ViolationCore};
use serde_json::json;

pub const OPS: u64 = 1_000;
pub const CLIENTS: u64 = 5;
pub const NODES: u64 = 5;
/// The event log's clock at the workload's start.
const START_NS: u64 = 50_000_000;
const MS: u64 = 1_000_000;

/// Where a test's files go: under the target directory, by test name.
pub fn work_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    dir
}

pub fn raft_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raft-sim"))
        .args(args)
        .output()
        .expect("raft-sim runs")
}

/// The history's JSONL: each client writes and reads keys k0..k4, one op
/// every 15 ms, a read seeing the last write invoked before it (so the
/// history is linearizable); a few writes end `info`, their client going
/// on as a new process; one read of k0 near the end returns the first
/// value k0 ever had (the stale read).
pub fn history() -> String {
    let mut lines = Vec::new();
    let mut values = std::collections::BTreeMap::new();
    let mut first_k0 = None;
    let mut process_of: Vec<u64> = (0..CLIENTS).collect();
    let mut next_process = CLIENTS;
    for i in 0..OPS {
        let client = (i % CLIENTS) as usize;
        let process = process_of[client];
        let key = format!("k{}", (i / 3) % 5);
        let call = (i / CLIENTS) * 15 * MS + client as u64 * 2 * MS + 7;
        let done = call + 5 * MS + (i % 7) * MS;
        let stale_read = i == OPS - 3;
        let (f, key, arg, result) = if stale_read {
            ("read", "k0".to_string(), json!(null), json!(first_k0))
        } else if i % 4 == 3 {
            let seen = values.get(&key).copied();
            ("read", key, json!(null), json!(seen))
        } else {
            let value = 1_000 + i;
            values.insert(key.clone(), value);
            if key == "k0" {
                first_k0.get_or_insert(value);
            }
            ("write", key, json!(value), json!(value))
        };
        // Every 97th write is left indeterminate; its client retires the
        // process, as the workload does.
        let kind = if f == "write" && i % 97 == 50 {
            "info"
        } else {
            "ok"
        };
        lines.push(event(process, "invoke", f, &key, arg, call));
        lines.push(event(process, kind, f, &key, result, done));
        if kind == "info" {
            process_of[client] = next_process;
            next_process += 1;
        }
    }
    lines.join("\n") + "\n"
}

fn event(
    process: u64,
    kind: &str,
    f: &str,
    key: &str,
    value: serde_json::Value,
    ns: u64,
) -> String {
    json!({"process": process, "type": kind, "f": f, "key": key, "value": value, "time_ns": ns})
        .to_string()
}

/// The applied faults: 10 episodes, each a fault and the step that undid
/// it, one of every kind.
pub fn faults() -> Vec<AppliedFault> {
    let kinds: Vec<(Fault, Outcome, Fault, Outcome)> = vec![
        (
            Fault::Partition(PartitionKind::MajorityMinority {
                minority: vec![3, 4],
            }),
            Outcome::Partitioned {
                partition: Partition::Split {
                    side_a: vec![3, 4],
                    side_b: vec![0, 1, 2],
                },
                id: 1,
            },
            Fault::Heal,
            Outcome::Healed { id: 1 },
        ),
        (
            Fault::KillAfterAck(Target::Leader),
            Outcome::Killed {
                node: 0,
                lost_writes: 2,
            },
            Fault::Restart(Target::Leader),
            Outcome::Restarted { node: 0 },
        ),
        (
            Fault::Pause(Target::Node(2)),
            Outcome::Paused { node: 2 },
            Fault::Resume(Target::Node(2)),
            Outcome::Resumed { node: 2 },
        ),
        (
            Fault::CrashAllAfterAck,
            Outcome::CrashedAll {
                nodes: (0..NODES).collect(),
                lost_writes: 3,
            },
            Fault::RestartAll,
            Outcome::RestartedAll {
                nodes: (0..NODES).collect(),
                held_back: vec![1],
            },
        ),
        (
            Fault::RemoveVoters {
                first: Target::Leader,
                count: 1,
            },
            Outcome::VotersRemoved {
                removed: vec![1],
                voters: vec![0, 2, 3, 4],
                leader_removed: true,
            },
            Fault::RestoreVoters,
            Outcome::VotersRestored { added: vec![1] },
        ),
        (
            Fault::DelayPastTimeout {
                round_trip_permille: 1_100,
            },
            Outcome::ClientDelayed {
                links: 10,
                one_way_ms: 1_100,
                jitter_ms: 40,
            },
            Fault::ClearDelay,
            Outcome::DelayCleared { links: 10 },
        ),
        (
            Fault::SlowFsync {
                target: Target::Node(3),
                latency_ms: 120,
            },
            Outcome::FsyncSlowed {
                node: 3,
                latency_ms: 120,
            },
            Fault::RestoreFsync,
            Outcome::FsyncRestored { node: 3 },
        ),
        (
            Fault::RpcFaults(madsim_net::RpcFaults {
                drop_percent: 5.0,
                duplicate_percent: 2.0,
                delay_percent: 10.0,
                delay_max_us: 200_000,
            }),
            Outcome::RpcFaulted,
            Fault::ClearRpcFaults,
            Outcome::RpcFaultsCleared,
        ),
        (
            Fault::Partition(PartitionKind::OneWay { from: 1, to: 4 }),
            Outcome::Partitioned {
                partition: Partition::OneWay { from: 1, to: 4 },
                id: 2,
            },
            Fault::Heal,
            Outcome::Healed { id: 2 },
        ),
        (
            Fault::Kill(Target::RandomFollower),
            Outcome::Skipped {
                reason: "no running follower".into(),
            },
            Fault::Restart(Target::RandomFollower),
            Outcome::Skipped {
                reason: "nothing to restart".into(),
            },
        ),
    ];
    let mut applied = Vec::new();
    for (episode, (fault, outcome, undo, undone)) in kinds.into_iter().enumerate() {
        let at_ms = 150 + episode as u64 * 280;
        let step = |index: usize, at_ms: u64, fault: Fault, outcome: Outcome| AppliedFault {
            step: index,
            episode: episode as u32,
            fault,
            end_of_burst: false,
            planned_ms: at_ms,
            at_ms,
            time_ns: START_NS + at_ms * MS,
            outcome,
        };
        applied.push(step(2 * episode, at_ms, fault, outcome));
        applied.push(step(2 * episode + 1, at_ms + 200, undo, undone));
    }
    applied
}

/// Roles: node 0 leads, is killed and comes back a follower; node 4 then
/// leads; node 2 is paused for a while.
fn roles() -> RoleLog {
    let mut log = RoleLog::new();
    let at = |ms: u64| START_NS + ms * MS;
    for node in 0..NODES {
        let role = if node == 0 {
            Role::Leader { term: 1 }
        } else {
            Role::Follower { term: 1 }
        };
        log.observe(node, role, at(0));
    }
    log.observe(0, Role::Down, at(430));
    log.observe(4, Role::Candidate { term: 2 }, at(500));
    log.observe(4, Role::Leader { term: 2 }, at(520));
    log.observe(0, Role::Follower { term: 2 }, at(630));
    log.observe(2, Role::Paused, at(710));
    log.observe(2, Role::Follower { term: 2 }, at(910));
    for node in 0..NODES {
        log.observe(node, Role::Down, at(990));
    }
    for node in 0..NODES {
        let role = if node == 4 {
            Role::Leader { term: 3 }
        } else {
            Role::Follower { term: 3 }
        };
        log.observe(node, role, at(1_190));
    }
    log.observe(4, Role::Leader { term: 3 }, at(3_100));
    log
}

/// The artifact of the run, its core found by the checker in [`history`].
pub fn artifact(history: &str) -> Artifact {
    let parsed = twinnet_check::parse_str(history).expect("the history parses");
    let report =
        twinnet_check::check(&parsed, twinnet_check::ModelKind::RegisterCas).expect("it checks");
    let violation = report.violation.as_ref().map(ViolationCore::from_violation);
    assert!(violation.is_some(), "the planted stale read is a violation");
    let failure = format!("linearizability: {report}");
    let record = TimelineRecord {
        workload_start_ns: START_NS,
        roles: roles(),
        checked: true,
        violation,
        failures: vec![failure.clone(), "invariant: made up for the test".into()],
    };
    Artifact {
        schema_version: SCHEMA_VERSION,
        name: "raft-sweep".into(),
        seed: 99,
        config: json!({
            "run": {"app_name": "kv", "app": {"bugs": {"stale_read": true}}, "nodes": NODES,
                    "nemesis": "standard",
                    "workload": {"model": "register-cas", "ops": OPS, "clients": CLIENTS,
                                 "keys": 5, "think_ms": 10, "op_timeout_ms": 3000}},
            "swarm": null,
            "faults": faults(),
            "timeline": record,
        }),
        status: Status::Failed,
        failure: Some(failure),
        simulated_duration_ms: 3_100,
        wall_duration_ms: 1,
        counters: json!({}),
        trace_hash: "0000000000000000".into(),
        replay: "cargo xtask sim --seeds 99..100 --bug stale-read".into(),
    }
}

/// Writes the history and the artifact into `dir`; returns their paths.
pub fn write_run(dir: &Path) -> (PathBuf, PathBuf) {
    let history = history();
    let artifact = artifact(&history);
    let history_path = dir.join("raft-sweep-seed99.history.jsonl");
    std::fs::write(&history_path, &history).expect("write the history");
    let artifact_path = artifact.write_to(dir).expect("write the artifact");
    (history_path, artifact_path)
}
