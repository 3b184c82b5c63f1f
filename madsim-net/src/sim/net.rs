//! Simulated `TcpListener` and `TcpStream` with tokio's API.
//!
//! madsim sets connections up (ports, listeners, refused connections, node
//! ownership); the bytes then travel through this crate's pipes, shaped by
//! the world's [`FailureInjector`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use madsim::net::ToSocketAddrs;
use madsim::time::Sleep;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::pipe::{Conn, Side};
use super::world::{self, SimWorld};
use crate::NetError;
use crate::injector::ConnectionSlot;
use crate::trace::EventKind;

fn no_world() -> io::Error {
    io::Error::other("madsim-net: not inside a madsim runtime")
}

fn timer() -> Pin<Box<Sleep>> {
    Box::pin(madsim::time::sleep(Duration::ZERO))
}

/// What both halves of a stream share; dropping the last half closes it.
struct Shared {
    world: Arc<SimWorld>,
    conn: Arc<Conn>,
    side: Side,
    local: SocketAddr,
    peer: SocketAddr,
    _slot: ConnectionSlot,
    /// Keeps madsim's port binding alive for the stream's life.
    _raw: Mutex<madsim::net::TcpStream>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.world.forget_pending(self.conn.id());
    }
}

/// A simulated TCP stream.
pub struct TcpStream {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
}

/// The reading half of a [`TcpStream`].
pub struct OwnedReadHalf {
    shared: Arc<Shared>,
    timer: Pin<Box<Sleep>>,
}

/// The writing half of a [`TcpStream`]; dropping it shuts the direction down.
pub struct OwnedWriteHalf {
    shared: Arc<Shared>,
    timer: Pin<Box<Sleep>>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.read.shared.local)
            .field("peer", &self.read.shared.peer)
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr`. Waits out a partition between the two nodes (up to
    /// `CONNECT_TIMEOUT_US`, then `TimedOut`); fails with a `NetError::
    /// ConnectionLimit` inside the `io::Error` past `MAX_CONNECTIONS_PER_NODE`.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let world = world::current().ok_or_else(no_world)?;
        let target = madsim::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to")
            })?;
        let injector = Arc::clone(&world.injector);
        let server = injector
            .node_for_ip(target.ip())
            .map_err(NetError::into_io)?;
        let client = world.current_node();
        let slot = match client {
            Some(node) => Some(injector.open_connection(node).map_err(NetError::into_io)?),
            None => None,
        };
        if let Some(client) = client {
            injector.wait_for_path(client, server).await?;
            let handshake = injector.handshake_delay(client, server);
            if !handshake.is_zero() {
                madsim::time::sleep(handshake).await;
            }
        }
        let raw = match madsim::net::TcpStream::connect(target).await {
            Ok(raw) => raw,
            Err(err) => {
                if let Some(from) = client {
                    injector.record(EventKind::ConnectRefused { from, to: server });
                }
                return Err(err);
            }
        };
        let local = raw.local_addr()?;
        let (client, slot) = match (client, slot) {
            (Some(client), Some(slot)) => (client, slot),
            _ => {
                let client = injector
                    .node_for_ip(local.ip())
                    .map_err(NetError::into_io)?;
                (
                    client,
                    injector
                        .open_connection(client)
                        .map_err(NetError::into_io)?,
                )
            }
        };
        let conn = world.new_conn(local, target, client, server);
        injector.record(EventKind::Connected {
            from: client,
            to: server,
        });
        Ok(TcpStream::new(
            world,
            conn,
            Side::Client,
            local,
            target,
            slot,
            raw,
        ))
    }

    fn new(
        world: Arc<SimWorld>,
        conn: Arc<Conn>,
        side: Side,
        local: SocketAddr,
        peer: SocketAddr,
        slot: ConnectionSlot,
        raw: madsim::net::TcpStream,
    ) -> Self {
        let shared = Arc::new(Shared {
            world,
            conn,
            side,
            local,
            peer,
            _slot: slot,
            _raw: Mutex::new(raw),
        });
        TcpStream {
            read: OwnedReadHalf {
                shared: Arc::clone(&shared),
                timer: timer(),
            },
            write: OwnedWriteHalf {
                shared,
                timer: timer(),
            },
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.read.shared.local)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.read.shared.peer)
    }

    /// Accepted for API parity; simulated segments are never held back.
    pub fn set_nodelay(&self, _nodelay: bool) -> io::Result<()> {
        Ok(())
    }

    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (self.read, self.write)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shared = &this.shared;
        shared.conn.poll_read(
            shared.side,
            &shared.world.injector,
            &mut this.timer,
            cx,
            buf,
        )
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let shared = &this.shared;
        shared.conn.poll_write(
            shared.side,
            &shared.world.injector,
            &mut this.timer,
            cx,
            buf,
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.conn.close_write(self.shared.side);
        Poll::Ready(Ok(()))
    }
}

impl Drop for OwnedReadHalf {
    fn drop(&mut self) {
        self.shared.conn.close_read(self.shared.side);
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        self.shared.conn.close_write(self.shared.side);
    }
}

impl OwnedReadHalf {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.peer)
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.local)
    }
}

impl OwnedWriteHalf {
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.peer)
    }
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.shared.local)
    }
}

crate::duplex::duplex_io_via_halves!(TcpStream);

/// A simulated TCP listener.
pub struct TcpListener {
    world: Arc<SimWorld>,
    inner: madsim::net::TcpListener,
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
        let world = world::current().ok_or_else(no_world)?;
        let inner = madsim::net::TcpListener::bind(addr).await?;
        Ok(TcpListener { world, inner })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts the next connection. One that would exceed this node's
    /// `MAX_CONNECTIONS_PER_NODE` is reset under its client and counted,
    /// and accepting goes on.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            let (raw, peer) = self.inner.accept().await?;
            let local = raw.local_addr()?;
            let Some(conn) = self.world.take_pending(peer, local) else {
                continue; // the client vanished before we accepted
            };
            let injector = &self.world.injector;
            let server = injector
                .node_for_ip(local.ip())
                .map_err(NetError::into_io)?;
            match injector.open_connection(server) {
                Ok(slot) => {
                    let world = Arc::clone(&self.world);
                    let stream = TcpStream::new(world, conn, Side::Server, local, peer, slot, raw);
                    return Ok((stream, peer));
                }
                Err(_) => {
                    if conn.reset() {
                        let (from, to) = conn.endpoints();
                        injector.record(EventKind::StreamReset { from, to });
                    }
                }
            }
        }
    }
}
