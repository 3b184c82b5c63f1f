//! [`FailureInjector`]: the seeded source of every fault decision, and the
//! record of them all.
//!
//! One injector belongs to one simulated world (or one backend). It holds the
//! node registry, per-link impairments, partitions, RPC-level faults, the
//! connection counts behind `MAX_CONNECTIONS_PER_NODE`, and the event log.
//! Under `cfg(madsim)` its randomness is the simulator's seeded RNG, so a
//! seed replays every decision.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::backend::{NodeId, Partition, PartitionId};
use crate::limits::{MAX_CONNECTIONS_PER_NODE, MAX_NODES};
#[cfg(madsim)]
use crate::link::SegmentFate;
use crate::link::{Dice, LinkModel};
use crate::time::Instant;
use crate::trace::{Counters, Event, EventKind, EventLog};
use crate::{LinkImpairment, NetError};

/// Message-level faults for the RPC layer (issue B's RaftNetwork applies them
/// through [`FailureInjector::rpc_fate`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcFaults {
    pub drop_percent: f64,
    pub duplicate_percent: f64,
    pub delay_percent: f64,
    /// A delayed RPC waits uniformly in `[0, delay_max_us]`.
    pub delay_max_us: u64,
}

impl RpcFaults {
    pub fn validate(&self) -> Result<(), NetError> {
        for (name, value) in [
            ("drop_percent", self.drop_percent),
            ("duplicate_percent", self.duplicate_percent),
            ("delay_percent", self.delay_percent),
        ] {
            if !value.is_finite() || !(0.0..=100.0).contains(&value) {
                return Err(NetError::InvalidImpairment(format!(
                    "rpc {name} = {value} is not a percentage in [0, 100]"
                )));
            }
        }
        if self.delay_max_us > crate::impairment::MAX_LATENCY_US {
            return Err(NetError::InvalidImpairment(format!(
                "rpc delay_max_us = {} exceeds {}",
                self.delay_max_us,
                crate::impairment::MAX_LATENCY_US
            )));
        }
        Ok(())
    }
}

/// What the RPC layer should do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFate {
    Deliver,
    Drop,
    Delay(Duration),
    Duplicate,
}

/// A segment's schedule on a link, as the simulated stream needs it.
#[cfg(madsim)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WritePlan {
    /// Deliver no earlier than this many ns after the injector's epoch.
    DeliverAtNs(u64),
    /// The rate limiter's queue is full until then: try again.
    WaitUntilNs(u64),
    Reset,
}

#[derive(Debug, Clone)]
struct NodeInfo {
    name: String,
    ip: IpAddr,
    open_connections: usize,
}

enum RngSource {
    #[cfg(madsim)]
    Simulator,
    Seeded(Box<rand08::rngs::StdRng>),
}

impl Dice for RngSource {
    fn next_u64(&mut self) -> u64 {
        use rand08::RngCore;
        match self {
            #[cfg(madsim)]
            RngSource::Simulator => madsim::rand::thread_rng().next_u64(),
            RngSource::Seeded(rng) => rng.next_u64(),
        }
    }
}

struct State {
    nodes: Vec<NodeInfo>,
    by_ip: BTreeMap<IpAddr, NodeId>,
    links: BTreeMap<(NodeId, NodeId), LinkModel>,
    /// Cut links, each with the partitions that cut it: a link reopens only
    /// when every partition covering it has healed.
    blocked: BTreeMap<(NodeId, NodeId), BTreeSet<PartitionId>>,
    rpc_faults: BTreeMap<(NodeId, NodeId), RpcFaults>,
    rpc_default: RpcFaults,
    next_epoch: PartitionId,
    heal_waiters: Vec<Waker>,
    log: EventLog,
    rng: RngSource,
    base_latency_ns: u64,
    #[cfg(madsim)]
    scratch: Vec<EventKind>,
}

/// See the module docs. Cheap to share: clone the `Arc`.
pub struct FailureInjector {
    epoch: Instant,
    state: Mutex<State>,
    partition_listener: Mutex<Option<PartitionListener>>,
}

/// Told the full set of cut directed links after every partition and heal
/// (a backend whose network enforces partitions follows the injector).
pub type PartitionListener = Arc<dyn Fn(Vec<(NodeId, NodeId)>) + Send + Sync>;

/// One-way delay of an unimpaired link: a LAN hop. Kept at 1 ms, madsim's
/// own timer floor, so clean links cost the same simulated time as madsim's.
pub const DEFAULT_BASE_LATENCY: Duration = Duration::from_millis(1);

impl FailureInjector {
    fn with_rng(rng: RngSource) -> Arc<Self> {
        Arc::new(FailureInjector {
            epoch: Instant::now(),
            partition_listener: Mutex::new(None),
            state: Mutex::new(State {
                nodes: Vec::new(),
                by_ip: BTreeMap::new(),
                links: BTreeMap::new(),
                blocked: BTreeMap::new(),
                rpc_faults: BTreeMap::new(),
                rpc_default: RpcFaults::default(),
                next_epoch: 1,
                heal_waiters: Vec::new(),
                log: EventLog::default(),
                rng,
                base_latency_ns: DEFAULT_BASE_LATENCY.as_nanos() as u64,
                #[cfg(madsim)]
                scratch: Vec::new(),
            }),
        })
    }

    /// An injector whose decisions come from `seed` (real-network backends).
    pub fn seeded(seed: u64) -> Arc<Self> {
        use rand08::SeedableRng;
        Self::with_rng(RngSource::Seeded(Box::new(
            rand08::rngs::StdRng::seed_from_u64(seed),
        )))
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

    pub fn set_base_latency(&self, latency: Duration) {
        self.state.lock().base_latency_ns = latency.as_nanos() as u64;
    }

    pub fn base_latency(&self) -> Duration {
        Duration::from_nanos(self.state.lock().base_latency_ns)
    }

    // ---- nodes -----------------------------------------------------------

    /// Registers a node reachable at `ip`; ids are dense from 0.
    pub fn register_node(&self, name: &str, ip: IpAddr) -> Result<NodeId, NetError> {
        let mut st = self.state.lock();
        if let Some(&id) = st.by_ip.get(&ip) {
            return Ok(id);
        }
        if st.nodes.len() >= MAX_NODES {
            return Err(NetError::NodeLimit { limit: MAX_NODES });
        }
        let id = st.nodes.len() as NodeId;
        st.nodes.push(NodeInfo {
            name: name.to_string(),
            ip,
            open_connections: 0,
        });
        st.by_ip.insert(ip, id);
        drop(st);
        self.record(EventKind::NodeAdded { node: id });
        Ok(id)
    }

    /// The node owning `ip`, registering an unknown address as a node of its own.
    pub fn node_for_ip(&self, ip: IpAddr) -> Result<NodeId, NetError> {
        if let Some(&id) = self.state.lock().by_ip.get(&ip) {
            return Ok(id);
        }
        self.register_node(&ip.to_string(), ip)
    }

    pub fn node_ip(&self, node: NodeId) -> Result<IpAddr, NetError> {
        let st = self.state.lock();
        st.nodes
            .get(node as usize)
            .map(|n| n.ip)
            .ok_or(NetError::UnknownNode(node))
    }

    pub fn node_name(&self, node: NodeId) -> Result<String, NetError> {
        let st = self.state.lock();
        st.nodes
            .get(node as usize)
            .map(|n| n.name.clone())
            .ok_or(NetError::UnknownNode(node))
    }

    pub fn node_count(&self) -> usize {
        self.state.lock().nodes.len()
    }

    fn check_node(st: &State, node: NodeId) -> Result<(), NetError> {
        if (node as usize) < st.nodes.len() {
            Ok(())
        } else {
            Err(NetError::UnknownNode(node))
        }
    }

    /// Takes one of `node`'s connection slots; the slot is returned when the
    /// guard drops.
    pub(crate) fn open_connection(
        self: &Arc<Self>,
        node: NodeId,
    ) -> Result<ConnectionSlot, NetError> {
        let mut st = self.state.lock();
        Self::check_node(&st, node)?;
        let info = &mut st.nodes[node as usize];
        if info.open_connections >= MAX_CONNECTIONS_PER_NODE {
            drop(st);
            self.record(EventKind::ConnectionLimit { node });
            return Err(NetError::ConnectionLimit {
                node,
                limit: MAX_CONNECTIONS_PER_NODE,
            });
        }
        info.open_connections += 1;
        Ok(ConnectionSlot {
            injector: Arc::clone(self),
            node,
        })
    }

    pub fn open_connections(&self, node: NodeId) -> usize {
        let st = self.state.lock();
        st.nodes
            .get(node as usize)
            .map_or(0, |n| n.open_connections)
    }

    // ---- links -----------------------------------------------------------

    /// Impairs the directed link `from -> to` (replacing what was there).
    pub fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), NetError> {
        let mut st = self.state.lock();
        Self::check_node(&st, from)?;
        Self::check_node(&st, to)?;
        if impairment.is_none() {
            st.links.remove(&(from, to));
        } else {
            st.links
                .entry((from, to))
                .and_modify(|link| link.set_impairment(impairment))
                .or_insert_with(|| LinkModel::new(impairment));
        }
        drop(st);
        self.record(if impairment.is_none() {
            EventKind::ImpairmentCleared { from, to }
        } else {
            EventKind::ImpairmentSet { from, to }
        });
        Ok(())
    }

    pub fn clear_link(&self, from: NodeId, to: NodeId) -> Result<(), NetError> {
        self.set_link(from, to, LinkImpairment::none())
    }

    /// Impairs every directed link between distinct registered nodes.
    pub fn set_all_links(&self, impairment: LinkImpairment) -> Result<(), NetError> {
        let count = self.node_count() as NodeId;
        for from in 0..count {
            for to in (0..count).filter(|&to| to != from) {
                self.set_link(from, to, impairment)?;
            }
        }
        Ok(())
    }

    pub fn link(&self, from: NodeId, to: NodeId) -> LinkImpairment {
        let st = self.state.lock();
        st.links
            .get(&(from, to))
            .map(|l| *l.impairment())
            .unwrap_or_default()
    }

    /// Links that currently carry an impairment.
    pub fn impaired_links(&self) -> Vec<(NodeId, NodeId, LinkImpairment)> {
        let st = self.state.lock();
        st.links
            .iter()
            .map(|(&(a, b), l)| (a, b, *l.impairment()))
            .collect()
    }

    // ---- partitions --------------------------------------------------------

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
            Self::check_node(&st, from)?;
            Self::check_node(&st, to)?;
        }
        let epoch = st.next_epoch;
        st.next_epoch += 1;
        for &link in &links {
            st.blocked.entry(link).or_default().insert(epoch);
        }
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
        let mut st = self.state.lock();
        let mut healed = BTreeSet::new();
        st.blocked.retain(|_, epochs| {
            epochs.retain(|&epoch| {
                let heal = which.is_none_or(|w| w == epoch);
                if heal {
                    healed.insert(epoch);
                }
                !heal
            });
            !epochs.is_empty()
        });
        let waiters = std::mem::take(&mut st.heal_waiters);
        drop(st);
        let any_healed = !healed.is_empty();
        for epoch in healed {
            self.record(EventKind::PartitionHealed { epoch });
        }
        if any_healed {
            self.tell_partition_listener();
        }
        for waker in waiters {
            waker.wake();
        }
    }

    /// Every directed link that is cut now.
    pub fn blocked_links(&self) -> Vec<(NodeId, NodeId)> {
        self.state.lock().blocked.keys().copied().collect()
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
    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.state.lock().blocked.contains_key(&(from, to))
    }

    /// Wakes `waker` at the next heal.
    pub(crate) fn wake_on_heal(&self, waker: &Waker) {
        let mut st = self.state.lock();
        if !st.heal_waiters.iter().any(|w| w.will_wake(waker)) {
            st.heal_waiters.push(waker.clone());
        }
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

    // ---- RPC-level faults --------------------------------------------------

    /// Sets message-level faults on `from -> to`, or the default for every
    /// link with `None` for both.
    pub fn set_rpc_faults(
        &self,
        link: Option<(NodeId, NodeId)>,
        faults: RpcFaults,
    ) -> Result<(), NetError> {
        faults.validate()?;
        let mut st = self.state.lock();
        match link {
            Some(link) => {
                st.rpc_faults.insert(link, faults);
            }
            None => st.rpc_default = faults,
        }
        Ok(())
    }

    /// Decides the fate of one RPC from `from` to `to`, and records it.
    pub fn rpc_fate(&self, from: NodeId, to: NodeId) -> RpcFate {
        let mut st = self.state.lock();
        let faults = st
            .rpc_faults
            .get(&(from, to))
            .copied()
            .unwrap_or(st.rpc_default);
        if faults == RpcFaults::default() {
            return RpcFate::Deliver;
        }
        let fate = if st.rng.chance(faults.drop_percent) {
            RpcFate::Drop
        } else if st.rng.chance(faults.duplicate_percent) {
            RpcFate::Duplicate
        } else if st.rng.chance(faults.delay_percent) {
            RpcFate::Delay(Duration::from_micros(
                st.rng.between(0, faults.delay_max_us),
            ))
        } else {
            RpcFate::Deliver
        };
        drop(st);
        match fate {
            RpcFate::Deliver => {}
            RpcFate::Drop => self.record(EventKind::RpcDropped { from, to }),
            RpcFate::Duplicate => self.record(EventKind::RpcDuplicated { from, to }),
            RpcFate::Delay(d) => self.record(EventKind::RpcDelayed {
                from,
                to,
                delay_us: d.as_micros() as u64,
            }),
        }
        fate
    }

    // ---- the simulated byte path -------------------------------------------

    /// Schedules one segment of a stream on `from -> to`.
    #[cfg(madsim)]
    pub(crate) fn plan_segment(&self, from: NodeId, to: NodeId, bytes: u64) -> WritePlan {
        let now_ns = self.now_ns();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let base_ns = st.base_latency_ns;
        let Some(link) = st.links.get_mut(&(from, to)) else {
            st.log.record_traffic(now_ns, bytes, false);
            return WritePlan::DeliverAtNs(now_ns + base_ns);
        };
        if let Some(wait) = link.writable_at_ns(now_ns) {
            let wait_us = (wait - now_ns) / 1_000;
            st.log
                .record(now_ns, EventKind::Throttled { from, to, wait_us });
            return WritePlan::WaitUntilNs(wait);
        }
        let mut events = std::mem::take(&mut st.scratch);
        let fate = link.plan_segment((from, to), now_ns, bytes, &mut st.rng, &mut events);
        st.log.record_traffic(now_ns, bytes, false);
        for kind in events.drain(..) {
            st.log.record(now_ns, kind);
        }
        st.scratch = events;
        match fate {
            SegmentFate::DeliverAtNs(at) => WritePlan::DeliverAtNs(at + base_ns),
            SegmentFate::Reset => {
                st.log.record(now_ns, EventKind::StreamReset { from, to });
                WritePlan::Reset
            }
        }
    }

    #[cfg(madsim)]
    pub(crate) fn segment_delivered(&self, bytes: u64) {
        let now_ns = self.now_ns();
        self.state.lock().log.record_traffic(now_ns, bytes, true);
    }

    /// Delay of a TCP handshake on `from <-> to` (one sampled round trip).
    #[cfg(madsim)]
    pub(crate) fn handshake_delay(&self, from: NodeId, to: NodeId) -> Duration {
        let now_ns = self.now_ns();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let mut total_us = 0;
        for link in [(from, to), (to, from)] {
            if let Some(model) = st.links.get(&link) {
                let imp = *model.impairment();
                let low = imp.latency_us().saturating_sub(imp.jitter_us());
                let high = imp.latency_us().saturating_add(imp.jitter_us());
                total_us += st.rng.between(low, high);
            }
        }
        if total_us > 0 {
            st.log.record(
                now_ns,
                EventKind::Handshake {
                    from,
                    to,
                    delay_us: total_us,
                },
            );
        }
        Duration::from_micros(total_us)
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
            .field("nodes", &st.nodes.len())
            .field("impaired_links", &st.links.len())
            .field("blocked_links", &st.blocked.len())
            .finish()
    }
}

/// One of a node's `MAX_CONNECTIONS_PER_NODE` slots, given back on drop.
pub(crate) struct ConnectionSlot {
    injector: Arc<FailureInjector>,
    node: NodeId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut st = self.injector.state.lock();
        if let Some(info) = st.nodes.get_mut(self.node as usize) {
            debug_assert!(info.open_connections > 0);
            info.open_connections = info.open_connections.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
