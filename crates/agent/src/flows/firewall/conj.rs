//! Rules with a remote group as conjunctive matches, following upstream's `openvswitch`
//! firewall (`ConjIPFlowManager`, `_add_non_ip_conj_flows`): dimension 1 is the remote
//! group's members, once per network (`reg6=<local VLAN>` and the member's address as source
//! of ingress or destination of egress → `conjunction(id,1/2)`), dimension 2 the rule on each
//! port (`reg5`, protocol, ports → `conjunction(id,2/2)`), and a flow `conj_id=id` per port
//! accepts (recording `id` in `reg7`). So the flows grow as members + rules, never as their
//! product; a member joining or leaving changes its own two flows per (direction, ethertype,
//! priority) of each network that uses its group.
//!
//! Conjunction ids are a function of the desired state, not a counter: each conjunction key
//! (security group, remote group, direction, ethertype, priority offset) hashes to a slot,
//! taken in key order, the next free one on a collision; a key owns two ids, `2·slot+2` for
//! established packets and the next for new connections. A restarted agent computes the same
//! ids, so its first sync changes nothing; a key added or removed moves no other key's ids
//! unless their slots collide (about one key in 2^30).

use std::collections::{BTreeMap, BTreeSet};

use neutrino_model::internal::RuleState;
use neutrino_ovs::flow::Flow;
use neutrino_ovs::flow::normalize::split_top;

use super::super::{LocalNet, LocalPort, Owner};
use super::rules::{self, CT_STATES};
use super::state::{accept, accept_new};
use super::{Index, flow, port_rules, priority as prio, reg_port};

/// The register an accepting conjunction's id is recorded in.
pub const REG_CONJ: &str = "NXM_NX_REG7[]";

/// Slots of conjunction ids: ids run from 2 to 2^31 + 1.
const SLOTS: u64 = 1 << 30;

/// What one conjunction is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConjKey {
    pub group: String,
    pub remote: String,
    pub direction: String,
    pub v6: bool,
    pub offset: u16,
}

impl ConjKey {
    /// The key of a rule of `group`, if it has a remote group.
    pub fn of(group: &str, rule: &RuleState) -> Option<ConjKey> {
        let remote = rule.remote_group_id.clone()?;
        Some(ConjKey {
            group: group.to_string(),
            remote,
            direction: rule.direction.clone(),
            v6: rules::is_v6(rule),
            offset: rules::offset(rule, true),
        })
    }

    fn slot_hash(&self) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let text = format!("{}|{}|{}|{}|{}", self.group, self.remote, self.direction, self.v6, self.offset);
        text.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
    }
}

/// The conjunction ids of a host's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ConjIds(BTreeMap<ConjKey, u32>);

impl ConjIds {
    pub fn allocate(keys: BTreeSet<ConjKey>) -> ConjIds {
        let mut used = BTreeSet::new();
        let mut out = BTreeMap::new();
        for k in keys {
            let mut slot = k.slot_hash() % SLOTS;
            while !used.insert(slot) {
                slot = (slot + 1) % SLOTS;
            }
            out.insert(k, u32::try_from(2 * slot + 2).unwrap_or(u32::MAX - 1));
        }
        ConjIds(out)
    }

    /// The first (established) id of a key; the next is for new connections.
    pub fn id(&self, k: &ConjKey) -> u32 {
        self.0.get(k).copied().unwrap_or(0)
    }
}

/// Whether an action list is only `conjunction(…)` actions.
pub fn only_conjunctions(actions: &str) -> bool {
    split_top(actions).iter().all(|a| a.starts_with("conjunction("))
}

/// The union of two conjunction lists, sorted.
pub fn merge_actions(a: &str, b: &str) -> String {
    let all: BTreeSet<&str> = split_top(a).into_iter().chain(split_top(b)).collect();
    all.into_iter().collect::<Vec<_>>().join(",")
}

/// A remote-group rule on a port: its dimension-2 flows (the rule's match without the remote,
/// per conntrack state) and the port's accept flows of the conjunction.
pub fn port_flows(cookie: u64, p: &LocalPort, rule: &RuleState, id: u32) -> Vec<Flow> {
    let t = rules::table(rule);
    let priority = prio::RULE_BASE + rules::offset(rule, true);
    let Some(ms) = rules::matches(p, rule, true) else { return vec![] };
    let eth = if rules::is_v6(rule) { "ipv6" } else { "ip" };
    let mut out = vec![];
    for (i, state) in (0u32..).zip(CT_STATES) {
        let id = id + i;
        for (h, m) in &ms {
            let mut m = m.clone();
            m.push(("ct_state", state.to_string()));
            out.push(flow(t, priority, cookie, h, m, format!("conjunction({id},2/2)")));
        }
        let ok = if i == 0 { accept(t, p) } else { accept_new(t, p) };
        let m = vec![("conj_id", id.to_string()), reg_port(p), ("ct_state", state.to_string())];
        out.push(flow(t, priority, cookie, eth, m, format!("load:{id:#x}->{REG_CONJ},{ok}")));
    }
    out
}

/// A network's dimension-1 flows: for each remote group its filtered ports use (per direction,
/// ethertype and priority), each member address of that ethertype, per conntrack state, with
/// the conjunctions of every key that needs it.
pub fn member_flows(cookie: u64, n: &LocalNet, ports: &[LocalPort], ix: &Index<'_>) -> Vec<(Owner, Flow)> {
    let mut uses: BTreeMap<(String, String, bool, u16), BTreeSet<u32>> = BTreeMap::new();
    for p in ports.iter().filter(|p| p.filter.is_some()) {
        for (sg, rule) in port_rules(&ix.groups, p) {
            if let Some(k) = ConjKey::of(sg, rule) {
                let id = ix.conj.id(&k);
                uses.entry((k.remote, k.direction, k.v6, k.offset)).or_default().insert(id);
            }
        }
    }
    let mut out = vec![];
    for ((remote, direction, v6, offset), ids) in uses {
        let owner = Owner::RemoteGroup { group: remote.clone(), network: n.id.clone() };
        let t = if direction == "egress" {
            super::super::tables::RULES_EGRESS
        } else {
            super::super::tables::RULES_INGRESS
        };
        let (eth, field) = match (direction.as_str(), v6) {
            ("egress", false) => ("ip", "nw_dst"),
            ("egress", true) => ("ipv6", "ipv6_dst"),
            (_, false) => ("ip", "nw_src"),
            (_, true) => ("ipv6", "ipv6_src"),
        };
        let members = ix.members.get(remote.as_str()).map(Vec::as_slice).unwrap_or_default();
        let reg_net = ("reg6", format!("{:#x}", n.local_vlan));
        for addr in members.iter().filter(|a| a.contains(':') == v6) {
            for (i, state) in (0u32..).zip(CT_STATES) {
                let actions: Vec<String> =
                    ids.iter().map(|id| format!("conjunction({},1/2)", id + i)).collect();
                let m = vec![reg_net.clone(), (field, addr.clone()), ("ct_state", state.to_string())];
                out.push((
                    owner.clone(),
                    flow(t, prio::RULE_BASE + offset, cookie, eth, m, actions.join(",")),
                ));
            }
        }
    }
    out
}
