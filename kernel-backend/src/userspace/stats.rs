//! Counters of the relay, per directed link and overall.
//!
//! The relay thread is the only writer; callers get copies through the
//! control channel, so no counter needs an atomic.

use serde::{Deserialize, Serialize};

/// What happened on one directed link (source port to destination port).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    /// Packets read from the source port and routed onto this link.
    pub packets_in: u64,
    pub bytes_in: u64,
    /// Packets written to the destination port (duplicates included).
    pub delivered_packets: u64,
    pub delivered_bytes: u64,
    /// Dropped by the loss model.
    pub dropped_loss: u64,
    /// Dropped because the link is blocked (partition).
    pub dropped_partition: u64,
    /// Dropped because the rate limiter's queue was full.
    pub dropped_queue_full: u64,
    /// Dropped because the relay's global buffer budget was exhausted.
    pub dropped_overflow: u64,
    /// Dropped because the destination refused the write (full socket or
    /// TUN queue, device down).
    pub dropped_write: u64,
    /// Dropped because the destination port was removed while they waited.
    pub dropped_no_port: u64,
    /// Extra copies made by the duplicate model.
    pub duplicated: u64,
    /// Packets sent ahead of the delayed queue by the reorder model.
    pub reordered: u64,
    /// Packets with one payload bit flipped.
    pub corrupted: u64,
}

/// Sums counters, e.g. over every link of a relay.
impl std::ops::AddAssign for LinkStats {
    fn add_assign(&mut self, link: LinkStats) {
        self.packets_in += link.packets_in;
        self.bytes_in += link.bytes_in;
        self.delivered_packets += link.delivered_packets;
        self.delivered_bytes += link.delivered_bytes;
        self.dropped_loss += link.dropped_loss;
        self.dropped_partition += link.dropped_partition;
        self.dropped_queue_full += link.dropped_queue_full;
        self.dropped_overflow += link.dropped_overflow;
        self.dropped_write += link.dropped_write;
        self.dropped_no_port += link.dropped_no_port;
        self.duplicated += link.duplicated;
        self.reordered += link.reordered;
        self.corrupted += link.corrupted;
    }
}

impl LinkStats {
    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss
            + self.dropped_partition
            + self.dropped_queue_full
            + self.dropped_overflow
            + self.dropped_write
            + self.dropped_no_port
    }
}

/// Relay-wide counters and gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStats {
    /// Ports currently attached.
    pub ports: u64,
    /// Packets read from any port.
    pub packets_read: u64,
    /// Dropped: too short, not IPv4, or inconsistent header lengths.
    pub dropped_malformed: u64,
    /// Dropped: the destination address belongs to no port.
    pub dropped_unroutable: u64,
    /// Read errors other than "would block".
    pub read_errors: u64,
    /// Ports whose fd kept failing and was taken out of the poll set.
    pub ports_disabled: u64,
    /// Packets and bytes (buffer capacity) held for later delivery right now.
    pub buffered_packets: u64,
    pub buffered_bytes: u64,
    /// The most bytes ever buffered at once.
    pub peak_buffered_bytes: u64,
    /// Packets delivered from the timer queue, and how late they were in
    /// total and at worst (timer and scheduling latency of the relay).
    pub scheduled_deliveries: u64,
    pub total_lateness_ns: u64,
    pub max_lateness_ns: u64,
}
