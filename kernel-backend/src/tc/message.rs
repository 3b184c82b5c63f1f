//! Complete tc netlink requests, flag for flag what `tc` sends, ready for
//! `rtnetlink::Handle::request`, and [`send_request`], which sends one and
//! reads the kernel's answer.

use std::net::Ipv4Addr;

use futures::StreamExt;
use netlink_packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::tc::{
    TcAttribute, TcFilterU32Option, TcHandle, TcHeader, TcMessage, TcOption, TcU32Key,
    TcU32Selector, TcU32SelectorFlags,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::htb::{HTB_KIND, HtbClassSpec, HtbQdiscSpec};
use super::netem::{NETEM_KIND, NetemDelayEncoding, NetemSpec};
use super::psched::Psched;
use super::tbf::{TBF_KIND, TbfSpec};
use crate::KernelError;

/// `TCA_OPTIONS`, for the options we encode ourselves.
const TCA_OPTIONS: u16 = 2;
/// `ETH_P_IP`: filters match IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Byte offset of the destination address in an IPv4 header.
const IPV4_DST_OFFSET_BYTES: i32 = 16;
/// The u32 kind.
pub const U32_KIND: &str = "u32";

/// How a create request treats an existing object, as tc's verbs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcVerb {
    /// `tc ... add`: create; fail if it exists.
    Add,
    /// `tc ... replace`: create, or update in place.
    Replace,
    /// `tc ... change`: update in place; fail if missing.
    Change,
}

/// The object a request is about; the verbs map to different flags for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Object {
    Qdisc,
    ClassOrFilter,
}

fn create_flags(verb: TcVerb, object: Object) -> u16 {
    let base = NLM_F_REQUEST | NLM_F_ACK;
    match (verb, object) {
        (TcVerb::Add, _) => base | NLM_F_EXCL | NLM_F_CREATE,
        // Only qdiscs know NLM_F_REPLACE; for classes and filters tc's
        // "replace" is create-or-change.
        (TcVerb::Replace, Object::Qdisc) => base | NLM_F_CREATE | NLM_F_REPLACE,
        (TcVerb::Replace, Object::ClassOrFilter) => base | NLM_F_CREATE,
        (TcVerb::Change, _) => base,
    }
}

/// Options of a qdisc we can create.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QdiscOptions {
    Netem(NetemSpec, NetemDelayEncoding),
    Tbf(TbfSpec),
    Htb(HtbQdiscSpec),
}

impl QdiscOptions {
    pub fn kind(&self) -> &'static str {
        match self {
            QdiscOptions::Netem(..) => NETEM_KIND,
            QdiscOptions::Tbf(_) => TBF_KIND,
            QdiscOptions::Htb(_) => HTB_KIND,
        }
    }

    /// The raw `TCA_OPTIONS` payload.
    pub fn payload(&self, clock: &Psched) -> Result<Vec<u8>, KernelError> {
        match self {
            QdiscOptions::Netem(spec, encoding) => spec.options_payload(*encoding, clock),
            QdiscOptions::Tbf(spec) => spec.options_payload(clock),
            QdiscOptions::Htb(spec) => spec.options_payload(),
        }
    }
}

/// Where a qdisc or class sits: interface, own handle, parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcTarget {
    pub ifindex: u32,
    /// Qdisc handle (`major:0`) or class id (`major:minor`), as a u32.
    pub handle: u32,
    /// Parent: `TC_H_ROOT` (`u32::MAX`) or a qdisc/class handle.
    pub parent: u32,
}

/// `TC_H_ROOT`.
pub const TC_H_ROOT: u32 = u32::MAX;

/// `major:minor` as the kernel's 32-bit handle.
pub const fn tc_handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

fn header(ifindex: u32, handle: u32, parent: u32, info: u32) -> Result<TcHeader, KernelError> {
    let index = i32::try_from(ifindex)
        .map_err(|_| KernelError::Config(format!("ifindex {ifindex} out of range")))?;
    Ok(TcHeader {
        family: AddressFamily::Unspec,
        index,
        handle: TcHandle::from(handle),
        parent: TcHandle::from(parent),
        info,
    })
}

fn finish(payload: RouteNetlinkMessage, flags: u16) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut message = NetlinkMessage::from(payload);
    message.header.flags = flags;
    message.finalize();
    message
}

fn kind_and_raw_options(kind: &str, options: Vec<u8>) -> Vec<TcAttribute> {
    vec![
        TcAttribute::Kind(kind.to_string()),
        TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)),
    ]
}

/// `tc qdisc add|replace|change dev IF parent P handle H KIND OPTIONS`.
pub fn new_qdisc(
    verb: TcVerb,
    target: TcTarget,
    options: &QdiscOptions,
    clock: &Psched,
) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    let attributes = kind_and_raw_options(options.kind(), options.payload(clock)?);
    let message = TcMessage::from_parts(
        header(target.ifindex, target.handle, target.parent, 0)?,
        attributes,
    );
    Ok(finish(
        RouteNetlinkMessage::NewQueueDiscipline(message),
        create_flags(verb, Object::Qdisc),
    ))
}

/// `tc qdisc del dev IF parent P handle H`.
pub fn del_qdisc(target: TcTarget) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    let message = TcMessage::from_parts(
        header(target.ifindex, target.handle, target.parent, 0)?,
        vec![],
    );
    Ok(finish(
        RouteNetlinkMessage::DelQueueDiscipline(message),
        NLM_F_REQUEST | NLM_F_ACK,
    ))
}

/// `tc class add|replace|change dev IF parent P classid C htb ...`.
pub fn new_htb_class(
    verb: TcVerb,
    target: TcTarget,
    spec: &HtbClassSpec,
    clock: &Psched,
) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    let attributes = kind_and_raw_options(HTB_KIND, spec.options_payload(clock)?);
    let message = TcMessage::from_parts(
        header(target.ifindex, target.handle, target.parent, 0)?,
        attributes,
    );
    Ok(finish(
        RouteNetlinkMessage::NewTrafficClass(message),
        create_flags(verb, Object::ClassOrFilter),
    ))
}

/// `tc class del dev IF parent P classid C`.
pub fn del_class(target: TcTarget) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    let message = TcMessage::from_parts(
        header(target.ifindex, target.handle, target.parent, 0)?,
        vec![],
    );
    Ok(finish(
        RouteNetlinkMessage::DelTrafficClass(message),
        NLM_F_REQUEST | NLM_F_ACK,
    ))
}

/// A u32 filter sending IPv4 packets for one destination address to a class:
/// `tc filter add dev IF parent P protocol ip prio N [handle H] u32
///  match ip dst A.B.C.D/32 flowid C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U32DstFilter {
    pub ifindex: u32,
    /// The qdisc the filter is attached to (`1:0` for our HTB root).
    pub parent: u32,
    /// Filter priority (lower runs first); must be > 0.
    pub prio: u16,
    /// u32 handle (`htid:hash:node`, e.g. `800::5` = 0x8000_0005), or 0 to
    /// let the kernel pick one.
    pub handle: u32,
    pub dst: Ipv4Addr,
    /// The class matching packets go to.
    pub flow_id: u32,
}

impl U32DstFilter {
    /// `tcm_info`: priority in the upper half, protocol (network order) below.
    fn info(&self) -> u32 {
        (u32::from(self.prio) << 16) | u32::from(ETH_P_IP.to_be())
    }

    fn selector(&self) -> TcU32Selector {
        let mut key = TcU32Key::default();
        key.mask = u32::MAX;
        key.val = u32::from(self.dst);
        key.off = IPV4_DST_OFFSET_BYTES;
        let mut selector = TcU32Selector::default();
        // TERMINAL: a match ends classification (tc sets it with flowid).
        selector.flags = TcU32SelectorFlags::Terminal;
        selector.nkeys = 1;
        selector.keys = vec![key];
        selector
    }

    fn validate(&self) -> Result<(), KernelError> {
        if self.prio == 0 {
            return Err(KernelError::Config(
                "u32 filter prio 0 lets the kernel choose one; give an explicit prio".into(),
            ));
        }
        Ok(())
    }
}

/// `tc filter add|replace|change ... u32 match ip dst A/32 flowid C`.
pub fn new_u32_dst_filter(
    verb: TcVerb,
    filter: &U32DstFilter,
) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    filter.validate()?;
    let options = vec![
        TcOption::U32(TcFilterU32Option::ClassId(TcHandle::from(filter.flow_id))),
        TcOption::U32(TcFilterU32Option::Selector(filter.selector())),
    ];
    let attributes = vec![
        TcAttribute::Kind(U32_KIND.to_string()),
        TcAttribute::Options(options),
    ];
    let head = header(filter.ifindex, filter.handle, filter.parent, filter.info())?;
    Ok(finish(
        RouteNetlinkMessage::NewTrafficFilter(TcMessage::from_parts(head, attributes)),
        create_flags(verb, Object::ClassOrFilter),
    ))
}

/// `tc filter del dev IF parent P protocol ip prio N handle H u32`.
pub fn del_u32_filter(
    filter: &U32DstFilter,
) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    filter.validate()?;
    let head = header(filter.ifindex, filter.handle, filter.parent, filter.info())?;
    let attributes = vec![TcAttribute::Kind(U32_KIND.to_string())];
    Ok(finish(
        RouteNetlinkMessage::DelTrafficFilter(TcMessage::from_parts(head, attributes)),
        NLM_F_REQUEST | NLM_F_ACK,
    ))
}

/// A minimal netem qdisc (`tc qdisc add dev IF root netem delay 1ms`) for
/// a capability probe: the kernel answers ENOENT ("Specified qdisc kind is
/// unknown") when `sch_netem` is absent. Send it on a throwaway interface.
pub fn netem_probe_message(
    ifindex: u32,
) -> Result<NetlinkMessage<RouteNetlinkMessage>, KernelError> {
    let spec = NetemSpec {
        latency_us: 1_000,
        ..Default::default()
    };
    let target = TcTarget {
        ifindex,
        handle: 0,
        parent: TC_H_ROOT,
    };
    // Nanos64 does not use the scheduler clock, so any clock will do.
    new_qdisc(
        TcVerb::Add,
        target,
        &QdiscOptions::Netem(spec, NetemDelayEncoding::Nanos64),
        &Psched::NOMINAL,
    )
}

/// Serialized bytes of a message (what goes on the socket, modulo the
/// sequence number and port id the connection fills in).
pub fn to_bytes(message: &NetlinkMessage<RouteNetlinkMessage>) -> Vec<u8> {
    let mut buf = vec![0u8; message.buffer_len()];
    message.serialize(&mut buf);
    buf
}

/// Sends one request and waits for its acknowledgement; a NACK becomes
/// `rtnetlink::Error::NetlinkError` (its `code` is the negative errno).
pub async fn send_request(
    handle: &rtnetlink::Handle,
    message: NetlinkMessage<RouteNetlinkMessage>,
) -> Result<(), rtnetlink::Error> {
    let mut handle = handle.clone();
    let mut replies = handle.request(message)?;
    while let Some(reply) = replies.next().await {
        if let NetlinkPayload::Error(err) = reply.payload {
            // An error message without a code is the ACK.
            if err.code.is_some() {
                return Err(rtnetlink::Error::NetlinkError(err));
            }
        }
    }
    Ok(())
}

/// True when `err` is the kernel's answer to a qdisc kind it does not have
/// ("Specified qdisc kind is unknown": ENOENT), e.g. to the netem probe.
pub fn is_unknown_qdisc_kind(err: &rtnetlink::Error) -> bool {
    nack_code(err) == Some(-libc::ENOENT)
}

/// The (negative) errno of a kernel NACK.
fn nack_code(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|code| code.get()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_map_to_tc_flags() {
        assert_eq!(create_flags(TcVerb::Add, Object::Qdisc), 0x605);
        assert_eq!(create_flags(TcVerb::Replace, Object::Qdisc), 0x505);
        assert_eq!(create_flags(TcVerb::Replace, Object::ClassOrFilter), 0x405);
        assert_eq!(create_flags(TcVerb::Change, Object::ClassOrFilter), 0x5);
    }

    #[test]
    fn probe_message_is_a_root_netem_add() {
        let bytes = to_bytes(&netem_probe_message(1).unwrap());
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 36); // RTM_NEWQDISC
        assert_eq!(&bytes[28..32], &[0xff; 4]); // tcm_parent = root
        assert!(bytes.windows(6).any(|w| w == b"netem\0"));
    }

    #[test]
    fn filter_needs_a_prio() {
        let filter = U32DstFilter {
            ifindex: 1,
            parent: tc_handle(1, 0),
            prio: 0,
            handle: 0,
            dst: Ipv4Addr::new(10, 0, 0, 1),
            flow_id: tc_handle(1, 1),
        };
        assert!(new_u32_dst_filter(TcVerb::Add, &filter).is_err());
    }
}
