//! From a [`LinkImpairment`] to the tc objects that realise it.

use madsim_net::LinkImpairment;
use madsim_net::impairment::MAX_RATE_BITS_PER_SEC;

use super::htb::HtbClassSpec;
use super::netem::NetemSpec;
use super::tbf::TbfSpec;

/// Netem's queue (delayed packets included): 1000, tc's default, is too few
/// for a fast link with a long delay (1 Gbit/s × 100 ms is ~8600 full frames).
pub const ENGINE_NETEM_LIMIT_PACKETS: u32 = 10_000;
/// TBF queue when the impairment sets none: the same 1 MiB bound the
/// simulator's link model uses.
pub const DEFAULT_TBF_LIMIT_BYTES: u32 = 1 << 20;
/// A TBF drops every non-GSO packet larger than its burst: one full
/// Ethernet frame (1500 + 14) is the least that works.
pub const MIN_TBF_BURST_BYTES: u32 = 1514;
/// Default burst: 1/this of a second of traffic, i.e. 10 ms. One frame (1 ms
/// at 10 Mbit/s) is too little: a late dequeue wastes the tokens it could
/// not hold, and goodput fell to 94% of the rate in our accuracy test.
const DEFAULT_BURST_DIVISOR: u64 = 100;
/// The default burst stops here (2 ms at 1 Gbit/s), well under the queue limit.
const MAX_DEFAULT_BURST_BYTES: u64 = 256 * 1024;
/// The per-destination HTB class only classifies; it must never shape, so it
/// runs at the highest rate an impairment may ask for.
pub const PASS_THROUGH_RATE_BITS_PER_SEC: u64 = MAX_RATE_BITS_PER_SEC;
/// Burst of the pass-through class: large, so it never throttles on timer
/// granularity (1 MiB is 84 µs at 100 Gbit/s).
const PASS_THROUGH_BURST_BYTES: u32 = 1 << 20;
/// Explicit quantum: the kernel's automatic one (rate / r2q) would be
/// clamped to this with a warning in dmesg for every class.
const PASS_THROUGH_QUANTUM_BYTES: u32 = 200_000;

/// What netem must do for this link, or `None` when netem is not needed.
/// `blocked` (a partition) drops everything: loss 100 %.
pub fn netem_options_for(impairment: &LinkImpairment, blocked: bool) -> Option<NetemSpec> {
    if blocked {
        return Some(NetemSpec {
            loss_percent: 100.0,
            limit_packets: ENGINE_NETEM_LIMIT_PACKETS,
            ..Default::default()
        });
    }
    let spec = NetemSpec {
        latency_us: impairment.latency_us(),
        jitter_us: impairment.jitter_us(),
        loss_percent: impairment.loss_percent(),
        duplicate_percent: impairment.duplicate_percent(),
        reorder_percent: impairment.reorder_percent(),
        corrupt_percent: impairment.corrupt_percent(),
        limit_packets: ENGINE_NETEM_LIMIT_PACKETS,
        ..Default::default()
    };
    let idle = NetemSpec {
        limit_packets: ENGINE_NETEM_LIMIT_PACKETS,
        ..Default::default()
    };
    (spec != idle).then_some(spec)
}

/// The rate limit for this link, or `None` when it has no rate.
pub fn tbf_options_for(impairment: &LinkImpairment) -> Option<TbfSpec> {
    let rate_bits_per_sec = impairment.rate_bits_per_sec();
    if rate_bits_per_sec == 0 {
        return None;
    }
    let burst_bytes = match impairment.burst_bytes() {
        0 => (rate_bits_per_sec / 8 / DEFAULT_BURST_DIVISOR).min(MAX_DEFAULT_BURST_BYTES),
        explicit => explicit,
    };
    let limit_bytes = match impairment.queue_limit_bytes() {
        0 => u64::from(DEFAULT_TBF_LIMIT_BYTES),
        explicit => explicit,
    };
    Some(TbfSpec {
        rate_bits_per_sec,
        burst_bytes: clamp_u32(burst_bytes).max(MIN_TBF_BURST_BYTES),
        limit_bytes: clamp_u32(limit_bytes),
    })
}

/// The per-destination class: classification only, never the bottleneck.
pub fn pass_through_class() -> HtbClassSpec {
    HtbClassSpec {
        burst_bytes: Some(PASS_THROUGH_BURST_BYTES),
        cburst_bytes: Some(PASS_THROUGH_BURST_BYTES),
        quantum_bytes: Some(PASS_THROUGH_QUANTUM_BYTES),
        ..HtbClassSpec::with_rate(PASS_THROUGH_RATE_BITS_PER_SEC)
    }
}

/// Impairment sizes are at most 1 GiB (validated), so this never clamps.
fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// What the tc engine installs for a link, in words: the line the event
/// log gets, so a kernel run's artifact shows what the kernel was told.
pub fn describe_link(impairment: &LinkImpairment, blocked: bool) -> String {
    let netem = netem_options_for(impairment, blocked).map(|spec| describe_netem(&spec));
    let tbf = tbf_options_for(impairment).map(|spec| {
        format!(
            "tbf rate {} bit/s burst {} B limit {} B",
            spec.rate_bits_per_sec, spec.burst_bytes, spec.limit_bytes
        )
    });
    let parts: Vec<String> = netem.into_iter().chain(tbf).collect();
    if parts.is_empty() {
        "no qdiscs (unshaped)".to_string()
    } else {
        parts.join(", then ")
    }
}

/// netem's settings that are not zero, as `tc` would list them.
fn describe_netem(spec: &NetemSpec) -> String {
    let mut words = vec!["netem".to_string()];
    if spec.latency_us > 0 {
        words.push(format!("delay {} us", spec.latency_us));
    }
    if spec.jitter_us > 0 {
        words.push(format!("jitter {} us", spec.jitter_us));
    }
    let percents = [
        ("loss", spec.loss_percent),
        ("duplicate", spec.duplicate_percent),
        ("reorder", spec.reorder_percent),
        ("corrupt", spec.corrupt_percent),
    ];
    for (name, percent) in percents.into_iter().filter(|(_, p)| *p > 0.0) {
        words.push(format!("{name} {percent}%"));
    }
    words.push(format!("limit {} packets", spec.limit_packets));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_impairment_needs_nothing() {
        let none = LinkImpairment::none();
        assert_eq!(netem_options_for(&none, false), None);
        assert_eq!(tbf_options_for(&none), None);
    }

    #[test]
    fn blocked_is_total_loss_whatever_the_impairment() {
        let spec = netem_options_for(&LinkImpairment::wan(), true).unwrap();
        assert_eq!(spec.loss_percent, 100.0);
        assert_eq!(spec.latency_us, 0);
    }

    #[test]
    fn rate_only_needs_no_netem() {
        let rate = LinkImpairment::builder()
            .rate_bits_per_sec(10_000_000)
            .build()
            .unwrap();
        assert_eq!(netem_options_for(&rate, false), None);
        let tbf = tbf_options_for(&rate).unwrap();
        assert_eq!(tbf.rate_bits_per_sec, 10_000_000);
        assert_eq!(tbf.burst_bytes, 12_500); // 10 ms of 10 Mbit/s
        assert_eq!(tbf.limit_bytes, DEFAULT_TBF_LIMIT_BYTES);
    }

    #[test]
    fn presets_map_field_by_field() {
        let heavy = LinkImpairment::heavy_chaos();
        let netem = netem_options_for(&heavy, false).unwrap();
        assert_eq!(netem.latency_us, 50_000);
        assert_eq!(netem.jitter_us, 30_000);
        assert_eq!(netem.loss_percent, 5.0);
        assert_eq!(netem.duplicate_percent, 2.0);
        assert_eq!(netem.reorder_percent, 5.0);
        assert_eq!(netem.corrupt_percent, 0.5);
        assert!(netem.validate().is_ok());
        let tbf = tbf_options_for(&heavy).unwrap();
        assert_eq!((tbf.burst_bytes, tbf.limit_bytes), (32 * 1024, 1024 * 1024));
        let gbit = tbf_options_for(
            &LinkImpairment::builder()
                .rate_bits_per_sec(1_000_000_000)
                .build()
                .unwrap(),
        );
        assert_eq!(gbit.unwrap().burst_bytes, 256 * 1024);
    }

    #[test]
    fn descriptions_say_what_is_installed() {
        assert_eq!(
            describe_link(&LinkImpairment::none(), false),
            "no qdiscs (unshaped)"
        );
        assert_eq!(
            describe_link(&LinkImpairment::none(), true),
            format!("netem loss 100% limit {ENGINE_NETEM_LIMIT_PACKETS} packets")
        );
        let rate = LinkImpairment::builder()
            .latency_ms(20)
            .loss_percent(1.5)
            .rate_bits_per_sec(10_000_000)
            .build()
            .unwrap();
        assert_eq!(
            describe_link(&rate, false),
            format!(
                "netem delay 20000 us loss 1.5% limit {ENGINE_NETEM_LIMIT_PACKETS} packets, \
                 then tbf rate 10000000 bit/s burst 12500 B limit {DEFAULT_TBF_LIMIT_BYTES} B"
            )
        );
    }

    #[test]
    fn pass_through_class_is_valid() {
        assert!(pass_through_class().validate().is_ok());
    }
}
