//! A pooled hyper client over [`Connector`], with this crate's executor and
//! timer, so its connection drivers and idle-pool sweeps run on the
//! simulated node that uses it.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{Builder, Client};

use crate::connector::Connector;
use crate::limits::{MAX_IDLE_PER_HOST, POOL_IDLE_TIMEOUT};
use crate::rt::{Executor, Timer};

/// The client most RPC code wants: whole request bodies.
pub type HttpClient<B = Full<Bytes>> = Client<Connector, B>;

/// hyper-util's client builder, set up for madsim-net: [`Executor`] for its
/// background tasks, [`Timer`] for the pool, HTTP/1 only, at most
/// [`MAX_IDLE_PER_HOST`] idle connections per host, closed after
/// [`POOL_IDLE_TIMEOUT`]. Adjust it, then `.build(Connector::new())`.
pub fn client_builder() -> Builder {
    let mut builder = Client::builder(Executor);
    builder
        .timer(Timer)
        .pool_timer(Timer)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST);
    builder
}

/// A pooled client with [`Connector::new`] and [`client_builder`]'s settings.
/// Requests to the same `http://IP:PORT` reuse one keep-alive connection
/// while they run one after another.
pub fn client<B>() -> HttpClient<B>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
{
    client_builder().build(Connector::new())
}
