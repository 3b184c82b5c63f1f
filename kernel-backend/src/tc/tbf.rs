//! `tbf` qdisc options: a token bucket rate limit (iproute2 `q_tbf.c`).

use super::psched::Psched;
use super::wire::{
    RateSpec, needs_rate64, push_attr, push_table_attr, push_u32_attr, push_u64_attr,
    rate_u32_field,
};
use crate::KernelError;

/// The qdisc kind.
pub const TBF_KIND: &str = "tbf";

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RTAB: u16 = 2;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;

/// Bits per byte: rates are configured in bits, tc sends bytes.
const BITS_PER_BYTE: u64 = 8;

/// Settings of one TBF qdisc, like `tc qdisc add ... tbf rate R burst B limit L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbfSpec {
    /// Rate, bits per second (tc sends bytes per second, truncated).
    pub rate_bits_per_sec: u64,
    /// Bucket depth: bytes that may pass at once at line rate.
    pub burst_bytes: u32,
    /// Bytes that may queue waiting for tokens before packets are dropped.
    pub limit_bytes: u32,
}

impl TbfSpec {
    /// The rate tc sends, bytes per second.
    pub fn rate_bytes_per_sec(&self) -> u64 {
        self.rate_bits_per_sec / BITS_PER_BYTE
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        if self.rate_bytes_per_sec() == 0 {
            return Err(config(format!(
                "rate_bits_per_sec = {} is below one byte per second",
                self.rate_bits_per_sec
            )));
        }
        if self.burst_bytes == 0 {
            return Err(config("burst_bytes must be > 0".into()));
        }
        if self.limit_bytes == 0 {
            return Err(config("limit_bytes must be > 0".into()));
        }
        Ok(())
    }

    /// The `TCA_OPTIONS` nest payload: PARMS, BURST, \[RATE64\], RTAB.
    pub fn options_payload(&self, clock: &Psched) -> Result<Vec<u8>, KernelError> {
        self.validate()?;
        let rate64 = self.rate_bytes_per_sec();
        let rate32 = rate_u32_field(rate64);
        let (rate_spec, rate_table) = RateSpec::with_table(clock, rate32, 0);
        // tc computes the burst time from the clamped 32-bit rate, too.
        let buffer_ticks = clock.xmit_ticks(u64::from(rate32), self.burst_bytes);
        let mut parms = Vec::with_capacity(36);
        parms.extend_from_slice(&rate_spec.to_bytes());
        parms.extend_from_slice(&[0u8; 12]); // peak rate: unused
        for field in [
            self.limit_bytes,
            buffer_ticks,
            0, /* mtu: no peak rate */
        ] {
            parms.extend_from_slice(&field.to_ne_bytes());
        }
        let mut buf = Vec::with_capacity(1100);
        push_attr(&mut buf, TCA_TBF_PARMS, &parms);
        push_u32_attr(&mut buf, TCA_TBF_BURST, self.burst_bytes);
        if needs_rate64(rate64) {
            push_u64_attr(&mut buf, TCA_TBF_RATE64, rate64);
        }
        push_table_attr(&mut buf, TCA_TBF_RTAB, &rate_table);
        Ok(buf)
    }
}

fn config(message: String) -> KernelError {
    KernelError::Config(format!("tbf: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_mbit_parms_match_tc() {
        let clock = Psched::parse("000003e8 00000040 000f4240 3b9aca00").unwrap();
        let spec = TbfSpec {
            rate_bits_per_sec: 10_000_000,
            burst_bytes: 32 * 1024,
            limit_bytes: 100 * 1024,
        };
        let bytes = spec.options_payload(&clock).unwrap();
        // PARMS header, then cell_log 3, ethernet, cell_align -1, 1250000 B/s.
        assert_eq!(&bytes[0..4], &[0x28, 0, 1, 0]);
        assert_eq!(
            &bytes[4..16],
            &[3, 1, 0, 0, 0xff, 0xff, 0, 0, 0xd0, 0x12, 0x13, 0]
        );
        assert_eq!(bytes.len(), 40 + 8 + 1028);
    }

    #[test]
    fn validation() {
        let ok = TbfSpec {
            rate_bits_per_sec: 8,
            burst_bytes: 1,
            limit_bytes: 1,
        };
        assert!(ok.validate().is_ok());
        assert!(
            TbfSpec {
                rate_bits_per_sec: 7,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            TbfSpec {
                burst_bytes: 0,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            TbfSpec {
                limit_bytes: 0,
                ..ok
            }
            .validate()
            .is_err()
        );
    }
}
