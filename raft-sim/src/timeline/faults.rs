//! The nemesis on the timeline: the artifact's applied steps paired into
//! spans (a fault and the step of its episode that undid it), each with
//! what it did in a few words, the nodes it touched, the two sides of a
//! partition, and the unsynced writes a crash lost.

use serde::Serialize;

use madsim_net::Partition;

use crate::nemesis::{AppliedFault, Fault, Outcome, PartitionKind};

type NodeId = u64;

/// One fault as drawn: from its step to the step that undid it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultSpan {
    pub from: f64,
    /// `None`: nothing in the schedule undid it (the nemesis stop did,
    /// after the run); drawn to the end of the axis.
    pub to: Option<f64>,
    /// The colour family: partition, kill, power, pause, membership,
    /// client, disk, clock, rpc, links.
    pub kind: &'static str,
    /// What it did, in a few words.
    pub title: String,
    /// The steps as the nemesis logged them.
    pub detail: Vec<String>,
    /// Nodes it touched (highlighted when the span is hovered).
    pub nodes: Vec<NodeId>,
    /// The two sides of a partition that split the cluster in two.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sides: Option<[Vec<NodeId>; 2]>,
    /// `applied`, `skipped` (the step could not apply) or `failed`.
    pub status: &'static str,
    /// The nemesis row it is drawn in, so overlapping faults stay apart.
    pub row: usize,
}

/// Unsynced writes lost at a crash, drawn on the node lanes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LostWrites {
    pub at: f64,
    pub nodes: Vec<NodeId>,
    pub writes: usize,
}

/// The spans and losses of `applied`, their times mapped by `at` (the
/// step's event-log time in ns and its time after the nemesis started, in
/// ms, to the axis). Steps arrive in time order, an episode's undo after
/// its fault.
pub fn spans(
    applied: &[AppliedFault],
    at: impl Fn(&AppliedFault) -> f64,
) -> (Vec<FaultSpan>, Vec<LostWrites>) {
    let mut spans: Vec<FaultSpan> = Vec::new();
    let mut losses = Vec::new();
    // Open span of each episode: index into `spans`.
    let mut open: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    for step in applied {
        let time = at(step);
        if let Some(lost) = lost_writes(step, time) {
            losses.push(lost);
        }
        let undoes = step.end_of_burst || step.fault.is_undo();
        if undoes {
            if let Some(index) = open.remove(&step.episode) {
                let span = &mut spans[index];
                span.to = Some(time.max(span.from));
                span.detail.push(step.to_string());
                if let Outcome::Rejoined { node, .. } | Outcome::Restarted { node } = step.outcome
                    && !span.nodes.contains(&node)
                {
                    span.nodes.push(node);
                }
            }
            continue;
        }
        // A burst ends by itself later; a series of resets is over when
        // its step is logged.
        let one_shot =
            step.fault.undo().is_none() && !matches!(step.fault, Fault::ImpairBurst { .. });
        let (status, to) = match step.outcome {
            Outcome::Skipped { .. } => ("skipped", Some(time)),
            Outcome::Failed { .. } => ("failed", Some(time)),
            _ if one_shot => ("applied", Some(time)),
            _ => ("applied", None),
        };
        if to.is_none() {
            open.insert(step.episode, spans.len());
        }
        spans.push(FaultSpan {
            from: time,
            to,
            kind: kind_of(&step.fault),
            title: title_of(step),
            detail: vec![step.to_string()],
            nodes: nodes_of(&step.outcome),
            sides: sides_of(&step.outcome),
            status,
            row: 0,
        });
    }
    assign_rows(&mut spans);
    (spans, losses)
}

fn lost_writes(step: &AppliedFault, at: f64) -> Option<LostWrites> {
    match &step.outcome {
        Outcome::Killed { node, lost_writes } if *lost_writes > 0 => Some(LostWrites {
            at,
            nodes: vec![*node],
            writes: *lost_writes,
        }),
        Outcome::CrashedAll { nodes, lost_writes }
        | Outcome::DisksRecovered { nodes, lost_writes }
            if *lost_writes > 0 =>
        {
            Some(LostWrites {
                at,
                nodes: nodes.clone(),
                writes: *lost_writes,
            })
        }
        _ => None,
    }
}

/// Rows for spans, first fit in time order: a span goes in the first row
/// whose last span ended before it starts. An open span ends never.
fn assign_rows(spans: &mut [FaultSpan]) {
    let mut row_ends: Vec<f64> = Vec::new();
    for span in spans.iter_mut() {
        let end = span.to.unwrap_or(f64::INFINITY);
        match row_ends.iter().position(|&row_end| row_end < span.from) {
            Some(row) => {
                row_ends[row] = end;
                span.row = row;
            }
            None => {
                span.row = row_ends.len();
                row_ends.push(end);
            }
        }
    }
}

fn kind_of(fault: &Fault) -> &'static str {
    match fault {
        Fault::Partition(_) | Fault::Heal => "partition",
        Fault::Kill(_)
        | Fault::KillAfterAck(_)
        | Fault::KillToRejoin(..)
        | Fault::Restart(_)
        | Fault::Rejoin(..) => "kill",
        Fault::CrashAll
        | Fault::CrashAllAfterAck
        | Fault::CrashAllInElection
        | Fault::RestartAll => "power",
        Fault::Pause(_) | Fault::Resume(_) => "pause",
        Fault::RemoveVoters { .. } | Fault::RestoreVoters => "membership",
        Fault::DelayPastTimeout { .. }
        | Fault::ClearDelay
        | Fault::ResetClientConnections { .. } => "client",
        Fault::SlowFsync { .. }
        | Fault::RestoreFsync
        | Fault::FailDisk(_)
        | Fault::FailAllDisks
        | Fault::RecoverDisks => "disk",
        Fault::DriftClock { .. } | Fault::RestoreClock => "clock",
        Fault::RpcFaults(_) | Fault::ClearRpcFaults => "rpc",
        Fault::ImpairBurst { .. } => "links",
    }
}

fn nodes_of(outcome: &Outcome) -> Vec<NodeId> {
    match outcome {
        Outcome::Partitioned { partition, .. } => partitioned_nodes(partition),
        Outcome::Killed { node, .. }
        | Outcome::Restarted { node }
        | Outcome::Rejoined { node, .. }
        | Outcome::Paused { node }
        | Outcome::Resumed { node }
        | Outcome::FsyncSlowed { node, .. }
        | Outcome::FsyncRestored { node }
        | Outcome::ClockDrifted { node, .. }
        | Outcome::ClockRestored { node, .. } => vec![*node],
        Outcome::CrashedAll { nodes, .. }
        | Outcome::RestartedAll { nodes, .. }
        | Outcome::DisksFailed { nodes }
        | Outcome::DisksRecovered { nodes, .. } => nodes.clone(),
        Outcome::VotersRemoved { removed, .. } => removed.clone(),
        Outcome::VotersRestored { added } => added.clone(),
        _ => Vec::new(),
    }
}

fn partitioned_nodes(partition: &Partition) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = partition
        .directed_links()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(from, to)| [from, to])
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

fn sides_of(outcome: &Outcome) -> Option<[Vec<NodeId>; 2]> {
    match outcome {
        Outcome::Partitioned {
            partition: Partition::Split { side_a, side_b },
            ..
        } => Some([side_a.clone(), side_b.clone()]),
        Outcome::Partitioned {
            partition: Partition::TwoWay { a, b },
            ..
        } => Some([vec![*a], vec![*b]]),
        _ => None,
    }
}

fn set(nodes: &[NodeId]) -> String {
    let names: Vec<String> = nodes.iter().map(u64::to_string).collect();
    format!("{{{}}}", names.join(","))
}

/// What a step did, in a few words (the detail has the whole log line).
fn title_of(step: &AppliedFault) -> String {
    let title = match (&step.fault, &step.outcome) {
        (Fault::Partition(kind), Outcome::Partitioned { partition, .. }) => {
            partition_title(kind, partition)
        }
        (Fault::Partition(kind), _) => format!("partition ({kind})"),
        (fault, Outcome::Killed { node, lost_writes }) => {
            let when = match fault {
                Fault::KillAfterAck(_) => " after an ack",
                Fault::KillToRejoin(..) => " to rejoin",
                _ => "",
            };
            format!("kill node {node}{when}{}", lost(*lost_writes))
        }
        (fault, Outcome::CrashedAll { lost_writes, .. }) => {
            let when = match fault {
                Fault::CrashAllAfterAck => " after an ack",
                Fault::CrashAllInElection => " in an election",
                _ => "",
            };
            format!("power loss{when}{}", lost(*lost_writes))
        }
        (_, Outcome::Paused { node }) => format!("pause node {node}"),
        (_, Outcome::VotersRemoved { removed, .. }) => format!("remove voters {}", set(removed)),
        (_, Outcome::ClientDelayed { one_way_ms, .. }) => {
            format!("client links +{one_way_ms} ms each way")
        }
        (_, Outcome::ClientConnectionsReset { resets, streams }) => {
            format!("client connections reset x{resets} ({streams} streams)")
        }
        (_, Outcome::FsyncSlowed { node, latency_ms }) => {
            format!("node {node} fsync {latency_ms} ms")
        }
        (_, Outcome::DisksFailed { nodes }) => format!("disk failure on {}", set(nodes)),
        (_, Outcome::DisksRecovered { nodes, lost_writes }) => format!(
            "power-cycle {} on repaired disks{}",
            set(nodes),
            lost(*lost_writes)
        ),
        (
            _,
            Outcome::ClockDrifted {
                node,
                rate_permille,
                isolated,
            },
        ) => {
            let cut_off = if isolated.is_some() { ", cut off" } else { "" };
            format!("node {node} clock at {rate_permille}\u{2030}{cut_off}")
        }
        (Fault::RpcFaults(faults), _) => format!(
            "Raft RPCs: drop {}%, dup {}%, delay {}%",
            faults.drop_percent, faults.duplicate_percent, faults.delay_percent
        ),
        (Fault::ImpairBurst { .. }, Outcome::Impaired { links }) => {
            format!("link burst on {links} links")
        }
        (fault, _) => fault.to_string(),
    };
    match &step.outcome {
        Outcome::Skipped { .. } => format!("{title} (skipped)"),
        Outcome::Failed { .. } => format!("{title} (failed)"),
        _ => title,
    }
}

fn lost(writes: usize) -> String {
    match writes {
        0 => String::new(),
        1 => ", 1 unsynced write lost".into(),
        n => format!(", {n} unsynced writes lost"),
    }
}

fn partition_title(kind: &PartitionKind, partition: &Partition) -> String {
    match (kind, partition) {
        (PartitionKind::IsolateLeader, Partition::Split { side_a, .. }) => {
            format!("isolate leader {}", set(side_a))
        }
        (PartitionKind::Bridge { bridge, .. }, Partition::Split { side_a, side_b }) => format!(
            "partition {} | {} (node {bridge} bridges)",
            set(side_a),
            set(side_b)
        ),
        (_, Partition::Split { side_a, side_b }) => {
            format!("partition {} | {}", set(side_a), set(side_b))
        }
        (_, Partition::OneWay { from, to }) => format!("one-way cut {from} -> {to}"),
        (_, Partition::TwoWay { a, b }) => format!("cut {a} <-> {b}"),
        (_, Partition::Grudges(_)) => "ring of majorities".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::Target;

    fn step(episode: u32, at_ms: u64, fault: Fault, outcome: Outcome) -> AppliedFault {
        AppliedFault {
            step: 0,
            episode,
            fault,
            end_of_burst: false,
            planned_ms: at_ms,
            at_ms,
            time_ns: at_ms * 1_000_000,
            outcome,
        }
    }

    #[test]
    fn an_episode_is_one_span_with_its_sides_and_overlaps_get_rows() {
        let applied = vec![
            step(
                0,
                100,
                Fault::Partition(PartitionKind::MajorityMinority { minority: vec![4] }),
                Outcome::Partitioned {
                    partition: Partition::Split {
                        side_a: vec![4],
                        side_b: vec![0, 1, 2, 3],
                    },
                    id: 1,
                },
            ),
            step(
                1,
                150,
                Fault::Kill(Target::Leader),
                Outcome::Killed {
                    node: 2,
                    lost_writes: 3,
                },
            ),
            step(0, 300, Fault::Heal, Outcome::Healed { id: 1 }),
            step(
                1,
                400,
                Fault::Restart(Target::Leader),
                Outcome::Restarted { node: 2 },
            ),
            step(
                2,
                500,
                Fault::Pause(Target::RandomFollower),
                Outcome::Skipped {
                    reason: "no follower".into(),
                },
            ),
        ];
        let (spans, losses) = spans(&applied, |s| s.at_ms as f64);
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].title, "partition {4} | {0,1,2,3}");
        assert_eq!((spans[0].from, spans[0].to), (100.0, Some(300.0)));
        assert_eq!(spans[0].sides, Some([vec![4], vec![0, 1, 2, 3]]));
        assert_eq!(spans[0].detail.len(), 2);
        assert_eq!(spans[1].title, "kill node 2, 3 unsynced writes lost");
        assert_eq!(spans[1].row, 1, "overlaps the partition");
        assert_eq!(spans[2].status, "skipped");
        assert_eq!(spans[2].row, 0, "the partition's row is free again");
        assert_eq!(
            losses,
            vec![LostWrites {
                at: 150.0,
                nodes: vec![2],
                writes: 3
            }]
        );
    }

    #[test]
    fn applied_faults_read_back_from_the_artifact_json() {
        let applied = vec![step(
            3,
            10,
            Fault::CrashAllAfterAck,
            Outcome::CrashedAll {
                nodes: vec![0, 1, 2],
                lost_writes: 4,
            },
        )];
        let json = serde_json::to_value(&applied).unwrap();
        let back: Vec<AppliedFault> = serde_json::from_value(json).unwrap();
        assert_eq!(back, applied);
        let (spans, _) = spans(&back, |s| s.at_ms as f64);
        assert_eq!(spans[0].to, None, "open until the nemesis stop");
        assert_eq!(
            spans[0].title,
            "power loss after an ack, 4 unsynced writes lost"
        );
    }
}
