//! The counter's own data model, `fetch-add`, checked by twinnet-check
//! through its public `Model` trait: `add` (invoke value: the delta; ok
//! value: the total after it) and `read` (ok value: the total, `null` for
//! a key never written, which counts as 0). The sweep uses it with
//! `--model custom` ([`raft_sim::workload::Model::Custom`]).

use raft_sim::workload::Op;
use serde_json::json;
use twinnet_check::{HistoryError, Model, Operation, Outcome, Prepared, Value};

/// One counter per key, initially 0.
pub struct FetchAdd;

/// What one history operation says about a counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FetchAddOp {
    /// An add of `delta` that answered the total `after`.
    Add { delta: i64, after: i64 },
    /// An add whose answer was lost: it may or may not have happened.
    AddMaybe { delta: i64 },
    /// A read that saw this total.
    Read(i64),
}

fn int(op: &Operation, value: &Value) -> Result<i64, HistoryError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Nil => Ok(0),
        other => Err(HistoryError::bad_value(
            op,
            format!("expected an integer, got {other}"),
        )),
    }
}

impl Model for FetchAdd {
    type State = i64;
    type Op = FetchAddOp;
    type Facts = ();
    const NAME: &'static str = "fetch-add";

    fn init() -> i64 {
        0
    }

    fn step(total: &i64, op: &FetchAddOp) -> Option<i64> {
        match *op {
            FetchAddOp::Add { delta, after } => {
                let next = total.checked_add(delta)?;
                (next == after).then_some(next)
            }
            FetchAddOp::AddMaybe { delta } => total.checked_add(delta),
            FetchAddOp::Read(seen) => (seen == *total).then_some(*total),
        }
    }

    fn prepare(op: &Operation) -> Result<Prepared<FetchAddOp>, HistoryError> {
        Ok(match (op.f.name(), &op.outcome) {
            (_, Outcome::Fail(_)) => Prepared::Skip,
            ("add", Outcome::Ok(after)) => Prepared::Check(FetchAddOp::Add {
                delta: int(op, &op.value)?,
                after: int(op, after)?,
            }),
            ("add", Outcome::Info | Outcome::Pending) => Prepared::Check(FetchAddOp::AddMaybe {
                delta: int(op, &op.value)?,
            }),
            ("read", Outcome::Ok(seen)) => Prepared::Check(FetchAddOp::Read(int(op, seen)?)),
            ("read", Outcome::Info | Outcome::Pending) => Prepared::Skip,
            _ => return Err(HistoryError::wrong_model(op, Self::NAME)),
        })
    }

    fn is_total(op: &FetchAddOp) -> bool {
        matches!(op, FetchAddOp::AddMaybe { .. })
    }

    /// Forgetting what an add answered keeps its effect.
    fn weaken(op: &FetchAddOp) -> Option<FetchAddOp> {
        match *op {
            FetchAddOp::Add { delta, .. } | FetchAddOp::AddMaybe { delta } => {
                Some(FetchAddOp::AddMaybe { delta })
            }
            FetchAddOp::Read(_) => None,
        }
    }
}

/// The next op of the workload: a read 40 % of the time, else an add of
/// 1 to 5 (drawn from the simulation's seeded RNG).
pub fn next_op(key: String, roll: u32) -> Op {
    if roll < 40 {
        return Op {
            f: "read",
            key,
            value: serde_json::Value::Null,
        };
    }
    use madsim_net::rand::Rng;
    let delta: i64 = madsim_net::rand::thread_rng().gen_range(1..=5);
    Op {
        f: "add",
        key,
        value: json!(delta),
    }
}

#[cfg(test)]
mod tests {
    use twinnet_check::{CheckOptions, Verdict, check_model, parse_str};

    use super::*;

    fn event(process: u64, kind: &str, f: &str, value: &str, time: u64) -> String {
        format!(
            "{{\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"c\",\"value\":{value},\"time_ns\":{time}}}\n"
        )
    }

    fn verdict(lines: &[String]) -> Verdict {
        let history = parse_str(&lines.concat()).expect("parses");
        check_model::<FetchAdd>(&history, &CheckOptions::default())
            .expect("fits the model")
            .verdict
    }

    #[test]
    fn adds_and_reads_that_agree_are_linearizable() {
        let lines = [
            event(0, "invoke", "add", "2", 0),
            event(0, "ok", "add", "2", 10),
            event(1, "invoke", "add", "3", 5),
            event(1, "ok", "add", "5", 15),
            event(2, "invoke", "read", "null", 20),
            event(2, "ok", "read", "5", 30),
        ];
        assert_eq!(verdict(&lines), Verdict::Linearizable);
    }

    #[test]
    fn a_lost_add_and_a_double_apply_are_caught() {
        // Acknowledged add of 2, then a read that does not see it.
        let lost = [
            event(0, "invoke", "add", "2", 0),
            event(0, "ok", "add", "2", 10),
            event(1, "invoke", "read", "null", 20),
            event(1, "ok", "read", "0", 30),
        ];
        assert_eq!(verdict(&lost), Verdict::NotLinearizable);
        // An add of 1 that answered 2: applied twice.
        let twice = [
            event(0, "invoke", "add", "1", 0),
            event(0, "ok", "add", "2", 10),
        ];
        assert_eq!(verdict(&twice), Verdict::NotLinearizable);
    }

    #[test]
    fn an_add_whose_answer_was_lost_may_or_may_not_count() {
        for seen in ["0", "4"] {
            let lines = [
                event(0, "invoke", "add", "4", 0),
                event(0, "info", "add", "4", 10),
                event(1, "invoke", "read", "null", 20),
                event(1, "ok", "read", seen, 30),
            ];
            assert_eq!(verdict(&lines), Verdict::Linearizable, "read {seen}");
        }
    }
}
