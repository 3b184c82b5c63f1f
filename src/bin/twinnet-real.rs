//! `twinnet-real` (`cargo xtask real`): a short chaos run of the Raft
//! cluster on real network namespaces, with the checks and the summary of
//! the simulated sweep. Needs root.

#[cfg(any(madsim, not(target_os = "linux")))]
fn main() -> std::process::ExitCode {
    eprintln!("error: twinnet-real runs on a real Linux kernel: build it without `--cfg madsim`");
    std::process::ExitCode::from(2)
}

#[cfg(all(target_os = "linux", not(madsim)))]
fn main() -> std::process::ExitCode {
    real::main()
}

#[cfg(all(target_os = "linux", not(madsim)))]
mod real {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;

    use clap::Parser;
    use example_kv::KvApp;
    use example_kv::bugs::{Bug, Bugs};
    use example_openraft::KvMemstore;
    use kernel_backend::{EngineChoice, HubConfig, KernelBackend};
    use raft_sim::app::App;
    use raft_sim::nemesis::NemesisPreset;
    use raft_sim::runner;
    use raft_sim::sweep::case::{Outcome, RunLabel, print_one, run_case};
    use raft_sim::sweep::{RunConfig, RunFlags, SeedResult};
    use raft_sim::workload::Model;

    /// A Raft cluster under chaos on real namespaces, veths and a bridge,
    /// its client history checked for linearizability.
    #[derive(Parser, Debug)]
    #[command(name = "twinnet-real")]
    struct Args {
        /// Raft nodes (3 to 5 is the usual).
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// Client operations per run.
        #[arg(long, default_value_t = 300)]
        ops: usize,
        #[arg(long, default_value_t = 5)]
        clients: usize,
        #[arg(long, default_value_t = 5)]
        keys: usize,
        /// Fault schedule: none, standard or hostile.
        #[arg(long, default_value = "standard")]
        nemesis: NemesisPreset,
        /// Data model (default: the app's first).
        #[arg(long)]
        model: Option<Model>,
        /// The app under test: kv or openraft-kv-memstore.
        #[arg(long, default_value = "kv")]
        app: String,
        /// Switch on a planted bug to see the checks catch it on a real
        /// network. kv: stale-read, forget-vote, early-ack, lost-applied,
        /// retry-ambiguous, snapshot-keeps-state, snapshot-drops-membership,
        /// response-mixup;
        /// openraft-kv-memstore: local-read. Repeatable.
        #[arg(long = "bug", value_name = "NAME")]
        bugs: Vec<String>,
        /// Impairment engine: auto, tc, userspace or bridge.
        #[arg(long, default_value = "auto", value_parser = parse_engine)]
        engine: EngineChoice,
        /// First seed: it fixes the fault schedule and the engine's per-link
        /// decisions (a real network's timing is never replayable).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Runs, with seeds `seed..seed+runs`.
        #[arg(long, default_value_t = 1)]
        runs: u64,
        /// Also write the figures to this JSON file.
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        /// Where artifacts and histories of failed runs go.
        #[arg(long, default_value = "docs/simulations/runs")]
        artifacts: PathBuf,
    }

    fn parse_engine(text: &str) -> Result<EngineChoice, String> {
        text.parse()
            .map_err(|e: kernel_backend::KernelError| e.to_string())
    }

    pub fn main() -> ExitCode {
        let args = Args::parse();
        match run(args) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        }
    }

    fn run(args: Args) -> anyhow::Result<ExitCode> {
        match args.app.as_str() {
            "kv" => {
                let mut bugs = Bugs::none();
                for name in &args.bugs {
                    bugs = bugs.with(name.parse::<Bug>().map_err(anyhow::Error::msg)?);
                }
                run_app(&args, KvApp::with_bugs(bugs))
            }
            "openraft-kv-memstore" => {
                if let Some(bug) = args.bugs.iter().find(|b| *b != "local-read") {
                    anyhow::bail!(
                        "unknown bug {bug:?} for --app openraft-kv-memstore: choose local-read"
                    );
                }
                let local_reads = !args.bugs.is_empty();
                run_app(&args, KvMemstore { local_reads })
            }
            other => anyhow::bail!("unknown app {other:?}: choose one of kv, openraft-kv-memstore"),
        }
    }

    fn run_app<A: App>(args: &Args, app: A) -> anyhow::Result<ExitCode> {
        let flags = RunFlags {
            nodes: args.nodes,
            ops: args.ops,
            clients: args.clients,
            keys: args.keys,
            nemesis: args.nemesis,
            model: args.model,
            artifacts: args.artifacts.clone(),
            replay_program: None,
            app_flags: Vec::new(),
        };
        let config = flags.config(app).map_err(anyhow::Error::msg)?;
        if args.runs == 0 || args.runs > 1_000 {
            anyhow::bail!("--runs must be in 1..=1000, not {}", args.runs);
        }
        kernel_backend::probe::require_root()?;
        let engine = kernel_backend::probe::choose_engine(args.engine)?;
        println!(
            "real: engine {engine} (asked: {}), seeds {}..{}",
            args.engine,
            args.seed,
            args.seed + args.runs
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let started = Instant::now();
        let mut results = Vec::new();
        for seed in args.seed..args.seed + args.runs {
            let result = run_one(&runtime, args, &config, seed, &flags)?;
            print_one(&result);
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

    fn run_one<A: App>(
        runtime: &tokio::runtime::Runtime,
        args: &Args,
        config: &RunConfig<A>,
        seed: u64,
        flags: &RunFlags,
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
        // Real timing is not replayable: the command reruns the same
        // schedule and seeded decisions, not the same interleaving.
        let mut rerun = format!(
            "cargo xtask real --app {} --seed {seed} --runs 1 --engine {} --nodes {} --ops {} --clients {} --keys {} --nemesis {} --model {}",
            args.app,
            args.engine,
            flags.nodes,
            flags.ops,
            flags.clients,
            flags.keys,
            flags.nemesis,
            config.workload.model
        );
        for bug in &args.bugs {
            rerun.push_str(&format!(" --bug {bug}"));
        }
        let label = RunLabel {
            name: "raft-real".into(),
            replay: rerun,
        };
        Ok(outcome.finish(seed, config, &args.artifacts, false, &label))
    }
}
