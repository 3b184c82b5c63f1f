//! [`BufferPool`]: packet buffers reused across packets.
//!
//! Only packets that must wait (delay, rate limiting) are copied out of the
//! relay's read buffer, into a buffer of the smallest size class that fits,
//! so an ACK does not pin 64 KiB. Buffers come back to the pool after
//! delivery; the pool keeps at most `MAX_POOLED_BYTES` of idle buffers.

/// Buffer capacities, smallest first; the last holds any IPv4 packet.
pub const SIZE_CLASSES: [usize; 4] = [256, 2_048, 16_384, 65_536];
/// Idle buffers kept for reuse, in bytes of capacity over all classes.
pub const MAX_POOLED_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
pub struct BufferPool {
    free: [Vec<Vec<u8>>; SIZE_CLASSES.len()],
    pooled_bytes: usize,
}

impl BufferPool {
    /// A buffer holding a copy of `packet`, with a size-class capacity.
    pub fn copy_of(&mut self, packet: &[u8]) -> Vec<u8> {
        let class = class_for(packet.len());
        let mut buf = match self.free[class].pop() {
            Some(buf) => {
                self.pooled_bytes -= buf.capacity();
                buf
            }
            None => Vec::with_capacity(SIZE_CLASSES[class]),
        };
        assert!(buf.is_empty() && buf.capacity() == SIZE_CLASSES[class]);
        buf.extend_from_slice(packet);
        buf
    }

    /// Returns a buffer for reuse (or frees it when the pool is full).
    pub fn give_back(&mut self, mut buf: Vec<u8>) {
        let Some(class) = SIZE_CLASSES.iter().position(|&c| c == buf.capacity()) else {
            return;
        };
        if self.pooled_bytes + buf.capacity() > MAX_POOLED_BYTES {
            return;
        }
        buf.clear();
        self.pooled_bytes += buf.capacity();
        self.free[class].push(buf);
    }

    pub fn pooled_bytes(&self) -> usize {
        self.pooled_bytes
    }
}

/// The capacity a buffer for a packet of `len` bytes will have.
pub fn capacity_for(len: usize) -> usize {
    SIZE_CLASSES[class_for(len)]
}

fn class_for(len: usize) -> usize {
    let class = SIZE_CLASSES.iter().position(|&c| c >= len);
    class.expect("no IPv4 packet exceeds the largest size class")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_by_class() {
        let mut pool = BufferPool::default();
        let small = pool.copy_of(&[1; 60]);
        assert_eq!((small.len(), small.capacity()), (60, 256));
        let ptr = small.as_ptr();
        pool.give_back(small);
        assert_eq!(pool.pooled_bytes(), 256);
        let again = pool.copy_of(&[2; 200]);
        assert_eq!(again.as_ptr(), ptr, "the pooled buffer is reused");
        assert_eq!(again[..], [2; 200][..]);
        assert_eq!(pool.pooled_bytes(), 0);
        assert_eq!(capacity_for(1500), 2048);
        assert_eq!(capacity_for(65_535), 65_536);
    }

    #[test]
    fn pool_is_bounded() {
        let mut pool = BufferPool::default();
        let bufs: Vec<_> = (0..400).map(|_| pool.copy_of(&[0; 60_000])).collect();
        for buf in bufs {
            pool.give_back(buf);
        }
        assert!(pool.pooled_bytes() <= MAX_POOLED_BYTES);
        assert_eq!(pool.pooled_bytes(), MAX_POOLED_BYTES / 65_536 * 65_536);
    }
}
