//! Histories that are linearizable by construction, for tests and
//! benchmarks: each op gets an interval [invoke, return] and a
//! linearization point strictly inside it; the ops are applied to a
//! sequential object in the order of those points, and the results
//! recorded are what the object returned. Indeterminate ops (`info`)
//! either took effect at their point or never did.
//!
//! Two objects: registers ([`register_history`], model `register-cas`)
//! and openraft-style versioned entries ([`versioned_history`], model
//! `versioned-cas`), where every op takes the next index of one log shared
//! by all keys (with gaps, as blank and membership entries leave) and a
//! write's version is its index.

use super::history::{
    Event, EventKind, Format, Func, History, HistoryBuilder, HistoryError, Value,
};

/// Shape of a generated workload (registers, or versioned entries).
#[derive(Clone, Copy, Debug)]
pub struct RegisterWorkload {
    pub ops: usize,
    pub processes: u64,
    /// Keys `k0 .. k{keys-1}`, each its own register.
    pub keys: u32,
    /// Written values and cas arguments are drawn from `0..values` (a
    /// versioned write writes `"v<n>"`; its cas expect versions instead).
    pub values: u64,
    /// Of every 1000 writes and cas, this many end `info`.
    pub indeterminate_per_mille: u64,
    pub seed: u64,
}

/// Bounds on generated workloads (they are held in memory).
const MAX_GENERATED_OPS: usize = 10_000_000;
const MAX_GENERATED_PROCESSES: u64 = 10_000;
const MAX_GENERATED_VALUES: u64 = 1 << 32;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next() % bound
    }
}

struct Planned {
    process: u64,
    f: Func,
    key: u32,
    value: Value,
    invoke: u64,
    point: u64,
    ret: u64,
    indeterminate: bool,
}

fn plan(workload: &RegisterWorkload, rng: &mut Rng) -> Vec<Planned> {
    let mut free_at: Vec<u64> = (0..workload.processes).map(|_| 0).collect();
    let mut planned = Vec::with_capacity(workload.ops);
    for _ in 0..workload.ops {
        // The process free earliest goes next: all of them stay busy, so
        // about `processes` ops overlap at any time.
        let (process, &free) = free_at
            .iter()
            .enumerate()
            .min_by_key(|&(index, &free)| (free, index))
            .unwrap_or((0, &0));
        let invoke = free + rng.below(20);
        let point = invoke + 1 + rng.below(100);
        let ret = point + 1 + rng.below(100);
        free_at[process] = ret + 1;
        // `values` is at most MAX_GENERATED_VALUES, so this fits an i64.
        let arg = |rng: &mut Rng| rng.below(workload.values).cast_signed();
        let (f, value) = match rng.below(10) {
            0..=3 => (Func::Read, Value::Nil),
            4..=6 => (Func::Write, Value::Int(arg(rng))),
            _ => (
                Func::Cas,
                Value::List(vec![Value::Int(arg(rng)), Value::Int(arg(rng))]),
            ),
        };
        let indeterminate = f != Func::Read && rng.below(1000) < workload.indeterminate_per_mille;
        planned.push(Planned {
            process: process as u64,
            f,
            key: u32::try_from(rng.below(u64::from(workload.keys))).unwrap_or(0),
            value,
            invoke,
            point,
            ret,
            indeterminate,
        });
    }
    planned
}

/// Applies `op` to its register at its linearization point; returns the
/// completion's kind and value.
fn apply(op: &Planned, register: &mut Option<i64>, took_effect: bool) -> (EventKind, Value) {
    let current = *register;
    match (&op.f, &op.value) {
        (Func::Write, Value::Int(v)) => {
            if took_effect {
                *register = Some(*v);
            }
            (EventKind::Ok, op.value.clone())
        }
        (Func::Cas, Value::List(pair)) => match (pair.first(), pair.get(1)) {
            (Some(Value::Int(from)), Some(Value::Int(to))) if current == Some(*from) => {
                if took_effect {
                    *register = Some(*to);
                }
                (EventKind::Ok, op.value.clone())
            }
            _ => (EventKind::Fail, op.value.clone()),
        },
        _ => (EventKind::Ok, current.map_or(Value::Nil, Value::Int)),
    }
}

/// What applying an op at its point produced: the invocation's value (a
/// versioned cas picks its expected version only then, to match often)
/// and the completion's kind and value.
struct Applied {
    invoke: Value,
    kind: EventKind,
    result: Value,
}

/// Plans `workload`, applies the ops in linearization-point order through
/// `apply` (given the op, whether it takes effect, and the generator), and
/// returns the events sorted by time.
fn generate(
    workload: &RegisterWorkload,
    mut apply: impl FnMut(&Planned, bool, &mut Rng) -> Applied,
) -> Vec<Event> {
    assert!(workload.ops <= MAX_GENERATED_OPS, "workload too large");
    assert!((1..=MAX_GENERATED_PROCESSES).contains(&workload.processes));
    assert!(workload.keys > 0 && (1..=MAX_GENERATED_VALUES).contains(&workload.values));
    let mut rng = Rng(workload.seed);
    let planned = plan(workload, &mut rng);
    let mut by_point: Vec<usize> = (0..planned.len()).collect();
    // Points may tie across processes; both intervals then strictly
    // contain the point, so either order is a valid linearization.
    by_point.sort_by_key(|&index| (planned[index].point, index));
    let mut events = Vec::with_capacity(planned.len() * 2);
    for index in by_point {
        let op = &planned[index];
        let took_effect = !op.indeterminate || rng.below(2) == 0;
        let applied = apply(op, took_effect, &mut rng);
        let (kind, result) = if op.indeterminate {
            (EventKind::Info, Value::Nil)
        } else {
            (applied.kind, applied.result)
        };
        let event = |kind, value, time| Event {
            process: op.process,
            kind,
            f: op.f.clone(),
            key: Some(format!("k{}", op.key)),
            value,
            time,
            error: None,
            line: 0,
        };
        events.push(event(EventKind::Invoke, applied.invoke, op.invoke));
        events.push(event(kind, result, op.ret));
    }
    // A process's next invoke is after its last return, so sorting by time
    // keeps each process's events in order.
    events.sort_by_key(|event| (event.time, event.process));
    for (line, event) in events.iter_mut().enumerate() {
        event.line = line as u64 + 1;
    }
    events
}

/// The events of a linearizable register history, sorted by time.
pub fn register_events(workload: &RegisterWorkload) -> Vec<Event> {
    let mut registers: Vec<Option<i64>> = vec![None; workload.keys as usize];
    generate(workload, |op, took_effect, _rng| {
        let (kind, result) = apply(op, &mut registers[op.key as usize], took_effect);
        Applied {
            invoke: op.value.clone(),
            kind,
            result,
        }
    })
}

/// One versioned key: its value and version, if written.
type Entry = Option<(String, u64)>;

/// Applies `op` to its versioned entry at log index `index`.
fn apply_versioned(
    op: &Planned,
    entry: &mut Entry,
    took_effect: bool,
    index: u64,
    rng: &mut Rng,
) -> Applied {
    let text = |value: &Value| match value {
        Value::Int(n) => format!("v{n}"),
        other => other.to_string(),
    };
    let versioned = |entry: &Entry| match entry {
        Some((value, version)) => Value::Map(vec![
            ("value".into(), Value::Str(value.clone())),
            ("version".into(), Value::Int(version.cast_signed())),
        ]),
        None => Value::Nil,
    };
    let version = Value::Int(index.cast_signed());
    match (&op.f, &op.value) {
        (Func::Write, written) => {
            let written = text(written);
            if took_effect {
                *entry = Some((written.clone(), index));
            }
            Applied {
                invoke: Value::Str(written),
                kind: EventKind::Ok,
                result: version,
            }
        }
        (Func::Cas, Value::List(pair)) => {
            let written = pair.get(1).map(text).unwrap_or_default();
            let current = entry.as_ref().map(|(_, version)| *version);
            // Mostly the current version (a match), else one that is
            // stale or never existed (index is above every version so far).
            let expected = match current {
                Some(current) if rng.below(3) > 0 => current,
                _ => rng.below(index.max(1)),
            };
            let invoke = Value::List(vec![
                Value::Int(expected.cast_signed()),
                Value::Str(written.clone()),
            ]);
            if current != Some(expected) {
                return Applied {
                    invoke,
                    kind: EventKind::Fail,
                    result: Value::Nil,
                };
            }
            if took_effect {
                *entry = Some((written, index));
            }
            Applied {
                invoke,
                kind: EventKind::Ok,
                result: version,
            }
        }
        _ => Applied {
            invoke: Value::Nil,
            kind: EventKind::Ok,
            result: versioned(entry),
        },
    }
}

/// The events of a linearizable versioned-cas history, sorted by time:
/// writes of `"v<n>"` and cas on the versions seen.
pub fn versioned_events(workload: &RegisterWorkload) -> Vec<Event> {
    let mut entries: Vec<Entry> = vec![None; workload.keys as usize];
    // Index 0 is the log's first (membership) entry.
    let mut next_index: u64 = 1;
    generate(workload, |op, took_effect, rng| {
        let index = next_index;
        next_index += 1 + rng.below(3);
        apply_versioned(op, &mut entries[op.key as usize], took_effect, index, rng)
    })
}

/// Pairs events into a history (as if read from our JSONL).
pub fn history_from_events(events: Vec<Event>) -> Result<History, HistoryError> {
    let mut builder = HistoryBuilder::new(Format::Jsonl);
    for event in events {
        builder.push(event)?;
    }
    Ok(builder.finish())
}

/// A linearizable register history.
pub fn register_history(workload: &RegisterWorkload) -> Result<History, HistoryError> {
    history_from_events(register_events(workload))
}

/// A linearizable versioned-cas history.
pub fn versioned_history(workload: &RegisterWorkload) -> Result<History, HistoryError> {
    history_from_events(versioned_events(workload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;
    use crate::{ModelKind, Verdict, check};

    fn workload(seed: u64) -> RegisterWorkload {
        RegisterWorkload {
            ops: 400,
            processes: 6,
            keys: 3,
            values: 4,
            indeterminate_per_mille: 50,
            seed,
        }
    }

    #[test]
    fn generated_histories_are_linearizable() {
        for seed in 0..20 {
            let history = register_history(&workload(seed)).expect("pairs up");
            assert_eq!(history.len(), 400);
            let report = check(&history, ModelKind::RegisterCas).expect("fits");
            assert_eq!(report.verdict, Verdict::Linearizable, "seed {seed}");
        }
    }

    #[test]
    fn twenty_concurrent_clients_on_one_register_are_decided() {
        // A plain WGL walk tries the 2^k subsets of k concurrent readers:
        // on this shape it ran out of its 50M default steps. Reads taken
        // as soon as they fit and twins in deadline order decide it.
        for seed in 0..3 {
            let workload = RegisterWorkload {
                ops: 1_000,
                processes: 20,
                keys: 1,
                values: 5,
                indeterminate_per_mille: 10,
                seed,
            };
            let history = register_history(&workload).expect("pairs up");
            let report = check(&history, ModelKind::RegisterCas).expect("fits");
            assert_eq!(
                report.verdict,
                Verdict::Linearizable,
                "seed {seed}\n{report}"
            );
        }
    }

    #[test]
    fn a_corrupted_read_among_twenty_clients_is_refuted() {
        let workload = RegisterWorkload {
            ops: 1_000,
            processes: 20,
            keys: 1,
            values: 5,
            indeterminate_per_mille: 50,
            seed: 1,
        };
        let history = register_history(&workload).expect("pairs up");
        let mut ops = history.ops().to_vec();
        let victim = (ops.len() / 2..ops.len())
            .find(|&index| ops[index].f == Func::Read && ops[index].ret.is_some())
            .expect("some read");
        // 5 is a value no op writes.
        ops[victim].outcome = Outcome::Ok(Value::Int(5));
        let bad = History::from_operations(Format::Jsonl, ops.clone()).expect("valid");
        let report = check(&bad, ModelKind::RegisterCas).expect("fits");
        assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
        let violation = report.violation.expect("violation");
        assert!(violation.ops.contains(&ops[victim]), "{violation:?}");
    }

    #[test]
    fn a_corrupted_read_is_caught_and_shrunk_to_itself() {
        let history = register_history(&workload(3)).expect("pairs up");
        let mut ops = history.ops().to_vec();
        let victim = ops
            .iter()
            .position(|op| op.f == Func::Read && op.ret.is_some())
            .expect("some read");
        ops[victim].outcome = Outcome::Ok(Value::Int(99));
        let bad = History::from_operations(Format::Jsonl, ops.clone()).expect("valid");
        let report = check(&bad, ModelKind::RegisterCas).expect("fits");
        assert_eq!(report.verdict, Verdict::NotLinearizable);
        let violation = report.violation.expect("violation");
        assert_eq!(violation.ops, vec![ops[victim].clone()]);
    }

    #[test]
    fn generated_versioned_histories_are_linearizable() {
        let mut indeterminate = 0;
        for seed in 0..20 {
            let history = versioned_history(&workload(seed)).expect("pairs up");
            assert_eq!(history.len(), 400);
            indeterminate += history
                .ops()
                .iter()
                .filter(|op| op.outcome.is_indeterminate())
                .count();
            let report = check(&history, ModelKind::VersionedCas).expect("fits");
            assert_eq!(
                report.verdict,
                Verdict::Linearizable,
                "seed {seed}\n{report}"
            );
        }
        assert!(indeterminate > 50, "{indeterminate}");
    }

    /// The versioned value of a read's result, if any.
    fn seen(op: &crate::Operation) -> Option<(Value, Value)> {
        match &op.outcome {
            Outcome::Ok(result) => {
                Some((result.get("value")?.clone(), result.get("version")?.clone()))
            }
            _ => None,
        }
    }

    #[test]
    fn a_stale_versioned_read_is_caught_with_a_small_core() {
        let mut caught = 0;
        for seed in 0..10 {
            let history = versioned_history(&workload(seed)).expect("pairs up");
            let mut ops = history.ops().to_vec();
            // A read, an earlier read of its key that saw version `old`,
            // and a write of a newer version completed before the read was
            // invoked: seeing `old` again is stale.
            let written = |op: &crate::Operation| match (&op.f, &op.outcome) {
                (Func::Write | Func::Cas, Outcome::Ok(Value::Int(version))) => Some(*version),
                _ => None,
            };
            let found = (0..ops.len()).find_map(|victim| {
                seen(&ops[victim])?;
                let (call, key) = (ops[victim].call, &ops[victim].key);
                let stale = (0..victim).find(|&earlier| {
                    let Some((_, Value::Int(old))) = seen(&ops[earlier]) else {
                        return false;
                    };
                    ops.iter().any(|write| {
                        write.key == *key
                            && write.ret.is_some_and(|ret| ret < call)
                            && written(write).is_some_and(|version| version > old)
                    }) && ops[earlier].key == *key
                })?;
                Some((victim, stale))
            });
            let Some((victim, stale)) = found else {
                continue;
            };
            // Serve the later read from the past.
            ops[victim].outcome = ops[stale].outcome.clone();
            let bad = History::from_operations(Format::Jsonl, ops.clone()).expect("valid");
            let report = check(&bad, ModelKind::VersionedCas).expect("fits");
            assert_eq!(report.verdict, Verdict::NotLinearizable, "seed {seed}");
            let violation = report.violation.expect("violation");
            assert!(violation.ops.contains(&ops[victim]), "seed {seed}");
            assert!(
                violation.ops.len() <= 4,
                "seed {seed}: {} ops",
                violation.ops.len()
            );
            caught += 1;
        }
        assert!(caught >= 5, "{caught}");
    }

    #[test]
    fn a_read_of_an_unwritten_version_is_a_core_of_one() {
        let history = versioned_history(&workload(4)).expect("pairs up");
        let mut ops = history.ops().to_vec();
        let victim = ops
            .iter()
            .position(|op| seen(op).is_some())
            .expect("some read saw a value");
        let Some((value, _)) = seen(&ops[victim]) else {
            unreachable!("found above");
        };
        ops[victim].outcome = Outcome::Ok(Value::Map(vec![
            ("value".into(), value),
            ("version".into(), Value::Int(1 << 40)),
        ]));
        let bad = History::from_operations(Format::Jsonl, ops.clone()).expect("valid");
        let report = check(&bad, ModelKind::VersionedCas).expect("fits");
        assert_eq!(report.verdict, Verdict::NotLinearizable);
        assert_eq!(
            report.violation.expect("violation").ops,
            vec![ops[victim].clone()]
        );
    }

    #[test]
    fn round_trips_through_jsonl() {
        let events = register_events(&workload(5));
        let text: String = events
            .iter()
            .map(|event| crate::jsonl::event_to_line(event) + "\n")
            .collect();
        let parsed = crate::parse_str(&text).expect("parses");
        let direct = history_from_events(events).expect("pairs");
        assert_eq!(parsed.ops(), direct.ops());
        let events = versioned_events(&workload(5));
        let text: String = events
            .iter()
            .map(|event| crate::jsonl::event_to_line(event) + "\n")
            .collect();
        assert!(
            text.contains(r#""value":{"value":"v"#),
            "reads carry versioned values"
        );
        let parsed = crate::parse_str(&text).expect("parses");
        let direct = history_from_events(events).expect("pairs");
        assert_eq!(parsed.ops(), direct.ops());
    }
}
