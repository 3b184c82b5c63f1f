//! The cluster harness: [`Cluster<B, A>`] runs the user's [`App`] on any
//! [`NetBackend`]. It starts the nodes (raft id = backend node id) and a
//! client node, forms the membership, finds the leader, kills nodes (their
//! disks lose what was not synced) and restarts them from disk, changes
//! membership, runs clients on the client node, and reads metrics.
//!
//! ```ignore
//! let backend = madsim_net::SimBackend::new()?;
//! let cluster = Cluster::start(backend, MyApp, ClusterOptions::voters(3)).await?;
//! let leader = cluster.wait_for_leader(Duration::from_secs(10)).await?;
//! cluster.kill(leader).await?;
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use madsim_net::time::{self, Instant};
use madsim_net::{NetBackend, NetError};
use openraft::{Config, RaftMetrics, ServerState};

use crate::app::{App, NodeStart, RaftHandle, Slot};
use crate::store::{CrashPolicy, Disk};

type NodeId = u64;

/// Why the harness could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("invalid raft config: {0}")]
    Config(String),
    #[error("node {0} is not running")]
    NotRunning(NodeId),
    #[error("no leader within {0:?}")]
    NoLeader(Duration),
    #[error("raft: {0}")]
    Raft(String),
    #[error("timed out waiting for {0}")]
    TimedOut(String),
}

/// What a cluster is made of.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Raft nodes started (ids 0..nodes); not all need to be voters.
    pub nodes: usize,
    /// The first `voters` nodes form the initial membership.
    pub voters: usize,
    /// What a crash does to each node's unsynced writes.
    pub crash: CrashPolicy,
}

impl ClusterOptions {
    pub fn voters(count: usize) -> Self {
        ClusterOptions {
            nodes: count,
            voters: count,
            crash: CrashPolicy::LoseRandomSuffix,
        }
    }
}

struct Member<A: App> {
    disk: Disk<A::C>,
    slot: Slot<A::Handle>,
    ip: IpAddr,
}

/// A running cluster of app `A` on backend `B`.
pub struct Cluster<B: NetBackend, A: App> {
    pub backend: B,
    app: A,
    config: Arc<Config>,
    members: Vec<Member<A>>,
    client_node: madsim_net::NodeId,
    crash: CrashPolicy,
    /// The voters the cluster was initialized with (the nemesis restores
    /// them after changing the membership).
    initial_voters: BTreeSet<NodeId>,
    /// Woken at every write a client saw acknowledged (the nemesis aims
    /// kills at that moment).
    acks: Arc<tokio::sync::Notify>,
    /// Nodes paused through [`Self::pause`] and not resumed, killed or
    /// restarted since: a paused node's metrics still show its last role,
    /// so the timeline's role log asks here.
    paused: parking_lot::Mutex<BTreeSet<NodeId>>,
}

impl<B: NetBackend, A: App> Cluster<B, A> {
    /// Starts the nodes and a client node, and initializes the membership
    /// with the first `voters` nodes.
    pub async fn start(
        mut backend: B,
        app: A,
        options: ClusterOptions,
    ) -> Result<Self, ClusterError> {
        assert!(
            options.voters >= 1 && options.voters <= options.nodes,
            "1 <= voters <= nodes"
        );
        let config = app
            .raft_config()
            .validate()
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        let config = Arc::new(config);
        let mut members = Vec::with_capacity(options.nodes);
        for index in 0..options.nodes {
            let member = Self::add_member(&mut backend, &app, index as NodeId, &config).await?;
            members.push(member);
        }
        let client_node = backend
            .add_node("client", std::future::pending::<()>)
            .await?;
        let cluster = Cluster {
            backend,
            app,
            config,
            members,
            client_node,
            crash: options.crash,
            initial_voters: (0..options.voters as NodeId).collect(),
            acks: Arc::new(tokio::sync::Notify::new()),
            paused: parking_lot::Mutex::new(BTreeSet::new()),
        };
        let voters: Vec<NodeId> = cluster.initial_voters.iter().copied().collect();
        cluster.initialize(&voters).await?;
        Ok(cluster)
    }

    async fn add_member(
        backend: &mut B,
        app: &A,
        id: NodeId,
        config: &Arc<Config>,
    ) -> Result<Member<A>, ClusterError> {
        let disk = Disk::new();
        let slot = Slot::new();
        let (init_disk, init_slot, init_config, init_app) =
            (disk.clone(), slot.clone(), Arc::clone(config), app.clone());
        let node_id = backend
            .add_node(&format!("raft-{id}"), move || {
                // The injector registered the node's address before its
                // first start; unspecified only outside any backend.
                let ip = madsim_net::FailureInjector::current()
                    .and_then(|injector| injector.node_ip(id).ok())
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                let start = NodeStart {
                    id,
                    ip,
                    disk: init_disk.clone(),
                    config: Arc::clone(&init_config),
                    slot: init_slot.clone(),
                };
                init_app.clone().start(start)
            })
            .await?;
        assert_eq!(node_id, id, "raft node ids equal backend node ids");
        let ip = backend.node_ip(node_id)?;
        Ok(Member { disk, slot, ip })
    }

    /// What the workload wakes at every acknowledged write.
    pub fn ack_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.acks)
    }

    /// The app under test.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The Raft config every node runs with (the app's, validated).
    pub fn raft_config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Every Raft node's id and address, for clients.
    pub fn node_addrs(&self) -> Vec<(NodeId, IpAddr)> {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| (i as NodeId, m.ip))
            .collect()
    }

    fn member(&self, id: NodeId) -> Result<&Member<A>, ClusterError> {
        self.members
            .get(id as usize)
            .ok_or(ClusterError::Net(NetError::UnknownNode(id)))
    }

    /// The running handle of node `id`, waiting a little for it to start.
    pub async fn raft(&self, id: NodeId) -> Result<A::Handle, ClusterError> {
        let slot = &self.member(id)?.slot;
        for _ in 0..100 {
            if let Some(raft) = slot.get() {
                return Ok(raft);
            }
            time::sleep(Duration::from_millis(10)).await;
        }
        Err(ClusterError::NotRunning(id))
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        (0..self.members.len() as NodeId).collect()
    }

    pub(crate) fn app_node(&self, id: NodeId) -> Result<crate::app::NodeOf<A>, ClusterError> {
        Ok(self.app.node(id, self.member(id)?.ip))
    }

    async fn initialize(&self, voters: &[NodeId]) -> Result<(), ClusterError> {
        let mut membership = BTreeMap::new();
        for &id in voters {
            membership.insert(id, self.app_node(id)?);
        }
        let first = self.raft(voters[0]).await?;
        first
            .initialize(membership)
            .await
            .map_err(ClusterError::Raft)
    }

    /// The voters the cluster was initialized with.
    pub fn initial_voters(&self) -> &BTreeSet<NodeId> {
        &self.initial_voters
    }

    /// The latest metrics of node `id`, if it runs.
    pub fn metrics(&self, id: NodeId) -> Option<RaftMetrics<A::C>> {
        let raft = self.members.get(id as usize)?.slot.get()?;
        Some(raft.metrics())
    }

    /// The role and term of node `id`, if it runs: [`Self::metrics`]
    /// without the copy.
    pub fn role(&self, id: NodeId) -> Option<(ServerState, u64)> {
        let raft = self.members.get(id as usize)?.slot.get()?;
        Some(raft.role())
    }

    /// Waits until one running node is leader and every running voter agrees.
    pub async fn wait_for_leader(&self, within: Duration) -> Result<NodeId, ClusterError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(leader) = self.agreed_leader() {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NoLeader(within));
            }
            time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn agreed_leader(&self) -> Option<NodeId> {
        let running: Vec<RaftMetrics<A::C>> = self
            .node_ids()
            .into_iter()
            .filter_map(|id| self.metrics(id))
            .collect();
        let leader = running.iter().find(|m| m.state == ServerState::Leader)?;
        let voters: BTreeSet<NodeId> = leader.membership_config.membership().voter_ids().collect();
        let agreed = running
            .iter()
            .filter(|m| voters.contains(&m.id))
            .all(|m| m.current_leader == Some(leader.id) && m.current_term == leader.current_term);
        agreed.then_some(leader.id)
    }

    /// A client of the app knowing every node's address.
    pub fn client(&self) -> A::Client {
        self.app.client(&self.node_addrs())
    }

    /// Runs `work` on the client node (so its traffic crosses the network).
    pub async fn on_client<F, T>(&self, work: F) -> Result<T, ClusterError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.backend.spawn_on(self.client_node, work)?.await?)
    }

    /// Cuts links of the backend's network (see [`madsim_net::Partition`]).
    pub async fn partition(
        &self,
        partition: madsim_net::Partition,
    ) -> Result<madsim_net::PartitionId, ClusterError> {
        Ok(self.backend.partition(partition, None).await?)
    }

    /// Heals one partition, or all with `None`.
    pub async fn heal(&self, which: Option<madsim_net::PartitionId>) -> Result<(), ClusterError> {
        Ok(self.backend.heal(which).await?)
    }

    /// Starts `work` on the client node and returns at once.
    pub fn spawn_client<F, T>(&self, work: F) -> Result<madsim_net::NodeTask<T>, ClusterError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.backend.spawn_on(self.client_node, work)?)
    }

    /// Kills node `id`: its tasks and sockets die, its unsynced writes are
    /// lost as the crash policy says. Returns the number of writes lost.
    pub async fn kill(&self, id: NodeId) -> Result<usize, ClusterError> {
        self.kill_with(id, None).await
    }

    /// [`Self::kill`] with `policy` instead of the cluster's crash policy.
    pub async fn kill_with(
        &self,
        id: NodeId,
        policy: Option<CrashPolicy>,
    ) -> Result<usize, ClusterError> {
        let member = self.member(id)?;
        member.slot.set(None);
        self.paused.lock().remove(&id);
        self.backend.kill(id).await?;
        Ok(member.disk.crash(policy.unwrap_or(self.crash)))
    }

    /// Restarts node `id` from its disk.
    pub async fn restart(&self, id: NodeId) -> Result<(), ClusterError> {
        self.member(id)?.slot.set(None);
        self.paused.lock().remove(&id);
        self.backend.restart(id).await?;
        self.raft(id).await.map(|_| ())
    }

    /// Adds node `id` as a learner (through the leader) and waits for it to catch up.
    pub async fn add_learner(&self, id: NodeId) -> Result<(), ClusterError> {
        let leader = self
            .raft(self.wait_for_leader(Duration::from_secs(10)).await?)
            .await?;
        leader
            .add_learner(id, self.app_node(id)?)
            .await
            .map_err(ClusterError::Raft)?;
        Ok(())
    }

    /// Changes the voters to exactly `voters` (through the leader).
    pub async fn change_membership(&self, voters: &[NodeId]) -> Result<(), ClusterError> {
        let leader = self
            .raft(self.wait_for_leader(Duration::from_secs(10)).await?)
            .await?;
        let voters: BTreeSet<NodeId> = voters.iter().copied().collect();
        leader
            .change_membership(voters)
            .await
            .map_err(ClusterError::Raft)?;
        Ok(())
    }

    /// Waits until every running node in `nodes` has applied at least `index`.
    pub async fn wait_applied(
        &self,
        nodes: &[NodeId],
        index: u64,
        within: Duration,
    ) -> Result<(), ClusterError> {
        let deadline = Instant::now() + within;
        loop {
            let done = nodes.iter().all(|&id| {
                self.metrics(id)
                    .is_some_and(|m| m.last_applied.as_ref().is_some_and(|l| l.index >= index))
            });
            if done {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::TimedOut(format!(
                    "nodes {nodes:?} to apply index {index}"
                )));
            }
            time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Node `id`'s disk (what survives its crashes), for the checkers.
    pub fn disk(&self, id: NodeId) -> Result<&Disk<A::C>, ClusterError> {
        Ok(&self.member(id)?.disk)
    }

    /// Freezes node `id` until [`Self::resume`]; its disk and memory stay.
    pub async fn pause(&self, id: NodeId) -> Result<(), ClusterError> {
        self.member(id)?;
        self.backend.pause(id).await?;
        self.paused.lock().insert(id);
        Ok(())
    }

    /// Lets a paused node `id` run again.
    pub async fn resume(&self, id: NodeId) -> Result<(), ClusterError> {
        self.member(id)?;
        self.backend.resume(id).await?;
        self.paused.lock().remove(&id);
        Ok(())
    }

    /// Whether node `id` is paused (by [`Self::pause`], not resumed since).
    pub fn is_paused(&self, id: NodeId) -> bool {
        self.paused.lock().contains(&id)
    }

    /// Impairs the directed link `from -> to` (any backend node, the client too).
    pub async fn set_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
        impairment: madsim_net::LinkImpairment,
    ) -> Result<(), ClusterError> {
        Ok(self.backend.set_link(from, to, impairment).await?)
    }

    /// From now on node `id`'s clock runs at `rate_permille` / 1000 of true
    /// time, as OpenRaft reads it through `twinnet_rt::Runtime` (the
    /// simulator's nodes only: a real backend refuses).
    pub fn set_clock_rate(&self, id: NodeId, rate_permille: u32) -> Result<(), ClusterError> {
        self.member(id)?;
        Ok(self.backend.set_clock_rate(id, rate_permille)?)
    }

    /// Resets every stream between backend nodes `a` and `b` (the
    /// simulator only); returns how many it reset.
    pub fn reset_connections(
        &self,
        a: madsim_net::NodeId,
        b: madsim_net::NodeId,
    ) -> Result<usize, ClusterError> {
        Ok(self.backend.reset_connections(a, b)?)
    }

    /// Where node `id`'s clock stands.
    pub fn clock_state(&self, id: NodeId) -> madsim_net::clock::ClockState {
        self.backend.clock_state(id)
    }

    /// Removes the impairment of the directed link `from -> to`.
    pub async fn clear_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
    ) -> Result<(), ClusterError> {
        Ok(self.backend.clear_link(from, to).await?)
    }
}
