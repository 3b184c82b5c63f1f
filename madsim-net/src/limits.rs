//! Bounds on everything fed from outside (Tiger Style).
//!
//! Exceeding a bound is a typed error ([`crate::NetError`]) and a counter,
//! never a panic and never unbounded memory.

/// Largest frame payload accepted or sent by [`crate::frame`], in bytes.
pub const MAX_RPC_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// Open TCP connections (connected plus accepted) one node may hold at once.
pub const MAX_CONNECTIONS_PER_NODE: usize = 100;

/// Nodes one backend may hold.
pub const MAX_NODES: usize = 100;

/// Bytes a simulated stream holds in flight per direction before the writer
/// is blocked (the send buffer plus the peer's receive window of a real
/// kernel). Bounds each directed queue of the simulated network.
pub const STREAM_WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// Largest segment the simulated network schedules as one unit, in bytes.
/// Bandwidth and loss act per segment, so a large write is spread over time.
pub const SEGMENT_BYTES: usize = 16 * 1024;

/// Events kept in memory for inspection; older ones are dropped from the log
/// (and counted) but always folded into the trace hash.
pub const MAX_EVENTS_RETAINED: usize = 200_000;

/// Retransmissions of one lost segment before the simulated stream is reset,
/// as Linux's `tcp_retries2` default.
pub const MAX_RETRANSMITS: u32 = 15;

/// Minimum retransmission timeout of the simulated TCP, as Linux's `TCP_RTO_MIN`.
pub const RTO_MIN_US: u64 = 200_000;

/// Maximum retransmission timeout of the simulated TCP, as Linux's `TCP_RTO_MAX`.
pub const RTO_MAX_US: u64 = 120_000_000;

/// How long a connect waits for a partition to heal before it fails with
/// `TimedOut` (Linux gives up after about 127 s with `tcp_syn_retries = 6`).
pub const CONNECT_TIMEOUT_US: u64 = 127_000_000;
