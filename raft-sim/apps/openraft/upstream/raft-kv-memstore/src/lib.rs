//! openraft's example crate `raft-kv-memstore`, unmodified but for
//! `raft-sim/apps/openraft/patches/`, staged into `OUT_DIR` by `build.rs`.
// Foreign code: linted and formatted upstream, not here.
#![allow(warnings, clippy::all, clippy::pedantic)]
include!(concat!(
    env!("OUT_DIR"),
    "/examples/raft-kv-memstore/src/lib.rs"
));
