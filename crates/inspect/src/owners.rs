//! Which API object a flow exists for, from its cookie alone: the agent tags each flow's cookie
//! with its [`Owner`]'s [`Owner::tag`] (low 32 bits, see `neutrino_agent::flows`), so every owner
//! the API's objects can give (the pipeline; each port, its anti-spoofing, its firewall and the
//! rules of its groups; each network; each remote group on a network; the agents' physical
//! networks and tunnel endpoints) is hashed here and indexed by tag, and described in the
//! tenant's terms ("rule 3f2a1b2c of group web on port web-1 (ingress tcp/80 from 0.0.0.0/0)").

use std::collections::{BTreeMap, BTreeSet};

use neutrino_agent::flows::Owner;
use serde::Serialize;
use serde_json::Value;

use crate::cloud::{Cloud, SecurityGroupRule, label};

/// The high 16 bits of every Neutrino agent's cookie (`neutrino_agent::config::AgentConfig::cookie`).
pub const AGENT_COOKIE_PREFIX: u64 = 0x4e54;

/// The bits of a cookie that carry the owner's tag.
pub const TAG_MASK: u64 = 0xffff_ffff;

/// Whether a cookie is a Neutrino agent's (the agent removes or restores such flows).
pub fn is_agent_cookie(cookie: u64) -> bool {
    cookie >> 48 == AGENT_COOKIE_PREFIX
}

/// An owner in the tenant's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Described {
    /// `pipeline`, `network`, `port`, `physnet`, `tunnel`, `anti-spoofing`, `firewall`, `rule`,
    /// `remote-group`; for cookies that name no owner, `learnt` (cookie 0) or `unknown`.
    pub kind: &'static str,
    /// The object's full id (a port, network, rule or group id, a physical network's name, a
    /// tunnel IP); empty for the pipeline and for cookies without an owner.
    pub id: String,
    /// What an operator reads, e.g. `anti-spoofing of port web-1`.
    pub text: String,
}

/// The owners a cloud's objects can give, indexed by tag.
#[derive(Debug, Clone)]
pub struct Owners<'a> {
    cloud: &'a Cloud,
    host: String,
    /// Tag → owners with that tag, those of this host's ports first (tags are 32 bits: two
    /// owners of a large cloud may share one).
    by_tag: BTreeMap<u64, Vec<Owner>>,
}

impl<'a> Owners<'a> {
    /// Every owner `cloud` gives, preferring on a tag collision the objects of `host`'s ports.
    pub fn new(cloud: &'a Cloud, host: &str) -> Owners<'a> {
        let mut all: BTreeSet<Owner> = BTreeSet::from([Owner::Pipeline]);
        for n in &cloud.networks {
            all.insert(Owner::Network(n.id.clone()));
        }
        for p in &cloud.ports {
            all.insert(Owner::Port(p.id.clone()));
            all.insert(Owner::AntiSpoofing(p.id.clone()));
            all.insert(Owner::Firewall(p.id.clone()));
            for g in p.security_groups.iter().filter_map(|g| cloud.security_group(g)) {
                all.insert(Owner::RemoteGroup { group: g.id.clone(), network: p.network_id.clone() });
                for r in &g.security_group_rules {
                    all.insert(Owner::Rule { rule: r.id.clone(), port: p.id.clone() });
                    if let Some(remote) = &r.remote_group_id {
                        all.insert(Owner::RemoteGroup {
                            group: remote.clone(),
                            network: p.network_id.clone(),
                        });
                    }
                }
            }
        }
        for a in &cloud.agents {
            if let Some(m) = a.configurations.get("bridge_mappings").and_then(Value::as_object) {
                all.extend(m.keys().map(|physnet| Owner::Physnet(physnet.clone())));
            }
            if let Some(ip) = a.tunneling_ip() {
                all.insert(Owner::Tunnel(ip.to_string()));
            }
        }
        let local_ports: BTreeSet<&str> =
            cloud.ports.iter().filter(|p| p.host.as_deref() == Some(host)).map(|p| p.id.as_str()).collect();
        let local_nets: BTreeSet<&str> = cloud
            .ports
            .iter()
            .filter(|p| local_ports.contains(p.id.as_str()))
            .map(|p| p.network_id.as_str())
            .collect();
        let is_local = |o: &Owner| match o {
            Owner::Port(p) | Owner::AntiSpoofing(p) | Owner::Firewall(p) | Owner::Rule { port: p, .. } => {
                local_ports.contains(p.as_str())
            }
            Owner::Network(n) | Owner::RemoteGroup { network: n, .. } => local_nets.contains(n.as_str()),
            Owner::Pipeline | Owner::Physnet(_) | Owner::Tunnel(_) => true,
        };
        let mut out = Owners { cloud, host: host.to_string(), by_tag: BTreeMap::new() };
        for o in all {
            out.by_tag.entry(o.tag()).or_default().push(o);
        }
        for list in out.by_tag.values_mut().filter(|l| l.len() > 1) {
            // Stable: among owners of one tag, this host's first, else in their order.
            list.sort_by_key(|o| !is_local(o));
        }
        out
    }

    /// The host whose flows are being read.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The owner a cookie names: `None` for cookie 0 (flows written by `learn`, or by hand
    /// without a cookie) and for a tag no API object gives.
    pub fn of_cookie(&self, cookie: u64) -> Option<&Owner> {
        if cookie == 0 {
            return None;
        }
        self.by_tag.get(&(cookie & TAG_MASK)).and_then(|l| l.first())
    }

    /// Every owner with the tag of `cookie` (more than one only on a hash collision).
    pub fn candidates(&self, cookie: u64) -> &[Owner] {
        self.by_tag.get(&(cookie & TAG_MASK)).map_or(&[], Vec::as_slice)
    }

    /// The owner of a cookie described ([`Owners::describe`]), or `learnt` for cookie 0 and
    /// `unknown` for a tag no object gives.
    pub fn describe_cookie(&self, cookie: u64) -> Described {
        match (cookie, self.of_cookie(cookie)) {
            (0, _) => Described { kind: "learnt", id: String::new(), text: "learnt (cookie 0)".into() },
            (_, Some(o)) => self.describe(o),
            (_, None) => Described {
                kind: "unknown",
                id: String::new(),
                text: format!("no API object (cookie {cookie:#x})"),
            },
        }
    }

    /// An owner in the tenant's terms: the cloud's names, or 8-character ids when it has none.
    pub fn describe(&self, owner: &Owner) -> Described {
        let c = self.cloud;
        let port = |id: &str| port_label(c, id);
        let d = |kind, id: &str, text: String| Described { kind, id: id.to_string(), text };
        match owner {
            Owner::Pipeline => d("pipeline", "", "pipeline".into()),
            Owner::Network(id) => d("network", id, format!("network {}", c.network_label(id))),
            Owner::Port(id) => d("port", id, format!("port {}", port(id))),
            Owner::Physnet(name) => d("physnet", name, format!("physical network {name}")),
            Owner::Tunnel(ip) => {
                let text = match c.host_of_tunnel_ip(ip) {
                    Some(h) => format!("tunnel to {h} ({ip})"),
                    None => format!("tunnel to {ip}"),
                };
                d("tunnel", ip, text)
            }
            Owner::AntiSpoofing(id) => d("anti-spoofing", id, format!("anti-spoofing of port {}", port(id))),
            Owner::Firewall(id) => d("firewall", id, format!("firewall of port {}", port(id))),
            Owner::Rule { rule, port: p } => {
                let text = match c.rule(rule) {
                    Some((g, r)) => format!(
                        "rule {} of group {} on port {} ({})",
                        label("", rule),
                        label(&g.name, &g.id),
                        port(p),
                        rule_text(c, r)
                    ),
                    None => format!("rule {} on port {}", label("", rule), port(p)),
                };
                d("rule", rule, text)
            }
            Owner::RemoteGroup { group, network } => d(
                "remote-group",
                group,
                format!("members of group {} on network {}", c.group_label(group), c.network_label(network)),
            ),
        }
    }
}

/// A port as the tenant knows it: its name, else its id's first 8 characters with what it is
/// for when it serves a router or a network (`def01234 (DHCP of blue)`, `ab12cd34 (router
/// r1)`).
pub fn port_label(cloud: &Cloud, id: &str) -> String {
    let Some(p) = cloud.port(id) else { return label("", id) };
    if !p.name.is_empty() {
        return p.name.clone();
    }
    let short = p.label();
    match p.device_owner.as_str() {
        "network:dhcp" => format!("{short} (DHCP of {})", cloud.network_label(&p.network_id)),
        "network:router_gateway" => match cloud.router_of_port(p) {
            Some(r) => format!("{short} (gateway of router {})", label(&r.name, &r.id)),
            None => short,
        },
        _ => match cloud.router_of_port(p) {
            Some(r) => format!("{short} (router {})", label(&r.name, &r.id)),
            None => short,
        },
    }
}

/// A rule's protocol as an operator names it (`tcp`, `icmp`, `icmp6`…), `None` for any.
pub fn protocol_name(rule: &SecurityGroupRule) -> Option<String> {
    let p = rule.protocol.as_deref()?.to_ascii_lowercase();
    Some(
        match p.as_str() {
            "1" => "icmp",
            "6" => "tcp",
            "17" => "udp",
            "58" | "ipv6-icmp" | "icmpv6" => "icmp6",
            "132" => "sctp",
            "any" | "" => return None,
            other => other,
        }
        .to_string(),
    )
}

/// What a rule allows, without its remote: `tcp/80`, `udp/5000-5010`, `icmp type 8`, `any`,
/// with `IPv6 ` in front for an IPv6 rule.
pub fn allows_text(rule: &SecurityGroupRule) -> String {
    let what = match protocol_name(rule) {
        None => "any".to_string(),
        Some(p) if p == "icmp" || p == "icmp6" => {
            let mut s = p;
            if let Some(t) = rule.port_range_min {
                s.push_str(&format!(" type {t}"));
                if let Some(code) = rule.port_range_max {
                    s.push_str(&format!(" code {code}"));
                }
            }
            s
        }
        Some(p) => match (rule.port_range_min, rule.port_range_max) {
            (Some(lo), Some(hi)) if lo != hi => format!("{p}/{lo}-{hi}"),
            (Some(lo), _) => format!("{p}/{lo}"),
            (None, _) => p,
        },
    };
    match rule.ethertype.eq_ignore_ascii_case("IPv6") {
        true => format!("IPv6 {what}"),
        false => what,
    }
}

/// A rule's remote: its prefix, `group NAME`, or `anywhere`.
pub fn remote_text(cloud: &Cloud, rule: &SecurityGroupRule) -> String {
    match (&rule.remote_ip_prefix, &rule.remote_group_id) {
        (Some(prefix), _) => prefix.clone(),
        (None, Some(g)) => format!("group {}", cloud.group_label(g)),
        (None, None) => "anywhere".into(),
    }
}

/// A rule as an operator reads it: `ingress tcp/80 from 0.0.0.0/0`, `egress any to anywhere`.
pub fn rule_text(cloud: &Cloud, rule: &SecurityGroupRule) -> String {
    let way = if rule.direction == "egress" { "to" } else { "from" };
    format!("{} {} {way} {}", rule.direction, allows_text(rule), remote_text(cloud, rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Agent, Network, Port, SecurityGroup};

    fn cloud() -> Cloud {
        let rule = SecurityGroupRule {
            id: "3f2a1b2c-0000-4000-8000-000000000001".into(),
            security_group_id: "sg-web".into(),
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: Some("tcp".into()),
            port_range_min: Some(80),
            port_range_max: Some(80),
            remote_ip_prefix: Some("0.0.0.0/0".into()),
            remote_group_id: None,
        };
        let from_group = SecurityGroupRule {
            id: "9c1e0000-0000-4000-8000-000000000002".into(),
            remote_ip_prefix: None,
            remote_group_id: Some("sg-web".into()),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            ..rule.clone()
        };
        Cloud {
            networks: vec![Network { id: "net-blue".into(), name: "blue".into(), ..Network::default() }],
            ports: vec![
                Port {
                    id: "port-web-1".into(),
                    name: "web-1".into(),
                    network_id: "net-blue".into(),
                    security_groups: vec!["sg-web".into()],
                    host: Some("compute-1".into()),
                    ..Port::default()
                },
                Port { id: "b0b0b0b0-1111".into(), network_id: "net-blue".into(), ..Port::default() },
            ],
            security_groups: vec![SecurityGroup {
                id: "sg-web".into(),
                name: "web".into(),
                security_group_rules: vec![rule, from_group],
                ..SecurityGroup::default()
            }],
            agents: vec![Agent {
                host: "compute-2".into(),
                configurations: serde_json::json!({
                    "tunneling_ip": "172.31.0.2", "bridge_mappings": {"physnet1": "br-eth1"}
                }),
                ..Agent::default()
            }],
            ..Cloud::default()
        }
    }

    #[test]
    fn cookies_name_their_owners_in_tenant_terms() {
        let c = cloud();
        let o = Owners::new(&c, "compute-1");
        let agent = 0x4e54_1234_0000_0000;
        let text = |owner: Owner| o.describe_cookie(owner.cookie(agent)).text;
        let rule =
            Owner::Rule { rule: "3f2a1b2c-0000-4000-8000-000000000001".into(), port: "port-web-1".into() };
        assert_eq!(text(rule), "rule 3f2a1b2c of group web on port web-1 (ingress tcp/80 from 0.0.0.0/0)");
        let from_group =
            Owner::Rule { rule: "9c1e0000-0000-4000-8000-000000000002".into(), port: "port-web-1".into() };
        assert_eq!(text(from_group), "rule 9c1e0000 of group web on port web-1 (ingress any from group web)");
        assert_eq!(text(Owner::AntiSpoofing("b0b0b0b0-1111".into())), "anti-spoofing of port b0b0b0b0");
        let mut c = c.clone();
        c.ports[1].device_owner = "network:router_interface".into();
        c.ports[1].device_id = "r-1".into();
        c.routers.push(crate::cloud::Router { id: "r-1".into(), name: "r1".into(), ..Default::default() });
        assert_eq!(port_label(&c, "b0b0b0b0-1111"), "b0b0b0b0 (router r1)");
        c.ports[1].device_owner = "network:dhcp".into();
        assert_eq!(port_label(&c, "b0b0b0b0-1111"), "b0b0b0b0 (DHCP of blue)");
        assert_eq!(text(Owner::Network("net-blue".into())), "network blue");
        assert_eq!(text(Owner::Tunnel("172.31.0.2".into())), "tunnel to compute-2 (172.31.0.2)");
        assert_eq!(text(Owner::Physnet("physnet1".into())), "physical network physnet1");
        let members = Owner::RemoteGroup { group: "sg-web".into(), network: "net-blue".into() };
        assert_eq!(text(members), "members of group web on network blue");
        assert_eq!(o.describe_cookie(agent).kind, "pipeline");
        assert_eq!(o.describe_cookie(0).kind, "learnt");
        assert_eq!(o.of_cookie(0), None);
        let stranger = Owner::Port("not-in-the-api".into()).cookie(agent);
        assert_eq!(o.of_cookie(stranger), None);
        assert_eq!(o.describe_cookie(stranger).kind, "unknown");
    }

    #[test]
    fn on_a_tag_collision_this_hosts_port_wins() {
        // Two port ids whose owners share a 32-bit tag (found by search: tags are a hash).
        let mut seen = BTreeMap::new();
        let (a, b) = (0u32..)
            .find_map(|i| {
                let id = format!("port-{i}");
                let tag = Owner::Port(id.clone()).tag();
                seen.insert(tag, id.clone()).map(|other| (other, id))
            })
            .unwrap();
        let port = |id: &str, host: &str| Port { id: id.into(), host: Some(host.into()), ..Port::default() };
        for (here, there) in [(&a, &b), (&b, &a)] {
            let c =
                Cloud { ports: vec![port(there, "compute-2"), port(here, "compute-1")], ..Cloud::default() };
            let o = Owners::new(&c, "compute-1");
            let cookie = Owner::Port(here.clone()).cookie(0x4e54_0000_0000_0000);
            assert_eq!(o.of_cookie(cookie), Some(&Owner::Port(here.clone())));
            assert_eq!(o.candidates(cookie).len(), 2);
        }
    }

    #[test]
    fn rules_read_as_operators_say_them() {
        let base =
            SecurityGroupRule { direction: "egress".into(), ethertype: "IPv6".into(), ..Default::default() };
        assert_eq!(rule_text(&Cloud::default(), &base), "egress IPv6 any to anywhere");
        let icmp = SecurityGroupRule {
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: Some("1".into()),
            port_range_min: Some(8),
            port_range_max: Some(0),
            ..Default::default()
        };
        assert_eq!(allows_text(&icmp), "icmp type 8 code 0");
        let range = SecurityGroupRule {
            protocol: Some("udp".into()),
            port_range_min: Some(5000),
            port_range_max: Some(5010),
            ..icmp
        };
        assert_eq!(allows_text(&range), "udp/5000-5010");
    }
}
