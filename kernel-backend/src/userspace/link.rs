//! [`LinkState`]: the decisions of one directed link, free of I/O and clocks.
//!
//! The relay hands each arriving packet to its link with the current time;
//! the link answers where each copy goes: dropped, or delivered at an instant
//! with perhaps one payload bit flipped. The stages, in netem's order:
//! partition, loss, duplication, then per copy corruption, the rate limiter
//! ([`TokenBucket`]) and the delay line (latency ± jitter, FIFO unless
//! reordered).
//!
//! Every random draw comes from the link's own `StdRng`, seeded from the
//! relay seed and the two port numbers, and a draw is made only when its
//! probability is non-zero; so the same packets under the same settings get
//! the same decisions on every run.

use madsim_net::LinkImpairment;
use rand08::rngs::StdRng;
use rand08::{Rng, SeedableRng};

use super::bucket::TokenBucket;
use super::stats::LinkStats;

/// Where one copy of a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// When it should be written to the destination (`CLOCK_MONOTONIC` ns).
    pub deliver_at_ns: u64,
    /// The payload bit to flip, counted from the end of the IP header.
    pub corrupt_bit: Option<usize>,
    /// Sent ahead of the delay line (it does not advance the FIFO clock).
    pub reordered: bool,
}

/// The copies of one packet that survive: none, one, or two (duplicated).
pub type Copies = [Option<Placement>; 2];

/// One directed link: its settings, random stream, shaper, delay line and
/// counters.
#[derive(Debug)]
pub struct LinkState {
    impairment: LinkImpairment,
    blocked: bool,
    rng: StdRng,
    bucket: TokenBucket,
    mtu_bytes: u32,
    /// The latest delivery time handed out on the delay line; later packets
    /// are never delivered before it, which keeps the link FIFO under jitter.
    last_delivery_ns: u64,
    /// Packets of this link sitting in the relay's timer queue.
    pub pending_packets: u64,
    pub stats: LinkStats,
}

impl LinkState {
    pub fn new(seed: u64, from: usize, to: usize, mtu_bytes: u32) -> LinkState {
        LinkState {
            impairment: LinkImpairment::none(),
            blocked: false,
            rng: StdRng::seed_from_u64(link_seed(seed, from, to)),
            bucket: TokenBucket::new(0, 0, 0, mtu_bytes),
            mtu_bytes,
            last_delivery_ns: 0,
            pending_packets: 0,
            stats: LinkStats::default(),
        }
    }

    pub fn impairment(&self) -> LinkImpairment {
        self.impairment
    }

    /// Applies new settings to packets arriving from now on.
    pub fn set_impairment(&mut self, impairment: LinkImpairment) {
        self.impairment = impairment;
        self.bucket.reconfigure(TokenBucket::new(
            impairment.rate_bits_per_sec(),
            impairment.burst_bytes(),
            impairment.queue_limit_bytes(),
            self.mtu_bytes,
        ));
    }

    pub fn set_blocked(&mut self, blocked: bool) {
        self.blocked = blocked;
    }

    /// True when packets can be written straight through: no impairment and
    /// nothing of this link waiting, so nothing can be overtaken.
    pub fn is_clear(&self) -> bool {
        !self.blocked && self.impairment.is_none() && self.pending_packets == 0
    }

    /// The destination port went away: its queued packets are gone.
    pub fn forget_queue(&mut self) {
        self.bucket.forget_backlog();
    }

    /// Decides the fate of a packet of `len_bytes` (with `payload_bytes`
    /// after the IP header) arriving at `now_ns`.
    pub fn admit(&mut self, now_ns: u64, len_bytes: usize, payload_bytes: usize) -> Copies {
        assert!(payload_bytes <= len_bytes);
        self.stats.packets_in += 1;
        self.stats.bytes_in += len_bytes as u64;
        if self.blocked {
            self.stats.dropped_partition += 1;
            return [None, None];
        }
        if self.chance(self.impairment.loss_percent()) {
            self.stats.dropped_loss += 1;
            return [None, None];
        }
        let duplicate = self.chance(self.impairment.duplicate_percent());
        let first = self.place(now_ns, len_bytes, payload_bytes);
        let second = if duplicate {
            self.stats.duplicated += 1;
            self.place(now_ns, len_bytes, payload_bytes)
        } else {
            None
        };
        [first, second]
    }

    /// Corruption, shaping and delay for one copy.
    fn place(&mut self, now_ns: u64, len_bytes: usize, payload_bytes: usize) -> Option<Placement> {
        let corrupt_bit = self.corrupt_bit(payload_bytes);
        let Some(departure_ns) = self.bucket.departure_ns(now_ns, len_bytes) else {
            self.stats.dropped_queue_full += 1;
            return None;
        };
        if corrupt_bit.is_some() {
            self.stats.corrupted += 1;
        }
        let (deliver_at_ns, reordered) = self.delay(departure_ns);
        assert!(deliver_at_ns >= departure_ns && departure_ns >= now_ns);
        Some(Placement {
            deliver_at_ns,
            corrupt_bit,
            reordered,
        })
    }

    /// A packet without payload cannot be corrupted without breaking its
    /// header, so it is left alone.
    fn corrupt_bit(&mut self, payload_bytes: usize) -> Option<usize> {
        if payload_bytes == 0 || !self.chance(self.impairment.corrupt_percent()) {
            return None;
        }
        Some(self.rng.gen_range(0..payload_bytes * 8))
    }

    /// The delay line. A reordered packet leaves at its departure time,
    /// ahead of everything still in flight (netem puts it at the head of the
    /// queue); that only means something when there is a latency to skip.
    fn delay(&mut self, departure_ns: u64) -> (u64, bool) {
        let latency_ns = self.impairment.latency_us() * 1_000;
        if latency_ns > 0 && self.chance(self.impairment.reorder_percent()) {
            self.stats.reordered += 1;
            return (departure_ns, true);
        }
        let sampled_ns = self.sample_delay_ns(latency_ns);
        let deliver_at_ns = (departure_ns + sampled_ns).max(self.last_delivery_ns);
        self.last_delivery_ns = deliver_at_ns;
        (deliver_at_ns, false)
    }

    /// latency ± jitter, uniform, never below zero.
    fn sample_delay_ns(&mut self, latency_ns: u64) -> u64 {
        let jitter_ns = self.impairment.jitter_us() * 1_000;
        if jitter_ns == 0 {
            return latency_ns;
        }
        let offset_ns = self.rng.gen_range(0..=2 * jitter_ns);
        (latency_ns + offset_ns).saturating_sub(jitter_ns)
    }

    fn chance(&mut self, percent: f64) -> bool {
        percent > 0.0 && self.rng.r#gen::<f64>() * 100.0 < percent
    }
}

/// Seeds a link's stream from the relay seed and the port pair
/// (SplitMix64 finalizer, so nearby pairs get unrelated streams).
pub fn link_seed(seed: u64, from: usize, to: usize) -> u64 {
    use madsim_net::stream::splitmix64;
    let pair = ((from as u64) << 32) | to as u64;
    splitmix64(seed ^ splitmix64(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn link(impairment: LinkImpairment) -> LinkState {
        let mut link = LinkState::new(7, 0, 1, 1500);
        link.set_impairment(impairment);
        link
    }

    fn built(builder: madsim_net::impairment::LinkImpairmentBuilder) -> LinkImpairment {
        builder.build().expect("valid impairment")
    }

    #[test]
    fn clear_link_delivers_now() {
        let mut link = link(LinkImpairment::none());
        assert!(link.is_clear());
        let [first, second] = link.admit(5 * MS, 100, 80);
        assert_eq!(first.expect("delivered").deliver_at_ns, 5 * MS);
        assert!(second.is_none());
        assert_eq!(link.stats.packets_in, 1);
    }

    #[test]
    fn jitter_never_breaks_fifo() {
        let mut link = link(built(
            LinkImpairment::builder().latency_ms(20).jitter_ms(15),
        ));
        let mut last = 0;
        for i in 0..5_000u64 {
            let now = i * 100_000; // one packet every 100 us: jitter would reorder
            let at = link.admit(now, 100, 80)[0].expect("no loss").deliver_at_ns;
            assert!(at >= last, "packet {i} overtook its predecessor");
            // The FIFO clamp only raises a delay up to the previous packet's
            // delivery, itself at most latency + jitter after its send.
            assert!((5 * MS..=35 * MS).contains(&(at - now)));
            last = at;
        }
    }

    #[test]
    fn jitter_is_uniform_when_packets_are_sparse() {
        let mut link = link(built(
            LinkImpairment::builder().latency_ms(20).jitter_ms(15),
        ));
        let delays: Vec<u64> = (0..2_000u64)
            .map(|i| {
                let now = 1_000 * MS + i * 50 * MS; // far apart: no FIFO clamping
                link.admit(now, 100, 80)[0].expect("no loss").deliver_at_ns - now
            })
            .collect();
        let min = *delays.iter().min().unwrap();
        let max = *delays.iter().max().unwrap();
        assert!((5 * MS..6 * MS).contains(&min), "min {min}");
        assert!(max <= 35 * MS && max > 34 * MS, "max {max}");
        let mean = delays.iter().sum::<u64>() as f64 / delays.len() as f64;
        // Uniform over 30 ms: sd 8.66 ms, so the mean of 2000 has sd 0.19 ms.
        assert!((mean - 20e6).abs() < 0.6e6, "mean {mean}");
    }

    #[test]
    fn delay_never_below_zero() {
        let mut link = link(built(LinkImpairment::builder().latency_ms(1).jitter_ms(5)));
        for i in 0..1_000u64 {
            let now = i * 10 * MS;
            let at = link.admit(now, 100, 80)[0].expect("no loss").deliver_at_ns;
            assert!(at >= now && at <= now + 6 * MS);
        }
    }

    #[test]
    fn loss_is_reproducible_from_the_seed() {
        let pattern = |seed: u64| -> Vec<bool> {
            let mut link = LinkState::new(seed, 3, 4, 1500);
            link.set_impairment(built(LinkImpairment::builder().loss_percent(10.0)));
            (0..10_000)
                .map(|_| link.admit(0, 100, 80)[0].is_some())
                .collect()
        };
        let a = pattern(42);
        assert_eq!(a, pattern(42));
        assert_ne!(a, pattern(43));
        let lost = a.iter().filter(|delivered| !**delivered).count() as f64;
        // Binomial(10000, 0.1): mean 1000, sd 30.
        assert!((lost - 1000.0).abs() <= 90.0, "lost {lost}");
    }

    #[test]
    fn links_have_independent_streams() {
        assert_ne!(link_seed(1, 0, 1), link_seed(1, 1, 0));
        assert_ne!(link_seed(1, 0, 1), link_seed(2, 0, 1));
    }

    #[test]
    fn reorder_sends_ahead_of_the_delay_line() {
        let mut link = link(built(
            LinkImpairment::builder()
                .latency_ms(10)
                .reorder_percent(25.0),
        ));
        let mut reordered = 0;
        for i in 0..4_000u64 {
            let now = i * 1_000;
            let placed = link.admit(now, 100, 80)[0].expect("no loss");
            if placed.reordered {
                assert_eq!(placed.deliver_at_ns, now);
                reordered += 1;
            } else {
                assert_eq!(placed.deliver_at_ns, now + 10 * MS);
            }
        }
        assert_eq!(link.stats.reordered, reordered);
        // Binomial(4000, 0.25): mean 1000, sd 27.4.
        assert!((reordered as f64 - 1000.0).abs() <= 83.0, "{reordered}");
    }

    #[test]
    fn reorder_needs_latency() {
        let mut link = link(built(LinkImpairment::builder().reorder_percent(100.0)));
        assert!(link.admit(0, 100, 80)[0].is_some_and(|p| !p.reordered));
        assert_eq!(link.stats.reordered, 0);
    }

    #[test]
    fn duplicate_makes_a_second_copy() {
        let mut link = link(built(LinkImpairment::builder().duplicate_percent(100.0)));
        let [first, second] = link.admit(0, 100, 80);
        assert!(first.is_some() && second.is_some());
        assert_eq!(link.stats.duplicated, 1);
    }

    #[test]
    fn corrupt_picks_a_payload_bit() {
        let mut link = link(built(LinkImpairment::builder().corrupt_percent(100.0)));
        for _ in 0..1_000 {
            let bit = link.admit(0, 100, 80)[0].and_then(|p| p.corrupt_bit);
            assert!(bit.is_some_and(|b| b < 80 * 8));
        }
        // No payload: nothing to corrupt without breaking the header.
        assert!(link.admit(0, 20, 0)[0].is_some_and(|p| p.corrupt_bit.is_none()));
        assert_eq!(link.stats.corrupted, 1_000);
    }

    #[test]
    fn rate_then_latency() {
        // 8 Mbit/s = 1 byte/us; 1000-byte burst; 5 ms latency.
        let imp = LinkImpairment::builder()
            .latency_ms(5)
            .rate_bits_per_sec(8_000_000)
            .burst_bytes(1_000);
        let mut link = link(built(imp));
        let times: Vec<u64> = (0..3)
            .map(|_| link.admit(0, 1000, 980)[0].expect("fits").deliver_at_ns)
            .collect();
        assert_eq!(times, vec![5 * MS, 6 * MS, 7 * MS]);
    }

    #[test]
    fn queue_limit_drops_are_counted() {
        let imp = LinkImpairment::builder()
            .rate_bits_per_sec(8_000_000)
            .burst_bytes(1_000)
            .queue_limit_bytes(10_000);
        let mut link = link(built(imp));
        let delivered = (0..100)
            .filter(|_| link.admit(0, 1000, 980)[0].is_some())
            .count();
        assert_eq!(delivered, 11);
        assert_eq!(link.stats.dropped_queue_full, 89);
    }

    #[test]
    fn blocked_link_drops_everything() {
        let mut link = link(LinkImpairment::none());
        link.set_blocked(true);
        assert!(!link.is_clear());
        assert_eq!(link.admit(0, 100, 80), [None, None]);
        assert_eq!(link.stats.dropped_partition, 1);
        link.set_blocked(false);
        assert!(link.admit(0, 100, 80)[0].is_some());
    }
}
