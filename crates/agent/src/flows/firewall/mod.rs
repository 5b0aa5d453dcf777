//! The firewall stages of `br-int`, following Neutron's `openvswitch` firewall driver (tables
//! 71-73, 81-82, 91-94; `reg5` the port, `reg6` the network's local VLAN and conntrack zone,
//! `reg7` the accepting conjunction): what is shared by every port (table defaults, invalid
//! packets, the commit of accepted new egress) and the composition of the per-concern
//! generators — anti-spoofing and the base ingress checks ([`spoof`]), the conntrack state
//! machine ([`state`]), rules ([`rules`]) and remote groups as conjunctive matches
//! ([`conj`]).
//!
//! A port with port security: egress 71 (its own addresses only) → `ct` → 72 (state machine,
//! rules) → 73 (to a local port: that port's ingress; a new connection leaving the host is
//! committed) → 91 → 94. Ingress 81 (ARP, ND, DHCP replies straight to the port; IP → `ct`) →
//! 82 (state machine, rules; a new connection accepted is committed) → output. A port without
//! port security passes both ways (71 → 73, 81 → output), committing a new connection a
//! filtered neighbour on this host opened to it, so that its replies are established there.
//!
//! Stateless groups (`stateful=false`) are enforced like stateful ones here: upstream's
//! `openvswitch` driver has no stateless mode (only its iptables driver does).

pub mod conj;
pub mod rules;
pub mod spoof;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};

use neutrino_model::internal::{FirewallState, RuleState, SecurityGroupState};
use neutrino_ovs::flow::{Flow, FlowKey};

use super::tables::{self, REG_PORT, priority as prio};
use super::{LocalNet, LocalPort, Owner, f};

/// `ct_state` values, in the bit order `ovs-ofctl` prints them.
pub mod ct {
    pub const UNTRACKED: &str = "-trk";
    pub const TRACKED: &str = "+trk";
    pub const INVALID: &str = "+inv+trk";
    pub const NEW: &str = "+new-est";
    pub const EST: &str = "+est";
    pub const NOT_EST: &str = "-est";
    pub const EST_NOT_REPLY: &str = "+est-rel-rpl";
    pub const EST_REPLY: &str = "+est-rel+rpl";
    pub const RELATED: &str = "-new-est+rel-inv";
}

/// The conntrack zone of a packet: the low 16 bits of `reg6` (its network's local VLAN).
pub const ZONE: &str = "NXM_NX_REG6[0..15]";
/// The `ct_mark` of a connection whose rule went away: dropped from then on, and deleted from
/// the connection tracker after the bundle that removed the rule.
pub const CT_MARK_INVALID: u32 = 1;

/// The firewall's priorities (upstream's), highest first within a table.
pub mod priority {
    /// 71: what a port may send without conntrack (ARP, RARP, ND).
    pub const BASE_ALLOW: u16 = 95;
    /// 81: a port without port security: a new connection from a filtered neighbour, committed.
    pub const UNFILTERED_COMMIT: u16 = 110;
    /// 71, 81: a port without port security passes.
    pub const UNFILTERED: u16 = 100;
    /// 81: ARP and ND straight to the port.
    pub const INGRESS_NEIGHBOUR: u16 = 100;
    /// 71: DHCP client requests.
    pub const DHCP_CLIENT: u16 = 80;
    /// 81: untracked IP into conntrack.
    pub const TRACK: u16 = 90;
    /// 81: already tracked (from a local port's egress) to the rules.
    pub const TRACKED: u16 = 80;
    /// 71: DHCP server replies and router advertisements from a VM: dropped.
    pub const SERVER_SPOOF: u16 = 70;
    /// 71: a port's own addresses into conntrack.
    pub const TO_CONNTRACK: u16 = 65;
    /// 71: anything else a port sends: to the dropped hook.
    pub const EGRESS_OTHER: u16 = 10;
    /// 72, 82: invalid, marked, established and related.
    pub const CT_STATE: u16 = 50;
    /// 72, 82: rules (remote-group rules 70-73, others 74-77, by [`super::rules::offset`]).
    pub const RULE_BASE: u16 = 70;
    /// 72, 82: what no rule admitted.
    pub const CT_DROP: u16 = 40;
    /// 73: a new connection leaving the host, committed.
    pub const COMMIT: u16 = 80;
    /// 95 in 81: DHCP replies to the port.
    pub const DHCP_REPLY: u16 = 95;
}

/// The stages' defaults and what every port shares: 71, 72, 81, 82 drop what nothing
/// admitted; 72 and 82 drop invalid packets; 73 commits a new connection leaving the host
/// (a new connection to a local port is committed by that port's ingress) and passes the rest
/// to 91 → 94; the accepted-ingress and dropped hooks drop.
pub fn base(cookie: u64) -> Vec<Flow> {
    let next = |table: u8, to: u8| f(table, prio::DEFAULT, cookie, "", format!("resubmit(,{to})"));
    let drop = |table: u8| f(table, prio::DEFAULT, cookie, "", "drop");
    let mut out = vec![
        drop(tables::BASE_EGRESS),
        drop(tables::RULES_EGRESS),
        next(tables::ACCEPT_OR_INGRESS, tables::ACCEPTED_EGRESS),
        next(tables::ACCEPTED_EGRESS, tables::SWITCHING),
        drop(tables::BASE_INGRESS),
        drop(tables::RULES_INGRESS),
        drop(tables::ACCEPTED_INGRESS),
        drop(tables::DROPPED),
    ];
    for table in [tables::RULES_EGRESS, tables::RULES_INGRESS] {
        out.push(f(
            table,
            priority::CT_STATE,
            cookie,
            "ct_state=+inv+trk",
            format!("resubmit(,{})", tables::DROPPED),
        ));
    }
    for eth in ["ip", "ipv6"] {
        out.push(f(
            tables::ACCEPT_OR_INGRESS,
            priority::COMMIT,
            cookie,
            format!("{eth},ct_state=+new-est"),
            format!("ct(commit,zone={ZONE}),resubmit(,{})", tables::ACCEPTED_EGRESS),
        ));
    }
    out
}

/// A port's flow in the accept-or-ingress stage: accepted egress to this port's MAC on its
/// network goes straight to its ingress firewall (canonical form, as [`super::local::port`]).
/// It matches the local VLAN rather than upstream's `reg6`: the same network, and OpenFlow 1.4
/// accepts `strip_vlan` only where the match proves a VLAN header.
pub fn port(cookie: u64, lv: u16, p: &LocalPort) -> Flow {
    Flow {
        table: tables::ACCEPT_OR_INGRESS,
        priority: prio::TO_PORT,
        cookie,
        matches: format!("dl_dst={},dl_vlan={lv}", p.mac.to_ascii_lowercase()),
        actions: format!("load:{:#x}->{REG_PORT},strip_vlan,resubmit(,{})", p.ofport, tables::BASE_INGRESS),
    }
}

/// A flow written directly in `ovs-ofctl`'s canonical form (as [`super::local::port`]: a
/// port's firewall has some fifty flows, and normalising tens of thousands of strings on every
/// sync would cost more than the rest of it): the protocol `head` (or nothing), then the fields
/// sorted by name, each value already canonical (`reg5` in hex, MACs in lower case, addresses
/// through [`canon_addr`], `ct_state` flags in bit order); `firewall_flows_are_canonical`
/// checks the form against the normaliser.
pub fn flow(
    table: u8,
    priority: u16,
    cookie: u64,
    head: &str,
    mut fields: Vec<(&str, String)>,
    actions: String,
) -> Flow {
    fields.sort();
    let mut matches = head.to_string();
    for (k, v) in fields {
        if !matches.is_empty() {
            matches.push(',');
        }
        matches.push_str(k);
        matches.push('=');
        matches.push_str(&v);
    }
    Flow { table, priority, cookie, matches, actions }
}

/// An address (an IP or a CIDR, IPv4 or IPv6) as `ovs-ofctl` prints it: host bits cleared,
/// a full-length prefix dropped, IPv6 compressed.
pub fn canon_addr(addr: &str) -> String {
    let field = if addr.contains(':') { "ipv6_src" } else { "nw_src" };
    let m = neutrino_ovs::flow::normalize::matches(&format!("{field}={addr}"));
    m.split_once('=').map_or(m.clone(), |(_, v)| v.to_string())
}

/// `reg5` matching a port.
pub fn reg_port(p: &LocalPort) -> (&'static str, String) {
    ("reg5", format!("{:#x}", p.ofport))
}

/// The desired firewall state, indexed for generation: groups by id, and the conjunction ids
/// of the remote-group rules of the host's ports ([`conj::ConjIds`]).
pub struct Index<'a> {
    pub groups: BTreeMap<&'a str, &'a SecurityGroupState>,
    /// Remote group → its members' addresses, canonical ([`canon_addr`]).
    pub members: BTreeMap<&'a str, Vec<String>>,
    pub conj: conj::ConjIds,
}

impl<'a> Index<'a> {
    pub fn new(fw: &'a FirewallState, nets: &[LocalNet]) -> Index<'a> {
        let groups: BTreeMap<&str, &SecurityGroupState> =
            fw.groups.iter().map(|g| (g.id.as_str(), g)).collect();
        let mut keys = BTreeSet::new();
        for p in nets.iter().flat_map(|n| &n.ports) {
            for (sg, rule) in port_rules(&groups, p) {
                if let Some(k) = conj::ConjKey::of(sg, rule) {
                    keys.insert(k);
                }
            }
        }
        let remotes: BTreeSet<&str> = keys.iter().map(|k| k.remote.as_str()).collect();
        let members = fw
            .members
            .iter()
            .filter(|(g, _)| remotes.contains(g.as_str()))
            .map(|(g, m)| (g.as_str(), m.iter().map(|a| canon_addr(a)).collect()))
            .collect();
        Index { groups, members, conj: conj::ConjIds::allocate(keys) }
    }
}

/// The rules a port's groups give it, with their group's id, in group then rule order; a
/// group the state does not describe gives none.
pub fn port_rules<'a, 'b>(
    groups: &'b BTreeMap<&'a str, &'a SecurityGroupState>,
    p: &'b LocalPort,
) -> impl Iterator<Item = (&'a str, &'a RuleState)> + 'b {
    let ids: BTreeSet<&str> = p.filter.iter().flat_map(|fl| fl.groups.iter().map(String::as_str)).collect();
    ids.into_iter()
        .filter_map(|id| groups.get(id).copied())
        .flat_map(|g| g.rules.iter().map(move |r| (g.id.as_str(), r)))
}

/// Every firewall flow of the host's ports and networks with its owner, one flow per key
/// (the first owner wins when two rules give the same flow, in group then rule id order);
/// flows of one key that only add conjunctions are merged into one. Keys can only repeat among
/// one port's rule flows (they match its `reg5`) and one network's member flows (its `reg6`),
/// so duplicates are looked for there only: [`port_flows`] and [`network_flows`] are the
/// independent parts.
pub fn host(cookie: u64, nets: &[LocalNet], fw: &FirewallState) -> Vec<(Owner, Flow)> {
    let ix = Index::new(fw, nets);
    let mut out: Vec<(Owner, Flow)> = vec![];
    for n in nets {
        let ports = ports_of(n);
        for p in &ports {
            out.extend(port_flows(cookie, p, &ix));
        }
        out.extend(network_flows(cookie, n, &ports, &ix));
    }
    out
}

/// A network's ports as the generators see them: sorted, one per ofport.
pub fn ports_of(n: &LocalNet) -> Vec<LocalPort> {
    let mut ports = n.ports.clone();
    ports.sort();
    ports.dedup_by(|a, b| a.ofport == b.ofport);
    ports
}

/// One port's firewall flows: anti-spoofing, its state machine and its rules (or the
/// pass-through of a port without port security).
pub fn port_flows(cookie: u64, p: &LocalPort, ix: &Index<'_>) -> Vec<(Owner, Flow)> {
    let Some(filter) = &p.filter else {
        let owner = Owner::Firewall(p.id.clone());
        return spoof::unfiltered(cookie, p).into_iter().map(|fl| (owner.clone(), fl)).collect();
    };
    let mut out = vec![];
    let owner = Owner::AntiSpoofing(p.id.clone());
    let base = spoof::egress(cookie, p, filter).into_iter().chain(spoof::ingress(cookie, p));
    out.extend(base.map(|fl| (owner.clone(), fl)));
    let owner = Owner::Firewall(p.id.clone());
    out.extend(state::port(cookie, p).into_iter().map(|fl| (owner.clone(), fl)));
    let mut rule_flows = vec![];
    for (sg, rule) in port_rules(&ix.groups, p) {
        let owner = Owner::Rule { rule: rule.id.clone(), port: p.id.clone() };
        let flows = match conj::ConjKey::of(sg, rule) {
            Some(k) => conj::port_flows(cookie, p, rule, ix.conj.id(&k)),
            None => rules::flows(cookie, p, rule),
        };
        rule_flows.extend(flows.into_iter().map(|fl| (owner.clone(), fl)));
    }
    out.extend(one_per_key(rule_flows));
    out
}

/// One network's firewall flows: the members of the remote groups its ports' rules name.
pub fn network_flows(cookie: u64, n: &LocalNet, ports: &[LocalPort], ix: &Index<'_>) -> Vec<(Owner, Flow)> {
    one_per_key(conj::member_flows(cookie, n, ports, ix))
}

/// The first flow of each key, with the conjunctions of later ones of the same key merged in.
fn one_per_key(flows: Vec<(Owner, Flow)>) -> Vec<(Owner, Flow)> {
    let mut out: Vec<(Owner, Flow)> = Vec::with_capacity(flows.len());
    let mut seen: BTreeMap<FlowKey, usize> = BTreeMap::new();
    for (owner, flow) in flows {
        match seen.get(&flow.key()) {
            Some(&i) => {
                let have = &mut out[i].1;
                if have.actions != flow.actions && conj::only_conjunctions(&have.actions) {
                    have.actions = conj::merge_actions(&have.actions, &flow.actions);
                }
            }
            None => {
                seen.insert(flow.key(), out.len());
                out.push((owner, flow));
            }
        }
    }
    out
}

/// Whether a flow's table is one whose deletion can leave connections to clean up (the
/// rules and state tables).
pub fn is_rule_table(table: u8) -> bool {
    table == tables::RULES_EGRESS || table == tables::RULES_INGRESS
}

#[cfg(test)]
mod tests;
