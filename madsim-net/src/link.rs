//! The model of one directed link under a [`LinkImpairment`]: when each
//! segment of a TCP byte stream is delivered.
//!
//! TCP never loses, duplicates or reorders bytes, so every packet-level fault
//! becomes time: loss and corruption cost retransmission timeouts, reordering
//! costs a reassembly hold, duplication costs a second transmission slot, the
//! rate limiter spreads segments over time. Pure and clock-free: the caller
//! passes `now_ns` and a source of randomness.

use crate::LinkImpairment;
use crate::backend::NodeId;
use crate::limits::{MAX_RETRANSMITS, RTO_MAX_US, RTO_MIN_US};
use crate::trace::EventKind;

/// Bytes that may wait in a rate-limited link's queue when the impairment
/// sets no `queue_limit_bytes`.
pub const DEFAULT_QUEUE_LIMIT_BYTES: u64 = 1024 * 1024;

/// A source of uniform 64-bit randomness (the simulator's seeded RNG).
pub trait Dice {
    fn next_u64(&mut self) -> u64;

    /// True with probability `percent / 100`.
    fn chance(&mut self, percent: f64) -> bool {
        if percent <= 0.0 {
            return false;
        }
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit * 100.0 < percent
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high);
        let span = high - low;
        if span == 0 {
            return low;
        }
        low + self.next_u64() % (span + 1)
    }
}

/// When a segment arrives, or that the stream gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentFate {
    DeliverAtNs(u64),
    /// Retransmitted `MAX_RETRANSMITS` times without success: reset the stream.
    Reset,
}

/// One directed link's impairment plus its rate limiter state.
#[derive(Debug, Clone)]
pub struct LinkModel {
    impairment: LinkImpairment,
    /// Rate limiter's theoretical finish time of everything queued (GCRA).
    queue_tail_ns: u64,
}

impl LinkModel {
    pub fn new(impairment: LinkImpairment) -> Self {
        LinkModel {
            impairment,
            queue_tail_ns: 0,
        }
    }

    pub fn impairment(&self) -> &LinkImpairment {
        &self.impairment
    }

    pub fn set_impairment(&mut self, impairment: LinkImpairment) {
        self.impairment = impairment;
    }

    /// Time needed to send `bytes` at the configured rate.
    fn transmit_ns(&self, bytes: u64) -> u64 {
        let rate = self.impairment.rate_bits_per_sec();
        if rate == 0 {
            return 0;
        }
        let ns = u128::from(bytes) * 8 * 1_000_000_000 / u128::from(rate);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    fn queue_limit_bytes(&self) -> u64 {
        match self.impairment.queue_limit_bytes() {
            0 => DEFAULT_QUEUE_LIMIT_BYTES,
            limit => limit,
        }
    }

    /// The earliest time a writer may hand this link more data: before it,
    /// the rate limiter's queue is over its limit. `None` means now.
    pub fn writable_at_ns(&self, now_ns: u64) -> Option<u64> {
        if self.impairment.rate_bits_per_sec() == 0 {
            return None;
        }
        let allowance = self.transmit_ns(self.impairment.burst_bytes() + self.queue_limit_bytes());
        let ready = self.queue_tail_ns.saturating_sub(allowance);
        (ready > now_ns).then_some(ready)
    }

    /// Schedules one segment of `bytes` sent at `now_ns`, pushing the
    /// decisions taken onto `events`.
    pub fn plan_segment(
        &mut self,
        link: (NodeId, NodeId),
        now_ns: u64,
        bytes: u64,
        dice: &mut dyn Dice,
        events: &mut Vec<EventKind>,
    ) -> SegmentFate {
        let (from, to) = link;
        let imp = self.impairment;
        let sent_ns = self.rate_limit(now_ns, bytes);

        let mut retransmits = 0u32;
        let mut penalty_us = 0u64;
        let mut rto_us = self.rto_us();
        let loss_percent = (imp.loss_percent() + imp.corrupt_percent()).min(100.0);
        while dice.chance(loss_percent) {
            retransmits += 1;
            if retransmits > MAX_RETRANSMITS {
                return SegmentFate::Reset;
            }
            penalty_us = penalty_us.saturating_add(rto_us);
            rto_us = (rto_us * 2).min(RTO_MAX_US);
        }
        if retransmits > 0 {
            events.push(EventKind::Lost {
                from,
                to,
                retransmits,
                penalty_us,
            });
        }

        let low = imp.latency_us().saturating_sub(imp.jitter_us());
        let high = imp.latency_us().saturating_add(imp.jitter_us());
        let mut delay_us = dice.between(low, high).saturating_add(penalty_us);

        if dice.chance(imp.reorder_percent()) {
            let hold_us = imp.jitter_us().max(imp.latency_us() / 2).max(1_000);
            delay_us = delay_us.saturating_add(hold_us);
            events.push(EventKind::Reordered { from, to, hold_us });
        }
        if dice.chance(imp.duplicate_percent()) {
            // The copy costs link time; the receiver's TCP discards it.
            self.rate_limit(now_ns, bytes);
            events.push(EventKind::Duplicated { from, to });
        }
        let deliver_ns = sent_ns.saturating_add(delay_us.saturating_mul(1_000));
        events.push(EventKind::Delayed {
            from,
            to,
            bytes,
            delay_us: (deliver_ns - now_ns) / 1_000,
        });
        SegmentFate::DeliverAtNs(deliver_ns)
    }

    /// Token bucket as GCRA: returns when the segment has left the queue.
    fn rate_limit(&mut self, now_ns: u64, bytes: u64) -> u64 {
        if self.impairment.rate_bits_per_sec() == 0 {
            return now_ns;
        }
        let burst_ns = self.transmit_ns(self.impairment.burst_bytes());
        self.queue_tail_ns = self.queue_tail_ns.max(now_ns) + self.transmit_ns(bytes);
        self.queue_tail_ns.saturating_sub(burst_ns).max(now_ns)
    }

    /// First retransmission timeout: Linux's floor, or two round trips on a
    /// slow link.
    fn rto_us(&self) -> u64 {
        let imp = &self.impairment;
        let srtt = 2 * imp.latency_us() + 4 * imp.jitter_us();
        srtt.clamp(RTO_MIN_US, RTO_MAX_US)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic xorshift for tests.
    struct TestDice(u64);
    impl Dice for TestDice {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn deliver(fate: SegmentFate) -> u64 {
        match fate {
            SegmentFate::DeliverAtNs(ns) => ns,
            SegmentFate::Reset => panic!("unexpected reset"),
        }
    }

    #[test]
    fn latency_and_jitter_stay_in_bounds_and_use_the_range() {
        let imp = LinkImpairment::builder()
            .latency_ms(50)
            .jitter_ms(10)
            .build()
            .unwrap();
        let mut link = LinkModel::new(imp);
        let mut dice = TestDice(7);
        let mut events = Vec::new();
        let delays: Vec<u64> = (0..2_000)
            .map(|_| deliver(link.plan_segment((0, 1), 0, 100, &mut dice, &mut events)))
            .collect();
        let min = *delays.iter().min().unwrap();
        let max = *delays.iter().max().unwrap();
        assert!(min >= 40_000_000 && max <= 60_000_000, "{min}..{max}");
        assert!(
            min < 41_000_000 && max > 59_000_000,
            "jitter range unused: {min}..{max}"
        );
        assert_eq!(events.len(), 2_000);
    }

    #[test]
    fn rate_limit_spreads_bytes_at_the_configured_rate() {
        let imp = LinkImpairment::builder()
            .rate_bits_per_sec(10_000_000)
            .build()
            .unwrap();
        let mut link = LinkModel::new(imp);
        let mut dice = TestDice(3);
        let mut events = Vec::new();
        let mut last = 0;
        for _ in 0..64 {
            last = deliver(link.plan_segment((0, 1), 0, 16 * 1024, &mut dice, &mut events));
        }
        // 1 MiB at 10 Mbit/s = 0.8388608 s.
        assert_eq!(last, 838_860_800);
        assert!(
            link.writable_at_ns(0).is_none(),
            "1 MiB fits the default queue"
        );
        link.plan_segment((0, 1), 0, 16 * 1024, &mut dice, &mut events);
        assert!(link.writable_at_ns(0).is_some());
    }

    #[test]
    fn certain_loss_resets_the_stream() {
        let imp = LinkImpairment::builder()
            .loss_percent(100.0)
            .build()
            .unwrap();
        let mut link = LinkModel::new(imp);
        let mut events = Vec::new();
        let fate = link.plan_segment((0, 1), 0, 10, &mut TestDice(9), &mut events);
        assert_eq!(fate, SegmentFate::Reset);
    }

    #[test]
    fn loss_costs_retransmission_time() {
        let imp = LinkImpairment::builder()
            .loss_percent(50.0)
            .build()
            .unwrap();
        let mut link = LinkModel::new(imp);
        let mut dice = TestDice(11);
        let mut events = Vec::new();
        let mut lost = 0;
        for _ in 0..1_000 {
            let at = deliver(link.plan_segment((0, 1), 0, 10, &mut dice, &mut events));
            if at > 0 {
                lost += 1;
                assert!(at >= RTO_MIN_US * 1_000);
            }
        }
        assert!((400..600).contains(&lost), "lost {lost} of 1000 at 50%");
    }
}
