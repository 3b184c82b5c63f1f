//! What travels between nodes and from clients: one request frame, one
//! response frame, on madsim-net's bounded bincode framing.

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};
use serde::{Deserialize, Serialize};

use crate::types::{KvCommand, KvResponse, NodeId, TypeConfig};

/// Port every node serves Raft RPCs and client requests on.
pub const RAFT_PORT: u16 = 7400;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    /// A whole snapshot: openraft 0.10 sends snapshots through `full_snapshot`.
    FullSnapshot {
        vote: VoteOf<TypeConfig>,
        meta: SnapshotMetaOf<TypeConfig>,
        data: Vec<u8>,
    },
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    Client(ClientRequest),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(AppendEntriesResponse<TypeConfig>),
    Vote(VoteResponse<TypeConfig>),
    Snapshot(SnapshotResponse<TypeConfig>),
    TransferLeader(TransferLeaderResponse<TypeConfig>),
    Client(ClientResponse),
    /// The node's Raft has stopped (shutting down or failed).
    Fatal(String),
    /// The request does not fit what the node serves.
    Rejected(String),
}

/// A client's operation on the KV store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest {
    Write(KvCommand),
    /// A linearizable read: served by the leader after a read-index round.
    Read {
        key: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientResponse {
    Written(KvResponse),
    Value(Option<String>),
    /// Ask `leader` instead (if known).
    NotLeader {
        leader: Option<NodeId>,
    },
    /// The operation failed on the node; it may or may not have taken effect
    /// when it was a write.
    Failed(String),
}
