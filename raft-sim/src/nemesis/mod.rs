//! The nemesis: a fault schedule drawn from the seed, then played against
//! any cluster.
//!
//! - [`fault`]: the vocabulary: [`Fault`], [`Target`], [`PartitionKind`].
//! - [`schedule`]: a bounded, checked list of timed [`Step`]s in episodes
//!   (a partition and its heal, a kill and its restart, a pause and its
//!   resume share an episode; a link impairment burst ends by itself).
//! - [`generate`]: [`Schedule::generate`] draws a schedule for a
//!   [`NemesisPreset`] from `madsim_net::rand::thread_rng()` (the
//!   simulator's seeded RNG under `cfg(madsim)`), so a seed replays the
//!   same faults. Fault durations scale with the app's election timeout
//!   ([`TimeScale`]), so a slow app still sees elections.
//! - [`execute`]: [`run`] plays the steps at their simulated times against
//!   a [`ClusterControl`] (any app's [`Cluster`](crate::cluster::Cluster)
//!   is one), resolving `Leader` and `RandomFollower` when a step runs,
//!   noting every step in the backend's event log; [`stop`] undoes
//!   whatever is left so the cluster can recover.
//!
//! A step that cannot apply (no leader to isolate, the target is already
//! down, a backend refuses an impairment) is recorded as skipped or failed;
//! it never aborts the run.
//!
//! ```ignore
//! let schedule = Schedule::generate(NemesisPreset::Standard, 5, Duration::from_secs(60));
//! let applied = nemesis::run(&cluster, &schedule, SEED).await?;
//! nemesis::stop(&cluster).await?;
//! ```

use std::time::Duration;

pub mod execute;
pub mod fault;
pub mod generate;
pub mod schedule;

pub use execute::{AppliedFault, ClusterControl, Outcome, Progress, Recovery, run, stop};
pub use fault::{Fault, PartitionKind, Rejoin, Target};
pub use generate::{Mix, NemesisPreset, SwarmDraw, TimeScale, UnknownPreset};
pub use schedule::{Schedule, ScheduleError, Step};

/// Steps in one schedule, at most.
pub const MAX_STEPS: usize = 200;
/// Raft nodes a schedule may name, at most.
pub const MAX_NODES: usize = madsim_net::limits::MAX_NODES;
/// Latest time a step may be scheduled at: one simulated day.
pub const MAX_SCHEDULE_MS: u64 = 24 * 60 * 60 * 1_000;
/// Longest impairment burst.
pub const MAX_BURST_MS: u64 = 60_000;
/// How long a step that needs the leader waits for one to show up, at
/// [`TimeScale::UNIT`] (it scales with the app's election timeout).
pub const LEADER_WAIT: Duration = Duration::from_secs(1);

type NodeId = u64;

/// Shuffles `nodes` in place (Fisher–Yates), drawing from `rng`.
fn shuffle<R: madsim_net::rand::Rng + ?Sized>(rng: &mut R, nodes: &mut [NodeId]) {
    for i in (1..nodes.len()).rev() {
        let j = rng.gen_range(0..=i);
        nodes.swap(i, j);
    }
}
