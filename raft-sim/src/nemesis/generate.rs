//! Drawing a schedule from the seed: the presets, their profiles (what
//! faults, how long, how often), and the generator.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use madsim_net::rand::Rng;
use madsim_net::{LinkImpairment, RpcFaults};
use serde::Serialize;

use super::fault::{Fault, PartitionKind, Rejoin, Target, ring_radius};
use super::schedule::{Schedule, Step};
use super::{MAX_BURST_MS, MAX_NODES, MAX_SCHEDULE_MS, MAX_STEPS, NodeId};

/// How much trouble the nemesis makes.
/// In an artifact it is a name (`"standard"`); an unknown name is an
/// error, never silently "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NemesisPreset {
    /// No faults at all.
    None,
    /// One fault at a time, about every 1–2 s: partitions, kills, power
    /// losses, pauses, failed disks, mild link impairments.
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

/// The kinds of fault a profile draws from, with weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MajorityMinority,
    MajoritiesRing,
    Bridge,
    OneWay,
    IsolateLeader,
    /// The leader isolated from the other voters (not from clients) for
    /// longer than an election and a client's timeout: its clients give
    /// up on it and write to the new leader while others still read from
    /// the old one, which believes it leads.
    DeposedLeader,
    Kill(Target),
    /// A kill aimed at a durability window: right after a write is acked.
    KillAfterAck(Target),
    /// A kill whose node rejoins into a situation aimed at its recovery.
    KillToRejoin(Target, Rejoin),
    Pause(Target),
    CrashAll,
    /// A power loss right after a write is acked.
    CrashAllAfterAck,
    /// A power loss while an election's votes are unsynced.
    CrashAllInElection,
    /// Voters taken out of the membership, the target first, and brought
    /// back at the episode's end.
    RemoveVoters(Target),
    /// Client replies delayed to about the client's attempt timeout.
    DelayPastTimeout,
    /// The client's connections reset a few times while writes are in
    /// flight: outcomes unknown, the cluster healthy.
    ResetClientConnections,
    /// A node's fsyncs slowed for the hold.
    SlowFsync(Target),
    /// A node's disk failed for the hold, then the node power-cycled.
    DiskFailure(Target),
    /// Every node's disk failed for the hold, then all power-cycled.
    DiskFailureAll,
    /// A node's clock runs slow or fast for the hold.
    ClockDrift(Target),
    /// The leader's clock runs slow while it is cut off from its peers
    /// (not from its clients) for the long hold: by its clock its lease
    /// outlasts the election its followers hold meanwhile.
    SlowClockDeposedLeader,
    /// Raft RPCs dropped, duplicated and delayed at random.
    RpcFaults,
    Burst,
}

impl Kind {
    /// The name a [`SwarmDraw`] records.
    fn name(self) -> &'static str {
        match self {
            Kind::MajorityMinority => "partition-majority-minority",
            Kind::MajoritiesRing => "partition-majorities-ring",
            Kind::Bridge => "partition-bridge",
            Kind::OneWay => "partition-one-way",
            Kind::IsolateLeader => "partition-isolate-leader",
            Kind::DeposedLeader => "partition-deposed-leader",
            Kind::Kill(Target::Leader) => "kill-leader",
            Kind::Kill(Target::RandomFollower) => "kill-follower",
            Kind::Kill(Target::Node(_)) => "kill-node",
            Kind::KillAfterAck(_) => "kill-leader-after-ack",
            Kind::KillToRejoin(_, Rejoin::TakeLead) => "kill-follower-then-lead",
            Kind::KillToRejoin(_, Rejoin::BehindSnapshot) => "kill-follower-behind-snapshot",
            Kind::KillToRejoin(_, Rejoin::FromOwnSnapshot) => "kill-restart-from-own-snapshot",
            Kind::Pause(Target::Leader) => "pause-leader",
            Kind::Pause(_) => "pause-follower",
            Kind::CrashAll => "power-loss",
            Kind::CrashAllAfterAck => "power-loss-after-ack",
            Kind::CrashAllInElection => "power-loss-in-election",
            Kind::RemoveVoters(Target::Leader) => "membership-remove-leader",
            Kind::RemoveVoters(_) => "membership-remove-follower",
            Kind::DelayPastTimeout => "client-delay-past-timeout",
            Kind::ResetClientConnections => "client-connection-reset",
            Kind::SlowFsync(Target::Leader) => "slow-fsync-leader",
            Kind::SlowFsync(_) => "slow-fsync-node",
            Kind::DiskFailure(Target::Leader) => "disk-failure-leader",
            Kind::DiskFailure(_) => "disk-failure-follower",
            Kind::DiskFailureAll => "disk-failure-all",
            Kind::ClockDrift(Target::Leader) => "clock-drift-leader",
            Kind::ClockDrift(_) => "clock-drift-node",
            Kind::SlowClockDeposedLeader => "clock-slow-deposed-leader",
            Kind::RpcFaults => "raft-rpc-faults",
            Kind::Burst => "link-burst",
        }
    }
}

/// What one seed drew from its preset (swarm testing: each seed runs a
/// different mix and intensity of faults, so a fault family that a mix of
/// all of them would dilute gets seeds where it dominates). Recorded in
/// the artifact; the seed redraws it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SwarmDraw {
    /// The fault kinds switched on, each with its drawn weight.
    pub kinds: Vec<(String, u32)>,
    /// How long a fault is held, ms (a sub-range of the preset's).
    pub hold_ms: (u64, u64),
    /// The pause between faults, ms (a sub-range of the preset's).
    pub gap_ms: (u64, u64),
    /// Faults in force at once, at most.
    pub max_concurrent: usize,
}

/// The longest a delayed Raft RPC may be held, ms: from a few heartbeats
/// to about an election timeout.
const RPC_DELAY_MAX_MS: (u64, u64) = (50, 500);

/// How many times one episode resets the client's connections, and how
/// far apart, ms: apart by more than a write's round trip, so each reset
/// meets new writes in flight.
const CLIENT_RESETS: (u32, u32) = (2, 6);
const CLIENT_RESET_EVERY_MS: (u64, u64) = (50, 250);

/// A slowed disk's fsync latency, ms (a busy disk, not a dead one).
const SLOW_FSYNC_MS: (u64, u64) = (20, 200);

/// A drifting clock's rate, per mille of true time: slow or fast. Real
/// clocks drift by parts per million; a simulated run lasts seconds, so the
/// drift is as large as the hours a real one has to build up its skew.
const SLOW_CLOCK_PERMILLE: (u32, u32) = (250, 800);
const FAST_CLOCK_PERMILLE: (u32, u32) = (1_250, 4_000);

/// A deposed leader's slow clock, per mille: its lease (one
/// `election_timeout_max` by its clock) must outlast its followers'
/// lease plus an election, about twice as long by true time.
const DEPOSED_LEADER_CLOCK_PERMILLE: (u32, u32) = (100, 200);

/// How long the faults about a client's timeout are held, ms at
/// [`TimeScale::UNIT`]: an election (at most 600 ms) and a client's
/// attempt timeout (2 s, see `service::ATTEMPT_TIMEOUT`), then time for
/// what comes after it: a deposed leader's clients that moved write while
/// the others still read from it; a delayed client's next request meets
/// the late answer to its last.
const LONG_HOLD_MS: (u64, u64) = (3_000, 4_500);

/// What a preset draws: times in milliseconds, inclusive ranges.
struct Profile {
    first_ms: (u64, u64),
    hold_ms: (u64, u64),
    /// Pause after a fault ends (sequential) or after it starts (overlapping).
    gap_ms: (u64, u64),
    /// Faults that may be active at once; 1 means the next starts only
    /// after the previous ended.
    max_concurrent: usize,
    kinds: Vec<(Kind, u32)>,
    bursts: fn() -> Vec<LinkImpairment>,
    /// The hold of a [`Kind::DeposedLeader`], a
    /// [`Kind::SlowClockDeposedLeader`] and a [`Kind::DelayPastTimeout`]
    /// (it outlasts `hold_ms`).
    long_hold_ms: (u64, u64),
}

const STANDARD_KINDS: &[(Kind, u32)] = &[
    (Kind::MajorityMinority, 2),
    (Kind::IsolateLeader, 2),
    (Kind::OneWay, 1),
    (Kind::Kill(Target::Leader), 1),
    (Kind::Kill(Target::RandomFollower), 1),
    (Kind::Kill(Target::Node(0)), 1),
    (Kind::KillAfterAck(Target::Leader), 1),
    (
        Kind::KillToRejoin(Target::RandomFollower, Rejoin::TakeLead),
        1,
    ),
    (
        Kind::KillToRejoin(Target::RandomFollower, Rejoin::BehindSnapshot),
        2,
    ),
    (
        Kind::KillToRejoin(Target::Node(0), Rejoin::FromOwnSnapshot),
        2,
    ),
    (Kind::Pause(Target::RandomFollower), 1),
    (Kind::CrashAll, 1),
    (Kind::CrashAllAfterAck, 5),
    (Kind::RemoveVoters(Target::Leader), 1),
    (Kind::RemoveVoters(Target::RandomFollower), 1),
    (Kind::DelayPastTimeout, 5),
    (Kind::SlowFsync(Target::Leader), 1),
    (Kind::RpcFaults, 1),
    (Kind::Burst, 1),
    (Kind::CrashAllInElection, 4),
    (Kind::DeposedLeader, 2),
    (Kind::DiskFailure(Target::Leader), 1),
    (Kind::DiskFailureAll, 3),
    (Kind::ClockDrift(Target::Node(0)), 1),
    (Kind::SlowClockDeposedLeader, 3),
    (Kind::ResetClientConnections, 2),
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
    (Kind::KillAfterAck(Target::Leader), 1),
    (
        Kind::KillToRejoin(Target::RandomFollower, Rejoin::TakeLead),
        1,
    ),
    (
        Kind::KillToRejoin(Target::RandomFollower, Rejoin::BehindSnapshot),
        1,
    ),
    (
        Kind::KillToRejoin(Target::Node(0), Rejoin::FromOwnSnapshot),
        1,
    ),
    (Kind::Pause(Target::Leader), 2),
    (Kind::Pause(Target::RandomFollower), 1),
    (Kind::CrashAll, 2),
    (Kind::CrashAllAfterAck, 1),
    (Kind::RemoveVoters(Target::Leader), 1),
    (Kind::RemoveVoters(Target::RandomFollower), 1),
    (Kind::DelayPastTimeout, 1),
    (Kind::SlowFsync(Target::Leader), 1),
    (Kind::SlowFsync(Target::Node(0)), 1),
    (Kind::RpcFaults, 2),
    (Kind::Burst, 3),
    (Kind::CrashAllInElection, 1),
    (Kind::DeposedLeader, 2),
    (Kind::DiskFailure(Target::Leader), 1),
    (Kind::DiskFailure(Target::RandomFollower), 1),
    (Kind::DiskFailureAll, 1),
    (Kind::ClockDrift(Target::Leader), 1),
    (Kind::ClockDrift(Target::Node(0)), 1),
    (Kind::SlowClockDeposedLeader, 1),
    (Kind::ResetClientConnections, 1),
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

/// How the presets' times stretch to the app's Raft timing. The presets
/// were tuned for an election timeout of at most
/// [`TimeScale::REFERENCE_ELECTION_TIMEOUT_MS`] (a fault held 0.6–2 s
/// then outlasts an election); an app whose election timeout is 3 s gets
/// every start, hold and gap five times longer, so its faults still cause
/// elections instead of passing unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TimeScale {
    permille: u32,
}

impl TimeScale {
    /// The presets as they are.
    pub const UNIT: TimeScale = TimeScale { permille: 1_000 };
    /// The election timeout (max, ms) the presets were tuned for.
    pub const REFERENCE_ELECTION_TIMEOUT_MS: u64 = 600;
    /// Bounds on a scale: 0.25x to 50x.
    pub const MIN_PERMILLE: u32 = 250;
    pub const MAX_PERMILLE: u32 = 50_000;

    /// The scale for an app whose election timeout is at most `max_ms`.
    pub fn for_election_timeout(max_ms: u64) -> TimeScale {
        let permille = max_ms.saturating_mul(1_000) / Self::REFERENCE_ELECTION_TIMEOUT_MS;
        let permille = permille.clamp(u64::from(Self::MIN_PERMILLE), u64::from(Self::MAX_PERMILLE));
        TimeScale {
            permille: permille as u32,
        }
    }

    pub fn permille(self) -> u32 {
        self.permille
    }

    /// `ms` stretched by the scale.
    pub fn ms(self, ms: u64) -> u64 {
        ms.saturating_mul(u64::from(self.permille)) / 1_000
    }

    /// `duration` stretched by the scale.
    pub fn duration(self, duration: Duration) -> Duration {
        duration.saturating_mul(self.permille) / 1_000
    }
}

impl Profile {
    /// Every time of the profile stretched by `scale`.
    fn scaled(self, scale: TimeScale) -> Profile {
        let range = |(lo, hi): (u64, u64)| (scale.ms(lo), scale.ms(hi));
        Profile {
            first_ms: range(self.first_ms),
            hold_ms: range(self.hold_ms),
            gap_ms: range(self.gap_ms),
            long_hold_ms: range(self.long_hold_ms),
            ..self
        }
    }

    /// This seed's draw from the profile (swarm testing): each kind on
    /// with probability 1/2 (at least one), its weight multiplied by 1–4;
    /// hold and gap narrowed to a random sub-range; up to the preset's
    /// concurrency. Every draw stays inside the preset's bounds.
    fn swarm<R: Rng + ?Sized>(self, rng: &mut R) -> (Profile, SwarmDraw) {
        let mut kinds = Vec::with_capacity(self.kinds.len());
        for &(kind, weight) in &self.kinds {
            if rng.gen_bool(0.5) {
                kinds.push((kind, weight * rng.gen_range(1..=4)));
            }
        }
        if kinds.is_empty() {
            kinds.push(self.kinds[rng.gen_range(0..self.kinds.len())]);
        }
        let mut narrow = |(lo, hi): (u64, u64)| {
            let (a, b) = (rng.gen_range(lo..=hi), rng.gen_range(lo..=hi));
            (a.min(b), a.max(b))
        };
        let (hold_ms, gap_ms) = (narrow(self.hold_ms), narrow(self.gap_ms));
        let max_concurrent = rng.gen_range(1..=self.max_concurrent);
        let draw = SwarmDraw {
            kinds: kinds
                .iter()
                .map(|&(k, w)| (k.name().to_string(), w))
                .collect(),
            hold_ms,
            gap_ms,
            max_concurrent,
        };
        let profile = Profile {
            hold_ms,
            gap_ms,
            max_concurrent,
            kinds,
            ..self
        };
        (profile, draw)
    }

    fn of(preset: NemesisPreset) -> Option<Profile> {
        match preset {
            NemesisPreset::None => None,
            // hold 0.6–1.5 s (long enough for an election: timeouts are
            // 300–600 ms) + gap 0.2–0.6 s: a fault every 1–2 s, so a
            // seed meets more of them in the same simulated time.
            NemesisPreset::Standard => Some(Profile {
                first_ms: (500, 1_500),
                hold_ms: (600, 1_500),
                gap_ms: (200, 600),
                max_concurrent: 1,
                kinds: STANDARD_KINDS.to_vec(),
                bursts: standard_bursts,
                long_hold_ms: LONG_HOLD_MS,
            }),
            NemesisPreset::Hostile => Some(Profile {
                first_ms: (200, 800),
                hold_ms: (500, 4_000),
                gap_ms: (300, 1_200),
                max_concurrent: 2,
                kinds: HOSTILE_KINDS.to_vec(),
                bursts: hostile_bursts,
                long_hold_ms: LONG_HOLD_MS,
            }),
        }
    }
}

impl Schedule {
    /// A schedule for `nodes` Raft nodes (ids `0..nodes`) lasting at most
    /// `duration`, drawn from `madsim_net::rand::thread_rng()`: under
    /// `cfg(madsim)`, the same seed gives the same schedule (and it must be
    /// called inside the simulation, where that RNG lives).
    pub fn generate(preset: NemesisPreset, nodes: usize, duration: Duration) -> Schedule {
        Self::generate_scaled(preset, nodes, duration, TimeScale::UNIT)
    }

    /// [`Self::generate`] with every hold, gap and start time of the
    /// preset multiplied by `scale` (see [`TimeScale::for_election_timeout`]).
    pub fn generate_scaled(
        preset: NemesisPreset,
        nodes: usize,
        duration: Duration,
        scale: TimeScale,
    ) -> Schedule {
        let rng = &mut madsim_net::rand::thread_rng();
        Self::generate_with(rng, preset, nodes, duration, scale)
    }

    /// [`Self::generate`] drawing from `rng`.
    pub fn generate_with<R: Rng + ?Sized>(
        rng: &mut R,
        preset: NemesisPreset,
        nodes: usize,
        duration: Duration,
        scale: TimeScale,
    ) -> Schedule {
        Self::generate_mix(rng, preset, nodes, duration, scale, Mix::Swarm)
    }

    /// [`Self::generate_with`], choosing whether the seed draws its own
    /// mix of the preset's faults ([`Mix::Swarm`], what sweeps run) or
    /// takes all of them at the preset's weights ([`Mix::Full`]).
    pub fn generate_mix<R: Rng + ?Sized>(
        rng: &mut R,
        preset: NemesisPreset,
        nodes: usize,
        duration: Duration,
        scale: TimeScale,
        mix: Mix,
    ) -> Schedule {
        assert!(nodes <= MAX_NODES, "{nodes} nodes, limit {MAX_NODES}");
        let Some(profile) = Profile::of(preset).map(|p| p.scaled(scale)) else {
            return Schedule::empty();
        };
        let (profile, swarm) = match mix {
            Mix::Swarm => {
                let (profile, draw) = profile.swarm(rng);
                (profile, Some(draw))
            }
            Mix::Full => (profile, None),
        };
        let horizon_ms = u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .min(MAX_SCHEDULE_MS);
        let steps = Generator::new(rng, profile, nodes, horizon_ms).run();
        let schedule = Schedule::new(steps).map(|s| s.with_swarm(swarm));
        debug_assert!(
            schedule.is_ok(),
            "generated an invalid schedule: {schedule:?}"
        );
        schedule.unwrap_or_default()
    }
}

/// How a seed draws its faults from a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Its own subset of the preset's fault kinds, weights and intensity.
    Swarm,
    /// Every kind of the preset, at the preset's weights and ranges.
    Full,
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
            let mut end = end;
            if let Some((kind, fault)) = self.draw(hold) {
                if matches!(
                    kind,
                    Kind::DeposedLeader | Kind::SlowClockDeposedLeader | Kind::DelayPastTimeout
                ) {
                    let long = self.between(self.profile.long_hold_ms);
                    end = t.saturating_add(long).min(self.horizon_ms).max(end);
                }
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
        let burst = matches!(
            fault,
            Fault::ImpairBurst { .. } | Fault::DelayPastTimeout { .. }
        );
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
    fn draw(&mut self, hold_ms: u64) -> Option<(Kind, Fault)> {
        let burst_active = self.active.iter().any(|&(_, burst)| burst);
        let n = self.nodes;
        let allowed: Vec<(Kind, u32)> = self
            .profile
            .kinds
            .iter()
            .copied()
            .filter(|&(kind, _)| match kind {
                Kind::MajorityMinority
                | Kind::Bridge
                | Kind::IsolateLeader
                | Kind::DeposedLeader
                | Kind::SlowClockDeposedLeader => n >= 3,
                Kind::MajoritiesRing => n >= 4 && 2 * ring_radius(n) + 1 < n,
                Kind::OneWay => n >= 2,
                // Taking one node down must leave a majority running.
                Kind::Kill(_)
                | Kind::KillAfterAck(_)
                | Kind::KillToRejoin(..)
                | Kind::Pause(_)
                | Kind::RemoveVoters(_)
                | Kind::DiskFailure(_)
                | Kind::CrashAllInElection => n >= 3,
                Kind::SlowFsync(_)
                | Kind::RpcFaults
                | Kind::ClockDrift(_)
                | Kind::ResetClientConnections => n >= 1,
                // Its links would fight a burst's over the client's.
                Kind::DelayPastTimeout => n >= 1 && !burst_active,
                Kind::CrashAll | Kind::CrashAllAfterAck | Kind::DiskFailureAll => n >= 1,
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
        Some((kind, self.fault_of(kind, hold_ms)))
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
            Kind::IsolateLeader | Kind::DeposedLeader => {
                Fault::Partition(PartitionKind::IsolateLeader)
            }
            Kind::Kill(target) => Fault::Kill(self.target(target)),
            Kind::KillAfterAck(target) => Fault::KillAfterAck(self.target(target)),
            Kind::KillToRejoin(target, rejoin) => Fault::KillToRejoin(self.target(target), rejoin),
            Kind::CrashAllAfterAck => Fault::CrashAllAfterAck,
            Kind::CrashAllInElection => Fault::CrashAllInElection,
            Kind::Pause(target) => Fault::Pause(self.target(target)),
            Kind::CrashAll => Fault::CrashAll,
            // 5 voters go down to 3 or 4, 3 to 2: the rest stays a cluster
            // that can still commit with one of the removed back.
            Kind::RemoveVoters(first) => Fault::RemoveVoters {
                first: self.target(first),
                count: self.rng.gen_range(1..=(n - 1) / 2),
            },
            // Round trips from just inside to well past the timeout: some
            // answers make it, most come too late.
            Kind::DelayPastTimeout => Fault::DelayPastTimeout {
                round_trip_permille: self.rng.gen_range(900..=1_300),
            },
            // Each reset finds about one op in flight per client, most of
            // them writes; the hold bounds the whole series.
            Kind::ResetClientConnections => {
                let resets = self.rng.gen_range(CLIENT_RESETS.0..=CLIENT_RESETS.1);
                let every_ms = self
                    .rng
                    .gen_range(CLIENT_RESET_EVERY_MS.0..=CLIENT_RESET_EVERY_MS.1);
                Fault::ResetClientConnections {
                    resets,
                    every_ms: every_ms.min(hold_ms / u64::from(resets)),
                }
            }
            Kind::SlowFsync(target) => Fault::SlowFsync {
                target: self.target(target),
                latency_ms: self.rng.gen_range(SLOW_FSYNC_MS.0..=SLOW_FSYNC_MS.1),
            },
            Kind::DiskFailure(target) => Fault::FailDisk(self.target(target)),
            Kind::DiskFailureAll => Fault::FailAllDisks,
            Kind::ClockDrift(target) => {
                let (lo, hi) = if self.rng.gen_bool(0.5) {
                    SLOW_CLOCK_PERMILLE
                } else {
                    FAST_CLOCK_PERMILLE
                };
                Fault::DriftClock {
                    target: self.target(target),
                    rate_permille: self.rng.gen_range(lo..=hi),
                    isolate: false,
                }
            }
            Kind::SlowClockDeposedLeader => Fault::DriftClock {
                target: Target::Leader,
                rate_permille: self
                    .rng
                    .gen_range(DEPOSED_LEADER_CLOCK_PERMILLE.0..=DEPOSED_LEADER_CLOCK_PERMILLE.1),
                isolate: true,
            },
            Kind::RpcFaults => Fault::RpcFaults(RpcFaults {
                drop_percent: f64::from(self.rng.gen_range(1..=10u32)),
                duplicate_percent: f64::from(self.rng.gen_range(0..=10u32)),
                delay_percent: f64::from(self.rng.gen_range(0..=30u32)),
                delay_max_us: 1_000 * self.rng.gen_range(RPC_DELAY_MAX_MS.0..=RPC_DELAY_MAX_MS.1),
            }),
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
        super::shuffle(self.rng, &mut order);
        order
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use madsim_net::Partition;

    use super::super::ScheduleError;
    use super::super::fault::ring_grudges;
    use super::super::schedule::MAX_CLIENT_RESETS;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// A schedule drawn in a simulation seeded with 1 (under madsim the
    /// RNG exists only inside one).
    /// Seed 1's schedule with every kind of the preset ([`Mix::Full`]):
    /// what the preset-wide properties below are about.
    fn generate(preset: NemesisPreset, nodes: usize, duration: Duration) -> Schedule {
        seeded(1, || {
            let rng = &mut madsim_net::rand::thread_rng();
            Schedule::generate_mix(rng, preset, nodes, duration, TimeScale::UNIT, Mix::Full)
        })
    }

    #[test]
    fn each_seed_draws_its_own_mix_inside_the_preset() {
        let Some(preset) = Profile::of(NemesisPreset::Hostile) else {
            panic!("hostile has a profile");
        };
        let names: BTreeSet<&str> = preset.kinds.iter().map(|&(k, _)| k.name()).collect();
        let within =
            |(lo, hi): (u64, u64), (min, max): (u64, u64)| min <= lo && lo <= hi && hi <= max;
        let mut mixes = BTreeSet::new();
        for seed in 0..30 {
            let s = seeded(seed, || {
                Schedule::generate(NemesisPreset::Hostile, 5, 10 * MINUTE)
            });
            let Some(draw) = s.swarm() else {
                panic!("seed {seed}: a drawn schedule records its swarm draw");
            };
            assert!(!draw.kinds.is_empty(), "seed {seed}: no kind on");
            for (name, weight) in &draw.kinds {
                assert!(names.contains(name.as_str()), "{name} is not hostile's");
                assert!((1..=4 * 3).contains(weight), "weight {weight}");
            }
            assert!(within(draw.hold_ms, preset.hold_ms), "{draw:?}");
            assert!(within(draw.gap_ms, preset.gap_ms), "{draw:?}");
            assert!((1..=preset.max_concurrent).contains(&draw.max_concurrent));
            assert!(max_overlap(&s) <= draw.max_concurrent, "seed {seed}");
            // A kind left out never shows up.
            let power_loss = draw.kinds.iter().any(|(n, _)| n.starts_with("power-loss"));
            let crashes = s.steps().iter().any(|st| {
                matches!(
                    st.fault,
                    Fault::CrashAll | Fault::CrashAllAfterAck | Fault::CrashAllInElection
                )
            });
            assert!(
                power_loss || !crashes,
                "seed {seed}: power loss not drawn, yet scheduled"
            );
            mixes.insert(format!("{:?}", draw.kinds));
        }
        assert!(
            mixes.len() >= 25,
            "only {} distinct mixes in 30 seeds",
            mixes.len()
        );
    }

    #[test]
    fn the_full_mix_records_no_draw() {
        assert_eq!(generate(NemesisPreset::Standard, 5, MINUTE).swarm(), None);
        let none = seeded(1, || Schedule::generate(NemesisPreset::None, 5, MINUTE));
        assert_eq!(none.swarm(), None, "no faults, nothing drawn");
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
                        let again = Schedule::new(s.steps().to_vec());
                        assert_eq!(again.as_ref().map(Schedule::steps), Ok(s.steps()));
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
    fn standard_is_one_fault_every_one_to_two_seconds() {
        let s = generate(NemesisPreset::Standard, 5, 10 * MINUTE);
        let starts = starts(&s);
        assert!(starts.len() > 10);
        let end_of = |episode: u32| {
            s.steps()
                .iter()
                .find(|st| st.episode == episode && st.fault.is_undo())
                .map(|st| st.at_ms)
        };
        let mut long = 0;
        for pair in starts.windows(2) {
            let gap = pair[1].at_ms - pair[0].at_ms;
            let held = end_of(pair[0].episode).map(|end| end - pair[0].at_ms);
            // A deposed leader or a client delayed past its timeout is
            // held past an election and a client timeout, then the usual
            // gap follows.
            if let Some(held @ 1_501..) = held {
                assert!((3_000..=4_500).contains(&held), "held {held} ms");
                assert!((200..=600).contains(&(gap - held)), "gap {gap} ms");
                long += 1;
                continue;
            }
            assert!((800..=2_100).contains(&gap), "gap {gap} ms");
        }
        assert!(long > 0, "no long-held fault in ten minutes");
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
                Fault::ResetClientConnections { resets, every_ms } => {
                    edges.push((step.at_ms, 1));
                    edges.push((step.at_ms + u64::from(*resets) * every_ms, -1));
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
        let drift = |rate_permille| Fault::DriftClock {
            target: Target::Leader,
            rate_permille,
            isolate: false,
        };
        assert!(matches!(
            Schedule::new(vec![step(1, 0, drift(50))]),
            Err(ScheduleError::ClockRate {
                rate_permille: 50,
                ..
            })
        ));
        assert!(
            Schedule::new(vec![
                step(1, 0, drift(100)),
                step(2, 0, Fault::RestoreClock)
            ])
            .is_ok()
        );
        let resets = |resets, every_ms| Fault::ResetClientConnections { resets, every_ms };
        for (count, every_ms) in [(0, 100), (MAX_CLIENT_RESETS + 1, 100), (3, 5_000)] {
            assert!(
                matches!(
                    Schedule::new(vec![step(1, 0, resets(count, every_ms))]),
                    Err(ScheduleError::ClientResets { .. })
                ),
                "{count} resets {every_ms} ms apart"
            );
        }
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

    /// Drifted clocks stay within the rates a clock may run at; a leader
    /// cut off runs slow enough for its lease to outlast an election, and
    /// is held as long as a deposed leader; a series of client resets fits
    /// in its hold.
    #[test]
    fn clock_drifts_and_client_resets_are_drawn_in_bounds() {
        let s = generate(NemesisPreset::Hostile, 5, 30 * MINUTE);
        let (mut isolated, mut free, mut resets) = (0, 0, 0);
        for step in s.steps() {
            match step.fault {
                Fault::DriftClock {
                    target,
                    rate_permille,
                    isolate: true,
                } => {
                    assert_eq!(target, Target::Leader);
                    let (lo, hi) = DEPOSED_LEADER_CLOCK_PERMILLE;
                    assert!((lo..=hi).contains(&rate_permille), "{rate_permille}");
                    let end = s
                        .steps()
                        .iter()
                        .find(|st| st.episode == step.episode && st.fault == Fault::RestoreClock)
                        .map(|st| st.at_ms - step.at_ms);
                    assert!(end.is_some_and(|held| held >= LONG_HOLD_MS.0), "{end:?}");
                    isolated += 1;
                }
                Fault::DriftClock { rate_permille, .. } => {
                    let slow = SLOW_CLOCK_PERMILLE.0..=SLOW_CLOCK_PERMILLE.1;
                    let fast = FAST_CLOCK_PERMILLE.0..=FAST_CLOCK_PERMILLE.1;
                    assert!(slow.contains(&rate_permille) || fast.contains(&rate_permille));
                    free += 1;
                }
                Fault::ResetClientConnections {
                    resets: n,
                    every_ms,
                } => {
                    assert!((CLIENT_RESETS.0..=CLIENT_RESETS.1).contains(&n));
                    assert!(u64::from(n) * every_ms <= 4_000, "longer than the hold");
                    resets += 1;
                }
                _ => {}
            }
        }
        assert!(
            isolated > 0 && free > 0 && resets > 0,
            "{isolated} {free} {resets}"
        );
        for (lo, hi) in [
            SLOW_CLOCK_PERMILLE,
            FAST_CLOCK_PERMILLE,
            DEPOSED_LEADER_CLOCK_PERMILLE,
        ] {
            assert!(madsim_net::clock::RATE_PERMILLE.contains(&lo));
            assert!(madsim_net::clock::RATE_PERMILLE.contains(&hi));
        }
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
