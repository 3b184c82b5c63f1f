//! The history model: events (Jepsen vocabulary), operations paired from
//! them, and the reader that turns any of the three input formats into a
//! [`History`].
//!
//! An operation is an invocation and, perhaps, its completion by the same
//! process. `ok` means it happened with the recorded result; `fail` means
//! it did not happen; `info` or no completion at all means indeterminate:
//! it may take effect at any point after its invocation, or never.
//! One exception, as in Jepsen's etcd histories (and porcupine's model of
//! them): a register `cas` completed `fail` *without* an `error` field
//! happened and found the value was not `from`, an observation (likewise
//! a versioned `cas`: the version was not the one expected). A `fail`
//! that carries an `error` (e.g. `"error":"gave-up"`) did not happen.
//!
//! Operation names (`f`) are not limited to the built-in models' (see
//! [`Func`]): a user-defined model reads its own.
//!
//! Every input is bounded: line length, line count and operation count.
//! Bad input is a [`HistoryError`] carrying the 1-based line number.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Read};

use super::{edn, etcd, jsonl};

/// Longest accepted input line, newline excluded.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most operations (invocations) one history may hold.
pub const MAX_OPERATIONS: usize = 10_000_000;
/// Most lines read from one input, blank and skipped ones included.
pub const MAX_LINES: u64 = 64 * MAX_OPERATIONS as u64;

/// A Jepsen process id (a client thread; a new id after an `info`).
pub type Process = u64;

/// Which half of an operation an event is, and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    /// Parses the Jepsen name (`invoke`, `ok`, `fail`, `info`).
    pub fn from_name(name: &str) -> Option<EventKind> {
        match name {
            "invoke" => Some(EventKind::Invoke),
            "ok" => Some(EventKind::Ok),
            "fail" => Some(EventKind::Fail),
            "info" => Some(EventKind::Info),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }
}

/// Longest accepted operation name (`f`), in bytes.
pub const MAX_FUNC_NAME_BYTES: usize = 64;

/// The operation's function. The built-in models' names (register `read`,
/// `write`, `cas`, which the versioned model shares; key-value `get`,
/// `put`, `append`) have their own variants; any other name is kept as
/// [`Func::Other`] for a user-defined [`Model`](crate::model::Model),
/// which reads it with [`Func::name`]. A built-in model refuses a name it
/// does not know with [`HistoryErrorKind::WrongModel`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Func {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
    /// A name no built-in model uses (`enqueue`, `add`, ...).
    Other(FuncName),
}

/// An operation name outside the built-in ones: 1 to
/// [`MAX_FUNC_NAME_BYTES`] bytes, no whitespace or control characters
/// (it is printed in reports and tables). Shared, so cloning is cheap.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncName(std::sync::Arc<str>);

impl FuncName {
    pub fn new(name: &str) -> Result<FuncName, BadFuncName> {
        if name.is_empty() {
            return Err(BadFuncName::Empty);
        }
        if name.len() > MAX_FUNC_NAME_BYTES {
            return Err(BadFuncName::TooLong {
                len: name.len(),
                max: MAX_FUNC_NAME_BYTES,
            });
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BadFuncName::BadCharacter);
        }
        Ok(FuncName(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string cannot be an operation name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadFuncName {
    #[error("it is empty")]
    Empty,
    #[error("it is {len} bytes long, more than {max}")]
    TooLong { len: usize, max: usize },
    #[error("it contains whitespace or a control character")]
    BadCharacter,
}

impl Func {
    /// The built-in variant for a built-in name, else [`Func::Other`].
    pub fn from_name(name: &str) -> Result<Func, BadFuncName> {
        Ok(match name {
            "read" => Func::Read,
            "write" => Func::Write,
            "cas" => Func::Cas,
            "get" => Func::Get,
            "put" => Func::Put,
            "append" => Func::Append,
            other => Func::Other(FuncName::new(other)?),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Func::Read => "read",
            Func::Write => "write",
            Func::Cas => "cas",
            Func::Get => "get",
            Func::Put => "put",
            Func::Append => "append",
            Func::Other(name) => name.as_str(),
        }
    }

    /// [`Func::from_name`] as a history error at `line` (the name shown
    /// is cut to a printable length).
    pub(crate) fn parse_at(name: &str, line: u64) -> Result<Func, HistoryError> {
        Func::from_name(name).map_err(|why| {
            let name = name.chars().take(MAX_SHOWN_NAME_CHARS).collect();
            HistoryError::new(line, HistoryErrorKind::BadFunction { name, why })
        })
    }
}

/// Longest part of a refused name an error repeats.
const MAX_SHOWN_NAME_CHARS: usize = 80;

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value as written in the input, before a model interprets it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Nil,
    Int(i64),
    Str(String),
    List(Vec<Value>),
    /// A JSON object or an EDN map whose keys are all strings or keywords
    /// (a keyword's name without its `:`), in the input's order, e.g. the
    /// versioned model's `{"value": "a", "version": 7}`.
    Map(Vec<(String, Value)>),
    /// Anything no model reads (a keyword such as `:timed-out`, a float,
    /// a map), kept as text for display.
    Other(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
            Value::Other(text) => f.write_str(text),
        }
    }
}

impl Value {
    /// The entry `key` of a map (`None` if this is not a map or has none).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find_map(|(name, value)| (name == key).then_some(value)),
            _ => None,
        }
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub process: Process,
    pub kind: EventKind,
    pub f: Func,
    /// `None` in single-register histories (the etcd logs).
    pub key: Option<String>,
    pub value: Value,
    /// Nanoseconds in our JSONL; the line number in the Jepsen formats,
    /// whose lines are already in real-time order.
    pub time: u64,
    /// The completion's `error` field, as text (a `fail` with one did not
    /// happen, whatever its `f`).
    pub error: Option<String>,
    /// 1-based line in the input (0 for events built in memory).
    pub line: u64,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Completed `ok`, with the completion's value (what a read returned).
    Ok(Value),
    /// Completed `fail`, with the completion's value.
    Fail(Value),
    /// Completed `info`: indeterminate.
    Info,
    /// Never completed: indeterminate.
    Pending,
}

impl Outcome {
    /// Whether the operation may or may not have taken effect.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Outcome::Info | Outcome::Pending)
    }
}

/// An invocation paired with its completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: Process,
    pub f: Func,
    pub key: Option<String>,
    /// The invocation's value (what was written, `[from to]` of a cas).
    pub value: Value,
    pub outcome: Outcome,
    pub call: u64,
    /// `None` when indeterminate: the operation's return is +infinity.
    pub ret: Option<u64>,
    /// The completion's `error` field, if any.
    pub error: Option<String>,
    pub invoke_line: u64,
    pub complete_line: Option<u64>,
}

/// The input format, detected from the first non-empty line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Ours: one JSON object per line, times in `time_ns`.
    Jsonl,
    /// `INFO  jepsen.util - <process> :<type> :<f> <value>` lines.
    JepsenEtcd,
    /// One EDN map per line, `{:process 0, :type :invoke, ...}`.
    JepsenEdn,
    /// No events at all.
    Empty,
}

impl Format {
    /// Whether `time` values are nanoseconds (else they are line numbers).
    pub fn times_are_nanos(self) -> bool {
        self == Format::Jsonl
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JepsenEtcd => "jepsen-etcd-log",
            Format::JepsenEdn => "jepsen-edn",
            Format::Empty => "empty",
        }
    }
}

/// A paired history. Built only through [`HistoryBuilder`], so every
/// operation's completion (if any) came from its own process, after it.
#[derive(Clone, Debug)]
pub struct History {
    ops: Vec<Operation>,
    format: Format,
}

impl History {
    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// A history of some of this one's operations (e.g. a violation's),
    /// re-validated through the builder.
    pub fn from_operations(format: Format, ops: Vec<Operation>) -> Result<History, HistoryError> {
        let mut builder = HistoryBuilder::new(format);
        for op in ops {
            builder.push_operation(op)?;
        }
        Ok(builder.finish())
    }
}

/// What was wrong with the input, at which 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct HistoryError {
    pub line: u64,
    pub kind: HistoryErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryErrorKind {
    #[error("cannot read input: {0}")]
    Io(String),
    #[error("line longer than {max} bytes")]
    LineTooLong { max: usize },
    #[error("more than {max} lines")]
    TooManyLines { max: u64 },
    #[error("line is not valid UTF-8")]
    NotUtf8,
    #[error(
        "unrecognized format: expected a JSON object ({{\"process\": ...}}), \
         an EDN map ({{:process ...}}) or a Jepsen log line (INFO  jepsen.util - ...)"
    )]
    UnknownFormat,
    #[error("{0}")]
    Syntax(String),
    #[error("unknown event type `{0}` (expected invoke, ok, fail or info)")]
    UnknownType(String),
    #[error("bad operation name `{name}`: {why}")]
    BadFunction { name: String, why: BadFuncName },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("bad value for {f}: {why}")]
    BadValue { f: Func, why: String },
    #[error("more than {max} operations")]
    TooManyOperations { max: usize },
    #[error(
        "process {process} invoked {f} while its {outstanding} invoked at line {outstanding_line} \
         is still outstanding"
    )]
    DoubleInvoke {
        process: Process,
        f: Func,
        outstanding: Func,
        outstanding_line: u64,
    },
    #[error("process {process} completed {f} without an outstanding invocation")]
    CompletionWithoutInvoke { process: Process, f: Func },
    #[error(
        "process {process} completed {got} but its outstanding operation (line {invoke_line}) is {expected}"
    )]
    CompletionMismatch {
        process: Process,
        got: String,
        expected: String,
        invoke_line: u64,
    },
    #[error("completion time {ret} is before its invocation time {call} (line {invoke_line})")]
    CompletedBeforeInvoked {
        call: u64,
        ret: u64,
        invoke_line: u64,
    },
    #[error("operation {f} is not part of model {model}")]
    WrongModel { f: Func, model: &'static str },
    #[error("operation {f} has outcome {outcome} but {ret} completion time")]
    InconsistentOperation {
        f: Func,
        outcome: &'static str,
        ret: &'static str,
    },
}

impl HistoryError {
    pub fn new(line: u64, kind: HistoryErrorKind) -> HistoryError {
        HistoryError { line, kind }
    }

    /// `op`'s value (or result) does not fit the model; reported at the
    /// op's invocation line. For [`Model::prepare`](crate::model::Model::prepare).
    pub fn bad_value(op: &Operation, why: impl Into<String>) -> HistoryError {
        let kind = HistoryErrorKind::BadValue {
            f: op.f.clone(),
            why: why.into(),
        };
        HistoryError::new(op.invoke_line, kind)
    }

    /// `op`'s function is not one of `model`'s; reported at the op's
    /// invocation line. For [`Model::prepare`](crate::model::Model::prepare).
    pub fn wrong_model(op: &Operation, model: &'static str) -> HistoryError {
        let kind = HistoryErrorKind::WrongModel {
            f: op.f.clone(),
            model,
        };
        HistoryError::new(op.invoke_line, kind)
    }
}

/// Pairs events into operations. A process has at most one outstanding
/// invocation; its completion must name the same function (and key).
#[derive(Debug)]
pub struct HistoryBuilder {
    ops: Vec<Operation>,
    /// Outstanding invocation of each process: index into `ops`.
    pending: HashMap<Process, usize>,
    format: Format,
}

impl HistoryBuilder {
    pub fn new(format: Format) -> HistoryBuilder {
        HistoryBuilder {
            ops: Vec::new(),
            pending: HashMap::new(),
            format,
        }
    }

    pub fn push(&mut self, event: Event) -> Result<(), HistoryError> {
        match event.kind {
            EventKind::Invoke => self.invoke(event),
            EventKind::Ok | EventKind::Fail | EventKind::Info => self.complete(event),
        }
    }

    fn invoke(&mut self, event: Event) -> Result<(), HistoryError> {
        if let Some(&index) = self.pending.get(&event.process) {
            let outstanding = &self.ops[index];
            return Err(HistoryError::new(
                event.line,
                HistoryErrorKind::DoubleInvoke {
                    process: event.process,
                    f: event.f.clone(),
                    outstanding: outstanding.f.clone(),
                    outstanding_line: outstanding.invoke_line,
                },
            ));
        }
        if self.ops.len() >= MAX_OPERATIONS {
            let kind = HistoryErrorKind::TooManyOperations {
                max: MAX_OPERATIONS,
            };
            return Err(HistoryError::new(event.line, kind));
        }
        self.pending.insert(event.process, self.ops.len());
        self.ops.push(Operation {
            process: event.process,
            f: event.f,
            key: event.key,
            value: event.value,
            outcome: Outcome::Pending,
            call: event.time,
            ret: None,
            error: None,
            invoke_line: event.line,
            complete_line: None,
        });
        Ok(())
    }

    fn complete(&mut self, event: Event) -> Result<(), HistoryError> {
        let Some(index) = self.pending.remove(&event.process) else {
            let kind = HistoryErrorKind::CompletionWithoutInvoke {
                process: event.process,
                f: event.f.clone(),
            };
            return Err(HistoryError::new(event.line, kind));
        };
        let op = &mut self.ops[index];
        check_completion_matches(op, &event)?;
        // An info completion's time says nothing: the op stays open-ended.
        let (outcome, ret) = match event.kind {
            EventKind::Ok => (Outcome::Ok(event.value), Some(event.time)),
            EventKind::Fail => (Outcome::Fail(event.value), Some(event.time)),
            EventKind::Info | EventKind::Invoke => (Outcome::Info, None),
        };
        op.outcome = outcome;
        op.ret = ret;
        op.error = event.error;
        op.complete_line = Some(event.line);
        Ok(())
    }

    /// Re-adds an already paired operation (see [`History::from_operations`]).
    fn push_operation(&mut self, op: Operation) -> Result<(), HistoryError> {
        let line = op.invoke_line;
        // Completed ops have a return time; indeterminate ones must not.
        if op.outcome.is_indeterminate() == op.ret.is_some() {
            let kind = HistoryErrorKind::InconsistentOperation {
                f: op.f.clone(),
                outcome: if op.outcome.is_indeterminate() {
                    "indeterminate"
                } else {
                    "completed"
                },
                ret: if op.ret.is_some() { "a" } else { "no" },
            };
            return Err(HistoryError::new(line, kind));
        }
        if let Some(ret) = op.ret
            && ret < op.call
        {
            let kind = HistoryErrorKind::CompletedBeforeInvoked {
                call: op.call,
                ret,
                invoke_line: line,
            };
            return Err(HistoryError::new(line, kind));
        }
        if self.ops.len() >= MAX_OPERATIONS {
            let kind = HistoryErrorKind::TooManyOperations {
                max: MAX_OPERATIONS,
            };
            return Err(HistoryError::new(line, kind));
        }
        self.ops.push(op);
        Ok(())
    }

    /// Ends the history: invocations still outstanding stay `Pending`.
    pub fn finish(self) -> History {
        let format = if self.ops.is_empty() {
            Format::Empty
        } else {
            self.format
        };
        History {
            ops: self.ops,
            format,
        }
    }
}

fn check_completion_matches(op: &Operation, event: &Event) -> Result<(), HistoryError> {
    // A completion may omit the key (it is the invocation's); if it names
    // one, it must be the same.
    let key_differs = event.key.is_some() && event.key != op.key;
    if op.f != event.f || key_differs {
        let describe = |f: &Func, key: &Option<String>| match key {
            Some(key) => format!("{f} on key {key:?}"),
            None => f.to_string(),
        };
        let kind = HistoryErrorKind::CompletionMismatch {
            process: event.process,
            got: describe(&event.f, &event.key),
            expected: describe(&op.f, &op.key),
            invoke_line: op.invoke_line,
        };
        return Err(HistoryError::new(event.line, kind));
    }
    if event.kind != EventKind::Info && event.time < op.call {
        let kind = HistoryErrorKind::CompletedBeforeInvoked {
            call: op.call,
            ret: event.time,
            invoke_line: op.invoke_line,
        };
        return Err(HistoryError::new(event.line, kind));
    }
    Ok(())
}

/// Detects the format from the first non-empty line (already trimmed).
fn detect_format(line: &str) -> Option<Format> {
    if let Some(rest) = line.strip_prefix('{') {
        return match rest.trim_start().chars().next() {
            Some('"') | Some('}') => Some(Format::Jsonl),
            Some(':') => Some(Format::JepsenEdn),
            _ => None,
        };
    }
    if line.starts_with("INFO") {
        return Some(Format::JepsenEtcd);
    }
    None
}

/// Parses one non-empty line; `None` for lines that carry no client
/// operation (e.g. the nemesis's).
fn parse_line(format: Format, line: &str, line_no: u64) -> Result<Option<Event>, HistoryError> {
    match format {
        Format::Jsonl => jsonl::parse_line(line, line_no).map(Some),
        Format::JepsenEtcd => etcd::parse_line(line, line_no),
        Format::JepsenEdn => edn::parse_event_line(line, line_no),
        Format::Empty => Err(HistoryError::new(line_no, HistoryErrorKind::UnknownFormat)),
    }
}

/// Reads one line of at most [`MAX_LINE_BYTES`] into `buf` (newline and a
/// trailing `\r` stripped). Returns `false` at end of input.
fn read_bounded_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line_no: u64,
) -> Result<bool, HistoryError> {
    buf.clear();
    // One byte more than allowed tells an oversize line from a full one.
    let limit = MAX_LINE_BYTES as u64 + 1;
    let read = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', buf)
        .map_err(|err| HistoryError::new(line_no, HistoryErrorKind::Io(err.to_string())))?;
    if read == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > MAX_LINE_BYTES {
        let kind = HistoryErrorKind::LineTooLong {
            max: MAX_LINE_BYTES,
        };
        return Err(HistoryError::new(line_no, kind));
    }
    Ok(true)
}

/// Reads a whole history in any of the three formats (auto-detected).
pub fn parse_history<R: BufRead>(mut reader: R) -> Result<History, HistoryError> {
    let mut buf = Vec::with_capacity(256);
    let mut format: Option<Format> = None;
    let mut builder = HistoryBuilder::new(Format::Empty);
    let mut line_no: u64 = 0;
    loop {
        line_no += 1;
        if line_no > MAX_LINES {
            let kind = HistoryErrorKind::TooManyLines { max: MAX_LINES };
            return Err(HistoryError::new(line_no, kind));
        }
        if !read_bounded_line(&mut reader, &mut buf, line_no)? {
            break;
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|_| HistoryError::new(line_no, HistoryErrorKind::NotUtf8))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let current = match format {
            Some(current) => current,
            None => {
                let detected = detect_format(text)
                    .ok_or_else(|| HistoryError::new(line_no, HistoryErrorKind::UnknownFormat))?;
                format = Some(detected);
                builder.format = detected;
                detected
            }
        };
        if let Some(event) = parse_line(current, text, line_no)? {
            builder.push(event)?;
        }
    }
    Ok(builder.finish())
}

/// [`parse_history`] over a string.
pub fn parse_str(text: &str) -> Result<History, HistoryError> {
    parse_history(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> HistoryError {
        match parse_str(text) {
            Ok(history) => panic!("expected an error, parsed {} ops", history.len()),
            Err(err) => err,
        }
    }

    #[test]
    fn pairs_by_process_and_keeps_indeterminate_ops_open() {
        let text = r#"
{"process":1,"type":"invoke","f":"write","key":"k1","value":1,"time_ns":10}
{"process":2,"type":"invoke","f":"read","key":"k1","value":null,"time_ns":11}
{"process":1,"type":"ok","f":"write","key":"k1","value":1,"time_ns":20}
{"process":2,"type":"info","f":"read","key":"k1","value":null,"time_ns":21}
{"process":3,"type":"invoke","f":"cas","key":"k2","value":[1,2],"time_ns":30}
"#;
        let history = parse_str(text).expect("parses");
        assert_eq!(history.format(), Format::Jsonl);
        assert_eq!(history.len(), 3);
        let ops = history.ops();
        assert_eq!((ops[0].call, ops[0].ret), (10, Some(20)));
        assert_eq!(ops[0].outcome, Outcome::Ok(Value::Int(1)));
        assert_eq!((ops[1].outcome.clone(), ops[1].ret), (Outcome::Info, None));
        assert_eq!(ops[1].complete_line, Some(5));
        assert_eq!(
            (ops[2].outcome.clone(), ops[2].ret),
            (Outcome::Pending, None)
        );
        assert_eq!(
            ops[2].value,
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
    }

    #[test]
    fn truncated_json_names_its_line() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time_ns\":1}\n\
                    {\"process\":2,\"type\":\"invoke\",\"f\":\"re";
        let err = error_of(text);
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn unknown_type_is_a_typed_error() {
        let text =
            "\n{\"process\":1,\"type\":\"invoked\",\"f\":\"read\",\"value\":null,\"time_ns\":1}";
        let err = error_of(text);
        assert_eq!(err.line, 2);
        assert_eq!(err.kind, HistoryErrorKind::UnknownType("invoked".into()));
    }

    #[test]
    fn oversize_line_is_refused_with_its_number() {
        let long = format!(
            "{{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"a\",\"value\":\"{}\",\"time_ns\":1}}",
            "x".repeat(MAX_LINE_BYTES)
        );
        let text = format!(
            "{{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"a\",\"value\":null,\"time_ns\":0}}\n{long}\n"
        );
        let err = error_of(&text);
        assert_eq!(err.line, 2);
        let kind = HistoryErrorKind::LineTooLong {
            max: MAX_LINE_BYTES,
        };
        assert_eq!(err.kind, kind);
    }

    #[test]
    fn a_line_of_exactly_the_maximum_is_accepted() {
        let head = "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"a\",\"value\":\"";
        let tail = "\",\"time_ns\":1}";
        let fill = MAX_LINE_BYTES - head.len() - tail.len();
        let line = format!("{head}{}{tail}", "x".repeat(fill));
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert_eq!(parse_str(&line).expect("fits").len(), 1);
    }

    #[test]
    fn second_invoke_before_completion_is_refused() {
        let text = "{\"process\":4,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time_ns\":1}\n\
                    {\"process\":4,\"type\":\"invoke\",\"f\":\"write\",\"value\":3,\"time_ns\":2}";
        let err = error_of(text);
        assert_eq!(err.line, 2);
        assert!(matches!(
            err.kind,
            HistoryErrorKind::DoubleInvoke {
                process: 4,
                outstanding_line: 1,
                ..
            }
        ));
    }

    #[test]
    fn completion_must_match_its_invocation() {
        let orphan = "{\"process\":4,\"type\":\"ok\",\"f\":\"read\",\"value\":null,\"time_ns\":1}";
        assert!(matches!(
            error_of(orphan).kind,
            HistoryErrorKind::CompletionWithoutInvoke { process: 4, .. }
        ));
        let mismatch = "{\"process\":4,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time_ns\":1}\n\
                        {\"process\":4,\"type\":\"ok\",\"f\":\"write\",\"value\":1,\"time_ns\":2}";
        let err = error_of(mismatch);
        assert_eq!(err.line, 2);
        assert!(matches!(
            err.kind,
            HistoryErrorKind::CompletionMismatch { .. }
        ));
        let backwards = "{\"process\":4,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,\"time_ns\":9}\n\
                         {\"process\":4,\"type\":\"ok\",\"f\":\"read\",\"value\":1,\"time_ns\":2}";
        assert!(matches!(
            error_of(backwards).kind,
            HistoryErrorKind::CompletedBeforeInvoked { .. }
        ));
    }

    #[test]
    fn unknown_format_and_bad_utf8_are_errors() {
        assert_eq!(error_of("\n\nhello").line, 3);
        assert_eq!(error_of("hello").kind, HistoryErrorKind::UnknownFormat);
        let bytes: &[u8] = b"{\"process\":1}\n\xff\xfe\n";
        let err = parse_history(bytes).expect_err("not utf-8");
        // Line 1 is reported first: it lacks fields.
        assert_eq!(err.line, 1);
        let bytes: &[u8] = b"\xff\xfe\n";
        let err = parse_history(bytes).expect_err("not utf-8");
        assert_eq!((err.line, err.kind), (1, HistoryErrorKind::NotUtf8));
    }

    #[test]
    fn rebuilt_histories_are_validated() {
        let text = "{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1,\"time_ns\":5}\n\
                    {\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"value\":1,\"time_ns\":9}";
        let ops = parse_str(text).expect("parses").ops().to_vec();
        assert!(History::from_operations(Format::Jsonl, ops.clone()).is_ok());
        let mut open_ended = ops.clone();
        open_ended[0].ret = None;
        let err =
            History::from_operations(Format::Jsonl, open_ended).expect_err("ok without a return");
        assert!(matches!(
            err.kind,
            HistoryErrorKind::InconsistentOperation { .. }
        ));
        let mut backwards = ops;
        backwards[0].ret = Some(1);
        let err =
            History::from_operations(Format::Jsonl, backwards).expect_err("returns before call");
        assert!(matches!(
            err.kind,
            HistoryErrorKind::CompletedBeforeInvoked { .. }
        ));
    }

    #[test]
    fn empty_input_is_an_empty_history() {
        let history = parse_str("\n  \n").expect("empty is fine");
        assert!(history.is_empty());
        assert_eq!(history.format(), Format::Empty);
    }
}
