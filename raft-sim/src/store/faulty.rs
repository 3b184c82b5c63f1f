//! Seeded storage faults for any user store: a slow disk, a failing disk.
//!
//! [`FaultyLog`] wraps any `RaftLogStorage<C>` and [`FaultyStateMachine`]
//! any `RaftStateMachine<C>`. Before every write-side operation they sleep
//! a random latency in `[0, latency_max]` and, with the configured
//! probability, fail it with an injected `io::Error` *without calling the
//! inner store*, so a failed write never reaches the disk.
//!
//! Why: real disks stall (a busy device, a long fsync, a full queue) and
//! fail (EIO, ENOSPC). Latency stretches the windows in which elections,
//! replication and snapshots race each other. An error is more drastic:
//! openraft treats every storage error as fatal for that node, so its Raft
//! stops, and the cluster must survive losing it, which is exactly what a
//! user wants to see tested. Under `cfg(madsim)` every draw comes from the
//! simulator's seeded RNG (through `madsim_net::rand`) and every sleep is
//! simulated time, so a seed replays the same faults at the same moments.
//!
//! What is faulted, and how:
//! - log: `save_vote`, `append`, `truncate_after`, `purge`, `save_committed`;
//! - state machine: `apply`, `install_snapshot`, and snapshot builds (the
//!   builder is wrapped in a [`FaultyBuilder`]);
//! - reads (`get_log_state`, the log reader, `read_committed`,
//!   `applied_state`, `get_current_snapshot`) are delegated untouched: the
//!   model is a failing write path, reads are served from the page cache.
//!
//! A failed `append` reports the error through its `IOFlushed` callback
//! too, as openraft's `io_completed` contract asks ("called when the log is
//! successfully appended to the storage or an error occurs"), so nobody
//! waits forever for a flush that will never come.
//!
//! Every injected error is counted in [`FaultStats`] and noted in the
//! network's event log when a [`madsim_net::FailureInjector`] is current.
//! [`StorageFaults::none`] draws nothing from the RNG, so wrapping a store
//! with it changes nothing about a seeded run. Outside madsim the draws
//! come from the thread RNG: the same kinds of faults, but not replayable.
//!
//! ```
//! # use std::time::Duration;
//! # use raft_sim::store::{Disk, LogStore};
//! # use raft_sim::store::faulty::{FaultStats, FaultyLog, StorageFaults, StorageOp};
//! # openraft::declare_raft_types!(pub Demo: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime);
//! // Up to 5 ms per write; one write in ten thousand fails.
//! let faults = StorageFaults::new(Duration::from_millis(5), 100)?;
//! // One handle for the whole node (or cluster); clones share the counts.
//! let stats = FaultStats::new();
//! let disk = Disk::<Demo>::new();
//! let log_store = FaultyLog::new(LogStore::new(disk.mount()), faults, stats.clone())
//!     .with_label("node 1");
//! // The app's state machine is wrapped the same way:
//! // `FaultyStateMachine::new(my_sm, faults, stats.clone())`.
//! // Hand both to `openraft::Raft::new`, run the scenario, then read:
//! let appends = stats.op(StorageOp::Append);
//! assert_eq!((appends.errors, appends.delays), (0, 0));
//! assert!(StorageFaults::new(Duration::from_secs(61), 0).is_err());
//! # drop(log_store);
//! # Ok::<(), raft_sim::store::faulty::StorageFaultsError>(())
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::Stream;
use madsim_net::rand::Rng;
use openraft::storage::{
    EntryResponder, IOFlushed, LogState, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::type_config::alias::{
    LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf, VoteOf,
};
use openraft::{OptionalSend, RaftTypeConfig};

/// Longest latency one operation may be given: past a minute a "slow" disk
/// is a hung one, and a scenario wants a kill for that.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// The denominator of [`StorageFaults::io_error_per_million`]; this rate
/// fails every write.
pub const PER_MILLION: u32 = 1_000_000;

/// How a simulated disk misbehaves, validated on construction.
///
/// The fields are private so that an out-of-range value cannot be built;
/// use [`StorageFaults::new`], the `with_*` builders or a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StorageFaults {
    /// Upper bound of the uniform latency added before each write.
    latency_max: Duration,
    /// Chance, in millionths, that a write fails with an injected error.
    io_error_per_million: u32,
}

/// A [`StorageFaults`] value out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageFaultsError {
    #[error("storage latency_max {latency_max:?} exceeds the limit of {limit:?}")]
    LatencyTooLong {
        latency_max: Duration,
        limit: Duration,
    },
    #[error("io_error_per_million {io_error_per_million} exceeds {limit} (every write fails)")]
    ErrorRateTooHigh {
        io_error_per_million: u32,
        limit: u32,
    },
}

impl Default for StorageFaults {
    fn default() -> Self {
        Self::none()
    }
}

impl StorageFaults {
    /// Latency uniform in `[0, latency_max]` before each write, and an
    /// error on a write with probability `io_error_per_million / 1e6`.
    pub fn new(
        latency_max: Duration,
        io_error_per_million: u32,
    ) -> Result<Self, StorageFaultsError> {
        Self::none()
            .with_latency_max(latency_max)?
            .with_io_error_per_million(io_error_per_million)
    }

    /// A perfect disk: no latency, no errors, and no RNG draws at all.
    pub const fn none() -> Self {
        Self {
            latency_max: Duration::ZERO,
            io_error_per_million: 0,
        }
    }

    /// A busy disk: up to 20 ms per write, never an error. Long enough to
    /// reorder a write against heartbeats (50 ms apart by default).
    pub const fn slow_disk() -> Self {
        Self {
            latency_max: Duration::from_millis(20),
            io_error_per_million: 0,
        }
    }

    /// A dying disk: up to 2 ms per write, and about one write in a
    /// thousand fails, each failure stopping its node's Raft.
    pub const fn flaky_disk() -> Self {
        Self {
            latency_max: Duration::from_millis(2),
            io_error_per_million: 1_000,
        }
    }

    /// This value with `latency_max` replaced; refused past [`MAX_LATENCY`].
    pub fn with_latency_max(self, latency_max: Duration) -> Result<Self, StorageFaultsError> {
        if latency_max > MAX_LATENCY {
            return Err(StorageFaultsError::LatencyTooLong {
                latency_max,
                limit: MAX_LATENCY,
            });
        }
        Ok(Self {
            latency_max,
            ..self
        })
    }

    /// This value with the error rate replaced; refused past [`PER_MILLION`].
    pub fn with_io_error_per_million(
        self,
        io_error_per_million: u32,
    ) -> Result<Self, StorageFaultsError> {
        if io_error_per_million > PER_MILLION {
            return Err(StorageFaultsError::ErrorRateTooHigh {
                io_error_per_million,
                limit: PER_MILLION,
            });
        }
        Ok(Self {
            io_error_per_million,
            ..self
        })
    }

    pub const fn latency_max(&self) -> Duration {
        self.latency_max
    }

    pub const fn io_error_per_million(&self) -> u32 {
        self.io_error_per_million
    }

    /// Whether this injects nothing (and draws nothing).
    pub const fn is_none(&self) -> bool {
        self.latency_max.is_zero() && self.io_error_per_million == 0
    }

    /// Draws the fate of one write. Synchronous so that the RNG handle
    /// (not `Send` outside madsim) is never held across an await.
    fn roll(&self) -> Fate {
        debug_assert!(self.latency_max <= MAX_LATENCY, "unvalidated latency_max");
        debug_assert!(self.io_error_per_million <= PER_MILLION, "unvalidated rate");
        let mut rng = madsim_net::rand::thread_rng();
        let delay = if self.latency_max.is_zero() {
            Duration::ZERO
        } else {
            // At most 60 s, i.e. 6e10 ns: fits in u64 with room to spare.
            let max_ns = u64::try_from(self.latency_max.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(rng.gen_range(0..=max_ns))
        };
        // The two certain cases draw nothing, so `none()` is invisible.
        let fail = match self.io_error_per_million {
            0 => false,
            PER_MILLION => true,
            rate => rng.gen_range(0..PER_MILLION) < rate,
        };
        Fate { delay, fail }
    }
}

/// What the dice decided for one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fate {
    delay: Duration,
    fail: bool,
}

/// The write-side operations that can be faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageOp {
    SaveVote,
    Append,
    TruncateAfter,
    Purge,
    SaveCommitted,
    Apply,
    InstallSnapshot,
    BuildSnapshot,
}

impl StorageOp {
    /// Every operation, in declaration order.
    pub const ALL: [StorageOp; 8] = [
        StorageOp::SaveVote,
        StorageOp::Append,
        StorageOp::TruncateAfter,
        StorageOp::Purge,
        StorageOp::SaveCommitted,
        StorageOp::Apply,
        StorageOp::InstallSnapshot,
        StorageOp::BuildSnapshot,
    ];

    /// The openraft method's name, as used in messages.
    pub const fn name(self) -> &'static str {
        match self {
            StorageOp::SaveVote => "save_vote",
            StorageOp::Append => "append",
            StorageOp::TruncateAfter => "truncate_after",
            StorageOp::Purge => "purge",
            StorageOp::SaveCommitted => "save_committed",
            StorageOp::Apply => "apply",
            StorageOp::InstallSnapshot => "install_snapshot",
            StorageOp::BuildSnapshot => "build_snapshot",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StorageOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The payload of every injected `io::Error` (kind `Other`), so that a
/// harness can tell an injected failure from a real bug: see
/// [`InjectedIoError::of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedIoError {
    op: StorageOp,
    label: Option<Arc<str>>,
}

impl InjectedIoError {
    pub fn op(&self) -> StorageOp {
        self.op
    }

    /// The label of the wrapper that failed ([`FaultyLog::with_label`]).
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// The injected fault behind `error`, if it is one.
    pub fn of(error: &io::Error) -> Option<&InjectedIoError> {
        error.get_ref()?.downcast_ref::<InjectedIoError>()
    }

    fn to_io_error(&self) -> io::Error {
        io::Error::other(self.clone())
    }
}

impl fmt::Display for InjectedIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "twinnet: injected IO error in {}", self.op)?;
        match &self.label {
            Some(label) => write!(f, " on {label}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for InjectedIoError {}

/// What was injected into one operation kind, or into all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpFaults {
    /// Calls seen, faulted or not (with `none()` too: it only skips the dice).
    pub calls: u64,
    /// Calls that slept a non-zero latency in full.
    pub delays: u64,
    /// Total latency slept.
    pub delay_total: Duration,
    /// Calls failed with an injected error.
    pub errors: u64,
}

impl OpFaults {
    fn plus(self, other: OpFaults) -> OpFaults {
        OpFaults {
            calls: self.calls + other.calls,
            delays: self.delays + other.delays,
            delay_total: self.delay_total.saturating_add(other.delay_total),
            errors: self.errors + other.errors,
        }
    }
}

#[derive(Debug, Default)]
struct OpCounters {
    calls: AtomicU64,
    delays: AtomicU64,
    /// Nanoseconds: 2^64 of them is 584 years of injected latency.
    delay_ns: AtomicU64,
    errors: AtomicU64,
}

/// Counters of injected faults, shared by clones: hand one clone to every
/// wrapper of a node (or of the cluster) and read it after the run.
#[derive(Clone, Debug, Default)]
pub struct FaultStats {
    counters: Arc<[OpCounters; StorageOp::ALL.len()]>,
}

impl FaultStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was injected into `op`.
    pub fn op(&self, op: StorageOp) -> OpFaults {
        let counters = &self.counters[op.index()];
        OpFaults {
            calls: counters.calls.load(Ordering::Relaxed),
            delays: counters.delays.load(Ordering::Relaxed),
            delay_total: Duration::from_nanos(counters.delay_ns.load(Ordering::Relaxed)),
            errors: counters.errors.load(Ordering::Relaxed),
        }
    }

    /// The sum over every operation.
    pub fn total(&self) -> OpFaults {
        StorageOp::ALL
            .iter()
            .fold(OpFaults::default(), |sum, op| sum.plus(self.op(*op)))
    }

    /// Every operation with its counts, in [`StorageOp::ALL`] order.
    pub fn by_op(&self) -> [(StorageOp, OpFaults); StorageOp::ALL.len()] {
        StorageOp::ALL.map(|op| (op, self.op(op)))
    }

    fn count_call(&self, op: StorageOp) {
        self.counters[op.index()]
            .calls
            .fetch_add(1, Ordering::Relaxed);
    }

    fn count_delay(&self, op: StorageOp, delay: Duration) {
        let counters = &self.counters[op.index()];
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        counters.delays.fetch_add(1, Ordering::Relaxed);
        counters.delay_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn count_error(&self, op: StorageOp) {
        self.counters[op.index()]
            .errors
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// The fault logic shared by every wrapper.
#[derive(Clone, Debug)]
struct FaultGate {
    faults: StorageFaults,
    stats: FaultStats,
    label: Option<Arc<str>>,
}

impl FaultGate {
    fn new(faults: StorageFaults, stats: FaultStats) -> Self {
        Self {
            faults,
            stats,
            label: None,
        }
    }

    /// Runs before `op` reaches the inner store: sleeps the drawn latency,
    /// then returns the injected error if one was drawn. The latency comes
    /// first because a failing disk takes its time to say so.
    async fn before(&self, op: StorageOp) -> Result<(), InjectedIoError> {
        self.stats.count_call(op);
        if self.faults.is_none() {
            return Ok(());
        }
        let fate = self.faults.roll();
        if !fate.delay.is_zero() {
            madsim_net::time::sleep(fate.delay).await;
            self.stats.count_delay(op, fate.delay);
        }
        if !fate.fail {
            return Ok(());
        }
        self.stats.count_error(op);
        let error = InjectedIoError {
            op,
            label: self.label.clone(),
        };
        tracing::warn!("{error}");
        if let Some(injector) = madsim_net::FailureInjector::current() {
            injector.note(error.to_string());
        }
        Err(error)
    }
}

/// Any `RaftLogStorage<C>` behind a slow, failing disk.
///
/// The log reader is the inner store's own: reads are not faulted.
#[derive(Debug)]
pub struct FaultyLog<L> {
    inner: L,
    gate: FaultGate,
}

impl<L> FaultyLog<L> {
    /// `inner` with `faults`, counting into `stats`.
    pub fn new(inner: L, faults: StorageFaults, stats: FaultStats) -> Self {
        Self {
            inner,
            gate: FaultGate::new(faults, stats),
        }
    }

    /// Names this store (a node, say) in injected errors and event notes.
    pub fn with_label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.gate.label = Some(label.into());
        self
    }

    pub fn inner(&self) -> &L {
        &self.inner
    }

    pub fn into_inner(self) -> L {
        self.inner
    }

    pub fn faults(&self) -> StorageFaults {
        self.gate.faults
    }

    pub fn stats(&self) -> &FaultStats {
        &self.gate.stats
    }
}

impl<C, L> RaftLogStorage<C> for FaultyLog<L>
where
    C: RaftTypeConfig,
    L: RaftLogStorage<C>,
{
    type LogReader = L::LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        self.inner.get_log_state().await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.inner.get_log_reader().await
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        self.gate.before(StorageOp::SaveVote).await?;
        self.inner.save_vote(vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.gate.before(StorageOp::SaveCommitted).await?;
        self.inner.save_committed(committed).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.inner.read_committed().await
    }

    /// On an injected error the entries are dropped unwritten, and the
    /// error goes both to `callback` and to the caller.
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        if let Err(injected) = self.gate.before(StorageOp::Append).await {
            callback.io_completed(Err(injected.to_io_error()));
            return Err(injected.to_io_error());
        }
        self.inner.append(entries, callback).await
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        self.gate.before(StorageOp::TruncateAfter).await?;
        self.inner.truncate_after(last_log_id).await
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        self.gate.before(StorageOp::Purge).await?;
        self.inner.purge(log_id).await
    }
}

impl From<InjectedIoError> for io::Error {
    fn from(injected: InjectedIoError) -> Self {
        injected.to_io_error()
    }
}

/// Any `RaftStateMachine<C>` behind a slow, failing disk: applies, installs
/// and snapshot builds are faulted; reads are not.
#[derive(Debug)]
pub struct FaultyStateMachine<S> {
    inner: S,
    gate: FaultGate,
}

impl<S> FaultyStateMachine<S> {
    /// `inner` with `faults`, counting into `stats`.
    pub fn new(inner: S, faults: StorageFaults, stats: FaultStats) -> Self {
        Self {
            inner,
            gate: FaultGate::new(faults, stats),
        }
    }

    /// Names this state machine in injected errors and event notes.
    pub fn with_label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.gate.label = Some(label.into());
        self
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    pub fn faults(&self) -> StorageFaults {
        self.gate.faults
    }

    pub fn stats(&self) -> &FaultStats {
        &self.gate.stats
    }

    fn wrap<B>(&self, builder: B) -> FaultyBuilder<B> {
        FaultyBuilder {
            inner: builder,
            gate: self.gate.clone(),
        }
    }
}

impl<C, S> RaftStateMachine<C> for FaultyStateMachine<S>
where
    C: RaftTypeConfig,
    S: RaftStateMachine<C>,
{
    type SnapshotData = S::SnapshotData;
    type SnapshotBuilder = FaultyBuilder<S::SnapshotBuilder>;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        self.inner.applied_state().await
    }

    /// On an injected error the stream is dropped unread: no entry is
    /// applied and no client gets a response (its Raft is stopping).
    async fn apply<Strm>(&mut self, entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        self.gate.before(StorageOp::Apply).await?;
        self.inner.apply(entries).await
    }

    async fn try_create_snapshot_builder(&mut self, force: bool) -> Option<Self::SnapshotBuilder> {
        let builder = self.inner.try_create_snapshot_builder(force).await?;
        Some(self.wrap(builder))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let builder = self.inner.get_snapshot_builder().await;
        self.wrap(builder)
    }

    /// Also faulted when openraft restores a transient state machine at
    /// start-up: a disk that fails then keeps the node from starting.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        self.gate.before(StorageOp::InstallSnapshot).await?;
        self.inner.install_snapshot(meta, snapshot).await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<C, Self::SnapshotData>>, io::Error> {
        self.inner.get_current_snapshot().await
    }
}

/// The inner state machine's snapshot builder, faulted like its writes
/// (a build ends by writing the snapshot out).
#[derive(Debug)]
pub struct FaultyBuilder<B> {
    inner: B,
    gate: FaultGate,
}

impl<B> FaultyBuilder<B> {
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<C, B> RaftSnapshotBuilder<C> for FaultyBuilder<B>
where
    C: RaftTypeConfig,
    B: RaftSnapshotBuilder<C>,
{
    type SnapshotData = B::SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, Self::SnapshotData>, io::Error> {
        self.gate.before(StorageOp::BuildSnapshot).await?;
        self.inner.build_snapshot().await
    }
}

#[cfg(test)]
mod tests {
    use std::ops::RangeInclusive;

    use futures::TryStreamExt;
    use madsim_net::time::Instant;
    use openraft::entry::RaftEntry;
    use openraft::storage::RaftLogReader;
    use openraft::testing::log_id;
    use openraft::type_config::TypeConfigExt;
    use openraft::type_config::alias::EntryOf;

    use super::*;
    use crate::store::{Disk, LogStore};
    use crate::testing::TestConfig as TypeConfig;

    type Entry = EntryOf<TypeConfig>;
    type Vote = VoteOf<TypeConfig>;
    type Log = FaultyLog<LogStore<TypeConfig>>;

    fn blanks(indexes: RangeInclusive<u64>) -> Vec<Entry> {
        indexes
            .map(|i| Entry::new_blank(log_id::<TypeConfig>(1, 1, i)))
            .collect()
    }

    fn always_failing() -> StorageFaults {
        StorageFaults::new(Duration::ZERO, PER_MILLION).unwrap()
    }

    /// A disk holding entries 1..=3, wrapped with `faults`.
    async fn faulty_log(faults: StorageFaults) -> (Disk<TypeConfig>, Log, FaultStats) {
        let disk = Disk::new();
        let mut inner = LogStore::new(disk.mount());
        let (tx, rx) = TypeConfig::oneshot::<io::Result<()>>();
        inner
            .append(blanks(1..=3), IOFlushed::signal(tx))
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
        let stats = FaultStats::new();
        let log = FaultyLog::new(inner, faults, stats.clone()).with_label("n1");
        (disk, log, stats)
    }

    fn assert_injected(result: io::Result<()>, op: StorageOp) {
        let error = result.expect_err("an injected error");
        assert_eq!(error.kind(), io::ErrorKind::Other);
        let injected = InjectedIoError::of(&error).expect("an InjectedIoError payload");
        assert_eq!(injected.op(), op);
        assert_eq!(injected.label(), Some("n1"));
        assert_eq!(
            error.to_string(),
            format!("twinnet: injected IO error in {} on n1", op.name())
        );
    }

    #[test]
    fn out_of_range_configs_are_refused() {
        let too_slow = MAX_LATENCY + Duration::from_nanos(1);
        assert_eq!(
            StorageFaults::new(too_slow, 0),
            Err(StorageFaultsError::LatencyTooLong {
                latency_max: too_slow,
                limit: MAX_LATENCY
            })
        );
        assert_eq!(
            StorageFaults::new(Duration::ZERO, PER_MILLION + 1),
            Err(StorageFaultsError::ErrorRateTooHigh {
                io_error_per_million: PER_MILLION + 1,
                limit: PER_MILLION
            })
        );
        assert!(
            StorageFaults::slow_disk()
                .with_latency_max(too_slow)
                .is_err()
        );
        assert!(
            StorageFaults::none()
                .with_io_error_per_million(u32::MAX)
                .is_err()
        );

        let limits = StorageFaults::new(MAX_LATENCY, PER_MILLION).unwrap();
        assert_eq!(limits.latency_max(), MAX_LATENCY);
        assert_eq!(limits.io_error_per_million(), PER_MILLION);
        for preset in [
            StorageFaults::none(),
            StorageFaults::slow_disk(),
            StorageFaults::flaky_disk(),
        ] {
            let rebuilt = StorageFaults::new(preset.latency_max(), preset.io_error_per_million());
            assert_eq!(rebuilt, Ok(preset), "preset out of range");
        }
        assert!(StorageFaults::default().is_none());
        assert!(!StorageFaults::slow_disk().is_none());
    }

    /// Certain failure: every write errors before reaching the disk, and
    /// the append callback hears the error too.
    #[test]
    fn injected_errors_leave_the_disk_untouched() {
        TypeConfig::run(async {
            let (disk, mut log, stats) = faulty_log(always_failing()).await;
            let before = (disk.log_state(), disk.stats(), disk.pending_ops());

            assert_injected(log.save_vote(&Vote::new(2, 1)).await, StorageOp::SaveVote);
            let (tx, rx) = TypeConfig::oneshot::<io::Result<()>>();
            let appended = log.append(blanks(4..=5), IOFlushed::signal(tx)).await;
            assert_injected(appended, StorageOp::Append);
            let flushed = rx.await.unwrap();
            assert!(InjectedIoError::of(&flushed.unwrap_err()).is_some());
            let after_1 = Some(log_id::<TypeConfig>(1, 1, 1));
            assert_injected(log.truncate_after(after_1).await, StorageOp::TruncateAfter);
            assert_injected(
                log.purge(log_id::<TypeConfig>(1, 1, 2)).await,
                StorageOp::Purge,
            );
            assert_injected(log.save_committed(after_1).await, StorageOp::SaveCommitted);

            assert_eq!((disk.log_state(), disk.stats(), disk.pending_ops()), before);
            assert_eq!(disk.vote(), None);
            assert_eq!(disk.committed(), None);
            // Reads still work: only writes are faulted.
            let state = log.get_log_state().await.unwrap();
            assert_eq!(state.last_log_id.map(|id| id.index), Some(3));
            let mut reader = log.get_log_reader().await;
            assert_eq!(reader.read_vote().await.unwrap(), None);

            for op in &StorageOp::ALL[..5] {
                let expected = OpFaults {
                    calls: 1,
                    errors: 1,
                    ..OpFaults::default()
                };
                assert_eq!(stats.op(*op), expected, "{op}");
            }
            assert_eq!(stats.total().errors, 5);
        });
    }

    /// Latency only: every write lands, and the writes took at least the
    /// latency the stats claim was injected.
    #[test]
    fn latency_delays_writes_that_then_succeed() {
        TypeConfig::run(async {
            let slow = StorageFaults::new(Duration::from_millis(10), 0).unwrap();
            let (disk, mut log, stats) = faulty_log(slow).await;
            let start = Instant::now();

            log.save_vote(&Vote::new(2, 1)).await.unwrap();
            let (tx, rx) = TypeConfig::oneshot::<io::Result<()>>();
            log.append(blanks(4..=6), IOFlushed::signal(tx))
                .await
                .unwrap();
            rx.await.unwrap().unwrap();
            log.truncate_after(Some(log_id::<TypeConfig>(1, 1, 5)))
                .await
                .unwrap();
            log.purge(log_id::<TypeConfig>(1, 1, 2)).await.unwrap();
            log.save_committed(Some(log_id::<TypeConfig>(1, 1, 4)))
                .await
                .unwrap();

            let elapsed = start.elapsed();
            let total = stats.total();
            assert!(
                elapsed >= total.delay_total,
                "{elapsed:?} < {:?}",
                total.delay_total
            );
            assert!(total.delay_total <= Duration::from_millis(10) * 5);
            assert_eq!((total.calls, total.errors), (5, 0));
            assert!(total.delays >= 1 && total.delays <= 5, "{total:?}");
            assert_eq!(disk.vote(), Some(Vote::new(2, 1)));
            let (purged, last) = disk.log_state();
            assert_eq!(purged.map(|id| id.index), Some(2));
            assert_eq!(last.map(|id| id.index), Some(5));
            assert_eq!(disk.committed().map(|id| id.index), Some(4));
        });
    }

    /// A coin-flip disk: every call is either an error that wrote nothing
    /// or a success that wrote one vote.
    #[test]
    fn partial_error_rate_counts_add_up() {
        TypeConfig::run(async {
            let coin = StorageFaults::new(Duration::ZERO, PER_MILLION / 2).unwrap();
            let (disk, mut log, stats) = faulty_log(coin).await;
            let written_before = disk.stats().ops_written;
            let mut failures = 0;
            for term in 1..=200 {
                if log.save_vote(&Vote::new(term, 1)).await.is_err() {
                    failures += 1;
                }
            }
            let votes = stats.op(StorageOp::SaveVote);
            assert_eq!(votes.calls, 200);
            assert_eq!(votes.errors, failures);
            assert!((1..200).contains(&failures), "{failures} of 200 failed");
            assert_eq!(disk.stats().ops_written - written_before, 200 - failures);
            assert_eq!(stats.total(), votes);
        });
    }

    #[test]
    fn no_faults_pass_through_counted_as_calls_only() {
        TypeConfig::run(async {
            let (disk, mut log, stats) = faulty_log(StorageFaults::none()).await;
            log.save_vote(&Vote::new(1, 1)).await.unwrap();
            assert_eq!(disk.vote(), Some(Vote::new(1, 1)));
            let expected = OpFaults {
                calls: 1,
                ..OpFaults::default()
            };
            assert_eq!(stats.total(), expected);
        });
    }

    /// A state machine that only counts what reaches it.
    #[derive(Debug, Default)]
    struct CountingSm {
        applied: u64,
        installs: u64,
    }

    #[derive(Debug)]
    struct CountingBuilder;

    fn empty_snapshot() -> SnapshotOf<TypeConfig, Vec<u8>> {
        openraft::Snapshot {
            meta: openraft::SnapshotMeta {
                last_log_id: None,
                last_membership: Default::default(),
            },
            snapshot: Vec::new(),
        }
    }

    impl RaftSnapshotBuilder<TypeConfig> for CountingBuilder {
        type SnapshotData = Vec<u8>;

        async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<TypeConfig, Vec<u8>>> {
            Ok(empty_snapshot())
        }
    }

    impl RaftStateMachine<TypeConfig> for CountingSm {
        type SnapshotData = Vec<u8>;
        type SnapshotBuilder = CountingBuilder;

        async fn applied_state(
            &mut self,
        ) -> io::Result<(Option<LogIdOf<TypeConfig>>, StoredMembershipOf<TypeConfig>)> {
            Ok((None, Default::default()))
        }

        async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
        where
            Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
        {
            while let Some((_entry, _responder)) = entries.try_next().await? {
                self.applied += 1;
            }
            Ok(())
        }

        async fn get_snapshot_builder(&mut self) -> CountingBuilder {
            CountingBuilder
        }

        async fn install_snapshot(
            &mut self,
            _meta: &SnapshotMetaOf<TypeConfig>,
            _snapshot: Vec<u8>,
        ) -> io::Result<()> {
            self.installs += 1;
            Ok(())
        }

        async fn get_current_snapshot(
            &mut self,
        ) -> io::Result<Option<SnapshotOf<TypeConfig, Vec<u8>>>> {
            Ok(None)
        }
    }

    fn entry_stream(
        indexes: RangeInclusive<u64>,
    ) -> impl Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + Send {
        futures::stream::iter(blanks(indexes).into_iter().map(|e| Ok((e, None))))
    }

    /// Applies, installs and builds fail without reaching the inner state
    /// machine; with no error rate they reach it.
    #[test]
    fn state_machine_writes_and_builds_are_faulted() {
        TypeConfig::run(async {
            let stats = FaultStats::new();
            let mut sm =
                FaultyStateMachine::new(CountingSm::default(), always_failing(), stats.clone());

            assert!(sm.apply(entry_stream(1..=3)).await.is_err());
            let meta = empty_snapshot().meta;
            assert!(sm.install_snapshot(&meta, Vec::new()).await.is_err());
            let mut builder = sm.try_create_snapshot_builder(true).await.unwrap();
            let built = builder.build_snapshot().await;
            assert_eq!(
                built
                    .map(|_| ())
                    .map_err(|e| InjectedIoError::of(&e).map(|i| i.op())),
                Err(Some(StorageOp::BuildSnapshot))
            );
            assert_eq!((sm.inner().applied, sm.inner().installs), (0, 0));
            assert!(sm.applied_state().await.is_ok(), "reads are not faulted");
            assert_eq!(stats.total().errors, 3);
            for op in [
                StorageOp::Apply,
                StorageOp::InstallSnapshot,
                StorageOp::BuildSnapshot,
            ] {
                assert_eq!(stats.op(op).errors, 1, "{op}");
            }

            let slow = StorageFaults::new(Duration::from_millis(1), 0).unwrap();
            let mut sm = FaultyStateMachine::new(CountingSm::default(), slow, stats.clone());
            sm.apply(entry_stream(1..=3)).await.unwrap();
            sm.install_snapshot(&meta, Vec::new()).await.unwrap();
            sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
            assert_eq!((sm.inner().applied, sm.inner().installs), (3, 1));
            assert_eq!(stats.total().calls, 6, "one stats handle, two wrappers");
            assert_eq!(stats.total().errors, 3);
        });
    }

    /// Under madsim, a seed fixes every latency and every error.
    #[cfg(madsim)]
    #[test]
    fn same_seed_same_faults() {
        use openraft_rt::AsyncRuntime;

        fn run(seed: u64) -> (Vec<bool>, OpFaults) {
            let mut runtime = twinnet_rt::MadsimRuntime::with_seed(seed);
            runtime.block_on(async {
                let faults = StorageFaults::new(Duration::from_millis(5), PER_MILLION / 4).unwrap();
                let (_disk, mut log, stats) = faulty_log(faults).await;
                let mut outcomes = Vec::new();
                for term in 1..=50 {
                    outcomes.push(log.save_vote(&Vote::new(term, 1)).await.is_ok());
                }
                (outcomes, stats.total())
            })
        }

        let first = run(7);
        assert_eq!(first, run(7));
        assert!(first.1.errors > 0 && first.1.delays > 0, "{:?}", first.1);
    }
}
