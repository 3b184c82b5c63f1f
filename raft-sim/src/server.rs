//! The server side of a node's Raft RPCs, for any app: an accept loop that
//! decodes [`RaftRequest`] frames and hands them to the node's `Raft`. A bad
//! frame closes its connection, is recorded as an event, and harms nothing
//! else.
//!
//! ```no_run
//! # async fn example<SM>(raft: openraft::Raft<DemoConfig, SM>) -> std::io::Result<()>
//! # where SM: openraft::storage::RaftStateMachine<DemoConfig, SnapshotData = std::io::Cursor<Vec<u8>>> {
//! // In the node's start-up, after `Raft::new`: runs until the node dies.
//! raft_sim::server::serve_raft(0, raft, raft_sim::wire::RAFT_PORT).await?;
//! # Ok(())
//! # }
//! # openraft::declare_raft_types!(pub DemoConfig: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime);
//! ```

use std::time::Duration;

use madsim_net::net::{TcpListener, TcpStream};
use madsim_net::{FailureInjector, frame};
use openraft::storage::RaftStateMachine;
use openraft::{Raft, Snapshot};

use crate::SimTypes;
use crate::wire::{RaftRequest, RaftResponse, SnapshotBytes};

/// Serves `raft` (the Raft of node `node`) on `port` until the node dies.
/// Fails only if the port cannot be bound.
pub async fn serve_raft<C, SM>(node: u64, raft: Raft<C, SM>, port: u16) -> std::io::Result<()>
where
    C: SimTypes,
    SM: RaftStateMachine<C, SnapshotData: SnapshotBytes>,
{
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                madsim_net::task::spawn(serve_connection(node, raft.clone(), stream));
            }
            Err(err) => {
                tracing::warn!(node, %err, "accept failed");
                madsim_net::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection<C, SM>(node: u64, raft: Raft<C, SM>, mut stream: TcpStream)
where
    C: SimTypes,
    SM: RaftStateMachine<C, SnapshotData: SnapshotBytes>,
{
    loop {
        let request = match frame::read_frame::<_, RaftRequest<C>>(&mut stream).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(err) => {
                if let Some(injector) = FailureInjector::current() {
                    frame::record_rejection(&injector, node, &err);
                }
                tracing::debug!(node, %err, "closing connection after a bad frame");
                return;
            }
        };
        let response = dispatch(&raft, request).await;
        if frame::write_frame(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn dispatch<C, SM>(raft: &Raft<C, SM>, request: RaftRequest<C>) -> RaftResponse<C>
where
    C: SimTypes,
    SM: RaftStateMachine<C, SnapshotData: SnapshotBytes>,
{
    let fatal = |e: &dyn std::fmt::Display| RaftResponse::Fatal(e.to_string());
    match request {
        RaftRequest::AppendEntries(rpc) => raft
            .append_entries(rpc)
            .await
            .map_or_else(|e| fatal(&e), RaftResponse::AppendEntries),
        RaftRequest::Vote(rpc) => raft
            .vote(rpc)
            .await
            .map_or_else(|e| fatal(&e), RaftResponse::Vote),
        RaftRequest::PreVote(rpc) => raft
            .pre_vote(rpc)
            .await
            .map_or_else(|e| fatal(&e), RaftResponse::Vote),
        RaftRequest::FullSnapshot { vote, meta, data } => {
            let snapshot = Snapshot {
                meta,
                snapshot: SM::SnapshotData::from_bytes(data),
            };
            raft.install_full_snapshot(vote, snapshot)
                .await
                .map_or_else(|e| fatal(&e), RaftResponse::Snapshot)
        }
        RaftRequest::TransferLeader(req) => raft
            .handle_transfer_leader(req)
            .await
            .map_or_else(|e| fatal(&e), RaftResponse::TransferLeader),
    }
}
