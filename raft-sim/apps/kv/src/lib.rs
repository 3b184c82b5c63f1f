//! example-kv: twinnet's own example application, an OpenRaft key-value
//! store, tested through raft-sim's public API only (a user's application
//! looks like this one).
//!
//! - [`types`]: the KV commands and openraft's type configuration (its
//!   `AsyncRuntime` is `twinnet_rt::Runtime`).
//! - [`state_machine`], [`store`]: the volatile KV state machine whose
//!   snapshots live on raft-sim's simulated disk, and raft-sim's log store.
//! - [`server`], [`client`]: the client channel (raft-sim's `service`).
//! - [`node`]: one node's body; [`app`]: the [`KvApp`] that raft-sim drives.
//! - [`bugs`]: planted bugs that prove the verification catches them.
//! - [`scenarios`]: the cluster scenarios (election, failover, snapshots,
//!   membership, partitions, crash loops, garbage frames).

pub mod app;
pub mod bugs;
pub mod client;
pub mod node;
pub mod scenarios;
pub mod server;
pub mod state_machine;
pub mod store;
pub mod types;

pub use app::KvApp;
