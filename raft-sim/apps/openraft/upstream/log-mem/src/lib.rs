//! openraft's example crate `log-mem`, unmodified, staged into `OUT_DIR`
//! by `build.rs`.
// Foreign code: linted and formatted upstream, not here.
#![allow(warnings, clippy::all, clippy::pedantic)]
include!(concat!(env!("OUT_DIR"), "/examples/log-mem/src/lib.rs"));
