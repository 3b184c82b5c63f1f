//! Where the current [`FailureInjector`] comes from: the running simulation
//! under `cfg(madsim)`, the current backend node's thread otherwise.

use std::sync::Arc;

use crate::FailureInjector;

pub(crate) fn current_injector() -> Option<Arc<FailureInjector>> {
    crate::twin::world::current_injector()
}
