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

pub use madsim_net::task::spawn;
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
pub mod task {
    pub use madsim_net::task::*;
}
