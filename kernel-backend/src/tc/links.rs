//! [`TcLinks`]: the `tc` engine of a hub: one [`QdiscTree`] per source
//! peer, each with the netlink connection of the peer's namespace.

use std::net::Ipv4Addr;
use std::sync::Arc;

use madsim_net::{FailureInjector, LinkImpairment};

use super::{QdiscTree, describe_link};
use crate::KernelError;
use crate::link_engine::{EngineKind, LinkEngine, PeerAttachment};
use crate::runtime::NsCaller;

/// One peer as a source of traffic: its tree, and its address as a
/// destination (the u32 filters of the other peers' trees match it).
struct Source {
    ip: Ipv4Addr,
    // An async lock: the tree is used inside jobs on the control thread,
    // and two callers may change links of the same source at once.
    tree: Arc<tokio::sync::Mutex<QdiscTree>>,
}

pub struct TcLinks {
    /// Runs the netlink work on the thread that drives the connections.
    control: NsCaller,
    /// False for [`EngineKind::Bridge`]: rates only.
    netem_available: bool,
    sources: Vec<Source>,
    /// Where each installed link is recorded.
    events: Option<Arc<FailureInjector>>,
}

impl TcLinks {
    pub fn new(control: NsCaller, netem_available: bool) -> TcLinks {
        TcLinks {
            control,
            netem_available,
            sources: Vec::new(),
            events: None,
        }
    }

    fn source(&self, peer: usize) -> Result<&Source, KernelError> {
        self.sources.get(peer).ok_or(KernelError::UnknownPeer {
            peer,
            peers: self.sources.len(),
        })
    }
}

impl LinkEngine for TcLinks {
    fn kind(&self) -> EngineKind {
        if self.netem_available {
            EngineKind::Tc
        } else {
            EngineKind::Bridge
        }
    }

    fn add_peer(&mut self, peer: usize, attachment: PeerAttachment) -> Result<(), KernelError> {
        if peer != self.sources.len() {
            return Err(KernelError::Config(format!(
                "tc engine: peer {peer} added out of order (expected {})",
                self.sources.len()
            )));
        }
        // The tree installs nothing until its first link is set.
        let tree = QdiscTree::new(attachment.rtnl, attachment.veth_index, self.netem_available);
        self.sources.push(Source {
            ip: attachment.ip,
            tree: Arc::new(tokio::sync::Mutex::new(tree)),
        });
        Ok(())
    }

    fn set_link(
        &self,
        from: usize,
        to: usize,
        impairment: LinkImpairment,
        blocked: bool,
    ) -> Result<(), KernelError> {
        let tree = Arc::clone(&self.source(from)?.tree);
        let to_ip = self.source(to)?.ip;
        self.control.call(async move {
            // A clear link has no leaf: the tree removes the link's objects.
            tree.lock()
                .await
                .set_link(to, to_ip, &impairment, blocked)
                .await
        })??;
        // The kernel decides each packet's fate out of sight; what it was
        // told is the record there is.
        if let Some(injector) = &self.events {
            let installed = describe_link(&impairment, blocked);
            injector.note(format!("tc {from} -> {to}: {installed}"));
        }
        Ok(())
    }

    fn record_events_to(&mut self, injector: Arc<FailureInjector>) -> Result<(), KernelError> {
        self.events = Some(injector);
        Ok(())
    }
}
