//! [`Schedule`]: the timer queue of packets waiting to be delivered.
//!
//! A binary heap ordered by delivery time, then by a sequence number taken
//! at insertion, so packets due at the same nanosecond leave in the order
//! they were scheduled (which keeps each link FIFO). The relay arms its
//! timerfd on [`Schedule::next_due_ns`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A packet waiting for its delivery time.
#[derive(Debug)]
pub struct Scheduled {
    pub deliver_at_ns: u64,
    pub seq: u64,
    /// Index of the directed link in the relay's link table.
    pub link: usize,
    pub dst_port: usize,
    pub packet: Vec<u8>,
}

impl Scheduled {
    fn key(&self) -> (u64, u64) {
        (self.deliver_at_ns, self.seq)
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so the std max-heap pops the earliest entry first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// The relay's timer queue.
#[derive(Debug, Default)]
pub struct Schedule {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl Schedule {
    pub fn push(&mut self, deliver_at_ns: u64, link: usize, dst_port: usize, packet: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled {
            deliver_at_ns,
            seq,
            link,
            dst_port,
            packet,
        });
    }

    /// The earliest delivery time, if anything waits.
    pub fn next_due_ns(&self) -> Option<u64> {
        self.heap.peek().map(|s| s.deliver_at_ns)
    }

    /// Takes the earliest entry if it is due at `now_ns`.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<Scheduled> {
        if self.next_due_ns()? > now_ns {
            return None;
        }
        self.heap.pop()
    }

    /// Removes every entry for `dst_port`, handing each to `removed`.
    pub fn remove_port(&mut self, dst_port: usize, mut removed: impl FnMut(Scheduled)) {
        let entries = std::mem::take(&mut self.heap).into_vec();
        let (gone, kept): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|s| s.dst_port == dst_port);
        self.heap = BinaryHeap::from(kept);
        gone.into_iter().for_each(&mut removed);
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut schedule = Schedule::default();
        schedule.push(30, 0, 1, vec![3]);
        schedule.push(10, 0, 1, vec![1]);
        schedule.push(30, 0, 1, vec![4]);
        schedule.push(20, 0, 1, vec![2]);
        assert_eq!(schedule.next_due_ns(), Some(10));
        assert!(schedule.pop_due(9).is_none());
        let order: Vec<u8> = std::iter::from_fn(|| schedule.pop_due(30))
            .map(|s| s.packet[0])
            .collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
        assert!(schedule.is_empty());
    }

    #[test]
    fn remove_port_keeps_the_rest() {
        let mut schedule = Schedule::default();
        for i in 0..10u8 {
            schedule.push(u64::from(i), 0, usize::from(i % 2), vec![i]);
        }
        let mut gone = Vec::new();
        schedule.remove_port(1, |s| gone.push(s.packet[0]));
        gone.sort_unstable();
        assert_eq!(gone, vec![1, 3, 5, 7, 9]);
        assert_eq!(schedule.len(), 5);
        let left: Vec<u8> = std::iter::from_fn(|| schedule.pop_due(u64::MAX))
            .map(|s| s.packet[0])
            .collect();
        assert_eq!(left, vec![0, 2, 4, 6, 8]);
    }
}
