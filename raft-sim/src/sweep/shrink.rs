//! `raft-sim shrink ARTIFACT`: from a failing seed, a smaller run that
//! fails the same way.
//!
//! The seed stays; what shrinks is what the run is given: its fault steps
//! (an explicit schedule in the config, [`RunConfig::schedule`], replacing
//! the seed's draw), how long each fault lasts, the op count and the client
//! count. Greedy and deterministic, as delta debugging is: each pass tries
//! one smaller candidate at a time, keeps it if the run still fails the
//! same way (same failure class: `linearizability`, `invariant: split
//! brain`, `liveness`, ...), and the final run is written as an artifact
//! that `raft-sim replay` reruns to the same trace hash.
//!
//! Every candidate is a full seed run, so the search is bounded by
//! `--max-runs`; it stops early, with what it has, when that runs out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use madsim_net::artifact::Artifact;
use serde::Serialize;

use super::RunConfig;
use crate::app::App;
use crate::nemesis::Step;

/// Arguments of `raft-sim shrink`.
#[derive(clap::Args, Debug, Clone)]
pub struct ShrinkArgs {
    /// The failing seed's artifact (`raft-sweep-seed<N>.json`).
    pub artifact: PathBuf,
    /// Seed runs the search may spend, at most.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_runs: u32,
    /// Where the shrunk artifact, history and timeline go (default: the
    /// input artifact's directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The fewest ops a shrunk run keeps.
const MIN_OPS: usize = 10;
/// Halvings tried per fault when shortening it.
const MAX_HALVINGS: u32 = 4;
/// A fault kept shorter than this is not shortened further.
const MIN_FAULT_MS: u64 = 20;

/// What kind of failure a failure line is: its prefix, and for an
/// invariant the invariant's name (`invariant: split brain`).
pub fn failure_class(failure: &str) -> String {
    let mut parts = failure.splitn(3, ':');
    let head = parts.next().unwrap_or_default().trim();
    match (head, parts.next()) {
        ("invariant", Some(name)) => format!("invariant: {}", name.trim()),
        _ => head.to_string(),
    }
}

/// The classes of a run's failures.
pub fn classes_of(failures: &[String]) -> BTreeSet<String> {
    failures.iter().map(|f| failure_class(f)).collect()
}

/// One candidate tried: what changed and whether it still failed.
#[derive(Debug, Clone, Serialize)]
pub struct ShrinkStep {
    pub change: String,
    pub kept: bool,
}

/// The search's state: the best run so far.
struct Search<'a, A: App> {
    seed: u64,
    class: String,
    best: RunConfig<A>,
    runs: u32,
    max_runs: u32,
    log: Vec<ShrinkStep>,
    run_seed: &'a dyn Fn(u64, &RunConfig<A>) -> Vec<String>,
}

impl<A: App> Search<'_, A> {
    fn out_of_runs(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Runs `candidate`; keeps it as the best if it fails the same way.
    fn try_candidate(&mut self, change: String, candidate: RunConfig<A>) -> bool {
        if self.out_of_runs() {
            return false;
        }
        self.runs += 1;
        let failures = (self.run_seed)(self.seed, &candidate);
        let kept = classes_of(&failures).contains(&self.class);
        println!(
            "  [{:>3}] {change}: {}",
            self.runs,
            if kept {
                "still fails, kept".to_string()
            } else if failures.is_empty() {
                "passes, undone".to_string()
            } else {
                format!("fails otherwise ({}), undone", failure_class(&failures[0]))
            }
        );
        self.log.push(ShrinkStep { change, kept });
        if kept {
            self.best = candidate;
        }
        kept
    }

    fn steps(&self) -> &[Step] {
        self.best.schedule.as_deref().unwrap_or_default()
    }

    fn with_steps(&self, steps: Vec<Step>) -> RunConfig<A> {
        RunConfig {
            schedule: Some(steps),
            ..self.best.clone()
        }
    }

    /// Drops whole episodes (a fault and its undo): all at once, then one
    /// at a time, latest first.
    fn drop_episodes(&mut self) {
        if !self.steps().is_empty() {
            let candidate = self.with_steps(Vec::new());
            if self.try_candidate("drop every fault".into(), candidate) {
                return;
            }
        }
        let episodes: BTreeSet<u32> = self.steps().iter().map(|s| s.episode).collect();
        for episode in episodes.into_iter().rev() {
            let Some(first) = self.steps().iter().find(|s| s.episode == episode) else {
                continue;
            };
            let change = format!(
                "drop episode {episode} ({} at {} ms)",
                first.fault, first.at_ms
            );
            let rest: Vec<Step> = self
                .steps()
                .iter()
                .filter(|s| s.episode != episode)
                .cloned()
                .collect();
            let candidate = self.with_steps(rest);
            self.try_candidate(change, candidate);
        }
    }

    /// Shortens each episode that lasts (its undo comes later, or it is a
    /// burst) by halving, while the run still fails.
    fn shorten_episodes(&mut self) {
        let episodes: BTreeSet<u32> = self.steps().iter().map(|s| s.episode).collect();
        for episode in episodes {
            for _ in 0..MAX_HALVINGS {
                let Some(shorter) = shortened(self.steps(), episode) else {
                    break;
                };
                let candidate = self.with_steps(shorter.steps);
                if !self.try_candidate(format!("episode {episode}: {}", shorter.what), candidate) {
                    break;
                }
            }
        }
    }

    /// Halves the op count, then takes clients away one at a time.
    fn shrink_workload(&mut self) {
        while self.best.workload.ops / 2 >= MIN_OPS {
            let ops = self.best.workload.ops / 2;
            let mut candidate = self.best.clone();
            candidate.workload.ops = ops;
            if !self.try_candidate(format!("{ops} ops"), candidate) {
                break;
            }
        }
        while self.best.workload.clients > 1 {
            let clients = self.best.workload.clients - 1;
            let mut candidate = self.best.clone();
            candidate.workload.clients = clients;
            if !self.try_candidate(format!("{clients} clients"), candidate) {
                break;
            }
        }
    }
}

struct Shortened {
    steps: Vec<Step>,
    what: String,
}

/// `steps` with `episode` made half as long, if it can be.
fn shortened(steps: &[Step], episode: u32) -> Option<Shortened> {
    let start = steps.iter().find(|s| s.episode == episode)?;
    let mut steps = steps.to_vec();
    if let crate::nemesis::Fault::ImpairBurst { duration_ms, .. } = &start.fault {
        let half = duration_ms / 2;
        if half < MIN_FAULT_MS {
            return None;
        }
        for step in steps.iter_mut().filter(|s| s.episode == episode) {
            if let crate::nemesis::Fault::ImpairBurst { duration_ms, .. } = &mut step.fault {
                *duration_ms = half;
            }
        }
        return Some(Shortened {
            steps,
            what: format!("burst of {half} ms"),
        });
    }
    let start_ms = start.at_ms;
    let undo = steps
        .iter_mut()
        .find(|s| s.episode == episode && s.fault.is_undo())?;
    let half = (undo.at_ms - start_ms) / 2;
    if half < MIN_FAULT_MS {
        return None;
    }
    undo.at_ms = start_ms + half;
    let what = format!("undone after {half} ms");
    // Keep time order: the schedule is checked sorted.
    steps.sort_by_key(|s| s.at_ms);
    Some(Shortened { steps, what })
}

/// The shrink's figures, printed and returned.
#[derive(Debug, Clone, Serialize)]
pub struct ShrinkReport {
    pub seed: u64,
    pub class: String,
    pub steps_before: usize,
    pub steps_after: usize,
    pub ops_before: usize,
    pub ops_after: usize,
    pub clients_before: usize,
    pub clients_after: usize,
    pub runs: u32,
    pub wall_ms: u64,
    pub log: Vec<ShrinkStep>,
}

/// Shrinks the failing run (`seed`, `config` with its played `schedule`
/// made explicit) whose first failure is of class `class`.
pub fn shrink_run<A: App>(
    seed: u64,
    config: RunConfig<A>,
    class: String,
    max_runs: u32,
    run_seed: &dyn Fn(u64, &RunConfig<A>) -> Vec<String>,
) -> (RunConfig<A>, ShrinkReport) {
    let started = Instant::now();
    let (steps_before, ops_before, clients_before) = (
        config.schedule.as_ref().map_or(0, Vec::len),
        config.workload.ops,
        config.workload.clients,
    );
    let mut search = Search {
        seed,
        class,
        best: config,
        runs: 0,
        max_runs,
        log: Vec::new(),
        run_seed,
    };
    search.drop_episodes();
    search.shorten_episodes();
    search.shrink_workload();
    // Fewer ops move the faults' moments relative to the work: another look.
    search.drop_episodes();
    let report = ShrinkReport {
        seed,
        class: search.class.clone(),
        steps_before,
        steps_after: search.steps().len(),
        ops_before,
        ops_after: search.best.workload.ops,
        clients_before,
        clients_after: search.best.workload.clients,
        runs: search.runs,
        wall_ms: started.elapsed().as_millis() as u64,
        log: search.log,
    };
    (search.best, report)
}

/// Reads a failing artifact: its seed, its config with the schedule it
/// played made explicit, and the class of its first failure.
pub fn read_failing<A: App>(path: &Path) -> anyhow::Result<(Artifact, RunConfig<A>, String)> {
    let artifact = Artifact::read_from(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config: RunConfig<A> =
        serde_json::from_value(artifact.config.get("run").cloned().unwrap_or_default())
            .with_context(|| format!("{} holds no run config of this app", path.display()))?;
    if config.schedule.is_none() {
        let played = artifact.config.get("schedule").cloned().with_context(|| {
            format!(
                "{} records no fault schedule (written by an older raft-sim): rerun the seed \
                 with this one",
                path.display()
            )
        })?;
        let steps: Vec<Step> = serde_json::from_value(played)
            .with_context(|| format!("{}: its schedule does not parse", path.display()))?;
        config.schedule = Some(steps);
    }
    let failure = artifact.failure.clone().with_context(|| {
        format!(
            "{} is a passing run: only a failing one shrinks",
            path.display()
        )
    })?;
    let class = failure_class(&failure);
    Ok((artifact, config, class))
}

/// Prints the report's summary lines.
pub fn print_report(report: &ShrinkReport) {
    println!(
        "shrunk seed {} ({}) in {} runs, {:.1} s: fault steps {} -> {}, ops {} -> {}, clients {} -> {}",
        report.seed,
        report.class,
        report.runs,
        report.wall_ms as f64 / 1e3,
        report.steps_before,
        report.steps_after,
        report.ops_before,
        report.ops_after,
        report.clients_before,
        report.clients_after,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_classes_name_the_kind_of_failure() {
        assert_eq!(
            failure_class("linearizability: key k1: not linearizable"),
            "linearizability"
        );
        assert_eq!(
            failure_class("invariant: split brain: nodes [0, 1] were all leader in term 3"),
            "invariant: split brain"
        );
        assert_eq!(failure_class("liveness: no leader after 10 s"), "liveness");
    }
}
