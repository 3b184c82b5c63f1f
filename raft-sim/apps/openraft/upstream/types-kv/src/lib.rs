//! openraft's example crate `types-kv`, unmodified but for
//! `raft-sim/apps/openraft/patches/`, staged into `OUT_DIR` by `build.rs`.
// Foreign code: linted and formatted upstream, not here.
#![allow(warnings, clippy::all, clippy::pedantic)]
include!(concat!(env!("OUT_DIR"), "/examples/types-kv/src/lib.rs"));
