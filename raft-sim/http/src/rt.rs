//! hyper's runtime hooks ([`hyper::rt::Executor`], [`hyper::rt::Timer`]) on
//! madsim-net's tasks and clock.
//!
//! hyper does not spawn or sleep by itself: it asks an executor and a timer.
//! hyper-util's `TokioExecutor` and `TokioTimer` call `tokio::spawn` and
//! `tokio::time` directly. Under `--cfg madsim` no tokio runtime runs, so
//! they panic; were one running, its tasks would outlive a killed simulated
//! node and its timers would not follow simulated time, breaking
//! determinism. These two go through `madsim_net::task` and
//! `madsim_net::time`, which are madsim's in the simulator (tasks belong to
//! the simulated node that spawned them, and die with it) and tokio's
//! otherwise.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use madsim_net::time;

/// Spawns hyper's background futures (a client connection's driver, the
/// pool's idle sweeper) with [`madsim_net::task::spawn`], on the current
/// simulated node or tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached on purpose: hyper keeps its own handle on the work (the
        // pool, the connection's channels); a dropped JoinHandle detaches in
        // madsim and in tokio alike.
        drop(madsim_net::task::spawn(future));
    }
}

/// hyper's clock and timers on [`madsim_net::time`]: simulated time under
/// madsim, tokio's clock (which honours a paused tokio test clock) otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timer;

impl hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep {
            inner: time::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Sleep {
            inner: time::sleep_until(from_std(deadline)),
        })
    }

    /// hyper computes deadlines as `now() + timeout`; the default reads
    /// `std::time::Instant`, which is not the clock our sleeps run on when a
    /// tokio test pauses time. This one is.
    fn now(&self) -> std::time::Instant {
        to_std(time::Instant::now())
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

pin_project_lite::pin_project! {
    /// A [`hyper::rt::Sleep`]: [`madsim_net::time::Sleep`] under a type hyper
    /// can downcast, so [`Timer::reset`] moves the deadline in place instead
    /// of allocating a new timer.
    #[derive(Debug)]
    pub struct Sleep {
        #[pin]
        inner: time::Sleep,
    }
}

impl Sleep {
    /// Moves the deadline; the next poll waits for the new one.
    pub fn reset(self: Pin<&mut Self>, deadline: std::time::Instant) {
        self.project().inner.reset(from_std(deadline));
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx)
    }
}

impl hyper::rt::Sleep for Sleep {}

/// hyper speaks `std::time::Instant`. madsim's `Instant` is that type (madsim
/// intercepts the clock underneath it); tokio's converts. The conversion is
/// therefore the identity in the simulator, which clippy would flag there.
#[allow(clippy::useless_conversion)]
fn from_std(instant: std::time::Instant) -> time::Instant {
    time::Instant::from(instant)
}

/// See [`from_std`].
#[allow(clippy::useless_conversion)]
fn to_std(instant: time::Instant) -> std::time::Instant {
    std::time::Instant::from(instant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer as _;

    async fn timer_behaviour() {
        let timer = Timer;
        let start = timer.now();
        timer.sleep(Duration::from_millis(20)).await;
        assert!(timer.now() - start >= Duration::from_millis(20));

        // A reset to an earlier deadline fires at the earlier deadline.
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        let before = timer.now();
        timer.reset(&mut sleep, before + Duration::from_millis(10));
        sleep.await;
        let waited = timer.now() - before;
        assert!(waited >= Duration::from_millis(10), "{waited:?}");
        assert!(waited < Duration::from_secs(60), "{waited:?}");

        let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&fired);
        hyper::rt::Executor::execute(&Executor, async move {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        for _ in 0..100 {
            if fired.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            time::sleep(Duration::from_millis(1)).await;
        }
        assert!(fired.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[cfg(not(madsim))]
    #[tokio::test]
    async fn timer_and_executor_work_on_tokio() {
        timer_behaviour().await;
    }

    #[cfg(not(madsim))]
    #[tokio::test(start_paused = true)]
    async fn timer_follows_a_paused_tokio_clock() {
        let timer = Timer;
        let start = timer.now();
        // An hour of paused tokio time passes at once; `now` follows it.
        timer.sleep(Duration::from_secs(3600)).await;
        assert!(timer.now() - start >= Duration::from_secs(3600));
    }

    #[cfg(madsim)]
    #[madsim::test]
    async fn timer_and_executor_work_in_the_simulator() {
        timer_behaviour().await;
        // Simulated time: an hour passes at once, and `now` follows it.
        let timer = Timer;
        let start = timer.now();
        timer.sleep(Duration::from_secs(3600)).await;
        assert!(timer.now() - start >= Duration::from_secs(3600));
    }
}
