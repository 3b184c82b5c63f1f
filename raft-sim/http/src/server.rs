//! [`Server`]: hyper's HTTP/1 server on a madsim-net listener.
//!
//! One task per connection (spawned with [`madsim_net::task::spawn`], so in
//! the simulator it belongs to the listening node and dies with it), serving
//! keep-alive requests with any hyper service. A connection that fails
//! (a reset, a malformed request, a slow client's header timeout) is closed
//! alone; the accept loop goes on.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use madsim_net::net::TcpListener;

use crate::limits::{
    ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, HEADER_READ_TIMEOUT, MAX_CONSECUTIVE_ACCEPT_ERRORS,
    MAX_SERVER_CONNECTIONS,
};
use crate::rt::Timer;

/// Serves `service` on every connection `listener` accepts, with
/// [`Server::new`]'s settings. See [`Server::serve`].
pub async fn serve<S, B>(listener: TcpListener, service: S) -> io::Result<Infallible>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    Server::new().serve(listener, service).await
}

/// The settings of an HTTP/1 server. `Server::new()` has keep-alive on,
/// [`HEADER_READ_TIMEOUT`] and [`MAX_SERVER_CONNECTIONS`].
#[derive(Debug, Clone)]
pub struct Server {
    max_connections: usize,
    header_read_timeout: Duration,
    keep_alive: bool,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

/// Holds one of the server's connection slots; returns it on drop, however
/// the connection's task ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Server {
    pub fn new() -> Self {
        Server {
            max_connections: MAX_SERVER_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            keep_alive: true,
        }
    }

    /// Connections served at once (at least 1); one more is closed as soon
    /// as it is accepted, and the client sees its connection end.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a request's headers may take, counted from when the server
    /// starts waiting for them; an idle keep-alive connection is closed after
    /// this too.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Keep-alive (on by default): one connection carries many requests.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// Accepts connections forever, serving each on its own task with a
    /// clone of `service`. Returns only if `accept` fails
    /// [`MAX_CONSECUTIVE_ACCEPT_ERRORS`] times in a row, with the last error.
    ///
    /// Dropping this future stops accepting; connections already accepted
    /// run to their end on their own tasks (or die with their simulated node).
    pub async fn serve<S, B>(&self, listener: TcpListener, service: S) -> io::Result<Infallible>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn StdError + Send + Sync>>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(Timer)
            .keep_alive(self.keep_alive)
            .header_read_timeout(self.header_read_timeout);
        let open = Arc::new(AtomicUsize::new(0));
        let mut failures = 0u32;
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => {
                    failures = 0;
                    backoff = ACCEPT_BACKOFF_MIN;
                    accepted
                }
                Err(err) => {
                    failures += 1;
                    if failures >= MAX_CONSECUTIVE_ACCEPT_ERRORS {
                        return Err(err);
                    }
                    tracing::warn!(%err, failures, "accept failed; retrying");
                    madsim_net::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            if open.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
                open.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(%peer, limit = self.max_connections, "connection limit: closing");
                drop(stream);
                continue;
            }
            let slot = Slot(Arc::clone(&open));
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%peer, %err, "set_nodelay failed");
            }
            let connection = http.serve_connection(TokioIo::new(stream), service.clone());
            drop(madsim_net::task::spawn(async move {
                let _slot = slot;
                if let Err(err) = connection.await {
                    // Only this connection ends; hyper has already answered
                    // a malformed request with 400 where it could.
                    tracing::debug!(%peer, %err, "connection closed with an error");
                }
            }));
        }
    }
}
