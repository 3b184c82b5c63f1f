//! The benchmark's baseline: a hub's topology built by iproute2 in ONE
//! `ip -batch` process, and torn down by a second one.
//!
//! Topology: one bridge and `peers` named namespaces (`ip netns add`, bind
//! mounted under /run/netns), each joined to the bridge by a veth pair
//! whose namespace end is created inside the namespace, up, and whose other
//! end is a bridge port, up.
//!
//! Unlike a [`Hub`](crate::Hub), the bridge and the bridge-side veth ends
//! live in the HOST namespace and the namespaces are bind mounts that
//! outlive the process: a killed run leaves them behind. That is exactly
//! why every name is pid-stamped ([`NetworkNames`]) and why
//! [`crate::reap::reap_stale`] exists.
//!
//! Less is done than by a hub, because one `ip` process cannot do more:
//! its batch lines do not accept `-n NS` (iproute2 6.1: `Object "-n" is
//! unknown`) and `netns exec` forks an `ip` per namespace, so peers get no
//! IPv4 address and their `lo` stays down. A veth end cannot be brought up
//! from outside its namespace either (`peer name P netns NS up` fails with
//! ENOTCONN), so the namespace end is created as the primary device
//! (`link add P netns NS up type veth peer name H`), which can.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use madsim_net::NetError;
use madsim_net::limits::MAX_NODES;

use crate::KernelError;
use crate::names::{NetworkNames, Role};

/// What the baseline leaves out compared with a hub, for reports.
pub const OMITTED: [&str; 2] = [
    "peer IPv4 addresses (in-namespace commands need one ip process per namespace)",
    "loopback up in each namespace (same reason)",
];

/// A baseline network, alive until [`Baseline::down`] or drop.
#[derive(Debug)]
pub struct Baseline {
    names: NetworkNames,
    peers: usize,
    setup: Duration,
    up: bool,
}

/// Builds the bridge and `peers` namespaces with one `ip -batch` process.
/// On failure, whatever the batch built is removed.
pub fn up(peers: usize) -> Result<Baseline, KernelError> {
    crate::probe::require_root()?;
    if peers > MAX_NODES {
        return Err(KernelError::Net(NetError::NodeLimit { limit: MAX_NODES }));
    }
    let names = NetworkNames::next();
    let mut baseline = Baseline {
        names,
        peers,
        setup: Duration::ZERO,
        up: true,
    };
    // On error, `baseline` drops here and its drop removes what was built.
    baseline.setup = run_batch(&up_script(&baseline.names, peers), false)?;
    Ok(baseline)
}

impl Baseline {
    /// Wall time of the `ip -batch` process that built this network.
    pub fn setup_time(&self) -> Duration {
        self.setup
    }

    pub fn peer_count(&self) -> usize {
        self.peers
    }

    pub fn names(&self) -> &NetworkNames {
        &self.names
    }

    /// Removes the network with one `ip -batch` process; returns its wall
    /// time. The kernel finishes destroying the namespaces (and with them
    /// the veth pairs) asynchronously after the process exits.
    pub fn down(mut self) -> Result<Duration, KernelError> {
        self.up = false;
        run_batch(&down_script(&self.names, self.peers), false)
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        if self.up {
            // `-force`: keep going past objects that were never built.
            if let Err(err) = run_batch(&down_script(&self.names, self.peers), true) {
                tracing::warn!("baseline teardown failed: {err}");
            }
        }
    }
}

/// The batch that builds the network: bridge first, then per peer its
/// namespace, its veth pair and the bridge port.
pub fn up_script(names: &NetworkNames, peers: usize) -> String {
    let bridge = names.name(Role::Bridge, 0);
    let mut script = format!("link add {bridge} up type bridge\n");
    for peer in 0..peers {
        let netns = names.name(Role::Netns, peer);
        let inside = names.name(Role::PeerVeth, peer);
        let port = names.name(Role::HubVeth, peer);
        script.push_str(&format!(
            "netns add {netns}\n\
             link add {inside} netns {netns} up type veth peer name {port}\n\
             link set {port} master {bridge} up\n"
        ));
    }
    script
}

/// The batch that removes it: deleting a namespace destroys its veth end
/// and so the pair; then the bridge.
pub fn down_script(names: &NetworkNames, peers: usize) -> String {
    let mut script: String = (0..peers)
        .map(|peer| format!("netns del {}\n", names.name(Role::Netns, peer)))
        .collect();
    script.push_str(&format!("link del {}\n", names.name(Role::Bridge, 0)));
    script
}

/// Runs `ip [-force] -batch -` with `script` on stdin, from a thread in
/// the host namespace (the process's main thread's), and times the process.
fn run_batch(script: &str, force: bool) -> Result<Duration, KernelError> {
    let script = script.to_owned();
    std::thread::spawn(move || {
        enter_host_namespace()?;
        time_ip_batch(&script, force)
    })
    .join()
    .unwrap_or_else(|_| Err(KernelError::Config("the ip -batch thread panicked".into())))
}

fn time_ip_batch(script: &str, force: bool) -> Result<Duration, KernelError> {
    let started = Instant::now();
    let mut command = Command::new("ip");
    if force {
        command.arg("-force");
    }
    let mut child = command
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KernelError::Unsupported {
            what: "the ip -batch baseline".into(),
            why: format!("cannot run iproute2's `ip`: {e}"),
            hint: "install iproute2".into(),
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(script.as_bytes())
        .map_err(|e| KernelError::io("write the ip batch", e))?;
    drop(stdin);
    let output = child
        .wait_with_output()
        .map_err(|e| KernelError::io("wait for ip -batch", e))?;
    let elapsed = started.elapsed();
    if output.status.success() {
        return Ok(elapsed);
    }
    Err(KernelError::Config(format!(
        "ip -batch failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Moves the calling thread into the namespace of the process's main
/// thread: a thread inherits its creator's, which may be a peer's.
fn enter_host_namespace() -> Result<(), KernelError> {
    let file = std::fs::File::open("/proc/self/ns/net")
        .map_err(|e| KernelError::io("open /proc/self/ns/net", e))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| KernelError::io("enter the host network namespace", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::owner_pid;

    #[test]
    fn scripts_use_only_pid_stamped_names() {
        let names = NetworkNames::for_pid(4242, 3);
        let up = up_script(&names, 2);
        let down = down_script(&names, 2);
        assert_eq!(up.lines().count(), 1 + 2 * 3);
        assert_eq!(down.lines().count(), 2 + 1);
        for word in up.split_whitespace().chain(down.split_whitespace()) {
            if word.starts_with(crate::names::PREFIX) {
                assert_eq!(owner_pid(word), Some(4242), "{word}");
            }
        }
        assert!(up.contains(&format!("netns add {}", names.name(Role::Netns, 1))));
        assert!(down.ends_with(&format!("link del {}\n", names.name(Role::Bridge, 0))));
    }
}
