//! [`Engine`]: the impairment engine of a hub, `tc` or `userspace`, behind
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
use crate::tc::TcEngine;
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

pub enum Engine {
    Tc {
        /// False for [`EngineKind::Bridge`].
        netem: bool,
        /// One qdisc tree per source peer, built on first use.
        sources: Mutex<BTreeMap<usize, Arc<tokio::sync::Mutex<TcEngine>>>>,
    },
    Userspace(Relay),
}

impl Engine {
    pub fn start(kind: EngineKind, seed: u64, mtu_bytes: u32) -> Result<Engine, KernelError> {
        Ok(match kind {
            EngineKind::Tc | EngineKind::Bridge => Engine::Tc {
                netem: kind == EngineKind::Tc,
                sources: Mutex::new(BTreeMap::new()),
            },
            EngineKind::Userspace => Engine::Userspace(Relay::start(
                RelayConfig::new(seed).with_mtu_bytes(mtu_bytes),
            )?),
        })
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::Tc { netem: true, .. } => EngineKind::Tc,
            Engine::Tc { netem: false, .. } => EngineKind::Bridge,
            Engine::Userspace(_) => EngineKind::Userspace,
        }
    }

    pub fn uses_tun(&self) -> bool {
        self.kind() == EngineKind::Userspace
    }

    /// The relay, when the userspace engine runs (for its counters).
    pub fn relay(&self) -> Option<&Relay> {
        match self {
            Engine::Userspace(relay) => Some(relay),
            Engine::Tc { .. } => None,
        }
    }

    pub fn add_port(&self, peer: usize, ip: Ipv4Addr, tun: OwnedFd) -> Result<(), KernelError> {
        match self {
            Engine::Userspace(relay) => relay.add_port(peer, ip, tun),
            Engine::Tc { .. } => Ok(()),
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
            Engine::Userspace(relay) => {
                relay.set_link(from, to, impairment)?;
                relay.set_blocked(from, to, blocked)?;
                Ok(None)
            }
            Engine::Tc { netem, sources } => {
                let engine = Arc::clone(sources.lock().entry(from).or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(TcEngine::new(
                        from_rtnl,
                        from_ifindex,
                        *netem,
                    )))
                }));
                Ok(Some(Box::pin(async move {
                    let mut engine = engine.lock().await;
                    if impairment.is_none() && !blocked {
                        engine.clear_link(to).await
                    } else {
                        engine.set_link(to, to_ip, &impairment, blocked).await
                    }
                })))
            }
        }
    }
}

/// Opens peer TUN `name` in the calling thread's namespace; returns it with
/// its interface index.
pub fn open_tun(name: &str) -> Result<(OwnedFd, u32), KernelError> {
    // The hub sets the MTU over netlink with the link up.
    let fd = crate::userspace::open_tun(name, None)?;
    let index = nix::net::if_::if_nametoindex(name)
        .map_err(|e| KernelError::io(format!("find TUN {name}"), e))?;
    Ok((fd, index))
}
