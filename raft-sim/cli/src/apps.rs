//! The apps `raft-sim` knows, and their own flags: `--app NAME` picks one,
//! `--bug NAME` plants a bug of the KV app.

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use example_kv::KvApp;
use example_kv::bugs::{Bug, Bugs};
use madsim_net::artifact::Artifact;
use raft_sim::runner::SeedFlags;
use raft_sim::sweep::{self, ReplayArgs, RunFlags};

/// The example apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppName {
    /// twinnet's own OpenRaft KV store (`raft-sim/apps/kv`).
    Kv,
}

impl AppName {
    pub const ALL: [AppName; 1] = [AppName::Kv];

    pub fn name(self) -> &'static str {
        match self {
            AppName::Kv => "kv",
        }
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AppName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AppName::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AppName::ALL.iter().map(|a| a.name()).collect();
                format!("unknown app {s:?}: choose one of {}", names.join(", "))
            })
    }
}

/// The flags that choose and configure the app.
#[derive(clap::Args, Debug, Clone)]
pub struct AppFlags {
    /// The app under test: kv.
    #[arg(long, default_value = "kv")]
    pub app: AppName,
    /// Switch on a planted bug of the kv app (tests of the checker):
    /// stale-read, forget-vote, early-ack or lost-applied. Repeatable.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<Bug>,
}

impl AppFlags {
    fn kv(&self) -> KvApp {
        KvApp::with_bugs(
            self.bugs
                .iter()
                .fold(Bugs::none(), |bugs, bug| bugs.with(*bug)),
        )
    }

    /// The flags a replay line must repeat.
    fn replay_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.app != AppName::Kv {
            flags.push(format!("--app {}", self.app));
        }
        flags.extend(self.bugs.iter().map(|bug| format!("--bug {bug}")));
        flags
    }
}

/// `raft-sim sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub sweep: SeedFlags,
    #[command(flatten)]
    pub run: RunFlags,
    #[command(flatten)]
    pub app: AppFlags,
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
    #[command(flatten)]
    pub app: AppFlags,
}

pub fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let mut run = args.run;
    run.app_flags = args.app.replay_flags();
    let sweep_args = sweep::SweepArgs {
        sweep: args.sweep,
        run,
    };
    match args.app.app {
        AppName::Kv => sweep::sweep(args.app.kv(), &sweep_args),
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut run = args.run;
    run.app_flags = args.app.replay_flags();
    let run_args = sweep::RunArgs {
        seed: args.seed,
        check_determinism: args.check_determinism,
        run,
    };
    match args.app.app {
        AppName::Kv => sweep::run(args.app.kv(), &run_args),
    }
}

/// Replays an artifact with the app its config names.
pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let artifact = Artifact::read_from(&args.artifact).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = artifact
        .config
        .pointer("/run/app_name")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{} names no app", args.artifact.display()))?;
    match name.parse::<AppName>().map_err(anyhow::Error::msg)? {
        AppName::Kv => sweep::replay::<KvApp>(&args),
    }
}
