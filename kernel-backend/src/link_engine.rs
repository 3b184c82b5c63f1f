//! [`LinkEngine`]: what impairs and cuts a hub's directed links, `tc` or
//! `userspace`, behind one interface (the hub does not care which).
//!
//! Impairments and partitions travel one route: the hub keeps both for
//! every link and hands the engine a link's whole state at each change.

use std::fmt;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use madsim_net::{FailureInjector, LinkImpairment};
use serde::Serialize;

use crate::KernelError;
use crate::runtime::NsCaller;
use crate::tc::TcLinks;
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

impl EngineKind {
    /// True when each peer needs a TUN device (its traffic goes through the
    /// relay rather than over the bridge).
    pub fn uses_tun(self) -> bool {
        self == EngineKind::Userspace
    }
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

/// What an engine is given of a new peer.
pub struct PeerAttachment {
    pub ip: Ipv4Addr,
    /// A netlink connection inside the peer's namespace, driven by the
    /// hub's control thread.
    pub rtnl: rtnetlink::Handle,
    /// The index of the peer's veth in its namespace.
    pub veth_index: u32,
    /// The peer's TUN device, when [`EngineKind::uses_tun`].
    pub tun: Option<OwnedFd>,
}

/// The engine of a hub: puts each directed link `from -> to` between peers
/// (numbered from 0, in the order they were added) in the state it is given.
pub trait LinkEngine: Send + Sync {
    fn kind(&self) -> EngineKind;

    /// Takes on the next peer, `peer`.
    fn add_peer(&mut self, peer: usize, attachment: PeerAttachment) -> Result<(), KernelError>;

    /// Impairs `from -> to` with `impairment` and, when `blocked`, drops all
    /// its packets silently (a partition). Later calls replace the state;
    /// `LinkImpairment::none()` and not blocked is a clear link. In effect
    /// when this returns.
    fn set_link(
        &self,
        from: usize,
        to: usize,
        impairment: LinkImpairment,
        blocked: bool,
    ) -> Result<(), KernelError>;

    /// From now on, records in `injector`'s event log every fault decision
    /// the engine makes (the relay: each packet dropped, duplicated,
    /// corrupted, delayed or reordered) or hands the kernel (tc: each
    /// link's qdiscs as installed). Peers are named by their index, which
    /// is their node id when the hub serves a `KernelBackend`.
    fn record_events_to(&mut self, injector: Arc<FailureInjector>) -> Result<(), KernelError>;

    /// The relay, when this is the userspace engine (for its counters).
    fn relay(&self) -> Option<&Relay> {
        None
    }
}

/// Starts the engine `kind`. `control` runs the tc engine's netlink work on
/// the thread that drives the peers' netlink connections.
pub fn start_engine(
    kind: EngineKind,
    seed: u64,
    tun_mtu_bytes: u32,
    control: NsCaller,
) -> Result<Box<dyn LinkEngine>, KernelError> {
    Ok(match kind {
        EngineKind::Tc => Box::new(TcLinks::new(control, true)),
        EngineKind::Bridge => Box::new(TcLinks::new(control, false)),
        EngineKind::Userspace => Box::new(Relay::start(
            RelayConfig::new(seed).with_mtu_bytes(tun_mtu_bytes),
        )?),
    })
}
