//! The KV app's storage, on raft-sim's simulated disk: raft-sim's
//! [`LogStore`] for the log and vote (behind [`KvLogStore`], which plants
//! the log bugs when asked), and the KV [`StateMachineStore`].

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use parking_lot::Mutex;
use raft_sim::store::{Disk, LogReader, LogStore, Mount};

use crate::bugs::Bugs;
use crate::state_machine::StateMachineStore;
use crate::types::TypeConfig;

type Entry = EntryOf<TypeConfig>;
type LogId = LogIdOf<TypeConfig>;
type Vote = VoteOf<TypeConfig>;

/// The KV cluster's `Raft`: its type config and its state machine. It lives
/// with the stores (not with the types) so types do not depend on stores.
pub type Raft = openraft::Raft<TypeConfig, StateMachineStore>;

/// Attaches a new incarnation of a node to its disk: what a restart does.
///
/// The log and vote are read from the disk as they are. The state machine
/// starts empty: `Raft::new` installs the disk's last snapshot into it and
/// re-applies the log up to the saved committed id. Any earlier
/// incarnation's handles are fenced off: their writes fail from now on.
pub async fn open(disk: Disk<TypeConfig>) -> (KvLogStore, StateMachineStore) {
    open_with_bugs(disk, Bugs::none()).await
}

/// [`open`] with planted bugs switched on (tests and `--bug` only).
pub async fn open_with_bugs(disk: Disk<TypeConfig>, bugs: Bugs) -> (KvLogStore, StateMachineStore) {
    let mount = disk.mount();
    (
        KvLogStore {
            inner: LogStore::new(mount.clone()),
            bugs,
            volatile_vote: Arc::default(),
        },
        StateMachineStore::with_bugs(mount, bugs),
    )
}

/// Syncs `mount`; under the planted `sync-error-ignored` bug a failed sync
/// is logged and taken as done.
pub(crate) async fn sync(mount: &Mount<TypeConfig>, bugs: Bugs) -> io::Result<()> {
    let result = mount.sync().await;
    match result {
        Err(e) if bugs.sync_error_ignored => {
            // Planted bug: the write is reported durable anyway.
            tracing::warn!("fsync failed, carrying on: {e}");
            Ok(())
        }
        other => other,
    }
}

/// raft-sim's log store, with the planted log bugs (off unless asked).
#[derive(Debug)]
pub struct KvLogStore {
    inner: LogStore<TypeConfig>,
    bugs: Bugs,
    /// The vote under the planted `forget-vote` bug: memory only.
    volatile_vote: Arc<Mutex<Option<Vote>>>,
}

impl KvLogStore {
    pub fn disk(&self) -> &Disk<TypeConfig> {
        self.inner.disk()
    }
}

/// A reader of the same disk (or, under `forget-vote`, of the memory vote).
#[derive(Clone, Debug)]
pub struct KvLogReader {
    inner: LogReader<TypeConfig>,
    bugs: Bugs,
    volatile_vote: Arc<Mutex<Option<Vote>>>,
}

impl RaftLogReader<TypeConfig> for KvLogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.inner.try_get_log_entries(range).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        if self.bugs.forget_vote {
            return Ok(*self.volatile_vote.lock());
        }
        self.inner.read_vote().await
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        self.inner.limited_get_log_entries(start, end).await
    }
}

impl RaftLogStorage<TypeConfig> for KvLogStore {
    type LogReader = KvLogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        self.inner.get_log_state().await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        KvLogReader {
            inner: self.inner.get_log_reader().await,
            bugs: self.bugs,
            volatile_vote: Arc::clone(&self.volatile_vote),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        if self.bugs.forget_vote {
            // Planted bug: never reaches the disk, gone at the next restart.
            *self.volatile_vote.lock() = Some(*vote);
            return Ok(());
        }
        if self.bugs.vote_unsynced {
            // Planted bug: in the page cache until something else syncs.
            return self.inner.mount().save_vote(vote);
        }
        if self.bugs.sync_error_ignored {
            self.inner.mount().save_vote(vote)?;
            return sync(self.inner.mount(), self.bugs).await;
        }
        self.inner.save_vote(vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        if self.bugs.sync_error_ignored {
            self.inner.mount().save_committed(committed)?;
            return sync(self.inner.mount(), self.bugs).await;
        }
        self.inner.save_committed(committed).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.inner.read_committed().await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        if self.bugs.early_ack || self.bugs.sync_error_ignored {
            let mut done = self.inner.mount().append(entries.into_iter().collect());
            if done.is_ok() && !self.bugs.early_ack {
                done = sync(self.inner.mount(), self.bugs).await;
            }
            // Planted bugs: under early-ack acknowledged while still in
            // the page cache, and never synced on its own; under
            // sync-error-ignored acknowledged whether the sync failed or not.
            let copy = done
                .as_ref()
                .map(|_| ())
                .map_err(|e| io::Error::new(e.kind(), e.to_string()));
            callback.io_completed(copy);
            return done;
        }
        self.inner.append(entries, callback).await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.inner.truncate_after(last_log_id).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.inner.purge(log_id).await
    }
}
