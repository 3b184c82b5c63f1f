#![cfg(all(target_os = "linux", not(madsim)))]
//! The raft-sim cluster, unchanged, on real namespaces: each node a thread
//! in its own namespace with real sockets, the engine `auto` picks for this
//! kernel (userspace where netem is absent) carrying every packet.

use example_kv::KvApp;
use example_kv::scenarios;
use kernel_backend::testing::{auto_backend, require_root};
use raft_sim::sweep::RunFlags;
use raft_sim::sweep::case::run_case;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_and_replicate() {
    if !require_root("three_nodes_elect_and_replicate") {
        return;
    }
    scenarios::elect_and_replicate(auto_backend(1), 3)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_and_restarted_from_disk_loses_no_acknowledged_write() {
    if !require_root("leader_killed_and_restarted_from_disk_loses_no_acknowledged_write") {
        return;
    }
    scenarios::leader_failover(auto_backend(2)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_partition_through_the_engine_cannot_commit() {
    if !require_root("minority_partition_through_the_engine_cannot_commit") {
        return;
    }
    let backend = auto_backend(3);
    let hub = std::sync::Arc::clone(backend.hub());
    scenarios::minority_partition(backend).await.unwrap();
    if let Some(totals) = hub.read().relay_totals() {
        assert!(
            totals.dropped_partition > 0,
            "the relay, not the sockets, enforced the partition: {totals:?}"
        );
    }
}

/// Elect, replicate, kill and restart nodes, partition and heal, pause,
/// impair links: the standard nemesis, with the client history checked for
/// linearizability and the invariants after the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_case_passes_every_check() {
    if !require_root("chaos_case_passes_every_check") {
        return;
    }
    let flags = RunFlags {
        nodes: 3,
        ops: 200,
        clients: 4,
        keys: 4,
        nemesis: "standard".parse().unwrap(),
        model: Some("register-cas".parse().unwrap()),
        artifacts: std::env::temp_dir(),
        replay_program: None,
        app_flags: Vec::new(),
    };
    let config = flags.config(KvApp::default()).unwrap();
    let backend = auto_backend(4);
    let hub = std::sync::Arc::clone(backend.hub());
    let outcome = run_case(backend, config, 4).await;
    if let Some(totals) = hub.read().relay_totals() {
        println!("relay totals: {totals:?}");
        assert!(totals.delivered_packets > 1_000, "{totals:?}");
    }
    assert!(outcome.fault_count > 0, "the nemesis must have acted");
    assert!(
        outcome.failures.is_empty(),
        "failures: {:#?}",
        outcome.failures
    );
    let invoked = outcome
        .history
        .iter()
        .filter(|e| e.kind == raft_sim::workload::EventType::Invoke)
        .count();
    assert_eq!(invoked, 200);
}
