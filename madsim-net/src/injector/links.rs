//! Each directed link's [`LinkModel`], and the simulated byte path through
//! them: when a stream segment is delivered (`plan_segment`), that it was
//! (`segment_delivered`), and what a TCP handshake costs
//! (`handshake_delay`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::FailureInjector;
use crate::backend::NodeId;
use crate::link::LinkModel;
#[cfg(madsim)]
use crate::link::{Dice, SegmentFate};
use crate::trace::EventKind;
#[cfg(madsim)]
use crate::trace::EventLog;
use crate::{LinkImpairment, NetError};

/// One-way delay of an unimpaired link: a LAN hop. Kept at 1 ms, madsim's
/// own timer floor, so clean links cost the same simulated time as madsim's.
pub const DEFAULT_BASE_LATENCY: Duration = Duration::from_millis(1);

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

/// The impaired links (an unimpaired link has no model) and the base
/// latency every link adds.
pub(crate) struct Links {
    models: BTreeMap<(NodeId, NodeId), LinkModel>,
    base_latency_ns: u64,
    /// The decisions of the segment being planned, reused between segments.
    #[cfg(madsim)]
    scratch: Vec<EventKind>,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            models: BTreeMap::new(),
            base_latency_ns: DEFAULT_BASE_LATENCY.as_nanos() as u64,
            #[cfg(madsim)]
            scratch: Vec::new(),
        }
    }
}

impl Links {
    pub(crate) fn len(&self) -> usize {
        self.models.len()
    }

    /// Replaces the impairment of `from -> to`, keeping the rate limiter's
    /// state; `none` forgets the link.
    fn set(&mut self, from: NodeId, to: NodeId, impairment: LinkImpairment) {
        if impairment.is_none() {
            self.models.remove(&(from, to));
        } else {
            self.models
                .entry((from, to))
                .and_modify(|link| link.set_impairment(impairment))
                .or_insert_with(|| LinkModel::new(impairment));
        }
    }

    fn impairment(&self, from: NodeId, to: NodeId) -> LinkImpairment {
        self.models
            .get(&(from, to))
            .map(|l| *l.impairment())
            .unwrap_or_default()
    }

    fn impaired(&self) -> Vec<(NodeId, NodeId, LinkImpairment)> {
        self.models
            .iter()
            .map(|(&(a, b), l)| (a, b, *l.impairment()))
            .collect()
    }

    /// Schedules one segment sent at `now_ns`, recording the traffic and
    /// every decision in `log`.
    #[cfg(madsim)]
    fn plan_segment(
        &mut self,
        (from, to): (NodeId, NodeId),
        now_ns: u64,
        bytes: u64,
        dice: &mut dyn Dice,
        log: &mut EventLog,
    ) -> WritePlan {
        let base_ns = self.base_latency_ns;
        let Some(link) = self.models.get_mut(&(from, to)) else {
            log.record_traffic(now_ns, bytes, false);
            return WritePlan::DeliverAtNs(now_ns + base_ns);
        };
        if let Some(wait) = link.writable_at_ns(now_ns) {
            let wait_us = (wait - now_ns) / 1_000;
            log.record(now_ns, EventKind::Throttled { from, to, wait_us });
            return WritePlan::WaitUntilNs(wait);
        }
        let fate = link.plan_segment((from, to), now_ns, bytes, dice, &mut self.scratch);
        log.record_traffic(now_ns, bytes, false);
        for kind in self.scratch.drain(..) {
            log.record(now_ns, kind);
        }
        match fate {
            SegmentFate::DeliverAtNs(at) => WritePlan::DeliverAtNs(at + base_ns),
            SegmentFate::Reset => {
                log.record(now_ns, EventKind::StreamReset { from, to });
                WritePlan::Reset
            }
        }
    }

    /// One sampled round trip over the impaired links of `from <-> to`
    /// (recorded unless zero).
    #[cfg(madsim)]
    fn handshake_delay(
        &self,
        (from, to): (NodeId, NodeId),
        now_ns: u64,
        dice: &mut dyn Dice,
        log: &mut EventLog,
    ) -> Duration {
        let mut total_us = 0;
        for link in [(from, to), (to, from)] {
            if let Some(model) = self.models.get(&link) {
                let imp = *model.impairment();
                let low = imp.latency_us().saturating_sub(imp.jitter_us());
                let high = imp.latency_us().saturating_add(imp.jitter_us());
                total_us += dice.between(low, high);
            }
        }
        if total_us > 0 {
            log.record(
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
}

impl FailureInjector {
    pub fn set_base_latency(&self, latency: Duration) {
        self.state.lock().links.base_latency_ns = latency.as_nanos() as u64;
    }

    pub fn base_latency(&self) -> Duration {
        Duration::from_nanos(self.state.lock().links.base_latency_ns)
    }

    /// Impairs the directed link `from -> to` (replacing what was there).
    pub fn set_link(
        &self,
        from: NodeId,
        to: NodeId,
        impairment: LinkImpairment,
    ) -> Result<(), NetError> {
        let mut st = self.state.lock();
        st.registry.check(from)?;
        st.registry.check(to)?;
        st.links.set(from, to, impairment);
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
        self.state.lock().links.impairment(from, to)
    }

    /// Links that currently carry an impairment.
    pub fn impaired_links(&self) -> Vec<(NodeId, NodeId, LinkImpairment)> {
        self.state.lock().links.impaired()
    }

    /// Schedules one segment of a stream on `from -> to`.
    #[cfg(madsim)]
    pub(crate) fn plan_segment(&self, from: NodeId, to: NodeId, bytes: u64) -> WritePlan {
        let now_ns = self.now_ns();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.links
            .plan_segment((from, to), now_ns, bytes, &mut st.rng, &mut st.log)
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
        st.links
            .handshake_delay((from, to), now_ns, &mut st.rng, &mut st.log)
    }
}
