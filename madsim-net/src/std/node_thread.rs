//! [`NodeThreads`]: the real-network node lifecycle shared by every backend
//! on real sockets (loopback here, kernel-backend's namespaces).
//!
//! Each node is a thread running a current-thread tokio runtime: killing the
//! node drops the runtime (tasks and sockets gone, peers see real resets),
//! pausing it stops driving the runtime. A backend may give each node a
//! `prologue` that runs first on the node's fresh thread (kernel-backend
//! enters the node's network namespace there).

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::world::{self, Context};
use crate::backend::{NodeId, NodeTask};
use crate::limits::MAX_NODES;
use crate::trace::EventKind;
use crate::{FailureInjector, NetError};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Init = Arc<dyn Fn() -> BoxFuture + Send + Sync>;
/// Runs on a node's new thread before its runtime exists.
pub type Prologue = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Who enforces partitions on a node's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionEnforcement {
    /// The sockets themselves: writes into a cut link wait for the heal
    /// (loopback, where nothing between the sockets can drop packets).
    Sockets,
    /// The network drops the packets (kernel-backend); sockets do nothing.
    Network,
}

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

struct NodeSlot {
    name: String,
    ip: IpAddr,
    init: Init,
    prologue: Option<Prologue>,
    running: Mutex<Option<Incarnation>>,
}

/// The `NetBackend` methods that a backend running its nodes on
/// [`NodeThreads`] (in its field `nodes`) forwards to them unchanged:
/// `node_ip`, `nodes`, `spawn_on`, `kill`, `restart`, `pause`, `resume`.
/// Used inside `impl NetBackend for ...`; the loopback and the kernel
/// backends differ only in how they address nodes and shape links.
#[doc(hidden)]
#[macro_export]
macro_rules! forward_to_node_threads {
    () => {
        fn node_ip(&self, node: $crate::NodeId) -> Result<::std::net::IpAddr, $crate::NetError> {
            self.nodes.ip(node)
        }

        fn nodes(&self) -> Vec<$crate::NodeId> {
            (0..self.nodes.len() as $crate::NodeId).collect()
        }

        fn spawn_on<F>(
            &self,
            node: $crate::NodeId,
            future: F,
        ) -> Result<$crate::NodeTask<F::Output>, $crate::NetError>
        where
            F: ::std::future::Future + Send + 'static,
            F::Output: Send + 'static,
        {
            self.nodes.spawn_on(node, future)
        }

        async fn kill(&self, node: $crate::NodeId) -> Result<(), $crate::NetError> {
            self.nodes.kill(node).await
        }

        async fn restart(&self, node: $crate::NodeId) -> Result<(), $crate::NetError> {
            self.nodes.restart(node).await
        }

        async fn pause(&self, node: $crate::NodeId) -> Result<(), $crate::NetError> {
            self.nodes.pause_or_resume(node, true)
        }

        async fn resume(&self, node: $crate::NodeId) -> Result<(), $crate::NetError> {
            self.nodes.pause_or_resume(node, false)
        }
    };
}

/// The nodes of one real-network backend and their threads.
pub struct NodeThreads {
    injector: Arc<FailureInjector>,
    enforcement: PartitionEnforcement,
    nodes: Vec<NodeSlot>,
}

impl NodeThreads {
    /// Also makes the calling (harness) thread see `injector` as current.
    pub fn new(injector: Arc<FailureInjector>, enforcement: PartitionEnforcement) -> Self {
        world::enter(Context {
            injector: Arc::clone(&injector),
            node: None,
            enforcement,
        });
        NodeThreads {
            injector,
            enforcement,
            nodes: Vec::new(),
        }
    }

    pub fn injector(&self) -> &Arc<FailureInjector> {
        &self.injector
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Registers a node at `ip` and starts it.
    pub fn add<F, Fut>(
        &mut self,
        name: &str,
        ip: IpAddr,
        prologue: Option<Prologue>,
        init: F,
    ) -> Result<NodeId, NetError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.nodes.len() >= MAX_NODES {
            return Err(NetError::NodeLimit { limit: MAX_NODES });
        }
        let id = self.injector.register_node(name, ip)?;
        assert_eq!(
            id as usize,
            self.nodes.len(),
            "node ids are dense and owned by one backend"
        );
        let init: Init = Arc::new(move || Box::pin(init()) as BoxFuture);
        self.nodes.push(NodeSlot {
            name: name.to_string(),
            ip,
            init,
            prologue,
            running: Mutex::new(None),
        });
        self.start(id)?;
        Ok(id)
    }

    pub fn ip(&self, node: NodeId) -> Result<IpAddr, NetError> {
        Ok(self.slot(node)?.ip)
    }

    fn slot(&self, node: NodeId) -> Result<&NodeSlot, NetError> {
        self.nodes
            .get(node as usize)
            .ok_or(NetError::UnknownNode(node))
    }

    /// Starts a fresh incarnation of a stopped node.
    pub fn start(&self, id: NodeId) -> Result<(), NetError> {
        let node = self.slot(id)?;
        let (ready, runtime) = std::sync::mpsc::channel();
        let (control, commands) = mpsc::unbounded_channel();
        let context = Context {
            injector: Arc::clone(&self.injector),
            node: Some((id, node.ip)),
            enforcement: self.enforcement,
        };
        let init = Arc::clone(&node.init);
        let prologue = node.prologue.clone();
        std::thread::Builder::new()
            .name(format!("node-{id}-{}", node.name))
            .spawn(move || run_node(prologue, context, init, commands, ready))
            .map_err(|e| NetError::Io(format!("cannot start node {id}'s thread: {e}")))?;
        let runtime = runtime
            .recv()
            .map_err(|_| NetError::Io(format!("node {id}'s thread died while starting")))?
            .map_err(|e| NetError::Io(format!("cannot start node {id}: {e}")))?;
        *node.running.lock() = Some(Incarnation {
            runtime,
            control,
            paused: false,
        });
        Ok(())
    }

    /// Stops the node; `false` if it was not running.
    pub async fn stop(&self, id: NodeId) -> Result<bool, NetError> {
        let Some(incarnation) = self.slot(id)?.running.lock().take() else {
            return Ok(false);
        };
        let (done, stopped) = oneshot::channel();
        if incarnation.control.send(Control::Kill(done)).is_ok() {
            // The node thread answers once its runtime, tasks and sockets are gone.
            let _ = stopped.await;
        }
        Ok(true)
    }

    /// Kills the node (runtime, tasks and sockets gone) and records it.
    pub async fn kill(&self, node: NodeId) -> Result<(), NetError> {
        if self.stop(node).await? {
            self.injector.record(EventKind::NodeKilled { node });
        }
        Ok(())
    }

    /// Kills the node if it runs, starts it again from `init`, records it.
    pub async fn restart(&self, node: NodeId) -> Result<(), NetError> {
        self.kill(node).await?;
        self.start(node)?;
        self.injector.record(EventKind::NodeRestarted { node });
        Ok(())
    }

    /// Pauses (`true`) or resumes the node and records it if that changed
    /// anything.
    pub fn pause_or_resume(&self, node: NodeId, pause: bool) -> Result<(), NetError> {
        if self.set_paused(node, pause)? {
            self.injector.record(if pause {
                EventKind::NodePaused { node }
            } else {
                EventKind::NodeResumed { node }
            });
        }
        Ok(())
    }

    /// Runs `future` on `node`'s runtime.
    pub fn spawn_on<F>(&self, node: NodeId, future: F) -> Result<NodeTask<F::Output>, NetError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let running = self.slot(node)?.running.lock();
        let incarnation = running.as_ref().ok_or(NetError::NodeDown(node))?;
        let join = incarnation.runtime.spawn(future);
        Ok(NodeTask::new(async move {
            join.await.map_err(|_| NetError::NodeDown(node))
        }))
    }

    /// Pauses or resumes; `false` if it already was in that state.
    pub fn set_paused(&self, node: NodeId, paused: bool) -> Result<bool, NetError> {
        let mut running = self.slot(node)?.running.lock();
        let incarnation = running.as_mut().ok_or(NetError::NodeDown(node))?;
        if incarnation.paused == paused {
            return Ok(false);
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
        Ok(true)
    }
}

/// A node's thread: runs the prologue, then drives the runtime until killed;
/// while paused, does not drive it at all (timers and sockets keep their
/// state, nothing runs).
fn run_node(
    prologue: Option<Prologue>,
    context: Context,
    init: Init,
    mut commands: mpsc::UnboundedReceiver<Control>,
    ready: std::sync::mpsc::Sender<io::Result<tokio::runtime::Handle>>,
) {
    let runtime = match prologue.map_or(Ok(()), |p| p()).and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }) {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    if ready.send(Ok(runtime.handle().clone())).is_err() {
        return;
    }
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

impl Drop for NodeThreads {
    fn drop(&mut self) {
        for node in &self.nodes {
            if let Some(incarnation) = node.running.lock().take() {
                let (done, _) = oneshot::channel();
                let _ = incarnation.control.send(Control::Kill(done));
            }
        }
    }
}
