//! The kernel side: the `kernel` test pass, `real` and `clean-net`.

use std::process::ExitCode;

use anyhow::Result;

use crate::cmd::{self, CargoCmd};
use crate::outln;
use crate::passes::{self, PassName};
use crate::summary::PassResult;

/// The `kernel` pass of `cargo xtask test`: kernel-backend's tests, one at a
/// time (accuracy tests measure real time and must not share the CPUs).
/// Tests that need root (or netem) report themselves skipped when they
/// cannot run; `--show-output` lets the summary see those reports.
pub fn kernel_pass(cargo_args: &[String]) -> Result<PassResult> {
    if !cfg!(target_os = "linux") {
        outln!("kernel: skipped (kernel-backend needs Linux)");
        return Ok(PassResult::skipped("kernel", "needs Linux"));
    }
    if effective_uid() != Some(0) {
        outln!("kernel: not root: tests that build namespaces will report themselves skipped");
    }
    let cargo = CargoCmd::new("kernel", ["test", "-p", "kernel-backend", "--no-fail-fast"])
        .args(cargo_args_with_harness_flags(cargo_args));
    passes::cargo_test_pass(PassName::Kernel, cargo)
}

/// Appends the libtest flags the kernel pass needs after the user's own.
fn cargo_args_with_harness_flags(cargo_args: &[String]) -> Vec<String> {
    let mut args = cargo_args.to_vec();
    if !args.iter().any(|a| a == "--") {
        args.push("--".into());
    }
    args.extend(["--show-output".into(), "--test-threads=1".into()]);
    args
}

/// `cargo xtask real ARGS`: the Raft cluster under chaos on kernel
/// namespaces (raft-sim-cli's `twinnet-real`, release build). Needs root.
pub fn real(args: &[String]) -> Result<ExitCode> {
    let status = CargoCmd::new(
        "real",
        [
            "run",
            "-q",
            "--release",
            "-p",
            "raft-sim-cli",
            "--bin",
            "twinnet-real",
            "--",
        ],
    )
    .args(args)
    .run()?;
    Ok(exit(status))
}

/// `cargo xtask clean-net`: remove the namespaces and links killed runs
/// left behind (`twinnet-net reap`). Needs root.
pub fn clean_net() -> Result<ExitCode> {
    let status = CargoCmd::new(
        "clean-net",
        [
            "run",
            "-q",
            "-p",
            "kernel-backend",
            "--bin",
            "twinnet-net",
            "--",
            "reap",
        ],
    )
    .run()?;
    Ok(exit(status))
}

fn exit(status: std::process::ExitStatus) -> ExitCode {
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(cmd::exit_code(status))
    }
}

/// The effective uid, read from `/proc/self/status` (`Uid: real effective saved fs`).
/// `None` if it cannot be read (not Linux, no /proc).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_field() {
        let status =
            "Name:\tcat\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Uid:\t0\t1000\t0\t0\n"), Some(1000));
        assert_eq!(parse_effective_uid("Name:\tcat\n"), None);
        assert_eq!(parse_effective_uid("Uid:\t0\n"), None);
    }

    #[test]
    fn harness_flags_follow_the_users_own() {
        let none: Vec<String> = Vec::new();
        assert_eq!(
            cargo_args_with_harness_flags(&none),
            ["--", "--show-output", "--test-threads=1"]
        );
        let filter = vec!["--".to_string(), "relay".to_string()];
        assert_eq!(
            cargo_args_with_harness_flags(&filter),
            ["--", "relay", "--show-output", "--test-threads=1"]
        );
    }
}
