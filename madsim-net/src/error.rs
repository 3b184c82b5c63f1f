//! The one error type of madsim-net.

use std::io;

use crate::backend::NodeId;

/// Everything a user or the network can get wrong, typed.
///
/// Socket-level operations keep tokio's `io::Result` signatures so the facade
/// is a drop-in; their errors carry a `NetError` inside, recoverable with
/// [`NetError::from_io`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("invalid link impairment: {0}")]
    InvalidImpairment(String),
    #[error("node cap reached: at most {limit} nodes")]
    NodeLimit { limit: usize },
    #[error("node {node} holds {limit} connections already (MAX_CONNECTIONS_PER_NODE)")]
    ConnectionLimit { node: NodeId, limit: usize },
    #[error("frame of {len} bytes exceeds the {limit}-byte limit")]
    FrameTooLarge { len: usize, limit: usize },
    #[error("truncated frame: expected {expected} bytes, got {got}")]
    FrameTruncated { expected: usize, got: usize },
    #[error("garbage frame: {0}")]
    FrameGarbage(String),
    #[error("no such node: {0}")]
    UnknownNode(NodeId),
    #[error("{backend} backend cannot {what}: {hint}")]
    Unsupported {
        backend: &'static str,
        what: String,
        hint: &'static str,
    },
    #[error("node {0} is not running")]
    NodeDown(NodeId),
    #[error("invalid partition: {0}")]
    InvalidPartition(String),
    #[error("i/o error: {0}")]
    Io(String),
    #[error(
        "clock rate {rate_permille}\u{2030} is outside {}..={}\u{2030}",
        crate::clock::RATE_PERMILLE.start(),
        crate::clock::RATE_PERMILLE.end()
    )]
    ClockRate { rate_permille: u32 },
}

impl NetError {
    /// The `NetError` inside an `io::Error` made by madsim-net, if any.
    pub fn from_io(err: &io::Error) -> Option<&NetError> {
        err.get_ref()?.downcast_ref::<NetError>()
    }

    /// This error as an `io::Error` of a fitting kind.
    pub fn into_io(self) -> io::Error {
        let kind = match &self {
            NetError::ConnectionLimit { .. } => io::ErrorKind::QuotaExceeded,
            NetError::FrameTooLarge { .. } | NetError::FrameGarbage(_) => {
                io::ErrorKind::InvalidData
            }
            NetError::FrameTruncated { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

impl From<io::Error> for NetError {
    fn from(err: io::Error) -> Self {
        match NetError::from_io(&err) {
            Some(inner) => inner.clone(),
            None => NetError::Io(err.to_string()),
        }
    }
}
