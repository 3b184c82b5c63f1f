//! One chaos case, on any backend: a cluster, a client workload recording
//! a history, a nemesis, then the checks (linearizability of the history,
//! invariants, liveness after the heal). The simulator runs it per seed;
//! kernel-backend runs it on real namespaces (`cargo xtask real`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::{self, Either};
use madsim_net::artifact::{Artifact, SCHEMA_VERSION, Status};
use madsim_net::{NetBackend, time};

use super::{Coverage, RunConfig, SeedDetail, SeedResult};
use crate::app::App;
use crate::cluster::{Cluster, ClusterOptions};
use crate::invariants::{self, LeaderWatch};
use crate::nemesis::{self, ClusterControl, Schedule, ScheduleError, SwarmDraw, TimeScale};
use crate::store::CrashPolicy;
use crate::timeline::{self, RoleLog, TimelineRecord, ViolationCore};
use crate::workload::{self, HistoryEvent, Model, WorkloadConfig};
use madsim_net::stream::{Stream, StreamRng};

/// After the nemesis stops, a leader must be elected and a write commit
/// within this (at [`TimeScale::UNIT`]; it stretches with the app's timing).
const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// How often the leader-per-term invariant samples every node's metrics.
const WATCH_INTERVAL: Duration = Duration::from_millis(10);

pub fn print_one(result: &SeedResult) {
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
    if let Some(path) = &result.timeline {
        println!("timeline: {} (open it in a browser)", path.display());
    }
}

/// What a seed's artifact is called and the command that reruns it.
pub struct RunLabel {
    /// `raft-sweep` (simulated) or `raft-real` (kernel namespaces).
    pub name: String,
    pub replay: String,
}

impl RunLabel {
    /// A seed of the simulated sweep: replayable bit for bit.
    pub fn simulated(replay: String) -> RunLabel {
        RunLabel {
            name: "raft-sweep".into(),
            replay,
        }
    }
}

/// Everything one seed produced, before it is written out.
pub struct Outcome {
    pub failures: Vec<String>,
    pub history: Vec<HistoryEvent>,
    pub faults: serde_json::Value,
    /// The fault schedule's steps as the seed played them.
    pub schedule: Vec<nemesis::Step>,
    /// The seed's draw from its nemesis preset (null without faults).
    pub swarm: serde_json::Value,
    pub fault_count: u64,
    pub coverage: Coverage,
    pub counters: serde_json::Value,
    pub trace_hash: u64,
    pub simulated: Duration,
    pub wall: Duration,
    /// What the timeline page draws beyond the history and the faults.
    pub timeline: TimelineRecord,
}

impl Outcome {
    /// The seed's result; its artifact, history and timeline page are
    /// written to `dir` when it failed or when `keep` says so.
    pub fn finish<A: App>(
        self,
        seed: u64,
        config: &RunConfig<A>,
        dir: &Path,
        keep: bool,
        label: &RunLabel,
    ) -> SeedResult {
        let passed = self.failures.is_empty();
        let trace_hash = Artifact::trace_hash_hex(self.trace_hash);
        let ops = self
            .history
            .iter()
            .filter(|e| e.kind == workload::EventType::Invoke)
            .count() as u64;
        let (mut artifact_path, mut history_path, mut timeline_path) = (None, None, None);
        if !passed || keep {
            let mut timeline = self.timeline;
            timeline.failures = self.failures.clone();
            let jsonl = workload::to_jsonl(&self.history);
            history_path = write_history(dir, &label.name, seed, &jsonl);
            let artifact = Artifact {
                schema_version: SCHEMA_VERSION,
                name: label.name.clone(),
                seed,
                config: serde_json::json!({
                    "run": config, "swarm": self.swarm, "faults": self.faults,
                    "schedule": self.schedule, "timeline": timeline,
                }),
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
                replay: label.replay.clone(),
            };
            artifact_path = artifact.write_to(dir).ok();
            if let Some(path) = &artifact_path {
                match timeline::write_beside_artifact(path, &artifact, &jsonl) {
                    Ok(page) => timeline_path = Some(page),
                    Err(err) => eprintln!("warning: seed {seed}: no timeline page: {err:#}"),
                }
            }
        }
        SeedResult {
            seed,
            passed,
            ops,
            simulated_ms: self.simulated.as_millis() as u64,
            wall_us: self.wall.as_micros() as u64,
            trace_hash,
            artifact: artifact_path,
            detail: SeedDetail {
                failures: self.failures,
                faults: self.fault_count,
                coverage: self.coverage,
                history: history_path,
                timeline: timeline_path,
            },
        }
    }
}

fn write_history(dir: &Path, name: &str, seed: u64, jsonl: &str) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{name}-seed{seed}.history.jsonl"));
    std::fs::write(&path, jsonl).ok()?;
    Some(path)
}

/// One chaos case on `backend`: a cluster of the app, the workload under
/// the nemesis, then the checks. The same on every backend.
pub async fn run_case<B: NetBackend, A: App>(
    backend: B,
    config: RunConfig<A>,
    seed: u64,
) -> Outcome {
    run_case_traced(backend, config, seed, false).await.0
}

/// [`run_case`], also returning the backend's event log (the retained
/// events) when `keep_events` asks: what a determinism check compares.
pub async fn run_case_traced<B: NetBackend, A: App>(
    backend: B,
    config: RunConfig<A>,
    seed: u64,
    keep_events: bool,
) -> (Outcome, Vec<madsim_net::Event>) {
    let start = time::Instant::now();
    let options = ClusterOptions {
        nodes: config.nodes,
        voters: config.nodes,
        crash: CrashPolicy::LoseRandomSuffix,
    };
    let cluster = match Cluster::start(backend, config.app.clone(), options).await {
        Ok(cluster) => cluster,
        Err(err) => return (failed_setup(format!("cluster start: {err}")), Vec::new()),
    };
    let mut failures = Vec::new();
    let driven = drive(&cluster, &config, seed, &mut failures).await;
    let agreement = settle(&cluster, &mut failures).await;
    let checked = linearizability(&config.app, &driven.history, config.workload.model);
    let mut record = TimelineRecord {
        workload_start_ns: driven.workload_start_ns,
        roles: driven.roles,
        checked: true,
        violation: None,
        failures: Vec::new(),
    };
    if let Err(failure) = checked {
        failures.push(format!("linearizability: {}", failure.report));
        record.violation = failure.core;
    }
    let disks: Vec<_> = cluster
        .node_ids()
        .into_iter()
        .filter_map(|id| cluster.disk(id).ok().map(|d| d.stats()))
        .collect();
    let mut coverage = Coverage::measure(&driven.watch, &driven.applied, &disks, &driven.history);
    coverage.log_entries_compared = agreement.map_or(0, |a| a.logs.entries_matched);
    let counters = cluster.backend.injector().counters();
    coverage.rpcs_faulted =
        counters.rpcs_dropped + counters.rpcs_duplicated + counters.rpcs_delayed;
    let fault_count = driven.applied.len() as u64;
    let events = if keep_events {
        cluster.backend.events()
    } else {
        Vec::new()
    };
    let outcome = Outcome {
        timeline: record,
        failures,
        history: driven.history,
        faults: serde_json::to_value(&driven.applied).unwrap_or_default(),
        schedule: driven.steps,
        swarm: serde_json::to_value(&driven.swarm).unwrap_or_default(),
        fault_count,
        coverage,
        counters: serde_json::to_value(cluster.backend.counters()).unwrap_or_default(),
        trace_hash: cluster.backend.trace_hash(),
        simulated: start.elapsed(),
        wall: Duration::ZERO,
    };
    (outcome, events)
}

/// Why a history is not known to be linearizable: the checker's report
/// and, for a violation, its core (drawn on the timeline).
struct NotLinearizable {
    report: String,
    core: Option<ViolationCore>,
}

impl From<String> for NotLinearizable {
    fn from(report: String) -> Self {
        NotLinearizable { report, core: None }
    }
}

/// Checks the recorded history with the checker's default (step, not
/// time) budgets, so the verdict is as reproducible as the seed.
fn linearizability<A: App>(
    app: &A,
    history: &[HistoryEvent],
    model: Model,
) -> Result<(), NotLinearizable> {
    let parsed = twinnet_check::parse_str(&workload::to_jsonl(history))
        .map_err(|e| format!("history unreadable: {e}"))?;
    let kind = match model {
        Model::RegisterCas => twinnet_check::ModelKind::RegisterCas,
        Model::KvAppend => twinnet_check::ModelKind::KvAppend,
        Model::VersionedCas => twinnet_check::ModelKind::VersionedCas,
        Model::Custom => {
            let options = sweep_check_options();
            let report = app
                .check_custom(&parsed, &options)
                .map_err(|e| format!("history does not fit the app's model: {e}"))?;
            return verdict(report);
        }
    };
    let report = twinnet_check::check_with(&parsed, kind, &sweep_check_options())
        .map_err(|e| format!("history does not fit the model: {e}"))?;
    verdict(report)
}

/// Search steps a seed's violation core may take to shrink, in all.
/// The verdict is found in well under a millisecond; the shrink is what
/// costs, and on a key that only accumulates (every add feeds every
/// later read) the checker's default budget took 10 s of a 0.1 s seed.
/// `twinnet-check` on the seed's history shrinks further.
const SWEEP_SHRINK_STEPS: u64 = 1_000_000;

/// The checker's defaults (step budgets, no clock: a verdict is as
/// reproducible as the seed) with a sweep's shrink budget.
fn sweep_check_options() -> twinnet_check::CheckOptions {
    let defaults = twinnet_check::CheckOptions::default();
    twinnet_check::CheckOptions {
        shrink_max_total_steps: SWEEP_SHRINK_STEPS,
        shrink_steps_per_check: defaults.shrink_steps_per_check.min(SWEEP_SHRINK_STEPS / 4),
        ..defaults
    }
}

fn verdict(report: twinnet_check::CheckReport) -> Result<(), NotLinearizable> {
    match report.verdict {
        twinnet_check::Verdict::Linearizable => Ok(()),
        twinnet_check::Verdict::NotLinearizable | twinnet_check::Verdict::Unknown => {
            Err(NotLinearizable {
                report: report.to_string(),
                core: report.violation.as_ref().map(ViolationCore::from_violation),
            })
        }
    }
}

/// A seed that ended before it produced anything: set-up failed or panicked.
pub fn failed_setup(why: String) -> Outcome {
    Outcome {
        failures: vec![why],
        history: Vec::new(),
        faults: serde_json::Value::Null,
        schedule: Vec::new(),
        swarm: serde_json::Value::Null,
        fault_count: 0,
        coverage: Coverage::default(),
        counters: serde_json::Value::Null,
        trace_hash: 0,
        simulated: Duration::ZERO,
        wall: Duration::ZERO,
        timeline: TimelineRecord::default(),
    }
}

/// What the workload and the nemesis left behind.
struct Driven {
    history: Vec<HistoryEvent>,
    applied: Vec<nemesis::AppliedFault>,
    /// The schedule's steps as played.
    steps: Vec<nemesis::Step>,
    swarm: Option<SwarmDraw>,
    watch: LeaderWatch,
    /// Every node's role while the workload ran, for the timeline.
    roles: RoleLog,
    /// When the workload started, on the event log's clock.
    workload_start_ns: u64,
}

/// The workload and the nemesis at once, with the leader watch sampling
/// until the workload is done.
async fn drive<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    config: &RunConfig<A>,
    seed: u64,
    failures: &mut Vec<String>,
) -> Driven {
    let scale = cluster.time_scale();
    let mut watch = LeaderWatch::for_config::<A::C>();
    if let Err(err) = cluster
        .wait_for_leader(scale.duration(Duration::from_secs(10)))
        .await
    {
        failures.push(format!("liveness: no initial leader: {err}"));
    }
    let mut roles = RoleLog::new();
    let workload_start_ns = cluster.backend.injector().now_ns();
    let task = match workload::start(cluster, paced_workload(config, scale), seed) {
        Ok(task) => task,
        Err(err) => {
            failures.push(format!("workload: {err}"));
            return Driven {
                history: Vec::new(),
                applied: Vec::new(),
                steps: Vec::new(),
                swarm: None,
                watch,
                roles,
                workload_start_ns,
            };
        }
    };
    let schedule = schedule(config, seed, scale).unwrap_or_else(|err| {
        failures.push(format!(
            "nemesis: the run's explicit schedule is refused: {err}"
        ));
        Schedule::empty()
    });
    DRAWN.with(|drawn| *drawn.borrow_mut() = schedule.steps().to_vec());
    let watching = async {
        let mut task = std::pin::pin!(task);
        loop {
            // Both read metrics only, at the same moments: the role log
            // changes nothing a seed does.
            watch.sample(cluster);
            roles.sample(cluster);
            match future::select(task.as_mut(), std::pin::pin!(time::sleep(WATCH_INTERVAL))).await {
                Either::Left((history, _)) => break history,
                Either::Right(_) => {}
            }
        }
    };
    let (faults, history) = future::join(nemesis::run(cluster, &schedule, seed), watching).await;
    let applied = faults.unwrap_or_else(|err| {
        failures.push(format!("nemesis: {err}"));
        Vec::new()
    });
    let history = history.unwrap_or_else(|err| {
        failures.push(format!("workload: {err}"));
        Vec::new()
    });
    for violation in watch.violations() {
        failures.push(format!("invariant: {violation}"));
    }
    Driven {
        history,
        applied,
        steps: schedule.steps().to_vec(),
        swarm: schedule.swarm().cloned(),
        watch,
        roles,
        workload_start_ns,
    }
}

thread_local! {
    /// The schedule of the seed running on this thread, kept apart from
    /// its outcome so that a seed that panics still records what it drew.
    static DRAWN: std::cell::RefCell<Vec<nemesis::Step>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

/// The schedule the last seed run on this thread drew (then forgotten).
pub fn take_drawn_schedule() -> Vec<nemesis::Step> {
    DRAWN.with(|drawn| std::mem::take(&mut *drawn.borrow_mut()))
}

/// The fault schedule, from the seed's schedule stream; with the config's
/// explicit steps instead of the drawn ones if it has some (drawn all the
/// same, so that what follows draws the same numbers).
fn schedule<A: App>(
    config: &RunConfig<A>,
    seed: u64,
    scale: TimeScale,
) -> Result<Schedule, ScheduleError> {
    let duration = horizon(config, scale);
    let mut rng = StreamRng::new(seed, Stream::Schedule);
    let drawn = Schedule::generate_with(&mut rng, config.nemesis, config.nodes, duration, scale);
    match &config.schedule {
        Some(steps) => drawn.with_steps(steps.clone()),
        None => Ok(drawn),
    }
}

/// How long the nemesis schedule spans: about as long as the workload at
/// the presets' timing, stretched by the app's time scale.
fn horizon<A: App>(config: &RunConfig<A>, scale: TimeScale) -> Duration {
    let per_client = config.workload.ops.div_ceil(config.workload.clients.max(1)) as u64;
    let per_op_ms = config.workload.think_ms + 15;
    scale.duration(Duration::from_millis((per_client * per_op_ms).max(10_000)))
}

/// The workload as a seed runs it: its ops spread over the whole
/// [`horizon`], so every fault of the schedule meets ops instead of an
/// idle cluster (a healthy cluster would otherwise finish them in a third
/// of it), and ops held up by a fault catch up after it instead of
/// running on past the schedule. A slower app's ops also wait as much
/// longer as its elections take.
fn paced_workload<A: App>(config: &RunConfig<A>, scale: TimeScale) -> WorkloadConfig {
    let mut workload = config.workload.clone();
    workload.spread_ms = u64::try_from(horizon(config, scale).as_millis()).unwrap_or(u64::MAX);
    workload.think_ms = scale.ms(workload.think_ms);
    if scale.permille() > TimeScale::UNIT.permille() {
        workload.op_timeout_ms = scale.ms(workload.op_timeout_ms);
    }
    workload
}

/// Heals everything, then checks liveness and that the nodes agree.
/// Returns what the agreement checks compared, when they ran and passed.
async fn settle<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    failures: &mut Vec<String>,
) -> Option<invariants::AgreementReport> {
    let bound = cluster
        .time_scale()
        .duration(LIVENESS_BOUND)
        .max(LIVENESS_BOUND);
    if let Err(err) = nemesis::stop(cluster).await {
        failures.push(format!("nemesis stop: {err}"));
    }
    match invariants::liveness(cluster, bound).await {
        Ok(_) => match invariants::applied_prefixes_agree(cluster, bound).await {
            Ok(report) => return Some(report),
            Err(violation) => failures.push(format!("invariant: {violation}")),
        },
        Err(violation) => failures.push(format!("liveness: {violation}")),
    }
    None
}
