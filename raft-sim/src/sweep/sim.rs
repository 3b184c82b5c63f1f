//! The simulated half of the main job: one seed end to end.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use madsim_net::SimBackend;
use madsim_net::artifact::Artifact;

use super::case::{self, Outcome, RunLabel, failed_setup, print_one};
use super::{ReplayArgs, RunArgs, RunConfig, SweepArgs};
use crate::runner::{self, replay_command};

/// Simulated time one seed may take before it counts as hung.
const SEED_TIME_LIMIT: Duration = Duration::from_secs(1_800);

pub fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let config = args.run.config().map_err(anyhow::Error::msg)?;
    let jobs = args.sweep.jobs.unwrap_or_else(runner::default_jobs);
    let replay_flags = args.run.replay_flags();
    let started = Instant::now();
    let results = runner::run_seeds("sweep", args.sweep.seeds.clone(), jobs, |seed| {
        let outcome = run_seed(seed, &config);
        outcome.finish(
            seed,
            &config,
            &args.run.artifacts,
            args.sweep.keep_artifacts,
            &RunLabel::simulated(seed, &replay_flags),
        )
    })?;
    let summary = runner::summarize(&results, started.elapsed(), jobs);
    runner::print_summary(
        &format!(
            "sweep: {}-node Raft cluster, {} ops/seed ({}), nemesis {}{}",
            config.nodes,
            config.workload.ops,
            config.workload.model,
            config.nemesis,
            if config.bugs.is_none() {
                String::new()
            } else {
                format!(", bugs {:?}", config.bugs)
            }
        ),
        &summary,
    );
    for failed in results.iter().filter(|r| !r.passed) {
        println!("FAILED seed {}:", failed.seed);
        for failure in &failed.failures {
            println!("  {failure}");
        }
        println!("  replay: {}", replay_command(failed.seed, &replay_flags));
        if let Some(path) = &failed.artifact {
            println!(
                "  artifact: {} (raft-sim replay {})",
                path.display(),
                path.display()
            );
        }
    }
    if let Some(path) = &args.sweep.report {
        let report = serde_json::json!({ "config": config, "summary": summary, "seeds": results });
        runner::write_report(path, &report)?;
    }
    Ok(if summary.seeds_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = args.run.config().map_err(anyhow::Error::msg)?;
    let replay_flags = args.run.replay_flags();
    let result = run_seed(args.seed, &config).finish(
        args.seed,
        &config,
        &args.run.artifacts,
        true,
        &RunLabel::simulated(args.seed, &replay_flags),
    );
    print_one(&result);
    Ok(if result.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let artifact = Artifact::read_from(&args.artifact).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config: RunConfig =
        serde_json::from_value(artifact.config.get("run").cloned().unwrap_or_default())
            .with_context(|| format!("{} holds no raft-sim run config", args.artifact.display()))?;
    let outcome = run_seed(artifact.seed, &config);
    let hash = Artifact::trace_hash_hex(outcome.trace_hash);
    println!(
        "replayed seed {} ({} failure(s) now)",
        artifact.seed,
        outcome.failures.len()
    );
    for failure in &outcome.failures {
        println!("  {failure}");
    }
    if hash == artifact.trace_hash {
        println!("trace hash {hash}: identical to the artifact");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "trace hash {hash} DIFFERS from the artifact's {}: the run is not reproducible",
            artifact.trace_hash
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Runs one seed in a fresh simulation; never panics.
pub fn run_seed(seed: u64, config: &RunConfig) -> Outcome {
    let wall = Instant::now();
    let outcome = runner::simulate(seed, SEED_TIME_LIMIT, || {
        simulate_seed(config.clone(), seed)
    });
    let mut outcome = outcome.unwrap_or_else(failed_setup);
    outcome.wall = wall.elapsed();
    outcome
}

async fn simulate_seed(config: RunConfig, seed: u64) -> Outcome {
    match SimBackend::new() {
        Ok(backend) => case::run_case(backend, config, seed).await,
        Err(err) => failed_setup(format!("setup: {err}")),
    }
}
