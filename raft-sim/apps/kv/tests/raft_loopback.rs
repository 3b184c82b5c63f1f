//! The same Raft scenarios on real TCP over 127.x.y.z (LoopbackBackend):
//! real sockets, real kernel TCP, one thread per node.
#![cfg(not(madsim))]

use example_kv::scenarios;
use madsim_net::LoopbackBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_one_leader_and_replicate() {
    scenarios::elect_and_replicate(LoopbackBackend::new(1), 3)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_elect_one_leader_and_replicate() {
    scenarios::elect_and_replicate(LoopbackBackend::new(2), 5)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_loses_no_acknowledged_write() {
    scenarios::leader_failover(LoopbackBackend::new(3))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_node_catches_up_by_snapshot() {
    scenarios::snapshot_catch_up(LoopbackBackend::new(4), 1_200)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_three_five_three_under_writes() {
    scenarios::membership_changes(LoopbackBackend::new(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_partition_cannot_commit() {
    scenarios::minority_partition(LoopbackBackend::new(6))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_crashes_lose_no_acknowledged_write() {
    scenarios::crash_restart_loop(LoopbackBackend::new(7), 4)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_rejected_while_committing() {
    scenarios::garbage_frames(LoopbackBackend::new(8))
        .await
        .unwrap();
}
