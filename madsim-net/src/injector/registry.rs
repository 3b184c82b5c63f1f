//! The node registry: dense ids, names and addresses, and each node's
//! connection slots (at most `MAX_CONNECTIONS_PER_NODE` open at once, each
//! an RAII [`ConnectionSlot`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::FailureInjector;
use crate::NetError;
use crate::backend::NodeId;
use crate::limits::{MAX_CONNECTIONS_PER_NODE, MAX_NODES};
use crate::trace::EventKind;

#[derive(Debug, Clone)]
struct NodeInfo {
    name: String,
    ip: IpAddr,
    open_connections: usize,
}

#[derive(Default)]
pub(crate) struct Registry {
    nodes: Vec<NodeInfo>,
    by_ip: BTreeMap<IpAddr, NodeId>,
}

impl Registry {
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    fn lookup(&self, ip: IpAddr) -> Option<NodeId> {
        self.by_ip.get(&ip).copied()
    }

    /// Adds a node at an address not registered yet; ids are dense from 0.
    fn add(&mut self, name: &str, ip: IpAddr) -> Result<NodeId, NetError> {
        debug_assert!(!self.by_ip.contains_key(&ip));
        if self.nodes.len() >= MAX_NODES {
            return Err(NetError::NodeLimit { limit: MAX_NODES });
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(NodeInfo {
            name: name.to_string(),
            ip,
            open_connections: 0,
        });
        self.by_ip.insert(ip, id);
        Ok(id)
    }

    fn node(&self, node: NodeId) -> Result<&NodeInfo, NetError> {
        self.nodes
            .get(node as usize)
            .ok_or(NetError::UnknownNode(node))
    }

    /// `UnknownNode` unless `node` is registered.
    pub(crate) fn check(&self, node: NodeId) -> Result<(), NetError> {
        self.node(node).map(|_| ())
    }

    /// Takes one of `node`'s slots: `ConnectionLimit` when all are taken.
    fn take_slot(&mut self, node: NodeId) -> Result<(), NetError> {
        self.check(node)?;
        let info = &mut self.nodes[node as usize];
        if info.open_connections >= MAX_CONNECTIONS_PER_NODE {
            return Err(NetError::ConnectionLimit {
                node,
                limit: MAX_CONNECTIONS_PER_NODE,
            });
        }
        info.open_connections += 1;
        Ok(())
    }

    fn release_slot(&mut self, node: NodeId) {
        if let Some(info) = self.nodes.get_mut(node as usize) {
            debug_assert!(info.open_connections > 0);
            info.open_connections = info.open_connections.saturating_sub(1);
        }
    }
}

impl FailureInjector {
    /// Registers a node reachable at `ip`; ids are dense from 0.
    pub(crate) fn register_node(&self, name: &str, ip: IpAddr) -> Result<NodeId, NetError> {
        let mut st = self.state.lock();
        if let Some(id) = st.registry.lookup(ip) {
            return Ok(id);
        }
        let id = st.registry.add(name, ip)?;
        drop(st);
        self.record(EventKind::NodeAdded { node: id });
        Ok(id)
    }

    /// The node owning `ip`, registering an unknown address as a node of its own.
    pub(crate) fn node_for_ip(&self, ip: IpAddr) -> Result<NodeId, NetError> {
        if let Some(id) = self.state.lock().registry.lookup(ip) {
            return Ok(id);
        }
        self.register_node(&ip.to_string(), ip)
    }

    pub fn node_ip(&self, node: NodeId) -> Result<IpAddr, NetError> {
        self.state.lock().registry.node(node).map(|n| n.ip)
    }

    pub fn node_name(&self, node: NodeId) -> Result<String, NetError> {
        self.state
            .lock()
            .registry
            .node(node)
            .map(|n| n.name.clone())
    }

    pub fn node_count(&self) -> usize {
        self.state.lock().registry.len()
    }

    /// Takes one of `node`'s connection slots; the slot is returned when the
    /// guard drops.
    pub(crate) fn open_connection(
        self: &Arc<Self>,
        node: NodeId,
    ) -> Result<ConnectionSlot, NetError> {
        let mut st = self.state.lock();
        match st.registry.take_slot(node) {
            Ok(()) => Ok(ConnectionSlot {
                injector: Arc::clone(self),
                node,
            }),
            // A full node is a fault, and recorded; an unknown one a caller's error.
            Err(refused @ NetError::ConnectionLimit { .. }) => {
                drop(st);
                self.record(EventKind::ConnectionLimit { node });
                Err(refused)
            }
            Err(unknown) => Err(unknown),
        }
    }

    pub fn open_connections(&self, node: NodeId) -> usize {
        let st = self.state.lock();
        st.registry.node(node).map_or(0, |n| n.open_connections)
    }
}

/// One of a node's `MAX_CONNECTIONS_PER_NODE` slots, given back on drop.
pub(crate) struct ConnectionSlot {
    injector: Arc<FailureInjector>,
    node: NodeId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.injector.state.lock().registry.release_slot(self.node);
    }
}
