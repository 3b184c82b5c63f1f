//! N shard processes of `raft-sim sweep --shard K/N` plus `raft-sim merge`
//! equal one unsharded sweep, seed for seed and trace hash for trace hash.
#![cfg(madsim)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SHARDS: u64 = 3;

fn raft_sim(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_raft-sim"))
        .args(args)
        .output()
        .expect("raft-sim runs");
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "raft-sim {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn sweep(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let report = dir.join(format!("{name}.json"));
    let artifacts = dir.join("artifacts");
    let mut args = vec![
        "sweep", "--seeds", "0..10", "--nodes", "3", "--ops", "150", "--jobs", "2",
    ];
    args.extend_from_slice(extra);
    let (report_arg, artifacts_arg) = (
        report.display().to_string(),
        artifacts.display().to_string(),
    );
    args.extend(["--report", &report_arg, "--artifacts", &artifacts_arg]);
    raft_sim(&args);
    report
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

/// A seed's figures without its wall time, the one thing that may differ.
fn decided(seed: &Value) -> Value {
    let mut seed = seed.clone();
    seed.as_object_mut().map(|o| o.remove("wall_us"));
    seed
}

#[test]
fn shards_merged_equal_one_sweep() {
    let dir = std::env::temp_dir().join(format!("twinnet-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let whole = read(&sweep(&dir, "whole", &[]));
    let mut shard_reports = Vec::new();
    for k in 1..=SHARDS {
        let shard = format!("{k}/{SHARDS}");
        let path = sweep(&dir, &format!("shard{k}"), &["--shard", &shard]);
        let seeds = read(&path)["seeds"].as_array().map_or(0, Vec::len);
        assert!(seeds >= 3, "shard {shard} ran {seeds} seeds");
        shard_reports.push(path.display().to_string());
    }
    let merged_path = dir.join("merged.json").display().to_string();
    let mut args = vec!["merge"];
    args.extend(shard_reports.iter().map(String::as_str));
    args.extend(["--report", &merged_path]);
    let output = raft_sim(&args);
    assert!(String::from_utf8_lossy(&output.stdout).contains("seeds run"));
    let merged = read(Path::new(&merged_path));

    let seeds = |report: &Value| -> Vec<Value> {
        report["seeds"]
            .as_array()
            .expect("seeds")
            .iter()
            .map(decided)
            .collect()
    };
    assert_eq!(seeds(&merged).len(), 10);
    assert_eq!(
        seeds(&merged),
        seeds(&whole),
        "seed for seed, hash for hash"
    );
    for field in [
        "seeds_run",
        "seeds_passed",
        "seeds_failed",
        "ops",
        "simulated_seconds",
    ] {
        assert_eq!(merged["summary"][field], whole["summary"][field], "{field}");
    }
    assert_eq!(merged["coverage"], whole["coverage"]);
    assert_eq!(merged["config"], whole["config"]);

    // A shard given twice is refused, not double counted.
    let twice = Command::new(env!("CARGO_BIN_EXE_raft-sim"))
        .args(["merge", &shard_reports[0], &shard_reports[0]])
        .output()
        .expect("raft-sim runs");
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("in two reports"));
    let _ = std::fs::remove_dir_all(&dir);
}
