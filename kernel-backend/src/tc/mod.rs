//! The `tc` engine: per-link impairment with the kernel's traffic control.
//!
//! netlink-packet-route has no netem, TBF or HTB types, so this module
//! encodes their `TCA_OPTIONS` itself, byte for byte what iproute2's `tc`
//! sends (proved by `tests/tc_encoding.rs`, which runs `tc` under strace),
//! and builds complete requests for `rtnetlink::Handle::request`.
//!
//! - [`psched`]: the scheduler clock and tc's tick arithmetic.
//! - [`netem`], [`tbf`], [`htb`]: typed, validated settings and their
//!   options payloads.
//! - `message`: full `RTM_NEW*`/`RTM_DEL*` messages, the u32 filter, the
//!   netem probe message, and sending one with its acknowledgement. Not
//!   API: public (and hidden from the docs) only for the tc tests.
//! - [`handles`]: the handle plan, collision-free for 4095 destinations.
//! - [`mapping`]: `LinkImpairment` to netem/TBF settings.
//! - [`qdisc_tree`]: [`QdiscTree`], which installs and updates it all on
//!   one source peer's veth.
//! - `links`: [`TcLinks`], the hub's [`LinkEngine`](crate::link_engine::LinkEngine)
//!   on tc: one tree per source peer.

pub mod handles;
pub mod htb;
mod links;
pub mod mapping;
// Test support, not API: `tests/tc_encoding.rs` compares these messages
// byte for byte with the requests of iproute2's `tc` (and
// `tests/qdisc_tree.rs` uses `is_unknown_qdisc_kind`), so they need a path
// an integration test can name. Everything else uses `QdiscTree`.
#[doc(hidden)]
pub mod message;
pub mod netem;
pub mod psched;
pub mod qdisc_tree;
pub mod tbf;
mod wire;

pub use handles::LinkHandles;
pub use htb::{HtbClassSpec, HtbQdiscSpec};
pub use links::TcLinks;
pub use mapping::{describe_link, netem_options_for, pass_through_class, tbf_options_for};
pub(crate) use message::{is_unknown_qdisc_kind, send_request};
pub use netem::{NetemDelayEncoding, NetemSpec};
pub use psched::Psched;
pub use qdisc_tree::QdiscTree;
pub use tbf::TbfSpec;
