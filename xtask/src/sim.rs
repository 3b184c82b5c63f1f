//! `cargo xtask sim` and `cargo xtask bench`: release-mode runs under cfg(madsim).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cmd::{self, CargoCmd};
use crate::{errln, outln};

/// The raft-sim subcommand `cargo xtask sim` runs: the Raft chaos sweep.
const SIM_SUBCOMMAND: &str = "sweep";

/// Where the bench writes its JSON (relative to the workspace root).
const BENCH_DIR: &str = "target/bench";

/// `cargo run --release --target-dir target/madsim -p raft-sim-cli --bin raft-sim -- sweep ARGS...`
/// under `--cfg madsim`; exits with raft-sim's exit code.
pub fn sim(args: &[String]) -> Result<ExitCode> {
    let status = CargoCmd::new("sim", ["run", "--release"])
        .madsim()
        .args([
            "-p",
            "raft-sim-cli",
            "--bin",
            "raft-sim",
            "--",
            SIM_SUBCOMMAND,
        ])
        .args(args)
        .run()?;
    if status.success() {
        return Ok(ExitCode::SUCCESS);
    }
    errln!(
        "error: sim: raft-sim {SIM_SUBCOMMAND} failed ({})",
        cmd::describe(status)
    );
    Ok(ExitCode::from(cmd::exit_code(status)))
}

/// One benchmark binary: its package, its name, and whether it runs in
/// the simulator (`--cfg madsim`, target/madsim) or on real sockets.
struct Bench {
    key: BenchName,
    package: &'static str,
    name: &'static str,
    simulated: bool,
}

/// The benches `cargo xtask bench --only` picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchName {
    Net,
    RaftSim,
    RaftLoopback,
    Check,
    Kernel,
    Sweep,
}

/// Every benchmark `cargo xtask bench` runs, in order; each writes its JSON
/// into `TWINNET_BENCH_DIR` with baselines measured in the same run.
const BENCHES: [Bench; 5] = [
    Bench {
        key: BenchName::Net,
        package: "madsim-net",
        name: "net",
        simulated: true,
    },
    Bench {
        key: BenchName::RaftSim,
        package: "example-kv",
        name: "raft",
        simulated: true,
    },
    Bench {
        key: BenchName::RaftLoopback,
        package: "example-kv",
        name: "raft",
        simulated: false,
    },
    Bench {
        key: BenchName::Check,
        package: "twinnet-check",
        name: "check",
        simulated: false,
    },
    // Real namespaces: needs root (without it, it says so and writes a
    // `skipped` JSON).
    Bench {
        key: BenchName::Kernel,
        package: "kernel-backend",
        name: "kernel",
        simulated: false,
    },
];

/// Runs every bench of [`BENCHES`] (or those `only` names) with
/// `TWINNET_BENCH_DIR=<root>/target/bench` (trailing ARGS go to each bench
/// binary), then the default sweep against a baseline revision
/// ([`crate::sweep_bench`]), then lists the JSON files.
pub fn bench(only: &[BenchName], args: &[String]) -> Result<ExitCode> {
    let bench_dir = cmd::workspace_root().join(BENCH_DIR);
    std::fs::create_dir_all(&bench_dir)
        .with_context(|| format!("bench: creating {}", bench_dir.display()))?;
    let chosen = |key: BenchName| only.is_empty() || only.contains(&key);
    for bench in BENCHES.iter().filter(|b| chosen(b.key)) {
        let mut cargo = CargoCmd::new("bench", ["bench"])
            .args(["-p", bench.package, "--bench", bench.name])
            .env("TWINNET_BENCH_DIR", bench_dir.to_string_lossy());
        if bench.simulated {
            cargo = cargo.madsim();
        }
        if !args.is_empty() {
            cargo = cargo.args(["--"]).args(args);
        }
        let status = cargo.run()?;
        if !status.success() {
            bail!(
                "bench: {}/{} failed ({})",
                bench.package,
                bench.name,
                cmd::describe(status)
            );
        }
    }
    if chosen(BenchName::Sweep) {
        crate::sweep_bench::run(&bench_dir)?;
    }
    list_json(&bench_dir)?;
    Ok(ExitCode::SUCCESS)
}

fn list_json(dir: &Path) -> Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("bench: reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    outln!("==> bench results in {BENCH_DIR}/");
    if files.is_empty() {
        outln!("  (no JSON files)");
    }
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        outln!("  {BENCH_DIR}/{}  ({size} bytes)", name.unwrap_or_default());
    }
    Ok(())
}
