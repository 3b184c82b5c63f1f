//! `twinnet-real` (`cargo xtask real`): a short chaos run of the Raft
//! cluster on real network namespaces, with the checks and the summary of
//! the simulated sweep, its flags (`RunFlags`, `AppFlags`: the same
//! defaults) and its replay lines. Needs root.

#[cfg(any(madsim, not(target_os = "linux")))]
fn main() -> std::process::ExitCode {
    eprintln!("error: twinnet-real runs on a real Linux kernel: build it without `--cfg madsim`");
    std::process::ExitCode::from(2)
}

#[cfg(all(target_os = "linux", not(madsim)))]
fn main() -> std::process::ExitCode {
    twinnet_check::cli::exit_quietly_on_closed_stdout();
    real::main()
}

#[cfg(all(target_os = "linux", not(madsim)))]
mod real {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;

    use clap::Parser;
    use kernel_backend::{EngineChoice, EngineKind, HubConfig, KernelBackend};
    use raft_sim::app::App;
    use raft_sim::runner;
    use raft_sim::sweep::case::{Outcome, RunLabel, print_one, run_case};
    use raft_sim::sweep::{RunConfig, RunFlags, SeedResult};
    use raft_sim_cli::apps::{AppFlags, AppName};

    /// The command a failed run's replay line starts with.
    const PROGRAM: &str = "cargo xtask real";
    /// The most runs one invocation makes.
    const MAX_RUNS: u64 = 1_000;

    /// A Raft cluster under chaos on real namespaces, veths and a bridge,
    /// its client history checked for linearizability.
    #[derive(Parser, Debug)]
    #[command(name = "twinnet-real")]
    struct Args {
        #[command(flatten)]
        run: RunFlags,
        #[command(flatten)]
        app: AppFlags,
        /// Impairment engine: auto, tc, userspace or bridge.
        #[arg(long, default_value = "auto", value_parser = parse_engine)]
        engine: EngineChoice,
        /// First seed: it fixes the fault schedule and the engine's per-link
        /// decisions (a real network's timing is never replayable).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Runs, with seeds `seed..seed+runs` (at most 1000).
        #[arg(long, default_value_t = 1)]
        runs: u64,
        /// Also write the figures to this JSON file.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
    }

    fn parse_engine(text: &str) -> Result<EngineChoice, String> {
        text.parse()
            .map_err(|e: kernel_backend::KernelError| e.to_string())
    }

    pub fn main() -> ExitCode {
        match run(Args::parse()) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            }
        }
    }

    fn run(mut args: Args) -> anyhow::Result<ExitCode> {
        args.app.validate()?;
        args.run.app_flags = args.app.replay_flags();
        match args.app.app {
            AppName::Kv => run_app(&args, args.app.kv()?),
            AppName::OpenraftKvMemstore => run_app(&args, args.app.openraft()),
        }
    }

    fn run_app<A: App>(args: &Args, app: A) -> anyhow::Result<ExitCode> {
        let config = args.run.config(app).map_err(anyhow::Error::msg)?;
        if !(1..=MAX_RUNS).contains(&args.runs) {
            anyhow::bail!("--runs must be in 1..={MAX_RUNS}, not {}", args.runs);
        }
        let end = args.seed.checked_add(args.runs).ok_or_else(|| {
            anyhow::anyhow!("--seed {} with --runs {} overflows", args.seed, args.runs)
        })?;
        kernel_backend::probe::require_root()?;
        let engine = kernel_backend::probe::choose_engine(args.engine)?;
        println!(
            "real: engine {engine} (asked: {}), seeds {}..{end}",
            args.engine, args.seed
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let started = Instant::now();
        let mut results = Vec::new();
        for seed in args.seed..end {
            let replay = replay_command(args, seed, engine);
            let result = run_one(&runtime, args, &config, seed, &replay)?;
            print_one(&result);
            if !result.passed {
                println!("replay: {replay}");
            }
            results.push(result);
        }
        let summary = runner::summarize(&results, started.elapsed(), 1);
        runner::print_summary(
            &format!(
                "real: {}-node Raft cluster on kernel namespaces ({engine} engine), {} ops/run ({}), nemesis {}",
                config.nodes, config.workload.ops, config.workload.model, config.nemesis
            ),
            &summary,
        );
        println!("  (\"simulated seconds\" are real seconds here: the cluster ran in real time)");
        if let Some(path) = &args.report {
            let report = serde_json::json!({
                "engine": engine, "config": config, "summary": summary, "runs": results,
            });
            runner::write_report(path, &report)?;
        }
        Ok(if summary.seeds_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    /// The command that reruns `seed`: real timing is not replayable, so
    /// it reruns the same schedule and seeded decisions, on the engine
    /// this run used, not the same interleaving.
    fn replay_command(args: &Args, seed: u64, engine: EngineKind) -> String {
        args.run.rerun_command(
            PROGRAM,
            &format!("--seed {seed} --runs 1 --engine {engine}"),
        )
    }

    fn run_one<A: App>(
        runtime: &tokio::runtime::Runtime,
        args: &Args,
        config: &RunConfig<A>,
        seed: u64,
        replay: &str,
    ) -> anyhow::Result<SeedResult> {
        let hub = HubConfig {
            engine: args.engine,
            seed,
            ..HubConfig::default()
        };
        let backend = KernelBackend::new(hub)?;
        let wall = Instant::now();
        let mut outcome: Outcome = runtime.block_on(run_case(backend, config.clone(), seed));
        outcome.wall = wall.elapsed();
        let label = RunLabel {
            name: "raft-real".into(),
            replay: replay.to_string(),
        };
        Ok(outcome.finish(seed, config, &args.run.artifacts, false, &label))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn parse(line: &str) -> Args {
            let mut args = Args::try_parse_from(
                std::iter::once("twinnet-real").chain(line.split_whitespace()),
            )
            .unwrap();
            args.run.app_flags = args.app.replay_flags();
            args
        }

        /// A failed run's replay line is `cargo xtask real` with flags
        /// that parse back to the same run of that one seed.
        #[test]
        fn the_replay_line_reruns_the_same_run() {
            let line = "--nodes 3 --ops 100 --nemesis hostile --app kv --bug forget-vote \
                        --seed 4 --runs 3 --engine auto";
            let args = parse(line);
            assert_eq!(args.run.ops, raft_sim::sweep::DEFAULT_OPS / 10);
            let replay = replay_command(&args, 5, EngineKind::Userspace);
            assert_eq!(
                replay,
                "cargo xtask real --seed 5 --runs 1 --engine userspace \
                 --nodes 3 --ops 100 --nemesis hostile --bug forget-vote"
            );
            let again = parse(replay.strip_prefix(PROGRAM).unwrap());
            assert_eq!((again.seed, again.runs), (5, 1));
            assert_eq!(again.engine, EngineChoice::Userspace);
            assert_eq!(again.run.replay_flags(), args.run.replay_flags());
            assert_eq!(replay_command(&again, 5, EngineKind::Userspace), replay);
        }

        /// The defaults are the sweep's: nothing to repeat.
        #[test]
        fn defaults_are_the_sweeps() {
            let args = parse("");
            assert_eq!(args.run.ops, raft_sim::sweep::DEFAULT_OPS);
            assert_eq!(args.run.nodes, raft_sim::sweep::DEFAULT_NODES);
            assert_eq!(
                replay_command(&args, 1, EngineKind::Tc),
                "cargo xtask real --seed 1 --runs 1 --engine tc"
            );
        }
    }
}
