//! The node context of the current thread: which node runs here, at which
//! address, under which [`FailureInjector`]. Set by a backend on each node's
//! thread (and on the harness's thread, without a node).

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

use super::node_thread::PartitionEnforcement;
use crate::backend::NodeId;
use crate::{FailureInjector, LinkImpairment, NetError};

#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) injector: Arc<FailureInjector>,
    /// The node this thread runs, with its address; `None` on a harness thread.
    pub(crate) node: Option<(NodeId, IpAddr)>,
    pub(crate) enforcement: PartitionEnforcement,
}

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

pub(crate) fn enter(context: Context) {
    CURRENT.with(|slot| *slot.borrow_mut() = Some(context));
}

pub(crate) fn current() -> Option<Context> {
    CURRENT.with(|slot| slot.borrow().clone())
}

pub(crate) fn current_injector() -> Option<Arc<FailureInjector>> {
    current().map(|context| context.injector)
}

/// Real sockets are impaired by a backend that can do it (kernel-backend),
/// never by this crate: refuse rather than ignore.
pub(crate) fn check_impairment_supported(impairment: &LinkImpairment) -> Result<(), NetError> {
    if impairment.is_none() {
        return Ok(());
    }
    Err(NetError::Unsupported {
        backend: "loopback",
        what: "impair real loopback sockets (latency, jitter, loss, rate...)".into(),
        hint: "run under the simulator (`cargo xtask sim`, RUSTFLAGS=\"--cfg madsim\") or on kernel-backend as root; partitions do work here",
    })
}
