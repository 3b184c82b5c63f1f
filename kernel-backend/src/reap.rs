//! Stale-object reaping: removes what a killed run left behind.
//!
//! A hub leaves nothing by construction (its namespaces are held by file
//! descriptors and die with the process). What can survive a SIGKILL is
//! anything placed in the host namespace or bind-mounted under
//! `/run/netns` — the benchmark's `ip -batch` baseline does both. Every such
//! object carries its owner's pid in its name ([`crate::names`]); reaping
//! removes those whose owner no longer runs. It runs when a hub is built and
//! as `cargo xtask clean-net` (`twinnet-net reap`).

use std::path::Path;

use futures::TryStreamExt;
use nix::mount::{MntFlags, umount2};
use serde::Serialize;

use crate::KernelError;
use crate::names::owner_pid;

/// Where `ip netns add` bind-mounts named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// What one reaping removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReapReport {
    /// Links in the host namespace.
    pub links: Vec<String>,
    /// Named namespaces under /run/netns.
    pub namespaces: Vec<String>,
}

impl ReapReport {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty() && self.namespaces.is_empty()
    }
}

/// True if `pid` names a running process.
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes every object of ours whose owning process is gone. Objects of
/// live processes (this one included) are left alone.
pub fn reap_stale() -> Result<ReapReport, KernelError> {
    crate::probe::require_root()?;
    let stale = |name: &str| owner_pid(name).is_some_and(|pid| !pid_alive(pid));
    let namespaces = reap_named_namespaces(&stale)?;
    let links = std::thread::spawn(move || {
        enter_host_namespace()?;
        reap_host_links(&stale)
    })
    .join()
    .unwrap_or_else(|_| Err(KernelError::Config("the reaping thread panicked".into())))?;
    Ok(ReapReport { links, namespaces })
}

/// Moves the calling thread into the namespace of the process's main
/// thread (a thread inherits its creator's namespace, which may be a peer's).
pub(crate) fn enter_host_namespace() -> Result<(), KernelError> {
    let file = std::fs::File::open("/proc/self/ns/net")
        .map_err(|e| KernelError::io("open /proc/self/ns/net", e))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| KernelError::io("enter the host network namespace", e))
}

pub(crate) fn named_namespaces() -> Result<Vec<String>, KernelError> {
    let entries = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(KernelError::io(format!("list {NETNS_RUN_DIR}"), err)),
    };
    Ok(entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect())
}

fn reap_named_namespaces(stale: &dyn Fn(&str) -> bool) -> Result<Vec<String>, KernelError> {
    let mut removed = Vec::new();
    for name in named_namespaces()?.into_iter().filter(|n| stale(n)) {
        let path = Path::new(NETNS_RUN_DIR).join(&name);
        // As `ip netns delete`: detach the bind mount, then the file.
        let _ = umount2(&path, MntFlags::MNT_DETACH);
        std::fs::remove_file(&path).map_err(|e| KernelError::io(format!("remove {path:?}"), e))?;
        removed.push(name);
    }
    Ok(removed)
}

fn reap_host_links(stale: &dyn Fn(&str) -> bool) -> Result<Vec<String>, KernelError> {
    let links = host_links(stale)?;
    let runtime = current_thread_runtime()?;
    runtime.block_on(async {
        let handle = connect()?;
        let mut removed = Vec::new();
        for (name, index) in links {
            match handle.link().del(index).execute().await {
                Ok(()) => removed.push(name),
                // Deleting one veth end removes its peer: already gone is fine.
                Err(rtnetlink::Error::NetlinkError(e))
                    if e.raw_code().abs() == nix::errno::Errno::ENODEV as i32 => {}
                Err(e) => return Err(KernelError::netlink(format!("delete link {name}"), e)),
            }
        }
        Ok(removed)
    })
}

pub(crate) fn host_links(keep: &dyn Fn(&str) -> bool) -> Result<Vec<(String, u32)>, KernelError> {
    let runtime = current_thread_runtime()?;
    runtime.block_on(async {
        let handle = connect()?;
        let links: Vec<_> = handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| KernelError::netlink("list links", e))?;
        Ok(links
            .into_iter()
            .filter_map(|link| {
                let name = link.attributes.iter().find_map(|a| match a {
                    netlink_packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })?;
                keep(&name).then_some((name, link.header.index))
            })
            .collect())
    })
}

pub(crate) fn connect() -> Result<rtnetlink::Handle, KernelError> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| KernelError::io("open a netlink socket", e))?;
    tokio::spawn(connection);
    Ok(handle)
}

pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, KernelError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KernelError::io("build a runtime", e))
}
