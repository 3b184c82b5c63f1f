//! Running seeds: one fresh madsim simulation per seed, in parallel jobs on
//! OS threads, with a progress bar; a panic inside a seed becomes that
//! seed's failure instead of taking the sweep down. Shared by `net-sweep`
//! and `sweep`.
// The binary drives these only under cfg(madsim).
#![cfg_attr(not(madsim), allow(dead_code))]

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The flags every sweep takes.
#[derive(clap::Args, Debug, Clone)]
pub struct SeedFlags {
    /// Seeds to run, `A..B` (B exclusive) or one seed.
    #[arg(long, default_value = "0..100", value_parser = crate::seeds::parse_range)]
    pub seeds: std::ops::Range<u64>,
    /// Seeds simulated at once (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Also write the figures, per seed, to this JSON file.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<std::path::PathBuf>,
    /// Write an artifact (and history) for every seed, not only failing ones.
    #[arg(long)]
    pub keep_artifacts: bool,
    /// Run only shard K of N of the seeds (every N-th, from the K-th), so
    /// N machines split a range; `raft-sim merge` joins their reports.
    #[arg(long, value_name = "K/N", value_parser = crate::seeds::Shard::parse)]
    pub shard: Option<crate::seeds::Shard>,
    /// Stop starting seeds after this much wall time (`90s`, `10m`, `2h`):
    /// a nightly run sweeps as far as its budget goes.
    #[arg(long, value_parser = crate::seeds::parse_duration)]
    pub duration: Option<Duration>,
}

impl SeedFlags {
    /// The seeds these flags ask for.
    pub fn plan(&self) -> crate::seeds::SeedPlan {
        let shard = self.shard.unwrap_or(crate::seeds::Shard::WHOLE);
        crate::seeds::SeedPlan::new(self.seeds.clone(), shard, self.duration)
    }
}

/// Totals of a sweep, for the table and the JSON report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub seeds_run: u64,
    pub seeds_passed: u64,
    pub seeds_failed: u64,
    pub ops: u64,
    pub simulated_seconds: f64,
    pub wall_seconds: f64,
    /// Simulated time over the wall time the simulations took (per thread).
    pub speed_sim_per_wall: f64,
    pub seeds_per_minute: f64,
    pub jobs: u16,
}

/// One seed's outcome, as every sweep reports it: the figures the summary
/// table reads, and `detail`, what this sweep adds (the Raft sweep's
/// failed checks, faults and coverage; `net-sweep`'s counters). In the
/// JSON report it is one flat object per seed (`detail` is flattened), and
/// the detail's fields read as the result's own (`Deref`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedResult<D> {
    pub seed: u64,
    pub passed: bool,
    /// Client operations invoked.
    pub ops: u64,
    pub simulated_ms: u64,
    pub wall_us: u64,
    pub trace_hash: String,
    /// The artifact written for this seed, if any.
    pub artifact: Option<PathBuf>,
    #[serde(flatten)]
    pub detail: D,
}

impl<D> std::ops::Deref for SeedResult<D> {
    type Target = D;
    fn deref(&self) -> &D {
        &self.detail
    }
}

pub fn summarize<D>(results: &[SeedResult<D>], wall: Duration, jobs: u16) -> Summary {
    let passed = results.iter().filter(|r| r.passed).count() as u64;
    let simulated_seconds = results.iter().map(|r| r.simulated_ms).sum::<u64>() as f64 / 1e3;
    let thread_seconds = results.iter().map(|r| r.wall_us).sum::<u64>() as f64 / 1e6;
    let wall_seconds = wall.as_secs_f64();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Summary {
        seeds_run: results.len() as u64,
        seeds_passed: passed,
        seeds_failed: results.len() as u64 - passed,
        ops: results.iter().map(|r| r.ops).sum(),
        simulated_seconds,
        wall_seconds,
        speed_sim_per_wall: ratio(simulated_seconds, thread_seconds),
        seeds_per_minute: ratio(results.len() as f64 * 60.0, wall_seconds),
        jobs,
    }
}

pub fn print_summary(title: &str, summary: &Summary) {
    println!("{title}");
    let rows: [(&str, String); 9] = [
        ("seeds run", summary.seeds_run.to_string()),
        ("passed", summary.seeds_passed.to_string()),
        ("failed", summary.seeds_failed.to_string()),
        ("client ops", summary.ops.to_string()),
        (
            "simulated seconds",
            format!("{:.1}", summary.simulated_seconds),
        ),
        ("wall seconds", format!("{:.2}", summary.wall_seconds)),
        (
            "speed (sim/wall)",
            format!("{:.0}x", summary.speed_sim_per_wall),
        ),
        (
            "seeds per minute",
            format!("{:.0}", summary.seeds_per_minute),
        ),
        ("jobs", summary.jobs.to_string()),
    ];
    for (name, value) in rows {
        println!("  {name:<22} {value:>12}");
    }
}

/// The coverage block under the summary table; every effect no seed
/// produced is a warning line, so a sweep that tested nothing says so.
pub fn print_coverage(coverage: &crate::sweep::CoverageTotals) {
    let t = &coverage.total;
    println!("coverage (all seeds)");
    let rows: [(&str, String); 22] = [
        ("elections (terms)", t.elections.to_string()),
        (
            "leader changes",
            format!(
                "{} ({} seeds)",
                t.leader_changes, coverage.seeds_with_leader_change
            ),
        ),
        (
            "faults applied",
            format!("{} (+{} skipped)", t.faults_applied, t.faults_skipped),
        ),
        ("partitions", t.partitions.to_string()),
        ("reads in a partition", t.reads_during_partition.to_string()),
        (
            "deposed leader seen",
            format!("{} samples", t.deposed_leader_samples),
        ),
        (
            "nodes killed",
            format!(
                "{} ({} lost {} writes)",
                t.kills, t.kills_losing_writes, t.writes_lost
            ),
        ),
        (
            "restarted, then led",
            format!("{} of {} handed", t.took_lead, t.handed_lead),
        ),
        (
            "rejoined behind purge",
            format!(
                "{} ({} by snapshot)",
                t.rejoined_behind_purge, t.caught_up_by_snapshot
            ),
        ),
        (
            "own-snapshot restarts",
            format!(
                "{} (of {} tried)",
                t.restarted_from_snapshot, t.own_snapshot_restarts
            ),
        ),
        ("leader powered on last", t.leader_held_back.to_string()),
        (
            "voters removed",
            format!(
                "{} ({} leaders; {} restored)",
                t.voters_removed, t.leaders_removed, t.memberships_restored
            ),
        ),
        (
            "client delayed",
            format!("{} ({} ops unknown)", t.client_delays, t.ops_indeterminate),
        ),
        (
            "client resets",
            format!("{} ({} streams)", t.client_resets, t.client_streams_reset),
        ),
        ("fsyncs slowed", t.slow_fsyncs.to_string()),
        (
            "disks failed",
            format!(
                "{} ({} fsync errors, {} writes lost)",
                t.disk_failures, t.sync_errors, t.writes_lost_to_disk_failures
            ),
        ),
        (
            "clocks drifted",
            format!(
                "{} ({} cut off; skew up to {} ms; {} reads)",
                t.clock_drifts, t.clock_drifts_isolated, t.clock_skew_max_ms, t.drifted_clock_reads
            ),
        ),
        (
            "Raft RPC faults",
            format!("{} ({} RPCs hit)", t.rpc_fault_episodes, t.rpcs_faulted),
        ),
        ("pauses", t.pauses.to_string()),
        ("link bursts", t.link_bursts.to_string()),
        (
            "snapshots installed",
            format!("{} (+{} built)", t.snapshots_installed, t.snapshots_built),
        ),
        ("log entries compared", t.log_entries_compared.to_string()),
    ];
    for (name, value) in rows {
        println!("  {name:<22} {value:>12}");
    }
    for gap in &coverage.never {
        println!("  warning: {gap}");
    }
}

/// Writes a sweep's JSON report and says where.
pub fn write_report(path: &std::path::Path, report: &serde_json::Value) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(report)?;
    std::fs::write(path, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", path.display()))?;
    println!("report: {}", path.display());
    Ok(())
}

/// Seeds simulated at once unless the user says otherwise.
pub fn default_jobs() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(256) as u16)
}

/// The command that replays one seed of `cargo xtask sim`.
pub fn replay_command(seed: u64, extra: &str) -> String {
    replay_command_of(DEFAULT_REPLAY_PROGRAM, seed, extra)
}

/// The sweep command of twinnet's own example apps.
pub const DEFAULT_REPLAY_PROGRAM: &str = "cargo xtask sim";

/// The command that replays one seed with `program` (a user's own sweep
/// binary and its `sweep` subcommand, say).
pub fn replay_command_of(program: &str, seed: u64, extra: &str) -> String {
    command_line(&[program, &format!("--seeds {seed}..{}", seed + 1), extra])
}

/// The words of a command line joined by spaces, the empty ones left out.
pub fn command_line(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    parts.join(" ")
}

/// What a panic inside a seed most likely means, for the panics that
/// node code breaking a rule of the simulator causes.
pub fn diagnose(panic_message: &str) -> Option<&'static str> {
    const CAUSES: [(&str, &str); 4] = [
        (
            "must be called from the context of a Tokio",
            "node code called tokio directly (tokio::spawn, tokio::time, tokio::net): \
             use madsim_net::task, madsim_net::time and madsim_net::net",
        ),
        (
            "no reactor running",
            "node code called tokio directly (tokio::spawn, tokio::time, tokio::net): \
             use madsim_net::task, madsim_net::time and madsim_net::net",
        ),
        (
            // madsim refuses pthread_attr_init inside a simulation.
            "failed to spawn thread",
            "node code started an OS thread (std::thread::spawn): \
             use madsim_net::task::spawn or spawn_blocking",
        ),
        (
            "non-determinism detected",
            "the seed drew different random numbers on a second run: something in the node \
             code is not seeded by the simulation (an unbiased select!, HashMap order, \
             a wall clock, an RNG outside madsim_net::rand)",
        ),
    ];
    CAUSES
        .iter()
        .find(|(needle, _)| panic_message.contains(needle))
        .map(|&(_, cause)| cause)
}

#[cfg(madsim)]
pub use sim::{run_seeds, simulate};

#[cfg(test)]
mod tests {
    #[test]
    fn rule_breaking_panics_are_named() {
        let tokio =
            "there is no reactor running, must be called from the context of a Tokio 1.x runtime";
        assert!(super::diagnose(tokio).unwrap().contains("tokio::spawn"));
        let thread = "failed to spawn thread: Os { code: 11, kind: WouldBlock }";
        assert!(
            super::diagnose(thread)
                .unwrap()
                .contains("std::thread::spawn")
        );
        assert_eq!(super::diagnose("index out of bounds"), None);
    }
}

#[cfg(madsim)]
mod sim {
    use std::cell::RefCell;
    use std::future::Future;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::SeedResult;
    use crate::seeds::SeedPlan;

    thread_local! {
        static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    /// Runs the seeds of `plan` through `run` on `jobs` threads, with a
    /// progress bar on stderr, until they or the plan's time budget run
    /// out; results come back sorted by seed.
    pub fn run_seeds<D, F>(
        label: &str,
        plan: impl Into<SeedPlan>,
        jobs: u16,
        run: F,
    ) -> anyhow::Result<Vec<SeedResult<D>>>
    where
        D: Send,
        F: Fn(u64) -> SeedResult<D> + Sync,
    {
        quiet_panics();
        let plan: SeedPlan = plan.into();
        let deadline = plan.budget.map(|budget| std::time::Instant::now() + budget);
        let progress = indicatif::ProgressBar::new(plan.len());
        progress.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {label} [{{bar:40}}] {{pos}}/{{len}} seeds, {{msg}} ({{elapsed}}, eta {{eta}})"
            ))?
            .progress_chars("=> "),
        );
        let next = AtomicU64::new(0);
        let (tx, rx) = mpsc::channel();
        let mut results = Vec::with_capacity(plan.len().min(1 << 20) as usize);
        std::thread::scope(|scope| {
            for _ in 0..jobs.max(1) {
                let (tx, next, run, plan) = (tx.clone(), &next, &run, &plan);
                scope.spawn(move || {
                    loop {
                        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                            break;
                        }
                        let Some(seed) = plan.nth(next.fetch_add(1, Ordering::Relaxed)) else {
                            break;
                        };
                        if tx.send(run(seed)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut failed = 0u64;
            for result in rx {
                failed += u64::from(!result.passed);
                progress.set_message(format!("{failed} failed"));
                progress.inc(1);
                results.push(result);
            }
        });
        progress.finish_and_clear();
        results.sort_by_key(|r| r.seed);
        Ok(results)
    }

    /// Panics of a seed are its failure, not noise on the terminal.
    fn quiet_panics() {
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(message));
        }));
    }

    /// Outside a sweep (a test calling `run_seed`), panics still print, and
    /// their message is kept too so that the seed's failure can name it.
    fn record_panics() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let message = info.to_string();
                LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(message));
                previous(info);
            }));
        });
    }

    /// Runs `body` in a fresh simulation of `seed`; a panic (including
    /// madsim's deadlock and time-limit panics) comes back as `Err`.
    pub fn simulate<T, Fut>(
        seed: u64,
        time_limit: Duration,
        body: impl FnOnce() -> Fut,
    ) -> Result<T, String>
    where
        Fut: Future<Output = T>,
    {
        record_panics();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut runtime =
                madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            runtime.set_time_limit(time_limit);
            runtime.block_on(async {
                let outcome = body().await;
                // After the outcome (its trace hash included) is taken:
                // it changes nothing a seed reports.
                madsim_net::release_nodes().await;
                outcome
            })
        }));
        outcome.map_err(|_| {
            let message = LAST_PANIC
                .with(|slot| slot.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".into());
            match super::diagnose(&message) {
                Some(cause) => format!("panicked: {message} ({cause})"),
                None => format!("panicked: {message}"),
            }
        })
    }
}
