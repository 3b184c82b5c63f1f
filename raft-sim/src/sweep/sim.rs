//! The simulated half of the main job: one seed end to end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::{self, Either};
use madsim_net::artifact::{Artifact, SCHEMA_VERSION, Status};
use madsim_net::{NetBackend, SimBackend, time};

use super::{ReplayArgs, RunArgs, RunConfig, SeedResult, SweepArgs};
use crate::check;
use crate::cluster::{Cluster, ClusterOptions};
use crate::invariants::{self, LeaderWatch};
use crate::nemesis::{self, Schedule};
use crate::runner::{self, replay_command};
use crate::store::CrashPolicy;
use crate::workload::{self, HistoryEvent, Model};

/// Simulated time one seed may take before it counts as hung.
const SEED_TIME_LIMIT: Duration = Duration::from_secs(1_800);
/// After the nemesis stops, a leader must be elected and a write commit within this.
const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// How often the leader-per-term invariant samples every node's metrics.
const WATCH_INTERVAL: Duration = Duration::from_millis(10);

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
            &replay_flags,
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
        &replay_flags,
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

fn print_one(result: &SeedResult) {
    let status = if result.passed { "passed" } else { "FAILED" };
    println!(
        "seed {}: {status}, {} ops, {} faults, {:.1} simulated s, trace {}",
        result.seed,
        result.ops,
        result.faults,
        result.simulated_ms as f64 / 1e3,
        result.trace_hash
    );
    for failure in &result.failures {
        println!("  {failure}");
    }
    if let Some(path) = &result.artifact {
        println!("artifact: {}", path.display());
    }
    if let Some(path) = &result.history {
        println!("history: {}", path.display());
    }
}

/// Everything one seed produced, before it is written out.
pub struct Outcome {
    pub failures: Vec<String>,
    pub history: Vec<HistoryEvent>,
    pub faults: serde_json::Value,
    pub fault_count: u64,
    pub counters: serde_json::Value,
    pub trace_hash: u64,
    pub simulated: Duration,
    pub wall: Duration,
}

impl Outcome {
    fn finish(
        self,
        seed: u64,
        config: &RunConfig,
        dir: &Path,
        keep: bool,
        replay_flags: &str,
    ) -> SeedResult {
        let passed = self.failures.is_empty();
        let trace_hash = Artifact::trace_hash_hex(self.trace_hash);
        let ops = self
            .history
            .iter()
            .filter(|e| e.kind == workload::EventType::Invoke)
            .count() as u64;
        let (mut artifact_path, mut history_path) = (None, None);
        if !passed || keep {
            history_path = write_history(dir, seed, &self.history);
            let artifact = Artifact {
                schema_version: SCHEMA_VERSION,
                name: "raft-sweep".into(),
                seed,
                config: serde_json::json!({ "run": config, "faults": self.faults }),
                status: if passed {
                    Status::Passed
                } else {
                    Status::Failed
                },
                failure: (!passed).then(|| self.failures.join("; ")),
                simulated_duration_ms: self.simulated.as_millis() as u64,
                wall_duration_ms: self.wall.as_millis() as u64,
                counters: self.counters,
                trace_hash: trace_hash.clone(),
                replay: replay_command(seed, replay_flags),
            };
            artifact_path = artifact.write_to(dir).ok();
        }
        SeedResult {
            seed,
            passed,
            failures: self.failures,
            ops,
            simulated_ms: self.simulated.as_millis() as u64,
            wall_us: self.wall.as_micros() as u64,
            trace_hash,
            faults: self.fault_count,
            artifact: artifact_path,
            history: history_path,
        }
    }
}

fn write_history(dir: &Path, seed: u64, history: &[HistoryEvent]) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("raft-sweep-seed{seed}.history.jsonl"));
    std::fs::write(&path, workload::to_jsonl(history)).ok()?;
    Some(path)
}

/// Runs one seed in a fresh simulation; never panics.
pub fn run_seed(seed: u64, config: &RunConfig) -> Outcome {
    let wall = Instant::now();
    let outcome = runner::simulate(seed, SEED_TIME_LIMIT, || simulate_seed(config.clone()));
    let mut outcome = outcome.unwrap_or_else(failed_setup);
    outcome.wall = wall.elapsed();
    outcome
}

async fn simulate_seed(config: RunConfig) -> Outcome {
    let start = time::Instant::now();
    let backend = match SimBackend::new() {
        Ok(backend) => backend,
        Err(err) => return failed_setup(format!("setup: {err}")),
    };
    let options = ClusterOptions {
        nodes: config.nodes,
        voters: config.nodes,
        crash: CrashPolicy::LoseRandomSuffix,
        bugs: config.bugs,
    };
    let cluster = match Cluster::start(backend, options).await {
        Ok(cluster) => cluster,
        Err(err) => return failed_setup(format!("cluster start: {err}")),
    };
    let mut failures = Vec::new();
    let (history, faults) = drive(&cluster, &config, &mut failures).await;
    settle(&cluster, &mut failures).await;
    if let Err(violation) = linearizability(&history, config.workload.model) {
        failures.push(format!("linearizability: {violation}"));
    }
    let fault_count = faults.as_array().map_or(0, |f| f.len() as u64);
    Outcome {
        failures,
        history,
        faults,
        fault_count,
        counters: serde_json::to_value(cluster.backend.counters()).unwrap_or_default(),
        trace_hash: cluster.backend.trace_hash(),
        simulated: start.elapsed(),
        wall: Duration::ZERO,
    }
}

/// Checks the recorded history with the checker's default (step, not
/// time) budgets, so the verdict is as reproducible as the seed.
fn linearizability(history: &[HistoryEvent], model: Model) -> Result<(), String> {
    let parsed = check::parse_str(&workload::to_jsonl(history))
        .map_err(|e| format!("history unreadable: {e}"))?;
    let kind = match model {
        Model::RegisterCas => check::ModelKind::RegisterCas,
        Model::KvAppend => check::ModelKind::KvAppend,
    };
    let report =
        check::check(&parsed, kind).map_err(|e| format!("history does not fit the model: {e}"))?;
    match report.verdict {
        check::Verdict::Linearizable => Ok(()),
        check::Verdict::NotLinearizable | check::Verdict::Unknown => Err(report.to_string()),
    }
}

/// A seed that ended before it produced anything: set-up failed or panicked.
fn failed_setup(why: String) -> Outcome {
    Outcome {
        failures: vec![why],
        history: Vec::new(),
        faults: serde_json::Value::Null,
        fault_count: 0,
        counters: serde_json::Value::Null,
        trace_hash: 0,
        simulated: Duration::ZERO,
        wall: Duration::ZERO,
    }
}

/// The workload and the nemesis at once, with the leader watch sampling
/// until the workload is done.
async fn drive<B: NetBackend>(
    cluster: &Cluster<B>,
    config: &RunConfig,
    failures: &mut Vec<String>,
) -> (Vec<HistoryEvent>, serde_json::Value) {
    if let Err(err) = cluster.wait_for_leader(Duration::from_secs(10)).await {
        failures.push(format!("liveness: no initial leader: {err}"));
    }
    let task = match workload::start(cluster, config.workload.clone()) {
        Ok(task) => task,
        Err(err) => {
            failures.push(format!("workload: {err}"));
            return (Vec::new(), serde_json::Value::Null);
        }
    };
    let preset = config
        .nemesis
        .parse()
        .unwrap_or(nemesis::NemesisPreset::None);
    let schedule = Schedule::generate(preset, config.nodes, expected_duration(config));
    let mut watch = LeaderWatch::new();
    let watching = async {
        let mut task = std::pin::pin!(task);
        loop {
            watch.sample(cluster);
            match future::select(task.as_mut(), std::pin::pin!(time::sleep(WATCH_INTERVAL))).await {
                Either::Left((history, _)) => break history,
                Either::Right(_) => {}
            }
        }
    };
    let (faults, history) = future::join(nemesis::run(cluster, &schedule), watching).await;
    let faults = match faults {
        Ok(applied) => serde_json::to_value(applied).unwrap_or_default(),
        Err(err) => {
            failures.push(format!("nemesis: {err}"));
            serde_json::Value::Null
        }
    };
    let history = history.unwrap_or_else(|err| {
        failures.push(format!("workload: {err}"));
        Vec::new()
    });
    for violation in watch.violations() {
        failures.push(format!("invariant: {violation}"));
    }
    (history, faults)
}

/// How long the nemesis schedule spans: about as long as the workload.
fn expected_duration(config: &RunConfig) -> Duration {
    let per_client = config.workload.ops.div_ceil(config.workload.clients.max(1)) as u64;
    let per_op_ms = config.workload.think_ms + 15;
    Duration::from_millis((per_client * per_op_ms).max(10_000))
}

/// Heals everything, then checks liveness and that the nodes agree.
async fn settle<B: NetBackend>(cluster: &Cluster<B>, failures: &mut Vec<String>) {
    if let Err(err) = nemesis::stop(cluster).await {
        failures.push(format!("nemesis stop: {err}"));
    }
    match invariants::liveness(cluster, LIVENESS_BOUND).await {
        Ok(_) => {
            if let Err(violation) =
                invariants::applied_prefixes_agree(cluster, LIVENESS_BOUND).await
            {
                failures.push(format!("invariant: {violation}"));
            }
        }
        Err(violation) => failures.push(format!("liveness: {violation}")),
    }
}
