//! The nemesis: a fault schedule drawn from the seed, then played against a
//! [`Cluster`].
//!
//! [`Schedule::generate`] draws a bounded list of [`Step`]s from
//! `madsim_net::rand::thread_rng()` (the simulator's seeded RNG under
//! `cfg(madsim)`), so a seed replays the same faults. Faults come in
//! *episodes*: a partition and its heal, a kill and its restart, a pause and
//! its resume share an episode number; a link impairment burst ends by itself
//! after its `duration_ms`. [`run`] plays the steps at their simulated times,
//! resolving `Leader` and `RandomFollower` when a step runs, records every
//! step as a note in the backend's event log, and returns what it did.
//! [`stop`] undoes whatever is left so the cluster can recover.
//!
//! A step that cannot apply (no leader to isolate, the target is already
//! down, a backend refuses an impairment) is recorded as skipped or failed;
//! it never aborts the run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use madsim_net::rand::Rng;
use madsim_net::time::{self, Instant};
use madsim_net::{LinkImpairment, NetBackend, Partition, PartitionId};
use openraft::ServerState;
use serde::Serialize;

use crate::cluster::{Cluster, ClusterError};
use crate::types::NodeId;

/// Steps in one schedule, at most.
pub const MAX_STEPS: usize = 200;
/// Raft nodes a schedule may name, at most.
pub const MAX_NODES: usize = madsim_net::limits::MAX_NODES;
/// Latest time a step may be scheduled at: one simulated day.
pub const MAX_SCHEDULE_MS: u64 = 24 * 60 * 60 * 1_000;
/// Longest impairment burst.
pub const MAX_BURST_MS: u64 = 60_000;
/// How long a step that needs the leader waits for one to show up.
pub const LEADER_WAIT: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------
// Presets

/// How much trouble the nemesis makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NemesisPreset {
    /// No faults at all.
    None,
    /// One fault at a time, about every 1–3 s: partitions, kills, pauses,
    /// mild link impairments.
    Standard,
    /// Up to two faults at once, every 0.3–1.2 s, held longer: also
    /// majorities rings, bridges, leader pauses, hostile links.
    Hostile,
}

impl NemesisPreset {
    pub const ALL: [NemesisPreset; 3] = [
        NemesisPreset::None,
        NemesisPreset::Standard,
        NemesisPreset::Hostile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NemesisPreset::None => "none",
            NemesisPreset::Standard => "standard",
            NemesisPreset::Hostile => "hostile",
        }
    }
}

impl fmt::Display for NemesisPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A preset name that is not one of [`NemesisPreset::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown nemesis preset {given:?}; choose one of none, standard, hostile")]
pub struct UnknownPreset {
    pub given: String,
}

impl FromStr for NemesisPreset {
    type Err = UnknownPreset;
    fn from_str(s: &str) -> Result<Self, UnknownPreset> {
        NemesisPreset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPreset { given: s.into() })
    }
}

// ---------------------------------------------------------------------------
// Faults

/// A node a fault aims at, resolved when the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
fn ring_radius(n: usize) -> usize {
    (n / 2).div_ceil(2)
}

impl PartitionKind {
    /// The concrete partition among `nodes` (`leader`: the current leader,
    /// needed by `IsolateLeader` only).
    fn resolve(&self, nodes: &[NodeId], leader: Option<NodeId>) -> Result<Partition, String> {
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

fn ring_grudges(ring: &[NodeId]) -> Partition {
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

/// One fault, or the undoing of one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Partition(PartitionKind),
    /// Heals the partition of the same episode.
    Heal,
    /// Kills a node; its disk loses unsynced writes ([`Cluster::kill`]).
    Kill(Target),
    /// Restarts the node the same episode killed.
    Restart(Target),
    Pause(Target),
    /// Resumes the node the same episode paused.
    Resume(Target),
    /// Power loss: kills every running node at once (each disk loses its
    /// unsynced writes).
    CrashAll,
    /// Restarts every node the same episode's `CrashAll` killed.
    RestartAll,
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
            Fault::Kill(target) => Some(Fault::Restart(*target)),
            Fault::Pause(target) => Some(Fault::Resume(*target)),
            Fault::CrashAll => Some(Fault::RestartAll),
            _ => None,
        }
    }

    /// True for the steps that undo an earlier one.
    pub fn is_undo(&self) -> bool {
        matches!(
            self,
            Fault::Heal | Fault::Restart(_) | Fault::Resume(_) | Fault::RestartAll
        )
    }

    fn nodes_named(&self) -> Vec<NodeId> {
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
            | Fault::Restart(Target::Node(n))
            | Fault::Pause(Target::Node(n))
            | Fault::Resume(Target::Node(n)) => vec![*n],
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
            Fault::Restart(t) => write!(f, "restart ({t} killed earlier)"),
            Fault::Pause(t) => write!(f, "pause {t}"),
            Fault::Resume(t) => write!(f, "resume ({t} paused earlier)"),
            Fault::CrashAll => f.write_str("crash every node (power loss)"),
            Fault::RestartAll => f.write_str("restart every node the power loss killed"),
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

// ---------------------------------------------------------------------------
// Schedules

/// One fault at `at_ms` after [`run`] starts. Steps of one episode belong
/// together: the undo step acts on what its episode's start step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub at_ms: u64,
    pub episode: u32,
    pub fault: Fault,
}

/// Why a hand-made schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0} steps, more than the {MAX_STEPS} allowed")]
    TooManySteps(usize),
    #[error("step {step} at {at_ms} ms is later than {MAX_SCHEDULE_MS} ms")]
    TooLate { step: usize, at_ms: u64 },
    #[error("step {step}: a burst of {duration_ms} ms is longer than {MAX_BURST_MS} ms")]
    BurstTooLong { step: usize, duration_ms: u64 },
    #[error("step {step} names node {node}, beyond the {MAX_NODES}-node limit")]
    NodeOutOfRange { step: usize, node: NodeId },
    #[error("step {step} ({fault}) undoes nothing earlier in episode {episode}")]
    Unpaired {
        step: usize,
        episode: u32,
        fault: String,
    },
    #[error("episode {episode} starts more than one fault")]
    EpisodeReused { episode: u32 },
}

/// A bounded, time-ordered list of [`Step`]s.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Schedule {
    steps: Vec<Step>,
}

impl Schedule {
    /// No faults.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A schedule from hand-made steps, sorted by time (stably), checked:
    /// bounded, node ids in range, every undo step after its episode's start.
    pub fn new(mut steps: Vec<Step>) -> Result<Self, ScheduleError> {
        if steps.len() > MAX_STEPS {
            return Err(ScheduleError::TooManySteps(steps.len()));
        }
        steps.sort_by_key(|s| s.at_ms);
        let mut started: BTreeMap<u32, Fault> = BTreeMap::new();
        for (i, step) in steps.iter().enumerate() {
            check_step(i, step)?;
            if step.fault.is_undo() {
                let matches = started
                    .get(&step.episode)
                    .and_then(Fault::undo)
                    .is_some_and(|undo| undo == step.fault);
                if !matches {
                    return Err(ScheduleError::Unpaired {
                        step: i,
                        episode: step.episode,
                        fault: step.fault.to_string(),
                    });
                }
            } else if started.insert(step.episode, step.fault.clone()).is_some() {
                return Err(ScheduleError::EpisodeReused {
                    episode: step.episode,
                });
            }
        }
        Ok(Schedule { steps })
    }

    /// A schedule for `nodes` Raft nodes (ids `0..nodes`) lasting at most
    /// `duration`, drawn from `madsim_net::rand::thread_rng()`: under
    /// `cfg(madsim)`, the same seed gives the same schedule (and it must be
    /// called inside the simulation, where that RNG lives).
    pub fn generate(preset: NemesisPreset, nodes: usize, duration: Duration) -> Schedule {
        Self::generate_with(&mut madsim_net::rand::thread_rng(), preset, nodes, duration)
    }

    /// [`Self::generate`] drawing from `rng`.
    pub fn generate_with<R: Rng + ?Sized>(
        rng: &mut R,
        preset: NemesisPreset,
        nodes: usize,
        duration: Duration,
    ) -> Schedule {
        assert!(nodes <= MAX_NODES, "{nodes} nodes, limit {MAX_NODES}");
        let Some(profile) = Profile::of(preset) else {
            return Schedule::empty();
        };
        let horizon_ms = u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .min(MAX_SCHEDULE_MS);
        let steps = Generator::new(rng, profile, nodes, horizon_ms).run();
        let schedule = Schedule::new(steps);
        debug_assert!(
            schedule.is_ok(),
            "generated an invalid schedule: {schedule:?}"
        );
        schedule.unwrap_or_default()
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// When the last fault ends (a burst ends after its duration).
    pub fn span_ms(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| match &s.fault {
                Fault::ImpairBurst { duration_ms, .. } => s.at_ms.saturating_add(*duration_ms),
                _ => s.at_ms,
            })
            .max()
            .unwrap_or(0)
    }

    /// Episodes whose fault is never undone within the schedule.
    pub fn unpaired_episodes(&self) -> Vec<u32> {
        let mut open = BTreeSet::new();
        for step in &self.steps {
            if step.fault.is_undo() {
                open.remove(&step.episode);
            } else if step.fault.undo().is_some() {
                open.insert(step.episode);
            }
        }
        open.into_iter().collect()
    }

    /// What [`run`] does, in order: the steps plus the end of every burst.
    fn actions(&self) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| Action {
                at_ms: step.at_ms,
                index,
                end_of_burst: false,
            })
            .collect();
        for (index, step) in self.steps.iter().enumerate() {
            if let Fault::ImpairBurst { duration_ms, .. } = step.fault {
                actions.push(Action {
                    at_ms: step.at_ms.saturating_add(duration_ms),
                    index,
                    end_of_burst: true,
                });
            }
        }
        // Stable: at equal times, steps before burst ends.
        actions.sort_by_key(|a| a.at_ms);
        assert!(actions.len() <= 2 * MAX_STEPS);
        actions
    }
}

fn check_step(i: usize, step: &Step) -> Result<(), ScheduleError> {
    if step.at_ms > MAX_SCHEDULE_MS {
        return Err(ScheduleError::TooLate {
            step: i,
            at_ms: step.at_ms,
        });
    }
    if let Fault::ImpairBurst { duration_ms, .. } = step.fault
        && duration_ms > MAX_BURST_MS
    {
        return Err(ScheduleError::BurstTooLong {
            step: i,
            duration_ms,
        });
    }
    if let Some(node) = step
        .fault
        .nodes_named()
        .into_iter()
        .find(|&n| n >= MAX_NODES as NodeId)
    {
        return Err(ScheduleError::NodeOutOfRange { step: i, node });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Action {
    at_ms: u64,
    /// Index of the step in the schedule.
    index: usize,
    end_of_burst: bool,
}

/// The kinds of fault a profile draws from, with weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MajorityMinority,
    MajoritiesRing,
    Bridge,
    OneWay,
    IsolateLeader,
    Kill(Target),
    Pause(Target),
    CrashAll,
    Burst,
}

/// What a preset draws: times in milliseconds, inclusive ranges.
struct Profile {
    first_ms: (u64, u64),
    hold_ms: (u64, u64),
    /// Pause after a fault ends (sequential) or after it starts (overlapping).
    gap_ms: (u64, u64),
    /// Faults that may be active at once; 1 means the next starts only
    /// after the previous ended.
    max_concurrent: usize,
    kinds: &'static [(Kind, u32)],
    bursts: fn() -> Vec<LinkImpairment>,
}

const STANDARD_KINDS: &[(Kind, u32)] = &[
    (Kind::MajorityMinority, 3),
    (Kind::IsolateLeader, 2),
    (Kind::OneWay, 1),
    (Kind::Kill(Target::Leader), 1),
    (Kind::Kill(Target::RandomFollower), 1),
    (Kind::Kill(Target::Node(0)), 1),
    (Kind::Pause(Target::RandomFollower), 1),
    (Kind::CrashAll, 1),
    (Kind::Burst, 2),
];

const HOSTILE_KINDS: &[(Kind, u32)] = &[
    (Kind::MajorityMinority, 2),
    (Kind::MajoritiesRing, 2),
    (Kind::Bridge, 2),
    (Kind::IsolateLeader, 2),
    (Kind::OneWay, 1),
    (Kind::Kill(Target::Leader), 2),
    (Kind::Kill(Target::RandomFollower), 1),
    (Kind::Kill(Target::Node(0)), 1),
    (Kind::Pause(Target::Leader), 2),
    (Kind::Pause(Target::RandomFollower), 1),
    (Kind::CrashAll, 2),
    (Kind::Burst, 3),
];

fn built(spec: madsim_net::impairment::LinkImpairmentBuilder) -> LinkImpairment {
    let impairment = spec.build();
    debug_assert!(impairment.is_ok(), "burst preset invalid: {impairment:?}");
    impairment.unwrap_or_default()
}

/// Mild bursts: a latency spike, a lossy-ish link, a WAN.
fn standard_bursts() -> Vec<LinkImpairment> {
    vec![
        built(LinkImpairment::builder().latency_ms(100).jitter_ms(50)),
        LinkImpairment::light_chaos(),
        LinkImpairment::wan(),
    ]
}

/// Nasty bursts: a big latency spike, heavy loss, a bandwidth squeeze, and
/// the chaos presets.
fn hostile_bursts() -> Vec<LinkImpairment> {
    vec![
        built(LinkImpairment::builder().latency_ms(300).jitter_ms(200)),
        built(LinkImpairment::builder().loss_percent(25.0)),
        built(
            LinkImpairment::builder()
                .rate_bits_per_sec(256_000)
                .burst_bytes(16 * 1024)
                .queue_limit_bytes(64 * 1024),
        ),
        LinkImpairment::heavy_chaos(),
        LinkImpairment::hostile(),
    ]
}

impl Profile {
    fn of(preset: NemesisPreset) -> Option<Profile> {
        match preset {
            NemesisPreset::None => None,
            // hold 0.6–2 s (long enough for an election: timeouts are
            // 300–600 ms) + gap 0.4–1 s: a fault every 1–3 s.
            NemesisPreset::Standard => Some(Profile {
                first_ms: (500, 1_500),
                hold_ms: (600, 2_000),
                gap_ms: (400, 1_000),
                max_concurrent: 1,
                kinds: STANDARD_KINDS,
                bursts: standard_bursts,
            }),
            NemesisPreset::Hostile => Some(Profile {
                first_ms: (200, 800),
                hold_ms: (500, 4_000),
                gap_ms: (300, 1_200),
                max_concurrent: 2,
                kinds: HOSTILE_KINDS,
                bursts: hostile_bursts,
            }),
        }
    }
}

/// Draws episodes one after another until the horizon or the step bound.
struct Generator<'r, R: Rng + ?Sized> {
    rng: &'r mut R,
    profile: Profile,
    nodes: usize,
    horizon_ms: u64,
    steps: Vec<Step>,
    /// End time of every active episode, and whether it is a burst.
    active: Vec<(u64, bool)>,
    next_episode: u32,
}

impl<'r, R: Rng + ?Sized> Generator<'r, R> {
    fn new(rng: &'r mut R, profile: Profile, nodes: usize, horizon_ms: u64) -> Self {
        Generator {
            rng,
            profile,
            nodes,
            horizon_ms,
            steps: Vec::new(),
            active: Vec::new(),
            next_episode: 0,
        }
    }

    fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        debug_assert!(lo <= hi);
        self.rng.gen_range(lo..=hi)
    }

    fn run(mut self) -> Vec<Step> {
        let mut t = self.between(self.profile.first_ms);
        // Each pass adds an episode, skips a slot or waits for one to end:
        // bounded by the step limit several times over.
        for _ in 0..4 * MAX_STEPS {
            if self.steps.len() + 2 > MAX_STEPS {
                break;
            }
            self.active.retain(|&(end, _)| end > t);
            if self.active.len() >= self.profile.max_concurrent {
                t = self.active.iter().map(|&(end, _)| end).min().unwrap_or(t);
                continue;
            }
            let hold = self.between(self.profile.hold_ms);
            let Some(end) = t.checked_add(hold).filter(|&end| end <= self.horizon_ms) else {
                break;
            };
            if let Some(fault) = self.draw(hold) {
                self.push_episode(t, end, fault);
            }
            let gap = self.between(self.profile.gap_ms);
            t = if self.profile.max_concurrent == 1 {
                end + gap
            } else {
                t + gap
            };
        }
        self.steps.sort_by_key(|s| s.at_ms);
        self.steps
    }

    fn push_episode(&mut self, start: u64, end: u64, fault: Fault) {
        let episode = self.next_episode;
        self.next_episode += 1;
        let undo = fault.undo();
        let burst = matches!(fault, Fault::ImpairBurst { .. });
        self.steps.push(Step {
            at_ms: start,
            episode,
            fault,
        });
        if let Some(undo) = undo {
            self.steps.push(Step {
                at_ms: end,
                episode,
                fault: undo,
            });
        }
        self.active.push((end, burst));
    }

    /// A fault of a kind this cluster size allows, or `None` if none does.
    fn draw(&mut self, hold_ms: u64) -> Option<Fault> {
        let burst_active = self.active.iter().any(|&(_, burst)| burst);
        let n = self.nodes;
        let allowed: Vec<(Kind, u32)> = self
            .profile
            .kinds
            .iter()
            .copied()
            .filter(|&(kind, _)| match kind {
                Kind::MajorityMinority | Kind::Bridge | Kind::IsolateLeader => n >= 3,
                Kind::MajoritiesRing => n >= 4 && 2 * ring_radius(n) + 1 < n,
                Kind::OneWay => n >= 2,
                // Taking one node down must leave a majority running.
                Kind::Kill(_) | Kind::Pause(_) => n >= 3,
                Kind::CrashAll => n >= 1,
                Kind::Burst => n >= 1 && !burst_active,
            })
            .collect();
        let total: u32 = allowed.iter().map(|&(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let mut pick = self.rng.gen_range(0..total);
        let kind = allowed.iter().find_map(|&(kind, w)| {
            if pick < w {
                Some(kind)
            } else {
                pick -= w;
                None
            }
        })?;
        Some(self.fault_of(kind, hold_ms))
    }

    fn fault_of(&mut self, kind: Kind, hold_ms: u64) -> Fault {
        let n = self.nodes;
        match kind {
            Kind::MajorityMinority => {
                let size = self.rng.gen_range(1..=(n - 1) / 2);
                let mut minority = self.shuffled()[..size].to_vec();
                minority.sort_unstable();
                Fault::Partition(PartitionKind::MajorityMinority { minority })
            }
            Kind::MajoritiesRing => Fault::Partition(PartitionKind::MajoritiesRing {
                ring: self.shuffled(),
            }),
            Kind::Bridge => {
                let order = self.shuffled();
                let (bridge, rest) = (order[0], &order[1..]);
                let half = rest.len() / 2;
                let (mut side_a, mut side_b) = (rest[..half].to_vec(), rest[half..].to_vec());
                side_a.sort_unstable();
                side_b.sort_unstable();
                Fault::Partition(PartitionKind::Bridge {
                    side_a,
                    side_b,
                    bridge,
                })
            }
            Kind::OneWay => {
                let order = self.shuffled();
                Fault::Partition(PartitionKind::OneWay {
                    from: order[0],
                    to: order[1],
                })
            }
            Kind::IsolateLeader => Fault::Partition(PartitionKind::IsolateLeader),
            Kind::Kill(target) => Fault::Kill(self.target(target)),
            Kind::Pause(target) => Fault::Pause(self.target(target)),
            Kind::CrashAll => Fault::CrashAll,
            Kind::Burst => {
                let bursts = (self.profile.bursts)();
                let impairment = bursts[self.rng.gen_range(0..bursts.len())];
                Fault::ImpairBurst {
                    impairment,
                    duration_ms: hold_ms.min(MAX_BURST_MS),
                }
            }
        }
    }

    /// `Node(_)` in a profile stands for "a node drawn now".
    fn target(&mut self, target: Target) -> Target {
        match target {
            Target::Node(_) => Target::Node(self.rng.gen_range(0..self.nodes as NodeId)),
            other => other,
        }
    }

    /// The node ids in a random order (Fisher–Yates).
    fn shuffled(&mut self) -> Vec<NodeId> {
        let mut order: Vec<NodeId> = (0..self.nodes as NodeId).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            order.swap(i, j);
        }
        order
    }
}

// ---------------------------------------------------------------------------
// Execution

/// What a step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
        nodes: Vec<NodeId>,
    },
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
            Outcome::Paused { node } => write!(f, "paused node {node}"),
            Outcome::Resumed { node } => write!(f, "resumed node {node}"),
            Outcome::CrashedAll { nodes, lost_writes } => {
                write!(
                    f,
                    "power loss: killed nodes {nodes:?} ({lost_writes} unsynced writes lost)"
                )
            }
            Outcome::RestartedAll { nodes } => {
                write!(f, "restarted nodes {nodes:?} after the power loss")
            }
            Outcome::Impaired { links } => write!(f, "impaired {links} links"),
            Outcome::ImpairmentCleared { links } => write!(f, "cleared {links} links"),
            Outcome::Skipped { reason } => write!(f, "skipped: {reason}"),
            Outcome::Failed { error } => write!(f, "FAILED: {error}"),
        }
    }
}

/// One executed step, for the artifact.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
/// failed, never abort the run.
pub async fn run<B: NetBackend>(
    cluster: &Cluster<B>,
    schedule: &Schedule,
) -> Result<Vec<AppliedFault>, ClusterError> {
    let started = Instant::now();
    let actions = schedule.actions();
    let mut executor = Executor::new(cluster);
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
            time_ns: cluster.backend.injector().now_ns(),
            outcome,
        };
        cluster.backend.injector().note(record.to_string());
        applied.push(record);
    }
    Ok(applied)
}

/// What [`run`] keeps between steps. Bounded by the schedule's episodes.
struct Executor<'c, B: NetBackend> {
    cluster: &'c Cluster<B>,
    raft_nodes: Vec<NodeId>,
    /// Partition ids by episode.
    partitions: BTreeMap<u32, PartitionId>,
    /// Killed or paused node by episode.
    downed: BTreeMap<u32, NodeId>,
    /// Nodes a power loss killed, by episode.
    crashed: BTreeMap<u32, Vec<NodeId>>,
    /// Nodes this nemesis holds down now.
    down: BTreeSet<NodeId>,
    /// The burst in force: its episode and the links it impaired.
    burst: Option<(u32, Vec<(madsim_net::NodeId, madsim_net::NodeId)>)>,
}

impl<'c, B: NetBackend> Executor<'c, B> {
    fn new(cluster: &'c Cluster<B>) -> Self {
        Executor {
            cluster,
            raft_nodes: cluster.node_ids(),
            partitions: BTreeMap::new(),
            downed: BTreeMap::new(),
            crashed: BTreeMap::new(),
            down: BTreeSet::new(),
            burst: None,
        }
    }

    async fn apply(&mut self, step: &Step) -> Outcome {
        match &step.fault {
            Fault::Partition(kind) => self.partition(step.episode, kind).await,
            Fault::Heal => self.heal(step.episode).await,
            Fault::Kill(target) => self.take_down(step.episode, *target, true).await,
            Fault::Pause(target) => self.take_down(step.episode, *target, false).await,
            Fault::Restart(_) => self.bring_up(step.episode, true).await,
            Fault::Resume(_) => self.bring_up(step.episode, false).await,
            Fault::CrashAll => self.crash_all(step.episode).await,
            Fault::RestartAll => self.restart_all(step.episode).await,
            Fault::ImpairBurst { impairment, .. } => {
                self.start_burst(step.episode, *impairment).await
            }
        }
    }

    /// The running leader with the highest term, not one we hold down.
    fn current_leader(&self) -> Option<NodeId> {
        self.raft_nodes
            .iter()
            .filter(|n| !self.down.contains(n))
            .filter_map(|&n| self.cluster.metrics(n))
            .filter(|m| m.state == ServerState::Leader)
            .max_by_key(|m| m.current_term)
            .map(|m| m.id)
    }

    /// Waits up to [`LEADER_WAIT`] for a leader.
    async fn leader(&self) -> Option<NodeId> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            if let Some(leader) = self.current_leader() {
                return Some(leader);
            }
            if Instant::now() >= deadline {
                return None;
            }
            time::sleep(POLL).await;
        }
    }

    async fn partition(&mut self, episode: u32, kind: &PartitionKind) -> Outcome {
        let leader = match kind {
            PartitionKind::IsolateLeader => match self.leader().await {
                Some(leader) => Some(leader),
                None => return skipped(format!("no leader within {LEADER_WAIT:?}")),
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
    async fn resolve(&self, target: Target) -> Result<NodeId, String> {
        let majority_left = self.raft_nodes.len().saturating_sub(1) / 2;
        if self.down.len() >= majority_left {
            return Err(format!(
                "{} of {} nodes are down already; one more would take the majority",
                self.down.len(),
                self.raft_nodes.len()
            ));
        }
        match target {
            Target::Node(id) if !self.raft_nodes.contains(&id) => {
                Err(format!("node {id} is not in the cluster"))
            }
            Target::Node(id) if self.down.contains(&id) => Err(format!("node {id} is down")),
            Target::Node(id) => Ok(id),
            Target::Leader => self
                .leader()
                .await
                .ok_or_else(|| format!("no leader within {LEADER_WAIT:?}")),
            Target::RandomFollower => {
                let leader = self.current_leader();
                let followers: Vec<NodeId> = self
                    .raft_nodes
                    .iter()
                    .copied()
                    .filter(|n| !self.down.contains(n) && Some(*n) != leader)
                    .collect();
                if followers.is_empty() {
                    return Err("no running follower".into());
                }
                let pick = madsim_net::rand::thread_rng().gen_range(0..followers.len());
                Ok(followers[pick])
            }
        }
    }

    async fn take_down(&mut self, episode: u32, target: Target, kill: bool) -> Outcome {
        let node = match self.resolve(target).await {
            Ok(node) => node,
            Err(reason) => return skipped(reason),
        };
        let outcome = if kill {
            self.cluster
                .kill(node)
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
    async fn crash_all(&mut self, episode: u32) -> Outcome {
        let mut nodes = Vec::new();
        let mut lost_writes = 0;
        let up: Vec<NodeId> = self
            .raft_nodes
            .iter()
            .copied()
            .filter(|n| !self.down.contains(n))
            .collect();
        for node in up {
            match self.cluster.kill(node).await {
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

    async fn restart_all(&mut self, episode: u32) -> Outcome {
        let Some(nodes) = self.crashed.remove(&episode) else {
            return skipped("no power loss in this episode".into());
        };
        for &node in &nodes {
            self.down.remove(&node);
            if let Err(e) = self.cluster.restart(node).await {
                return failed(e);
            }
        }
        Outcome::RestartedAll { nodes }
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

    /// Every directed link between distinct backend nodes (the client too).
    fn all_links(&self) -> Vec<(madsim_net::NodeId, madsim_net::NodeId)> {
        let nodes = self.cluster.backend.nodes();
        let mut links = Vec::with_capacity(nodes.len() * nodes.len());
        for &from in &nodes {
            for &to in nodes.iter().filter(|&&to| to != from) {
                links.push((from, to));
            }
        }
        links
    }

    async fn start_burst(&mut self, episode: u32, impairment: LinkImpairment) -> Outcome {
        if let Some((other, _)) = &self.burst {
            return skipped(format!("burst of episode {other} still in force"));
        }
        let links = self.all_links();
        for (done, &(from, to)) in links.iter().enumerate() {
            if let Err(e) = self.cluster.set_link(from, to, impairment).await {
                // All or nothing: undo the links set so far.
                self.clear_links(&links[..done]).await;
                return failed(e);
            }
        }
        let count = links.len();
        self.burst = Some((episode, links));
        Outcome::Impaired { links: count }
    }

    async fn end_burst(&mut self, episode: u32) -> Outcome {
        match self.burst.take() {
            Some((current, links)) if current == episode => {
                let cleared = self.clear_links(&links).await;
                Outcome::ImpairmentCleared { links: cleared }
            }
            other => {
                self.burst = other;
                skipped("this episode's burst is not in force".into())
            }
        }
    }

    /// Clears `links`; returns how many cleared (stop() clears the rest).
    async fn clear_links(&self, links: &[(madsim_net::NodeId, madsim_net::NodeId)]) -> usize {
        let mut cleared = 0;
        for &(from, to) in links {
            if self.cluster.clear_link(from, to).await.is_ok() {
                cleared += 1;
            }
        }
        cleared
    }
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
}

/// Undoes every fault: heals all partitions, clears every impaired link,
/// resumes every running node, restarts every node that is down. Tries all
/// of it; the first failure is returned after the rest was attempted (each
/// failure is also noted in the event log).
pub async fn stop<B: NetBackend>(cluster: &Cluster<B>) -> Result<Recovery, ClusterError> {
    let injector = cluster.backend.injector();
    let mut first_error: Option<ClusterError> = None;
    let mut keep = |result: Result<(), ClusterError>, what: String| {
        if let Err(e) = result {
            injector.note(format!("nemesis stop: {what} FAILED: {e}"));
            first_error.get_or_insert(e);
        }
    };
    keep(cluster.heal(None).await, "heal all".into());
    let mut recovery = Recovery::default();
    for (from, to, _) in injector.impaired_links() {
        let result = cluster.clear_link(from, to).await;
        recovery.links_cleared += usize::from(result.is_ok());
        keep(result, format!("clear link {from} -> {to}"));
    }
    for id in cluster.node_ids() {
        if cluster.metrics(id).is_some() {
            keep(cluster.resume(id).await, format!("resume node {id}"));
            recovery.resumed.push(id);
        } else {
            keep(cluster.restart(id).await, format!("restart node {id}"));
            recovery.restarted.push(id);
        }
    }
    recovery.time_ns = injector.now_ns();
    injector.note(format!(
        "nemesis stop: healed all, cleared {} links, restarted {:?}, resumed {:?}",
        recovery.links_cleared, recovery.restarted, recovery.resumed
    ));
    match first_error {
        Some(e) => Err(e),
        None => Ok(recovery),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// A schedule drawn in a simulation seeded with 1 (under madsim the
    /// RNG exists only inside one).
    fn generate(preset: NemesisPreset, nodes: usize, duration: Duration) -> Schedule {
        seeded(1, || Schedule::generate(preset, nodes, duration))
    }

    /// Runs `f` in a madsim runtime seeded with `seed` (plain otherwise).
    fn seeded<T>(seed: u64, f: impl FnOnce() -> T) -> T {
        #[cfg(madsim)]
        {
            let runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.block_on(async move { f() })
        }
        #[cfg(not(madsim))]
        {
            let _ = seed;
            f()
        }
    }

    #[test]
    fn presets_parse_and_print() {
        for preset in NemesisPreset::ALL {
            assert_eq!(preset.to_string().parse::<NemesisPreset>(), Ok(preset));
        }
        let err = "chaos".parse::<NemesisPreset>().unwrap_err().to_string();
        assert!(err.contains("\"chaos\""), "{err}");
        assert!(err.contains("none, standard, hostile"), "{err}");
    }

    #[test]
    fn none_is_empty() {
        assert!(generate(NemesisPreset::None, 5, MINUTE).is_empty());
    }

    #[test]
    fn schedules_are_bounded_ordered_and_balanced() {
        for seed in 0..20 {
            for preset in [NemesisPreset::Standard, NemesisPreset::Hostile] {
                for nodes in [1, 2, 3, 5, 7] {
                    for duration in [Duration::ZERO, Duration::from_secs(20), 10 * MINUTE] {
                        let s = seeded(seed, || Schedule::generate(preset, nodes, duration));
                        assert!(s.len() <= MAX_STEPS, "{} steps", s.len());
                        assert!(s.span_ms() <= duration.as_millis() as u64);
                        assert!(s.steps().windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
                        assert!(s.unpaired_episodes().is_empty(), "{s:?}");
                        // Re-validating the generated steps succeeds.
                        assert_eq!(Schedule::new(s.steps().to_vec()).as_ref(), Ok(&s));
                        for step in s.steps() {
                            assert!(step.fault.nodes_named().iter().all(|&n| n < nodes as u64));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn long_runs_hit_the_step_bound() {
        let s = generate(NemesisPreset::Hostile, 5, 60 * MINUTE);
        assert!(
            s.len() > MAX_STEPS - 2 && s.len() <= MAX_STEPS,
            "{}",
            s.len()
        );
    }

    fn starts(s: &Schedule) -> Vec<&Step> {
        s.steps().iter().filter(|st| !st.fault.is_undo()).collect()
    }

    #[test]
    fn standard_is_one_fault_every_one_to_three_seconds() {
        let s = generate(NemesisPreset::Standard, 5, 10 * MINUTE);
        let starts = starts(&s);
        assert!(starts.len() > 10);
        for pair in starts.windows(2) {
            let gap = pair[1].at_ms - pair[0].at_ms;
            assert!((1_000..=3_000).contains(&gap), "gap {gap} ms");
        }
    }

    /// The most faults in force at any time.
    fn max_overlap(s: &Schedule) -> usize {
        let mut edges: Vec<(u64, i32)> = Vec::new();
        let mut starts_at: BTreeMap<u32, u64> = BTreeMap::new();
        for step in s.steps() {
            match &step.fault {
                Fault::ImpairBurst { duration_ms, .. } => {
                    edges.push((step.at_ms, 1));
                    edges.push((step.at_ms + duration_ms, -1));
                }
                f if f.is_undo() => {
                    assert!(starts_at.contains_key(&step.episode));
                    edges.push((step.at_ms, -1));
                }
                _ => {
                    starts_at.insert(step.episode, step.at_ms);
                    edges.push((step.at_ms, 1));
                }
            }
        }
        // Ends before starts at the same instant.
        edges.sort();
        let (mut now, mut most) = (0i32, 0i32);
        for (_, delta) in edges {
            now += delta;
            most = most.max(now);
        }
        most as usize
    }

    #[test]
    fn presets_differ() {
        let standard = generate(NemesisPreset::Standard, 5, 10 * MINUTE);
        let hostile = generate(NemesisPreset::Hostile, 5, 10 * MINUTE);
        assert_eq!(max_overlap(&standard), 1);
        assert_eq!(max_overlap(&hostile), 2);
        let nasty = |s: &Schedule| {
            s.steps()
                .iter()
                .filter(|st| {
                    matches!(
                        st.fault,
                        Fault::Pause(Target::Leader)
                            | Fault::Partition(PartitionKind::MajoritiesRing { .. })
                            | Fault::Partition(PartitionKind::Bridge { .. })
                    )
                })
                .count()
        };
        assert_eq!(nasty(&standard), 0);
        assert!(nasty(&hostile) > 0);
        // Faults come more often (neither schedule at the step bound here).
        let minute = |p| starts(&generate(p, 5, MINUTE)).len();
        let (standard, hostile) = (
            minute(NemesisPreset::Standard),
            minute(NemesisPreset::Hostile),
        );
        assert!(
            hostile > standard,
            "{hostile} vs {standard} faults a minute"
        );
    }

    #[test]
    fn hand_made_schedules_are_checked() {
        let step = |at_ms, episode, fault| Step {
            at_ms,
            episode,
            fault,
        };
        assert!(matches!(
            Schedule::new(vec![step(5, 0, Fault::Heal)]),
            Err(ScheduleError::Unpaired { .. })
        ));
        assert!(matches!(
            Schedule::new(vec![
                step(5, 0, Fault::Kill(Target::Leader)),
                step(9, 0, Fault::Resume(Target::Leader)),
            ]),
            Err(ScheduleError::Unpaired { .. })
        ));
        assert!(matches!(
            Schedule::new(vec![
                step(1, 0, Fault::Kill(Target::Leader)),
                step(2, 0, Fault::Pause(Target::Leader)),
            ]),
            Err(ScheduleError::EpisodeReused { episode: 0 })
        ));
        assert!(matches!(
            Schedule::new(vec![step(1, 0, Fault::Kill(Target::Node(1_000)))]),
            Err(ScheduleError::NodeOutOfRange { node: 1_000, .. })
        ));
        let many = (0..=MAX_STEPS as u32)
            .map(|e| step(1, e, Fault::Kill(Target::Leader)))
            .collect();
        assert!(matches!(
            Schedule::new(many),
            Err(ScheduleError::TooManySteps(_))
        ));
        // Out of order in, sorted out.
        let s = Schedule::new(vec![
            step(9, 0, Fault::Restart(Target::Node(2))),
            step(1, 0, Fault::Kill(Target::Node(2))),
        ])
        .expect("valid");
        assert_eq!(s.steps()[0].at_ms, 1);
        assert!(s.unpaired_episodes().is_empty());
    }

    #[test]
    fn majorities_ring_gives_each_node_a_distinct_majority() {
        for n in [4usize, 5, 6, 7, 9] {
            let ring: Vec<NodeId> = (0..n as NodeId).rev().collect();
            let Partition::Grudges(grudges) = ring_grudges(&ring) else {
                panic!("ring is grudges");
            };
            let mut seen = BTreeSet::new();
            for (node, unheard) in &grudges {
                let heard = n - unheard.len();
                assert!(heard > n / 2, "node {node} hears {heard} of {n}");
                assert!(!unheard.contains(node));
                assert!(!unheard.is_empty(), "n={n}: node {node} hears everyone");
                seen.insert(unheard.clone());
            }
            assert_eq!(seen.len(), n, "majorities differ");
        }
    }

    #[test]
    fn partitions_resolve() {
        let nodes: Vec<NodeId> = (0..5).collect();
        let mm = PartitionKind::MajorityMinority {
            minority: vec![1, 3],
        };
        assert_eq!(
            mm.resolve(&nodes, None),
            Ok(Partition::Split {
                side_a: vec![1, 3],
                side_b: vec![0, 2, 4]
            })
        );
        assert!(PartitionKind::IsolateLeader.resolve(&nodes, None).is_err());
        assert_eq!(
            PartitionKind::IsolateLeader.resolve(&nodes, Some(2)),
            Ok(Partition::Split {
                side_a: vec![2],
                side_b: vec![0, 1, 3, 4]
            })
        );
        let self_cut = PartitionKind::OneWay { from: 1, to: 1 };
        assert!(self_cut.resolve(&nodes, None).is_err());
    }

    #[test]
    fn schedules_serialize() {
        let s = generate(NemesisPreset::Hostile, 5, MINUTE);
        let json = serde_json::to_string(&s).expect("serializes");
        assert!(json.contains("\"at_ms\""), "{json}");
    }

    /// Same seed, same schedule; another seed, another schedule.
    #[cfg(madsim)]
    #[test]
    fn generation_is_deterministic_per_seed() {
        for preset in [NemesisPreset::Standard, NemesisPreset::Hostile] {
            let once = |seed| seeded(seed, || Schedule::generate(preset, 5, 5 * MINUTE));
            let first = once(42);
            assert!(!first.is_empty());
            assert_eq!(first, once(42));
            assert_ne!(first, once(43));
        }
    }
}
