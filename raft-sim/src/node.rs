//! One cluster node: open its disk, start `Raft`, serve the network. The
//! same code runs on every backend; it knows nothing of which one.

use std::sync::Arc;

use openraft::{Config, SnapshotPolicy};
use parking_lot::Mutex;

use crate::bugs::Bugs;
use crate::network::Network;
use crate::store::{self, Disk};
use crate::types::{NodeId, Raft};

/// Raft timing for the cluster, in milliseconds of (simulated) time.
pub fn raft_config() -> Result<Arc<Config>, openraft::ConfigError> {
    let config = Config {
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
    };
    config.validate().map(Arc::new)
}

/// Where the harness finds a running node's `Raft` handle; emptied when the
/// node is killed, refilled by the next incarnation.
#[derive(Clone, Default)]
pub struct RaftSlot(Arc<Mutex<Option<Raft>>>);

impl RaftSlot {
    pub fn get(&self) -> Option<Raft> {
        self.0.lock().clone()
    }
    pub fn set(&self, raft: Option<Raft>) {
        *self.0.lock() = raft;
    }
}

/// The body of a node: runs until the node is killed.
pub async fn run(id: NodeId, disk: Disk, config: Arc<Config>, slot: RaftSlot, bugs: Bugs) {
    let (log_store, state_machine) = store::open_with_bugs(disk, bugs).await;
    let raft = match Raft::new(id, config, Network::new(id), log_store, state_machine).await {
        Ok(raft) => raft,
        Err(err) => {
            tracing::error!(id, %err, "raft failed to start");
            return;
        }
    };
    slot.set(Some(raft.clone()));
    if let Err(err) = crate::server::serve(id, raft, bugs).await {
        tracing::error!(id, %err, "cannot serve");
    }
}
