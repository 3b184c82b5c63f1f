//! What a seed's faults actually did, and what a whole sweep never saw.
//!
//! A fault that never has an effect (partitions too short to cause an
//! election, kills that never lose an unsynced write, a log that never
//! falls behind a snapshot) makes a sweep pass without testing anything.
//! Each seed counts the effects; the sweep adds them up and names every
//! kind of effect no seed produced.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::invariants::LeaderWatch;
use crate::nemesis::{AppliedFault, Outcome, Rejoin};
use crate::store::DiskStats;
use crate::workload::{EventType, HistoryEvent};

/// The effects of one seed's faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Terms in which a leader was seen.
    pub elections: u64,
    /// Times a node other than the previous one was seen leading.
    pub leader_changes: u64,
    /// Fault steps that did something (not skipped or failed).
    pub faults_applied: u64,
    /// Fault steps skipped or failed (no leader to isolate, node down...).
    pub faults_skipped: u64,
    pub partitions: u64,
    /// Single-node kills and whole-cluster power losses, in nodes killed.
    pub kills: u64,
    /// Kills whose disk lost unsynced writes.
    pub kills_losing_writes: u64,
    pub writes_lost: u64,
    pub pauses: u64,
    pub link_bursts: u64,
    /// Restarted nodes handed the lead, and of those the ones that took it
    /// (what they recovered from disk then served the clients).
    #[serde(default)]
    pub handed_lead: u64,
    #[serde(default)]
    pub took_lead: u64,
    /// Restarted nodes whose leader purged its log meanwhile, and of those
    /// the ones seen catching up by snapshot.
    #[serde(default)]
    pub rejoined_behind_purge: u64,
    #[serde(default)]
    pub caught_up_by_snapshot: u64,
    /// Nodes killed to restart from their own snapshot, and of those the
    /// ones whose snapshot and purge were done before the kill.
    #[serde(default)]
    pub own_snapshot_restarts: u64,
    #[serde(default)]
    pub restarted_from_snapshot: u64,
    /// Reads answered while a partition was in force.
    #[serde(default)]
    pub reads_during_partition: u64,
    /// Leader-watch samples in which a deposed leader (a term below another
    /// running leader's) still believed it led.
    #[serde(default)]
    pub deposed_leader_samples: u64,
    /// Power losses after which the old leader powered on last.
    #[serde(default)]
    pub leader_held_back: u64,
    /// Voters taken out of the membership, and of those removals the ones
    /// that took out the leader of the moment.
    #[serde(default)]
    pub voters_removed: u64,
    #[serde(default)]
    pub leaders_removed: u64,
    /// Membership changes back to the initial voters that completed.
    #[serde(default)]
    pub memberships_restored: u64,
    /// Episodes that delayed the client's replies to about its timeout, and
    /// client ops whose outcome stayed unknown (over the whole run).
    #[serde(default)]
    pub client_delays: u64,
    #[serde(default)]
    pub ops_indeterminate: u64,
    /// Times the client's connections were reset, and the streams reset.
    #[serde(default)]
    pub client_resets: u64,
    #[serde(default)]
    pub client_streams_reset: u64,
    /// Episodes of Raft RPC faults, and the RPCs they dropped, duplicated or
    /// delayed (an app whose network does not ask the injector sees none).
    #[serde(default)]
    pub rpc_fault_episodes: u64,
    #[serde(default)]
    pub rpcs_faulted: u64,
    /// Episodes with a node's fsyncs slowed.
    #[serde(default)]
    pub slow_fsyncs: u64,
    /// Disks failed, fsyncs that returned the failure's IO error, and the
    /// writes the failed disks lost when their nodes were power-cycled.
    #[serde(default)]
    pub disk_failures: u64,
    #[serde(default)]
    pub sync_errors: u64,
    #[serde(default)]
    pub writes_lost_to_disk_failures: u64,
    /// Clocks made to drift, and of those the ones cut off from their peers
    /// (a slow leader's lease outliving its followers' patience).
    #[serde(default)]
    pub clock_drifts: u64,
    #[serde(default)]
    pub clock_drifts_isolated: u64,
    /// The largest skew a drifted clock built up, ms (the most a sweep
    /// total takes: the largest of any seed).
    #[serde(default)]
    pub clock_skew_max_ms: u64,
    /// Reads of drifted clocks by the nodes' code (0: the drift never
    /// reached the app).
    #[serde(default)]
    pub drifted_clock_reads: u64,
    /// Snapshots installed from a leader (a follower fell behind the log).
    pub snapshots_installed: u64,
    pub snapshots_built: u64,
    /// Log entries the log-matching check found on two nodes' disks and
    /// compared (0 when the app's log is not on the simulated disk).
    pub log_entries_compared: u64,
}

impl Coverage {
    /// The coverage of one seed.
    pub fn measure(
        watch: &LeaderWatch,
        faults: &[AppliedFault],
        disks: &[DiskStats],
        history: &[HistoryEvent],
    ) -> Self {
        let mut coverage = Coverage {
            elections: watch.leaders_by_term().len() as u64,
            leader_changes: leader_changes(watch),
            reads_during_partition: reads_during_partition(faults, history),
            deposed_leader_samples: watch.deposed_leader_samples(),
            ops_indeterminate: history.iter().filter(|e| e.kind == EventType::Info).count() as u64,
            ..Coverage::default()
        };
        for fault in faults {
            coverage.count(&fault.outcome);
        }
        for disk in disks {
            coverage.snapshots_installed += disk.snapshots_installed;
            coverage.snapshots_built += disk.snapshots_built;
            coverage.sync_errors += disk.sync_errors;
        }
        coverage
    }

    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Skipped { .. } | Outcome::Failed { .. } => {
                self.faults_skipped += 1;
                return;
            }
            Outcome::Partitioned { .. } => self.partitions += 1,
            Outcome::Killed { lost_writes, .. } => self.kill(1, *lost_writes),
            Outcome::CrashedAll { nodes, lost_writes } => {
                self.kill(nodes.len() as u64, *lost_writes)
            }
            Outcome::Paused { .. } => self.pauses += 1,
            Outcome::Rejoined {
                rejoin: Rejoin::TakeLead,
                reached,
                ..
            } => {
                self.handed_lead += 1;
                self.took_lead += u64::from(*reached);
            }
            Outcome::Rejoined {
                rejoin: Rejoin::BehindSnapshot,
                reached,
                ..
            } => {
                self.rejoined_behind_purge += 1;
                self.caught_up_by_snapshot += u64::from(*reached);
            }
            Outcome::Rejoined {
                rejoin: Rejoin::FromOwnSnapshot,
                reached,
                ..
            } => {
                self.own_snapshot_restarts += 1;
                self.restarted_from_snapshot += u64::from(*reached);
            }
            Outcome::RestartedAll { held_back, .. } => {
                self.leader_held_back += u64::from(!held_back.is_empty())
            }
            Outcome::VotersRemoved {
                removed,
                leader_removed,
                ..
            } => {
                self.voters_removed += removed.len() as u64;
                self.leaders_removed += u64::from(*leader_removed);
            }
            Outcome::VotersRestored { .. } => self.memberships_restored += 1,
            Outcome::ClientDelayed { .. } => self.client_delays += 1,
            Outcome::ClientConnectionsReset { resets, streams } => {
                self.client_resets += u64::from(*resets);
                self.client_streams_reset += *streams as u64;
            }
            Outcome::FsyncSlowed { .. } => self.slow_fsyncs += 1,
            Outcome::DisksFailed { nodes } => self.disk_failures += nodes.len() as u64,
            Outcome::DisksRecovered { lost_writes, .. } => {
                self.writes_lost_to_disk_failures += *lost_writes as u64
            }
            Outcome::ClockDrifted { isolated, .. } => {
                self.clock_drifts += 1;
                self.clock_drifts_isolated += u64::from(isolated.is_some());
            }
            Outcome::ClockRestored {
                skew_ms,
                drifted_reads,
                ..
            } => {
                self.clock_skew_max_ms = self.clock_skew_max_ms.max(skew_ms.unsigned_abs());
                self.drifted_clock_reads += drifted_reads;
            }
            Outcome::RpcFaulted => self.rpc_fault_episodes += 1,
            Outcome::Impaired { .. } => self.link_bursts += 1,
            _ => {}
        }
        self.faults_applied += 1;
    }

    fn kill(&mut self, nodes: u64, lost_writes: usize) {
        self.kills += nodes;
        self.writes_lost += lost_writes as u64;
        self.kills_losing_writes += u64::from(lost_writes > 0);
    }
}

/// Reads answered (ok) while a partition was in force: the moments a stale
/// read can happen.
fn reads_during_partition(faults: &[AppliedFault], history: &[HistoryEvent]) -> u64 {
    let mut started: BTreeMap<u64, u64> = BTreeMap::new();
    let mut windows_ms: Vec<(u64, u64)> = Vec::new();
    for fault in faults {
        match fault.outcome {
            Outcome::Partitioned { id, .. } => {
                started.insert(id, fault.at_ms);
            }
            Outcome::Healed { id } => {
                if let Some(from) = started.remove(&id) {
                    windows_ms.push((from, fault.at_ms));
                }
            }
            _ => {}
        }
    }
    windows_ms.extend(started.into_values().map(|from| (from, u64::MAX)));
    history
        .iter()
        .filter(|e| e.kind == EventType::Ok && matches!(e.f.as_str(), "read" | "get"))
        .filter(|e| {
            let at_ms = e.time_ns / 1_000_000;
            windows_ms
                .iter()
                .any(|&(from, to)| (from..to).contains(&at_ms))
        })
        .count() as u64
}

/// Leader changes over the run: leaders sorted by when first seen, each
/// one that differs from the previous counts.
fn leader_changes(watch: &LeaderWatch) -> u64 {
    let mut seen: Vec<(u64, u64)> = watch
        .leaders_by_term()
        .values()
        .flat_map(|leaders| leaders.iter().map(|(&node, &at)| (at, node)))
        .collect();
    seen.sort_unstable();
    seen.windows(2).filter(|w| w[0].1 != w[1].1).count() as u64
}

/// A sweep's coverage: the sums, and the effects no seed produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoverageTotals {
    pub total: Coverage,
    /// Seeds that saw at least one leader change.
    pub seeds_with_leader_change: u64,
    /// Each kind of effect that the faults were there to cause and no
    /// seed caused, readably.
    pub never: Vec<String>,
}

impl CoverageTotals {
    pub fn add_up<'a>(seeds: impl IntoIterator<Item = &'a Coverage>, faults_planned: bool) -> Self {
        let mut totals = CoverageTotals::default();
        for c in seeds {
            let t = &mut totals.total;
            t.elections += c.elections;
            t.leader_changes += c.leader_changes;
            t.faults_applied += c.faults_applied;
            t.faults_skipped += c.faults_skipped;
            t.partitions += c.partitions;
            t.kills += c.kills;
            t.kills_losing_writes += c.kills_losing_writes;
            t.writes_lost += c.writes_lost;
            t.pauses += c.pauses;
            t.link_bursts += c.link_bursts;
            t.handed_lead += c.handed_lead;
            t.took_lead += c.took_lead;
            t.leader_held_back += c.leader_held_back;
            t.voters_removed += c.voters_removed;
            t.leaders_removed += c.leaders_removed;
            t.memberships_restored += c.memberships_restored;
            t.client_delays += c.client_delays;
            t.ops_indeterminate += c.ops_indeterminate;
            t.client_resets += c.client_resets;
            t.client_streams_reset += c.client_streams_reset;
            t.slow_fsyncs += c.slow_fsyncs;
            t.disk_failures += c.disk_failures;
            t.sync_errors += c.sync_errors;
            t.writes_lost_to_disk_failures += c.writes_lost_to_disk_failures;
            t.clock_drifts += c.clock_drifts;
            t.clock_drifts_isolated += c.clock_drifts_isolated;
            t.clock_skew_max_ms = t.clock_skew_max_ms.max(c.clock_skew_max_ms);
            t.drifted_clock_reads += c.drifted_clock_reads;
            t.rpc_fault_episodes += c.rpc_fault_episodes;
            t.rpcs_faulted += c.rpcs_faulted;
            t.reads_during_partition += c.reads_during_partition;
            t.deposed_leader_samples += c.deposed_leader_samples;
            t.rejoined_behind_purge += c.rejoined_behind_purge;
            t.caught_up_by_snapshot += c.caught_up_by_snapshot;
            t.own_snapshot_restarts += c.own_snapshot_restarts;
            t.restarted_from_snapshot += c.restarted_from_snapshot;
            t.snapshots_installed += c.snapshots_installed;
            t.snapshots_built += c.snapshots_built;
            t.log_entries_compared += c.log_entries_compared;
            totals.seeds_with_leader_change += u64::from(c.leader_changes > 0);
        }
        if faults_planned {
            totals.never = totals.gaps();
        }
        totals
    }

    fn gaps(&self) -> Vec<String> {
        let t = &self.total;
        let mut never = Vec::new();
        if t.log_entries_compared == 0 {
            never.push(
                "log matching compared no entries: is the app's log on the simulated disk \
                 (raft_sim::store::LogStore)?"
                    .to_string(),
            );
        }
        if t.faults_applied == 0 {
            never.push("no fault was ever applied (every step was skipped)".to_string());
        }
        if t.leader_changes == 0 {
            never.push(
                "the leader never changed: the faults never caused an election \
                 (are they shorter than the app's election timeout?)"
                    .to_string(),
            );
        }
        if t.kills > 0 && t.kills_losing_writes == 0 {
            never.push(format!(
                "{} kills, none lost an unsynced write: does the app's storage use the simulated disk?",
                t.kills
            ));
        }
        if t.handed_lead > 0 && t.took_lead == 0 {
            never.push(format!(
                "{} restarted nodes were handed the lead, none took it: can the harness reach \
                 the app's transfer_leader (an HTTP app has no route for it), and does its \
                 network carry openraft's TransferLeader?",
                t.handed_lead
            ));
        }
        if t.rejoined_behind_purge > 0 && t.caught_up_by_snapshot == 0 {
            never.push(format!(
                "{} nodes rejoined behind a purged log, none caught up by snapshot: can the \
                 harness trigger the app's snapshots and purges (an HTTP app has no route \
                 for them)?",
                t.rejoined_behind_purge
            ));
        }
        if t.own_snapshot_restarts > 0 && t.restarted_from_snapshot == 0 {
            never.push(format!(
                "{} nodes were to restart from their own snapshot, none had snapshot and \
                 purged first: can the harness trigger the app's snapshots and purges?",
                t.own_snapshot_restarts
            ));
        }
        if t.voters_removed > 0 && t.memberships_restored == 0 {
            never.push(format!(
                "{} voters were removed, no membership change brought them back within its \
                 episode: do the app's add_learner and change_membership answer?",
                t.voters_removed
            ));
        }
        if t.client_delays > 0 && t.ops_indeterminate == 0 {
            never.push(format!(
                "{} delays of the client's replies past its timeout, no op's outcome was \
                 unknown: does the app's client_attempt_timeout say how long its client waits?",
                t.client_delays
            ));
        }
        if t.client_resets > 0 && t.client_streams_reset == 0 {
            never.push(format!(
                "the client's connections were reset {} times, no stream was open: does the \
                 app's client connect over madsim_net (or twinnet's reqwest)?",
                t.client_resets
            ));
        }
        if t.rpc_fault_episodes > 0 && t.rpcs_faulted == 0 {
            never.push(format!(
                "{} episodes of Raft RPC faults, no RPC was dropped, duplicated or delayed: \
                 does the app's network ask the injector (raft_sim::network does; an HTTP \
                 app's own network does not)?",
                t.rpc_fault_episodes
            ));
        }
        if t.disk_failures > 0 && t.sync_errors == 0 {
            never.push(format!(
                "{} disks failed, no fsync saw the error: does the app sync its log through \
                 raft_sim's Mount (LogStore, Mirrored)?",
                t.disk_failures
            ));
        }
        if t.clock_drifts > 0 && t.drifted_clock_reads == 0 {
            never.push(format!(
                "{} clocks drifted, no node read a drifted clock: does the app's Raft run on \
                 twinnet_rt::Runtime (its declare_raft_types! AsyncRuntime)? Another runtime \
                 reads the simulation's one clock",
                t.clock_drifts
            ));
        }
        if t.partitions > 0 && t.reads_during_partition == 0 {
            never.push(format!(
                "{} partitions, no read was answered during one",
                t.partitions
            ));
        }
        if t.snapshots_installed == 0 {
            never.push(
                "no snapshot was installed: no follower fell behind a purged log".to_string(),
            );
        }
        never
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::{Fault, PartitionKind, Target};

    fn applied(at_ms: u64, fault: Fault, outcome: Outcome) -> AppliedFault {
        AppliedFault {
            step: 0,
            episode: 0,
            fault,
            end_of_burst: false,
            planned_ms: at_ms,
            at_ms,
            time_ns: at_ms * 1_000_000,
            outcome,
        }
    }

    fn read_ok(at_ms: u64) -> HistoryEvent {
        HistoryEvent {
            process: 0,
            kind: EventType::Ok,
            f: "read".into(),
            key: "k1".into(),
            value: serde_json::Value::Null,
            time_ns: at_ms * 1_000_000,
            error: None,
        }
    }

    #[test]
    fn only_reads_answered_inside_a_partition_count() {
        let partition = madsim_net::Partition::OneWay { from: 0, to: 1 };
        let faults = [
            applied(
                100,
                Fault::Partition(PartitionKind::OneWay { from: 0, to: 1 }),
                Outcome::Partitioned { partition, id: 7 },
            ),
            applied(200, Fault::Heal, Outcome::Healed { id: 7 }),
        ];
        let mut write = read_ok(150);
        write.f = "write".into();
        let history = [read_ok(50), read_ok(150), write, read_ok(199), read_ok(250)];
        assert_eq!(reads_during_partition(&faults, &history), 2);
        // A partition never healed lasts to the end of the run.
        assert_eq!(reads_during_partition(&faults[..1], &history), 3);
    }

    #[test]
    fn rejoins_that_never_reach_their_moment_are_named() {
        let rejoin = |rejoin, reached| {
            applied(
                0,
                Fault::Rejoin(Target::RandomFollower, rejoin),
                Outcome::Rejoined {
                    node: 1,
                    rejoin,
                    reached,
                },
            )
        };
        let faults = [
            rejoin(Rejoin::TakeLead, false),
            rejoin(Rejoin::BehindSnapshot, false),
            rejoin(Rejoin::FromOwnSnapshot, false),
        ];
        let seed = Coverage::measure(
            &LeaderWatch::with_one_leader_per_term(true),
            &faults,
            &[],
            &[],
        );
        assert_eq!((seed.handed_lead, seed.took_lead), (1, 0));
        assert_eq!(
            (seed.rejoined_behind_purge, seed.caught_up_by_snapshot),
            (1, 0)
        );
        assert_eq!(
            (seed.own_snapshot_restarts, seed.restarted_from_snapshot),
            (1, 0)
        );
        let never = CoverageTotals::add_up([&seed], true).never;
        assert!(
            never
                .iter()
                .any(|n| n.contains("handed the lead, none took it"))
        );
        assert!(
            never
                .iter()
                .any(|n| n.contains("none caught up by snapshot"))
        );
        assert!(
            never
                .iter()
                .any(|n| n.contains("none had snapshot and purged first"))
        );

        let reached = [
            rejoin(Rejoin::TakeLead, true),
            rejoin(Rejoin::BehindSnapshot, true),
            rejoin(Rejoin::FromOwnSnapshot, true),
        ];
        let seed = Coverage::measure(
            &LeaderWatch::with_one_leader_per_term(true),
            &reached,
            &[],
            &[],
        );
        let never = CoverageTotals::add_up([&seed], true).never;
        assert!(!never.iter().any(|n| n.contains("took it")
            || n.contains("by snapshot")
            || n.contains("purged first")));
    }
}
