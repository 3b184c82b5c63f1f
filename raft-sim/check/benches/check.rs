//! `cargo bench -p twinnet-check --bench check`: the linearizability checker.
//!
//! 1. All porcupine vectors (`../shared/vectors/porcupine`, or
//!    `$TWINNET_PORCUPINE_VECTORS`): parse + verdict, and parse + verdict +
//!    shrunk core (the default `check`). Target: < 5 s in all on 2 cores.
//! 2. A generated 10,000-op, 10-process, 100-key register history,
//!    linearizable by construction: JSONL parse and check. Target: < 1 s.
//! 3. One register, 20 concurrent processes, 10,000 ops, 1% of writes and
//!    cas indeterminate, values drawn from 0..5 (the generator's own
//!    shape): several histories linearizable by construction, and the same
//!    with a single corrupted read (mid-history, a value nobody wrote).
//!    Target: each decided within 10 s and the 1 GiB memo budget. The
//!    anchor: on one such linearizable history, porcupine ran out of
//!    memory at 24 GB, and this checker before its observation and twin
//!    reductions stopped at its 1 GiB budget after 4.6 s with UNKNOWN.
//!
//! Wall time by `std::time::Instant` (no simulation runs here, so the
//! same under `--cfg madsim`). A table on stdout, JSON into
//! `$TWINNET_BENCH_DIR/check.json` (default `target/bench`). Exits 1 if a
//! vector is missing or misclassified.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use twinnet_check::generate::{RegisterWorkload, history_from_events, register_events};
use twinnet_check::history::{Format, Func, History, Outcome, Value};
use twinnet_check::{CheckOptions, ModelKind, Verdict, check_with, jsonl, parse_str};

#[path = "../tests/common/vectors.rs"]
mod vectors;
use vectors::{load, parse_manifest, vectors_dir};

const VECTOR_TARGET: Duration = Duration::from_secs(5);
const GENERATED_TARGET: Duration = Duration::from_secs(1);
const GENERATED: RegisterWorkload = RegisterWorkload {
    ops: 10_000,
    processes: 10,
    keys: 100,
    values: 5,
    indeterminate_per_mille: 10,
    seed: 42,
};
/// Runs of the generated history; the median is reported.
const GENERATED_RUNS: usize = 5;
/// The one-register shape (item 3); its seeds are the runs.
const CONTENDED: RegisterWorkload = RegisterWorkload {
    ops: 10_000,
    processes: 20,
    keys: 1,
    values: 5,
    indeterminate_per_mille: 10,
    seed: 0,
};
const CONTENDED_SEEDS: std::ops::Range<u64> = 1..6;
const CONTENDED_TIME_LIMIT: Duration = Duration::from_secs(10);
const CONTENDED_MEMO_BYTES: u64 = 1 << 30;

/// Writes `figures` as `$TWINNET_BENCH_DIR/<file_name>` (default
/// `target/bench`), as the workspace's other benches do; this crate depends
/// on no other twinnet crate, so it has its own copy of the few lines.
fn write_bench_json(file_name: &str, figures: &serde_json::Value) {
    let dir = std::env::var_os("TWINNET_BENCH_DIR").map_or_else(
        || std::path::PathBuf::from("target/bench"),
        std::path::PathBuf::from,
    );
    let path = dir.join(file_name);
    let written = serde_json::to_vec_pretty(figures)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes))
        });
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(err) => eprintln!("error: cannot write {}: {err}", path.display()),
    }
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e3
}

#[derive(Default)]
struct VectorTotals {
    listed: usize,
    missing: usize,
    wrong: Vec<String>,
    verdict_time: Duration,
    with_core_time: Duration,
    slowest: (String, Duration),
}

/// Parses and checks one file; returns the verdict and the time taken.
fn timed_check(
    path: &std::path::Path,
    model: ModelKind,
    options: &CheckOptions,
) -> (Option<Verdict>, Duration) {
    let started = Instant::now();
    let verdict = load(path)
        .ok()
        .and_then(|history| check_with(&history, model, options).ok().map(|r| r.verdict));
    (verdict, started.elapsed())
}

fn bench_vectors() -> VectorTotals {
    let dir = vectors_dir();
    let mut totals = VectorTotals::default();
    let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
        eprintln!("error: no MANIFEST.tsv in {}", dir.display());
        totals.missing = 1;
        return totals;
    };
    let verdict_only = CheckOptions {
        shrink: false,
        ..CheckOptions::default()
    };
    let rows = match parse_manifest(&manifest) {
        Ok(rows) => rows,
        Err(err) => {
            totals.wrong.push(err);
            return totals;
        }
    };
    for row in rows {
        let file = row.file.as_str();
        totals.listed += 1;
        let path = dir.join(file);
        if !path.is_file() {
            totals.missing += 1;
            continue;
        }
        let (model, wanted) = (row.model, row.expected.verdict());
        let (verdict, fast) = timed_check(&path, model, &verdict_only);
        let (_, full) = timed_check(&path, model, &CheckOptions::default());
        if verdict != Some(wanted) {
            totals
                .wrong
                .push(format!("{file}: expected {wanted:?}, got {verdict:?}"));
        }
        totals.verdict_time += fast;
        totals.with_core_time += full;
        if full > totals.slowest.1 {
            totals.slowest = (file.to_string(), full);
        }
    }
    totals
}

struct GeneratedRun {
    parse: Duration,
    check: Duration,
    verdict: Verdict,
}

fn bench_generated() -> Option<GeneratedRun> {
    let events = register_events(&GENERATED);
    let text: String = events
        .iter()
        .map(|event| jsonl::event_to_line(event) + "\n")
        .collect();
    let mut runs = Vec::with_capacity(GENERATED_RUNS);
    for _ in 0..GENERATED_RUNS {
        let started = Instant::now();
        let history = parse_str(&text).ok()?;
        let parse = started.elapsed();
        let started = Instant::now();
        let report = check_with(&history, ModelKind::RegisterCas, &CheckOptions::default()).ok()?;
        runs.push(GeneratedRun {
            parse,
            check: started.elapsed(),
            verdict: report.verdict,
        });
    }
    runs.sort_by_key(|run| run.parse + run.check);
    runs.into_iter().nth(GENERATED_RUNS / 2)
}

/// One decision on the contended shape.
struct ContendedRun {
    seed: u64,
    corrupted: bool,
    verdict: Verdict,
    check: Duration,
    memo_bytes: u64,
    steps: u64,
}

impl ContendedRun {
    fn expected(&self) -> Verdict {
        if self.corrupted {
            Verdict::NotLinearizable
        } else {
            Verdict::Linearizable
        }
    }

    /// A verdict that contradicts the construction (never an `Unknown`).
    fn is_wrong(&self) -> bool {
        self.verdict != Verdict::Unknown && self.verdict != self.expected()
    }

    fn met_target(&self) -> bool {
        self.verdict == self.expected() && self.check <= CONTENDED_TIME_LIMIT
    }
}

/// The history of `workload`, its middle read (the first completed read
/// from the middle on) changed to a value no op writes when `corrupt`.
fn contended_history(workload: &RegisterWorkload, corrupt: bool) -> Option<History> {
    let history = history_from_events(register_events(workload)).ok()?;
    if !corrupt {
        return Some(history);
    }
    let mut ops = history.ops().to_vec();
    let middle = ops.len() / 2;
    let victim = (middle..ops.len()).find(|&index| {
        ops[index].f == Func::Read && matches!(ops[index].outcome, Outcome::Ok(_))
    })?;
    let never_written = i64::try_from(workload.values).ok()?;
    ops[victim].outcome = Outcome::Ok(Value::Int(never_written));
    History::from_operations(Format::Jsonl, ops).ok()
}

fn bench_contended() -> Vec<ContendedRun> {
    let options = CheckOptions {
        shrink: false,
        time_limit_per_key: Some(CONTENDED_TIME_LIMIT),
        max_memo_bytes_per_key: CONTENDED_MEMO_BYTES,
        max_steps_per_key: u64::MAX,
        ..CheckOptions::default()
    };
    let mut runs = Vec::new();
    for seed in CONTENDED_SEEDS {
        for corrupted in [false, true] {
            let workload = RegisterWorkload { seed, ..CONTENDED };
            let Some(history) = contended_history(&workload, corrupted) else {
                continue;
            };
            let started = Instant::now();
            let Ok(report) = check_with(&history, ModelKind::RegisterCas, &options) else {
                continue;
            };
            let key = report.keys.first();
            runs.push(ContendedRun {
                seed,
                corrupted,
                verdict: report.verdict,
                check: started.elapsed(),
                memo_bytes: key.map_or(0, |key| key.memo_bytes),
                steps: key.map_or(0, |key| key.steps),
            });
        }
    }
    runs
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "not-linearizable",
        Verdict::Unknown => "unknown",
    }
}

fn main() -> ExitCode {
    let vectors = bench_vectors();
    let generated = bench_generated();
    let contended = bench_contended();
    let correct = vectors.listed - vectors.missing - vectors.wrong.len();
    println!(
        "{:<46} {:>12} {:>10}",
        "linearizability checker", "wall ms", "target ms"
    );
    println!(
        "{:<46} {:>12.1} {:>10}",
        format!(
            "porcupine vectors: verdicts ({correct}/{} right)",
            vectors.listed
        ),
        ms(vectors.verdict_time),
        ms(VECTOR_TARGET)
    );
    println!(
        "{:<46} {:>12.1} {:>10}",
        "porcupine vectors: verdicts + shrunk cores",
        ms(vectors.with_core_time),
        ms(VECTOR_TARGET)
    );
    println!(
        "{:<46} {:>12.1}",
        format!("  slowest: {}", vectors.slowest.0),
        ms(vectors.slowest.1)
    );
    if let Some(run) = &generated {
        println!(
            "{:<46} {:>12.1} {:>10}",
            format!("generated 10k ops: check ({})", verdict_name(run.verdict)),
            ms(run.check),
            ms(GENERATED_TARGET)
        );
        println!(
            "{:<46} {:>12.1}",
            "generated 10k ops: JSONL parse",
            ms(run.parse)
        );
    }
    for run in &contended {
        let what = if run.corrupted {
            "corrupted read"
        } else {
            "linearizable"
        };
        println!(
            "{:<46} {:>12.1} {:>10} {} ({} MiB memo, {} steps){}",
            format!("20 procs, 10k ops, seed {} {what}", run.seed),
            ms(run.check),
            ms(CONTENDED_TIME_LIMIT),
            verdict_name(run.verdict),
            run.memo_bytes >> 20,
            run.steps,
            if run.met_target() { "" } else { "  MISSED" }
        );
    }
    for run in contended.iter().filter(|run| run.is_wrong()) {
        eprintln!(
            "WRONG: contended seed {} (corrupted: {}): {}",
            run.seed,
            run.corrupted,
            verdict_name(run.verdict)
        );
    }
    for wrong in &vectors.wrong {
        eprintln!("WRONG: {wrong}");
    }
    if vectors.missing > 0 {
        eprintln!(
            "MISSING: {} of {} vectors are not on disk: the vector timings cover only the {} present \
             (set TWINNET_PORCUPINE_VECTORS to a complete copy)",
            vectors.missing,
            vectors.listed,
            vectors.listed - vectors.missing
        );
    }
    write_bench_json(
        "check.json",
        &serde_json::json!({
            "vectors": {
                "dir": vectors_dir().display().to_string(),
                "listed": vectors.listed,
                "missing": vectors.missing,
                "correct": correct,
                "wrong": vectors.wrong,
                "verdicts_ms": ms(vectors.verdict_time),
                "verdicts_and_cores_ms": ms(vectors.with_core_time),
                "slowest_file": vectors.slowest.0,
                "slowest_ms": ms(vectors.slowest.1),
                "target_ms": ms(VECTOR_TARGET),
            },
            "generated": generated.as_ref().map(|run| serde_json::json!({
                "ops": GENERATED.ops,
                "processes": GENERATED.processes,
                "keys": GENERATED.keys,
                "verdict": verdict_name(run.verdict),
                "check_ms": ms(run.check),
                "parse_ms": ms(run.parse),
                "target_ms": ms(GENERATED_TARGET),
            })),
            "contended": {
                "ops": CONTENDED.ops,
                "processes": CONTENDED.processes,
                "keys": CONTENDED.keys,
                "values": CONTENDED.values,
                "indeterminate_per_mille": CONTENDED.indeterminate_per_mille,
                "time_limit_ms": ms(CONTENDED_TIME_LIMIT),
                "memo_budget_bytes": CONTENDED_MEMO_BYTES,
                "anchor": "porcupine: out of memory at 24 GB on a linearizable history of this shape",
                "runs": contended.iter().map(|run| serde_json::json!({
                    "seed": run.seed,
                    "corrupted_read": run.corrupted,
                    "expected": verdict_name(run.expected()),
                    "verdict": verdict_name(run.verdict),
                    "check_ms": ms(run.check),
                    "memo_bytes": run.memo_bytes,
                    "steps": run.steps,
                    "met_target": run.met_target(),
                })).collect::<Vec<_>>(),
            },
        }),
    );
    let generated_ok = generated.is_some_and(|run| run.verdict == Verdict::Linearizable);
    // A missing vector is reported (and in the JSON), not a failed
    // measurement; a wrong verdict is.
    // A spent budget is reported as a missed target; only a verdict that
    // contradicts the construction fails the bench.
    let contended_ok = !contended.iter().any(ContendedRun::is_wrong);
    if !vectors.wrong.is_empty() || !generated_ok || !contended_ok {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
