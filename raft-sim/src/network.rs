//! `RaftNetworkV2<C>` over madsim-net TCP, for any app: one pooled
//! connection set per peer, request/response frames, `RPCOption` deadlines,
//! reconnect backoff, real `pre_vote` and `transfer_leader`, and the
//! FailureInjector's RPC-level faults (drop, delay, duplicate).
//!
//! ```no_run
//! # openraft::declare_raft_types!(pub Demo: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime);
//! use raft_sim::network::Network;
//! // In the node's start-up: the factory handed to `Raft::new`.
//! let network: Network<Demo> = Network::new(0);
//! # drop(network);
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use madsim_net::net::TcpStream;
use madsim_net::time::{self, Instant};
use madsim_net::{FailureInjector, RpcFate, frame};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::{BasicNode, RPCTypes};
use parking_lot::Mutex;

use crate::SimTypes;
use crate::wire::{RaftRequest as Request, RaftResponse as Response, SnapshotBytes};

type NodeId = u64;

/// Where a peer's Raft RPCs go: how the network finds a socket address in
/// the app's `C::Node`. Implemented for openraft's `BasicNode`, whose
/// `addr` is `IP:PORT`.
pub trait PeerAddr {
    fn peer_addr(&self) -> Result<SocketAddr, String>;
}

impl PeerAddr for BasicNode {
    fn peer_addr(&self) -> Result<SocketAddr, String> {
        self.addr
            .parse()
            .map_err(|e| format!("bad peer address {:?}: {e}", self.addr))
    }
}

/// Idle connections kept per peer; more concurrent RPCs open more, within
/// madsim-net's `MAX_CONNECTIONS_PER_NODE`.
pub const MAX_IDLE_PER_PEER: usize = 4;
/// First wait after a failed connect; doubles up to [`MAX_RECONNECT_BACKOFF`].
pub const MIN_RECONNECT_BACKOFF: Duration = Duration::from_millis(10);
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// A dropped RPC is simply never answered: the caller times out, as it
/// would on a real network.
fn timeout_error<C: SimTypes>(
    action: RPCTypes,
    from: NodeId,
    target: NodeId,
    ttl: Duration,
) -> RPCError<C> {
    RPCError::Timeout(Timeout {
        action,
        id: from,
        target,
        timeout: ttl,
    })
}

#[derive(Default)]
struct PeerState {
    idle: Vec<TcpStream>,
    next_connect_at: Option<Instant>,
    backoff: Option<Duration>,
}

/// Connections of one node to its peers, shared by all its RPC clients.
#[derive(Clone, Default)]
pub struct ConnectionPool {
    peers: Arc<Mutex<BTreeMap<NodeId, PeerState>>>,
}

impl ConnectionPool {
    async fn checkout(&self, target: NodeId, addr: SocketAddr) -> Result<TcpStream, RpcFailure> {
        {
            let mut peers = self.peers.lock();
            let peer = peers.entry(target).or_default();
            if let Some(stream) = peer.idle.pop() {
                return Ok(stream);
            }
            if peer.next_connect_at.is_some_and(|at| Instant::now() < at) {
                return Err(RpcFailure::Unreachable("reconnect backoff".into()));
            }
        }
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let mut peers = self.peers.lock();
                let peer = peers.entry(target).or_default();
                peer.backoff = None;
                peer.next_connect_at = None;
                Ok(stream)
            }
            Err(err) => {
                let mut peers = self.peers.lock();
                let peer = peers.entry(target).or_default();
                let backoff = peer.backoff.map_or(MIN_RECONNECT_BACKOFF, |b| {
                    (b * 2).min(MAX_RECONNECT_BACKOFF)
                });
                peer.backoff = Some(backoff);
                peer.next_connect_at = Some(Instant::now() + backoff);
                Err(RpcFailure::Unreachable(format!("connect to {addr}: {err}")))
            }
        }
    }

    fn checkin(&self, target: NodeId, stream: TcpStream) {
        let mut peers = self.peers.lock();
        let peer = peers.entry(target).or_default();
        if peer.idle.len() < MAX_IDLE_PER_PEER {
            peer.idle.push(stream);
        }
    }
}

/// Why one RPC attempt failed, before mapping to openraft's error types.
#[derive(Debug)]
enum RpcFailure {
    Unreachable(String),
    Network(String),
    TimedOut,
}

/// Sends `request` to `addr` and waits for its response, within `ttl`.
async fn exchange<C: SimTypes>(
    pool: &ConnectionPool,
    target: NodeId,
    addr: SocketAddr,
    request: &Request<C>,
    ttl: Duration,
) -> Result<Response<C>, RpcFailure> {
    let attempt = async {
        let mut stream = pool.checkout(target, addr).await?;
        let sent = frame::write_frame(&mut stream, request).await;
        let received = match sent {
            Ok(()) => frame::read_frame::<_, Response<C>>(&mut stream).await,
            Err(err) => Err(err),
        };
        match received {
            Ok(Some(response)) => {
                pool.checkin(target, stream);
                Ok(response)
            }
            Ok(None) => Err(RpcFailure::Network("connection closed by peer".into())),
            Err(err) => Err(RpcFailure::Network(err.to_string())),
        }
    };
    match time::timeout(ttl, attempt).await {
        Ok(result) => result,
        // The connection is mid-exchange and dropped with the future: never reused.
        Err(_) => Err(RpcFailure::TimedOut),
    }
}

/// Creates one [`PeerClient`] per target for openraft. `S` is the state
/// machine's snapshot data type.
pub struct Network<C, S = std::io::Cursor<Vec<u8>>> {
    pub from: NodeId,
    pub pool: ConnectionPool,
    _types: std::marker::PhantomData<fn() -> (C, S)>,
}

impl<C, S> Clone for Network<C, S> {
    fn clone(&self) -> Self {
        Network {
            from: self.from,
            pool: self.pool.clone(),
            _types: std::marker::PhantomData,
        }
    }
}

impl<C, S> Network<C, S> {
    /// The network of node `from`.
    pub fn new(from: NodeId) -> Self {
        Network {
            from,
            pool: ConnectionPool::default(),
            _types: std::marker::PhantomData,
        }
    }
}

impl<C, S> RaftNetworkFactory<C> for Network<C, S>
where
    C: SimTypes<Node: PeerAddr>,
    S: SnapshotBytes,
{
    type Network = PeerClient<C, S>;

    async fn new_client(&mut self, target: NodeId, node: &C::Node) -> PeerClient<C, S> {
        PeerClient {
            from: self.from,
            target,
            addr: node.peer_addr(),
            pool: self.pool.clone(),
            _types: std::marker::PhantomData,
        }
    }
}

/// The RPC client from one node to one peer.
pub struct PeerClient<C, S> {
    from: NodeId,
    target: NodeId,
    addr: Result<SocketAddr, String>,
    pool: ConnectionPool,
    _types: std::marker::PhantomData<fn() -> (C, S)>,
}

impl<C: SimTypes, S: SnapshotBytes> PeerClient<C, S> {
    /// One RPC with the injector's message-level faults applied.
    async fn call(
        &self,
        action: RPCTypes,
        request: Request<C>,
        option: &RPCOption,
    ) -> Result<Response<C>, RpcFailure> {
        let addr = self
            .addr
            .clone()
            .map_err(|e| RpcFailure::Unreachable(format!("bad peer address: {e}")))?;
        let ttl = option.hard_ttl();
        let fate = FailureInjector::current()
            .map_or(RpcFate::Deliver, |i| i.rpc_fate(self.from, self.target));
        match fate {
            RpcFate::Deliver => exchange(&self.pool, self.target, addr, &request, ttl).await,
            RpcFate::Drop => {
                time::sleep(ttl).await;
                Err(RpcFailure::TimedOut)
            }
            RpcFate::Delay(delay) => {
                if delay >= ttl {
                    time::sleep(ttl).await;
                    return Err(RpcFailure::TimedOut);
                }
                time::sleep(delay).await;
                exchange(&self.pool, self.target, addr, &request, ttl - delay).await
            }
            RpcFate::Duplicate => {
                // The copy travels first; its answer is discarded, as a
                // retransmitted request's would be.
                let _ = exchange(&self.pool, self.target, addr, &request, ttl).await;
                exchange(&self.pool, self.target, addr, &request, ttl).await
            }
        }
        .inspect_err(|failure| {
            tracing::debug!(
                from = self.from,
                to = self.target,
                ?action,
                ?failure,
                "rpc failed"
            )
        })
    }

    fn rpc_error(&self, action: RPCTypes, failure: RpcFailure, ttl: Duration) -> RPCError<C> {
        match failure {
            RpcFailure::Unreachable(why) => RPCError::Unreachable(Unreachable::from_string(why)),
            RpcFailure::Network(why) => RPCError::Network(NetworkError::from_string(why)),
            RpcFailure::TimedOut => timeout_error::<C>(action, self.from, self.target, ttl),
        }
    }

    async fn rpc(
        &self,
        action: RPCTypes,
        request: Request<C>,
        option: RPCOption,
    ) -> Result<Response<C>, RPCError<C>> {
        let response = self
            .call(action, request, &option)
            .await
            .map_err(|f| self.rpc_error(action, f, option.hard_ttl()))?;
        match response {
            Response::Fatal(why) | Response::Rejected(why) => Err(RPCError::Unreachable(
                Unreachable::from_string(format!("node {}: {why}", self.target)),
            )),
            other => Ok(other),
        }
    }
}

fn unexpected<C: SimTypes>(response: Response<C>) -> RPCError<C> {
    RPCError::Network(NetworkError::from_string(format!(
        "unexpected response {response:?}"
    )))
}

impl<C, S> RaftNetworkV2<C> for PeerClient<C, S>
where
    C: SimTypes<Node: PeerAddr>,
    S: SnapshotBytes,
{
    type SnapshotData = S;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        match self
            .rpc(RPCTypes::AppendEntries, Request::AppendEntries(rpc), option)
            .await?
        {
            Response::AppendEntries(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        match self.rpc(RPCTypes::Vote, Request::Vote(rpc), option).await? {
            Response::Vote(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    /// Really asked of the peer: the default would grant unconditionally and
    /// silently turn Pre-Vote off.
    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        match self
            .rpc(RPCTypes::Vote, Request::PreVote(rpc), option)
            .await?
        {
            Response::Vote(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, S>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let request = Request::FullSnapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_bytes(),
        };
        let send = self.rpc(RPCTypes::InstallSnapshot, request, option);
        let send = std::pin::pin!(send);
        let cancel = std::pin::pin!(cancel);
        match futures::future::select(send, cancel).await {
            futures::future::Either::Left((Ok(Response::Snapshot(response)), _)) => Ok(response),
            futures::future::Either::Left((Ok(other), _)) => Err(StreamingError::Network(
                NetworkError::from_string(format!("unexpected response {other:?}")),
            )),
            futures::future::Either::Left((Err(err), _)) => Err(streaming_error(err)),
            futures::future::Either::Right((closed, _)) => Err(StreamingError::Closed(closed)),
        }
    }

    /// Really sent: the default returns Unreachable and leaves the cluster to
    /// wait for the leader lease to lapse.
    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<C>, RPCError<C>> {
        match self
            .rpc(
                RPCTypes::TransferLeader,
                Request::TransferLeader(req),
                option,
            )
            .await?
        {
            Response::TransferLeader(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }
}

fn streaming_error<C: SimTypes>(err: RPCError<C>) -> StreamingError<C> {
    match err {
        RPCError::Timeout(t) => StreamingError::Timeout(t),
        RPCError::Unreachable(u) => StreamingError::Unreachable(u),
        RPCError::Network(n) => StreamingError::Network(n),
        RPCError::RemoteError(r) => {
            StreamingError::Network(NetworkError::from_string(r.to_string()))
        }
    }
}
