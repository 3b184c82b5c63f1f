//! Wing-Gong-Lowe linearizability search over one object's history.
//!
//! Each operation has a call entry and (if it completed) a return entry in
//! one list sorted by time. Walking from the head, any call met before the
//! first return entry is a candidate to linearize next: if the model
//! accepts it and the configuration (set of linearized ops, model state)
//! is new, the op is lifted out of the list (call and return entry), its
//! prior state pushed on a stack, and the walk restarts. Meeting a return
//! entry means that op should already have been linearized: pop the stack,
//! unlift (dancing links: reinsertion in reverse order of removal), and
//! continue after the popped call. Lowe's memo of configurations already
//! visited prunes the search.
//!
//! Indeterminate ops (`ret: None`) have no return entry: their return is
//! +infinity, so nothing ever forces them, and the search succeeds as soon
//! as every determinate op is linearized. An indeterminate op never lifted
//! is one that never took effect (or took effect after everything
//! observable); one that was lifted took effect at that point. Their model
//! ops are total (nothing was observed about them), so that is sound.
//! What keeps them cheap, without losing a linearization:
//! - determinate candidates are tried before indeterminate ones, so
//!   configurations using few indeterminate ops are met first;
//! - identical indeterminate ops ("twins") are used in invocation order;
//! - dominance: a configuration equal to a visited one except for having
//!   used *more* indeterminate ops has no move the visited one lacks (any
//!   completion from it is one from the visited configuration), so it is
//!   pruned. (Take a visited configuration closest to success: its next
//!   move leads to a visited or dominated configuration that is closer
//!   still; so when the search ends without success, none can succeed.)
//!
//! Two reductions keep many concurrent clients cheap (each is a
//! dominance: the configuration pruned can do nothing the one kept
//! cannot):
//! - read-only ops (`Model::is_read_only`: a read, a failed cas) are
//!   taken as soon as they fit, without a choice point, so k concurrent
//!   readers no longer make 2^k subsets;
//! - identical determinate ops are linearized in deadline order (see
//!   `twins`).
//!
//! With them, a 10,000-op history of 20 concurrent clients on one register
//! is decided in well under a second, where the plain walk ran out of its
//! budget (`benches/check.rs`). A history that is *not* linearizable still
//! costs every configuration reachable before the violation.
//!
//! Model states are mapped to a canonical representative
//! (`Model::canonical`: states no op in the search can tell apart are
//! merged) and interned, so a configuration is a set of ops (stored
//! compactly, see `memo`) and a state id.
//!
//! Reusable ops (only in shrinking's relaxed checks, see `shrink`) may take
//! effect any number of times: they are never lifted, only change state.
//!
//! The search is bounded by steps, memo bytes and an optional deadline;
//! when a bound is hit the answer is `Unknown`, never a guess.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::rc::Rc;
use std::time::Instant;

use super::memo::{Linearized, Memo, Rank};
use super::model::Model;

/// One operation as the search sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchOp<Op> {
    pub op: Op,
    pub call: u64,
    /// `None`: indeterminate (may take effect at any point after `call`, or never).
    pub ret: Option<u64>,
    /// May take effect any number of times after `call` (a relaxation used
    /// only to shrink; never in a verdict). Implies `ret: None`.
    pub reusable: bool,
}

impl<Op> SearchOp<Op> {
    pub fn new(op: Op, call: u64, ret: Option<u64>) -> SearchOp<Op> {
        SearchOp {
            op,
            call,
            ret,
            reusable: false,
        }
    }
}

/// Bounds on one search.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_steps: u64,
    pub max_memo_bytes: u64,
    /// Wall-clock bound; `None` keeps the verdict deterministic.
    pub deadline: Option<Instant>,
}

/// Why an answer is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownReason {
    Steps {
        limit: u64,
    },
    Memory {
        limit_bytes: u64,
    },
    Time,
    /// Not searched to the end: another key had already shown a violation.
    Skipped,
}

impl std::fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnknownReason::Steps { limit } => write!(f, "search step budget ({limit}) exhausted"),
            UnknownReason::Memory { limit_bytes } => {
                write!(
                    f,
                    "memo memory budget ({} MiB) exhausted",
                    limit_bytes >> 20
                )
            }
            UnknownReason::Time => f.write_str("time budget exhausted"),
            UnknownReason::Skipped => {
                f.write_str("not finished: another key already shows a violation")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchResult {
    /// With the linearization found: indices of the ops in order (every
    /// determinate op, and the indeterminate ops that took effect).
    Linearizable {
        witness: Vec<u32>,
    },
    NotLinearizable,
    Unknown(UnknownReason),
}

#[derive(Clone, Debug)]
pub struct SearchReport {
    pub result: SearchResult,
    pub steps: u64,
    pub memo_entries: u64,
    pub memo_bytes: u64,
}

/// Most ops one search takes (entry indices are u32, two per op, plus the head).
pub const MAX_SEARCH_OPS: usize = (u32::MAX / 2 - 2) as usize;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// How often (in steps) the wall clock is read.
const CLOCK_EVERY_STEPS: u64 = 4096;

/// The doubly linked entry lists, in arrays. The main list (head
/// `HEAD`) holds the determinate ops' call and return entries in time
/// order; the spare list (head `Entries::spare_head`) holds the
/// indeterminate ops' calls, which have no return: kept apart, they cost
/// the walk over determinate candidates nothing, however many accumulate.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
    op: Vec<u32>,
    is_call: Vec<bool>,
    time: Vec<u64>,
    /// For a call entry: its op's return entry, or `NIL` if indeterminate.
    ret_entry: Vec<u32>,
    spare_head: u32,
}

impl Entries {
    fn build<Op>(ops: &[SearchOp<Op>]) -> Entries {
        // Calls sort before returns at equal times: such ops are taken as
        // concurrent, the reading that never invents a violation.
        let mut order: Vec<(u64, u8, u32)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(NIL);
            order.push((op.call, 0, index));
            if let Some(ret) = op.ret {
                assert!(ret >= op.call, "op {index} returns before its call");
                order.push((ret, 1, index));
            }
        }
        order.sort_unstable();
        // The main head, the entries, the spare head.
        let len = order.len() + 2;
        // Entry indices (and NIL) must fit u32: ops are bounded by MAX_SEARCH_OPS.
        let Ok(spare_head) = u32::try_from(len - 1) else {
            panic!("{len} entries exceed u32 indices");
        };
        assert!(spare_head < NIL);
        let mut list = Entries {
            next: vec![NIL; len],
            prev: vec![NIL; len],
            op: vec![NIL; len],
            is_call: vec![false; len],
            time: vec![0; len],
            ret_entry: vec![NIL; len],
            spare_head,
        };
        let mut call_entry = vec![NIL; ops.len()];
        let (mut main_tail, mut spare_tail) = (HEAD, spare_head);
        for (entry, &(time, kind, op)) in (1..spare_head).zip(&order) {
            let at = entry as usize;
            list.op[at] = op;
            list.is_call[at] = kind == 0;
            list.time[at] = time;
            let tail = if kind == 0 && ops[op as usize].ret.is_none() {
                &mut spare_tail
            } else {
                &mut main_tail
            };
            list.next[*tail as usize] = entry;
            list.prev[at] = *tail;
            *tail = entry;
            if kind == 0 {
                call_entry[op as usize] = entry;
            } else {
                let call = call_entry[op as usize];
                assert!(call != NIL, "a return entry sorts after its call");
                list.ret_entry[call as usize] = entry;
            }
        }
        list
    }

    /// When the first return entry left on the main list is (`u64::MAX`
    /// if none is): the indeterminate ops called by then are candidates.
    fn first_return_time(&self) -> u64 {
        let mut entry = self.next[HEAD as usize];
        while entry != NIL {
            if !self.is_call[entry as usize] {
                return self.time[entry as usize];
            }
            entry = self.next[entry as usize];
        }
        u64::MAX
    }

    fn unlink(&mut self, entry: u32) {
        let (prev, next) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[prev as usize] = next;
        if next != NIL {
            self.prev[next as usize] = prev;
        }
    }

    /// Undoes `unlink(entry)`; valid only in reverse order of unlinking.
    fn relink(&mut self, entry: u32) {
        let (prev, next) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[prev as usize] = entry;
        if next != NIL {
            self.prev[next as usize] = entry;
        }
    }

    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let ret = self.ret_entry[call as usize];
        if ret != NIL {
            self.unlink(ret);
        }
    }

    fn unlift(&mut self, call: u32) {
        let ret = self.ret_entry[call as usize];
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }
}

/// A deterministic multiply-rotate hasher for model states (no per-process
/// random keys, so runs are reproducible).
#[derive(Default)]
struct StateHasher(u64);

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Zobrist key of op `index`: the linearized set's hash is the xor of its
/// members' keys, updated in O(1) per lift.
fn zobrist_key(index: u32) -> u64 {
    splitmix(u64::from(index) ^ 0x2545_f491_4f6c_dd1d)
}

/// Model states seen, each stored once (a key's string may be kilobytes;
/// the memo refers to states by id).
struct StateTable<S> {
    ids: HashMap<Rc<S>, u32, BuildHasherDefault<StateHasher>>,
    states: Vec<Rc<S>>,
    bytes: u64,
}

impl<S: Eq + Hash> StateTable<S> {
    fn new() -> StateTable<S> {
        StateTable {
            ids: HashMap::default(),
            states: Vec::new(),
            bytes: 0,
        }
    }

    fn get(&self, id: u32) -> &S {
        &self.states[id as usize]
    }

    /// The state's id; `None` once u32 ids run out (a memory bound).
    fn intern(&mut self, state: S, state_bytes: usize) -> Option<u32> {
        if let Some(&id) = self.ids.get(&state) {
            return Some(id);
        }
        let id = u32::try_from(self.states.len())
            .ok()
            .filter(|&id| id != NIL)?;
        let state = Rc::new(state);
        self.states.push(Rc::clone(&state));
        self.ids.insert(state, id);
        // The state, two pointers to it, a hash-table slot.
        let entry_bytes = state_bytes + 2 * size_of::<usize>() + 8 + 13;
        self.bytes = self.bytes.saturating_add(entry_bytes as u64);
        Some(id)
    }
}

struct Frame {
    call: u32,
    prior: u32,
    /// An observation taken without a choice (see `Phase::Observe`):
    /// backtracking passes over it.
    forced: bool,
}

/// Which candidates the walk is considering, in this order:
/// - `Observe`: determinate ops that leave the state as it is (a read of
///   the current value, a cas that fails on it). Taking one at once
///   dominates leaving it for later: the state is the same, the op is
///   done, and its return entry no longer bounds the walk. So these are
///   taken without a choice point, and the subsets of pending reads that a
///   plain WGL walk tries (2^k with k concurrent readers) never arise.
/// - `Determinate`: the other determinate ops, each a choice point.
/// - `Indeterminate`: last, so configurations using few indeterminate ops
///   come first and dominate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Observe,
    Determinate,
    Indeterminate,
}

/// For each op, an earlier "twin" (the very same model op) that the
/// search must have linearized before it, or `NIL`. Twins have the same
/// effect, so only their deadlines tell them apart:
/// - Indeterminate twins (same reusability) are interchangeable once both
///   are invoked: they are used in call order, so 2^k subsets of k
///   identical pending writes become k+1, and no linearization is lost
///   (one using a later twin can swap in an earlier unused one). A
///   reusable op with an earlier reusable twin is never needed at all.
/// - A determinate op waits for the identical op invoked no later and
///   returning no later (the one of those returning last): whatever a
///   configuration with the later deadline done can do, the one with the
///   earlier deadline done can do too, by placing the other where it
///   placed this one.
fn twins<Op: Eq + Hash>(ops: &[SearchOp<Op>]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].call, i));
    let mut last: HashMap<(&Op, bool), u32> = HashMap::new();
    let mut determinate: HashMap<&Op, Vec<u32>> = HashMap::new();
    let mut before = vec![NIL; ops.len()];
    for index in order {
        let op = &ops[index];
        // Fits: `Search::new` asserts ops.len() <= MAX_SEARCH_OPS.
        let index32 = index as u32;
        let Some(ret) = op.ret else {
            if let Some(previous) = last.insert((&op.op, op.reusable), index32) {
                before[index] = previous;
            }
            continue;
        };
        let earlier = determinate.entry(&op.op).or_default();
        let candidate = earlier
            .iter()
            .rev()
            .take(MAX_TWINS_SCANNED)
            .filter_map(|&other| Some((ops[other as usize].ret?, other)))
            .filter(|&(other_ret, _)| other_ret <= ret)
            .max();
        if let Some((_, twin)) = candidate.filter(|_| std::env::var("NOTWIN").is_err()) {
            before[index] = twin;
        }
        earlier.push(index32);
    }
    before
}

/// How many earlier identical ops `twins` looks at for a determinate op (a
/// bound on the set-up time; missing a twin only costs pruning).
const MAX_TWINS_SCANNED: usize = 64;

/// Per determinate rank (see `Linearized`), whether its op is read-only.
fn read_only_ranks<M: Model>(ops: &[SearchOp<M::Op>], linearized: &Linearized) -> Vec<u64> {
    let mut words = vec![0u64; ops.len().div_ceil(64)];
    for (index, op) in ops.iter().enumerate() {
        // Fits: `Search::new` asserts ops.len() <= MAX_SEARCH_OPS.
        if let Rank::Determinate(rank) = linearized.rank(index as u32)
            && M::is_read_only(&op.op)
        {
            words[rank as usize / 64] |= 1u64 << (rank % 64);
        }
    }
    words
}

/// Where the walk goes on after a move: the entry, and the phase.
type Resume = (u32, Phase);

struct Search<'a, M: Model> {
    ops: &'a [SearchOp<M::Op>],
    facts: M::Facts,
    list: Entries,
    twin_before: Vec<u32>,
    linearized: Linearized,
    /// Scratch: the current configuration's memo key.
    key: Vec<u64>,
    /// Hash of the determinate ops linearized (indeterminate ones are
    /// left out so dominated configurations share a chain).
    zobrist: u64,
    memo: Memo,
    table: StateTable<M::State>,
    stack: Vec<Frame>,
    state: u32,
    /// Determinate ops not yet linearized.
    remaining: usize,
    any_indeterminate: bool,
    /// In the indeterminate phase: ops called up to this time are
    /// candidates (the time of the first return entry).
    candidates_until: u64,
    steps: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(ops: &'a [SearchOp<M::Op>]) -> Search<'a, M> {
        assert!(ops.len() <= MAX_SEARCH_OPS, "too many ops for one search");
        for op in ops {
            // Nothing was observed about an indeterminate op, so its model
            // op must accept any state (see `Model::prepare`).
            assert!(
                op.ret.is_some() || M::is_total(&op.op),
                "indeterminate op {:?} is not total",
                op.op
            );
            assert!(
                !op.reusable || op.ret.is_none(),
                "a reusable op has no return"
            );
        }
        let calls: Vec<u64> = ops.iter().map(|op| op.call).collect();
        let determinate: Vec<bool> = ops.iter().map(|op| op.ret.is_some()).collect();
        let remaining = ops.iter().filter(|op| op.ret.is_some()).count();
        let linearized = Linearized::new(&calls, &determinate);
        let read_only = read_only_ranks::<M>(ops, &linearized);
        let model_ops: Vec<&M::Op> = ops.iter().map(|op| &op.op).collect();
        let mut search = Search {
            ops,
            facts: M::facts(&model_ops),
            list: Entries::build(ops),
            twin_before: twins(ops),
            linearized,
            key: Vec::new(),
            zobrist: 0,
            memo: Memo::new(read_only),
            table: StateTable::new(),
            stack: Vec::with_capacity(ops.len()),
            state: 0,
            remaining,
            any_indeterminate: remaining < ops.len(),
            candidates_until: 0,
            steps: 0,
        };
        let init = M::canonical(M::init(), &search.facts);
        let init_bytes = M::state_bytes(&init);
        search.state = search.table.intern(init, init_bytes).unwrap_or(0);
        // The root is a configuration too: reusable ops may lead back to it.
        let root = search.hash(search.state);
        search.linearized.encode(&mut search.key);
        let visited = search.memo.visit(root, &search.key, search.state);
        assert!(visited, "the root is the first configuration");
        search
    }

    fn hash(&self, state: u32) -> u64 {
        splitmix(self.zobrist ^ splitmix(u64::from(state)))
    }

    fn is_determinate(&self, op: u32) -> bool {
        self.ops[op as usize].ret.is_some()
    }

    /// Whether `op` enters the memo's hash: a determinate op that is not
    /// read-only (configurations that differ in read-only ops only share a
    /// chain, where the one with more of them done prunes the others).
    fn is_hashed(&self, op: u32) -> bool {
        self.is_determinate(op) && !M::is_read_only(&self.ops[op as usize].op)
    }

    fn insert(&mut self, op: u32) {
        self.linearized.insert(op);
        if self.is_hashed(op) {
            self.zobrist ^= zobrist_key(op);
        }
    }

    /// Undoes the last `insert`, which must have been of `op`.
    fn remove(&mut self, op: u32) {
        self.linearized.remove(op);
        if self.is_hashed(op) {
            self.zobrist ^= zobrist_key(op);
        }
    }

    fn is_linearized(&self, op: u32) -> bool {
        self.linearized.contains(op)
    }

    /// Records the current configuration (with state `state`) in the memo;
    /// `false` if it was visited or is dominated.
    fn visit(&mut self, state: u32) -> bool {
        self.linearized.encode(&mut self.key);
        self.memo.visit(self.hash(state), &self.key, state)
    }

    fn memory(&self) -> u64 {
        self.memo.bytes.saturating_add(self.table.bytes)
    }

    fn over_budget(&self, budget: &Budget) -> Option<UnknownReason> {
        if self.steps >= budget.max_steps {
            return Some(UnknownReason::Steps {
                limit: budget.max_steps,
            });
        }
        if self.memory() > budget.max_memo_bytes {
            return Some(UnknownReason::Memory {
                limit_bytes: budget.max_memo_bytes,
            });
        }
        let clock_due = self.steps.is_multiple_of(CLOCK_EVERY_STEPS);
        match budget.deadline {
            Some(deadline) if clock_due && Instant::now() >= deadline => Some(UnknownReason::Time),
            _ => None,
        }
    }

    /// The walk: from the head, calls of the current phase's kind are
    /// candidates until the first return entry. There the determinate
    /// phase hands over to the indeterminate one (from the head again),
    /// and the indeterminate phase backtracks.
    fn run(&mut self, budget: &Budget) -> SearchResult {
        let mut entry = self.list.next[HEAD as usize];
        let mut phase = Phase::Observe;
        loop {
            if self.remaining == 0 {
                let witness: Vec<u32> = self
                    .stack
                    .iter()
                    .map(|f| self.list.op[f.call as usize])
                    .collect();
                debug_assert_eq!(verify_witness::<M>(self.ops, &witness), Ok(()));
                return SearchResult::Linearizable { witness };
            }
            if let Some(reason) = self.over_budget(budget) {
                return SearchResult::Unknown(reason);
            }
            self.steps += 1;

            if phase == Phase::Indeterminate {
                let time = self.list.time.get(entry as usize).copied();
                if time.is_some_and(|time| time <= self.candidates_until) {
                    (entry, phase) = self.try_call(entry, phase);
                    continue;
                }
                match self.backtrack() {
                    Some(resume) => (entry, phase) = resume,
                    None => return SearchResult::NotLinearizable,
                }
                continue;
            }
            // A determinate op is still unlinearized, so its return entry
            // lies ahead: the walk cannot fall off the end.
            assert!(entry != NIL, "walked past the last return entry");
            if self.list.is_call[entry as usize] {
                (entry, phase) = self.try_call(entry, phase);
            } else if phase == Phase::Observe {
                (entry, phase) = (self.list.next[HEAD as usize], Phase::Determinate);
            } else if self.any_indeterminate {
                self.candidates_until = self.list.time[entry as usize];
                entry = self.list.next[self.list.spare_head as usize];
                phase = Phase::Indeterminate;
            } else {
                match self.backtrack() {
                    Some(resume) => (entry, phase) = resume,
                    None => return SearchResult::NotLinearizable,
                }
            }
        }
    }

    /// Whether the twin rule lets `op` be used now.
    fn twin_allows(&self, op: u32) -> bool {
        let twin = self.twin_before[op as usize];
        match (twin, self.ops[op as usize].reusable) {
            (NIL, _) => true,
            (_, true) => false,
            (twin, false) => self.is_linearized(twin),
        }
    }

    /// Tries to linearize the op of call entry `call` next.
    fn try_call(&mut self, call: u32, phase: Phase) -> Resume {
        let skip = (self.list.next[call as usize], phase);
        let op = self.list.op[call as usize];
        if !self.twin_allows(op) {
            return skip;
        }

        let Some(next_state) = M::step(self.table.get(self.state), &self.ops[op as usize].op)
        else {
            return skip;
        };
        let next_state = M::canonical(next_state, &self.facts);
        let state_bytes = M::state_bytes(&next_state);
        let Some(next_id) = self.table.intern(next_state, state_bytes) else {
            // Out of ids: make the memory bound trip on the next step.
            self.table.bytes = u64::MAX;
            return skip;
        };
        let forced = phase == Phase::Observe;
        if forced && !(M::is_read_only(&self.ops[op as usize].op) && next_id == self.state) {
            return skip;
        }
        let reusable = self.ops[op as usize].reusable;
        if !reusable {
            self.insert(op);
        }
        if !self.visit(next_id) {
            if !reusable {
                self.remove(op);
            }
            return skip;
        }
        let prior = std::mem::replace(&mut self.state, next_id);
        self.stack.push(Frame {
            call,
            prior,
            forced,
        });
        if !reusable {
            self.list.lift(call);
            if self.is_determinate(op) {
                self.remaining -= 1;
            }
        }
        (self.list.next[HEAD as usize], Phase::Observe)
    }

    /// Undoes moves up to and including the last choice point; `None` if
    /// there is none left. A forced observation is undone on the way: the
    /// configuration before it is dominated by the one after, which failed.
    fn backtrack(&mut self) -> Option<Resume> {
        loop {
            let frame = self.stack.pop()?;
            let op = self.list.op[frame.call as usize];
            self.state = frame.prior;
            let resume = self.list.next[frame.call as usize];
            if self.ops[op as usize].reusable {
                self.candidates_until = self.list.first_return_time();
                return Some((resume, Phase::Indeterminate));
            }
            self.remove(op);
            self.list.unlift(frame.call);
            if !self.is_determinate(op) {
                self.candidates_until = self.list.first_return_time();
                return Some((resume, Phase::Indeterminate));
            }
            self.remaining += 1;
            if !frame.forced {
                return Some((resume, Phase::Determinate));
            }
        }
    }
}

/// Searches for a linearization of `ops` (one object's history).
pub fn search<M: Model>(ops: &[SearchOp<M::Op>], budget: &Budget) -> SearchReport {
    let mut model_ops: Vec<M::Op> = ops.iter().map(|op| op.op.clone()).collect();
    let merged: Option<Vec<SearchOp<M::Op>>> =
        M::merge_indistinguishable(&mut model_ops).then(|| {
            ops.iter()
                .zip(model_ops)
                .map(|(op, merged)| SearchOp {
                    op: merged,
                    ..op.clone()
                })
                .collect()
        });
    let ops = merged.as_deref().unwrap_or(ops);
    let mut search = Search::<M>::new(ops);
    let result = search.run(budget);
    SearchReport {
        result,
        steps: search.steps,
        memo_entries: search.memo.len(),
        memo_bytes: search.memory(),
    }
}

/// `ops` with every indeterminate op that the model lets repeat (see
/// [`Model::reusable_when_weakened`]) made reusable: it may take effect
/// any number of times after its call. That only adds linearizations, so
/// if these ops cannot be linearized, `ops` cannot either; and the search
/// no longer tracks which indeterminate ops were used, the dimension
/// that makes refuting a long history with many of them expensive.
/// `None` if no op changes.
pub fn repeatable_indeterminate<M: Model>(ops: &[SearchOp<M::Op>]) -> Option<Vec<SearchOp<M::Op>>> {
    let repeats = |op: &SearchOp<M::Op>| {
        op.ret.is_none() && !op.reusable && M::reusable_when_weakened(&op.op)
    };
    if !ops.iter().any(repeats) {
        return None;
    }
    let relaxed = ops
        .iter()
        .map(|op| SearchOp {
            reusable: op.reusable || repeats(op),
            ..op.clone()
        })
        .collect();
    Some(relaxed)
}

/// `ops` without their indeterminate ops: a linearization of these is one
/// of `ops` in which none of them took effect (always allowed). `None` if
/// there is none to leave out.
pub fn without_indeterminate<Op: Clone>(ops: &[SearchOp<Op>]) -> Option<Vec<SearchOp<Op>>> {
    if ops.iter().all(|op| op.ret.is_some()) {
        return None;
    }
    Some(ops.iter().filter(|op| op.ret.is_some()).cloned().collect())
}

/// Checks a claimed linearization independently of the search: every
/// determinate op exactly once, no other op twice (unless reusable),
/// real-time order respected (an op placed later was not completed
/// before an earlier one was invoked), and the model accepts the sequence.
pub fn verify_witness<M: Model>(ops: &[SearchOp<M::Op>], witness: &[u32]) -> Result<(), String> {
    let mut seen = vec![false; ops.len()];
    let mut latest_call = 0u64;
    let mut state = M::init();
    for (position, &index) in witness.iter().enumerate() {
        let Some(op) = ops.get(index as usize) else {
            return Err(format!("witness names op {index}, which does not exist"));
        };
        if std::mem::replace(&mut seen[index as usize], true) && !op.reusable {
            return Err(format!("op {index} appears twice"));
        }
        latest_call = latest_call.max(op.call);
        if op.ret.is_some_and(|ret| ret < latest_call) {
            return Err(format!(
                "op {index} at position {position} completed before an earlier op was invoked"
            ));
        }
        state = M::step(&state, &op.op).ok_or_else(|| {
            format!(
                "model rejects op {index} ({:?}) at position {position}",
                op.op
            )
        })?;
    }
    match ops
        .iter()
        .zip(&seen)
        .position(|(op, &seen)| op.ret.is_some() && !seen)
    {
        Some(missing) => Err(format!("determinate op {missing} is missing")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KvAppend, KvOp, RegisterCas, RegisterOp};

    const BUDGET: Budget = Budget {
        max_steps: 1_000_000,
        max_memo_bytes: 1 << 26,
        deadline: None,
    };

    fn op(op: RegisterOp, call: u64, ret: Option<u64>) -> SearchOp<RegisterOp> {
        SearchOp::new(op, call, ret)
    }

    fn result(ops: &[SearchOp<RegisterOp>]) -> SearchResult {
        let report = search::<RegisterCas>(ops, &BUDGET);
        if let SearchResult::Linearizable { witness } = &report.result {
            assert_eq!(verify_witness::<RegisterCas>(ops, witness), Ok(()));
        }
        report.result
    }

    fn linearizable(ops: &[SearchOp<RegisterOp>]) -> bool {
        match result(ops) {
            SearchResult::Linearizable { .. } => true,
            SearchResult::NotLinearizable => false,
            SearchResult::Unknown(reason) => panic!("unknown: {reason}"),
        }
    }

    use RegisterOp::{CasFail, CasMaybe, CasOk, Read, Write};

    #[test]
    fn a_stale_read_is_caught() {
        let ops = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Read(Some(1)), 4, Some(5)),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn concurrent_ops_may_reorder() {
        // The write overlaps both reads: nil then 1 is fine, 1 then nil is not.
        let ops = [
            op(Write(1), 0, Some(10)),
            op(Read(None), 1, Some(2)),
            op(Read(Some(1)), 3, Some(4)),
        ];
        assert!(linearizable(&ops));
        let ops = [
            op(Write(1), 0, Some(10)),
            op(Read(Some(1)), 1, Some(2)),
            op(Read(None), 3, Some(4)),
        ];
        assert!(!linearizable(&ops));
        // Equal times count as concurrent.
        let ops = [op(Write(1), 0, Some(5)), op(Read(None), 5, Some(6))];
        assert!(linearizable(&ops));
    }

    #[test]
    fn indeterminate_ops_may_or_may_not_take_effect() {
        let took_effect = [op(Write(1), 0, None), op(Read(Some(1)), 5, Some(6))];
        assert!(linearizable(&took_effect));
        let never = [op(Write(1), 0, None), op(Read(None), 5, Some(6))];
        assert!(linearizable(&never));
        let late = [
            op(Write(1), 0, None),
            op(Read(None), 5, Some(6)),
            op(Read(Some(1)), 7, Some(8)),
        ];
        assert!(linearizable(&late));
        // Once seen, it happened: it cannot be undone.
        let undone = [
            op(Write(1), 0, None),
            op(Read(Some(1)), 5, Some(6)),
            op(Read(None), 7, Some(8)),
        ];
        assert!(!linearizable(&undone));
        // It cannot take effect before it was invoked.
        let early = [op(Read(Some(1)), 0, Some(1)), op(Write(1), 2, None)];
        assert!(!linearizable(&early));
    }

    #[test]
    fn values_nobody_looks_for_merge() {
        let mut ops = vec![
            Write(1),
            Write(2),
            CasOk { from: 2, to: 3 },
            CasMaybe { from: 9, to: 4 },
            Read(Some(1)),
            CasFail { from: 7 },
        ];
        assert!(RegisterCas::merge_indistinguishable(&mut ops));
        let unseen = i64::MIN;
        assert_eq!(
            ops,
            vec![
                Write(1),
                Write(2),
                CasOk {
                    from: 2,
                    to: unseen
                },
                CasMaybe {
                    from: 9,
                    to: unseen
                },
                Read(Some(1)),
                CasFail { from: 7 },
            ]
        );
        assert!(!RegisterCas::merge_indistinguishable(&mut ops), "stable");
        // `add` tells every value apart.
        let mut with_add = vec![Write(5), RegisterOp::Add(1), Read(Some(6))];
        assert!(!RegisterCas::merge_indistinguishable(&mut with_add));
    }

    #[test]
    fn repeatable_indeterminate_ops_only_add_linearizations() {
        // The unanswered write of 1 is seen before and after the write of
        // 2: taking effect once, it cannot explain both reads.
        let ops = [
            op(Write(1), 0, None),
            op(Read(Some(1)), 1, Some(2)),
            op(Write(2), 3, Some(4)),
            op(Read(Some(2)), 5, Some(6)),
            op(Read(Some(1)), 7, Some(8)),
        ];
        assert!(!linearizable(&ops));
        let relaxed = repeatable_indeterminate::<RegisterCas>(&ops).expect("one changes");
        assert_eq!(relaxed.iter().filter(|op| op.reusable).count(), 1);
        assert!(linearizable(&relaxed), "repeated, it can");
        // Without it, the stale read is a violation either way.
        let stale = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Read(Some(1)), 4, Some(5)),
            op(Write(3), 0, None),
        ];
        assert!(!linearizable(&stale));
        let relaxed = repeatable_indeterminate::<RegisterCas>(&stale).expect("one changes");
        assert!(!linearizable(&relaxed));
        assert_eq!(repeatable_indeterminate::<RegisterCas>(&stale[..3]), None);
    }

    #[test]
    fn identical_indeterminate_ops_can_each_take_effect() {
        // Two unanswered writes of 1: one before the write of 2, one after.
        let ops = [
            op(Write(1), 0, None),
            op(Write(1), 0, None),
            op(Read(Some(1)), 1, Some(2)),
            op(Write(2), 3, Some(4)),
            op(Read(Some(2)), 5, Some(6)),
            op(Read(Some(1)), 7, Some(8)),
        ];
        assert!(linearizable(&ops));
        // With only one of them, the last read cannot be explained.
        assert!(!linearizable(&[&ops[..1], &ops[2..]].concat()));
    }

    #[test]
    fn an_unknown_cas_swaps_only_if_it_matches() {
        let base = [
            op(Write(1), 0, Some(1)),
            op(CasMaybe { from: 1, to: 2 }, 2, None),
        ];
        let mut seen_2 = base.to_vec();
        seen_2.push(op(Read(Some(2)), 3, Some(4)));
        assert!(linearizable(&seen_2));
        let mut back_to_1 = seen_2.clone();
        back_to_1.push(op(Read(Some(1)), 5, Some(6)));
        assert!(!linearizable(&back_to_1));
        let no_match = [
            op(Write(3), 0, Some(1)),
            op(CasMaybe { from: 1, to: 2 }, 2, None),
            op(Read(Some(2)), 3, Some(4)),
        ];
        assert!(!linearizable(&no_match));
    }

    #[test]
    fn cas_fail_is_an_observation() {
        let ops = [
            op(Write(1), 0, Some(1)),
            op(CasFail { from: 1 }, 2, Some(3)),
        ];
        assert!(!linearizable(&ops));
        let ops = [
            op(Write(1), 0, Some(1)),
            op(CasFail { from: 2 }, 2, Some(3)),
        ];
        assert!(linearizable(&ops));
        let ops = [
            op(Write(1), 0, Some(1)),
            op(CasOk { from: 1, to: 2 }, 2, Some(3)),
            op(CasOk { from: 1, to: 3 }, 2, Some(3)),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn the_budget_yields_unknown() {
        let ops: Vec<_> = (0..12)
            .map(|i| op(Write(i), 0, Some(100)))
            .chain([op(Read(Some(99)), 0, Some(100))])
            .collect();
        let tight = Budget {
            max_steps: 50,
            ..BUDGET
        };
        let report = search::<RegisterCas>(&ops, &tight);
        assert_eq!(
            report.result,
            SearchResult::Unknown(UnknownReason::Steps { limit: 50 })
        );
        let tiny_memo = Budget {
            max_memo_bytes: 64,
            ..BUDGET
        };
        let report = search::<RegisterCas>(&ops, &tiny_memo);
        assert!(matches!(
            report.result,
            SearchResult::Unknown(UnknownReason::Memory { .. })
        ));
        let past = Budget {
            deadline: Some(Instant::now()),
            ..BUDGET
        };
        let report = search::<RegisterCas>(&ops, &past);
        assert_eq!(report.result, SearchResult::Unknown(UnknownReason::Time));
    }

    #[test]
    fn an_empty_history_is_linearizable() {
        assert!(linearizable(&[]));
        assert!(linearizable(&[op(Write(1), 0, None)]));
    }

    /// A tiny deterministic generator for the cross-check below.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = splitmix(self.0);
            self.0 % n
        }
    }

    fn random_op(rng: &mut Rng) -> SearchOp<RegisterOp> {
        let value = |rng: &mut Rng| rng.below(3) as i64;
        let kind = rng.below(6);
        let register = match kind {
            0 => Read(if rng.below(4) == 0 {
                None
            } else {
                Some(value(rng))
            }),
            1 | 2 => Write(value(rng)),
            3 => CasOk {
                from: value(rng),
                to: value(rng),
            },
            4 => CasFail { from: value(rng) },
            _ => CasMaybe {
                from: value(rng),
                to: value(rng),
            },
        };
        let call = rng.below(10);
        let indeterminate = matches!(register, CasMaybe { .. }) || (kind == 2 && rng.below(2) == 0);
        let ret = (!indeterminate).then(|| call + rng.below(6));
        op(register, call, ret)
    }

    /// Tries every order of every subset that contains all determinate
    /// ops, with the raw model (no search, no memo, no canonical states).
    fn brute_force<M: Model>(
        ops: &[SearchOp<M::Op>],
        placed: &mut Vec<u32>,
        state: &M::State,
    ) -> bool {
        let all_determinate_placed = ops
            .iter()
            .enumerate()
            .all(|(i, o)| o.ret.is_none() || placed.contains(&(i as u32)));
        if all_determinate_placed {
            return true;
        }
        // An op placed next must not have completed before a placed op's call.
        let latest_call = placed
            .iter()
            .map(|&p| ops[p as usize].call)
            .max()
            .unwrap_or(0);
        for (i, candidate) in ops.iter().enumerate() {
            if placed.contains(&(i as u32)) || candidate.ret.is_some_and(|ret| ret < latest_call) {
                continue;
            }
            if let Some(next) = M::step(state, &candidate.op) {
                placed.push(i as u32);
                let ok = brute_force::<M>(ops, placed, &next);
                placed.pop();
                if ok {
                    return true;
                }
            }
        }
        false
    }

    fn verdict<M: Model>(ops: &[SearchOp<M::Op>]) -> bool {
        let report = search::<M>(ops, &BUDGET);
        match report.result {
            SearchResult::Linearizable { witness } => {
                assert_eq!(verify_witness::<M>(ops, &witness), Ok(()));
                true
            }
            SearchResult::NotLinearizable => false,
            SearchResult::Unknown(reason) => panic!("unknown: {reason}"),
        }
    }

    /// Cross-checks `cases` random histories; both verdicts must occur.
    fn cross_check<M: Model>(
        seed: u64,
        cases: usize,
        random: impl Fn(&mut Rng) -> SearchOp<M::Op>,
    ) {
        let mut rng = Rng(seed);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..cases {
            let len = 1 + rng.below(7) as usize;
            let ops: Vec<_> = (0..len).map(|_| random(&mut rng)).collect();
            let expected = brute_force::<M>(&ops, &mut Vec::new(), &M::init());
            assert_eq!(verdict::<M>(&ops), expected, "{ops:?}");
            if expected {
                yes += 1;
            } else {
                no += 1;
            }
        }
        assert!(yes > cases / 10 && no > cases / 10, "yes {yes} no {no}");
    }

    #[test]
    fn agrees_with_brute_force_on_random_register_histories() {
        cross_check::<RegisterCas>(7, 4000, random_op);
    }

    fn random_kv_op(rng: &mut Rng) -> SearchOp<KvOp> {
        let word = |rng: &mut Rng| ["a", "b", "ab", ""][rng.below(4) as usize].to_string();
        let kind = rng.below(5);
        let kv = match kind {
            0 | 1 => KvOp::Get(
                ["", "a", "b", "ab", "ba", "aab", "abb"][rng.below(7) as usize].to_string(),
            ),
            2 => KvOp::Put(word(rng)),
            _ => KvOp::Append(word(rng)),
        };
        let call = rng.below(10);
        let indeterminate = kind >= 2 && rng.below(3) == 0;
        let ret = (!indeterminate).then(|| call + rng.below(6));
        SearchOp::new(kv, call, ret)
    }

    #[test]
    fn agrees_with_brute_force_on_random_kv_histories() {
        cross_check::<KvAppend>(11, 4000, random_kv_op);
    }

    #[test]
    fn reusable_ops_only_add_linearizations() {
        // Shrinking relies on it: if a history with some indeterminate ops
        // made reusable violates, it violates without the relaxation too.
        let mut rng = Rng(3);
        let mut differs = 0;
        for _ in 0..3000 {
            let len = 1 + rng.below(7) as usize;
            let exact: Vec<_> = (0..len).map(|_| random_op(&mut rng)).collect();
            let mut relaxed = exact.clone();
            for op in relaxed.iter_mut().filter(|op| op.ret.is_none()) {
                op.reusable = rng.below(2) == 0;
            }
            let (strict, loose) = (
                verdict::<RegisterCas>(&exact),
                verdict::<RegisterCas>(&relaxed),
            );
            assert!(!strict || loose, "{exact:?}");
            differs += usize::from(strict != loose);
        }
        assert!(
            differs > 0,
            "the relaxation never mattered: the test is too weak"
        );
    }
}
