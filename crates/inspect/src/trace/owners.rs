//! Which API object a traced flow exists for: the low 32 bits of its cookie are its owner's tag
//! (`neutrino_agent::flows::Owner::tag`), matched here against the owners the API's objects can
//! be — each port (its switching, anti-spoofing and firewall), each rule of each port's groups,
//! each network.

use std::collections::BTreeMap;

use neutrino_agent::flows::Owner;

use crate::cloud::Cloud;

/// Owner tags of a cloud's objects.
pub struct Tags {
    by_tag: BTreeMap<u64, Owner>,
}

impl Tags {
    pub fn new(cloud: &Cloud) -> Tags {
        let mut by_tag = BTreeMap::new();
        let mut add = |o: Owner| {
            by_tag.insert(o.tag(), o);
        };
        for n in &cloud.networks {
            add(Owner::Network(n.id.clone()));
        }
        for p in &cloud.ports {
            add(Owner::Port(p.id.clone()));
            add(Owner::AntiSpoofing(p.id.clone()));
            add(Owner::Firewall(p.id.clone()));
            for g in p.security_groups.iter().filter_map(|g| cloud.security_group(g)) {
                for r in &g.security_group_rules {
                    add(Owner::Rule { rule: r.id.clone(), port: p.id.clone() });
                }
            }
        }
        Tags { by_tag }
    }

    /// The owner of a flow with this cookie: the pipeline for tag 0, `None` when no object of
    /// the API has the tag (another agent's flow, or an object deleted since).
    pub fn owner(&self, cookie: u64) -> Option<Owner> {
        match cookie & 0xffff_ffff {
            0 => Some(Owner::Pipeline),
            t => self.by_tag.get(&t).cloned(),
        }
    }
}
