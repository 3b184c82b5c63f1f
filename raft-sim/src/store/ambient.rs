//! The node's mount for stores an app builds with `Default`: code that
//! twinnet does not own (openraft's example builds `LogStore::default()`
//! deep inside its start-up) cannot be handed a [`Mount`], so the harness
//! glue runs the node's start-up inside [`with_node_mount`] and such a
//! store finds the mount with [`LogStore::default`].
//!
//! The mount is visible only while the wrapped future is being polled, on
//! the polling thread: tasks the node spawns do not see it, and no other
//! node ever does (madsim polls one node's task at a time; a real backend
//! runs each node on its own thread).

use std::any::Any;
use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::disk::Mount;
use super::log_store::LogStore;
use crate::SimTypes;

thread_local! {
    static CURRENT: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
}

pin_project_lite::pin_project! {
    /// A future that makes `mount` the node's mount while it is polled.
    pub struct WithNodeMount<F> {
        mount: Option<Box<dyn Any + Send>>,
        #[pin]
        inner: F,
    }
}

/// Runs `future` (a node's start-up and life) with `mount` as the mount
/// that [`LogStore::default`] and [`current_mount`] find.
pub fn with_node_mount<C: SimTypes, F: Future>(mount: Mount<C>, future: F) -> WithNodeMount<F> {
    WithNodeMount {
        mount: Some(Box::new(mount)),
        inner: future,
    }
}

impl<F: Future> Future for WithNodeMount<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Swap in, poll, swap back: a nested or outer mount is restored.
        let outer = CURRENT.with(|current| current.replace(this.mount.take()));
        let result = this.inner.poll(cx);
        *this.mount = CURRENT.with(|current| current.replace(outer));
        result
    }
}

/// The mount of the node whose start-up is being polled, if any and if it
/// is a mount of `C`.
pub fn current_mount<C: SimTypes>() -> Option<Mount<C>> {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .and_then(|mount| mount.downcast_ref::<Mount<C>>())
            .cloned()
    })
}

impl<C: SimTypes> Default for LogStore<C> {
    /// The log store on the mount of the node being started
    /// ([`with_node_mount`]).
    ///
    /// # Panics
    /// Outside [`with_node_mount`]: a store with no disk would silently
    /// lose the log at every restart, so this refuses to make one.
    fn default() -> Self {
        match current_mount::<C>() {
            Some(mount) => LogStore::new(mount),
            None => panic!(
                "LogStore::default() called outside raft_sim::store::with_node_mount: \
                 wrap the node's start-up in it (the harness glue does) so the log \
                 lives on the node's simulated disk"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Disk;

    openraft::declare_raft_types!(Demo: D = String, R = String, AsyncRuntime = twinnet_rt::Runtime);

    #[test]
    fn the_mount_is_visible_only_inside_the_wrapped_future() {
        let disk = Disk::<Demo>::new();
        let wrapped = with_node_mount(disk.mount(), async {
            assert!(current_mount::<Demo>().is_some());
            LogStore::<Demo>::default()
        });
        let store = futures::executor::block_on(wrapped);
        // The store writes to the node's disk, not to a disk of its own.
        store.mount().put_blob("probe", b"1".to_vec()).unwrap();
        assert!(disk.blob("probe").is_some());
        assert!(current_mount::<Demo>().is_none());
    }

    #[test]
    #[should_panic(expected = "outside raft_sim::store::with_node_mount")]
    fn default_outside_a_node_refuses() {
        let _ = LogStore::<Demo>::default();
    }
}
