//! Sequential specifications: a small state and `step(state, op)`, which
//! returns the next state, or `None` when the op's recorded result is
//! impossible from that state.
//!
//! A history is split per key before it is checked (keys are independent
//! objects, and linearizability is compositional), so each model describes
//! one object: one register, one key's string, one versioned entry.
//!
//! Three models are built in ([`ModelKind`]); any other sequential object
//! is checked by implementing [`Model`] for it and calling
//! [`check_model`](crate::check_model).

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use super::history::{Func, HistoryError, Operation, Outcome, Value};

/// Which sequential object the history is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Registers (one per key), initially absent: read, write, cas.
    RegisterCas,
    /// String values (one per key), initially "": get, put, append.
    KvAppend,
    /// Versioned entries (one per key), initially absent, as openraft's
    /// example KV store: read, write, cas on the version; see [`VersionedCas`].
    VersionedCas,
}

impl ModelKind {
    /// Every built-in model.
    pub const ALL: [ModelKind; 3] = [
        ModelKind::RegisterCas,
        ModelKind::KvAppend,
        ModelKind::VersionedCas,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::RegisterCas => RegisterCas::NAME,
            ModelKind::KvAppend => KvAppend::NAME,
            ModelKind::VersionedCas => VersionedCas::NAME,
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one history operation enters the search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared<Op> {
    /// It constrains nothing (a failed or unanswered read, a failed write):
    /// leave it out.
    Skip,
    /// Search with this op.
    Check(Op),
}

/// A sequential specification of one object: what the checker needs to
/// search a history of it for a linearization, and to shrink a violation.
///
/// Implement it for your own object (a counter, a queue, a set...) and
/// check a history with [`check_model`](crate::check_model): the history
/// is split per key (each key is one instance of the object, starting at
/// [`Model::init`]), every key is searched within the budgets of
/// [`CheckOptions`](crate::CheckOptions) (`Unknown` when they run out), and
/// a violation is shrunk to a small core.
///
/// Everything is associated functions: a model is a type, not a value, so
/// that states and ops stay plain data the search can hash and copy.
///
/// The contract, which the search relies on to be exact:
/// - [`Model::step`] is a pure function of its arguments;
/// - [`Model::prepare`] turns an indeterminate operation (`info`, or no
///   completion) into [`Prepared::Skip`] or a *total* op (one whose
///   `step` never returns `None`), since nothing was observed about it;
/// - [`Model::weaken`] returns `None` only for an op without effect on
///   the state (a read), else a total op that allows at least what the op
///   allowed.
///
/// Read an operation's function with `op.f.name()`: the built-in names
/// (`read`, `write`, `cas`, `get`, `put`, `append`) have variants of their
/// own in [`Func`], any other arrives as [`Func::Other`].
///
/// # Panics
///
/// The search panics if an indeterminate op is not total (a model bug,
/// not bad input).
///
/// # Example
///
/// A counter: `add` (invoke value: the amount) and `read` (ok value: the
/// count).
///
/// ```
/// use twinnet_check::{CheckOptions, HistoryError, Model, Operation, Outcome, Prepared, Value,
///                     Verdict, check_model, parse_str};
///
/// struct Counter;
///
/// #[derive(Clone, Debug, PartialEq, Eq, Hash)]
/// enum CounterOp {
///     Add(i64),
///     Read(i64),
/// }
///
/// impl Model for Counter {
///     type State = i64;
///     type Op = CounterOp;
///     type Facts = ();
///     const NAME: &'static str = "counter";
///
///     fn init() -> i64 {
///         0
///     }
///
///     fn step(count: &i64, op: &CounterOp) -> Option<i64> {
///         match *op {
///             CounterOp::Add(n) => Some(count.wrapping_add(n)),
///             CounterOp::Read(seen) => (seen == *count).then_some(*count),
///         }
///     }
///
///     fn prepare(op: &Operation) -> Result<Prepared<CounterOp>, HistoryError> {
///         let int = |value: &Value| match value {
///             Value::Int(n) => Ok(*n),
///             other => Err(HistoryError::bad_value(op, format!("expected an integer, got {other}"))),
///         };
///         Ok(match (op.f.name(), &op.outcome) {
///             // A failed add did not happen; an unanswered one may have.
///             ("add", Outcome::Fail(_)) => Prepared::Skip,
///             ("add", _) => Prepared::Check(CounterOp::Add(int(&op.value)?)),
///             ("read", Outcome::Ok(seen)) => Prepared::Check(CounterOp::Read(int(seen)?)),
///             ("read", _) => Prepared::Skip,
///             _ => return Err(HistoryError::wrong_model(op, Self::NAME)),
///         })
///     }
///
///     fn is_total(op: &CounterOp) -> bool {
///         matches!(op, CounterOp::Add(_))
///     }
///
///     fn weaken(op: &CounterOp) -> Option<CounterOp> {
///         match op {
///             CounterOp::Add(n) => Some(CounterOp::Add(*n)),
///             CounterOp::Read(_) => None,
///         }
///     }
/// }
///
/// let history = r#"
/// {"process":0,"type":"invoke","f":"add","value":2,"time_ns":0}
/// {"process":0,"type":"ok","f":"add","value":2,"time_ns":10}
/// {"process":1,"type":"invoke","f":"read","value":null,"time_ns":20}
/// {"process":1,"type":"ok","f":"read","value":3,"time_ns":30}
/// "#;
/// let report = check_model::<Counter>(&parse_str(history)?, &CheckOptions::default())?;
/// assert_eq!(report.verdict, Verdict::NotLinearizable);
/// assert_eq!(report.model, "counter");
/// // One read alone cannot see 3: only 2 was ever added.
/// assert_eq!(report.violation.map(|core| core.ops.len()), Some(1));
///
/// let fixed = history.replace(r#""value":3"#, r#""value":2"#);
/// let report = check_model::<Counter>(&parse_str(&fixed)?, &CheckOptions::default())?;
/// assert_eq!(report.verdict, Verdict::Linearizable);
/// # Ok::<(), HistoryError>(())
/// ```
pub trait Model {
    /// The object's state (one key's).
    type State: Clone + Eq + Hash + fmt::Debug;
    /// One operation as the search sees it: its arguments and its
    /// recorded result.
    type Op: Clone + Eq + Hash + fmt::Debug;
    /// The name reports give (`CheckReport::model`, errors).
    const NAME: &'static str;

    /// The state of a key no operation has touched yet.
    fn init() -> Self::State;

    /// The state after `op`, or `None` if its recorded result cannot
    /// happen in `state`.
    fn step(state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// What a history operation means for this model; an error (e.g.
    /// [`HistoryError::bad_value`], [`HistoryError::wrong_model`]) if it
    /// does not fit. An indeterminate operation must become a total op
    /// (one whose `step` never fails), since nothing was observed about it.
    fn prepare(op: &Operation) -> Result<Prepared<Self::Op>, HistoryError>;

    /// Whether `step` succeeds from every state (nothing observed).
    fn is_total(op: &Self::Op) -> bool;

    /// Whether `op` only observes: from every state where `step` accepts
    /// it, the state stays as it was (a read, a cas that failed). The
    /// search takes such an op as soon as it fits, without a choice point,
    /// which is what makes many concurrent readers cheap. A write of the
    /// current value is not one (elsewhere it changes the state).
    /// `false`, the default, is always safe.
    fn is_read_only(op: &Self::Op) -> bool {
        let _ = op;
        false
    }

    /// Rewrites one key's ops so that ops no op can tell apart become
    /// equal (so the search's twin rules pair them); `false` if nothing
    /// changed. Must keep the verdict: a rewritten history is linearizable
    /// exactly when the original is. By default, nothing changes.
    fn merge_indistinguishable(ops: &mut [Self::Op]) -> bool {
        let _ = ops;
        false
    }

    /// The op with its observation forgotten but its possible effect kept:
    /// `None` if it has no effect (a read), else a total op. Shrinking
    /// uses it to ask "does the violation survive if this op may or may
    /// not have happened?".
    fn weaken(op: &Self::Op) -> Option<Self::Op>;

    /// Whether shrinking may relax weakened ops further to "may take
    /// effect any number of times". Only for models whose reachable
    /// (canonical) states stay finite that way; `false` is always safe
    /// (shrinking is then a little slower).
    const REUSABLE_WEAKENING: bool = false;

    /// Whether `weak`, a weakened op, may be relaxed to "any number of
    /// times" (by default [`Model::REUSABLE_WEAKENING`]): a model with
    /// one unbounded kind of op keeps the rest reusable.
    fn reusable_when_weakened(weak: &Self::Op) -> bool {
        let _ = weak;
        Self::REUSABLE_WEAKENING
    }

    /// What [`Model::canonical`] needs to know about the ops searched
    /// (`()` if it needs nothing).
    type Facts: Default;

    /// The facts of one search's ops (by default, `Facts::default()`).
    fn facts(ops: &[&Self::Op]) -> Self::Facts {
        let _ = ops;
        Self::Facts::default()
    }

    /// A representative of the states that no op among those `facts`
    /// was built from can tell apart from `state` (now or after any
    /// sequence of them). Searching over representatives is exact and
    /// merges configurations. By default every state is its own.
    fn canonical(state: Self::State, facts: &Self::Facts) -> Self::State {
        let _ = facts;
        state
    }

    /// Bytes a state occupies, heap included (for the memory budget). By
    /// default its inline size: override it if the state owns heap memory.
    fn state_bytes(state: &Self::State) -> usize {
        let _ = state;
        size_of::<Self::State>()
    }
}

fn bad_value(op: &Operation, why: impl Into<String>) -> HistoryError {
    HistoryError::bad_value(op, why)
}

fn wrong_model(op: &Operation, model: &'static str) -> HistoryError {
    HistoryError::wrong_model(op, model)
}

// ---------------------------------------------------------------------------
// RegisterCas

/// One register, initially absent (`None`).
#[derive(Clone, Copy, Debug)]
pub struct RegisterCas;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this (`None`: absent).
    Read(Option<i64>),
    Write(i64),
    /// A cas that swapped.
    CasOk {
        from: i64,
        to: i64,
    },
    /// A cas that did not swap: the value was not `from`.
    CasFail {
        from: i64,
    },
    /// A cas whose outcome is unknown: swaps if the value is `from`.
    CasMaybe {
        from: i64,
        to: i64,
    },
    /// Adds this to the value (an absent register counts as 0; the sum
    /// wraps, as `i64::wrapping_add`). Not
    /// idempotent: an add applied twice (a replayed log, a retried
    /// request) shows in the next read.
    Add(i64),
}

impl fmt::Display for RegisterOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterOp::Read(Some(v)) => write!(f, "read -> {v}"),
            RegisterOp::Read(None) => f.write_str("read -> nil"),
            RegisterOp::Write(v) => write!(f, "write {v}"),
            RegisterOp::CasOk { from, to } => write!(f, "cas {from}->{to} ok"),
            RegisterOp::CasFail { from } => write!(f, "cas from {from} fail"),
            RegisterOp::CasMaybe { from, to } => write!(f, "cas {from}->{to} ?"),
            RegisterOp::Add(delta) => write!(f, "add {delta}"),
        }
    }
}

fn as_int(op: &Operation, value: &Value) -> Result<i64, HistoryError> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(bad_value(op, format!("expected an integer, got {other}"))),
    }
}

fn as_pair(op: &Operation) -> Result<(i64, i64), HistoryError> {
    match &op.value {
        Value::List(items) if items.len() == 2 => {
            Ok((as_int(op, &items[0])?, as_int(op, &items[1])?))
        }
        other => Err(bad_value(op, format!("expected [from to], got {other}"))),
    }
}

impl Model for RegisterCas {
    type State = Option<i64>;
    type Op = RegisterOp;
    const NAME: &'static str = "register-cas";
    const REUSABLE_WEAKENING: bool = true;
    type Facts = ();

    /// Writes and cas taken any number of times reach only values the
    /// history names; an add taken any number of times reaches
    /// unboundedly many, so an add is never reused.
    fn reusable_when_weakened(weak: &RegisterOp) -> bool {
        !matches!(weak, RegisterOp::Add(_))
    }

    fn init() -> Option<i64> {
        None
    }

    fn step(state: &Option<i64>, op: &RegisterOp) -> Option<Option<i64>> {
        match *op {
            RegisterOp::Read(seen) => (seen == *state).then_some(*state),
            RegisterOp::Write(v) => Some(Some(v)),
            RegisterOp::CasOk { from, to } => (*state == Some(from)).then_some(Some(to)),
            RegisterOp::CasFail { from } => (*state != Some(from)).then_some(*state),
            RegisterOp::CasMaybe { from, to } => Some(if *state == Some(from) {
                Some(to)
            } else {
                *state
            }),
            RegisterOp::Add(delta) => Some(Some(state.unwrap_or(0).wrapping_add(delta))),
        }
    }

    fn prepare(op: &Operation) -> Result<Prepared<RegisterOp>, HistoryError> {
        let prepared = match op.f {
            Func::Read => match &op.outcome {
                Outcome::Ok(Value::Nil) => Prepared::Check(RegisterOp::Read(None)),
                Outcome::Ok(seen) => Prepared::Check(RegisterOp::Read(Some(as_int(op, seen)?))),
                Outcome::Fail(_) | Outcome::Info | Outcome::Pending => Prepared::Skip,
            },
            Func::Write => {
                let value = as_int(op, &op.value)?;
                match op.outcome {
                    Outcome::Fail(_) => Prepared::Skip,
                    _ => Prepared::Check(RegisterOp::Write(value)),
                }
            }
            Func::Cas => {
                let (from, to) = as_pair(op)?;
                match op.outcome {
                    Outcome::Ok(_) => Prepared::Check(RegisterOp::CasOk { from, to }),
                    // A fail with an error did not happen; a bare one found
                    // the value was not `from` (see `history`).
                    Outcome::Fail(_) if op.error.is_some() => Prepared::Skip,
                    Outcome::Fail(_) => Prepared::Check(RegisterOp::CasFail { from }),
                    // It cannot change the register and nothing was observed.
                    Outcome::Info | Outcome::Pending if from == to => Prepared::Skip,
                    Outcome::Info | Outcome::Pending => {
                        Prepared::Check(RegisterOp::CasMaybe { from, to })
                    }
                }
            }
            Func::Other(ref name) if name.as_str() == "add" => {
                let delta = as_int(op, &op.value)?;
                match op.outcome {
                    Outcome::Fail(_) => Prepared::Skip,
                    _ => Prepared::Check(RegisterOp::Add(delta)),
                }
            }
            Func::Get | Func::Put | Func::Append | Func::Other(_) => {
                return Err(wrong_model(op, Self::NAME));
            }
        };
        Ok(prepared)
    }

    /// Values written that no op ever looks for (no read returned them,
    /// no cas compared with them) all become one value nobody looks for:
    /// states holding any of them answer every op alike. Not with `add`
    /// in the history, which tells every value apart.
    fn merge_indistinguishable(ops: &mut [RegisterOp]) -> bool {
        let mut observed = std::collections::HashSet::new();
        for op in ops.iter() {
            match *op {
                RegisterOp::Add(_) => return false,
                RegisterOp::Read(Some(value)) => {
                    observed.insert(value);
                }
                RegisterOp::CasOk { from, .. }
                | RegisterOp::CasFail { from }
                | RegisterOp::CasMaybe { from, .. } => {
                    observed.insert(from);
                }
                RegisterOp::Read(None) | RegisterOp::Write(_) => {}
            }
        }
        let Some(unseen) = (i64::MIN..).find(|value| !observed.contains(value)) else {
            return false;
        };
        let merge = |value: &mut i64, changed: &mut bool| {
            if !observed.contains(value) && *value != unseen {
                *value = unseen;
                *changed = true;
            }
        };
        let mut changed = false;
        for op in ops.iter_mut() {
            match op {
                RegisterOp::Write(value)
                | RegisterOp::CasOk { to: value, .. }
                | RegisterOp::CasMaybe { to: value, .. } => merge(value, &mut changed),
                RegisterOp::Read(_) | RegisterOp::CasFail { .. } | RegisterOp::Add(_) => {}
            }
        }
        changed
    }

    fn is_read_only(op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::CasFail { .. })
    }

    fn is_total(op: &RegisterOp) -> bool {
        matches!(
            op,
            RegisterOp::Write(_) | RegisterOp::CasMaybe { .. } | RegisterOp::Add(_)
        )
    }

    fn weaken(op: &RegisterOp) -> Option<RegisterOp> {
        match *op {
            RegisterOp::Read(_) | RegisterOp::CasFail { .. } => None,
            // A cas from v to v has no effect to keep.
            RegisterOp::CasOk { from, to } | RegisterOp::CasMaybe { from, to } if from == to => {
                None
            }
            RegisterOp::Write(v) => Some(RegisterOp::Write(v)),
            RegisterOp::Add(delta) => Some(RegisterOp::Add(delta)),
            RegisterOp::CasOk { from, to } | RegisterOp::CasMaybe { from, to } => {
                Some(RegisterOp::CasMaybe { from, to })
            }
        }
    }

    fn state_bytes(_state: &Option<i64>) -> usize {
        size_of::<Option<i64>>()
    }

    fn facts(_ops: &[&RegisterOp]) {}

    fn canonical(state: Option<i64>, _facts: &()) -> Option<i64> {
        state
    }
}

// ---------------------------------------------------------------------------
// KvAppend

/// One key's string, initially "".
#[derive(Clone, Copy, Debug)]
pub struct KvAppend;

/// The strings gets saw (sorted), and the representative of dead states.
#[derive(Clone, Debug, Default)]
pub struct KvFacts {
    seen: Vec<String>,
    dead: String,
}

impl KvFacts {
    fn is_prefix_of_seen(&self, state: &str) -> bool {
        // Strings starting with `state` sort right from where it would go.
        let from = self.seen.partition_point(|seen| seen.as_str() < state);
        self.seen
            .get(from)
            .is_some_and(|seen| seen.starts_with(state))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned this string.
    Get(String),
    Put(String),
    Append(String),
}

fn as_string(op: &Operation, value: &Value) -> Result<String, HistoryError> {
    match value {
        Value::Str(s) => Ok(s.clone()),
        other => Err(bad_value(op, format!("expected a string, got {other}"))),
    }
}

impl Model for KvAppend {
    type State = String;
    type Op = KvOp;
    const NAME: &'static str = "kv-append";
    // Canonical states are prefixes of observed strings, or dead: finite.
    const REUSABLE_WEAKENING: bool = true;
    type Facts = KvFacts;

    fn init() -> String {
        String::new()
    }

    fn step(state: &String, op: &KvOp) -> Option<String> {
        match op {
            KvOp::Get(seen) => (seen == state).then(|| state.clone()),
            KvOp::Put(value) => Some(value.clone()),
            KvOp::Append(suffix) => {
                let mut next = String::with_capacity(state.len() + suffix.len());
                next.push_str(state);
                next.push_str(suffix);
                Some(next)
            }
        }
    }

    fn prepare(op: &Operation) -> Result<Prepared<KvOp>, HistoryError> {
        let prepared = match op.f {
            Func::Get => match &op.outcome {
                Outcome::Ok(seen) => Prepared::Check(KvOp::Get(as_string(op, seen)?)),
                Outcome::Fail(_) | Outcome::Info | Outcome::Pending => Prepared::Skip,
            },
            Func::Put | Func::Append => {
                let value = as_string(op, &op.value)?;
                match (&op.f, &op.outcome) {
                    (_, Outcome::Fail(_)) => Prepared::Skip,
                    (Func::Put, _) => Prepared::Check(KvOp::Put(value)),
                    _ => Prepared::Check(KvOp::Append(value)),
                }
            }
            Func::Read | Func::Write | Func::Cas | Func::Other(_) => {
                return Err(wrong_model(op, Self::NAME));
            }
        };
        Ok(prepared)
    }

    fn is_read_only(op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_))
    }

    fn is_total(op: &KvOp) -> bool {
        !matches!(op, KvOp::Get(_))
    }

    fn weaken(op: &KvOp) -> Option<KvOp> {
        match op {
            KvOp::Get(_) => None,
            other => Some(other.clone()),
        }
    }

    fn state_bytes(state: &String) -> usize {
        size_of::<String>() + state.capacity()
    }

    fn facts(ops: &[&KvOp]) -> KvFacts {
        let mut seen: Vec<String> = ops
            .iter()
            .filter_map(|op| match op {
                KvOp::Get(seen) => Some(seen.clone()),
                KvOp::Put(_) | KvOp::Append(_) => None,
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let longest = seen.iter().map(String::len).max().unwrap_or(0);
        // Longer than anything seen, so a prefix of nothing seen.
        let dead = "\0".repeat(longest + 1);
        KvFacts { seen, dead }
    }

    /// A string that is not a prefix of any string a get saw is dead:
    /// appends keep it so, no get can match it, a put replaces it. All
    /// dead strings behave alike, so they share one representative.
    fn canonical(state: String, facts: &KvFacts) -> String {
        if facts.is_prefix_of_seen(&state) {
            state
        } else {
            facts.dead.clone()
        }
    }
}

// ---------------------------------------------------------------------------
// VersionedCas

/// One key of openraft's example KV store (`examples/types-kv`,
/// `examples/sm-mem`), initially absent: each key holds an optional
/// (value, version), and the version of a write is the log index of the
/// entry that made it.
///
/// - `Set { key, value }` sets the value; its version is the write's log
///   index.
/// - `CompareAndSet { key, expected_version, value }` does the same if the
///   key exists with version `expected_version`, and fails (response
///   `None`) otherwise, changing nothing.
/// - A read returns the current (value, version), or absent.
///
/// Log indices grow along the log, so along a linearization the versions
/// a key takes are unique and strictly increasing, though not consecutive
/// (other keys' writes, failed cas, blank and membership entries take
/// indices too). The model enforces exactly that: a write of version `n`
/// needs the current version to be below `n`, so two writes of one
/// version, or a write ordered after one with a higher version, cannot be
/// linearized.
///
/// History vocabulary (our JSONL; see [`jsonl`](crate::jsonl) for lines):
///
/// | `f` | invoke `value` | `ok` `value` | bare `fail` | `fail` with `error` | `info` / none |
/// |---|---|---|---|---|---|
/// | `read` | `null` (ignored) | `{"value": "a", "version": 7}`, or `null`: absent | nothing | nothing | nothing |
/// | `write` | `"a"` | the version, `7` (or `{"value": "a", "version": 7}`) | did not happen | did not happen | may have happened, version unknown |
/// | `cas` | `[expected_version, "a"]` | the version it wrote | did not match: absent, or another version | did not happen | may have happened, version unknown |
///
/// Versions are integers from 0 to `i64::MAX`. An object result must have
/// exactly the fields `value` (a string) and `version`; anything else is a
/// [`HistoryError`] naming the line.
///
/// Not checked (keys are checked one by one): that two keys' writes got
/// different versions, or that versions grow across keys in real time.
///
/// # Indeterminate writes
///
/// An unanswered write or cas may or may not have taken effect; if it did,
/// its version was never observed, but it is above the version it
/// replaced. Guessing the version would make the search infinite (or
/// wrong, for a bad guess), so the state keeps it as a *set* of versions
/// still possible: "at least `min`, and none of `excluded`"
/// ([`VersionedState::Unknown`]). Each op then asks whether *some* version
/// of the set fits it:
/// - a read that sees `(value, r)` binds the version to `r` if `r` is in
///   the set (the state becomes [`VersionedState::Known`]);
/// - a cas that matched binds it to its expected version; one that did not
///   match removes its expected version from the set (the set stays
///   infinite, so that always fits);
/// - a write of version `n` replaces it if some version in the set is
///   below `n`, that is if `min < n`;
/// - another unanswered write replaces it with versions above the least
///   possible one: at least `min + 1`.
///
/// The set only ever shrinks, and a state whose set is a superset of
/// another's allows every future the other allows. That is why an
/// unanswered cas that *could* match (its expected version in the set) is
/// taken as matching when it takes effect: not matching would leave a
/// smaller set with the op spent, a state that never taking effect at all
/// (which the search always considers) dominates. So one op has one
/// successor state, the search stays exact, and states hold only
/// constants of the history plus small offsets: the search is finite.
#[derive(Clone, Copy, Debug)]
pub struct VersionedCas;

/// A version: the log index of the write that produced it.
pub type Version = u64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VersionedOp {
    /// A read that returned this (`None`: absent).
    Read(Option<(Arc<str>, Version)>),
    /// A write that took effect with `version`.
    Write { value: Arc<str>, version: Version },
    /// A cas that found `expected` and wrote `value` with `version`.
    CasOk {
        expected: Version,
        value: Arc<str>,
        version: Version,
    },
    /// A cas that did not match: the key was absent or had another version.
    CasFail { expected: Version },
    /// A write whose outcome is unknown: if it took effect, its version is
    /// unknown, above the one it replaced.
    WriteMaybe { value: Arc<str> },
    /// A cas whose outcome is unknown: writes `value` with an unknown
    /// version if the version is `expected`.
    CasMaybe { expected: Version, value: Arc<str> },
    /// A weakened [`VersionedOp::Write`] (only while shrinking): may take
    /// effect with its recorded version wherever that is possible (the
    /// current version below it), and has no effect elsewhere.
    WriteMaybeAt { value: Arc<str>, version: Version },
    /// A weakened [`VersionedOp::CasOk`] (only while shrinking), alike.
    CasMaybeAt {
        expected: Version,
        value: Arc<str>,
        version: Version,
    },
}

/// One key's state. A value is `None` when no read of the search sees it
/// (see [`Model::canonical`]): such values are all alike.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VersionedState {
    Absent,
    Known {
        value: Option<Arc<str>>,
        version: Version,
    },
    /// Written by an op whose version was not observed: it is at least
    /// `min` and none of `excluded` (sorted, all above `min`; `min` itself
    /// is never excluded, so it is the least possible version).
    Unknown {
        value: Option<Arc<str>>,
        min: Version,
        excluded: Vec<Version>,
    },
}

impl VersionedState {
    fn known(value: &Arc<str>, version: Version) -> VersionedState {
        VersionedState::Known {
            value: Some(Arc::clone(value)),
            version,
        }
    }

    /// Whether the version may be `version`.
    fn may_be(&self, version: Version) -> bool {
        match self {
            VersionedState::Absent => false,
            VersionedState::Known {
                version: current, ..
            } => *current == version,
            VersionedState::Unknown { min, excluded, .. } => {
                version >= *min && excluded.binary_search(&version).is_err()
            }
        }
    }

    /// Whether a write of `version` may follow: the key is absent or some
    /// possible version is below it.
    fn precedes(&self, version: Version) -> bool {
        match self {
            VersionedState::Absent => true,
            VersionedState::Known {
                version: current, ..
            } => *current < version,
            VersionedState::Unknown { min, .. } => *min < version,
        }
    }

    /// The least version a write after this state may get.
    fn next_min(&self) -> Version {
        match self {
            VersionedState::Absent => 0,
            VersionedState::Known { version, .. } => version.saturating_add(1),
            VersionedState::Unknown { min, .. } => min.saturating_add(1),
        }
    }

    /// This state, known not to have version `version` (`None` if it has).
    fn without(&self, version: Version) -> Option<VersionedState> {
        match self {
            VersionedState::Absent => Some(VersionedState::Absent),
            VersionedState::Known {
                version: current, ..
            } => (*current != version).then(|| self.clone()),
            VersionedState::Unknown {
                value,
                min,
                excluded,
            } => {
                let (mut min, mut excluded) = (*min, excluded.clone());
                if version == min {
                    // The least possible version goes: the next one not
                    // excluded becomes the least (the set is infinite).
                    min = min.saturating_add(1);
                    while excluded.first() == Some(&min) {
                        excluded.remove(0);
                        min = min.saturating_add(1);
                    }
                } else if version > min
                    && let Err(at) = excluded.binary_search(&version)
                {
                    excluded.insert(at, version);
                }
                let value = value.clone();
                Some(VersionedState::Unknown {
                    value,
                    min,
                    excluded,
                })
            }
        }
    }

    /// The state after an op of unknown version wrote `value`.
    fn unknown(value: &Arc<str>, min: Version) -> VersionedState {
        VersionedState::Unknown {
            value: Some(Arc::clone(value)),
            min,
            excluded: Vec::new(),
        }
    }
}

/// What canonical states need: the values reads saw (sorted), and the
/// highest version any op names.
#[derive(Clone, Debug, Default)]
pub struct VersionedFacts {
    seen: Vec<Arc<str>>,
    max_version: Option<Version>,
}

impl VersionedOp {
    /// The versions this op names.
    fn versions(&self) -> impl Iterator<Item = Version> {
        let (a, b) = match self {
            VersionedOp::Read(seen) => (seen.as_ref().map(|(_, version)| *version), None),
            VersionedOp::Write { version, .. } | VersionedOp::WriteMaybeAt { version, .. } => {
                (Some(*version), None)
            }
            VersionedOp::CasOk {
                expected, version, ..
            }
            | VersionedOp::CasMaybeAt {
                expected, version, ..
            } => (Some(*expected), Some(*version)),
            VersionedOp::CasFail { expected } | VersionedOp::CasMaybe { expected, .. } => {
                (Some(*expected), None)
            }
            VersionedOp::WriteMaybe { .. } => (None, None),
        };
        a.into_iter().chain(b)
    }
}

impl fmt::Display for VersionedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionedOp::Read(Some((value, version))) => write!(f, "read -> {value:?}@{version}"),
            VersionedOp::Read(None) => f.write_str("read -> absent"),
            VersionedOp::Write { value, version } => write!(f, "write {value:?} -> @{version}"),
            VersionedOp::CasOk {
                expected,
                value,
                version,
            } => write!(f, "cas @{expected} {value:?} -> @{version}"),
            VersionedOp::CasFail { expected } => write!(f, "cas @{expected} fail"),
            VersionedOp::WriteMaybe { value } => write!(f, "write {value:?} ?"),
            VersionedOp::CasMaybe { expected, value } => write!(f, "cas @{expected} {value:?} ?"),
            VersionedOp::WriteMaybeAt { value, version } => {
                write!(f, "write {value:?} -> @{version} ?")
            }
            VersionedOp::CasMaybeAt {
                expected,
                value,
                version,
            } => write!(f, "cas @{expected} {value:?} -> @{version} ?"),
        }
    }
}

/// What a versioned result must look like (for error messages).
const VERSIONED_SHAPE: &str = r#"{"value": "<string>", "version": <integer>}"#;

fn as_version(op: &Operation, value: &Value) -> Result<Version, HistoryError> {
    match value {
        Value::Int(n) => Version::try_from(*n)
            .map_err(|_| bad_value(op, format!("a version is not negative, got {n}"))),
        other => Err(bad_value(
            op,
            format!("expected a version (an integer from 0 to 2^63-1), got {other}"),
        )),
    }
}

fn as_text(op: &Operation, value: &Value) -> Result<Arc<str>, HistoryError> {
    match value {
        Value::Str(s) => Ok(Arc::from(s.as_str())),
        other => Err(bad_value(op, format!("expected a string, got {other}"))),
    }
}

/// `{"value": "a", "version": 7}`: exactly those two fields.
fn as_versioned(op: &Operation, value: &Value) -> Result<(Arc<str>, Version), HistoryError> {
    let shaped = match value {
        Value::Map(entries) if entries.len() == 2 => value.get("value").zip(value.get("version")),
        _ => None,
    };
    let Some((text, version)) = shaped else {
        return Err(bad_value(
            op,
            format!("expected {VERSIONED_SHAPE} or null, got {value}"),
        ));
    };
    Ok((as_text(op, text)?, as_version(op, version)?))
}

/// The version a write or cas reports: an integer, or the versioned value
/// it wrote (which must be the value invoked).
fn resulting_version(
    op: &Operation,
    result: &Value,
    written: &Arc<str>,
) -> Result<Version, HistoryError> {
    match result {
        Value::Map(_) => {
            let (value, version) = as_versioned(op, result)?;
            if value != *written {
                return Err(bad_value(
                    op,
                    format!("the result's value {value:?} is not the value written, {written:?}"),
                ));
            }
            Ok(version)
        }
        other => as_version(op, other),
    }
}

/// A cas's `[expected_version, "value"]`.
fn cas_args(op: &Operation) -> Result<(Version, Arc<str>), HistoryError> {
    match &op.value {
        Value::List(items) if items.len() == 2 => {
            Ok((as_version(op, &items[0])?, as_text(op, &items[1])?))
        }
        other => Err(bad_value(
            op,
            format!("expected [expected_version, \"value\"], got {other}"),
        )),
    }
}

impl Model for VersionedCas {
    type State = VersionedState;
    type Op = VersionedOp;
    const NAME: &'static str = "versioned-cas";
    // Weakened ops write their recorded version and versions only grow, so
    // one cannot take effect twice: letting it is no relaxation at all, and
    // it spares the search tracking which weakened ops were used.
    const REUSABLE_WEAKENING: bool = true;
    type Facts = VersionedFacts;

    fn init() -> VersionedState {
        VersionedState::Absent
    }

    fn step(state: &VersionedState, op: &VersionedOp) -> Option<VersionedState> {
        match op {
            VersionedOp::Read(None) => {
                matches!(state, VersionedState::Absent).then_some(VersionedState::Absent)
            }
            VersionedOp::Read(Some((value, version))) => {
                let same_value = match state {
                    VersionedState::Absent => false,
                    VersionedState::Known { value: current, .. }
                    | VersionedState::Unknown { value: current, .. } => {
                        current.as_ref() == Some(value)
                    }
                };
                (same_value && state.may_be(*version))
                    .then(|| VersionedState::known(value, *version))
            }
            VersionedOp::Write { value, version } => state
                .precedes(*version)
                .then(|| VersionedState::known(value, *version)),
            VersionedOp::CasOk {
                expected,
                value,
                version,
            } => (state.may_be(*expected) && expected < version)
                .then(|| VersionedState::known(value, *version)),
            VersionedOp::CasFail { expected } => state.without(*expected),
            VersionedOp::WriteMaybe { value } => {
                Some(VersionedState::unknown(value, state.next_min()))
            }
            VersionedOp::CasMaybe { expected, value } => Some(if state.may_be(*expected) {
                VersionedState::unknown(value, expected.saturating_add(1))
            } else {
                state.clone()
            }),
            VersionedOp::WriteMaybeAt { value, version } => Some(if state.precedes(*version) {
                VersionedState::known(value, *version)
            } else {
                state.clone()
            }),
            VersionedOp::CasMaybeAt {
                expected,
                value,
                version,
            } => Some(if state.may_be(*expected) && expected < version {
                VersionedState::known(value, *version)
            } else {
                state.clone()
            }),
        }
    }

    fn prepare(op: &Operation) -> Result<Prepared<VersionedOp>, HistoryError> {
        let prepared = match op.f {
            Func::Read => match &op.outcome {
                Outcome::Ok(Value::Nil) => Prepared::Check(VersionedOp::Read(None)),
                Outcome::Ok(seen) => {
                    Prepared::Check(VersionedOp::Read(Some(as_versioned(op, seen)?)))
                }
                Outcome::Fail(_) | Outcome::Info | Outcome::Pending => Prepared::Skip,
            },
            Func::Write => {
                let value = as_text(op, &op.value)?;
                match &op.outcome {
                    Outcome::Ok(result) => {
                        let version = resulting_version(op, result, &value)?;
                        Prepared::Check(VersionedOp::Write { value, version })
                    }
                    Outcome::Fail(_) => Prepared::Skip,
                    Outcome::Info | Outcome::Pending => {
                        Prepared::Check(VersionedOp::WriteMaybe { value })
                    }
                }
            }
            Func::Cas => {
                let (expected, value) = cas_args(op)?;
                match &op.outcome {
                    Outcome::Ok(result) => {
                        let version = resulting_version(op, result, &value)?;
                        Prepared::Check(VersionedOp::CasOk {
                            expected,
                            value,
                            version,
                        })
                    }
                    // As for registers: a fail with an error did not
                    // happen; a bare one is the store's "no match".
                    Outcome::Fail(_) if op.error.is_some() => Prepared::Skip,
                    Outcome::Fail(_) => Prepared::Check(VersionedOp::CasFail { expected }),
                    Outcome::Info | Outcome::Pending => {
                        Prepared::Check(VersionedOp::CasMaybe { expected, value })
                    }
                }
            }
            Func::Get | Func::Put | Func::Append | Func::Other(_) => {
                return Err(wrong_model(op, Self::NAME));
            }
        };
        Ok(prepared)
    }

    fn is_read_only(op: &VersionedOp) -> bool {
        matches!(op, VersionedOp::Read(_) | VersionedOp::CasFail { .. })
    }

    fn is_total(op: &VersionedOp) -> bool {
        matches!(
            op,
            VersionedOp::WriteMaybe { .. }
                | VersionedOp::CasMaybe { .. }
                | VersionedOp::WriteMaybeAt { .. }
                | VersionedOp::CasMaybeAt { .. }
        )
    }

    /// A write keeps its recorded version when weakened: the version is
    /// what it would write, not something it observed, and keeping it lets
    /// the weakened op explain only reads of that very version (so a read
    /// of a version nobody wrote shrinks to a core of itself).
    fn weaken(op: &VersionedOp) -> Option<VersionedOp> {
        match op {
            VersionedOp::Read(_) | VersionedOp::CasFail { .. } => None,
            VersionedOp::Write { value, version } => Some(VersionedOp::WriteMaybeAt {
                value: Arc::clone(value),
                version: *version,
            }),
            VersionedOp::CasOk {
                expected,
                value,
                version,
            } => Some(VersionedOp::CasMaybeAt {
                expected: *expected,
                value: Arc::clone(value),
                version: *version,
            }),
            total => Some(total.clone()),
        }
    }

    fn facts(ops: &[&VersionedOp]) -> VersionedFacts {
        let mut seen: Vec<Arc<str>> = ops
            .iter()
            .filter_map(|op| match op {
                VersionedOp::Read(Some((value, _))) => Some(Arc::clone(value)),
                _ => None,
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let max_version = ops.iter().flat_map(|op| op.versions()).max();
        VersionedFacts { seen, max_version }
    }

    /// Two merges, both exact:
    /// - a value no read sees is told apart by no op (writes and cas look
    ///   at versions only), so all such values become `None`;
    /// - an unknown version whose least possible value is above every
    ///   version any op names compares alike with all of them, now and
    ///   after further unknown writes (which only raise it), so its least
    ///   value is lowered to just above the highest named version (there
    ///   is nothing left to exclude above it).
    fn canonical(state: VersionedState, facts: &VersionedFacts) -> VersionedState {
        let keep =
            |value: Option<Arc<str>>| value.filter(|value| facts.seen.binary_search(value).is_ok());
        match state {
            VersionedState::Absent => VersionedState::Absent,
            VersionedState::Known { value, version } => VersionedState::Known {
                value: keep(value),
                version,
            },
            VersionedState::Unknown {
                value,
                min,
                excluded,
            } => {
                let floor = facts.max_version.map_or(0, |max| max.saturating_add(1));
                let value = keep(value);
                if min > floor {
                    VersionedState::Unknown {
                        value,
                        min: floor,
                        excluded: Vec::new(),
                    }
                } else {
                    VersionedState::Unknown {
                        value,
                        min,
                        excluded,
                    }
                }
            }
        }
    }

    fn state_bytes(state: &VersionedState) -> usize {
        let heap = match state {
            VersionedState::Absent => 0,
            VersionedState::Known { value, .. } => value.as_ref().map_or(0, |value| value.len()),
            VersionedState::Unknown {
                value, excluded, ..
            } => {
                value.as_ref().map_or(0, |value| value.len())
                    + excluded.capacity() * size_of::<Version>()
            }
        };
        size_of::<VersionedState>() + heap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_kinds_round_trip_by_name() {
        for kind in ModelKind::ALL {
            assert_eq!(ModelKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ModelKind::VersionedCas.to_string(), "versioned-cas");
        assert_eq!(ModelKind::from_name("queue"), None);
    }

    #[test]
    fn cas_fail_means_the_value_was_not_from() {
        let fail = RegisterOp::CasFail { from: 1 };
        assert_eq!(RegisterCas::step(&Some(1), &fail), None);
        assert_eq!(RegisterCas::step(&Some(2), &fail), Some(Some(2)));
        assert_eq!(RegisterCas::step(&None, &fail), Some(None));
        let ok = RegisterOp::CasOk { from: 1, to: 5 };
        assert_eq!(RegisterCas::step(&Some(1), &ok), Some(Some(5)));
        assert_eq!(RegisterCas::step(&None, &ok), None);
        let maybe = RegisterOp::CasMaybe { from: 1, to: 5 };
        assert_eq!(RegisterCas::step(&Some(1), &maybe), Some(Some(5)));
        assert_eq!(RegisterCas::step(&Some(3), &maybe), Some(Some(3)));
    }

    #[test]
    fn add_counts_absent_as_zero_and_is_not_idempotent() {
        let add = RegisterOp::Add(3);
        assert_eq!(RegisterCas::step(&None, &add), Some(Some(3)));
        let twice = RegisterCas::step(&Some(3), &add);
        assert_eq!(twice, Some(Some(6)));
        assert_eq!(
            RegisterCas::step(&Some(i64::MAX), &RegisterOp::Add(1)),
            Some(Some(i64::MIN))
        );
        assert!(RegisterCas::is_total(&add));
        assert_eq!(RegisterCas::weaken(&add), Some(add));
    }

    #[test]
    fn reads_see_absent_as_nil() {
        assert_eq!(
            RegisterCas::step(&None, &RegisterOp::Read(None)),
            Some(None)
        );
        assert_eq!(RegisterCas::step(&None, &RegisterOp::Read(Some(0))), None);
    }

    #[test]
    fn kv_append_concatenates() {
        let state = KvAppend::step(&KvAppend::init(), &KvOp::Append("x 0 ".into()));
        let state = state.and_then(|s| KvAppend::step(&s, &KvOp::Append("y".into())));
        assert_eq!(state.as_deref(), Some("x 0 y"));
        let state = state.unwrap_or_default();
        assert!(KvAppend::step(&state, &KvOp::Get("x 0".into())).is_none());
        assert_eq!(
            KvAppend::step(&state, &KvOp::Put("z".into())).as_deref(),
            Some("z")
        );
    }

    #[test]
    fn kv_states_no_get_can_see_are_merged() {
        let get = KvOp::Get("x 1 yx 2 y".into());
        let append = KvOp::Append("x 3 y".into());
        let facts = KvAppend::facts(&[&get, &append]);
        let live = KvAppend::canonical("x 1 y".into(), &facts);
        assert_eq!(live, "x 1 y");
        assert_eq!(KvAppend::canonical(String::new(), &facts), "");
        let dead = KvAppend::canonical("x 2 y".into(), &facts);
        assert_eq!(KvAppend::canonical("x 9 y".into(), &facts), dead);
        assert!(KvAppend::step(&dead, &get).is_none());
        let appended = KvAppend::step(&dead, &append).unwrap_or_default();
        assert_eq!(KvAppend::canonical(appended, &facts), dead);
    }

    #[test]
    fn weakened_ops_are_total() {
        let ops = [
            RegisterOp::Read(None),
            RegisterOp::Write(1),
            RegisterOp::CasOk { from: 1, to: 2 },
            RegisterOp::CasFail { from: 1 },
            RegisterOp::CasMaybe { from: 1, to: 2 },
            RegisterOp::Add(2),
        ];
        for op in ops {
            if let Some(weak) = RegisterCas::weaken(&op) {
                assert!(RegisterCas::is_total(&weak), "{op}");
            }
        }
        assert_eq!(KvAppend::weaken(&KvOp::Get(String::new())), None);
    }
}

#[cfg(test)]
mod versioned_tests {
    use super::*;
    use crate::wgl::{Budget, SearchOp, SearchResult, search, verify_witness};

    use VersionedOp::{
        CasFail, CasMaybe, CasMaybeAt, CasOk, Read, Write, WriteMaybe, WriteMaybeAt,
    };
    use VersionedState::{Absent, Unknown};

    fn text(value: &str) -> Arc<str> {
        Arc::from(value)
    }

    fn step(state: &VersionedState, op: &VersionedOp) -> Option<VersionedState> {
        VersionedCas::step(state, op)
    }

    fn known(value: &str, version: Version) -> VersionedState {
        VersionedState::known(&text(value), version)
    }

    fn read(value: &str, version: Version) -> VersionedOp {
        Read(Some((text(value), version)))
    }

    #[test]
    fn versions_strictly_increase() {
        let write = |value: &str, version| Write {
            value: text(value),
            version,
        };
        let after_a = step(&Absent, &write("a", 3)).expect("a first write of any version");
        assert_eq!(after_a, known("a", 3));
        assert_eq!(step(&after_a, &write("b", 3)), None, "a duplicate version");
        assert_eq!(step(&after_a, &write("b", 2)), None, "a lower version");
        assert_eq!(step(&after_a, &write("b", 9)), Some(known("b", 9)));
        let cas = |expected, version| CasOk {
            expected,
            value: text("c"),
            version,
        };
        assert_eq!(step(&after_a, &cas(3, 4)), Some(known("c", 4)));
        assert_eq!(step(&after_a, &cas(2, 4)), None, "expected another version");
        assert_eq!(
            step(&after_a, &cas(3, 3)),
            None,
            "cas wrote no newer version"
        );
        assert_eq!(step(&Absent, &cas(0, 4)), None, "cas on an absent key");
        assert_eq!(step(&after_a, &CasFail { expected: 3 }), None);
        assert_eq!(
            step(&after_a, &CasFail { expected: 4 }),
            Some(after_a.clone())
        );
        assert_eq!(step(&Absent, &CasFail { expected: 0 }), Some(Absent));
        assert_eq!(step(&after_a, &read("a", 3)), Some(after_a.clone()));
        assert_eq!(step(&after_a, &read("a", 4)), None);
        assert_eq!(step(&after_a, &read("b", 3)), None);
        assert_eq!(step(&after_a, &Read(None)), None);
    }

    #[test]
    fn an_unknown_version_is_bound_by_what_sees_it() {
        let maybe_b = WriteMaybe { value: text("b") };
        let unknown = step(&known("a", 3), &maybe_b).expect("total");
        assert_eq!(
            unknown,
            Unknown {
                value: Some(text("b")),
                min: 4,
                excluded: vec![]
            }
        );
        assert_eq!(
            step(&unknown, &read("b", 3)),
            None,
            "not above the old version"
        );
        assert_eq!(step(&unknown, &read("b", 40)), Some(known("b", 40)));
        // A cas that did not match rules its version out; the least
        // possible version moves past excluded ones.
        let no_6 = step(&unknown, &CasFail { expected: 6 }).expect("infinitely many left");
        assert_eq!(step(&no_6, &read("b", 6)), None);
        let no_4 = step(&no_6, &CasFail { expected: 4 }).expect("fits");
        let no_5 = step(&no_4, &CasFail { expected: 5 }).expect("fits");
        assert_eq!(
            no_5,
            Unknown {
                value: Some(text("b")),
                min: 7,
                excluded: vec![]
            }
        );
        // A write of version n needs some possible version below n.
        let write = |version| Write {
            value: text("c"),
            version,
        };
        assert_eq!(step(&no_5, &write(7)), None);
        assert_eq!(step(&no_5, &write(8)), Some(known("c", 8)));
        // A cas binds it to its expected version.
        let cas = CasOk {
            expected: 9,
            value: text("c"),
            version: 12,
        };
        assert_eq!(step(&no_5, &cas), Some(known("c", 12)));
        // Two unknown versions in a row: the second is above the first.
        let chained = step(&no_5, &WriteMaybe { value: text("d") }).expect("total");
        assert_eq!(step(&chained, &read("d", 7)), None);
        assert_eq!(step(&chained, &read("d", 8)), Some(known("d", 8)));
        // An unknown cas matches if its expected version is possible.
        let cas_maybe = CasMaybe {
            expected: 8,
            value: text("e"),
        };
        assert_eq!(
            step(&no_5, &cas_maybe).and_then(|s| step(&s, &read("e", 9))),
            Some(known("e", 9))
        );
        assert_eq!(step(&known("a", 3), &cas_maybe), Some(known("a", 3)));
    }

    #[test]
    fn weakened_writes_keep_their_version_and_are_total() {
        let write = Write {
            value: text("a"),
            version: 5,
        };
        let weak = VersionedCas::weaken(&write).expect("a write has an effect");
        assert_eq!(
            weak,
            WriteMaybeAt {
                value: text("a"),
                version: 5
            }
        );
        assert!(VersionedCas::is_total(&weak));
        // Where it cannot have happened, it has no effect.
        assert_eq!(step(&known("z", 9), &weak), Some(known("z", 9)));
        assert_eq!(step(&known("z", 4), &weak), Some(known("a", 5)));
        let cas = CasOk {
            expected: 2,
            value: text("b"),
            version: 7,
        };
        let weak = VersionedCas::weaken(&cas).expect("a cas has an effect");
        assert!(VersionedCas::is_total(&weak));
        assert_eq!(step(&known("z", 2), &weak), Some(known("b", 7)));
        assert_eq!(step(&known("z", 3), &weak), Some(known("z", 3)));
        assert_eq!(VersionedCas::weaken(&read("a", 1)), None);
        assert_eq!(VersionedCas::weaken(&CasFail { expected: 1 }), None);
    }

    #[test]
    fn canonical_states_merge_only_what_no_op_tells_apart() {
        let ops = [read("a", 5), CasFail { expected: 9 }];
        let refs: Vec<&VersionedOp> = ops.iter().collect();
        let facts = VersionedCas::facts(&refs);
        // "b" is never read: its states are alike whatever its value.
        let b = VersionedCas::canonical(known("b", 5), &facts);
        let c = VersionedCas::canonical(known("c", 5), &facts);
        assert_eq!(b, c);
        assert_ne!(b, VersionedCas::canonical(known("a", 5), &facts));
        // Above every version named (9), unknown versions are alike.
        let unknown = |min| Unknown {
            value: Some(text("a")),
            min,
            excluded: vec![],
        };
        let high = VersionedCas::canonical(unknown(40), &facts);
        assert_eq!(high, VersionedCas::canonical(unknown(11), &facts));
        assert_eq!(high, unknown(10));
        assert_eq!(VersionedCas::canonical(unknown(9), &facts), unknown(9));
    }

    /// A tiny deterministic generator.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = self.0;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (x ^ (x >> 31)) % n
        }
    }

    fn random_op(rng: &mut Rng) -> SearchOp<VersionedOp> {
        let value = |rng: &mut Rng| text(["a", "b"][rng.below(2) as usize]);
        let version = |rng: &mut Rng| rng.below(6);
        let (op, indeterminate) = match rng.below(10) {
            0 => (Read(None), false),
            1 | 2 => (Read(Some((value(rng), version(rng)))), false),
            3 => (
                Write {
                    value: value(rng),
                    version: version(rng),
                },
                false,
            ),
            4 => (
                CasOk {
                    expected: version(rng),
                    value: value(rng),
                    version: version(rng),
                },
                false,
            ),
            5 => (
                CasFail {
                    expected: version(rng),
                },
                false,
            ),
            6 => (WriteMaybe { value: value(rng) }, true),
            7 => (
                CasMaybe {
                    expected: version(rng),
                    value: value(rng),
                },
                true,
            ),
            8 => (
                WriteMaybeAt {
                    value: value(rng),
                    version: version(rng),
                },
                true,
            ),
            _ => (
                CasMaybeAt {
                    expected: version(rng),
                    value: value(rng),
                    version: version(rng),
                },
                true,
            ),
        };
        let call = rng.below(10);
        let ret = (!indeterminate).then(|| call + rng.below(6));
        SearchOp::new(op, call, ret)
    }

    /// The store itself, with concrete versions: an op of unknown version
    /// tries every version above the current one up to `limit`.
    type Concrete = Option<(Arc<str>, Version)>;

    fn concrete_steps(state: &Concrete, op: &VersionedOp, limit: Version) -> Vec<Concrete> {
        let current = state.as_ref().map(|(_, version)| *version);
        let above = |from: Option<Version>| from.map_or(0, |v| v + 1)..=limit;
        let set = |value: &Arc<str>, version| Some((Arc::clone(value), version));
        match op {
            Read(seen) => (seen == state).then(|| state.clone()).into_iter().collect(),
            Write { value, version } | WriteMaybeAt { value, version } => {
                let fits = current.is_none_or(|current| current < *version);
                match (fits, op) {
                    (true, _) => vec![set(value, *version)],
                    (false, WriteMaybeAt { .. }) => vec![state.clone()],
                    (false, _) => vec![],
                }
            }
            CasOk {
                expected,
                value,
                version,
            }
            | CasMaybeAt {
                expected,
                value,
                version,
            } => {
                let fits = current == Some(*expected) && expected < version;
                match (fits, op) {
                    (true, _) => vec![set(value, *version)],
                    (false, CasMaybeAt { .. }) => vec![state.clone()],
                    (false, _) => vec![],
                }
            }
            CasFail { expected } => (current != Some(*expected))
                .then(|| state.clone())
                .into_iter()
                .collect(),
            WriteMaybe { value } => above(current).map(|v| set(value, v)).collect(),
            CasMaybe { expected, value } if current == Some(*expected) => {
                above(current).map(|v| set(value, v)).collect()
            }
            CasMaybe { .. } => vec![state.clone()],
        }
    }

    /// Every order of every subset holding all determinate ops, every
    /// version choice: no search, no memo, no canonical states.
    fn brute_force(
        ops: &[SearchOp<VersionedOp>],
        placed: &mut Vec<usize>,
        state: &Concrete,
        limit: Version,
    ) -> bool {
        if (0..ops.len()).all(|i| ops[i].ret.is_none() || placed.contains(&i)) {
            return true;
        }
        let latest_call = placed.iter().map(|&p| ops[p].call).max().unwrap_or(0);
        for (i, candidate) in ops.iter().enumerate() {
            if placed.contains(&i) || candidate.ret.is_some_and(|ret| ret < latest_call) {
                continue;
            }
            for next in concrete_steps(state, &candidate.op, limit) {
                placed.push(i);
                let ok = brute_force(ops, placed, &next, limit);
                placed.pop();
                if ok {
                    return true;
                }
            }
        }
        false
    }

    /// The search over symbolic states against the store with concrete
    /// versions. (Some refinements of the symbolic state, exclusions and
    /// chains of unknown versions, cannot change a verdict: an unknown
    /// write nothing observes may as well be left out. The step tests
    /// above pin them; this one pins everything a verdict can see.)
    #[test]
    fn agrees_with_a_concrete_brute_force() {
        let budget = Budget {
            max_steps: 1_000_000,
            max_memo_bytes: 1 << 26,
            deadline: None,
        };
        let mut rng = Rng(17);
        let (mut yes, mut no, mut unknown_bound) = (0, 0, 0);
        for _ in 0..4000 {
            let len = 1 + rng.below(6) as usize;
            let ops: Vec<_> = (0..len).map(|_| random_op(&mut rng)).collect();
            // Versions named are below 6; one per op above that leaves
            // room for every unknown version a linearization may need.
            let limit = 6 + ops.len() as Version;
            let expected = brute_force(&ops, &mut Vec::new(), &None, limit);
            let found = match search::<VersionedCas>(&ops, &budget).result {
                SearchResult::Linearizable { witness } => {
                    assert_eq!(verify_witness::<VersionedCas>(&ops, &witness), Ok(()));
                    true
                }
                SearchResult::NotLinearizable => false,
                SearchResult::Unknown(reason) => panic!("{reason}: {ops:?}"),
            };
            assert_eq!(found, expected, "{ops:?}");
            if expected {
                yes += 1;
            } else {
                no += 1;
            }
            let binds = ops
                .iter()
                .any(|op| matches!(op.op, WriteMaybe { .. } | CasMaybe { .. }));
            unknown_bound += usize::from(binds && expected);
        }
        assert!(yes > 400 && no > 400, "yes {yes} no {no}");
        assert!(
            unknown_bound > 100,
            "unknown versions rarely mattered: {unknown_bound}"
        );
    }

    /// Shrinking lets weakened ops take effect any number of times. Here
    /// that changes nothing at all: a weakened op writes its recorded
    /// version, and versions only grow, so it cannot take effect twice.
    #[test]
    fn reusing_weakened_ops_changes_no_verdict() {
        let budget = Budget {
            max_steps: 1_000_000,
            max_memo_bytes: 1 << 26,
            deadline: None,
        };
        let linearizable =
            |ops: &[SearchOp<VersionedOp>]| match search::<VersionedCas>(ops, &budget).result {
                SearchResult::Linearizable { .. } => true,
                SearchResult::NotLinearizable => false,
                SearchResult::Unknown(reason) => panic!("{reason}: {ops:?}"),
            };
        let mut rng = Rng(5);
        let mut reused = 0;
        for _ in 0..3000 {
            let len = 1 + rng.below(7) as usize;
            let exact: Vec<_> = (0..len).map(|_| random_op(&mut rng)).collect();
            let mut relaxed = exact.clone();
            for op in &mut relaxed {
                let weakened = matches!(op.op, WriteMaybeAt { .. } | CasMaybeAt { .. });
                op.reusable = weakened && rng.below(2) == 0;
                reused += usize::from(op.reusable);
            }
            assert_eq!(linearizable(&exact), linearizable(&relaxed), "{relaxed:?}");
        }
        assert!(reused > 300, "{reused}");
    }
}
