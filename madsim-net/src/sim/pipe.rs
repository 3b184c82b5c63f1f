//! The byte path of one simulated TCP connection: two directed pipes of
//! timestamped segments.
//!
//! The writer asks the injector when each segment arrives; the reader hands
//! bytes over only once their time has come and the link is not cut. Bytes
//! are never lost, duplicated or reordered; faults only move them in time.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use madsim::time::Sleep;
use parking_lot::Mutex;
use tokio::io::ReadBuf;

use crate::FailureInjector;
use crate::backend::NodeId;
use crate::injector::WritePlan;
use crate::limits::{SEGMENT_BYTES, STREAM_WINDOW_BYTES};
use crate::trace::EventKind;

/// Which end of a connection a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn write_dir(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
    fn read_dir(self) -> usize {
        1 - self.write_dir()
    }
}

struct Segment {
    deliver_at_ns: u64,
    len: usize,
    data: Bytes,
}

#[derive(Default)]
struct Pipe {
    segments: VecDeque<Segment>,
    in_flight_bytes: usize,
    last_deliver_ns: u64,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The writer shut down: end of stream after the last segment.
    fin: bool,
    /// The reader is gone: further writes fail.
    reader_closed: bool,
    reset: bool,
    stalled: bool,
}

impl Pipe {
    fn wake_all(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

/// Both directions of one connection; index 0 is client -> server.
pub(crate) struct Conn {
    id: u64,
    client: NodeId,
    server: NodeId,
    dirs: [Mutex<Pipe>; 2],
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

impl Conn {
    pub(crate) fn new(id: u64, client: NodeId, server: NodeId) -> Self {
        Conn {
            id,
            client,
            server,
            dirs: Default::default(),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn involves(&self, node: NodeId) -> bool {
        self.client == node || self.server == node
    }

    pub(crate) fn endpoints(&self) -> (NodeId, NodeId) {
        (self.client, self.server)
    }

    fn link(&self, dir: usize) -> (NodeId, NodeId) {
        if dir == 0 {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }

    /// Resets both directions; false if it already was.
    pub(crate) fn reset(&self) -> bool {
        let mut first = false;
        for dir in &self.dirs {
            let mut pipe = dir.lock();
            first |= !pipe.reset;
            pipe.reset = true;
            pipe.segments.clear();
            pipe.in_flight_bytes = 0;
            pipe.wake_all();
        }
        first
    }

    /// The writer of `side` is done (shutdown or drop): the peer sees EOF.
    pub(crate) fn close_write(&self, side: Side) {
        let mut pipe = self.dirs[side.write_dir()].lock();
        pipe.fin = true;
        pipe.wake_all();
    }

    /// The reader of `side` is gone: the peer's writes fail.
    pub(crate) fn close_read(&self, side: Side) {
        let mut pipe = self.dirs[side.read_dir()].lock();
        pipe.reader_closed = true;
        pipe.segments.clear();
        pipe.in_flight_bytes = 0;
        pipe.wake_all();
    }

    pub(crate) fn poll_read(
        &self,
        side: Side,
        injector: &FailureInjector,
        timer: &mut Pin<Box<Sleep>>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dir = side.read_dir();
        let (from, to) = self.link(dir);
        let mut pipe = self.dirs[dir].lock();
        if pipe.reset {
            return Poll::Ready(Err(reset_error()));
        }
        let mut copied = 0usize;
        while buf.remaining() > 0 {
            let Some(front) = pipe.segments.front() else {
                break;
            };
            let due_ns = front.deliver_at_ns;
            if due_ns > injector.now_ns() {
                if copied == 0 {
                    timer.as_mut().reset(injector.instant_at_ns(due_ns));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    continue;
                }
                break;
            }
            if injector.is_blocked(from, to) {
                if copied > 0 {
                    break;
                }
                if !pipe.stalled {
                    pipe.stalled = true;
                    injector.record(EventKind::Stalled { from, to });
                }
                injector.wake_on_heal(cx.waker());
                return Poll::Pending;
            }
            pipe.stalled = false;
            let Some(front) = pipe.segments.front_mut() else {
                break;
            };
            let n = front.data.len().min(buf.remaining());
            buf.put_slice(&front.data[..n]);
            front.data.advance(n);
            copied += n;
            if front.data.is_empty() {
                let len = front.len;
                pipe.segments.pop_front();
                injector.segment_delivered(len as u64);
            }
        }
        if copied > 0 {
            pipe.in_flight_bytes -= copied;
            if let Some(w) = pipe.writer.take() {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        if pipe.fin {
            return Poll::Ready(Ok(()));
        }
        pipe.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) fn poll_write(
        &self,
        side: Side,
        injector: &FailureInjector,
        timer: &mut Pin<Box<Sleep>>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let dir = side.write_dir();
        let (from, to) = self.link(dir);
        let mut pipe = self.dirs[dir].lock();
        if pipe.reset {
            return Poll::Ready(Err(reset_error()));
        }
        if pipe.fin || pipe.reader_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "broken pipe",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = STREAM_WINDOW_BYTES - pipe.in_flight_bytes;
        if room == 0 {
            pipe.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut written = 0usize;
        for chunk in buf[..buf.len().min(room)].chunks(SEGMENT_BYTES) {
            match injector.plan_segment(from, to, chunk.len() as u64) {
                WritePlan::DeliverAtNs(at_ns) => {
                    let deliver_at_ns = at_ns.max(pipe.last_deliver_ns);
                    pipe.last_deliver_ns = deliver_at_ns;
                    pipe.segments.push_back(Segment {
                        deliver_at_ns,
                        len: chunk.len(),
                        data: Bytes::copy_from_slice(chunk),
                    });
                    pipe.in_flight_bytes += chunk.len();
                    written += chunk.len();
                }
                WritePlan::WaitUntilNs(at_ns) => {
                    if written > 0 {
                        break;
                    }
                    timer.as_mut().reset(injector.instant_at_ns(at_ns));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The limiter's queue drained meanwhile: let the caller retry.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                WritePlan::Reset => {
                    drop(pipe);
                    self.reset();
                    return Poll::Ready(Err(reset_error()));
                }
            }
        }
        if let Some(w) = pipe.reader.take() {
            w.wake();
        }
        Poll::Ready(Ok(written))
    }
}
