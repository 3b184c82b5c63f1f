//! The fault vocabulary: what a step of a schedule does, and to whom.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use madsim_net::{LinkImpairment, Partition, RpcFaults};
use serde::{Deserialize, Serialize};

use super::NodeId;

/// A node a fault aims at, resolved when the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The node that is leader (highest term) when the step runs.
    Leader,
    Node(NodeId),
    /// A running node other than the leader, drawn when the step runs.
    RandomFollower,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => f.write_str("the leader"),
            Target::Node(id) => write!(f, "node {id}"),
            Target::RandomFollower => f.write_str("a random follower"),
        }
    }
}

/// Which links a partition fault cuts. Node sets are drawn when the
/// schedule is generated, so the schedule says exactly what happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PartitionKind {
    /// `minority` and the other nodes cannot hear each other.
    MajorityMinority { minority: Vec<NodeId> },
    /// Node `ring[i]` hears only its ring neighbours within the smallest
    /// radius that makes a majority: every node sees a majority, no two
    /// nodes see the same one.
    MajoritiesRing { ring: Vec<NodeId> },
    /// `side_a` and `side_b` cannot hear each other; `bridge` hears both.
    Bridge {
        side_a: Vec<NodeId>,
        side_b: Vec<NodeId>,
        bridge: NodeId,
    },
    /// Packets from `from` no longer reach `to`.
    OneWay { from: NodeId, to: NodeId },
    /// The leader (when the step runs) alone on one side.
    IsolateLeader,
}

impl fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionKind::MajorityMinority { minority } => {
                write!(f, "majority/minority, minority {minority:?}")
            }
            PartitionKind::MajoritiesRing { ring } => write!(f, "majorities ring {ring:?}"),
            PartitionKind::Bridge {
                side_a,
                side_b,
                bridge,
            } => write!(f, "bridge {side_a:?} | {side_b:?} via node {bridge}"),
            PartitionKind::OneWay { from, to } => write!(f, "one-way {from} -/-> {to}"),
            PartitionKind::IsolateLeader => f.write_str("isolate the leader"),
        }
    }
}

/// Ring radius at which each of `n` nodes hears a majority (itself and
/// `radius` neighbours on each side).
pub(super) fn ring_radius(n: usize) -> usize {
    (n / 2).div_ceil(2)
}

impl PartitionKind {
    /// The concrete partition among `nodes` (`leader`: the current leader,
    /// needed by `IsolateLeader` only).
    pub(super) fn resolve(
        &self,
        nodes: &[NodeId],
        leader: Option<NodeId>,
    ) -> Result<Partition, String> {
        let others = |side: &[NodeId]| -> Vec<NodeId> {
            nodes
                .iter()
                .copied()
                .filter(|n| !side.contains(n))
                .collect()
        };
        let partition = match self {
            PartitionKind::MajorityMinority { minority } => Partition::Split {
                side_a: minority.clone(),
                side_b: others(minority),
            },
            PartitionKind::MajoritiesRing { ring } => ring_grudges(ring),
            PartitionKind::Bridge { side_a, side_b, .. } => Partition::Split {
                side_a: side_a.clone(),
                side_b: side_b.clone(),
            },
            PartitionKind::OneWay { from, to } => Partition::OneWay {
                from: *from,
                to: *to,
            },
            PartitionKind::IsolateLeader => {
                let leader = leader.ok_or("no leader to isolate")?;
                Partition::Split {
                    side_a: vec![leader],
                    side_b: others(&[leader]),
                }
            }
        };
        // Checks the shape: no self-cut, at least one link.
        partition.directed_links().map_err(|e| e.to_string())?;
        Ok(partition)
    }
}

pub(super) fn ring_grudges(ring: &[NodeId]) -> Partition {
    let n = ring.len();
    let radius = ring_radius(n);
    let mut grudges = BTreeMap::new();
    for (i, &deaf) in ring.iter().enumerate() {
        let unheard: BTreeSet<NodeId> = ring
            .iter()
            .enumerate()
            .filter(|&(j, _)| {
                let d = i.abs_diff(j);
                d.min(n - d) > radius
            })
            .map(|(_, &node)| node)
            .collect();
        grudges.insert(deaf, unheard);
    }
    Partition::Grudges(grudges)
}

/// What a node killed by [`Fault::KillToRejoin`] comes back to: the moments
/// where what it recovered from its disk is put to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejoin {
    /// Once its log caught up it is handed the lead, so its recovered state
    /// machine serves the clients.
    TakeLead,
    /// While it is down the leader snapshots and purges its log, so the
    /// node can only catch up by installing a snapshot.
    BehindSnapshot,
    /// Just before it is killed the node snapshots and purges its own log,
    /// so it restarts from its snapshot: what a snapshot holds (data,
    /// applied position, membership) must be all the state machine needs.
    FromOwnSnapshot,
}

impl fmt::Display for Rejoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejoin::TakeLead => "and take the lead",
            Rejoin::BehindSnapshot => "behind a purged log (catch up by snapshot)",
            Rejoin::FromOwnSnapshot => "from its own snapshot (its log purged before the kill)",
        })
    }
}

/// One fault, or the undoing of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Partition(PartitionKind),
    /// Heals the partition of the same episode.
    Heal,
    /// Kills a node; its disk loses unsynced writes ([`Cluster::kill`]).
    Kill(Target),
    /// Kills a node right after the next write a client sees acknowledged
    /// (or after the leader wait, if none comes): the moment a write
    /// acknowledged before it was durable is lost.
    KillAfterAck(Target),
    /// Kills a node that comes back into a situation aimed at its
    /// recovery (see [`Rejoin`]).
    KillToRejoin(Target, Rejoin),
    /// Restarts the node the same episode killed.
    Restart(Target),
    /// Restarts the node the same episode's `KillToRejoin` killed, into
    /// the situation it names.
    Rejoin(Target, Rejoin),
    Pause(Target),
    /// Resumes the node the same episode paused.
    Resume(Target),
    /// Power loss: kills every running node at once (each disk loses its
    /// unsynced writes).
    CrashAll,
    /// A power loss right after the next acknowledged write (see
    /// [`Fault::KillAfterAck`]); at the restart the leader of the moment
    /// powers on last, once the others have elected a leader.
    CrashAllAfterAck,
    /// A power loss in the middle of an election: every disk slowed, the
    /// leader hands its lead to the follower with the highest id, and the
    /// moment that follower leads (its voters' votes on their way to disk,
    /// or, in a store that does not sync its vote, only in the page cache)
    /// every node loses power. At the restart the new leader powers on
    /// last: a voter that forgot its vote elects another in the same term.
    CrashAllInElection,
    /// Restarts every node the same episode's `CrashAll` killed.
    RestartAll,
    /// Takes `count` voters out of the membership (openraft's
    /// `change_membership`, not kept as learners), `first` among them: the
    /// leader must hand over once the change commits; a follower is left
    /// behind with a stale log and a membership it no longer belongs to.
    RemoveVoters {
        first: Target,
        count: usize,
    },
    /// Brings back the voters the same episode removed: each is added as a
    /// learner and caught up, then all are promoted (the membership the
    /// cluster started with).
    RestoreVoters,
    /// Slows the links between the client node and every Raft node, both
    /// ways, so that a request's round trip takes about
    /// `round_trip_permille` / 1000 of the app's client attempt timeout
    /// (with jitter): answers arrive just before or just after the client
    /// gave up, where retries and late answers go wrong.
    DelayPastTimeout {
        round_trip_permille: u32,
    },
    /// Clears the delay of the same episode.
    ClearDelay,
    /// Resets every stream between the client node and the Raft nodes
    /// `resets` times, `every_ms` apart (a load balancer or NAT that lost
    /// its connection state): requests already delivered are applied, their
    /// answers lost, so writes in flight end of unknown outcome while the
    /// cluster stays healthy, and a client's retry meets a working leader.
    ResetClientConnections {
        resets: u32,
        every_ms: u64,
    },
    /// Makes node `target`'s fsyncs take `latency_ms` (a slow or busy
    /// disk): a write stays unsynced that much longer.
    SlowFsync {
        target: Target,
        latency_ms: u64,
    },
    /// Gives the node the same episode slowed its normal fsync back.
    RestoreFsync,
    /// The disk of `target` fails ([`crate::store::Disk::fail`]): every
    /// fsync from now on is an IO error and nothing more reaches the
    /// platter. openraft must stop that node at its first failed sync; a
    /// store that ignores or retries the error acknowledges writes the
    /// next crash loses.
    FailDisk(Target),
    /// Every running node's disk fails at once (one storage array, one
    /// kernel bug): writes acknowledged by a store that ignores the error
    /// are then lost on a majority.
    FailAllDisks,
    /// Power-cycles the nodes whose disks the same episode failed, with
    /// their disks replaced: each comes back with what it synced before
    /// the failure.
    RecoverDisks,
    /// Node `target`'s clock runs at `rate_permille` / 1000 of true time
    /// (OpenRaft's timers and leases read it). With `isolate`, the node is
    /// also cut off from the other Raft nodes while its clients still
    /// reach it: a leader whose clock runs slow believes its lease longer
    /// than its followers wait before electing another.
    DriftClock {
        target: Target,
        rate_permille: u32,
        isolate: bool,
    },
    /// The clock the same episode drifted keeps true time again (from the
    /// skew it built up: a monotonic clock does not jump back), and its
    /// isolation heals.
    RestoreClock,
    /// BUGGIFY for the Raft RPCs: every RPC the harness's network
    /// ([`crate::network`]) sends may be dropped, duplicated or held back,
    /// as the faults say, until the episode ends.
    RpcFaults(RpcFaults),
    /// Clears the RPC faults of the same episode.
    ClearRpcFaults,
    /// Impairs every directed link between the backend's nodes for
    /// `duration_ms`, then clears them.
    ImpairBurst {
        impairment: LinkImpairment,
        duration_ms: u64,
    },
}

impl Fault {
    /// The fault that undoes this one in the same episode, if one is needed
    /// (a burst ends by itself).
    pub fn undo(&self) -> Option<Fault> {
        match self {
            Fault::Partition(_) => Some(Fault::Heal),
            Fault::Kill(target) | Fault::KillAfterAck(target) => Some(Fault::Restart(*target)),
            Fault::KillToRejoin(target, rejoin) => Some(Fault::Rejoin(*target, *rejoin)),
            Fault::Pause(target) => Some(Fault::Resume(*target)),
            Fault::CrashAll | Fault::CrashAllAfterAck | Fault::CrashAllInElection => {
                Some(Fault::RestartAll)
            }
            Fault::RemoveVoters { .. } => Some(Fault::RestoreVoters),
            Fault::DelayPastTimeout { .. } => Some(Fault::ClearDelay),
            Fault::SlowFsync { .. } => Some(Fault::RestoreFsync),
            Fault::FailDisk(_) | Fault::FailAllDisks => Some(Fault::RecoverDisks),
            Fault::DriftClock { .. } => Some(Fault::RestoreClock),
            Fault::RpcFaults(_) => Some(Fault::ClearRpcFaults),
            _ => None,
        }
    }

    /// True for the steps that undo an earlier one.
    pub fn is_undo(&self) -> bool {
        matches!(
            self,
            Fault::Heal
                | Fault::Restart(_)
                | Fault::Rejoin(..)
                | Fault::Resume(_)
                | Fault::RestartAll
                | Fault::RestoreVoters
                | Fault::ClearDelay
                | Fault::RestoreFsync
                | Fault::RecoverDisks
                | Fault::RestoreClock
                | Fault::ClearRpcFaults
        )
    }

    pub(super) fn nodes_named(&self) -> Vec<NodeId> {
        match self {
            Fault::Partition(PartitionKind::MajorityMinority { minority }) => minority.clone(),
            Fault::Partition(PartitionKind::MajoritiesRing { ring }) => ring.clone(),
            Fault::Partition(PartitionKind::Bridge {
                side_a,
                side_b,
                bridge,
            }) => side_a
                .iter()
                .chain(side_b)
                .chain(std::iter::once(bridge))
                .copied()
                .collect(),
            Fault::Partition(PartitionKind::OneWay { from, to }) => vec![*from, *to],
            Fault::Kill(Target::Node(n))
            | Fault::KillAfterAck(Target::Node(n))
            | Fault::KillToRejoin(Target::Node(n), _)
            | Fault::Restart(Target::Node(n))
            | Fault::Rejoin(Target::Node(n), _)
            | Fault::Pause(Target::Node(n))
            | Fault::Resume(Target::Node(n))
            | Fault::RemoveVoters {
                first: Target::Node(n),
                ..
            }
            | Fault::SlowFsync {
                target: Target::Node(n),
                ..
            }
            | Fault::FailDisk(Target::Node(n))
            | Fault::DriftClock {
                target: Target::Node(n),
                ..
            } => vec![*n],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition(kind) => write!(f, "partition ({kind})"),
            Fault::Heal => f.write_str("heal"),
            Fault::Kill(t) => write!(f, "kill {t}"),
            Fault::KillAfterAck(t) => write!(f, "kill {t} right after a write is acked"),
            Fault::KillToRejoin(t, rejoin) => write!(f, "kill {t}, to rejoin {rejoin}"),
            Fault::Restart(t) => write!(f, "restart ({t} killed earlier)"),
            Fault::Rejoin(t, rejoin) => write!(f, "restart ({t} killed earlier) {rejoin}"),
            Fault::Pause(t) => write!(f, "pause {t}"),
            Fault::Resume(t) => write!(f, "resume ({t} paused earlier)"),
            Fault::CrashAll => f.write_str("crash every node (power loss)"),
            Fault::CrashAllAfterAck => f.write_str(
                "crash every node (power loss) right after a write is acked; \
                     the leader powers on last",
            ),
            Fault::CrashAllInElection => f.write_str(
                "crash every node (power loss) while the votes of an election are unsynced; \
                     the new leader powers on last",
            ),
            Fault::RestartAll => f.write_str("restart every node the power loss killed"),
            Fault::RemoveVoters { first, count } => {
                write!(
                    f,
                    "remove {count} voter(s) from the membership, {first} first"
                )
            }
            Fault::RestoreVoters => {
                f.write_str("add the removed voters back (as learners, then voters)")
            }
            Fault::DelayPastTimeout {
                round_trip_permille,
            } => write!(
                f,
                "delay the client's links: a round trip takes {round_trip_permille}\u{2030} of its attempt timeout"
            ),
            Fault::ClearDelay => f.write_str("clear the client's delayed links"),
            Fault::ResetClientConnections { resets, every_ms } => write!(
                f,
                "reset the client's connections {resets} time(s), {every_ms} ms apart"
            ),
            Fault::SlowFsync { target, latency_ms } => {
                write!(f, "slow the fsyncs of {target} to {latency_ms} ms")
            }
            Fault::RestoreFsync => f.write_str("restore the slowed disk's fsync"),
            Fault::FailDisk(target) => write!(f, "fail the disk of {target} (every fsync errs)"),
            Fault::FailAllDisks => f.write_str("fail every node's disk (every fsync errs)"),
            Fault::RecoverDisks => {
                f.write_str("power-cycle the nodes whose disks failed, on repaired disks")
            }
            Fault::DriftClock {
                target,
                rate_permille,
                isolate,
            } => {
                write!(f, "run the clock of {target} at {rate_permille}\u{2030}")?;
                if *isolate {
                    f.write_str(" and cut it off from the other nodes")?;
                }
                Ok(())
            }
            Fault::RestoreClock => f.write_str("the drifted clock keeps true time again"),
            Fault::RpcFaults(faults) => write!(
                f,
                "Raft RPCs: drop {}%, duplicate {}%, delay {}% by up to {} us",
                faults.drop_percent,
                faults.duplicate_percent,
                faults.delay_percent,
                faults.delay_max_us
            ),
            Fault::ClearRpcFaults => f.write_str("Raft RPCs delivered as sent again"),
            Fault::ImpairBurst {
                impairment,
                duration_ms,
            } => write!(
                f,
                "impair all links for {duration_ms} ms ({})",
                describe(impairment)
            ),
        }
    }
}

/// The settings of `impairment` that are not zero, for the event log.
fn describe(impairment: &LinkImpairment) -> String {
    let mut parts = Vec::new();
    if impairment.latency_us() > 0 || impairment.jitter_us() > 0 {
        parts.push(format!(
            "latency {} us ± {} us",
            impairment.latency_us(),
            impairment.jitter_us()
        ));
    }
    for (name, percent) in [
        ("loss", impairment.loss_percent()),
        ("duplicate", impairment.duplicate_percent()),
        ("reorder", impairment.reorder_percent()),
        ("corrupt", impairment.corrupt_percent()),
    ] {
        if percent > 0.0 {
            parts.push(format!("{name} {percent}%"));
        }
    }
    if impairment.rate_bits_per_sec() > 0 {
        parts.push(format!("rate {} bit/s", impairment.rate_bits_per_sec()));
    }
    if parts.is_empty() {
        "no impairment".into()
    } else {
        parts.join(", ")
    }
}
