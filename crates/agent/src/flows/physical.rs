//! Physical networks (flat and VLAN segments) through a bridge mapping, as Neutron's Open
//! vSwitch agent does it: `br-int` translates the segment's VLAN (or untagged traffic, for
//! flat) arriving on `int-br-<x>` to the local VLAN; `br-<x>` translates the local VLAN leaving
//! on `phy-br-<x>` back (or strips it) and hands it to `NORMAL` towards the NIC.

use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::Flow;

use super::local::learn_then_dispatch;
use super::tables::{self, priority as prio};
use super::{LocalNet, PhysLayout, f};

/// `br-int`: traffic from the patch of a segment this host does not serve is dropped.
pub fn int_base(cookie: u64, p: &PhysLayout) -> Flow {
    f(tables::LOCAL_SWITCHING, prio::UPLINK_OTHER, cookie, format!("in_port={}", p.int_ofport), "drop")
}

/// The physical bridge's own flows: `NORMAL` for the NIC's side, drop for unknown local VLANs.
pub fn phys_base(cookie: u64, p: &PhysLayout) -> Vec<Flow> {
    vec![
        f(0, prio::DEFAULT, cookie, "", "NORMAL"),
        f(0, prio::UPLINK_OTHER, cookie, format!("in_port={}", p.phy_ofport), "drop"),
    ]
}

/// A segment's two translations: into `br-int` (segment → local VLAN, learning the source) and
/// out of it on the physical bridge (local VLAN → segment). `None` for a network that is not
/// flat or VLAN, or a VLAN network without a segmentation id.
pub fn segment(cookie: u64, p: &PhysLayout, n: &LocalNet) -> Option<(Flow, Flow)> {
    let lv = n.local_vlan;
    let (int_match, phys_actions) = match (n.network_type, n.segmentation_id) {
        (NetworkType::Vlan, Some(seg)) => {
            (format!("in_port={},dl_vlan={seg}", p.int_ofport), format!("mod_vlan_vid:{seg},NORMAL"))
        }
        (NetworkType::Flat, _) => {
            (format!("in_port={},vlan_tci=0x0000/0x1fff", p.int_ofport), "strip_vlan,NORMAL".to_string())
        }
        _ => return None,
    };
    let into_int = f(
        tables::LOCAL_SWITCHING,
        prio::UPLINK_SEGMENT,
        cookie,
        int_match,
        format!("mod_vlan_vid:{lv},{}", learn_then_dispatch()),
    );
    let out_phys =
        f(0, prio::PHYS_SEGMENT, cookie, format!("in_port={},dl_vlan={lv}", p.phy_ofport), phys_actions);
    Some((into_int, out_phys))
}
