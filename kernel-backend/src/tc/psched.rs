//! The packet-scheduler clock as iproute2's `tc` sees it (`/proc/net/psched`).
//!
//! TBF and HTB carry times in scheduler ticks and rate tables computed in
//! userspace. To send the bytes `tc` sends we read the same file and redo the
//! same floating-point arithmetic (iproute2 `tc_core.c`), including its
//! truncations from `double` to `unsigned int`.

use std::sync::OnceLock;

use crate::KernelError;

/// Where the kernel publishes its scheduler clock parameters.
pub const PSCHED_PATH: &str = "/proc/net/psched";

/// iproute2's fallback when the file does not give a usable HZ.
const DEFAULT_HZ: u32 = 100;

/// iproute2's time unit: microseconds.
const TIME_UNITS_PER_SEC: f64 = 1_000_000.0;

/// The scheduler clock, parsed from `/proc/net/psched`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psched {
    /// Scheduler ticks per microsecond (15.625 on current kernels: 64 ns ticks).
    tick_in_usec: f64,
    /// What iproute2's `get_hz()` returns: used for HTB's default burst.
    hz: u32,
}

impl Psched {
    /// The clock of every current kernel (64 ns ticks, HZ reported as 1e9):
    /// for encodings that do not depend on it, and for tests.
    pub const NOMINAL: Psched = Psched {
        tick_in_usec: 15.625,
        hz: 1_000_000_000,
    };

    /// Parses the four hex words of `/proc/net/psched`.
    pub fn parse(text: &str) -> Result<Self, KernelError> {
        let words = text
            .split_whitespace()
            .take(4)
            .map(|word| u32::from_str_radix(word, 16))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|e| KernelError::Config(format!("{PSCHED_PATH}: not hex words: {e}")))?;
        let [t2us, us2t, clock_res, hz_word] = words[..] else {
            return Err(KernelError::Config(format!(
                "{PSCHED_PATH}: expected 4 hex words, got {text:?}"
            )));
        };
        if us2t == 0 || clock_res == 0 {
            return Err(KernelError::Config(format!(
                "{PSCHED_PATH}: zero divisor in {text:?}"
            )));
        }
        // iproute2's compatibility hack: a nanosecond clock advertises a
        // tick multiplier of 1000 that really means 1.
        let t2us = if clock_res == 1_000_000_000 {
            us2t
        } else {
            t2us
        };
        let clock_factor = f64::from(clock_res) / TIME_UNITS_PER_SEC;
        let tick_in_usec = f64::from(t2us) / f64::from(us2t) * clock_factor;
        // get_hz(): the fourth word counts only when the third is 1000000.
        let hz = if clock_res == 1_000_000 && hz_word != 0 {
            hz_word
        } else {
            DEFAULT_HZ
        };
        Ok(Psched { tick_in_usec, hz })
    }

    /// This machine's clock, read once (the file never changes at run time).
    pub fn system() -> Result<Self, KernelError> {
        static SYSTEM: OnceLock<Result<Psched, String>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| {
                std::fs::read_to_string(PSCHED_PATH)
                    .map_err(|e| format!("reading {PSCHED_PATH}: {e}"))
                    .and_then(|text| Psched::parse(&text).map_err(|e| e.to_string()))
            })
            .clone()
            .map_err(KernelError::Config)
    }

    /// Scheduler ticks per microsecond.
    pub fn tick_in_usec(&self) -> f64 {
        self.tick_in_usec
    }

    /// iproute2's `get_hz()`.
    pub fn hz(&self) -> u32 {
        self.hz
    }

    /// `tc_core_time2tick`: microseconds to ticks, truncated like C does.
    /// `None` where tc refuses the value as too large (`tc_core_time2big`).
    pub fn time_us_to_ticks(&self, time_us: u32) -> Option<u32> {
        let ticks = f64::from(time_us) * self.tick_in_usec;
        (ticks < 4_294_967_296.0).then_some(ticks as u32)
    }

    /// `tc_calc_xmittime`: ticks to send `size_bytes` at `rate_bytes_per_sec`.
    ///
    /// Both conversions truncate like C's `double` to `unsigned int`. Where
    /// the C conversion would overflow (undefined behaviour in tc, only for
    /// bursts lasting minutes) we saturate; the kernel ignores this field
    /// whenever the byte-valued burst attribute is present.
    pub fn xmit_ticks(&self, rate_bytes_per_sec: u64, size_bytes: u32) -> u32 {
        let time_us = TIME_UNITS_PER_SEC * (f64::from(size_bytes) / rate_bytes_per_sec as f64);
        let time_us = time_us as u32; // saturating truncation
        (f64::from(time_us) * self.tick_in_usec) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPICAL: &str = "000003e8 00000040 000f4240 3b9aca00\n";

    #[test]
    fn parses_the_usual_64ns_tick_clock() {
        let clock = Psched::parse(TYPICAL).unwrap();
        assert_eq!(clock, Psched::NOMINAL);
        assert_eq!(clock.hz(), 1_000_000_000);
        assert_eq!(clock.time_us_to_ticks(10_000), Some(156_250));
        // tc: 32 KiB at 10 Mbit/s is 26214 us, 409593 ticks.
        assert_eq!(clock.xmit_ticks(1_250_000, 32 * 1024), 409_593);
    }

    #[test]
    fn nanosecond_clock_compat_hack() {
        let clock = Psched::parse("000003e8 00000400 3b9aca00 3b9aca00").unwrap();
        assert_eq!(clock.tick_in_usec(), 1000.0);
        assert_eq!(clock.hz(), DEFAULT_HZ);
    }

    #[test]
    fn rejects_garbage_and_huge_times() {
        assert!(Psched::parse("").is_err());
        assert!(Psched::parse("zz 1 2 3").is_err());
        assert!(Psched::parse("1 0 1 1").is_err());
        let clock = Psched::parse(TYPICAL).unwrap();
        assert_eq!(clock.time_us_to_ticks(300_000_000), None);
        assert_eq!(clock.xmit_ticks(1, u32::MAX), u32::MAX);
    }
}
