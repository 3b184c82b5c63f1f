//! The cluster's vocabulary: the KV commands that go through the log, their
//! responses, and openraft's type configuration.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A node of the cluster; equals the madsim-net `NodeId` of the node it runs on.
pub type NodeId = u64;

/// A write to the key-value state machine, replicated through the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Sets `key` to `value`.
    Put { key: String, value: String },
    /// Appends `value` to `key`'s current value (empty when absent).
    Append { key: String, value: String },
    /// Sets `key` to `to` if its current value is `from` (`None`: absent).
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// Adds `delta` to `key`'s integer value (absent counts as 0; the sum
    /// wraps). Refused when the value is not an integer.
    Add { key: String, delta: i64 },
}

impl KvCommand {
    pub fn key(&self) -> &str {
        match self {
            KvCommand::Put { key, .. }
            | KvCommand::Append { key, .. }
            | KvCommand::Cas { key, .. }
            | KvCommand::Add { key, .. } => key,
        }
    }
}

impl fmt::Display for KvCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvCommand::Put { key, value } => write!(f, "put({key}, {value})"),
            KvCommand::Append { key, value } => write!(f, "append({key}, {value})"),
            KvCommand::Cas { key, from, to } => write!(f, "cas({key}, {from:?} -> {to})"),
            KvCommand::Add { key, delta } => write!(f, "add({key}, {delta})"),
        }
    }
}

/// What applying a [`KvCommand`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResponse {
    /// False only for a `Cas` whose expected value did not match.
    pub ok: bool,
    /// The key's value after the command.
    pub value: Option<String>,
}

openraft::declare_raft_types!(
    /// openraft's type configuration for the KV cluster.
    pub TypeConfig:
        D = KvCommand,
        R = KvResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        // Classic Raft: at most one leader per term (openraft's default
        // leader id lets several leaders share a term, one after another).
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>,
        AsyncRuntime = twinnet_rt::Runtime,
);

/// The snapshot payload: the whole state machine, bincode-encoded. The
/// network and the state machine share this one type (openraft 0.10 sends
/// snapshots whole through `full_snapshot`).
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
