//! [`FailureInjector`]: the seeded source of every fault decision, and the
//! record of them all.
//!
//! One injector belongs to one simulated world (or one backend). It is a
//! facade over crate-private parts, one per concern, all behind one lock
//! (so a decision and its record are atomic, and draws and events happen
//! in the order of the calls):
//!
//! - `registry`: the nodes, their addresses, and the connection slots
//!   behind `MAX_CONNECTIONS_PER_NODE`;
//! - `links`: each directed link's `LinkModel` and the simulated byte path
//!   (`plan_segment`, `segment_delivered`, `handshake_delay`);
//! - `partitions`: cut links and the partitions covering them, heal
//!   waiters, the [`PartitionListener`];
//! - `rpc`: message-level faults ([`RpcFaults`]) and each RPC's
//!   [`RpcFate`];
//! - `rng`: where the decisions' randomness comes from;
//!
//! and the event log (`trace::EventLog`), kept here with the clock.
//! Under `cfg(madsim)` the randomness is the simulator's seeded RNG, so a
//! seed replays every decision.

mod links;
mod partitions;
mod registry;
mod rng;
mod rpc;

use std::sync::Arc;
#[cfg(madsim)]
use std::time::Duration;

use parking_lot::Mutex;

use crate::time::Instant;
use crate::trace::{Counters, Event, EventKind, EventLog};

pub use links::DEFAULT_BASE_LATENCY;
#[cfg(madsim)]
pub(crate) use links::WritePlan;
pub use partitions::PartitionListener;
pub(crate) use registry::ConnectionSlot;
pub use rpc::{RpcFate, RpcFaults};

use links::Links;
use partitions::Partitions;
use registry::Registry;
use rng::RngSource;
use rpc::RpcFaultTable;

/// The parts, under the injector's one lock.
struct State {
    registry: Registry,
    links: Links,
    partitions: Partitions,
    rpc: RpcFaultTable,
    log: EventLog,
    rng: RngSource,
}

/// See the module docs. Cheap to share: clone the `Arc`.
pub struct FailureInjector {
    epoch: Instant,
    state: Mutex<State>,
    partition_listener: Mutex<Option<PartitionListener>>,
}

impl FailureInjector {
    fn with_rng(rng: RngSource) -> Arc<Self> {
        Arc::new(FailureInjector {
            epoch: Instant::now(),
            partition_listener: Mutex::new(None),
            state: Mutex::new(State {
                registry: Registry::default(),
                links: Links::default(),
                partitions: Partitions::default(),
                rpc: RpcFaultTable::default(),
                log: EventLog::default(),
                rng,
            }),
        })
    }

    /// An injector whose decisions come from `seed` (real-network backends).
    pub fn seeded(seed: u64) -> Arc<Self> {
        Self::with_rng(RngSource::seeded(seed))
    }

    /// An injector drawing from the running simulation's seeded RNG.
    #[cfg(madsim)]
    pub(crate) fn simulated() -> Arc<Self> {
        Self::with_rng(RngSource::Simulator)
    }

    /// The injector of the current simulation (under `cfg(madsim)`) or of the
    /// current node's backend (otherwise), if any.
    pub fn current() -> Option<Arc<Self>> {
        crate::context::current_injector()
    }

    /// Nanoseconds since this injector was created (simulated under madsim).
    pub fn now_ns(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    #[cfg(madsim)]
    pub(crate) fn instant_at_ns(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    // ---- the log ---------------------------------------------------------

    /// Records an event at the current time.
    pub fn record(&self, kind: EventKind) {
        let now_ns = self.now_ns();
        self.state.lock().log.record(now_ns, kind);
    }

    /// Records a free-form note (a nemesis step, a harness decision).
    pub fn note(&self, text: impl Into<String>) {
        self.record(EventKind::Note { text: text.into() });
    }

    pub fn counters(&self) -> Counters {
        self.state.lock().log.counters().clone()
    }

    /// The retained events, oldest first (see `MAX_EVENTS_RETAINED`).
    pub fn events(&self) -> Vec<Event> {
        self.state.lock().log.events().cloned().collect()
    }

    /// Hash of every event and segment so far: equal seeds give equal hashes.
    pub fn trace_hash(&self) -> u64 {
        self.state.lock().log.trace_hash()
    }
}

impl std::fmt::Debug for FailureInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("FailureInjector")
            .field("nodes", &st.registry.len())
            .field("impaired_links", &st.links.len())
            .field("blocked_links", &st.partitions.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Partition;
    use crate::limits::MAX_NODES;
    use crate::{LinkImpairment, NetError};
    use std::net::{IpAddr, Ipv4Addr};

    fn injector_with_nodes(count: u8) -> Arc<FailureInjector> {
        let injector = FailureInjector::seeded(1);
        for i in 0..count {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, i + 1));
            injector.register_node(&format!("n{i}"), ip).unwrap();
        }
        injector
    }

    #[test]
    fn overlapping_partitions_heal_independently() {
        let injector = injector_with_nodes(3);
        let wide = injector
            .partition(
                &Partition::Split {
                    side_a: vec![0],
                    side_b: vec![1, 2],
                },
                None,
            )
            .unwrap();
        let narrow = injector
            .partition(&Partition::TwoWay { a: 0, b: 1 }, None)
            .unwrap();
        injector.heal(Some(narrow));
        assert!(
            injector.is_blocked(0, 1),
            "the wide cut still covers 0 -> 1"
        );
        assert!(injector.is_blocked(2, 0));
        injector.heal(Some(wide));
        assert!(!injector.is_blocked(0, 1) && !injector.is_blocked(2, 0));
        let healed = injector.counters().events;
        injector.heal(Some(wide));
        assert_eq!(
            injector.counters().events,
            healed,
            "healing twice records nothing"
        );
    }

    #[test]
    fn unknown_nodes_and_node_cap_are_typed_errors() {
        let injector = injector_with_nodes(2);
        assert_eq!(
            injector.set_link(0, 5, LinkImpairment::lan()),
            Err(NetError::UnknownNode(5))
        );
        let cut = injector.partition(&Partition::OneWay { from: 0, to: 9 }, None);
        assert_eq!(cut, Err(NetError::UnknownNode(9)));
        for i in 2..MAX_NODES {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, i as u8));
            injector.register_node("n", ip).unwrap();
        }
        let over = injector.register_node("over", IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1)));
        assert_eq!(over, Err(NetError::NodeLimit { limit: MAX_NODES }));
    }

    #[test]
    fn rpc_faults_are_seeded_validated_and_recorded() {
        let fates = |seed| {
            let injector = FailureInjector::seeded(seed);
            injector
                .register_node("a", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
                .unwrap();
            injector
                .register_node("b", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
                .unwrap();
            let faults = RpcFaults {
                drop_percent: 20.0,
                duplicate_percent: 10.0,
                delay_percent: 10.0,
                delay_max_us: 5_000,
            };
            injector.set_rpc_faults(None, faults).unwrap();
            let fates: Vec<RpcFate> = (0..1_000).map(|_| injector.rpc_fate(0, 1)).collect();
            (fates, injector.counters())
        };
        let (first, counters) = fates(3);
        assert_eq!(first, fates(3).0, "same seed, same fates");
        let dropped = first.iter().filter(|f| **f == RpcFate::Drop).count();
        assert!(
            (150..250).contains(&dropped),
            "{dropped} of 1000 dropped at 20%"
        );
        assert_eq!(counters.rpcs_dropped, dropped as u64);
        let bad = RpcFaults {
            drop_percent: 101.0,
            ..Default::default()
        };
        assert!(
            FailureInjector::seeded(1)
                .set_rpc_faults(None, bad)
                .is_err()
        );
    }
}
