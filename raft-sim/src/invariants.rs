//! Checks beyond linearizability, each failure a typed [`Violation`]:
//!
//! - [`LeaderWatch`]: election safety (one leader per term, or with
//!   openraft's default leader ids, no vote regression), from metrics sampled
//!   while the run goes on;
//! - [`logs_agree`]: Raft's log matching property and committed-entry
//!   agreement, read from the nodes' disks;
//! - [`state_machines_agree`]: every node's state machine, at the same
//!   applied log id, has the same digest (the app's [`App::state_digest`]);
//! - [`memberships_agree`]: at the same applied log id, every node knows
//!   the same committed membership (openraft's own view, whatever the app's
//!   digest covers);
//! - [`liveness`]: once the nemesis stopped, a leader is elected and a
//!   write commits within a bound.
//!
//! [`applied_prefixes_agree`] runs the log, state-machine and membership checks after
//! waiting for the nodes to converge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::future::{Either, select};
use madsim_net::NetBackend;
use madsim_net::time::{self, Instant};
use openraft::RaftTypeConfig;
use openraft::ServerState;
use openraft::entry::RaftEntry;
use openraft::type_config::alias::{EntryOf, LogIdOf};
use openraft::vote::RaftLeaderId;
use serde::Serialize;

use crate::SimTypes;
use crate::app::{App, RaftHandle};
use crate::cluster::{Cluster, ClusterError};
use crate::store::{Disk, MAX_LOG_ENTRIES};

type NodeId = u64;

/// Terms a [`LeaderWatch`] remembers; later terms are counted, not kept.
pub const MAX_TERMS_TRACKED: usize = 1 << 16;
/// Log entries read from a disk at once.
pub const LOG_CHUNK: u64 = 1_024;
const POLL: Duration = Duration::from_millis(10);

/// A broken promise, with enough to read what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum Violation {
    /// Two nodes were leader in the same term (one leader per term mode).
    AtMostOneLeaderPerTerm {
        term: u64,
        leaders: BTreeSet<NodeId>,
    },
    /// Several leaders per term mode: `then` was seen leading `term` after
    /// `first`, although its leader id is smaller.
    LeaderIdRegressed {
        term: u64,
        first: NodeId,
        first_seen_ms: u64,
        then: NodeId,
        then_seen_ms: u64,
    },
    /// Two logs hold the same log id at `index` with different entries.
    LogMatching {
        nodes: [NodeId; 2],
        index: u64,
        entries: [String; 2],
    },
    /// Two logs agree at `agree_at` but differ below it, at `differ_at`.
    LogPrefix {
        nodes: [NodeId; 2],
        agree_at: u64,
        differ_at: u64,
        log_ids_at_difference: [String; 2],
    },
    /// Both nodes had committed `index`, and hold different entries there.
    CommittedEntryDiffers {
        nodes: [NodeId; 2],
        index: u64,
        committed: [u64; 2],
        log_ids: [String; 2],
    },
    /// Two state machines that applied the same log hold different states.
    StateMachinesDiffer {
        nodes: [NodeId; 2],
        applied: String,
        state_bytes: [usize; 2],
        first_difference_at_byte: usize,
    },
    /// Two nodes that applied the same log know different committed
    /// memberships (one forgot or mislaid a membership entry).
    MembershipsDiffer {
        nodes: [NodeId; 2],
        applied: String,
        memberships: [String; 2],
    },
    /// A node's state machine reports another last membership than its
    /// Raft committed at the same applied log id: the app mislaid a
    /// membership entry (in `apply`, a snapshot, or an install).
    StateMachineMembership {
        node: NodeId,
        applied: String,
        state_machine: String,
        raft: String,
    },
    /// After the nemesis restored the initial voters and a write committed,
    /// a node's Raft knows another committed voter set.
    MembershipLost {
        node: NodeId,
        applied: String,
        voters: String,
        expected: String,
    },
    /// The nodes did not reach the same applied state in time.
    NotConverged { within_ms: u64, detail: String },
    /// No leader that every running voter follows within the bound.
    NoLeader { within_ms: u64 },
    /// A leader was elected but a write did not commit within the bound.
    NoCommit { within_ms: u64, error: String },
    /// A check could not look at what it checks.
    Unverifiable { check: String, reason: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::AtMostOneLeaderPerTerm { term, leaders } => {
                write!(
                    f,
                    "split brain: nodes {leaders:?} were all leader in term {term}"
                )
            }
            Violation::LeaderIdRegressed {
                term,
                first,
                first_seen_ms,
                then,
                then_seen_ms,
            } => write!(
                f,
                "vote regression: node {first} led term {term} (seen at {first_seen_ms} ms), then node {then} \
                 was elected in the same term (seen at {then_seen_ms} ms) with the smaller leader id \
                 T{term}-N{then}: a quorum granted a vote it had already superseded"
            ),
            Violation::LogMatching {
                nodes: [a, b],
                index,
                entries: [ea, eb],
            } => write!(
                f,
                "log matching: same log id at index {index} but node {a} holds {ea} and node {b} holds {eb}"
            ),
            Violation::LogPrefix {
                nodes: [a, b],
                agree_at,
                differ_at,
                log_ids_at_difference: [ia, ib],
            } => write!(
                f,
                "log matching: nodes {a} and {b} agree at index {agree_at} but differ at {differ_at} below it ({ia} vs {ib})"
            ),
            Violation::CommittedEntryDiffers {
                nodes: [a, b],
                index,
                committed: [ca, cb],
                log_ids: [ia, ib],
            } => write!(
                f,
                "committed entry lost: index {index} is committed on node {a} (up to {ca}) and node {b} (up to {cb}) but holds {ia} vs {ib}"
            ),
            Violation::StateMachinesDiffer {
                nodes: [a, b],
                applied,
                state_bytes: [sa, sb],
                first_difference_at_byte,
            } => write!(
                f,
                "state machine safety: nodes {a} and {b} both applied up to {applied} but their states differ \
                 ({sa} vs {sb} bytes, first difference at byte {first_difference_at_byte})"
            ),
            Violation::MembershipsDiffer {
                nodes: [a, b],
                applied,
                memberships: [ma, mb],
            } => write!(
                f,
                "membership agreement: nodes {a} and {b} both applied up to {applied} but node {a} \
                 knows the committed membership {ma} and node {b} {mb}"
            ),
            Violation::StateMachineMembership {
                node,
                applied,
                state_machine,
                raft,
            } => write!(
                f,
                "membership agreement: node {node} applied up to {applied}; its state machine's last \
                 membership is {state_machine} but its Raft committed {raft}"
            ),
            Violation::MembershipLost {
                node,
                applied,
                voters,
                expected,
            } => write!(
                f,
                "membership agreement: node {node} applied up to {applied} after the initial voters \
                 {expected} were restored, but its Raft's committed voters are {voters}"
            ),
            Violation::NotConverged { within_ms, detail } => {
                write!(f, "nodes did not converge within {within_ms} ms: {detail}")
            }
            Violation::NoLeader { within_ms } => {
                write!(
                    f,
                    "liveness: no leader within {within_ms} ms after the faults stopped"
                )
            }
            Violation::NoCommit { within_ms, error } => write!(
                f,
                "liveness: no write committed within {within_ms} ms after the faults stopped: {error}"
            ),
            Violation::Unverifiable { check, reason } => {
                write!(f, "cannot check {check}: {reason}")
            }
        }
    }
}

impl std::error::Error for Violation {}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unverifiable(check: &str, reason: impl fmt::Display) -> Violation {
    Violation::Unverifiable {
        check: check.into(),
        reason: reason.to_string(),
    }
}

fn show<T: fmt::Display>(log_id: Option<&T>) -> String {
    log_id.map_or_else(|| "nothing".into(), |id| id.to_string())
}

// ---------------------------------------------------------------------------
// At most one leader per term

/// True when `C`'s leader ids allow one leader per term only (openraft's
/// `leader_id_std`); false with `leader_id_adv` (openraft's default), where
/// leader ids are totally ordered by `(term, node_id)` and one term may see
/// several leaders, one after another.
pub fn one_leader_per_term<C: SimTypes>() -> bool {
    let (a, b) = (C::LeaderId::new(1, 0), C::LeaderId::new(1, 1));
    a.partial_cmp(&b).is_none()
}

/// Which nodes were seen leading in which term, and when first.
///
/// With one leader per term (`leader_id_std`) a second leader in a term is
/// a violation. With several (`leader_id_adv`) a voter only grants a
/// greater leader id, so within a term leaders must be elected in
/// increasing node id: a smaller id seen leading after a greater one means
/// a quorum granted a vote it had already superseded (a lost vote). Leaders
/// first seen in the same sample are not ordered against each other.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderWatch {
    /// term -> node -> first time seen leading (ns, the event log's clock).
    leaders: BTreeMap<u64, BTreeMap<NodeId, u64>>,
    samples: u64,
    /// Samples with a running leader in a term below another's.
    deposed_samples: u64,
    terms_dropped: u64,
    one_per_term: bool,
}

impl LeaderWatch {
    /// A watch for an app of config `C` (see [`one_leader_per_term`]).
    pub fn for_config<C: SimTypes>() -> Self {
        Self::with_one_leader_per_term(one_leader_per_term::<C>())
    }

    pub fn with_one_leader_per_term(one_per_term: bool) -> Self {
        LeaderWatch {
            leaders: BTreeMap::new(),
            samples: 0,
            deposed_samples: 0,
            terms_dropped: 0,
            one_per_term,
        }
    }

    pub fn one_per_term(&self) -> bool {
        self.one_per_term
    }

    /// Reads every running node's metrics once.
    pub fn sample<B: NetBackend, A: App>(&mut self, cluster: &Cluster<B, A>) {
        let now_ns = cluster.backend.injector().now_ns();
        let (mut lowest, mut highest) = (u64::MAX, 0);
        for id in cluster.node_ids() {
            if let Some((ServerState::Leader, term)) = cluster.role(id) {
                self.record(term, id, now_ns);
                lowest = lowest.min(term);
                highest = highest.max(term);
            }
        }
        self.samples += 1;
        self.deposed_samples += u64::from(lowest < highest);
    }

    /// Notes that `node` was leader in `term` at `time_ns`.
    pub fn record(&mut self, term: u64, node: NodeId, time_ns: u64) {
        if !self.leaders.contains_key(&term) && self.leaders.len() >= MAX_TERMS_TRACKED {
            self.terms_dropped += 1;
            return;
        }
        self.leaders
            .entry(term)
            .or_default()
            .entry(node)
            .or_insert(time_ns);
    }

    /// Runs `work` to completion, sampling every `every` meanwhile (and
    /// once before and after).
    pub async fn observe<B: NetBackend, A: App, F: Future>(
        &mut self,
        cluster: &Cluster<B, A>,
        every: Duration,
        work: F,
    ) -> F::Output {
        assert!(
            !every.is_zero(),
            "a zero sampling period never lets time move"
        );
        let mut work = std::pin::pin!(work);
        loop {
            self.sample(cluster);
            let tick = std::pin::pin!(time::sleep(every));
            if let Either::Left((output, _)) = select(work.as_mut(), tick).await {
                self.sample(cluster);
                return output;
            }
        }
    }

    /// The leaders seen, by term, with the time each was first seen (ns).
    pub fn leaders_by_term(&self) -> &BTreeMap<u64, BTreeMap<NodeId, u64>> {
        &self.leaders
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Samples in which a deposed leader, in a term below another running
    /// leader's, still believed it led (the moment a stale read can be
    /// served).
    pub fn deposed_leader_samples(&self) -> u64 {
        self.deposed_samples
    }

    /// Terms seen after [`MAX_TERMS_TRACKED`] were reached (not checked).
    pub fn terms_dropped(&self) -> u64 {
        self.terms_dropped
    }

    /// Every violation seen, in term order.
    pub fn violations(&self) -> Vec<Violation> {
        let mut violations = Vec::new();
        for (&term, leaders) in &self.leaders {
            if self.one_per_term {
                if leaders.len() > 1 {
                    violations.push(Violation::AtMostOneLeaderPerTerm {
                        term,
                        leaders: leaders.keys().copied().collect(),
                    });
                }
                continue;
            }
            for (&first, &first_ns) in leaders {
                for (&then, &then_ns) in leaders.range(..first) {
                    if then_ns > first_ns {
                        violations.push(Violation::LeaderIdRegressed {
                            term,
                            first,
                            first_seen_ms: first_ns / 1_000_000,
                            then,
                            then_seen_ms: then_ns / 1_000_000,
                        });
                    }
                }
            }
        }
        violations
    }

    /// The first violation, if any.
    pub fn check(&self) -> Result<(), Violation> {
        match self.violations().into_iter().next() {
            Some(v) => Err(v),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// Logs

/// What [`logs_agree`] compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogReport {
    pub pairs: u64,
    /// Indices both nodes of a pair held with the same log id.
    pub entries_matched: u64,
    /// Of those, indices both nodes had committed.
    pub committed_matched: u64,
}

/// Checks every pair of nodes' logs, as their disks hold them now (the
/// page cache included), over every index both hold above both purge
/// points: the same log id means the same entry and the same log below it;
/// an index both nodes committed holds the same log id on both.
pub fn logs_agree<B: NetBackend, A: App>(cluster: &Cluster<B, A>) -> Result<LogReport, Violation> {
    let mut disks = Vec::new();
    for id in cluster.node_ids() {
        let disk = cluster
            .disk(id)
            .map_err(|e| unverifiable("log matching", e))?;
        disks.push((id, disk));
    }
    let mut report = LogReport::default();
    for (i, &a) in disks.iter().enumerate() {
        for &b in &disks[i + 1..] {
            let (matched, committed) = compare_logs(a, b)?;
            report.pairs += 1;
            report.entries_matched += matched;
            report.committed_matched += committed;
        }
    }
    Ok(report)
}

/// The first index a log can hold after purging up to `purged`.
fn first_index<C: SimTypes>(purged: Option<LogIdOf<C>>) -> u64 {
    purged.map_or(0, |id| id.index.saturating_add(1))
}

/// Compares two logs over their common range; returns how many indices
/// matched, and how many of those both had committed.
fn compare_logs<C: SimTypes>(
    (a, disk_a): (NodeId, &Disk<C>),
    (b, disk_b): (NodeId, &Disk<C>),
) -> Result<(u64, u64), Violation> {
    let (purged_a, last_a) = disk_a.log_state();
    let (purged_b, last_b) = disk_b.log_state();
    let (Some(last_a), Some(last_b)) = (last_a, last_b) else {
        return Ok((0, 0));
    };
    let committed = [disk_a.committed(), disk_b.committed()].map(|c| c.map(|id| id.index));
    let both_committed = committed[0].zip(committed[1]).map(|(x, y)| x.min(y));
    let mut pair = PairCheck {
        nodes: [a, b],
        committed,
        both_committed,
        diverged: None,
        matched: 0,
        committed_matched: 0,
    };
    let lo = first_index::<C>(purged_a).max(first_index::<C>(purged_b));
    let hi = last_a.index.min(last_b.index);
    let mut from = lo;
    // The range lies inside both logs, so it is at most MAX_LOG_ENTRIES long.
    let max_chunks = MAX_LOG_ENTRIES as u64 / LOG_CHUNK + 2;
    for _ in 0..max_chunks {
        if from > hi {
            break;
        }
        let to = hi.min(from.saturating_add(LOG_CHUNK - 1));
        pair.compare_chunk::<C>(&disk_a.entries(from..=to), &disk_b.entries(from..=to))?;
        let Some(next) = to.checked_add(1) else {
            break;
        };
        from = next;
    }
    Ok((pair.matched, pair.committed_matched))
}

/// An FNV-1a hash of `value`'s `Debug` text, computed without allocating:
/// how two entries are compared, so an app's request type need not
/// implement `PartialEq` (openraft's example's does not). Equal entries
/// hash equal; a collision could only hide a difference, never invent one.
fn debug_hash(value: &impl fmt::Debug) -> u64 {
    struct Fnv(u64);
    impl fmt::Write for Fnv {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for byte in s.bytes() {
                self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
            Ok(())
        }
    }
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    // Writing into a hasher cannot fail; a Debug impl that errors hashes
    // what it wrote.
    let _ = fmt::Write::write_fmt(&mut hasher, format_args!("{value:?}"));
    hasher.0
}

/// The state of one pairwise log comparison, in index order.
struct PairCheck {
    nodes: [NodeId; 2],
    committed: [Option<u64>; 2],
    both_committed: Option<u64>,
    /// The lowest index where the log ids differ, and the ids there.
    diverged: Option<(u64, [String; 2])>,
    matched: u64,
    committed_matched: u64,
}

impl PairCheck {
    fn compare_chunk<C: SimTypes>(
        &mut self,
        ea: &[EntryOf<C>],
        eb: &[EntryOf<C>],
    ) -> Result<(), Violation> {
        // Both runs are ordered and gap-free; walk them by index.
        let mut eb = eb.iter().peekable();
        for x in ea {
            while eb.peek().is_some_and(|y| y.index() < x.index()) {
                eb.next();
            }
            match eb.peek() {
                Some(y) if y.index() == x.index() => self.compare::<C>(x, y)?,
                Some(_) => {}
                None => break,
            }
        }
        Ok(())
    }

    fn compare<C: SimTypes>(&mut self, x: &EntryOf<C>, y: &EntryOf<C>) -> Result<(), Violation> {
        let index = x.index();
        let committed_here = self.both_committed.is_some_and(|c| index <= c);
        if x.log_id() != y.log_id() {
            if committed_here {
                return Err(Violation::CommittedEntryDiffers {
                    nodes: self.nodes,
                    index,
                    committed: self.committed.map(|c| c.unwrap_or(0)),
                    log_ids: [x.log_id().to_string(), y.log_id().to_string()],
                });
            }
            self.diverged
                .get_or_insert_with(|| (index, [x.log_id().to_string(), y.log_id().to_string()]));
            return Ok(());
        }
        if debug_hash(x) != debug_hash(y) {
            return Err(Violation::LogMatching {
                nodes: self.nodes,
                index,
                entries: [format!("{x:?}"), format!("{y:?}")],
            });
        }
        if let Some((differ_at, ids)) = &self.diverged {
            return Err(Violation::LogPrefix {
                nodes: self.nodes,
                agree_at: index,
                differ_at: *differ_at,
                log_ids_at_difference: ids.clone(),
            });
        }
        self.matched += 1;
        self.committed_matched += u64::from(committed_here);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// State machines

/// Waits until every node runs and all have applied the same log id, each
/// up to what it knows committed; returns that log id.
pub async fn converge<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    within: Duration,
) -> Result<Option<LogIdOf<A::C>>, Violation> {
    let deadline = Instant::now() + within;
    loop {
        let state = applied_state(cluster);
        if let Ok(applied) = &state {
            return Ok(applied.clone());
        }
        if Instant::now() >= deadline {
            let detail = state.err().unwrap_or_default();
            return Err(Violation::NotConverged {
                within_ms: millis(within),
                detail,
            });
        }
        time::sleep(POLL).await;
    }
}

/// The common applied log id, or why there is none yet.
fn applied_state<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
) -> Result<Option<LogIdOf<A::C>>, String> {
    let mut applied = BTreeSet::new();
    let mut lagging = Vec::new();
    for id in cluster.node_ids() {
        let Some(m) = cluster.metrics(id) else {
            lagging.push(format!("node {id} is not running"));
            continue;
        };
        applied.insert(m.last_applied.clone());
        // Applied all it knows committed, and the leader knows of no more.
        if m.local_committed != m.last_applied || m.cluster_committed > m.last_applied {
            lagging.push(format!(
                "node {id} applied {} of {} (cluster committed {})",
                show(m.last_applied.as_ref()),
                show(m.local_committed.as_ref()),
                show(m.cluster_committed.as_ref())
            ));
        }
    }
    match applied.first() {
        Some(common) if applied.len() == 1 && lagging.is_empty() => Ok(common.clone()),
        _ => {
            let applied: Vec<String> = applied.iter().map(|a| show(a.as_ref())).collect();
            Err(format!(
                "applied {applied:?}; {}",
                if lagging.is_empty() {
                    "no node lags".into()
                } else {
                    lagging.join(", ")
                }
            ))
        }
    }
}

/// What [`state_machines_agree`] compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateReport {
    pub nodes: usize,
    pub applied: String,
    pub state_bytes: usize,
}

/// Once every node applied the same log id ([`converge`]), asks each for
/// its state digest ([`App::state_digest`]) and compares them. A node whose
/// digest reports another applied id (a blank entry of a new leader landed
/// meanwhile, or converge saw metrics a poll old) makes the check wait a
/// heartbeat and converge again, a bounded number of times.
/// Call with the workload stopped.
pub async fn state_machines_agree<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    within: Duration,
) -> Result<StateReport, Violation> {
    const CHECK: &str = "state machine safety";
    const MAX_ROUNDS: usize = 8;
    let deadline = Instant::now() + within;
    let mut last_detail = String::new();
    for _ in 0..MAX_ROUNDS {
        let applied = converge(cluster, deadline.saturating_duration_since(Instant::now())).await?;
        let mut digests = Vec::new();
        for id in cluster.node_ids() {
            let raft = cluster.raft(id).await.map_err(|e| unverifiable(CHECK, e))?;
            let digest = cluster
                .app()
                .state_digest(&raft)
                .await
                .map_err(|e| unverifiable(CHECK, format!("node {id}: {e}")))?;
            digests.push((id, digest));
        }
        if let Some((id, moved)) = digests.iter().find(|(_, d)| d.applied != applied) {
            last_detail = format!(
                "node {id} reported applied {} after all converged at {}",
                show(moved.applied.as_ref()),
                show(applied.as_ref())
            );
            // The metrics converge saw may be a poll behind what the node
            // answered (an HTTP app's agent polls every heartbeat / 5): a
            // round run sooner could see the same stale view again.
            time::sleep(Duration::from_millis(
                cluster.raft_config().heartbeat_interval,
            ))
            .await;
            continue;
        }
        return compare_digests(&digests, &show(applied.as_ref()));
    }
    Err(Violation::NotConverged {
        within_ms: millis(within),
        detail: last_detail,
    })
}

fn compare_digests<C: RaftTypeConfig>(
    digests: &[(NodeId, crate::app::StateDigest<C>)],
    applied: &str,
) -> Result<StateReport, Violation> {
    let Some((first, reference)) = digests.first() else {
        return Ok(StateReport::default());
    };
    for (id, digest) in &digests[1..] {
        if digest.digest != reference.digest {
            let (x, y) = (&reference.digest, &digest.digest);
            let at = x
                .iter()
                .zip(y)
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len()));
            return Err(Violation::StateMachinesDiffer {
                nodes: [*first, *id],
                applied: applied.to_string(),
                state_bytes: [x.len(), y.len()],
                first_difference_at_byte: at,
            });
        }
    }
    Ok(StateReport {
        nodes: digests.len(),
        applied: applied.to_string(),
        state_bytes: reference.digest.len(),
    })
}

/// What [`applied_prefixes_agree`] compared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgreementReport {
    pub logs: LogReport,
    pub state: StateReport,
}

/// After the run, once [`crate::nemesis::stop`] restored the initial
/// voters: waits (up to `within`) for every node to apply the same log,
/// then checks the logs on disk ([`logs_agree`]), the memberships
/// ([`memberships_agree`]) and the state machines ([`state_machines_agree`]).
pub async fn applied_prefixes_agree<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    within: Duration,
) -> Result<AgreementReport, Violation> {
    let started = Instant::now();
    converge(cluster, within).await?;
    let logs = logs_agree(cluster)?;
    // Membership first: where both break, its report names the cause.
    memberships_agree(cluster, within.saturating_sub(started.elapsed())).await?;
    let state = state_machines_agree(cluster, within.saturating_sub(started.elapsed())).await?;
    Ok(AgreementReport { logs, state })
}

/// Once every node applied the same log id ([`converge`]), compares the
/// committed memberships the nodes' Rafts report, with each other and with
/// what each state machine says it applied last (where the handle reaches
/// it). A membership entry lives in the log, in the state machine's
/// applied state and in every snapshot: an app that drops it in one of them
/// leaves a node that restarted or installed a snapshot with another
/// membership than its peers, or than its own Raft, at the same log
/// position. Metrics a poll old can differ for a moment, so a difference
/// must outlast a few heartbeats (converging again each time).
pub async fn memberships_agree<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    within: Duration,
) -> Result<(), Violation> {
    const ROUNDS: usize = 4;
    let deadline = Instant::now() + within;
    let heartbeat = Duration::from_millis(cluster.raft_config().heartbeat_interval);
    let mut difference = Violation::NotConverged {
        within_ms: millis(within),
        detail: "no membership compared".into(),
    };
    for _ in 0..ROUNDS {
        let applied = converge(cluster, deadline.saturating_duration_since(Instant::now())).await?;
        match membership_difference(cluster, &applied).await? {
            None => return Ok(()),
            Some(violation) => difference = violation,
        }
        time::sleep(heartbeat).await;
    }
    Err(difference)
}

/// The first membership difference among the nodes that applied `applied`
/// (called after [`crate::nemesis::stop`] restored the initial voters).
async fn membership_difference<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    applied: &Option<LogIdOf<A::C>>,
) -> Result<Option<Violation>, Violation> {
    const CHECK: &str = "membership agreement";
    let expected = cluster.initial_voters();
    let mut reference = None;
    for id in cluster.node_ids() {
        let Some(m) = cluster.metrics(id) else {
            continue;
        };
        if m.last_applied != *applied {
            continue;
        }
        let committed = m.committed_membership_config;
        let voters = committed.membership().get_joint_config();
        if voters != std::slice::from_ref(expected) {
            return Ok(Some(Violation::MembershipLost {
                node: id,
                applied: show(applied.as_ref()),
                voters: format!("{voters:?}"),
                expected: format!("{expected:?}"),
            }));
        }
        let raft = cluster.raft(id).await.map_err(|e| unverifiable(CHECK, e))?;
        let own = raft
            .applied_state()
            .await
            .map_err(|e| unverifiable(CHECK, format!("node {id}: {e}")))?;
        if let Some((sm_applied, sm_membership)) = own
            && sm_applied == *applied
            && sm_membership != *committed
        {
            return Ok(Some(Violation::StateMachineMembership {
                node: id,
                applied: show(applied.as_ref()),
                state_machine: sm_membership.to_string(),
                raft: committed.to_string(),
            }));
        }
        match &reference {
            None => reference = Some((id, committed)),
            Some((first, membership)) if *membership != committed => {
                return Ok(Some(Violation::MembershipsDiffer {
                    nodes: [*first, id],
                    applied: show(applied.as_ref()),
                    memberships: [membership.to_string(), committed.to_string()],
                }));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------
// Liveness

/// After the faults stopped ([`crate::nemesis::stop`]): a leader that every
/// running voter follows is elected, and a write of a fresh key through the
/// client node commits, all within `within` of simulated time. Returns how
/// long it took.
pub async fn liveness<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    within: Duration,
) -> Result<Duration, Violation> {
    let started = Instant::now();
    let within_ms = millis(within);
    cluster
        .wait_for_leader(within)
        .await
        .map_err(|_| Violation::NoLeader { within_ms })?;
    let remaining = within.saturating_sub(started.elapsed());
    let key = format!(
        "liveness-{}-{:016x}",
        cluster.backend.injector().now_ns(),
        madsim_net::rand::random::<u64>()
    );
    let app = cluster.app().clone();
    let mut client = cluster.client();
    let written = cluster
        .on_client(
            async move { time::timeout(remaining, app.liveness_write(&mut client, key)).await },
        )
        .await;
    let error = match written {
        Ok(Ok(Ok(()))) => return Ok(started.elapsed()),
        Ok(Ok(Err(e))) => e,
        Ok(Err(_)) => "timed out".into(),
        Err(e @ ClusterError::Net(_)) => format!("client node: {e}"),
        Err(e) => e.to_string(),
    };
    Err(Violation::NoCommit { within_ms, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestConfig as TypeConfig;

    type Entry = EntryOf<TypeConfig>;

    openraft::declare_raft_types!(
        /// openraft's default leader ids (`leader_id_adv`).
        Adv: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime
    );

    #[test]
    fn leader_id_mode_is_read_from_the_config() {
        // The test config chooses classic Raft's leader id (leader_id_std).
        assert!(one_leader_per_term::<TypeConfig>());
        assert!(LeaderWatch::for_config::<TypeConfig>().one_per_term());
        // openraft's default lets several leaders share a term.
        assert!(!one_leader_per_term::<Adv>());
        assert!(!LeaderWatch::for_config::<Adv>().one_per_term());
    }

    #[test]
    fn one_per_term_watch_flags_two_leaders_in_one_term() {
        let mut watch = LeaderWatch::with_one_leader_per_term(true);
        watch.record(1, 0, 10);
        watch.record(1, 0, 20);
        watch.record(2, 1, 30);
        watch.record(3, 2, 40);
        assert!(watch.check().is_ok());
        watch.record(3, 4, 50);
        let violations = watch.violations();
        assert_eq!(
            violations,
            vec![Violation::AtMostOneLeaderPerTerm {
                term: 3,
                leaders: BTreeSet::from([2, 4]),
            }]
        );
        let text = violations[0].to_string();
        assert!(text.contains("term 3") && text.contains("{2, 4}"), "{text}");
        let json = serde_json::to_string(&violations[0]).expect("serializes");
        assert!(
            json.contains("\"violation\":\"at_most_one_leader_per_term\""),
            "{json}"
        );
    }

    #[test]
    fn several_per_term_watch_flags_a_smaller_leader_id_later() {
        const MS: u64 = 1_000_000;
        let mut watch = LeaderWatch::with_one_leader_per_term(false);
        // T5-N0 then T5-N4: a greater id supersedes, as openraft allows.
        watch.record(5, 0, 100 * MS);
        watch.record(5, 4, 150 * MS);
        // Seen in the same sample: not ordered.
        watch.record(6, 3, 200 * MS);
        watch.record(6, 1, 200 * MS);
        assert_eq!(watch.check(), Ok(()));
        // T7-N3 then T7-N2: a quorum went back to a smaller vote.
        watch.record(7, 3, 300 * MS);
        watch.record(7, 2, 310 * MS);
        assert_eq!(
            watch.violations(),
            vec![Violation::LeaderIdRegressed {
                term: 7,
                first: 3,
                first_seen_ms: 300,
                then: 2,
                then_seen_ms: 310,
            }]
        );
        let text = watch.violations()[0].to_string();
        assert!(text.contains("T7-N2"), "{text}");
    }

    #[test]
    fn leader_watch_is_bounded() {
        let mut watch = LeaderWatch::for_config::<TypeConfig>();
        for term in 0..MAX_TERMS_TRACKED as u64 + 5 {
            watch.record(term, 0, term);
        }
        assert_eq!(watch.leaders_by_term().len(), MAX_TERMS_TRACKED);
        assert_eq!(watch.terms_dropped(), 5);
    }

    mod logs {
        use openraft::entry::RaftEntry;
        use openraft::testing::log_id;

        use super::*;

        fn put(term: u64, index: u64, value: &str) -> Entry {
            Entry::new_normal(
                log_id::<TypeConfig>(term, 0, index),
                format!("put(k, {value})"),
            )
        }

        fn check(committed: Option<u64>, a: &[Entry], b: &[Entry]) -> Result<u64, Violation> {
            let mut pair = PairCheck {
                nodes: [0, 1],
                committed: [committed; 2],
                both_committed: committed,
                diverged: None,
                matched: 0,
                committed_matched: 0,
            };
            pair.compare_chunk::<TypeConfig>(a, b)
                .map(|()| pair.matched)
        }

        #[test]
        fn equal_logs_match() {
            let log = [put(1, 1, "a"), put(1, 2, "b")];
            assert_eq!(check(Some(2), &log, &log), Ok(2));
            // Only the common indices are compared.
            assert_eq!(check(Some(1), &log[..1], &log), Ok(1));
        }

        #[test]
        fn uncommitted_divergent_suffix_is_allowed() {
            let a = [put(1, 1, "a"), put(1, 2, "b")];
            let b = [put(1, 1, "a"), put(2, 2, "c")];
            assert_eq!(check(Some(1), &a, &b), Ok(1));
        }

        #[test]
        fn violations_are_found() {
            let a = [put(1, 1, "a"), put(1, 2, "b")];
            let same_id_other_entry = [put(1, 1, "a"), put(1, 2, "X")];
            assert!(matches!(
                check(None, &a, &same_id_other_entry),
                Err(Violation::LogMatching { index: 2, .. })
            ));
            let differs_below = [put(2, 1, "z"), put(1, 2, "b")];
            assert!(matches!(
                check(None, &a, &differs_below),
                Err(Violation::LogPrefix {
                    agree_at: 2,
                    differ_at: 1,
                    ..
                })
            ));
            let b = [put(1, 1, "a"), put(2, 2, "c")];
            let err = check(Some(2), &a, &b).unwrap_err();
            assert!(
                matches!(err, Violation::CommittedEntryDiffers { index: 2, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("index 2"), "{err}");
        }
    }
}
