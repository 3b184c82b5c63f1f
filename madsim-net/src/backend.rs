//! [`NetBackend`]: the harness-side view of a network of nodes.
//!
//! A harness written against this trait runs unchanged on the simulator
//! ([`crate::SimBackend`]), on real loopback sockets
//! ([`crate::LoopbackBackend`]) and on real namespaces (kernel-backend).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::trace::{Counters, Event};
use crate::{FailureInjector, LinkImpairment, NetError};

/// A node of a backend: dense, from 0, in the order nodes were added.
pub type NodeId = u64;

/// Names one partition so it can be healed alone.
pub type PartitionId = u64;

/// Which links a partition cuts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partition {
    /// Packets from `from` no longer reach `to`; the reverse still flows.
    OneWay { from: NodeId, to: NodeId },
    /// Neither of `a` and `b` hears the other.
    TwoWay { a: NodeId, b: NodeId },
    /// No node of one side hears any node of the other.
    Split {
        side_a: Vec<NodeId>,
        side_b: Vec<NodeId>,
    },
    /// Arbitrary grudges: each node maps to the nodes it cannot hear.
    Grudges(BTreeMap<NodeId, BTreeSet<NodeId>>),
}

impl Partition {
    /// The directed links `(from, to)` this partition cuts.
    pub fn directed_links(&self) -> Result<Vec<(NodeId, NodeId)>, NetError> {
        let mut links = BTreeSet::new();
        match self {
            Partition::OneWay { from, to } => {
                links.insert((*from, *to));
            }
            Partition::TwoWay { a, b } => {
                links.insert((*a, *b));
                links.insert((*b, *a));
            }
            Partition::Split { side_a, side_b } => {
                for &a in side_a {
                    for &b in side_b {
                        links.insert((a, b));
                        links.insert((b, a));
                    }
                }
            }
            Partition::Grudges(grudges) => {
                for (&deaf, senders) in grudges {
                    for &sender in senders {
                        links.insert((sender, deaf));
                    }
                }
            }
        }
        if let Some((node, _)) = links.iter().find(|(from, to)| from == to) {
            return Err(NetError::InvalidPartition(format!(
                "node {node} cannot be partitioned from itself"
            )));
        }
        if links.is_empty() {
            return Err(NetError::InvalidPartition("it cuts no link".into()));
        }
        Ok(links.into_iter().collect())
    }
}

/// A future running on a node; resolves to `Err(NodeDown)` if the node is
/// killed first.
pub struct NodeTask<T> {
    inner: Pin<Box<dyn Future<Output = Result<T, NetError>> + Send>>,
}

impl<T> NodeTask<T> {
    pub fn new(inner: impl Future<Output = Result<T, NetError>> + Send + 'static) -> Self {
        NodeTask {
            inner: Box::pin(inner),
        }
    }
}

impl<T> Future for NodeTask<T> {
    type Output = Result<T, NetError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// The network a harness drives: nodes, their lifecycle, link faults and the
/// record of everything that happened.
///
/// Operations that a real backend performs through the kernel are `async`.
/// Every decision lands in [`Self::injector`]'s event log.
pub trait NetBackend {
    /// `"sim"`, `"loopback"`, `"kernel"`: for reports.
    fn name(&self) -> &'static str;

    /// Adds a node and starts it by running `init`; `init` runs again at
    /// every restart (what it left in memory is gone, its "disk" is not).
    fn add_node<F, Fut>(
        &mut self,
        name: &str,
        init: F,
    ) -> impl Future<Output = Result<NodeId, NetError>> + Send
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static;

    /// The address other nodes reach `node` at.
    fn node_ip(&self, node: NodeId) -> Result<IpAddr, NetError>;

    /// All nodes, in the order they were added.
    fn nodes(&self) -> Vec<NodeId>;

    /// Runs `future` on `node` (it dies with the node).
    fn spawn_on<F>(&self, node: NodeId, future: F) -> Result<NodeTask<F::Output>, NetError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Stops the node at once: tasks dropped, peers' streams reset.
    fn kill(&self, node: NodeId) -> impl Future<Output = Result<(), NetError>> + Send;

    /// Starts a killed node again from its `init` (kills it first if it runs).
    fn restart(&self, node: NodeId) -> impl Future<Output = Result<(), NetError>> + Send;

    /// Freezes the node: nothing on it runs until [`Self::resume`].
    fn pause(&self, node: NodeId) -> impl Future<Output = Result<(), NetError>> + Send;

    fn resume(&self, node: NodeId) -> impl Future<Output = Result<(), NetError>> + Send;

    /// Impairs the directed link `from -> to`; a backend that cannot apply
    /// some part of `impairment` refuses all of it with `Unsupported`.
    fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> impl Future<Output = Result<(), NetError>> + Send;

    /// From now on `node`'s clock runs at `rate_permille` / 1000 of true
    /// time (within [`crate::clock::RATE_PERMILLE`]), continuing from what
    /// it reads now. Only the simulator's nodes have clocks of their own.
    fn set_clock_rate(&self, node: NodeId, rate_permille: u32) -> Result<(), NetError> {
        let _ = (node, rate_permille);
        Err(NetError::Unsupported {
            backend: self.name(),
            what: "drift a node's clock".into(),
            hint: "nodes on a real network share the host's clock; clock drift is a simulator fault",
        })
    }

    /// Resets every TCP stream between `a` and `b` (a middlebox that lost
    /// its connection state: requests already delivered stay delivered,
    /// their answers are lost); returns how many it reset. Only the
    /// simulator can pick one link's streams out.
    fn reset_connections(&self, a: NodeId, b: NodeId) -> Result<usize, NetError> {
        let _ = (a, b);
        Err(NetError::Unsupported {
            backend: self.name(),
            what: "reset the streams of one link".into(),
            hint: "on a real network a kill resets a node's streams; use the simulator",
        })
    }

    /// Where `node`'s clock stands (true time, on a real network).
    fn clock_state(&self, node: NodeId) -> crate::clock::ClockState {
        let _ = node;
        crate::clock::ClockState::default()
    }

    /// Lifts the impairment of `from -> to`. By default the injector's
    /// link model is all there is to clear.
    fn clear_link(
        &self,
        from: NodeId,
        to: NodeId,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        let cleared = self.injector().clear_link(from, to);
        async move { cleared }
    }

    /// Cuts links; with `heal_after` they heal by themselves then. Every
    /// backend routes partitions through its injector (a kernel backend's
    /// listener applies them to its links), so this is not overridden.
    fn partition(
        &self,
        partition: Partition,
        heal_after: Option<Duration>,
    ) -> impl Future<Output = Result<PartitionId, NetError>> + Send {
        let id = self.injector().partition(&partition, heal_after);
        async move { id }
    }

    /// Heals one partition, or every one with `None`.
    fn heal(
        &self,
        which: Option<PartitionId>,
    ) -> impl Future<Output = Result<(), NetError>> + Send {
        self.injector().heal(which);
        async { Ok(()) }
    }

    /// The injector that decides and records this backend's faults.
    fn injector(&self) -> &Arc<FailureInjector>;

    fn events(&self) -> Vec<Event> {
        self.injector().events()
    }

    fn counters(&self) -> Counters {
        self.injector().counters()
    }

    fn trace_hash(&self) -> u64 {
        self.injector().trace_hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_expand_to_directed_links() {
        assert_eq!(
            Partition::OneWay { from: 1, to: 2 }.directed_links(),
            Ok(vec![(1, 2)])
        );
        assert_eq!(
            Partition::TwoWay { a: 1, b: 2 }.directed_links(),
            Ok(vec![(1, 2), (2, 1)])
        );
        let split = Partition::Split {
            side_a: vec![0],
            side_b: vec![1, 2],
        };
        assert_eq!(
            split.directed_links(),
            Ok(vec![(0, 1), (0, 2), (1, 0), (2, 0)])
        );
        let grudges = Partition::Grudges(BTreeMap::from([(0, BTreeSet::from([3]))]));
        assert_eq!(grudges.directed_links(), Ok(vec![(3, 0)]));
    }

    #[test]
    fn degenerate_partitions_are_errors() {
        assert!(Partition::TwoWay { a: 1, b: 1 }.directed_links().is_err());
        let empty = Partition::Split {
            side_a: vec![],
            side_b: vec![1],
        };
        assert!(empty.directed_links().is_err());
    }
}
