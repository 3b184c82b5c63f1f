//! `twinnet-check FILE --model ...`: the checker on its own (the same
//! command as `raft-sim check`).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "twinnet-check",
    version,
    about = "Check a history for linearizability (our JSONL, a Jepsen etcd log or Jepsen EDN lines)"
)]
struct Cli {
    #[command(flatten)]
    args: twinnet_check::cli::CheckArgs,
}

fn main() -> ExitCode {
    twinnet_check::cli::exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    match twinnet_check::cli::run(cli.args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(twinnet_check::cli::EXIT_BAD_INPUT)
        }
    }
}
