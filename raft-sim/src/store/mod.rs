//! Storage for any app: a simulated [`Disk`] per node that loses what was
//! never synced, the Raft log on it ([`LogStore`], a `RaftLogStorage<C>`),
//! files for the app's state machine on the same disk
//! ([`Mount::put_blob`], [`Mount::save_snapshot`]), and [`faulty`]
//! wrappers that inject seeded latency and IO errors into any store.
//!
//! The harness owns one [`Disk`] per node, hands it to every incarnation
//! of the node, and calls [`Disk::crash`] at every kill: a crash keeps a
//! seeded prefix of the unsynced writes, never a hole.

mod ambient;
mod disk;
pub mod faulty;
mod log_store;
mod mirror;

pub use ambient::{WithNodeMount, current_mount, with_node_mount};
pub use disk::{
    CrashPolicy, DEFAULT_FSYNC_LATENCY, Disk, DiskStats, MAX_BLOB_BYTES, MAX_BLOB_KEY_BYTES,
    MAX_BLOBS, MAX_LOG_ENTRIES, MAX_PENDING_OPS, Mount, SnapshotWrite, StoredSnapshot,
};
pub use log_store::{LogReader, LogStore, MAX_ENTRIES_PER_READ};
pub use mirror::Mirrored;
