//! Node clocks that drift: each simulated node may read time through its
//! own clock, running faster or slower than simulated time.
//!
//! madsim has one clock for the whole simulation, so on its own no node's
//! clock can disagree with another's. Real clocks do disagree: a
//! monotonic clock is slewed by NTP, a VM's stalls, a bad oscillator. Code
//! that trusts elapsed time across nodes (a leader lease, a TTL) is only
//! tested when they do. A node's clock is piecewise linear: from the
//! simulated instant of its last rate change it advances `rate_permille`
//! / 1000 as fast as simulated time, so it never jumps and never runs
//! backwards.
//!
//! The clocks live in a thread-local keyed by the runtime's `NetSim`, as
//! the world does. Reading a clock costs one thread-local check until some
//! node of the running simulation drifts.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use madsim::net::NetSim;

use crate::clock::{ClockState, RATE_PERMILLE, TRUE_RATE_PERMILLE};

/// One node's clock: `local_at_anchor` at `sim_anchor`, then advancing at
/// `rate_permille`.
#[derive(Debug, Clone, Copy)]
struct NodeClock {
    sim_anchor: Instant,
    local_at_anchor: Instant,
    rate_permille: u32,
    /// Reads by the node's own code while its clock ran off true rate:
    /// zero means the drift never reached it (it reads another clock).
    reads: u64,
}

impl NodeClock {
    fn read(&self, sim_now: Instant) -> Instant {
        let sim_elapsed = sim_now.saturating_duration_since(self.sim_anchor);
        self.local_at_anchor + scale(sim_elapsed, self.rate_permille, TRUE_RATE_PERMILLE)
    }
}

/// `duration * numerator / denominator`, rounded up (a sleep mapped onto
/// another clock never wakes before its deadline).
fn scale(duration: Duration, numerator: u32, denominator: u32) -> Duration {
    let nanos = (duration.as_nanos() * u128::from(numerator)).div_ceil(u128::from(denominator));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

struct Clocks {
    net: Weak<NetSim>,
    nodes: BTreeMap<madsim::task::NodeId, NodeClock>,
}

thread_local! {
    /// `None` until a node of the running simulation drifts.
    static CLOCKS: RefCell<Option<Clocks>> = const { RefCell::new(None) };
}

/// A new simulation starts with true clocks everywhere.
pub(crate) fn reset() {
    CLOCKS.with(|clocks| clocks.borrow_mut().take());
}

/// Runs `read` on the current node's clock, if it has one.
fn with_current<T>(read: impl FnOnce(&mut NodeClock) -> T) -> Option<T> {
    CLOCKS.with(|clocks| {
        let mut clocks = clocks.borrow_mut();
        let table = clocks.as_mut()?;
        // A dead runtime's clocks must not leak into the next simulation
        // on this thread (a new world resets them too).
        if table.net.strong_count() == 0 {
            *clocks = None;
            return None;
        }
        // Outside a task (a runtime's own set-up) there is no node: true time.
        madsim::runtime::Handle::try_current().ok()?;
        table.nodes.get_mut(&madsim::plugin::node()).map(read)
    })
}

/// The current node's clock.
pub fn now() -> Instant {
    let sim_now = Instant::now();
    with_current(|clock| {
        clock.reads += u64::from(clock.rate_permille != TRUE_RATE_PERMILLE);
        clock.read(sim_now)
    })
    .unwrap_or(sim_now)
}

/// How much simulated time passes while the current node's clock advances
/// `local`.
pub fn sim_duration(local: Duration) -> Duration {
    with_current(|clock| scale(local, TRUE_RATE_PERMILLE, clock.rate_permille)).unwrap_or(local)
}

/// Where `node`'s clock stands.
pub(crate) fn state(node: madsim::task::NodeId) -> ClockState {
    let sim_now = Instant::now();
    CLOCKS.with(|clocks| {
        let clocks = clocks.borrow();
        let Some(clock) = clocks.as_ref().and_then(|table| table.nodes.get(&node)) else {
            return ClockState::default();
        };
        let local = clock.read(sim_now);
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let skew_ns = if local >= sim_now {
            nanos(local - sim_now)
        } else {
            -nanos(sim_now - local)
        };
        ClockState {
            rate_permille: clock.rate_permille,
            skew_ns,
            drifted_reads: clock.reads,
        }
    })
}

/// From now on `node`'s clock runs at `rate_permille`, continuing from
/// where it reads now. Checked by the caller against [`RATE_PERMILLE`].
pub(crate) fn set_rate(net: &Arc<NetSim>, node: madsim::task::NodeId, rate_permille: u32) {
    debug_assert!(RATE_PERMILLE.contains(&rate_permille));
    let sim_now = Instant::now();
    CLOCKS.with(|clocks| {
        let mut clocks = clocks.borrow_mut();
        let stale = clocks
            .as_ref()
            .is_none_or(|table| !table.net.upgrade().is_some_and(|t| Arc::ptr_eq(&t, net)));
        if stale {
            *clocks = None;
        }
        let table = clocks.get_or_insert_with(|| Clocks {
            net: Arc::downgrade(net),
            nodes: BTreeMap::new(),
        });
        let (local_now, reads) = table
            .nodes
            .get(&node)
            .map_or((sim_now, 0), |clock| (clock.read(sim_now), clock.reads));
        table.nodes.insert(
            node,
            NodeClock {
                sim_anchor: sim_now,
                local_at_anchor: local_now,
                rate_permille,
                reads,
            },
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_up_so_a_mapped_sleep_is_never_short() {
        let third = scale(Duration::from_nanos(10), 1_000, 3_000);
        assert_eq!(third, Duration::from_nanos(4));
        assert_eq!(
            scale(Duration::from_secs(2), 250, 1_000),
            Duration::from_millis(500)
        );
        assert_eq!(
            scale(Duration::from_millis(500), 1_000, 250),
            Duration::from_secs(2)
        );
    }
}
