//! Sequential specifications: a small state and `step(state, op)`, which
//! returns the next state, or `None` when the op's recorded result is
//! impossible from that state.
//!
//! A history is split per key before it is checked (keys are independent
//! objects, and linearizability is compositional), so each model describes
//! one object: one register, or one key's string.

use std::fmt;
use std::hash::Hash;

use super::history::{Func, HistoryError, HistoryErrorKind, Operation, Outcome, Value};

/// Which sequential object the history is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Registers (one per key), initially absent: read, write, cas.
    RegisterCas,
    /// String values (one per key), initially "": get, put, append.
    KvAppend,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::RegisterCas => RegisterCas::NAME,
            ModelKind::KvAppend => KvAppend::NAME,
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            RegisterCas::NAME => Some(ModelKind::RegisterCas),
            KvAppend::NAME => Some(ModelKind::KvAppend),
            _ => None,
        }
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

/// A sequential specification of one object.
pub trait Model {
    type State: Clone + Eq + Hash + fmt::Debug;
    type Op: Clone + Eq + Hash + fmt::Debug;
    const NAME: &'static str;

    fn init() -> Self::State;

    /// The state after `op`, or `None` if its recorded result cannot
    /// happen in `state`.
    fn step(state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// What a history operation means for this model. An indeterminate
    /// operation must become a total op (one whose `step` never fails),
    /// since nothing was observed about it.
    fn prepare(op: &Operation) -> Result<Prepared<Self::Op>, HistoryError>;

    /// Whether `step` succeeds from every state (nothing observed).
    fn is_total(op: &Self::Op) -> bool;

    /// The op with its observation forgotten but its possible effect kept:
    /// `None` if it has no effect (a read), else a total op. Shrinking
    /// uses it to ask "does the violation survive if this op may or may
    /// not have happened?".
    fn weaken(op: &Self::Op) -> Option<Self::Op>;

    /// Whether shrinking may relax weakened ops further to "may take
    /// effect any number of times". Only for models whose reachable
    /// (canonical) states stay finite that way.
    const REUSABLE_WEAKENING: bool;

    /// What [`Model::canonical`] needs to know about the ops searched.
    type Facts;

    fn facts(ops: &[&Self::Op]) -> Self::Facts;

    /// A representative of the states that no op among those `facts`
    /// was built from can tell apart from `state` (now or after any
    /// sequence of them). Searching over representatives is exact and
    /// merges configurations.
    fn canonical(state: Self::State, facts: &Self::Facts) -> Self::State;

    /// Bytes a state occupies, heap included (for the memory budget).
    fn state_bytes(state: &Self::State) -> usize;
}

/// An error for the operation `op` (reported at its invocation line).
fn bad_value(op: &Operation, why: impl Into<String>) -> HistoryError {
    let kind = HistoryErrorKind::BadValue {
        f: op.f,
        why: why.into(),
    };
    HistoryError::new(op.invoke_line, kind)
}

fn wrong_model(op: &Operation, model: &'static str) -> HistoryError {
    HistoryError::new(
        op.invoke_line,
        HistoryErrorKind::WrongModel { f: op.f, model },
    )
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
            Func::Get | Func::Put | Func::Append => return Err(wrong_model(op, Self::NAME)),
        };
        Ok(prepared)
    }

    fn is_total(op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Write(_) | RegisterOp::CasMaybe { .. })
    }

    fn weaken(op: &RegisterOp) -> Option<RegisterOp> {
        match *op {
            RegisterOp::Read(_) | RegisterOp::CasFail { .. } => None,
            // A cas from v to v has no effect to keep.
            RegisterOp::CasOk { from, to } | RegisterOp::CasMaybe { from, to } if from == to => {
                None
            }
            RegisterOp::Write(v) => Some(RegisterOp::Write(v)),
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
#[derive(Clone, Debug)]
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
                match (op.f, &op.outcome) {
                    (_, Outcome::Fail(_)) => Prepared::Skip,
                    (Func::Put, _) => Prepared::Check(KvOp::Put(value)),
                    _ => Prepared::Check(KvOp::Append(value)),
                }
            }
            Func::Read | Func::Write | Func::Cas => return Err(wrong_model(op, Self::NAME)),
        };
        Ok(prepared)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for op in ops {
            if let Some(weak) = RegisterCas::weaken(&op) {
                assert!(RegisterCas::is_total(&weak), "{op}");
            }
        }
        assert_eq!(KvAppend::weaken(&KvOp::Get(String::new())), None);
    }
}
