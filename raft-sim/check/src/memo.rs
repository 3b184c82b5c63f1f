//! The search's configurations in compact form, and the memo of those
//! visited.
//!
//! A configuration is the set of ops linearized so far and a model state.
//! Stored as a plain bitset over all ops, each memo entry of a 10,000-op
//! history would take 1.25 KiB; but the set has a shape the search keeps:
//! let `f` be the first unlinearized determinate op in call order. Every
//! determinate op invoked before it is linearized, and none invoked after
//! its return can be (its return entry bounds the walk). So the
//! determinate part is `f` plus a window of the ops invoked while op `f`
//! was pending (about as many as there are concurrent clients), and the
//! indeterminate ops used are few (the search prefers configurations that
//! use fewer). A key is:
//!
//! ```text
//! [ f | window words << 32 ] [ indeterminate ops used ] [ window bits ... ] [ indeterminate ranks, two per word ... ]
//! ```
//!
//! where the window covers determinate ranks `f + 1 ..` up to the last
//! linearized one (so equal sets give equal keys), and the indeterminate
//! ops are listed by rank in ascending order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const NIL: u32 = u32::MAX;
/// Entries of one hash chain compared before a configuration counts as new.
const MAX_CHAIN_COMPARISONS: usize = 64;
/// Words of a key before its window: the header and the count.
const KEY_HEADER_WORDS: usize = 2;

/// Where an op sits in its kind's call order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    Determinate(u32),
    Indeterminate(u32),
}

/// The set of ops linearized on the search's current path. Changes come in
/// stack order (the last op inserted is the first removed).
pub struct Linearized {
    rank: Vec<Rank>,
    determinate: Vec<u64>,
    determinate_count: u32,
    indeterminate: Vec<u64>,
    indeterminate_used: u32,
    /// The first unlinearized determinate rank (`determinate_count` when
    /// all are linearized).
    frontier: u32,
    /// One past the highest linearized determinate rank, at each depth of
    /// the path (the last entry is the current one; the first is 0).
    high: Vec<u32>,
}

impl Linearized {
    /// `calls[i]`: op `i`'s call time; `determinate[i]`: whether it returned.
    pub fn new(calls: &[u64], determinate: &[bool]) -> Linearized {
        assert_eq!(calls.len(), determinate.len());
        let mut order: Vec<usize> = (0..calls.len()).collect();
        order.sort_by_key(|&index| (calls[index], index));
        let mut rank = vec![Rank::Determinate(NIL); calls.len()];
        let (mut determinate_count, mut indeterminate_count) = (0u32, 0u32);
        for index in order {
            rank[index] = if determinate[index] {
                determinate_count += 1;
                Rank::Determinate(determinate_count - 1)
            } else {
                indeterminate_count += 1;
                Rank::Indeterminate(indeterminate_count - 1)
            };
        }
        Linearized {
            rank,
            determinate: vec![0; (determinate_count as usize).div_ceil(64)],
            determinate_count,
            indeterminate: vec![0; (indeterminate_count as usize).div_ceil(64)],
            indeterminate_used: 0,
            frontier: 0,
            high: vec![0],
        }
    }

    pub fn rank(&self, op: u32) -> Rank {
        self.rank[op as usize]
    }

    pub fn contains(&self, op: u32) -> bool {
        match self.rank[op as usize] {
            Rank::Determinate(rank) => bit(&self.determinate, rank),
            Rank::Indeterminate(rank) => bit(&self.indeterminate, rank),
        }
    }

    pub fn insert(&mut self, op: u32) {
        debug_assert!(!self.contains(op));
        match self.rank[op as usize] {
            Rank::Determinate(rank) => {
                flip(&mut self.determinate, rank);
                let high = self.high.last().copied().unwrap_or(0);
                self.high.push(high.max(rank + 1));
                if rank == self.frontier {
                    self.frontier = self.next_unlinearized(rank + 1);
                }
            }
            Rank::Indeterminate(rank) => {
                flip(&mut self.indeterminate, rank);
                self.indeterminate_used += 1;
            }
        }
    }

    /// Undoes the last `insert`, which must have been of `op`.
    pub fn remove(&mut self, op: u32) {
        debug_assert!(self.contains(op));
        match self.rank[op as usize] {
            Rank::Determinate(rank) => {
                flip(&mut self.determinate, rank);
                self.high.pop();
                self.frontier = self.frontier.min(rank);
            }
            Rank::Indeterminate(rank) => {
                flip(&mut self.indeterminate, rank);
                self.indeterminate_used -= 1;
            }
        }
    }

    fn next_unlinearized(&self, from: u32) -> u32 {
        let mut word = from as usize / 64;
        let mut free =
            !self.determinate.get(word).copied().unwrap_or(0) & (u64::MAX << (from % 64));
        while free == 0 {
            word += 1;
            let Some(&bits) = self.determinate.get(word) else {
                return self.determinate_count;
            };
            free = !bits;
        }
        let found = u32::try_from(word * 64).unwrap_or(NIL) + free.trailing_zeros();
        found.min(self.determinate_count)
    }

    /// Writes the current set's key into `key` (cleared first).
    pub fn encode(&self, key: &mut Vec<u64>) {
        key.clear();
        let start = self.frontier + 1;
        let high = self.high.last().copied().unwrap_or(0);
        let window_bits = high.saturating_sub(start);
        let window_words = window_bits.div_ceil(64);
        key.push(u64::from(self.frontier) | (u64::from(window_words) << 32));
        key.push(u64::from(self.indeterminate_used));
        for word in 0..window_words {
            let from = start + word * 64;
            let mut bits = bits_at(&self.determinate, from);
            let left = high - from;
            if left < 64 {
                bits &= (1u64 << left) - 1;
            }
            key.push(bits);
        }
        let mut pending_half: Option<u32> = None;
        let mut listed = 0;
        for (word_index, &word) in self.indeterminate.iter().enumerate() {
            let mut bits = word;
            while bits != 0 && listed < self.indeterminate_used {
                let rank = u32::try_from(word_index * 64).unwrap_or(NIL) + bits.trailing_zeros();
                bits &= bits - 1;
                listed += 1;
                match pending_half.take() {
                    None => pending_half = Some(rank),
                    Some(low) => key.push(u64::from(low) | (u64::from(rank) << 32)),
                }
            }
        }
        if let Some(low) = pending_half {
            key.push(u64::from(low) | (u64::from(NIL) << 32));
        }
    }
}

fn bit(words: &[u64], index: u32) -> bool {
    words[index as usize / 64] & (1u64 << (index % 64)) != 0
}

fn flip(words: &mut [u64], index: u32) {
    words[index as usize / 64] ^= 1u64 << (index % 64);
}

/// The 64 bits starting at bit `from` (zeros past the end).
fn bits_at(words: &[u64], from: u32) -> u64 {
    let (word, shift) = (from as usize / 64, from % 64);
    let low = words.get(word).copied().unwrap_or(0) >> shift;
    if shift == 0 {
        return low;
    }
    let high = words.get(word + 1).copied().unwrap_or(0) << (64 - shift);
    low | high
}

/// The indeterminate ranks a key lists, ascending.
fn indeterminate_ranks(key: &[u64]) -> impl Iterator<Item = u32> + '_ {
    let window_words = (key[0] >> 32) as usize;
    let used = key[1] as usize;
    key[KEY_HEADER_WORDS + window_words..]
        .iter()
        .flat_map(|&pair| [pair as u32, (pair >> 32) as u32])
        .take(used)
}

/// The determinate ranks `from .. from + 64` of a key's set, as bits.
fn determinate_bits(key: &[u64], from: u32) -> u64 {
    let frontier = key[0] as u32;
    let window_words = (key[0] >> 32) as usize;
    let window = &key[KEY_HEADER_WORDS..KEY_HEADER_WORDS + window_words];
    // Ranks below the frontier are in; the frontier is out; above it, the window.
    let below = if from >= frontier {
        0
    } else if frontier - from >= 64 {
        u64::MAX
    } else {
        (1u64 << (frontier - from)) - 1
    };
    let window_from = frontier + 1;
    let above = if from + 64 <= window_from {
        0
    } else if from >= window_from {
        bits_at(window, from - window_from)
    } else {
        bits_at(window, 0) << (window_from - from)
    };
    below | above
}

/// One past the highest determinate rank a key holds.
fn determinate_end(key: &[u64]) -> u32 {
    let frontier = key[0] as u32;
    let window_words = (key[0] >> 32) as u32;
    frontier + 1 + window_words * 64
}

/// Whether a visited key makes `new` pointless (same state, checked by the
/// caller): the same mutating determinate ops; every read-only one that
/// `new` has done, done too (doing one can only help, see
/// `Model::is_read_only`); and every indeterminate op it used, used by
/// `new` too (more indeterminate ops never open a move, see `wgl`).
fn dominates(stored: &[u64], new: &[u64], read_only: &[u64]) -> bool {
    if stored[1] > new[1] {
        return false;
    }
    if stored[0] == new[0] {
        let window_words = (stored[0] >> 32) as usize;
        let determinate = KEY_HEADER_WORDS + window_words;
        if stored[KEY_HEADER_WORDS..determinate] != new[KEY_HEADER_WORDS..determinate] {
            return determinate_dominates(stored, new, read_only);
        }
    } else if !determinate_dominates(stored, new, read_only) {
        return false;
    }
    let mut used = indeterminate_ranks(new);
    indeterminate_ranks(stored).all(|rank| used.any(|other| other == rank))
}

fn determinate_dominates(stored: &[u64], new: &[u64], read_only: &[u64]) -> bool {
    let start = (stored[0] as u32).min(new[0] as u32);
    let end = determinate_end(stored).max(determinate_end(new));
    let mut from = start;
    while from < end {
        let (old, now) = (determinate_bits(stored, from), determinate_bits(new, from));
        let read_only = bits_at(read_only, from);
        if (old ^ now) & !read_only != 0 || now & !old != 0 {
            return false;
        }
        from += 64;
    }
    true
}

/// The memo's keys are already well-mixed 64-bit hashes: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }
}

/// Configurations visited: keys stored back to back in one arena, chained
/// per hash of (determinate ops, state), so that a configuration and those
/// it dominates share a chain.
pub struct Memo {
    /// Per determinate rank, whether its op is read-only.
    read_only: Vec<u64>,
    arena: Vec<u64>,
    /// Entry `i`'s key is `arena[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    states: Vec<u32>,
    chain: Vec<u32>,
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    pub bytes: u64,
}

impl Memo {
    /// `read_only`: per determinate rank (a bitset), whether its op is
    /// read-only.
    pub fn new(read_only: Vec<u64>) -> Memo {
        Memo {
            read_only,
            arena: Vec::new(),
            starts: vec![0],
            states: Vec::new(),
            chain: Vec::new(),
            heads: HashMap::default(),
            bytes: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.states.len() as u64
    }

    fn key(&self, index: usize) -> &[u64] {
        &self.arena[self.starts[index] as usize..self.starts[index + 1] as usize]
    }

    /// Records the configuration; `false` if a visited one equals or
    /// dominates it (or the memo cannot grow: then `bytes` is saturated,
    /// which trips the memory bound).
    pub fn visit(&mut self, hash: u64, key: &[u64], state: u32) -> bool {
        let head = self.heads.get(&hash).copied().unwrap_or(NIL);
        let mut at = head;
        // A bounded walk: an entry further down is not compared, so its
        // configuration may be searched again (slower, never wrong).
        for _ in 0..MAX_CHAIN_COMPARISONS {
            if at == NIL {
                break;
            }
            let index = at as usize;
            if self.states[index] == state && dominates(self.key(index), key, &self.read_only) {
                return false;
            }
            at = self.chain[index];
        }
        let index = u32::try_from(self.states.len())
            .ok()
            .filter(|&index| index != NIL);
        let end = u32::try_from(self.arena.len() + key.len()).ok();
        let (Some(index), Some(end)) = (index, end) else {
            self.bytes = u64::MAX;
            return false;
        };
        self.arena.extend_from_slice(key);
        self.starts.push(end);
        self.states.push(state);
        self.chain.push(head);
        self.heads.insert(hash, index);
        // The key, its start, state id and chain link, a hash-table slot.
        let entry_bytes = key.len() * 8 + 4 + 4 + 4 + 13;
        self.bytes = self.bytes.saturating_add(entry_bytes as u64);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_read_only_ops_done_dominate() {
        // Determinate ops 0..100 by call; every third is read-only.
        let calls: Vec<u64> = (0..100).collect();
        let determinate = vec![true; 100];
        let read_only: Vec<u64> = {
            let mut words = vec![0u64; 2];
            for rank in (0..100).step_by(3) {
                words[rank / 64] |= 1 << (rank % 64);
            }
            words
        };
        let base: Vec<u32> = (0..40).chain([70, 71]).collect();
        let with_reads: Vec<u32> = base.iter().copied().chain([42, 45, 75, 99]).collect();
        let (fewer, more) = (
            set(&calls, &determinate, &base),
            set(&calls, &determinate, &with_reads),
        );
        assert!(dominates(&more, &fewer, &read_only));
        assert!(!dominates(&fewer, &more, &read_only));
        // A mutating op (41) done by one only: neither dominates.
        let mutated: Vec<u32> = with_reads.iter().copied().chain([41]).collect();
        let mutated = set(&calls, &determinate, &mutated);
        assert!(!dominates(&mutated, &fewer, &read_only));
        assert!(!dominates(&fewer, &mutated, &read_only));
        // The frontier moves past read-only ops: 40 is mutating, 39 read-only.
        let past: Vec<u32> = (0..39).chain([70, 71]).collect();
        let past = set(&calls, &determinate, &past);
        assert!(dominates(&fewer, &past, &read_only));
        assert!(!dominates(&past, &fewer, &read_only));
    }

    fn set(calls: &[u64], determinate: &[bool], ops: &[u32]) -> Vec<u64> {
        let mut linearized = Linearized::new(calls, determinate);
        for &op in ops {
            linearized.insert(op);
        }
        let mut key = Vec::new();
        linearized.encode(&mut key);
        key
    }

    #[test]
    fn equal_sets_give_equal_keys_whatever_the_order() {
        let calls = [0, 1, 2, 3, 4, 5];
        let determinate = [true, true, false, true, true, false];
        assert_eq!(
            set(&calls, &determinate, &[0, 3, 5]),
            set(&calls, &determinate, &[5, 3, 0])
        );
        assert_ne!(
            set(&calls, &determinate, &[0, 3]),
            set(&calls, &determinate, &[0, 4])
        );
    }

    #[test]
    fn insert_then_remove_restores_the_key() {
        let calls: Vec<u64> = (0..200).rev().collect();
        let determinate: Vec<bool> = (0..200).map(|i| i % 7 != 0).collect();
        let mut linearized = Linearized::new(&calls, &determinate);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let path: Vec<u32> = (0..200).filter(|i| i % 3 != 1).collect();
        for &op in &path {
            linearized.encode(&mut before);
            linearized.insert(op);
            assert!(linearized.contains(op));
            linearized.remove(op);
            linearized.encode(&mut after);
            assert_eq!(before, after);
            linearized.insert(op);
        }
        for &op in path.iter().rev() {
            linearized.remove(op);
        }
        linearized.encode(&mut after);
        assert_eq!(after, vec![0, 0]);
    }

    #[test]
    fn more_indeterminate_ops_are_dominated() {
        let calls = [0, 1, 2, 3];
        let determinate = [true, false, false, true];
        let fewer = set(&calls, &determinate, &[0, 2]);
        let more = set(&calls, &determinate, &[0, 1, 2]);
        assert!(dominates(&fewer, &more, &[0]));
        assert!(!dominates(&more, &fewer, &[0]));
        let other = set(&calls, &determinate, &[0, 1]);
        assert!(!dominates(&fewer, &other, &[0]));
        let mut memo = Memo::new(vec![0]);
        assert!(memo.visit(7, &fewer, 0));
        assert!(!memo.visit(7, &more, 0));
        assert!(
            memo.visit(7, &more, 1),
            "another state is another configuration"
        );
    }
}
