//! A drop-in for openraft's example crate `log-mem`: the same
//! `LogStore<C>` name and `Default` constructor, but the log and vote live
//! on the node's simulated disk ([`raft_sim::store::LogStore`]), so they
//! survive a kill and a restart the way a real disk would: what was synced
//! stays, what was not may be lost. The example's in-memory log forgets
//! everything at a restart, which makes every restart unsafe.
//!
//! `LogStore::default()` finds its node's disk through
//! [`raft_sim::store::with_node_mount`], which the harness glue wraps
//! around the node's start-up.

pub use raft_sim::store::LogStore;
