//! The `firewall` section of a host's desired state (docs/design.md "Server ↔ agent protocol"),
//! what upstream's `security_group_info_for_devices` gives the Open vSwitch agent: the groups of
//! the host's ports, their rules normalised for the datapath ([`rule_state`]), and the
//! addresses of the members of every group those rules name as their remote.

use std::collections::BTreeSet;

use neutrino_model::ApiResult;
use neutrino_model::internal::{FirewallState, RuleState, SecurityGroupState};
use neutrino_model::security_group::SecurityGroupRule;

use crate::ml2::binding::VIF_OVS;
use crate::store::changes::{self, Change};
use crate::store::{Sql, port_security, security_groups};

/// A rule as the firewall enforces it: the protocol as its number (`icmp` on an IPv6 rule is
/// ICMPv6, as upstream's firewall reads it), ports (ICMP type and code) as 16-bit numbers, the
/// prefix without host bits, and no prefix for "anywhere".
pub fn rule_state(r: &SecurityGroupRule) -> RuleState {
    let mut protocol = r.protocol_number();
    if r.ethertype == "IPv6" && protocol == Some(1) {
        protocol = Some(58);
    }
    let port = |v: Option<i64>| v.and_then(|p| u16::try_from(p).ok());
    RuleState {
        id: r.id.clone(),
        direction: r.direction.clone(),
        ethertype: r.ethertype.clone(),
        protocol,
        port_range_min: port(r.port_range_min),
        port_range_max: port(r.port_range_max),
        remote_ip_prefix: r.normalized_cidr().filter(|c| c != "0.0.0.0/0" && c != "::/0"),
        remote_group_id: r.remote_group_id.clone(),
    }
}

/// The firewall section of `host`: the groups of its ports (only ports with port security have
/// any), and the members of their rules' remote groups.
pub fn state(sql: &mut dyn Sql, host: &str) -> ApiResult<FirewallState> {
    let ids = port_security::groups_on_host(sql, host, VIF_OVS)?;
    let mut groups = vec![];
    let mut remotes = BTreeSet::new();
    for id in ids {
        let Some(g) = security_groups::row(sql, &id)? else { continue };
        let mut rules: Vec<RuleState> = security_groups::rules_of(sql, &id)?.iter().map(rule_state).collect();
        rules.sort();
        remotes.extend(rules.iter().filter_map(|r| r.remote_group_id.clone()));
        groups.push(SecurityGroupState { id, stateful: g.stateful, rules });
    }
    let remotes: Vec<String> = remotes.into_iter().collect();
    let members = port_security::member_addresses(sql, &remotes)?;
    Ok(FirewallState { groups, members })
}

/// Whether the changes `list` may change any host's firewall section: a group or rule changed,
/// or a port did (its groups or addresses, anywhere: it may be a remote group's member).
pub fn touched(list: &[Change]) -> bool {
    list.iter().any(|c| c.kind == changes::SECURITY_GROUP || c.kind == "port")
}
