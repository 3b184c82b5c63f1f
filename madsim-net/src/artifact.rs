//! Run artifacts: one JSON file per run, enough to know what ran, how it
//! ended, and to check a replay (the trace hash). Schema in
//! `docs/simulations/README.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::NetError;

/// Writes a benchmark's JSON figures as `$TWINNET_BENCH_DIR/<file_name>`
/// (default `target/bench`, which `cargo xtask bench` sets to the
/// workspace's) and says where, or why it could not.
pub fn write_bench_json(file_name: &str, figures: &serde_json::Value) {
    let dir = std::env::var_os("TWINNET_BENCH_DIR")
        .map_or_else(|| PathBuf::from("target/bench"), PathBuf::from);
    let path = dir.join(file_name);
    let written = serde_json::to_vec_pretty(figures)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes))
        });
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(err) => eprintln!("error: cannot write {}: {err}", path.display()),
    }
}

/// Bumped whenever a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
}

/// What one run left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub schema_version: u32,
    /// Scenario or job name.
    pub name: String,
    pub seed: u64,
    /// The run's configuration, as the job defines it.
    pub config: serde_json::Value,
    pub status: Status,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    pub simulated_duration_ms: u64,
    pub wall_duration_ms: u64,
    /// The injector's counters, by name.
    pub counters: serde_json::Value,
    /// FNV-1a hash of the full event trace, 16 hex digits.
    pub trace_hash: String,
    /// The command that reruns this exact run.
    pub replay: String,
}

impl Artifact {
    pub fn trace_hash_hex(hash: u64) -> String {
        format!("{hash:016x}")
    }

    /// `<dir>/<name>-seed<seed>.json`
    pub fn file_name(&self) -> String {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}-seed{}.json", self.seed)
    }

    /// Writes the artifact into `dir` (created if missing); returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, NetError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| NetError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(self.file_name());
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| NetError::Io(format!("cannot encode artifact: {e}")))?;
        std::fs::write(&path, json)
            .map_err(|e| NetError::Io(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Reads and checks an artifact written by [`Self::write_to`].
    pub fn read_from(path: &Path) -> Result<Self, NetError> {
        let bytes = std::fs::read(path)
            .map_err(|e| NetError::Io(format!("cannot read {}: {e}", path.display())))?;
        let artifact: Artifact = serde_json::from_slice(&bytes)
            .map_err(|e| NetError::Io(format!("{} is not an artifact: {e}", path.display())))?;
        if artifact.schema_version != SCHEMA_VERSION {
            return Err(NetError::Io(format!(
                "{}: schema version {} (this build reads {SCHEMA_VERSION})",
                path.display(),
                artifact.schema_version
            )));
        }
        Ok(artifact)
    }
}
