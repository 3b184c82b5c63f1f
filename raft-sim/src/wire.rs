//! What travels between Raft nodes: one request frame, one response frame,
//! on madsim-net's bounded bincode framing, for any `C` (openraft's types
//! are serde when its `serde` feature is on). Application requests do not
//! travel here: they have their own channel ([`crate::service`]).

use openraft::RaftTypeConfig;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotMetaOf, VoteOf};
use serde::{Deserialize, Serialize};

/// The port every node serves Raft RPCs on unless the app chooses another.
pub const RAFT_PORT: u16 = 7400;

/// A Raft RPC.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum RaftRequest<C: RaftTypeConfig> {
    AppendEntries(AppendEntriesRequest<C>),
    Vote(VoteRequest<C>),
    PreVote(VoteRequest<C>),
    /// A whole snapshot: openraft 0.10 sends snapshots through `full_snapshot`.
    FullSnapshot {
        vote: VoteOf<C>,
        meta: SnapshotMetaOf<C>,
        data: Vec<u8>,
    },
    TransferLeader(TransferLeaderRequest<C>),
}

/// The answer to a [`RaftRequest`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum RaftResponse<C: RaftTypeConfig> {
    AppendEntries(AppendEntriesResponse<C>),
    Vote(VoteResponse<C>),
    Snapshot(SnapshotResponse<C>),
    TransferLeader(TransferLeaderResponse<C>),
    /// The node's Raft has stopped (shutting down or failed).
    Fatal(String),
    /// The request does not fit what the node serves.
    Rejected(String),
}

/// How a state machine's snapshot data becomes bytes on the wire and back.
/// The network and the state machine share one snapshot type (openraft
/// 0.10 sends snapshots whole through `full_snapshot`).
pub trait SnapshotBytes: Sized + openraft::OptionalSend + 'static {
    fn into_bytes(self) -> Vec<u8>;
    fn from_bytes(bytes: Vec<u8>) -> Self;
}

impl SnapshotBytes for std::io::Cursor<Vec<u8>> {
    fn into_bytes(self) -> Vec<u8> {
        self.into_inner()
    }
    fn from_bytes(bytes: Vec<u8>) -> Self {
        std::io::Cursor::new(bytes)
    }
}

impl SnapshotBytes for Vec<u8> {
    fn into_bytes(self) -> Vec<u8> {
        self
    }
    fn from_bytes(bytes: Vec<u8>) -> Self {
        bytes
    }
}
