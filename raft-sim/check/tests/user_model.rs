//! A model defined outside the crate, through the public [`Model`] trait:
//! a FIFO queue with `enqueue` (invoke value: an integer) and `dequeue`
//! (ok value: the integer taken, or `null` when the queue was empty).
//! Checked with `check_model`, it gets what the built-in models get: the
//! per-key split, the step budgets and `Unknown`, and shrinking.

use std::collections::VecDeque;

use twinnet_check::{
    CheckOptions, CheckReport, Func, HistoryError, HistoryErrorKind, Model, Operation, Outcome,
    Prepared, Value, Verdict, check_model, parse_str,
};

/// One queue per key, initially empty.
struct FifoQueue;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum QueueOp {
    Enqueue(i64),
    /// A dequeue that returned this (`None`: the queue was empty).
    Dequeue(Option<i64>),
    /// A dequeue whose result is unknown: takes the head, if any.
    DequeueMaybe,
}

fn int(op: &Operation, value: &Value) -> Result<i64, HistoryError> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(HistoryError::bad_value(
            op,
            format!("expected an integer, got {other}"),
        )),
    }
}

impl Model for FifoQueue {
    type State = VecDeque<i64>;
    type Op = QueueOp;
    type Facts = ();
    const NAME: &'static str = "fifo-queue";

    fn init() -> VecDeque<i64> {
        VecDeque::new()
    }

    fn step(queue: &VecDeque<i64>, op: &QueueOp) -> Option<VecDeque<i64>> {
        let mut next = queue.clone();
        match op {
            QueueOp::Enqueue(n) => next.push_back(*n),
            QueueOp::Dequeue(seen) => {
                if next.pop_front() != *seen {
                    return None;
                }
            }
            QueueOp::DequeueMaybe => {
                next.pop_front();
            }
        }
        Some(next)
    }

    fn prepare(op: &Operation) -> Result<Prepared<QueueOp>, HistoryError> {
        // Built-in names (`read`, ...) are variants of `Func`; ours arrive
        // as `Func::Other`, so match on the name.
        Ok(match (op.f.name(), &op.outcome) {
            ("enqueue", Outcome::Fail(_)) => Prepared::Skip,
            ("enqueue", _) => Prepared::Check(QueueOp::Enqueue(int(op, &op.value)?)),
            ("dequeue", Outcome::Ok(Value::Nil)) => Prepared::Check(QueueOp::Dequeue(None)),
            ("dequeue", Outcome::Ok(seen)) => {
                Prepared::Check(QueueOp::Dequeue(Some(int(op, seen)?)))
            }
            ("dequeue", Outcome::Fail(_)) => Prepared::Skip,
            ("dequeue", Outcome::Info | Outcome::Pending) => Prepared::Check(QueueOp::DequeueMaybe),
            _ => return Err(HistoryError::wrong_model(op, Self::NAME)),
        })
    }

    fn is_total(op: &QueueOp) -> bool {
        !matches!(op, QueueOp::Dequeue(_))
    }

    /// A dequeue is not a pure read: weakened, it still takes the head.
    fn weaken(op: &QueueOp) -> Option<QueueOp> {
        match op {
            QueueOp::Enqueue(n) => Some(QueueOp::Enqueue(*n)),
            QueueOp::Dequeue(None) => None,
            QueueOp::Dequeue(Some(_)) | QueueOp::DequeueMaybe => Some(QueueOp::DequeueMaybe),
        }
    }

    fn state_bytes(queue: &VecDeque<i64>) -> usize {
        size_of::<VecDeque<i64>>() + queue.capacity() * size_of::<i64>()
    }
}

/// `enqueue n` or `dequeue -> result` on queue `key`, over [from, to].
fn op(process: u64, key: &str, f: &str, value: &str, result: &str, from: u64, to: u64) -> String {
    let event = |kind: &str, value: &str, time: u64| {
        format!(
            "{{\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{value},\"time_ns\":{time}}}\n"
        )
    };
    event("invoke", value, from) + &event("ok", result, to)
}

fn enqueue(process: u64, key: &str, n: i64, from: u64, to: u64) -> String {
    op(process, key, "enqueue", &n.to_string(), "null", from, to)
}

fn dequeue(process: u64, key: &str, seen: Option<i64>, from: u64, to: u64) -> String {
    let seen = seen.map_or("null".into(), |n| n.to_string());
    op(process, key, "dequeue", "null", &seen, from, to)
}

/// Lines sorted by time (each helper emits an invoke and a completion).
fn history(parts: &[String]) -> String {
    let mut lines: Vec<(u64, String)> = parts
        .iter()
        .flat_map(|part| part.lines())
        .map(|text| {
            let time = text
                .rsplit_once("\"time_ns\":")
                .and_then(|(_, rest)| rest.trim_end_matches('}').parse().ok())
                .unwrap_or(0);
            (time, format!("{text}\n"))
        })
        .collect();
    lines.sort_by_key(|(time, _)| *time);
    lines.into_iter().map(|(_, text)| text).collect()
}

fn check(parts: &[String], options: &CheckOptions) -> CheckReport {
    let history = parse_str(&history(parts)).expect("parses");
    check_model::<FifoQueue>(&history, options).expect("fits the queue")
}

#[test]
fn a_linearizable_queue_history_passes() {
    let parts = [
        // Concurrent enqueues: either order.
        enqueue(0, "q", 1, 0, 30),
        enqueue(1, "q", 2, 10, 20),
        dequeue(2, "q", Some(2), 40, 50),
        dequeue(2, "q", Some(1), 60, 70),
        dequeue(2, "q", None, 80, 90),
    ];
    let report = check(&parts, &CheckOptions::default());
    assert_eq!(report.verdict, Verdict::Linearizable, "{report}");
    assert_eq!(report.model, "fifo-queue");
    assert!(report.to_string().contains("model fifo-queue"), "{report}");
}

#[test]
fn an_out_of_order_dequeue_fails_with_a_shrunk_core() {
    let parts = [
        // Noise: a dequeue of an empty queue (no effect), and ops after.
        dequeue(1, "q", None, 0, 5),
        enqueue(0, "q", 1, 10, 20),
        enqueue(0, "q", 2, 30, 40),
        // 1 went in first, and is still there.
        dequeue(1, "q", Some(2), 50, 60),
        enqueue(0, "q", 3, 70, 80),
        dequeue(1, "q", Some(1), 90, 100),
    ];
    let report = check(&parts, &CheckOptions::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let violation = report.violation.expect("a violation");
    assert!(violation.minimal);
    assert_eq!(violation.key_ops, 6);
    // The enqueue of 1 and the dequeue of 2: 1 is at the head whatever
    // else happened (the enqueue of 2 may as well have been late). A
    // weakened dequeue still takes the head, so a dequeue of 7 before it
    // would pull an enqueue of 7 into the core, to keep it off the 1.
    let core: Vec<(String, String)> = violation
        .ops
        .iter()
        .map(|op| (op.f.name().to_string(), op.value.to_string()))
        .collect();
    assert_eq!(
        core,
        [
            ("enqueue".into(), "1".into()),
            ("dequeue".into(), "nil".into())
        ]
    );
    assert_eq!(violation.ops[1].outcome, Outcome::Ok(Value::Int(2)));
    assert!(matches!(violation.ops[0].f, Func::Other(_)));
}

#[test]
fn keys_are_separate_queues() {
    let parts = [
        // q1 is fine.
        enqueue(0, "q1", 1, 0, 10),
        enqueue(0, "q1", 2, 20, 30),
        dequeue(1, "q1", Some(1), 40, 50),
        // q2 returns an item twice.
        enqueue(2, "q2", 5, 0, 10),
        dequeue(3, "q2", Some(5), 20, 30),
        dequeue(3, "q2", Some(5), 40, 50),
        // Dequeuing from q2 does not empty q1.
        dequeue(1, "q1", Some(2), 60, 70),
    ];
    let all_keys = CheckOptions {
        stop_at_first_violation: false,
        ..CheckOptions::default()
    };
    let report = check(&parts, &all_keys);
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    let verdicts: Vec<(Option<&str>, Verdict)> = report
        .keys
        .iter()
        .map(|key| (key.key.as_deref(), key.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            (Some("q1"), Verdict::Linearizable),
            (Some("q2"), Verdict::NotLinearizable)
        ]
    );
    let violation = report.violation.expect("a violation");
    assert_eq!(violation.key.as_deref(), Some("q2"));
    assert!(
        violation
            .ops
            .iter()
            .all(|op| op.key.as_deref() == Some("q2"))
    );
    // Both dequeues of 5: one enqueue of 5, strong or weakened (at most
    // once), cannot feed two.
    let fs: Vec<&str> = violation.ops.iter().map(|op| op.f.name()).collect();
    assert_eq!(fs, ["dequeue", "dequeue"]);
}

#[test]
fn unanswered_operations_may_or_may_not_have_happened() {
    let unanswered_dequeue = "{\"process\":9,\"type\":\"invoke\",\"f\":\"dequeue\",\"key\":\"q\",\"value\":null,\"time_ns\":15}\n".to_string();
    let parts = [
        enqueue(0, "q", 1, 0, 10),
        enqueue(0, "q", 2, 11, 12),
        unanswered_dequeue.clone(),
        // The unanswered dequeue took 1.
        dequeue(1, "q", Some(2), 20, 30),
    ];
    assert_eq!(
        check(&parts, &CheckOptions::default()).verdict,
        Verdict::Linearizable
    );
    // Without it, 1 would still be at the head.
    assert_eq!(
        check(
            &parts[..2]
                .iter()
                .chain(&parts[3..])
                .cloned()
                .collect::<Vec<_>>(),
            &CheckOptions::default()
        )
        .verdict,
        Verdict::NotLinearizable
    );
}

#[test]
fn budgets_apply_and_unknown_is_not_linearizable() {
    // Concurrent enqueues and a dequeue of a value never enqueued: the
    // search must rule out every order before saying no (with ten
    // enqueues, some ten million queue states: beyond the default budget).
    let mut parts: Vec<String> = (0..6).map(|n| enqueue(n, "q", n as i64, 0, 100)).collect();
    parts.push(dequeue(99, "q", Some(42), 0, 100));
    let tight = CheckOptions {
        max_steps_per_key: 50,
        ..CheckOptions::default()
    };
    let report = check(&parts, &tight);
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.to_string().contains("not a proof"), "{report}");
    let report = check(&parts, &CheckOptions::default());
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert_eq!(report.violation.expect("a violation").ops.len(), 1);
}

#[test]
fn operations_outside_the_model_are_its_typed_errors() {
    let error = |parts: &[String]| {
        let history = parse_str(&history(parts)).expect("parses");
        check_model::<FifoQueue>(&history, &CheckOptions::default())
            .expect_err("does not fit")
            .kind
    };
    let kind = error(&[op(0, "q", "read", "null", "1", 0, 1)]);
    assert!(
        matches!(
            &kind,
            HistoryErrorKind::WrongModel {
                f: Func::Read,
                model: "fifo-queue"
            }
        ),
        "{kind}"
    );
    let kind = error(&[op(0, "q", "enqueue", "\"x\"", "null", 0, 1)]);
    assert!(matches!(kind, HistoryErrorKind::BadValue { .. }), "{kind}");
    // And the built-in models refuse the queue's operations.
    let history = parse_str(&history(&[enqueue(0, "q", 1, 0, 1)])).expect("parses");
    for model in twinnet_check::ModelKind::ALL {
        let err = twinnet_check::check(&history, model).expect_err("not a built-in op");
        assert!(
            matches!(err.kind, HistoryErrorKind::WrongModel { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("operation enqueue is not part of model"),
            "{err}"
        );
    }
}
