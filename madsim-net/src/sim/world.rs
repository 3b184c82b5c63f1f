//! The simulated world: one [`FailureInjector`] and one connection table per
//! madsim runtime, found from anywhere inside it.
//!
//! madsim offers no way to register a plugin from inside `#[madsim::test]`,
//! so the world lives in a thread-local keyed by the runtime's `NetSim`
//! (a runtime runs on one thread; a dead runtime's weak key never matches).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use madsim::net::NetSim;
use parking_lot::Mutex;

use super::pipe::Conn;
use crate::backend::NodeId;
use crate::trace::EventKind;
use crate::{FailureInjector, LinkImpairment, NetError};

/// Everything madsim-net keeps per simulation.
pub(crate) struct SimWorld {
    pub(crate) injector: Arc<FailureInjector>,
    table: Mutex<ConnTable>,
}

#[derive(Default)]
struct ConnTable {
    next_id: u64,
    /// Connected streams the listener has not accepted yet, by (client, server).
    pending: BTreeMap<(std::net::SocketAddr, std::net::SocketAddr), Arc<Conn>>,
    live: BTreeMap<u64, Weak<Conn>>,
    by_madsim_node: BTreeMap<madsim::task::NodeId, NodeId>,
}

struct Slot {
    net: Weak<NetSim>,
    world: Arc<SimWorld>,
}

thread_local! {
    static CURRENT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// The world of the running simulation, created on first use; `None`
/// outside a madsim runtime.
pub(crate) fn current() -> Option<Arc<SimWorld>> {
    madsim::runtime::Handle::try_current().ok()?;
    let net = NetSim::current();
    CURRENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(existing) = slot.as_ref()
            && existing
                .net
                .upgrade()
                .is_some_and(|alive| Arc::ptr_eq(&alive, &net))
        {
            return Some(Arc::clone(&existing.world));
        }
        super::clock::reset();
        let world = Arc::new(SimWorld {
            injector: FailureInjector::simulated(),
            table: Mutex::new(ConnTable::default()),
        });
        *slot = Some(Slot {
            net: Arc::downgrade(&net),
            world: Arc::clone(&world),
        });
        Some(world)
    })
}

pub(crate) fn current_injector() -> Option<Arc<FailureInjector>> {
    current().map(|world| Arc::clone(&world.injector))
}

pub(crate) fn check_impairment_supported(_: &LinkImpairment) -> Result<(), NetError> {
    Ok(())
}

impl SimWorld {
    pub(crate) fn bind_madsim_node(&self, madsim_node: madsim::task::NodeId, node: NodeId) {
        self.table.lock().by_madsim_node.insert(madsim_node, node);
    }

    /// Every madsim node a backend registered.
    fn madsim_nodes(&self) -> Vec<madsim::task::NodeId> {
        self.table.lock().by_madsim_node.keys().copied().collect()
    }

    /// Our node running the current task, if a backend registered it.
    pub(crate) fn current_node(&self) -> Option<NodeId> {
        let here = madsim::plugin::node();
        self.table.lock().by_madsim_node.get(&here).copied()
    }

    pub(crate) fn new_conn(
        &self,
        client_addr: std::net::SocketAddr,
        server_addr: std::net::SocketAddr,
        client: NodeId,
        server: NodeId,
    ) -> Arc<Conn> {
        let mut table = self.table.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.live.retain(|_, conn| conn.strong_count() > 0);
        let conn = Arc::new(Conn::new(id, client, server));
        table
            .pending
            .insert((client_addr, server_addr), Arc::clone(&conn));
        table.live.insert(id, Arc::downgrade(&conn));
        conn
    }

    /// Hands the listener the connection made from `client_addr`.
    pub(crate) fn take_pending(
        &self,
        client_addr: std::net::SocketAddr,
        server_addr: std::net::SocketAddr,
    ) -> Option<Arc<Conn>> {
        self.table
            .lock()
            .pending
            .remove(&(client_addr, server_addr))
    }

    /// An end of connection `id` is gone: a client that never got accepted
    /// no longer waits in the table.
    pub(crate) fn forget_pending(&self, id: u64) {
        self.table.lock().pending.retain(|_, conn| conn.id() != id);
    }

    /// A node died: every stream it had is reset under its peers.
    pub(crate) fn reset_node(&self, node: NodeId) {
        let conns: Vec<Arc<Conn>> = {
            let mut table = self.table.lock();
            table.pending.retain(|_, conn| !conn.involves(node));
            table
                .live
                .values()
                .filter_map(Weak::upgrade)
                .filter(|c| c.involves(node))
                .collect()
        };
        for conn in conns {
            if conn.reset() {
                let (from, to) = conn.endpoints();
                self.injector.record(EventKind::StreamReset { from, to });
            }
        }
    }
}

impl SimWorld {
    /// Resets every stream between nodes `a` and `b` (either way round),
    /// as a middlebox that drops its connection state does; returns how
    /// many it reset.
    pub(crate) fn reset_between(&self, a: NodeId, b: NodeId) -> usize {
        let conns: Vec<Arc<Conn>> = {
            let mut table = self.table.lock();
            table
                .pending
                .retain(|_, conn| !(conn.involves(a) && conn.involves(b)));
            table
                .live
                .values()
                .filter_map(Weak::upgrade)
                .filter(|c| c.involves(a) && c.involves(b))
                .collect()
        };
        let mut reset = 0;
        for conn in conns {
            if conn.reset() {
                let (from, to) = conn.endpoints();
                self.injector.record(EventKind::StreamReset { from, to });
                reset += 1;
            }
        }
        reset
    }
}

/// Kills every node of the current simulation and lets the executor drop
/// their tasks. Call it last in a simulation whose runtime is about to be
/// dropped: a task parked on a channel or timer when the runtime goes is
/// never polled again, and the waker that the channel holds keeps the
/// task alive while the task keeps the channel alive, so everything the
/// node held (its log, its state machine, its connections) leaks. A sweep
/// of thousands of seeds in one process grew by about 4 MB a seed that
/// way. Killing a node wakes its tasks; the executor drops a killed
/// node's task when it next comes up, which the short sleep lets happen.
pub async fn release_nodes() {
    let Some(world) = current() else {
        return;
    };
    let handle = madsim::runtime::Handle::current();
    for node in world.madsim_nodes() {
        handle.kill(node);
    }
    madsim::time::sleep(std::time::Duration::from_millis(1)).await;
}
