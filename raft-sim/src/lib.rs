//! raft-sim: test your own OpenRaft application in the madsim simulator
//! (and on real sockets), under a seeded nemesis, with its history checked
//! for linearizability.
//!
//! ```no_run
//! use raft_sim::app::App;
//!
//! /// The `main` of your sweep binary, for your `impl App for MyApp`:
//! /// `sweep --seeds 0..1000`, `run --seed N`, `replay ARTIFACT.json`
//! /// (build with `RUSTFLAGS="--cfg madsim"`).
//! fn sweep_binary<A: App>(app: A) -> std::process::ExitCode {
//!     raft_sim::sweep::main(app)
//! }
//! ```
//!
//! Storage that loses what was never synced, for any `RaftTypeConfig`:
//!
//! ```
//! use raft_sim::store::{CrashPolicy, Disk, LogStore};
//! # openraft::declare_raft_types!(pub MyConfig: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime);
//! let disk = Disk::<MyConfig>::new();
//! let mount = disk.mount(); // once per (re)start of the node
//! mount.put_blob("state", b"applied up to 7".to_vec()).unwrap();
//! let _log_store = LogStore::new(mount); // a RaftLogStorage<MyConfig>
//! // Killed before any fsync: the unsynced file is gone.
//! assert_eq!(disk.crash(CrashPolicy::LoseAllUnsynced), 1);
//! assert!(disk.blob("state").is_none());
//! ```
//!
//! The pieces, each its own module:
//!
//! - [`app`]: the [`App`](app::App) trait the user implements (start a
//!   node, invoke one workload op, digest a state machine) and the
//!   [`RaftHandle`](app::RaftHandle) a node publishes.
//! - [`store`]: the simulated [`Disk`](store::Disk), the
//!   [`LogStore`](store::LogStore) on it, fault-injecting wrappers.
//! - [`network`], [`server`], [`wire`]: `RaftNetworkV2<C>` and its server
//!   over madsim-net frames; [`service`]: the app's own client channel.
//! - [`cluster`]: the harness, [`Cluster<B, A>`](cluster::Cluster), on any
//!   `madsim_net::NetBackend`.
//! - [`nemesis`], [`invariants`], [`workload`]: faults, safety and
//!   liveness checks, the client history.
//! - [`sweep`], [`runner`], [`seeds`]: the seed sweep, its report and replay.
//! - [`timeline`]: the HTML page of a run (client ops, node roles and
//!   faults on one time axis) written beside every artifact.
//!
//! The README's "Test your own OpenRaft application" walks through a whole
//! app; `raft-sim/apps/counter` is that app, `raft-sim/apps/kv` a larger one.
pub mod app;
pub mod cluster;
pub mod invariants;
pub mod nemesis;
pub mod network;
pub mod remote;
pub mod runner;
pub mod seeds;
pub mod server;
pub mod service;
pub mod store;
pub mod sweep;
#[cfg(test)]
mod testing;
pub mod timeline;
pub mod wire;
pub mod workload;

/// What twinnet needs of an application's `RaftTypeConfig`: `u64` node ids
/// (they equal the backend's node ids) and terms, and log entries that can
/// be cloned (the simulated disk keeps them; the log-matching check
/// compares them by their `Debug` text, so no `PartialEq` is needed).
///
/// Every config made by openraft's `declare_raft_types!` with the default
/// `NodeId`, `Term` and `Entry` has it, whatever its `D`, `R`, `Node`,
/// `LeaderId` or `AsyncRuntime`.
pub trait SimTypes: openraft::RaftTypeConfig<NodeId = u64, Term = u64, Entry: Clone> {}

impl<C> SimTypes for C where C: openraft::RaftTypeConfig<NodeId = u64, Term = u64, Entry: Clone> {}
