//! Our history format: one JSON object per line, Jepsen vocabulary.
//!
//! `{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time_ns":123}`
//! then `{"process":3,"type":"ok","f":"cas","key":"k1","value":[1,2],"time_ns":130}`.
//! `key` may be omitted (a single register) and a completion may omit it;
//! an `error` field on a completion is kept (a `fail` with one did not
//! happen); unknown fields (e.g. `node`) are ignored.

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
    let f = Func::from_name(&f_name)
        .ok_or_else(|| HistoryError::new(line_no, HistoryErrorKind::UnknownFunction(f_name)))?;
    let value = convert(&raw.value, 0)
        .map_err(|why| HistoryError::new(line_no, HistoryErrorKind::BadValue { f, why }))?;
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
        serde_json::Value::Bool(_) | serde_json::Value::Object(_) => {
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
        let err = parse_line(line, 5).expect_err("bad f");
        assert_eq!(err.kind, HistoryErrorKind::UnknownFunction("delete".into()));
        let err = parse_line(r#"{"process":-1}"#, 6).expect_err("negative process");
        assert!(err.to_string().starts_with("line 6: bad JSON"), "{err}");
    }
}
