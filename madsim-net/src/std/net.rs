//! tokio's `TcpListener` and `TcpStream`, with what a backend node needs on
//! top: sockets bound to the node's own address, the per-node connection
//! limit, and partitions (writes into a cut link wait for the heal, as a
//! real TCP sender whose segments go unacknowledged).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, ToSocketAddrs, lookup_host};

use super::node_thread::PartitionEnforcement;
use super::world;
use crate::backend::NodeId;
use crate::injector::ConnectionSlot;
use crate::trace::EventKind;
use crate::{FailureInjector, NetError};

/// The partition check of one direction of a stream.
struct Gate {
    injector: Arc<FailureInjector>,
    from: NodeId,
    to: NodeId,
}

struct Shared {
    gate: Option<Gate>,
    _slot: Option<ConnectionSlot>,
}

/// A TCP stream on real sockets.
pub struct TcpStream {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
}

/// The reading half of a [`TcpStream`].
pub struct OwnedReadHalf {
    inner: tokio::net::tcp::OwnedReadHalf,
    _shared: Arc<Shared>,
}

/// The writing half of a [`TcpStream`].
pub struct OwnedWriteHalf {
    inner: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Shared>,
    stalled: bool,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.read.inner.local_addr().ok())
            .field("peer", &self.read.inner.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr`, from the current node's address when a backend
    /// runs this thread. Waits out a partition between the two nodes.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let target = lookup_host(addr).await?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
        })?;
        let Some((context, (node, ip))) = world::current().and_then(|c| c.node.map(|n| (c, n)))
        else {
            let stream = tokio::net::TcpStream::connect(target).await?;
            return Ok(TcpStream::new(
                stream,
                Shared {
                    gate: None,
                    _slot: None,
                },
            ));
        };
        let by_sockets = context.enforcement == PartitionEnforcement::Sockets;
        let injector = context.injector;
        let server = injector
            .node_for_ip(target.ip())
            .map_err(NetError::into_io)?;
        let slot = injector.open_connection(node).map_err(NetError::into_io)?;
        if by_sockets {
            injector.wait_for_path(node, server).await?;
        }
        let socket = if ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(ip, 0))?;
        let stream = match socket.connect(target).await {
            Ok(stream) => stream,
            Err(err) => {
                injector.record(EventKind::ConnectRefused {
                    from: node,
                    to: server,
                });
                return Err(err);
            }
        };
        injector.record(EventKind::Connected {
            from: node,
            to: server,
        });
        let gate = by_sockets.then_some(Gate {
            injector,
            from: node,
            to: server,
        });
        Ok(TcpStream::new(
            stream,
            Shared {
                gate,
                _slot: Some(slot),
            },
        ))
    }

    fn new(stream: tokio::net::TcpStream, shared: Shared) -> Self {
        let (read, write) = stream.into_split();
        let shared = Arc::new(shared);
        TcpStream {
            read: OwnedReadHalf {
                inner: read,
                _shared: Arc::clone(&shared),
            },
            write: OwnedWriteHalf {
                inner: write,
                shared,
                stalled: false,
            },
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.read.inner.local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.read.inner.peer_addr()
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.write.inner.as_ref().set_nodelay(nodelay)
    }

    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (self.read, self.write)
    }
}

impl OwnedReadHalf {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl OwnedWriteHalf {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Pending while the link is cut; wakes at the heal.
    fn poll_gate(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(gate) = &self.shared.gate else {
            return Poll::Ready(());
        };
        if !gate.injector.is_blocked(gate.from, gate.to) {
            self.stalled = false;
            return Poll::Ready(());
        }
        if !self.stalled {
            self.stalled = true;
            gate.injector.record(EventKind::Stalled {
                from: gate.from,
                to: gate.to,
            });
        }
        gate.injector.wake_on_heal(cx.waker());
        // Re-check: a heal between the test and the registration is not lost.
        if gate.injector.is_blocked(gate.from, gate.to) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.poll_gate(cx).is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

crate::duplex::duplex_io_via_halves!(TcpStream);

/// A TCP listener on real sockets; on a backend node, an unspecified bind
/// address means the node's own address.
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    node: Option<(Arc<FailureInjector>, NodeId)>,
    by_sockets: bool,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.inner.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let context = world::current();
        let Some((node, ip)) = context.as_ref().and_then(|c| c.node) else {
            let inner = tokio::net::TcpListener::bind(addr).await?;
            return Ok(TcpListener {
                inner,
                node: None,
                by_sockets: false,
            });
        };
        let mut last_err = None;
        for mut candidate in lookup_host(addr).await? {
            if candidate.ip().is_unspecified() {
                candidate.set_ip(ip);
            }
            match tokio::net::TcpListener::bind(candidate).await {
                Ok(inner) => {
                    let context = context.expect("context checked above");
                    return Ok(TcpListener {
                        inner,
                        by_sockets: context.enforcement == PartitionEnforcement::Sockets,
                        node: Some((context.injector, node)),
                    });
                }
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts the next connection; one past `MAX_CONNECTIONS_PER_NODE` is
    /// closed at once and counted.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            let (stream, peer) = self.inner.accept().await?;
            let Some((injector, node)) = &self.node else {
                return Ok((
                    TcpStream::new(
                        stream,
                        Shared {
                            gate: None,
                            _slot: None,
                        },
                    ),
                    peer,
                ));
            };
            let Ok(slot) = injector.open_connection(*node) else {
                drop(stream);
                continue;
            };
            let client = client_node(injector, peer.ip())?;
            let gate = self.by_sockets.then(|| Gate {
                injector: Arc::clone(injector),
                from: *node,
                to: client,
            });
            let shared = Shared {
                gate,
                _slot: Some(slot),
            };
            return Ok((TcpStream::new(stream, shared), peer));
        }
    }
}

fn client_node(injector: &FailureInjector, ip: IpAddr) -> io::Result<NodeId> {
    injector.node_for_ip(ip).map_err(NetError::into_io)
}
