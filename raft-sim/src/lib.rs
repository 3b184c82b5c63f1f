//! WIP
pub mod app;
pub mod cluster;
pub mod invariants;
pub mod nemesis;
pub mod network;
pub mod runner;
pub mod seeds;
pub mod server;
pub mod service;
pub mod store;
pub mod sweep;
#[cfg(test)]
mod testing;
pub mod wire;
pub mod workload;

/// What twinnet needs of an application's `RaftTypeConfig`: `u64` node ids
/// (they equal the backend's node ids) and terms, and log entries that can
/// be cloned and compared (the log-matching check compares them).
///
/// Every config made by openraft's `declare_raft_types!` with the default
/// `NodeId`, `Term` and `Entry` has it, whatever its `D`, `R`, `Node`,
/// `LeaderId` or `AsyncRuntime`.
pub trait SimTypes:
    openraft::RaftTypeConfig<NodeId = u64, Term = u64, Entry: Clone + PartialEq>
{
}

impl<C> SimTypes for C where
    C: openraft::RaftTypeConfig<NodeId = u64, Term = u64, Entry: Clone + PartialEq>
{
}
