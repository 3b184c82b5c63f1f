//! [`TokenBucket`]: the rate limiter of one directed link, as departure times.
//!
//! Packets leave a rate-limited link in FIFO order, so each packet's
//! departure time is known the moment it arrives. The bucket is kept as the
//! single instant `full_at_ns` at which it would be full again (the "debt"
//! form of a token bucket): at time `t` it holds
//! `burst - (full_at_ns - t) * rate` bytes of tokens. Packets whose departure
//! lies in the future are the link's queue; past `queue_limit_bytes` of them,
//! an arriving packet is refused (tail drop).

use std::collections::VecDeque;

use super::clock::NS_PER_SEC;

/// Smallest default bucket: one Ethernet-MTU packet passes at line speed.
pub const MIN_DEFAULT_BURST_BYTES: u64 = 1_500;
/// Largest default bucket (bursts beyond this must be asked for).
pub const MAX_DEFAULT_BURST_BYTES: u64 = 1 << 20;
/// The default queue holds this much time at the configured rate...
pub const DEFAULT_QUEUE_NS: u64 = 100_000_000;
/// ...but at least this many full-size packets, so slow links still queue.
pub const DEFAULT_QUEUE_MIN_PACKETS: u64 = 4;

/// The rate-limiting stage of one directed link.
#[derive(Debug)]
pub struct TokenBucket {
    rate_bits_per_sec: u64,
    burst_bytes: u64,
    queue_limit_bytes: u64,
    full_at_ns: u64,
    last_departure_ns: u64,
    /// Packets still waiting at some time: (departure, bytes), FIFO.
    backlog: VecDeque<(u64, u32)>,
    backlog_bytes: u64,
}

impl TokenBucket {
    /// A bucket for `rate_bits_per_sec` (0 = unlimited). A zero burst or
    /// queue limit takes the defaults derived from the rate and `mtu_bytes`:
    /// burst = 1 ms at the rate within [1500 B, 1 MiB]; queue = 100 ms at the
    /// rate, at least four MTU-sized packets.
    pub fn new(
        rate_bits_per_sec: u64,
        burst_bytes: u64,
        queue_limit_bytes: u64,
        mtu_bytes: u32,
    ) -> TokenBucket {
        let bytes_per_sec = rate_bits_per_sec / 8;
        let burst_bytes = if burst_bytes == 0 {
            (bytes_per_sec / 1_000).clamp(MIN_DEFAULT_BURST_BYTES, MAX_DEFAULT_BURST_BYTES)
        } else {
            burst_bytes
        };
        let queue_limit_bytes = if queue_limit_bytes == 0 {
            let by_time = bytes_per_sec.saturating_mul(DEFAULT_QUEUE_NS) / NS_PER_SEC;
            by_time.max(DEFAULT_QUEUE_MIN_PACKETS * u64::from(mtu_bytes))
        } else {
            queue_limit_bytes
        };
        TokenBucket {
            rate_bits_per_sec,
            burst_bytes,
            queue_limit_bytes,
            full_at_ns: 0,
            last_departure_ns: 0,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
        }
    }

    /// Changes the settings, keeping the debt and the queue: packets already
    /// accepted keep their departure times.
    pub fn reconfigure(&mut self, fresh: TokenBucket) {
        self.rate_bits_per_sec = fresh.rate_bits_per_sec;
        self.burst_bytes = fresh.burst_bytes;
        self.queue_limit_bytes = fresh.queue_limit_bytes;
    }

    pub fn burst_bytes(&self) -> u64 {
        self.burst_bytes
    }

    pub fn queue_limit_bytes(&self) -> u64 {
        self.queue_limit_bytes
    }

    /// Bytes accepted but not yet departed at `now_ns`.
    pub fn backlog_bytes(&mut self, now_ns: u64) -> u64 {
        self.drain_departed(now_ns);
        self.backlog_bytes
    }

    /// When a packet of `len_bytes` arriving at `now_ns` departs, or `None`
    /// if it would overflow the queue (the bucket is then unchanged).
    pub fn departure_ns(&mut self, now_ns: u64, len_bytes: usize) -> Option<u64> {
        if self.rate_bits_per_sec == 0 {
            return Some(now_ns.max(self.last_departure_ns));
        }
        self.drain_departed(now_ns);
        let len = len_bytes as u64;
        // A packet larger than the bucket may leave once the bucket is full,
        // as in TBF with burst >= MTU; otherwise it would wait forever.
        let credit_ns = self.cost_ns(self.burst_bytes.max(len) - len);
        let earliest_ns = self.full_at_ns.saturating_sub(credit_ns);
        let departure_ns = now_ns.max(earliest_ns).max(self.last_departure_ns);
        if departure_ns > now_ns {
            if self.backlog_bytes + len > self.queue_limit_bytes {
                return None;
            }
            self.backlog.push_back((departure_ns, len_bytes as u32));
            self.backlog_bytes += len;
        }
        self.full_at_ns = self.full_at_ns.max(departure_ns) + self.cost_ns(len);
        self.last_departure_ns = departure_ns;
        Some(departure_ns)
    }

    /// Drops every queued packet from the accounting (their port is gone).
    pub fn forget_backlog(&mut self) {
        self.backlog.clear();
        self.backlog_bytes = 0;
    }

    fn drain_departed(&mut self, now_ns: u64) {
        while let Some(&(departure_ns, bytes)) = self.backlog.front() {
            if departure_ns > now_ns {
                break;
            }
            self.backlog.pop_front();
            self.backlog_bytes -= u64::from(bytes);
        }
    }

    /// Time to send `bytes` at the rate, rounded up so the rate is never exceeded.
    fn cost_ns(&self, bytes: u64) -> u64 {
        assert!(self.rate_bits_per_sec > 0);
        let bits_ns = u128::from(bytes) * 8 * u128::from(NS_PER_SEC);
        let rate = u128::from(self.rate_bits_per_sec);
        bits_ns.div_ceil(rate) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn unlimited_passes_at_once() {
        let mut bucket = TokenBucket::new(0, 0, 0, 1500);
        assert_eq!(bucket.departure_ns(5, 1500), Some(5));
        assert_eq!(bucket.departure_ns(6, 65_000), Some(6));
    }

    #[test]
    fn paces_at_the_rate_after_the_burst() {
        // 10 Mbit/s: a 1250-byte packet takes exactly 1 ms.
        let mut bucket = TokenBucket::new(10_000_000, 2_500, 1 << 20, 1500);
        let start = 1_000 * MS;
        let departures: Vec<u64> = (0..6)
            .map(|_| bucket.departure_ns(start, 1250).expect("fits") - start)
            .collect();
        // Two packets fit in the 2500-byte burst, then one per millisecond.
        assert_eq!(departures, vec![0, 0, MS, 2 * MS, 3 * MS, 4 * MS]);
        // Idle long enough to refill, the burst is available again.
        let later = start + 100 * MS;
        assert_eq!(bucket.departure_ns(later, 1250), Some(later));
        assert_eq!(bucket.departure_ns(later, 1250), Some(later));
        assert_eq!(bucket.departure_ns(later, 1250), Some(later + MS));
    }

    #[test]
    fn long_run_rate_is_exact() {
        let rate = 7_000_000;
        let mut bucket = TokenBucket::new(rate, 0, 1 << 30, 1500);
        let mut last = 0;
        let count = 10_000u64;
        for _ in 0..count {
            last = bucket.departure_ns(0, 1000).expect("fits");
        }
        // Everything after the burst paces at the rate.
        let sent_bits = (count * 1000 - bucket.burst_bytes()) * 8;
        let achieved = sent_bits as f64 * 1e9 / last as f64;
        assert!((achieved / rate as f64 - 1.0).abs() < 1e-3, "{achieved}");
    }

    #[test]
    fn oversized_packet_waits_for_a_full_bucket_only() {
        let mut bucket = TokenBucket::new(8_000_000, 1_000, 1 << 20, 1500);
        // 8 Mbit/s = 1 byte/us. A 5000-byte packet on a full bucket goes now.
        assert_eq!(bucket.departure_ns(MS, 5000), Some(MS));
        // The debt is 5000 bytes: the next 1000-byte packet waits for the
        // bucket to refill to 1000 bytes, i.e. 5000 us.
        assert_eq!(bucket.departure_ns(MS, 1000), Some(MS + 5 * MS));
    }

    #[test]
    fn queue_limit_drops_and_drains() {
        // 8 Mbit/s, 1000-byte burst, 3000 bytes of queue.
        let mut bucket = TokenBucket::new(8_000_000, 1_000, 3_000, 1500);
        let accepted = (0..10)
            .filter(|_| bucket.departure_ns(0, 1000).is_some())
            .count();
        assert_eq!(accepted, 4, "one in the burst, three queued");
        assert_eq!(bucket.backlog_bytes(0), 3000);
        // After 1 ms one queued packet has left, making room for one more.
        assert_eq!(bucket.backlog_bytes(MS), 2000);
        assert!(bucket.departure_ns(MS, 1000).is_some());
        assert!(bucket.departure_ns(MS, 1000).is_none());
    }

    #[test]
    fn defaults_scale_with_the_rate() {
        let slow = TokenBucket::new(1_000_000, 0, 0, 1500);
        assert_eq!(slow.burst_bytes(), MIN_DEFAULT_BURST_BYTES);
        assert_eq!(slow.queue_limit_bytes(), 12_500, "100 ms at 1 Mbit/s");
        let fast = TokenBucket::new(1_000_000_000, 0, 0, 1500);
        assert_eq!(fast.burst_bytes(), 125_000);
        assert_eq!(fast.queue_limit_bytes(), 12_500_000);
    }
}
