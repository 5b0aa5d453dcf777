//! `query IP|ID|NAME`: everything about one API port — its attributes (OpenStack Networking
//! API v2.0 `ports` with their `binding:host_id`), where it is on this host's switch (found by
//! `external_ids:iface-id` only), its local VLAN, the flows that concern it (tagged for it in
//! their cookie's low 32 bits by the agent, or naming its OpenFlow port, MAC or addresses) and
//! its DHCP lease.

use std::collections::{BTreeMap, BTreeSet};

use neutrino_agent::flows::Owner;
use neutrino_ovs::flow::AGENT_COOKIE_MASK;
use serde::Serialize;

use super::leases::{self, Lease};
use super::plain;
use super::show::{local_vlans, owner_text};
use super::switch::{Switch, SwitchError, read_flows};
use crate::cloud::{AddressPair, Cloud, Port, label};
use crate::parse::DumpedFlow;
use crate::source::HostSource;

/// The port a user named could not be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("no port is {0} (give a port id, an id prefix of 8 or more characters, a name or a fixed IP)")]
    Unknown(String),
    #[error("{what} names {} ports, give one's id: {}", .candidates.len(),
        .candidates.iter().map(Candidate::to_string).collect::<Vec<_>>().join("; "))]
    Ambiguous { what: String, candidates: Vec<Candidate> },
    #[error(transparent)]
    Read(#[from] SwitchError),
}

/// One of the ports an ambiguous name or address could mean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub network: String,
    pub ips: Vec<String>,
    pub host: Option<String>,
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} on {} [{}]", self.id, self.name, self.network, self.ips.join(","))?;
        match &self.host {
            Some(h) => write!(f, " at {h}"),
            None => f.write_str(" unbound"),
        }
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The port `what` names: its id, an id prefix (8 characters or more), its name or a fixed IP.
pub fn resolve<'a>(cloud: &'a Cloud, what: &str) -> Result<&'a Port, QueryError> {
    cloud.find_port(what).map_err(|hits| match hits.is_empty() {
        true => QueryError::Unknown(what.to_string()),
        false => QueryError::Ambiguous {
            what: what.to_string(),
            candidates: hits
                .iter()
                .map(|p| Candidate {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    network: cloud.network_label(&p.network_id),
                    ips: p.ips().map(str::to_string).collect(),
                    host: p.host.as_deref().and_then(some),
                })
                .collect(),
        },
    })
}

/// The `query` view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Query {
    pub port: PortAttrs,
    /// The host it is bound to (`binding:host_id`).
    pub host: Option<String>,
    /// Where it is on this host's switch.
    pub placement: Placement,
    pub vlan: Option<u16>,
    pub flows: Vec<QueryFlow>,
    pub lease: Option<Lease>,
}

/// The API's attributes of the port, with the names of what it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortAttrs {
    pub id: String,
    pub name: String,
    pub network_id: String,
    pub network: String,
    pub fixed_ips: Vec<FixedIpAttr>,
    pub mac_address: String,
    pub device_owner: String,
    pub device_id: String,
    pub owner: Option<String>,
    pub status: String,
    pub admin_state_up: bool,
    pub project_id: String,
    pub security_groups: Vec<GroupRef>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub vif_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixedIpAttr {
    pub ip_address: String,
    pub subnet_id: String,
    pub subnet: String,
    pub cidr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

/// Where the port is on this host's switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "where", rename_all = "snake_case")]
pub enum Placement {
    /// An interface of this switch carries its id (`external_ids:iface-id`).
    Here { bridge: String, interface: String, ofport: Option<i64> },
    /// Bound to another host, and no interface here carries it.
    OtherHost { host: String },
    /// Bound to this host, yet no interface here carries it (not plugged, or already gone).
    NotPlugged,
    /// Bound to no host.
    Unbound,
}

/// A flow that concerns the port, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryFlow {
    pub bridge: String,
    pub id: String,
    pub table: u8,
    pub priority: u16,
    pub n_packets: u64,
    pub matches: String,
    pub actions: String,
    /// What ties it to the port: its cookie's owner (`port`, `anti-spoofing`, `firewall`,
    /// `rule <id>`), else the field naming it (`ofport`, `mac`, `ip`).
    pub why: String,
}

/// What this host shows of the port.
#[derive(Debug, Clone, Copy)]
pub struct HostView<'a> {
    /// The host's name (the agents' and bindings' `host`).
    pub host: &'a str,
    pub switch: &'a Switch,
    /// Dumped flows per bridge.
    pub flows: &'a BTreeMap<String, Vec<DumpedFlow>>,
    /// The lease file of the port's network on this host, if it serves it.
    pub leases: Option<&'a str>,
}

fn attrs(cloud: &Cloud, p: &Port) -> PortAttrs {
    PortAttrs {
        id: p.id.clone(),
        name: p.name.clone(),
        network_id: p.network_id.clone(),
        network: cloud.network_label(&p.network_id),
        fixed_ips: p
            .fixed_ips
            .iter()
            .map(|f| {
                let s = cloud.subnet(&f.subnet_id);
                FixedIpAttr {
                    ip_address: f.ip_address.clone(),
                    subnet_id: f.subnet_id.clone(),
                    subnet: s.map(|s| label(&s.name, &s.id)).unwrap_or_else(|| label("", &f.subnet_id)),
                    cidr: s.map(|s| s.cidr.clone()),
                }
            })
            .collect(),
        mac_address: p.mac_address.clone(),
        device_owner: p.device_owner.clone(),
        device_id: p.device_id.clone(),
        owner: owner_text(cloud, p),
        status: p.status.clone(),
        admin_state_up: p.admin_state_up,
        project_id: p.project_id.clone(),
        security_groups: p
            .security_groups
            .iter()
            .map(|g| GroupRef { id: g.clone(), name: cloud.group_label(g) })
            .collect(),
        port_security_enabled: p.port_security_enabled,
        allowed_address_pairs: p.allowed_address_pairs.clone(),
        vif_type: p.vif_type.clone(),
    }
}

/// The cookie tags (low 32 bits) of the port's own flows, with what each is.
fn own_tags(cloud: &Cloud, p: &Port) -> BTreeMap<u64, String> {
    let id = p.id.clone();
    let mut t = BTreeMap::from([
        (Owner::Port(id.clone()).tag(), "port".to_string()),
        (Owner::AntiSpoofing(id.clone()).tag(), "anti-spoofing".to_string()),
        (Owner::Firewall(id.clone()).tag(), "firewall".to_string()),
    ]);
    for g in p.security_groups.iter().filter_map(|g| cloud.security_group(g)) {
        for r in &g.security_group_rules {
            let owner = Owner::Rule { rule: r.id.clone(), port: id.clone() };
            t.insert(owner.tag(), format!("rule {} of {}", label("", &r.id), label(&g.name, &g.id)));
        }
    }
    t
}

/// The cookie tags of remote-group member flows (a group's addresses on a network, for the
/// rules naming it): those of the port's groups with what each is, and every group's. A member
/// flow naming one of the port's addresses admits its traffic into another port; one of a group
/// it is not in names an address it only shares (on another network).
fn member_tags(cloud: &Cloud, p: &Port) -> (BTreeMap<u64, String>, BTreeSet<u64>) {
    let (mut mine, mut all) = (BTreeMap::new(), BTreeSet::new());
    for g in &cloud.security_groups {
        for n in &cloud.networks {
            let tag = Owner::RemoteGroup { group: g.id.clone(), network: n.id.clone() }.tag();
            all.insert(tag);
            if p.security_groups.contains(&g.id) {
                mine.insert(tag, format!("member of {} on {}", label(&g.name, &g.id), label(&n.name, &n.id)));
            }
        }
    }
    (mine, all)
}

fn number(v: &str) -> Option<i64> {
    match v.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

const MAC_FIELDS: [&str; 8] =
    ["dl_src", "dl_dst", "eth_src", "eth_dst", "arp_sha", "arp_tha", "nd_sll", "nd_tll"];
const IP_FIELDS: [&str; 8] =
    ["nw_src", "nw_dst", "ip_src", "ip_dst", "arp_spa", "arp_tpa", "ipv6_src", "ipv6_dst"];

/// What identifies the port in a flow's text.
struct Marks<'a> {
    /// Its OpenFlow port number, on the bridge whose flows are read.
    ofport: Option<i64>,
    mac: String,
    ips: Vec<&'a str>,
    /// Its network's local VLAN on this host.
    vlan: Option<u16>,
}

fn fields(fl: &DumpedFlow) -> Vec<(&str, &str)> {
    fl.flow.matches.split(',').filter_map(|f| f.split_once('=')).collect()
}

fn names_ip(fl: &DumpedFlow, ips: &[&str]) -> bool {
    let is_ip = |v: &str| {
        let bare = v.strip_suffix("/32").or(v.strip_suffix("/128")).unwrap_or(v);
        ips.contains(&bare)
    };
    fields(fl).iter().any(|(k, v)| IP_FIELDS.contains(k) && is_ip(v))
}

/// Why a flow's text names the port (`ofport`, `mac`, `ip`), if it does. A flow naming it by
/// MAC or address but on another local VLAN (another network's overlapping address) does not.
fn names_port(fl: &DumpedFlow, m: &Marks<'_>) -> Option<&'static str> {
    let fields = fields(fl);
    let acts = fl.flow.actions.as_str();
    if let Some(o) = m.ofport {
        let in_match = fields.iter().any(|(k, v)| (*k == "in_port" || *k == "reg5") && number(v) == Some(o));
        let in_actions = acts.split(',').any(|a| {
            a.strip_prefix("output:").and_then(number) == Some(o)
                || (a.ends_with("->NXM_NX_REG5[]") || a.ends_with("->reg5"))
                    && a.split_once(':').and_then(|(_, v)| v.split("->").next()).and_then(number) == Some(o)
        });
        if in_match || in_actions {
            return Some("ofport");
        }
    }
    let other_vlan = fields.iter().any(|(k, v)| {
        (*k == "dl_vlan" || *k == "reg6") && m.vlan.is_some_and(|l| number(v) != Some(i64::from(l)))
    });
    if other_vlan {
        return None;
    }
    let is_mac = |v: &str| !m.mac.is_empty() && v.to_ascii_lowercase() == m.mac;
    let mac_action = acts.split(',').any(|a| {
        let set = a
            .strip_prefix("set_field:")
            .and_then(|v| v.strip_suffix("->eth_dst").or(v.strip_suffix("->eth_src")));
        a.strip_prefix("mod_dl_dst:").or(a.strip_prefix("mod_dl_src:")).or(set).is_some_and(is_mac)
    });
    if mac_action || fields.iter().any(|(k, v)| MAC_FIELDS.contains(k) && is_mac(v)) {
        return Some("mac");
    }
    names_ip(fl, &m.ips).then_some("ip")
}

/// The cookie tags that tie flows to the port.
struct Tags {
    own: BTreeMap<u64, String>,
    members: BTreeMap<u64, String>,
    any_member: BTreeSet<u64>,
}

/// Why `fl` concerns the port: its cookie names the port, one of its rules, or (naming one of
/// its addresses) one of its groups' member sets; else its text names the port.
fn why(fl: &DumpedFlow, tags: &Tags, m: &Marks<'_>) -> Option<String> {
    let tag = fl.flow.cookie & !AGENT_COOKIE_MASK;
    if tag != 0 {
        if let Some(t) = tags.own.get(&tag) {
            return Some(t.clone());
        }
        if let Some(t) = tags.members.get(&tag) {
            return names_ip(fl, &m.ips).then(|| t.clone());
        }
        if tags.any_member.contains(&tag) {
            return None;
        }
    }
    names_port(fl, m).map(str::to_string)
}

/// Everything about `port` as `here` shows it.
pub fn query(cloud: &Cloud, port: &Port, here: &HostView<'_>) -> Query {
    let host = port.host.as_deref().and_then(some);
    let placement = match (here.switch.find_iface_id(&port.id), &host) {
        (Some((b, i)), _) => {
            Placement::Here { bridge: b.name.clone(), interface: i.name.clone(), ofport: i.ofport }
        }
        (None, Some(h)) if h == here.host => Placement::NotPlugged,
        (None, Some(h)) => Placement::OtherHost { host: h.clone() },
        (None, None) => Placement::Unbound,
    };
    let (bridge, ofport) = match &placement {
        Placement::Here { bridge, ofport, .. } => (Some(bridge.as_str()), *ofport),
        _ => (None, None),
    };
    let vlan = bridge.zip(ofport).and_then(|(b, o)| local_vlans(here.flows.get(b)?).get(&o).copied());
    // The network's local VLAN here, known from any of its ports here when this one is not.
    let net_vlan = vlan.or_else(|| {
        cloud.ports.iter().filter(|p| p.network_id == port.network_id).find_map(|p| {
            let (b, i) = here.switch.find_iface_id(&p.id)?;
            local_vlans(here.flows.get(&b.name)?).get(&i.ofport?).copied()
        })
    });
    let (members, any_member) = member_tags(cloud, port);
    let tags = Tags { own: own_tags(cloud, port), members, any_member };
    let mut flows = vec![];
    for (b, list) in here.flows {
        // An OpenFlow port number means the port only on its own bridge.
        let marks = Marks {
            ofport: if Some(b.as_str()) == bridge { ofport } else { None },
            mac: port.mac_address.to_ascii_lowercase(),
            ips: port.ips().collect(),
            vlan: net_vlan,
        };
        for fl in list {
            let Some(why) = why(fl, &tags, &marks) else { continue };
            flows.push(QueryFlow {
                bridge: b.clone(),
                id: fl.id.to_string(),
                table: fl.flow.table,
                priority: fl.flow.priority,
                n_packets: fl.n_packets,
                matches: fl.flow.matches.clone(),
                actions: fl.flow.actions.clone(),
                why,
            });
        }
    }
    flows.sort_by(|a, b| {
        (&a.bridge, a.table, std::cmp::Reverse(a.priority)).cmp(&(
            &b.bridge,
            b.table,
            std::cmp::Reverse(b.priority),
        ))
    });
    let all = here.leases.map(leases::parse).unwrap_or_default();
    let lease = leases::find(&all, &port.mac_address, port.ips().next()).cloned();
    Query { port: attrs(cloud, port), host, placement, vlan, flows, lease }
}

/// The port `what` names, as `host` shows it: its switch, every bridge's flows and the lease
/// file of the port's network there.
pub fn read(host: &dyn HostSource, cloud: &Cloud, what: &str) -> Result<Query, QueryError> {
    let port = resolve(cloud, what)?;
    let switch = Switch::read(host)?;
    let flows = switch
        .bridges
        .iter()
        .map(|b| Ok((b.name.clone(), read_flows(host, &b.name)?)))
        .collect::<Result<BTreeMap<_, _>, SwitchError>>()?;
    let leases = host.leases(&port.network_id).map_err(SwitchError::from)?;
    let here = HostView { host: host.host(), switch: &switch, flows: &flows, leases: leases.as_deref() };
    Ok(query(cloud, port, &here))
}

fn kv(out: &mut String, key: &str, value: &str) {
    out.push_str(&format!("{key:<16}{value}\n"));
}

impl Query {
    /// The attributes as `key value` lines, then the flows' table.
    pub fn render(&self) -> String {
        let p = &self.port;
        let mut s = String::new();
        kv(&mut s, "port", format!("{} {}", p.id, p.name).trim_end());
        kv(&mut s, "network", &format!("{} {}", p.network, p.network_id));
        for f in &p.fixed_ips {
            let cidr = f.cidr.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
            kv(&mut s, "fixed ip", &format!("{} ({}{cidr})", f.ip_address, f.subnet));
        }
        kv(&mut s, "mac", &p.mac_address);
        let owner = format!("{} {}", p.device_owner, p.device_id).trim().to_string();
        kv(&mut s, "owner", if owner.is_empty() { "none" } else { &owner });
        let admin = if p.admin_state_up { "up" } else { "down" };
        kv(&mut s, "status", &format!("{} (admin {admin})", p.status));
        kv(&mut s, "project", &p.project_id);
        let groups: Vec<String> =
            p.security_groups.iter().map(|g| format!("{} {}", g.name, label("", &g.id))).collect();
        kv(&mut s, "security groups", &if groups.is_empty() { "none".into() } else { groups.join(", ") });
        let security = match p.port_security_enabled {
            Some(true) => "enabled",
            Some(false) => "disabled",
            None => "unknown",
        };
        kv(&mut s, "port security", security);
        for a in &p.allowed_address_pairs {
            kv(
                &mut s,
                "address pair",
                format!("{} {}", a.ip_address, a.mac_address.as_deref().unwrap_or_default()).trim_end(),
            );
        }
        kv(&mut s, "host", self.host.as_deref().unwrap_or("(unbound)"));
        let here = match &self.placement {
            Placement::Here { bridge, interface, ofport } => {
                let of = ofport.map(|o| o.to_string()).unwrap_or_else(|| "-".into());
                format!("{bridge} {interface} ofport {of}")
            }
            Placement::OtherHost { host } => format!("bound to another host ({host})"),
            Placement::NotPlugged => "bound here, but no interface carries it".into(),
            Placement::Unbound => "not bound to any host".into(),
        };
        kv(&mut s, "on this host", &here);
        kv(&mut s, "local vlan", &self.vlan.map(|v| v.to_string()).unwrap_or_else(|| "-".into()));
        let lease = match &self.lease {
            Some(l) => {
                let name = l.hostname.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
                format!("{} {}{name} expires {}", l.ip, l.mac.as_deref().unwrap_or_default(), l.expiry_text())
            }
            None => "none".into(),
        };
        kv(&mut s, "lease", &lease);
        s.push_str(&format!("\nflows ({})\n", self.flows.len()));
        let rows = self.flows.iter().map(|f| {
            vec![
                f.id.clone(),
                f.bridge.clone(),
                f.table.to_string(),
                f.n_packets.to_string(),
                f.priority.to_string(),
                f.matches.clone(),
                f.actions.clone(),
                f.why.clone(),
            ]
        });
        s.push_str(&plain::table(
            &["ID", "BRIDGE", "TABLE", "PACKETS", "PRIORITY", "MATCH", "ACTIONS", "WHY"],
            rows,
        ));
        s
    }
}
