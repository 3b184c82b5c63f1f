//! `twinnet-check FILE --model register-cas|kv-append|versioned-cas` (also
//! `raft-sim check`). A user-defined model is checked from code, with
//! [`check_model`](crate::check_model).
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 2 bad input (or a bad
//! command line), 3 unknown: a search budget ran out, which is neither a
//! pass nor bad input (said so plainly on stderr).

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::{CheckOptions, ModelKind, Verdict, check_with, parse_history};

pub const EXIT_LINEARIZABLE: u8 = 0;
pub const EXIT_NOT_LINEARIZABLE: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
/// A search budget ran out: the history is not shown linearizable, nor not.
pub const EXIT_UNKNOWN: u8 = 3;

/// Check a history for linearizability: our JSONL, a Jepsen etcd log or
/// Jepsen EDN lines (the format is detected from the first line).
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// The history file.
    file: PathBuf,
    /// The sequential model the history is checked against.
    #[arg(long, value_enum)]
    model: ModelArg,
    /// Search steps per key before the answer is "unknown".
    #[arg(long, default_value_t = super::DEFAULT_MAX_STEPS_PER_KEY)]
    max_steps_per_key: u64,
    /// Wall-clock limit per key in milliseconds (default: none, so a
    /// verdict never depends on the machine's speed).
    #[arg(long)]
    time_limit_ms: Option<u64>,
    /// Do not shrink a violation to a small core.
    #[arg(long)]
    no_shrink: bool,
    /// Search every key to the end, even once one key shows a violation.
    #[arg(long)]
    all_keys: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelArg {
    /// Registers (one per key, or one for the etcd logs), initially absent: read, write, cas.
    RegisterCas,
    /// String values per key, initially "": get, put, append.
    KvAppend,
    /// Versioned entries per key, initially absent, as openraft's example KV
    /// store: read, write, cas on the version (versions are log indices).
    VersionedCas,
}

impl From<ModelArg> for ModelKind {
    fn from(arg: ModelArg) -> ModelKind {
        match arg {
            ModelArg::RegisterCas => ModelKind::RegisterCas,
            ModelArg::KvAppend => ModelKind::KvAppend,
            ModelArg::VersionedCas => ModelKind::VersionedCas,
        }
    }
}

impl CheckArgs {
    fn options(&self) -> CheckOptions {
        CheckOptions {
            max_steps_per_key: self.max_steps_per_key,
            time_limit_per_key: self.time_limit_ms.map(Duration::from_millis),
            shrink: !self.no_shrink,
            stop_at_first_violation: !self.all_keys,
            ..CheckOptions::default()
        }
    }
}

/// Runs the check; the report goes to stdout, input errors to stderr.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let code = execute(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )?;
    Ok(ExitCode::from(code))
}

/// [`run`] with its outputs given, for tests.
fn execute(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<u8> {
    let path = args.file.display();
    let file = File::open(&args.file).with_context(|| format!("cannot open {path}"))?;
    let history = match parse_history(BufReader::new(file)) {
        Ok(history) => history,
        Err(bad) => {
            writeln!(err, "error: {path}:{}: {}", bad.line, bad.kind)?;
            return Ok(EXIT_BAD_INPUT);
        }
    };
    let report = match check_with(&history, args.model.into(), &args.options()) {
        Ok(report) => report,
        Err(bad) => {
            writeln!(err, "error: {path}:{}: {}", bad.line, bad.kind)?;
            return Ok(EXIT_BAD_INPUT);
        }
    };
    write!(out, "{report}")?;
    Ok(match report.verdict {
        Verdict::Linearizable => EXIT_LINEARIZABLE,
        Verdict::NotLinearizable => EXIT_NOT_LINEARIZABLE,
        Verdict::Unknown => {
            writeln!(
                err,
                "unknown: a search budget ran out; {path} is NOT shown linearizable"
            )?;
            EXIT_UNKNOWN
        }
    })
}

/// Lets a closed stdout end the process quietly, as it ends `cat` or
/// `grep`: `raft-sim sweep | head` then stops the sweep instead of
/// panicking in `println!` with a backtrace. (Rust ignores SIGPIPE, so
/// every write to a closed pipe is an error that `println!` panics on.)
pub fn exit_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread
    // exists; restoring a signal's default disposition has no other
    // effect on the process's memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> TempFile {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!(
                "twinnet-check-{}-{}.txt",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).expect("temp file written");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn run_on(contents: &str, model: ModelArg, max_steps_per_key: u64) -> (u8, String, String) {
        let file = TempFile::new(contents);
        let args = CheckArgs {
            file: file.0.clone(),
            model,
            max_steps_per_key,
            time_limit_ms: None,
            no_shrink: false,
            all_keys: false,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = execute(&args, &mut out, &mut err).expect("runs");
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8");
        (code, text(out), text(err))
    }

    const ETCD_OK: &str = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
                           INFO  jepsen.util - 0\t:ok\t:write\t1\n\
                           INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
                           INFO  jepsen.util - 1\t:ok\t:read\t1\n";

    #[test]
    fn exit_codes_follow_the_verdict() {
        let (code, out, _) = run_on(ETCD_OK, ModelArg::RegisterCas, 1_000_000);
        assert_eq!(code, EXIT_LINEARIZABLE, "{out}");
        assert!(out.starts_with("verdict: linearizable"), "{out}");
        let stale = ETCD_OK.replace(":read\t1", ":read\tnil");
        let (code, out, _) = run_on(&stale, ModelArg::RegisterCas, 1_000_000);
        assert_eq!(code, EXIT_NOT_LINEARIZABLE, "{out}");
        assert!(out.contains("read"), "{out}");
        assert!(out.contains("line 4"), "{out}");
        let (code, _, err) = run_on(&stale, ModelArg::RegisterCas, 1);
        assert_eq!(code, EXIT_UNKNOWN);
        assert!(err.contains("NOT shown linearizable"), "{err}");
    }

    #[test]
    fn bad_input_is_one_line_with_its_number() {
        let broken = ETCD_OK.replace("1\t:ok\t:read", "1\t:okay\t:read");
        let (code, out, err) = run_on(&broken, ModelArg::RegisterCas, 1_000_000);
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(":4: unknown event type `:okay`"), "{err}");
        let (code, _, err) = run_on(ETCD_OK, ModelArg::KvAppend, 1_000_000);
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(
            err.contains(":1: operation write is not part of model kv-append"),
            "{err}"
        );
    }

    #[test]
    fn checks_versioned_histories() {
        let history = r#"{"process":0,"type":"invoke","f":"write","key":"k","value":"a","time_ns":0}
{"process":0,"type":"ok","f":"write","key":"k","value":3,"time_ns":10}
{"process":1,"type":"invoke","f":"cas","key":"k","value":[3,"b"],"time_ns":20}
{"process":1,"type":"ok","f":"cas","key":"k","value":7,"time_ns":30}
{"process":2,"type":"invoke","f":"read","key":"k","value":null,"time_ns":40}
{"process":2,"type":"ok","f":"read","key":"k","value":{"value":"b","version":7},"time_ns":50}
"#;
        let (code, out, _) = run_on(history, ModelArg::VersionedCas, 1_000_000);
        assert_eq!(code, EXIT_LINEARIZABLE, "{out}");
        assert!(out.contains("model versioned-cas"), "{out}");
        let stale = history.replace(
            r#"{"value":"b","version":7}"#,
            r#"{"value":"a","version":3}"#,
        );
        let (code, out, _) = run_on(&stale, ModelArg::VersionedCas, 1_000_000);
        assert_eq!(code, EXIT_NOT_LINEARIZABLE, "{out}");
        assert!(out.contains("ok -> 7"), "the cas's version is shown: {out}");
        let (code, _, err) = run_on(history, ModelArg::RegisterCas, 1_000_000);
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(err.contains(":1: bad value for write"), "{err}");
    }

    #[derive(clap::Parser, Debug)]
    struct Wrapper {
        #[command(flatten)]
        args: CheckArgs,
    }

    #[test]
    fn parses_the_command_line() {
        use clap::Parser;
        let parsed =
            Wrapper::try_parse_from(["check", "h.jsonl", "--model", "kv-append"]).expect("parses");
        assert_eq!(parsed.args.model, ModelArg::KvAppend);
        assert_eq!(parsed.args.file, PathBuf::from("h.jsonl"));
        assert_eq!(
            parsed.args.max_steps_per_key,
            super::super::DEFAULT_MAX_STEPS_PER_KEY
        );
        let parsed = Wrapper::try_parse_from([
            "check",
            "h",
            "--model",
            "register-cas",
            "--time-limit-ms",
            "50",
        ]);
        assert_eq!(parsed.expect("parses").args.time_limit_ms, Some(50));
        let parsed = Wrapper::try_parse_from(["check", "h", "--model", "versioned-cas"]);
        assert_eq!(parsed.expect("parses").args.model, ModelArg::VersionedCas);
        assert!(Wrapper::try_parse_from(["check", "h", "--model", "queue"]).is_err());
        assert!(Wrapper::try_parse_from(["check", "h"]).is_err());
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let args = CheckArgs {
            file: PathBuf::from("/nonexistent/twinnet-history.jsonl"),
            model: ModelArg::KvAppend,
            max_steps_per_key: 1,
            time_limit_ms: None,
            no_shrink: true,
            all_keys: true,
        };
        let outcome = execute(&args, &mut Vec::new(), &mut Vec::new());
        assert!(outcome.is_err());
    }
}
