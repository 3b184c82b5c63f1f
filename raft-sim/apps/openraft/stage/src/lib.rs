//! Build-time staging of openraft's example crates, used by the build
//! scripts of `raft-sim/apps/openraft/upstream/*`.
//!
//! The example's sources stay where they are (`../shared/apps/openraft`,
//! read-only, never edited). At build time [`stage`] copies one example
//! crate's `src/` into `OUT_DIR`, applies this project's patch for it
//! (`raft-sim/apps/openraft/patches/<crate>.patch`, if any: the lines a
//! user would change in their own files), and the wrapper crate compiles it
//! with `include!`. `include!` cannot take crate-level inner attributes, so
//! the staged crate root loses its leading `//!` docs and `#![...]` lint
//! levels; nothing else is touched, and nothing foreign is ever formatted
//! or linted as this project's code.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the example sources are: `$TWINNET_OPENRAFT_EXAMPLES`, or
/// `shared/apps/openraft/examples` beside the workspace.
pub const SOURCES_ENV: &str = "TWINNET_OPENRAFT_EXAMPLES";

/// Files one example crate may have; a larger tree is refused.
const MAX_FILES: usize = 64;

/// Stages example crate `name` (and the `extra` sibling folders its sources
/// reach with `#[path]`) into `OUT_DIR/examples/`. Call from `build.rs`;
/// any failure is a build error naming the cause.
pub fn stage(name: &str, extra: &[&str]) {
    if let Err(err) = try_stage(name, extra) {
        // A build script reports with a panic; keep it to one line.
        panic!("staging openraft's example crate {name}: {err}");
    }
}

fn try_stage(name: &str, extra: &[&str]) -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env("OUT_DIR")?).join("examples");
    let examples = examples_dir(&manifest_dir);
    println!("cargo::rerun-if-env-changed={SOURCES_ENV}");
    if !examples.join(name).is_dir() {
        return Err(format!(
            "{} is missing: twinnet builds openraft's example from the shared copy; \
             set {SOURCES_ENV} to the `examples` folder of an openraft checkout",
            examples.join(name).display()
        ));
    }
    let mut files = 0;
    copy_tree(
        &examples.join(name).join("src"),
        &out.join(name).join("src"),
        &mut files,
    )?;
    for sibling in extra {
        copy_tree(&examples.join(sibling), &out.join(sibling), &mut files)?;
    }
    let patch = manifest_dir
        .join("../../patches")
        .join(format!("{name}.patch"));
    println!("cargo::rerun-if-changed={}", patch.display());
    if patch.is_file() {
        apply(&patch, &out)?;
    }
    strip_crate_attributes(&out.join(name).join("src/lib.rs"))
}

fn env(key: &str) -> Result<String, String> {
    std::env::var(key).map_err(|_| format!("{key} is not set (run from a build script)"))
}

fn examples_dir(manifest_dir: &Path) -> PathBuf {
    match std::env::var_os(SOURCES_ENV) {
        Some(dir) => PathBuf::from(dir),
        // raft-sim/apps/openraft/upstream/<crate> -> the workspace's parent.
        None => manifest_dir.join("../../../../../../shared/apps/openraft/examples"),
    }
}

fn copy_tree(from: &Path, to: &Path, files: &mut usize) -> Result<(), String> {
    let entries = fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    println!("cargo::rerun-if-changed={}", from.display());
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &target, files)?;
            continue;
        }
        *files += 1;
        if *files > MAX_FILES {
            return Err(format!(
                "more than {MAX_FILES} files under {}",
                from.display()
            ));
        }
        println!("cargo::rerun-if-changed={}", path.display());
        let text = fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        write_if_changed(&target, &text)?;
    }
    Ok(())
}

/// Applies a unified diff whose `+++ b/<crate>/...` paths are relative to
/// the staged `examples/` folder; one or more files per patch.
fn apply(patch: &Path, examples: &Path) -> Result<(), String> {
    let text =
        fs::read_to_string(patch).map_err(|e| format!("reading {}: {e}", patch.display()))?;
    for file_diff in split_files(&text) {
        let parsed = diffy::Patch::from_str(&file_diff)
            .map_err(|e| format!("{}: not a unified diff: {e}", patch.display()))?;
        let relative = parsed
            .modified()
            .and_then(|p| p.strip_prefix("b/"))
            .ok_or_else(|| format!("{}: a file diff without `+++ b/PATH`", patch.display()))?;
        let target = examples.join(relative);
        let original = fs::read_to_string(&target)
            .map_err(|e| format!("{}: patching {}: {e}", patch.display(), target.display()))?;
        let patched = diffy::apply(&original, &parsed).map_err(|e| {
            format!(
                "{} no longer applies to {} (has the example changed?): {e}",
                patch.display(),
                target.display()
            )
        })?;
        write_if_changed(&target, patched.as_bytes())?;
    }
    Ok(())
}

/// The per-file diffs of a patch, each starting at its `--- ` line.
fn split_files(text: &str) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("--- ") || files.is_empty() {
            files.push(String::new());
        }
        if let Some(current) = files.last_mut() {
            current.push_str(line);
        }
    }
    files.retain(|f| f.contains("\n+++ "));
    files
}

/// Drops the leading `//!` lines and `#![...]` attributes of a crate root,
/// which `include!` cannot take.
fn strip_crate_attributes(root: &Path) -> Result<(), String> {
    let text = fs::read_to_string(root).map_err(|e| format!("reading {}: {e}", root.display()))?;
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("//!") || line.starts_with("#!["))
        })
        .collect();
    write_if_changed(root, kept.as_bytes())
}

/// Writes only on a change, so an unchanged staging does not rebuild.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_files_keeps_each_file_diff_whole() {
        let patch = "intro\n--- a/x/src/a.rs\n+++ b/x/src/a.rs\n@@ -1 +1 @@\n-a\n+b\n--- a/y/b.rs\n+++ b/y/b.rs\n@@ -1 +1 @@\n-c\n+d\n";
        let files = split_files(patch);
        assert_eq!(files.len(), 2);
        assert!(files[0].starts_with("--- a/x/src/a.rs\n"));
        assert!(files[1].ends_with("+d\n"));
    }
}
