//! madsim-net: one networking API for code that must run both inside the
//! madsim deterministic simulator and on real sockets.
//!
//! Application code imports networking, time, tasks and randomness from here
//! only. Under `--cfg madsim` they are simulated (madsim nodes, simulated time,
//! simulated TCP shaped per link by the seeded [`FailureInjector`]); without
//! it they are tokio's, on real sockets. The harness drives the network
//! through the [`NetBackend`] trait.
//!
//! ```
//! use madsim_net::net::{TcpListener, TcpStream};
//! use madsim_net::{frame, time};
//! use std::time::Duration;
//!
//! async fn echo_once(listener: TcpListener) -> Result<(), madsim_net::NetError> {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     while let Some(line) = frame::read_frame::<_, String>(&mut stream).await? {
//!         frame::write_frame(&mut stream, &line).await?;
//!     }
//!     Ok(())
//! }
//!
//! async fn ask(server: std::net::SocketAddr) -> Result<String, madsim_net::NetError> {
//!     let mut stream = TcpStream::connect(server).await?;
//!     frame::write_frame(&mut stream, &"ping".to_string()).await?;
//!     let reply = time::timeout(Duration::from_secs(1), frame::read_frame(&mut stream))
//!         .await
//!         .map_err(|_| madsim_net::NetError::Io("timed out".into()))??;
//!     Ok(reply.unwrap_or_default())
//! }
//! ```
//!
//! Faults are free functions on the current world, as in turmoil:
//! [`partition`], [`partition_oneway`], [`heal_all`], [`impair`].

pub mod artifact;
pub mod backend;
mod context;
mod duplex;
mod error;
pub mod frame;
pub mod impairment;
pub mod injector;
pub mod limits;
// The per-segment timing model runs only in the simulator's byte path; on
// real sockets the injector keeps just each link's impairment.
#[cfg_attr(not(madsim), allow(dead_code))]
mod link;
pub mod scenario;
pub mod stream;
pub mod trace;

#[cfg(madsim)]
#[path = "sim/mod.rs"]
mod twin;
#[cfg(not(madsim))]
#[path = "std/mod.rs"]
mod twin;

pub use backend::{NetBackend, NodeId, NodeTask, Partition, PartitionId};
pub use error::NetError;
pub use impairment::LinkImpairment;
pub use injector::{FailureInjector, RpcFate, RpcFaults};
pub use trace::{Counters, Event, EventKind, PacketDropReason};

#[cfg(not(madsim))]
pub use twin::backend::LoopbackBackend;
#[cfg(madsim)]
pub use twin::backend::SimBackend;
/// The node threads of real-network backends (loopback, kernel-backend).
#[cfg(not(madsim))]
pub use twin::node_thread;
#[cfg(madsim)]
pub use twin::world::release_nodes;

/// Node clocks: under `cfg(madsim)` each node reads time through its own
/// clock, which [`NetBackend::set_clock_rate`] makes run fast or slow
/// (see the simulator's `clock` module). Real backends share the host's
/// clock and refuse to drift it.
pub mod clock {
    use std::ops::RangeInclusive;

    /// A clock that keeps true time.
    pub const TRUE_RATE_PERMILLE: u32 = 1_000;
    /// The rates a clock may run at: a tenth to ten times true time.
    pub const RATE_PERMILLE: RangeInclusive<u32> = 100..=10_000;

    /// Where a node's clock stands ([`crate::NetBackend::clock_state`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    pub struct ClockState {
        /// Its rate now, in thousandths of true time.
        pub rate_permille: u32,
        /// How far it is ahead of true time (negative: behind), ns.
        pub skew_ns: i64,
        /// Reads of it by the node's code while it ran off true rate, over
        /// the simulation: zero means the drift never reached the node (it
        /// reads another clock).
        pub drifted_reads: u64,
    }

    impl Default for ClockState {
        fn default() -> Self {
            ClockState {
                rate_permille: TRUE_RATE_PERMILLE,
                skew_ns: 0,
                drifted_reads: 0,
            }
        }
    }

    #[cfg(madsim)]
    pub use crate::twin::clock::{now, sim_duration};
}

/// TCP: simulated under `cfg(madsim)`, tokio's otherwise. Same API.
pub mod net {
    pub use crate::twin::net::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
    pub use std::net::{IpAddr, Ipv4Addr, SocketAddr};
}

/// Time: simulated under `cfg(madsim)`, tokio's otherwise.
pub mod time {
    #[cfg(madsim)]
    pub use madsim::time::{
        Instant, Interval, MissedTickBehavior, Sleep, error::Elapsed, interval, interval_at, sleep,
        sleep_until, timeout,
    };
    pub use std::time::Duration;
    #[cfg(not(madsim))]
    pub use tokio::time::{
        Instant, Interval, MissedTickBehavior, Sleep, error::Elapsed, interval, interval_at, sleep,
        sleep_until, timeout,
    };
}

/// Tasks: madsim's (per simulated node) under `cfg(madsim)`, tokio's otherwise.
pub mod task {
    #[cfg(madsim)]
    pub use madsim::task::{JoinError, JoinHandle, spawn, yield_now};
    #[cfg(not(madsim))]
    pub use tokio::task::spawn_blocking;

    /// The simulator has no threads (madsim panics on `std::thread::spawn`):
    /// blocking work runs as an ordinary task, in zero simulated time.
    #[cfg(madsim)]
    pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        spawn(async move { f() })
    }
    #[cfg(not(madsim))]
    pub use tokio::task::{JoinError, JoinHandle, spawn, yield_now};
}

/// Randomness: the simulator's seeded RNG under `cfg(madsim)`, the thread RNG
/// otherwise. rand 0.8's API both ways.
pub mod rand {
    #[cfg(madsim)]
    pub use madsim::rand::{Rng, RngCore, random, thread_rng};
    #[cfg(not(madsim))]
    pub use rand08::{Rng, RngCore, random, thread_rng};

    /// A fresh seed drawn from this RNG, to seed another generator
    /// deterministically (for example a rand 0.10 `StdRng`).
    pub fn seed() -> u64 {
        random()
    }
}

fn current_or_err() -> Result<std::sync::Arc<FailureInjector>, NetError> {
    FailureInjector::current().ok_or(NetError::Unsupported {
        backend: "none",
        what: "inject faults here".into(),
        hint: "call from inside a simulation or a backend's node",
    })
}

/// Cuts `a <-> b` both ways until healed.
pub fn partition(a: NodeId, b: NodeId) -> Result<PartitionId, NetError> {
    current_or_err()?.partition(&Partition::TwoWay { a, b }, None)
}

/// Cuts `from -> to` only.
pub fn partition_oneway(from: NodeId, to: NodeId) -> Result<PartitionId, NetError> {
    current_or_err()?.partition(&Partition::OneWay { from, to }, None)
}

/// Heals every partition.
pub fn heal_all() -> Result<(), NetError> {
    current_or_err()?.heal(None);
    Ok(())
}

/// Impairs the directed link `from -> to` of the simulated network.
/// Refused outside the simulator: real sockets are impaired by a backend
/// (kernel-backend), never silently ignored.
pub fn impair(from: NodeId, to: NodeId, impairment: LinkImpairment) -> Result<(), NetError> {
    twin::world::check_impairment_supported(&impairment)?;
    current_or_err()?.set_link(from, to, impairment)
}
