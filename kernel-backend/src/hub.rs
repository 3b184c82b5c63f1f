//! [`Hub`]: one network: a bridge in a namespace of its own and one
//! namespace per peer, each joined to the bridge by a veth pair.
//!
//! Nothing of a hub lives in the host namespace. The bridge's namespace and
//! every peer's are held by file descriptors (see [`Netns`]), so a hub
//! vanishes with its process whatever kills it; `Drop` tears it down
//! sooner. Each veth end is created directly in its own namespace.
//!
//! Peers reach each other either over the bridge (the `tc` engine impairs
//! each peer's veth egress) or, with the userspace engine, through a TUN
//! device per peer: the route to the subnet points at the TUN and the relay
//! carries the packets.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use madsim_net::limits::MAX_NODES;
use madsim_net::stream::{Stream, stream_seed};
use madsim_net::{FailureInjector, LinkImpairment};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use parking_lot::Mutex;
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::link_engine::{EngineKind, LinkEngine, PeerAttachment, start_engine};
use crate::names::{NetworkNames, Role};
use crate::netns::Netns;
use crate::probe::EngineChoice;
use crate::runtime::NsRuntime;
use crate::userspace::LinkStats;
use crate::{KernelError, probe};

/// Interface indexes are chosen, not discovered: one netlink round trip
/// fewer per interface. A fresh namespace has only `lo` (index 1).
const LOOPBACK_INDEX: u32 = 1;
const BRIDGE_INDEX: u32 = 2;
const PEER_VETH_INDEX: u32 = 10;
const HUB_VETH_FIRST_INDEX: u32 = 100;

/// How a hub is built.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The peers' subnet; peer `i` gets host address `i + 1`.
    pub subnet: Ipv4Addr,
    pub prefix_len: u8,
    pub engine: EngineChoice,
    /// The run's seed: the userspace engine's per-link decisions draw from
    /// its engine stream ([`Stream::Engine`]), and a
    /// [`KernelBackend`](crate::KernelBackend)'s injector from its
    /// injector stream.
    pub seed: u64,
    /// MTU of the TUN devices (userspace engine). 1500 by default, so a lost
    /// or corrupted packet means what it means on Ethernet; the relay still
    /// carries about 3 Gbit/s of TCP there. TUN has no segmentation offload:
    /// a larger MTU (9000) cuts the per-packet cost when throughput matters.
    pub tun_mtu_bytes: u32,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            subnet: Ipv4Addr::new(10, 77, 0, 0),
            prefix_len: 16,
            engine: EngineChoice::Auto,
            seed: 0,
            tun_mtu_bytes: 1500,
        }
    }
}

impl HubConfig {
    fn validate(&self) -> Result<(), KernelError> {
        if !(8..=24).contains(&self.prefix_len) {
            return Err(KernelError::Config(format!(
                "subnet prefix /{} must be between /8 and /24 (room for {MAX_NODES} peers)",
                self.prefix_len
            )));
        }
        let host_bits = u32::MAX >> self.prefix_len;
        if u32::from(self.subnet) & host_bits != 0 {
            return Err(KernelError::Config(format!(
                "{}/{} has host bits set; did you mean {}/{}?",
                self.subnet,
                self.prefix_len,
                Ipv4Addr::from(u32::from(self.subnet) & !host_bits),
                self.prefix_len
            )));
        }
        if !(576..=65_535).contains(&self.tun_mtu_bytes) {
            return Err(KernelError::Config(format!(
                "tun_mtu_bytes = {} is outside [576, 65535]",
                self.tun_mtu_bytes
            )));
        }
        Ok(())
    }

    fn peer_ip(&self, peer: usize) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet) + peer as u32 + 1)
    }
}

/// One peer: its namespace and address.
pub struct Peer {
    pub ip: Ipv4Addr,
    pub(crate) ns: Arc<Netns>,
}

/// Impairments and partitions of every directed link, as last applied.
#[derive(Default)]
struct LinkTable {
    impairments: std::collections::BTreeMap<(usize, usize), LinkImpairment>,
    blocked: std::collections::BTreeSet<(usize, usize)>,
}

/// How long building and tearing down took.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubTimings {
    pub setup: Duration,
}

pub struct Hub {
    names: NetworkNames,
    config: HubConfig,
    engine: Box<dyn LinkEngine>,
    peers: Vec<Peer>,
    links: Mutex<LinkTable>,
    hub_rtnl: rtnetlink::Handle,
    hub_ns: Arc<Netns>,
    // Last: joining the control thread closes every netlink socket.
    control: NsRuntime,
}

impl Hub {
    /// Builds an empty hub (the bridge and its namespace). Needs root.
    pub fn new(config: HubConfig) -> Result<Hub, KernelError> {
        config.validate()?;
        probe::require_root()?;
        let kind = probe::choose_engine(config.engine)?;
        let names = NetworkNames::next();
        reap_stale_once();
        let control = NsRuntime::start(&format!("{}-control", names.name(Role::Bridge, 0)), None)?;
        let bridge = names.name(Role::Bridge, 0);
        let (hub_ns, hub_rtnl) = control.call(async move {
            let (ns, handle) = Netns::create_with(open_namespace)?;
            let message = LinkBridge::new(&bridge).index(BRIDGE_INDEX).build();
            handle
                .link()
                .add(message)
                .execute()
                .await
                .map_err(|e| KernelError::netlink(format!("create bridge {bridge}"), e))?;
            Ok::<_, KernelError>((ns, handle))
        })?;
        let engine_seed = stream_seed(config.seed, Stream::Engine);
        let engine = start_engine(kind, engine_seed, config.tun_mtu_bytes, control.caller())?;
        Ok(Hub {
            names,
            config,
            engine,
            peers: Vec::new(),
            links: Mutex::new(LinkTable::default()),
            hub_rtnl,
            hub_ns: Arc::new(hub_ns),
            control,
        })
    }

    pub fn engine_kind(&self) -> EngineKind {
        self.engine.kind()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The address of `peer`; [`KernelError::UnknownPeer`] if the hub has
    /// no such peer.
    pub fn peer_ip(&self, peer: usize) -> Result<Ipv4Addr, KernelError> {
        Ok(self.peer(peer)?.ip)
    }

    pub fn names(&self) -> &NetworkNames {
        &self.names
    }

    /// The namespace of `peer`, to enter from a thread of one's own;
    /// [`KernelError::UnknownPeer`] if the hub has no such peer.
    pub fn peer_netns(&self, peer: usize) -> Result<Arc<Netns>, KernelError> {
        Ok(Arc::clone(&self.peer(peer)?.ns))
    }

    /// A thread of its own inside `peer`'s namespace, running a
    /// current-thread tokio runtime: spawn futures there, get results back.
    pub fn peer_runtime(&self, peer: usize) -> Result<NsRuntime, KernelError> {
        let netns = self.peer_netns(peer)?;
        NsRuntime::start(&self.names.name(Role::PeerVeth, peer), Some(netns))
    }

    fn peer(&self, peer: usize) -> Result<&Peer, KernelError> {
        self.peers.get(peer).ok_or(KernelError::UnknownPeer {
            peer,
            peers: self.peers.len(),
        })
    }

    /// Adds one peer; returns its index.
    pub fn add_peer(&mut self) -> Result<usize, KernelError> {
        Ok(self.add_peers(1)?.start)
    }

    /// Adds `count` peers at once (their netlink requests overlap).
    pub fn add_peers(&mut self, count: usize) -> Result<std::ops::Range<usize>, KernelError> {
        let first = self.peers.len();
        if first + count > MAX_NODES {
            return Err(KernelError::Net(madsim_net::NetError::NodeLimit {
                limit: MAX_NODES,
            }));
        }
        let plans: Vec<PeerPlan> = (first..first + count)
            .map(|index| PeerPlan {
                index,
                ip: self.config.peer_ip(index),
                subnet: (self.config.subnet, self.config.prefix_len),
                names: self.names.clone(),
                tun_mtu_bytes: self
                    .engine
                    .kind()
                    .uses_tun()
                    .then_some(self.config.tun_mtu_bytes),
            })
            .collect();
        let hub_ns = Arc::clone(&self.hub_ns);
        let hub_rtnl = self.hub_rtnl.clone();
        let built = self
            .control
            .call(async move { build_peers(plans, hub_ns, hub_rtnl).await })?;
        for (peer, attachment) in built {
            self.engine.add_peer(self.peers.len(), attachment)?;
            self.peers.push(peer);
        }
        Ok(first..self.peers.len())
    }

    /// Impairs the directed link `from -> to` on the engine.
    pub fn set_link(
        &self,
        from: usize,
        to: usize,
        impairment: LinkImpairment,
    ) -> Result<(), KernelError> {
        self.check_link(from, to)?;
        let blocked = self.links.lock().blocked.contains(&(from, to));
        self.engine.set_link(from, to, impairment, blocked)?;
        let mut links = self.links.lock();
        if impairment.is_none() {
            links.impairments.remove(&(from, to));
        } else {
            links.impairments.insert((from, to), impairment);
        }
        Ok(())
    }

    /// Makes exactly `blocked` the set of cut directed links.
    pub fn set_blocked(&self, blocked: &[(usize, usize)]) -> Result<(), KernelError> {
        for &(from, to) in blocked {
            self.check_link(from, to)?;
        }
        let wanted: std::collections::BTreeSet<_> = blocked.iter().copied().collect();
        let (changes, impairments) = {
            let links = self.links.lock();
            let changes: Vec<(usize, usize, bool)> = links
                .blocked
                .symmetric_difference(&wanted)
                .map(|&(from, to)| (from, to, wanted.contains(&(from, to))))
                .collect();
            (changes, links.impairments.clone())
        };
        for (from, to, cut) in changes {
            let impairment = impairments.get(&(from, to)).copied().unwrap_or_default();
            self.engine.set_link(from, to, impairment, cut)?;
            let mut links = self.links.lock();
            if cut {
                links.blocked.insert((from, to));
            } else {
                links.blocked.remove(&(from, to));
            }
        }
        Ok(())
    }

    fn check_link(&self, from: usize, to: usize) -> Result<(), KernelError> {
        self.peer(from)?;
        self.peer(to)?;
        if from == to {
            return Err(KernelError::Config(format!(
                "no link {from} -> {to}: a peer has no link to itself"
            )));
        }
        Ok(())
    }

    /// From now on, records every fault decision of the engine in
    /// `injector`'s event log, peers named by index (see
    /// [`LinkEngine::record_events_to`]).
    pub fn record_events_to(&mut self, injector: Arc<FailureInjector>) -> Result<(), KernelError> {
        self.engine.record_events_to(injector)
    }

    pub fn engine(&self) -> &dyn LinkEngine {
        self.engine.as_ref()
    }

    /// The userspace engine's counters summed over every directed link
    /// (`None` with the tc engine, whose counters live in the kernel).
    pub fn relay_totals(&self) -> Option<LinkStats> {
        let relay = self.engine.relay()?;
        let count = self.peers.len();
        let mut total = LinkStats::default();
        for from in 0..count {
            for to in (0..count).filter(|&to| to != from) {
                total += relay.link_stats(from, to).ok()?;
            }
        }
        Some(total)
    }

    /// Tears the hub down now, returning how long it took.
    pub fn shutdown(self) -> Duration {
        let started = Instant::now();
        drop(self);
        started.elapsed()
    }
}

/// Removes what killed runs left, once per process. A failure is only
/// reported: it concerns other runs' leftovers, not this hub.
fn reap_stale_once() {
    static REAPED: std::sync::Once = std::sync::Once::new();
    REAPED.call_once(|| match crate::reap::reap_stale() {
        Ok(report) if !report.is_empty() => {
            tracing::info!(?report, "removed what killed runs left behind")
        }
        Ok(_) => {}
        Err(err) => tracing::warn!("reaping stale objects failed: {err}"),
    });
}

/// What the control thread needs to build one peer.
struct PeerPlan {
    index: usize,
    ip: Ipv4Addr,
    subnet: (Ipv4Addr, u8),
    names: NetworkNames,
    /// With the userspace engine: the TUN's MTU.
    tun_mtu_bytes: Option<u32>,
}

/// Opens a netlink connection in the namespace the thread is in, after
/// turning IPv6 off there (its autoconfiguration chatter is noise on the
/// bridge and costs set-up time).
/// Runs on the control thread's runtime, which then drives the connection.
fn open_namespace() -> Result<rtnetlink::Handle, KernelError> {
    disable_ipv6();
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| KernelError::io("open a netlink socket", e))?;
    tokio::spawn(connection);
    Ok(handle)
}

fn disable_ipv6() {
    // /proc/sys/net follows the opening thread's namespace. Absent when the
    // kernel has no IPv6, which is fine.
    for knob in ["default", "all"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{knob}/disable_ipv6"), "1");
    }
}

/// Runs on the control thread: creates each namespace (briefly entering
/// it), then configures all peers with overlapping netlink requests.
async fn build_peers(
    plans: Vec<PeerPlan>,
    hub_ns: Arc<Netns>,
    hub_rtnl: rtnetlink::Handle,
) -> Result<Vec<(Peer, PeerAttachment)>, KernelError> {
    let mut opened = Vec::with_capacity(plans.len());
    for plan in plans {
        let tun_name = plan.names.name(Role::Tun, plan.index);
        let mtu = plan.tun_mtu_bytes;
        let (ns, (handle, tun)) = Netns::create_with(|| {
            let handle = open_namespace()?;
            let tun = mtu.map(|_| open_peer_tun(&tun_name)).transpose()?;
            Ok((handle, tun))
        })?;
        opened.push((plan, ns, handle, tun));
    }
    let configured = opened.into_iter().map(|(plan, ns, handle, tun)| {
        let hub_ns = Arc::clone(&hub_ns);
        let hub_rtnl = hub_rtnl.clone();
        async move {
            let tun_index = tun.as_ref().map(|(_, index)| *index);
            configure_peer(&plan, tun_index, &handle, &hub_ns, &hub_rtnl).await?;
            let peer = Peer {
                ip: plan.ip,
                ns: Arc::new(ns),
            };
            let attachment = PeerAttachment {
                ip: plan.ip,
                rtnl: handle,
                veth_index: PEER_VETH_INDEX,
                tun: tun.map(|(fd, _)| fd),
            };
            Ok::<_, KernelError>((peer, attachment))
        }
    });
    try_join_all(configured).await
}

async fn configure_peer(
    plan: &PeerPlan,
    tun_index: Option<u32>,
    peer: &rtnetlink::Handle,
    hub_ns: &Netns,
    hub: &rtnetlink::Handle,
) -> Result<(), KernelError> {
    let peer_veth = plan.names.name(Role::PeerVeth, plan.index);
    let hub_veth = plan.names.name(Role::HubVeth, plan.index);
    let hub_index = HUB_VETH_FIRST_INDEX + plan.index as u32;
    let context = |what: &str| format!("peer {} ({}): {what}", plan.index, plan.ip);
    // The hub's end is born in the hub's namespace, never in the host's.
    let hub_end = LinkMessageBuilder::<LinkUnspec>::new()
        .name(hub_veth)
        .index(hub_index)
        .setns_by_fd(hub_ns.fd().as_raw_fd())
        .build();
    let veth = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(peer_veth)
        .index(PEER_VETH_INDEX)
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(hub_end)))
        .build();
    peer.link()
        .add(veth)
        .execute()
        .await
        .map_err(|e| KernelError::netlink(context("create veth"), e))?;
    let up = |index| LinkUnspec::new_with_index(index).up().build();
    peer.link()
        .set(up(LOOPBACK_INDEX))
        .execute()
        .await
        .map_err(|e| KernelError::netlink(context("bring lo up"), e))?;
    let port = LinkUnspec::new_with_index(hub_index)
        .controller(BRIDGE_INDEX)
        .up()
        .build();
    hub.link()
        .set(port)
        .execute()
        .await
        .map_err(|e| KernelError::netlink(context("attach to the bridge"), e))?;
    let (subnet, prefix_len) = plan.subnet;
    let (Some(mtu), Some(tun_index)) = (plan.tun_mtu_bytes, tun_index) else {
        return add_address(peer, PEER_VETH_INDEX, plan.ip, prefix_len)
            .await
            .map_err(|e| KernelError::netlink(context("address the veth"), e));
    };
    // Userspace engine: the address alone on the veth (no subnet route
    // there); the subnet is routed into the TUN, where the relay takes it.
    add_address(peer, PEER_VETH_INDEX, plan.ip, 32)
        .await
        .map_err(|e| KernelError::netlink(context("address the veth"), e))?;
    let tun_up = LinkUnspec::new_with_index(tun_index).mtu(mtu).up().build();
    peer.link()
        .set(tun_up)
        .execute()
        .await
        .map_err(|e| KernelError::netlink(context("bring the TUN up"), e))?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(subnet, prefix_len)
        .output_interface(tun_index)
        .pref_source(plan.ip)
        .build();
    peer.route()
        .add(route)
        .execute()
        .await
        .map_err(|e| KernelError::netlink(context("route the subnet into the TUN"), e))
}

async fn add_address(
    handle: &rtnetlink::Handle,
    index: u32,
    ip: Ipv4Addr,
    prefix_len: u8,
) -> Result<(), rtnetlink::Error> {
    handle
        .address()
        .add(index, ip.into(), prefix_len)
        .execute()
        .await
}

/// Opens peer TUN `name` in the calling thread's namespace; returns it with
/// its interface index.
fn open_peer_tun(name: &str) -> Result<(OwnedFd, u32), KernelError> {
    // The hub sets the MTU over netlink with the link up.
    let fd = crate::userspace::open_tun(name, None)?;
    let index = nix::net::if_::if_nametoindex(name)
        .map_err(|e| KernelError::io(format!("find TUN {name}"), e))?;
    Ok((fd, index))
}
