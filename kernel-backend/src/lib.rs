//! `KernelBackend`: twinnet's `NetBackend` on real Linux network namespaces,
//! veth pairs, a bridge and per-link tc or a userspace impairment engine.
//!
//! ```no_run
//! use madsim_net::{LinkImpairment, NetBackend, Partition};
//! use kernel_backend::{HubConfig, KernelBackend};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Root only. `auto` picks `tc` where the kernel has netem, else `userspace`.
//! let mut net = KernelBackend::new(HubConfig { seed: 7, ..HubConfig::default() })?;
//! let server = net.add_node("server", || async {
//!     let listener = madsim_net::net::TcpListener::bind("0.0.0.0:7000").await.unwrap();
//!     while let Ok((_stream, _peer)) = listener.accept().await {}
//! }).await?;
//! let client = net.add_node("client", std::future::pending::<()>).await?;
//! net.set_link(client, server, LinkImpairment::wan()).await?;
//! net.partition(Partition::TwoWay { a: client, b: server }, None).await?;
//! net.heal(None).await?;
//! net.kill(server).await?; // its thread, runtime and sockets are gone
//! # Ok(())
//! # }
//! ```
//!
//! Each node runs on a thread inside its own namespace (`10.77.0.N`), on the
//! real TCP stack; the code is the same `madsim_net` code that runs in the
//! simulator. Lower down, [`Hub`] builds the network alone (peers, their
//! namespaces, [`NsRuntime`]s to run code in them), [`probe`] says what the
//! kernel can do, and [`reap`] removes what killed runs left.
//!
//! Everything here is Linux-only and real-network-only: under `--cfg madsim`
//! the crate is empty.
#![cfg(all(target_os = "linux", not(madsim)))]

mod backend;
pub mod baseline;
pub mod error;
pub mod hub;
pub mod link_engine;
pub mod names;
pub mod netns;
pub mod probe;
pub mod reap;
pub mod runtime;
pub mod tc;
// Test support, not API: skip markers and host snapshots for the kernel
// tests of this crate and of others (`raft-sim/apps/kv/tests/real_seed.rs`).
// Integration tests link the crate like any dependent, so it must be
// public; it is hidden from the docs rather than behind a cargo feature
// so that a plain `cargo test` builds it everywhere, with no feature to
// switch on in each dependent's dev-dependencies.
#[doc(hidden)]
pub mod testing;
pub mod userspace;

pub use backend::KernelBackend;
pub use error::KernelError;
pub use hub::{Hub, HubConfig};
pub use link_engine::EngineKind;
pub use probe::EngineChoice;
pub use runtime::NsRuntime;
