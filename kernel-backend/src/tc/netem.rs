//! `netem` qdisc options: delay, jitter, loss, duplication, reordering,
//! corruption.
//!
//! netem's `TCA_OPTIONS` is not a plain nest: it is a `struct tc_netem_qopt`
//! followed by netem attributes, all under one `TCA_OPTIONS` header. This
//! module writes it the way iproute2 does (`q_netem.c`).

use super::psched::Psched;
use super::wire::{percent_to_u32, push_attr, push_u64_attr, u32_fields};
use crate::KernelError;

/// The qdisc kind.
pub const NETEM_KIND: &str = "netem";
/// tc's default queue limit, packets.
pub const DEFAULT_NETEM_LIMIT_PACKETS: u32 = 1000;

const TCA_NETEM_CORR: u16 = 1;
const TCA_NETEM_REORDER: u16 = 3;
const TCA_NETEM_CORRUPT: u16 = 4;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;

const NANOS_PER_MICRO: u64 = 1_000;

/// How delays travel on the wire. Both are accepted by kernels since 4.15.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetemDelayEncoding {
    /// iproute2 before 6.10: `latency`/`jitter` in the 32-bit fields of
    /// `tc_netem_qopt`, in scheduler ticks (64 ns today); at most ~274 s.
    PschedTicks32,
    /// iproute2 6.10 and later: those fields stay 0 and the delays go in
    /// `TCA_NETEM_LATENCY64`/`TCA_NETEM_JITTER64` as signed nanoseconds.
    Nanos64,
}

/// Settings of one netem qdisc. Percentages are in `[0, 100]`; each
/// correlation needs its base (jitter for the delay correlation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetemSpec {
    pub latency_us: u64,
    pub jitter_us: u64,
    pub latency_correlation_percent: f64,
    pub loss_percent: f64,
    pub loss_correlation_percent: f64,
    pub duplicate_percent: f64,
    pub duplicate_correlation_percent: f64,
    pub reorder_percent: f64,
    pub reorder_correlation_percent: f64,
    /// netem's reorder gap; 0 means "as tc does": 1 whenever reordering.
    pub reorder_gap_packets: u32,
    pub corrupt_percent: f64,
    pub corrupt_correlation_percent: f64,
    /// Packets netem may hold (delayed packets count too).
    pub limit_packets: u32,
}

impl Default for NetemSpec {
    fn default() -> Self {
        NetemSpec {
            latency_us: 0,
            jitter_us: 0,
            latency_correlation_percent: 0.0,
            loss_percent: 0.0,
            loss_correlation_percent: 0.0,
            duplicate_percent: 0.0,
            duplicate_correlation_percent: 0.0,
            reorder_percent: 0.0,
            reorder_correlation_percent: 0.0,
            reorder_gap_packets: 0,
            corrupt_percent: 0.0,
            corrupt_correlation_percent: 0.0,
            limit_packets: DEFAULT_NETEM_LIMIT_PACKETS,
        }
    }
}

impl NetemSpec {
    /// Checks the settings the way tc and the kernel would reject them.
    pub fn validate(&self) -> Result<(), KernelError> {
        for (name, value) in self.percentages() {
            if !value.is_finite() || !(0.0..=100.0).contains(&value) {
                return Err(config(format!("{name} = {value} is not in [0, 100]")));
            }
        }
        self.check_correlation_bases()?;
        if self.reorder_percent > 0.0 && self.latency_us == 0 {
            return Err(config(
                "reorder_percent needs latency_us > 0: netem reorders by sending some packets \
                 at once, ahead of the delayed ones"
                    .into(),
            ));
        }
        if self.reorder_gap_packets > 0 && self.reorder_percent == 0.0 {
            return Err(config(
                "reorder_gap_packets needs reorder_percent > 0".into(),
            ));
        }
        if self.limit_packets == 0 {
            return Err(config("limit_packets = 0 would drop every packet".into()));
        }
        Ok(())
    }

    fn percentages(&self) -> [(&'static str, f64); 9] {
        [
            (
                "latency_correlation_percent",
                self.latency_correlation_percent,
            ),
            ("loss_percent", self.loss_percent),
            ("loss_correlation_percent", self.loss_correlation_percent),
            ("duplicate_percent", self.duplicate_percent),
            (
                "duplicate_correlation_percent",
                self.duplicate_correlation_percent,
            ),
            ("reorder_percent", self.reorder_percent),
            (
                "reorder_correlation_percent",
                self.reorder_correlation_percent,
            ),
            ("corrupt_percent", self.corrupt_percent),
            (
                "corrupt_correlation_percent",
                self.corrupt_correlation_percent,
            ),
        ]
    }

    /// A correlation without its base would be silently meaningless.
    fn check_correlation_bases(&self) -> Result<(), KernelError> {
        let pairs = [
            (
                "latency_correlation_percent",
                self.latency_correlation_percent,
                "jitter_us",
                self.jitter_us as f64,
            ),
            (
                "loss_correlation_percent",
                self.loss_correlation_percent,
                "loss_percent",
                self.loss_percent,
            ),
            (
                "duplicate_correlation_percent",
                self.duplicate_correlation_percent,
                "duplicate_percent",
                self.duplicate_percent,
            ),
            (
                "reorder_correlation_percent",
                self.reorder_correlation_percent,
                "reorder_percent",
                self.reorder_percent,
            ),
            (
                "corrupt_correlation_percent",
                self.corrupt_correlation_percent,
                "corrupt_percent",
                self.corrupt_percent,
            ),
        ];
        for (corr_name, corr, base_name, base) in pairs {
            if corr > 0.0 && base == 0.0 {
                return Err(config(format!("{corr_name} needs {base_name} > 0")));
            }
        }
        Ok(())
    }

    /// The reorder gap tc sends: 1 when reordering and no gap was given.
    pub fn effective_gap_packets(&self) -> u32 {
        if self.reorder_percent > 0.0 && self.reorder_gap_packets == 0 {
            1
        } else {
            self.reorder_gap_packets
        }
    }

    /// The `TCA_OPTIONS` payload: `tc_netem_qopt` then the netem attributes
    /// in tc's order.
    pub fn options_payload(
        &self,
        encoding: NetemDelayEncoding,
        clock: &Psched,
    ) -> Result<Vec<u8>, KernelError> {
        self.validate()?;
        let (latency_field, jitter_field) = self.qopt_delay_fields(encoding, clock)?;
        let mut buf = u32_fields(&[
            latency_field,
            self.limit_packets,
            percent_to_u32(self.loss_percent),
            self.effective_gap_packets(),
            percent_to_u32(self.duplicate_percent),
            jitter_field,
        ]);
        if encoding == NetemDelayEncoding::Nanos64 {
            self.push_delay64_attrs(&mut buf)?;
        }
        self.push_probability_attrs(&mut buf);
        Ok(buf)
    }

    /// The `latency` and `jitter` fields of `tc_netem_qopt`.
    fn qopt_delay_fields(
        &self,
        encoding: NetemDelayEncoding,
        clock: &Psched,
    ) -> Result<(u32, u32), KernelError> {
        match encoding {
            NetemDelayEncoding::Nanos64 => Ok((0, 0)),
            NetemDelayEncoding::PschedTicks32 => Ok((
                us_to_ticks("latency_us", self.latency_us, clock)?,
                us_to_ticks("jitter_us", self.jitter_us, clock)?,
            )),
        }
    }

    /// tc sends LATENCY64 whenever a delay is given and JITTER64 whenever a
    /// jitter (or a delay correlation, which needs one) is given.
    fn push_delay64_attrs(&self, buf: &mut Vec<u8>) -> Result<(), KernelError> {
        let has_jitter = self.jitter_us > 0 || self.latency_correlation_percent > 0.0;
        if self.latency_us > 0 || has_jitter {
            push_u64_attr(
                buf,
                TCA_NETEM_LATENCY64,
                us_to_ns("latency_us", self.latency_us)?,
            );
        }
        if has_jitter {
            push_u64_attr(
                buf,
                TCA_NETEM_JITTER64,
                us_to_ns("jitter_us", self.jitter_us)?,
            );
        }
        Ok(())
    }

    /// CORR, REORDER and CORRUPT, each only when used.
    ///
    /// One deliberate difference from iproute2: tc forgets to send
    /// `TCA_NETEM_CORR` when the duplicate correlation is the only one
    /// given (it parses it and drops it); we send it.
    fn push_probability_attrs(&self, buf: &mut Vec<u8>) {
        let any_correlation = [
            self.latency_correlation_percent,
            self.loss_correlation_percent,
            self.duplicate_correlation_percent,
            self.reorder_correlation_percent,
            self.corrupt_correlation_percent,
        ]
        .iter()
        .any(|c| *c > 0.0);
        if any_correlation {
            let corr = u32_fields(&[
                percent_to_u32(self.latency_correlation_percent),
                percent_to_u32(self.loss_correlation_percent),
                percent_to_u32(self.duplicate_correlation_percent),
            ]);
            push_attr(buf, TCA_NETEM_CORR, &corr);
        }
        if self.reorder_percent > 0.0 {
            let reorder = u32_fields(&[
                percent_to_u32(self.reorder_percent),
                percent_to_u32(self.reorder_correlation_percent),
            ]);
            push_attr(buf, TCA_NETEM_REORDER, &reorder);
        }
        if self.corrupt_percent > 0.0 {
            let corrupt = u32_fields(&[
                percent_to_u32(self.corrupt_percent),
                percent_to_u32(self.corrupt_correlation_percent),
            ]);
            push_attr(buf, TCA_NETEM_CORRUPT, &corrupt);
        }
    }
}

fn us_to_ticks(name: &str, value_us: u64, clock: &Psched) -> Result<u32, KernelError> {
    u32::try_from(value_us)
        .ok()
        .and_then(|us| clock.time_us_to_ticks(us))
        .ok_or_else(|| {
            config(format!(
                "{name} = {value_us} does not fit netem's 32-bit tick field; use NetemDelayEncoding::Nanos64"
            ))
        })
}

fn us_to_ns(name: &str, value_us: u64) -> Result<u64, KernelError> {
    value_us
        .checked_mul(NANOS_PER_MICRO)
        .filter(|ns| i64::try_from(*ns).is_ok())
        .ok_or_else(|| config(format!("{name} = {value_us} overflows 64-bit nanoseconds")))
}

fn config(message: String) -> KernelError {
    KernelError::Config(format!("netem: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Psched {
        Psched::parse("000003e8 00000040 000f4240 3b9aca00").unwrap()
    }

    #[test]
    fn delay_only_in_ticks_is_a_bare_qopt() {
        let spec = NetemSpec {
            latency_us: 10_000,
            ..Default::default()
        };
        let bytes = spec
            .options_payload(NetemDelayEncoding::PschedTicks32, &clock())
            .unwrap();
        assert_eq!(bytes, u32_fields(&[156_250, 1000, 0, 0, 0, 0]));
    }

    #[test]
    fn nanos64_puts_delays_in_attributes_after_the_qopt() {
        let spec = NetemSpec {
            latency_us: 5_000_000,
            jitter_us: 1_000,
            ..Default::default()
        };
        let bytes = spec
            .options_payload(NetemDelayEncoding::Nanos64, &clock())
            .unwrap();
        let mut expected = u32_fields(&[0, 1000, 0, 0, 0, 0]);
        push_u64_attr(&mut expected, TCA_NETEM_LATENCY64, 5_000_000_000);
        push_u64_attr(&mut expected, TCA_NETEM_JITTER64, 1_000_000);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn reorder_sets_gap_one_and_needs_delay() {
        let spec = NetemSpec {
            latency_us: 1_000,
            reorder_percent: 25.0,
            ..Default::default()
        };
        assert_eq!(spec.effective_gap_packets(), 1);
        let no_delay = NetemSpec {
            latency_us: 0,
            ..spec
        };
        assert!(no_delay.validate().is_err());
    }

    #[test]
    fn validation_rejects_bad_settings() {
        let bad = [
            NetemSpec {
                loss_percent: 101.0,
                ..Default::default()
            },
            NetemSpec {
                loss_percent: f64::NAN,
                ..Default::default()
            },
            NetemSpec {
                loss_correlation_percent: 5.0,
                ..Default::default()
            },
            NetemSpec {
                latency_correlation_percent: 5.0,
                latency_us: 10,
                ..Default::default()
            },
            NetemSpec {
                reorder_gap_packets: 3,
                ..Default::default()
            },
            NetemSpec {
                limit_packets: 0,
                ..Default::default()
            },
        ];
        for spec in bad {
            assert!(
                matches!(spec.validate(), Err(KernelError::Config(_))),
                "{spec:?}"
            );
        }
        let too_long = NetemSpec {
            latency_us: 300_000_000,
            ..Default::default()
        };
        assert!(
            too_long
                .options_payload(NetemDelayEncoding::PschedTicks32, &clock())
                .is_err()
        );
        assert!(
            too_long
                .options_payload(NetemDelayEncoding::Nanos64, &clock())
                .is_ok()
        );
    }
}
