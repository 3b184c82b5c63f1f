//! The lines of openraft's example that this project changes are the
//! patches in `raft-sim/apps/openraft/patches/`: the README counts them,
//! and the target is at most 10.

use std::path::Path;

/// Lines a patch adds or replaces (a `-`/`+` pair counts once).
fn changed_lines(patch: &str) -> usize {
    let (mut removed, mut added) = (0, 0);
    for line in patch.lines() {
        if line.starts_with("+++") || line.starts_with("---") {
            continue;
        }
        removed += usize::from(line.starts_with('-'));
        added += usize::from(line.starts_with('+'));
    }
    removed.max(added)
}

#[test]
fn the_example_changes_in_at_most_ten_lines() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../patches");
    let mut total = 0;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the patches folder") {
        let path = entry.expect("a patch").path();
        let text = std::fs::read_to_string(&path).expect("a readable patch");
        let lines = changed_lines(&text);
        files.push(format!("{}: {lines}", path.display()));
        total += lines;
    }
    println!(
        "changed lines of the example: {total} ({})",
        files.join(", ")
    );
    assert_eq!(files.len(), 2, "the runtime line and the version alignment");
    assert!(total <= 10, "{total} changed lines: {files:?}");
}

#[test]
fn a_changed_line_counts_once() {
    assert_eq!(
        changed_lines("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n ctx\n+added\n"),
        2
    );
}
