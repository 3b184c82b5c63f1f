//! `cargo xtask test`: the plain, madsim and kernel passes, then the summary.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::ValueEnum;

use crate::cmd::{self, CargoCmd};
use crate::summary::{self, PassResult, Status};
use crate::{errln, kernel, outln};

/// The test passes, in the order they always run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum PassName {
    /// `cargo test --workspace` with the user's environment (tokio networking).
    Plain,
    /// `cargo test --workspace` under `--cfg madsim` (the simulator), own target dir.
    Madsim,
    /// kernel-backend's tests: real namespaces (tests needing root or
    /// netem report themselves skipped where they cannot run).
    Kernel,
}

impl PassName {
    pub fn as_str(self) -> &'static str {
        match self {
            PassName::Plain => "plain",
            PassName::Madsim => "madsim",
            PassName::Kernel => "kernel",
        }
    }
}

/// Run the selected passes (all if none selected) in their fixed order,
/// print the table and the final `xtask: ...` line.
pub fn run(selected: &[PassName], cargo_args: &[String]) -> Result<ExitCode> {
    let mut passes: Vec<PassName> = if selected.is_empty() {
        PassName::value_variants().to_vec()
    } else {
        selected.to_vec()
    };
    passes.sort();
    passes.dedup();

    let mut results = Vec::new();
    for pass in passes {
        let result = match pass {
            PassName::Plain => cargo_test_pass(
                pass,
                // kernel-backend has a pass of its own.
                CargoCmd::new(
                    "plain",
                    [
                        "test",
                        "--workspace",
                        "--exclude",
                        "kernel-backend",
                        "--no-fail-fast",
                    ],
                )
                .args(cargo_args),
            )?,
            PassName::Madsim => cargo_test_pass(
                pass,
                // kernel-backend is empty under cfg(madsim) (its doctests
                // would be compiled without the cfg by rustdoc).
                CargoCmd::new(
                    "madsim",
                    [
                        "test",
                        "--workspace",
                        "--exclude",
                        "kernel-backend",
                        "--no-fail-fast",
                    ],
                )
                .madsim()
                .args(cargo_args),
            )?,
            PassName::Kernel => kernel::kernel_pass(cargo_args)?,
        };
        results.push(result);
    }

    outln!();
    outln!("==> summary");
    outln!("{}", summary::table(&results).trim_end());
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.name)
        .collect();
    if !failed.is_empty() {
        errln!("error: test pass failed: {}", failed.join(", "));
    }
    // Must stay the last line, in exactly this form: CI greps for it.
    outln!("{}", summary::final_line(summary::totals(&results)));
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Run one `cargo test` pass, streaming its output and counting its tests.
/// A non-zero cargo exit fails the pass even if no failed test was parsed
/// (e.g. a compile error).
pub fn cargo_test_pass(pass: PassName, cargo: CargoCmd) -> Result<PassResult> {
    let start = Instant::now();
    let (status, output) = cargo.run_tee()?;
    let wall = start.elapsed();
    let counts = summary::parse_output(&output);
    let status = if counts.failed > 0 {
        let s = if counts.failed == 1 { "" } else { "s" };
        Status::Failed(format!("{} test{s} failed", counts.failed))
    } else if !status.success() {
        Status::Failed(format!("cargo test: {}", cmd::describe(status)))
    } else {
        Status::Passed
    };
    Ok(PassResult {
        name: pass.as_str(),
        status,
        counts,
        wall,
    })
}
