//! A nameable timeout future on the node's clock.
//!
//! OpenRaft's `AsyncRuntime::Timeout<R, F>` is an associated type, so the
//! runtime must be able to *name* the future it returns. madsim's own
//! `time::timeout` returns `impl Future`, which cannot be named; [`Timeout`]
//! is the same select-inner-first-then-deadline logic as a plain struct over
//! a [`NodeSleep`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::clock::NodeSleep;

pin_project_lite::pin_project! {
    /// A future that fails with [`Elapsed`] unless `future` completes before the
    /// deadline of its [`NodeSleep`].
    ///
    /// The inner future is polled first on every poll, so a future that is ready
    /// at the deadline still wins (as with tokio's and madsim's `timeout`). Note
    /// that madsim sleeps last at least 1 ms of simulated time.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: NodeSleep,
    }
}

impl<F> Timeout<F> {
    /// Races `future` against `sleep`.
    pub(crate) fn new(future: F, sleep: NodeSleep) -> Self {
        Self { future, sleep }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The deadline of a [`Timeout`] passed before its future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> Self {
        io::Error::new(io::ErrorKind::TimedOut, Elapsed)
    }
}
