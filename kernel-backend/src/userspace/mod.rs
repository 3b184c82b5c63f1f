//! The userspace impairment engine, for kernels without `sch_netem`.
//!
//! Each peer namespace gets a TUN device ([`open_tun`]); the [`Relay`], one
//! dedicated OS thread, moves the IPv4 packets between the TUN devices and
//! applies each directed link's [`LinkImpairment`](madsim_net::LinkImpairment):
//! partition, loss, duplication, corruption, a token-bucket rate limit with a
//! bounded queue, and latency ± jitter (FIFO) with netem-style reordering.
//! Timing comes from an absolute nanosecond timerfd over a binary-heap timer
//! queue, not from a tick, so delays are accurate well below a millisecond.
//!
//! Modules, by concept:
//! - [`tun`]: opening a TUN device (and setting its MTU).
//! - [`relay`]: the [`Relay`] handle and its [`RelayConfig`].
//! - `relay_thread`: the relay thread (epoll, ports, routing, delivery).
//! - [`link`]: the pure per-link decisions; [`bucket`]: the rate limiter.
//! - [`schedule`]: the timer queue; [`pool`]: reused packet buffers.
//! - [`packet`]: IPv4 validation and corruption; [`stats`]: counters.
//! - [`clock`]: `CLOCK_MONOTONIC` nanoseconds.
//!
//! TUN MTU: a TUN device without IFF_VNET_HDR has no GSO, so the relay pays
//! per packet and a larger MTU carries more per syscall. Measured on two
//! vCPUs (relay and both TCP ends sharing them; `tcp_throughput_per_mtu` in
//! `tests/relay.rs`), unimpaired TCP goodput was about 1.5-2 Gbit/s at MTU
//! 1500, 5 Gbit/s at 9000 and 10-12 Gbit/s at 65535. We recommend 1500:
//! it already clears 500 Mbit/s threefold, and it keeps per-packet faults
//! meaning what they mean on Ethernet (at 65535 one "lost packet" is 45
//! Ethernet frames, and a 1 Mbit/s link is busy 0.5 s per packet). Use 9000
//! for throughput-bound benches.
//!
//! A fresh TUN device may emit IPv6 packets (router solicitations); the
//! relay counts them as `dropped_malformed`. Disable IPv6 on the device if
//! that counter should stay zero.

pub mod bucket;
pub mod clock;
pub mod link;
pub mod packet;
pub mod pool;
pub mod relay;
mod relay_thread;
pub mod schedule;
pub mod stats;
pub mod tun;

pub use relay::{Relay, RelayConfig};
pub use stats::{LinkStats, RelayStats};
pub use tun::{open_tun, set_mtu};

/// Most ports one relay serves (ports are numbered `0..MAX_PORTS`).
pub const MAX_PORTS: usize = 128;
