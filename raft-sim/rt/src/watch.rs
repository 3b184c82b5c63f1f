//! A watch channel whose waiting receivers are woken in FIFO order.
//!
//! `tokio::sync::watch` spreads its waiters over eight `Notify` slots and picks
//! the slot with a process-global RNG, so the order in which it wakes tasks,
//! and with it madsim's ready queue, differs between two runs of one seed.
//! This channel keeps one queue of waiters, ordered by when each started
//! waiting, and wakes them front to back: the same seed gives the same
//! schedule. It does not depend on madsim and behaves the same on any
//! executor.
//!
//! Semantics follow openraft-rt's `Watch` contract (and tokio's): only the
//! newest value is kept; each receiver remembers the version it last marked
//! seen; `send` fails once every receiver is gone; `changed` fails only once
//! every sender is gone and the newest value has been seen.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use openraft_rt::watch::{RecvError, SendError, Watch, WatchReceiver, WatchSender};
use openraft_rt::{OptionalSend, OptionalSync};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

/// The [`Watch`] implementation: deterministic FIFO wake-ups.
#[derive(Debug, Clone, Copy, Default)]
pub struct FifoWatch;

impl Watch for FifoWatch {
    type Sender<T: OptionalSend + OptionalSync> = Sender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = Receiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = Ref<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Sender<T>, Receiver<T>) {
        let shared = Arc::new(Shared {
            value: RwLock::new(init),
            version: AtomicU64::new(0),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            waiters: Mutex::new(Waiters::default()),
        });
        let receiver = Receiver {
            shared: Arc::clone(&shared),
            seen: 0,
        };
        (Sender { shared }, receiver)
    }
}

/// State shared by every sender and receiver of one channel.
struct Shared<T> {
    value: RwLock<T>,
    /// Bumped once per notifying change, while `value` is write-locked, so a
    /// reader holding the read lock sees a version that matches the value.
    version: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    waiters: Mutex<Waiters>,
}

/// Receivers parked in `changed()`, in the order they started waiting.
///
/// Bounded by the number of live `changed()` futures: each holds at most one
/// ticket and removes it when it completes or is dropped.
#[derive(Default)]
struct Waiters {
    /// Set once the last sender is gone; never cleared.
    closed: bool,
    next_ticket: u64,
    /// Ticket order is arrival order, so iteration order is FIFO.
    queue: BTreeMap<u64, Waker>,
}

impl<T> Shared<T> {
    /// Wakes every parked receiver, oldest first.
    ///
    /// Wakers run after the lock is released, so a waker that polls inline
    /// cannot deadlock on it.
    fn wake_all(&self, close: bool) {
        let parked = {
            let mut waiters = self.waiters.lock();
            waiters.closed |= close;
            std::mem::take(&mut waiters.queue)
        };
        for waker in parked.into_values() {
            waker.wake();
        }
    }

    /// Records a notifying change made under `value`'s write lock.
    fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

/// The sending half; cloneable. The channel closes when the last one drops.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.wake_all(true);
        }
    }
}

impl<T: OptionalSend + OptionalSync> WatchSender<FifoWatch, T> for Sender<T> {
    fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.load(Ordering::Acquire) == 0 {
            return Err(SendError(value));
        }
        {
            let mut current = self.shared.value.write();
            *current = value;
            self.shared.bump_version();
        }
        self.shared.wake_all(false);
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        {
            let mut current = self.shared.value.write();
            if !modify(&mut current) {
                return false;
            }
            self.shared.bump_version();
        }
        self.shared.wake_all(false);
        true
    }

    fn borrow_watched(&self) -> Ref<'_, T> {
        Ref::new(&self.shared.value)
    }

    fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        // Hold the read lock so the version matches the value it marks seen.
        let _value = self.shared.value.read_recursive();
        Receiver {
            shared: Arc::clone(&self.shared),
            seen: self.shared.version.load(Ordering::Acquire),
        }
    }
}

/// A receiving half; cloneable, and a clone starts with the same seen version.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The newest version this receiver has marked seen.
    seen: u64,
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: OptionalSend + OptionalSync> WatchReceiver<FifoWatch, T> for Receiver<T> {
    fn changed(&mut self) -> impl Future<Output = Result<(), RecvError>> + Send {
        Changed {
            receiver: self,
            ticket: None,
        }
    }

    fn borrow_watched(&self) -> Ref<'_, T> {
        Ref::new(&self.shared.value)
    }

    fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let value = Ref::new(&self.shared.value);
        // The version cannot move while the read lock is held.
        self.seen = self.shared.version.load(Ordering::Acquire);
        value
    }
}

/// A read lock on the watched value.
///
/// Do not hold it across an `.await`: a sender on the same (simulated) thread
/// would block on the write lock forever.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
}

impl<'a, T> Ref<'a, T> {
    /// Recursive read: two borrows on one thread must not deadlock because a
    /// writer on another thread is queued between them.
    fn new(value: &'a RwLock<T>) -> Self {
        Self {
            guard: value.read_recursive(),
        }
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

/// The future of [`WatchReceiver::changed`].
///
/// It takes a ticket in the waiter queue the first time it has to wait and
/// keeps that place when polled again; completing or dropping it gives the
/// ticket back.
struct Changed<'a, T> {
    receiver: &'a mut Receiver<T>,
    ticket: Option<u64>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Changed { receiver, ticket } = &mut *self;
        let Receiver { shared, seen } = &mut **receiver;
        // Checking and parking under one lock: a sender bumps the version
        // before it takes the queue, so either we see the new version here or
        // the sender finds our waker in the queue.
        let mut waiters = shared.waiters.lock();
        let version = shared.version.load(Ordering::Acquire);
        if version != *seen {
            *seen = version;
            waiters.release(ticket);
            return Poll::Ready(Ok(()));
        }
        if waiters.closed {
            waiters.release(ticket);
            return Poll::Ready(Err(RecvError(())));
        }
        waiters.park(ticket, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if self.ticket.is_some() {
            self.receiver
                .shared
                .waiters
                .lock()
                .release(&mut self.ticket);
        }
    }
}

impl Waiters {
    /// Parks `waker` under `ticket`, keeping the ticket's place in the queue
    /// if the queue still holds it, else queueing it at the back.
    fn park(&mut self, ticket: &mut Option<u64>, waker: &Waker) {
        if let Some(held) = *ticket
            && let Some(parked) = self.queue.get_mut(&held)
        {
            if !parked.will_wake(waker) {
                parked.clone_from(waker);
            }
            return;
        }
        let fresh = self.next_ticket;
        self.next_ticket += 1;
        self.queue.insert(fresh, waker.clone());
        *ticket = Some(fresh);
    }

    /// Takes `ticket` out of the queue, if the queue still holds it.
    fn release(&mut self, ticket: &mut Option<u64>) {
        if let Some(held) = ticket.take() {
            self.queue.remove(&held);
        }
    }
}
