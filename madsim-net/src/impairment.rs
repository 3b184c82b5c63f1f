//! [`LinkImpairment`]: what one directed link does to the traffic on it.
//!
//! One validated type for every backend. Units are in the field names. A
//! value can only be built through [`LinkImpairmentBuilder::build`] (or a
//! preset), so every `LinkImpairment` in the program is valid.

use serde::{Deserialize, Serialize};

use crate::NetError;

/// Upper bound on latency and jitter: one minute is already absurd for a link.
pub const MAX_LATENCY_US: u64 = 60_000_000;
/// Lowest configurable rate (1 kbit/s); below that nothing useful gets through.
pub const MIN_RATE_BITS_PER_SEC: u64 = 1_000;
/// Highest configurable rate (100 Gbit/s).
pub const MAX_RATE_BITS_PER_SEC: u64 = 100_000_000_000;
/// Largest burst or queue limit (1 GiB).
pub const MAX_QUEUE_BYTES: u64 = 1 << 30;

/// A validated impairment of one directed link. `Default` is "no impairment".
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "LinkImpairmentBuilder", into = "LinkImpairmentBuilder")]
pub struct LinkImpairment {
    spec: LinkImpairmentBuilder,
}

/// The raw settings of a [`LinkImpairment`], checked by [`Self::build`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkImpairmentBuilder {
    /// Mean one-way delay added to every packet, microseconds.
    pub latency_us: u64,
    /// Each packet's delay is drawn uniformly from `latency_us ± jitter_us`
    /// (never below zero), microseconds.
    pub jitter_us: u64,
    /// Chance that a packet is lost, percent in `[0, 100]`.
    pub loss_percent: f64,
    /// Chance that a packet is duplicated, percent.
    pub duplicate_percent: f64,
    /// Chance that a packet is held back behind later ones, percent.
    pub reorder_percent: f64,
    /// Chance that a packet is corrupted, percent.
    pub corrupt_percent: f64,
    /// Rate limit, bits per second; 0 means unlimited.
    pub rate_bits_per_sec: u64,
    /// Bytes that may pass at once before the rate applies (token bucket depth).
    pub burst_bytes: u64,
    /// Bytes that may wait for the rate limiter before packets are dropped;
    /// 0 means the backend's default bound.
    pub queue_limit_bytes: u64,
}

impl LinkImpairmentBuilder {
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_us = ms.saturating_mul(1_000);
        self
    }
    pub fn jitter_ms(mut self, ms: u64) -> Self {
        self.jitter_us = ms.saturating_mul(1_000);
        self
    }
    pub fn loss_percent(mut self, percent: f64) -> Self {
        self.loss_percent = percent;
        self
    }
    pub fn duplicate_percent(mut self, percent: f64) -> Self {
        self.duplicate_percent = percent;
        self
    }
    pub fn reorder_percent(mut self, percent: f64) -> Self {
        self.reorder_percent = percent;
        self
    }
    pub fn corrupt_percent(mut self, percent: f64) -> Self {
        self.corrupt_percent = percent;
        self
    }
    pub fn rate_bits_per_sec(mut self, rate: u64) -> Self {
        self.rate_bits_per_sec = rate;
        self
    }
    pub fn burst_bytes(mut self, bytes: u64) -> Self {
        self.burst_bytes = bytes;
        self
    }
    pub fn queue_limit_bytes(mut self, bytes: u64) -> Self {
        self.queue_limit_bytes = bytes;
        self
    }

    /// Checks every field; the only way to a [`LinkImpairment`].
    pub fn build(self) -> Result<LinkImpairment, NetError> {
        check_at_most("latency_us", self.latency_us, MAX_LATENCY_US)?;
        check_at_most("jitter_us", self.jitter_us, MAX_LATENCY_US)?;
        check_percent("loss_percent", self.loss_percent)?;
        check_percent("duplicate_percent", self.duplicate_percent)?;
        check_percent("reorder_percent", self.reorder_percent)?;
        check_percent("corrupt_percent", self.corrupt_percent)?;
        if self.rate_bits_per_sec != 0
            && !(MIN_RATE_BITS_PER_SEC..=MAX_RATE_BITS_PER_SEC).contains(&self.rate_bits_per_sec)
        {
            return Err(NetError::InvalidImpairment(format!(
                "rate_bits_per_sec = {} is outside [{MIN_RATE_BITS_PER_SEC}, {MAX_RATE_BITS_PER_SEC}] (0 means unlimited)",
                self.rate_bits_per_sec
            )));
        }
        check_at_most("burst_bytes", self.burst_bytes, MAX_QUEUE_BYTES)?;
        check_at_most("queue_limit_bytes", self.queue_limit_bytes, MAX_QUEUE_BYTES)?;
        if self.burst_bytes != 0 && self.rate_bits_per_sec == 0 {
            return Err(NetError::InvalidImpairment(
                "burst_bytes needs rate_bits_per_sec: a burst only means something under a rate limit"
                    .into(),
            ));
        }
        Ok(LinkImpairment { spec: self })
    }
}

fn check_at_most(name: &str, value: u64, max: u64) -> Result<(), NetError> {
    if value > max {
        return Err(NetError::InvalidImpairment(format!(
            "{name} = {value} exceeds the maximum {max}"
        )));
    }
    Ok(())
}

fn check_percent(name: &str, value: f64) -> Result<(), NetError> {
    if !value.is_finite() || !(0.0..=100.0).contains(&value) {
        return Err(NetError::InvalidImpairment(format!(
            "{name} = {value} is not a percentage in [0, 100]"
        )));
    }
    Ok(())
}

impl TryFrom<LinkImpairmentBuilder> for LinkImpairment {
    type Error = NetError;
    fn try_from(spec: LinkImpairmentBuilder) -> Result<Self, NetError> {
        spec.build()
    }
}

impl From<LinkImpairment> for LinkImpairmentBuilder {
    fn from(imp: LinkImpairment) -> Self {
        imp.spec
    }
}

/// The names accepted by [`LinkImpairment::preset`].
pub const PRESET_NAMES: [&str; 6] = [
    "none",
    "lan",
    "wan",
    "light_chaos",
    "heavy_chaos",
    "hostile",
];

impl LinkImpairment {
    pub fn builder() -> LinkImpairmentBuilder {
        LinkImpairmentBuilder::default()
    }

    /// No impairment at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// A data-centre LAN: 200 µs ± 50 µs, 1 Gbit/s.
    pub fn lan() -> Self {
        Self::preset_from(LinkImpairmentBuilder {
            latency_us: 200,
            jitter_us: 50,
            rate_bits_per_sec: 1_000_000_000,
            burst_bytes: 64 * 1024,
            ..Default::default()
        })
    }

    /// A cross-region WAN: 40 ms ± 5 ms, 0.1 % loss, 100 Mbit/s.
    pub fn wan() -> Self {
        Self::preset_from(LinkImpairmentBuilder {
            latency_us: 40_000,
            jitter_us: 5_000,
            loss_percent: 0.1,
            rate_bits_per_sec: 100_000_000,
            burst_bytes: 64 * 1024,
            ..Default::default()
        })
    }

    /// 10 ms ± 5 ms with 1 % loss and a little duplication and reordering.
    pub fn light_chaos() -> Self {
        Self::preset_from(LinkImpairmentBuilder {
            latency_us: 10_000,
            jitter_us: 5_000,
            loss_percent: 1.0,
            duplicate_percent: 0.5,
            reorder_percent: 1.0,
            ..Default::default()
        })
    }

    /// 50 ms ± 30 ms, 5 % loss, duplication, reordering, corruption, 10 Mbit/s.
    pub fn heavy_chaos() -> Self {
        Self::preset_from(LinkImpairmentBuilder {
            latency_us: 50_000,
            jitter_us: 30_000,
            loss_percent: 5.0,
            duplicate_percent: 2.0,
            reorder_percent: 5.0,
            corrupt_percent: 0.5,
            rate_bits_per_sec: 10_000_000,
            burst_bytes: 32 * 1024,
            queue_limit_bytes: 1024 * 1024,
        })
    }

    /// A link that barely works: 200 ms ± 150 ms, 20 % loss, 1 Mbit/s.
    pub fn hostile() -> Self {
        Self::preset_from(LinkImpairmentBuilder {
            latency_us: 200_000,
            jitter_us: 150_000,
            loss_percent: 20.0,
            duplicate_percent: 5.0,
            reorder_percent: 10.0,
            corrupt_percent: 2.0,
            rate_bits_per_sec: 1_000_000,
            burst_bytes: 16 * 1024,
            queue_limit_bytes: 64 * 1024,
        })
    }

    /// A preset by name (see [`PRESET_NAMES`]).
    pub fn preset(name: &str) -> Result<Self, NetError> {
        match name {
            "none" => Ok(Self::none()),
            "lan" => Ok(Self::lan()),
            "wan" => Ok(Self::wan()),
            "light_chaos" => Ok(Self::light_chaos()),
            "heavy_chaos" => Ok(Self::heavy_chaos()),
            "hostile" => Ok(Self::hostile()),
            other => Err(NetError::InvalidImpairment(format!(
                "unknown preset {other:?}; choose one of {}",
                PRESET_NAMES.join(", ")
            ))),
        }
    }

    fn preset_from(spec: LinkImpairmentBuilder) -> Self {
        let built = spec.build();
        debug_assert!(built.is_ok(), "preset must be valid: {built:?}");
        built.unwrap_or_default()
    }

    /// True when this impairment changes nothing.
    pub fn is_none(&self) -> bool {
        self.spec == LinkImpairmentBuilder::default()
    }

    pub fn latency_us(&self) -> u64 {
        self.spec.latency_us
    }
    pub fn jitter_us(&self) -> u64 {
        self.spec.jitter_us
    }
    pub fn loss_percent(&self) -> f64 {
        self.spec.loss_percent
    }
    pub fn duplicate_percent(&self) -> f64 {
        self.spec.duplicate_percent
    }
    pub fn reorder_percent(&self) -> f64 {
        self.spec.reorder_percent
    }
    pub fn corrupt_percent(&self) -> f64 {
        self.spec.corrupt_percent
    }
    pub fn rate_bits_per_sec(&self) -> u64 {
        self.spec.rate_bits_per_sec
    }
    pub fn burst_bytes(&self) -> u64 {
        self.spec.burst_bytes
    }
    pub fn queue_limit_bytes(&self) -> u64 {
        self.spec.queue_limit_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_distinct() {
        let presets: Vec<_> = PRESET_NAMES
            .iter()
            .map(|name| LinkImpairment::preset(name).expect("preset"))
            .collect();
        assert!(presets[0].is_none());
        for (i, a) in presets.iter().enumerate() {
            for b in &presets[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(LinkImpairment::wan().latency_us(), 40_000);
    }

    #[test]
    fn out_of_range_values_are_typed_errors() {
        let cases = [
            LinkImpairment::builder().loss_percent(150.0),
            LinkImpairment::builder().loss_percent(-1.0),
            LinkImpairment::builder().duplicate_percent(f64::NAN),
            LinkImpairment::builder().reorder_percent(f64::INFINITY),
            LinkImpairment::builder().latency_ms(61_000),
            LinkImpairment::builder().jitter_ms(u64::MAX),
            LinkImpairment::builder().rate_bits_per_sec(10),
            LinkImpairment::builder().rate_bits_per_sec(u64::MAX),
            LinkImpairment::builder().burst_bytes(1024),
            LinkImpairment::builder().queue_limit_bytes(u64::MAX),
        ];
        for case in cases {
            let err = case.build().expect_err("must be rejected");
            assert!(matches!(err, NetError::InvalidImpairment(_)), "{err}");
        }
        assert!(LinkImpairment::preset("lossy").is_err());
    }

    #[test]
    fn deserialization_validates() {
        let ok: LinkImpairment = serde_json::from_str(r#"{"latency_us": 5000}"#).expect("valid");
        assert_eq!(ok.latency_us(), 5000);
        let bad = serde_json::from_str::<LinkImpairment>(r#"{"loss_percent": 150}"#);
        assert!(bad.is_err());
        let unknown = serde_json::from_str::<LinkImpairment>(r#"{"lossy": 1}"#);
        assert!(unknown.is_err());
        let round: LinkImpairment =
            serde_json::from_str(&serde_json::to_string(&LinkImpairment::hostile()).unwrap())
                .unwrap();
        assert_eq!(round, LinkImpairment::hostile());
    }
}
