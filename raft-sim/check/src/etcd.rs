//! The Jepsen etcd log lines of the porcupine vectors:
//! `INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>`, where columns
//! are separated by tabs or spaces and `<value>` is `nil`, an integer,
//! `[<from> <to>]` or `:timed-out`. Lines are in real-time order, so an
//! event's time is its line number. A `:fail :read :timed-out` is a read
//! that returned nothing: a `fail` completion, which constrains nothing.

use super::edn;
use super::history::{Event, EventKind, Func, HistoryError, HistoryErrorKind};

/// The columns before the value: `INFO`, `jepsen.util`, `-`, process, type, f.
const HEAD_COLUMNS: usize = 6;

/// Longest part of a bad column an error repeats.
const MAX_SHOWN_CHARS: usize = 80;

const SHAPE: &str = "expected `INFO  jepsen.util - <process> :<type> :<f> <value>`";

/// Splits off the first `count` whitespace-separated columns and returns
/// them with the (trimmed) rest of the line.
fn split_columns(line: &str, count: usize) -> Option<(Vec<&str>, &str)> {
    let mut columns = Vec::with_capacity(count);
    let mut rest = line.trim_start();
    while columns.len() < count {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        columns.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    Some((columns, rest.trim_end()))
}

/// Parses one etcd log line; `None` for the nemesis's lines.
pub(crate) fn parse_line(line: &str, line_no: u64) -> Result<Option<Event>, HistoryError> {
    let syntax = |why: String| HistoryError::new(line_no, HistoryErrorKind::Syntax(why));
    let Some((columns, value_text)) = split_columns(line, HEAD_COLUMNS) else {
        return Err(syntax(SHAPE.into()));
    };
    if columns[..3] != ["INFO", "jepsen.util", "-"] || value_text.is_empty() {
        return Err(syntax(SHAPE.into()));
    }
    let process = edn::parse_value(columns[3]).and_then(|edn| edn::process_of(&edn));
    let Some(process) = process.map_err(syntax)? else {
        return Ok(None);
    };
    let kind = columns[4]
        .strip_prefix(':')
        .and_then(EventKind::from_name)
        .ok_or_else(|| {
            HistoryError::new(line_no, HistoryErrorKind::UnknownType(columns[4].into()))
        })?;
    let Some(f_name) = columns[5].strip_prefix(':') else {
        return Err(syntax(format!(
            "expected the operation as `:<f>`, got `{}`",
            columns[5].chars().take(MAX_SHOWN_CHARS).collect::<String>()
        )));
    };
    let f = Func::parse_at(f_name, line_no)?;
    let value = edn::parse_value(value_text).map_err(syntax)?.to_value();
    Ok(Some(Event {
        process,
        kind,
        f,
        key: None,
        value,
        time: line_no,
        error: None,
        line: line_no,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Outcome, Value, parse_str};

    #[test]
    fn reads_tab_and_space_separated_lines() {
        let event = parse_line("INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]", 5)
            .expect("parses")
            .expect("client op");
        assert_eq!(
            (event.process, event.kind, event.f),
            (2, EventKind::Invoke, Func::Cas)
        );
        assert_eq!(event.value, Value::List(vec![Value::Int(3), Value::Int(0)]));
        let event = parse_line("INFO  jepsen.util - 17  :fail   :read   :timed-out", 6)
            .expect("parses")
            .expect("client op");
        assert_eq!((event.kind, event.f), (EventKind::Fail, Func::Read));
        assert_eq!(event.value, Value::Other(":timed-out".into()));
    }

    #[test]
    fn a_log_pairs_into_operations() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 1\t:invoke\t:write\t4\n\
                   INFO  jepsen.util - 0\t:ok\t:read\tnil\n\
                   INFO  jepsen.util - 1\t:info\t:write\t:timed-out\n";
        let history = parse_str(log).expect("parses");
        let ops = history.ops();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].call, ops[0].ret), (1, Some(3)));
        assert_eq!(ops[0].outcome, Outcome::Ok(Value::Nil));
        assert_eq!((ops[1].outcome.clone(), ops[1].ret), (Outcome::Info, None));
    }

    #[test]
    fn malformed_lines_are_errors() {
        let cases = [
            "INFO  jepsen.util - 0\t:invoke\t:read",
            "INFO  jepsen.core - 0\t:invoke\t:read\tnil",
            "INFO  jepsen.util - x\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 0\t:invoke\trename\tnil",
            "INFO  jepsen.util - 0\t:invoke\t:\tnil",
            "INFO  jepsen.util - 0\tinvoke\t:read\tnil",
            "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2",
        ];
        for case in cases {
            assert_eq!(parse_line(case, 8).expect_err(case).line, 8, "{case}");
        }
    }
}
