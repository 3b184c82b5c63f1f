//! `htb` qdisc and class options (iproute2 `q_htb.c`).

use super::psched::Psched;
use super::wire::{
    RateSpec, needs_rate64, push_attr, push_table_attr, push_u32_attr, push_u64_attr,
    rate_u32_field, u32_fields,
};
use crate::KernelError;

/// The qdisc/class kind.
pub const HTB_KIND: &str = "htb";
/// `TC_HTB_PROTOVER`: the version tc puts in `tc_htb_glob`.
const HTB_PROTOCOL_VERSION: u32 = 3;
/// tc's default rate-to-quantum divisor.
pub const DEFAULT_R2Q: u32 = 10;
/// HTB has 8 priorities (`TC_HTB_NUMPRIO`); the kernel clamps larger ones.
const HTB_MAX_PRIO: u32 = 7;
/// The MTU tc assumes for HTB classes (Ethernet frame plus headroom).
pub const HTB_DEFAULT_MTU_BYTES: u32 = 1600;

const TCA_HTB_PARMS: u16 = 1;
const TCA_HTB_INIT: u16 = 2;
const TCA_HTB_CTAB: u16 = 3;
const TCA_HTB_RTAB: u16 = 4;
const TCA_HTB_DIRECT_QLEN: u16 = 5;
const TCA_HTB_RATE64: u16 = 6;
const TCA_HTB_CEIL64: u16 = 7;

const BITS_PER_BYTE: u64 = 8;

/// The root HTB qdisc, like `tc qdisc add ... htb default D r2q R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtbQdiscSpec {
    /// Minor of the class unclassified packets go to; 0 (or a missing class)
    /// sends them straight through, unshaped.
    pub default_class_minor: u32,
    /// Divisor from a class rate (bytes/s) to its default quantum.
    pub r2q: u32,
    /// Queue for unclassified packets, packets; `None` = the device's
    /// txqueuelen (tc then sends no attribute).
    pub direct_qlen_packets: Option<u32>,
}

impl Default for HtbQdiscSpec {
    fn default() -> Self {
        HtbQdiscSpec {
            default_class_minor: 0,
            r2q: DEFAULT_R2Q,
            direct_qlen_packets: None,
        }
    }
}

impl HtbQdiscSpec {
    pub fn validate(&self) -> Result<(), KernelError> {
        if self.r2q == 0 {
            return Err(config("r2q must be > 0 (the kernel divides by it)".into()));
        }
        Ok(())
    }

    /// The `TCA_OPTIONS` nest payload: INIT and, if set, DIRECT_QLEN.
    pub fn options_payload(&self) -> Result<Vec<u8>, KernelError> {
        self.validate()?;
        // tc_htb_glob: version, rate2quantum, defcls, debug, direct_pkts.
        let glob = u32_fields(&[
            HTB_PROTOCOL_VERSION,
            self.r2q,
            self.default_class_minor,
            0,
            0,
        ]);
        let mut buf = Vec::with_capacity(32);
        push_attr(&mut buf, TCA_HTB_INIT, &glob);
        if let Some(qlen) = self.direct_qlen_packets {
            push_u32_attr(&mut buf, TCA_HTB_DIRECT_QLEN, qlen);
        }
        Ok(buf)
    }
}

/// One HTB class, like `tc class add ... htb rate R [ceil C] [burst B]
/// [cburst CB] [quantum Q] [prio P]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtbClassSpec {
    /// Guaranteed rate, bits per second.
    pub rate_bits_per_sec: u64,
    /// Rate the class may borrow up to; `None` = `rate_bits_per_sec`.
    pub ceil_bits_per_sec: Option<u64>,
    /// Bytes that may pass at `ceil` speed; `None` = tc's default
    /// (`rate / HZ + mtu`).
    pub burst_bytes: Option<u32>,
    /// Like `burst_bytes`, for the ceil bucket.
    pub cburst_bytes: Option<u32>,
    /// Bytes served per round when classes share; `None` = the kernel's
    /// `rate / r2q`, clamped to [1000, 200000] with a warning in dmesg.
    pub quantum_bytes: Option<u32>,
    /// 0 (highest) to 7.
    pub prio: u32,
}

impl HtbClassSpec {
    /// A class with only a rate, everything else as tc defaults it.
    pub fn with_rate(rate_bits_per_sec: u64) -> Self {
        HtbClassSpec {
            rate_bits_per_sec,
            ceil_bits_per_sec: None,
            burst_bytes: None,
            cburst_bytes: None,
            quantum_bytes: None,
            prio: 0,
        }
    }

    fn rate_bytes_per_sec(&self) -> u64 {
        self.rate_bits_per_sec / BITS_PER_BYTE
    }

    fn ceil_bytes_per_sec(&self) -> u64 {
        self.ceil_bits_per_sec.unwrap_or(self.rate_bits_per_sec) / BITS_PER_BYTE
    }

    pub fn validate(&self) -> Result<(), KernelError> {
        if self.rate_bytes_per_sec() == 0 || self.ceil_bytes_per_sec() == 0 {
            return Err(config(
                "rate and ceil must be at least 8 bits per second".into(),
            ));
        }
        if self.ceil_bytes_per_sec() < self.rate_bytes_per_sec() {
            return Err(config(format!(
                "ceil_bits_per_sec = {:?} is below rate_bits_per_sec = {}",
                self.ceil_bits_per_sec, self.rate_bits_per_sec
            )));
        }
        if self.burst_bytes == Some(0)
            || self.cburst_bytes == Some(0)
            || self.quantum_bytes == Some(0)
        {
            return Err(config(
                "burst, cburst and quantum must be > 0 when given".into(),
            ));
        }
        if self.prio > HTB_MAX_PRIO {
            return Err(config(format!(
                "prio = {} exceeds {HTB_MAX_PRIO}",
                self.prio
            )));
        }
        Ok(())
    }

    /// tc's default burst: one clock tick's worth of bytes plus an MTU.
    fn default_burst_bytes(rate_bytes_per_sec: u64, clock: &Psched) -> u32 {
        let per_tick = rate_bytes_per_sec / u64::from(clock.hz());
        // tc assigns to a 32-bit `unsigned`: keep its wrap-around.
        (per_tick + u64::from(HTB_DEFAULT_MTU_BYTES)) as u32
    }

    /// The `TCA_OPTIONS` nest payload: \[RATE64\], \[CEIL64\], PARMS, RTAB, CTAB.
    pub fn options_payload(&self, clock: &Psched) -> Result<Vec<u8>, KernelError> {
        self.validate()?;
        let rate64 = self.rate_bytes_per_sec();
        let ceil64 = self.ceil_bytes_per_sec();
        let burst = self
            .burst_bytes
            .unwrap_or_else(|| Self::default_burst_bytes(rate64, clock));
        let cburst = self
            .cburst_bytes
            .unwrap_or_else(|| Self::default_burst_bytes(ceil64, clock));
        let (rate_spec, rate_table) =
            RateSpec::with_table(clock, rate_u32_field(rate64), HTB_DEFAULT_MTU_BYTES);
        let (ceil_spec, ceil_table) =
            RateSpec::with_table(clock, rate_u32_field(ceil64), HTB_DEFAULT_MTU_BYTES);
        let mut parms = Vec::with_capacity(44);
        parms.extend_from_slice(&rate_spec.to_bytes());
        parms.extend_from_slice(&ceil_spec.to_bytes());
        // Unlike TBF, HTB's burst times use the full 64-bit rates.
        parms.extend_from_slice(&u32_fields(&[
            clock.xmit_ticks(rate64, burst),
            clock.xmit_ticks(ceil64, cburst),
            self.quantum_bytes.unwrap_or(0),
            0, // level: output only
            self.prio,
        ]));
        let mut buf = Vec::with_capacity(2100);
        if needs_rate64(rate64) {
            push_u64_attr(&mut buf, TCA_HTB_RATE64, rate64);
        }
        if needs_rate64(ceil64) {
            push_u64_attr(&mut buf, TCA_HTB_CEIL64, ceil64);
        }
        push_attr(&mut buf, TCA_HTB_PARMS, &parms);
        push_table_attr(&mut buf, TCA_HTB_RTAB, &rate_table);
        push_table_attr(&mut buf, TCA_HTB_CTAB, &ceil_table);
        Ok(buf)
    }
}

fn config(message: String) -> KernelError {
    KernelError::Config(format!("htb: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Psched {
        Psched::parse("000003e8 00000040 000f4240 3b9aca00").unwrap()
    }

    #[test]
    fn qdisc_init_is_version_3_with_r2q() {
        let bytes = HtbQdiscSpec::default().options_payload().unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[4..12], &u32_fields(&[3, 10])[..]);
    }

    #[test]
    fn ten_gbit_class_has_no_64bit_attrs_forty_has() {
        let ten = HtbClassSpec::with_rate(10_000_000_000)
            .options_payload(&clock())
            .unwrap();
        assert_eq!(u16::from_ne_bytes([ten[2], ten[3]]), TCA_HTB_PARMS);
        let forty = HtbClassSpec::with_rate(40_000_000_000)
            .options_payload(&clock())
            .unwrap();
        assert_eq!(u16::from_ne_bytes([forty[2], forty[3]]), TCA_HTB_RATE64);
    }

    #[test]
    fn validation() {
        let ok = HtbClassSpec::with_rate(1_000_000);
        assert!(ok.validate().is_ok());
        assert!(
            HtbClassSpec {
                rate_bits_per_sec: 0,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            HtbClassSpec {
                ceil_bits_per_sec: Some(10),
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            HtbClassSpec {
                burst_bytes: Some(0),
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(HtbClassSpec { prio: 8, ..ok }.validate().is_err());
        assert!(
            HtbQdiscSpec {
                r2q: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
