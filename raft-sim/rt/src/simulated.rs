//! [`MadsimRuntime`]: OpenRaft's `AsyncRuntime` on the madsim simulator.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use openraft_rt::{AsyncRuntime, OptionalSend};
use openraft_rt_tokio::{TokioMpsc, TokioMutex, TokioOneshot};

use super::clock::{NodeInstant, NodeSleep};
use super::rng::SimRng;
use super::timeout::{Elapsed, Timeout};
use super::watch::FifoWatch;

/// OpenRaft's runtime inside madsim: madsim tasks, simulated time, madsim's
/// seeded RNG, and channels whose wake-up order is deterministic.
///
/// Every associated function except [`AsyncRuntime::new`] must run inside a
/// madsim simulation (they panic otherwise, as madsim's own do); `spawn`
/// places the task on the simulated node of the calling task.
///
/// The value itself owns one madsim runtime, which exists only for
/// `AsyncRuntime::new`/`block_on`/`run` (the entry points of openraft-rt's
/// conformance suite). Simulations driven by `madsim::test` or by the
/// harness never build one.
pub struct MadsimRuntime {
    simulation: madsim::runtime::Runtime,
}

impl MadsimRuntime {
    /// A fresh simulation with the given seed (`AsyncRuntime::new` uses 0,
    /// as `madsim::runtime::Runtime::new` does).
    ///
    /// Must be called outside any madsim simulation: madsim does not nest.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            simulation: madsim::runtime::Runtime::with_seed_and_config(
                seed,
                madsim::Config::default(),
            ),
        }
    }

    /// The madsim runtime behind [`AsyncRuntime::block_on`], for tests that
    /// need its handle (nodes, kill/restart) while driving it through
    /// OpenRaft's interface.
    pub fn simulation(&self) -> &madsim::runtime::Runtime {
        &self.simulation
    }
}

impl fmt::Debug for MadsimRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MadsimRuntime")
            .field("seed", &self.simulation.handle().seed())
            .finish()
    }
}

impl AsyncRuntime for MadsimRuntime {
    /// madsim reports every failed join as a cancellation: a panicking task
    /// aborts the whole simulation (with its seed) instead of surfacing here.
    type JoinError = madsim::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = madsim::task::JoinHandle<T>;
    type Sleep = NodeSleep;
    /// The clock of the node the task runs on: simulated time, unless the
    /// nemesis made that node's clock drift. Its `std::time::Instant` is
    /// madsim's, which starts at zero; on Linux an `Instant` may go below
    /// it, so `now() - lease` early in a run does not panic.
    type Instant = NodeInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    type ThreadLocalRng = SimRng;

    type Mpsc = TokioMpsc;
    type Watch = FifoWatch;
    type Oneshot = TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = TokioMutex<T>;

    #[track_caller]
    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        madsim::task::spawn(future)
    }

    #[track_caller]
    fn sleep(duration: Duration) -> Self::Sleep {
        NodeSleep::new(duration)
    }

    #[track_caller]
    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        NodeSleep::until(deadline)
    }

    #[track_caller]
    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout::new(future, NodeSleep::new(duration))
    }

    #[track_caller]
    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout::new(future, NodeSleep::until(deadline))
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    #[track_caller]
    fn thread_rng() -> Self::ThreadLocalRng {
        SimRng::current()
    }

    /// `threads` is ignored: a madsim simulation runs on one OS thread.
    fn new(_threads: usize) -> Self {
        Self::with_seed(0)
    }

    /// Runs `future` as the simulation's main task until it completes.
    ///
    /// Panics, as madsim does, if every task is blocked and no timer is
    /// pending (a deadlock), and if `future` or a task it spawned panics.
    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.simulation.block_on(future)
    }

    /// Runs `f` as an ordinary task on the current simulated node.
    ///
    /// The default spawns an OS thread, which madsim forbids (it panics: a
    /// thread would escape the simulation's determinism). `f` therefore runs
    /// to completion within one task poll and costs no simulated time; code
    /// that models slow work must sleep for it explicitly. As with the
    /// default, `f` starts without the returned future being awaited.
    fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T, io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let task = madsim::task::spawn(async move { f() });
        async move { task.await.map_err(io::Error::from) }
    }
}
