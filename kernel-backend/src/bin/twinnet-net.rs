//! `twinnet-net`: kernel-backend from the command line.
//!
//! - `probe`: what this kernel can do, and the engine `auto` picks (JSON).
//! - `reap`: remove what killed runs left (`cargo xtask clean-net`); `sweep`
//!   is its former name, still accepted.
//! - `hold --peers N`: build a hub and keep it until killed, printing each
//!   peer as it comes up (the SIGKILL-mid-set-up test drives this).

#[cfg(any(madsim, not(target_os = "linux")))]
fn main() -> std::process::ExitCode {
    eprintln!("error: twinnet-net needs Linux and real networking (no `--cfg madsim`)");
    std::process::ExitCode::from(2)
}

#[cfg(all(target_os = "linux", not(madsim)))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    match cli::run(cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(all(target_os = "linux", not(madsim)))]
mod cli {
    use std::io::Write;

    use kernel_backend::{EngineChoice, Hub, HubConfig, KernelError, baseline, probe, reap};

    #[derive(clap::Parser, Debug)]
    #[command(name = "twinnet-net", about = "kernel-backend: probe, reap, hold")]
    pub struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Command {
        /// Print what this kernel can do and the engine `auto` picks.
        Probe,
        /// Remove namespaces and links left by killed runs (needs root).
        // `sweep` was its name before raft-sim's seed sweeps took the word;
        // `cargo xtask clean-net` may still call it that.
        #[command(alias = "sweep")]
        Reap,
        /// Build a hub of N peers one by one and hold it until killed.
        Hold {
            #[arg(long, default_value_t = 100)]
            peers: usize,
            /// Engine: auto, tc, userspace or bridge.
            #[arg(long, default_value = "bridge", value_parser = parse_engine)]
            engine: EngineChoice,
            /// Also build the `ip -batch` baseline with this many peers
            /// first (named namespaces and host links: what reaping is for).
            #[arg(long, default_value_t = 0)]
            baseline_peers: usize,
        },
    }

    fn parse_engine(text: &str) -> Result<EngineChoice, String> {
        text.parse().map_err(|e: KernelError| e.to_string())
    }

    pub fn run(cli: Cli) -> Result<(), KernelError> {
        match cli.command {
            Command::Probe => {
                let caps = probe::capabilities();
                let engine = probe::choose_engine(EngineChoice::Auto)
                    .map(|kind| kind.to_string())
                    .unwrap_or_else(|e| format!("none: {e}"));
                let report = serde_json::json!({ "capabilities": caps, "auto_engine": engine });
                println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
                Ok(())
            }
            Command::Reap => {
                let report = reap::reap_stale()?;
                if report.is_empty() {
                    println!("clean-net: nothing to clean");
                } else {
                    println!(
                        "clean-net: removed {} link(s) and {} named namespace(s)",
                        report.links.len(),
                        report.namespaces.len()
                    );
                    for name in report.links.iter().chain(&report.namespaces) {
                        println!("  {name}");
                    }
                }
                Ok(())
            }
            Command::Hold {
                peers,
                engine,
                baseline_peers,
            } => hold(peers, engine, baseline_peers),
        }
    }

    fn hold(peers: usize, engine: EngineChoice, baseline_peers: usize) -> Result<(), KernelError> {
        let mut out = std::io::stdout().lock();
        // Kept alive until the process dies: that is the point.
        let _baseline = (baseline_peers > 0)
            .then(|| baseline::up(baseline_peers))
            .transpose()?;
        let _ = writeln!(out, "baseline {baseline_peers}");
        let mut hub = Hub::new(HubConfig {
            engine,
            ..HubConfig::default()
        })?;
        for _ in 0..peers {
            let peer = hub.add_peer()?;
            let _ = writeln!(out, "peer {peer}");
            let _ = out.flush();
        }
        let _ = writeln!(out, "holding");
        let _ = out.flush();
        loop {
            std::thread::park();
        }
    }

    #[cfg(test)]
    mod tests {
        use clap::Parser;

        use super::{Cli, Command};

        #[test]
        fn reap_is_also_accepted_under_its_former_name_sweep() {
            for word in ["reap", "sweep"] {
                let cli = Cli::try_parse_from(["twinnet-net", word]).expect(word);
                assert!(matches!(cli.command, Command::Reap), "{word}: {cli:?}");
            }
        }
    }
}
