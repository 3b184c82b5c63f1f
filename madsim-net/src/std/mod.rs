//! The real twin (no `cfg(madsim)`): tokio sockets, with the node context a
//! backend gives each node's thread (its address, its injector).

pub(crate) mod backend;
pub(crate) mod net;
pub mod node_thread;
pub(crate) mod world;
