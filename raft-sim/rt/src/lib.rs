//! The async runtime OpenRaft runs on: madsim's simulator under
//! `cfg(madsim)`, tokio otherwise.
//!
//! Node code names only [`Runtime`] (in its `declare_raft_types!`), so it never
//! knows which of the two it runs on. This is the twin pattern of
//! `madsim_net`, applied to OpenRaft's `AsyncRuntime` abstraction.
//!
//! Under madsim everything OpenRaft does through its runtime must stay inside
//! the simulation's determinism: tasks are madsim tasks on the current
//! simulated node, time is simulated time, randomness is drawn from madsim's
//! seeded generator, and no primitive may consult a process-global RNG or
//! spawn an OS thread. The pieces that need care each have a module:
//!
//! - [`watch`]: a watch channel that wakes waiting receivers in FIFO order
//!   (`tokio::sync::watch` picks its notify slot with a process-global RNG).
//! - `clock` (madsim only): `NodeInstant` and `NodeSleep`, time on the
//!   clock of the task's node, which the nemesis may make drift.
//! - `timeout` (madsim only): a nameable `Timeout` future on madsim's `Sleep`.
//! - `rng` (madsim only): rand 0.10's `Rng` over madsim's seeded generator.
//! - `simulated` (madsim only): `MadsimRuntime` itself.

pub mod watch;

#[cfg(madsim)]
mod clock;
#[cfg(madsim)]
mod rng;
#[cfg(madsim)]
mod simulated;
#[cfg(madsim)]
mod timeout;

#[cfg(madsim)]
pub use clock::{NodeInstant, NodeSleep};
#[cfg(madsim)]
pub use rng::SimRng;
#[cfg(madsim)]
pub use simulated::MadsimRuntime;
#[cfg(madsim)]
pub use timeout::{Elapsed, Timeout};
pub use watch::FifoWatch;

/// The runtime of this build: [`MadsimRuntime`] under `cfg(madsim)`.
#[cfg(madsim)]
pub type Runtime = MadsimRuntime;

/// The runtime of this build: tokio's, outside the simulator.
#[cfg(not(madsim))]
pub type Runtime = openraft_rt_tokio::TokioRuntime;
