//! Opening a TUN device: the relay's window into one network namespace.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::KernelError;

/// Interface names are at most 15 bytes (IFNAMSIZ minus the NUL).
pub const MAX_IFNAME_BYTES: usize = libc::IFNAMSIZ - 1;
/// Smallest MTU IPv4 allows (RFC 791).
pub const MIN_MTU_BYTES: u32 = 68;
/// Largest MTU a TUN device accepts.
pub const MAX_MTU_BYTES: u32 = 65_535;

/// Opens `/dev/net/tun` and attaches it to a new (or existing) layer-3 TUN
/// device `name` in the network namespace of the calling thread: IFF_TUN
/// (bare IP packets), IFF_NO_PI (no 4-byte packet-information prefix), the
/// fd non-blocking and close-on-exec. With `mtu_bytes`, sets the device MTU
/// too. Bringing it up, addressing and routing are the caller's (netlink).
pub fn open_tun(name: &str, mtu_bytes: Option<u32>) -> Result<OwnedFd, KernelError> {
    let ifreq_name = ifreq_name(name)?;
    let path = CString::new("/dev/net/tun").expect("no NUL in a literal");
    let flags = libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `path` is a valid NUL-terminated string.
    let raw = unsafe { libc::open(path.as_ptr(), flags) };
    if raw < 0 {
        let err = io::Error::last_os_error();
        return Err(KernelError::io(
            "open /dev/net/tun (is the tun module loaded?)",
            err,
        ));
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = empty_ifreq(ifreq_name);
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads (and may write back) a `struct ifreq`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut req) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(KernelError::io(format!("TUNSETIFF {name}"), err));
    }
    if let Some(mtu_bytes) = mtu_bytes {
        set_mtu(name, mtu_bytes)?;
    }
    Ok(fd)
}

/// Sets the MTU of interface `name` in the calling thread's namespace
/// (SIOCSIFMTU on a throwaway socket, which lives in that namespace).
pub fn set_mtu(name: &str, mtu_bytes: u32) -> Result<(), KernelError> {
    if !(MIN_MTU_BYTES..=MAX_MTU_BYTES).contains(&mtu_bytes) {
        return Err(KernelError::Config(format!(
            "MTU {mtu_bytes} is outside [{MIN_MTU_BYTES}, {MAX_MTU_BYTES}]"
        )));
    }
    let mut req = empty_ifreq(ifreq_name(name)?);
    req.ifr_ifru.ifru_mtu = mtu_bytes as libc::c_int;
    // SAFETY: plain socket creation.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(KernelError::io(
            "socket for SIOCSIFMTU",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCSIFMTU reads a `struct ifreq` with the name and MTU set.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU as _, &mut req) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(KernelError::io(
            format!("SIOCSIFMTU {name} {mtu_bytes}"),
            err,
        ));
    }
    Ok(())
}

fn ifreq_name(name: &str) -> Result<[libc::c_char; libc::IFNAMSIZ], KernelError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_IFNAME_BYTES
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if !valid {
        return Err(KernelError::Config(format!(
            "interface name {name:?} must be 1 to {MAX_IFNAME_BYTES} printable ASCII bytes without '/'"
        )));
    }
    let mut out = [0 as libc::c_char; libc::IFNAMSIZ];
    for (slot, byte) in out.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    Ok(out)
}

fn empty_ifreq(name: [libc::c_char; libc::IFNAMSIZ]) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    req.ifr_name = name;
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names_and_mtus() {
        for bad in ["", "sixteen-chars-xx", "a/b", "sp ace"] {
            assert!(
                matches!(open_tun(bad, None), Err(KernelError::Config(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(set_mtu("tw0", 10), Err(KernelError::Config(_))));
        assert!(matches!(
            set_mtu("tw0", 70_000),
            Err(KernelError::Config(_))
        ));
    }
}
