//! [`LoopbackBackend`]: the [`NetBackend`] on real tokio sockets over
//! 127.x.y.z, no root needed.
//!
//! Each node is a thread running a current-thread tokio runtime: killing the
//! node drops the runtime (tasks and sockets gone, peers see real resets),
//! pausing it stops driving the runtime. Partitions work (see
//! `std::net`); link impairments are refused, since real sockets cannot be
//! impaired from here without lying.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::world::{self, Context};
use crate::backend::{NetBackend, NodeId, NodeTask, Partition, PartitionId};
use crate::limits::MAX_NODES;
use crate::trace::EventKind;
use crate::{FailureInjector, LinkImpairment, NetError};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Init = Arc<dyn Fn() -> BoxFuture + Send + Sync>;

enum Control {
    Pause,
    Resume,
    Kill(oneshot::Sender<()>),
}

/// A running node: its thread's runtime handle and control channel.
struct Incarnation {
    runtime: tokio::runtime::Handle,
    control: mpsc::UnboundedSender<Control>,
    paused: bool,
}

struct LoopNode {
    name: String,
    ip: IpAddr,
    init: Init,
    running: Mutex<Option<Incarnation>>,
}

pub struct LoopbackBackend {
    injector: Arc<FailureInjector>,
    prefix: [u8; 3],
    nodes: Vec<LoopNode>,
}

/// Distinguishes backends of one process so their addresses never collide.
static NEXT_INSTANCE: AtomicU8 = AtomicU8::new(0);

impl LoopbackBackend {
    /// A backend whose fault decisions come from `seed`. Nodes get addresses
    /// in a /24 of 127.0.0.0/8 unique to this backend and process.
    pub fn new(seed: u64) -> Self {
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let pid_byte = 16 + (std::process::id() % 200) as u8;
        let injector = FailureInjector::seeded(seed);
        world::enter(Context {
            injector: Arc::clone(&injector),
            node: None,
        });
        LoopbackBackend {
            injector,
            prefix: [127, pid_byte, instance],
            nodes: Vec::new(),
        }
    }

    fn node(&self, node: NodeId) -> Result<&LoopNode, NetError> {
        self.nodes
            .get(node as usize)
            .ok_or(NetError::UnknownNode(node))
    }

    fn start(&self, id: NodeId) -> Result<(), NetError> {
        let node = self.node(id)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NetError::Io(format!("cannot build node {id}'s runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let (control, commands) = mpsc::unbounded_channel();
        let context = Context {
            injector: Arc::clone(&self.injector),
            node: Some((id, node.ip)),
        };
        let init = Arc::clone(&node.init);
        std::thread::Builder::new()
            .name(format!("node-{id}-{}", node.name))
            .spawn(move || run_node(runtime, context, init, commands))
            .map_err(|e| NetError::Io(format!("cannot start node {id}'s thread: {e}")))?;
        *node.running.lock() = Some(Incarnation {
            runtime: handle,
            control,
            paused: false,
        });
        Ok(())
    }

    async fn stop(&self, id: NodeId) -> Result<bool, NetError> {
        let Some(incarnation) = self.node(id)?.running.lock().take() else {
            return Ok(false);
        };
        let (done, stopped) = oneshot::channel();
        if incarnation.control.send(Control::Kill(done)).is_ok() {
            // The node thread answers once its runtime, tasks and sockets are gone.
            let _ = stopped.await;
        }
        Ok(true)
    }
}

/// A node's thread: drives the runtime until killed; while paused, does not
/// drive it at all (timers and sockets keep their state, nothing runs).
fn run_node(
    runtime: tokio::runtime::Runtime,
    context: Context,
    init: Init,
    mut commands: mpsc::UnboundedReceiver<Control>,
) {
    world::enter(context);
    runtime.spawn(init());
    let killed = loop {
        match runtime.block_on(commands.recv()) {
            Some(Control::Pause) => match wait_while_paused(&mut commands) {
                Some(done) => break Some(done),
                None => continue,
            },
            Some(Control::Resume) => continue,
            Some(Control::Kill(done)) => break Some(done),
            None => break None,
        }
    };
    drop(runtime);
    if let Some(done) = killed {
        let _ = done.send(());
    }
}

/// Blocks without driving the runtime until resumed (`None`) or killed.
fn wait_while_paused(
    commands: &mut mpsc::UnboundedReceiver<Control>,
) -> Option<oneshot::Sender<()>> {
    loop {
        match commands.blocking_recv() {
            Some(Control::Resume) => return None,
            Some(Control::Pause) => continue,
            Some(Control::Kill(done)) => return Some(done),
            None => {
                let (done, _) = oneshot::channel();
                return Some(done);
            }
        }
    }
}

impl Drop for LoopbackBackend {
    fn drop(&mut self) {
        for node in &self.nodes {
            if let Some(incarnation) = node.running.lock().take() {
                let (done, _) = oneshot::channel();
                let _ = incarnation.control.send(Control::Kill(done));
            }
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
        if self.nodes.len() >= MAX_NODES {
            return Err(NetError::NodeLimit { limit: MAX_NODES });
        }
        let [a, b, c] = self.prefix;
        let ip = IpAddr::V4(Ipv4Addr::new(a, b, c, self.nodes.len() as u8 + 1));
        let id = self.injector.register_node(name, ip)?;
        assert_eq!(
            id as usize,
            self.nodes.len(),
            "node ids are dense and owned by one backend"
        );
        let init: Init = Arc::new(move || Box::pin(init()) as BoxFuture);
        self.nodes.push(LoopNode {
            name: name.to_string(),
            ip,
            init,
            running: Mutex::new(None),
        });
        self.start(id)?;
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
        let running = self.node(node)?.running.lock();
        let incarnation = running.as_ref().ok_or(NetError::NodeDown(node))?;
        let join = incarnation.runtime.spawn(future);
        Ok(NodeTask::new(async move {
            join.await.map_err(|_| NetError::NodeDown(node))
        }))
    }

    async fn kill(&self, node: NodeId) -> Result<(), NetError> {
        if self.stop(node).await? {
            self.injector.record(EventKind::NodeKilled { node });
        }
        Ok(())
    }

    async fn restart(&self, node: NodeId) -> Result<(), NetError> {
        self.kill(node).await?;
        self.start(node)?;
        self.injector.record(EventKind::NodeRestarted { node });
        Ok(())
    }

    async fn pause(&self, node: NodeId) -> Result<(), NetError> {
        self.set_paused(node, true)
    }

    async fn resume(&self, node: NodeId) -> Result<(), NetError> {
        self.set_paused(node, false)
    }

    async fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), NetError> {
        world::check_impairment_supported(&impairment)?;
        self.injector.set_link(from, to, impairment)
    }

    async fn clear_link(&self, from: NodeId, to: NodeId) -> Result<(), NetError> {
        self.injector.clear_link(from, to)
    }

    async fn partition(
        &self,
        partition: Partition,
        heal_after: Option<Duration>,
    ) -> Result<PartitionId, NetError> {
        self.injector.partition(&partition, heal_after)
    }

    async fn heal(&self, which: Option<PartitionId>) -> Result<(), NetError> {
        self.injector.heal(which);
        Ok(())
    }

    fn injector(&self) -> &Arc<FailureInjector> {
        &self.injector
    }
}

impl LoopbackBackend {
    fn set_paused(&self, node: NodeId, paused: bool) -> Result<(), NetError> {
        let mut running = self.node(node)?.running.lock();
        let incarnation = running.as_mut().ok_or(NetError::NodeDown(node))?;
        if incarnation.paused == paused {
            return Ok(());
        }
        let command = if paused {
            Control::Pause
        } else {
            Control::Resume
        };
        incarnation
            .control
            .send(command)
            .map_err(|_| NetError::NodeDown(node))?;
        incarnation.paused = paused;
        drop(running);
        self.injector.record(if paused {
            EventKind::NodePaused { node }
        } else {
            EventKind::NodeResumed { node }
        });
        Ok(())
    }
}
