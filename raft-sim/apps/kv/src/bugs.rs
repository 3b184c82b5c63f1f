//! Planted bugs: switches that break the KV application in ways real
//! systems break, to prove the verification finds them. Off by default;
//! only tests and `--bug NAME` turn them on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    /// Reads are served from the local state machine, on any node, with no
    /// read-index round.
    StaleRead,
    /// The vote is kept in memory only: a restarted node has forgotten whom
    /// it voted for.
    ForgetVote,
    /// Appends are acknowledged before they are durable (and never synced
    /// on their own).
    EarlyAck,
    /// The state machine keeps its data across a restart but forgets how far
    /// it applied, so entries are applied again.
    LostApplied,
    /// The client retries a write whose outcome it does not know (a timeout,
    /// a connection lost after sending), so a write that did commit is
    /// applied twice.
    RetryAmbiguous,
    /// Installing a snapshot sent by the leader takes its applied index and
    /// membership but keeps the node's old data.
    SnapshotKeepsState,
    /// Installing a snapshot takes its data and applied index but keeps the
    /// membership the node had applied before, so the state machine (and
    /// every snapshot it builds, and a restart from it) reports a stale
    /// membership until the next membership entry is applied.
    SnapshotDropsMembership,
    /// The client keeps a connection whose answer timed out, so the late
    /// answer is taken as the answer to the next request on it.
    ResponseMixup,
    /// A node that believes it leads serves reads from its own state with
    /// no read-index round (a lease read without a lease): a deposed leader
    /// that has not heard of its successor answers stale.
    LeaderLocalRead,
    /// The vote is written but not synced: it reaches the disk with the
    /// next sync, and a power loss before that forgets it.
    VoteUnsynced,
    /// A failed fsync is logged and otherwise ignored: the store reports
    /// the write durable and carries on, on a disk that lost it (retrying
    /// the fsync until it passes, as PostgreSQL did until 2018, ends the
    /// same way on Linux).
    SyncErrorIgnored,
    /// Reads trust openraft's leader lease (`ReadPolicy::LeaseRead`)
    /// instead of a read-index round: correct only while clocks keep pace.
    /// A leader whose clock runs slow still believes its lease after its
    /// followers, by their clocks, waited it out and elected another.
    LeaseRead,
}

pub const ALL: [Bug; 12] = [
    Bug::StaleRead,
    Bug::ForgetVote,
    Bug::EarlyAck,
    Bug::LostApplied,
    Bug::RetryAmbiguous,
    Bug::SnapshotKeepsState,
    Bug::SnapshotDropsMembership,
    Bug::ResponseMixup,
    Bug::LeaderLocalRead,
    Bug::VoteUnsynced,
    Bug::SyncErrorIgnored,
    Bug::LeaseRead,
];

impl Bug {
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::ForgetVote => "forget-vote",
            Bug::EarlyAck => "early-ack",
            Bug::LostApplied => "lost-applied",
            Bug::RetryAmbiguous => "retry-ambiguous",
            Bug::SnapshotKeepsState => "snapshot-keeps-state",
            Bug::SnapshotDropsMembership => "snapshot-drops-membership",
            Bug::ResponseMixup => "response-mixup",
            Bug::LeaderLocalRead => "leader-local-read",
            Bug::VoteUnsynced => "vote-unsynced",
            Bug::SyncErrorIgnored => "sync-error-ignored",
            Bug::LeaseRead => "lease-read",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|b| b.name()).collect();
            format!("unknown bug {s:?}: choose one of {}", names.join(", "))
        })
    }
}

/// The set of bugs switched on for a cluster (usually none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bugs {
    pub stale_read: bool,
    pub forget_vote: bool,
    pub early_ack: bool,
    pub lost_applied: bool,
    #[serde(default)]
    pub retry_ambiguous: bool,
    #[serde(default)]
    pub snapshot_keeps_state: bool,
    #[serde(default)]
    pub snapshot_drops_membership: bool,
    #[serde(default)]
    pub response_mixup: bool,
    #[serde(default)]
    pub leader_local_read: bool,
    #[serde(default)]
    pub vote_unsynced: bool,
    #[serde(default)]
    pub sync_error_ignored: bool,
    #[serde(default)]
    pub lease_read: bool,
}

impl Bugs {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn with(mut self, bug: Bug) -> Self {
        match bug {
            Bug::StaleRead => self.stale_read = true,
            Bug::ForgetVote => self.forget_vote = true,
            Bug::EarlyAck => self.early_ack = true,
            Bug::LostApplied => self.lost_applied = true,
            Bug::RetryAmbiguous => self.retry_ambiguous = true,
            Bug::SnapshotKeepsState => self.snapshot_keeps_state = true,
            Bug::SnapshotDropsMembership => self.snapshot_drops_membership = true,
            Bug::ResponseMixup => self.response_mixup = true,
            Bug::LeaderLocalRead => self.leader_local_read = true,
            Bug::VoteUnsynced => self.vote_unsynced = true,
            Bug::SyncErrorIgnored => self.sync_error_ignored = true,
            Bug::LeaseRead => self.lease_read = true,
        }
        self
    }

    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for bug in ALL {
            assert_eq!(bug.name().parse::<Bug>(), Ok(bug));
            assert!(!Bugs::none().with(bug).is_none());
        }
        assert!("stale".parse::<Bug>().unwrap_err().contains("stale-read"));
    }
}
