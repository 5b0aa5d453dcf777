//! What a restarted agent reads back from its own installed flows so that traffic keeps
//! flowing: the local VLAN of each port, from the port's tagging flow in table 0.

use std::collections::BTreeMap;

use neutrino_ovs::flow::Flow;

use super::tables::{self, priority as prio};

/// Local VLANs found in installed tagging flows: ofport → VLAN.
pub fn ingress_vlans(flows: &[Flow]) -> BTreeMap<i64, u16> {
    flows
        .iter()
        .filter(|fl| fl.table == tables::LOCAL_SWITCHING && fl.priority == prio::PORT_INGRESS)
        .filter_map(|fl| {
            let port = fl.matches.strip_prefix("in_port=")?.parse().ok()?;
            let vlan = fl.actions.strip_prefix("mod_vlan_vid:")?.split(',').next()?.parse().ok()?;
            Some((port, vlan))
        })
        .collect()
}
