//! `raft-sim`: twinnet's command line.
//!
//! Today it sweeps the madsim-net scenarios (`net-sweep`); the Raft cluster
//! and its chaos `sweep` come with issues B and C.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod net_sweep;
mod runner;
mod seeds;

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
    /// Sweep the madsim-net chaos scenario over seeds (needs --cfg madsim).
    NetSweep(net_sweep::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
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
