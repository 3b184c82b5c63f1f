//! Byte-level helpers: netlink attributes and the structs of
//! `<linux/pkt_sched.h>` that netlink-packet-route does not model.
//!
//! All multi-byte fields are host-endian (the kernel ABI); this crate only
//! builds on Linux, and every Linux target we run on is little-endian, which
//! the tc parity tests confirm byte for byte.

use super::psched::Psched;

/// `NLA_ALIGNTO`: attributes start on 4-byte boundaries.
const NLA_ALIGN_BYTES: usize = 4;
/// `struct nlattr` header: u16 length, u16 type.
const NLA_HEADER_BYTES: usize = 4;

/// `LINKLAYER_ETHERNET` in `tc_ratespec.linklayer`; tc assumes it by default.
pub const LINKLAYER_ETHERNET: u8 = 1;
/// Entries in a tc rate table (`TCA_*_RTAB`): one per size cell.
pub const RATE_TABLE_ENTRIES: usize = 256;
/// The MTU tc assumes for TBF when none is given (`tc_calc_rtable`).
pub const TBF_DEFAULT_MTU_BYTES: u32 = 2047;

/// Appends attribute `kind` with `value`, padded to the 4-byte boundary
/// (the length field excludes the padding, as `addattr_l` does).
pub fn push_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = NLA_HEADER_BYTES + value.len();
    let len_u16 = u16::try_from(len).expect("netlink attribute larger than 64 KiB");
    buf.extend_from_slice(&len_u16.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len().next_multiple_of(NLA_ALIGN_BYTES), 0);
}

/// Appends a `u32` attribute.
pub fn push_u32_attr(buf: &mut Vec<u8>, kind: u16, value: u32) {
    push_attr(buf, kind, &value.to_ne_bytes());
}

/// Appends a `u64` attribute.
pub fn push_u64_attr(buf: &mut Vec<u8>, kind: u16, value: u64) {
    push_attr(buf, kind, &value.to_ne_bytes());
}

/// Appends a table of `u32` (a rate table) as one attribute.
pub fn push_table_attr(buf: &mut Vec<u8>, kind: u16, table: &[u32]) {
    let bytes: Vec<u8> = table.iter().flat_map(|v| v.to_ne_bytes()).collect();
    push_attr(buf, kind, &bytes);
}

/// The 32-bit rate field of `tc_ratespec`: rates of 2^32 bytes/s or more do
/// not fit, so tc sends `~0` there and the true rate in a `*_RATE64` attribute.
pub fn rate_u32_field(rate_bytes_per_sec: u64) -> u32 {
    u32::try_from(rate_bytes_per_sec).unwrap_or(u32::MAX)
}

/// True when tc adds the 64-bit rate attribute for this rate.
pub fn needs_rate64(rate_bytes_per_sec: u64) -> bool {
    rate_bytes_per_sec > u64::from(u32::MAX)
}

/// `struct tc_ratespec` plus the rate table tc computes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSpec {
    pub cell_log: u8,
    pub linklayer: u8,
    pub overhead_bytes: u16,
    pub cell_align: i16,
    pub mpu_bytes: u16,
    pub rate_bytes_per_sec_u32: u32,
}

impl RateSpec {
    /// `tc_calc_rtable` for an Ethernet link without overhead or MPU: the
    /// ratespec and the 256-entry table of transmit ticks per size cell.
    ///
    /// Note tc computes the table from the 32-bit (clamped) rate even when
    /// the real rate is 64-bit; the kernel then ignores the table.
    pub fn with_table(
        clock: &Psched,
        rate_bytes_per_sec_u32: u32,
        mtu_bytes: u32,
    ) -> (RateSpec, Vec<u32>) {
        let mtu_bytes = if mtu_bytes == 0 {
            TBF_DEFAULT_MTU_BYTES
        } else {
            mtu_bytes
        };
        // Smallest cell so that the MTU fits in 256 cells.
        let mut cell_log = 0u8;
        while (mtu_bytes >> cell_log) > 255 {
            cell_log += 1;
        }
        let table = (0..RATE_TABLE_ENTRIES as u32)
            .map(|i| {
                let size_bytes = (i + 1) << cell_log;
                clock.xmit_ticks(u64::from(rate_bytes_per_sec_u32), size_bytes)
            })
            .collect();
        let spec = RateSpec {
            cell_log,
            linklayer: LINKLAYER_ETHERNET,
            overhead_bytes: 0,
            cell_align: -1,
            mpu_bytes: 0,
            rate_bytes_per_sec_u32,
        };
        (spec, table)
    }

    /// `struct tc_ratespec` on the wire (12 bytes).
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[0] = self.cell_log;
        out[1] = self.linklayer;
        out[2..4].copy_from_slice(&self.overhead_bytes.to_ne_bytes());
        out[4..6].copy_from_slice(&self.cell_align.to_ne_bytes());
        out[6..8].copy_from_slice(&self.mpu_bytes.to_ne_bytes());
        out[8..12].copy_from_slice(&self.rate_bytes_per_sec_u32.to_ne_bytes());
        out
    }
}

/// Concatenates `u32` fields into struct bytes.
pub fn u32_fields(fields: &[u32]) -> Vec<u8> {
    fields.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// netem/tc probability: a percentage scaled to `u32` (`~0` is 100 %),
/// rounded half-to-even like C's `rint` in iproute2's `set_percent`.
pub fn percent_to_u32(percent: f64) -> u32 {
    ((percent / 100.0) * f64::from(u32::MAX)).round_ties_even() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_but_length_is_not() {
        let mut buf = Vec::new();
        push_attr(&mut buf, 1, b"tbf\0");
        push_attr(&mut buf, 1, b"netem\0");
        assert_eq!(buf.len(), 8 + 12);
        assert_eq!(&buf[8..10], &10u16.to_ne_bytes());
    }

    #[test]
    fn percent_scaling_matches_tc() {
        assert_eq!(percent_to_u32(0.0), 0);
        assert_eq!(percent_to_u32(100.0), u32::MAX);
        assert_eq!(percent_to_u32(50.0), 2_147_483_648);
        assert_eq!(percent_to_u32(1.0), 42_949_673);
    }

    #[test]
    fn rate_fields_clamp_at_32_bits() {
        assert_eq!(rate_u32_field(5_000_000_000), u32::MAX);
        assert!(needs_rate64(1 << 32));
        assert!(!needs_rate64(u64::from(u32::MAX)));
    }
}
