//! [`Mirrored`]: an app's own in-memory log store, kept under test and made
//! durable. Every read is the app's store's answer; every write goes to the
//! app's store and, as openraft asked for it, to the node's simulated disk
//! (the vote synced before `save_vote` returns, `IOFlushed` only after the
//! fsync). At a restart the app's store is rebuilt from what the disk kept,
//! so a kill loses exactly what a real disk would, while the app's own log
//! logic (range reads, truncation, purging) still answers openraft.
//!
//! openraft's example `log-mem` forgets the log and the vote at a restart,
//! which makes every restart unsafe; `Mirrored<C, log_mem::LogStore<C>>`
//! keeps its code in the test and its data across restarts.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};

use super::disk::{Disk, MAX_LOG_ENTRIES};
use super::log_store::LogStore;
use crate::SimTypes;

/// An in-memory `RaftLogStorage` `L` with its writes mirrored on the
/// node's simulated disk.
pub struct Mirrored<C: SimTypes, L> {
    app: L,
    disk: LogStore<C>,
}

impl<C, L> Debug for Mirrored<C, L>
where
    C: SimTypes,
    L: Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirrored").field("app", &self.app).finish()
    }
}

impl<C, L> Default for Mirrored<C, L>
where
    C: SimTypes,
    L: RaftLogStorage<C> + Default,
{
    /// The app's store, rebuilt from the disk of the node being started
    /// (see [`with_node_mount`](super::with_node_mount)).
    ///
    /// # Panics
    /// Outside `with_node_mount` (see [`LogStore::default`]), or if the
    /// app's store refuses the disk's contents (its own bug, shown at once).
    fn default() -> Self {
        let disk = LogStore::<C>::default();
        let mut app = L::default();
        // An in-memory store answers at once: nothing here waits on the
        // simulator, so blocking on it cannot stall simulated time.
        if let Err(err) = futures::executor::block_on(restore(&mut app, disk.disk())) {
            panic!("the app's log store refused what the disk kept: {err}");
        }
        Mirrored { app, disk }
    }
}

/// Replays what `disk` kept into the empty store `app`: the vote, the log
/// above the purge point (and the purge point), the committed id.
async fn restore<C, L>(app: &mut L, disk: &Disk<C>) -> io::Result<()>
where
    C: SimTypes,
    L: RaftLogStorage<C>,
{
    if let Some(vote) = disk.vote() {
        app.save_vote(&vote).await?;
    }
    let (purged, last) = disk.log_state();
    if let Some(last) = last {
        let first = purged.as_ref().map_or(0, |p| p.index.saturating_add(1));
        assert!(
            last.index.saturating_sub(first) < MAX_LOG_ENTRIES as u64,
            "the disk holds at most MAX_LOG_ENTRIES entries"
        );
        let entries: Vec<EntryOf<C>> = disk.entries(first..=last.index);
        app.append(entries, IOFlushed::noop()).await?;
    }
    if let Some(purged) = purged {
        app.purge(purged).await?;
    }
    app.save_committed(disk.committed()).await
}

impl<C, L> RaftLogReader<C> for Mirrored<C, L>
where
    C: SimTypes,
    L: RaftLogStorage<C> + RaftLogReader<C>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<EntryOf<C>>, io::Error> {
        self.app.try_get_log_entries(range).await
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.app.read_vote().await
    }
}

impl<C, L> RaftLogStorage<C> for Mirrored<C, L>
where
    C: SimTypes,
    L: RaftLogStorage<C> + RaftLogReader<C>,
{
    /// Reads go to the app's own reader.
    type LogReader = L::LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        self.app.get_log_state().await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.app.get_log_reader().await
    }

    /// Synced on the disk before the app's store has it.
    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.disk.save_vote(vote).await?;
        self.app.save_vote(vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.disk.save_committed(committed.clone()).await?;
        self.app.save_committed(committed).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.app.read_committed().await
    }

    /// The app's store has the entries at once (openraft may read them
    /// before they are durable); `callback` fires only after the disk's
    /// fsync.
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = EntryOf<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<EntryOf<C>> = entries.into_iter().collect();
        self.app.append(entries.clone(), IOFlushed::noop()).await?;
        self.disk.append(entries, callback).await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.disk.truncate_after(last_log_id.clone()).await?;
        self.app.truncate_after(last_log_id).await
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        self.disk.purge(log_id.clone()).await?;
        self.app.purge(log_id).await
    }
}
