//! The simulated half of the main job: one seed end to end.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use madsim_net::SimBackend;
use madsim_net::artifact::Artifact;

use super::case::{self, Outcome, RunLabel, failed_setup, print_one};
use super::{CoverageTotals, ReplayArgs, RunArgs, RunConfig, SweepArgs};
use crate::app::App;
use crate::nemesis::NemesisPreset;
use crate::runner;

/// Simulated time one seed may take before it counts as hung.
const SEED_TIME_LIMIT: Duration = Duration::from_secs(1_800);

pub fn sweep<A: App>(app: A, args: &SweepArgs) -> anyhow::Result<ExitCode> {
    let config = args.run.config(app).map_err(anyhow::Error::msg)?;
    let jobs = args.sweep.jobs.unwrap_or_else(runner::default_jobs);
    let started = Instant::now();
    let label = format!("sweep {}", config.app_name);
    let plan = args.sweep.plan();
    let results = runner::run_seeds(&label, plan.clone(), jobs, |seed| {
        let outcome = run_seed(seed, &config);
        outcome.finish(
            seed,
            &config,
            &args.run.artifacts,
            args.sweep.keep_artifacts,
            &RunLabel::simulated(args.run.replay_command(seed)),
        )
    })?;
    let summary = runner::summarize(&results, started.elapsed(), jobs);
    runner::print_summary(
        &format!(
            "sweep: {} ({:?}), {}-node cluster, {} ops/seed ({}), nemesis {}",
            config.app_name,
            config.app,
            config.nodes,
            config.workload.ops,
            config.workload.model,
            config.nemesis,
        ),
        &summary,
    );
    if (results.len() as u64) < plan.len() {
        println!(
            "  the --duration budget ran out after {} of the plan's {} seeds",
            results.len(),
            plan.len()
        );
    }
    let coverage = CoverageTotals::add_up(
        results.iter().map(|r| &r.coverage),
        config.nemesis != NemesisPreset::None,
    );
    runner::print_coverage(&coverage);
    for failed in results.iter().filter(|r| !r.passed) {
        let replay = args.run.replay_command(failed.seed);
        super::merge::print_failure(failed, Some(&replay), args.run.replay_binary());
    }
    if let Some(path) = &args.sweep.report {
        let report = serde_json::json!({
            "config": config,
            "plan": plan,
            "summary": summary,
            "coverage": coverage,
            "seeds": results,
        });
        runner::write_report(path, &report)?;
    }
    Ok(if summary.seeds_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn run<A: App>(app: A, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let config = args.run.config(app).map_err(anyhow::Error::msg)?;
    if args.check_determinism {
        return Ok(match check_determinism(args.seed, &config) {
            Ok(hash) => {
                println!("seed {}: deterministic, trace {hash} twice", args.seed);
                ExitCode::SUCCESS
            }
            Err(divergence) => {
                println!("{divergence}");
                ExitCode::FAILURE
            }
        });
    }
    let result = run_seed(args.seed, &config).finish(
        args.seed,
        &config,
        &args.run.artifacts,
        true,
        &RunLabel::simulated(args.run.replay_command(args.seed)),
    );
    print_one(&result);
    Ok(if result.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn replay<A: App>(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let artifact = Artifact::read_from(&args.artifact).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config: RunConfig<A> =
        serde_json::from_value(artifact.config.get("run").cloned().unwrap_or_default())
            .with_context(|| {
                format!(
                    "{} holds no run config of this app (or an unknown nemesis preset or model)",
                    args.artifact.display()
                )
            })?;
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

/// `raft-sim shrink`: a smaller run of a failing artifact's seed that
/// fails the same way, written as an artifact of its own.
pub fn shrink<A: App>(args: &super::shrink::ShrinkArgs) -> anyhow::Result<ExitCode> {
    use super::shrink;
    let (artifact, config, class) = shrink::read_failing::<A>(&args.artifact)?;
    let dir = args.out.clone().unwrap_or_else(|| {
        args.artifact.parent().map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        )
    });
    println!(
        "shrinking seed {} ({class}): {} fault steps, {} ops, {} clients; at most {} runs",
        artifact.seed,
        config.schedule.as_ref().map_or(0, Vec::len),
        config.workload.ops,
        config.workload.clients,
        args.max_runs
    );
    let original = run_seed(artifact.seed, &config);
    if !shrink::classes_of(&original.failures).contains(&class) {
        anyhow::bail!(
            "{} does not fail with {class} when its seed reruns with its own schedule \
             (failures now: {:?}): nothing to shrink",
            args.artifact.display(),
            original.failures
        );
    }
    let run = |seed: u64, config: &RunConfig<A>| run_seed(seed, config).failures;
    let (best, report) = shrink::shrink_run(artifact.seed, config, class, args.max_runs, &run);
    let name = format!("{}-shrunk", artifact.name);
    let path = dir.join(format!("{name}-seed{}.json", artifact.seed));
    let label = RunLabel {
        name,
        replay: format!("raft-sim replay {}", path.display()),
    };
    let result = run_seed(artifact.seed, &best).finish(artifact.seed, &best, &dir, true, &label);
    shrink::print_report(&report);
    print_one(&result);
    match &result.artifact {
        Some(written) => println!(
            "wrote {} (replay: raft-sim replay {})",
            written.display(),
            written.display()
        ),
        None => anyhow::bail!("could not write the shrunk artifact into {}", dir.display()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one seed in a fresh simulation; never panics.
pub fn run_seed<A: App>(seed: u64, config: &RunConfig<A>) -> Outcome {
    let wall = Instant::now();
    let outcome = runner::simulate(seed, SEED_TIME_LIMIT, || {
        simulate_seed(config.clone(), seed)
    });
    // A seed that panicked returns no outcome, but its schedule was drawn.
    let drawn = case::take_drawn_schedule();
    let mut outcome = outcome.unwrap_or_else(|why| Outcome {
        schedule: drawn,
        ..failed_setup(why)
    });
    outcome.wall = wall.elapsed();
    outcome
}

async fn simulate_seed<A: App>(config: RunConfig<A>, seed: u64) -> Outcome {
    simulate_traced(config, seed, false).await.0
}

async fn simulate_traced<A: App>(
    config: RunConfig<A>,
    seed: u64,
    keep_events: bool,
) -> (Outcome, Vec<madsim_net::Event>) {
    match SimBackend::new() {
        Ok(backend) => case::run_case_traced(backend, config, seed, keep_events).await,
        Err(err) => (failed_setup(format!("setup: {err}")), Vec::new()),
    }
}

/// Where two runs of one seed first went apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub seed: u64,
    pub trace_hashes: [String; 2],
    /// Index in the event log (of the retained events) of the first
    /// difference, its simulated time, and the event of each run there
    /// (`None`: that run's log had ended).
    pub index: usize,
    pub time_ns: u64,
    pub events: [Option<String>; 2],
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "(log ended)".into());
        write!(
            f,
            "seed {} is not deterministic: trace {} then {}; the runs first differ at event {} \
             ({:.3} simulated s): {} vs {}. Look for what node code does there without the \
             simulator: tokio or std time, threads, an unbiased select!, HashMap order, \
             an RNG outside madsim_net::rand",
            self.seed,
            self.trace_hashes[0],
            self.trace_hashes[1],
            self.index,
            self.time_ns as f64 / 1e9,
            show(&self.events[0]),
            show(&self.events[1]),
        )
    }
}

/// Runs `seed` twice and compares the two runs' event logs and trace
/// hashes: `Ok(trace hash)` when they are identical, else where they first
/// diverged.
pub fn check_determinism<A: App>(seed: u64, config: &RunConfig<A>) -> Result<String, Divergence> {
    let run = || {
        runner::simulate(seed, SEED_TIME_LIMIT, || {
            simulate_traced(config.clone(), seed, true)
        })
        .unwrap_or_else(|why| (failed_setup(why), Vec::new()))
    };
    let (first, first_events) = run();
    let (second, second_events) = run();
    let hashes = [first.trace_hash, second.trace_hash].map(Artifact::trace_hash_hex);
    let index = first_events
        .iter()
        .zip(&second_events)
        .position(|(a, b)| a != b)
        .unwrap_or(first_events.len().min(second_events.len()));
    let same_log = first_events.len() == second_events.len() && index == first_events.len();
    if same_log && hashes[0] == hashes[1] && first.failures == second.failures {
        return Ok(hashes[0].clone());
    }
    let at = |events: &[madsim_net::Event]| events.get(index).map(|e| format!("{e:?}"));
    let time_ns = [&first_events, &second_events]
        .iter()
        .filter_map(|events| events.get(index).map(|e| e.time_ns))
        .min()
        .unwrap_or(0);
    Err(Divergence {
        seed,
        trace_hashes: hashes,
        index,
        time_ns,
        events: [at(&first_events), at(&second_events)],
    })
}
