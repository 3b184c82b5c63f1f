//! OpenRaft's clock under madsim: each node's own ([`madsim_net::clock`]).
//!
//! Everything OpenRaft times (election timeouts, heartbeats, the leader
//! lease behind `ReadPolicy::LeaseRead`) goes through the runtime's
//! `Instant`, `sleep` and `timeout`. Here they read and wait on the
//! clock of the node the calling task runs on, so a nemesis that makes a
//! node's clock run slow or fast reaches OpenRaft and the app, and a node
//! whose clock keeps true time sees plain simulated time.

use std::fmt;
use std::future::Future;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use madsim::time::Sleep;

/// An instant on the clock of the node that read it.
///
/// Instants read on different nodes must not be compared: like two
/// machines' monotonic clocks, they need not agree.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeInstant(std::time::Instant);

impl NodeInstant {
    /// The current node's clock now.
    pub fn now() -> Self {
        NodeInstant(madsim_net::clock::now())
    }
}

impl fmt::Debug for NodeInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Add<Duration> for NodeInstant {
    type Output = NodeInstant;
    fn add(self, rhs: Duration) -> NodeInstant {
        NodeInstant(self.0 + rhs)
    }
}

impl AddAssign<Duration> for NodeInstant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Duration> for NodeInstant {
    type Output = NodeInstant;
    fn sub(self, rhs: Duration) -> NodeInstant {
        NodeInstant(self.0 - rhs)
    }
}

impl SubAssign<Duration> for NodeInstant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.0 -= rhs;
    }
}

impl Sub<NodeInstant> for NodeInstant {
    type Output = Duration;
    /// Zero if `rhs` is later, as `std::time::Instant` does.
    fn sub(self, rhs: NodeInstant) -> Duration {
        self.0.saturating_duration_since(rhs.0)
    }
}

impl openraft_rt::Instant for NodeInstant {
    fn now() -> Self {
        NodeInstant::now()
    }
}

/// A sleep until an instant on the current node's clock.
///
/// It waits the simulated time the clock's rate maps the wait to; should
/// the rate change meanwhile, it wakes too early or too late by the
/// difference. Too early it sleeps again for what is left; too late is
/// what a real timer does when its clock is slewed under it.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct NodeSleep {
    deadline: NodeInstant,
    sleep: Sleep,
}

impl NodeSleep {
    pub(crate) fn until(deadline: NodeInstant) -> Self {
        Self::waiting(deadline, deadline - NodeInstant::now())
    }

    /// One clock read, not two: every OpenRaft tick makes a sleep.
    pub(crate) fn new(duration: Duration) -> Self {
        Self::waiting(NodeInstant::now() + duration, duration)
    }

    fn waiting(deadline: NodeInstant, wait: Duration) -> Self {
        NodeSleep {
            deadline,
            sleep: madsim::time::sleep(madsim_net::clock::sim_duration(wait)),
        }
    }
}

impl Future for NodeSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if Pin::new(&mut self.sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            let left = self.deadline - NodeInstant::now();
            if left.is_zero() {
                return Poll::Ready(());
            }
            let wake_at = madsim::time::Instant::now() + madsim_net::clock::sim_duration(left);
            Pin::new(&mut self.sleep).reset(wake_at);
        }
    }
}
