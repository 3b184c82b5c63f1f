//! `raft-sim`: twinnet's command line.
//!
//! `sweep` (the main job), `run`, `replay`, `check`, and `net-sweep` (the
//! network layer's own chaos scenario).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod net_sweep;

#[derive(Parser)]
#[command(
    name = "raft-sim",
    version,
    about = "twinnet: seed sweeps in the madsim simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sweep seeds of a Raft cluster under chaos and check every history
    /// (the main job; needs --cfg madsim: `cargo xtask sim`).
    Sweep(raft_sim::sweep::SweepArgs),
    /// Run one seed and write its artifact and history.
    Run(raft_sim::sweep::RunArgs),
    /// Rerun the seed of an artifact and confirm its trace hash.
    Replay(raft_sim::sweep::ReplayArgs),
    /// Check a history for linearizability (our JSONL, a Jepsen etcd log or
    /// Jepsen EDN lines; the format is detected from the first line).
    Check(raft_sim::check::cli::CheckArgs),
    /// Sweep the madsim-net chaos scenario over seeds (needs --cfg madsim).
    NetSweep(net_sweep::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sweep(args) => raft_sim::sweep::sweep(args),
        Command::Run(args) => raft_sim::sweep::run(args),
        Command::Replay(args) => raft_sim::sweep::replay(args),
        Command::Check(args) => raft_sim::check::cli::run(args),
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
