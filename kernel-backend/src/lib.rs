//! `KernelBackend`: twinnet's `NetBackend` on real Linux network namespaces,
//! veth pairs, a bridge and per-link tc or a userspace impairment engine.
//!
//! Not built yet: this crate is the reserved place for it (see
//! ARCHITECTURE.md). It exports nothing, and `cargo xtask test` reports the
//! kernel test pass as skipped until it does.
