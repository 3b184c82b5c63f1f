//! [`KernelError`]: what can go wrong building or driving a kernel network.

use madsim_net::NetError;

/// Errors of kernel-backend; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(
        "kernel-backend needs root: it creates network namespaces, veths and qdiscs (CAP_SYS_ADMIN, CAP_NET_ADMIN); run the command again as root, e.g. with `sudo -E`"
    )]
    NotRoot,
    #[error("{what}: this kernel cannot do it ({why}); {hint}")]
    Unsupported {
        what: String,
        why: String,
        hint: String,
    },
    #[error("netlink: {context}: {source}")]
    Netlink {
        context: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("no peer {peer}: this hub has {peers} peer(s), numbered from 0")]
    UnknownPeer { peer: usize, peers: usize },
    #[error(transparent)]
    Net(#[from] NetError),
}

impl KernelError {
    pub fn io(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        KernelError::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    pub fn netlink(context: impl Into<String>, source: rtnetlink::Error) -> Self {
        KernelError::Netlink {
            context: context.into(),
            source,
        }
    }
}

impl From<KernelError> for NetError {
    fn from(err: KernelError) -> NetError {
        match err {
            KernelError::Net(err) => err,
            other => NetError::Io(other.to_string()),
        }
    }
}
