//! The simulated twin (`cfg(madsim)`): madsim nodes, time and connection
//! set-up, with the byte path of every TCP stream modelled here per link.

pub(crate) mod backend;
pub(crate) mod clock;
pub(crate) mod net;
mod pipe;
pub(crate) mod world;
