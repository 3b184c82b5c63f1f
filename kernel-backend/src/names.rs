//! Names of the interfaces and namespaces this crate creates.
//!
//! Every name carries the owning process id, so reaping stale objects can tell a
//! live run's objects from a dead one's, and a network counter, so two
//! networks of one process never share a name. Names fit the kernel's
//! 15-character limit: `tw` + pid (5 base-36 digits) + network (2) + role
//! (1) + peer (2) = 12 characters.

use std::sync::atomic::{AtomicU32, Ordering};

/// Every name this crate creates starts with this.
pub const PREFIX: &str = "tw";
/// The kernel's limit on interface names (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;
const PID_DIGITS: usize = 5;
const NET_DIGITS: usize = 2;
const PEER_DIGITS: usize = 2;
/// pid_max is at most 2^22 on Linux: five base-36 digits hold it.
const MAX_PID: u32 = 36u32.pow(PID_DIGITS as u32) - 1;
const MAX_NETWORKS: u32 = 36u32.pow(NET_DIGITS as u32);

/// What a named object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The hub's bridge.
    Bridge,
    /// A veth end in the hub namespace, enslaved to the bridge.
    HubVeth,
    /// A veth end in a peer's namespace.
    PeerVeth,
    /// A peer's TUN device (userspace engine).
    Tun,
    /// A namespace made by `ip netns add` (the benchmark's baseline).
    Netns,
}

impl Role {
    fn code(self) -> char {
        match self {
            Role::Bridge => 'b',
            Role::HubVeth => 'h',
            Role::PeerVeth => 'p',
            Role::Tun => 't',
            Role::Netns => 'n',
        }
    }
}

/// The names of one network.
#[derive(Debug, Clone)]
pub struct NetworkNames {
    stem: String,
}

static NEXT_NETWORK: AtomicU32 = AtomicU32::new(0);

impl NetworkNames {
    /// Names for a new network of this process.
    pub fn next() -> NetworkNames {
        let network = NEXT_NETWORK.fetch_add(1, Ordering::Relaxed) % MAX_NETWORKS;
        NetworkNames::for_pid(std::process::id(), network)
    }

    pub fn for_pid(pid: u32, network: u32) -> NetworkNames {
        assert!(pid <= MAX_PID, "pid {pid} exceeds Linux's pid_max");
        assert!(network < MAX_NETWORKS);
        let stem = format!(
            "{PREFIX}{}{}",
            base36(pid, PID_DIGITS),
            base36(network, NET_DIGITS)
        );
        NetworkNames { stem }
    }

    /// The name of `role` for `peer` (ignored for the bridge).
    pub fn name(&self, role: Role, peer: usize) -> String {
        assert!(
            peer < 36usize.pow(PEER_DIGITS as u32),
            "peer {peer} out of range"
        );
        let name = format!(
            "{}{}{}",
            self.stem,
            role.code(),
            base36(peer as u32, PEER_DIGITS)
        );
        debug_assert!(name.len() <= MAX_NAME_LEN);
        name
    }
}

/// The pid stamped into one of our names, if `name` is one.
pub fn owner_pid(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(PREFIX)?.get(..PID_DIGITS)?;
    let len = PREFIX.len() + PID_DIGITS + NET_DIGITS + 1 + PEER_DIGITS;
    if name.len() != len {
        return None;
    }
    u32::from_str_radix(digits, 36).ok()
}

fn base36(mut value: u32, digits: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; digits];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 36) as usize];
        value /= 36;
    }
    assert_eq!(value, 0, "value does not fit {digits} base-36 digits");
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_round_trip_the_pid() {
        for pid in [1, 4242, 4_194_304, MAX_PID] {
            let names = NetworkNames::for_pid(pid, 35);
            for role in [Role::Bridge, Role::HubVeth, Role::PeerVeth, Role::Tun] {
                let name = names.name(role, 99);
                assert!(name.len() <= MAX_NAME_LEN, "{name}");
                assert_eq!(owner_pid(&name), Some(pid), "{name}");
            }
        }
    }

    #[test]
    fn names_of_networks_and_peers_differ() {
        let a = NetworkNames::for_pid(7, 0);
        let b = NetworkNames::for_pid(7, 1);
        assert_ne!(a.name(Role::PeerVeth, 1), b.name(Role::PeerVeth, 1));
        assert_ne!(a.name(Role::PeerVeth, 1), a.name(Role::PeerVeth, 2));
        assert_ne!(a.name(Role::PeerVeth, 1), a.name(Role::HubVeth, 1));
    }

    #[test]
    fn foreign_names_have_no_owner() {
        for name in ["eth0", "tw", "twx", "veth1234", "tw00001000p0x1"] {
            assert_eq!(owner_pid(name), None, "{name}");
        }
    }
}
