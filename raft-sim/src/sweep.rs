//! The main job for any [`App`]: [`sweep`] (many seeds in parallel, a
//! progress bar, the summary table with coverage, the JSON report), [`run`]
//! (one seed, artifact and history written) and [`replay`] (rerun an
//! artifact's seed and compare the trace hash). Each seed: a fresh
//! simulated cluster of the app, a client workload recording a history, a
//! nemesis from the seed, then the checks: linearizability of the history,
//! invariants, liveness after heal.
//!
//! A user's own sweep binary is one call (see [`main`]):
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     raft_sim::sweep::main(my_app::MyApp::default())
//! }
//! ```
// The binary drives these only under cfg(madsim).
#![cfg_attr(not(madsim), allow(dead_code))]

use std::path::PathBuf;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::nemesis::NemesisPreset;
use crate::runner::SeedFlags;
use crate::workload::{Model, WorkloadConfig};

pub use coverage::{Coverage, CoverageTotals};

/// What a seed runs, stored in its artifact so `replay` reruns it
/// exactly: the app itself (its name and its serde value), the cluster
/// size, the nemesis, the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct RunConfig<A: App> {
    pub app_name: String,
    pub app: A,
    pub nodes: usize,
    pub nemesis: NemesisPreset,
    pub workload: WorkloadConfig,
    /// Fault steps that replace the ones the seed draws (what `raft-sim
    /// shrink` writes); `None`: the seed's own. The seed still draws its
    /// schedule first, so the rest of the run draws the same numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<crate::nemesis::Step>>,
}

/// Bounds on the cluster a user may ask for.
pub const MIN_NODES: usize = 1;
pub const MAX_NODES: usize = 9;

/// The defaults of [`RunFlags`]: a replay line leaves out what equals them.
pub const DEFAULT_NODES: usize = 5;
pub const DEFAULT_OPS: usize = 1_000;
pub const DEFAULT_CLIENTS: usize = 5;
pub const DEFAULT_KEYS: usize = 5;
pub const DEFAULT_NEMESIS: NemesisPreset = NemesisPreset::Standard;

/// Flags shared by `sweep`, `run` and `twinnet-real` (`cargo xtask real`).
#[derive(clap::Args, Debug, Clone)]
pub struct RunFlags {
    /// Raft nodes in the cluster.
    #[arg(long, default_value_t = DEFAULT_NODES)]
    pub nodes: usize,
    /// Client operations per seed.
    #[arg(long, default_value_t = DEFAULT_OPS)]
    pub ops: usize,
    /// Concurrent client processes.
    #[arg(long, default_value_t = DEFAULT_CLIENTS)]
    pub clients: usize,
    /// Keys the operations spread over.
    #[arg(long, default_value_t = DEFAULT_KEYS)]
    pub keys: usize,
    /// Fault schedule: none, standard or hostile.
    #[arg(long, default_value_t = DEFAULT_NEMESIS)]
    pub nemesis: NemesisPreset,
    /// Data model: register-cas, kv-append or versioned-cas (default:
    /// the app's first).
    #[arg(long)]
    pub model: Option<Model>,
    /// Where artifacts and histories go.
    #[arg(long, default_value = "docs/simulations/runs")]
    pub artifacts: PathBuf,
    /// The command a failing seed's replay line starts with (default
    /// `cargo xtask sim`; a user's binary sets its own).
    #[arg(skip)]
    pub replay_program: Option<String>,
    /// App flags the replay line must repeat (`--app kv --bug stale-read`).
    #[arg(skip)]
    pub app_flags: Vec<String>,
}

impl RunFlags {
    /// The run config for `app`, or why the flags do not fit it.
    pub fn config<A: App>(&self, app: A) -> Result<RunConfig<A>, String> {
        if !(MIN_NODES..=MAX_NODES).contains(&self.nodes) {
            return Err(format!(
                "--nodes must be in {MIN_NODES}..={MAX_NODES}, not {}",
                self.nodes
            ));
        }
        let models = app.models();
        let model = match self.model {
            None => *models.first().ok_or("the app supports no data model")?,
            Some(model) if models.contains(&model) => model,
            Some(model) => {
                let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
                return Err(format!(
                    "app {} does not support --model {model}: it supports {}",
                    app.name(),
                    names.join(", ")
                ));
            }
        };
        let workload = WorkloadConfig {
            model,
            clients: self.clients,
            keys: self.keys,
            ops: self.ops,
            ..WorkloadConfig::default()
        };
        workload.validate()?;
        Ok(RunConfig {
            app_name: app.name().to_string(),
            app,
            nodes: self.nodes,
            nemesis: self.nemesis,
            workload,
            schedule: None,
        })
    }

    /// The command that replays `seed` of this config.
    pub fn replay_command(&self, seed: u64) -> String {
        let program = self
            .replay_program
            .as_deref()
            .unwrap_or(crate::runner::DEFAULT_REPLAY_PROGRAM);
        crate::runner::replay_command_of(program, seed, &self.replay_flags())
    }

    /// The command that reruns this config with another program and its
    /// own arguments (`cargo xtask real` and `--seed 3 --runs 1 --engine
    /// tc`): `program args`, then [`RunFlags::replay_flags`].
    pub fn rerun_command(&self, program: &str, args: &str) -> String {
        crate::runner::command_line(&[program, args, &self.replay_flags()])
    }

    /// The binary whose `replay ARTIFACT.json` reruns an artifact.
    pub fn replay_binary(&self) -> &str {
        self.replay_program
            .as_deref()
            .and_then(|program| program.strip_suffix(" sweep"))
            .unwrap_or("raft-sim")
    }

    /// The flags to append to a replay command so it reruns this config.
    pub fn replay_flags(&self) -> String {
        let mut flags = Vec::new();
        if self.nodes != DEFAULT_NODES {
            flags.push(format!("--nodes {}", self.nodes));
        }
        if self.ops != DEFAULT_OPS {
            flags.push(format!("--ops {}", self.ops));
        }
        if self.clients != DEFAULT_CLIENTS {
            flags.push(format!("--clients {}", self.clients));
        }
        if self.keys != DEFAULT_KEYS {
            flags.push(format!("--keys {}", self.keys));
        }
        if self.nemesis != DEFAULT_NEMESIS {
            flags.push(format!("--nemesis {}", self.nemesis));
        }
        if let Some(model) = self.model {
            flags.push(format!("--model {model}"));
        }
        flags.extend(self.app_flags.iter().cloned());
        flags.join(" ")
    }
}

/// `raft-sim sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub sweep: SeedFlags,
    #[command(flatten)]
    pub run: RunFlags,
}

/// `raft-sim run --seed N`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[arg(long)]
    pub seed: u64,
    /// Run the seed twice and name the first event where the runs differ.
    #[arg(long)]
    pub check_determinism: bool,
    #[command(flatten)]
    pub run: RunFlags,
}

/// `raft-sim replay ARTIFACT.json`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    pub artifact: PathBuf,
}

/// One seed's outcome in the Raft sweep (and in `cargo xtask real`).
pub type SeedResult = crate::runner::SeedResult<SeedDetail>;

/// What the Raft sweep reports of a seed beyond [`runner::SeedResult`]'s
/// common figures (flattened into it in the JSON report).
///
/// [`runner::SeedResult`]: crate::runner::SeedResult
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedDetail {
    /// Every check that failed, readably.
    pub failures: Vec<String>,
    pub faults: u64,
    /// What the seed's faults actually did.
    pub coverage: Coverage,
    pub history: Option<PathBuf>,
    /// The HTML timeline beside the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<PathBuf>,
}

/// A sweep binary for `app`: parses `sweep | run | replay | merge |
/// timeline` and their flags from the command line, runs them, and
/// returns the exit code (0 all seeds passed, 1 a seed failed or a replay
/// diverged, 2 bad input). Runs need `--cfg madsim`; without it, they say
/// so and exit 2.
pub fn main<A: App>(app: A) -> ExitCode {
    use clap::Parser;
    #[derive(clap::Parser)]
    #[command(about = "Seed sweeps of an OpenRaft app in the madsim simulator")]
    enum Cli {
        /// Sweep seeds of the app's cluster under chaos, check every history.
        Sweep(SweepArgs),
        /// Run one seed and write its artifact and history.
        Run(RunArgs),
        /// Rerun the seed of an artifact and confirm its trace hash.
        Replay(ReplayArgs),
        /// Join the reports of a sweep's shards into one sweep's summary.
        Merge(merge::MergeArgs),
        /// Draw a history (and its artifact) as an HTML timeline.
        Timeline(crate::timeline::TimelineArgs),
    }
    let program = std::env::args()
        .next()
        .map_or_else(|| "sweep".to_string(), |p| format!("{p} sweep"));
    let outcome = match Cli::parse() {
        Cli::Sweep(mut args) => {
            args.run.replay_program = Some(program);
            sweep(app, &args)
        }
        Cli::Run(mut args) => {
            args.run.replay_program = Some(program);
            run(app, &args)
        }
        Cli::Replay(args) => replay::<A>(&args),
        Cli::Merge(args) => merge::merge(&args),
        Cli::Timeline(args) => crate::timeline::run(&args),
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::from(2)
    })
}

#[cfg(not(madsim))]
const NEEDS_SIM: &str =
    "runs in the simulator: build with RUSTFLAGS=\"--cfg madsim\" (`cargo xtask sim` does)";

#[cfg(not(madsim))]
pub fn sweep<A: App>(_app: A, _args: &SweepArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sweep {NEEDS_SIM}")
}
#[cfg(not(madsim))]
pub fn run<A: App>(_app: A, _args: &RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("run {NEEDS_SIM}")
}
#[cfg(not(madsim))]
pub fn replay<A: App>(_args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("replay {NEEDS_SIM}")
}
#[cfg(not(madsim))]
pub fn shrink<A: App>(_args: &shrink::ShrinkArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("shrink {NEEDS_SIM}")
}

#[cfg(madsim)]
pub use sim::{Divergence, check_determinism, replay, run, run_seed, shrink, sweep};

#[cfg(madsim)]
mod sim;

pub mod case;
mod coverage;
pub mod merge;
pub mod shrink;
