//! twinnet-check: the linearizability checker, twinnet's oracle. It
//! depends on nothing else of twinnet: feed it any history.
//!
//! - [`history`]: events and operations (Jepsen vocabulary) and the reader
//!   for our JSONL, Jepsen etcd logs and Jepsen EDN lines (auto-detected).
//! - [`model`]: sequential specifications: the [`Model`] trait and the
//!   built-in `RegisterCas`, `KvAppend` and `VersionedCas` ([`ModelKind`]).
//! - [`wgl`]: the Wing-Gong-Lowe search, memoized and bounded.
//! - [`shrink`]: reduces a violation to a small core.
//! - [`generate`]: histories that are linearizable by construction.
//! - [`cli`]: `twinnet-check FILE --model ...` (also `raft-sim check`).
//!
//! [`check`] splits a history per key (keys are independent objects and
//! linearizability is compositional), searches the keys in rounds of
//! growing step budgets (so an easy violation on one key is not held up by
//! a hard key), stops once a key is shown not linearizable (unless told
//! to search every key), and shrinks that key's ops to a small core.
//! A search that runs out of budget is `Unknown`, never "linearizable".
//! Budgets are counted in steps by default, not wall time, so a verdict
//! depends only on the history: reproducible under a simulation seed.
//!
//! [`check`] and [`check_with`] take a built-in model by its
//! [`ModelKind`]; [`check_model`] takes any type implementing [`Model`],
//! such as a user's own sequential object (see [`Model`] for an example),
//! with the same per-key split, budgets and shrinking.

pub mod cli;
mod edn;
mod etcd;
pub mod generate;
pub mod history;
pub mod jsonl;
mod memo;
pub mod model;
pub mod shrink;
pub mod wgl;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

pub use history::{
    Format, Func, FuncName, History, HistoryError, HistoryErrorKind, Operation, Outcome, Value,
    parse_history, parse_str,
};
pub use model::{Model, ModelKind, Prepared};

use model::{KvAppend, RegisterCas, VersionedCas};
use shrink::ShrinkBudget;
use wgl::{Budget, SearchOp, SearchResult, UnknownReason};

/// Default search steps per key (a step is one list entry visited; a few
/// tens of nanoseconds for a register).
pub const DEFAULT_MAX_STEPS_PER_KEY: u64 = 50_000_000;
/// Default memo budget per key.
pub const DEFAULT_MAX_MEMO_BYTES_PER_KEY: u64 = 1 << 30;

/// Budgets of a check. The defaults have no wall-clock limit, so a
/// verdict depends only on the history (reproducible under a seed).
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Search steps of a key's last (largest) round before it is
    /// `Unknown`; the smaller rounds before it add at most a third.
    pub max_steps_per_key: u64,
    /// Memo (and state table) bytes one search may hold.
    pub max_memo_bytes_per_key: u64,
    /// Wall-clock limit per key (`None`: deterministic verdicts).
    pub time_limit_per_key: Option<Duration>,
    /// Stop searching other keys once one key is shown not linearizable
    /// (the verdict is settled; those keys are reported as skipped).
    pub stop_at_first_violation: bool,
    /// Shrink a violation to a core (else report the failing key only).
    pub shrink: bool,
    /// Searches the shrink may run.
    pub shrink_max_checks: u32,
    /// Steps over all of the shrink's searches.
    pub shrink_max_total_steps: u64,
    /// Steps of one of the shrink's searches (beyond: its op is kept).
    pub shrink_steps_per_check: u64,
    /// Wall-clock limit of the shrink (`None`: deterministic cores).
    pub shrink_time_limit: Option<Duration>,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            max_steps_per_key: DEFAULT_MAX_STEPS_PER_KEY,
            max_memo_bytes_per_key: DEFAULT_MAX_MEMO_BYTES_PER_KEY,
            time_limit_per_key: None,
            stop_at_first_violation: true,
            shrink: true,
            shrink_max_checks: 4096,
            shrink_max_total_steps: 20_000_000,
            shrink_steps_per_check: 2_000_000,
            shrink_time_limit: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// A budget ran out: nothing is proven either way.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "NOT linearizable",
            Verdict::Unknown => "UNKNOWN",
        })
    }
}

/// The result for one key (one independent object).
#[derive(Clone, Debug)]
pub struct KeyReport {
    /// `None` for a history without keys (a single register).
    pub key: Option<String>,
    /// Operations searched (failed writes and unanswered reads are left out).
    pub ops: usize,
    pub verdict: Verdict,
    pub unknown: Option<UnknownReason>,
    pub steps: u64,
    pub memo_entries: u64,
    /// The most memo and state-table bytes one search of this key held
    /// (each search is held to [`CheckOptions::max_memo_bytes_per_key`]
    /// and frees its memo before the next starts).
    pub memo_bytes: u64,
    /// The violation was shown with the key's indeterminate ops allowed
    /// to take effect any number of times, not only once or never (see
    /// [`wgl::repeatable_indeterminate`]). That only adds linearizations,
    /// so the verdict is as sound as an exact one; it is what the search
    /// falls back on when tracking which indeterminate ops were used does
    /// not fit its budget.
    pub repeatable_indeterminate: bool,
    pub elapsed: Duration,
}

/// A small set of operations that cannot be linearized.
#[derive(Clone, Debug)]
pub struct Violation {
    pub key: Option<String>,
    /// The core, in invocation order, as in the history.
    pub ops: Vec<Operation>,
    /// Operations searched on that key before shrinking.
    pub key_ops: usize,
    /// 1-minimal: weakening any one op of the core lets the rest linearize.
    pub minimal: bool,
    pub checks: u32,
    pub elapsed: Duration,
    pub times_are_nanos: bool,
}

#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The model's [`Model::NAME`] (for a built-in one, its
    /// [`ModelKind::name`]; [`ModelKind::from_name`] maps it back).
    pub model: &'static str,
    pub format: Format,
    pub verdict: Verdict,
    /// Operations in the history.
    pub operations: usize,
    pub keys: Vec<KeyReport>,
    pub violation: Option<Violation>,
    pub elapsed: Duration,
}

/// Checks `history` against `model` with the default budgets. An
/// operation that does not fit the model (a `get` in a register history,
/// a cas whose value is not `[from to]`) is a [`HistoryError`].
pub fn check(history: &History, model: ModelKind) -> Result<CheckReport, HistoryError> {
    check_with(history, model, &CheckOptions::default())
}

/// [`check`] with the budgets and choices of `options`.
pub fn check_with(
    history: &History,
    model: ModelKind,
    options: &CheckOptions,
) -> Result<CheckReport, HistoryError> {
    match model {
        ModelKind::RegisterCas => check_model::<RegisterCas>(history, options),
        ModelKind::KvAppend => check_model::<KvAppend>(history, options),
        ModelKind::VersionedCas => check_model::<VersionedCas>(history, options),
    }
}

/// One key's ops, and where each came from in the history.
struct Partition<Op> {
    key: Option<String>,
    ops: Vec<SearchOp<Op>>,
    origin: Vec<usize>,
}

fn partition<M: Model>(history: &History) -> Result<Vec<Partition<M::Op>>, HistoryError> {
    let mut by_key: BTreeMap<Option<&str>, Partition<M::Op>> = BTreeMap::new();
    for (index, op) in history.ops().iter().enumerate() {
        let Prepared::Check(model_op) = M::prepare(op)? else {
            continue;
        };
        let part = by_key
            .entry(op.key.as_deref())
            .or_insert_with(|| Partition {
                key: op.key.clone(),
                ops: Vec::new(),
                origin: Vec::new(),
            });
        part.ops.push(SearchOp::new(model_op, op.call, op.ret));
        part.origin.push(index);
    }
    Ok(by_key.into_values().collect())
}

/// Checks `history` against the model `M`, which may be a user's own
/// (see [`Model`]): split per key, each key searched within the budgets
/// of `options`, a violation shrunk to a small core. An operation that
/// `M::prepare` refuses is the [`HistoryError`] it returned.
pub fn check_model<M: Model>(
    history: &History,
    options: &CheckOptions,
) -> Result<CheckReport, HistoryError> {
    let started = Instant::now();
    let partitions = partition::<M>(history)?;
    let keys = check_keys::<M>(&partitions, options);
    let verdict = overall(&keys);
    let failing = keys
        .iter()
        .position(|key| key.verdict == Verdict::NotLinearizable);
    let violation = match failing {
        Some(index) if options.shrink => Some(shrink_key::<M>(
            history,
            &partitions[index],
            &keys[index],
            options,
        )),
        _ => None,
    };
    Ok(CheckReport {
        model: M::NAME,
        format: history.format(),
        verdict,
        operations: history.len(),
        keys,
        violation,
        elapsed: started.elapsed(),
    })
}

/// Not linearizable if any key is (that alone proves it); linearizable
/// only if every key is; otherwise unknown.
fn overall(keys: &[KeyReport]) -> Verdict {
    if keys
        .iter()
        .any(|key| key.verdict == Verdict::NotLinearizable)
    {
        Verdict::NotLinearizable
    } else if keys.iter().all(|key| key.verdict == Verdict::Linearizable) {
        Verdict::Linearizable
    } else {
        Verdict::Unknown
    }
}

/// Step budget of every key's first search; each later round multiplies
/// it by [`ROUND_GROWTH`] up to the per-key maximum.
const FIRST_ROUND_STEPS: u64 = 1 << 14;
const ROUND_GROWTH: u64 = 4;

/// Searches every key in rounds of growing step budgets (iterative
/// deepening), so that one hard key does not hold up an easy violation
/// elsewhere; a key that needs another round starts over, which costs at
/// most a third more than searching it once with the final budget.
fn check_keys<M: Model>(partitions: &[Partition<M::Op>], options: &CheckOptions) -> Vec<KeyReport> {
    let mut keys: Vec<KeyReport> = partitions.iter().map(KeyReport::open).collect();
    let mut open: Vec<usize> = (0..partitions.len()).collect();
    let mut shortcuts = vec![Shortcuts::default(); partitions.len()];
    let mut round_steps = FIRST_ROUND_STEPS.min(options.max_steps_per_key);
    loop {
        let mut still_open = Vec::new();
        for (position, &index) in open.iter().enumerate() {
            let key = &mut keys[index];
            let round = search_round::<M>(
                &partitions[index],
                key,
                &mut shortcuts[index],
                round_steps,
                options,
            );
            if !round {
                still_open.push(index);
            }
            if key.verdict == Verdict::NotLinearizable && options.stop_at_first_violation {
                let rest = open[position + 1..].iter().chain(&still_open);
                let unfinished: Vec<usize> = rest.copied().collect();
                for other in unfinished {
                    keys[other].unknown = Some(UnknownReason::Skipped);
                }
                return keys;
            }
        }
        if still_open.is_empty() {
            return keys;
        }
        if round_steps >= options.max_steps_per_key {
            for index in still_open {
                let limit = options.max_steps_per_key;
                keys[index].unknown = Some(UnknownReason::Steps { limit });
            }
            return keys;
        }
        round_steps = round_steps
            .saturating_mul(ROUND_GROWTH)
            .min(options.max_steps_per_key);
        open = still_open;
    }
}

/// The one-sided searches tried when the exact one runs out of a round.
/// Each answers one way only, and once it gives the other answer it would
/// give it again (the same walk, a bigger budget), so it is not run again.
#[derive(Clone, Copy, Debug)]
struct Shortcuts {
    /// Unanswered ops free to repeat: a violation is one of the history.
    refute: bool,
    /// Unanswered ops left out: a linearization is one of the history.
    confirm: bool,
}

impl Default for Shortcuts {
    fn default() -> Shortcuts {
        Shortcuts {
            refute: true,
            confirm: true,
        }
    }
}

impl Shortcuts {
    /// The report of a search that settled the key, if one did.
    fn search<M: Model>(
        &mut self,
        ops: &[wgl::SearchOp<M::Op>],
        budget: &Budget,
        key: &mut KeyReport,
    ) -> Option<wgl::SearchReport> {
        if self.refute
            && let Some(relaxed) = wgl::repeatable_indeterminate::<M>(ops)
        {
            let report = wgl::search::<M>(&relaxed, budget);
            key.steps = key.steps.saturating_add(report.steps);
            key.memo_bytes = key.memo_bytes.max(report.memo_bytes);
            match report.result {
                SearchResult::NotLinearizable => {
                    key.repeatable_indeterminate = true;
                    return Some(report);
                }
                SearchResult::Linearizable { .. } => self.refute = false,
                SearchResult::Unknown(_) => {}
            }
        }
        if self.confirm
            && let Some(restricted) = wgl::without_indeterminate(ops)
        {
            let report = wgl::search::<M>(&restricted, budget);
            key.steps = key.steps.saturating_add(report.steps);
            key.memo_bytes = key.memo_bytes.max(report.memo_bytes);
            match report.result {
                SearchResult::Linearizable { .. } => return Some(report),
                SearchResult::NotLinearizable => self.confirm = false,
                SearchResult::Unknown(_) => {}
            }
        }
        None
    }
}

/// One round on one key; `false` if it needs a bigger step budget.
/// `shortcuts`: which of the one-sided searches may still settle the key.
fn search_round<M: Model>(
    part: &Partition<M::Op>,
    key: &mut KeyReport,
    shortcuts: &mut Shortcuts,
    round_steps: u64,
    options: &CheckOptions,
) -> bool {
    let started = Instant::now();
    // The time limit is per key, over all its rounds.
    let deadline = options
        .time_limit_per_key
        .map(|limit| started + limit.saturating_sub(key.elapsed));
    let budget = Budget {
        max_steps: round_steps,
        max_memo_bytes: options.max_memo_bytes_per_key,
        deadline,
    };
    let mut report = wgl::search::<M>(&part.ops, &budget);
    key.steps = key.steps.saturating_add(report.steps);
    key.memo_bytes = key.memo_bytes.max(report.memo_bytes);
    if let SearchResult::Unknown(UnknownReason::Steps { .. }) = report.result {
        // The next round's budget: the one-sided searches are the cheaper.
        let ahead = Budget {
            max_steps: round_steps.saturating_mul(ROUND_GROWTH),
            ..budget
        };
        if let Some(settled) = shortcuts.search::<M>(&part.ops, &ahead, key) {
            report = settled;
        }
    }
    key.memo_entries = report.memo_entries;
    key.elapsed += started.elapsed();
    match report.result {
        SearchResult::Linearizable { .. } => key.verdict = Verdict::Linearizable,
        SearchResult::NotLinearizable => key.verdict = Verdict::NotLinearizable,
        SearchResult::Unknown(UnknownReason::Steps { .. }) => return false,
        SearchResult::Unknown(reason) => key.unknown = Some(reason),
    }
    true
}

impl KeyReport {
    /// A key not searched yet: unknown until a round settles it.
    fn open<Op>(part: &Partition<Op>) -> KeyReport {
        KeyReport {
            key: part.key.clone(),
            ops: part.ops.len(),
            verdict: Verdict::Unknown,
            unknown: None,
            steps: 0,
            memo_entries: 0,
            memo_bytes: 0,
            repeatable_indeterminate: false,
            elapsed: Duration::ZERO,
        }
    }
}

fn shrink_key<M: Model>(
    history: &History,
    part: &Partition<M::Op>,
    key: &KeyReport,
    options: &CheckOptions,
) -> Violation {
    let started = Instant::now();
    let budget = ShrinkBudget {
        max_checks: options.shrink_max_checks,
        max_total_steps: options.shrink_max_total_steps,
        steps_per_check: options.shrink_steps_per_check,
        max_memo_bytes: options.max_memo_bytes_per_key,
        deadline: options.shrink_time_limit.map(|limit| started + limit),
    };
    let relaxed = key
        .repeatable_indeterminate
        .then(|| wgl::repeatable_indeterminate::<M>(&part.ops))
        .flatten();
    let shrunk = shrink::shrink::<M>(relaxed.as_deref().unwrap_or(&part.ops), &budget);
    assert!(!shrunk.kept.is_empty(), "a violation has at least one op");
    let ops = shrunk
        .kept
        .iter()
        .map(|&index| history.ops()[part.origin[index]].clone())
        .collect();
    Violation {
        key: part.key.clone(),
        ops,
        key_ops: part.ops.len(),
        minimal: shrunk.minimal,
        checks: shrunk.checks,
        elapsed: started.elapsed(),
        times_are_nanos: history.format().times_are_nanos(),
    }
}

// ---------------------------------------------------------------------------
// Rendering

fn key_name(key: Option<&str>) -> String {
    match key {
        Some(key) => format!("key {key:?}"),
        None => "the single object".into(),
    }
}

fn millis(elapsed: Duration) -> String {
    format!("{:.3} ms", elapsed.as_secs_f64() * 1e3)
}

/// Keys listed one by one up to this many; beyond, only the interesting ones.
const MAX_KEYS_LISTED: usize = 20;

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let searched: usize = self.keys.iter().map(|key| key.ops).sum();
        writeln!(
            f,
            "verdict: {} (model {}, format {}, {} operations, {} searched over {} key(s), {})",
            self.verdict,
            self.model,
            self.format.name(),
            self.operations,
            searched,
            self.keys.len(),
            millis(self.elapsed)
        )?;
        if self.verdict == Verdict::Unknown {
            writeln!(
                f,
                "UNKNOWN is not a proof of linearizability: a search budget ran out before an answer"
            )?;
        }
        self.fmt_keys(f)?;
        if let Some(violation) = &self.violation {
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

impl CheckReport {
    fn fmt_keys(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = self.keys.len() <= MAX_KEYS_LISTED;
        let (mut linearizable, mut skipped) = (0usize, 0usize);
        for key in &self.keys {
            if key.unknown == Some(UnknownReason::Skipped) {
                skipped += 1;
                continue;
            }
            if !all && key.verdict == Verdict::Linearizable {
                linearizable += 1;
                continue;
            }
            write!(
                f,
                "  {}: {}, {} ops, {} steps, {} memo entries, {}",
                key_name(key.key.as_deref()),
                key.verdict,
                key.ops,
                key.steps,
                key.memo_entries,
                millis(key.elapsed)
            )?;
            match key.unknown {
                Some(reason) => writeln!(f, " ({reason})")?,
                None if key.repeatable_indeterminate => writeln!(
                    f,
                    " (shown with its unanswered ops free to take effect more than once)"
                )?,
                None => writeln!(f)?,
            }
        }
        if linearizable > 0 {
            writeln!(f, "  ... and {linearizable} more key(s), all linearizable")?;
        }
        if skipped > 0 {
            writeln!(
                f,
                "  {skipped} key(s) not searched to the end: the verdict was already settled"
            )?;
        }
        Ok(())
    }
}

/// Describes an op's invocation (`write 4`, `append "x"`).
fn describe_call(op: &Operation) -> String {
    match op.value {
        Value::Nil => op.f.to_string(),
        ref value => format!("{} {value}", op.f),
    }
}

/// Describes how an op ended: a read's result always, another op's only
/// when it says more than the invocation did (a versioned write's version;
/// not a register write's echo of its value).
fn describe_result(op: &Operation) -> String {
    match &op.outcome {
        Outcome::Ok(value) if matches!(op.f, Func::Read | Func::Get) => format!("ok -> {value}"),
        Outcome::Ok(value) if *value != Value::Nil && *value != op.value => {
            format!("ok -> {value}")
        }
        Outcome::Ok(_) => "ok".into(),
        Outcome::Fail(_) => match &op.error {
            Some(error) => format!("fail ({error})"),
            None => "fail".into(),
        },
        Outcome::Info => "info (indeterminate)".into(),
        Outcome::Pending => "no reply (indeterminate)".into(),
    }
}

impl Violation {
    fn time(&self, time: u64, line: u64) -> String {
        if self.times_are_nanos {
            format!("{time} ns (line {line})")
        } else {
            format!("line {line}")
        }
    }

    fn completed(&self, op: &Operation) -> String {
        match (op.ret, op.complete_line) {
            (Some(ret), Some(line)) => self.time(ret, line),
            (Some(ret), None) => format!("{ret}"),
            (None, Some(line)) => format!("never (info at line {line})"),
            (None, None) => "never".into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "violation on {}: these {} operation(s) cannot be linearized, even if every other \
             operation on it took effect at any point after its invocation, or never",
            key_name(self.key.as_deref()),
            self.ops.len()
        )?;
        let how = if self.minimal {
            "1-minimal: weakening any one of them lets the rest linearize"
        } else {
            "shrinking stopped at its budget: there may be a smaller set"
        };
        writeln!(
            f,
            "({how}; shrunk from {} ops in {} checks, {})",
            self.key_ops,
            self.checks,
            millis(self.elapsed)
        )?;
        let rows: Vec<[String; 5]> = self
            .ops
            .iter()
            .map(|op| {
                [
                    op.process.to_string(),
                    describe_call(op),
                    describe_result(op),
                    self.time(op.call, op.invoke_line),
                    self.completed(op),
                ]
            })
            .collect();
        let header = ["process", "operation", "result", "invoked", "completed"].map(String::from);
        write_table(f, &header, &rows)
    }
}

fn write_table(
    f: &mut fmt::Formatter<'_>,
    header: &[String; 5],
    rows: &[[String; 5]],
) -> fmt::Result {
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        writeln!(f, "  {}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str, model: ModelKind) -> CheckReport {
        let history = parse_str(text).expect("history parses");
        check(&history, model).expect("ops fit the model")
    }

    const STALE: &str = r#"
{"process":0,"type":"invoke","f":"write","key":"k1","value":1,"time_ns":0}
{"process":0,"type":"ok","f":"write","key":"k1","value":1,"time_ns":10}
{"process":1,"type":"invoke","f":"write","key":"k2","value":5,"time_ns":11}
{"process":0,"type":"invoke","f":"write","key":"k1","value":2,"time_ns":20}
{"process":0,"type":"ok","f":"write","key":"k1","value":2,"time_ns":30}
{"process":2,"type":"invoke","f":"read","key":"k1","value":null,"time_ns":40}
{"process":2,"type":"ok","f":"read","key":"k1","value":1,"time_ns":50}
{"process":1,"type":"ok","f":"write","key":"k2","value":5,"time_ns":60}
"#;

    #[test]
    fn a_stale_read_is_reported_with_its_core() {
        let report = report(STALE, ModelKind::RegisterCas);
        assert_eq!(report.verdict, Verdict::NotLinearizable);
        assert_eq!(report.keys.len(), 2);
        assert_eq!(report.keys[0].verdict, Verdict::NotLinearizable);
        // k2 was not needed for the verdict...
        assert_eq!(report.keys[1].unknown, Some(UnknownReason::Skipped));
        // ...unless every key is wanted.
        let all_keys = CheckOptions {
            stop_at_first_violation: false,
            ..CheckOptions::default()
        };
        let history = parse_str(STALE).expect("parses");
        let full = check_with(&history, ModelKind::RegisterCas, &all_keys).expect("fits");
        assert_eq!(full.keys[1].verdict, Verdict::Linearizable);
        let violation = report.violation.as_ref().expect("a violation");
        assert_eq!(violation.key.as_deref(), Some("k1"));
        assert_eq!(violation.ops.len(), 3);
        assert!(violation.minimal);
        let text = report.to_string();
        assert!(text.contains("NOT linearizable"), "{text}");
        assert!(text.contains("read"), "{text}");
        assert!(text.contains("ok -> 1"), "{text}");
        assert!(text.contains("40 ns (line 7)"), "{text}");
    }

    #[test]
    fn the_core_alone_is_not_linearizable() {
        let report = report(STALE, ModelKind::RegisterCas);
        let violation = report.violation.expect("a violation");
        let core = History::from_operations(Format::Jsonl, violation.ops).expect("valid");
        let again = check(&core, ModelKind::RegisterCas).expect("fits");
        assert_eq!(again.verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn keys_are_independent_registers() {
        // Each key starts absent: k2's read of nil is fine after k1's write.
        let text = r#"
{"process":0,"type":"invoke","f":"write","key":"k1","value":1,"time_ns":0}
{"process":0,"type":"ok","f":"write","key":"k1","value":1,"time_ns":1}
{"process":0,"type":"invoke","f":"read","key":"k2","value":null,"time_ns":2}
{"process":0,"type":"ok","f":"read","key":"k2","value":null,"time_ns":3}
"#;
        assert_eq!(
            report(text, ModelKind::RegisterCas).verdict,
            Verdict::Linearizable
        );
    }

    #[test]
    fn kv_append_histories_check_per_key() {
        let text = r#"
{:process 0, :type :invoke, :f :append, :key "a", :value "x"}
{:process 1, :type :invoke, :f :append, :key "a", :value "y"}
{:process 0, :type :ok, :f :append, :key "a", :value "x"}
{:process 1, :type :ok, :f :append, :key "a", :value "y"}
{:process 0, :type :invoke, :f :get, :key "a", :value nil}
{:process 0, :type :ok, :f :get, :key "a", :value "yx"}
{:process 0, :type :invoke, :f :get, :key "b", :value nil}
{:process 0, :type :ok, :f :get, :key "b", :value ""}
"#;
        let ok = report(text, ModelKind::KvAppend);
        assert_eq!(ok.verdict, Verdict::Linearizable);
        let bad = text.replace("\"yx\"}", "\"xyx\"}");
        let report = report(&bad, ModelKind::KvAppend);
        assert_eq!(report.verdict, Verdict::NotLinearizable);
        let violation = report.violation.expect("a violation");
        assert_eq!(violation.key.as_deref(), Some("a"));
    }

    #[test]
    fn a_cas_fail_with_an_error_did_not_happen() {
        let text = r#"
{"process":0,"type":"invoke","f":"write","value":1,"time_ns":0}
{"process":0,"type":"ok","f":"write","value":1,"time_ns":1}
{"process":0,"type":"invoke","f":"cas","value":[1,2],"time_ns":2}
{"process":0,"type":"fail","f":"cas","value":[1,2],"time_ns":3}
"#;
        // A bare fail says the value was not 1: it was.
        assert_eq!(
            report(text, ModelKind::RegisterCas).verdict,
            Verdict::NotLinearizable
        );
        let gave_up = text.replace(
            r#""type":"fail","f":"cas","value":[1,2],"#,
            r#""type":"fail","f":"cas","value":[1,2],"error":"gave-up","#,
        );
        assert_eq!(
            report(&gave_up, ModelKind::RegisterCas).verdict,
            Verdict::Linearizable
        );
    }

    #[test]
    fn ops_outside_the_model_are_errors() {
        let text = r#"{"process":0,"type":"invoke","f":"get","key":"a","value":null,"time_ns":0}"#;
        let history = parse_str(text).expect("parses");
        let err = check(&history, ModelKind::RegisterCas).expect_err("get is not a register op");
        assert_eq!(err.line, 1);
        let text = r#"{"process":0,"type":"invoke","f":"cas","value":[1],"time_ns":0}"#;
        let history = parse_str(text).expect("parses");
        let err = check(&history, ModelKind::RegisterCas).expect_err("cas needs a pair");
        assert!(err.to_string().contains("[from to]"), "{err}");
    }

    #[test]
    fn an_exhausted_budget_is_unknown_not_linearizable() {
        let mut text = String::new();
        for p in 0..12u64 {
            text.push_str(&format!(
                "{{\"process\":{p},\"type\":\"invoke\",\"f\":\"write\",\"value\":{p},\"time_ns\":0}}\n"
            ));
        }
        text.push_str(
            "{\"process\":99,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time_ns\":0}\n",
        );
        for p in 0..12u64 {
            text.push_str(&format!(
                "{{\"process\":{p},\"type\":\"ok\",\"f\":\"write\",\"value\":{p},\"time_ns\":100}}\n"
            ));
        }
        text.push_str(
            "{\"process\":99,\"type\":\"ok\",\"f\":\"read\",\"value\":77,\"time_ns\":100}\n",
        );
        let history = parse_str(&text).expect("parses");
        let options = CheckOptions {
            max_steps_per_key: 100,
            ..CheckOptions::default()
        };
        let report = check_with(&history, ModelKind::RegisterCas, &options).expect("fits");
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.to_string().contains("not a proof"), "{report}");
        let full = check(&history, ModelKind::RegisterCas).expect("fits");
        assert_eq!(full.verdict, Verdict::NotLinearizable);
        assert_eq!(full.violation.expect("violation").ops.len(), 1);
    }
}
