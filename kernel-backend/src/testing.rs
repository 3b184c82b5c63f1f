//! Helpers for tests that need the real kernel.
//!
//! A test that cannot run here (not root, no netem, no `tc` binary) calls
//! [`skip`] and returns: the marker line it prints is how `cargo xtask test`
//! counts it as skipped rather than passed.

use crate::reap;

/// The marker `cargo xtask test` looks for in test output.
pub const SKIP_MARKER: &str = "twinnet-skip:";

/// Reports `test` as skipped because of `reason`. The caller returns next.
pub fn skip(test: &str, reason: &str) {
    println!("{SKIP_MARKER} {test}: {reason}");
}

/// True when this process is root; otherwise reports `test` skipped.
pub fn require_root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        skip(test, "needs root (network namespaces, veth, tc)");
    }
    root
}

/// What of the network the host namespace and the process show: compared
/// before and after a test to prove it left nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSnapshot {
    /// Names of links in the host namespace.
    pub links: Vec<String>,
    /// `(ifindex, handle, kind)` of every qdisc in the host namespace.
    pub qdiscs: Vec<(i32, u32, String)>,
    /// Named namespaces under /run/netns.
    pub named_namespaces: Vec<String>,
    /// Inodes of the network namespaces this process references (by any
    /// thread or file descriptor).
    pub process_namespaces: std::collections::BTreeSet<u64>,
}

impl HostSnapshot {
    /// What `after` holds that this snapshot did not and that is this
    /// process's doing: namespaces it references, links and named
    /// namespaces stamped with its pid, qdiscs on links that were already
    /// there. Other processes' concurrent changes do not count.
    pub fn leftovers_in(&self, after: &HostSnapshot) -> Vec<String> {
        let pid = std::process::id();
        let mine = |name: &String| crate::names::owner_pid(name) == Some(pid);
        let mut found: Vec<String> = after
            .process_namespaces
            .difference(&self.process_namespaces)
            .map(|inode| format!("namespace net:[{inode}]"))
            .collect();
        found.extend(
            after
                .links
                .iter()
                .filter(|n| mine(n))
                .map(|n| format!("link {n}")),
        );
        found.extend(
            after
                .named_namespaces
                .iter()
                .filter(|n| mine(n))
                .map(|n| format!("named namespace {n}")),
        );
        let old_links: std::collections::BTreeSet<i32> =
            self.qdiscs.iter().map(|(index, _, _)| *index).collect();
        found.extend(
            after
                .qdiscs
                .iter()
                .filter(|q| old_links.contains(&q.0) && !self.qdiscs.contains(q))
                .map(|q| format!("qdisc {q:?}")),
        );
        found
    }
}

/// Takes a [`HostSnapshot`]; runs its netlink queries on a thread of its
/// own placed in the host namespace.
pub fn host_snapshot() -> HostSnapshot {
    let process_namespaces = namespaces_referenced_by(std::process::id());
    std::thread::spawn(move || {
        reap::enter_host_namespace().expect("enter the host namespace");
        let mut links: Vec<String> = reap::host_links(&|_| true)
            .expect("list links")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        links.sort();
        let mut named_namespaces = reap::named_namespaces().expect("list /run/netns");
        named_namespaces.sort();
        HostSnapshot {
            links,
            qdiscs: host_qdiscs(),
            named_namespaces,
            process_namespaces,
        }
    })
    .join()
    .expect("snapshot thread")
}

/// `(ifindex, handle, kind)` of every qdisc in the calling thread's namespace.
fn host_qdiscs() -> Vec<(i32, u32, String)> {
    use futures::TryStreamExt;
    let runtime = reap::current_thread_runtime().expect("runtime");
    let mut qdiscs: Vec<(i32, u32, String)> = runtime.block_on(async {
        let handle = reap::connect().expect("netlink");
        let messages: Vec<_> = handle
            .qdisc()
            .get()
            .execute()
            .try_collect()
            .await
            .expect("list qdiscs");
        messages
            .into_iter()
            .map(|q| {
                let kind = q
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        netlink_packet_route::tc::TcAttribute::Kind(k) => Some(k.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                (q.header.index, u32::from(q.header.handle), kind)
            })
            .collect()
    });
    qdiscs.sort();
    qdiscs
}

/// Inodes of the network namespaces process `pid` holds through its
/// threads and its open file descriptors.
pub fn namespaces_referenced_by(pid: u32) -> std::collections::BTreeSet<u64> {
    let mut found = std::collections::BTreeSet::new();
    let links = |dir: String| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default()
    };
    let mut candidates: Vec<std::path::PathBuf> = links(format!("/proc/{pid}/task"))
        .into_iter()
        .map(|task| task.join("ns/net"))
        .collect();
    candidates.extend(links(format!("/proc/{pid}/fd")));
    for path in candidates {
        if let Ok(target) = std::fs::read_link(&path) {
            let text = target.to_string_lossy();
            if let Some(inode) = text
                .strip_prefix("net:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                found.insert(inode);
            }
        }
    }
    found
}

/// Inodes of every network namespace anything on the machine still holds:
/// any process's threads or file descriptors, or a bind mount.
pub fn all_referenced_namespaces() -> std::collections::BTreeSet<u64> {
    let mut found = std::collections::BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                found.extend(namespaces_referenced_by(pid));
            }
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines().filter(|l| l.contains(" - nsfs ")) {
        let root = line.split_whitespace().nth(3).unwrap_or_default();
        if let Some(inode) = root
            .strip_prefix("net:[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
        {
            found.insert(inode);
        }
    }
    found
}

/// A `KernelBackend` on the engine `auto` picks, with fault decisions from
/// `seed` (tests of the NetBackend on the kernel).
pub fn auto_backend(seed: u64) -> crate::KernelBackend {
    let config = crate::HubConfig {
        engine: crate::EngineChoice::Auto,
        seed,
        ..crate::HubConfig::default()
    };
    crate::KernelBackend::new(config).expect("kernel backend")
}
