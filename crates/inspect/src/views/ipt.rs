//! `ipt VM-IP` (alias `sg`): one VM port's firewall as the operator thinks of it, in EasyOVS's
//! sections — IN (ingress: base checks of table 81, rules and state machine of 82), OUT
//! (egress: rules and state machine of 72, 73), SRC FILTER (anti-spoofing of table 71) — read
//! from the Open vSwitch firewall flows of `br-int` (`neutrino_agent::flows::firewall`) that the
//! port's owners tag: its anti-spoofing, its firewall and its rules, with the members of the
//! remote groups those rules name on its network. A security group rule is one row whatever
//! number of flows it became (port masks, conntrack states, conjunctions), its packets summed.

use std::collections::BTreeMap;

use neutrino_agent::flows::Owner;
use neutrino_agent::flows::tables;
use neutrino_ovs::flow::normalize::split_top;
use serde::Serialize;

use super::dump::name_actions;
use super::plain;
use crate::cloud::{Cloud, Port, label};
use crate::owners::{Owners, allows_text, port_label, remote_text};
use crate::parse::flows::DumpedFlow;

/// The port `ipt` was asked about cannot be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IptError {
    #[error("no port has the fixed IP {0}")]
    NoPort(String),
    #[error("{ip} is a fixed IP of several ports ({ports}), none bound to this host")]
    Ambiguous { ip: String, ports: String },
}

/// The port a view is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IptPort {
    pub id: String,
    pub name: String,
    /// Its name, or its short id with what it serves ([`crate::owners::port_label`]).
    pub label: String,
    pub network_id: String,
    pub network: String,
    pub mac: String,
    /// Its OpenFlow port on `br-int` (from its firewall flows' `reg5`), if it has flows.
    pub ofport: Option<i64>,
    /// Its interface, when the OpenFlow port is named.
    pub interface: Option<String>,
}

/// One line of a section: a security group rule, or one base or state machine flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IptRow {
    /// Packets of the row's flows (of a conjunction, those of its accepting flows).
    pub packets: u64,
    /// The security group rule's full id, for a rule's row.
    pub rule: Option<String>,
    pub group_id: Option<String>,
    /// The group's name (or its id's first 8 characters).
    pub group: Option<String>,
    /// What the row lets through, in operator terms (`tcp/22`, `arp from fa:16:…`).
    pub allows: String,
    /// Where from (IN) or to (OUT): a prefix, `group NAME [members]`; in SRC FILTER the source
    /// MAC and address the flow requires; or empty.
    pub remote: String,
    /// A remote-group rule's member addresses, as its flows on the port's network list them.
    pub members: Vec<String>,
    /// `allow`, `drop`, `conntrack` (on to the rules once tracked), `rules` (on to the rules),
    /// `commit` (allowed, the connection committed) or `mark` (an established connection no
    /// rule admits any more is marked and dropped from then on).
    pub action: String,
    /// The row's flows (their FlowIds).
    pub flows: Vec<String>,
    /// The table of the row's flows and their highest priority (rows are sorted by them, as
    /// the switch tries them).
    pub table: u8,
    pub priority: u16,
}

/// A section of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IptSection {
    /// `IN`, `OUT` or `SRC FILTER`.
    pub name: &'static str,
    pub rows: Vec<IptRow>,
}

/// `ipt VM-IP`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipt {
    pub ip: String,
    pub port: IptPort,
    pub sections: Vec<IptSection>,
}

/// The section of a firewall table.
fn section_of(table: u8) -> Option<usize> {
    match table {
        tables::BASE_INGRESS | tables::RULES_INGRESS => Some(0),
        tables::RULES_EGRESS | tables::ACCEPT_OR_INGRESS => Some(1),
        tables::BASE_EGRESS => Some(2),
        _ => None,
    }
}

/// The value of `field=` in a match.
fn field<'m>(matches: &'m str, name: &str) -> Option<&'m str> {
    matches.split(',').find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
}

/// A conntrack state as an operator reads it.
fn ct_words(state: &str) -> String {
    match state {
        "-trk" => "untracked",
        "+trk" => "tracked",
        "+inv+trk" => "invalid",
        "+new-est" => "new",
        "+est" => "established",
        "-est" => "not established",
        "+est-rel-rpl" => "established",
        "+est-rel+rpl" => "replies",
        "-new-est+rel-inv" => "related",
        other => other,
    }
    .to_string()
}

/// An ICMPv6 type the base checks name.
fn icmp6_name(t: &str) -> Option<&'static str> {
    Some(match t {
        "130" => "MLD query",
        "133" => "router solicitation",
        "134" => "router advertisement",
        "135" => "neighbour solicitation",
        "136" => "neighbour advertisement",
        _ => return None,
    })
}

/// DHCP by its UDP ports.
fn dhcp_name(src: Option<&str>, dst: Option<&str>) -> Option<&'static str> {
    Some(match (src, dst) {
        (Some("68"), Some("67")) => "DHCP request",
        (Some("67"), _) => "DHCP reply",
        (Some("546"), Some("547")) => "DHCPv6 request",
        (Some("547"), _) => "DHCPv6 reply",
        _ => return None,
    })
}

/// What a base or state machine flow lets through, and the source addresses it requires (of
/// anti-spoofing flows): its match without the port's `reg5`, in words.
fn match_words(matches: &str) -> (String, String) {
    let (mut what, mut macs, mut addrs) = (vec![], vec![], vec![]);
    let (tp_src, tp_dst) = (field(matches, "tp_src"), field(matches, "tp_dst"));
    let dl_src = field(matches, "dl_src");
    for f in matches.split(',').filter(|f| !f.is_empty()) {
        match f.split_once('=') {
            None => what.push(f.to_string()),
            Some(("reg5", _)) => {}
            Some(("ct_state", s)) => what.push(ct_words(s)),
            Some(("ct_mark", "0x1")) => what.push("marked (its rule was removed)".into()),
            Some(("ct_mark", "0" | "0x0")) => what.push("unmarked".into()),
            Some(("icmp_type", t)) if icmp6_name(t).is_some() && matches.starts_with("icmp6") => {
                what.push(icmp6_name(t).unwrap_or_default().to_string())
            }
            Some(("tp_src" | "tp_dst", _)) if dhcp_name(tp_src, tp_dst).is_some() => {
                let name = dhcp_name(tp_src, tp_dst).unwrap_or_default().to_string();
                if !what.contains(&name) {
                    what.push(name);
                }
            }
            Some(("arp_sha", m)) if Some(m) == dl_src => {}
            Some(("dl_src" | "arp_sha", v)) => macs.push(v.to_string()),
            Some(("nw_src" | "ipv6_src" | "arp_spa", v)) => addrs.push(v.to_string()),
            Some(("nd_target", v)) => addrs.push(format!("target {v}")),
            _ => what.push(f.to_string()),
        }
    }
    let what = if what.is_empty() { "anything else".into() } else { what.join(" ") };
    macs.extend(addrs);
    (what, macs.join(" "))
}

/// What a firewall flow does with what it matches.
fn action_word(actions: &str) -> String {
    let parts = split_top(actions);
    let dropped = format!("resubmit(,{})", tables::DROPPED);
    let word = if parts.iter().any(|a| a.contains("->NXM_NX_CT_MARK[]")) {
        "mark"
    } else if actions == "drop" || parts.contains(&dropped.as_str()) {
        "drop"
    } else if parts.iter().any(|a| a.starts_with("ct(") && a.contains("table=")) {
        "conntrack"
    } else if parts.iter().any(|a| a.starts_with("ct(commit")) {
        "commit"
    } else if [tables::RULES_EGRESS, tables::RULES_INGRESS]
        .iter()
        .any(|t| parts.contains(&format!("resubmit(,{t})").as_str()))
    {
        "rules"
    } else {
        "allow"
    };
    word.to_string()
}

/// The member addresses of a remote-group flow (`nw_src`/`nw_dst`/`ipv6_src`/`ipv6_dst`).
fn member_address(matches: &str) -> Option<&str> {
    ["nw_src", "nw_dst", "ipv6_src", "ipv6_dst"].into_iter().find_map(|f| field(matches, f))
}

/// Whether an action list only adds conjunctions (a clause flow: its counters are not a rule's).
fn only_conjunctions(actions: &str) -> bool {
    split_top(actions).iter().all(|a| a.starts_with("conjunction("))
}

impl Ipt {
    /// The view of the port holding `ip` (on several networks, the one bound to the owners'
    /// host), from `br-int`'s parsed dump.
    pub fn new(
        ip: &str,
        cloud: &Cloud,
        owners: &Owners<'_>,
        flows: &[DumpedFlow],
        names: &BTreeMap<i64, String>,
    ) -> Result<Ipt, IptError> {
        let port = choose_port(ip, cloud, owners.host())?;
        let mine: Vec<(&Owner, &DumpedFlow)> = flows
            .iter()
            .filter_map(|d| Some((owners.of_cookie(d.flow.cookie)?, d)))
            .filter(|(o, _)| match o {
                Owner::AntiSpoofing(p) | Owner::Firewall(p) | Owner::Rule { port: p, .. } => *p == port.id,
                _ => false,
            })
            .collect();
        let ofport = mine
            .iter()
            .find_map(|(_, d)| field(&d.flow.matches, "reg5"))
            .and_then(neutrino_ovs::flow::normalize::parse_u64)
            .and_then(|p| i64::try_from(p).ok());
        // Remote group → the member addresses its flows on the port's network name, per table.
        let mut members: BTreeMap<(&str, u8), Vec<&str>> = BTreeMap::new();
        for d in flows {
            if let Some(Owner::RemoteGroup { group, network }) = owners.of_cookie(d.flow.cookie)
                && *network == port.network_id
                && let Some(a) = member_address(&d.flow.matches)
            {
                let list = members.entry((group.as_str(), d.flow.table)).or_default();
                if !list.contains(&a) {
                    list.push(a);
                }
            }
        }
        let mut sections: [Vec<IptRow>; 3] = [vec![], vec![], vec![]];
        // Rules: one row per (rule, section), their flows gathered.
        let mut rules: BTreeMap<(usize, &str), IptRow> = BTreeMap::new();
        for (owner, d) in &mine {
            let Some(s) = section_of(d.flow.table) else { continue };
            let id = d.id.to_string();
            match owner {
                Owner::Rule { rule, .. } => {
                    let row = rules
                        .entry((s, rule.as_str()))
                        .or_insert_with(|| rule_row(cloud, rule, d.flow.table, &members));
                    row.flows.push(id);
                    row.priority = row.priority.max(d.flow.priority);
                    if !only_conjunctions(&d.flow.actions) {
                        row.packets += d.n_packets;
                    }
                }
                _ => {
                    let (allows, remote) = match_words(&d.flow.matches);
                    sections[s].push(IptRow {
                        packets: d.n_packets,
                        rule: None,
                        group_id: None,
                        group: None,
                        allows,
                        remote,
                        members: vec![],
                        table: d.flow.table,
                        action: action_word(&name_actions(&d.flow.actions, names)),
                        flows: vec![id],
                        priority: d.flow.priority,
                    })
                }
            }
        }
        for ((s, _), row) in rules {
            sections[s].push(row);
        }
        for rows in &mut sections {
            rows.sort_by(|a, b| {
                (a.table, std::cmp::Reverse(a.priority), &a.group, &a.rule, &a.allows).cmp(&(
                    b.table,
                    std::cmp::Reverse(b.priority),
                    &b.group,
                    &b.rule,
                    &b.allows,
                ))
            });
        }
        let [inbound, outbound, src] = sections;
        Ok(Ipt {
            ip: ip.to_string(),
            port: IptPort {
                id: port.id.clone(),
                name: port.name.clone(),
                label: port_label(cloud, &port.id),
                network_id: port.network_id.clone(),
                network: cloud.network_label(&port.network_id),
                mac: port.mac_address.clone(),
                ofport,
                interface: ofport.and_then(|p| names.get(&p).cloned()),
            },
            sections: vec![
                IptSection { name: "IN", rows: inbound },
                IptSection { name: "OUT", rows: outbound },
                IptSection { name: "SRC FILTER", rows: src },
            ],
        })
    }

    /// A header line for the port, then each section's title and table (PACKETS, RULE, GROUP,
    /// ALLOWS, FROM / TO / SOURCE, ACTION).
    pub fn render(&self) -> String {
        let p = &self.port;
        let mut out = format!(
            "port {} on network {}: id {}, MAC {}, {}\n",
            p.label,
            p.network,
            p.id,
            p.mac,
            match (&p.interface, p.ofport) {
                (Some(i), Some(n)) => format!("{i} (ofport {n}) on br-int"),
                (None, Some(n)) => format!("ofport {n} on br-int"),
                _ => "no firewall flows on br-int".to_string(),
            }
        );
        for s in &self.sections {
            out.push_str(&format!("\n{}\n", s.name));
            if s.rows.is_empty() {
                out.push_str("(no flows)\n");
                continue;
            }
            let rows = s.rows.iter().map(|r| {
                vec![
                    r.packets.to_string(),
                    r.rule.as_deref().map_or("-".into(), |id| label("", id)),
                    r.group.clone().unwrap_or_else(|| "-".into()),
                    r.allows.clone(),
                    if r.remote.is_empty() { "-".into() } else { r.remote.clone() },
                    r.action.clone(),
                ]
            });
            let remote = match s.name {
                "IN" => "FROM",
                "OUT" => "TO",
                _ => "SOURCE",
            };
            out.push_str(&plain::table(&["PACKETS", "RULE", "GROUP", "ALLOWS", remote, "ACTION"], rows));
        }
        out
    }
}

/// The port holding `ip`: the only one, or the only one bound to `host`.
fn choose_port<'c>(ip: &str, cloud: &'c Cloud, host: &str) -> Result<&'c Port, IptError> {
    let all = cloud.ports_with_ip(ip);
    let here: Vec<&Port> = all.iter().copied().filter(|p| p.host.as_deref() == Some(host)).collect();
    match (all.as_slice(), here.as_slice()) {
        ([], _) => Err(IptError::NoPort(ip.to_string())),
        ([one], _) | (_, [one]) => Ok(one),
        _ => Err(IptError::Ambiguous {
            ip: ip.to_string(),
            ports: all.iter().map(|p| p.label()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// A rule's row before its flows are added: its group, what it allows and from or to where
/// (a remote group with the members its flows on the port's network name in `table`).
fn rule_row(cloud: &Cloud, rule: &str, table: u8, members: &BTreeMap<(&str, u8), Vec<&str>>) -> IptRow {
    let found = cloud.rule(rule);
    let (allows, remote, listed) = match found {
        Some((_, r)) => {
            let mut remote = remote_text(cloud, r);
            let mut listed = vec![];
            if let (None, Some(g)) = (&r.remote_ip_prefix, &r.remote_group_id) {
                let m = members.get(&(g.as_str(), table)).map(Vec::as_slice).unwrap_or_default();
                remote.push_str(&format!(" [{}]", m.join(" ")));
                listed = m.iter().map(|a| a.to_string()).collect();
            }
            (allows_text(r), remote, listed)
        }
        None => ("(rule not in the API)".to_string(), String::new(), vec![]),
    };
    IptRow {
        packets: 0,
        rule: Some(rule.to_string()),
        group_id: found.map(|(g, _)| g.id.clone()),
        group: found.map(|(g, _)| label(&g.name, &g.id)),
        allows,
        remote,
        members: listed,
        action: "allow".into(),
        flows: vec![],
        table,
        priority: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_read_in_operator_words() {
        let w = |m: &str| match_words(m);
        assert_eq!(w("ct_state=+est-rel+rpl,ct_mark=0,reg5=0xb"), ("replies unmarked".into(), String::new()));
        assert_eq!(w("reg5=0xb"), ("anything else".into(), String::new()));
        assert_eq!(
            w("arp,arp_sha=fa:16:3e:00:00:01,arp_spa=10.0.0.1,dl_src=fa:16:3e:00:00:01,reg5=0x3"),
            ("arp".into(), "fa:16:3e:00:00:01 10.0.0.1".into())
        );
        assert_eq!(
            w("udp,dl_src=fa:16:3e:00:00:01,nw_src=0.0.0.0,reg5=0x3,tp_dst=67,tp_src=68").0,
            "udp DHCP request"
        );
        assert_eq!(w("icmp6,icmp_type=136,nd_target=fe80::1,reg5=0x3").0, "icmp6 neighbour advertisement");
        assert_eq!(w("udp,reg5=0x3,tp_src=67").0, "udp DHCP reply");
        assert_eq!(action_word("resubmit(,93)"), "drop");
        assert_eq!(action_word("ct(table=72,zone=NXM_NX_REG6[0..15])"), "conntrack");
        assert_eq!(
            action_word("ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[]))"),
            "mark"
        );
        assert_eq!(action_word("ct(commit,zone=NXM_NX_REG6[0..15]),output:11"), "commit");
        assert_eq!(action_word("output:11"), "allow");
        assert_eq!(action_word("resubmit(,82)"), "rules");
        assert_eq!(member_address("ip,ct_state=+new-est,nw_src=10.0.0.2,reg6=0x1"), Some("10.0.0.2"));
    }
}
