#![cfg(all(target_os = "linux", not(madsim)))]
//! `QdiscTree` against the real kernel, inside throwaway network namespaces:
//! each test unshares a new namespace on its own thread, so nothing touches
//! the host's, and the namespace vanishes when the thread ends.

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use kernel_backend::KernelError;
use kernel_backend::tc::QdiscTree;
use kernel_backend::tc::handles::{LinkHandles, root_handle};
use kernel_backend::tc::message::is_unknown_qdisc_kind;
use kernel_backend::testing;
use madsim_net::LinkImpairment;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::tc::{TcAttribute, TcFilterU32Option, TcHandle, TcMessage, TcOption};
use nix::sched::CloneFlags;
use rtnetlink::{LinkUnspec, LinkVeth};

const VETH: &str = "tcv0";
const VETH_PEER: &str = "tcv1";
/// TCA_TBF_PARMS; its `tc_ratespec.rate` is bytes 8..12.
const TCA_TBF_PARMS: u16 = 1;

/// Runs `scenario` on a fresh thread inside a fresh network namespace.
fn in_throwaway_netns<F, Fut>(scenario: F) -> Result<(), String>
where
    F: FnOnce(rtnetlink::Handle, u32) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    std::thread::spawn(move || {
        // Only this thread moves; the test harness stays in the host netns.
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        runtime.block_on(async move {
            let (connection, handle, _) =
                rtnetlink::new_connection().map_err(|e| format!("rtnetlink: {e}"))?;
            tokio::spawn(connection);
            let ifindex = create_veth(&handle).await?;
            scenario(handle, ifindex).await
        })
    })
    .join()
    .map_err(|_| "scenario thread panicked".to_string())?
}

async fn create_veth(handle: &rtnetlink::Handle) -> Result<u32, String> {
    handle
        .link()
        .add(LinkVeth::new(VETH, VETH_PEER).build())
        .execute()
        .await
        .map_err(|e| format!("adding veth: {e}"))?;
    let link = handle
        .link()
        .get()
        .match_name(VETH.to_string())
        .execute()
        .try_next()
        .await
        .map_err(|e| format!("finding veth: {e}"))?
        .ok_or("veth vanished")?;
    let ifindex = link.header.index;
    assert!(
        link.attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::IfName(n) if n == VETH))
    );
    handle
        .link()
        .set(LinkUnspec::new_with_index(ifindex).up().build())
        .execute()
        .await
        .map_err(|e| format!("veth up: {e}"))?;
    Ok(ifindex)
}

/// What the kernel reports for one interface.
struct TcDump {
    qdiscs: Vec<TcMessage>,
    classes: Vec<TcMessage>,
    filters: Vec<TcMessage>,
}

async fn dump(handle: &rtnetlink::Handle, ifindex: u32) -> Result<TcDump, String> {
    let index = ifindex as i32;
    let qdiscs: Vec<TcMessage> = handle
        .qdisc()
        .get()
        .index(index)
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("qdisc dump: {e}"))?;
    let classes = handle
        .traffic_class(index)
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("class dump: {e}"))?;
    // Parent 0 dumps the filters of the root qdisc, where ours are.
    let filters = handle
        .traffic_filter(index)
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("filter dump: {e}"))?;
    Ok(TcDump {
        qdiscs: qdiscs
            .into_iter()
            .filter(|q| q.header.index == index)
            .collect(),
        classes,
        filters,
    })
}

fn kind(message: &TcMessage) -> Option<&str> {
    message.attributes.iter().find_map(|a| match a {
        TcAttribute::Kind(kind) => Some(kind.as_str()),
        _ => None,
    })
}

fn of_kind<'a>(messages: &'a [TcMessage], wanted: &str) -> Vec<&'a TcMessage> {
    messages
        .iter()
        .filter(|m| kind(m) == Some(wanted))
        .collect()
}

/// The rate a TBF qdisc reports, bytes per second. netlink-packet-route
/// keeps an unknown kind's whole `TCA_OPTIONS` as one raw attribute.
fn tbf_rate_bytes_per_sec(qdisc: &TcMessage) -> Option<u32> {
    let raw = qdisc.attributes.iter().find_map(|a| match a {
        TcAttribute::Options(options) => options.iter().find_map(|o| match o {
            TcOption::Other(nla) => {
                let mut value = vec![0u8; netlink_packet_core::Nla::value_len(nla)];
                netlink_packet_core::Nla::emit_value(nla, &mut value);
                Some(value)
            }
            _ => None,
        }),
        _ => None,
    })?;
    let parms = nested_attr(&raw, TCA_TBF_PARMS)?;
    Some(u32::from_ne_bytes(parms.get(8..12)?.try_into().ok()?))
}

/// The value of attribute `wanted` in a run of netlink attributes.
fn nested_attr(mut bytes: &[u8], wanted: u16) -> Option<&[u8]> {
    while bytes.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]) & 0x3FFF;
        if len < 4 || len > bytes.len() {
            return None;
        }
        if kind == wanted {
            return Some(&bytes[4..len]);
        }
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    None
}

/// The u32 filter node with `handle`, as (class id, matched destination).
fn u32_node(filters: &[TcMessage], handle: u32) -> Option<(u32, Ipv4Addr)> {
    let node = filters
        .iter()
        .find(|f| f.header.handle == TcHandle::from(handle) && kind(f) == Some("u32"))?;
    let options = node.attributes.iter().find_map(|a| match a {
        TcAttribute::Options(options) => Some(options),
        _ => None,
    })?;
    let class = options.iter().find_map(|o| match o {
        TcOption::U32(TcFilterU32Option::ClassId(class)) => Some(u32::from(*class)),
        _ => None,
    })?;
    let dst = options.iter().find_map(|o| match o {
        TcOption::U32(TcFilterU32Option::Selector(sel)) => {
            sel.keys.first().map(|k| Ipv4Addr::from(k.val))
        }
        _ => None,
    })?;
    Some((class, dst))
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what.into()) }
}

/// One rate-limited link as the kernel shows it: root HTB, class 1:m, one
/// TBF under it at `rate`, the u32 node pointing at the class.
fn expect_rate_link(
    dump: &TcDump,
    handles: &LinkHandles,
    dst: Ipv4Addr,
    rate_bytes_per_sec: u32,
) -> Result<(), String> {
    let htb = of_kind(&dump.qdiscs, "htb");
    check(
        htb.len() == 1 && htb[0].header.handle == TcHandle::from(root_handle()),
        format!("expected one root HTB 1:, got {htb:?}"),
    )?;
    let class = of_kind(&dump.classes, "htb")
        .into_iter()
        .filter(|c| c.header.handle == TcHandle::from(handles.class_id))
        .count();
    check(
        class == 1,
        format!("expected one class {:#x}, got {class}", handles.class_id),
    )?;
    let tbfs: Vec<_> = of_kind(&dump.qdiscs, "tbf")
        .into_iter()
        .filter(|q| q.header.handle == TcHandle::from(handles.tbf_handle))
        .collect();
    check(
        tbfs.len() == 1,
        format!(
            "expected one TBF {:#x}, got {}",
            handles.tbf_handle,
            tbfs.len()
        ),
    )?;
    check(
        tbfs[0].header.parent == TcHandle::from(handles.class_id),
        format!("TBF parent {:?}", tbfs[0].header.parent),
    )?;
    let rate = tbf_rate_bytes_per_sec(tbfs[0]);
    check(
        rate == Some(rate_bytes_per_sec),
        format!("TBF rate {rate:?}, expected {rate_bytes_per_sec}"),
    )?;
    let node = u32_node(&dump.filters, handles.filter_handle);
    check(
        node == Some((handles.class_id, dst)),
        format!("u32 node {:#x}: {node:?}", handles.filter_handle),
    )
}

fn rate(bits_per_sec: u64) -> LinkImpairment {
    LinkImpairment::builder()
        .rate_bits_per_sec(bits_per_sec)
        .build()
        .expect("valid impairment")
}

async fn rate_only_scenario(handle: rtnetlink::Handle, ifindex: u32) -> Result<(), String> {
    let mut tree = QdiscTree::new(handle.clone(), ifindex, false);
    let dst = Ipv4Addr::new(10, 77, 0, 5);
    let other_dst = Ipv4Addr::new(10, 77, 0, 100);
    let link = LinkHandles::for_destination(4).map_err(|e| e.to_string())?;
    let other = LinkHandles::for_destination(99).map_err(|e| e.to_string())?;

    tree.set_link(4, dst, &rate(10_000_000), false)
        .await
        .map_err(|e| e.to_string())?;
    expect_rate_link(&dump(&handle, ifindex).await?, &link, dst, 1_250_000)?;

    // Update in place, and a second destination beside it.
    tree.set_link(4, dst, &rate(20_000_000), false)
        .await
        .map_err(|e| e.to_string())?;
    tree.set_link(99, other_dst, &rate(1_000_000), false)
        .await
        .map_err(|e| e.to_string())?;
    let after = dump(&handle, ifindex).await?;
    expect_rate_link(&after, &link, dst, 2_500_000)?;
    expect_rate_link(&after, &other, other_dst, 125_000)?;
    let tbf_count = of_kind(&after.qdiscs, "tbf").len();
    check(
        tbf_count == 2,
        format!("expected 2 TBFs after the update, got {tbf_count}"),
    )?;

    // Without netem, delay and partitions are refused before touching anything.
    let delayed = LinkImpairment::builder()
        .latency_ms(5)
        .rate_bits_per_sec(10_000_000)
        .build()
        .unwrap();
    for (impairment, blocked) in [(delayed, false), (rate(10_000_000), true)] {
        let refused = tree.set_link(4, dst, &impairment, blocked).await;
        check(
            matches!(&refused, Err(KernelError::Unsupported { why, hint, .. })
                if why.contains("sch_netem") && hint.contains("--engine userspace")),
            format!("expected Unsupported, got {refused:?}"),
        )?;
    }
    expect_rate_link(&dump(&handle, ifindex).await?, &link, dst, 2_500_000)?;

    tree.clear_link(4).await.map_err(|e| e.to_string())?;
    let cleared = dump(&handle, ifindex).await?;
    check(
        u32_node(&cleared.filters, link.filter_handle).is_none(),
        "filter left behind",
    )?;
    check(
        !cleared
            .classes
            .iter()
            .any(|c| c.header.handle == TcHandle::from(link.class_id)),
        "class left behind",
    )?;
    check(
        !cleared
            .qdiscs
            .iter()
            .any(|q| q.header.handle == TcHandle::from(link.tbf_handle)),
        "TBF left behind",
    )?;
    expect_rate_link(&cleared, &other, other_dst, 125_000)?;
    // Clearing twice is harmless.
    tree.clear_link(4).await.map_err(|e| e.to_string())?;

    // A second tree on the same interface adopts the existing HTB root.
    let mut second = QdiscTree::new(handle.clone(), ifindex, false);
    second
        .set_link(4, dst, &rate(5_000_000), false)
        .await
        .map_err(|e| e.to_string())?;
    expect_rate_link(&dump(&handle, ifindex).await?, &link, dst, 625_000)?;
    second.clear_link(4).await.map_err(|e| e.to_string())
}

#[test]
fn rate_only_link_installs_updates_and_clears() {
    const TEST: &str = "qdisc_tree::rate_only_link_installs_updates_and_clears";
    if !testing::require_root(TEST) {
        return;
    }
    if let Err(e) = in_throwaway_netns(rate_only_scenario) {
        panic!("{e}");
    }
}

/// Shape changes (rate only -> netem over TBF -> netem only) on kernels that
/// have netem; reported as skipped here when `sch_netem` is missing.
async fn netem_scenario(handle: rtnetlink::Handle, ifindex: u32) -> Result<Option<String>, String> {
    let mut tree = QdiscTree::new(handle.clone(), ifindex, true);
    let dst = Ipv4Addr::new(10, 77, 0, 3);
    let link = LinkHandles::for_destination(2).map_err(|e| e.to_string())?;
    tree.set_link(2, dst, &rate(10_000_000), false)
        .await
        .map_err(|e| e.to_string())?;
    match tree.set_link(2, dst, &LinkImpairment::wan(), false).await {
        Err(KernelError::Netlink { source, .. }) if is_unknown_qdisc_kind(&source) => {
            return Ok(Some("this kernel has no sch_netem".into()));
        }
        other => other.map_err(|e| e.to_string())?,
    }
    let both = dump(&handle, ifindex).await?;
    let netem = of_kind(&both.qdiscs, "netem");
    check(
        netem.len() == 1 && netem[0].header.handle == TcHandle::from(link.netem_handle),
        "netem missing",
    )?;
    let tbf = of_kind(&both.qdiscs, "tbf");
    check(
        tbf.len() == 1 && tbf[0].header.parent == TcHandle::from(link.netem_child_class()),
        format!("TBF not under netem: {tbf:?}"),
    )?;
    tree.set_link(2, dst, &LinkImpairment::light_chaos(), true)
        .await
        .map_err(|e| e.to_string())?;
    let netem_only = dump(&handle, ifindex).await?;
    check(
        of_kind(&netem_only.qdiscs, "tbf").is_empty(),
        "TBF left after switching to netem only",
    )?;
    check(
        of_kind(&netem_only.qdiscs, "netem").len() == 1,
        "netem missing after update",
    )?;
    tree.clear_link(2).await.map_err(|e| e.to_string())?;
    Ok(None)
}

#[test]
fn netem_link_changes_shape_in_place() {
    const TEST: &str = "qdisc_tree::netem_link_changes_shape_in_place";
    if !testing::require_root(TEST) {
        return;
    }
    let skipped = std::sync::Arc::new(parking_lot::Mutex::new(None));
    let record = skipped.clone();
    let result = in_throwaway_netns(move |handle, ifindex| async move {
        *record.lock() = netem_scenario(handle, ifindex).await?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    if let Some(reason) = skipped.lock().take() {
        testing::skip(TEST, &reason);
    }
}
