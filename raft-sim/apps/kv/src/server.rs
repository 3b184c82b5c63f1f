//! The KV app's client channel: what a client asks ([`KvRequest`]), what a
//! node answers ([`KvAnswer`]), and the handler that serves it on
//! raft-sim's [`service`] channel, apart from the Raft RPCs.

use openraft::raft::ReadPolicy;
use raft_sim::service::{self, Routed};
use serde::{Deserialize, Serialize};

use crate::bugs::Bugs;
use crate::store::Raft;
use crate::types::{KvCommand, KvResponse};

/// A client's operation on the KV store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvRequest {
    Write(KvCommand),
    /// A linearizable read: served by the leader after a read-index round.
    Read {
        key: String,
    },
}

/// A node's answer to a [`KvRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvAnswer {
    Written(KvResponse),
    Value(Option<String>),
}

/// Serves `raft`'s clients on the app port until the node dies.
pub async fn serve(node: u64, raft: Raft, bugs: Bugs) -> std::io::Result<()> {
    service::serve(node, service::APP_PORT, move |request| {
        let raft = raft.clone();
        async move { handle(&raft, request, bugs).await }
    })
    .await
}

async fn handle(raft: &Raft, request: KvRequest, bugs: Bugs) -> Routed<KvAnswer> {
    match request {
        KvRequest::Write(command) => match service::write(raft, command).await {
            Routed::Done(response) => Routed::Done(KvAnswer::Written(response)),
            Routed::NotLeader { leader } => Routed::NotLeader { leader },
            Routed::Failed(why) => Routed::Failed(why),
        },
        KvRequest::Read { key } => read(raft, key, bugs).await,
    }
}

/// Read-index, wait for the state machine to catch up, then read it: never
/// a possibly stale local copy.
async fn read(raft: &Raft, key: String, bugs: Bugs) -> Routed<KvAnswer> {
    // Planted `leader-local-read`: a node that thinks it leads skips the
    // read-index round.
    let believes_it_leads = || {
        let metrics = raft_sim::app::RaftHandle::metrics(raft);
        metrics.current_leader == Some(metrics.id)
    };
    let skip_read_index = bugs.stale_read || (bugs.leader_local_read && believes_it_leads());
    // Planted `lease-read`: the leader's lease stands in for the round.
    let policy = if bugs.lease_read {
        ReadPolicy::LeaseRead
    } else {
        ReadPolicy::ReadIndex
    };
    if !skip_read_index && let Err(refused) = service::linearize_by(raft, policy).await {
        return refused;
    }
    // Under the planted `stale-read` bug: whatever this node has applied,
    // leader or not.
    match raft
        .with_state_machine(move |sm| Box::pin(async move { sm.get(&key) }))
        .await
    {
        Ok(value) => Routed::Done(KvAnswer::Value(value)),
        Err(err) => Routed::Failed(err.to_string()),
    }
}
