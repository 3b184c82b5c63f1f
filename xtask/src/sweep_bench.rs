//! `cargo xtask bench`'s sweep step: seeds per minute of the default sweep
//! (`raft-sim sweep`, the KV app, seeds 0..100, standard nemesis) against
//! the same sweep built from a baseline revision of this repository, both
//! measured in the same run, alternately, best of [`ROUNDS`]. The ratio
//! proves that the library refactor (or any later change) costs no speed.
//!
//! The baseline is `git archive REV` unpacked under `target/bench/` and
//! built into its own target dir; REV is `$TWINNET_BENCH_BASELINE`, by
//! default [`DEFAULT_BASELINE`]. A checkout without that revision (a
//! shallow clone) writes a `skipped` JSON and says why.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cmd::{self, CargoCmd};
use crate::outln;

/// The last commit before raft-sim became a library generic over the app.
pub const DEFAULT_BASELINE: &str = "ddb4eea";
/// Alternating runs of each binary; the best of each counts.
const ROUNDS: usize = 3;
const SEEDS: &str = "0..100";
/// The target: the current sweep at least this fast relative to the baseline.
const MIN_RATIO: f64 = 0.9;

/// Runs the step and writes `sweep.json` into `bench_dir`.
pub fn run(bench_dir: &Path) -> Result<()> {
    let root = cmd::workspace_root();
    let rev = std::env::var("TWINNET_BENCH_BASELINE").unwrap_or_else(|_| DEFAULT_BASELINE.into());
    let current = build_current()?;
    let baseline = match build_baseline(&root, bench_dir, &rev) {
        Ok(path) => path,
        Err(why) => {
            outln!("bench: sweep: SKIPPED, no baseline: {why:#}");
            let json = serde_json::json!({
                "bench": "sweep",
                "skipped": true,
                "baseline": rev,
                "reason": format!("{why:#}"),
            });
            return write(bench_dir, &json);
        }
    };
    let mut best = [0.0f64; 2];
    for round in 0..ROUNDS {
        for (slot, binary) in [&current, &baseline].into_iter().enumerate() {
            let report = bench_dir.join(format!("sweep-run-{slot}-{round}.json"));
            let seeds_per_minute = sweep_once(binary, &report)?;
            best[slot] = best[slot].max(seeds_per_minute);
        }
    }
    let ratio = if best[1] > 0.0 {
        best[0] / best[1]
    } else {
        0.0
    };
    outln!(
        "bench: sweep {SEEDS}: {:.0} seeds/min now, {:.0} at {rev}: ratio {ratio:.3} (target >= {MIN_RATIO})",
        best[0],
        best[1]
    );
    let json = serde_json::json!({
        "bench": "sweep",
        "seeds": SEEDS,
        "rounds": ROUNDS,
        "baseline": rev,
        "seeds_per_minute": best[0],
        "baseline_seeds_per_minute": best[1],
        "ratio": ratio,
        "target_min_ratio": MIN_RATIO,
        "met": ratio >= MIN_RATIO,
    });
    write(bench_dir, &json)
}

fn write(bench_dir: &Path, json: &serde_json::Value) -> Result<()> {
    let path = bench_dir.join("sweep.json");
    let text = serde_json::to_string_pretty(json)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Builds this checkout's `raft-sim` (release, `--cfg madsim`).
fn build_current() -> Result<PathBuf> {
    let status = CargoCmd::new("bench sweep", ["build", "--release"])
        .madsim()
        .args(["-p", "raft-sim-cli", "--bin", "raft-sim"])
        .run()?;
    if !status.success() {
        bail!("building raft-sim failed ({})", cmd::describe(status));
    }
    Ok(cmd::workspace_root().join("target/madsim/release/raft-sim"))
}

/// Unpacks `rev` under `bench_dir` and builds its `raft-sim`.
fn build_baseline(root: &Path, bench_dir: &Path, rev: &str) -> Result<PathBuf> {
    let source = bench_dir.join("baseline-src");
    if source.exists() {
        std::fs::remove_dir_all(&source)
            .with_context(|| format!("removing {}", source.display()))?;
    }
    std::fs::create_dir_all(&source)?;
    let archive = Command::new("git")
        .args(["archive", "--format=tar", rev])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .context("running git archive")?;
    if !archive.status.success() {
        bail!(
            "git archive {rev} failed: {}",
            String::from_utf8_lossy(&archive.stderr).trim()
        );
    }
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(&source)
        .stdin(Stdio::piped())
        .spawn()
        .context("running tar")?;
    if let Some(stdin) = tar.stdin.as_mut() {
        std::io::Write::write_all(stdin, &archive.stdout).context("feeding tar")?;
    }
    let status = tar.wait()?;
    if !status.success() {
        bail!("unpacking {rev} failed ({})", cmd::describe(status));
    }
    let target = root.join("target/madsim-baseline");
    outln!(
        "==> bench sweep: building the baseline {rev} in {}",
        source.display()
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "raft-sim",
            "--bin",
            "raft-sim",
            "--target-dir",
        ])
        .arg(&target)
        .env("RUSTFLAGS", cmd::madsim_rustflags())
        .current_dir(&source)
        .status()
        .context("building the baseline")?;
    if !status.success() {
        bail!(
            "building the baseline {rev} failed ({})",
            cmd::describe(status)
        );
    }
    Ok(target.join("release/raft-sim"))
}

/// One default sweep; its seeds per minute, from its JSON report.
fn sweep_once(binary: &Path, report: &Path) -> Result<f64> {
    let status = Command::new(binary)
        .args(["sweep", "--seeds", SEEDS, "--report"])
        .arg(report)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {}", binary.display()))?;
    if !status.success() {
        bail!(
            "{} sweep failed ({})",
            binary.display(),
            cmd::describe(status)
        );
    }
    let text =
        std::fs::read_to_string(report).with_context(|| format!("reading {}", report.display()))?;
    seeds_per_minute(&text).with_context(|| format!("no seeds_per_minute in {}", report.display()))
}

/// `summary.seeds_per_minute` of a sweep report (both versions write it).
fn seeds_per_minute(report: &str) -> Option<f64> {
    let report: serde_json::Value = serde_json::from_str(report).ok()?;
    report.pointer("/summary/seeds_per_minute")?.as_f64()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_seeds_per_minute_from_a_report() {
        let report =
            "{\"summary\": {\"seeds_run\": 100,\n \"seeds_per_minute\": 487.25,\n \"jobs\": 2}}";
        assert_eq!(super::seeds_per_minute(report), Some(487.25));
        assert_eq!(super::seeds_per_minute("{}"), None);
    }
}
