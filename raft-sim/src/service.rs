//! The application's own channel: client requests travel on a port of
//! their own ([`APP_PORT`] by default), apart from the Raft RPCs, as one
//! bincode frame each way on madsim-net's bounded framing.
//!
//! - [`serve`]: the accept loop; the app's handler answers each request
//!   with a [`Routed`] (done, not the leader, failed).
//! - [`LeaderClient`]: finds the leader by following redirects, keeps a
//!   connection per node, retries within a bound, and never retries a write that
//!   may have reached a leader (that is [`ClientError::Indeterminate`]).
//! - [`write`], [`linearize`]: the two Raft calls a handler usually needs,
//!   with their errors already mapped to a [`Routed`].
//!
//! ```no_run
//! use raft_sim::service::{self, LeaderClient, Routed};
//! # async fn example() -> std::io::Result<()> {
//! // On a node: answer `u64` requests with their double.
//! service::serve(0, service::APP_PORT, |n: u64| async move { Routed::Done(n * 2) }).await?;
//! // On the client node: ask whoever leads.
//! let nodes = vec![(0, "10.0.0.1:7500".parse().unwrap())];
//! let mut client = LeaderClient::<u64, u64>::new(nodes);
//! let doubled = client.call(&21, false).await;
//! # let _ = doubled;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use madsim_net::net::{TcpListener, TcpStream};
use madsim_net::rand::Rng;
use madsim_net::{FailureInjector, frame, time};
use openraft::raft::ReadPolicy;
use openraft::storage::RaftStateMachine;
use openraft::{Raft, RaftTypeConfig};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

/// The port apps serve client requests on unless they choose another.
pub const APP_PORT: u16 = 7500;
/// Attempts one [`LeaderClient::call`] makes at most.
pub const MAX_ATTEMPTS: u32 = 40;
/// One read in this many starts at a random node instead of the leader.
pub const READ_SPREAD_ONE_IN: u32 = 3;
/// How long one attempt (connect, or request and answer) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a linearizable read may wait for its read-index round.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// A node's answer, as far as routing goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Routed<T> {
    /// Served: the app's answer.
    Done(T),
    /// Ask `leader` instead (if known).
    NotLeader { leader: Option<u64> },
    /// The operation failed on the node; a write may or may not have
    /// taken effect.
    Failed(String),
}

/// Why a client call did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No node took the request: it certainly did not happen.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
    /// A write reached a node and then the answer was lost: it may or may
    /// not have happened (a Jepsen `info`).
    #[error("outcome unknown after reaching node {node}: {why}")]
    Indeterminate { node: u64, why: String },
}

/// Serves the app's client requests on `port` until the node dies. Every
/// connection gets its own task; a bad frame is recorded and closes only
/// its connection. Fails only if the port cannot be bound.
pub async fn serve<Req, Resp, H, Fut>(node: u64, port: u16, handler: H) -> std::io::Result<()>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + Sync + 'static,
    H: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Routed<Resp>> + Send + 'static,
{
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                madsim_net::task::spawn(serve_connection(node, stream, handler.clone()));
            }
            Err(err) => {
                tracing::warn!(node, %err, "accept failed");
                time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection<Req, Resp, H, Fut>(node: u64, mut stream: TcpStream, handler: H)
where
    Req: DeserializeOwned,
    Resp: Serialize,
    H: Fn(Req) -> Fut,
    Fut: Future<Output = Routed<Resp>>,
{
    loop {
        let request = match frame::read_frame::<_, Req>(&mut stream).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(err) => {
                if let Some(injector) = FailureInjector::current() {
                    frame::record_rejection(&injector, node, &err);
                }
                return;
            }
        };
        let response = handler(request).await;
        if frame::write_frame(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

/// `raft.client_write(data)`, its answer mapped for the client.
pub async fn write<C, SM>(raft: &Raft<C, SM>, data: C::D) -> Routed<C::R>
where
    C: RaftTypeConfig<NodeId = u64>,
    SM: RaftStateMachine<C>,
{
    match raft.client_write(data).await {
        Ok(written) => Routed::Done(written.data),
        Err(err) => match err.forward_to_leader() {
            Some(forward) => Routed::NotLeader {
                leader: forward.leader_id,
            },
            None => Routed::Failed(err.to_string()),
        },
    }
}

/// A read-index round (within [`READ_TIMEOUT`]) that also waits for this
/// node's state machine to apply up to the read index: after `Ok`, a read
/// of the local state machine is linearizable. `Err` is the answer to send.
pub async fn linearize<C, SM, T>(raft: &Raft<C, SM>) -> Result<(), Routed<T>>
where
    C: RaftTypeConfig<NodeId = u64>,
    SM: RaftStateMachine<C>,
{
    linearize_by(raft, ReadPolicy::ReadIndex).await
}

/// [`linearize`] by `policy`: `ReadPolicy::LeaseRead` skips the round
/// while the leader's lease lasts, which is safe only while the nodes'
/// clocks keep pace.
pub async fn linearize_by<C, SM, T>(raft: &Raft<C, SM>, policy: ReadPolicy) -> Result<(), Routed<T>>
where
    C: RaftTypeConfig<NodeId = u64>,
    SM: RaftStateMachine<C>,
{
    let linearized = time::timeout(READ_TIMEOUT, raft.ensure_linearizable(policy)).await;
    match linearized {
        Err(_) => Err(Routed::Failed("read-index timed out".into())),
        Ok(Err(err)) => Err(match err.forward_to_leader() {
            Some(forward) => Routed::NotLeader {
                leader: forward.leader_id,
            },
            None => Routed::Failed(err.to_string()),
        }),
        Ok(Ok(_)) => Ok(()),
    }
}

/// A client of an app served by [`serve`]: finds the leader by following
/// redirects, keeps a connection to each node it asked (a pool, as a
/// cluster's clients do: a read sent to a follower does not close the
/// leader's), retries with backoff within [`MAX_ATTEMPTS`]. A clone shares
/// the address book, not the connections.
#[derive(Debug)]
pub struct LeaderClient<Req, Resp> {
    nodes: Vec<(u64, SocketAddr)>,
    route: LeaderRoute,
    /// At most one per node in `nodes`.
    connections: BTreeMap<u64, TcpStream>,
    /// A client bug, for planting: see [`LeaderClient::keeping_timed_out_connections`].
    keep_timed_out: bool,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Clone for LeaderClient<Req, Resp> {
    fn clone(&self) -> Self {
        LeaderClient {
            nodes: self.nodes.clone(),
            route: self.route.clone(),
            connections: BTreeMap::new(),
            keep_timed_out: self.keep_timed_out,
            _types: PhantomData,
        }
    }
}

/// How one attempt failed.
enum Attempt {
    /// The request never left: retrying is safe.
    NotSent(String),
    /// The request may have been received and acted on.
    Ambiguous(String),
}

impl<Req, Resp> LeaderClient<Req, Resp>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    /// A client of the nodes at `nodes` (node id, app address).
    pub fn new(nodes: Vec<(u64, SocketAddr)>) -> Self {
        LeaderClient {
            nodes,
            route: LeaderRoute::default(),
            connections: BTreeMap::new(),
            keep_timed_out: false,
            _types: PhantomData,
        }
    }

    /// This client with a classic bug, for planting in tests of a checker:
    /// a connection whose answer timed out is kept, so the late answer is
    /// read as the answer to the next request sent on it (answers carry no
    /// request id), and the next request goes to the same node. Never use
    /// it otherwise.
    pub fn keeping_timed_out_connections(mut self) -> Self {
        self.keep_timed_out = true;
        self
    }

    /// Sends `request` to the leader and returns its answer. A request that
    /// `may_write` is retried only while it certainly was not applied (no
    /// connection, a leader redirect); once it may have reached a leader, a
    /// failure is [`ClientError::Indeterminate`]: a retry could apply it twice.
    pub async fn call(&mut self, request: &Req, may_write: bool) -> Result<Resp, ClientError> {
        let mut backoff = Backoff::new();
        let mut last = String::from("no node");
        // Like a load-balancing client, a read now and then starts at any
        // node: one that serves reads without confirming it leads shows.
        let spread = !may_write
            && !self.nodes.is_empty()
            && madsim_net::rand::thread_rng().gen_ratio(1, READ_SPREAD_ONE_IN);
        for attempt in 0..MAX_ATTEMPTS {
            let target = if spread && attempt == 0 {
                let any = madsim_net::rand::thread_rng().gen_range(0..self.nodes.len());
                Some(self.nodes[any])
            } else {
                self.target(attempt)
            };
            let Some((node, addr)) = target else {
                break;
            };
            match self.attempt(node, addr, request).await {
                Ok(Routed::Done(answer)) => {
                    self.route.answered(node);
                    return Ok(answer);
                }
                Ok(Routed::NotLeader { leader }) => {
                    last = format!("node {node} is not the leader");
                    if self.route.redirected(node, leader) {
                        continue; // a redirect: no need to wait
                    }
                }
                Ok(Routed::Failed(why)) if may_write => {
                    return Err(ClientError::Indeterminate { node, why });
                }
                Err(Attempt::Ambiguous(why)) if may_write => {
                    if !self.keep_timed_out {
                        self.route.unanswered(&self.nodes, node);
                    }
                    return Err(ClientError::Indeterminate { node, why });
                }
                Ok(Routed::Failed(why)) | Err(Attempt::Ambiguous(why) | Attempt::NotSent(why)) => {
                    last = format!("node {node}: {why}");
                }
            }
            self.route.forget_leader();
            backoff.wait().await;
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }

    fn target(&self, attempt: u32) -> Option<(u64, SocketAddr)> {
        self.route.target(&self.nodes, attempt)
    }

    /// One request to `node`, on the connection kept to it or a new one.
    async fn attempt(
        &mut self,
        node: u64,
        addr: SocketAddr,
        request: &Req,
    ) -> Result<Routed<Resp>, Attempt> {
        let mut stream = match self.connections.remove(&node) {
            Some(stream) => stream,
            None => match time::timeout(ATTEMPT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(Attempt::NotSent(err.to_string())),
                Err(_) => return Err(Attempt::NotSent("connect timed out".into())),
            },
        };
        match time::timeout(ATTEMPT_TIMEOUT, exchange(&mut stream, request)).await {
            Ok(Ok(response)) => {
                self.connections.insert(node, stream);
                Ok(response)
            }
            Ok(Err(failed)) => Err(failed),
            Err(_) => {
                if self.keep_timed_out {
                    self.connections.insert(node, stream);
                }
                Err(Attempt::Ambiguous("timed out".into()))
            }
        }
    }
}

/// Exponential backoff between a client's attempts, from
/// `MIN_BACKOFF` doubling up to `MAX_BACKOFF`.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff(MIN_BACKOFF)
    }

    pub(crate) async fn wait(&mut self) {
        time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}

/// Where a leader-seeking client sends its next attempt: the node that
/// last answered as leader (or that a redirect named), else the nodes in
/// turn from a cursor. A request that got no answer from a node moves the
/// cursor past that node and forgets it as leader, as a load-balancing
/// client does: otherwise a client whose leader was cut off from the
/// cluster would ask it again and again while another node leads.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaderRoute {
    leader_hint: Option<u64>,
    cursor: usize,
}

impl LeaderRoute {
    /// Whom attempt number `attempt` asks.
    pub(crate) fn target(
        &self,
        nodes: &[(u64, SocketAddr)],
        attempt: u32,
    ) -> Option<(u64, SocketAddr)> {
        let by_hint = self
            .leader_hint
            .and_then(|id| nodes.iter().find(|(n, _)| *n == id).copied());
        let turn = self.cursor.wrapping_add(attempt as usize) % nodes.len().max(1);
        by_hint.or_else(|| nodes.get(turn).copied())
    }

    /// `node` answered: it leads (or serves) until told otherwise.
    pub(crate) fn answered(&mut self, node: u64) {
        self.leader_hint = Some(node);
    }

    /// `node` redirected to `leader`; true if that names another node to
    /// ask at once.
    pub(crate) fn redirected(&mut self, node: u64, leader: Option<u64>) -> bool {
        self.leader_hint = leader.filter(|l| *l != node);
        self.leader_hint.is_some()
    }

    /// The attempt failed without a redirect: ask around.
    pub(crate) fn forget_leader(&mut self) {
        self.leader_hint = None;
    }

    /// A request to `node` got no answer: the next call starts at the node
    /// after it.
    pub(crate) fn unanswered(&mut self, nodes: &[(u64, SocketAddr)], node: u64) {
        self.leader_hint = None;
        if let Some(index) = nodes.iter().position(|(n, _)| *n == node) {
            self.cursor = index + 1;
        }
    }
}

/// One request/response on `stream` (kept for reuse only after a
/// well-formed answer).
async fn exchange<Req: Serialize, Resp: DeserializeOwned>(
    stream: &mut TcpStream,
    request: &Req,
) -> Result<Routed<Resp>, Attempt> {
    let bytes = frame::encode(request).map_err(|e| Attempt::NotSent(e.to_string()))?;
    // A frame not handed over whole cannot be acted on (the server refuses
    // a truncated frame): what a kept connection that died meanwhile gives.
    // Once it was, a failed flush may come after the server read it.
    stream
        .write_all(&bytes)
        .await
        .map_err(|e| Attempt::NotSent(format!("sending: {e}")))?;
    stream
        .flush()
        .await
        .map_err(|e| Attempt::Ambiguous(format!("flushing: {e}")))?;
    match frame::read_frame::<_, Routed<Resp>>(stream).await {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(Attempt::Ambiguous("connection closed".into())),
        Err(e) => Err(Attempt::Ambiguous(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<(u64, SocketAddr)> {
        (0..3u64)
            .map(|id| (id, SocketAddr::from(([10, 0, 0, id as u8 + 1], APP_PORT))))
            .collect()
    }

    fn asks(route: &LeaderRoute, attempt: u32) -> Option<u64> {
        route.target(&nodes(), attempt).map(|(id, _)| id)
    }

    #[test]
    fn a_route_asks_the_leader_it_knows_else_the_nodes_in_turn() {
        let mut route = LeaderRoute::default();
        assert_eq!(
            (asks(&route, 0), asks(&route, 1), asks(&route, 3)),
            (Some(0), Some(1), Some(0))
        );
        route.answered(2);
        assert_eq!((asks(&route, 0), asks(&route, 5)), (Some(2), Some(2)));
        // A redirect to the node itself names nobody.
        assert!(!route.redirected(2, Some(2)));
        assert_eq!(asks(&route, 1), Some(1));
        assert!(route.redirected(1, Some(0)));
        assert_eq!(asks(&route, 1), Some(0));
        route.forget_leader();
        assert_eq!(asks(&route, 2), Some(2));
    }

    #[test]
    fn a_request_left_unanswered_moves_the_next_call_past_that_node() {
        let mut route = LeaderRoute::default();
        route.answered(1);
        route.unanswered(&nodes(), 1);
        assert_eq!((asks(&route, 0), asks(&route, 1)), (Some(2), Some(0)));
        // The last node wraps around to the first.
        route.unanswered(&nodes(), 2);
        assert_eq!(asks(&route, 0), Some(0));
        // An unknown node leaves the turn where it was.
        route.unanswered(&nodes(), 9);
        assert_eq!(asks(&route, 0), Some(0));
    }
}
