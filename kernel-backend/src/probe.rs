//! What this kernel can do, and which engine that means.
//!
//! A qdisc kind is probed by asking for it, with no options, on `lo` of a
//! throwaway namespace: "Specified qdisc kind is unknown" (`ENOENT`) means
//! absent; anything else (even `EINVAL` for the missing options) means the
//! kernel knows the kind.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use serde::Serialize;

use crate::KernelError;
use crate::link_engine::EngineKind;
use crate::netns::Netns;

/// The engine the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineChoice {
    /// `tc` where the kernel has netem, `userspace` otherwise.
    #[default]
    Auto,
    Tc,
    Userspace,
    /// The bridge alone: rates only (HTB + TBF, which every kernel here
    /// has); anything that needs netem is refused. The plain-bridge baseline.
    Bridge,
}

impl FromStr for EngineChoice {
    type Err = KernelError;
    fn from_str(text: &str) -> Result<Self, KernelError> {
        match text {
            "auto" => Ok(EngineChoice::Auto),
            "tc" => Ok(EngineChoice::Tc),
            "userspace" => Ok(EngineChoice::Userspace),
            "bridge" => Ok(EngineChoice::Bridge),
            other => Err(KernelError::Config(format!(
                "unknown engine `{other}`: expected auto, tc, userspace or bridge"
            ))),
        }
    }
}

impl fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Tc => "tc",
            EngineChoice::Userspace => "userspace",
            EngineChoice::Bridge => "bridge",
        })
    }
}

/// What the probe found.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    pub root: bool,
    pub tun: bool,
    pub netem: bool,
    pub tbf: bool,
    pub htb: bool,
    /// Why a probe could not run at all (not root, no netlink), if it could not.
    pub probe_error: Option<String>,
}

/// The probe's findings, computed once per process.
pub fn capabilities() -> &'static Capabilities {
    static CAPABILITIES: OnceLock<Capabilities> = OnceLock::new();
    CAPABILITIES.get_or_init(run_probe)
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn require_root() -> Result<(), KernelError> {
    if is_root() {
        Ok(())
    } else {
        Err(KernelError::NotRoot)
    }
}

/// The engine `choice` means on this kernel, or why it cannot run here.
pub fn choose_engine(choice: EngineChoice) -> Result<EngineKind, KernelError> {
    require_root()?;
    let caps = capabilities();
    if let Some(error) = &caps.probe_error {
        return Err(KernelError::Unsupported {
            what: "probe the kernel's network features".into(),
            why: error.clone(),
            hint: "check that this is Linux with network namespaces".into(),
        });
    }
    let userspace = || {
        if caps.tun {
            Ok(EngineKind::Userspace)
        } else {
            Err(KernelError::Unsupported {
                what: "the userspace engine".into(),
                why: "/dev/net/tun cannot be opened".into(),
                hint: "load the tun module (`modprobe tun`)".into(),
            })
        }
    };
    match choice {
        EngineChoice::Tc if !caps.netem => Err(KernelError::Unsupported {
            what: "the tc engine".into(),
            why: "the kernel has no sch_netem qdisc".into(),
            hint: "use `--engine userspace` (or `auto`), or a kernel with CONFIG_NET_SCH_NETEM"
                .into(),
        }),
        EngineChoice::Tc => Ok(EngineKind::Tc),
        EngineChoice::Userspace => userspace(),
        EngineChoice::Bridge => Ok(EngineKind::Bridge),
        EngineChoice::Auto if caps.netem => Ok(EngineKind::Tc),
        EngineChoice::Auto => userspace(),
    }
}

fn run_probe() -> Capabilities {
    let root = is_root();
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_ok();
    let mut caps = Capabilities {
        root,
        tun,
        netem: false,
        tbf: false,
        htb: false,
        probe_error: None,
    };
    if !root {
        caps.probe_error = Some("not root".into());
        return caps;
    }
    // A thread of its own: it enters the throwaway namespace.
    let probed = std::thread::spawn(probe_qdisc_kinds)
        .join()
        .unwrap_or_else(|_| Err("the probe thread panicked".into()));
    match probed {
        Ok([netem, tbf, htb]) => {
            caps.netem = netem;
            caps.tbf = tbf;
            caps.htb = htb;
        }
        Err(error) => caps.probe_error = Some(error),
    }
    caps
}

fn probe_qdisc_kinds() -> Result<[bool; 3], String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (_ns, handle) = Netns::create_with(|| {
            let (connection, handle, _) = rtnetlink::new_connection()
                .map_err(|e| KernelError::io("open a netlink socket", e))?;
            tokio::spawn(connection);
            Ok(handle)
        })
        .map_err(|e| e.to_string())?;
        let mut found = [false; 3];
        for (slot, kind) in found.iter_mut().zip(["netem", "tbf", "htb"]) {
            *slot = kernel_knows_qdisc(&handle, kind).await?;
        }
        Ok(found)
    })
}

async fn kernel_knows_qdisc(handle: &rtnetlink::Handle, kind: &str) -> Result<bool, String> {
    const LOOPBACK_INDEX: i32 = 1;
    let mut message = TcMessage::default();
    message.header.index = LOOPBACK_INDEX;
    message.header.handle = TcHandle { major: 1, minor: 0 };
    message.header.parent = TcHandle::ROOT;
    message.attributes.push(TcAttribute::Kind(kind.to_string()));
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(message));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    match crate::tc::send_request(handle, request).await {
        Ok(()) => Ok(true),
        Err(err) if crate::tc::is_unknown_qdisc_kind(&err) => Ok(false),
        // Known kind, refused for its missing options (EINVAL) or the like.
        Err(rtnetlink::Error::NetlinkError(_)) => Ok(true),
        Err(other) => Err(format!("netlink failed while probing `{kind}`: {other}")),
    }
}
