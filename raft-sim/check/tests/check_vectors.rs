//! The linearizability checker against porcupine's external test vectors:
//! every history in `MANIFEST.tsv` must get the verdict porcupine asserts.
//!
//! The vectors live beside the workspace, in `../shared/vectors/porcupine`
//! (never edited here). `TWINNET_PORCUPINE_VECTORS` may name another copy
//! of the same layout; the path used is printed. A missing directory or a
//! missing file listed in the manifest fails the test.

use std::path::Path;
use std::time::Instant;

use twinnet_check::{History, ModelKind, Verdict};

#[path = "common/vectors.rs"]
mod vectors;
use vectors::{Expected, Row, load, parse_manifest, vectors_dir};

/// Rows the manifest must hold (porcupine's 103 etcd logs and 6 kv histories).
const EXPECTED_VECTORS: usize = 109;
/// Manifest size bound: it is read whole.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Checks one vector; `Err` says how it went wrong.
fn classify(dir: &Path, row: &Row) -> Result<(), String> {
    let history = load(&dir.join(&row.file))?;
    let report = twinnet_check::check(&history, row.model).map_err(|err| err.to_string())?;
    let wanted = row.expected.verdict();
    if report.verdict != wanted {
        return Err(format!(
            "expected {wanted:?}, got {:?}\n{report}",
            report.verdict
        ));
    }
    if row.expected == Expected::LinearizableEmpty && !history.is_empty() {
        return Err(format!(
            "expected an empty history, got {} operations",
            history.len()
        ));
    }
    if report.verdict == Verdict::NotLinearizable {
        core_is_a_violation(&history, &report, row.model)?;
    }
    Ok(())
}

/// The reported core must itself be a non-linearizable history.
fn core_is_a_violation(
    history: &History,
    report: &twinnet_check::CheckReport,
    model: ModelKind,
) -> Result<(), String> {
    if report.model != model.name() {
        return Err(format!("reported model {}, checked {model}", report.model));
    }
    let violation = report.violation.as_ref().ok_or("no violation reported")?;
    let core = History::from_operations(history.format(), violation.ops.clone())
        .map_err(|err| err.to_string())?;
    let again = twinnet_check::check(&core, model).map_err(|err| err.to_string())?;
    match again.verdict {
        Verdict::NotLinearizable => Ok(()),
        other => Err(format!(
            "the reported core of {} ops checks as {other:?}",
            core.len()
        )),
    }
}

/// What checking every present vector found.
struct Sweep {
    total: usize,
    checked: usize,
    missing: Vec<String>,
    failures: Vec<String>,
}

fn classify_present() -> Sweep {
    let dir = vectors_dir();
    println!("vectors: {}", dir.display());
    assert!(
        dir.is_dir(),
        "the porcupine vectors directory {} is missing: the checker cannot be validated without it",
        dir.display()
    );
    let manifest_path = dir.join("MANIFEST.tsv");
    let size = std::fs::metadata(&manifest_path).map(|meta| meta.len());
    assert!(
        size.is_ok_and(|size| size <= MAX_MANIFEST_BYTES),
        "cannot read {}",
        manifest_path.display()
    );
    let text = std::fs::read_to_string(&manifest_path).unwrap_or_default();
    let rows = parse_manifest(&text).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        rows.len(),
        EXPECTED_VECTORS,
        "the manifest lists {} vectors",
        rows.len()
    );

    let started = Instant::now();
    let (mut missing, mut failures) = (Vec::new(), Vec::new());
    for row in &rows {
        if !dir.join(&row.file).is_file() {
            missing.push(row.file.clone());
            continue;
        }
        let one = Instant::now();
        let outcome = classify(&dir, row);
        println!(
            "{:<24} {:<13} {:<18} {:>9.3} ms {}",
            row.file,
            row.model.name(),
            format!("{:?}", row.expected),
            one.elapsed().as_secs_f64() * 1e3,
            if outcome.is_ok() { "ok" } else { "WRONG" }
        );
        if let Err(why) = outcome {
            failures.push(format!("{}: {why}", row.file));
        }
    }
    let checked = rows.len() - missing.len();
    println!(
        "{}/{checked} vectors present classified correctly in {:.3} s; {} of {} missing",
        checked - failures.len(),
        started.elapsed().as_secs_f64(),
        missing.len(),
        rows.len()
    );
    Sweep {
        total: rows.len(),
        checked,
        missing,
        failures,
    }
}

/// Every vector that is present gets porcupine's verdict. Missing ones are
/// named in the output and fail the test below, never counted as passed
/// here.
#[test]
fn present_porcupine_vectors_are_classified() {
    let sweep = classify_present();
    assert!(sweep.checked > 0, "no vector present at all");
    assert!(
        sweep.failures.is_empty(),
        "misclassified:\n{}",
        sweep.failures.join("\n")
    );
    if !sweep.missing.is_empty() {
        println!(
            "NOT CHECKED: {} of {} vectors are missing (first: {:?}); \
             all_porcupine_vectors_are_present_and_classified fails until they are",
            sweep.missing.len(),
            sweep.total,
            &sweep.missing[..sweep.missing.len().min(5)]
        );
    }
}

/// All 109 of the manifest must be present (`../shared/vectors/porcupine/`,
/// or `TWINNET_PORCUPINE_VECTORS`) and get porcupine's verdict.
#[test]
fn all_porcupine_vectors_are_present_and_classified() {
    let sweep = classify_present();
    assert!(
        sweep.failures.is_empty(),
        "misclassified:\n{}",
        sweep.failures.join("\n")
    );
    assert!(
        sweep.missing.is_empty(),
        "{} of the {} vectors are missing (first: {:?})",
        sweep.missing.len(),
        sweep.total,
        &sweep.missing[..sweep.missing.len().min(5)]
    );
}

#[test]
fn the_manifest_parser_rejects_surprises() {
    assert!(parse_manifest("file\tmodel\texpected\na\tregister-cas\tmaybe\n").is_err());
    assert!(parse_manifest("file\tmodel\texpected\na\tqueue\tlinearizable\n").is_err());
    assert!(parse_manifest("name\tkind\n").is_err());
    let rows =
        parse_manifest("file\tmodel\texpected\na\tkv-append\tlinearizable\n").expect("parses");
    assert_eq!(rows.len(), 1);
}
