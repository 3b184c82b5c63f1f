//! The example's own `log-mem`, mirrored on the simulated disk
//! (`raft_sim::store::Mirrored`): openraft's storage conformance suite
//! passes on it (with the example's `sm-mem`), fresh and after a restart,
//! and a restart rebuilds the example's store from exactly what the disk
//! kept, losing nothing that was synced.

use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::testing::log_id;
use openraft::{EntryPayload, StorageError, Vote};
use raft_kv_memstore::{LogStore, StateMachineStore, TypeConfig};
use raft_sim::store::{CrashPolicy, with_node_mount};

type Disk = raft_sim::store::Disk<TypeConfig>;
type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;

/// The log store an incarnation of a node on `disk` gets.
async fn open(disk: &Disk) -> LogStore {
    with_node_mount(disk.mount(), async { LogStore::default() }).await
}

struct Builder {
    /// Hand out the stores of a second incarnation (first one killed).
    restarted: bool,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, Disk> for Builder {
    async fn build(&self) -> Result<(Disk, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let disk = Disk::new();
        let mut log = open(&disk).await;
        if self.restarted {
            drop(log);
            disk.crash(CrashPolicy::LoseAllUnsynced);
            log = open(&disk).await;
        }
        Ok((disk, log, StateMachineStore::default()))
    }
}

async fn run_suite(restarted: bool) {
    let result =
        Suite::<TypeConfig, LogStore, StateMachineStore, Builder, Disk>::test_all(Builder {
            restarted,
        })
        .await;
    if let Err(err) = result {
        panic!("storage conformance suite failed: {err}");
    }
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id::<TypeConfig>(term, 0, index),
        payload: EntryPayload::Normal(types_kv::Request::set("k", format!("{term}.{index}"))),
    }
}

/// Writes as openraft would, crashes losing everything unsynced, and
/// compares the rebuilt example store with the disk.
async fn restart_rebuilds_what_the_disk_kept() {
    let disk = Disk::new();
    let mut log = open(&disk).await;
    let vote = Vote::new(3, 1);
    log.save_vote(&vote).await.expect("vote");
    log.append((1..=10).map(|i| entry(3, i)), IOFlushed::noop())
        .await
        .expect("append");
    log.truncate_after(Some(log_id::<TypeConfig>(3, 0, 7)))
        .await
        .expect("truncate");
    log.save_committed(Some(log_id::<TypeConfig>(3, 0, 4)))
        .await
        .expect("committed");
    drop(log);
    disk.crash(CrashPolicy::LoseAllUnsynced);

    let mut rebuilt = open(&disk).await;
    // What was synced survived: the vote and the appended entries.
    assert_eq!(rebuilt.read_vote().await.expect("vote"), Some(vote));
    let (purged, last) = disk.log_state();
    assert!(last.is_some_and(|l| l.index >= 7), "{last:?}");
    // The example's store holds exactly what the disk kept.
    let state = rebuilt.get_log_state().await.expect("state");
    assert_eq!(
        (state.last_purged_log_id, state.last_log_id),
        (purged, last)
    );
    let entries = rebuilt.try_get_log_entries(0..).await.expect("entries");
    let ids = |entries: &[Entry]| entries.iter().map(|e| e.log_id).collect::<Vec<_>>();
    let on_disk = disk.entries(1..=last.map_or(0, |l| l.index));
    assert_eq!(ids(&entries), ids(&on_disk));
    assert_eq!(
        rebuilt.read_committed().await.expect("committed"),
        disk.committed()
    );
}

#[cfg(madsim)]
mod sim {
    #[madsim::test]
    async fn conformance_suite() {
        super::run_suite(false).await;
    }

    #[madsim::test]
    async fn conformance_suite_after_restart() {
        super::run_suite(true).await;
    }

    #[madsim::test]
    async fn restart_rebuilds_what_the_disk_kept() {
        super::restart_rebuilds_what_the_disk_kept().await;
    }
}

#[cfg(not(madsim))]
mod real {
    #[tokio::test]
    async fn conformance_suite() {
        super::run_suite(false).await;
    }

    #[tokio::test]
    async fn restart_rebuilds_what_the_disk_kept() {
        super::restart_rebuilds_what_the_disk_kept().await;
    }
}
