//! A simulated disk that can lose what was never synced.
//!
//! madsim's own file system does not model power loss, so a node's durable
//! state lives here instead, in memory, owned by the cluster harness and
//! handed to each incarnation of the node. The disk has two layers, like an
//! OS page cache over a platter:
//!
//! - `synced`: what survives a crash;
//! - `pending`: an ordered list of writes not yet synced, applied on top of
//!   `synced` for every read (the `visible` layer is kept materialised so
//!   that reads cost no replay).
//!
//! [`Disk<C>::crash`] keeps a prefix of the pending writes and tears off the
//! rest. Because only a prefix can survive, a write never becomes durable
//! before an earlier one: the store's ordering (truncate before append, append
//! before commit) holds across crashes without extra bookkeeping.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use openraft::entry::RaftEntry;
use openraft::type_config::alias::{EntryOf, LogIdOf, SnapshotMetaOf, VoteOf};
use openraft::vote::RaftVote;
use parking_lot::Mutex;

use crate::SimTypes;

/// Unsynced writes kept in the "page cache"; past this, the oldest is
/// written back, as a kernel does under memory pressure.
pub const MAX_PENDING_OPS: usize = 65_536;

/// Log entries the disk holds at most; openraft purges behind snapshots, so
/// a log this long means snapshots are not being taken.
pub const MAX_LOG_ENTRIES: usize = 1_000_000;

/// Application files ([`Mount::put_blob`]) a disk holds at most, and their
/// bounds: a state machine's data file, not a file system.
pub const MAX_BLOBS: usize = 1_024;
pub const MAX_BLOB_KEY_BYTES: usize = 256;
pub const MAX_BLOB_BYTES: usize = 64 << 20;

/// Time one fsync takes unless the harness chooses otherwise: 1 ms of
/// simulated time in the simulator, where it costs nothing and spaces the
/// events as a device would.
#[cfg(madsim)]
pub const DEFAULT_FSYNC_LATENCY: Duration = Duration::from_millis(1);
/// On real sockets, none: the disk is in memory and the network is what
/// those runs test. A sleep there is real time spent on nothing, and
/// tokio's timer rounds it up to its next millisecond tick: with 1 ms,
/// every log flush of every node waited 1-2 ms in turn, and a 5-node
/// cluster on loopback acknowledged about 500 writes per second where it
/// does over 6,000 without (`cargo xtask bench`, raft-loopback). A run
/// that wants a slow disk sets one (`Disk::set_fsync_latency`).
#[cfg(not(madsim))]
pub const DEFAULT_FSYNC_LATENCY: Duration = Duration::ZERO;

/// What reaches the platter when a node is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashPolicy {
    /// The process died but the kernel did not: every pending write is
    /// written back.
    KeepAll,
    /// Power loss before any write-back: everything not fsynced is gone.
    LoseAllUnsynced,
    /// Power loss during write-back: a random prefix of the pending writes
    /// (possibly none, possibly all) survives; the rest is torn off.
    LoseRandomSuffix,
}

/// Counters of one disk over all incarnations of its node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// fsyncs completed.
    pub fsyncs: u64,
    /// Writes issued (a multi-entry append counts one per entry).
    pub ops_written: u64,
    /// Writes torn off at crashes.
    pub ops_lost: u64,
    /// Crashes (kills) of the node.
    pub crashes: u64,
    /// Writes forced to the platter because the page cache was full.
    pub writebacks: u64,
    /// Snapshots saved by `install_snapshot` (sent by a leader).
    pub snapshots_installed: u64,
    /// Snapshots saved by `build_snapshot`.
    pub snapshots_built: u64,
    /// Times the disk failed ([`Disk::fail`]).
    pub failures: u64,
    /// fsyncs that returned an IO error because the disk had failed.
    pub sync_errors: u64,
}

/// A snapshot as it sits on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot<C: SimTypes> {
    pub meta: SnapshotMetaOf<C>,
    pub data: Vec<u8>,
}

/// Who writes a snapshot, which decides whether it may replace a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotWrite {
    /// `install_snapshot`: openraft requires the installed snapshot to
    /// become the current one.
    Install,
    /// `build_snapshot`: builds run concurrently with installs, so a build
    /// that finishes late must not replace a newer installed snapshot.
    Built,
}

/// One write; the unit that a crash keeps or loses.
#[derive(Clone, Debug)]
enum Op<C: SimTypes> {
    SaveVote(VoteOf<C>),
    AppendEntry(EntryOf<C>),
    TruncateAfter(Option<LogIdOf<C>>),
    Purge(LogIdOf<C>),
    SaveCommitted(Option<LogIdOf<C>>),
    SaveSnapshot(Arc<StoredSnapshot<C>>, SnapshotWrite),
    PutBlob(String, Arc<Vec<u8>>),
}

/// The durable state as seen through one layer.
#[derive(Clone, Debug, Default)]
struct Layer<C: SimTypes> {
    vote: Option<VoteOf<C>>,
    log: BTreeMap<u64, EntryOf<C>>,
    last_purged: Option<LogIdOf<C>>,
    committed: Option<LogIdOf<C>>,
    snapshot: Option<Arc<StoredSnapshot<C>>>,
    /// The application's own files (see [`Mount::put_blob`]).
    blobs: BTreeMap<String, Arc<Vec<u8>>>,
}

impl<C: SimTypes> Layer<C> {
    fn apply(&mut self, op: &Op<C>) {
        match op {
            Op::SaveVote(vote) => self.vote = Some(vote.clone()),
            Op::AppendEntry(entry) => {
                self.log.insert(entry.index(), entry.clone());
            }
            Op::TruncateAfter(after) => self.truncate_after(after.as_ref()),
            Op::Purge(upto) => self.purge(upto),
            Op::SaveCommitted(committed) => self.committed = committed.clone(),
            Op::SaveSnapshot(snapshot, write) => self.save_snapshot(snapshot, *write),
            Op::PutBlob(key, data) => {
                self.blobs.insert(key.clone(), Arc::clone(data));
            }
        }
        self.check_invariants();
    }

    fn truncate_after(&mut self, after: Option<&LogIdOf<C>>) {
        let from = match after {
            None => 0,
            // Nothing lies after the largest index.
            Some(id) => match id.index.checked_add(1) {
                Some(from) => from,
                None => return,
            },
        };
        drop(self.log.split_off(&from));
    }

    fn purge(&mut self, upto: &LogIdOf<C>) {
        // Purging is monotonic: an older purge is already covered.
        if self.last_purged.as_ref() >= Some(upto) {
            return;
        }
        self.log = match upto.index.checked_add(1) {
            Some(keep_from) => self.log.split_off(&keep_from),
            None => BTreeMap::new(),
        };
        self.last_purged = Some(upto.clone());
    }

    fn save_snapshot(&mut self, snapshot: &Arc<StoredSnapshot<C>>, write: SnapshotWrite) {
        let current = self.snapshot.as_ref().map(|s| s.meta.last_log_id.clone());
        let older = current.is_some_and(|cur| snapshot.meta.last_log_id < cur);
        if write == SnapshotWrite::Built && older {
            return;
        }
        self.snapshot = Some(Arc::clone(snapshot));
    }

    fn last_log_id(&self) -> Option<LogIdOf<C>> {
        match self.log.last_key_value() {
            Some((_, entry)) => Some(entry.log_id()),
            None => self.last_purged.clone(),
        }
    }

    /// O(log n) checks, cheap enough to run after every write.
    fn check_invariants(&self) {
        let (Some((first, first_entry)), Some((last, last_entry))) =
            (self.log.first_key_value(), self.log.last_key_value())
        else {
            return;
        };
        assert_eq!(
            *first,
            first_entry.index(),
            "entry stored under a foreign index"
        );
        assert_eq!(
            *last,
            last_entry.index(),
            "entry stored under a foreign index"
        );
        let span = last - first + 1;
        assert_eq!(
            span,
            self.log.len() as u64,
            "hole in the log: [{first}, {last}]"
        );
        assert!(
            first_entry.log_id() <= last_entry.log_id(),
            "log ids decrease"
        );
        if let Some(purged) = &self.last_purged {
            assert!(
                *first > purged.index,
                "entry {first} survived purge up to {purged}"
            );
        }
    }
}

/// Everything behind the disk's lock.
#[derive(Debug)]
struct DiskState<C: SimTypes> {
    synced: Layer<C>,
    visible: Layer<C>,
    pending: VecDeque<Op<C>>,
    /// Bumped by every mount and crash; writes from an older mount are
    /// refused, so a task of a killed incarnation cannot write into the
    /// next one.
    epoch: u64,
    fsync_latency: Duration,
    /// The device failed ([`Disk::fail`]): nothing reaches the platter any
    /// more and every fsync fails, until [`Disk::repair`].
    failed: bool,
    stats: DiskStats,
}

impl<C: SimTypes> DiskState<C> {
    fn write(&mut self, op: Op<C>) {
        self.visible.apply(&op);
        self.pending.push_back(op);
        self.stats.ops_written += 1;
        if self.pending.len() > MAX_PENDING_OPS
            && let Some(oldest) = self.pending.pop_front()
        {
            if self.failed {
                // The write-back fails too: the page is dropped, as Linux
                // drops a dirty page whose write-back failed.
                self.stats.ops_lost += 1;
            } else {
                self.synced.apply(&oldest);
                self.stats.writebacks += 1;
            }
        }
    }

    fn fsync(&mut self) -> usize {
        self.fsync_upto(self.stats.ops_written)
    }

    /// Makes durable the pending writes issued before write number `mark`
    /// (a [`DiskStats::ops_written`] reading): what an fsync promises for
    /// the writes issued before it started, and no more.
    fn fsync_upto(&mut self, mark: u64) -> usize {
        if self.failed {
            return 0;
        }
        let newer =
            usize::try_from(self.stats.ops_written.saturating_sub(mark)).unwrap_or(usize::MAX);
        let made_durable = self.pending.len().saturating_sub(newer);
        for op in self.pending.drain(..made_durable) {
            self.synced.apply(&op);
        }
        self.stats.fsyncs += 1;
        made_durable
    }

    fn crash_keeping(&mut self, keep: usize) -> usize {
        assert!(
            keep <= self.pending.len(),
            "cannot keep more than is pending"
        );
        // A failed device wrote nothing since it failed.
        let keep = if self.failed { 0 } else { keep };
        let lost = self.pending.len() - keep;
        for op in self.pending.drain(..keep) {
            self.synced.apply(&op);
        }
        self.pending.clear();
        self.visible = self.synced.clone();
        self.epoch += 1;
        self.stats.crashes += 1;
        self.stats.ops_lost += lost as u64;
        lost
    }

    fn check_epoch(&self, epoch: u64) -> io::Result<()> {
        if epoch == self.epoch {
            return Ok(());
        }
        Err(io::Error::other(format!(
            "stale disk mount (epoch {epoch}, disk at {}): this incarnation was killed or replaced",
            self.epoch
        )))
    }

    fn append(&mut self, entries: Vec<EntryOf<C>>) -> io::Result<()> {
        let mut prev = self.visible.last_log_id();
        for entry in &entries {
            check_next::<C>(prev.as_ref(), &entry.log_id())?;
            prev = Some(entry.log_id());
        }
        if self.visible.log.len().saturating_add(entries.len()) > MAX_LOG_ENTRIES {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("log would exceed {MAX_LOG_ENTRIES} entries: is snapshotting off?"),
            ));
        }
        for entry in entries {
            self.write(Op::AppendEntry(entry));
        }
        Ok(())
    }

    fn truncate_after(&mut self, after: Option<LogIdOf<C>>) -> io::Result<()> {
        if let Some(purged) = &self.visible.last_purged
            && after.as_ref().is_none_or(|a| a.index < purged.index)
        {
            return Err(invalid(format!(
                "truncate after {after:?} would cut below the purged log {purged}"
            )));
        }
        if let Some(at) = &after
            && let Some(entry) = self.visible.log.get(&at.index)
            && entry.log_id() != *at
        {
            return Err(invalid(format!(
                "truncate after {at}, but the log holds {} there",
                entry.log_id()
            )));
        }
        self.write(Op::TruncateAfter(after));
        Ok(())
    }
}

/// The next log id of a log whose last id is `prev` must follow it directly.
fn check_next<C: SimTypes>(prev: Option<&LogIdOf<C>>, next: &LogIdOf<C>) -> io::Result<()> {
    let Some(prev) = prev else {
        // An empty log that was never purged may start anywhere.
        return Ok(());
    };
    let follows = prev.index.checked_add(1) == Some(next.index);
    if !follows || next <= prev {
        return Err(invalid(format!(
            "append {next} after {prev}: the log must stay consecutive and increasing"
        )));
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// How many pending writes a crash under `policy` keeps; `draw` is called
/// at most once, for the random policy.
fn kept_prefix(policy: CrashPolicy, pending: usize, draw: impl FnOnce() -> u64) -> usize {
    match policy {
        CrashPolicy::KeepAll => pending,
        CrashPolicy::LoseAllUnsynced => 0,
        CrashPolicy::LoseRandomSuffix if pending == 0 => 0,
        CrashPolicy::LoseRandomSuffix => {
            // Any length from none to all; the modulo bias is negligible
            // for counts this far below 2^64.
            let choices = pending as u64 + 1;
            (draw() % choices) as usize
        }
    }
}

/// A simulated disk shared by every incarnation of one node.
///
/// Cloning shares the disk. The harness keeps one clone, hands one to each
/// (re)start of the node (`NodeStart::disk`, which the node mounts once),
/// and calls [`Disk::crash`] when it kills the node.
#[derive(Clone, Debug)]
pub struct Disk<C: SimTypes>(Arc<Mutex<DiskState<C>>>);

impl<C: SimTypes> Default for Disk<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: SimTypes> Disk<C> {
    /// An empty disk whose fsync takes [`DEFAULT_FSYNC_LATENCY`].
    pub fn new() -> Self {
        Self::with_fsync_latency(DEFAULT_FSYNC_LATENCY)
    }

    /// An empty disk whose fsync takes `latency` of (simulated) time.
    pub fn with_fsync_latency(latency: Duration) -> Self {
        Self(Arc::new(Mutex::new(DiskState {
            synced: Layer::default(),
            visible: Layer::default(),
            pending: VecDeque::new(),
            epoch: 0,
            fsync_latency: latency,
            failed: false,
            stats: DiskStats::default(),
        })))
    }

    pub fn fsync_latency(&self) -> Duration {
        self.0.lock().fsync_latency
    }

    /// From now on an fsync takes `latency` (a slow device, a latency spike).
    pub fn set_fsync_latency(&self, latency: Duration) {
        self.0.lock().fsync_latency = latency;
    }

    /// The device fails, for good until [`Disk::repair`]: writes still
    /// land in the page cache and read back, but none reaches the platter
    /// (the writes pending now and every later one are lost at the next
    /// crash), and every [`Mount::sync`] returns an IO error, whenever it
    /// started. An app must take the first error as final: the next fsync
    /// of a real kernel may succeed without having written the lost pages
    /// (PostgreSQL's "fsyncgate"), so a store that retries or ignores a
    /// failed sync acknowledges writes that are gone. This model keeps
    /// failing instead, so that a correct store is never told a lost write
    /// is durable, and keeps the log without holes (only what was synced
    /// before the failure survives).
    pub fn fail(&self) {
        let mut state = self.0.lock();
        if !state.failed {
            state.failed = true;
            state.stats.failures += 1;
        }
    }

    /// The failed device is replaced by a working one holding what was
    /// synced before the failure. Call it with the node down (after the
    /// crash that loses what the failure did not write).
    pub fn repair(&self) {
        self.0.lock().failed = false;
    }

    pub fn has_failed(&self) -> bool {
        self.0.lock().failed
    }

    /// Makes every pending write durable; returns how many there were
    /// (none on a failed disk).
    pub fn fsync(&self) -> usize {
        self.0.lock().fsync()
    }

    /// The node was killed: keeps a prefix of the pending writes chosen by
    /// `policy` (randomness from the simulator's seeded RNG), drops the rest,
    /// fences off the killed incarnation, and returns how many writes were
    /// lost.
    pub fn crash(&self, policy: CrashPolicy) -> usize {
        let mut state = self.0.lock();
        let keep = kept_prefix(policy, state.pending.len(), madsim_net::rand::random::<u64>);
        state.crash_keeping(keep)
    }

    /// [`Disk<C>::crash`] with the random draw given, to replay a crash exactly.
    pub fn crash_with_draw(&self, policy: CrashPolicy, draw: u64) -> usize {
        let mut state = self.0.lock();
        let keep = kept_prefix(policy, state.pending.len(), || draw);
        state.crash_keeping(keep)
    }

    /// Writes issued but not yet synced.
    pub fn pending_ops(&self) -> usize {
        self.0.lock().pending.len()
    }

    pub fn stats(&self) -> DiskStats {
        self.0.lock().stats
    }

    // ---- reads, through the page cache (what a reader sees right now) ----

    pub fn vote(&self) -> Option<VoteOf<C>> {
        self.0.lock().visible.vote.clone()
    }

    /// `(last_purged_log_id, last_log_id)`; the last log id falls back to
    /// the last purged one when no entry is left, as openraft requires.
    pub fn log_state(&self) -> (Option<LogIdOf<C>>, Option<LogIdOf<C>>) {
        let state = self.0.lock();
        (
            state.visible.last_purged.clone(),
            state.visible.last_log_id(),
        )
    }

    pub fn committed(&self) -> Option<LogIdOf<C>> {
        self.0.lock().visible.committed.clone()
    }

    pub fn snapshot(&self) -> Option<Arc<StoredSnapshot<C>>> {
        self.0.lock().visible.snapshot.clone()
    }

    /// The entries with index in `range`, in order, without holes.
    pub fn entries(&self, range: RangeInclusive<u64>) -> Vec<EntryOf<C>> {
        // BTreeMap::range panics on an inverted range.
        if range.start() > range.end() {
            return Vec::new();
        }
        let entries: Vec<EntryOf<C>> = {
            let state = self.0.lock();
            state
                .visible
                .log
                .range(range)
                .map(|(_, e)| e.clone())
                .collect()
        };
        for pair in entries.windows(2) {
            assert_eq!(pair[0].index() + 1, pair[1].index(), "hole in a read");
        }
        entries
    }

    /// The application file `key`, as the page cache holds it (see
    /// [`Mount::put_blob`]).
    pub fn blob(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.0.lock().visible.blobs.get(key).cloned()
    }

    /// Attaches a new incarnation of the node; earlier mounts become stale.
    pub fn mount(&self) -> Mount<C> {
        let mut state = self.0.lock();
        state.epoch += 1;
        Mount {
            disk: self.clone(),
            epoch: state.epoch,
        }
    }
}

/// The disk as one incarnation of the node sees it: every write checks that
/// the incarnation is still the current one.
#[derive(Clone, Debug)]
pub struct Mount<C: SimTypes> {
    disk: Disk<C>,
    epoch: u64,
}

impl<C: SimTypes> Mount<C> {
    pub fn disk(&self) -> &Disk<C> {
        &self.disk
    }

    /// Runs `write` on the disk if this mount is still current.
    fn write<T>(&self, write: impl FnOnce(&mut DiskState<C>) -> io::Result<T>) -> io::Result<T> {
        let mut state = self.disk.0.lock();
        state.check_epoch(self.epoch)?;
        write(&mut state)
    }

    pub fn save_vote(&self, vote: &VoteOf<C>) -> io::Result<()> {
        self.write(|state| {
            if let Some(current) = &state.visible.vote
                && RaftVote::partial_cmp(vote, current) == Some(std::cmp::Ordering::Less)
            {
                return Err(invalid(format!("vote {vote} would go back from {current}")));
            }
            state.write(Op::SaveVote(vote.clone()));
            Ok(())
        })
    }

    pub fn append(&self, entries: Vec<EntryOf<C>>) -> io::Result<()> {
        self.write(|state| state.append(entries))
    }

    pub fn truncate_after(&self, after: Option<LogIdOf<C>>) -> io::Result<()> {
        self.write(|state| state.truncate_after(after))
    }

    pub fn purge(&self, upto: LogIdOf<C>) -> io::Result<()> {
        self.write(|state| {
            state.write(Op::Purge(upto));
            Ok(())
        })
    }

    pub fn save_committed(&self, committed: Option<LogIdOf<C>>) -> io::Result<()> {
        self.write(|state| {
            state.write(Op::SaveCommitted(committed));
            Ok(())
        })
    }

    /// Writes `snapshot` as the current one: `Built` by `build_snapshot`
    /// (never over a newer one), `Install` by `install_snapshot`.
    ///
    /// An `Install` of the snapshot the disk already holds (openraft
    /// installs the stored snapshot into a volatile state machine at every
    /// start) writes nothing and is not counted as installed: only
    /// snapshots sent by a leader are.
    pub fn save_snapshot(&self, snapshot: StoredSnapshot<C>, how: SnapshotWrite) -> io::Result<()> {
        self.write(|state| {
            let restored = how == SnapshotWrite::Install
                && state.visible.snapshot.as_ref().is_some_and(|current| {
                    current.meta == snapshot.meta && current.data == snapshot.data
                });
            if restored {
                return Ok(());
            }
            match how {
                SnapshotWrite::Install => state.stats.snapshots_installed += 1,
                SnapshotWrite::Built => state.stats.snapshots_built += 1,
            }
            state.write(Op::SaveSnapshot(Arc::new(snapshot), how));
            Ok(())
        })
    }

    /// Writes the application file `key` (a state machine's data, say):
    /// like every write it is durable only after [`Mount::sync`], and a
    /// crash keeps it only if it falls in the kept prefix.
    pub fn put_blob(&self, key: &str, data: Vec<u8>) -> io::Result<()> {
        if key.is_empty() || key.len() > MAX_BLOB_KEY_BYTES {
            return Err(invalid(format!(
                "blob key of {} bytes: must be 1..={MAX_BLOB_KEY_BYTES}",
                key.len()
            )));
        }
        if data.len() > MAX_BLOB_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "blob {key:?} of {} bytes exceeds {MAX_BLOB_BYTES}",
                    data.len()
                ),
            ));
        }
        self.write(|state| {
            if !state.visible.blobs.contains_key(key) && state.visible.blobs.len() >= MAX_BLOBS {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("a disk holds at most {MAX_BLOBS} blobs"),
                ));
            }
            state.write(Op::PutBlob(key.to_owned(), Arc::new(data)));
            Ok(())
        })
    }

    /// The application file `key` as this incarnation sees it.
    pub fn blob(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.disk.blob(key)
    }

    /// Waits the disk's fsync latency, then makes durable every write
    /// issued before the call, as fsync(2) promises (writes issued while it
    /// runs may stay in the page cache). Only an `Ok` means durable: a
    /// mount fenced off meanwhile (its node was killed) gets an error and
    /// its writes may be lost, and on a disk that failed before the sync
    /// ended ([`Disk::fail`]) it is an IO error and they will be.
    pub async fn sync(&self) -> io::Result<()> {
        let mark = self.write(|state| Ok(state.stats.ops_written))?;
        let latency = self.disk.fsync_latency();
        // madsim rounds every sleep up to 1 ms; a zero latency means none.
        if !latency.is_zero() {
            madsim_net::time::sleep(latency).await;
        }
        self.write(|state| {
            if state.failed {
                state.stats.sync_errors += 1;
                return Err(io::Error::other(
                    "fsync: input/output error (the simulated disk failed; \
                     what it did not sync before is lost at the next crash)",
                ));
            }
            state.fsync_upto(mark);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;

    use openraft::type_config::TypeConfigExt;

    use super::*;
    use crate::testing::TestConfig as TypeConfig;

    type Entry = EntryOf<TypeConfig>;
    type Vote = VoteOf<TypeConfig>;
    type Disk = super::Disk<TypeConfig>;
    type Mount = super::Mount<TypeConfig>;

    fn blank(term: u64, index: u64) -> Entry {
        Entry::new_blank(log_id::<TypeConfig>(term, 1, index))
    }

    fn vote(term: u64) -> Vote {
        Vote::new(term, 1)
    }

    fn last_index(disk: &Disk) -> Option<u64> {
        disk.log_state().1.map(|id| id.index)
    }

    /// A disk with a synced vote (term 1) and entries 1..=3, then `extra`
    /// unsynced entries 4.. written through `mount`.
    fn disk_with_unsynced(extra: u64) -> (Disk, Mount) {
        let disk = Disk::with_fsync_latency(Duration::ZERO);
        let mount = disk.mount();
        mount.save_vote(&vote(1)).unwrap();
        mount
            .append((1..=3).map(|i| blank(1, i)).collect())
            .unwrap();
        assert_eq!(disk.fsync(), 4);
        mount
            .append((4..4 + extra).map(|i| blank(1, i)).collect())
            .unwrap();
        (disk, mount)
    }

    #[test]
    fn fsync_then_crash_keeps_everything() {
        let (disk, mount) = disk_with_unsynced(5);
        mount
            .save_committed(Some(log_id::<TypeConfig>(1, 1, 6)))
            .unwrap();
        disk.fsync();
        for policy in [CrashPolicy::LoseAllUnsynced, CrashPolicy::LoseRandomSuffix] {
            assert_eq!(disk.crash_with_draw(policy, 7), 0);
        }
        assert_eq!(last_index(&disk), Some(8));
        assert_eq!(disk.committed().map(|c| c.index), Some(6));
        assert_eq!(disk.vote(), Some(vote(1)));
        assert_eq!(disk.stats().ops_lost, 0);
    }

    #[test]
    fn lose_all_unsynced_drops_pending_but_not_the_saved_vote() {
        let (disk, mount) = disk_with_unsynced(3);
        mount
            .truncate_after(Some(log_id::<TypeConfig>(1, 1, 2)))
            .unwrap();
        assert_eq!(last_index(&disk), Some(2), "reads see the page cache");
        assert_eq!(disk.crash(CrashPolicy::LoseAllUnsynced), 4);
        assert_eq!(last_index(&disk), Some(3), "only the synced log is left");
        assert_eq!(disk.vote(), Some(vote(1)));
        assert_eq!(disk.pending_ops(), 0);
        assert_eq!(disk.stats().ops_lost, 4);
    }

    #[test]
    fn keep_all_keeps_pending() {
        let (disk, _mount) = disk_with_unsynced(3);
        assert_eq!(disk.crash(CrashPolicy::KeepAll), 0);
        assert_eq!(last_index(&disk), Some(6));
    }

    #[test]
    fn random_suffix_keeps_a_prefix_and_is_seeded() {
        for draw in [0, 1, 2, 5, 11, 12, u64::MAX] {
            let results: Vec<_> = (0..2)
                .map(|_| {
                    let (disk, _mount) = disk_with_unsynced(11);
                    let lost = disk.crash_with_draw(CrashPolicy::LoseRandomSuffix, draw);
                    (lost, last_index(&disk))
                })
                .collect();
            assert_eq!(results[0], results[1], "same draw, same crash");
            let (lost, last) = results[0];
            let kept = draw % 12;
            assert_eq!(lost as u64, 11 - kept);
            assert_eq!(last, Some(3 + kept), "a prefix survives, with no hole");
        }
    }

    #[test]
    fn stale_mount_cannot_write() {
        let (disk, old) = disk_with_unsynced(0);
        disk.crash(CrashPolicy::KeepAll);
        let err = old.append(vec![blank(1, 4)]).unwrap_err();
        assert!(err.to_string().contains("stale"), "{err}");
        let new = disk.mount();
        assert!(old.save_vote(&vote(2)).is_err());
        new.append(vec![blank(1, 4)]).unwrap();
    }

    #[test]
    fn appends_must_be_consecutive() {
        let (disk, mount) = disk_with_unsynced(0);
        assert!(mount.append(vec![blank(1, 5)]).is_err(), "hole");
        assert!(
            mount.append(vec![blank(1, 3)]).is_err(),
            "overwrite without truncate"
        );
        assert!(mount.append(vec![blank(0, 4)]).is_err(), "term goes back");
        assert!(
            mount.append(vec![blank(1, 4), blank(1, 6)]).is_err(),
            "hole inside a batch"
        );
        assert_eq!(last_index(&disk), Some(3), "a refused batch writes nothing");
        mount.purge(log_id::<TypeConfig>(2, 1, 9)).unwrap();
        assert!(mount.append(vec![blank(2, 11)]).is_err());
        mount.append(vec![blank(2, 10)]).unwrap();
    }

    #[test]
    fn truncate_below_purged_is_refused() {
        let (_disk, mount) = disk_with_unsynced(0);
        mount.purge(log_id::<TypeConfig>(1, 1, 2)).unwrap();
        assert!(
            mount
                .truncate_after(Some(log_id::<TypeConfig>(1, 1, 1)))
                .is_err()
        );
        assert!(mount.truncate_after(None).is_err());
        mount
            .truncate_after(Some(log_id::<TypeConfig>(1, 1, 2)))
            .unwrap();
    }

    #[test]
    fn page_cache_is_bounded() {
        let disk = Disk::with_fsync_latency(Duration::ZERO);
        let mount = disk.mount();
        let total = MAX_PENDING_OPS as u64 + 10;
        mount
            .append((0..total).map(|i| blank(1, i)).collect())
            .unwrap();
        assert_eq!(disk.pending_ops(), MAX_PENDING_OPS);
        assert_eq!(disk.stats().writebacks, 10);
        disk.crash(CrashPolicy::LoseAllUnsynced);
        assert_eq!(
            last_index(&disk),
            Some(9),
            "the written-back prefix survives"
        );
    }

    /// A failed disk keeps answering reads from the page cache, fails
    /// every sync (also those that began before the failure), and a crash
    /// keeps only what was synced before it failed, whatever the policy.
    #[test]
    fn failed_disk_fails_every_sync_and_loses_all_since() {
        TypeConfig::run(async {
            let (disk, mount) = disk_with_unsynced(2);
            disk.set_fsync_latency(Duration::from_millis(100));
            let syncing = mount.clone();
            let sync = TypeConfig::spawn(async move { syncing.sync().await });
            TypeConfig::sleep(Duration::from_millis(50)).await;
            disk.fail();
            assert!(sync.await.unwrap().is_err(), "a sync under way fails too");
            mount.append(vec![blank(1, 6)]).unwrap();
            assert_eq!(last_index(&disk), Some(6), "writes still read back");
            for _ in 0..3 {
                let err = mount.sync().await.unwrap_err();
                assert!(err.to_string().contains("input/output error"), "{err}");
            }
            assert_eq!(disk.fsync(), 0, "nothing reaches the platter");
            assert_eq!(disk.crash(CrashPolicy::KeepAll), 3);
            assert_eq!(last_index(&disk), Some(3), "only what was synced before");
            assert!(disk.has_failed(), "a crash does not mend the device");
            let stats = disk.stats();
            assert_eq!((stats.failures, stats.sync_errors), (1, 4));

            disk.repair();
            let mount = disk.mount();
            mount.append(vec![blank(1, 4)]).unwrap();
            mount.sync().await.unwrap();
            assert_eq!(disk.crash(CrashPolicy::LoseAllUnsynced), 0);
            assert_eq!(last_index(&disk), Some(4));
        });
    }

    /// Under madsim the random crash is drawn from the simulator's seeded
    /// RNG: the same seed loses the same writes.
    #[cfg(madsim)]
    #[test]
    fn random_crash_is_reproducible_per_seed() {
        let crash_once = |seed: u64| {
            let runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.block_on(async {
                (0..8)
                    .map(|_| {
                        let (disk, _mount) = disk_with_unsynced(40);
                        disk.crash(CrashPolicy::LoseRandomSuffix)
                    })
                    .collect::<Vec<_>>()
            })
        };
        let first = crash_once(7);
        assert_eq!(first, crash_once(7));
        assert!(first.iter().all(|lost| *lost <= 40));
        assert_ne!(
            first,
            crash_once(8),
            "another seed, other crashes (8 draws of 41)"
        );
    }

    /// openraft installs the stored snapshot again at every start of a
    /// volatile state machine: that is not a snapshot from a leader.
    #[test]
    fn reinstalling_the_stored_snapshot_is_not_counted_as_installed() {
        let disk = Disk::with_fsync_latency(Duration::ZERO);
        let mount = disk.mount();
        let snapshot = |index: u64, data: &[u8]| StoredSnapshot {
            meta: SnapshotMetaOf::<TypeConfig> {
                last_log_id: Some(log_id::<TypeConfig>(1, 1, index)),
                last_membership: Default::default(),
            },
            data: data.to_vec(),
        };
        mount
            .save_snapshot(snapshot(5, b"five"), SnapshotWrite::Built)
            .unwrap();
        let ops = disk.stats().ops_written;
        mount
            .save_snapshot(snapshot(5, b"five"), SnapshotWrite::Install)
            .unwrap();
        assert_eq!(
            disk.stats().snapshots_installed,
            0,
            "restored, not installed"
        );
        assert_eq!(disk.stats().ops_written, ops, "nothing written again");
        mount
            .save_snapshot(snapshot(9, b"nine"), SnapshotWrite::Install)
            .unwrap();
        assert_eq!(disk.stats().snapshots_installed, 1);
        assert_eq!(disk.stats().snapshots_built, 1);
        assert_eq!(
            disk.snapshot().map(|s| s.data.clone()),
            Some(b"nine".to_vec())
        );
    }
}
