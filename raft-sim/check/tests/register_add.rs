//! The register model's `add`: not idempotent, so an add applied twice (a
//! replayed log, a retried request) is a violation the next read shows,
//! while an indeterminate add may count once or not at all.

use twinnet_check::{ModelKind, Verdict, check, parse_str};

/// One operation on key `k`: invoked at `from`, completed `kind` at `to`.
fn op(process: u64, f: &str, invoke: &str, kind: &str, result: &str, from: u64, to: u64) -> String {
    let line = |kind: &str, value: &str, time: u64| {
        format!(
            "{{\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"k\",\"value\":{value},\"time_ns\":{time}}}\n"
        )
    };
    line("invoke", invoke, from) + &line(kind, result, to)
}

fn verdict(history: &str) -> Verdict {
    let parsed = parse_str(history).expect("well-formed history");
    check(&parsed, ModelKind::RegisterCas)
        .expect("fits the model")
        .verdict
}

#[test]
fn adds_sum_and_an_absent_register_counts_as_zero() {
    let history = op(0, "add", "5", "ok", "5", 0, 10)
        + &op(0, "add", "2", "ok", "2", 20, 30)
        + &op(1, "read", "null", "ok", "7", 40, 50);
    assert_eq!(verdict(&history), Verdict::Linearizable);
}

#[test]
fn an_add_applied_twice_is_caught() {
    let history = op(0, "write", "1000", "ok", "1000", 0, 10)
        + &op(0, "add", "3", "ok", "3", 20, 30)
        + &op(1, "read", "null", "ok", "1006", 40, 50);
    assert_eq!(verdict(&history), Verdict::NotLinearizable);
}

#[test]
fn an_indeterminate_add_counts_once_or_not_at_all() {
    let base =
        op(0, "write", "1000", "ok", "1000", 0, 10) + &op(1, "add", "3", "info", "3", 20, 30);
    for (seen, expected) in [
        ("1000", Verdict::Linearizable),
        ("1003", Verdict::Linearizable),
        ("1006", Verdict::NotLinearizable),
    ] {
        let history = base.clone() + &op(2, "read", "null", "ok", seen, 40, 50);
        assert_eq!(verdict(&history), expected, "read {seen}");
    }
}

#[test]
fn a_failed_add_did_not_happen() {
    let history = op(0, "write", "1000", "ok", "1000", 0, 10)
        + &op(0, "add", "3", "fail", "3", 20, 30)
        + &op(1, "read", "null", "ok", "1003", 40, 50);
    assert_eq!(verdict(&history), Verdict::NotLinearizable);
}
