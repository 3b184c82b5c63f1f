//! Storage for the raft-sim nodes: a simulated [`Disk`] that loses what was
//! never synced, the Raft log on it ([`LogStore`]), and the volatile KV state
//! machine whose snapshots live on it ([`StateMachineStore`]).
//!
//! The harness owns one [`Disk`] per node, calls [`open`] at every (re)start
//! and [`Disk::crash`] at every kill.

use crate::bugs::Bugs;

mod disk;
mod log_store;
mod state_machine;

pub use disk::{
    CrashPolicy, DEFAULT_FSYNC_LATENCY, Disk, DiskStats, MAX_LOG_ENTRIES, MAX_PENDING_OPS,
    StoredSnapshot,
};
pub use log_store::{LogReader, LogStore, MAX_ENTRIES_PER_READ};
pub use state_machine::{
    KvReader, MAX_STATE_BYTES, MAX_VALUE_BYTES, SnapshotBuilder, StateMachineStore,
};

/// Attaches a new incarnation of a node to its disk: what a restart does.
///
/// The log and vote are read from the disk as they are. The state machine
/// starts empty: `Raft::new` (openraft's `StorageHelper::get_initial_state`)
/// installs the disk's last snapshot into it and re-applies the log up to
/// the saved committed id. Any earlier incarnation's handles are fenced off:
/// their writes fail from now on.
pub async fn open(disk: Disk) -> (LogStore, StateMachineStore) {
    open_with_bugs(disk, Bugs::none()).await
}

/// [`open`] with planted bugs switched on (tests and `--bug` only).
pub async fn open_with_bugs(disk: Disk, bugs: Bugs) -> (LogStore, StateMachineStore) {
    let mount = disk.mount();
    (
        LogStore::with_bugs(mount.clone(), bugs),
        StateMachineStore::with_bugs(mount, bugs),
    )
}
