//! openraft's example on real loopback sockets (tokio), outside the
//! simulator: the same glue and the same example code as the sweep.
#![cfg(not(madsim))]

use std::time::Duration;

use example_openraft::KvMemstore;
use raft_sim::app::{App, RaftHandle};
use raft_sim::cluster::{Cluster, ClusterOptions};
use raft_sim::workload::{Op, Outcome};
use serde_json::{Value, json};

fn op(f: &'static str, value: Value) -> Op {
    Op {
        f,
        key: "k0".into(),
        value,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_write_cas_and_read_through_the_http_api() {
    let backend = madsim_net::LoopbackBackend::new(11);
    let cluster = Cluster::start(backend, KvMemstore::default(), ClusterOptions::voters(3))
        .await
        .expect("cluster starts");
    let leader = cluster
        .wait_for_leader(Duration::from_secs(30))
        .await
        .expect("a leader is elected");
    let metrics = cluster.metrics(leader).expect("the leader's metrics");
    assert_eq!(
        metrics.membership_config.membership().voter_ids().count(),
        3
    );

    let mut client = cluster.client();
    let outcomes = cluster
        .on_client(async move {
            let app = KvMemstore::default();
            let mut outcomes = Vec::new();
            for op in [
                op("read", Value::Null),
                op("write", json!("a")),
                op("read", Value::Null),
            ] {
                outcomes.push(app.invoke(&mut client, &op).await);
            }
            let Outcome::Ok(Some(version)) = &outcomes[1] else {
                return outcomes;
            };
            let version = version.as_u64().unwrap_or_default();
            for op in [
                op("cas", json!([version + 1000, "b"])),
                op("cas", json!([version, "c"])),
                op("read", Value::Null),
            ] {
                outcomes.push(app.invoke(&mut client, &op).await);
            }
            outcomes
        })
        .await
        .expect("the client ran");
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
    assert_eq!(
        outcomes[0],
        Outcome::Ok(Some(Value::Null)),
        "k0 starts absent"
    );
    let Outcome::Ok(Some(version)) = &outcomes[1] else {
        panic!("the write failed: {:?}", outcomes[1]);
    };
    assert_eq!(
        outcomes[2],
        Outcome::Ok(Some(json!({ "value": "a", "version": version })))
    );
    assert_eq!(outcomes[3], Outcome::Fail(None), "a cas on a wrong version");
    let Outcome::Ok(Some(cas_version)) = &outcomes[4] else {
        panic!("the cas on the right version failed: {:?}", outcomes[4]);
    };
    assert_eq!(
        outcomes[5],
        Outcome::Ok(Some(json!({ "value": "c", "version": cas_version })))
    );

    // Every node reaches the same state, as the harness digests it.
    let handle = cluster.raft(leader).await.expect("the leader's handle");
    let applied = handle.metrics().last_applied.expect("applied").index;
    let nodes = cluster.node_ids();
    cluster
        .wait_applied(&nodes, applied, Duration::from_secs(20))
        .await
        .expect("every node applies");
    let mut digests = Vec::new();
    for id in nodes {
        let handle = cluster.raft(id).await.expect("a handle");
        let digest = cluster.app().state_digest(&handle).await.expect("a digest");
        digests.push(digest.digest);
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "digests differ");
    assert!(!digests[0].is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_through_the_admin_routes() {
    let backend = madsim_net::LoopbackBackend::new(12);
    let options = ClusterOptions {
        nodes: 4,
        ..ClusterOptions::voters(3)
    };
    let cluster = Cluster::start(backend, KvMemstore::default(), options)
        .await
        .expect("cluster starts");
    cluster
        .wait_for_leader(Duration::from_secs(30))
        .await
        .expect("a leader is elected");
    cluster.add_learner(3).await.expect("/add-learner");
    cluster
        .change_membership(&[0, 1, 2, 3])
        .await
        .expect("/change-membership");
    let leader = cluster
        .wait_for_leader(Duration::from_secs(30))
        .await
        .expect("a leader after the change");
    let handle = cluster.raft(leader).await.expect("the leader's handle");
    let metrics = handle.fresh_metrics().await.expect("fresh metrics");
    let voters: Vec<u64> = metrics.membership_config.membership().voter_ids().collect();
    assert_eq!(voters, vec![0, 1, 2, 3]);
}
