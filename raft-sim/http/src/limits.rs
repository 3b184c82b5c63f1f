//! Every bound and default time of this crate in one place (Tiger Style):
//! what comes from the network is bounded before it is allocated.

use std::time::Duration;

/// Largest response body [`crate::call()`] and the JSON helpers accept, in
/// bytes: madsim-net's RPC bound, so an HTTP RaftNetwork carries what the
/// framed one does. A larger body is [`crate::BodyError::TooLarge`].
pub const MAX_RESPONSE_BYTES: usize = madsim_net::limits::MAX_RPC_MESSAGE_SIZE;

/// Largest request body the JSON helpers send, in bytes (the same bound the
/// peer applies when it reads it with [`crate::collect_bounded`]).
pub const MAX_REQUEST_BYTES: usize = madsim_net::limits::MAX_RPC_MESSAGE_SIZE;

/// How long [`crate::Connector`] waits for a TCP connection by default. A
/// simulated connect into a partition waits for the heal for up to 127 s
/// (as Linux's SYN retries); an RPC client wants to hear much sooner.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle pooled connections kept per `scheme://authority` by [`crate::client()`].
/// A Raft peer needs one or two; the node's connection budget
/// (`MAX_CONNECTIONS_PER_NODE`) is shared with every other peer.
pub const MAX_IDLE_PER_HOST: usize = 8;

/// How long [`crate::client()`] keeps an idle pooled connection. Shorter than
/// [`HEADER_READ_TIMEOUT`], after which [`crate::Server`] closes an idle
/// keep-alive connection, so the client stops reusing a connection before the
/// server hangs up on it.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`crate::Server`] waits for a request's headers, counted from
/// when it starts waiting for the next request: idle keep-alive connections
/// are closed after this too.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections one [`crate::Server`] serves at once by default; one more is
/// closed at accept. madsim-net's per-node limit, so one server can use a
/// node's whole budget but not more.
pub const MAX_SERVER_CONNECTIONS: usize = madsim_net::limits::MAX_CONNECTIONS_PER_NODE;

/// Consecutive failed `accept`s after which [`crate::Server::serve`] gives
/// up and returns the error: one failure (a connection reset before it was
/// accepted, a momentary lack of file descriptors) is retried with backoff, a
/// listener that never accepts again is reported.
pub const MAX_CONSECUTIVE_ACCEPT_ERRORS: u32 = 64;

/// First pause after a failed `accept`; it doubles with each further failure.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Largest pause between failed `accept`s.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Characters of a host name kept in a [`crate::ConnectError`]: the URI is
/// caller input, its message should not be unbounded.
pub const MAX_HOST_CHARS_IN_ERRORS: usize = 255;
