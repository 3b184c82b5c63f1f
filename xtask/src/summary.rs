//! Test counts: parsing libtest's `test result:` lines and printing the
//! end-of-run table.

use std::fmt::Write as _;
use std::ops::AddAssign;
use std::time::Duration;

/// Test counts summed over any number of `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// Tests that ran but reported they could not do their work here (the
    /// `twinnet-skip:` marker: not root, no netem); not in `passed`.
    pub skipped: u64,
    /// How many `test result:` lines (test binaries, doctest runs) were seen.
    pub results: u64,
}

/// What a test prints when it cannot run here (kernel_backend::testing::skip).
pub const SKIP_MARKER: &str = "twinnet-skip:";

impl AddAssign for Counts {
    fn add_assign(&mut self, rhs: Self) {
        self.passed += rhs.passed;
        self.failed += rhs.failed;
        self.ignored += rhs.ignored;
        self.skipped += rhs.skipped;
        self.results += rhs.results;
    }
}

/// Parse one line such as
/// `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 3 filtered out; finished in 0.02s`
/// or `test result: FAILED. 3 passed; 1 failed; ...`. Returns `None` for any
/// other line. ANSI colour codes are ignored.
pub fn parse_line(line: &str) -> Option<Counts> {
    let line = strip_ansi(line);
    let rest = line.trim().strip_prefix("test result:")?.trim_start();
    let (status, rest) = rest.split_once('.')?;
    if status != "ok" && status != "FAILED" {
        return None;
    }
    let mut counts = Counts {
        results: 1,
        ..Counts::default()
    };
    let (mut saw_passed, mut saw_failed) = (false, false);
    for part in rest.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else {
            continue;
        };
        match what {
            "passed" => (counts.passed, saw_passed) = (n, true),
            "failed" => (counts.failed, saw_failed) = (n, true),
            "ignored" => counts.ignored = n,
            _ => {}
        }
    }
    (saw_passed && saw_failed).then_some(counts)
}

/// Sum every `test result:` line in a captured cargo test output. A test
/// that printed the skip marker passed in libtest's eyes; here it counts
/// as skipped instead.
pub fn parse_output(output: &str) -> Counts {
    let mut total = Counts::default();
    for counts in output.lines().filter_map(parse_line) {
        total += counts;
    }
    let skipped = output
        .lines()
        .filter(|line| strip_ansi(line).trim_start().starts_with(SKIP_MARKER))
        .count() as u64;
    let skipped = skipped.min(total.passed);
    total.passed -= skipped;
    total.skipped += skipped;
    total
}

/// Remove ANSI escape sequences (`ESC [ ... final-byte`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// How one pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Passed,
    /// The reason, e.g. "exit code 101" or "2 tests failed".
    Failed(String),
    /// The reason, e.g. "needs root".
    Skipped(String),
}

/// The outcome of one test pass.
#[derive(Debug, Clone)]
pub struct PassResult {
    pub name: &'static str,
    pub status: Status,
    pub counts: Counts,
    pub wall: Duration,
}

impl PassResult {
    pub fn skipped(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Skipped(reason.into()),
            counts: Counts::default(),
            wall: Duration::ZERO,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, Status::Failed(_))
    }
}

/// Totals for the final line: `xtask: N passed, M failed, K skipped`, where
/// K counts ignored tests plus one per skipped pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

pub fn totals(results: &[PassResult]) -> Totals {
    let mut t = Totals::default();
    for r in results {
        t.passed += r.counts.passed;
        t.failed += r.counts.failed;
        t.skipped += r.counts.ignored + r.counts.skipped;
        if matches!(r.status, Status::Skipped(_)) {
            t.skipped += 1;
        }
    }
    t
}

pub fn final_line(t: Totals) -> String {
    format!(
        "xtask: {} passed, {} failed, {} skipped",
        t.passed, t.failed, t.skipped
    )
}

/// The summary table, one row per pass.
pub fn table(results: &[PassResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:<8} {:>8} {:>8} {:>8} {:>8} {:>9}  note",
        "pass", "status", "passed", "failed", "ignored", "skipped", "wall"
    );
    for r in results {
        let (status, note) = match &r.status {
            Status::Passed => ("passed", String::new()),
            Status::Failed(why) => ("failed", why.clone()),
            Status::Skipped(why) => ("skipped", why.clone()),
        };
        let num = |n: u64| {
            if matches!(r.status, Status::Skipped(_)) {
                "-".to_string()
            } else {
                n.to_string()
            }
        };
        let line = format!(
            "{:<8} {:<8} {:>8} {:>8} {:>8} {:>8} {:>8.1}s  {}",
            r.name,
            status,
            num(r.counts.passed),
            num(r.counts.failed),
            num(r.counts.ignored),
            num(r.counts.skipped),
            r.wall.as_secs_f64(),
            note
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: u64, failed: u64, ignored: u64) -> Counts {
        Counts {
            passed,
            failed,
            ignored,
            skipped: 0,
            results: 1,
        }
    }

    #[test]
    fn ok_line() {
        let line = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.02s";
        assert_eq!(parse_line(line), Some(counts(12, 0, 1)));
    }

    #[test]
    fn failed_line() {
        let line = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.50s";
        assert_eq!(parse_line(line), Some(counts(3, 2, 0)));
    }

    #[test]
    fn filtered_out_is_not_counted() {
        let line = "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 41 filtered out; finished in 0.00s";
        assert_eq!(parse_line(line), Some(counts(1, 0, 0)));
    }

    #[test]
    fn doctest_and_coloured_lines() {
        let doc = "test result: ok. 4 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.61s";
        assert_eq!(parse_line(doc), Some(counts(4, 0, 2)));
        let coloured = "test result: \x1b[31mFAILED\x1b[0m. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        assert_eq!(parse_line(coloured), Some(counts(0, 1, 0)));
    }

    #[test]
    fn other_lines_are_ignored() {
        for line in [
            "",
            "running 3 tests",
            "test net::tests::drops_packets ... ok",
            "test result: maybe. 1 passed; 0 failed;",
            "test result: ok. no counts here",
            "all doctests ran in 0.34s; merged doctests compilation took 0.30s",
            "failures:",
            "error: test failed, to rerun pass `-p madsim-net --lib`",
        ] {
            assert_eq!(parse_line(line), None, "line: {line:?}");
        }
    }

    #[test]
    fn whole_output_is_summed() {
        let output = "\
   Compiling madsim-net v0.1.0 (/work/main/madsim-net)
     Running unittests src/lib.rs (target/debug/deps/madsim_net-0123456789abcdef)

running 3 tests
test a ... ok
test b ... ok
test c ... ignored

test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/net.rs (target/debug/deps/net-fedcba9876543210)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.00s

     Running unittests src/main.rs (target/debug/deps/raft_sim-0011223344556677)

running 4 tests
test x ... FAILED

failures:

test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 2.01s

   Doc-tests madsim_net

running 2 tests
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.40s
";
        assert_eq!(
            parse_output(output),
            Counts {
                passed: 7,
                failed: 1,
                ignored: 1,
                skipped: 0,
                results: 4,
            }
        );
    }

    #[test]
    fn skip_markers_move_tests_from_passed_to_skipped() {
        let output = "\
running 3 tests
test needs_root ... ok
test pure ... ok
test needs_netem ... ok

successes:

---- needs_root stdout ----
twinnet-skip: needs_root: needs root (network namespaces, veth, tc)

---- needs_netem stdout ----
twinnet-skip: needs_netem: this kernel has no sch_netem

test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
";
        let counts = parse_output(output);
        assert_eq!((counts.passed, counts.skipped), (1, 2));
        let result = PassResult {
            name: "kernel",
            status: Status::Passed,
            counts,
            wall: Duration::from_secs(1),
        };
        assert_eq!(totals(&[result]).skipped, 2);
    }

    #[test]
    fn totals_count_ignored_and_skipped_passes() {
        let results = [
            PassResult {
                name: "plain",
                status: Status::Passed,
                counts: counts(10, 0, 2),
                wall: Duration::from_secs(3),
            },
            PassResult {
                name: "madsim",
                status: Status::Failed("1 test failed".into()),
                counts: counts(8, 1, 0),
                wall: Duration::from_secs(5),
            },
            PassResult::skipped("kernel", "needs root"),
        ];
        let t = totals(&results);
        assert_eq!(
            t,
            Totals {
                passed: 18,
                failed: 1,
                skipped: 3
            }
        );
        assert_eq!(final_line(t), "xtask: 18 passed, 1 failed, 3 skipped");
        let table = table(&results);
        assert_eq!(table.lines().count(), 4);
        assert!(table.lines().nth(3).unwrap().contains("skipped"));
    }
}
