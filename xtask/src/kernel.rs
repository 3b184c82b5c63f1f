//! The kernel side: the `kernel` test pass and `clean-net`. Both are
//! placeholders until kernel-backend lands (issue D).

use std::process::ExitCode;

use anyhow::Result;

use crate::outln;
use crate::summary::PassResult;

/// The `kernel` pass of `cargo xtask test`. Needs root (it creates network
/// namespaces and veth pairs).
pub fn kernel_pass(cargo_args: &[String]) -> Result<PassResult> {
    outln!("==> kernel: kernel-backend tests (root only)");
    let result = if effective_uid() != Some(0) {
        PassResult::skipped("kernel", "needs root")
    } else {
        // Issue D puts the real command here, along the lines of
        //   let cargo = CargoCmd::new("kernel", ["test", "-p", "kernel-backend"])
        //       .args(cargo_args);
        //   passes::cargo_test_pass(PassName::Kernel, cargo)
        // (run as root, then `clean_net()` to remove what the tests left).
        let _ = cargo_args;
        PassResult::skipped("kernel", "no kernel tests yet: kernel-backend is issue D")
    };
    if let crate::summary::Status::Skipped(reason) = &result.status {
        outln!("kernel: skipped ({reason})");
    }
    Ok(result)
}

/// `cargo xtask clean-net`: remove network namespaces, veths and the like
/// left behind by interrupted kernel tests.
pub fn clean_net() -> Result<ExitCode> {
    // Issue D: list and delete the namespaces/links kernel-backend creates
    // (by their name prefix), needing root, and report what was removed.
    outln!("clean-net: nothing to clean (kernel-backend is not built yet)");
    Ok(ExitCode::SUCCESS)
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
}
