//! `raft-sim net-sweep`: the madsim-net chaos scenario over a range of seeds,
//! one fresh simulation per seed, in parallel jobs.
// The binary drives these only under cfg(madsim).
#![cfg_attr(not(madsim), allow(dead_code))]

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use raft_sim::runner::SeedFlags;

/// Flags of `net-sweep`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub sweep: SeedFlags,
    /// Where artifacts go.
    #[arg(long, default_value = "docs/simulations/runs")]
    pub artifacts: PathBuf,
}

/// One seed's outcome: the common figures and what `net-sweep` adds.
pub type SeedResult = raft_sim::runner::SeedResult<NetDetail>;

/// What `net-sweep` reports of a seed beyond the common figures (its
/// scenario runs no client operations: `ops` is 0).
#[derive(Debug, Clone, Serialize)]
pub struct NetDetail {
    pub failure: Option<String>,
    pub counters: serde_json::Value,
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
    use std::process::ExitCode;
    use std::time::{Duration, Instant};

    use madsim_net::artifact::{Artifact, SCHEMA_VERSION, Status};
    use madsim_net::{NetBackend, SimBackend, scenario};

    use super::{Args, NetDetail, SeedResult};
    use raft_sim::runner::{self, replay_command};

    /// Simulated time a seed may take before it counts as hung.
    const SEED_TIME_LIMIT: Duration = Duration::from_secs(600);

    pub fn run(args: Args) -> anyhow::Result<ExitCode> {
        let jobs = args.sweep.jobs.unwrap_or_else(runner::default_jobs);
        let started = Instant::now();
        let results = runner::run_seeds("net-sweep", args.sweep.seeds.clone(), jobs, |seed| {
            run_seed(seed, &args)
        })?;
        let summary = runner::summarize(&results, started.elapsed(), jobs);
        runner::print_summary("net-sweep: madsim-net chaos scenario", &summary);
        for failed in results.iter().filter(|r| !r.passed) {
            println!(
                "FAILED seed {}: {}",
                failed.seed,
                failed.failure.as_deref().unwrap_or("?")
            );
            println!("  replay: {}", replay_command(failed.seed, ""));
            if let Some(path) = &failed.artifact {
                println!("  artifact: {}", path.display());
            }
        }
        if let Some(path) = &args.sweep.report {
            let report = serde_json::json!({ "summary": summary, "seeds": results });
            runner::write_report(path, &report)?;
        }
        Ok(if summary.seeds_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    struct Ran {
        verdict: Result<(), String>,
        simulated: Duration,
        hash: u64,
        counters: serde_json::Value,
        record: serde_json::Value,
    }

    async fn chaos() -> Result<Ran, String> {
        let start = madsim::time::Instant::now();
        let mut backend = SimBackend::new().map_err(|e| e.to_string())?;
        let config = scenario::ChaosConfig::draw().map_err(|e| e.to_string())?;
        let mut record =
            serde_json::json!({ "case": serde_json::to_value(&config).unwrap_or_default() });
        let verdict = scenario::chaos_case(&mut backend, &config).await;
        if let Ok(report) = &verdict {
            record["measured"] = serde_json::to_value(report).unwrap_or_default();
        }
        Ok(Ran {
            verdict: verdict.map(|_| ()).map_err(|e| e.to_string()),
            simulated: start.elapsed(),
            hash: backend.trace_hash(),
            counters: serde_json::to_value(backend.counters()).unwrap_or_default(),
            record,
        })
    }

    fn run_seed(seed: u64, args: &Args) -> SeedResult {
        let wall = Instant::now();
        let outcome = runner::simulate(seed, SEED_TIME_LIMIT, chaos);
        let wall_us = wall.elapsed().as_micros() as u64;
        let ran = match outcome {
            Ok(Ok(ran)) => ran,
            Ok(Err(why)) | Err(why) => Ran {
                verdict: Err(why),
                simulated: Duration::ZERO,
                hash: 0,
                counters: Default::default(),
                record: Default::default(),
            },
        };
        let failure = ran.verdict.err();
        let passed = failure.is_none();
        let trace_hash = Artifact::trace_hash_hex(ran.hash);
        let simulated_ms = ran.simulated.as_millis() as u64;
        let artifact = (!passed || args.sweep.keep_artifacts).then(|| Artifact {
            schema_version: SCHEMA_VERSION,
            name: "net-chaos".into(),
            seed,
            config: ran.record,
            status: if passed {
                Status::Passed
            } else {
                Status::Failed
            },
            failure: failure.clone(),
            simulated_duration_ms: simulated_ms,
            wall_duration_ms: wall_us / 1_000,
            counters: ran.counters.clone(),
            trace_hash: trace_hash.clone(),
            replay: replay_command(seed, ""),
        });
        let artifact = artifact.and_then(|a| a.write_to(&args.artifacts).ok());
        SeedResult {
            seed,
            passed,
            ops: 0,
            simulated_ms,
            wall_us,
            trace_hash,
            artifact,
            detail: NetDetail {
                failure,
                counters: ran.counters,
            },
        }
    }
}
