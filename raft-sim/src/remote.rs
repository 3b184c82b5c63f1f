//! Testing an app through its own HTTP API, as openraft's examples serve
//! it (`app-http`): when the app's start-up keeps its `Raft` to itself,
//! the harness still sees the node through the routes the app exposes.
//!
//! - [`HttpHandle`]: the [`RaftHandle`] of a node known only by its API
//!   address: metrics from `GET /metrics` (polled on the node itself),
//!   `POST /init`, `/add-learner` (for `NodeInfo` node records, as
//!   app-http takes them), `/change-membership`.
//! - [`run_node`]: what an [`App::start`] calls: the node's own start-up
//!   future, inside [`with_node_mount`] (so `LogStore::default()` lands on
//!   the node's disk), beside the agent that publishes the handle.
//! - [`HttpLeaderClient`]: a workload client that posts JSON to the
//!   leader, following openraft's `ForwardToLeader` answers, never
//!   retrying a write that may have reached a leader.
//! - [`digest_by_reads`]: a node's state, read key by key through the
//!   app's local read route.
//!
//! Every HTTP exchange runs on a simulated node (the harness's requests go
//! through the node's agent, to the node's own address), so the harness
//! itself needs no network route on any backend.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};
use madsim_net::rand::Rng;
use madsim_net::time;
use openraft::error::{ClientWriteError, ForwardToLeader, LinearizableReadError};
use openraft::raft::ClientWriteResponse;
use openraft::{RaftMetrics, ServerState, TryAsRef};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use twinnet_http::hyper::http::Uri;
use twinnet_http::{HttpClient, RequestError};

use crate::SimTypes;
use crate::app::{App, NodeStart, RaftHandle, StateDigest};
use crate::service::{Backoff, ClientError, LeaderRoute, MAX_ATTEMPTS};
use crate::store::with_node_mount;
use crate::workload::{MAX_KEYS, key_name};

/// How long one admin or client exchange may take.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);
/// Admin requests queued on one node's agent at most.
pub const MAX_QUEUED_JOBS: usize = 64;

/// One admin request for a node's agent to make to its own API.
struct Job {
    path: String,
    /// `None`: a GET.
    body: Option<Value>,
    reply: oneshot::Sender<Result<Value, String>>,
}

/// A running node as its HTTP API shows it. Cloned by the harness; the
/// metrics are the last ones the node's agent read (polled every
/// heartbeat / 5).
pub struct HttpHandle<C: SimTypes> {
    metrics: Arc<Mutex<RaftMetrics<C>>>,
    jobs: mpsc::Sender<Job>,
}

impl<C: SimTypes> Clone for HttpHandle<C> {
    fn clone(&self) -> Self {
        HttpHandle {
            metrics: Arc::clone(&self.metrics),
            jobs: self.jobs.clone(),
        }
    }
}

impl<C: SimTypes> HttpHandle<C> {
    /// `GET path` on the node's API, as JSON.
    pub async fn get<Resp: DeserializeOwned>(&self, path: &str) -> Result<Resp, String> {
        self.exchange(path, None).await
    }

    /// `POST path` with a JSON body on the node's API, as JSON.
    pub async fn post<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, String> {
        let body = serde_json::to_value(body).map_err(|e| e.to_string())?;
        self.exchange(path, Some(body)).await
    }

    /// Fresh metrics, read now rather than at the last poll.
    pub async fn fresh_metrics(&self) -> Result<RaftMetrics<C>, String> {
        let answer: Result<RaftMetrics<C>, Value> = self.get("/metrics").await?;
        answer.map_err(|e| format!("/metrics answered {e}"))
    }

    async fn exchange<Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<Value>,
    ) -> Result<Resp, String> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            path: path.to_owned(),
            body,
            reply,
        };
        self.jobs
            .clone()
            .try_send(job)
            .map_err(|e| format!("the node's agent takes no request: {e}"))?;
        let value = answer
            .await
            .map_err(|_| "the node went down before answering".to_owned())??;
        serde_json::from_value(value).map_err(|e| format!("{path}: unexpected answer: {e}"))
    }

    /// A `POST` whose answer is openraft's `Result<T, E>`, flattened.
    async fn admin<Req: Serialize>(&self, path: &str, body: &Req) -> Result<(), String> {
        let answer: Result<Value, Value> = self.post(path, body).await?;
        answer.map(|_| ()).map_err(|e| format!("{path}: {e}"))
    }
}

impl<C: SimTypes> RaftHandle<C> for HttpHandle<C> {
    fn metrics(&self) -> RaftMetrics<C> {
        self.metrics.lock().clone()
    }

    fn role(&self) -> (ServerState, u64) {
        let metrics = self.metrics.lock();
        (metrics.state, metrics.current_term)
    }

    async fn initialize(&self, members: BTreeMap<u64, C::Node>) -> Result<(), String> {
        let members: Vec<(u64, C::Node)> = members.into_iter().collect();
        self.admin("/init", &members).await
    }

    /// app-http's `AddLearnerRequest`: `node_id`, and the two addresses
    /// of a `NodeInfo` record (`raft_addr`, and `data` as `api_addr`).
    async fn add_learner(&self, id: u64, node: C::Node) -> Result<(), String> {
        let record = serde_json::to_value(&node).map_err(|e| e.to_string())?;
        let (Some(raft_addr), Some(api_addr)) = (record.get("raft_addr"), record.get("data"))
        else {
            return Err(format!(
                "node record {record} is not openraft's NodeInfo: /add-learner needs its raft_addr and data"
            ));
        };
        let request =
            serde_json::json!({ "node_id": id, "raft_addr": raft_addr, "api_addr": api_addr });
        self.admin("/add-learner", &request).await
    }

    async fn change_membership(&self, voters: BTreeSet<u64>) -> Result<(), String> {
        self.admin("/change-membership", &voters).await
    }

    async fn trigger_snapshot(&self) -> Result<(), String> {
        Err("the app's HTTP API has no route to trigger a snapshot".into())
    }

    async fn purge_log(&self, _upto: u64) -> Result<(), String> {
        Err("the app's HTTP API has no route to purge the log".into())
    }

    async fn transfer_leader(&self, _to: u64) -> Result<(), String> {
        Err("the app's HTTP API has no route to transfer the lead".into())
    }
}

/// Keys in a row that must read as absent before [`digest_by_reads`]
/// stops reading.
pub const DIGEST_ABSENT_RUN: usize = 16;

/// The state of a node as its per-key read route (`POST path` with the key
/// as a JSON string, answering from the node's own state machine) shows
/// it: the workload's keys (`k0`, `k1`, ...) in order, until
/// [`DIGEST_ABSENT_RUN`] of them in a row answer what a key no workload
/// uses answers; with the applied log id, unchanged from before the reads
/// to after them.
pub async fn digest_by_reads<C: SimTypes>(
    handle: &HttpHandle<C>,
    path: &str,
) -> Result<StateDigest<C>, String> {
    const ROUNDS: usize = 8;
    let absent: Value = handle.post(path, "twinnet: no such key").await?;
    for _ in 0..ROUNDS {
        let before = handle.fresh_metrics().await?.last_applied;
        let (mut answers, mut run) = (Vec::new(), 0);
        while run < DIGEST_ABSENT_RUN && answers.len() < MAX_KEYS {
            let answer: Value = handle.post(path, &key_name(answers.len())).await?;
            run = if answer == absent { run + 1 } else { 0 };
            answers.push(answer);
        }
        let applied = handle.fresh_metrics().await?.last_applied;
        if applied == before {
            let digest = serde_json::to_vec(&answers).map_err(|e| e.to_string())?;
            return Ok(StateDigest { applied, digest });
        }
    }
    Err(format!(
        "the node applied more entries during each of {ROUNDS} reads of its state"
    ))
}

/// Runs one incarnation of node `start.id` whose HTTP API listens on
/// `api`: `node` is the app's own start-up and serving future, run inside
/// [`with_node_mount`]; beside it an agent polls `GET /metrics` and
/// publishes the [`HttpHandle`] once the API answers.
pub async fn run_node<A, F, E>(start: NodeStart<A>, api: SocketAddr, node: F)
where
    A: App<Handle = HttpHandle<<A as App>::C>>,
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mount = start.disk.mount();
    let poll_every = Duration::from_millis((start.config.heartbeat_interval / 5).max(10));
    madsim_net::task::spawn(agent(start, api, poll_every));
    if let Err(err) = with_node_mount(mount, node).await {
        tracing::warn!(%err, "the node's start-up failed");
    }
}

/// The node's agent: publishes the handle, keeps its metrics fresh, and
/// makes the harness's admin requests, each on its own task.
async fn agent<A>(start: NodeStart<A>, api: SocketAddr, poll_every: Duration)
where
    A: App<Handle = HttpHandle<<A as App>::C>>,
{
    let http: HttpClient = twinnet_http::client();
    let (jobs, mut queue) = mpsc::channel::<Job>(MAX_QUEUED_JOBS);
    let mut metrics: Option<Arc<Mutex<RaftMetrics<A::C>>>> = None;
    loop {
        if let Some(fresh) = poll_metrics::<A::C>(&http, api).await {
            match &metrics {
                Some(cell) => *cell.lock() = fresh,
                None => {
                    let cell = Arc::new(Mutex::new(fresh));
                    start.publish(HttpHandle {
                        metrics: Arc::clone(&cell),
                        jobs: jobs.clone(),
                    });
                    metrics = Some(cell);
                }
            }
        }
        let tick = time::sleep(poll_every).fuse();
        futures::pin_mut!(tick);
        loop {
            // Biased: futures' select! draws a branch from a per-thread RNG,
            // which would differ between a seed run alone and in a sweep.
            futures::select_biased! {
                () = tick => break,
                job = queue.next() => match job {
                    Some(job) => {
                        madsim_net::task::spawn(run_job(http.clone(), api, job));
                    }
                    None => return,
                },
            }
        }
    }
}

/// The node's metrics, or `None` while its API does not answer them (not
/// up yet, or busy): the agent simply polls again.
async fn poll_metrics<C: SimTypes>(http: &HttpClient, api: SocketAddr) -> Option<RaftMetrics<C>> {
    let uri = uri(api, "/metrics").ok()?;
    let answer: Result<RaftMetrics<C>, Value> = twinnet_http::get_json(http, uri, EXCHANGE_TIMEOUT)
        .await
        .ok()?;
    answer.ok()
}

async fn run_job(http: HttpClient, api: SocketAddr, job: Job) {
    let answer = match uri(api, &job.path) {
        Err(err) => Err(err),
        Ok(uri) => {
            let result = match &job.body {
                Some(body) => twinnet_http::post_json(&http, uri, body, EXCHANGE_TIMEOUT).await,
                None => twinnet_http::get_json(&http, uri, EXCHANGE_TIMEOUT).await,
            };
            result.map_err(|e| format!("{}: {e}", job.path))
        }
    };
    // The harness may have stopped waiting; nothing to do then.
    let _ = job.reply.send(answer);
}

fn uri(addr: SocketAddr, path: &str) -> Result<Uri, String> {
    format!("http://{addr}{path}")
        .parse()
        .map_err(|e| format!("bad URI for {addr}{path}: {e}"))
}

/// A workload client of an app whose API answers openraft's `Result<T, E>`
/// as JSON: it posts to the node it believes leads, follows
/// `ForwardToLeader`, and retries with backoff within [`MAX_ATTEMPTS`]
/// while a request certainly was not applied. Each client has its own
/// connection pool.
pub struct HttpLeaderClient<C: SimTypes> {
    nodes: Vec<(u64, SocketAddr)>,
    route: LeaderRoute,
    http: HttpClient,
    _types: PhantomData<fn() -> C>,
}

impl<C: SimTypes> HttpLeaderClient<C> {
    /// A client of the nodes at `nodes` (id, address), each serving its
    /// API on `port`.
    pub fn on_port(nodes: &[(u64, std::net::IpAddr)], port: u16) -> Self {
        Self::new(
            nodes
                .iter()
                .map(|&(id, ip)| (id, SocketAddr::new(ip, port)))
                .collect(),
        )
    }

    /// A client of the nodes whose APIs are at `nodes` (id, address).
    pub fn new(nodes: Vec<(u64, SocketAddr)>) -> Self {
        HttpLeaderClient {
            nodes,
            route: LeaderRoute::default(),
            http: twinnet_http::client(),
            _types: PhantomData,
        }
    }

    /// Posts `request` to `path` on the leader. `Ok(Err(e))` is the app's
    /// own refusal (not a redirect). A request that `may_write` is never
    /// sent again once it may have reached a node: that is
    /// [`ClientError::Indeterminate`].
    pub async fn call<Req, T, E>(
        &mut self,
        path: &str,
        request: &Req,
        may_write: bool,
    ) -> Result<Result<T, E>, ClientError>
    where
        Req: Serialize,
        T: DeserializeOwned,
        E: DeserializeOwned + TryAsRef<ForwardToLeader<C>>,
    {
        let mut backoff = Backoff::new();
        let mut last = String::from("no node");
        for attempt in 0..MAX_ATTEMPTS {
            let Some((node, addr)) = self.target(attempt) else {
                break;
            };
            let uri = uri(addr, path).map_err(|why| ClientError::GaveUp {
                attempts: 0,
                last: why,
            })?;
            match twinnet_http::post_json::<Req, Result<T, E>>(
                &self.http,
                uri,
                request,
                EXCHANGE_TIMEOUT,
            )
            .await
            {
                Ok(Ok(answer)) => {
                    self.route.answered(node);
                    return Ok(Ok(answer));
                }
                Ok(Err(refusal)) => {
                    let Some(forward) = refusal.try_as_ref() else {
                        self.route.answered(node);
                        return Ok(Err(refusal));
                    };
                    last = format!("node {node} is not the leader");
                    if self.route.redirected(node, forward.leader_id) {
                        continue; // a redirect: the request was not applied
                    }
                }
                Err(RequestError::Connect(err)) => last = format!("node {node}: {err}"),
                Err(err) if may_write => {
                    self.route.unanswered(&self.nodes, node);
                    return Err(ClientError::Indeterminate {
                        node,
                        why: err.to_string(),
                    });
                }
                Err(err) => last = format!("node {node}: {err}"),
            }
            self.route.forget_leader();
            backoff.wait().await;
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }

    /// A log write through a route served as openraft's examples serve
    /// `/write`: `data` in, `Result<ClientWriteResponse, ClientWriteError>`
    /// out. `Ok(Ok(_))` is the state machine's response to the entry.
    pub async fn write(
        &mut self,
        path: &str,
        data: &C::D,
    ) -> Result<Result<C::R, String>, ClientError>
    where
        C::D: Serialize,
        C::R: DeserializeOwned,
    {
        let answer = self
            .call::<_, ClientWriteResponse<C>, ClientWriteError<C>>(path, data, true)
            .await?;
        Ok(answer
            .map(|written| written.data)
            .map_err(|e| e.to_string()))
    }

    /// A read through a route answering `Result<T,
    /// LinearizableReadError>`, as openraft's examples serve
    /// `/linearizable_read`.
    pub async fn read<K: Serialize, T: DeserializeOwned>(
        &mut self,
        path: &str,
        key: &K,
    ) -> Result<Result<T, String>, ClientError> {
        let answer = self
            .call::<_, T, LinearizableReadError<C>>(path, key, false)
            .await?;
        Ok(answer.map_err(|e| e.to_string()))
    }

    /// One of the nodes, drawn from the simulation's RNG.
    pub fn random_node(&self) -> u64 {
        let index = madsim_net::rand::thread_rng().gen_range(0..self.nodes.len().max(1));
        self.nodes.get(index).map_or(0, |(id, _)| *id)
    }

    /// A read of `key` from node `node` only, once, through a route
    /// answering `Result<T, E>` from the node's own state (openraft's
    /// examples' `/read`): what a test sends to a chosen node. No answer
    /// is [`ClientError::GaveUp`] (a read changes nothing).
    pub async fn read_from<K: Serialize, T: DeserializeOwned>(
        &self,
        node: u64,
        path: &str,
        key: &K,
    ) -> Result<Result<T, String>, ClientError> {
        let gave_up = |last: String| ClientError::GaveUp { attempts: 1, last };
        let (_, addr) = self
            .nodes
            .iter()
            .find(|(id, _)| *id == node)
            .ok_or_else(|| gave_up(format!("no node {node}")))?;
        let uri = uri(*addr, path).map_err(gave_up)?;
        let answer: Result<T, Value> =
            twinnet_http::post_json(&self.http, uri, key, EXCHANGE_TIMEOUT)
                .await
                .map_err(|e| gave_up(format!("node {node}: {e}")))?;
        Ok(answer.map_err(|e| e.to_string()))
    }

    fn target(&self, attempt: u32) -> Option<(u64, SocketAddr)> {
        self.route.target(&self.nodes, attempt)
    }
}
