//! `raft-sim net-sweep`: the madsim-net chaos scenario over a range of seeds,
//! one fresh simulation per seed, in parallel jobs.

use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

/// Flags of `net-sweep`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seeds to run, `A..B` (B exclusive) or one seed.
    #[arg(long, default_value = "0..100", value_parser = crate::seeds::parse_range)]
    pub seeds: Range<u64>,
    /// Seeds simulated at once (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Also write the figures, per seed, to this JSON file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Write an artifact for every seed, not only for failing ones.
    #[arg(long)]
    pub keep_artifacts: bool,
    /// Where artifacts go.
    #[arg(long, default_value = "docs/simulations/runs")]
    pub artifacts: PathBuf,
}

/// One seed's outcome.
#[cfg_attr(not(madsim), allow(dead_code))]
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub passed: bool,
    pub failure: Option<String>,
    pub simulated_ms: u64,
    pub wall_us: u64,
    pub trace_hash: String,
    pub counters: serde_json::Value,
    pub artifact: Option<PathBuf>,
}

/// Totals of a sweep.
#[cfg_attr(not(madsim), allow(dead_code))]
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seeds_run: u64,
    pub seeds_passed: u64,
    pub seeds_failed: u64,
    pub simulated_seconds: f64,
    pub wall_seconds: f64,
    pub speed_sim_per_wall: f64,
    pub seeds_per_minute: f64,
    pub jobs: u16,
}

#[cfg(not(madsim))]
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "net-sweep runs in the simulator: use `cargo xtask sim` (it builds with RUSTFLAGS=\"--cfg madsim\")"
    )
}

#[cfg(madsim)]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    sim::run(args)
}

#[cfg(madsim)]
mod sim {
    use std::cell::RefCell;
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use madsim_net::artifact::{Artifact, SCHEMA_VERSION, Status};
    use madsim_net::{NetBackend, SimBackend, scenario};

    use super::{Args, SeedResult, Summary};

    /// Simulated time a seed may take before it counts as hung.
    const SEED_TIME_LIMIT: Duration = Duration::from_secs(600);

    thread_local! {
        static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    pub fn run(args: Args) -> anyhow::Result<ExitCode> {
        let jobs = args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(256) as u16)
        });
        quiet_panics();
        let total = args.seeds.end - args.seeds.start;
        let progress = indicatif::ProgressBar::new(total);
        progress.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} net-sweep [{bar:40}] {pos}/{len} seeds, {msg} ({elapsed}, eta {eta})",
            )
            .context("progress template")?
            .progress_chars("=> "),
        );
        let started = Instant::now();
        let next = AtomicU64::new(args.seeds.start);
        let (tx, rx) = mpsc::channel();
        let mut results = Vec::with_capacity(total as usize);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                let tx = tx.clone();
                let next = &next;
                let args = &args;
                scope.spawn(move || {
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= args.seeds.end {
                            break;
                        }
                        if tx.send(run_seed(seed, args)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut failed = 0;
            for result in rx {
                failed += u64::from(!result.passed);
                progress.set_message(format!("{failed} failed"));
                progress.inc(1);
                results.push(result);
            }
        });
        progress.finish_and_clear();
        results.sort_by_key(|r| r.seed);
        let summary = summarize(&results, started.elapsed(), jobs);
        print_table(&summary, &results);
        if let Some(path) = &args.report {
            let report = serde_json::json!({ "summary": summary, "seeds": results });
            std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            println!("report: {}", path.display());
        }
        Ok(if summary.seeds_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    /// Panics of a seed are its failure, not noise on the terminal.
    fn quiet_panics() {
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(message));
        }));
    }

    fn run_seed(seed: u64, args: &Args) -> SeedResult {
        let wall = Instant::now();
        let outcome = std::panic::catch_unwind(|| {
            let mut runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.set_time_limit(SEED_TIME_LIMIT);
            runtime.block_on(async {
                let start = madsim::time::Instant::now();
                let mut backend = SimBackend::new().map_err(|e| e.to_string())?;
                let config = scenario::ChaosConfig::draw().map_err(|e| e.to_string())?;
                let config_json = serde_json::to_value(&config).unwrap_or_default();
                let verdict = scenario::chaos_case(&mut backend, &config).await;
                let simulated = start.elapsed();
                let counters = serde_json::to_value(backend.counters()).unwrap_or_default();
                let mut record = serde_json::json!({ "case": config_json });
                if let Ok(report) = &verdict {
                    record["measured"] = serde_json::to_value(report).unwrap_or_default();
                }
                Ok::<_, String>((
                    verdict.map(|_| ()).map_err(|e| e.to_string()),
                    simulated,
                    backend.trace_hash(),
                    counters,
                    record,
                ))
            })
        });
        let wall_us = wall.elapsed().as_micros() as u64;
        let (failure, simulated_ms, hash, counters, config) = match outcome {
            Ok(Ok((verdict, simulated, hash, counters, config))) => (
                verdict.err(),
                simulated.as_millis() as u64,
                Some(hash),
                counters,
                config,
            ),
            Ok(Err(setup)) => (Some(setup), 0, None, Default::default(), Default::default()),
            Err(_) => {
                let message = LAST_PANIC.with(|slot| slot.borrow_mut().take());
                let failure = format!(
                    "panicked: {}",
                    message.unwrap_or_else(|| "unknown panic".into())
                );
                (
                    Some(failure),
                    0,
                    None,
                    Default::default(),
                    Default::default(),
                )
            }
        };
        let passed = failure.is_none();
        let trace_hash = hash.map(Artifact::trace_hash_hex).unwrap_or_default();
        let artifact = (!passed || args.keep_artifacts).then(|| Artifact {
            schema_version: SCHEMA_VERSION,
            name: "net-chaos".into(),
            seed,
            config,
            status: if passed {
                Status::Passed
            } else {
                Status::Failed
            },
            failure: failure.clone(),
            simulated_duration_ms: simulated_ms,
            wall_duration_ms: wall_us / 1_000,
            counters: counters.clone(),
            trace_hash: trace_hash.clone(),
            replay: replay_command(seed),
        });
        let artifact_path = artifact.and_then(|a| a.write_to(&args.artifacts).ok());
        SeedResult {
            seed,
            passed,
            failure,
            simulated_ms,
            wall_us,
            trace_hash,
            counters,
            artifact: artifact_path,
        }
    }

    fn replay_command(seed: u64) -> String {
        format!("cargo xtask sim --seeds {seed}..{}", seed + 1)
    }

    fn summarize(results: &[SeedResult], wall: Duration, jobs: u16) -> Summary {
        let passed = results.iter().filter(|r| r.passed).count() as u64;
        let simulated_seconds = results.iter().map(|r| r.simulated_ms).sum::<u64>() as f64 / 1e3;
        let wall_seconds = wall.as_secs_f64();
        let cpu_seconds = results.iter().map(|r| r.wall_us).sum::<u64>() as f64 / 1e6;
        Summary {
            seeds_run: results.len() as u64,
            seeds_passed: passed,
            seeds_failed: results.len() as u64 - passed,
            simulated_seconds,
            wall_seconds,
            // Per simulation thread: simulated time over the wall time it took.
            speed_sim_per_wall: if cpu_seconds > 0.0 {
                simulated_seconds / cpu_seconds
            } else {
                0.0
            },
            seeds_per_minute: if wall_seconds > 0.0 {
                results.len() as f64 * 60.0 / wall_seconds
            } else {
                0.0
            },
            jobs,
        }
    }

    fn print_table(summary: &Summary, results: &[SeedResult]) {
        println!("net-sweep: madsim-net chaos scenario");
        println!("  {:<22} {:>12}", "seeds run", summary.seeds_run);
        println!("  {:<22} {:>12}", "passed", summary.seeds_passed);
        println!("  {:<22} {:>12}", "failed", summary.seeds_failed);
        println!(
            "  {:<22} {:>12.1}",
            "simulated seconds", summary.simulated_seconds
        );
        println!("  {:<22} {:>12.2}", "wall seconds", summary.wall_seconds);
        println!(
            "  {:<22} {:>11.0}x",
            "speed (sim/wall)", summary.speed_sim_per_wall
        );
        println!(
            "  {:<22} {:>12.0}",
            "seeds per minute", summary.seeds_per_minute
        );
        println!("  {:<22} {:>12}", "jobs", summary.jobs);
        for failed in results.iter().filter(|r| !r.passed) {
            println!(
                "FAILED seed {}: {}",
                failed.seed,
                failed.failure.as_deref().unwrap_or("?")
            );
            println!("  replay: {}", replay_command(failed.seed));
            if let Some(path) = &failed.artifact {
                println!("  artifact: {}", path.display());
            }
        }
    }
}
