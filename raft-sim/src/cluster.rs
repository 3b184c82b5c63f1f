//! The cluster harness, generic over [`NetBackend`]: start nodes, form the
//! membership, find the leader, kill and restart nodes (their disks
//! survive), change membership, run clients on a client node, read metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use madsim_net::time::{self, Instant};
use madsim_net::{NetBackend, NetError};
use openraft::{BasicNode, Config, RaftMetrics, ServerState};

use crate::bugs::Bugs;
use crate::client::KvClient;
use crate::node::{self, RaftSlot};
use crate::store::{CrashPolicy, Disk};
use crate::types::{NodeId, Raft, TypeConfig};
use crate::wire::RAFT_PORT;

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
    /// Planted bugs switched on in every node (tests and `--bug` only).
    pub bugs: Bugs,
}

impl ClusterOptions {
    pub fn voters(count: usize) -> Self {
        ClusterOptions {
            nodes: count,
            voters: count,
            crash: CrashPolicy::LoseRandomSuffix,
            bugs: Bugs::none(),
        }
    }
}

struct Member {
    disk: Disk,
    slot: RaftSlot,
    addr: SocketAddr,
}

/// A running cluster on backend `B`.
pub struct Cluster<B: NetBackend> {
    pub backend: B,
    members: Vec<Member>,
    client_node: madsim_net::NodeId,
    crash: CrashPolicy,
}

impl<B: NetBackend> Cluster<B> {
    /// Starts the nodes and a client node, and initializes the membership
    /// with the first `voters` nodes.
    pub async fn start(mut backend: B, options: ClusterOptions) -> Result<Self, ClusterError> {
        assert!(
            options.voters >= 1 && options.voters <= options.nodes,
            "1 <= voters <= nodes"
        );
        let config = node::raft_config().map_err(|e| ClusterError::Config(e.to_string()))?;
        let mut members = Vec::with_capacity(options.nodes);
        for index in 0..options.nodes {
            let member =
                Self::add_member(&mut backend, index as NodeId, &config, options.bugs).await?;
            members.push(member);
        }
        let client_node = backend
            .add_node("client", std::future::pending::<()>)
            .await?;
        let cluster = Cluster {
            backend,
            members,
            client_node,
            crash: options.crash,
        };
        let voters: Vec<NodeId> = (0..options.voters as NodeId).collect();
        cluster.initialize(&voters).await?;
        Ok(cluster)
    }

    async fn add_member(
        backend: &mut B,
        id: NodeId,
        config: &Arc<Config>,
        bugs: Bugs,
    ) -> Result<Member, ClusterError> {
        let disk = Disk::new();
        let slot = RaftSlot::default();
        let (init_disk, init_slot, init_config) = (disk.clone(), slot.clone(), Arc::clone(config));
        let node_id = backend
            .add_node(&format!("raft-{id}"), move || {
                node::run(
                    id,
                    init_disk.clone(),
                    Arc::clone(&init_config),
                    init_slot.clone(),
                    bugs,
                )
            })
            .await?;
        assert_eq!(node_id, id, "raft node ids equal backend node ids");
        let addr = SocketAddr::new(backend.node_ip(node_id)?, RAFT_PORT);
        Ok(Member { disk, slot, addr })
    }

    fn member(&self, id: NodeId) -> Result<&Member, ClusterError> {
        self.members
            .get(id as usize)
            .ok_or(ClusterError::Net(NetError::UnknownNode(id)))
    }

    /// The running `Raft` of node `id`, waiting a little for it to start.
    pub async fn raft(&self, id: NodeId) -> Result<Raft, ClusterError> {
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

    fn basic_node(&self, id: NodeId) -> Result<BasicNode, ClusterError> {
        Ok(BasicNode {
            addr: self.member(id)?.addr.to_string(),
        })
    }

    async fn initialize(&self, voters: &[NodeId]) -> Result<(), ClusterError> {
        let mut membership = BTreeMap::new();
        for &id in voters {
            membership.insert(id, self.basic_node(id)?);
        }
        let first = self.raft(voters[0]).await?;
        first
            .initialize(membership)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }

    /// The latest metrics of node `id`, if it runs.
    pub fn metrics(&self, id: NodeId) -> Option<RaftMetrics<TypeConfig>> {
        use openraft::async_runtime::WatchReceiver;
        let raft = self.members.get(id as usize)?.slot.get()?;
        let metrics = raft.metrics().borrow_watched().clone();
        Some(metrics)
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
        let running: Vec<RaftMetrics<TypeConfig>> = self
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

    /// A client knowing every node's address.
    pub fn client(&self) -> KvClient {
        KvClient::new(
            self.members
                .iter()
                .enumerate()
                .map(|(i, m)| (i as NodeId, m.addr))
                .collect(),
        )
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
        let member = self.member(id)?;
        member.slot.set(None);
        self.backend.kill(id).await?;
        Ok(member.disk.crash(self.crash))
    }

    /// Restarts node `id` from its disk.
    pub async fn restart(&self, id: NodeId) -> Result<(), ClusterError> {
        self.member(id)?.slot.set(None);
        self.backend.restart(id).await?;
        self.raft(id).await.map(|_| ())
    }

    /// Adds node `id` as a learner (through the leader) and waits for it to catch up.
    pub async fn add_learner(&self, id: NodeId) -> Result<(), ClusterError> {
        let leader = self
            .raft(self.wait_for_leader(Duration::from_secs(10)).await?)
            .await?;
        leader
            .add_learner(id, self.basic_node(id)?, true)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        Ok(())
    }

    /// Changes the voters to exactly `voters` (through the leader).
    pub async fn change_membership(&self, voters: &[NodeId]) -> Result<(), ClusterError> {
        let leader = self
            .raft(self.wait_for_leader(Duration::from_secs(10)).await?)
            .await?;
        let voters: BTreeSet<NodeId> = voters.iter().copied().collect();
        leader
            .change_membership(voters, false)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
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
    pub fn disk(&self, id: NodeId) -> Result<&Disk, ClusterError> {
        Ok(&self.member(id)?.disk)
    }

    /// Freezes node `id` until [`Self::resume`]; its disk and memory stay.
    pub async fn pause(&self, id: NodeId) -> Result<(), ClusterError> {
        self.member(id)?;
        Ok(self.backend.pause(id).await?)
    }

    /// Lets a paused node `id` run again.
    pub async fn resume(&self, id: NodeId) -> Result<(), ClusterError> {
        self.member(id)?;
        Ok(self.backend.resume(id).await?)
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

    /// Removes the impairment of the directed link `from -> to`.
    pub async fn clear_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
    ) -> Result<(), ClusterError> {
        Ok(self.backend.clear_link(from, to).await?)
    }
}
