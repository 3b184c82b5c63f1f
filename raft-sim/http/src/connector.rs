//! [`Connector`]: hyper-util's client connector on madsim-net's TCP.
//!
//! hyper-util's own `HttpConnector` resolves names with `getaddrinfo` on a
//! blocking thread and connects with `tokio::net`; neither exists in the
//! simulator. This one takes `http://IP:PORT` only (the simulator has no
//! DNS; a host name is [`ConnectError::Hostname`], not a lookup) and
//! connects with [`madsim_net::net::TcpStream::connect`], so the connection
//! is a simulated one with its link's faults under madsim and a real socket
//! otherwise.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use madsim_net::NetError;
use madsim_net::net::TcpStream;

use crate::limits::{DEFAULT_CONNECT_TIMEOUT, MAX_HOST_CHARS_IN_ERRORS};

/// Why a connection could not be made. Found again inside a hyper-util
/// client error by [`ConnectError::find`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported URI scheme `{0}`: only http:// is served over madsim-net")]
    UnsupportedScheme(String),
    #[error("URI has no host: expected http://IP:PORT")]
    MissingHost,
    #[error(
        "cannot resolve host name `{host}`: there is no DNS in the simulator, \
         use an IP literal such as http://10.0.0.1:8080"
    )]
    Hostname { host: String },
    #[error("connect to {addr} timed out after {after:?}")]
    Timeout { addr: SocketAddr, after: Duration },
    #[error("connect to {addr} failed ({kind:?}): {error}")]
    Io {
        addr: SocketAddr,
        kind: io::ErrorKind,
        /// madsim-net's typed error where it made one (for example
        /// `ConnectionLimit`), else the I/O error's text.
        error: NetError,
    },
}

impl ConnectError {
    /// The `ConnectError` somewhere in `error`'s source chain: hyper-util's
    /// client wraps a connector's error in its own.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a ConnectError> {
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(ours) = err.downcast_ref::<ConnectError>() {
                return Some(ours);
            }
            current = err.source();
        }
        None
    }
}

/// The socket address an `http://IP[:PORT]` URI names; port 80 when absent.
pub fn socket_addr_of(uri: &Uri) -> Result<SocketAddr, ConnectError> {
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(ConnectError::UnsupportedScheme(bounded(other))),
        None => return Err(ConnectError::UnsupportedScheme(String::new())),
    }
    let host = uri.host().ok_or(ConnectError::MissingHost)?;
    // An IPv6 literal keeps its brackets in `Uri::host`.
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = literal.parse().map_err(|_| ConnectError::Hostname {
        host: bounded(host),
    })?;
    Ok(SocketAddr::new(ip, uri.port_u16().unwrap_or(80)))
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_HOST_CHARS_IN_ERRORS).collect()
}

/// A `tower_service::Service<Uri>` that hyper-util's legacy client uses to
/// open connections. Cheap to clone (it is a timeout).
#[derive(Debug, Clone, Copy)]
pub struct Connector {
    connect_timeout: Duration,
}

impl Default for Connector {
    fn default() -> Self {
        Connector::new()
    }
}

impl Connector {
    /// A connector with [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new() -> Self {
        Connector {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The same connector giving up on a connect after `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Connects to what `uri` names, within the connect timeout.
    pub async fn connect(&self, uri: &Uri) -> Result<HttpStream, ConnectError> {
        let addr = socket_addr_of(uri)?;
        let after = self.connect_timeout;
        let stream = match madsim_net::time::timeout(after, TcpStream::connect(addr)).await {
            Err(_elapsed) => return Err(ConnectError::Timeout { addr, after }),
            Ok(Err(err)) => {
                return Err(ConnectError::Io {
                    addr,
                    kind: err.kind(),
                    error: NetError::from(err),
                });
            }
            Ok(Ok(stream)) => stream,
        };
        // Requests are small and latency-bound: do not let Nagle hold them.
        // A failure here costs latency only, never correctness.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%addr, %err, "set_nodelay failed");
        }
        let info = ConnectionInfo {
            local: stream.local_addr().map_err(|err| ConnectError::Io {
                addr,
                kind: err.kind(),
                error: NetError::from(err),
            })?,
            peer: addr,
        };
        Ok(HttpStream {
            io: TokioIo::new(stream),
            info,
        })
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = HttpStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = *self;
        Box::pin(async move { connector.connect(&uri).await })
    }
}

/// Both ends of a client connection; hyper-util puts it in every response's
/// extensions (`response.extensions().get::<ConnectionInfo>()`), which tells
/// a test which pooled connection served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// A client connection: madsim-net's [`TcpStream`] speaking hyper's I/O
/// traits.
#[derive(Debug)]
pub struct HttpStream {
    io: TokioIo<TcpStream>,
    info: ConnectionInfo,
}

impl HttpStream {
    pub fn info(&self) -> ConnectionInfo {
        self.info
    }

    /// The madsim-net stream underneath.
    pub fn into_inner(self) -> TcpStream {
        self.io.into_inner()
    }
}

impl Connection for HttpStream {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.info)
    }
}

impl hyper::rt::Read for HttpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for HttpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(uri: &str) -> Result<SocketAddr, ConnectError> {
        socket_addr_of(&uri.parse::<Uri>().map_err(|_| ConnectError::MissingHost)?)
    }

    #[test]
    fn ip_literals_resolve_and_port_defaults_to_80() {
        assert_eq!(
            addr("http://10.0.0.1:8080/raft/vote"),
            Ok(([10, 0, 0, 1], 8080).into())
        );
        assert_eq!(addr("http://10.0.0.2/"), Ok(([10, 0, 0, 2], 80).into()));
        assert_eq!(
            addr("http://[::1]:9000/"),
            Ok(SocketAddr::new(
                "::1".parse().unwrap_or(IpAddr::from([0u8; 16])),
                9000
            ))
        );
    }

    #[test]
    fn host_names_and_other_schemes_are_typed_errors() {
        assert_eq!(
            addr("http://node-1:8080/"),
            Err(ConnectError::Hostname {
                host: "node-1".into()
            })
        );
        assert_eq!(
            addr("https://10.0.0.1/"),
            Err(ConnectError::UnsupportedScheme("https".into()))
        );
        assert!(matches!(
            addr("/relative"),
            Err(ConnectError::UnsupportedScheme(_))
        ));
        let long = format!("http://{}.example/", "a".repeat(1000));
        match addr(&long) {
            Err(ConnectError::Hostname { host }) => {
                assert_eq!(host.chars().count(), MAX_HOST_CHARS_IN_ERRORS)
            }
            other => panic!("expected Hostname, got {other:?}"),
        }
    }

    #[test]
    fn find_digs_through_wrappers() {
        #[derive(Debug, thiserror::Error)]
        #[error("wrapper")]
        struct Wrapper(#[source] ConnectError);
        let wrapped = Wrapper(ConnectError::MissingHost);
        assert_eq!(
            ConnectError::find(&wrapped),
            Some(&ConnectError::MissingHost)
        );
        let plain = io::Error::other("x");
        assert_eq!(ConnectError::find(&plain), None);
    }
}
