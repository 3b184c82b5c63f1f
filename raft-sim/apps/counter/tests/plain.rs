//! The counter on real loopback sockets (tokio), outside the simulator: the
//! same app code the sweep tests.
#![cfg(not(madsim))]

use std::time::Duration;

use example_counter::{CounterApp, CounterOp, CounterReply, CounterRequest};
use raft_sim::app::App;
use raft_sim::cluster::{Cluster, ClusterOptions};
use raft_sim::workload::{Op, Outcome};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_loopback_write_and_read() {
    let backend = madsim_net::LoopbackBackend::new(7);
    let cluster = Cluster::start(backend, CounterApp, ClusterOptions::voters(3))
        .await
        .expect("cluster starts");
    let leader = cluster
        .wait_for_leader(Duration::from_secs(20))
        .await
        .expect("a leader is elected");
    assert!(leader < 3, "leader {leader} is one of the three nodes");

    let mut client = cluster.client();
    let outcomes = cluster
        .on_client(async move {
            let app = CounterApp;
            let mut outcomes = Vec::new();
            let ops = [
                Op {
                    f: "read",
                    key: "k0".into(),
                    value: json!(null),
                },
                Op::write("k0".into(), 3),
                Op {
                    f: "read",
                    key: "k0".into(),
                    value: json!(null),
                },
                Op {
                    f: "cas",
                    key: "k0".into(),
                    value: json!([3, 5]),
                },
                Op {
                    f: "cas",
                    key: "k0".into(),
                    value: json!([3, 9]),
                },
                Op {
                    f: "read",
                    key: "k0".into(),
                    value: json!(null),
                },
            ];
            for op in &ops {
                outcomes.push(app.invoke(&mut client, op).await);
            }
            // The counter's own command, through the client directly.
            let added = client
                .call(
                    &CounterRequest::Command(CounterOp::Add {
                        key: "hits".into(),
                        delta: 2,
                    }),
                    true,
                )
                .await;
            let added_again = client
                .call(
                    &CounterRequest::Command(CounterOp::Add {
                        key: "hits".into(),
                        delta: 40,
                    }),
                    true,
                )
                .await;
            (outcomes, added, added_again)
        })
        .await
        .expect("the client node runs");

    let (outcomes, added, added_again) = outcomes;
    assert_eq!(
        outcomes,
        vec![
            Outcome::Ok(Some(json!(null))),
            Outcome::Ok(None),
            Outcome::Ok(Some(json!(3))),
            Outcome::Ok(None),
            Outcome::Fail(None),
            Outcome::Ok(Some(json!(5))),
        ]
    );
    assert_eq!(
        added,
        Ok(CounterReply {
            ok: true,
            value: Some(2)
        })
    );
    assert_eq!(
        added_again,
        Ok(CounterReply {
            ok: true,
            value: Some(42)
        })
    );
}
