//! The apps `raft-sim` knows, and their own flags: `--app NAME` picks one,
//! `--bug NAME` plants one of its bugs (the KV app's planted bugs; the
//! openraft example's `local-read`, its negative control).

use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use example_kv::KvApp;
use example_kv::bugs::{Bug, Bugs};
use example_openraft::KvMemstore;
use madsim_net::artifact::Artifact;
use raft_sim::runner::SeedFlags;
use raft_sim::sweep::{self, ReplayArgs, RunFlags};

/// The example apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppName {
    /// twinnet's own OpenRaft KV store (`raft-sim/apps/kv`).
    Kv,
    /// openraft's own example, `raft-kv-memstore` (`raft-sim/apps/openraft`).
    OpenraftKvMemstore,
}

impl AppName {
    pub const ALL: [AppName; 2] = [AppName::Kv, AppName::OpenraftKvMemstore];

    pub fn name(self) -> &'static str {
        match self {
            AppName::Kv => "kv",
            AppName::OpenraftKvMemstore => "openraft-kv-memstore",
        }
    }

    /// The bugs `--bug` can plant in this app.
    fn bug_names(self) -> Vec<&'static str> {
        match self {
            AppName::Kv => example_kv::bugs::ALL.iter().map(|b| b.name()).collect(),
            AppName::OpenraftKvMemstore => vec![LOCAL_READ],
        }
    }
}

/// The openraft example's negative control: reads sent to `/read` on a
/// random node, which the example documents as not linearizable.
const LOCAL_READ: &str = "local-read";

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
    /// The app under test: kv or openraft-kv-memstore.
    #[arg(long, default_value = "kv")]
    pub app: AppName,
    /// Switch on a planted bug (tests of the checker). kv: stale-read,
    /// forget-vote, early-ack, lost-applied, retry-ambiguous,
    /// snapshot-keeps-state, snapshot-drops-membership, response-mixup,
    /// leader-local-read, vote-unsynced, sync-error-ignored or lease-read;
    /// openraft-kv-memstore:
    /// local-read. Repeatable.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
}

impl AppFlags {
    /// Every `--bug` is one of the chosen app's.
    pub fn validate(&self) -> anyhow::Result<()> {
        let known = self.app.bug_names();
        match self.bugs.iter().find(|bug| !known.contains(&bug.as_str())) {
            None => Ok(()),
            Some(bug) => anyhow::bail!(
                "unknown bug {bug:?} for --app {}: choose one of {}",
                self.app,
                known.join(", ")
            ),
        }
    }

    /// The KV app with the planted bugs named (`--app kv`).
    pub fn kv(&self) -> anyhow::Result<KvApp> {
        let mut bugs = Bugs::none();
        for name in &self.bugs {
            bugs = bugs.with(name.parse::<Bug>().map_err(anyhow::Error::msg)?);
        }
        Ok(KvApp::with_bugs(bugs))
    }

    /// openraft's example, with `local-read` if named
    /// (`--app openraft-kv-memstore`).
    pub fn openraft(&self) -> KvMemstore {
        KvMemstore {
            local_reads: self.bugs.iter().any(|bug| bug == LOCAL_READ),
        }
    }

    /// The flags a replay line must repeat.
    pub fn replay_flags(&self) -> Vec<String> {
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
    args.app.validate()?;
    let mut run = args.run;
    run.app_flags = args.app.replay_flags();
    let sweep_args = sweep::SweepArgs {
        sweep: args.sweep,
        run,
    };
    match args.app.app {
        AppName::Kv => sweep::sweep(args.app.kv()?, &sweep_args),
        AppName::OpenraftKvMemstore => sweep::sweep(args.app.openraft(), &sweep_args),
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    args.app.validate()?;
    let mut run = args.run;
    run.app_flags = args.app.replay_flags();
    let run_args = sweep::RunArgs {
        seed: args.seed,
        check_determinism: args.check_determinism,
        run,
    };
    match args.app.app {
        AppName::Kv => sweep::run(args.app.kv()?, &run_args),
        AppName::OpenraftKvMemstore => sweep::run(args.app.openraft(), &run_args),
    }
}

/// The app an artifact's config names.
fn app_of_artifact(path: &Path) -> anyhow::Result<AppName> {
    let artifact = Artifact::read_from(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = artifact
        .config
        .pointer("/run/app_name")
        .and_then(|v| v.as_str())
        .with_context(|| format!("{} names no app", path.display()))?;
    name.parse::<AppName>().map_err(anyhow::Error::msg)
}

/// Shrinks a failing artifact with the app its config names.
pub fn shrink(args: sweep::shrink::ShrinkArgs) -> anyhow::Result<ExitCode> {
    match app_of_artifact(&args.artifact)? {
        AppName::Kv => sweep::shrink::<KvApp>(&args),
        AppName::OpenraftKvMemstore => sweep::shrink::<KvMemstore>(&args),
    }
}

/// Replays an artifact with the app its config names.
pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    match app_of_artifact(&args.artifact)? {
        AppName::Kv => sweep::replay::<KvApp>(&args),
        AppName::OpenraftKvMemstore => sweep::replay::<KvMemstore>(&args),
    }
}
