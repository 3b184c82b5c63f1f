//! The relay thread: epoll over the ports, a timerfd and a wake eventfd.
//!
//! Each wake-up reads a bounded batch of packets from every ready port,
//! routes each by destination address, asks the directed link what to do,
//! and either writes the packet through at once (no delay and nothing of
//! its link waiting) or copies it into the timer queue. Due packets are
//! written after every batch; the timerfd is armed, absolute and in
//! nanoseconds, on the earliest one. Nothing allocates per packet in the
//! steady state: reads go to one 64 KiB buffer, delayed copies to pooled
//! buffers.
//!
//! With an injector to report to, every decision about a packet on a link
//! is also an event in its log (see [`RelayThread::record_admission`]);
//! malformed and unroutable packets belong to no link and are only counted.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, mpsc};

use madsim_net::{EventKind, FailureInjector, NodeId, PacketDropReason};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::MAX_PORTS;
use super::clock::{monotonic_ns, to_timespec};
use super::link::{Copies, LinkState, Placement};
use super::packet::{IPV4_MAX_PACKET_BYTES, flip_payload_bit, parse_ipv4};
use super::pool::{BufferPool, capacity_for};
use super::relay::{Command, RelayConfig};
use super::schedule::{Schedule, Scheduled};
use super::stats::{LinkStats, RelayStats};
use crate::KernelError;

const TOKEN_WAKE: u64 = u64::MAX;
const TOKEN_TIMER: u64 = u64::MAX - 1;
/// Consecutive failed reads (errors, or hang-ups with nothing to read)
/// before a port is taken out of the poll set, so a dead fd cannot spin
/// the relay.
const MAX_PORT_FAILURES: u32 = 64;
/// Read buffer: any IPv4 packet fits, so nothing is ever truncated.
const READ_BUFFER_BYTES: usize = IPV4_MAX_PACKET_BYTES + 1;

struct Port {
    ip: Ipv4Addr,
    fd: OwnedFd,
    failures: u32,
    polled: bool,
}

/// Everything the relay thread owns.
pub(crate) struct RelayThread {
    config: RelayConfig,
    epoll: Epoll,
    timer: OwnedFd,
    armed_ns: Option<u64>,
    wake: Arc<OwnedFd>,
    inbox: mpsc::Receiver<Command>,
    ports: Vec<Option<Port>>,
    by_ip: HashMap<Ipv4Addr, usize>,
    /// `MAX_PORTS * MAX_PORTS` slots, indexed `from * MAX_PORTS + to`,
    /// filled on first use.
    links: Vec<Option<Box<LinkState>>>,
    schedule: Schedule,
    pool: BufferPool,
    read_buffer: Box<[u8]>,
    stats: RelayStats,
    /// Where each decision is recorded, once the hub says.
    events: Option<Arc<FailureInjector>>,
}

impl RelayThread {
    pub(crate) fn new(
        config: RelayConfig,
        wake: Arc<OwnedFd>,
        inbox: mpsc::Receiver<Command>,
    ) -> Result<RelayThread, KernelError> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| KernelError::io("epoll_create1", e))?;
        let timer = new_timerfd()?;
        let readable = |token| EpollEvent::new(EpollFlags::EPOLLIN, token);
        epoll
            .add(wake.as_fd(), readable(TOKEN_WAKE))
            .map_err(|e| KernelError::io("epoll add eventfd", e))?;
        epoll
            .add(timer.as_fd(), readable(TOKEN_TIMER))
            .map_err(|e| KernelError::io("epoll add timerfd", e))?;
        Ok(RelayThread {
            config,
            epoll,
            timer,
            armed_ns: None,
            wake,
            inbox,
            ports: (0..MAX_PORTS).map(|_| None).collect(),
            by_ip: HashMap::with_capacity(MAX_PORTS),
            links: (0..MAX_PORTS * MAX_PORTS).map(|_| None).collect(),
            schedule: Schedule::default(),
            pool: BufferPool::default(),
            read_buffer: vec![0u8; READ_BUFFER_BYTES].into_boxed_slice(),
            stats: RelayStats::default(),
            events: None,
        })
    }

    /// The thread body; returns when the handle is dropped.
    pub(crate) fn run(mut self) {
        // Timer slack defaults to 50 us; 1 ns keeps wake-ups on time.
        if let Err(err) = nix::sys::prctl::set_timerslack(1) {
            tracing::warn!("relay: PR_SET_TIMERSLACK failed: {err}");
        }
        let mut events = vec![EpollEvent::empty(); MAX_PORTS + 2];
        loop {
            let ready = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(ready) => ready,
                Err(Errno::EINTR) => continue,
                Err(err) => {
                    tracing::error!("relay: epoll_wait failed, stopping: {err}");
                    return;
                }
            };
            for event in &events[..ready] {
                match event.data() {
                    TOKEN_WAKE => {
                        if !self.handle_commands() {
                            return;
                        }
                    }
                    TOKEN_TIMER => self.drain_timer(),
                    port => self.on_port_ready(port as usize, event.events()),
                }
            }
            self.deliver_due(monotonic_ns());
            self.arm_timer();
        }
    }

    // ---- ports and packets ----

    fn on_port_ready(&mut self, port: usize, flags: EpollFlags) {
        assert!(port < MAX_PORTS, "epoll token {port} is not a port");
        let packets = self.read_batch(port);
        let hung_up = flags.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR);
        if packets == 0 && hung_up {
            self.note_port_failure(port);
        }
        self.deliver_due(monotonic_ns());
    }

    /// Reads up to `read_batch` packets from `port`; returns how many.
    fn read_batch(&mut self, port: usize) -> usize {
        let mut buffer = std::mem::take(&mut self.read_buffer);
        let mut packets = 0;
        while packets < self.config.read_batch {
            let Some(fd) = self.ports[port].as_ref().map(|p| p.fd.as_raw_fd()) else {
                break;
            };
            // SAFETY: reads into a live buffer of the given length.
            let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        self.stats.read_errors += 1;
                        self.note_port_failure(port);
                        break;
                    }
                }
            }
            packets += 1;
            self.stats.packets_read += 1;
            if let Some(p) = self.ports[port].as_mut() {
                p.failures = 0;
            }
            self.route(port, &mut buffer[..n as usize], monotonic_ns());
        }
        self.read_buffer = buffer;
        packets
    }

    fn note_port_failure(&mut self, port: usize) {
        let Some(p) = self.ports[port].as_mut() else {
            return;
        };
        p.failures += 1;
        if p.failures >= MAX_PORT_FAILURES && p.polled {
            p.polled = false;
            let _ = self.epoll.delete(p.fd.as_fd());
            self.stats.ports_disabled += 1;
            tracing::warn!("relay: port {port} keeps failing; no longer reading from it");
        }
    }

    /// Validates, routes and impairs one packet read from `src`.
    fn route(&mut self, src: usize, packet: &mut [u8], now_ns: u64) {
        let Ok(view) = parse_ipv4(packet) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Some(&dst) = self.by_ip.get(&view.dst) else {
            self.stats.dropped_unroutable += 1;
            return;
        };
        let packet = &mut packet[..view.total_bytes];
        let link = link_index(src, dst);
        let payload_bytes = view.total_bytes - view.header_bytes;
        let state = self.link_mut(link);
        let before = state.stats;
        let copies = state.admit(now_ns, packet.len(), payload_bytes);
        let after = state.stats;
        self.record_admission(link, &before, &after, &copies, now_ns, packet.len());
        for placement in copies.into_iter().flatten() {
            self.place(link, dst, packet, view.header_bytes, placement, now_ns);
        }
    }

    /// Writes one copy now, or queues it for its delivery time.
    fn place(
        &mut self,
        link: usize,
        dst: usize,
        packet: &mut [u8],
        header_bytes: usize,
        placement: Placement,
        now_ns: u64,
    ) {
        let due = placement.deliver_at_ns <= now_ns;
        let nothing_to_overtake = self.link_mut(link).pending_packets == 0;
        if due && (nothing_to_overtake || placement.reordered) {
            // Corrupt in place, write, and restore: the same read buffer
            // may still feed a duplicate.
            if let Some(bit) = placement.corrupt_bit {
                flip_payload_bit(packet, header_bytes, bit);
            }
            self.write_to_port(link, dst, packet);
            if let Some(bit) = placement.corrupt_bit {
                flip_payload_bit(packet, header_bytes, bit);
            }
            return;
        }
        self.enqueue(link, dst, packet, header_bytes, placement);
    }

    fn enqueue(
        &mut self,
        link: usize,
        dst: usize,
        packet: &[u8],
        header_bytes: usize,
        placement: Placement,
    ) {
        let capacity_bytes = capacity_for(packet.len()) as u64;
        let over_budget = self.stats.buffered_bytes + capacity_bytes
            > self.config.max_buffered_bytes
            || self.stats.buffered_packets >= self.config.max_buffered_packets;
        if over_budget {
            self.link_mut(link).stats.dropped_overflow += 1;
            self.record(link, |from, to| EventKind::QueueDrop { from, to });
            return;
        }
        let mut copy = self.pool.copy_of(packet);
        if let Some(bit) = placement.corrupt_bit {
            flip_payload_bit(&mut copy, header_bytes, bit);
        }
        self.schedule.push(placement.deliver_at_ns, link, dst, copy);
        self.link_mut(link).pending_packets += 1;
        self.stats.buffered_bytes += capacity_bytes;
        self.stats.buffered_packets += 1;
        self.stats.peak_buffered_bytes = self
            .stats
            .peak_buffered_bytes
            .max(self.stats.buffered_bytes);
    }

    /// Writes every queued packet due at `now_ns`.
    fn deliver_due(&mut self, now_ns: u64) {
        while let Some(entry) = self.schedule.pop_due(now_ns) {
            let lateness_ns = now_ns - entry.deliver_at_ns;
            self.stats.scheduled_deliveries += 1;
            self.stats.total_lateness_ns += lateness_ns;
            self.stats.max_lateness_ns = self.stats.max_lateness_ns.max(lateness_ns);
            self.write_to_port(entry.link, entry.dst_port, &entry.packet);
            self.release(entry);
        }
    }

    /// Returns a dequeued entry's buffer and budget.
    fn release(&mut self, entry: Scheduled) {
        let capacity_bytes = entry.packet.capacity() as u64;
        assert!(self.stats.buffered_bytes >= capacity_bytes && self.stats.buffered_packets > 0);
        self.stats.buffered_bytes -= capacity_bytes;
        self.stats.buffered_packets -= 1;
        let link = self.link_mut(entry.link);
        assert!(link.pending_packets > 0, "link pending count underflow");
        link.pending_packets -= 1;
        self.pool.give_back(entry.packet);
    }

    fn write_to_port(&mut self, link: usize, dst: usize, packet: &[u8]) {
        let Some(fd) = self.ports[dst].as_ref().map(|p| p.fd.as_raw_fd()) else {
            self.link_mut(link).stats.dropped_no_port += 1;
            self.record_drop(link, PacketDropReason::DestinationGone);
            return;
        };
        // SAFETY: writes from a live buffer of the given length.
        let n = unsafe { libc::write(fd, packet.as_ptr().cast(), packet.len()) };
        let stats = &mut self.link_mut(link).stats;
        if n == packet.len() as isize {
            stats.delivered_packets += 1;
            stats.delivered_bytes += packet.len() as u64;
        } else {
            // A full socket or TUN queue, or a device that is down: the
            // packet is lost, like a NIC dropping on a full ring.
            stats.dropped_write += 1;
            self.record_drop(link, PacketDropReason::WriteFailed);
        }
    }

    fn link_mut(&mut self, link: usize) -> &mut LinkState {
        let (seed, mtu_bytes) = (self.config.seed, self.config.mtu_bytes);
        self.links[link].get_or_insert_with(|| {
            let (from, to) = (link / MAX_PORTS, link % MAX_PORTS);
            Box::new(LinkState::new(seed, from, to, mtu_bytes))
        })
    }

    // ---- events ----

    /// One packet's fate on `link` as events. Drops and duplicates are read
    /// off the counters `admit` moved, so the log cannot disagree with
    /// them; corruption, reordering and delay off the copies' placements.
    fn record_admission(
        &self,
        link: usize,
        before: &LinkStats,
        after: &LinkStats,
        copies: &Copies,
        now_ns: u64,
        bytes: usize,
    ) {
        if self.events.is_none() {
            return;
        }
        let drops = [
            (
                before.dropped_partition,
                after.dropped_partition,
                Some(PacketDropReason::Partition),
            ),
            (
                before.dropped_loss,
                after.dropped_loss,
                Some(PacketDropReason::Loss),
            ),
            // A full rate-limiter queue.
            (before.dropped_queue_full, after.dropped_queue_full, None),
        ];
        for (was, is, reason) in drops {
            for _ in was..is {
                match reason {
                    Some(reason) => self.record_drop(link, reason),
                    None => self.record(link, |from, to| EventKind::QueueDrop { from, to }),
                }
            }
        }
        for _ in before.duplicated..after.duplicated {
            self.record(link, |from, to| EventKind::Duplicated { from, to });
        }
        for placement in copies.iter().flatten() {
            if placement.corrupt_bit.is_some() {
                self.record(link, |from, to| EventKind::Corrupted { from, to });
            }
            if placement.reordered {
                // Sent ahead of the delay line: nothing is held back.
                self.record(link, |from, to| EventKind::Reordered {
                    from,
                    to,
                    hold_us: 0,
                });
            }
            if placement.deliver_at_ns > now_ns {
                let delay_us = (placement.deliver_at_ns - now_ns) / 1_000;
                self.record(link, |from, to| EventKind::Delayed {
                    from,
                    to,
                    bytes: bytes as u64,
                    delay_us,
                });
            }
        }
    }

    fn record_drop(&self, link: usize, reason: PacketDropReason) {
        self.record(link, |from, to| EventKind::PacketDropped {
            from,
            to,
            reason,
        });
    }

    /// Records an event of `link`, its ports as node ids, when the relay
    /// reports to an injector.
    fn record(&self, link: usize, event: impl FnOnce(NodeId, NodeId) -> EventKind) {
        if let Some(injector) = &self.events {
            let (from, to) = (link / MAX_PORTS, link % MAX_PORTS);
            injector.record(event(from as NodeId, to as NodeId));
        }
    }

    // ---- timer ----

    fn drain_timer(&mut self) {
        let mut ticks = [0u8; 8];
        // SAFETY: reads 8 bytes into a live buffer; EAGAIN is fine.
        let _ = unsafe { libc::read(self.timer.as_raw_fd(), ticks.as_mut_ptr().cast(), 8) };
        self.armed_ns = None;
    }

    /// Arms the timerfd on the earliest queued packet, unless it already is.
    fn arm_timer(&mut self) {
        let Some(next_ns) = self.schedule.next_due_ns() else {
            return;
        };
        if self.armed_ns == Some(next_ns) {
            return;
        }
        let spec = libc::itimerspec {
            it_interval: to_timespec(0),
            it_value: to_timespec(next_ns.max(1)),
        };
        // SAFETY: a valid itimerspec; the old value is not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                self.timer.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "timerfd_settime: {}", io::Error::last_os_error());
        self.armed_ns = Some(next_ns);
    }

    // ---- control ----

    /// Applies every pending command; false once the handle is gone.
    fn handle_commands(&mut self) -> bool {
        let mut count = [0u8; 8];
        // SAFETY: reads 8 bytes into a live buffer; EAGAIN is fine.
        let _ = unsafe { libc::read(self.wake.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        loop {
            match self.inbox.try_recv() {
                Ok(command) => self.handle(command),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn handle(&mut self, command: Command) {
        // A caller that gave up waiting is no reason to stop: ignore send errors.
        match command {
            Command::AddPort {
                port,
                ip,
                fd,
                reply,
            } => {
                let _ = reply.send(self.add_port(port, ip, fd));
            }
            Command::RemovePort { port, reply } => {
                let _ = reply.send(self.remove_port(port));
            }
            Command::SetLink {
                from,
                to,
                impairment,
                blocked,
                reply,
            } => {
                let link = self.link_mut(link_index(from, to));
                if let Some(impairment) = impairment {
                    link.set_impairment(impairment);
                }
                if let Some(blocked) = blocked {
                    link.set_blocked(blocked);
                }
                let _ = reply.send(Ok(()));
            }
            Command::LinkStats { from, to, reply } => {
                let _ = reply.send(Ok(self.link_stats(from, to)));
            }
            Command::Stats { reply } => {
                let _ = reply.send(Ok(self.relay_stats()));
            }
            Command::RecordEventsTo { injector, reply } => {
                self.events = Some(injector);
                let _ = reply.send(Ok(()));
            }
        }
    }

    fn add_port(&mut self, port: usize, ip: Ipv4Addr, fd: OwnedFd) -> Result<(), KernelError> {
        assert!(port < MAX_PORTS);
        if self.ports[port].is_some() {
            return Err(KernelError::Config(format!(
                "relay port {port} is already attached"
            )));
        }
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Err(KernelError::Config(format!(
                "relay port address {ip} is not unicast"
            )));
        }
        if let Some(other) = self.by_ip.get(&ip) {
            return Err(KernelError::Config(format!(
                "{ip} already belongs to relay port {other}"
            )));
        }
        set_nonblocking(&fd)?;
        self.epoll
            .add(
                fd.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, port as u64),
            )
            .map_err(|e| KernelError::io(format!("epoll add relay port {port}"), e))?;
        self.by_ip.insert(ip, port);
        self.ports[port] = Some(Port {
            ip,
            fd,
            failures: 0,
            polled: true,
        });
        Ok(())
    }

    fn remove_port(&mut self, port: usize) -> Result<(), KernelError> {
        let Some(removed) = self.ports[port].take() else {
            return Err(KernelError::Config(format!(
                "relay port {port} is not attached"
            )));
        };
        if removed.polled {
            let _ = self.epoll.delete(removed.fd.as_fd());
        }
        self.by_ip.remove(&removed.ip);
        let mut gone = Vec::new();
        self.schedule.remove_port(port, |entry| gone.push(entry));
        for entry in gone {
            self.link_mut(entry.link).stats.dropped_no_port += 1;
            self.record_drop(entry.link, PacketDropReason::DestinationGone);
            self.release(entry);
        }
        for from in 0..MAX_PORTS {
            if let Some(link) = self.links[link_index(from, port)].as_mut() {
                link.forget_queue();
            }
        }
        Ok(())
    }

    fn link_stats(&self, from: usize, to: usize) -> LinkStats {
        let link = self.links[link_index(from, to)].as_ref();
        link.map(|l| l.stats).unwrap_or_default()
    }

    fn relay_stats(&self) -> RelayStats {
        assert_eq!(self.stats.buffered_packets, self.schedule.len() as u64);
        RelayStats {
            ports: self.ports.iter().flatten().count() as u64,
            ..self.stats
        }
    }
}

fn link_index(from: usize, to: usize) -> usize {
    assert!(from < MAX_PORTS && to < MAX_PORTS);
    from * MAX_PORTS + to
}

fn new_timerfd() -> Result<OwnedFd, KernelError> {
    let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
    // SAFETY: plain timerfd creation.
    let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) };
    if raw < 0 {
        return Err(KernelError::io(
            "timerfd_create",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), KernelError> {
    // SAFETY: F_GETFL/F_SETFL on a valid fd.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(KernelError::io("fcntl F_GETFL", io::Error::last_os_error()));
    }
    // SAFETY: as above.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if rc < 0 {
        return Err(KernelError::io(
            "fcntl F_SETFL O_NONBLOCK",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

impl Drop for RelayThread {
    /// Closes the ports' TUN fds from several threads at once. Closing a
    /// TUN fd unregisters its device, and the kernel then waits, with
    /// backoff, for the device's last references: about 17 ms per device.
    /// One after another, a 100-peer hub took 1.7 s to tear down.
    fn drop(&mut self) {
        const CLOSING_THREADS: usize = 64;
        let mut fds: Vec<OwnedFd> = self
            .ports
            .iter_mut()
            .filter_map(|slot| slot.take().map(|port| port.fd))
            .collect();
        if fds.len() <= 1 {
            return;
        }
        let per_thread = fds.len().div_ceil(CLOSING_THREADS);
        std::thread::scope(|scope| {
            while !fds.is_empty() {
                let chunk: Vec<OwnedFd> = fds.drain(..per_thread.min(fds.len())).collect();
                scope.spawn(move || drop(chunk));
            }
        });
    }
}
