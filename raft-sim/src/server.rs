//! The server side of a node: an accept loop on [`RAFT_PORT`] that decodes
//! request frames and hands them to the node's `Raft`. A bad frame closes
//! its connection, is counted, and harms nothing else.

use std::io::Cursor;
use std::time::Duration;

use madsim_net::net::{TcpListener, TcpStream};
use madsim_net::{FailureInjector, frame};
use openraft::Snapshot;
use openraft::raft::ReadPolicy;

use crate::bugs::Bugs;
use crate::types::{KvCommand, NodeId, Raft};
use crate::wire::{ClientRequest, ClientResponse, RAFT_PORT, Request, Response};

/// How long a linearizable read may wait for its read-index round.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `raft` until the node dies. Fails only if the port cannot be bound.
pub async fn serve(node: NodeId, raft: Raft, bugs: Bugs) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", RAFT_PORT)).await?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let raft = raft.clone();
                madsim_net::task::spawn(serve_connection(node, raft, stream, bugs));
            }
            Err(err) => {
                tracing::warn!(node, %err, "accept failed");
                madsim_net::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(node: NodeId, raft: Raft, mut stream: TcpStream, bugs: Bugs) {
    loop {
        let request = match frame::read_frame::<_, Request>(&mut stream).await {
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
        let response = dispatch(&raft, request, bugs).await;
        if frame::write_frame(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn dispatch(raft: &Raft, request: Request, bugs: Bugs) -> Response {
    let fatal = |e: &dyn std::fmt::Display| Response::Fatal(e.to_string());
    match request {
        Request::AppendEntries(rpc) => raft
            .append_entries(rpc)
            .await
            .map_or_else(|e| fatal(&e), Response::AppendEntries),
        Request::Vote(rpc) => raft
            .vote(rpc)
            .await
            .map_or_else(|e| fatal(&e), Response::Vote),
        Request::PreVote(rpc) => raft
            .pre_vote(rpc)
            .await
            .map_or_else(|e| fatal(&e), Response::Vote),
        Request::FullSnapshot { vote, meta, data } => {
            let snapshot = Snapshot {
                meta,
                snapshot: Cursor::new(data),
            };
            raft.install_full_snapshot(vote, snapshot)
                .await
                .map_or_else(|e| fatal(&e), Response::Snapshot)
        }
        Request::TransferLeader(req) => raft
            .handle_transfer_leader(req)
            .await
            .map_or_else(|e| fatal(&e), Response::TransferLeader),
        Request::Client(ClientRequest::Write(command)) => {
            Response::Client(write(raft, command).await)
        }
        Request::Client(ClientRequest::Read { key }) => {
            Response::Client(read(raft, key, bugs).await)
        }
    }
}

async fn write(raft: &Raft, command: KvCommand) -> ClientResponse {
    match raft.client_write(command).await {
        Ok(written) => ClientResponse::Written(written.data),
        Err(err) => match err.forward_to_leader() {
            Some(forward) => ClientResponse::NotLeader {
                leader: forward.leader_id,
            },
            None => ClientResponse::Failed(err.to_string()),
        },
    }
}

/// Read-index, wait for the state machine to catch up, then read it: never
/// a possibly stale local copy.
async fn read(raft: &Raft, key: String, bugs: Bugs) -> ClientResponse {
    if bugs.stale_read {
        // Planted bug: whatever this node has applied, leader or not.
        return local_read(raft, key).await;
    }
    let linearized = madsim_net::time::timeout(
        READ_TIMEOUT,
        raft.ensure_linearizable(ReadPolicy::ReadIndex),
    )
    .await;
    match linearized {
        Err(_) => return ClientResponse::Failed("read-index timed out".into()),
        Ok(Err(err)) => {
            return match err.forward_to_leader() {
                Some(forward) => ClientResponse::NotLeader {
                    leader: forward.leader_id,
                },
                None => ClientResponse::Failed(err.to_string()),
            };
        }
        Ok(Ok(_)) => {}
    }
    local_read(raft, key).await
}

/// The value in this node's state machine, as applied so far.
async fn local_read(raft: &Raft, key: String) -> ClientResponse {
    match raft
        .with_state_machine(move |sm| Box::pin(async move { sm.get(&key) }))
        .await
    {
        Ok(value) => ClientResponse::Value(value),
        Err(err) => ClientResponse::Failed(err.to_string()),
    }
}
