//! One KV node: open its disk, start `Raft`, serve the Raft RPCs and the
//! clients. The same code runs on every backend; it knows nothing of which
//! one.

use openraft::{Config, SnapshotPolicy};
use raft_sim::app::NodeStart;
use raft_sim::network::Network;
use raft_sim::wire::RAFT_PORT;

use crate::KvApp;
use crate::store::{self, Raft};

/// Raft timing for the cluster, in milliseconds of (simulated) time.
pub fn raft_config() -> Config {
    Config {
        cluster_name: "twinnet".into(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        // Snapshots every 500 entries keep the log short, so a node that
        // falls far behind catches up by snapshot.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(500),
        max_in_snapshot_log_to_keep: 100,
        purge_batch_size: 100,
        enable_pre_vote: Some(true),
        ..Default::default()
    }
}

/// The body of a node: runs until the node is killed.
pub async fn run(app: KvApp, node: NodeStart<KvApp>) {
    let id = node.id;
    let (log_store, state_machine) = store::open_with_bugs(node.disk.clone(), app.bugs).await;
    let network = Network::new(id);
    let config = node.config.clone();
    let raft = match Raft::new(id, config, network, log_store, state_machine).await {
        Ok(raft) => raft,
        Err(err) => {
            tracing::error!(id, %err, "raft failed to start");
            return;
        }
    };
    node.publish(raft.clone());
    let rpc = raft_sim::server::serve_raft(id, raft.clone(), RAFT_PORT);
    madsim_net::task::spawn(async move {
        if let Err(err) = rpc.await {
            tracing::error!(id, %err, "cannot serve raft");
        }
    });
    if let Err(err) = crate::server::serve(id, raft, app.bugs).await {
        tracing::error!(id, %err, "cannot serve clients");
    }
}
