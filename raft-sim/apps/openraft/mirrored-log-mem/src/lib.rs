//! The `log-mem` that openraft's example is built with here: the example's
//! own `log-mem` (its code answers every read), its writes mirrored on the
//! node's simulated disk ([`raft_sim::store::Mirrored`]), so the log and
//! the vote survive a kill and a restart the way a real disk would: what
//! was synced stays, what was not may be lost. The example's in-memory log
//! alone forgets everything at a restart, which makes every restart unsafe.
//!
//! `LogStore::default()`, which the example calls, finds its node's disk
//! through [`raft_sim::store::with_node_mount`], which the harness glue
//! wraps around the node's start-up.

/// The example's `log_mem::LogStore`, mirrored on the node's disk.
pub type LogStore<C> = raft_sim::store::Mirrored<C, example_log_mem::LogStore<C>>;
