//! The stores on the simulated disk against openraft's storage conformance
//! suite, and a crash-recovery property test: a writer drives the log and
//! state machine the way openraft does, the disk is crashed at a random
//! moment under a random policy, and the reopened stores must pass
//! openraft's own start-up checks and hold every acknowledged write.
//!
//! Runs under madsim (`--cfg madsim`: simulated time, seeded) and on tokio.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use example_kv::state_machine::StateMachineStore;
use example_kv::store::{self, KvLogStore as LogStore};
use openraft::entry::RaftEntry;
use openraft::storage::{
    IOFlushed, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::{EntryPayload, StorageError, StorageHelper, Vote};
use parking_lot::Mutex;
use raft_sim::store::{CrashPolicy, DEFAULT_FSYNC_LATENCY};

type Disk = raft_sim::store::Disk<TypeConfig>;
use example_kv::types::{KvCommand, TypeConfig};

type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;

/// Each test of the suite gets a fresh disk; the guard keeps it alive.
struct Builder {
    fsync_latency: Duration,
    /// Hand out the stores of a second incarnation (first one killed).
    restarted: bool,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, Disk> for Builder {
    async fn build(&self) -> Result<(Disk, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let disk = Disk::with_fsync_latency(self.fsync_latency);
        let (mut log, mut sm) = store::open(disk.clone()).await;
        if self.restarted {
            disk.crash(CrashPolicy::LoseAllUnsynced);
            (log, sm) = store::open(disk.clone()).await;
        }
        Ok((disk, log, sm))
    }
}

async fn run_suite(fsync_latency: Duration, restarted: bool) {
    let builder = Builder {
        fsync_latency,
        restarted,
    };
    let result =
        Suite::<TypeConfig, LogStore, StateMachineStore, Builder, Disk>::test_all(builder).await;
    if let Err(err) = result {
        panic!("storage conformance suite failed: {err}");
    }
}

#[cfg(madsim)]
#[madsim::test]
async fn conformance_suite() {
    run_suite(DEFAULT_FSYNC_LATENCY, false).await;
}

#[cfg(not(madsim))]
#[tokio::test]
async fn conformance_suite() {
    run_suite(DEFAULT_FSYNC_LATENCY, false).await;
}

/// The same on a restarted node's stores, with instant fsyncs.
#[cfg(madsim)]
#[madsim::test]
async fn conformance_suite_after_restart() {
    run_suite(Duration::ZERO, true).await;
}

#[cfg(not(madsim))]
#[tokio::test]
async fn conformance_suite_after_restart() {
    run_suite(Duration::ZERO, true).await;
}

#[cfg(madsim)]
#[madsim::test]
async fn crash_recovery() {
    let seed = madsim::runtime::Handle::current().seed();
    crash_rounds(seed, 40).await;
}

#[cfg(not(madsim))]
#[tokio::test]
async fn crash_recovery() {
    crash_rounds(0x5eed, 40).await;
}

// ---------------------------------------------------------------------------
// Crash-recovery property test.

/// splitmix64: the test's own seeded randomness, the same in both modes.
struct TestRng(u64);

impl TestRng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high);
        low + self.next() % (high - low + 1)
    }
}

/// What the writer has been told is durable, and what it wrote.
#[derive(Default)]
struct Acked {
    /// Entries whose append callback fired, minus those it later truncated.
    entries: BTreeMap<u64, LogId>,
    /// The command written at each index (committed indexes never change).
    commands: BTreeMap<u64, KvCommand>,
    vote_term: u64,
    /// The newest snapshot `build_snapshot` returned.
    snapshot: Option<LogId>,
}

/// The writer's position, recovered from the disk at each start.
struct Writer {
    log: LogStore,
    sm: StateMachineStore,
    term: u64,
    last: Option<LogId>,
    committed: Option<LogId>,
    rng: TestRng,
    acked: Arc<Mutex<Acked>>,
}

fn log_id(term: u64, index: u64) -> LogId {
    openraft::testing::log_id::<TypeConfig>(term, 1, index)
}

impl Writer {
    async fn step(&mut self) -> Result<(), std::io::Error> {
        match self.rng.between(0, 9) {
            0 => self.new_term().await,
            1 => self.truncate().await,
            2..=5 => self.append().await,
            6 | 7 => self.commit().await,
            8 => self.snapshot().await,
            _ => self.purge().await,
        }
    }

    async fn new_term(&mut self) -> Result<(), std::io::Error> {
        self.term += 1;
        self.log
            .save_vote(&Vote::new_committed(self.term, 1))
            .await?;
        self.acked.lock().vote_term = self.term;
        Ok(())
    }

    /// Drops uncommitted entries, as a follower meeting a new leader does.
    async fn truncate(&mut self) -> Result<(), std::io::Error> {
        let (Some(last), floor) = (self.last, self.committed.map_or(0, |c| c.index)) else {
            return Ok(());
        };
        let purged = self.log.get_log_state().await?.last_purged_log_id;
        let floor = floor.max(purged.map_or(0, |p| p.index));
        let after_index = self.rng.between(floor, last.index);
        let mut reader = self.log.get_log_reader().await;
        let after = match reader
            .try_get_log_entries(after_index..=after_index)
            .await?
            .first()
        {
            Some(entry) => Some(entry.log_id),
            None => purged.filter(|p| p.index == after_index),
        };
        let Some(after) = after else { return Ok(()) };
        // Forget the acks first: once issued, the truncate may survive.
        self.acked
            .lock()
            .entries
            .retain(|index, _| *index <= after.index);
        self.log.truncate_after(Some(after)).await?;
        self.last = Some(after);
        Ok(())
    }

    async fn append(&mut self) -> Result<(), std::io::Error> {
        // openraft's log starts at index 0 unless purged.
        let first = self.last.map_or(0, |l| l.index + 1);
        let count = self.rng.between(1, 5);
        let entries: Vec<Entry> = (first..first + count)
            .map(|index| {
                let key = format!("k{}", self.rng.between(0, 3));
                let value = format!("v{index};");
                let command = match self.rng.between(0, 1) {
                    0 => KvCommand::Put { key, value },
                    _ => KvCommand::Append { key, value },
                };
                self.acked.lock().commands.insert(index, command.clone());
                Entry::new_normal(log_id(self.term, index), command)
            })
            .collect();
        let ids: Vec<LogId> = entries.iter().map(|e| e.log_id).collect();
        let (tx, rx) = TypeConfig::oneshot();
        self.log.append(entries, IOFlushed::signal(tx)).await?;
        rx.await.map_err(std::io::Error::other)??;
        self.last = ids.last().copied();
        let mut acked = self.acked.lock();
        acked
            .entries
            .extend(ids.into_iter().map(|id| (id.index, id)));
        Ok(())
    }

    /// Commits a prefix of the (durable) log and applies it.
    async fn commit(&mut self) -> Result<(), std::io::Error> {
        let Some(last) = self.last else { return Ok(()) };
        let next = self.sm.last_applied().map_or(0, |a| a.index + 1);
        if next > last.index {
            return Ok(());
        }
        let upto = self.rng.between(next, last.index);
        let mut reader = self.log.get_log_reader().await;
        let entries = reader.try_get_log_entries(next..=upto).await?;
        let Some(top) = entries.last().map(|e| e.log_id) else {
            return Ok(());
        };
        self.log.save_committed(Some(top)).await?;
        self.committed = Some(top);
        let stream = futures::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
        self.sm.apply(stream).await
    }

    async fn snapshot(&mut self) -> Result<(), std::io::Error> {
        let mut builder = self.sm.get_snapshot_builder().await;
        let snapshot = builder.build_snapshot().await?;
        let mut acked = self.acked.lock();
        acked.snapshot = acked.snapshot.max(snapshot.meta.last_log_id);
        Ok(())
    }

    async fn purge(&mut self) -> Result<(), std::io::Error> {
        let snapshot = self.sm.get_current_snapshot().await?;
        let Some(upto) = snapshot.and_then(|s| s.meta.last_log_id) else {
            return Ok(());
        };
        self.log.purge(upto).await
    }
}

/// Opens the disk, runs openraft's start-up over it, checks what survived,
/// and returns a writer positioned where the disk says.
async fn reopen(disk: &Disk, rng: TestRng, acked: &Arc<Mutex<Acked>>) -> Writer {
    let (mut log, mut sm) = store::open(disk.clone()).await;
    if let Err(err) = StorageHelper::new(&mut log, &mut sm)
        .with_id(1)
        .get_initial_state()
        .await
    {
        panic!("openraft refused the recovered disk: {err}");
    }
    let state = log.get_log_state().await.unwrap();
    let vote = log.get_log_reader().await.read_vote().await.unwrap();
    check_survivors(&mut log, &sm, acked, state.last_purged_log_id).await;
    let vote_term = vote.map_or(0, |v| v.leader_id.term);
    let log_term = state.last_log_id.map_or(0, |l| l.leader_id.term);
    // Everything present is durable now (the crash dropped the page cache).
    let present = present_entries(&mut log).await;
    {
        let mut acked = acked.lock();
        assert!(vote_term >= acked.vote_term, "a synced vote was lost");
        acked.entries = present;
        acked.vote_term = vote_term;
    }
    Writer {
        log,
        // Start-up applied up to the recovered committed id (or snapshot).
        committed: sm.last_applied(),
        sm,
        term: vote_term.max(log_term),
        last: state.last_log_id,
        rng,
        acked: Arc::clone(acked),
    }
}

async fn read_log(log: &mut LogStore) -> Vec<Entry> {
    let mut reader = log.get_log_reader().await;
    reader.try_get_log_entries(0..).await.unwrap()
}

async fn present_entries(log: &mut LogStore) -> BTreeMap<u64, LogId> {
    read_log(log)
        .await
        .into_iter()
        .map(|e| (e.log_id.index, e.log_id))
        .collect()
}

async fn check_survivors(
    log: &mut LogStore,
    sm: &StateMachineStore,
    acked: &Arc<Mutex<Acked>>,
    purged: Option<LogId>,
) {
    let entries = read_log(log).await;
    let present: BTreeMap<u64, LogId> =
        entries.iter().map(|e| (e.log_id.index, e.log_id)).collect();
    let purged_index = purged.map(|p| p.index);
    let (expected_entries, commands, snapshot) = {
        let mut acked = acked.lock();
        // An append cut short by the crash recorded commands it never
        // wrote: the log is the truth for the indexes it holds.
        for entry in entries {
            if let EntryPayload::Normal(command) = entry.payload {
                acked.commands.insert(entry.log_id.index, command);
            }
        }
        (
            acked.entries.clone(),
            acked.commands.clone(),
            acked.snapshot,
        )
    };
    for (index, id) in &expected_entries {
        if purged_index.is_some_and(|p| *index <= p) {
            continue;
        }
        assert_eq!(
            present.get(index),
            Some(id),
            "acknowledged entry {index} lost"
        );
    }
    let applied = sm.last_applied();
    assert!(
        applied >= snapshot,
        "synced snapshot {snapshot:?} lost (applied {applied:?})"
    );
    check_state(sm, &commands, applied.map(|a| a.index));
}

/// The restored state machine equals the committed commands folded in order.
fn check_state(sm: &StateMachineStore, commands: &BTreeMap<u64, KvCommand>, upto: Option<u64>) {
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let applied: Vec<&KvCommand> = match upto {
        None => Vec::new(),
        Some(upto) => commands.range(..=upto).map(|(_, c)| c).collect(),
    };
    for command in applied {
        match command {
            KvCommand::Put { key, value } => {
                expected.insert(key.clone(), value.clone());
            }
            KvCommand::Append { key, value } => {
                expected.entry(key.clone()).or_default().push_str(value)
            }
            KvCommand::Cas { .. } | KvCommand::Add { .. } => {
                unreachable!("the writer issues only Put and Append")
            }
        }
    }
    for key in ["k0", "k1", "k2", "k3"] {
        assert_eq!(
            sm.get(key),
            expected.get(key).cloned(),
            "state of {key} after {upto:?}"
        );
    }
}

const POLICIES: [CrashPolicy; 3] = [
    CrashPolicy::KeepAll,
    CrashPolicy::LoseAllUnsynced,
    CrashPolicy::LoseRandomSuffix,
];

async fn crash_rounds(seed: u64, rounds: u64) {
    let disk = Disk::with_fsync_latency(Duration::from_millis(2));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = TestRng(seed);
    for _ in 0..rounds {
        let mut writer = reopen(&disk, TestRng(rng.next()), &acked).await;
        let work = TypeConfig::spawn(async move {
            // Runs until the crash fences its mount off.
            for _ in 0..10_000 {
                if writer.step().await.is_err() {
                    return;
                }
            }
        });
        TypeConfig::sleep(Duration::from_millis(rng.between(1, 40))).await;
        let policy = POLICIES[rng.between(0, 2) as usize];
        let lost = disk.crash(policy);
        assert!(policy != CrashPolicy::KeepAll || lost == 0);
        work.await.unwrap();
    }
    let stats = disk.stats();
    println!("seed {seed}: {stats:?}, log at {:?}", disk.log_state());
    assert_eq!(stats.crashes, rounds);
    assert!(stats.fsyncs > rounds, "{stats:?}");
}
