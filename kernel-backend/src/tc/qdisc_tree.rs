//! [`QdiscTree`]: the qdisc tree on one source peer's veth, HTB + u32 +
//! TBF + netem, impairing its traffic per destination. See
//! [`super::handles`] for the tree's handles.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use futures::TryStreamExt;
use madsim_net::LinkImpairment;
use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::TcAttribute;

use super::handles::{FILTER_PRIO, LinkHandles, root_handle};
use super::htb::{HTB_KIND, HtbQdiscSpec};
use super::mapping::{netem_options_for, pass_through_class, tbf_options_for};
use super::message::{
    QdiscOptions, TC_H_ROOT, TcTarget, TcVerb, U32DstFilter, del_class, del_qdisc, del_u32_filter,
    new_htb_class, new_qdisc, new_u32_dst_filter, send_request,
};
use super::netem::{NetemDelayEncoding, NetemSpec};
use super::psched::Psched;
use super::tbf::TbfSpec;
use crate::KernelError;

/// Delay encoding the tree sends: exact nanoseconds, no 274 s tick cap
/// (iproute2 >= 6.10 sends the same; kernels >= 4.15 read it).
const NETEM_DELAY_ENCODING: NetemDelayEncoding = NetemDelayEncoding::Nanos64;

/// Which qdiscs hang under a link's HTB class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Tbf,
    Netem,
    /// netem under the class, TBF as netem's child: delay, then rate (the
    /// arrangement netem's manual documents).
    NetemThenTbf,
}

impl Leaf {
    fn for_specs(netem: bool, tbf: bool) -> Option<Leaf> {
        match (netem, tbf) {
            (false, false) => None,
            (false, true) => Some(Leaf::Tbf),
            (true, false) => Some(Leaf::Netem),
            (true, true) => Some(Leaf::NetemThenTbf),
        }
    }

    /// The qdisc directly under the class.
    fn top_handle(self, handles: &LinkHandles) -> u32 {
        match self {
            Leaf::Tbf => handles.tbf_handle,
            Leaf::Netem | Leaf::NetemThenTbf => handles.netem_handle,
        }
    }
}

/// The kernel objects installed for one destination.
#[derive(Debug, Clone, Copy)]
struct LinkState {
    leaf: Leaf,
}

/// The qdisc tree of one source peer: impairs traffic leaving its veth per
/// destination.
pub struct QdiscTree {
    /// rtnetlink connection opened inside the peer's namespace.
    handle: rtnetlink::Handle,
    ifindex: u32,
    netem_available: bool,
    root_installed: bool,
    links: HashMap<usize, LinkState>,
}

impl QdiscTree {
    /// The tree of interface `ifindex`, reached through `handle` (which must
    /// belong to the interface's namespace). Installs nothing until used.
    pub fn new(handle: rtnetlink::Handle, ifindex: u32, netem_available: bool) -> Self {
        QdiscTree {
            handle,
            ifindex,
            netem_available,
            root_installed: false,
            links: HashMap::new(),
        }
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Impairs traffic from this peer to `dst_ip` (destination `dst_index`).
    /// `blocked` drops it all silently (a partition). Later calls update the
    /// link in place; an impairment of "none" and not blocked clears it.
    pub async fn set_link(
        &mut self,
        dst_index: usize,
        dst_ip: Ipv4Addr,
        impairment: &LinkImpairment,
        blocked: bool,
    ) -> Result<(), KernelError> {
        let handles = LinkHandles::for_destination(dst_index)?;
        let netem = netem_options_for(impairment, blocked);
        let tbf = tbf_options_for(impairment);
        let Some(leaf) = Leaf::for_specs(netem.is_some(), tbf.is_some()) else {
            return self.clear_link(dst_index).await;
        };
        self.check_supported(dst_index, netem.as_ref(), tbf.as_ref())?;
        let clock = Psched::system()?;
        self.ensure_root(&clock).await?;
        let class = TcTarget {
            ifindex: self.ifindex,
            handle: handles.class_id,
            parent: root_handle(),
        };
        let message = new_htb_class(TcVerb::Replace, class, &pass_through_class(), &clock)?;
        self.send(message, || format!("HTB class for destination {dst_index}"))
            .await?;
        self.install_leaf(dst_index, &handles, leaf, netem, tbf, &clock)
            .await?;
        let filter = self.filter(&handles, dst_ip);
        let message = new_u32_dst_filter(TcVerb::Replace, &filter)?;
        self.send(message, || {
            format!("u32 filter for {dst_ip} (destination {dst_index})")
        })
        .await?;
        self.links.insert(dst_index, LinkState { leaf });
        Ok(())
    }

    /// Removes every impairment of the link to `dst_index` (its traffic then
    /// passes unshaped). Clearing a link that is not set does nothing.
    pub async fn clear_link(&mut self, dst_index: usize) -> Result<(), KernelError> {
        let handles = LinkHandles::for_destination(dst_index)?;
        if !self.links.contains_key(&dst_index) {
            return Ok(());
        }
        // The filter first: the kernel refuses to delete a class a filter
        // still points at. Deleting the class takes its qdiscs with it.
        let filter = self.filter(&handles, Ipv4Addr::UNSPECIFIED);
        self.send(del_u32_filter(&filter)?, || {
            format!("deleting filter of destination {dst_index}")
        })
        .await?;
        let class = TcTarget {
            ifindex: self.ifindex,
            handle: handles.class_id,
            parent: root_handle(),
        };
        self.send(del_class(class)?, || {
            format!("deleting class of destination {dst_index}")
        })
        .await?;
        self.links.remove(&dst_index);
        Ok(())
    }

    /// Refuses, before touching the kernel, what this kernel cannot do.
    fn check_supported(
        &self,
        dst_index: usize,
        netem: Option<&NetemSpec>,
        tbf: Option<&TbfSpec>,
    ) -> Result<(), KernelError> {
        if let Some(spec) = netem {
            if !self.netem_available {
                return Err(KernelError::Unsupported {
                    what: format!(
                        "tc engine: delay, jitter, loss, duplication, reordering, corruption or a \
                         partition on the link to destination {dst_index}"
                    ),
                    why: "this kernel has no sch_netem".into(),
                    hint: "use the userspace engine (--engine userspace)".into(),
                });
            }
            spec.validate()?;
        }
        if let Some(spec) = tbf {
            spec.validate()?;
        }
        Ok(())
    }

    async fn ensure_root(&mut self, clock: &Psched) -> Result<(), KernelError> {
        if self.root_installed {
            return Ok(());
        }
        // HTB cannot "change", so replacing an HTB root 1: fails: adopt one
        // left by an earlier tree on this interface instead.
        if !self.root_is_htb_1().await? {
            let root = TcTarget {
                ifindex: self.ifindex,
                handle: root_handle(),
                parent: TC_H_ROOT,
            };
            // default 0: traffic no filter claims goes out unshaped.
            let options = QdiscOptions::Htb(HtbQdiscSpec::default());
            let message = new_qdisc(TcVerb::Replace, root, &options, clock)?;
            self.send(message, || "root HTB qdisc".to_string()).await?;
        }
        self.root_installed = true;
        Ok(())
    }

    /// True when the interface's root qdisc is already HTB with handle 1:.
    async fn root_is_htb_1(&self) -> Result<bool, KernelError> {
        let index = i32::try_from(self.ifindex)
            .map_err(|_| KernelError::Config(format!("ifindex {} out of range", self.ifindex)))?;
        let mut qdiscs = self.handle.qdisc().get().index(index).execute();
        while let Some(qdisc) = qdiscs.try_next().await.map_err(|e| {
            KernelError::netlink(format!("listing qdiscs of ifindex {}", self.ifindex), e)
        })? {
            let header = &qdisc.header;
            // The dump may cover every interface: keep ours, and its root.
            if header.index != index || u32::from(header.parent) != TC_H_ROOT {
                continue;
            }
            let is_htb = qdisc
                .attributes
                .iter()
                .any(|a| matches!(a, TcAttribute::Kind(kind) if kind == HTB_KIND));
            return Ok(is_htb && u32::from(header.handle) == root_handle());
        }
        Ok(false)
    }

    /// Puts `leaf` under the link's class. Same shape as before: each qdisc
    /// is replaced in place (same handle and kind means "change"). Another
    /// shape: the old qdiscs go first, since a handle cannot change kind.
    async fn install_leaf(
        &mut self,
        dst_index: usize,
        handles: &LinkHandles,
        leaf: Leaf,
        netem: Option<NetemSpec>,
        tbf: Option<TbfSpec>,
        clock: &Psched,
    ) -> Result<(), KernelError> {
        let previous = self.links.get(&dst_index).map(|state| state.leaf);
        if let Some(old) = previous.filter(|old| *old != leaf) {
            let target = self.target(old.top_handle(handles), handles.class_id);
            self.send(del_qdisc(target)?, || {
                format!("removing old qdiscs of destination {dst_index}")
            })
            .await?;
        }
        if let Some(spec) = netem {
            let target = self.target(handles.netem_handle, handles.class_id);
            let options = QdiscOptions::Netem(spec, NETEM_DELAY_ENCODING);
            let message = new_qdisc(TcVerb::Replace, target, &options, clock)?;
            self.send(message, || format!("netem for destination {dst_index}"))
                .await?;
        }
        if let Some(spec) = tbf {
            let parent = match leaf {
                Leaf::NetemThenTbf => handles.netem_child_class(),
                Leaf::Tbf | Leaf::Netem => handles.class_id,
            };
            let target = self.target(handles.tbf_handle, parent);
            let message = new_qdisc(TcVerb::Replace, target, &QdiscOptions::Tbf(spec), clock)?;
            self.send(message, || format!("tbf for destination {dst_index}"))
                .await?;
        }
        Ok(())
    }

    fn target(&self, handle: u32, parent: u32) -> TcTarget {
        TcTarget {
            ifindex: self.ifindex,
            handle,
            parent,
        }
    }

    fn filter(&self, handles: &LinkHandles, dst: Ipv4Addr) -> U32DstFilter {
        U32DstFilter {
            ifindex: self.ifindex,
            parent: root_handle(),
            prio: FILTER_PRIO,
            handle: handles.filter_handle,
            dst,
            flow_id: handles.class_id,
        }
    }

    async fn send(
        &self,
        message: NetlinkMessage<RouteNetlinkMessage>,
        context: impl Fn() -> String,
    ) -> Result<(), KernelError> {
        send_request(&self.handle, message).await.map_err(|e| {
            KernelError::netlink(format!("tc on ifindex {}: {}", self.ifindex, context()), e)
        })
    }
}
