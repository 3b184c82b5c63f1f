//! Our history format: one JSON object per line, Jepsen vocabulary.
//!
//! `{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time_ns":123}`
//! then `{"process":3,"type":"ok","f":"cas","key":"k1","value":[1,2],"time_ns":130}`.
//! `key` may be omitted (a single register) and a completion may omit it;
//! an `error` field on a completion is kept (a `fail` with one did not
//! happen); unknown fields (e.g. `node`) are ignored.
//!
//! `f` is any name of at most [`MAX_FUNC_NAME_BYTES`](super::history::MAX_FUNC_NAME_BYTES)
//! bytes (the built-in models refuse the names they do not know; a
//! user-defined model reads its own). A `value` may be `null`, an integer,
//! a string, an array or an object (kept as [`Value::Map`]); nesting is
//! bounded. What each model expects in `value`:
//!
//! - register-cas: `read` (invoke `null`; ok `null` or an integer),
//!   `write` (an integer), `cas` (`[from, to]`; a bare `fail`: the value
//!   was not `from`).
//! - kv-append: `get` (ok: the string, `""` when absent), `put`, `append`
//!   (a string).
//! - versioned-cas (see [`VersionedCas`](super::model::VersionedCas)):
//!
//! ```
//! # use twinnet_check::{ModelKind, Verdict, check, parse_str};
//! let history = r#"
//! {"process":0,"type":"invoke","f":"write","key":"k","value":"a","time_ns":0}
//! {"process":0,"type":"ok","f":"write","key":"k","value":7,"time_ns":9}
//! {"process":1,"type":"invoke","f":"read","key":"k","value":null,"time_ns":10}
//! {"process":1,"type":"ok","f":"read","key":"k","value":{"value":"a","version":7},"time_ns":19}
//! {"process":2,"type":"invoke","f":"cas","key":"k","value":[7,"b"],"time_ns":20}
//! {"process":2,"type":"ok","f":"cas","key":"k","value":12,"time_ns":29}
//! {"process":3,"type":"invoke","f":"cas","key":"k","value":[7,"c"],"time_ns":30}
//! {"process":3,"type":"fail","f":"cas","key":"k","value":null,"time_ns":39}
//! {"process":4,"type":"invoke","f":"write","key":"k","value":"d","time_ns":40}
//! {"process":4,"type":"info","f":"write","key":"k","value":null,"time_ns":49}
//! {"process":5,"type":"invoke","f":"read","key":"k","value":null,"time_ns":50}
//! {"process":5,"type":"ok","f":"read","key":"k","value":{"value":"d","version":15},"time_ns":59}
//! "#;
//! let report = check(&parse_str(history)?, ModelKind::VersionedCas)?;
//! assert_eq!(report.verdict, Verdict::Linearizable);
//! # Ok::<(), twinnet_check::HistoryError>(())
//! ```
//!
//! (The write of "a" got log index 7, the cas index 12; the cas expecting
//! 7 afterwards found 12 and did not match; the unanswered write of "d"
//! took effect, as the last read shows, with index 15.)

use serde::Deserialize;

use super::history::{Event, EventKind, Func, HistoryError, HistoryErrorKind, Value};

/// Deepest nesting of a `value` we convert (a cas pair is depth 2).
const MAX_VALUE_DEPTH: u32 = 8;
/// Longest text kept for a value no model reads.
const MAX_OTHER_CHARS: usize = 80;

#[derive(Deserialize)]
struct JsonEvent {
    process: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    f: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: serde_json::Value,
    #[serde(default)]
    error: Option<serde_json::Value>,
    time_ns: Option<u64>,
}

/// Parses one line of our JSONL.
pub(crate) fn parse_line(line: &str, line_no: u64) -> Result<Event, HistoryError> {
    let raw: JsonEvent = serde_json::from_str(line).map_err(|err| syntax(line_no, &err))?;
    let missing = |field| HistoryError::new(line_no, HistoryErrorKind::MissingField(field));
    let process = raw.process.ok_or_else(|| missing("process"))?;
    let kind_name = raw.kind.ok_or_else(|| missing("type"))?;
    let f_name = raw.f.ok_or_else(|| missing("f"))?;
    let time = raw.time_ns.ok_or_else(|| missing("time_ns"))?;
    let kind = EventKind::from_name(&kind_name)
        .ok_or_else(|| HistoryError::new(line_no, HistoryErrorKind::UnknownType(kind_name)))?;
    let f = Func::parse_at(&f_name, line_no)?;
    let value = convert(&raw.value, 0).map_err(|why| {
        let f = f.clone();
        HistoryError::new(line_no, HistoryErrorKind::BadValue { f, why })
    })?;
    let error = raw
        .error
        .filter(|error| !error.is_null())
        .map(|error| match error {
            serde_json::Value::String(text) => text.chars().take(MAX_OTHER_CHARS).collect(),
            other => other.to_string().chars().take(MAX_OTHER_CHARS).collect(),
        });
    Ok(Event {
        process,
        kind,
        f,
        key: raw.key,
        value,
        time,
        error,
        line: line_no,
    })
}

/// serde_json's message without its "at line 1 column N" (our line is the
/// file's, not the JSON's), and truncation said plainly.
fn syntax(line_no: u64, err: &serde_json::Error) -> HistoryError {
    let mut message = err.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let text = match err.classify() {
        serde_json::error::Category::Eof => {
            format!("truncated JSON ({message}, column {})", err.column())
        }
        _ => format!("bad JSON: {message} (column {})", err.column()),
    };
    HistoryError::new(line_no, HistoryErrorKind::Syntax(text))
}

fn convert(value: &serde_json::Value, depth: u32) -> Result<Value, String> {
    if depth >= MAX_VALUE_DEPTH {
        return Err(format!("nested deeper than {MAX_VALUE_DEPTH}"));
    }
    Ok(match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(n) => Value::Int(n),
            None => Value::Other(n.to_string()),
        },
        serde_json::Value::Array(items) => {
            let items: Result<Vec<Value>, String> =
                items.iter().map(|item| convert(item, depth + 1)).collect();
            Value::List(items?)
        }
        serde_json::Value::Object(entries) => {
            let entries: Result<Vec<(String, Value)>, String> = entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), convert(item, depth + 1)?)))
                .collect();
            Value::Map(entries?)
        }
        serde_json::Value::Bool(_) => {
            Value::Other(value.to_string().chars().take(MAX_OTHER_CHARS).collect())
        }
    })
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil => serde_json::Value::Null,
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Str(s) | Value::Other(s) => serde_json::Value::from(s.as_str()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), to_json(value)))
                .collect(),
        ),
    }
}

/// One event as a line of our JSONL (no newline), fields in the
/// documented order, e.g. for a workload writing its history.
pub fn event_to_line(event: &Event) -> String {
    let text = |value: serde_json::Value| value.to_string();
    let key = match &event.key {
        Some(key) => format!(",\"key\":{}", text(key.as_str().into())),
        None => String::new(),
    };
    let error = match &event.error {
        Some(error) => format!(",\"error\":{}", text(error.as_str().into())),
        None => String::new(),
    };
    format!(
        "{{\"process\":{},\"type\":\"{}\",\"f\":\"{}\"{key},\"value\":{}{error},\"time_ns\":{}}}",
        event.process,
        event.kind.name(),
        event.f.name(),
        text(to_json(&event.value)),
        event.time
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::BadFuncName;

    #[test]
    fn round_trips_an_event() {
        let event = Event {
            process: 3,
            kind: EventKind::Invoke,
            f: Func::Cas,
            key: Some("k1".into()),
            value: Value::List(vec![Value::Int(1), Value::Int(2)]),
            time: 123,
            error: None,
            line: 7,
        };
        let line = event_to_line(&event);
        assert_eq!(
            line,
            r#"{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time_ns":123}"#
        );
        assert_eq!(parse_line(&line, 7).expect("parses"), event);
        let gave_up = Event {
            kind: EventKind::Fail,
            error: Some("gave-up".into()),
            ..event
        };
        let line = event_to_line(&gave_up);
        assert!(line.contains(r#""error":"gave-up""#), "{line}");
        assert_eq!(parse_line(&line, 7).expect("parses"), gave_up);
    }

    #[test]
    fn missing_fields_and_unknown_functions_are_named() {
        let err = parse_line(r#"{"process":1,"type":"ok","f":"read"}"#, 4).expect_err("no time");
        assert_eq!(
            err,
            HistoryError::new(4, HistoryErrorKind::MissingField("time_ns"))
        );
        let line = r#"{"process":1,"type":"ok","f":"delete","time_ns":1}"#;
        let event = parse_line(line, 5).expect("any short name is an operation");
        assert_eq!(event.f.name(), "delete");
        assert!(matches!(event.f, Func::Other(_)));
        let long = "x".repeat(crate::history::MAX_FUNC_NAME_BYTES + 1);
        let line = format!(r#"{{"process":1,"type":"ok","f":"{long}","time_ns":1}}"#);
        let err = parse_line(&line, 5).expect_err("name too long");
        assert!(matches!(
            err.kind,
            HistoryErrorKind::BadFunction {
                why: BadFuncName::TooLong { len: 65, max: 64 },
                ..
            }
        ));
        for bad in ["", "two words", "tab\\there"] {
            let line = format!(r#"{{"process":1,"type":"ok","f":"{bad}","time_ns":1}}"#);
            let err = parse_line(&line, 5).expect_err(bad);
            assert!(
                matches!(err.kind, HistoryErrorKind::BadFunction { .. }),
                "{bad}"
            );
        }
        let err = parse_line(r#"{"process":-1}"#, 6).expect_err("negative process");
        assert!(err.to_string().starts_with("line 6: bad JSON"), "{err}");
    }

    #[test]
    fn objects_are_maps_and_round_trip() {
        let line = r#"{"process":1,"type":"ok","f":"read","key":"k","value":{"value":"a","version":7},"time_ns":3}"#;
        let event = parse_line(line, 1).expect("parses");
        assert_eq!(event.value.get("value"), Some(&Value::Str("a".into())));
        assert_eq!(event.value.get("version"), Some(&Value::Int(7)));
        assert_eq!(event.value.to_string(), r#"{value: "a", version: 7}"#);
        assert_eq!(event_to_line(&event), line);
        let deep = format!(
            r#"{{"process":1,"type":"ok","f":"read","value":{}1{},"time_ns":3}}"#,
            r#"{"a":"#.repeat(9),
            "}".repeat(9)
        );
        let err = parse_line(&deep, 2).expect_err("too deep");
        assert!(
            matches!(err.kind, HistoryErrorKind::BadValue { .. }),
            "{err}"
        );
    }
}
