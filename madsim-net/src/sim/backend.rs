//! [`SimBackend`]: the [`NetBackend`] on madsim nodes.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use madsim::net::NetSim;
use parking_lot::Mutex;

use super::world::{self, SimWorld};
use crate::backend::{NetBackend, NodeId, NodeTask};
use crate::limits::MAX_NODES;
use crate::trace::EventKind;
use crate::{FailureInjector, LinkImpairment, NetError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Running,
    Paused,
    Killed,
}

struct SimNode {
    madsim_id: madsim::task::NodeId,
    ip: IpAddr,
    life: Mutex<Life>,
}

/// Nodes are madsim nodes at `10.0.0.1`, `10.0.0.2`, ... (simulated
/// addresses: nothing leaves the process).
pub struct SimBackend {
    world: Arc<SimWorld>,
    handle: madsim::runtime::Handle,
    nodes: Vec<SimNode>,
}

impl SimBackend {
    /// The backend of the running simulation. Fails outside a madsim runtime.
    pub fn new() -> Result<Self, NetError> {
        let not_in_sim = || NetError::Unsupported {
            backend: "sim",
            what: "start outside a simulation".into(),
            hint: "create SimBackend inside #[madsim::test] or a madsim Runtime",
        };
        let handle = madsim::runtime::Handle::try_current().map_err(|_| not_in_sim())?;
        let world = world::current().ok_or_else(not_in_sim)?;
        Ok(SimBackend {
            world,
            handle,
            nodes: Vec::new(),
        })
    }

    fn node(&self, node: NodeId) -> Result<&SimNode, NetError> {
        self.nodes
            .get(node as usize)
            .ok_or(NetError::UnknownNode(node))
    }

    fn ip_for(index: usize) -> IpAddr {
        debug_assert!(index < MAX_NODES);
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, index as u8 + 1))
    }

    fn kill_now(&self, node: NodeId) -> Result<(), NetError> {
        let entry = self.node(node)?;
        let mut life = entry.life.lock();
        if *life == Life::Killed {
            return Ok(());
        }
        *life = Life::Killed;
        drop(life);
        self.handle.kill(entry.madsim_id);
        self.world.reset_node(node);
        self.world.injector.record(EventKind::NodeKilled { node });
        Ok(())
    }
}

impl NetBackend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    async fn add_node<F, Fut>(&mut self, name: &str, init: F) -> Result<NodeId, NetError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.nodes.len() >= MAX_NODES {
            return Err(NetError::NodeLimit { limit: MAX_NODES });
        }
        let ip = Self::ip_for(self.nodes.len());
        let id = self.world.injector.register_node(name, ip)?;
        assert_eq!(
            id as usize,
            self.nodes.len(),
            "node ids are dense and owned by one backend"
        );
        let handle = self
            .handle
            .create_node()
            .name(name)
            .ip(ip)
            .init(init)
            .build();
        self.world.bind_madsim_node(handle.id(), id);
        self.nodes.push(SimNode {
            madsim_id: handle.id(),
            ip,
            life: Mutex::new(Life::Running),
        });
        Ok(id)
    }

    fn node_ip(&self, node: NodeId) -> Result<IpAddr, NetError> {
        Ok(self.node(node)?.ip)
    }

    fn nodes(&self) -> Vec<NodeId> {
        (0..self.nodes.len() as NodeId).collect()
    }

    fn spawn_on<F>(&self, node: NodeId, future: F) -> Result<NodeTask<F::Output>, NetError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let entry = self.node(node)?;
        if *entry.life.lock() == Life::Killed {
            return Err(NetError::NodeDown(node));
        }
        let spawner = self
            .handle
            .get_node(entry.madsim_id)
            .ok_or(NetError::UnknownNode(node))?;
        let join = spawner.spawn(future);
        Ok(NodeTask::new(async move {
            join.await.map_err(|_| NetError::NodeDown(node))
        }))
    }

    async fn kill(&self, node: NodeId) -> Result<(), NetError> {
        self.kill_now(node)
    }

    async fn restart(&self, node: NodeId) -> Result<(), NetError> {
        // madsim cannot rebind a live node's ports: always kill first.
        self.kill_now(node)?;
        let entry = self.node(node)?;
        self.handle.restart(entry.madsim_id);
        *entry.life.lock() = Life::Running;
        self.world
            .injector
            .record(EventKind::NodeRestarted { node });
        Ok(())
    }

    async fn pause(&self, node: NodeId) -> Result<(), NetError> {
        let entry = self.node(node)?;
        let mut life = entry.life.lock();
        match *life {
            Life::Killed => return Err(NetError::NodeDown(node)),
            Life::Paused => return Ok(()),
            Life::Running => *life = Life::Paused,
        }
        drop(life);
        self.handle.pause(entry.madsim_id);
        self.world.injector.record(EventKind::NodePaused { node });
        Ok(())
    }

    async fn resume(&self, node: NodeId) -> Result<(), NetError> {
        let entry = self.node(node)?;
        let mut life = entry.life.lock();
        match *life {
            Life::Killed => return Err(NetError::NodeDown(node)),
            Life::Running => return Ok(()),
            Life::Paused => *life = Life::Running,
        }
        drop(life);
        self.handle.resume(entry.madsim_id);
        self.world.injector.record(EventKind::NodeResumed { node });
        Ok(())
    }

    async fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), NetError> {
        self.world.injector.set_link(from, to, impairment)
    }

    fn set_clock_rate(&self, node: NodeId, rate_permille: u32) -> Result<(), NetError> {
        if !crate::clock::RATE_PERMILLE.contains(&rate_permille) {
            return Err(NetError::ClockRate { rate_permille });
        }
        let entry = self.node(node)?;
        super::clock::set_rate(&NetSim::current(), entry.madsim_id, rate_permille);
        self.world.injector.record(EventKind::ClockRate {
            node,
            rate_permille: u64::from(rate_permille),
        });
        Ok(())
    }

    fn reset_connections(&self, a: NodeId, b: NodeId) -> Result<usize, NetError> {
        self.node(a)?;
        self.node(b)?;
        Ok(self.world.reset_between(a, b))
    }

    fn clock_state(&self, node: NodeId) -> crate::clock::ClockState {
        self.node(node).map_or_else(
            |_| Default::default(),
            |entry| super::clock::state(entry.madsim_id),
        )
    }

    fn injector(&self) -> &Arc<FailureInjector> {
        &self.world.injector
    }
}
