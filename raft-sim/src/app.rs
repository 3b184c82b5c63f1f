//! What twinnet needs to know about the user's application: the [`App`]
//! trait, the [`RaftHandle`] a running node hands to the harness, and the
//! [`NodeStart`] context a node is started with.
//!
//! An app is a value (serde, so a seed's artifact can rebuild it for a
//! replay) that says how to start one node, how a client issues one
//! operation of the workload, and how to digest a node's state machine.
//! Everything else (membership, leaders, faults, checks) the harness does
//! itself through openraft's own API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::storage::RaftStateMachine;
use openraft::type_config::alias::{LogIdOf, StoredMembershipOf};
use openraft::{Config, Raft, RaftMetrics, RaftTypeConfig, ServerState};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SimTypes;
use crate::store::Disk;
use crate::workload::{Model, Op, Outcome};

/// The node record of the app's `C`, as openraft keeps it in memberships.
pub type NodeOf<A> = <<A as App>::C as RaftTypeConfig>::Node;

/// A node's state machine, reduced to what must be equal on every node
/// that applied the same log: `applied` and a digest of the state (the
/// state's own bytes, or a hash of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDigest<C: RaftTypeConfig> {
    pub applied: Option<LogIdOf<C>>,
    pub digest: Vec<u8>,
}

/// The user's application under test.
///
/// ```ignore
/// impl App for MyApp {
///     type C = MyTypeConfig;
///     type Handle = openraft::Raft<MyTypeConfig, MyStateMachine>;
///     type Client = MyClient;
///     fn name(&self) -> &str { "my-app" }
///     fn raft_config(&self) -> openraft::Config { my_app::raft_config() }
///     fn node(&self, _id: u64, ip: IpAddr) -> BasicNode { BasicNode::new(format!("{ip}:7400")) }
///     async fn start(self, node: NodeStart<Self>) { my_app::run_node(node).await }
///     fn client(&self, nodes: &[(u64, IpAddr)]) -> MyClient { MyClient::new(nodes) }
///     async fn invoke(&self, client: &mut MyClient, op: &Op) -> Outcome { ... }
///     async fn state_digest(&self, node: &Self::Handle) -> Result<StateDigest<MyTypeConfig>, String> { ... }
/// }
/// ```
pub trait App: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The app's openraft types.
    type C: SimTypes;
    /// What a running node publishes for the harness (usually its `Raft`).
    type Handle: RaftHandle<Self::C>;
    /// A client of the app; each client process of the workload has one.
    type Client: Send + 'static;

    /// A short name, for tables, artifacts and `--app`.
    fn name(&self) -> &str;

    /// The Raft timing and policies the app runs with. The harness reads
    /// the heartbeat and election timeout from it (the nemesis scales its
    /// fault durations to the election timeout).
    fn raft_config(&self) -> Config;

    /// The membership record of node `id`, whose address is `ip`.
    fn node(&self, id: u64, ip: IpAddr) -> NodeOf<Self>;

    /// Runs node `start.id` until it is killed: open the disk, build the
    /// stores, `Raft::new`, [`NodeStart::publish`] the handle, serve. The
    /// same body runs again at every restart, on the same disk.
    fn start(self, start: NodeStart<Self>) -> impl Future<Output = ()> + Send + 'static;

    /// A client of the cluster whose nodes have these addresses.
    fn client(&self, nodes: &[(u64, IpAddr)]) -> Self::Client;

    /// Issues one operation of the workload and says what came of it.
    fn invoke(&self, client: &mut Self::Client, op: &Op) -> impl Future<Output = Outcome> + Send;

    /// The data models whose operations [`App::invoke`] understands; the
    /// first is the default.
    fn models(&self) -> Vec<Model> {
        vec![Model::RegisterCas]
    }

    /// Whether [`App::invoke`] understands the register model's `add d`
    /// (add `d` to the register, an absent one counting as 0). Say yes if
    /// the app can: `add` is the one register op that is not idempotent,
    /// so a log entry applied twice or a request retried into two entries
    /// shows in the next read. Without it, the workload writes instead.
    fn register_add(&self) -> bool {
        false
    }

    /// How long the app's client waits for one answer before it gives up on
    /// that attempt (its outcome then unknown). The nemesis delays replies
    /// to just past it, where retries and late answers go wrong.
    fn client_attempt_timeout(&self) -> Duration {
        crate::service::ATTEMPT_TIMEOUT
    }

    /// A write after the faults stopped, to prove the cluster still
    /// commits: by default a `write` of a fresh key through the workload's
    /// own operation.
    fn liveness_write(
        &self,
        client: &mut Self::Client,
        key: String,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let op = Op::write(key, 1);
        async move {
            match self.invoke(client, &op).await {
                Outcome::Ok(_) => Ok(()),
                Outcome::Fail(why) => Err(why.unwrap_or_else(|| "refused".into())),
                Outcome::Unknown(why) => Err(why),
            }
        }
    }

    /// The next op of the app's own data model ([`Model::Custom`]): `key`
    /// is drawn from the workload's keys, `roll` uniformly from 0..100;
    /// draw anything else from `madsim_net::rand` (seeded by the
    /// simulation). Only called when the app lists `Model::Custom`.
    fn custom_op(&self, key: String, roll: u32, process: u64, serial: u64) -> Op {
        let _ = (roll, process, serial);
        Op::write(key, 0)
    }

    /// Checks a history of the app's own data model ([`Model::Custom`]),
    /// usually `twinnet_check::check_model::<MyModel>(history, options)`:
    /// the per-key split, budgets and shrinking come with it.
    fn check_custom(
        &self,
        history: &twinnet_check::History,
        options: &twinnet_check::CheckOptions,
    ) -> Result<twinnet_check::CheckReport, twinnet_check::HistoryError> {
        let _ = options;
        twinnet_check::check(history, twinnet_check::ModelKind::RegisterCas)
    }

    /// The state of node `node`'s state machine, digested. Called once
    /// every node applied the same log; all digests must be equal.
    fn state_digest(
        &self,
        node: &Self::Handle,
    ) -> impl Future<Output = Result<StateDigest<Self::C>, String>> + Send;
}

/// What the harness needs of a running node: its metrics and openraft's
/// admin calls. Implemented for every `openraft::Raft`.
pub trait RaftHandle<C: SimTypes>: Clone + Send + Sync + 'static {
    fn metrics(&self) -> RaftMetrics<C>;
    /// The node's role and term: what the harness samples every few
    /// milliseconds, so a handle may answer it without copying the whole
    /// metrics (the membership in them allocates).
    fn role(&self) -> (ServerState, u64) {
        let metrics = self.metrics();
        (metrics.state, metrics.current_term)
    }
    fn initialize(
        &self,
        members: BTreeMap<u64, C::Node>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    fn add_learner(
        &self,
        id: u64,
        node: C::Node,
    ) -> impl Future<Output = Result<(), String>> + Send;
    fn change_membership(
        &self,
        voters: BTreeSet<u64>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Asks the node to build a snapshot now.
    fn trigger_snapshot(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Asks the node to purge its log up to index `upto`, as far as its
    /// snapshot reaches.
    fn purge_log(&self, upto: u64) -> impl Future<Output = Result<(), String>> + Send;
    /// Asks the node, if it leads, to hand the lead to node `to` (it stops
    /// taking writes and `to` runs an election once its log caught up).
    fn transfer_leader(&self, to: u64) -> impl Future<Output = Result<(), String>> + Send;
    /// What the state machine itself says it applied
    /// (`RaftStateMachine::applied_state`: the last log id and the last
    /// membership), or `None` where the handle cannot reach it (an app
    /// behind HTTP).
    fn applied_state(
        &self,
    ) -> impl Future<Output = Result<Option<AppliedState<C>>, String>> + Send {
        async { Ok(None) }
    }
}

/// A state machine's record of what it applied.
pub type AppliedState<C> = (Option<LogIdOf<C>>, StoredMembershipOf<C>);

impl<C, SM> RaftHandle<C> for Raft<C, SM>
where
    C: SimTypes,
    SM: RaftStateMachine<C>,
{
    fn metrics(&self) -> RaftMetrics<C> {
        self.metrics().borrow_watched().clone()
    }

    fn role(&self) -> (ServerState, u64) {
        let metrics = self.metrics();
        let metrics = metrics.borrow_watched();
        (metrics.state, metrics.current_term)
    }

    async fn initialize(&self, members: BTreeMap<u64, C::Node>) -> Result<(), String> {
        Raft::initialize(self, members)
            .await
            .map_err(|e| e.to_string())
    }

    async fn add_learner(&self, id: u64, node: C::Node) -> Result<(), String> {
        Raft::add_learner(self, id, node, true)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn change_membership(&self, voters: BTreeSet<u64>) -> Result<(), String> {
        Raft::change_membership(self, voters, false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn trigger_snapshot(&self) -> Result<(), String> {
        self.trigger().snapshot().await.map_err(|e| e.to_string())
    }

    async fn purge_log(&self, upto: u64) -> Result<(), String> {
        self.trigger()
            .purge_log(upto)
            .await
            .map_err(|e| e.to_string())
    }

    async fn transfer_leader(&self, to: u64) -> Result<(), String> {
        self.trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| e.to_string())
    }

    async fn applied_state(&self) -> Result<Option<AppliedState<C>>, String> {
        let state = self
            .with_state_machine(|sm: &mut SM| Box::pin(async move { sm.applied_state().await }))
            .await
            .map_err(|e| e.to_string())?;
        state.map(Some).map_err(|e| e.to_string())
    }
}

/// Where the harness finds a running node's handle; emptied when the node
/// is killed, refilled by the next incarnation.
pub(crate) struct Slot<H>(Arc<Mutex<Option<H>>>);

impl<H> Clone for Slot<H> {
    fn clone(&self) -> Self {
        Slot(Arc::clone(&self.0))
    }
}

impl<H: Clone> Slot<H> {
    pub(crate) fn new() -> Self {
        Slot(Arc::new(Mutex::new(None)))
    }
    pub(crate) fn get(&self) -> Option<H> {
        self.0.lock().clone()
    }
    pub(crate) fn set(&self, handle: Option<H>) {
        *self.0.lock() = handle;
    }
}

/// What [`App::start`] is given: who the node is, where it is, its disk
/// (the same one at every restart), the Raft config, and where to publish
/// its handle.
pub struct NodeStart<A: App> {
    pub id: u64,
    pub ip: IpAddr,
    pub disk: Disk<A::C>,
    pub config: Arc<Config>,
    pub(crate) slot: Slot<A::Handle>,
}

impl<A: App> NodeStart<A> {
    /// Hands the running node's handle to the harness; call it once `Raft`
    /// is up (the harness waits for it after every start).
    pub fn publish(&self, handle: A::Handle) {
        self.slot.set(Some(handle));
    }

    /// The same start for another app of the same types: what an app that
    /// wraps another (adds a fault, a probe) hands to the inner one.
    pub fn cast<B>(self) -> NodeStart<B>
    where
        B: App<C = A::C, Handle = A::Handle>,
    {
        NodeStart {
            id: self.id,
            ip: self.ip,
            disk: self.disk,
            config: self.config,
            slot: self.slot,
        }
    }
}
