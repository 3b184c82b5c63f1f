//! [`NsRuntime`]: a thread in a network namespace running a current-thread
//! tokio runtime. Futures spawned on it make their sockets in that
//! namespace; results come back through join handles or [`NsRuntime::call`].
//!
//! A hub's control thread is one too (in the namespace its creator was in):
//! a netlink socket belongs to the namespace its creating thread was in, so
//! that thread visits each new namespace just long enough to open the
//! namespace's socket, then drives every connection from home.

use std::future::Future;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::KernelError;
use crate::netns::Netns;

pub struct NsRuntime {
    caller: NsCaller,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NsRuntime {
    /// Starts thread `name`, inside `netns` if given (else where the caller is).
    pub fn start(name: &str, netns: Option<Arc<Netns>>) -> Result<NsRuntime, KernelError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let runtime = netns.map_or(Ok(()), |ns| ns.enter()).and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| KernelError::io("build a runtime", e))
                });
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| KernelError::io(format!("start thread {name}"), e))?;
        let runtime = ready_rx
            .recv()
            .map_err(|_| KernelError::Config(format!("thread {name} died at start")))??;
        Ok(NsRuntime {
            caller: NsCaller { runtime },
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `job` on this thread and waits for its result. Callable from
    /// any thread, async or not: it blocks the caller, never this thread.
    pub fn call<T, Fut>(&self, job: Fut) -> T
    where
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.caller
            .call(job)
            .expect("jobs run to completion while the runtime's thread lives")
    }

    /// A handle that runs jobs on this thread, for whoever owns netlink
    /// handles this thread drives (their connections are its tasks).
    pub fn caller(&self) -> NsCaller {
        self.caller.clone()
    }

    /// Spawns `future` on this thread; await the handle from anywhere.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.caller.runtime.spawn(future)
    }
}

/// Runs jobs on an [`NsRuntime`]'s thread from any thread; cheap to clone.
/// Unlike the runtime it may outlive it: a call then fails instead of
/// waiting forever.
#[derive(Clone)]
pub struct NsCaller {
    runtime: tokio::runtime::Handle,
}

impl NsCaller {
    /// Runs `job` on the runtime's thread and waits for its result. Blocks
    /// the caller, never the runtime's thread.
    pub fn call<T, Fut>(&self, job: Fut) -> Result<T, KernelError>
    where
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (done_tx, done_rx) = mpsc::channel();
        self.runtime.spawn(async move {
            let _ = done_tx.send(job.await);
        });
        // A stopped runtime drops the job, and with it the sender.
        done_rx.recv().map_err(|_| {
            KernelError::io(
                "run a job on a namespace thread",
                std::io::Error::other("the thread's runtime has stopped"),
            )
        })
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Joining drops the runtime: its tasks and sockets are gone after.
            let _ = thread.join();
        }
    }
}
