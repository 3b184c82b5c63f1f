//! `raft-sim merge`: the reports of a sweep's shards (`--shard K/N`, on as
//! many machines) joined into the report of one sweep.
//!
//! Everything a seed decides is the same wherever it ran, so the merged
//! seeds, counts, simulated time and coverage equal an unsharded sweep's,
//! seed for seed and trace hash for trace hash; only the wall-clock figures
//! differ (the merged wall time is the longest shard's: they ran at once).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{CoverageTotals, SeedResult};
use crate::runner::{self, Summary};

/// Reports merged at once, at most.
pub const MAX_REPORTS: usize = 10_000;
/// The largest report read, bytes.
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

/// `raft-sim merge REPORT.json...`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' reports (`raft-sim sweep --shard K/N --report FILE`).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Also write the merged report to this JSON file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

/// Why reports could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is larger than {MAX_REPORT_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path} is not a sweep report (written by `raft-sim sweep --report`): {error}")]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path} swept another configuration than {first}: merge only shards of one sweep")]
    OtherConfig { path: PathBuf, first: PathBuf },
    #[error("seed {seed} is in two reports ({path} and an earlier one): were shards repeated?")]
    DuplicateSeed { seed: u64, path: PathBuf },
    #[error("{count} reports, more than the {MAX_REPORTS} merged at once")]
    TooMany { count: usize },
}

/// The part of a sweep report a merge reads.
#[derive(Debug, Deserialize)]
struct ShardReport {
    config: serde_json::Value,
    summary: Summary,
    seeds: Vec<SeedResult>,
}

/// The merged sweep.
#[derive(Debug, serde::Serialize)]
pub struct Merged {
    pub config: serde_json::Value,
    pub summary: Summary,
    pub coverage: CoverageTotals,
    pub seeds: Vec<SeedResult>,
    /// The reports merged, in the order given.
    pub shards: Vec<PathBuf>,
}

/// Reads and merges `paths`.
pub fn merge_reports(paths: &[PathBuf]) -> Result<Merged, MergeError> {
    if paths.len() > MAX_REPORTS {
        return Err(MergeError::TooMany { count: paths.len() });
    }
    let mut config: Option<(serde_json::Value, &PathBuf)> = None;
    let (mut seeds, mut seen) = (Vec::new(), BTreeSet::new());
    let (mut wall, mut jobs) = (0f64, 0u16);
    for path in paths {
        let report = read(path)?;
        match &config {
            None => config = Some((report.config.clone(), path)),
            Some((first, first_path)) if *first != report.config => {
                return Err(MergeError::OtherConfig {
                    path: path.clone(),
                    first: (*first_path).clone(),
                });
            }
            Some(_) => {}
        }
        for seed in report.seeds {
            if !seen.insert(seed.seed) {
                let path = path.clone();
                return Err(MergeError::DuplicateSeed {
                    seed: seed.seed,
                    path,
                });
            }
            seeds.push(seed);
        }
        wall = wall.max(report.summary.wall_seconds);
        jobs = jobs.saturating_add(report.summary.jobs);
    }
    seeds.sort_by_key(|s| s.seed);
    let config = config.map(|(c, _)| c).unwrap_or_default();
    let summary = runner::summarize(&seeds, Duration::from_secs_f64(wall), jobs);
    let faults_planned = config["nemesis"].as_str().is_some_and(|n| n != "none");
    let coverage = CoverageTotals::add_up(seeds.iter().map(|s| &s.coverage), faults_planned);
    Ok(Merged {
        config,
        summary,
        coverage,
        seeds,
        shards: paths.to_vec(),
    })
}

fn read(path: &Path) -> Result<ShardReport, MergeError> {
    let io = |error| MergeError::Read {
        path: path.to_path_buf(),
        error,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_REPORT_BYTES {
        return Err(MergeError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    serde_json::from_slice(&bytes).map_err(|error| MergeError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// `raft-sim merge`: prints the merged table, coverage and failing seeds
/// as a sweep does; exits 1 if a seed failed.
pub fn merge(args: &MergeArgs) -> anyhow::Result<std::process::ExitCode> {
    let merged = merge_reports(&args.reports)?;
    runner::print_summary(
        &format!("merge: {} shard reports", merged.shards.len()),
        &merged.summary,
    );
    runner::print_coverage(&merged.coverage);
    for failed in merged.seeds.iter().filter(|s| !s.passed) {
        print_failure(failed, None, "raft-sim");
    }
    if let Some(path) = &args.report {
        runner::write_report(path, &serde_json::to_value(&merged)?)?;
    }
    Ok(if merged.summary.seeds_failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// A failing seed's lines under a sweep's table.
pub fn print_failure(failed: &SeedResult, replay: Option<&str>, replay_binary: &str) {
    println!("FAILED seed {}:", failed.seed);
    for failure in &failed.failures {
        println!("  {failure}");
    }
    if let Some(replay) = replay {
        println!("  replay: {replay}");
    }
    if let Some(path) = &failed.artifact {
        println!(
            "  artifact: {} ({replay_binary} replay {})",
            path.display(),
            path.display()
        );
    }
    if let Some(path) = &failed.timeline {
        println!("  timeline: {} (open it in a browser)", path.display());
    }
}
