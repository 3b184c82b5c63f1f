//! What a run keeps for its timeline, beyond the history and the applied
//! faults the artifact already holds: where the workload started on the
//! event log's clock (the one axis everything is drawn on), each node's
//! role over time, and the checker's violating core.
//!
//! Stored in the artifact as `config.timeline`.

use std::collections::BTreeMap;

use madsim_net::NetBackend;
use openraft::ServerState;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cluster::Cluster;

type NodeId = u64;

/// Role changes a [`RoleLog`] keeps; later ones are counted, not kept.
pub const MAX_ROLE_CHANGES: usize = 4_096;
/// Operations of a violating core a [`ViolationCore`] keeps: the checker
/// shrinks most cores to a handful, but a core on an accumulating key
/// keeps every add the read sums (70 were seen); an unshrunk one is cut.
pub const MAX_CORE_OPS: usize = 512;
/// Longest reason text kept with a core.
pub const MAX_REASON_CHARS: usize = 2_000;

/// What one node was doing, as its metrics (or the harness) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    Leader {
        term: u64,
    },
    Candidate {
        term: u64,
    },
    Follower {
        term: u64,
    },
    Learner {
        term: u64,
    },
    /// Openraft is shutting the node down.
    Shutdown,
    /// Killed (or not yet started again): no Raft handle to ask.
    Down,
    /// Frozen by the nemesis: its metrics still show its last role.
    Paused,
}

impl Role {
    /// The role of node `id` of `cluster` now.
    pub fn of<B: NetBackend, A: App>(cluster: &Cluster<B, A>, id: NodeId) -> Role {
        if cluster.is_paused(id) {
            return Role::Paused;
        }
        let Some((state, term)) = cluster.role(id) else {
            return Role::Down;
        };
        match state {
            ServerState::Leader => Role::Leader { term },
            ServerState::Candidate => Role::Candidate { term },
            ServerState::Follower => Role::Follower { term },
            ServerState::Learner => Role::Learner { term },
            ServerState::Shutdown => Role::Shutdown,
        }
    }

    /// The role's name, as the page's legend and colours use it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Leader { .. } => "leader",
            Role::Candidate { .. } => "candidate",
            Role::Follower { .. } => "follower",
            Role::Learner { .. } => "learner",
            Role::Shutdown => "shutdown",
            Role::Down => "down",
            Role::Paused => "paused",
        }
    }

    pub fn term(self) -> Option<u64> {
        match self {
            Role::Leader { term }
            | Role::Candidate { term }
            | Role::Follower { term }
            | Role::Learner { term } => Some(term),
            Role::Shutdown | Role::Down | Role::Paused => None,
        }
    }
}

/// Node `node` took `role` at `at_ns` (the event log's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChange {
    pub node: NodeId,
    pub at_ns: u64,
    #[serde(flatten)]
    pub role: Role,
}

/// Every node's role over time, sampled with the leader watch: only the
/// changes are kept, at most [`MAX_ROLE_CHANGES`] of them.
///
/// Sampling reads metrics the harness already holds and never sleeps or
/// spawns, so keeping the log does not change what a seed does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleLog {
    pub changes: Vec<RoleChange>,
    /// Changes seen after the log was full (the page says so).
    pub dropped: u64,
    /// The first and last sample (ns, the event log's clock); roles are
    /// known only between them.
    pub first_sample_ns: Option<u64>,
    pub last_sample_ns: Option<u64>,
    /// Each node's last role seen (not serialized: the changes say it).
    #[serde(skip)]
    last: BTreeMap<NodeId, Role>,
}

impl RoleLog {
    pub fn new() -> Self {
        RoleLog::default()
    }

    /// Reads every node's role once.
    pub fn sample<B: NetBackend, A: App>(&mut self, cluster: &Cluster<B, A>) {
        let now_ns = cluster.backend.injector().now_ns();
        for id in cluster.node_ids() {
            self.observe(id, Role::of(cluster, id), now_ns);
        }
    }

    /// Notes that `node` had `role` at `at_ns`; kept if it changed.
    pub fn observe(&mut self, node: NodeId, role: Role, at_ns: u64) {
        self.first_sample_ns.get_or_insert(at_ns);
        self.last_sample_ns = Some(at_ns);
        if self.last.insert(node, role) == Some(role) {
            return;
        }
        if self.changes.len() >= MAX_ROLE_CHANGES {
            self.dropped += 1;
            return;
        }
        self.changes.push(RoleChange { node, at_ns, role });
    }
}

/// One operation of a violating core, as the history names it: a process
/// has one operation outstanding at a time, so its process and invocation
/// time find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreOp {
    pub process: u64,
    /// The invocation's `time_ns` in the history.
    pub call: u64,
    /// The invocation's 1-based line in the history file.
    pub line: u64,
}

/// The checker's smallest set of operations that cannot be linearized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationCore {
    pub key: Option<String>,
    /// Why, in the checker's words (its first line).
    pub reason: String,
    pub ops: Vec<CoreOp>,
    /// Operations the core had beyond [`MAX_CORE_OPS`].
    #[serde(default)]
    pub ops_cut: usize,
}

impl ViolationCore {
    /// The core of a checker's violation.
    pub fn from_violation(violation: &twinnet_check::Violation) -> ViolationCore {
        let text = violation.to_string();
        let reason: String = text
            .lines()
            .next()
            .unwrap_or("not linearizable")
            .chars()
            .take(MAX_REASON_CHARS)
            .collect();
        let ops = violation
            .ops
            .iter()
            .take(MAX_CORE_OPS)
            .map(|op| CoreOp {
                process: op.process,
                call: op.call,
                line: op.invoke_line,
            })
            .collect();
        ViolationCore {
            key: violation.key.clone(),
            reason,
            ops,
            ops_cut: violation.ops.len().saturating_sub(MAX_CORE_OPS),
        }
    }
}

/// What a run adds to its artifact for the timeline (`config.timeline`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// When the workload started, on the event log's clock: the history's
    /// times count from here, the faults' and roles' from the log's start.
    pub workload_start_ns: u64,
    pub roles: RoleLog,
    /// True once the history was checked: `violation` is then the whole
    /// answer (no need to check again to draw it).
    pub checked: bool,
    pub violation: Option<ViolationCore>,
    /// Every check that failed, each whole (the artifact's `failure` joins
    /// them into one line).
    #[serde(default)]
    pub failures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_log_keeps_changes_only_and_counts_what_it_cannot_keep() {
        let mut log = RoleLog::new();
        log.observe(0, Role::Follower { term: 1 }, 10);
        log.observe(0, Role::Follower { term: 1 }, 20);
        log.observe(1, Role::Leader { term: 1 }, 20);
        log.observe(0, Role::Down, 30);
        assert_eq!(log.changes.len(), 3);
        assert_eq!(log.first_sample_ns, Some(10));
        assert_eq!(log.last_sample_ns, Some(30));
        for at in 0..(2 * MAX_ROLE_CHANGES as u64) {
            let role = if at % 2 == 0 {
                Role::Paused
            } else {
                Role::Down
            };
            log.observe(2, role, 100 + at);
        }
        assert_eq!(log.changes.len(), MAX_ROLE_CHANGES);
        assert_eq!(
            log.dropped as usize,
            3 + 2 * MAX_ROLE_CHANGES - MAX_ROLE_CHANGES
        );
    }

    #[test]
    fn a_record_survives_its_json() {
        let mut roles = RoleLog::new();
        roles.observe(3, Role::Leader { term: 7 }, 5);
        let record = TimelineRecord {
            workload_start_ns: 42,
            roles,
            checked: true,
            violation: Some(ViolationCore {
                key: Some("k1".into()),
                reason: "violation on key \"k1\"".into(),
                ops: vec![CoreOp {
                    process: 2,
                    call: 900,
                    line: 17,
                }],
                ops_cut: 0,
            }),
            failures: vec!["linearizability: not linearizable".into()],
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["roles"]["changes"][0]["role"], "leader");
        assert_eq!(json["roles"]["changes"][0]["term"], 7);
        let back: TimelineRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.roles.changes, record.roles.changes);
        assert_eq!(back.violation, record.violation);
    }
}
