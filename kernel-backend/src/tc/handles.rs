//! tc handle allocation for the per-link tree on one source peer's veth.
//!
//! ```text
//! root qdisc  1:          htb (default 0: unclassified traffic passes unshaped)
//!   class     1:m         one per destination, m = dst_index + 1
//!   filter    800::m      u32, prio 1, ip dst/32 -> 1:m
//!   qdisc     0x1000+m:   netem under 1:m          (if delay/loss/... or blocked)
//!   qdisc     0x2000+m:   tbf under 1:m or netem:1 (if rate-limited)
//! ```
//!
//! Each kind has its own major range, so a destination's handles never meet
//! another destination's, nor another kind's; all majors stay below 0x8000,
//! where the kernel's automatic handles start.

use super::message::tc_handle;
use crate::KernelError;

/// Major of the root HTB qdisc.
pub const ROOT_MAJOR: u16 = 1;
/// Netem majors are `NETEM_MAJOR_BASE + m`.
pub const NETEM_MAJOR_BASE: u16 = 0x1000;
/// TBF majors are `TBF_MAJOR_BASE + m`.
pub const TBF_MAJOR_BASE: u16 = 0x2000;
/// u32 filters live in the root hash table `800:`.
pub const U32_ROOT_HTID: u32 = 0x800 << 20;
/// Priority of our u32 filters.
pub const FILTER_PRIO: u16 = 1;
/// Destinations per source: slots 1..=0xFFF fit both a major offset and a
/// 12-bit u32 node id.
pub const MAX_DESTINATIONS: usize = 0xFFF;

/// Every handle of one directed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkHandles {
    /// `1:m`, the HTB class.
    pub class_id: u32,
    /// `0x1000+m:0`, the netem qdisc.
    pub netem_handle: u32,
    /// `0x2000+m:0`, the TBF qdisc.
    pub tbf_handle: u32,
    /// `800::m`, the u32 filter.
    pub filter_handle: u32,
}

/// The root HTB qdisc's handle, `1:0`.
pub const fn root_handle() -> u32 {
    tc_handle(ROOT_MAJOR, 0)
}

impl LinkHandles {
    /// Handles of the link to destination `dst_index` (0-based).
    pub fn for_destination(dst_index: usize) -> Result<Self, KernelError> {
        if dst_index >= MAX_DESTINATIONS {
            return Err(KernelError::Config(format!(
                "destination index {dst_index} exceeds the tc engine's {MAX_DESTINATIONS} links per peer"
            )));
        }
        // In range by the check above: slot <= 0xFFF.
        let slot = (dst_index + 1) as u16;
        Ok(LinkHandles {
            class_id: tc_handle(ROOT_MAJOR, slot),
            netem_handle: tc_handle(NETEM_MAJOR_BASE + slot, 0),
            tbf_handle: tc_handle(TBF_MAJOR_BASE + slot, 0),
            filter_handle: U32_ROOT_HTID | u32::from(slot),
        })
    }

    /// Where a TBF goes when it sits under the netem: netem's only class.
    pub fn netem_child_class(&self) -> u32 {
        self.netem_handle | 1
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn no_handle_collides_for_up_to_max_destinations() {
        let mut qdisc_majors = HashSet::from([ROOT_MAJOR]);
        let mut classes = HashSet::new();
        let mut filters = HashSet::new();
        for dst in 0..MAX_DESTINATIONS {
            let h = LinkHandles::for_destination(dst).unwrap();
            assert!(
                qdisc_majors.insert((h.netem_handle >> 16) as u16),
                "netem {dst}"
            );
            assert!(
                qdisc_majors.insert((h.tbf_handle >> 16) as u16),
                "tbf {dst}"
            );
            assert!(classes.insert(h.class_id), "class {dst}");
            assert!(filters.insert(h.filter_handle), "filter {dst}");
            assert_eq!(h.class_id >> 16, u32::from(ROOT_MAJOR));
            assert_ne!(h.class_id & 0xFFFF, 0, "minor 0 is the qdisc itself");
            assert_eq!(h.filter_handle >> 20, 0x800);
            assert_ne!(h.filter_handle & 0xFFF, 0, "node 0 is the hash table");
        }
        assert!(qdisc_majors.iter().all(|major| *major < 0x8000));
    }

    #[test]
    fn hundred_peers_full_mesh_is_collision_free_per_device() {
        // Every source has its own device; per device, 99 destinations.
        for src in 0..100usize {
            let handles: HashSet<_> = (0..100)
                .filter(|dst| *dst != src)
                .map(|dst| LinkHandles::for_destination(dst).unwrap())
                .collect();
            assert_eq!(handles.len(), 99);
        }
    }

    #[test]
    fn out_of_range_index_is_an_error() {
        assert!(matches!(
            LinkHandles::for_destination(MAX_DESTINATIONS),
            Err(KernelError::Config(_))
        ));
        assert_eq!(
            LinkHandles::for_destination(4).unwrap().filter_handle,
            0x8000_0005
        );
    }
}
