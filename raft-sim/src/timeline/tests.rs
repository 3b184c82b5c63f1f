//! The timeline's data from small histories and artifacts made here.

use madsim_net::artifact::{Artifact, SCHEMA_VERSION, Status};
use serde_json::json;

use super::page_data::{self, MAX_OPS_DRAWN};
use super::record::{CoreOp, Role, RoleLog, TimelineRecord, ViolationCore};
use super::*;

/// One JSONL event.
fn event(
    process: u64,
    kind: &str,
    f: &str,
    key: &str,
    value: serde_json::Value,
    ms: u64,
) -> String {
    json!({"process": process, "type": kind, "f": f, "key": key, "value": value,
           "time_ns": ms * 1_000_000})
    .to_string()
}

/// A register history with a stale read: process 0 writes 1 then 2, and
/// process 1 reads 1 after the write of 2 completed. Process 2's write
/// ends `info` (it gave up at 70 ms) and process 3 takes over its client.
fn stale_read_history() -> String {
    [
        event(0, "invoke", "write", "k0", json!(1), 0),
        event(0, "ok", "write", "k0", json!(1), 10),
        event(2, "invoke", "write", "k1", json!(7), 15),
        event(0, "invoke", "write", "k0", json!(2), 20),
        event(0, "ok", "write", "k0", json!(2), 30),
        event(1, "invoke", "read", "k0", json!(null), 40),
        event(1, "ok", "read", "k0", json!(1), 50),
        event(2, "info", "write", "k1", json!(7), 70),
        event(3, "invoke", "read", "k1", json!(null), 80),
        event(3, "ok", "read", "k1", json!(7), 90),
    ]
    .join("\n")
}

fn bare(history: &str) -> PageData {
    page_data::build(&Sources {
        history_text: history,
        history_name: "h.jsonl",
        artifact: None,
        model: None,
    })
    .expect("a readable history")
}

#[test]
fn a_bare_history_is_checked_and_its_core_highlighted() {
    let data = bare(&stale_read_history());
    assert_eq!(data.unit, "ms");
    assert_eq!(data.total_ops, 5);
    let core = data.core.as_ref().expect("the stale read is found");
    assert_eq!(core.key.as_deref(), Some("k0"));
    assert!(
        core.reason.contains("cannot be linearized"),
        "{}",
        core.reason
    );
    let core_ops: Vec<&str> = core.ops.iter().map(|&i| data.ops[i].f.as_str()).collect();
    assert!(core_ops.contains(&"read"), "{core_ops:?}");
    let stale = data.ops.iter().find(|op| op.f == "read" && op.process == 1);
    assert!(stale.is_some_and(|op| op.core.is_some()));
    assert!(data.nodes.is_empty() && data.faults.is_empty());
}

#[test]
fn an_info_op_ends_where_its_client_gave_up_and_its_successor_shares_the_lane() {
    let data = bare(&stale_read_history());
    let info = data.ops.iter().find(|op| op.outcome == "info").unwrap();
    assert_eq!((info.from, info.to), (15.0, 70.0));
    let successor = data.ops.iter().find(|op| op.process == 3).unwrap();
    assert_eq!(successor.lane, info.lane, "process 3 follows process 2");
    // Process 1 starts after process 0's last op: they share a lane too.
    assert_eq!(data.lanes.len(), 2, "{:?}", data.lanes);
    assert_eq!(data.lanes[info.lane].processes, vec![2, 3]);
    assert_eq!((data.start, data.end), (0.0, 90.0));
}

#[test]
fn a_large_history_is_summarised_with_a_note_and_stays_small() {
    // 60,000 ops on 8 clients, each op its own process (as a Jepsen
    // history's processes come and go), with long values (a kv-append
    // read returns everything appended so far).
    let mut lines = Vec::new();
    let long = "x".repeat(3_000);
    for i in 0..60_000u64 {
        let process = i;
        let at = i * 10;
        lines.push(event(
            process,
            "invoke",
            "append",
            "k0",
            json!(format!("{i} ")),
            at,
        ));
        lines.push(event(
            process,
            "ok",
            "append",
            "k0",
            json!(format!("{i} ")),
            at + 5,
        ));
    }
    lines.push(event(1_000_000, "invoke", "get", "k1", json!(null), 0));
    lines.push(event(1_000_000, "ok", "get", "k1", json!(long), 1));
    let text = lines.join("\n");
    let data = page_data::build(&Sources {
        history_text: &text,
        history_name: "big.jsonl",
        artifact: None,
        model: Some(crate::workload::Model::Custom), // no check: only the drawing
    })
    .unwrap();
    let page = html::render(&data);
    assert!(data.ops.len() <= MAX_OPS_DRAWN);
    assert_eq!(data.total_ops, 60_001);
    let note = &data.notes[0];
    assert!(note.contains("ops not drawn"), "{note}");
    assert!(
        note.starts_with(&format!("{} of 60001", 60_001 - data.ops.len())),
        "{note}"
    );
    assert!(page.len() < 2 * 1024 * 1024, "{} bytes", page.len());
    assert!(data.lanes.iter().all(|l| l.processes.len() <= 8));
    let listed: usize = data
        .lanes
        .iter()
        .map(|l| l.processes.len() + l.more_processes)
        .sum();
    assert_eq!(listed, 60_001, "every process is on a lane or counted");
    let long_op = data.ops.iter().find(|op| op.f == "get").unwrap();
    assert!(
        long_op.result.ends_with("(3008 chars)"),
        "{}",
        long_op.result
    );
}

#[test]
fn a_jepsen_history_is_drawn_on_a_line_axis() {
    let text = "INFO  jepsen.util - 0\t:invoke\t:write\t3\n\
                INFO  jepsen.util - 0\t:ok\t:write\t3\n\
                INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
                INFO  jepsen.util - 1\t:ok\t:read\t3\n";
    let data = bare(text);
    assert_eq!(data.unit, "line");
    assert_eq!(data.ops.len(), 2);
    assert_eq!((data.ops[0].from, data.ops[0].to), (1.0, 2.0));
    assert!(data.core.is_none());
}

#[test]
fn an_unreadable_history_is_one_error_naming_the_file_and_line() {
    let err = page_data::build(&Sources {
        history_text: "{\"process\": 0, \"type\": \"invoke\"",
        history_name: "broken.jsonl",
        artifact: None,
        model: None,
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("broken.jsonl is not a history"), "{text}");
    assert!(text.contains("line 1"), "{text}");
}

/// The page of [`stale_read_history`] with `artifact`.
fn stale_read_page(artifact: &Artifact) -> PageData {
    page_data::build(&Sources {
        history_text: &stale_read_history(),
        history_name: "h",
        artifact: Some(artifact),
        model: None,
    })
    .unwrap()
}

fn artifact(record: Option<TimelineRecord>, faults: serde_json::Value) -> Artifact {
    let mut config = json!({
        "run": {"app_name": "kv", "app": {"bugs": {"stale_read": true, "early_ack": false}},
                "nodes": 3, "nemesis": "standard",
                "workload": {"model": "register-cas", "ops": 5, "clients": 3}},
        "faults": faults,
    });
    if let Some(record) = record {
        config["timeline"] = serde_json::to_value(record).unwrap();
    }
    Artifact {
        schema_version: SCHEMA_VERSION,
        name: "raft-sweep".into(),
        seed: 7,
        config,
        status: Status::Failed,
        failure: Some(
            "linearizability: verdict: NOT linearizable\nmore; invariant: split brain".into(),
        ),
        simulated_duration_ms: 1_000,
        wall_duration_ms: 10,
        counters: json!({}),
        trace_hash: "0".into(),
        replay: "cargo xtask sim --seeds 7..8 --bug stale-read".into(),
    }
}

#[test]
fn an_artifact_adds_roles_faults_and_its_recorded_core() {
    // The event log's clock runs 100 ms ahead of the workload's.
    let start_ns = 100_000_000;
    let mut roles = RoleLog::new();
    roles.observe(0, Role::Leader { term: 1 }, start_ns);
    roles.observe(1, Role::Follower { term: 1 }, start_ns);
    roles.observe(2, Role::Follower { term: 1 }, start_ns);
    roles.observe(0, Role::Down, start_ns + 25_000_000);
    roles.observe(1, Role::Leader { term: 2 }, start_ns + 60_000_000);
    roles.observe(2, Role::Follower { term: 2 }, start_ns + 90_000_000);
    let record = TimelineRecord {
        workload_start_ns: start_ns,
        roles,
        checked: true,
        // The run recorded the read alone as its core (not what the
        // checker would say now): the record wins, no check is redone.
        violation: Some(ViolationCore {
            key: Some("k0".into()),
            reason: "violation on key \"k0\": recorded".into(),
            ops: vec![CoreOp {
                process: 1,
                call: 40_000_000,
                line: 6,
            }],
            ops_cut: 0,
        }),
        failures: vec![
            "linearizability: verdict: NOT linearizable\n(1-minimal; shrunk)".into(),
            "invariant: split brain".into(),
        ],
    };
    let faults = json!([
        {"step": 0, "episode": 0, "fault": {"kill": "leader"}, "end_of_burst": false,
         "planned_ms": 24, "at_ms": 24, "time_ns": start_ns + 24_000_000,
         "outcome": {"outcome": "killed", "node": 0, "lost_writes": 2}},
        {"step": 1, "episode": 0, "fault": {"restart": "leader"}, "end_of_burst": false,
         "planned_ms": 80, "at_ms": 80, "time_ns": start_ns + 80_000_000,
         "outcome": {"outcome": "restarted", "node": 0}},
    ]);
    let artifact = artifact(Some(record), faults);
    let data = stale_read_page(&artifact);
    assert_eq!(data.title, "raft-sweep seed 7");
    assert!(
        data.subtitle.contains("planted bug stale-read"),
        "{}",
        data.subtitle
    );
    assert_eq!(data.status, Some("failed"));
    assert_eq!(data.failures.len(), 2, "{:?}", data.failures);
    assert_eq!(data.nodes.len(), 3);
    let node0: Vec<(&str, f64, f64)> = data.nodes[0]
        .spans
        .iter()
        .map(|s| (s.role, s.from, s.to))
        .collect();
    assert_eq!(node0, vec![("leader", 0.0, 25.0), ("down", 25.0, 90.0)]);
    assert_eq!(data.faults.len(), 1);
    assert_eq!((data.faults[0].from, data.faults[0].to), (24.0, Some(80.0)));
    assert_eq!(data.lost.len(), 1);
    let core = data.core.as_ref().unwrap();
    assert_eq!(core.reason, "violation on key \"k0\": recorded");
    assert_eq!(core.ops.len(), 1);
    assert_eq!(data.ops[core.ops[0]].process, 1);
    let page = html::render(&data);
    assert!(page.contains("<script type=\"application/json\" id=\"timeline-data\">"));
}

#[test]
fn an_artifact_from_before_timelines_still_draws_its_faults() {
    let faults = json!([
        {"step": 0, "episode": 0, "fault": {"pause": {"node": 1}}, "end_of_burst": false,
         "planned_ms": 24, "at_ms": 24, "time_ns": 999_000_000,
         "outcome": {"outcome": "paused", "node": 1}},
    ]);
    let artifact = artifact(None, faults);
    let data = stale_read_page(&artifact);
    assert_eq!(data.faults[0].from, 24.0, "placed by at_ms");
    assert!(data.notes.iter().any(|n| n.contains("no role samples")));
    assert!(data.core.is_some(), "checked now with the artifact's model");
}

#[test]
fn a_disk_failure_is_one_disk_span_and_its_power_cycle_marks_the_writes_lost() {
    let faults = json!([
        {"step": 0, "episode": 0, "fault": "fail_all_disks", "end_of_burst": false,
         "planned_ms": 24, "at_ms": 24, "time_ns": 999_000_000,
         "outcome": {"outcome": "disks_failed", "nodes": [0, 1, 2]}},
        {"step": 1, "episode": 0, "fault": "recover_disks", "end_of_burst": false,
         "planned_ms": 80, "at_ms": 80, "time_ns": 1_055_000_000,
         "outcome": {"outcome": "disks_recovered", "nodes": [2, 0, 1], "lost_writes": 5}},
    ]);
    let artifact = artifact(None, faults);
    let data = stale_read_page(&artifact);
    assert_eq!(data.faults.len(), 1, "{:?}", data.faults);
    let span = &data.faults[0];
    assert_eq!((span.kind, span.from, span.to), ("disk", 24.0, Some(80.0)));
    assert_eq!(span.title, "disk failure on {0,1,2}");
    assert_eq!(data.lost.len(), 1);
    assert_eq!((data.lost[0].writes, data.lost[0].at), (5, 80.0));
}

#[test]
fn a_drifted_clock_spans_its_episode_and_client_resets_are_a_moment() {
    let faults = json!([
        {"step": 0, "episode": 0,
         "fault": {"drift_clock": {"target": "leader", "rate_permille": 150, "isolate": true}},
         "end_of_burst": false, "planned_ms": 24, "at_ms": 24, "time_ns": 999_000_000,
         "outcome": {"outcome": "clock_drifted", "node": 2, "rate_permille": 150, "isolated": 3}},
        {"step": 1, "episode": 0, "fault": "restore_clock", "end_of_burst": false,
         "planned_ms": 60, "at_ms": 60, "time_ns": 1_035_000_000,
         "outcome": {"outcome": "clock_restored", "node": 2, "skew_ms": -30, "drifted_reads": 9}},
        {"step": 2, "episode": 1,
         "fault": {"reset_client_connections": {"resets": 3, "every_ms": 10}},
         "end_of_burst": false, "planned_ms": 50, "at_ms": 70, "time_ns": 1_045_000_000,
         "outcome": {"outcome": "client_connections_reset", "resets": 3, "streams": 12}},
    ]);
    let artifact = artifact(None, faults);
    let data = stale_read_page(&artifact);
    assert_eq!(data.faults.len(), 2, "{:?}", data.faults);
    let clock = &data.faults[0];
    assert_eq!(
        (clock.kind, clock.from, clock.to),
        ("clock", 24.0, Some(60.0))
    );
    assert_eq!(clock.title, "node 2 clock at 150\u{2030}, cut off");
    assert_eq!(clock.nodes, vec![2]);
    let resets = &data.faults[1];
    assert_eq!((resets.kind, resets.to), ("client", Some(resets.from)));
    assert_eq!(resets.title, "client connections reset x3 (12 streams)");
}

#[test]
fn pages_go_beside_their_inputs() {
    assert_eq!(
        path_beside(Path::new("/d/raft-sweep-seed3.json")),
        Path::new("/d/raft-sweep-seed3.html")
    );
    assert_eq!(
        history_sibling(Path::new("/d/raft-sweep-seed3.history.jsonl")),
        Path::new("/d/raft-sweep-seed3.html")
    );
    assert_eq!(
        history_sibling(Path::new("etcd.log")),
        Path::new("etcd.html")
    );
}
