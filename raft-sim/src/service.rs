//! The application's own channel: client requests travel on a port of
//! their own ([`APP_PORT`] by default), apart from the Raft RPCs, as one
//! bincode frame each way on madsim-net's bounded framing.
//!
//! - [`serve`]: the accept loop; the app's handler answers each request
//!   with a [`Routed`] (done, not the leader, failed).
//! - [`LeaderClient`]: finds the leader by following redirects, keeps one
//!   connection, retries within a bound, and never retries a write that
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
    let linearized = time::timeout(
        READ_TIMEOUT,
        raft.ensure_linearizable(ReadPolicy::ReadIndex),
    )
    .await;
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
/// redirects, keeps one connection, retries with backoff within
/// [`MAX_ATTEMPTS`]. A clone shares the address book, not the connection.
#[derive(Debug)]
pub struct LeaderClient<Req, Resp> {
    nodes: Vec<(u64, SocketAddr)>,
    leader_hint: Option<u64>,
    connection: Option<(u64, TcpStream)>,
    /// A client bug, for planting: see [`LeaderClient::keeping_timed_out_connections`].
    keep_timed_out: bool,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Clone for LeaderClient<Req, Resp> {
    fn clone(&self) -> Self {
        LeaderClient {
            nodes: self.nodes.clone(),
            leader_hint: self.leader_hint,
            connection: None,
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
            leader_hint: None,
            connection: None,
            keep_timed_out: false,
            _types: PhantomData,
        }
    }

    /// This client with a classic bug, for planting in tests of a checker:
    /// a connection whose answer timed out is kept, so the late answer is
    /// read as the answer to the next request sent on it (answers carry no
    /// request id). Never use it otherwise.
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
                    self.leader_hint = Some(node);
                    return Ok(answer);
                }
                Ok(Routed::NotLeader { leader }) => {
                    last = format!("node {node} is not the leader");
                    self.leader_hint = leader.filter(|l| *l != node);
                    if self.leader_hint.is_some() {
                        continue; // a redirect: no need to wait
                    }
                }
                Ok(Routed::Failed(why)) | Err(Attempt::Ambiguous(why)) if may_write => {
                    return Err(ClientError::Indeterminate { node, why });
                }
                Ok(Routed::Failed(why)) | Err(Attempt::Ambiguous(why) | Attempt::NotSent(why)) => {
                    last = format!("node {node}: {why}");
                }
            }
            self.leader_hint = None;
            backoff.wait().await;
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }

    fn target(&self, attempt: u32) -> Option<(u64, SocketAddr)> {
        pick_target(&self.nodes, self.leader_hint, attempt)
    }

    /// One request to `node`, on the kept connection or a new one.
    async fn attempt(
        &mut self,
        node: u64,
        addr: SocketAddr,
        request: &Req,
    ) -> Result<Routed<Resp>, Attempt> {
        let kept = self
            .connection
            .take()
            .filter(|(id, _)| *id == node)
            .map(|(_, s)| s);
        let mut stream = match kept {
            Some(stream) => stream,
            None => match time::timeout(ATTEMPT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(Attempt::NotSent(err.to_string())),
                Err(_) => return Err(Attempt::NotSent("connect timed out".into())),
            },
        };
        match time::timeout(ATTEMPT_TIMEOUT, exchange(&mut stream, request)).await {
            Ok(Ok(response)) => {
                self.connection = Some((node, stream));
                Ok(response)
            }
            Ok(Err(why)) => Err(Attempt::Ambiguous(why)),
            Err(_) => {
                if self.keep_timed_out {
                    self.connection = Some((node, stream));
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

/// Whom attempt number `attempt` of a leader-seeking client asks: the
/// hinted leader if known, else the nodes in turn.
pub(crate) fn pick_target(
    nodes: &[(u64, SocketAddr)],
    leader_hint: Option<u64>,
    attempt: u32,
) -> Option<(u64, SocketAddr)> {
    let by_hint = leader_hint.and_then(|id| nodes.iter().find(|(n, _)| *n == id).copied());
    by_hint.or_else(|| nodes.get(attempt as usize % nodes.len().max(1)).copied())
}

/// One request/response on `stream` (kept for reuse only after a
/// well-formed answer).
async fn exchange<Req: Serialize, Resp: DeserializeOwned>(
    stream: &mut TcpStream,
    request: &Req,
) -> Result<Routed<Resp>, String> {
    frame::write_frame(stream, request)
        .await
        .map_err(|e| e.to_string())?;
    match frame::read_frame::<_, Routed<Resp>>(stream)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(response) => Ok(response),
        None => Err("connection closed".into()),
    }
}
