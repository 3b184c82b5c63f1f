//! The Raft log and vote, on a simulated [`Disk`].
//!
//! Durability follows openraft's contracts in `RaftLogStorage`:
//! - `save_vote` returns only once the vote is synced;
//! - `append` makes the entries readable at once and calls the `IOFlushed`
//!   callback only once they are synced (the sync also covers every earlier
//!   write: truncates, purges, the committed id);
//! - `truncate_after`, `purge` and `save_committed` are written in order but
//!   not synced on their own: openraft does not ask for it, and the disk's
//!   prefix-only crashes keep them ordered with respect to later writes.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds, RangeInclusive};

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};

use std::sync::Arc;

use parking_lot::Mutex;

use super::disk::{Disk, Entry, LogId, Mount, Vote};
use crate::bugs::Bugs;
use crate::types::TypeConfig;

/// Entries one `limited_get_log_entries` returns at most.
pub const MAX_ENTRIES_PER_READ: u64 = 4096;

/// The log store of one incarnation of a node.
#[derive(Debug)]
pub struct LogStore {
    mount: Mount,
    bugs: Bugs,
    /// The vote under the planted `forget-vote` bug: memory only.
    volatile_vote: Arc<Mutex<Option<Vote>>>,
}

/// A reader of the same disk; sees every write as soon as it is made.
#[derive(Clone, Debug)]
pub struct LogReader {
    mount: Mount,
    bugs: Bugs,
    volatile_vote: Arc<Mutex<Option<Vote>>>,
}

impl LogStore {
    pub(crate) fn with_bugs(mount: Mount, bugs: Bugs) -> Self {
        Self {
            mount,
            bugs,
            volatile_vote: Arc::default(),
        }
    }

    pub fn disk(&self) -> &Disk {
        self.mount.disk()
    }
}

/// `[start, end]` of the indexes in `range`; `None` when it is empty.
/// An inverted range (start past end) is a caller bug, refused.
fn index_range(range: &impl RangeBounds<u64>) -> io::Result<Option<RangeInclusive<u64>>> {
    // u128 so that `end + 1` and `start + 1` cannot overflow.
    let start = match range.start_bound() {
        Bound::Included(s) => u128::from(*s),
        Bound::Excluded(s) => u128::from(*s) + 1,
        Bound::Unbounded => 0,
    };
    let end_exclusive = match range.end_bound() {
        Bound::Included(e) => u128::from(*e) + 1,
        Bound::Excluded(e) => u128::from(*e),
        Bound::Unbounded => u128::from(u64::MAX) + 1,
    };
    if start > end_exclusive {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("inverted log range [{start}, {end_exclusive})"),
        ));
    }
    if start == end_exclusive {
        return Ok(None);
    }
    // start < end_exclusive <= 2^64: both ends fit in u64.
    let (Ok(first), Ok(last)) = (u64::try_from(start), u64::try_from(end_exclusive - 1)) else {
        unreachable!("bounds derived from u64 values");
    };
    Ok(Some(first..=last))
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        Ok(match index_range(&range)? {
            None => Vec::new(),
            Some(indexes) => self.mount.disk().entries(indexes),
        })
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        if self.bugs.forget_vote {
            return Ok(*self.volatile_vote.lock());
        }
        Ok(self.mount.disk().vote())
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        let end = end.min(start.saturating_add(MAX_ENTRIES_PER_READ));
        self.try_get_log_entries(start..end).await
    }
}

/// Reports `result` through `callback`; io::Error is not Clone, so the
/// callback gets a copy with the same kind and message.
fn report(callback: IOFlushed<TypeConfig>, result: &io::Result<()>) {
    let copy = match result {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    };
    callback.io_completed(copy);
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let (last_purged_log_id, last_log_id) = self.mount.disk().log_state();
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            mount: self.mount.clone(),
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
        self.mount.save_vote(vote)?;
        self.mount.sync().await
    }

    /// Written in order, synced by the next vote, append or snapshot. If a
    /// crash loses it, the recovered value is older, which openraft accepts
    /// (it re-applies less on start-up); it can never be newer than the
    /// durable log, because only prefixes of the writes survive.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.mount.save_committed(committed)?;
        self.mount.sync().await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.mount.disk().committed())
    }

    /// Writes the entries (readable at once), waits out one fsync, and only
    /// then calls `callback`. The wait is inline: openraft serialises log IO
    /// anyway, and an inline fsync cannot complete out of order.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let written = self.mount.append(entries.into_iter().collect());
        if self.bugs.early_ack {
            // Planted bug: acknowledged while still in the page cache.
            report(callback, &written);
            return written;
        }
        let result = match written {
            Ok(()) => self.mount.sync().await,
            Err(e) => Err(e),
        };
        report(callback, &result);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.mount.truncate_after(last_log_id)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.mount.purge(log_id)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::time::Duration;

    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;
    use openraft::type_config::TypeConfigExt;

    use super::*;
    use crate::store::{CrashPolicy, open};

    fn blanks(indexes: RangeInclusive<u64>) -> Vec<Entry> {
        indexes
            .map(|i| Entry::new_blank(log_id::<TypeConfig>(1, 1, i)))
            .collect()
    }

    #[test]
    fn ranges_are_normalised_and_inverted_ones_refused() {
        assert_eq!(index_range(&(3..7)).unwrap(), Some(3..=6));
        assert_eq!(index_range(&(3..=3)).unwrap(), Some(3..=3));
        assert_eq!(index_range(&(5..5)).unwrap(), None);
        assert_eq!(index_range(&(0..)).unwrap(), Some(0..=u64::MAX));
        assert_eq!(index_range(&(..=u64::MAX)).unwrap(), Some(0..=u64::MAX));
        let excluded = (Bound::Excluded(u64::MAX), Bound::Unbounded);
        assert_eq!(index_range(&excluded).unwrap(), None);
        #[allow(clippy::reversed_empty_ranges)]
        let inverted = 7..3;
        assert!(index_range(&inverted).is_err());
    }

    /// The callback fires only once the entries are synced: before it, a
    /// power loss would lose them; right after it, none does.
    #[test]
    fn append_callback_fires_only_once_durable() {
        TypeConfig::run(async {
            let disk = Disk::with_fsync_latency(Duration::from_millis(200));
            let (mut store, _sm) = open(disk.clone()).await;
            let (tx, rx) = TypeConfig::oneshot();
            let append = TypeConfig::spawn(async move {
                store.append(blanks(1..=5), IOFlushed::signal(tx)).await
            });
            let mut rx = pin!(rx);

            TypeConfig::sleep(Duration::from_millis(50)).await;
            assert!(
                futures::poll!(rx.as_mut()).is_pending(),
                "callback before fsync"
            );
            assert_eq!(disk.pending_ops(), 5, "written, not yet synced");
            assert_eq!(
                disk.log_state().1.map(|id| id.index),
                Some(5),
                "readable at once"
            );

            rx.await.unwrap().unwrap();
            assert_eq!(disk.crash(CrashPolicy::LoseAllUnsynced), 0);
            assert_eq!(disk.log_state().1.map(|id| id.index), Some(5));
            append.await.unwrap().unwrap();
        });
    }

    #[test]
    fn save_vote_is_durable_on_return() {
        TypeConfig::run(async {
            let disk = Disk::new();
            let (mut store, _sm) = open(disk.clone()).await;
            store.save_vote(&Vote::new(3, 1)).await.unwrap();
            store.save_committed(None).await.unwrap();
            disk.crash(CrashPolicy::LoseAllUnsynced);
            let (mut store, _sm) = open(disk).await;
            let mut reader = store.get_log_reader().await;
            assert_eq!(reader.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
        });
    }
}
