//! A small, bounded EDN reader for Jepsen history lines such as
//! `{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}`,
//! and for the value column of the etcd logs (`nil`, `3`, `[1 2]`,
//! `:timed-out`).
//!
//! It reads nil, booleans, integers, strings, keywords, symbols, vectors,
//! lists, maps and sets; other numbers (floats, ratios, bigints) and
//! `#inst`-style tags are kept as text. Nesting is bounded; element
//! counts are bounded by the line length.

use super::history::{Event, EventKind, Func, HistoryError, HistoryErrorKind, Value};

/// Deepest nesting accepted (Jepsen op maps nest two or three levels).
const MAX_DEPTH: u32 = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// A number that is not an i64 (float, ratio, bigint), as written.
    Number(String),
    Str(String),
    /// Without the leading `:`.
    Keyword(String),
    Symbol(String),
    /// A vector or a list.
    Seq(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    /// A tagged literal (`#inst "..."`), as its tag and value.
    Tagged(String, Box<Edn>),
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

type Parsed<T> = Result<T, String>;

impl Reader<'_> {
    fn error<T>(&self, what: &str) -> Parsed<T> {
        Err(format!("bad EDN at column {}: {what}", self.pos + 1))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips whitespace, commas (whitespace in EDN) and `;` comments.
    fn skip_blank(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => self.pos += 1,
                b';' => self.pos = self.bytes.len(),
                _ => break,
            }
        }
    }

    fn value(&mut self, depth: u32) -> Parsed<Edn> {
        if depth >= MAX_DEPTH {
            return self.error(&format!("nested deeper than {MAX_DEPTH}"));
        }
        self.skip_blank();
        let Some(byte) = self.peek() else {
            return self.error("truncated: a value was expected");
        };
        match byte {
            b'{' => self.map(depth),
            b'[' => self.seq(b']', depth).map(Edn::Seq),
            b'(' => self.seq(b')', depth).map(Edn::Seq),
            b'#' => self.dispatch(depth),
            b'"' => self.string().map(Edn::Str),
            b':' => {
                self.pos += 1;
                let name = self.token();
                if name.is_empty() {
                    return self.error("empty keyword");
                }
                Ok(Edn::Keyword(name))
            }
            b']' | b')' | b'}' => self.error(&format!("unexpected `{}`", char::from(byte))),
            _ => self.atom(),
        }
    }

    /// Characters up to the next delimiter.
    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(byte) = self.peek() {
            let delimiter = matches!(
                byte,
                b' ' | b'\t'
                    | b'\r'
                    | b'\n'
                    | b','
                    | b'('
                    | b')'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'"'
                    | b';'
            );
            if delimiter {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned()
    }

    fn atom(&mut self) -> Parsed<Edn> {
        let token = self.token();
        if token.is_empty() {
            return self.error("unexpected character");
        }
        Ok(match token.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ if looks_numeric(&token) => match token.parse::<i64>() {
                Ok(n) => Edn::Int(n),
                Err(_) => Edn::Number(token),
            },
            _ => Edn::Symbol(token),
        })
    }

    fn seq(&mut self, close: u8, depth: u32) -> Parsed<Vec<Edn>> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => return self.error("truncated: unclosed collection"),
                Some(byte) if byte == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    fn map(&mut self, depth: u32) -> Parsed<Edn> {
        let items = self.seq(b'}', depth)?;
        if items.len() % 2 != 0 {
            return self.error("a map needs an even number of forms");
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut items = items.into_iter();
        while let (Some(key), Some(value)) = (items.next(), items.next()) {
            if pairs.iter().any(|(seen, _)| *seen == key) {
                return self.error(&format!("duplicate map key {key:?}"));
            }
            pairs.push((key, value));
        }
        Ok(Edn::Map(pairs))
    }

    fn dispatch(&mut self, depth: u32) -> Parsed<Edn> {
        self.pos += 1;
        match self.peek() {
            Some(b'{') => self.seq(b'}', depth).map(Edn::Set),
            Some(b'_') => self.error("#_ discard is not supported"),
            _ => {
                let tag = self.token();
                if tag.is_empty() {
                    return self.error("bad `#` dispatch");
                }
                let inner = self.value(depth + 1)?;
                Ok(Edn::Tagged(tag, Box::new(inner)))
            }
        }
    }

    fn string(&mut self) -> Parsed<String> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return self.error("truncated: unterminated string");
            };
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => self.escape(&mut out)?,
                _ => out.push(byte),
            }
        }
        // The line was valid UTF-8 and escapes push whole characters.
        String::from_utf8(out).or_else(|_| self.error("string is not valid UTF-8"))
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Parsed<()> {
        let Some(byte) = self.peek() else {
            return self.error("truncated: unterminated escape");
        };
        self.pos += 1;
        let plain = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'u' => return self.unicode_escape(out),
            _ => return self.error(&format!("unknown escape `\\{}`", char::from(byte))),
        };
        out.push(plain);
        Ok(())
    }

    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Parsed<()> {
        let end = self.pos + 4;
        let hex = self
            .bytes
            .get(self.pos..end)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u32::from_str_radix(digits, 16).ok());
        let Some(c) = hex.and_then(char::from_u32) else {
            return self.error("bad \\u escape");
        };
        self.pos = end;
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        Ok(())
    }
}

fn looks_numeric(token: &str) -> bool {
    let digits = token.strip_prefix(['-', '+']).unwrap_or(token);
    digits.starts_with(|c: char| c.is_ascii_digit())
}

/// Parses exactly one EDN value from `text` (nothing may follow it).
pub(crate) fn parse_value(text: &str) -> Result<Edn, String> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        pos: 0,
    };
    let value = reader.value(0)?;
    reader.skip_blank();
    if reader.pos != reader.bytes.len() {
        return reader.error("unexpected text after the value");
    }
    Ok(value)
}

/// Longest text kept for a value no model reads.
const MAX_OTHER_CHARS: usize = 80;

impl Edn {
    /// The history value this EDN stands for.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Edn::Nil => Value::Nil,
            Edn::Int(n) => Value::Int(*n),
            Edn::Str(s) => Value::Str(s.clone()),
            Edn::Seq(items) => Value::List(items.iter().map(Edn::to_value).collect()),
            Edn::Map(pairs) if pairs.iter().all(|(key, _)| map_key(key).is_some()) => Value::Map(
                pairs
                    .iter()
                    .filter_map(|(key, value)| Some((map_key(key)?, value.to_value())))
                    .collect(),
            ),
            other => Value::Other(other.render().chars().take(MAX_OTHER_CHARS).collect()),
        }
    }

    fn render(&self) -> String {
        match self {
            Edn::Nil => "nil".into(),
            Edn::Bool(b) => b.to_string(),
            Edn::Int(n) => n.to_string(),
            Edn::Number(text) | Edn::Symbol(text) => text.clone(),
            Edn::Str(s) => format!("{s:?}"),
            Edn::Keyword(name) => format!(":{name}"),
            Edn::Seq(items) => render_all("[", items, "]"),
            Edn::Set(items) => render_all("#{", items, "}"),
            Edn::Map(pairs) => {
                let flat: Vec<Edn> = pairs
                    .iter()
                    .flat_map(|(k, v)| [k.clone(), v.clone()])
                    .collect();
                render_all("{", &flat, "}")
            }
            Edn::Tagged(tag, inner) => format!("#{tag} {}", inner.render()),
        }
    }

    fn get(&self, keyword: &str) -> Option<&Edn> {
        let Edn::Map(pairs) = self else {
            return None;
        };
        pairs.iter().find_map(|(key, value)| match key {
            Edn::Keyword(name) if name == keyword => Some(value),
            _ => None,
        })
    }
}

/// A map key a model can name: a keyword (without its `:`) or a string.
fn map_key(key: &Edn) -> Option<String> {
    match key {
        Edn::Keyword(name) | Edn::Str(name) => Some(name.clone()),
        _ => None,
    }
}

fn render_all(open: &str, items: &[Edn], close: &str) -> String {
    let inner: Vec<String> = items.iter().map(Edn::render).collect();
    format!("{open}{}{close}", inner.join(" "))
}

/// A Jepsen process: a non-negative integer, or `:nemesis` (`None`: the
/// nemesis's events are not client operations).
pub(crate) fn process_of(edn: &Edn) -> Result<Option<u64>, String> {
    match edn {
        Edn::Int(n) => u64::try_from(*n)
            .map(Some)
            .map_err(|_| format!("process {n} is negative")),
        Edn::Keyword(name) if name == "nemesis" => Ok(None),
        other => Err(format!(
            "process must be an integer, not {}",
            other.render()
        )),
    }
}

/// Parses one EDN-map history line; `None` for nemesis lines.
pub(crate) fn parse_event_line(line: &str, line_no: u64) -> Result<Option<Event>, HistoryError> {
    let syntax = |why: String| HistoryError::new(line_no, HistoryErrorKind::Syntax(why));
    let missing = |field| HistoryError::new(line_no, HistoryErrorKind::MissingField(field));
    let map = parse_value(line).map_err(syntax)?;
    if !matches!(map, Edn::Map(_)) {
        return Err(syntax(
            "expected an EDN map {:process ..., :type ..., :f ...}".into(),
        ));
    }
    let process = map.get("process").ok_or_else(|| missing("process"))?;
    let Some(process) = process_of(process).map_err(syntax)? else {
        return Ok(None);
    };
    let kind = map.get("type").ok_or_else(|| missing("type"))?;
    let kind = match kind {
        Edn::Keyword(name) => EventKind::from_name(name),
        _ => None,
    }
    .ok_or_else(|| HistoryError::new(line_no, HistoryErrorKind::UnknownType(kind.render())))?;
    let f = match map.get("f").ok_or_else(|| missing("f"))? {
        Edn::Keyword(name) | Edn::Str(name) => Func::parse_at(name, line_no)?,
        other => {
            let why = format!("`:f` must be a keyword, not {}", other.render());
            return Err(syntax(why));
        }
    };
    let key = map.get("key").map(key_text).transpose().map_err(syntax)?;
    let value = map.get("value").map_or(Value::Nil, Edn::to_value);
    let error = map
        .get("error")
        .filter(|error| **error != Edn::Nil)
        .map(|error| error.render().chars().take(MAX_OTHER_CHARS).collect());
    Ok(Some(Event {
        process,
        kind,
        f,
        key,
        value,
        time: line_no,
        error,
        line: line_no,
    }))
}

fn key_text(edn: &Edn) -> Result<String, String> {
    match edn {
        Edn::Str(s) => Ok(s.clone()),
        Edn::Int(n) => Ok(n.to_string()),
        Edn::Keyword(name) => Ok(format!(":{name}")),
        other => Err(format!(
            "key must be a string, integer or keyword, not {}",
            other.render()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_vector_line_shapes() {
        let line = r#"{:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}"#;
        let event = parse_event_line(line, 3)
            .expect("parses")
            .expect("a client op");
        assert_eq!(event.process, 0);
        assert_eq!(event.kind, EventKind::Invoke);
        assert_eq!(event.f, Func::Append);
        assert_eq!(event.key.as_deref(), Some("4"));
        assert_eq!(event.value, Value::Str("x 0 1 y".into()));
        assert_eq!((event.time, event.line), (3, 3));
        let get = r#"{:process 12, :type :invoke, :f :get, :key "7", :value nil}"#;
        let event = parse_event_line(get, 4)
            .expect("parses")
            .expect("a client op");
        assert_eq!(event.value, Value::Nil);
        let failed = r#"{:process 3, :type :fail, :f :cas, :value [1 2], :error :not-leader}"#;
        let event = parse_event_line(failed, 5)
            .expect("parses")
            .expect("a client op");
        assert_eq!(event.error.as_deref(), Some(":not-leader"));
    }

    #[test]
    fn reads_nested_values_and_escapes() {
        let text = r#"{:a [1 -2 (3)], :b #{:x}, :c "q\"\\\n\u00e9", :d 1.5, :e {:f nil}}"#;
        let map = parse_value(text).expect("parses");
        assert_eq!(
            map.get("a").map(Edn::to_value),
            Some(Value::List(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::List(vec![Value::Int(3)])
            ]))
        );
        assert_eq!(map.get("c"), Some(&Edn::Str("q\"\\\n\u{e9}".into())));
        assert_eq!(map.get("d"), Some(&Edn::Number("1.5".into())));
        assert_eq!(
            parse_value(":timed-out"),
            Ok(Edn::Keyword("timed-out".into()))
        );
        let versioned = parse_value(r#"{:value "a", :version 7}"#).expect("parses");
        assert_eq!(
            versioned.to_value(),
            Value::Map(vec![
                ("value".into(), Value::Str("a".into())),
                ("version".into(), Value::Int(7))
            ])
        );
        let odd_keys = parse_value("{1 2}").expect("parses");
        assert_eq!(odd_keys.to_value(), Value::Other("{1 2}".into()));
    }

    #[test]
    fn any_short_name_is_an_operation() {
        let line = r#"{:process 0, :type :invoke, :f :enqueue, :value 3}"#;
        let event = parse_event_line(line, 1)
            .expect("parses")
            .expect("client op");
        assert_eq!(event.f.name(), "enqueue");
        let line = r#"{:process 0, :type :invoke, :f 3, :value 3}"#;
        let err = parse_event_line(line, 2).expect_err("f is a number");
        assert!(matches!(err.kind, HistoryErrorKind::Syntax(_)), "{err}");
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        let cases = [
            r#"{:process 0, :type :invoke, :f :get, :key "7", :value nil"#,
            r#"{:process 0, :type :invoke, :f :get, :key "7}"#,
            r#"{:process 0, :type :invoke :f}"#,
            r#"{:process 0, :process 1}"#,
            r#"{:process -1, :type :invoke, :f :get}"#,
            r#"{:process 0, :type :invoke, :f :get} trailing"#,
            r#"[:process 0]"#,
            "{:a \"\\u12\"}",
        ];
        for case in cases {
            let err = parse_event_line(case, 9).expect_err(case);
            assert_eq!(err.line, 9, "{case}");
        }
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(parse_value(&deep).is_err());
        let unknown = r#"{:process 0, :type :ack, :f :get}"#;
        let err = parse_event_line(unknown, 2).expect_err("unknown type");
        assert_eq!(err.kind, HistoryErrorKind::UnknownType(":ack".into()));
    }

    #[test]
    fn nemesis_lines_are_skipped() {
        let line = r#"{:process :nemesis, :type :info, :f :start, :value nil}"#;
        assert_eq!(parse_event_line(line, 1), Ok(None));
    }
}
