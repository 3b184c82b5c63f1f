//! [`LinkEngine`]: what impairs a hub's links, `tc` or `userspace`, behind
//! one interface (the hub does not care which).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;

use madsim_net::LinkImpairment;
use parking_lot::Mutex;
use serde::Serialize;

use crate::KernelError;
use crate::tc::QdiscTree;
use crate::userspace::{Relay, RelayConfig};
/// Which engine impairs a hub's links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Kernel qdiscs on each peer's veth: HTB, u32, TBF and netem.
    Tc,
    /// TUN devices and a relay thread in this process.
    Userspace,
    /// tc without netem: rates only (HTB + TBF); partitions and everything
    /// else netem does are refused.
    Bridge,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Tc => "tc",
            EngineKind::Userspace => "userspace",
            EngineKind::Bridge => "bridge",
        })
    }
}

pub type LinkJob = Pin<Box<dyn Future<Output = Result<(), KernelError>> + Send>>;

/// The engine that impairs a hub's links.
pub enum LinkEngine {
    Tc {
        /// False for [`EngineKind::Bridge`].
        netem: bool,
        /// One qdisc tree per source peer, built on first use.
        sources: Mutex<BTreeMap<usize, Arc<tokio::sync::Mutex<QdiscTree>>>>,
    },
    Userspace(Relay),
}

impl LinkEngine {
    pub fn start(kind: EngineKind, seed: u64, mtu_bytes: u32) -> Result<LinkEngine, KernelError> {
        Ok(match kind {
            EngineKind::Tc | EngineKind::Bridge => LinkEngine::Tc {
                netem: kind == EngineKind::Tc,
                sources: Mutex::new(BTreeMap::new()),
            },
            EngineKind::Userspace => LinkEngine::Userspace(Relay::start(
                RelayConfig::new(seed).with_mtu_bytes(mtu_bytes),
            )?),
        })
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            LinkEngine::Tc { netem: true, .. } => EngineKind::Tc,
            LinkEngine::Tc { netem: false, .. } => EngineKind::Bridge,
            LinkEngine::Userspace(_) => EngineKind::Userspace,
        }
    }

    pub fn uses_tun(&self) -> bool {
        self.kind() == EngineKind::Userspace
    }

    /// The relay, when the userspace engine runs (for its counters).
    pub fn relay(&self) -> Option<&Relay> {
        match self {
            LinkEngine::Userspace(relay) => Some(relay),
            LinkEngine::Tc { .. } => None,
        }
    }

    pub fn add_port(&self, peer: usize, ip: Ipv4Addr, tun: OwnedFd) -> Result<(), KernelError> {
        match self {
            LinkEngine::Userspace(relay) => relay.add_port(peer, ip, tun),
            LinkEngine::Tc { .. } => Ok(()),
        }
    }

    /// Applies `impairment` (and the partition flag) to `from -> to`. The
    /// userspace engine applies it at once (`None`); the tc engine returns
    /// netlink work to run on the hub's control thread.
    #[allow(clippy::too_many_arguments)]
    pub fn link_job(
        &self,
        from: usize,
        from_rtnl: rtnetlink::Handle,
        from_ifindex: u32,
        to: usize,
        to_ip: Ipv4Addr,
        impairment: LinkImpairment,
        blocked: bool,
    ) -> Result<Option<LinkJob>, KernelError> {
        match self {
            LinkEngine::Userspace(relay) => {
                relay.set_link(from, to, impairment)?;
                relay.set_blocked(from, to, blocked)?;
                Ok(None)
            }
            LinkEngine::Tc { netem, sources } => {
                let tree = Arc::clone(sources.lock().entry(from).or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(QdiscTree::new(
                        from_rtnl,
                        from_ifindex,
                        *netem,
                    )))
                }));
                Ok(Some(Box::pin(async move {
                    let mut tree = tree.lock().await;
                    if impairment.is_none() && !blocked {
                        tree.clear_link(to).await
                    } else {
                        tree.set_link(to, to_ip, &impairment, blocked).await
                    }
                })))
            }
        }
    }
}
