//! [`KernelBackend`]: the [`NetBackend`] on a [`Hub`]: each node runs on a
//! thread inside its peer's namespace, on real sockets and the real TCP
//! stack; link faults are applied by the hub's engine.
//!
//! Partitions are decided and recorded by the [`FailureInjector`] as on
//! every backend; the hub follows the injector's set of cut links (through
//! its partition listener), so timed heals reach the network too. The
//! network drops the packets silently: the sockets do nothing. What the
//! engine then does is recorded in the same injector: the relay's decision
//! on each packet, the qdiscs tc was given for each link.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Weak};

use madsim_net::node_thread::{NodeThreads, PartitionEnforcement, Prologue};
use madsim_net::stream::{Stream, stream_seed};
use madsim_net::{FailureInjector, LinkImpairment, NetBackend, NetError, NodeId};
use parking_lot::RwLock;

use crate::KernelError;
use crate::hub::{Hub, HubConfig};
use crate::link_engine::EngineKind;

pub struct KernelBackend {
    hub: Arc<RwLock<Hub>>,
    nodes: NodeThreads,
}

impl KernelBackend {
    /// A network built as `config` says, with every fault decision drawn
    /// from `config.seed` (the injector's and the engine's streams of it).
    /// Fails with one clear error when not root or when the kernel lacks
    /// what the chosen engine needs.
    pub fn new(config: HubConfig) -> Result<KernelBackend, KernelError> {
        let injector = FailureInjector::seeded(stream_seed(config.seed, Stream::Injector));
        let mut hub = Hub::new(config)?;
        hub.record_events_to(Arc::clone(&injector))?;
        let hub = Arc::new(RwLock::new(hub));
        injector.set_partition_listener(partition_follower(Arc::downgrade(&hub), &injector));
        Ok(KernelBackend {
            hub,
            nodes: NodeThreads::new(injector, PartitionEnforcement::Network),
        })
    }

    pub fn engine_kind(&self) -> EngineKind {
        self.hub.read().engine_kind()
    }

    /// The hub, for engine counters and peer runtimes.
    pub fn hub(&self) -> &Arc<RwLock<Hub>> {
        &self.hub
    }
}

/// Makes the hub's cut links follow the injector's.
fn partition_follower(
    hub: Weak<RwLock<Hub>>,
    injector: &Arc<FailureInjector>,
) -> madsim_net::injector::PartitionListener {
    let injector = Arc::downgrade(injector);
    Arc::new(move |blocked: Vec<(NodeId, NodeId)>| {
        let Some(hub) = hub.upgrade() else { return };
        let links: Vec<(usize, usize)> = blocked
            .iter()
            .map(|&(from, to)| (from as usize, to as usize))
            .collect();
        if let (Err(err), Some(injector)) = (hub.read().set_blocked(&links), injector.upgrade()) {
            injector.note(format!("kernel: applying partitions failed: {err}"));
        }
    })
}

fn net_error(err: KernelError) -> NetError {
    err.into()
}

impl NetBackend for KernelBackend {
    fn name(&self) -> &'static str {
        "kernel"
    }

    async fn add_node<F, Fut>(&mut self, name: &str, init: F) -> Result<NodeId, NetError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Past the node cap the hub refuses the peer (NodeLimit).
        let (ip, netns) = {
            let mut hub = self.hub.write();
            let peer = hub.add_peer().map_err(net_error)?;
            let ip = hub.peer_ip(peer).map_err(net_error)?;
            (ip, hub.peer_netns(peer).map_err(net_error)?)
        };
        let prologue: Prologue = Arc::new(move || {
            netns
                .enter()
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        self.nodes.add(name, IpAddr::V4(ip), Some(prologue), init)
    }

    madsim_net::forward_to_node_threads!();

    async fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), NetError> {
        self.hub
            .read()
            .set_link(from as usize, to as usize, impairment)
            .map_err(net_error)?;
        self.injector().set_link(from, to, impairment)
    }

    async fn clear_link(&self, from: NodeId, to: NodeId) -> Result<(), NetError> {
        self.hub
            .read()
            .set_link(from as usize, to as usize, LinkImpairment::default())
            .map_err(net_error)?;
        self.injector().clear_link(from, to)
    }

    fn injector(&self) -> &Arc<FailureInjector> {
        self.nodes.injector()
    }
}
