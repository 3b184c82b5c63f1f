//! The event log: every fault decision is an [`Event`], every event bumps a
//! [`Counters`] field, and all of them are folded into one trace hash.
//!
//! The hash is what makes determinism checkable: the same seed must give the
//! same hash, run alone or inside a sweep.

use std::collections::VecDeque;

use serde::Serialize;

use crate::backend::NodeId;
use crate::limits::MAX_EVENTS_RETAINED;

/// One decision or happening, at a simulated (or real) time since the
/// injector was created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub time_ns: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Link events name the directed link `from -> to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    NodeAdded {
        node: NodeId,
    },
    NodeKilled {
        node: NodeId,
    },
    NodeRestarted {
        node: NodeId,
    },
    NodePaused {
        node: NodeId,
    },
    NodeResumed {
        node: NodeId,
    },
    ImpairmentSet {
        from: NodeId,
        to: NodeId,
    },
    ImpairmentCleared {
        from: NodeId,
        to: NodeId,
    },
    PartitionStarted {
        epoch: u64,
        links: u64,
        heal_after_us: Option<u64>,
    },
    PartitionHealed {
        epoch: u64,
    },
    Connected {
        from: NodeId,
        to: NodeId,
    },
    ConnectRefused {
        from: NodeId,
        to: NodeId,
    },
    ConnectStalled {
        from: NodeId,
        to: NodeId,
    },
    ConnectionLimit {
        node: NodeId,
    },
    StreamReset {
        from: NodeId,
        to: NodeId,
    },
    /// A segment's delivery was pushed back by latency, jitter or the rate limit.
    Delayed {
        from: NodeId,
        to: NodeId,
        bytes: u64,
        delay_us: u64,
    },
    /// A segment was lost (or corrupted) and retransmitted `retransmits` times.
    Lost {
        from: NodeId,
        to: NodeId,
        retransmits: u32,
        penalty_us: u64,
    },
    /// A segment was sent twice; the receiver discarded the copy.
    Duplicated {
        from: NodeId,
        to: NodeId,
    },
    /// A segment was held back behind later ones and reassembled.
    Reordered {
        from: NodeId,
        to: NodeId,
        hold_us: u64,
    },
    /// A packet engine's queue (kernel-backend's relay: the link's rate
    /// limiter, or its bounded delay buffer) was full: a packet was dropped.
    /// The stream model back-pressures instead.
    QueueDrop {
        from: NodeId,
        to: NodeId,
    },
    /// A packet engine dropped a packet for `reason` (a full queue is
    /// `QueueDrop`).
    PacketDropped {
        from: NodeId,
        to: NodeId,
        reason: PacketDropReason,
    },
    /// A packet engine flipped one payload bit of a packet and delivered it;
    /// the receiver's checksum then discards it, so it counts as dropped.
    Corrupted {
        from: NodeId,
        to: NodeId,
    },
    /// The rate limiter's queue was full: the writer waits `wait_us`.
    Throttled {
        from: NodeId,
        to: NodeId,
        wait_us: u64,
    },
    /// A connection's handshake took one sampled round trip of an impaired link.
    Handshake {
        from: NodeId,
        to: NodeId,
        delay_us: u64,
    },
    /// Data waited for a partition to heal.
    Stalled {
        from: NodeId,
        to: NodeId,
    },
    FrameRejected {
        node: NodeId,
        reason: FrameRejection,
    },
    RpcDropped {
        from: NodeId,
        to: NodeId,
    },
    RpcDelayed {
        from: NodeId,
        to: NodeId,
        delay_us: u64,
    },
    RpcDuplicated {
        from: NodeId,
        to: NodeId,
    },
    /// The node's clock runs at `rate_permille` / 1000 of true time from now.
    ClockRate {
        node: NodeId,
        rate_permille: u64,
    },
    /// A free-form event from the harness (nemesis steps, checker notes).
    Note {
        text: String,
    },
}

/// Why a packet engine dropped a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketDropReason {
    /// The link's loss model.
    Loss,
    /// The link is cut.
    Partition,
    /// The destination refused the write (full device queue, device down).
    WriteFailed,
    /// The destination went away while the packet waited.
    DestinationGone,
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameRejection {
    Oversize,
    Truncated,
    Garbage,
}

/// Running totals, one per kind of decision. Bytes and segments are counted
/// on every link, impaired or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub segments_sent: u64,
    pub segments_delivered: u64,
    pub bytes_sent: u64,
    pub bytes_delivered: u64,
    pub delayed: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub stalled: u64,
    pub throttled: u64,
    pub connections_opened: u64,
    pub connections_refused: u64,
    pub connection_limit_hits: u64,
    pub streams_reset: u64,
    pub frames_rejected: u64,
    pub rpcs_dropped: u64,
    pub rpcs_delayed: u64,
    pub rpcs_duplicated: u64,
    pub events: u64,
    pub events_evicted: u64,
}

impl Counters {
    fn count(&mut self, kind: &EventKind) {
        self.events += 1;
        match kind {
            EventKind::Connected { .. } => self.connections_opened += 1,
            EventKind::ConnectRefused { .. } => self.connections_refused += 1,
            EventKind::ConnectionLimit { .. } => self.connection_limit_hits += 1,
            EventKind::StreamReset { .. } => self.streams_reset += 1,
            EventKind::Delayed { .. } => self.delayed += 1,
            EventKind::Lost { .. }
            | EventKind::QueueDrop { .. }
            | EventKind::PacketDropped { .. }
            | EventKind::Corrupted { .. } => self.dropped += 1,
            EventKind::Duplicated { .. } => self.duplicated += 1,
            EventKind::Reordered { .. } => self.reordered += 1,
            EventKind::Stalled { .. } => self.stalled += 1,
            EventKind::Throttled { .. } => self.throttled += 1,
            EventKind::FrameRejected { .. } => self.frames_rejected += 1,
            EventKind::RpcDropped { .. } => self.rpcs_dropped += 1,
            EventKind::RpcDelayed { .. } => self.rpcs_delayed += 1,
            EventKind::RpcDuplicated { .. } => self.rpcs_duplicated += 1,
            _ => {}
        }
    }
}

/// A bounded log of events plus counters and the running trace hash.
#[derive(Debug)]
pub struct EventLog {
    retained: VecDeque<Event>,
    counters: Counters,
    hash: TraceHash,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            retained: VecDeque::new(),
            counters: Counters::default(),
            hash: TraceHash::new(),
        }
    }
}

impl EventLog {
    pub fn record(&mut self, time_ns: u64, kind: EventKind) {
        self.counters.count(&kind);
        self.hash.fold_event(time_ns, &kind);
        if self.retained.len() == MAX_EVENTS_RETAINED {
            self.retained.pop_front();
            self.counters.events_evicted += 1;
        }
        self.retained.push_back(Event { time_ns, kind });
    }

    /// Folds traffic that is not an event (an unimpaired segment) into the
    /// counters and the hash, so the hash still sees every byte's timing.
    pub fn record_traffic(&mut self, time_ns: u64, bytes: u64, delivered: bool) {
        if delivered {
            self.counters.segments_delivered += 1;
            self.counters.bytes_delivered += bytes;
        } else {
            self.counters.segments_sent += 1;
            self.counters.bytes_sent += bytes;
        }
        self.hash
            .fold_words(&[0xbeef, time_ns, bytes, u64::from(delivered)]);
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The retained events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.retained.iter()
    }

    pub fn trace_hash(&self) -> u64 {
        self.hash.finish()
    }
}

/// FNV-1a over a compact word encoding of events: cheap enough for every
/// segment, stable across runs and platforms (no `Hash` impls involved).
#[derive(Debug, Clone)]
struct TraceHash(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl TraceHash {
    fn new() -> Self {
        TraceHash(FNV_OFFSET)
    }

    fn fold_bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn fold_words(&mut self, words: &[u64]) {
        for word in words {
            self.fold_bytes(&word.to_le_bytes());
        }
    }

    fn fold_event(&mut self, time_ns: u64, kind: &EventKind) {
        use EventKind::*;
        let words: [u64; 5] = match *kind {
            NodeAdded { node } => [1, node, 0, 0, 0],
            NodeKilled { node } => [2, node, 0, 0, 0],
            NodeRestarted { node } => [3, node, 0, 0, 0],
            NodePaused { node } => [4, node, 0, 0, 0],
            NodeResumed { node } => [5, node, 0, 0, 0],
            ImpairmentSet { from, to } => [6, from, to, 0, 0],
            ImpairmentCleared { from, to } => [7, from, to, 0, 0],
            PartitionStarted {
                epoch,
                links,
                heal_after_us,
            } => [8, epoch, links, heal_after_us.unwrap_or(u64::MAX), 0],
            PartitionHealed { epoch } => [9, epoch, 0, 0, 0],
            Connected { from, to } => [10, from, to, 0, 0],
            ConnectRefused { from, to } => [11, from, to, 0, 0],
            ConnectStalled { from, to } => [12, from, to, 0, 0],
            ConnectionLimit { node } => [13, node, 0, 0, 0],
            StreamReset { from, to } => [14, from, to, 0, 0],
            Delayed {
                from,
                to,
                bytes,
                delay_us,
            } => [15, from, to, bytes, delay_us],
            Lost {
                from,
                to,
                retransmits,
                penalty_us,
            } => [16, from, to, u64::from(retransmits), penalty_us],
            Duplicated { from, to } => [17, from, to, 0, 0],
            Reordered { from, to, hold_us } => [18, from, to, hold_us, 0],
            QueueDrop { from, to } => [19, from, to, 0, 0],
            PacketDropped { from, to, reason } => [28, from, to, reason as u64, 0],
            Corrupted { from, to } => [29, from, to, 0, 0],
            Stalled { from, to } => [20, from, to, 0, 0],
            FrameRejected { node, reason } => [21, node, reason as u64, 0, 0],
            RpcDropped { from, to } => [22, from, to, 0, 0],
            RpcDelayed { from, to, delay_us } => [23, from, to, delay_us, 0],
            RpcDuplicated { from, to } => [24, from, to, 0, 0],
            Throttled { from, to, wait_us } => [26, from, to, wait_us, 0],
            Handshake { from, to, delay_us } => [27, from, to, delay_us, 0],
            ClockRate {
                node,
                rate_permille,
            } => [30, node, rate_permille, 0, 0],
            Note { ref text } => {
                self.fold_bytes(text.as_bytes());
                [25, text.len() as u64, 0, 0, 0]
            }
        };
        self.fold_words(&[time_ns]);
        self.fold_words(&words);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_order_time_and_content() {
        let a = EventKind::Duplicated { from: 1, to: 2 };
        let b = EventKind::Duplicated { from: 2, to: 1 };
        let mut one = EventLog::default();
        one.record(5, a.clone());
        one.record(6, b.clone());
        let mut two = EventLog::default();
        two.record(5, b.clone());
        two.record(6, a.clone());
        let mut three = EventLog::default();
        three.record(5, a.clone());
        three.record(7, b.clone());
        let mut again = EventLog::default();
        again.record(5, a);
        again.record(6, b);
        assert_ne!(one.trace_hash(), two.trace_hash());
        assert_ne!(one.trace_hash(), three.trace_hash());
        assert_eq!(one.trace_hash(), again.trace_hash());
        assert_eq!(one.counters().duplicated, 2);
    }

    #[test]
    fn packet_engine_drops_count_as_dropped_and_differ_in_the_hash() {
        let mut loss = EventLog::default();
        loss.record(
            1,
            EventKind::PacketDropped {
                from: 0,
                to: 1,
                reason: PacketDropReason::Loss,
            },
        );
        let mut cut = EventLog::default();
        cut.record(
            1,
            EventKind::PacketDropped {
                from: 0,
                to: 1,
                reason: PacketDropReason::Partition,
            },
        );
        cut.record(2, EventKind::Corrupted { from: 0, to: 1 });
        assert_ne!(loss.trace_hash(), cut.trace_hash());
        assert_eq!(cut.counters().dropped, 2);
        let json = serde_json::to_string(cut.events().next().unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"time_ns":1,"kind":"packet_dropped","from":0,"to":1,"reason":"partition"}"#
        );
    }

    #[test]
    fn log_is_bounded_but_counts_everything() {
        let mut log = EventLog::default();
        let total = MAX_EVENTS_RETAINED + 10;
        for i in 0..total {
            log.record(i as u64, EventKind::QueueDrop { from: 0, to: 1 });
        }
        assert_eq!(log.events().count(), MAX_EVENTS_RETAINED);
        assert_eq!(log.counters().events, total as u64);
        assert_eq!(log.counters().events_evicted, 10);
        assert_eq!(log.counters().dropped, total as u64);
        assert_eq!(log.events().next().map(|e| e.time_ns), Some(10));
    }
}
