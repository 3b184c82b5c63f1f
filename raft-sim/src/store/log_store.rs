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
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};

use super::disk::{Disk, Mount};
use crate::SimTypes;

/// Entries one `limited_get_log_entries` returns at most.
pub const MAX_ENTRIES_PER_READ: u64 = 4096;

/// The log store of one incarnation of a node: a `RaftLogStorage<C>` for
/// any app, on its [`Disk`].
///
/// ```
/// # use raft_sim::store::{Disk, LogStore};
/// # openraft::declare_raft_types!(pub Demo: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime);
/// let disk = Disk::<Demo>::new();
/// // At every (re)start of the node: a new mount fences off the old one.
/// let log_store = LogStore::new(disk.mount());
/// assert_eq!(disk.stats().crashes, 0);
/// # drop(log_store);
/// ```
#[derive(Debug)]
pub struct LogStore<C: SimTypes> {
    mount: Mount<C>,
}

/// A reader of the same disk; sees every write as soon as it is made.
#[derive(Clone, Debug)]
pub struct LogReader<C: SimTypes> {
    mount: Mount<C>,
}

impl<C: SimTypes> LogStore<C> {
    /// The log store of the incarnation that holds `mount`.
    pub fn new(mount: Mount<C>) -> Self {
        Self { mount }
    }

    pub fn disk(&self) -> &Disk<C> {
        self.mount.disk()
    }

    pub fn mount(&self) -> &Mount<C> {
        &self.mount
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

impl<C: SimTypes> RaftLogReader<C> for LogReader<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        Ok(match index_range(&range)? {
            None => Vec::new(),
            Some(indexes) => self.mount.disk().entries(indexes),
        })
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        Ok(self.mount.disk().vote())
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        let end = end.min(start.saturating_add(MAX_ENTRIES_PER_READ));
        self.try_get_log_entries(start..end).await
    }
}

/// Reports `result` through `callback`; io::Error is not Clone, so the
/// callback gets a copy with the same kind and message.
fn report<C: SimTypes>(callback: IOFlushed<C>, result: &io::Result<()>) {
    let copy = match result {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    };
    callback.io_completed(copy);
}

impl<C: SimTypes> RaftLogStorage<C> for LogStore<C> {
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let (last_purged_log_id, last_log_id) = self.mount.disk().log_state();
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            mount: self.mount.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.mount.save_vote(vote)?;
        self.mount.sync().await
    }

    /// Written in order, synced by the next vote, append or snapshot. If a
    /// crash loses it, the recovered value is older, which openraft accepts
    /// (it re-applies less on start-up); it can never be newer than the
    /// durable log, because only prefixes of the writes survive.
    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.mount.save_committed(committed)?;
        self.mount.sync().await
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        Ok(self.mount.disk().committed())
    }

    /// Writes the entries (readable at once), waits out one fsync, and only
    /// then calls `callback`. The wait is inline: openraft serialises log IO
    /// anyway, and an inline fsync cannot complete out of order.
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let written = self.mount.append(entries.into_iter().collect());
        let result = match written {
            Ok(()) => self.mount.sync().await,
            Err(e) => Err(e),
        };
        report(callback, &result);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.mount.truncate_after(last_log_id)
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
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
    use crate::store::CrashPolicy;
    use crate::testing::TestConfig as TypeConfig;

    type Entry = EntryOf<TypeConfig>;
    type Vote = VoteOf<TypeConfig>;

    fn open(disk: Disk<TypeConfig>) -> std::future::Ready<(LogStore<TypeConfig>, ())> {
        std::future::ready((LogStore::new(disk.mount()), ()))
    }

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

    /// An fsync makes durable what was written before it started; a write
    /// issued while it runs stays in the page cache until the next one.
    #[test]
    fn sync_covers_only_writes_issued_before_it() {
        TypeConfig::run(async {
            let disk = Disk::<TypeConfig>::with_fsync_latency(Duration::from_millis(100));
            let mount = disk.mount();
            mount.append(blanks(1..=2)).unwrap();
            let syncing = mount.clone();
            let sync = TypeConfig::spawn(async move { syncing.sync().await });
            TypeConfig::sleep(Duration::from_millis(50)).await;
            mount.append(blanks(3..=3)).unwrap();
            sync.await.unwrap().unwrap();
            assert_eq!(disk.pending_ops(), 1, "the later write is not synced");
            assert_eq!(disk.crash(CrashPolicy::LoseAllUnsynced), 1);
            assert_eq!(disk.log_state().1.map(|id| id.index), Some(2));
        });
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
