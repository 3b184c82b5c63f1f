//! The `versioned-cas` model on hand-written histories in our JSONL: what
//! linearizes, what does not, and the core a violation shrinks to.
//!
//! Encoding (one key per history unless a `key` is given): `write` invokes
//! with a string and completes `ok` with the version it got; `cas` invokes
//! with `[expected_version, "value"]` and completes `ok` with the version it
//! wrote, or a bare `fail` when it did not match; `read` completes with
//! `{"value": ..., "version": ...}` or `null` (absent).

use twinnet_check::{
    CheckReport, HistoryErrorKind, ModelKind, Operation, Verdict, check, parse_str,
};

/// One event line: `process`, `type`, `f`, the JSON `value`, `time_ns`.
fn line(process: u64, kind: &str, f: &str, value: &str, time: u64) -> String {
    format!(
        "{{\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"k\",\"value\":{value},\"time_ns\":{time}}}\n"
    )
}

/// An operation invoked at `from` and completed with `kind` at `to`.
fn op(process: u64, f: &str, invoke: &str, kind: &str, result: &str, from: u64, to: u64) -> String {
    line(process, "invoke", f, invoke, from) + &line(process, kind, f, result, to)
}

fn write(process: u64, value: &str, version: u64, from: u64, to: u64) -> String {
    op(
        process,
        "write",
        &format!("\"{value}\""),
        "ok",
        &version.to_string(),
        from,
        to,
    )
}

fn read(process: u64, seen: Option<(&str, u64)>, from: u64, to: u64) -> String {
    let seen = match seen {
        Some((value, version)) => format!("{{\"value\":\"{value}\",\"version\":{version}}}"),
        None => "null".into(),
    };
    op(process, "read", "null", "ok", &seen, from, to)
}

fn cas(
    process: u64,
    expected: u64,
    value: &str,
    version: Option<u64>,
    from: u64,
    to: u64,
) -> String {
    let args = format!("[{expected},\"{value}\"]");
    match version {
        Some(version) => op(process, "cas", &args, "ok", &version.to_string(), from, to),
        None => op(process, "cas", &args, "fail", "null", from, to),
    }
}

/// Events sorted by time (the helpers emit each op's two lines together).
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

fn report(text: &str) -> CheckReport {
    let history = parse_str(text).expect("history parses");
    check(&history, ModelKind::VersionedCas).expect("ops fit the model")
}

fn verdict(parts: &[String]) -> Verdict {
    report(&history(parts)).verdict
}

/// The violation's core: checked alone it must still fail; returned as
/// the core's `f`s in invocation order.
fn core(parts: &[String]) -> Vec<Operation> {
    let report = report(&history(parts));
    assert_eq!(report.verdict, Verdict::NotLinearizable, "{report}");
    assert_eq!(report.model, "versioned-cas");
    let violation = report.violation.as_ref().expect("a violation");
    assert!(violation.minimal, "{report}");
    let core = twinnet_check::History::from_operations(
        twinnet_check::Format::Jsonl,
        violation.ops.clone(),
    )
    .expect("valid");
    let again = check(&core, ModelKind::VersionedCas).expect("fits");
    assert_eq!(again.verdict, Verdict::NotLinearizable);
    violation.ops.clone()
}

#[test]
fn linearizable_histories_pass() {
    let parts = [
        read(9, None, 0, 5),
        write(0, "a", 3, 10, 20),
        // Concurrent with the write of "b": may see either.
        read(1, Some(("a", 3)), 25, 60),
        write(0, "b", 5, 30, 40),
        read(2, Some(("b", 5)), 45, 50),
        cas(0, 5, "c", Some(8), 70, 80),
        cas(1, 5, "d", None, 90, 100),
        read(2, Some(("c", 8)), 110, 120),
        // Versions need not be consecutive, only increasing.
        cas(3, 8, "e", Some(1000), 130, 140),
        read(3, Some(("e", 1000)), 150, 160),
    ];
    assert_eq!(verdict(&parts), Verdict::Linearizable);
}

#[test]
fn results_may_also_be_the_versioned_value() {
    // openraft's response for a write, `{"value": ..., "version": ...}`.
    let text = line(0, "invoke", "write", "\"a\"", 0)
        + &line(0, "ok", "write", r#"{"value":"a","version":3}"#, 1)
        + &read(1, Some(("a", 3)), 2, 3);
    assert_eq!(report(&text).verdict, Verdict::Linearizable);
}

#[test]
fn a_stale_read_fails() {
    // A read after the write of version 5 completed sees version 3; a
    // later one sees 5 again (a lagging replica).
    let parts = [
        write(0, "a", 3, 0, 10),
        write(0, "b", 5, 20, 30),
        read(1, Some(("a", 3)), 40, 50),
        read(1, Some(("b", 5)), 60, 70),
    ];
    let core = core(&parts);
    // The newer write and the stale read: nothing after the write of
    // version 5 can bring version 3 back, whoever wrote it.
    let fs: Vec<&str> = core.iter().map(|op| op.f.name()).collect();
    assert_eq!(fs, ["write", "read"]);
    assert_eq!(core[1].call, 40);
}

#[test]
fn a_lost_write_fails() {
    // The write of "b" was acknowledged with version 5, then never seen:
    // later reads still show version 3, and later writes go on from it.
    let parts = [
        write(0, "a", 3, 0, 10),
        write(1, "b", 5, 20, 30),
        read(2, Some(("a", 3)), 40, 50),
        write(2, "c", 9, 60, 70),
        read(2, Some(("c", 9)), 80, 90),
    ];
    let core = core(&parts);
    assert_eq!(core.len(), 2);
    assert_eq!(core[0].process, 1, "the lost write is in the core");
}

#[test]
fn a_cas_against_an_overwritten_version_fails() {
    let parts = [
        write(0, "a", 3, 0, 10),
        write(0, "b", 5, 20, 30),
        cas(1, 3, "c", Some(8), 40, 50),
    ];
    let core = core(&parts);
    let fs: Vec<&str> = core.iter().map(|op| op.f.name()).collect();
    assert_eq!(fs, ["write", "cas"]);
    // Even concurrent with the write of "b" it cannot succeed: it wrote
    // version 8, so it came after version 5, which it did not expect.
    let concurrent = [
        write(0, "a", 3, 0, 10),
        write(0, "b", 5, 20, 60),
        cas(1, 3, "c", Some(8), 30, 50),
    ];
    assert_eq!(verdict(&concurrent), Verdict::NotLinearizable);
    // With version 4 it may have come first.
    let before = [
        write(0, "a", 3, 0, 10),
        write(0, "b", 5, 20, 60),
        cas(1, 3, "c", Some(4), 30, 50),
    ];
    assert_eq!(verdict(&before), Verdict::Linearizable);
}

#[test]
fn a_bare_cas_fail_is_an_observation() {
    // The version was 3: a cas expecting it cannot have failed to match...
    let parts = [write(0, "a", 3, 0, 10), cas(1, 3, "b", None, 20, 30)];
    assert_eq!(verdict(&parts), Verdict::NotLinearizable);
    // ...unless the fail carries an error: then it did not happen at all.
    let gave_up = history(&parts).replace(
        r#""type":"fail","f":"cas","key":"k","value":null,"#,
        r#""type":"fail","f":"cas","key":"k","value":null,"error":"gave-up","#,
    );
    assert!(gave_up.contains("gave-up"));
    assert_eq!(report(&gave_up).verdict, Verdict::Linearizable);
}

#[test]
fn duplicate_versions_fail() {
    // Two writes cannot both be log index 4, in either order.
    let parts = [write(0, "a", 4, 0, 10), write(1, "b", 4, 0, 10)];
    let core = core(&parts);
    assert_eq!(core.len(), 2);
    let with_cas = [
        write(0, "a", 2, 0, 1),
        write(0, "b", 4, 2, 10),
        cas(1, 2, "c", Some(4), 2, 10),
    ];
    assert_eq!(verdict(&with_cas), Verdict::NotLinearizable);
}

#[test]
fn an_indeterminate_write_seen_later_binds_its_version() {
    let unanswered =
        line(1, "invoke", "write", "\"b\"", 15) + &line(1, "info", "write", "null", 25);
    let mut parts = vec![
        write(0, "a", 3, 0, 10),
        unanswered.clone(),
        read(2, Some(("b", 7)), 30, 40),
        // A cas on the version the read revealed.
        cas(2, 7, "c", Some(9), 50, 60),
        read(2, Some(("c", 9)), 70, 80),
    ];
    assert_eq!(verdict(&parts), Verdict::Linearizable);
    // Its version is above the one it replaced: not 2.
    parts[2] = read(2, Some(("b", 2)), 30, 40);
    parts[3] = cas(2, 2, "c", Some(9), 50, 60);
    assert_eq!(verdict(&parts), Verdict::NotLinearizable);
    // A cas may match it without any read: its version may be anything above 3.
    let blind = [
        write(0, "a", 3, 0, 10),
        unanswered,
        cas(2, 11, "c", Some(12), 30, 40),
        read(2, Some(("c", 12)), 50, 60),
    ];
    assert_eq!(verdict(&blind), Verdict::Linearizable);
}

#[test]
fn an_indeterminate_write_never_seen_may_not_have_happened() {
    let parts = [
        write(0, "a", 3, 0, 10),
        line(1, "invoke", "write", "\"b\"", 15) + &line(1, "info", "write", "null", 25),
        read(2, Some(("a", 3)), 30, 40),
        write(2, "c", 5, 50, 60),
        read(2, Some(("c", 5)), 70, 80),
        // Never answered at all.
        line(3, "invoke", "write", "\"d\"", 90),
    ];
    assert_eq!(verdict(&parts), Verdict::Linearizable);
}

#[test]
fn an_indeterminate_cas_writes_only_if_it_matches() {
    let unanswered = |expected: u64| {
        line(1, "invoke", "cas", &format!("[{expected},\"b\"]"), 15)
            + &line(1, "info", "cas", "null", 25)
    };
    let parts = [
        write(0, "a", 3, 0, 10),
        unanswered(3),
        read(2, Some(("b", 6)), 30, 40),
    ];
    assert_eq!(verdict(&parts), Verdict::Linearizable);
    let parts = [
        write(0, "a", 3, 0, 10),
        unanswered(4),
        read(2, Some(("b", 6)), 30, 40),
    ];
    assert_eq!(verdict(&parts), Verdict::NotLinearizable);
}

#[test]
fn versions_keep_increasing_after_an_unknown_one() {
    // The read revealed the unanswered write's version, 8. The write of
    // "c" overlaps everything but got version 6, so it came before
    // version 8 and the later read cannot see it.
    let parts = [
        write(0, "a", 3, 0, 10),
        write(3, "c", 6, 12, 100),
        line(1, "invoke", "write", "\"b\"", 15) + &line(1, "info", "write", "null", 25),
        read(2, Some(("b", 8)), 30, 40),
        read(2, Some(("c", 6)), 50, 60),
    ];
    assert_eq!(verdict(&parts), Verdict::NotLinearizable);
}

#[test]
fn keys_are_checked_one_by_one() {
    // The same version on two keys is not caught (documented): each key is
    // its own object.
    let text = write(0, "a", 4, 0, 10)
        + &write(0, "b", 4, 20, 30).replace("\"key\":\"k\"", "\"key\":\"j\"");
    let report = report(&text);
    assert_eq!(report.verdict, Verdict::Linearizable);
    assert_eq!(report.keys.len(), 2);
}

fn error_of(text: &str) -> HistoryErrorKind {
    let history = parse_str(text).expect("parses: the format is fine");
    check(&history, ModelKind::VersionedCas)
        .expect_err("does not fit the model")
        .kind
}

#[test]
fn malformed_values_are_typed_errors() {
    let bad_value = |text: String| {
        let kind = error_of(&text);
        assert!(
            matches!(kind, HistoryErrorKind::BadValue { .. }),
            "{kind}: {text}"
        );
        kind.to_string()
    };
    let read_result = |result: &str| op(0, "read", "null", "ok", result, 0, 1);
    assert!(
        bad_value(read_result(r#"{"value":"a"}"#))
            .contains(r#"{"value": "<string>", "version": <integer>}"#)
    );
    bad_value(read_result(r#"{"value":"a","version":-1}"#));
    bad_value(read_result(r#"{"value":"a","version":1,"extra":0}"#));
    bad_value(read_result(r#"{"value":1,"version":1}"#));
    bad_value(read_result(r#"{"value":"a","version":1.5}"#));
    bad_value(read_result(
        r#"{"value":"a","version":18446744073709551615}"#,
    ));
    bad_value(read_result(r#""a""#));
    bad_value(op(0, "write", "3", "ok", "4", 0, 1));
    bad_value(op(0, "write", "\"a\"", "ok", "null", 0, 1));
    bad_value(op(0, "write", "\"a\"", "ok", "\"4\"", 0, 1));
    let mismatch = bad_value(op(
        0,
        "write",
        "\"a\"",
        "ok",
        r#"{"value":"z","version":4}"#,
        0,
        1,
    ));
    assert!(mismatch.contains("not the value written"), "{mismatch}");
    bad_value(op(0, "cas", "[1]", "ok", "4", 0, 1));
    bad_value(op(0, "cas", r#"["1","a"]"#, "ok", "4", 0, 1));
    bad_value(op(0, "cas", r#"[1,2]"#, "fail", "null", 0, 1));
    bad_value(op(0, "cas", r#"[-1,"a"]"#, "info", "null", 0, 1));
    // Operations of other models, or of none.
    for f in ["get", "append", "enqueue"] {
        let kind = error_of(&op(0, f, "null", "ok", "null", 0, 1));
        assert!(
            matches!(&kind, HistoryErrorKind::WrongModel { f: got, model: "versioned-cas" } if got.name() == f),
            "{kind}"
        );
    }
}
