#![cfg(all(target_os = "linux", not(madsim)))]
//! Nothing survives a SIGKILL: a child killed in the middle of building a
//! hub leaves no namespace behind, and what it placed outside its hub (the
//! `ip -batch` baseline: named namespaces, a bridge and veths in the host
//! namespace) is exactly what reaping stale objects removes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kernel_backend::names::owner_pid;
use kernel_backend::reap::reap_stale;
use kernel_backend::testing::{
    all_referenced_namespaces, host_snapshot, namespaces_referenced_by, require_root,
};

const CHILD: &str = env!("CARGO_BIN_EXE_twinnet-net");

#[test]
fn a_child_killed_mid_setup_leaves_nothing_reaping_does_not_remove() {
    if !require_root("a_child_killed_mid_setup_leaves_nothing_reaping_does_not_remove") {
        return;
    }
    reap_stale().expect("reap before");
    let before = host_snapshot();
    let mut child = Command::new(CHILD)
        .args(["hold", "--peers", "100", "--baseline-peers", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start twinnet-net hold");
    let child_pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Kill it mid-set-up: after peer 30 of 100.
    let mut seen = String::new();
    while seen != "peer 30" {
        seen = lines.next().expect("child output").expect("utf-8");
    }
    // The child's threads and fds, less the host namespace its main thread is in.
    let mut hub_namespaces = namespaces_referenced_by(child_pid);
    for host in &before.process_namespaces {
        hub_namespaces.remove(host);
    }
    assert!(
        hub_namespaces.len() > 30,
        "the child holds its peers' namespaces: {hub_namespaces:?}"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    // The hub died with the process; the baseline's objects did not.
    let leftovers = host_snapshot();
    let ours = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter(|n| owner_pid(n) == Some(child_pid))
            .cloned()
            .collect()
    };
    assert_eq!(ours(&leftovers.named_namespaces).len(), 10, "{leftovers:?}");
    assert!(
        !ours(&leftovers.links).is_empty(),
        "the baseline's bridge and veths remain"
    );

    let report = reap_stale().expect("reap after");
    let mut removed = report.namespaces.clone();
    removed.sort();
    assert_eq!(removed, ours(&leftovers.named_namespaces));

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let still_held: Vec<u64> = all_referenced_namespaces()
            .intersection(&hub_namespaces)
            .copied()
            .collect();
        let after = host_snapshot();
        let left: Vec<String> = ours(&after.links)
            .into_iter()
            .chain(ours(&after.named_namespaces))
            .collect();
        // Qdiscs on the host's own links are as they were.
        let host_qdiscs_kept = before.qdiscs.iter().all(|q| after.qdiscs.contains(q));
        if still_held.is_empty() && left.is_empty() && host_qdiscs_kept {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: namespaces {still_held:?}, objects {left:?}, host now {after:?}, before {before:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    reaping_spares_live_runs();
}

/// Run after the SIGKILL case, not beside it: both look at the host namespace.
fn reaping_spares_live_runs() {
    let baseline = kernel_backend::baseline::up(3).expect("baseline up");
    let report = reap_stale().expect("reap");
    let mine = |name: &String| owner_pid(name) == Some(std::process::id());
    assert!(!report.namespaces.iter().any(mine), "{report:?}");
    assert!(!report.links.iter().any(mine), "{report:?}");
    let live = host_snapshot();
    assert_eq!(live.named_namespaces.iter().filter(|n| mine(n)).count(), 3);
    baseline.down().expect("baseline down");
}
