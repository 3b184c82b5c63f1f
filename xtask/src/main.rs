//! `cargo xtask`: the twinnet front door.
//!
//! Every command runs cargo from the workspace root, prints a one-line
//! `==> ...` header before each step, and reports failures as a single
//! `error: ...` line (exit 1). Usage errors come from clap and exit 2.

mod cmd;
mod kernel;
mod passes;
mod sim;
mod summary;
mod sweep_bench;

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};

use crate::passes::PassName;

/// `println!` that never panics: a closed stdout (`cargo xtask test | head`)
/// must not turn into a panic message.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub(crate) use {errln, outln};

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "twinnet project tasks (build, test, simulate, bench)",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the test passes (plain, madsim, kernel) and print a summary table.
    Test(TestArgs),
    /// Run the main job: `raft-sim sweep ARGS...` (Raft cluster under chaos) under cfg(madsim), release mode.
    Sim(SimArgs),
    /// Run the benchmarks (simulated network, Raft in the simulator and on loopback, the checker, the kernel network); JSON into target/bench.
    Bench(BenchArgs),
    /// Run the Raft cluster under chaos on real kernel namespaces (root): `twinnet-real ARGS...`.
    Real(RealArgs),
    /// Remove what killed kernel runs left behind (named namespaces, host links); root.
    CleanNet,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Run only this pass (repeatable); default: all passes, in order.
    #[arg(long = "pass", value_enum, value_name = "PASS")]
    passes: Vec<PassName>,

    /// Extra arguments forwarded to every `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true, value_name = "CARGO_TEST_ARGS")]
    cargo_args: Vec<String>,
}

#[derive(Debug, Args)]
struct SimArgs {
    /// Arguments forwarded to the raft-sim sweep (e.g. `--seeds 0..20`).
    /// Use `cargo xtask sim -- --help` for raft-sim's own help.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct RealArgs {
    /// Arguments forwarded to twinnet-real, the sweep's flags and its own (e.g. `--nodes 3 --ops 300 --engine userspace --seed 4 --runs 3`).
    /// Use `cargo xtask real -- --help` for its own help.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Run only this bench (repeatable): net, raft-sim, raft-loopback,
    /// check, kernel or sweep; default: all, in that order.
    #[arg(long = "only", value_enum, value_name = "BENCH")]
    only: Vec<sim::BenchName>,

    /// Arguments forwarded to the bench binary (after cargo bench's `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            errln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Test(args) => passes::run(&args.passes, &args.cargo_args),
        Command::Sim(args) => sim::sim(&args.args),
        Command::Bench(args) => sim::bench(&args.only, &args.args),
        Command::Real(args) => kernel::real(&args.args),
        Command::CleanNet => kernel::clean_net(),
    }
}

/// Turn a clap error into one `error: ...` line and exit status 2.
/// Help and version requests keep clap's normal output.
fn usage_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
        _ => {}
    }
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("error: invalid arguments");
    let mut line = first.to_string();
    if !line.starts_with("error:") {
        line = format!("error: {line}");
    }
    let mut hints = Vec::new();
    let suggestion = [ContextKind::SuggestedSubcommand, ContextKind::SuggestedArg]
        .into_iter()
        .find_map(|kind| context_list(&err, kind));
    if let Some(s) = suggestion {
        hints.push(format!("did you mean {s}?"));
    }
    if let Some(valid) = context_list(&err, ContextKind::ValidValue) {
        hints.push(format!("possible values: {valid}"));
    }
    for hint in hints {
        line.push_str(&format!(" ({hint})"));
    }
    errln!("{line}; see `cargo xtask --help`");
    ExitCode::from(2)
}

/// A clap error context value as `'a' or 'b'`.
fn context_list(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(format!("'{s}'")),
        ContextValue::Strings(v) if !v.is_empty() => Some(format!("'{}'", v.join("', '"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_only_picks_benches_and_refuses_unknown_ones() {
        let cli = Cli::try_parse_from(["xtask", "bench", "--only", "sweep", "--only", "raft-sim"])
            .unwrap();
        match cli.command {
            Command::Bench(a) => {
                assert_eq!(a.only, [sim::BenchName::Sweep, sim::BenchName::RaftSim]);
                assert!(a.args.is_empty());
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["xtask", "bench", "--only", "nope"]).is_err());
    }

    #[test]
    fn sim_forwards_hyphen_args() {
        let cli = Cli::try_parse_from(["xtask", "sim", "--seeds", "0..20", "-v"]).unwrap();
        match cli.command {
            Command::Sim(a) => assert_eq!(a.args, ["--seeds", "0..20", "-v"]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn test_passes_and_forwarded_args() {
        let cli = Cli::try_parse_from([
            "xtask",
            "test",
            "--pass",
            "madsim",
            "--pass",
            "plain",
            "--",
            "foo",
            "--",
            "--nocapture",
        ])
        .unwrap();
        match cli.command {
            Command::Test(a) => {
                assert_eq!(a.passes, [PassName::Madsim, PassName::Plain]);
                assert_eq!(a.cargo_args, ["foo", "--", "--nocapture"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_command_is_a_usage_error() {
        let err = Cli::try_parse_from(["xtask", "bogus"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSubcommand);
        let err = Cli::try_parse_from(["xtask", "test", "--pass", "nope"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
    }
}
