//! The timeline: one self-contained HTML page per run that shows, on one
//! simulated time axis, every client operation (coloured by outcome, the
//! violating core highlighted), every node's role over time, and every
//! fault the nemesis applied.
//!
//! - [`record`]: what a run keeps for it beyond the history and the
//!   faults (the workload's start on the event log's clock, a bounded
//!   role-change log, the checker's core), stored in the artifact as
//!   `config.timeline`.
//! - [`faults`]: the applied steps paired into spans.
//! - [`page_data`]: the drawn data, built from a history (any format the
//!   checker reads) and, optionally, an artifact; bounded, with notes for
//!   whatever it leaves out.
//! - [`html`]: the page: inline style and script, the data as one JSON
//!   blob.
//!
//! A run writes `<artifact>.html` beside every artifact
//! ([`write_beside_artifact`]); `raft-sim timeline FILE [--artifact A]`
//! ([`run`]) builds the same page from files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use madsim_net::artifact::Artifact;

use crate::workload::Model;

pub mod faults;
pub mod html;
pub mod page_data;
pub mod record;

pub use page_data::{BuildError, PageData, Sources};
pub use record::{Role, RoleLog, TimelineRecord, ViolationCore};

/// History files larger than this are refused: every operation is held in
/// memory while the page is built.
pub const MAX_HISTORY_BYTES: u64 = 256 * 1024 * 1024;

/// The page for `sources`.
pub fn page(sources: &Sources<'_>) -> Result<String, BuildError> {
    Ok(html::render(&page_data::build(sources)?))
}

/// Where the page of the artifact at `artifact_path` goes: beside it,
/// `.json` replaced by `.html`.
pub fn path_beside(artifact_path: &Path) -> PathBuf {
    artifact_path.with_extension("html")
}

/// Writes the page of a run beside its artifact; returns its path.
pub fn write_beside_artifact(
    artifact_path: &Path,
    artifact: &Artifact,
    history_jsonl: &str,
) -> anyhow::Result<PathBuf> {
    let name = artifact_path.display().to_string();
    let page = page(&Sources {
        history_text: history_jsonl,
        history_name: &name,
        artifact: Some(artifact),
        model: None,
    })?;
    let path = path_beside(artifact_path);
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `raft-sim timeline FILE [--artifact A] [-o OUT]`.
#[derive(clap::Args, Debug, Clone)]
pub struct TimelineArgs {
    /// The history: our JSONL, a Jepsen etcd log or Jepsen EDN lines.
    pub file: PathBuf,
    /// The run's artifact JSON, for the nodes' roles, the nemesis's faults
    /// and the checks that failed.
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// Where the page goes (default: beside the artifact, else beside the
    /// history, as NAME.html).
    #[arg(short = 'o', long = "out")]
    pub out: Option<PathBuf>,
    /// The model to check the history with when the artifact does not say
    /// what its run found: register-cas, kv-append or versioned-cas
    /// (default: the artifact's, else guessed from the operations).
    #[arg(long)]
    pub model: Option<Model>,
}

/// Builds and writes the page; a missing or unreadable file is one clear
/// error (exit 2 from the caller).
pub fn run(args: &TimelineArgs) -> anyhow::Result<ExitCode> {
    let history = read_history(&args.file)?;
    let artifact = match &args.artifact {
        Some(path) => Some(Artifact::read_from(path).map_err(|e| anyhow::anyhow!("{e}"))?),
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| match &args.artifact {
        Some(artifact) => path_beside(artifact),
        None => history_sibling(&args.file),
    });
    if out == args.file || Some(&out) == args.artifact.as_ref() {
        anyhow::bail!("{} is an input; name another output with -o", out.display());
    }
    let name = args.file.display().to_string();
    let started = std::time::Instant::now();
    let data = page_data::build(&Sources {
        history_text: &history,
        history_name: &name,
        artifact: artifact.as_ref(),
        model: args.model,
    })?;
    let page = html::render(&data);
    std::fs::write(&out, &page).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "timeline: {} ({} of {} ops drawn, {} faults, {} nodes, {:.1} KiB, built in {} ms)",
        out.display(),
        data.ops.len(),
        data.total_ops,
        data.faults.len(),
        data.nodes.len(),
        page.len() as f64 / 1024.0,
        started.elapsed().as_millis()
    );
    for note in &data.notes {
        println!("  note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_history(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_HISTORY_BYTES {
        anyhow::bail!(
            "{} is {size} bytes, more than the {MAX_HISTORY_BYTES} a timeline reads: cut it first",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (byte {} is not): not a history",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The page beside a history: `X.history.jsonl` and `X.jsonl` become
/// `X.html`, any other `X.ext` too.
fn history_sibling(history: &Path) -> PathBuf {
    let name = history
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "history".into());
    let stem = name
        .strip_suffix(".history.jsonl")
        .or_else(|| name.strip_suffix(".jsonl"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            Path::new(&name)
                .file_stem()
                .map_or_else(|| name.clone(), |s| s.to_string_lossy().into_owned())
        });
    history.with_file_name(format!("{stem}.html"))
}

#[cfg(test)]
mod tests;
