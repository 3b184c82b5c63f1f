//! The relay's clock: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! The relay keys its timer queue on plain `u64` nanoseconds of the same
//! clock the timerfd is armed on, so a deadline goes to the kernel without
//! conversion. `std::time::Instant` is `CLOCK_MONOTONIC` on Linux as well, so
//! callers measuring with `Instant` see the same time base.

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Now, in nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) cannot fail");
    assert!(ts.tv_sec >= 0 && ts.tv_nsec >= 0);
    (ts.tv_sec as u64) * NS_PER_SEC + ts.tv_nsec as u64
}

/// Splits nanoseconds into a `timespec` for the timerfd.
pub fn to_timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / NS_PER_SEC) as libc::time_t,
        tv_nsec: (ns % NS_PER_SEC) as libc::c_long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_ns_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a);
        let ts = to_timespec(3 * NS_PER_SEC + 7);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 7));
    }
}
