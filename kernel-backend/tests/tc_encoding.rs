#![cfg(all(target_os = "linux", not(madsim)))]
//! Byte-for-byte parity of our tc messages with iproute2's `tc`.
//!
//! For each case, `tc` runs under `strace -e write=all` inside a throwaway
//! network namespace (`unshare -n`, where `lo` is ifindex 1), and the netlink
//! request it sends is compared with the message our builders produce for
//! the same settings. netem is refused by kernels without `sch_netem`, but
//! `tc` sends the request first, and the request is what we compare.
//!
//! Only `nlmsg_seq` and `nlmsg_pid` are masked: the connection assigns them.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use kernel_backend::tc::handles::{FILTER_PRIO, LinkHandles, root_handle};
use kernel_backend::tc::message::{
    QdiscOptions, TC_H_ROOT, TcTarget, TcVerb, U32DstFilter, del_class, del_qdisc, del_u32_filter,
    new_htb_class, new_qdisc, new_u32_dst_filter, tc_handle, to_bytes,
};
use kernel_backend::tc::{
    HtbClassSpec, HtbQdiscSpec, NetemDelayEncoding, NetemSpec, Psched, TbfSpec, netem_options_for,
    pass_through_class, tbf_options_for,
};
use kernel_backend::testing;
use madsim_net::LinkImpairment;

const TEST: &str = "tc_encoding::messages_match_iproute2";
/// `lo` in a fresh network namespace.
const LO_IFINDEX: u32 = 1;
/// `nlmsg_seq` and `nlmsg_pid`: bytes 8..16 of the netlink header.
const MASKED_BYTES: std::ops::Range<usize> = 8..16;
/// RTM_NEWQDISC ..= RTM_GETTFILTER: the tc message types.
const TC_MESSAGE_TYPES: std::ops::RangeInclusive<u16> = 36..=46;

/// One comparison: what we ask `tc` to do and what we build for it.
struct Case {
    name: String,
    tc_args: Vec<String>,
    ours: Vec<u8>,
}

fn args(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

fn percent(value: f64) -> String {
    // Rust prints the shortest string that parses back to the same f64,
    // so tc's strtod sees exactly our value.
    format!("{value}%")
}

/// Appends `keyword value [correlation]` when `value` is set.
fn push_probability(out: &mut Vec<String>, keyword: &str, value: f64, correlation: f64) {
    if value > 0.0 {
        out.push(keyword.to_string());
        out.push(percent(value));
        if correlation > 0.0 {
            out.push(percent(correlation));
        }
    }
}

/// The `tc qdisc ... netem` arguments for `spec`.
fn netem_args(spec: &NetemSpec) -> Vec<String> {
    let mut out = Vec::new();
    if spec.latency_us > 0 || spec.jitter_us > 0 {
        out.push("delay".into());
        out.push(format!("{}us", spec.latency_us));
        if spec.jitter_us > 0 {
            out.push(format!("{}us", spec.jitter_us));
            if spec.latency_correlation_percent > 0.0 {
                out.push(percent(spec.latency_correlation_percent));
            }
        }
    }
    push_probability(
        &mut out,
        "loss",
        spec.loss_percent,
        spec.loss_correlation_percent,
    );
    push_probability(
        &mut out,
        "duplicate",
        spec.duplicate_percent,
        spec.duplicate_correlation_percent,
    );
    push_probability(
        &mut out,
        "reorder",
        spec.reorder_percent,
        spec.reorder_correlation_percent,
    );
    if spec.reorder_gap_packets > 0 {
        out.extend(["gap".to_string(), spec.reorder_gap_packets.to_string()]);
    }
    push_probability(
        &mut out,
        "corrupt",
        spec.corrupt_percent,
        spec.corrupt_correlation_percent,
    );
    if spec.limit_packets != NetemSpec::default().limit_packets {
        out.extend(["limit".to_string(), spec.limit_packets.to_string()]);
    }
    out
}

fn tbf_args(spec: &TbfSpec) -> Vec<String> {
    args(&format!(
        "tbf rate {}bit burst {} limit {}",
        spec.rate_bits_per_sec, spec.burst_bytes, spec.limit_bytes
    ))
}

fn htb_class_args(spec: &HtbClassSpec) -> Vec<String> {
    let mut out = args(&format!("htb rate {}bit", spec.rate_bits_per_sec));
    if let Some(ceil) = spec.ceil_bits_per_sec {
        out.extend(args(&format!("ceil {ceil}bit")));
    }
    if let Some(burst) = spec.burst_bytes {
        out.extend(args(&format!("burst {burst}")));
    }
    if let Some(cburst) = spec.cburst_bytes {
        out.extend(args(&format!("cburst {cburst}")));
    }
    if let Some(quantum) = spec.quantum_bytes {
        out.extend(args(&format!("quantum {quantum}")));
    }
    if spec.prio > 0 {
        out.extend(args(&format!("prio {}", spec.prio)));
    }
    out
}

fn verb_word(verb: TcVerb) -> &'static str {
    match verb {
        TcVerb::Add => "add",
        TcVerb::Replace => "replace",
        TcVerb::Change => "change",
    }
}

/// `major:minor` the way tc parses it (hex).
fn handle_text(handle: u32) -> String {
    format!("{:x}:{:x}", handle >> 16, handle & 0xFFFF)
}

/// Where a qdisc goes, in tc words.
fn placement_args(target: &TcTarget) -> Vec<String> {
    let parent = if target.parent == TC_H_ROOT {
        "root".to_string()
    } else {
        format!("parent {}", handle_text(target.parent))
    };
    let handle = if target.handle == 0 {
        String::new()
    } else {
        format!("handle {:x}:", target.handle >> 16)
    };
    args(&format!("dev lo {parent} {handle}"))
}

fn qdisc_case(
    name: &str,
    verb: TcVerb,
    target: TcTarget,
    options: QdiscOptions,
    clock: &Psched,
) -> Case {
    let mut tc_args = args(&format!("qdisc {}", verb_word(verb)));
    tc_args.extend(placement_args(&target));
    tc_args.extend(match &options {
        QdiscOptions::Netem(spec, _) => [vec!["netem".to_string()], netem_args(spec)].concat(),
        QdiscOptions::Tbf(spec) => tbf_args(spec),
        QdiscOptions::Htb(spec) => htb_qdisc_args(spec),
    });
    let message = new_qdisc(verb, target, &options, clock).expect(name);
    Case {
        name: name.to_string(),
        tc_args,
        ours: to_bytes(&message),
    }
}

fn htb_qdisc_args(spec: &HtbQdiscSpec) -> Vec<String> {
    let mut out = args(&format!(
        "htb default {:x} r2q {}",
        spec.default_class_minor, spec.r2q
    ));
    if let Some(qlen) = spec.direct_qlen_packets {
        out.extend(args(&format!("direct_qlen {qlen}")));
    }
    out
}

fn class_case(name: &str, verb: TcVerb, class_id: u32, spec: HtbClassSpec, clock: &Psched) -> Case {
    let target = TcTarget {
        ifindex: LO_IFINDEX,
        handle: class_id,
        parent: root_handle(),
    };
    let mut tc_args = args(&format!(
        "class {} dev lo parent 1: classid {}",
        verb_word(verb),
        handle_text(class_id)
    ));
    tc_args.extend(htb_class_args(&spec));
    let message = new_htb_class(verb, target, &spec, clock).expect(name);
    Case {
        name: name.to_string(),
        tc_args,
        ours: to_bytes(&message),
    }
}

fn u32_filter(handle: u32, dst: Ipv4Addr, flow_id: u32) -> U32DstFilter {
    U32DstFilter {
        ifindex: LO_IFINDEX,
        parent: root_handle(),
        prio: FILTER_PRIO,
        handle,
        dst,
        flow_id,
    }
}

fn filter_case(name: &str, verb: TcVerb, filter: U32DstFilter) -> Case {
    let handle = if filter.handle == 0 {
        String::new()
    } else {
        format!(
            "handle {:x}::{:x}",
            filter.handle >> 20,
            filter.handle & 0xFFF
        )
    };
    let tc_args = args(&format!(
        "filter {} dev lo parent 1: protocol ip prio {} {handle} u32 match ip dst {}/32 flowid {}",
        verb_word(verb),
        filter.prio,
        filter.dst,
        handle_text(filter.flow_id)
    ));
    let message = new_u32_dst_filter(verb, &filter).expect(name);
    Case {
        name: name.to_string(),
        tc_args,
        ours: to_bytes(&message),
    }
}

fn root_target(handle: u32) -> TcTarget {
    TcTarget {
        ifindex: LO_IFINDEX,
        handle,
        parent: TC_H_ROOT,
    }
}

fn netem_cases(encoding: NetemDelayEncoding, clock: &Psched) -> Vec<Case> {
    let ms = 1_000;
    let specs: Vec<(&str, NetemSpec)> = vec![
        (
            "netem delay",
            NetemSpec {
                latency_us: 10 * ms,
                ..Default::default()
            },
        ),
        (
            "netem delay+jitter",
            NetemSpec {
                latency_us: 100 * ms,
                jitter_us: 10 * ms,
                ..Default::default()
            },
        ),
        (
            "netem delay+jitter+correlation",
            NetemSpec {
                latency_us: 100 * ms,
                jitter_us: 10 * ms,
                latency_correlation_percent: 25.0,
                ..Default::default()
            },
        ),
        (
            "netem loss",
            NetemSpec {
                loss_percent: 0.1,
                ..Default::default()
            },
        ),
        (
            "netem loss+correlation",
            NetemSpec {
                loss_percent: 5.0,
                loss_correlation_percent: 25.0,
                ..Default::default()
            },
        ),
        (
            "netem duplicate",
            NetemSpec {
                duplicate_percent: 1.0,
                ..Default::default()
            },
        ),
        (
            "netem duplicate+correlation with loss correlation",
            NetemSpec {
                loss_percent: 2.0,
                loss_correlation_percent: 10.0,
                duplicate_percent: 1.0,
                duplicate_correlation_percent: 50.0,
                ..Default::default()
            },
        ),
        (
            "netem reorder with delay",
            NetemSpec {
                latency_us: 10 * ms,
                reorder_percent: 25.0,
                ..Default::default()
            },
        ),
        (
            "netem reorder+correlation+gap",
            NetemSpec {
                latency_us: 10 * ms,
                reorder_percent: 25.0,
                reorder_correlation_percent: 50.0,
                reorder_gap_packets: 5,
                ..Default::default()
            },
        ),
        (
            "netem corrupt",
            NetemSpec {
                corrupt_percent: 0.5,
                ..Default::default()
            },
        ),
        (
            "netem all combined",
            NetemSpec {
                latency_us: 50 * ms,
                jitter_us: 30 * ms,
                latency_correlation_percent: 10.0,
                loss_percent: 5.0,
                loss_correlation_percent: 20.0,
                duplicate_percent: 2.0,
                duplicate_correlation_percent: 30.0,
                reorder_percent: 5.0,
                reorder_correlation_percent: 40.0,
                corrupt_percent: 0.5,
                corrupt_correlation_percent: 60.0,
                limit_packets: 5000,
                ..Default::default()
            },
        ),
        (
            "netem latency 5 s (past 2^32 ns: 64-bit attributes)",
            NetemSpec {
                latency_us: 5_000_000,
                jitter_us: 4_500_000,
                ..Default::default()
            },
        ),
        (
            "netem limit",
            NetemSpec {
                latency_us: 1,
                limit_packets: 100_000,
                ..Default::default()
            },
        ),
        (
            "netem loss 100% (partition)",
            NetemSpec {
                loss_percent: 100.0,
                ..Default::default()
            },
        ),
    ];
    let mut cases: Vec<Case> = specs
        .into_iter()
        .map(|(name, spec)| {
            let options = QdiscOptions::Netem(spec, encoding);
            qdisc_case(name, TcVerb::Add, root_target(0), options, clock)
        })
        .collect();
    let under_class = TcTarget {
        ifindex: LO_IFINDEX,
        handle: tc_handle(0x1005, 0),
        parent: tc_handle(1, 5),
    };
    let options = QdiscOptions::Netem(
        NetemSpec {
            latency_us: 20 * ms,
            ..Default::default()
        },
        encoding,
    );
    cases.push(qdisc_case(
        "netem replace under a class",
        TcVerb::Replace,
        under_class,
        options,
        clock,
    ));
    cases
}

fn tbf_cases(clock: &Psched) -> Vec<Case> {
    let specs = [
        ("tbf 10 Mbit", 10_000_000, 32 * 1024, 100 * 1024),
        ("tbf 100 Mbit", 100_000_000, 64 * 1024, 1 << 20),
        ("tbf 1 Gbit", 1_000_000_000, 125_000, 1 << 20),
        (
            "tbf 40 Gbit (64-bit rate)",
            40_000_000_000,
            5_000_000,
            10 << 20,
        ),
        ("tbf 1 kbit tiny burst", 1_000, 1514, 3000),
        ("tbf 1 Mbit odd sizes", 1_234_567, 16_001, 65_537),
    ];
    let mut cases: Vec<Case> = specs
        .into_iter()
        .map(|(name, rate_bits_per_sec, burst_bytes, limit_bytes)| {
            let spec = TbfSpec {
                rate_bits_per_sec,
                burst_bytes,
                limit_bytes,
            };
            qdisc_case(
                name,
                TcVerb::Add,
                root_target(tc_handle(5, 0)),
                QdiscOptions::Tbf(spec),
                clock,
            )
        })
        .collect();
    let under_netem = TcTarget {
        ifindex: LO_IFINDEX,
        handle: tc_handle(0x2007, 0),
        parent: tc_handle(0x1007, 1),
    };
    let spec = TbfSpec {
        rate_bits_per_sec: 10_000_000,
        burst_bytes: 32 * 1024,
        limit_bytes: 1 << 20,
    };
    cases.push(qdisc_case(
        "tbf replace under netem",
        TcVerb::Replace,
        under_netem,
        QdiscOptions::Tbf(spec),
        clock,
    ));
    cases
}

fn htb_cases(clock: &Psched) -> Vec<Case> {
    let root = root_target(root_handle());
    let mut cases = vec![
        qdisc_case(
            "htb qdisc default 0",
            TcVerb::Add,
            root,
            QdiscOptions::Htb(HtbQdiscSpec::default()),
            clock,
        ),
        qdisc_case(
            "htb qdisc default 1:a r2q 100 direct_qlen 500",
            TcVerb::Replace,
            root,
            QdiscOptions::Htb(HtbQdiscSpec {
                default_class_minor: 0xa,
                r2q: 100,
                direct_qlen_packets: Some(500),
            }),
            clock,
        ),
    ];
    let class = tc_handle(1, 5);
    cases.push(class_case(
        "htb class 10 Mbit",
        TcVerb::Add,
        class,
        HtbClassSpec::with_rate(10_000_000),
        clock,
    ));
    cases.push(class_case(
        "htb class 100 Mbit",
        TcVerb::Add,
        class,
        HtbClassSpec::with_rate(100_000_000),
        clock,
    ));
    cases.push(class_case(
        "htb class 10 Gbit",
        TcVerb::Replace,
        class,
        HtbClassSpec::with_rate(10_000_000_000),
        clock,
    ));
    cases.push(class_case(
        "htb class 40 Gbit ceil 100 Gbit (64-bit rate and ceil)",
        TcVerb::Replace,
        class,
        HtbClassSpec {
            ceil_bits_per_sec: Some(100_000_000_000),
            ..HtbClassSpec::with_rate(40_000_000_000)
        },
        clock,
    ));
    cases.push(class_case(
        "htb class all options",
        TcVerb::Add,
        tc_handle(1, 0x64),
        HtbClassSpec {
            rate_bits_per_sec: 5_000_000,
            ceil_bits_per_sec: Some(20_000_000),
            burst_bytes: Some(15_000),
            cburst_bytes: Some(30_000),
            quantum_bytes: Some(3000),
            prio: 3,
        },
        clock,
    ));
    cases
}

fn filter_and_delete_cases() -> Vec<Case> {
    let dst = Ipv4Addr::new(10, 0, 0, 2);
    let handles = LinkHandles::for_destination(4).expect("handles");
    let mut cases = vec![
        filter_case(
            "u32 dst filter, kernel-chosen handle",
            TcVerb::Add,
            u32_filter(0, dst, tc_handle(1, 2)),
        ),
        filter_case(
            "u32 dst filter replace 800::5",
            TcVerb::Replace,
            u32_filter(
                handles.filter_handle,
                Ipv4Addr::new(192, 168, 7, 201),
                handles.class_id,
            ),
        ),
    ];
    let filter = u32_filter(handles.filter_handle, dst, handles.class_id);
    cases.push(Case {
        name: "u32 filter delete".into(),
        tc_args: args("filter del dev lo parent 1: protocol ip prio 1 handle 800::5 u32"),
        ours: to_bytes(&del_u32_filter(&filter).expect("del filter")),
    });
    let class = TcTarget {
        ifindex: LO_IFINDEX,
        handle: handles.class_id,
        parent: root_handle(),
    };
    cases.push(Case {
        name: "class delete".into(),
        tc_args: args("class del dev lo parent 1: classid 1:5"),
        ours: to_bytes(&del_class(class).expect("del class")),
    });
    let leaf = TcTarget {
        ifindex: LO_IFINDEX,
        handle: handles.netem_handle,
        parent: handles.class_id,
    };
    cases.push(Case {
        name: "qdisc delete".into(),
        tc_args: args("qdisc del dev lo parent 1:5 handle 1005:"),
        ours: to_bytes(&del_qdisc(leaf).expect("del qdisc")),
    });
    cases
}

/// The exact messages `QdiscTree` sends for a few presets.
fn engine_cases(encoding: NetemDelayEncoding, clock: &Psched) -> Vec<Case> {
    let handles = LinkHandles::for_destination(6).expect("handles");
    let mut cases = vec![class_case(
        "engine pass-through class (100 Gbit)",
        TcVerb::Replace,
        handles.class_id,
        pass_through_class(),
        clock,
    )];
    let under_class = TcTarget {
        ifindex: LO_IFINDEX,
        handle: handles.netem_handle,
        parent: handles.class_id,
    };
    for (name, preset) in [
        ("wan", LinkImpairment::wan()),
        ("hostile", LinkImpairment::hostile()),
    ] {
        let netem = netem_options_for(&preset, false).expect("netem");
        let options = QdiscOptions::Netem(netem, encoding);
        cases.push(qdisc_case(
            &format!("engine netem {name}"),
            TcVerb::Replace,
            under_class,
            options,
            clock,
        ));
        let tbf = tbf_options_for(&preset).expect("tbf");
        let under_netem = TcTarget {
            ifindex: LO_IFINDEX,
            handle: handles.tbf_handle,
            parent: handles.netem_child_class(),
        };
        cases.push(qdisc_case(
            &format!("engine tbf {name}"),
            TcVerb::Replace,
            under_netem,
            QdiscOptions::Tbf(tbf),
            clock,
        ));
    }
    cases
}

/// Finds `program` on PATH.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// iproute2 6.10 moved netem delays to 64-bit nanosecond attributes.
fn netem_encoding_of(tc: &Path) -> Result<NetemDelayEncoding, String> {
    let output = Command::new(tc)
        .arg("-V")
        .output()
        .map_err(|e| format!("tc -V: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let version = text
        .split("iproute2-")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit() && c != '.').next())
        .ok_or_else(|| format!("cannot read the iproute2 version in {text:?}"))?;
    let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    Ok(if (major, minor) >= (6, 10) {
        NetemDelayEncoding::Nanos64
    } else {
        NetemDelayEncoding::PschedTicks32
    })
}

/// Runs `tc ARGS` in a new network namespace under strace and returns the
/// tc requests it sent.
fn capture(tc_args: &[String], dir: &Path, index: usize) -> Result<Vec<Vec<u8>>, String> {
    let trace = dir.join(format!("case-{index}.strace"));
    let output = Command::new("strace")
        .arg("-o")
        .arg(&trace)
        .args([
            "-e",
            "trace=sendmsg",
            "-e",
            "write=all",
            "unshare",
            "-n",
            "tc",
        ])
        .args(tc_args)
        // tc reads these to override /proc/net/psched; we read the real file.
        .env_remove("HZ")
        .env_remove("PROC_NET_PSCHED")
        .env_remove("PROC_ROOT")
        .output()
        .map_err(|e| format!("running strace: {e}"))?;
    let text = std::fs::read_to_string(&trace).map_err(|e| {
        format!(
            "reading {}: {e}; strace said: {}",
            trace.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let messages: Vec<Vec<u8>> = parse_sendmsg_dumps(&text)?
        .iter()
        .flat_map(|buffer| split_netlink(buffer))
        .filter(|message| TC_MESSAGE_TYPES.contains(&u16::from_ne_bytes([message[4], message[5]])))
        .collect();
    Ok(messages)
}

/// Collects the bytes of each sendmsg from strace's `-e write=` hex dumps:
/// ` * N bytes in buffer K` then ` | 00000  4c 00 ...  ascii |` lines.
fn parse_sendmsg_dumps(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut calls: Vec<Vec<u8>> = Vec::new();
    let mut remaining = 0usize;
    for line in text.lines() {
        if line.contains("sendmsg(") {
            calls.push(Vec::new());
        } else if let Some(count) = line
            .split(" bytes in buffer")
            .next()
            .filter(|_| line.contains(" bytes in buffer"))
        {
            let count = count.trim().trim_start_matches('*').trim();
            remaining = count
                .parse()
                .map_err(|e| format!("bad dump header {line:?}: {e}"))?;
        } else if let Some(rest) = line.split_once("| ").map(|(_, rest)| rest) {
            let current = calls.last_mut().ok_or("hex dump before any sendmsg")?;
            // Skip the offset, then exactly the bytes this line holds: the
            // ASCII column after them may look like hex.
            let take = remaining.min(16);
            for token in rest.split_whitespace().skip(1).take(take) {
                let byte = u8::from_str_radix(token, 16)
                    .map_err(|e| format!("bad hex {token:?} in {line:?}: {e}"))?;
                current.push(byte);
            }
            remaining -= take;
        }
    }
    Ok(calls)
}

/// Splits one sendmsg buffer into netlink messages (tc may batch).
fn split_netlink(buffer: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset + 16 <= buffer.len() {
        let len =
            u32::from_ne_bytes(buffer[offset..offset + 4].try_into().expect("4 bytes")) as usize;
        if len < 16 || offset + len > buffer.len() {
            break;
        }
        messages.push(buffer[offset..offset + len].to_vec());
        offset += len.next_multiple_of(4);
    }
    messages
}

fn masked(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len();
    for i in MASKED_BYTES.filter(|i| *i < len) {
        out[i] = 0;
    }
    out
}

/// Lines of the hex diff always shown: netlink header, tcmsg, TCA_KIND.
const HEADER_LINES: usize = 3;

/// Side-by-side hex of both messages, 16 bytes a line, `!` where they
/// differ; identical lines past the headers are left out.
fn hex_diff(theirs: &[u8], ours: &[u8]) -> String {
    let mut out = format!(
        "  tc sent {} bytes, we built {} bytes\n",
        theirs.len(),
        ours.len()
    );
    let lines = theirs.len().max(ours.len()).div_ceil(16);
    for line in 0..lines {
        let range = line * 16..(line + 1) * 16;
        let hex = |bytes: &[u8]| -> String {
            range
                .clone()
                .map(|i| bytes.get(i).map_or("  ".into(), |b| format!("{b:02x}")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let differs = range.clone().any(|i| theirs.get(i) != ours.get(i));
        if !differs && line >= HEADER_LINES {
            continue;
        }
        let marker = if differs { "!" } else { " " };
        let _ = writeln!(
            out,
            "{marker} {:05x}  tc: {}  ours: {}",
            line * 16,
            hex(theirs),
            hex(ours)
        );
    }
    out
}

/// Returns a failure report for `case`, or `None` when the bytes match.
fn compare(case: &Case, dir: &Path, index: usize) -> Option<String> {
    let sent = match capture(&case.tc_args, dir, index) {
        Ok(sent) => sent,
        Err(e) => return Some(format!("{}: {e}", case.name)),
    };
    let [theirs] = &sent[..] else {
        return Some(format!(
            "{}: expected exactly one tc request from `tc {}`, got {}",
            case.name,
            case.tc_args.join(" "),
            sent.len()
        ));
    };
    if masked(theirs) == masked(&case.ours) {
        return None;
    }
    Some(format!(
        "{}: `tc {}` differs (seq/pid masked)\n{}",
        case.name,
        case.tc_args.join(" "),
        hex_diff(&masked(theirs), &masked(&case.ours))
    ))
}

/// Why this machine cannot run the comparison, if it cannot.
fn missing_prerequisite() -> Option<String> {
    for program in ["tc", "strace", "unshare"] {
        if which(program).is_none() {
            return Some(format!("`{program}` is not installed"));
        }
    }
    let traced = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .status();
    if !traced.map(|status| status.success()).unwrap_or(false) {
        return Some("strace cannot trace here (ptrace not permitted)".into());
    }
    None
}

#[test]
fn messages_match_iproute2() {
    if !testing::require_root(TEST) {
        return;
    }
    if let Some(reason) = missing_prerequisite() {
        testing::skip(TEST, &reason);
        return;
    }
    let started = std::time::Instant::now();
    let tc = which("tc").expect("checked above");
    let encoding = netem_encoding_of(&tc).expect("tc version");
    let clock = Psched::system().expect("/proc/net/psched");
    let cases: Vec<Case> = [
        netem_cases(encoding, &clock),
        tbf_cases(&clock),
        htb_cases(&clock),
        filter_and_delete_cases(),
        engine_cases(encoding, &clock),
    ]
    .into_iter()
    .flatten()
    .collect();
    let dir = std::env::temp_dir().join(format!("twinnet-tc-encoding-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(index, case)| compare(case, &dir, index))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "compared {} tc requests with iproute2 ({encoding:?} netem delays) in {:?}",
        cases.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from iproute2:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn strace_dump_parser_ignores_hex_like_ascii() {
    let text = "sendmsg(3, {...}) = 20\n * 20 bytes in buffer 0\n | 00000  14 00 00 00 24 00 05 06  00 00 00 00 00 00 00 00  ....$........... |\n | 00010  ab cd 20 20                                       ..   ab cd |\n";
    let calls = parse_sendmsg_dumps(text).expect("parse");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].len(), 20);
    assert_eq!(&calls[0][16..], &[0xab, 0xcd, 0x20, 0x20]);
    assert_eq!(split_netlink(&calls[0]).len(), 1);
}
