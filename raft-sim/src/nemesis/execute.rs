//! Playing a schedule against a cluster, and stopping the nemesis.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use madsim_net::clock::ClockState;
use madsim_net::rand::Rng;
use madsim_net::stream::{Stream, StreamRng};
use madsim_net::time::{self, Instant};
use madsim_net::{FailureInjector, LinkImpairment, NetBackend, Partition, PartitionId, RpcFaults};
use openraft::ServerState;
use serde::{Deserialize, Serialize};

use super::fault::{Fault, PartitionKind, Rejoin, Target};
use super::generate::TimeScale;
use super::schedule::{Schedule, Step};
use super::{LEADER_WAIT, NodeId};
use crate::app::{App, RaftHandle};
use crate::cluster::{Cluster, ClusterError};
use crate::store::CrashPolicy;

const POLL: Duration = Duration::from_millis(10);
/// A directed link between two backend nodes.
type Link = (madsim_net::NodeId, madsim_net::NodeId);
/// An fsync during a power loss aimed at a durability window: slower than
/// a network round trip, so an ack can overtake the followers' syncs.
const DURABILITY_WINDOW_FSYNC: Duration = Duration::from_millis(25);
/// The fsync latency during [`Fault::CrashAllInElection`]: long enough
/// that the power goes while the new leader's first entries and every
/// vote a store left unsynced are still in the page caches.
const ELECTION_WINDOW_FSYNC: Duration = Duration::from_millis(80);
/// Leader waits a purge, and then a snapshot's install, may take each.
const SNAPSHOT_WAITS: u32 = 3;
/// Leader waits a membership change (catching learners up included) may
/// take within an episode.
const MEMBERSHIP_WAITS: u32 = 3;
/// Leader waits [`stop`] gives the membership to come back to the initial
/// voters, after it healed and restarted everything.
const RESTORE_WAITS: u32 = 10;

/// The cluster operations the nemesis needs, so it drives any app: node
/// lifecycle, the network's links, and who leads. [`Cluster`] of every
/// [`App`] implements it.
pub trait ClusterControl {
    /// The Raft nodes (ids `0..n`).
    fn raft_nodes(&self) -> Vec<NodeId>;
    /// Every backend node, the client node too (link bursts impair all).
    fn backend_nodes(&self) -> Vec<madsim_net::NodeId>;
    /// The backend's injector: the clock and the event log steps go to.
    fn injector(&self) -> &Arc<FailureInjector>;
    /// Whether node `id` runs (it may still be paused).
    fn is_running(&self, id: NodeId) -> bool;
    /// Every running node that believes it leads, with its term.
    fn leaders(&self) -> Vec<(NodeId, u64)>;
    /// How the fault times stretch to the app's Raft timing.
    fn time_scale(&self) -> TimeScale;
    /// How long the app's client waits for one answer
    /// ([`App::client_attempt_timeout`]).
    fn client_attempt_timeout(&self) -> Duration;
    /// Resolves at the next write a client sees acknowledged.
    fn write_acked(&self) -> impl Future<Output = ()>;
    /// How long an fsync of node `id`'s disk takes.
    fn fsync_latency(&self, id: NodeId) -> Duration;
    fn set_fsync_latency(&self, id: NodeId, latency: Duration);
    /// Node `id`'s disk fails ([`crate::store::Disk::fail`]).
    fn fail_disk(&self, id: NodeId);
    /// Node `id`'s failed disk is replaced ([`crate::store::Disk::repair`]).
    fn repair_disk(&self, id: NodeId);
    /// Node `id`'s clock runs at `rate_permille` / 1000 of true time
    /// ([`Cluster::set_clock_rate`]).
    fn set_clock_rate(&self, id: NodeId, rate_permille: u32) -> Result<(), ClusterError>;
    /// Where node `id`'s clock stands.
    fn clock_state(&self, id: NodeId) -> ClockState;
    /// Resets every stream between backend nodes `a` and `b`; returns how
    /// many it reset ([`Cluster::reset_connections`]).
    fn reset_connections(
        &self,
        a: madsim_net::NodeId,
        b: madsim_net::NodeId,
    ) -> Result<usize, ClusterError>;
    /// Kills node `id`; returns how many unsynced writes its disk lost
    /// (as `policy` says, by default the cluster's crash policy).
    fn kill(
        &self,
        id: NodeId,
        policy: Option<CrashPolicy>,
    ) -> impl Future<Output = Result<usize, ClusterError>>;
    fn restart(&self, id: NodeId) -> impl Future<Output = Result<(), ClusterError>>;
    /// How far node `id` applied, snapshotted and purged its log, if it
    /// runs.
    fn progress(&self, id: NodeId) -> Option<Progress>;
    /// Asks node `id` to build a snapshot now.
    fn trigger_snapshot(&self, id: NodeId) -> impl Future<Output = Result<(), ClusterError>>;
    /// Asks node `id` to purge its log up to `upto` (what a snapshot holds).
    fn purge_log(&self, id: NodeId, upto: u64) -> impl Future<Output = Result<(), ClusterError>>;
    /// Asks leader `from` to hand the lead to `to`.
    fn transfer_leader(
        &self,
        from: NodeId,
        to: NodeId,
    ) -> impl Future<Output = Result<(), ClusterError>>;
    /// The voter sets of node `id`'s latest membership (two while a change
    /// is in joint consensus), if it runs.
    fn voter_configs(&self, id: NodeId) -> Option<Vec<BTreeSet<NodeId>>>;
    /// The voters the cluster started with ([`stop`] restores them).
    fn initial_voters(&self) -> BTreeSet<NodeId>;
    /// Asks leader `leader` to add node `id` as a learner and waits until
    /// it caught up.
    fn add_learner(
        &self,
        leader: NodeId,
        id: NodeId,
    ) -> impl Future<Output = Result<(), ClusterError>>;
    /// Asks leader `leader` to make `voters` the voters (learners to be
    /// promoted must have been added first).
    fn change_membership(
        &self,
        leader: NodeId,
        voters: BTreeSet<NodeId>,
    ) -> impl Future<Output = Result<(), ClusterError>>;
    fn pause(&self, id: NodeId) -> impl Future<Output = Result<(), ClusterError>>;
    fn resume(&self, id: NodeId) -> impl Future<Output = Result<(), ClusterError>>;
    fn partition(
        &self,
        partition: Partition,
    ) -> impl Future<Output = Result<PartitionId, ClusterError>>;
    fn heal(&self, which: Option<PartitionId>) -> impl Future<Output = Result<(), ClusterError>>;
    fn set_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
        impairment: LinkImpairment,
    ) -> impl Future<Output = Result<(), ClusterError>>;
    fn clear_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
    ) -> impl Future<Output = Result<(), ClusterError>>;
}

impl<B: NetBackend, A: App> ClusterControl for Cluster<B, A> {
    fn raft_nodes(&self) -> Vec<NodeId> {
        self.node_ids()
    }
    fn backend_nodes(&self) -> Vec<madsim_net::NodeId> {
        self.backend.nodes()
    }
    fn injector(&self) -> &Arc<FailureInjector> {
        self.backend.injector()
    }
    fn is_running(&self, id: NodeId) -> bool {
        self.metrics(id).is_some()
    }
    fn leaders(&self) -> Vec<(NodeId, u64)> {
        self.node_ids()
            .into_iter()
            .filter_map(|id| self.metrics(id))
            .filter(|m| m.state == ServerState::Leader)
            .map(|m| (m.id, m.current_term))
            .collect()
    }
    fn time_scale(&self) -> TimeScale {
        TimeScale::for_election_timeout(self.raft_config().election_timeout_max)
    }
    fn client_attempt_timeout(&self) -> Duration {
        self.app().client_attempt_timeout()
    }
    async fn write_acked(&self) {
        self.ack_signal().notified().await
    }
    fn fsync_latency(&self, id: NodeId) -> Duration {
        self.disk(id)
            .map_or(Duration::ZERO, |disk| disk.fsync_latency())
    }
    fn set_fsync_latency(&self, id: NodeId, latency: Duration) {
        if let Ok(disk) = self.disk(id) {
            disk.set_fsync_latency(latency);
        }
    }
    fn fail_disk(&self, id: NodeId) {
        if let Ok(disk) = self.disk(id) {
            disk.fail();
        }
    }
    fn repair_disk(&self, id: NodeId) {
        if let Ok(disk) = self.disk(id) {
            disk.repair();
        }
    }
    fn set_clock_rate(&self, id: NodeId, rate_permille: u32) -> Result<(), ClusterError> {
        Cluster::set_clock_rate(self, id, rate_permille)
    }
    fn clock_state(&self, id: NodeId) -> ClockState {
        Cluster::clock_state(self, id)
    }
    fn reset_connections(
        &self,
        a: madsim_net::NodeId,
        b: madsim_net::NodeId,
    ) -> Result<usize, ClusterError> {
        Cluster::reset_connections(self, a, b)
    }
    async fn kill(&self, id: NodeId, policy: Option<CrashPolicy>) -> Result<usize, ClusterError> {
        Cluster::kill_with(self, id, policy).await
    }
    async fn restart(&self, id: NodeId) -> Result<(), ClusterError> {
        Cluster::restart(self, id).await
    }
    fn progress(&self, id: NodeId) -> Option<Progress> {
        let index = |log_id: Option<&openraft::type_config::alias::LogIdOf<A::C>>| {
            log_id.map_or(0, |id| id.index())
        };
        self.metrics(id).map(|m| Progress {
            applied: index(m.last_applied.as_ref()),
            snapshot: index(m.snapshot.as_ref()),
            purged: index(m.purged.as_ref()),
            last_log: m.last_log_index.unwrap_or(0),
        })
    }
    async fn trigger_snapshot(&self, id: NodeId) -> Result<(), ClusterError> {
        let raft = self.raft(id).await?;
        raft.trigger_snapshot().await.map_err(raft_error(id))
    }
    async fn purge_log(&self, id: NodeId, upto: u64) -> Result<(), ClusterError> {
        let raft = self.raft(id).await?;
        raft.purge_log(upto).await.map_err(raft_error(id))
    }
    async fn transfer_leader(&self, from: NodeId, to: NodeId) -> Result<(), ClusterError> {
        let raft = self.raft(from).await?;
        raft.transfer_leader(to).await.map_err(raft_error(from))
    }
    fn voter_configs(&self, id: NodeId) -> Option<Vec<BTreeSet<NodeId>>> {
        let m = self.metrics(id)?;
        Some(m.membership_config.membership().get_joint_config().clone())
    }
    fn initial_voters(&self) -> BTreeSet<NodeId> {
        Cluster::initial_voters(self).clone()
    }
    async fn add_learner(&self, leader: NodeId, id: NodeId) -> Result<(), ClusterError> {
        let raft = self.raft(leader).await?;
        let node = self.app_node(id)?;
        raft.add_learner(id, node).await.map_err(raft_error(leader))
    }
    async fn change_membership(
        &self,
        leader: NodeId,
        voters: BTreeSet<NodeId>,
    ) -> Result<(), ClusterError> {
        let raft = self.raft(leader).await?;
        raft.change_membership(voters)
            .await
            .map_err(raft_error(leader))
    }
    async fn pause(&self, id: NodeId) -> Result<(), ClusterError> {
        Cluster::pause(self, id).await
    }
    async fn resume(&self, id: NodeId) -> Result<(), ClusterError> {
        Cluster::resume(self, id).await
    }
    async fn partition(&self, partition: Partition) -> Result<PartitionId, ClusterError> {
        Cluster::partition(self, partition).await
    }
    async fn heal(&self, which: Option<PartitionId>) -> Result<(), ClusterError> {
        Cluster::heal(self, which).await
    }
    async fn set_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), ClusterError> {
        Cluster::set_link(self, from, to, impairment).await
    }
    async fn clear_link(
        &self,
        from: madsim_net::NodeId,
        to: madsim_net::NodeId,
    ) -> Result<(), ClusterError> {
        Cluster::clear_link(self, from, to).await
    }
}

/// An admin call's error from node `id`, as a cluster error.
fn raft_error(id: NodeId) -> impl FnOnce(String) -> ClusterError {
    move |e| ClusterError::Raft(format!("node {id}: {e}"))
}

/// How far a node got with its log: indexes applied, held in its last
/// snapshot, and purged (0 for none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub applied: u64,
    pub snapshot: u64,
    pub purged: u64,
    /// The last index in its log.
    pub last_log: u64,
}

/// What a step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Partitioned {
        partition: Partition,
        id: PartitionId,
    },
    Healed {
        id: PartitionId,
    },
    Killed {
        node: NodeId,
        lost_writes: usize,
    },
    Restarted {
        node: NodeId,
    },
    /// Restarted into the situation `rejoin` names; `reached` says whether
    /// it got there within the leader wait (took the lead, installed a
    /// snapshot past the purged log).
    Rejoined {
        node: NodeId,
        rejoin: Rejoin,
        reached: bool,
    },
    Paused {
        node: NodeId,
    },
    Resumed {
        node: NodeId,
    },
    CrashedAll {
        nodes: Vec<NodeId>,
        lost_writes: usize,
    },
    RestartedAll {
        /// In power-on order.
        nodes: Vec<NodeId>,
        /// The leader of the power loss's moment (and, after a power loss
        /// in an election, the leader before it), held down until the
        /// others had elected a leader.
        #[serde(
            default,
            skip_serializing_if = "Vec::is_empty",
            deserialize_with = "one_or_many"
        )]
        held_back: Vec<NodeId>,
    },
    /// Voters taken out of the membership; `voters` remain.
    VotersRemoved {
        removed: Vec<NodeId>,
        voters: Vec<NodeId>,
        /// The leader of the moment was among the removed.
        leader_removed: bool,
    },
    /// The initial voters are the voters again; `added` came back as
    /// learners first.
    VotersRestored {
        added: Vec<NodeId>,
    },
    /// The client's links delayed by `one_way_ms` (± `jitter_ms`) each way.
    ClientDelayed {
        links: usize,
        one_way_ms: u64,
        jitter_ms: u64,
    },
    DelayCleared {
        links: usize,
    },
    /// The client's streams were reset `resets` times, `streams` in all.
    ClientConnectionsReset {
        resets: u32,
        streams: usize,
    },
    FsyncSlowed {
        node: NodeId,
        latency_ms: u64,
    },
    FsyncRestored {
        node: NodeId,
    },
    DisksFailed {
        nodes: Vec<NodeId>,
    },
    /// Power-cycled on repaired disks; `lost_writes` were written after
    /// (or not synced before) the failure.
    DisksRecovered {
        nodes: Vec<NodeId>,
        lost_writes: usize,
    },
    /// Node `node`'s clock runs at `rate_permille`; with `isolated`, the
    /// node is cut off from the other Raft nodes by partition `isolated`.
    ClockDrifted {
        node: NodeId,
        rate_permille: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        isolated: Option<PartitionId>,
    },
    /// Node `node`'s clock keeps true time again, `skew_ms` ahead of it
    /// (negative: behind); the node's code read it `drifted_reads` times
    /// during the episode (0: the drift never reached the app).
    ClockRestored {
        node: NodeId,
        skew_ms: i64,
        drifted_reads: u64,
    },
    RpcFaulted,
    RpcFaultsCleared,
    Impaired {
        links: usize,
    },
    ImpairmentCleared {
        links: usize,
    },
    /// The step did not apply (no leader, nothing to undo, the node is down).
    Skipped {
        reason: String,
    },
    /// The harness or the backend refused it.
    Failed {
        error: String,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Partitioned { partition, id } => {
                write!(f, "partition #{id}: {partition:?}")
            }
            Outcome::Healed { id } => write!(f, "healed partition #{id}"),
            Outcome::Killed { node, lost_writes } => {
                write!(f, "killed node {node} ({lost_writes} unsynced writes lost)")
            }
            Outcome::Restarted { node } => write!(f, "restarted node {node}"),
            Outcome::Rejoined {
                node,
                rejoin,
                reached,
            } => {
                let how = if *reached { "" } else { " (not reached)" };
                write!(f, "restarted node {node} {rejoin}{how}")
            }
            Outcome::Paused { node } => write!(f, "paused node {node}"),
            Outcome::Resumed { node } => write!(f, "resumed node {node}"),
            Outcome::CrashedAll { nodes, lost_writes } => {
                write!(
                    f,
                    "power loss: killed nodes {nodes:?} ({lost_writes} unsynced writes lost)"
                )
            }
            Outcome::RestartedAll { nodes, held_back } => {
                write!(f, "restarted nodes {nodes:?} after the power loss")?;
                match held_back.as_slice() {
                    [] => Ok(()),
                    [n] => write!(f, ", node {n} once the others had a leader"),
                    many => write!(f, ", nodes {many:?} once the others had a leader"),
                }
            }
            Outcome::VotersRemoved {
                removed,
                voters,
                leader_removed,
            } => {
                let leader = if *leader_removed {
                    " (the leader too)"
                } else {
                    ""
                };
                write!(
                    f,
                    "removed voters {removed:?}{leader}, voters now {voters:?}"
                )
            }
            Outcome::VotersRestored { added } => {
                write!(f, "restored the initial voters, {added:?} added back")
            }
            Outcome::ClientDelayed {
                links,
                one_way_ms,
                jitter_ms,
            } => write!(
                f,
                "delayed {links} client links by {one_way_ms} ms ± {jitter_ms} ms each way"
            ),
            Outcome::DelayCleared { links } => write!(f, "cleared {links} delayed client links"),
            Outcome::ClientConnectionsReset { resets, streams } => write!(
                f,
                "reset the client's connections {resets} time(s), {streams} streams in all"
            ),
            Outcome::FsyncSlowed { node, latency_ms } => {
                write!(f, "node {node}'s fsyncs take {latency_ms} ms")
            }
            Outcome::FsyncRestored { node } => write!(f, "node {node}'s fsyncs back to normal"),
            Outcome::DisksFailed { nodes } => write!(f, "the disks of nodes {nodes:?} failed"),
            Outcome::DisksRecovered { nodes, lost_writes } => write!(
                f,
                "power-cycled nodes {nodes:?} on repaired disks ({lost_writes} writes lost)"
            ),
            Outcome::ClockDrifted {
                node,
                rate_permille,
                isolated,
            } => {
                write!(f, "node {node}'s clock runs at {rate_permille}\u{2030}")?;
                match isolated {
                    Some(id) => write!(f, ", cut off by partition #{id}"),
                    None => Ok(()),
                }
            }
            Outcome::ClockRestored {
                node,
                skew_ms,
                drifted_reads,
            } => write!(
                f,
                "node {node}'s clock keeps true time again, {skew_ms:+} ms off \
                 ({drifted_reads} reads while drifted)"
            ),
            Outcome::RpcFaulted => f.write_str("Raft RPC faults in force"),
            Outcome::RpcFaultsCleared => f.write_str("Raft RPC faults cleared"),
            Outcome::Impaired { links } => write!(f, "impaired {links} links"),
            Outcome::ImpairmentCleared { links } => write!(f, "cleared {links} links"),
            Outcome::Skipped { reason } => write!(f, "skipped: {reason}"),
            Outcome::Failed { error } => write!(f, "FAILED: {error}"),
        }
    }
}

/// One executed step, for the artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedFault {
    /// Index in the schedule.
    pub step: usize,
    pub episode: u32,
    pub fault: Fault,
    /// True for the automatic end of an impairment burst.
    pub end_of_burst: bool,
    /// When the schedule planned it, after [`run`] started.
    pub planned_ms: u64,
    /// When it ran, after [`run`] started.
    pub at_ms: u64,
    /// When it ran, on the event log's clock.
    pub time_ns: u64,
    pub outcome: Outcome,
}

impl fmt::Display for AppliedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.end_of_burst { ", end" } else { "" };
        write!(
            f,
            "nemesis step {} (episode {}{end}) at {} ms (planned {} ms): {} -> {}",
            self.step, self.episode, self.at_ms, self.planned_ms, self.fault, self.outcome
        )
    }
}

/// Plays `schedule` against `cluster`: each step at its time after the
/// call (later if an earlier step took long), every step noted in the
/// backend's event log. Steps that cannot apply are recorded as skipped or
/// failed, never abort the run. Its choices (which follower, which order)
/// draw from the nemesis stream of `seed`.
pub async fn run<K: ClusterControl>(
    cluster: &K,
    schedule: &Schedule,
    seed: u64,
) -> Result<Vec<AppliedFault>, ClusterError> {
    let started = Instant::now();
    let actions = schedule.actions();
    let mut executor = Executor::new(cluster, StreamRng::new(seed, Stream::Nemesis));
    let mut applied = Vec::with_capacity(actions.len());
    for action in actions {
        let due = started + Duration::from_millis(action.at_ms);
        if Instant::now() < due {
            time::sleep_until(due).await;
        }
        let step = &schedule.steps[action.index];
        let outcome = if action.end_of_burst {
            executor.end_burst(step.episode).await
        } else {
            executor.apply(step).await
        };
        let record = AppliedFault {
            step: action.index,
            episode: step.episode,
            fault: step.fault.clone(),
            end_of_burst: action.end_of_burst,
            planned_ms: action.at_ms,
            at_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            time_ns: cluster.injector().now_ns(),
            outcome,
        };
        cluster.injector().note(record.to_string());
        applied.push(record);
    }
    // A schedule cut short leaves no disk slowed ([`stop`] cannot know
    // their normal speed; it finds every other fault on its own).
    executor.restore_all_fsyncs();
    executor.restore_all_clocks().await;
    executor.recover_all_disks().await;
    Ok(applied)
}

/// What [`run`] keeps between steps. Bounded by the schedule's episodes.
struct Executor<'c, K: ClusterControl> {
    cluster: &'c K,
    /// The nemesis stream: every choice the schedule leaves open.
    rng: StreamRng,
    /// How long a step that needs the leader waits for one.
    leader_wait: Duration,
    raft_nodes: Vec<NodeId>,
    /// Partition ids by episode.
    partitions: BTreeMap<u32, PartitionId>,
    /// Killed or paused node by episode.
    downed: BTreeMap<u32, NodeId>,
    /// Nodes a power loss killed, by episode.
    crashed: BTreeMap<u32, Vec<NodeId>>,
    /// The node a power loss's restart brings back last, once the others
    /// have a leader, by episode.
    stragglers: BTreeMap<u32, Vec<NodeId>>,
    /// Nodes this nemesis holds down now.
    down: BTreeSet<NodeId>,
    /// Voters a membership change took out, by episode.
    removed: BTreeMap<u32, Vec<NodeId>>,
    /// Whether the node killed to restart from its own snapshot had
    /// snapshot and purged first, by episode.
    compacted: BTreeMap<u32, bool>,
    /// The episode whose RPC faults are in force.
    rpc_faulted: Option<u32>,
    /// Slowed disks by episode: the node and its normal fsync latency.
    slowed: BTreeMap<u32, (NodeId, Duration)>,
    /// Nodes whose disks failed, by episode.
    failed_disks: BTreeMap<u32, Vec<NodeId>>,
    /// Drifted clocks by episode: the node, the partition isolating it,
    /// and its clock's drifted reads before the episode.
    drifted: BTreeMap<u32, (NodeId, Option<PartitionId>, u64)>,
    /// The burst or client delay in force: its episode and the links it
    /// impaired (one at a time: each would clear the other's links).
    impaired: Option<(u32, Vec<Link>)>,
}

impl<'c, K: ClusterControl> Executor<'c, K> {
    fn new(cluster: &'c K, rng: StreamRng) -> Self {
        Executor {
            cluster,
            rng,
            leader_wait: cluster.time_scale().duration(LEADER_WAIT),
            raft_nodes: cluster.raft_nodes(),
            partitions: BTreeMap::new(),
            downed: BTreeMap::new(),
            crashed: BTreeMap::new(),
            stragglers: BTreeMap::new(),
            down: BTreeSet::new(),
            removed: BTreeMap::new(),
            compacted: BTreeMap::new(),
            slowed: BTreeMap::new(),
            failed_disks: BTreeMap::new(),
            drifted: BTreeMap::new(),
            rpc_faulted: None,
            impaired: None,
        }
    }

    async fn apply(&mut self, step: &Step) -> Outcome {
        match &step.fault {
            Fault::Partition(kind) => self.partition(step.episode, kind).await,
            Fault::Heal => self.heal(step.episode).await,
            Fault::KillToRejoin(target, Rejoin::FromOwnSnapshot) => {
                self.compact_and_kill(step.episode, *target).await
            }
            Fault::Kill(target) | Fault::KillToRejoin(target, _) => {
                self.take_down(step.episode, *target, true).await
            }
            Fault::KillAfterAck(target) => {
                self.after_ack().await;
                self.take_down(step.episode, *target, true).await
            }
            Fault::CrashAllAfterAck => {
                // The followers' slow fsyncs hold the acked write's copies
                // unsynced there while the leader's ack travels.
                let leader = self.current_leader();
                let normal = self.slow_disks(DURABILITY_WINDOW_FSYNC, leader);
                // The writes in flight now synced at the old speed.
                time::sleep(2 * DURABILITY_WINDOW_FSYNC).await;
                self.after_ack().await;
                let outcome = self
                    .crash_all(step.episode, Some(CrashPolicy::LoseAllUnsynced))
                    .await;
                self.restore_disks(normal);
                // openraft lets a restarted leader whose vote was committed
                // lead again at once, its synced log covering for the
                // followers'. Holding it back makes the followers' disks
                // alone answer for the acked write, as Raft promises they can.
                if let Some(leader) = leader {
                    self.stragglers.insert(step.episode, vec![leader]);
                }
                outcome
            }
            Fault::Pause(target) => self.take_down(step.episode, *target, false).await,
            Fault::Restart(_) => self.bring_up(step.episode, true).await,
            Fault::Rejoin(_, rejoin) => self.rejoin(step.episode, *rejoin).await,
            Fault::Resume(_) => self.bring_up(step.episode, false).await,
            Fault::CrashAllInElection => self.crash_all_in_election(step.episode).await,
            Fault::CrashAll => {
                // Half the time the leader of the moment is slow to boot.
                let leader = self.current_leader();
                let outcome = self.crash_all(step.episode, None).await;
                if self.rng.gen_bool(0.5)
                    && let Some(leader) = leader
                {
                    self.stragglers.insert(step.episode, vec![leader]);
                }
                outcome
            }
            Fault::RestartAll => self.restart_all(step.episode).await,
            Fault::RemoveVoters { first, count } => {
                self.remove_voters(step.episode, *first, *count).await
            }
            Fault::RestoreVoters => self.restore_voters(step.episode).await,
            Fault::DelayPastTimeout {
                round_trip_permille,
            } => self.delay_client(step.episode, *round_trip_permille).await,
            Fault::ClearDelay => self.clear_delay(step.episode).await,
            Fault::ResetClientConnections { resets, every_ms } => {
                self.reset_client_connections(*resets, Duration::from_millis(*every_ms))
                    .await
            }
            Fault::SlowFsync { target, latency_ms } => {
                self.slow_fsync(step.episode, *target, *latency_ms).await
            }
            Fault::RestoreFsync => self.restore_fsync(step.episode),
            Fault::FailDisk(target) => self.fail_disk(step.episode, *target).await,
            Fault::FailAllDisks => self.fail_all_disks(step.episode),
            Fault::RecoverDisks => self.recover_disks(step.episode).await,
            Fault::DriftClock {
                target,
                rate_permille,
                isolate,
            } => {
                self.drift_clock(step.episode, *target, *rate_permille, *isolate)
                    .await
            }
            Fault::RestoreClock => self.restore_clock(step.episode).await,
            Fault::RpcFaults(faults) => self.rpc_faults(step.episode, *faults),
            Fault::ClearRpcFaults => self.clear_rpc_faults(step.episode),
            Fault::ImpairBurst { impairment, .. } => {
                self.start_burst(step.episode, *impairment).await
            }
        }
    }

    /// Waits for the next acknowledged write, at most the leader wait (a
    /// quiet cluster still gets its fault).
    async fn after_ack(&self) {
        let _ = time::timeout(self.leader_wait, self.cluster.write_acked()).await;
    }

    async fn rejoin(&mut self, episode: u32, rejoin: Rejoin) -> Outcome {
        let purged = match rejoin {
            Rejoin::TakeLead | Rejoin::FromOwnSnapshot => None,
            Rejoin::BehindSnapshot => match self.leader().await {
                Some(leader) => self.snapshot_and_purge(leader).await,
                None => None,
            },
        };
        let node = match self.bring_up(episode, true).await {
            Outcome::Restarted { node } => node,
            other => return other,
        };
        let reached = match (rejoin, purged) {
            (Rejoin::TakeLead, _) => self.hand_lead_to(node).await,
            (Rejoin::BehindSnapshot, Some(purged)) => self.snapshot_reaches(node, purged).await,
            (Rejoin::BehindSnapshot, None) => false,
            (Rejoin::FromOwnSnapshot, _) => self.compacted.remove(&episode).unwrap_or(false),
        };
        Outcome::Rejoined {
            node,
            rejoin,
            reached,
        }
    }

    /// Has `node` snapshot what it applied and purge its log up to there,
    /// then kills it: it must restart from that snapshot.
    async fn compact_and_kill(&mut self, episode: u32, target: Target) -> Outcome {
        let node = match self.resolve(target).await {
            Ok(node) => node,
            Err(reason) => return skipped(reason),
        };
        let compacted = self.snapshot_and_purge(node).await.is_some();
        self.compacted.insert(episode, compacted);
        self.down_node(episode, node, true).await
    }

    /// Has `node` snapshot what it applied and purge its log up to there;
    /// returns the index purged, if it got that far within the leader wait.
    async fn snapshot_and_purge(&self, node: NodeId) -> Option<u64> {
        // A leader purges no entry a replication to a down node still
        // has in flight: the purge waits for that send to fail.
        let deadline = Instant::now() + SNAPSHOT_WAITS * self.leader_wait;
        let applied = self.cluster.progress(node)?.applied;
        self.cluster.trigger_snapshot(node).await.ok()?;
        let snapshot = self
            .poll_until(deadline, || {
                let at = self.cluster.progress(node)?.snapshot;
                (at >= applied).then_some(at)
            })
            .await?;
        self.cluster.purge_log(node, snapshot).await.ok()?;
        self.poll_until(deadline, || {
            let purged = self.cluster.progress(node)?.purged;
            (purged >= snapshot).then_some(purged)
        })
        .await
    }

    /// Whether `node`, back with a log that ends below `purged` when first
    /// seen, installs a snapshot reaching `purged` within the leader wait
    /// (one it builds itself later does not count).
    async fn snapshot_reaches(&self, node: NodeId, purged: u64) -> bool {
        // The leader must first notice the node is back (its reconnect
        // backoff), then send the whole snapshot.
        let deadline = Instant::now() + SNAPSHOT_WAITS * self.leader_wait;
        let needed = std::cell::Cell::new(None);
        self.poll_until(deadline, || {
            let progress = self.cluster.progress(node)?;
            if needed.get().is_none() {
                needed.set(Some(progress.last_log < purged));
            }
            (progress.snapshot >= purged).then_some(())
        })
        .await
        .is_some()
            && needed.get() == Some(true)
    }

    /// Polls `ready` until it answers or `deadline` passes.
    async fn poll_until<T>(&self, deadline: Instant, ready: impl Fn() -> Option<T>) -> Option<T> {
        loop {
            if let Some(answer) = ready() {
                return Some(answer);
            }
            if Instant::now() >= deadline {
                return None;
            }
            time::sleep(POLL).await;
        }
    }

    /// Once `node` applied as far as the leader, asks the leader to hand it
    /// the lead; true if `node` leads within the leader wait.
    async fn hand_lead_to(&self, node: NodeId) -> bool {
        let deadline = Instant::now() + self.leader_wait;
        let mut asked = false;
        while Instant::now() < deadline {
            match self.current_leader() {
                Some(leader) if leader == node => return true,
                Some(leader) if !asked && self.caught_up(node, leader) => {
                    asked = self.cluster.transfer_leader(leader, node).await.is_ok();
                }
                _ => {}
            }
            time::sleep(POLL).await;
        }
        false
    }

    fn caught_up(&self, node: NodeId, leader: NodeId) -> bool {
        match (self.cluster.progress(node), self.cluster.progress(leader)) {
            (Some(at), Some(target)) => at.applied >= target.applied,
            _ => false,
        }
    }

    /// Makes every disk's fsync but `spared`'s take `latency`; returns the
    /// latencies to restore.
    fn slow_disks(&self, latency: Duration, spared: Option<NodeId>) -> Vec<(NodeId, Duration)> {
        self.raft_nodes
            .iter()
            .filter(|&&id| Some(id) != spared)
            .map(|&id| {
                let normal = self.cluster.fsync_latency(id);
                self.cluster.set_fsync_latency(id, latency.max(normal));
                (id, normal)
            })
            .collect()
    }

    fn restore_disks(&self, latencies: Vec<(NodeId, Duration)>) {
        for (id, latency) in latencies {
            self.cluster.set_fsync_latency(id, latency);
        }
    }

    /// The running leader with the highest term, not one we hold down.
    fn current_leader(&self) -> Option<NodeId> {
        self.cluster
            .leaders()
            .into_iter()
            .filter(|(n, _)| !self.down.contains(n))
            .max_by_key(|&(_, term)| term)
            .map(|(n, _)| n)
    }

    /// Waits up to the (scaled) [`LEADER_WAIT`] for a leader.
    async fn leader(&self) -> Option<NodeId> {
        let deadline = Instant::now() + self.leader_wait;
        self.poll_until(deadline, || self.current_leader()).await
    }

    async fn partition(&mut self, episode: u32, kind: &PartitionKind) -> Outcome {
        let leader = match kind {
            PartitionKind::IsolateLeader => match self.leader().await {
                Some(leader) => Some(leader),
                None => return skipped(format!("no leader within {:?}", self.leader_wait)),
            },
            _ => None,
        };
        let partition = match kind.resolve(&self.raft_nodes, leader) {
            Ok(partition) => partition,
            Err(reason) => return skipped(reason),
        };
        match self.cluster.partition(partition.clone()).await {
            Ok(id) => {
                self.partitions.insert(episode, id);
                Outcome::Partitioned { partition, id }
            }
            Err(e) => failed(e),
        }
    }

    async fn heal(&mut self, episode: u32) -> Outcome {
        let Some(id) = self.partitions.remove(&episode) else {
            return skipped("its partition never started".into());
        };
        match self.cluster.heal(Some(id)).await {
            Ok(()) => Outcome::Healed { id },
            Err(e) => failed(e),
        }
    }

    /// Resolves `target` to a running node we may take down.
    async fn resolve(&mut self, target: Target) -> Result<NodeId, String> {
        let majority_left = self.raft_nodes.len().saturating_sub(1) / 2;
        // A node whose disk failed is down too, once openraft stopped it.
        let out = self
            .raft_nodes
            .iter()
            .filter(|&&n| self.down.contains(&n) || self.disk_failed(n))
            .count();
        if out >= majority_left {
            return Err(format!(
                "{out} of {} nodes are down or on a failed disk already; one more would take \
                 the majority",
                self.raft_nodes.len()
            ));
        }
        // A node on a failed disk is left to the episode that failed it:
        // only a power-cycle (a kill) may replace that disk under it.
        let node = match target {
            Target::Node(id) if !self.raft_nodes.contains(&id) => {
                return Err(format!("node {id} is not in the cluster"));
            }
            Target::Node(id) if self.down.contains(&id) => {
                return Err(format!("node {id} is down"));
            }
            Target::Node(id) => id,
            Target::Leader => self
                .leader()
                .await
                .ok_or_else(|| format!("no leader within {:?}", self.leader_wait))?,
            Target::RandomFollower => {
                let leader = self.current_leader();
                let followers: Vec<NodeId> = self
                    .raft_nodes
                    .iter()
                    .copied()
                    .filter(|&n| !self.down.contains(&n) && !self.disk_failed(n))
                    .filter(|&n| Some(n) != leader)
                    .collect();
                if followers.is_empty() {
                    return Err("no running follower on a working disk".into());
                }
                followers[self.rng.gen_range(0..followers.len())]
            }
        };
        if self.disk_failed(node) {
            return Err(format!("node {node}'s disk failed"));
        }
        Ok(node)
    }

    async fn take_down(&mut self, episode: u32, target: Target, kill: bool) -> Outcome {
        match self.resolve(target).await {
            Ok(node) => self.down_node(episode, node, kill).await,
            Err(reason) => skipped(reason),
        }
    }

    /// Kills or pauses `node`, held down until the episode's end.
    async fn down_node(&mut self, episode: u32, node: NodeId, kill: bool) -> Outcome {
        let outcome = if kill {
            self.cluster
                .kill(node, None)
                .await
                .map(|lost_writes| Outcome::Killed { node, lost_writes })
        } else {
            self.cluster
                .pause(node)
                .await
                .map(|()| Outcome::Paused { node })
        };
        match outcome {
            Ok(outcome) => {
                self.downed.insert(episode, node);
                self.down.insert(node);
                outcome
            }
            Err(e) => failed(e),
        }
    }

    /// Kills every node this nemesis does not already hold down. The one
    /// fault allowed to take the majority: a power loss is exactly that.
    async fn crash_all(&mut self, episode: u32, policy: Option<CrashPolicy>) -> Outcome {
        let mut nodes = Vec::new();
        let mut lost_writes = 0;
        let up: Vec<NodeId> = self
            .raft_nodes
            .iter()
            .copied()
            .filter(|n| !self.down.contains(n))
            .collect();
        for node in up {
            match self.cluster.kill(node, policy).await {
                Ok(lost) => {
                    lost_writes += lost;
                    nodes.push(node);
                    self.down.insert(node);
                }
                Err(e) => {
                    self.crashed.insert(episode, nodes);
                    return failed(e);
                }
            }
        }
        self.crashed.insert(episode, nodes.clone());
        Outcome::CrashedAll { nodes, lost_writes }
    }

    /// [`Fault::CrashAllInElection`]: slows every disk, has the leader
    /// hand its lead to the follower with the highest id and cuts the power
    /// a moment after that follower leads, while the followers' slow syncs
    /// still hold whatever their store did not sync before voting. A
    /// store that syncs its vote before granting it has synced it by then.
    async fn crash_all_in_election(&mut self, episode: u32) -> Outcome {
        let Some(leader) = self.leader().await else {
            return skipped(format!("no leader within {:?}", self.leader_wait));
        };
        let Some(candidate) = self
            .raft_nodes
            .iter()
            .copied()
            .filter(|&n| n != leader && !self.down.contains(&n) && self.cluster.is_running(n))
            .max()
        else {
            return skipped("no running follower".into());
        };
        let term_before = self
            .cluster
            .leaders()
            .iter()
            .map(|&(_, t)| t)
            .max()
            .unwrap_or(0);
        let normal = self.slow_disks(ELECTION_WINDOW_FSYNC, None);
        // The writes in flight now synced at the old speed.
        time::sleep(2 * DURABILITY_WINDOW_FSYNC).await;
        if let Err(e) = self.cluster.transfer_leader(leader, candidate).await {
            self.restore_disks(normal);
            return skipped(format!(
                "leader {leader} would not hand over to {candidate}: {e}"
            ));
        }
        let deadline = Instant::now() + self.leader_wait;
        let elected = self
            .poll_until(deadline, || {
                self.cluster
                    .leaders()
                    .into_iter()
                    .any(|(n, term)| n == candidate && term > term_before)
                    .then_some(())
            })
            .await;
        // Seen by the leader watch (it samples every 10 ms) well before
        // the followers' first slowed sync ends.
        time::sleep(ELECTION_WINDOW_FSYNC / 4).await;
        let outcome = self
            .crash_all(episode, Some(CrashPolicy::LoseAllUnsynced))
            .await;
        self.restore_disks(normal);
        // The old leader's committed vote would have it lead its old term
        // again at once: with both held back, the others elect a leader of
        // their own, in the candidate's term if they forgot their votes.
        if elected.is_some() {
            self.stragglers.insert(episode, vec![leader, candidate]);
        }
        outcome
    }

    async fn restart_all(&mut self, episode: u32) -> Outcome {
        let Some(mut nodes) = self.crashed.remove(&episode) else {
            return skipped("no power loss in this episode".into());
        };
        // Power comes back in any order: the node up first tends to win
        // the next election, and it must not always be the same one.
        super::shuffle(&mut self.rng, &mut nodes);
        let stragglers = self.stragglers.remove(&episode).unwrap_or_default();
        nodes.retain(|n| !stragglers.contains(n));
        let first_straggler = nodes.len();
        nodes.extend(stragglers.iter().copied());
        for (position, &node) in nodes.iter().enumerate() {
            if position == first_straggler {
                // Up only after the others elected a leader without them
                // (or the leader wait ran out).
                let _ = self.leader().await;
            }
            self.down.remove(&node);
            if let Err(e) = self.cluster.restart(node).await {
                return failed(e);
            }
        }
        Outcome::RestartedAll {
            nodes,
            held_back: stragglers,
        }
    }

    async fn bring_up(&mut self, episode: u32, restart: bool) -> Outcome {
        let Some(node) = self.downed.remove(&episode) else {
            return skipped("nothing was taken down in this episode".into());
        };
        self.down.remove(&node);
        let result = if restart {
            self.cluster.restart(node).await
        } else {
            self.cluster.resume(node).await
        };
        match result {
            Ok(()) if restart => Outcome::Restarted { node },
            Ok(()) => Outcome::Resumed { node },
            Err(e) => failed(e),
        }
    }

    /// Takes `count` running voters out of the membership, `first` among
    /// them, if the voters left can still commit.
    async fn remove_voters(&mut self, episode: u32, first: Target, count: usize) -> Outcome {
        let Some(leader) = self.leader().await else {
            return skipped(format!("no leader within {:?}", self.leader_wait));
        };
        let initial = self.cluster.initial_voters();
        if self.cluster.voter_configs(leader) != Some(vec![initial.clone()]) {
            return skipped("the membership is not the initial one".into());
        }
        let mut others: Vec<NodeId> = initial
            .iter()
            .copied()
            .filter(|n| *n != leader && !self.down.contains(n))
            .collect();
        super::shuffle(&mut self.rng, &mut others);
        let first = match first {
            Target::Leader => leader,
            Target::Node(id) if initial.contains(&id) && !self.down.contains(&id) => id,
            Target::Node(id) => return skipped(format!("node {id} is not a running voter")),
            Target::RandomFollower => match others.first() {
                Some(&node) => node,
                None => return skipped("no running follower".into()),
            },
        };
        let mut removed = vec![first];
        let rest = others.iter().copied().filter(|&n| n != first);
        removed.extend(rest.take(count.saturating_sub(1)));
        let voters: BTreeSet<NodeId> = initial
            .difference(&removed.iter().copied().collect())
            .copied()
            .collect();
        let running = voters.iter().filter(|n| !self.down.contains(n)).count();
        if 2 * running <= voters.len() {
            return skipped(format!(
                "voters {voters:?} could not commit with {:?} down",
                self.down
            ));
        }
        // Even a call that failed or timed out may take effect later: the
        // restore undoes it either way.
        self.removed.insert(episode, removed.clone());
        let change = self.cluster.change_membership(leader, voters.clone());
        match time::timeout(MEMBERSHIP_WAITS * self.leader_wait, change).await {
            Ok(Ok(())) => Outcome::VotersRemoved {
                leader_removed: removed.contains(&leader),
                removed,
                voters: voters.into_iter().collect(),
            },
            // Other faults may leave no leader to commit it: the chaos, not
            // the harness, stopped it.
            Ok(Err(e)) => skipped(format!("the membership change did not commit: {e}")),
            Err(_) => skipped(format!(
                "the membership change did not commit within {:?}",
                MEMBERSHIP_WAITS * self.leader_wait
            )),
        }
    }

    async fn restore_voters(&mut self, episode: u32) -> Outcome {
        if self.removed.remove(&episode).is_none() {
            return skipped("no voter was removed in this episode".into());
        }
        match restore_membership(self.cluster, MEMBERSHIP_WAITS * self.leader_wait).await {
            Ok(added) => Outcome::VotersRestored { added },
            // As above; `stop` restores the voters once the faults are gone.
            Err(e) => skipped(format!("the voters were not restored (stop will): {e}")),
        }
    }

    /// Delays the links between the client node and the Raft nodes, both
    /// ways, so a round trip takes `round_trip_permille` of the client's
    /// attempt timeout.
    async fn delay_client(&mut self, episode: u32, round_trip_permille: u32) -> Outcome {
        let timeout_ms =
            u64::try_from(self.cluster.client_attempt_timeout().as_millis()).unwrap_or(u64::MAX);
        let one_way_ms = timeout_ms.saturating_mul(u64::from(round_trip_permille)) / 2_000;
        let jitter_ms = timeout_ms / 20;
        let impairment = match LinkImpairment::builder()
            .latency_ms(one_way_ms)
            .jitter_ms(jitter_ms)
            .build()
        {
            Ok(impairment) => impairment,
            Err(e) => return skipped(format!("no such delay: {e}")),
        };
        let clients = self.client_nodes();
        let mut links = Vec::new();
        for &client in &clients {
            for &node in &self.raft_nodes {
                links.extend([(client, node), (node, client)]);
            }
        }
        match self.impair(episode, links, impairment).await {
            Ok(links) => Outcome::ClientDelayed {
                links,
                one_way_ms,
                jitter_ms,
            },
            Err(outcome) => outcome,
        }
    }

    async fn reset_client_connections(&mut self, resets: u32, every: Duration) -> Outcome {
        let clients = self.client_nodes();
        let mut streams = 0;
        for reset in 0..resets {
            if reset > 0 {
                time::sleep(every).await;
            }
            for &client in &clients {
                for &node in &self.raft_nodes {
                    match self.cluster.reset_connections(client, node) {
                        Ok(count) => streams += count,
                        Err(e) => {
                            return skipped(format!("the client's streams cannot be reset: {e}"));
                        }
                    }
                }
            }
        }
        Outcome::ClientConnectionsReset { resets, streams }
    }

    /// The backend nodes that are not Raft nodes: where the clients run.
    fn client_nodes(&self) -> Vec<madsim_net::NodeId> {
        self.cluster
            .backend_nodes()
            .into_iter()
            .filter(|n| !self.raft_nodes.contains(n))
            .collect()
    }

    async fn clear_delay(&mut self, episode: u32) -> Outcome {
        match self.end_impairment(episode).await {
            Some(links) => Outcome::DelayCleared { links },
            None => skipped("this episode's delay is not in force".into()),
        }
    }

    /// The node `target` names, up or down: for faults that leave it
    /// running (a slow disk, a drifting clock) and so need no majority
    /// check.
    async fn pick(&mut self, target: Target) -> Result<NodeId, String> {
        match target {
            Target::Leader => self
                .leader()
                .await
                .ok_or_else(|| format!("no leader within {:?}", self.leader_wait)),
            Target::Node(id) if self.raft_nodes.contains(&id) => Ok(id),
            Target::Node(id) => Err(format!("node {id} is not in the cluster")),
            Target::RandomFollower => {
                let leader = self.current_leader();
                let mut others: Vec<NodeId> = self
                    .raft_nodes
                    .iter()
                    .copied()
                    .filter(|n| Some(*n) != leader)
                    .collect();
                super::shuffle(&mut self.rng, &mut others);
                others.first().copied().ok_or_else(|| "no follower".into())
            }
        }
    }

    async fn slow_fsync(&mut self, episode: u32, target: Target, latency_ms: u64) -> Outcome {
        let node = match self.pick(target).await {
            Ok(node) => node,
            Err(reason) => return skipped(reason),
        };
        if self.slowed.values().any(|&(slow, _)| slow == node) {
            return skipped(format!("node {node}'s disk is slowed already"));
        }
        let normal = self.cluster.fsync_latency(node);
        let latency = Duration::from_millis(latency_ms).max(normal);
        self.cluster.set_fsync_latency(node, latency);
        self.slowed.insert(episode, (node, normal));
        Outcome::FsyncSlowed { node, latency_ms }
    }

    fn restore_fsync(&mut self, episode: u32) -> Outcome {
        match self.slowed.remove(&episode) {
            Some((node, normal)) => {
                self.cluster.set_fsync_latency(node, normal);
                Outcome::FsyncRestored { node }
            }
            None => skipped("no disk was slowed in this episode".into()),
        }
    }

    async fn drift_clock(
        &mut self,
        episode: u32,
        target: Target,
        rate_permille: u32,
        isolate: bool,
    ) -> Outcome {
        let node = match self.pick(target).await {
            Ok(node) => node,
            Err(reason) => return skipped(reason),
        };
        if self.drifted.values().any(|&(drifted, ..)| drifted == node) {
            return skipped(format!("node {node}'s clock drifts already"));
        }
        let reads_before = self.cluster.clock_state(node).drifted_reads;
        if let Err(e) = self.cluster.set_clock_rate(node, rate_permille) {
            return skipped(format!("the clock of node {node} cannot drift: {e}"));
        }
        let isolated = if isolate {
            // The node alone on one side, as the isolated-leader partition.
            let partition = match PartitionKind::IsolateLeader.resolve(&self.raft_nodes, Some(node))
            {
                Ok(partition) => partition,
                Err(reason) => {
                    self.reset_clock(node);
                    return skipped(reason);
                }
            };
            match self.cluster.partition(partition).await {
                Ok(id) => Some(id),
                Err(e) => {
                    self.reset_clock(node);
                    return failed(e);
                }
            }
        } else {
            None
        };
        self.drifted.insert(episode, (node, isolated, reads_before));
        Outcome::ClockDrifted {
            node,
            rate_permille,
            isolated,
        }
    }

    async fn restore_clock(&mut self, episode: u32) -> Outcome {
        let Some((node, isolated, reads_before)) = self.drifted.remove(&episode) else {
            return skipped("no clock drifted in this episode".into());
        };
        self.reset_clock(node);
        let state = self.cluster.clock_state(node);
        if let Some(id) = isolated
            && let Err(e) = self.cluster.heal(Some(id)).await
        {
            return failed(e);
        }
        Outcome::ClockRestored {
            node,
            skew_ms: state.skew_ns / 1_000_000,
            drifted_reads: state.drifted_reads.saturating_sub(reads_before),
        }
    }

    /// Node `node`'s clock keeps true time again. The rate is in bounds
    /// and the node exists, so the backend that drifted it cannot refuse.
    fn reset_clock(&self, node: NodeId) {
        let reset = self
            .cluster
            .set_clock_rate(node, madsim_net::clock::TRUE_RATE_PERMILLE);
        debug_assert!(reset.is_ok(), "{reset:?}");
    }

    async fn restore_all_clocks(&mut self) {
        let episodes: Vec<u32> = self.drifted.keys().copied().collect();
        for episode in episodes {
            let outcome = self.restore_clock(episode).await;
            self.cluster.injector().note(format!(
                "nemesis end: episode {episode}'s drifted clock: {outcome}"
            ));
        }
    }

    fn rpc_faults(&mut self, episode: u32, faults: RpcFaults) -> Outcome {
        if let Some(other) = self.rpc_faulted {
            return skipped(format!("the RPC faults of episode {other} are in force"));
        }
        match self.cluster.injector().set_rpc_faults(None, faults) {
            Ok(()) => {
                self.rpc_faulted = Some(episode);
                Outcome::RpcFaulted
            }
            Err(e) => failed(ClusterError::Net(e)),
        }
    }

    fn clear_rpc_faults(&mut self, episode: u32) -> Outcome {
        if self.rpc_faulted != Some(episode) {
            return skipped("this episode's RPC faults are not in force".into());
        }
        self.rpc_faulted = None;
        match self
            .cluster
            .injector()
            .set_rpc_faults(None, RpcFaults::default())
        {
            Ok(()) => Outcome::RpcFaultsCleared,
            Err(e) => failed(ClusterError::Net(e)),
        }
    }

    fn disk_failed(&self, node: NodeId) -> bool {
        self.failed_disks.values().flatten().any(|&n| n == node)
    }

    async fn fail_disk(&mut self, episode: u32, target: Target) -> Outcome {
        let node = match self.resolve(target).await {
            Ok(node) => node,
            Err(reason) => return skipped(reason),
        };
        // `resolve` refuses a node whose disk failed already.
        self.cluster.fail_disk(node);
        self.failed_disks.insert(episode, vec![node]);
        Outcome::DisksFailed { nodes: vec![node] }
    }

    /// Fails the disk of every node not held down: the one disk fault
    /// allowed to take the majority, as a power loss is.
    fn fail_all_disks(&mut self, episode: u32) -> Outcome {
        let nodes: Vec<NodeId> = self
            .raft_nodes
            .iter()
            .copied()
            .filter(|&n| !self.down.contains(&n) && !self.disk_failed(n))
            .collect();
        if nodes.is_empty() {
            return skipped("no running node on a working disk".into());
        }
        for &node in &nodes {
            self.cluster.fail_disk(node);
        }
        self.failed_disks.insert(episode, nodes.clone());
        Outcome::DisksFailed { nodes }
    }

    /// Power-cycles the nodes whose disks `episode` failed: each loses what
    /// its disk did not write, gets a repaired disk and restarts, in a
    /// random order. A node another episode holds down gets its disk
    /// repaired and is left to that episode's restart.
    async fn recover_disks(&mut self, episode: u32) -> Outcome {
        let Some(mut nodes) = self.failed_disks.remove(&episode) else {
            return skipped("no disk failed in this episode".into());
        };
        super::shuffle(&mut self.rng, &mut nodes);
        let mut lost_writes = 0;
        for &node in &nodes {
            let running = !self.down.contains(&node);
            if running {
                match self
                    .cluster
                    .kill(node, Some(CrashPolicy::LoseAllUnsynced))
                    .await
                {
                    Ok(lost) => lost_writes += lost,
                    Err(e) => return failed(e),
                }
            }
            self.cluster.repair_disk(node);
            if running && let Err(e) = self.cluster.restart(node).await {
                return failed(e);
            }
        }
        Outcome::DisksRecovered { nodes, lost_writes }
    }

    /// A schedule cut short leaves no disk failed.
    async fn recover_all_disks(&mut self) {
        let episodes: Vec<u32> = self.failed_disks.keys().copied().collect();
        for episode in episodes {
            let outcome = self.recover_disks(episode).await;
            self.cluster.injector().note(format!(
                "nemesis end: episode {episode}'s failed disks: {outcome}"
            ));
        }
    }

    fn restore_all_fsyncs(&mut self) {
        for (node, normal) in std::mem::take(&mut self.slowed).into_values() {
            self.cluster.set_fsync_latency(node, normal);
        }
    }

    /// Every directed link between distinct backend nodes (the client too).
    fn all_links(&self) -> Vec<Link> {
        let nodes = self.cluster.backend_nodes();
        let mut links = Vec::with_capacity(nodes.len() * nodes.len());
        for &from in &nodes {
            for &to in nodes.iter().filter(|&&to| to != from) {
                links.push((from, to));
            }
        }
        links
    }

    async fn start_burst(&mut self, episode: u32, impairment: LinkImpairment) -> Outcome {
        let links = self.all_links();
        match self.impair(episode, links, impairment).await {
            Ok(links) => Outcome::Impaired { links },
            Err(outcome) => outcome,
        }
    }

    async fn end_burst(&mut self, episode: u32) -> Outcome {
        match self.end_impairment(episode).await {
            Some(links) => Outcome::ImpairmentCleared { links },
            None => skipped("this episode's burst is not in force".into()),
        }
    }

    /// Impairs `links` for `episode`, all or nothing; returns how many.
    /// The outcome to report if it did not.
    async fn impair(
        &mut self,
        episode: u32,
        links: Vec<Link>,
        impairment: LinkImpairment,
    ) -> Result<usize, Outcome> {
        if let Some((other, _)) = &self.impaired {
            return Err(skipped(format!(
                "the links of episode {other} are impaired"
            )));
        }
        for (done, &(from, to)) in links.iter().enumerate() {
            if let Err(e) = self.cluster.set_link(from, to, impairment).await {
                self.clear_links(&links[..done]).await;
                return Err(failed(e));
            }
        }
        let count = links.len();
        self.impaired = Some((episode, links));
        Ok(count)
    }

    /// Clears the links `episode` impaired, if they are in force; returns
    /// how many cleared.
    async fn end_impairment(&mut self, episode: u32) -> Option<usize> {
        match self.impaired.take() {
            Some((current, links)) if current == episode => Some(self.clear_links(&links).await),
            other => {
                self.impaired = other;
                None
            }
        }
    }

    /// Clears `links`; returns how many cleared (stop() clears the rest).
    async fn clear_links(&self, links: &[Link]) -> usize {
        let mut cleared = 0;
        for &(from, to) in links {
            if self.cluster.clear_link(from, to).await.is_ok() {
                cleared += 1;
            }
        }
        cleared
    }
}

/// `held_back` as artifacts wrote it before a power loss could hold back
/// two nodes (one node id), or as now (a list).
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<NodeId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(NodeId),
        Many(Vec<NodeId>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(node) => vec![node],
        OneOrMany::Many(nodes) => nodes,
    })
}

fn skipped(reason: String) -> Outcome {
    Outcome::Skipped { reason }
}

fn failed(error: ClusterError) -> Outcome {
    Outcome::Failed {
        error: error.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Stopping

/// What [`stop`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub time_ns: u64,
    /// Impaired links cleared (as the backend's injector knew them).
    pub links_cleared: usize,
    /// Nodes found down and restarted.
    pub restarted: Vec<NodeId>,
    /// Running nodes a resume was sent to (a no-op unless paused).
    pub resumed: Vec<NodeId>,
    /// Initial voters added back to the membership.
    pub voters_added: Vec<NodeId>,
}

/// Undoes every fault: heals all partitions, clears every impaired link,
/// resumes every running node, restarts every node that is down. Tries all
/// of it; the first failure is returned after the rest was attempted (each
/// failure is also noted in the event log).
pub async fn stop<K: ClusterControl>(cluster: &K) -> Result<Recovery, ClusterError> {
    let injector = cluster.injector();
    let mut first_error: Option<ClusterError> = None;
    let mut keep = |result: Result<(), ClusterError>, what: String| {
        if let Err(e) = result {
            injector.note(format!("nemesis stop: {what} FAILED: {e}"));
            first_error.get_or_insert(e);
        }
    };
    keep(cluster.heal(None).await, "heal all".into());
    keep(
        injector
            .set_rpc_faults(None, RpcFaults::default())
            .map_err(ClusterError::Net),
        "clear RPC faults".into(),
    );
    let mut recovery = Recovery::default();
    for (from, to, _) in injector.impaired_links() {
        let result = cluster.clear_link(from, to).await;
        recovery.links_cleared += usize::from(result.is_ok());
        keep(result, format!("clear link {from} -> {to}"));
    }
    for id in cluster.raft_nodes() {
        if cluster.is_running(id) {
            keep(cluster.resume(id).await, format!("resume node {id}"));
            recovery.resumed.push(id);
        } else {
            keep(cluster.restart(id).await, format!("restart node {id}"));
            recovery.restarted.push(id);
        }
    }
    if !membership_is_initial(cluster) {
        let within = RESTORE_WAITS * cluster.time_scale().duration(LEADER_WAIT);
        let restored = restore_membership(cluster, within).await;
        keep(
            restored.map(|added| recovery.voters_added = added),
            "restore the initial voters".into(),
        );
    }
    recovery.time_ns = injector.now_ns();
    injector.note(format!(
        "nemesis stop: healed all, cleared {} links, restarted {:?}, resumed {:?}, voters added back {:?}",
        recovery.links_cleared, recovery.restarted, recovery.resumed, recovery.voters_added
    ));
    match first_error {
        Some(e) => Err(e),
        None => Ok(recovery),
    }
}

/// Whether every running node's latest membership has exactly the initial
/// voters.
fn membership_is_initial<K: ClusterControl>(cluster: &K) -> bool {
    let initial = vec![cluster.initial_voters()];
    cluster
        .raft_nodes()
        .into_iter()
        .filter_map(|id| cluster.voter_configs(id))
        .all(|configs| configs == initial)
}

/// Brings the voters back to the initial ones through the leader of the
/// moment: each initial voter it lacks is added as a learner (and caught
/// up), then the initial voters are made the voters. Retries (a change in
/// progress, a leader lost) until `within` runs out; returns the nodes
/// added back.
async fn restore_membership<K: ClusterControl>(
    cluster: &K,
    within: Duration,
) -> Result<Vec<NodeId>, ClusterError> {
    let deadline = Instant::now() + within;
    let initial = cluster.initial_voters();
    let mut last = ClusterError::TimedOut(format!("a leader to restore the voters {initial:?}"));
    while Instant::now() < deadline {
        let attempt = restore_once(cluster, &initial);
        match time::timeout(deadline.saturating_duration_since(Instant::now()), attempt).await {
            Ok(Ok(Some(added))) => return Ok(added),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => last = e,
            Err(_) => break,
        }
        time::sleep(RESTORE_RETRY).await;
    }
    Err(last)
}

/// Pause between attempts of [`restore_membership`].
const RESTORE_RETRY: Duration = Duration::from_millis(50);

/// One attempt of [`restore_membership`]; `Ok(None)`: no leader now.
async fn restore_once<K: ClusterControl>(
    cluster: &K,
    initial: &BTreeSet<NodeId>,
) -> Result<Option<Vec<NodeId>>, ClusterError> {
    let leader = cluster
        .leaders()
        .into_iter()
        .max_by_key(|&(_, term)| term)
        .map(|(n, _)| n);
    let Some(leader) = leader else {
        return Ok(None);
    };
    let Some(configs) = cluster.voter_configs(leader) else {
        return Ok(None);
    };
    let voters: BTreeSet<NodeId> = configs.iter().flatten().copied().collect();
    // A leader that committed its own removal still reports `Leader` until
    // it steps down (`removed_leader_step_down`), but openraft 0.10 may not
    // be asked for a membership change then: it debug-asserts
    // ("Only leader is allowed to call update_effective_membership()").
    // Wait for its successor instead.
    if !voters.contains(&leader) {
        return Ok(None);
    }
    let missing: Vec<NodeId> = initial.difference(&voters).copied().collect();
    for &id in &missing {
        cluster.add_learner(leader, id).await?;
    }
    if configs != [initial.clone()] {
        cluster.change_membership(leader, initial.clone()).await?;
    }
    Ok(Some(missing))
}
