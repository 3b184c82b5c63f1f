//! `raft-sim timeline FILE [--artifact A] [-o OUT]`: the page it writes is
//! one self-contained file within its size bound, and a user's mistake
//! (a missing file, a file that is not a history or not an artifact) is
//! one clear error, never a panic.

mod common;

use common::{raft_sim, work_dir, write_run};

/// The JSON blob embedded in a page.
fn embedded_data(page: &str) -> &str {
    let open = "<script type=\"application/json\" id=\"timeline-data\">";
    let start = page.find(open).expect("the page embeds its data") + open.len();
    let len = page[start..]
        .find("</script>")
        .expect("the data element ends");
    &page[start..start + len]
}

#[test]
fn a_thousand_ops_and_ten_faults_make_one_small_self_contained_page() {
    let dir = work_dir("timeline-cli-page");
    let (history, artifact) = write_run(&dir);
    let out = dir.join("page.html");
    let output = raft_sim(&[
        "timeline",
        &history.display().to_string(),
        "--artifact",
        &artifact.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1000 of 1000 ops drawn, 10 faults, 5 nodes"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&out).expect("the page was written");
    assert!(page.len() < 2 * 1024 * 1024, "{} bytes", page.len());
    // Nothing is fetched: no external script, style, image or font, and
    // no request from the script.
    for needle in [
        "<link",
        " src=",
        "@import",
        "url(http",
        "fetch(",
        "XMLHttpRequest",
        "https://",
    ] {
        assert!(!page.contains(needle), "the page contains {needle:?}");
    }
    let data = embedded_data(&page);
    assert!(!data.contains("</"), "`</` must be escaped in the data");
    let value: serde_json::Value = serde_json::from_str(data).expect("the data is JSON");
    assert_eq!(value["total_ops"], 1000);
    assert_eq!(
        value["lanes"].as_array().map(Vec::len),
        Some(5),
        "one lane per client"
    );
    assert_eq!(value["nodes"].as_array().map(Vec::len), Some(5));
    assert!(
        value["core"]["ops"]
            .as_array()
            .is_some_and(|ops| !ops.is_empty())
    );
    assert_eq!(
        value["lost"].as_array().map(Vec::len),
        Some(2),
        "a kill and a power loss lost writes"
    );
    let sides = &value["faults"][0]["sides"];
    assert_eq!(sides, &serde_json::json!([[3, 4], [0, 1, 2]]));
}

#[test]
fn the_page_goes_beside_the_artifact_by_default() {
    let dir = work_dir("timeline-cli-default-out");
    let (history, artifact) = write_run(&dir);
    let output = raft_sim(&[
        "timeline",
        &history.display().to_string(),
        "--artifact",
        &artifact.display().to_string(),
    ]);
    assert!(output.status.success());
    assert!(dir.join("raft-sweep-seed99.html").exists());
}

/// Runs `raft-sim timeline ARGS`, expecting exit 2 and one line on stderr.
fn user_error(args: &[&str]) -> String {
    let output = raft_sim(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn user_mistakes_are_one_clear_error() {
    let dir = work_dir("timeline-cli-errors");
    let (history, _artifact) = write_run(&dir);
    let history = history.display().to_string();
    let missing = dir.join("nope.jsonl").display().to_string();
    let err = user_error(&["timeline", &missing]);
    assert!(
        err.contains("cannot read") && err.contains("nope.jsonl"),
        "{err}"
    );

    let broken = dir.join("broken.jsonl");
    std::fs::write(&broken, "{\"process\": 0, \"type\": \"invoke\", \"f\": \n").unwrap();
    let err = user_error(&["timeline", &broken.display().to_string()]);
    assert!(
        err.contains("is not a history the checker reads: line 1"),
        "{err}"
    );

    let not_artifact = dir.join("not-artifact.json");
    std::fs::write(&not_artifact, "[1, 2").unwrap();
    let err = user_error(&[
        "timeline",
        &history,
        "--artifact",
        &not_artifact.display().to_string(),
    ]);
    assert!(err.contains("is not an artifact"), "{err}");

    let err = user_error(&["timeline", &history, "-o", &history]);
    assert!(err.contains("is an input"), "{err}");
}
