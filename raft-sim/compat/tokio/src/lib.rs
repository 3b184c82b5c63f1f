//! tokio's API, as far as an application's node code uses it, on
//! madsim-net: a drop-in `tokio` for code twinnet tests but does not own.
//!
//! Name it as the app's `tokio` in the manifest (the one changed line):
//!
//! ```toml
//! tokio = { package = "twinnet-tokio", path = "..." }
//! ```
//!
//! Then `tokio::net::TcpListener`, `tokio::spawn`, `tokio::time` and
//! `tokio::task` are madsim-net's: under `--cfg madsim` simulated sockets
//! with the seeded FailureInjector, tasks that belong to the simulated node
//! (and die with it), simulated time; otherwise tokio's own, with a node's
//! address and limits on a real backend. The macros (`select!`, `join!`,
//! `try_join!`, `pin!`) and `io`, `sync` are tokio's: they only poll.
//!
//! Anything else is absent on purpose: a compile error names what the app
//! uses that twinnet does not simulate yet.
//!
//! ```
//! # async fn node() -> std::io::Result<()> {
//! use twinnet_tokio as tokio;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! let (stream, _peer) = listener.accept().await?;
//! tokio::spawn(async move { drop(stream) });
//! # Ok(())
//! # }
//! ```

pub use task::spawn;
pub use tokio::{io, join, pin, select, sync, try_join};

/// Sockets: madsim-net's, with tokio's signatures.
pub mod net {
    pub use madsim_net::net::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
}

/// Time: simulated under `--cfg madsim`.
pub mod time {
    pub use madsim_net::time::*;
}

/// Tasks on the current node.
#[cfg(not(madsim))]
pub mod task {
    pub use madsim_net::task::*;
}

/// Tasks on the current node. As in tokio, a task that panics ends alone
/// (its handle returns a [`task::JoinError`] that `is_panic`) instead of
/// the whole simulation, as madsim's own tasks do: an app whose request
/// handler panics on an error keeps serving in production, and so it does
/// here. The panic is noted in the world's event log.
#[cfg(madsim)]
pub mod task {
    use std::fmt;
    use std::future::Future;
    use std::panic::AssertUnwindSafe;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub use madsim_net::task::{spawn_blocking, yield_now};

    /// Runs `future` as a task on the current node; a panic in it ends the
    /// task only.
    pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut future = Box::pin(future);
        let guarded = std::future::poll_fn(move |cx| {
            match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => {
                    let text = panic_text(payload.as_ref());
                    if let Some(injector) = madsim_net::FailureInjector::current() {
                        injector.note(format!("a task panicked and ended: {text}"));
                    }
                    Poll::Ready(Err(text))
                }
            }
        });
        JoinHandle(madsim_net::task::spawn(guarded))
    }

    fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
        if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "a non-text panic".to_owned()
        }
    }

    /// Awaits a task's output, or why it has none.
    pub struct JoinHandle<T>(madsim_net::task::JoinHandle<Result<T, String>>);

    impl<T> JoinHandle<T> {
        pub fn abort(&self) {
            self.0.abort();
        }

        pub fn is_finished(&self) -> bool {
            self.0.is_finished()
        }
    }

    impl<T> Future for JoinHandle<T> {
        type Output = Result<T, JoinError>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
                Ok(Ok(output)) => Ok(output),
                Ok(Err(panic)) => Err(JoinError { panic: Some(panic) }),
                Err(_) => Err(JoinError { panic: None }),
            })
        }
    }

    /// A task that panicked or was cancelled (aborted, or its node died).
    #[derive(Debug)]
    pub struct JoinError {
        panic: Option<String>,
    }

    impl JoinError {
        pub fn is_panic(&self) -> bool {
            self.panic.is_some()
        }

        pub fn is_cancelled(&self) -> bool {
            self.panic.is_none()
        }
    }

    impl fmt::Display for JoinError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match &self.panic {
                Some(text) => write!(f, "task panicked: {text}"),
                None => f.write_str("task was cancelled"),
            }
        }
    }

    impl std::error::Error for JoinError {}
}
