//! [`Netns`]: a network namespace held by a file descriptor.
//!
//! No bind mount under /run/netns: the namespace lives exactly as long as
//! the fd (and any thread inside it), so it vanishes with the process even
//! after SIGKILL. Entering is per thread (`setns`), never per process.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::sched::{CloneFlags, setns, unshare};

use crate::KernelError;

/// A network namespace, alive while this value is.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
}

impl Netns {
    /// The namespace the calling thread is in.
    pub fn current() -> Result<Netns, KernelError> {
        let file = File::open("/proc/thread-self/ns/net")
            .map_err(|e| KernelError::io("open /proc/thread-self/ns/net", e))?;
        Ok(Netns { fd: file.into() })
    }

    /// Moves the calling thread into this namespace.
    pub fn enter(&self) -> Result<(), KernelError> {
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::io("setns into a network namespace", e))
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Creates a namespace and runs `build` inside it on the calling thread,
    /// which then returns to the namespace it was in, even if `build` fails.
    pub fn create_with<T>(
        build: impl FnOnce() -> Result<T, KernelError>,
    ) -> Result<(Netns, T), KernelError> {
        let home = Netns::current()?;
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
            if e == nix::errno::Errno::EPERM {
                KernelError::NotRoot
            } else {
                KernelError::io("unshare(CLONE_NEWNET)", e)
            }
        })?;
        let created = Netns::current().and_then(|ns| build().map(|value| (ns, value)));
        home.enter()
            .expect("a thread can always return to the namespace it came from");
        created
    }

    /// Runs `work` inside this namespace on the calling thread, then returns.
    pub fn within<T>(
        &self,
        work: impl FnOnce() -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        let home = Netns::current()?;
        self.enter()?;
        let result = work();
        home.enter()
            .expect("a thread can always return to the namespace it came from");
        result
    }
}
