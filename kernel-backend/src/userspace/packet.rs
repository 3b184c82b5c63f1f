//! Just enough IPv4 to route a packet read from a TUN device.
//!
//! The relay never trusts what it reads: anything that is not a well-formed
//! IPv4 header is reported as [`Malformed`] and dropped by the caller.

use std::net::Ipv4Addr;

/// Smallest IPv4 header (IHL = 5).
pub const IPV4_MIN_HEADER_BYTES: usize = 20;
/// Largest IPv4 packet (the total-length field is 16 bits).
pub const IPV4_MAX_PACKET_BYTES: usize = 65_535;

/// Why a buffer is not a routable IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the minimum IPv4 header.
    TooShort,
    /// The version nibble is not 4 (IPv6 router solicitations land here).
    NotIpv4,
    /// IHL or total length disagree with the bytes read.
    BadLength,
}

/// The routing facts of one IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4View {
    pub dst: Ipv4Addr,
    pub header_bytes: usize,
    /// The packet's length from its header; the bytes read may be longer.
    pub total_bytes: usize,
}

/// Checks `packet` and extracts its destination and lengths.
pub fn parse_ipv4(packet: &[u8]) -> Result<Ipv4View, Malformed> {
    if packet.len() < IPV4_MIN_HEADER_BYTES {
        return Err(Malformed::TooShort);
    }
    if packet[0] >> 4 != 4 {
        return Err(Malformed::NotIpv4);
    }
    let header_bytes = usize::from(packet[0] & 0x0f) * 4;
    let total_bytes = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let lengths_agree = header_bytes >= IPV4_MIN_HEADER_BYTES
        && header_bytes <= total_bytes
        && total_bytes <= packet.len();
    if !lengths_agree {
        return Err(Malformed::BadLength);
    }
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    Ok(Ipv4View {
        dst,
        header_bytes,
        total_bytes,
    })
}

/// Flips bit `bit_index` of the payload (the bytes after the IP header), so
/// the header stays routable and only the transport checksum can notice.
pub fn flip_payload_bit(packet: &mut [u8], header_bytes: usize, bit_index: usize) {
    let byte = header_bytes + bit_index / 8;
    assert!(
        byte < packet.len(),
        "corrupt bit {bit_index} past the packet"
    );
    packet[byte] ^= 1 << (bit_index % 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(total: u16, dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; usize::from(total)];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[16..20].copy_from_slice(&dst);
        p
    }

    #[test]
    fn parses_a_valid_header() {
        let p = header(28, [10, 0, 0, 2]);
        let view = parse_ipv4(&p).expect("valid");
        assert_eq!(view.dst, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((view.header_bytes, view.total_bytes), (20, 28));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_ipv4(&[0x45; 5]), Err(Malformed::TooShort));
        let mut v6 = header(40, [0; 4]);
        v6[0] = 0x60;
        assert_eq!(parse_ipv4(&v6), Err(Malformed::NotIpv4));
        let mut short_ihl = header(28, [0; 4]);
        short_ihl[0] = 0x44;
        assert_eq!(parse_ipv4(&short_ihl), Err(Malformed::BadLength));
        let mut long_total = header(28, [0; 4]);
        long_total[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert_eq!(parse_ipv4(&long_total), Err(Malformed::BadLength));
        let mut long_ihl = header(28, [0; 4]);
        long_ihl[0] = 0x4f; // 60-byte header in a 28-byte packet
        assert_eq!(parse_ipv4(&long_ihl), Err(Malformed::BadLength));
    }

    #[test]
    fn corruption_keeps_the_header() {
        let mut p = header(28, [10, 0, 0, 2]);
        let before = p.clone();
        flip_payload_bit(&mut p, 20, 13);
        assert_eq!(p[..20], before[..20]);
        let differing: Vec<_> = (0..p.len()).filter(|&i| p[i] != before[i]).collect();
        assert_eq!(differing, vec![21]);
        assert_eq!(p[21] ^ before[21], 1 << 5);
    }
}
