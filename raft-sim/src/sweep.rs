//! The main job: `raft-sim sweep` (many seeds), `run --seed N` (one seed,
//! artifact and history written) and `replay ARTIFACT.json` (rerun and
//! compare the trace hash). Each seed: a fresh simulated 5-node cluster, a
//! client workload recording a history, a nemesis from the seed, then the
//! checks: linearizability of the history, invariants, liveness after heal.
// The binary drives these only under cfg(madsim).
#![cfg_attr(not(madsim), allow(dead_code))]

use std::path::PathBuf;
#[cfg(not(madsim))]
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::bugs::{Bug, Bugs};
use crate::nemesis::NemesisPreset;
use crate::runner::{SeedFlags, SeedLine};
use crate::workload::{Model, WorkloadConfig};

/// What a seed runs, stored in its artifact so `replay` reruns it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub nodes: usize,
    pub nemesis: String,
    pub workload: WorkloadConfig,
    pub bugs: Bugs,
}

/// Bounds on the cluster a user may ask for.
pub const MIN_NODES: usize = 1;
pub const MAX_NODES: usize = 9;

/// Flags shared by `sweep` and `run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunFlags {
    /// Raft nodes in the cluster.
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Client operations per seed.
    #[arg(long, default_value_t = 1_000)]
    pub ops: usize,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Keys the operations spread over.
    #[arg(long, default_value_t = 5)]
    pub keys: usize,
    /// Fault schedule: none, standard or hostile.
    #[arg(long, default_value = "standard")]
    pub nemesis: NemesisPreset,
    /// Data model: register-cas or kv-append.
    #[arg(long, default_value = "register-cas")]
    pub model: Model,
    /// Switch on a planted bug (tests of the checker): stale-read,
    /// forget-vote, early-ack or lost-applied. Repeatable.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<Bug>,
    /// Where artifacts and histories go.
    #[arg(long, default_value = "docs/simulations/runs")]
    pub artifacts: PathBuf,
}

impl RunFlags {
    pub fn config(&self) -> Result<RunConfig, String> {
        if !(MIN_NODES..=MAX_NODES).contains(&self.nodes) {
            return Err(format!(
                "--nodes must be in {MIN_NODES}..={MAX_NODES}, not {}",
                self.nodes
            ));
        }
        let workload = WorkloadConfig {
            model: self.model,
            clients: self.clients,
            keys: self.keys,
            ops: self.ops,
            ..WorkloadConfig::default()
        };
        workload.validate()?;
        let bugs = self
            .bugs
            .iter()
            .fold(Bugs::none(), |bugs, bug| bugs.with(*bug));
        Ok(RunConfig {
            nodes: self.nodes,
            nemesis: self.nemesis.to_string(),
            workload,
            bugs,
        })
    }

    /// The flags to append to a replay command so it reruns this config.
    pub fn replay_flags(&self) -> String {
        let mut flags = Vec::new();
        if self.nodes != 5 {
            flags.push(format!("--nodes {}", self.nodes));
        }
        if self.ops != 1_000 {
            flags.push(format!("--ops {}", self.ops));
        }
        if self.clients != 5 {
            flags.push(format!("--clients {}", self.clients));
        }
        if self.keys != 5 {
            flags.push(format!("--keys {}", self.keys));
        }
        if self.nemesis.to_string() != "standard" {
            flags.push(format!("--nemesis {}", self.nemesis));
        }
        if self.model != Model::RegisterCas {
            flags.push(format!("--model {}", self.model));
        }
        for bug in &self.bugs {
            flags.push(format!("--bug {bug}"));
        }
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
    #[command(flatten)]
    pub run: RunFlags,
}

/// `raft-sim replay ARTIFACT.json`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    pub artifact: PathBuf,
}

/// One seed's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub passed: bool,
    /// Every check that failed, readably.
    pub failures: Vec<String>,
    pub ops: u64,
    pub simulated_ms: u64,
    pub wall_us: u64,
    pub trace_hash: String,
    pub faults: u64,
    pub artifact: Option<PathBuf>,
    pub history: Option<PathBuf>,
}

impl SeedLine for SeedResult {
    fn seed(&self) -> u64 {
        self.seed
    }
    fn passed(&self) -> bool {
        self.passed
    }
    fn ops(&self) -> u64 {
        self.ops
    }
    fn simulated_ms(&self) -> u64 {
        self.simulated_ms
    }
    fn wall_us(&self) -> u64 {
        self.wall_us
    }
}

#[cfg(not(madsim))]
const NEEDS_SIM: &str =
    "runs in the simulator: use `cargo xtask sim` (it builds with RUSTFLAGS=\"--cfg madsim\")";

#[cfg(not(madsim))]
pub fn sweep(_args: SweepArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sweep {NEEDS_SIM}")
}
#[cfg(not(madsim))]
pub fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("run {NEEDS_SIM}")
}
#[cfg(not(madsim))]
pub fn replay(_args: ReplayArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("replay {NEEDS_SIM}")
}

#[cfg(madsim)]
pub use sim::{replay, run, run_seed, sweep};

#[cfg(madsim)]
mod sim;

pub mod case;
