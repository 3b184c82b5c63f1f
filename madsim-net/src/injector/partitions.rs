//! Partitions: which directed links are cut and by which partitions (a
//! link reopens only when every partition covering it has healed), the
//! tasks waiting for a heal, and the [`PartitionListener`] a backend whose
//! network enforces partitions installs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use super::FailureInjector;
use crate::NetError;
use crate::backend::{NodeId, Partition, PartitionId};
use crate::trace::EventKind;

/// Told the full set of cut directed links after every partition and heal
/// (a backend whose network enforces partitions follows the injector).
pub type PartitionListener = Arc<dyn Fn(Vec<(NodeId, NodeId)>) + Send + Sync>;

pub(crate) struct Partitions {
    /// Cut links, each with the partitions that cut it.
    blocked: BTreeMap<(NodeId, NodeId), BTreeSet<PartitionId>>,
    /// The next partition's id: epochs increase from 1.
    next_epoch: PartitionId,
    heal_waiters: Vec<Waker>,
}

impl Default for Partitions {
    fn default() -> Self {
        Partitions {
            blocked: BTreeMap::new(),
            next_epoch: 1,
            heal_waiters: Vec::new(),
        }
    }
}

/// What one heal did: the partitions it ended and the waiters to wake.
struct Healed {
    epochs: BTreeSet<PartitionId>,
    waiters: Vec<Waker>,
}

impl Partitions {
    pub(crate) fn len(&self) -> usize {
        self.blocked.len()
    }

    /// Cuts `links` under a new partition, whose epoch it returns.
    fn cut(&mut self, links: &[(NodeId, NodeId)]) -> PartitionId {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        for &link in links {
            self.blocked.entry(link).or_default().insert(epoch);
        }
        epoch
    }

    /// Ends partition `which`, or all with `None`, and hands over every
    /// heal waiter (woken even when nothing healed).
    fn heal(&mut self, which: Option<PartitionId>) -> Healed {
        let mut epochs = BTreeSet::new();
        self.blocked.retain(|_, covering| {
            covering.retain(|&epoch| {
                let heal = which.is_none_or(|w| w == epoch);
                if heal {
                    epochs.insert(epoch);
                }
                !heal
            });
            !covering.is_empty()
        });
        Healed {
            epochs,
            waiters: std::mem::take(&mut self.heal_waiters),
        }
    }

    fn blocked_links(&self) -> Vec<(NodeId, NodeId)> {
        self.blocked.keys().copied().collect()
    }

    fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked.contains_key(&(from, to))
    }

    fn wake_on_heal(&mut self, waker: &Waker) {
        if !self.heal_waiters.iter().any(|w| w.will_wake(waker)) {
            self.heal_waiters.push(waker.clone());
        }
    }
}

impl FailureInjector {
    /// Cuts the links named by `partition`. With `heal_after`, they heal by
    /// themselves then (a timer task on the calling node does it).
    pub fn partition(
        self: &Arc<Self>,
        partition: &Partition,
        heal_after: Option<Duration>,
    ) -> Result<PartitionId, NetError> {
        let links = partition.directed_links()?;
        let mut st = self.state.lock();
        for &(from, to) in &links {
            st.registry.check(from)?;
            st.registry.check(to)?;
        }
        let epoch = st.partitions.cut(&links);
        drop(st);
        self.record(EventKind::PartitionStarted {
            epoch,
            links: links.len() as u64,
            heal_after_us: heal_after.map(|d| d.as_micros() as u64),
        });
        self.tell_partition_listener();
        if let Some(after) = heal_after {
            let injector = Arc::clone(self);
            crate::task::spawn(async move {
                crate::time::sleep(after).await;
                injector.heal(Some(epoch));
            });
        }
        Ok(epoch)
    }

    /// Heals one partition, or all of them with `None`. Healing a partition
    /// that is gone already does nothing.
    pub fn heal(&self, which: Option<PartitionId>) {
        let healed = self.state.lock().partitions.heal(which);
        let any_healed = !healed.epochs.is_empty();
        for epoch in healed.epochs {
            self.record(EventKind::PartitionHealed { epoch });
        }
        if any_healed {
            self.tell_partition_listener();
        }
        for waker in healed.waiters {
            waker.wake();
        }
    }

    /// Every directed link that is cut now.
    pub(crate) fn blocked_links(&self) -> Vec<(NodeId, NodeId)> {
        self.state.lock().partitions.blocked_links()
    }

    /// Installs the listener told of every change to the cut links.
    pub fn set_partition_listener(&self, listener: PartitionListener) {
        *self.partition_listener.lock() = Some(listener);
    }

    fn tell_partition_listener(&self) {
        let listener = self.partition_listener.lock().clone();
        if let Some(listener) = listener {
            listener(self.blocked_links());
        }
    }

    /// True while packets from `from` cannot reach `to`.
    pub(crate) fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.state.lock().partitions.is_blocked(from, to)
    }

    /// Wakes `waker` at the next heal.
    pub(crate) fn wake_on_heal(&self, waker: &Waker) {
        self.state.lock().partitions.wake_on_heal(waker);
    }

    /// Waits until packets flow both ways between the nodes, as a SYN
    /// would; `TimedOut` after `CONNECT_TIMEOUT_US` of partition.
    pub(crate) async fn wait_for_path(
        &self,
        client: NodeId,
        server: NodeId,
    ) -> std::io::Result<()> {
        let blocked = || self.is_blocked(client, server) || self.is_blocked(server, client);
        if !blocked() {
            return Ok(());
        }
        self.record(EventKind::ConnectStalled {
            from: client,
            to: server,
        });
        let healed = std::future::poll_fn(|cx| {
            if !blocked() {
                return std::task::Poll::Ready(());
            }
            self.wake_on_heal(cx.waker());
            // Re-check: a heal between the test and the registration is not lost.
            if blocked() {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        });
        let limit = Duration::from_micros(crate::limits::CONNECT_TIMEOUT_US);
        crate::time::timeout(limit, healed).await.map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out: partitioned",
            )
        })
    }
}
