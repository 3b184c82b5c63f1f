//! `raft-sim`: twinnet's command line for its example apps.
//!
//! `sweep` (the main job), `run`, `replay`, `merge`, `check`, `timeline` (a
//! run's HTML timeline from its files), and `net-sweep` (the network
//! layer's own chaos scenario). `--app NAME` picks the app (`kv`,
//! the default, or `openraft-kv-memstore`); `--bug NAME` plants one of its bugs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raft_sim_cli::apps;

mod net_sweep;

#[derive(Parser)]
#[command(
    name = "raft-sim",
    version,
    about = "twinnet: seed sweeps of OpenRaft apps in the madsim simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sweep seeds of an app's cluster under chaos and check every history
    /// (the main job; needs --cfg madsim: `cargo xtask sim`).
    Sweep(apps::SweepArgs),
    /// Run one seed and write its artifact and history.
    Run(apps::RunArgs),
    /// Rerun the seed of an artifact and confirm its trace hash.
    Replay(raft_sim::sweep::ReplayArgs),
    /// From a failing seed's artifact, a smaller run that fails the same
    /// way (fewer and shorter faults, fewer ops and clients), written as
    /// an artifact that `replay` reruns (needs --cfg madsim).
    Shrink(raft_sim::sweep::shrink::ShrinkArgs),
    /// Join the reports of a sweep's shards (`sweep --shard K/N --report
    /// FILE`) into one sweep's summary.
    Merge(raft_sim::sweep::merge::MergeArgs),
    /// Check a history for linearizability (our JSONL, a Jepsen etcd log or
    /// Jepsen EDN lines; the format is detected from the first line).
    Check(twinnet_check::cli::CheckArgs),
    /// Draw a history (and a run's artifact: nodes, faults, failed checks)
    /// as one self-contained HTML timeline.
    Timeline(raft_sim::timeline::TimelineArgs),
    /// Sweep the madsim-net chaos scenario over seeds (needs --cfg madsim).
    NetSweep(net_sweep::Args),
}

fn main() -> ExitCode {
    twinnet_check::cli::exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sweep(args) => apps::sweep(args),
        Command::Run(args) => apps::run(args),
        Command::Replay(args) => apps::replay(args),
        Command::Shrink(args) => apps::shrink(args),
        Command::Merge(args) => raft_sim::sweep::merge::merge(&args),
        Command::Check(args) => twinnet_check::cli::run(args),
        Command::Timeline(args) => raft_sim::timeline::run(&args),
        Command::NetSweep(args) => net_sweep::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
