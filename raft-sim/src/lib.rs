//! raft-sim: an OpenRaft KV cluster over madsim-net, the same node code on
//! the simulator and on real sockets.
//!
//! - [`types`]: the KV commands and openraft's type configuration.
//! - [`rt`]: openraft's async runtime, madsim's under `cfg(madsim)`.
//! - [`store`]: the log store and state machine on a simulated disk.
//! - [`wire`], [`network`], [`server`]: RPCs over madsim-net TCP frames.
//! - [`node`]: one node's body; [`cluster`]: the harness; [`client`]: a KV client.
//! - [`workload`], [`nemesis`], [`invariants`], [`check`]: verification: the
//!   client history, the fault schedule, the safety and liveness checks,
//!   and the linearizability checker.
//! - [`sweep`], [`runner`]: the main job, seeds swept in the simulator.
//! - [`bugs`]: planted bugs that prove the verification catches them.

pub mod bugs;
pub mod check;
pub mod client;
pub mod cluster;
pub mod invariants;
pub mod nemesis;
pub mod network;
pub mod node;
pub mod rt;
pub mod runner;
pub mod scenarios;
pub mod seeds;
pub mod server;
pub mod store;
pub mod sweep;
pub mod types;
pub mod wire;
pub mod workload;
