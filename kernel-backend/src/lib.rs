//! `KernelBackend`: twinnet's `NetBackend` on real Linux network namespaces,
//! veth pairs, a bridge and per-link tc or a userspace impairment engine.
//!
//! Everything here is Linux-only and real-network-only: under `--cfg madsim`
//! the crate is empty.
#![cfg(all(target_os = "linux", not(madsim)))]

mod backend;
pub mod baseline;
pub mod engine;
pub mod error;
pub mod hub;
pub mod names;
pub mod netns;
pub mod probe;
pub mod runtime;
pub mod sweep;
pub mod tc;
pub mod testing;
pub mod userspace;

pub use backend::KernelBackend;
pub use engine::EngineKind;
pub use error::KernelError;
pub use hub::{Hub, HubConfig};
pub use probe::EngineChoice;
pub use runtime::NsRuntime;
