//! Register histories that are linearizable by construction, for tests
//! and benchmarks: each op gets an interval [invoke, return] and a
//! linearization point strictly inside it; the ops are applied to a
//! sequential register in the order of those points, and the results
//! recorded are what the register returned. Indeterminate ops (`info`)
//! either took effect at their point or never did.

use super::history::{
    Event, EventKind, Format, Func, History, HistoryBuilder, HistoryError, Value,
};

/// Shape of a generated register workload.
#[derive(Clone, Copy, Debug)]
pub struct RegisterWorkload {
    pub ops: usize,
    pub processes: u64,
    /// Keys `k0 .. k{keys-1}`, each its own register.
    pub keys: u32,
    /// Written values and cas arguments are drawn from `0..values`.
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

/// The events of a linearizable register history, sorted by time.
pub fn register_events(workload: &RegisterWorkload) -> Vec<Event> {
    assert!(workload.ops <= MAX_GENERATED_OPS, "workload too large");
    assert!((1..=MAX_GENERATED_PROCESSES).contains(&workload.processes));
    assert!(workload.keys > 0 && (1..=MAX_GENERATED_VALUES).contains(&workload.values));
    let mut rng = Rng(workload.seed);
    let planned = plan(workload, &mut rng);
    let mut by_point: Vec<usize> = (0..planned.len()).collect();
    // Points may tie across processes; both intervals then strictly
    // contain the point, so either order is a valid linearization.
    by_point.sort_by_key(|&index| (planned[index].point, index));
    let mut registers: Vec<Option<i64>> = vec![None; workload.keys as usize];
    let mut events = Vec::with_capacity(planned.len() * 2);
    for index in by_point {
        let op = &planned[index];
        let took_effect = !op.indeterminate || rng.below(2) == 0;
        let (kind, value) = apply(op, &mut registers[op.key as usize], took_effect);
        let kind = if op.indeterminate {
            EventKind::Info
        } else {
            kind
        };
        let event = |kind, value, time| Event {
            process: op.process,
            kind,
            f: op.f,
            key: Some(format!("k{}", op.key)),
            value,
            time,
            error: None,
            line: 0,
        };
        events.push(event(EventKind::Invoke, op.value.clone(), op.invoke));
        events.push(event(kind, value, op.ret));
    }
    // A process's next invoke is after its last return, so sorting by time
    // keeps each process's events in order.
    events.sort_by_key(|event| (event.time, event.process));
    for (line, event) in events.iter_mut().enumerate() {
        event.line = line as u64 + 1;
    }
    events
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::Outcome;
    use crate::check::{ModelKind, Verdict, check};

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
    fn round_trips_through_jsonl() {
        let events = register_events(&workload(5));
        let text: String = events
            .iter()
            .map(|event| crate::check::jsonl::event_to_line(event) + "\n")
            .collect();
        let parsed = crate::check::parse_str(&text).expect("parses");
        let direct = history_from_events(events).expect("pairs");
        assert_eq!(parsed.ops(), direct.ops());
    }
}
