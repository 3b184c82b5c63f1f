//! twinnet: one Raft cluster, two networks. This root package re-exports the
//! workspace's crates and holds the cross-crate tests in `tests/`, the same
//! scenarios on every backend.

pub use madsim_net;
