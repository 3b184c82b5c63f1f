//! [`LoopbackBackend`]: the [`NetBackend`] on real tokio sockets over
//! 127.x.y.z, no root needed.
//!
//! Nodes are [`NodeThreads`]: a thread and a current-thread runtime each.
//! Partitions work (the sockets enforce them, see `std::net`); link
//! impairments are refused, since real sockets cannot be impaired from here
//! without lying.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::node_thread::{NodeThreads, PartitionEnforcement};
use super::world;
use crate::backend::{NetBackend, NodeId};
use crate::stream::{Stream, stream_seed};
use crate::{FailureInjector, LinkImpairment, NetError};

pub struct LoopbackBackend {
    prefix: [u8; 3],
    nodes: NodeThreads,
}

/// Distinguishes backends of one process so their addresses never collide.
static NEXT_INSTANCE: AtomicU8 = AtomicU8::new(0);

impl LoopbackBackend {
    /// A backend whose fault decisions come from `seed` (its injector
    /// stream, as on every backend). Nodes get addresses
    /// in a /24 of 127.0.0.0/8 unique to this backend and process.
    pub fn new(seed: u64) -> Self {
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let pid_byte = 16 + (std::process::id() % 200) as u8;
        LoopbackBackend {
            prefix: [127, pid_byte, instance],
            nodes: NodeThreads::new(
                FailureInjector::seeded(stream_seed(seed, Stream::Injector)),
                PartitionEnforcement::Sockets,
            ),
        }
    }
}

impl NetBackend for LoopbackBackend {
    fn name(&self) -> &'static str {
        "loopback"
    }

    async fn add_node<F, Fut>(&mut self, name: &str, init: F) -> Result<NodeId, NetError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let [a, b, c] = self.prefix;
        // Past the node cap `add` refuses before the address is used.
        let host = u8::try_from(self.nodes.len() + 1).unwrap_or(u8::MAX);
        let ip = IpAddr::V4(Ipv4Addr::new(a, b, c, host));
        self.nodes.add(name, ip, None, init)
    }

    crate::forward_to_node_threads!();

    async fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), NetError> {
        world::check_impairment_supported(&impairment)?;
        self.injector().set_link(from, to, impairment)
    }

    fn injector(&self) -> &Arc<FailureInjector> {
        self.nodes.injector()
    }
}
