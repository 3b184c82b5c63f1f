//! hyper over madsim-net: HTTP servers and clients that run unchanged in the
//! madsim simulator (`--cfg madsim`, simulated TCP with per-link faults) and
//! on real sockets (tokio).
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::body::Incoming;
//! use hyper::service::service_fn;
//! use hyper::{Request, Response, StatusCode};
//! use madsim_net::net::{IpAddr, TcpListener};
//!
//! /// Echoes a JSON body back; a body over 64 KiB is refused unread.
//! async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let response = match twinnet_http::collect_bounded(request.into_body(), 64 * 1024).await {
//!         Ok(body) => Response::new(Full::new(body)),
//!         Err(err) => {
//!             let mut response = Response::new(Full::new(Bytes::from(err.to_string())));
//!             *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
//!             response
//!         }
//!     };
//!     Ok(response)
//! }
//!
//! /// The server node: every accepted connection is served on its own task.
//! async fn server() -> std::io::Result<()> {
//!     let listener = TcpListener::bind(("0.0.0.0", 8080)).await?;
//!     let never = twinnet_http::serve(listener, service_fn(echo)).await?;
//!     match never {}
//! }
//!
//! /// A client node: one pooled keep-alive connection per server.
//! async fn ask(server: IpAddr) -> Result<serde_json::Value, twinnet_http::RequestError> {
//!     let client = twinnet_http::client();
//!     let uri = format!("http://{server}:8080/echo")
//!         .parse()
//!         .map_err(|err: hyper::http::uri::InvalidUri| {
//!             twinnet_http::RequestError::InvalidRequest(err.to_string())
//!         })?;
//!     let question = serde_json::json!({ "term": 3, "candidate": 1 });
//!     twinnet_http::post_json(&client, uri, &question, Duration::from_secs(1)).await
//! }
//! ```
//!
//! # Why not hyper-util's `TokioExecutor` and `TokioTimer`
//!
//! hyper spawns (a client connection's driver, the pool's idle sweep) and
//! sleeps (header-read timeouts, idle timeouts) only through the executor and
//! timer it is given. hyper-util's tokio ones call `tokio::spawn` and
//! `tokio::time` directly. The simulator runs no tokio runtime, so those
//! panic there; and were one running, its tasks would not belong to a
//! simulated node (a killed node's connections would live on) and its timers
//! would not be driven by madsim's scheduler, so timeouts would fire at the
//! wrong moment and the run would no longer replay from its seed.
//! [`Executor`] and [`Timer`] go through `madsim_net::task` and
//! `madsim_net::time` instead: madsim's (per simulated node, on simulated
//! time) under `--cfg madsim`, tokio's otherwise. For the same reason [`Connector`] replaces hyper-util's
//! `HttpConnector` (getaddrinfo on a blocking thread, `tokio::net`): it
//! connects with `madsim_net::net::TcpStream` and takes IP literals only,
//! since the simulator has no DNS.
//!
//! # Pieces
//!
//! - [`Connector`]: `tower_service::Service<Uri>` for hyper-util's legacy
//!   client; [`ConnectError`] says why a connection was not made.
//! - [`client()`], [`client_builder`]: a pooled client with [`Executor`] and
//!   [`Timer`].
//! - [`call()`], [`post_json`], [`get_json`]: one exchange with a deadline and
//!   a bounded response ([`limits::MAX_RESPONSE_BYTES`]), failing with a
//!   [`RequestError`].
//! - [`serve`], [`Server`]: an HTTP/1 keep-alive server for any hyper
//!   service (`hyper::service::service_fn`, or a tower service such as an
//!   axum `Router` through `hyper_util::service::TowerToHyperService`).
//! - [`collect_bounded`]: a body read whole, bounded, for handlers too.
//!
//! Application code names neither tokio nor madsim: it takes the listener
//! from `madsim_net::net` and everything else from here.

mod body;
mod call;
mod client;
mod connector;
pub mod limits;
mod rt;
mod server;

pub use body::{BodyError, collect_bounded};
pub use call::{RequestError, call, call_bounded, get_json, post_json};
pub use client::{HttpClient, client, client_builder};
pub use connector::{ConnectError, ConnectionInfo, Connector, HttpStream, socket_addr_of};
pub use rt::{Executor, Sleep, Timer};
pub use server::{Server, serve};

/// The versions this crate is built on, so users name the same ones.
pub use {http_body_util, hyper, hyper_util};
