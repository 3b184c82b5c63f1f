//! What the `raft-sim` and `twinnet-real` binaries share: the example
//! apps and their flags (`--app`, `--bug`).

pub mod apps;
