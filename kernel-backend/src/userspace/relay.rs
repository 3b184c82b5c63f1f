//! [`Relay`]: the handle to the relay thread.
//!
//! The relay is one dedicated OS thread (the private `relay_thread` module) that owns
//! every port fd and all link state. The handle talks to it through a
//! command channel plus an eventfd to wake it; each call waits for the
//! thread's reply, so when `set_link` returns the change is in effect for
//! the next packet read.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use madsim_net::{FailureInjector, LinkImpairment};

use super::relay_thread::RelayThread;
use super::stats::{LinkStats, RelayStats};
use super::{MAX_PORTS, tun};
use crate::KernelError;
use crate::link_engine::{EngineKind, LinkEngine, PeerAttachment};

/// How long a control call waits for the relay thread before giving up.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on bytes (buffer capacity) held for delayed delivery.
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 64 << 20;
/// Default bound on packets held for delayed delivery.
pub const DEFAULT_MAX_BUFFERED_PACKETS: u64 = 1 << 18;
/// Default packets read from one port per wake-up, so one busy port cannot
/// starve the others or the timer queue.
pub const DEFAULT_READ_BATCH: usize = 64;
/// Upper bound on the relay-wide buffer budget.
pub const MAX_BUFFERED_BYTES_LIMIT: u64 = 1 << 30;

/// Settings of a relay, fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Seeds every link's random stream (with the link's two port numbers).
    pub seed: u64,
    /// The ports' MTU: the largest packet expected, used for the default
    /// burst and queue sizes of rate-limited links. Reads always accept any
    /// IPv4 packet (64 KiB buffer).
    pub mtu_bytes: u32,
    /// Relay-wide bound on buffered bytes; past it packets are dropped and
    /// counted as `dropped_overflow`.
    pub max_buffered_bytes: u64,
    /// Relay-wide bound on buffered packets.
    pub max_buffered_packets: u64,
    /// Packets read from one port before looking at the others.
    pub read_batch: usize,
}

impl RelayConfig {
    pub fn new(seed: u64) -> RelayConfig {
        RelayConfig {
            seed,
            mtu_bytes: 1_500,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_buffered_packets: DEFAULT_MAX_BUFFERED_PACKETS,
            read_batch: DEFAULT_READ_BATCH,
        }
    }

    pub fn with_mtu_bytes(mut self, mtu_bytes: u32) -> RelayConfig {
        self.mtu_bytes = mtu_bytes;
        self
    }

    fn validate(&self) -> Result<(), KernelError> {
        let bad = |what: String| Err(KernelError::Config(what));
        if !(tun::MIN_MTU_BYTES..=tun::MAX_MTU_BYTES).contains(&self.mtu_bytes) {
            return bad(format!(
                "relay mtu_bytes {} is not a valid MTU",
                self.mtu_bytes
            ));
        }
        if !(1 << 16..=MAX_BUFFERED_BYTES_LIMIT).contains(&self.max_buffered_bytes) {
            return bad(format!(
                "relay max_buffered_bytes {} is outside [64 KiB, 1 GiB]",
                self.max_buffered_bytes
            ));
        }
        if !(1..=1 << 24).contains(&self.max_buffered_packets) {
            return bad(format!(
                "relay max_buffered_packets {} is outside [1, 2^24]",
                self.max_buffered_packets
            ));
        }
        if !(1..=1024).contains(&self.read_batch) {
            return bad(format!(
                "relay read_batch {} is outside [1, 1024]",
                self.read_batch
            ));
        }
        Ok(())
    }
}

pub(crate) type Reply<T> = mpsc::SyncSender<Result<T, KernelError>>;

/// What the handle asks of the relay thread.
pub(crate) enum Command {
    AddPort {
        port: usize,
        ip: Ipv4Addr,
        fd: OwnedFd,
        reply: Reply<()>,
    },
    RemovePort {
        port: usize,
        reply: Reply<()>,
    },
    /// Changes what is given of a directed link's impairment and cut
    /// state, both at once when both are given.
    SetLink {
        from: usize,
        to: usize,
        impairment: Option<LinkImpairment>,
        blocked: Option<bool>,
        reply: Reply<()>,
    },
    LinkStats {
        from: usize,
        to: usize,
        reply: Reply<LinkStats>,
    },
    Stats {
        reply: Reply<RelayStats>,
    },
    RecordEventsTo {
        injector: Arc<FailureInjector>,
        reply: Reply<()>,
    },
}

/// The userspace impairment engine: moves IPv4 packets between port fds
/// (TUN devices), impairing each directed link. Dropping it stops the
/// thread and closes every port fd.
pub struct Relay {
    commands: Option<mpsc::Sender<Command>>,
    wake: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Starts the relay thread with no ports.
    pub fn start(config: RelayConfig) -> Result<Relay, KernelError> {
        config.validate()?;
        let wake = Arc::new(new_eventfd()?);
        let (commands, inbox) = mpsc::channel();
        let relay_thread = RelayThread::new(config, Arc::clone(&wake), inbox)?;
        let thread = std::thread::Builder::new()
            .name("twinnet-relay".into())
            .spawn(move || relay_thread.run())
            .map_err(|e| KernelError::io("spawn the relay thread", e))?;
        Ok(Relay {
            commands: Some(commands),
            wake,
            thread: Some(thread),
        })
    }

    /// Attaches `fd` (a TUN device, or any fd carrying one IPv4 packet per
    /// read/write) as port `port`, owning address `ip`: packets to `ip` are
    /// written to `fd`, packets read from `fd` travel the link from `port`.
    pub fn add_port(&self, port: usize, ip: Ipv4Addr, fd: OwnedFd) -> Result<(), KernelError> {
        check_port(port)?;
        self.request(|reply| Command::AddPort {
            port,
            ip,
            fd,
            reply,
        })
    }

    /// Detaches port `port` and closes its fd; packets still waiting for it
    /// are dropped (`dropped_no_port`). Link settings and counters stay, so
    /// a port re-attached under the same number keeps its impairments.
    pub fn remove_port(&self, port: usize) -> Result<(), KernelError> {
        check_port(port)?;
        self.request(|reply| Command::RemovePort { port, reply })
    }

    /// Sets the impairment of the directed link `from` → `to`, leaving its
    /// cut state as it is.
    pub fn set_impairment(
        &self,
        from: usize,
        to: usize,
        impairment: LinkImpairment,
    ) -> Result<(), KernelError> {
        self.change_link(from, to, Some(impairment), None)
    }

    /// Blocks (partition) or unblocks the directed link `from` → `to`,
    /// leaving its impairment as it is.
    pub fn set_blocked(&self, from: usize, to: usize, blocked: bool) -> Result<(), KernelError> {
        self.change_link(from, to, None, Some(blocked))
    }

    /// One command for any change of a link, so a change of both lands
    /// between two packets, never half-way.
    fn change_link(
        &self,
        from: usize,
        to: usize,
        impairment: Option<LinkImpairment>,
        blocked: Option<bool>,
    ) -> Result<(), KernelError> {
        check_link(from, to)?;
        self.request(|reply| Command::SetLink {
            from,
            to,
            impairment,
            blocked,
            reply,
        })
    }

    /// The counters of the directed link `from` → `to` (zero if unused).
    pub fn link_stats(&self, from: usize, to: usize) -> Result<LinkStats, KernelError> {
        check_link(from, to)?;
        self.request(|reply| Command::LinkStats { from, to, reply })
    }

    /// Relay-wide counters.
    pub fn stats(&self) -> Result<RelayStats, KernelError> {
        self.request(|reply| Command::Stats { reply })
    }

    /// From now on, records every per-packet decision of every link in
    /// `injector`'s event log, ports named as node ids: drops (loss,
    /// partition, full queue or buffer, failed write, destination gone),
    /// duplicates, corruptions, reorders and delays. Each event bumps the
    /// injector's counters exactly as the link's own counters move.
    pub fn record_events_to(&self, injector: Arc<FailureInjector>) -> Result<(), KernelError> {
        self.request(|reply| Command::RecordEventsTo { injector, reply })
    }

    fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, KernelError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let commands = self.commands.as_ref().ok_or_else(relay_gone)?;
        commands.send(make(reply)).map_err(|_| relay_gone())?;
        wake(&self.wake)?;
        answer
            .recv_timeout(CONTROL_TIMEOUT)
            .map_err(|_| relay_gone())?
    }
}

/// The userspace engine of a hub: each peer's TUN is a port of the relay,
/// numbered as the peer.
impl LinkEngine for Relay {
    fn kind(&self) -> EngineKind {
        EngineKind::Userspace
    }

    fn add_peer(&mut self, peer: usize, attachment: PeerAttachment) -> Result<(), KernelError> {
        let tun = attachment.tun.ok_or_else(|| {
            KernelError::Config(format!(
                "peer {peer} has no TUN device; the userspace engine needs one"
            ))
        })?;
        self.add_port(peer, attachment.ip, tun)
    }

    fn set_link(
        &self,
        from: usize,
        to: usize,
        impairment: LinkImpairment,
        blocked: bool,
    ) -> Result<(), KernelError> {
        self.change_link(from, to, Some(impairment), Some(blocked))
    }

    fn record_events_to(&mut self, injector: Arc<FailureInjector>) -> Result<(), KernelError> {
        Relay::record_events_to(self, injector)
    }

    fn relay(&self) -> Option<&Relay> {
        Some(self)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Closing the channel is the stop signal; the wake makes it prompt.
        drop(self.commands.take());
        let _ = wake(&self.wake);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the relay thread panicked");
        }
    }
}

fn check_port(port: usize) -> Result<(), KernelError> {
    if port >= MAX_PORTS {
        return Err(KernelError::Config(format!(
            "relay port {port} is out of range (at most {MAX_PORTS} ports)"
        )));
    }
    Ok(())
}

fn check_link(from: usize, to: usize) -> Result<(), KernelError> {
    check_port(from)?;
    check_port(to)
}

fn relay_gone() -> KernelError {
    KernelError::io(
        "relay control",
        io::Error::other("the relay thread is not answering (stopped or panicked)"),
    )
}

fn new_eventfd() -> Result<OwnedFd, KernelError> {
    // SAFETY: plain eventfd creation.
    let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if raw < 0 {
        return Err(KernelError::io("eventfd", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn wake(eventfd: &OwnedFd) -> Result<(), KernelError> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from a live buffer to an eventfd.
    let n = unsafe { libc::write(eventfd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    // EAGAIN means the counter is saturated: the relay is already woken.
    if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
        return Err(KernelError::io(
            "wake the relay",
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}
