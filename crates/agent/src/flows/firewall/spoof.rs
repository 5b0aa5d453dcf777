//! A port's base checks, as upstream's `openvswitch` firewall (`_initialize_egress`,
//! `_initialize_ingress`): anti-spoofing in table 71 — only the port's MAC with its fixed IPs,
//! its allowed address pairs (an IP or a CIDR, with their MACs) and, for IPv6, the link-local
//! address of its MAC may send IPv4, ARP (`arp_sha`, `arp_spa`), IPv6 and neighbour
//! discovery (a neighbour advertisement only for an owned `nd_target`); DHCP requests pass,
//! a VM answering as a DHCP server or sending router advertisements is dropped; IP goes into
//! conntrack. Table 81: ARP, ND and DHCP replies straight to the port, IP into conntrack. A
//! port without port security passes both ways.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use neutrino_ovs::flow::Flow;

use super::super::tables;
use super::super::{LocalPort, PortFilter};
use super::{ZONE, canon_addr, ct, flow, priority as prio, reg_port};

/// ICMPv6 types a port may send from its addresses without conntrack: MLD query, router
/// solicitation, neighbour solicitation (upstream's `ICMPV6_ALLOWED_EGRESS_TYPES`).
pub const ND_EGRESS: [u8; 3] = [130, 133, 135];
/// Neighbour advertisement: only for an address the port owns.
pub const ND_ADVERT: u8 = 136;
/// Router advertisement: never from a VM.
pub const ROUTER_ADVERT: u8 = 134;
/// ICMPv6 types delivered to a port without conntrack: MLD query, neighbour solicitation and
/// advertisement, router advertisement.
pub const ND_INGRESS: [u8; 4] = [130, 134, 135, 136];

/// The link-local address (EUI-64) of a MAC.
pub fn link_local(mac: &str) -> Option<String> {
    let b: Vec<u8> = mac.split(':').map(|p| u8::from_str_radix(p, 16)).collect::<Result<_, _>>().ok()?;
    let [a, b1, c, d, e, g] = <[u8; 6]>::try_from(b).ok()?;
    let w = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Some(Ipv6Addr::new(0xfe80, 0, 0, 0, w(a ^ 2, b1), w(c, 0xff), w(0xfe, d), w(e, g)).to_string())
}

/// A MAC and an address (an IP or a CIDR) it may send from.
pub type Pair = (String, String);

/// The (MAC, address) pairs a port may send from, IPv4 and IPv6 apart, sorted and canonical:
/// its MAC with its fixed IPs, its allowed address pairs; IPv6 also its MAC's link-local
/// address.
pub fn pairs(p: &LocalPort, filter: &PortFilter) -> (Vec<Pair>, Vec<Pair>) {
    let mac = p.mac.to_ascii_lowercase();
    let mut all: BTreeSet<Pair> = filter.ips.iter().map(|ip| (mac.clone(), canon_addr(ip))).collect();
    all.extend(filter.pairs.iter().map(|a| (a.mac_address.to_ascii_lowercase(), canon_addr(&a.ip_address))));
    if let Some(lla) = link_local(&mac) {
        all.insert((mac, lla));
    }
    all.into_iter().partition(|(_, ip)| !ip.contains(':'))
}

type Fields = Vec<(&'static str, String)>;

/// Table 71 for a port with port security.
pub fn egress(cookie: u64, p: &LocalPort, filter: &PortFilter) -> Vec<Flow> {
    let reg = reg_port(p);
    let accept = format!("resubmit(,{})", tables::ACCEPT_OR_INGRESS);
    let dropped = format!("resubmit(,{})", tables::DROPPED);
    let ct = format!("ct(table={},zone={ZONE})", tables::RULES_EGRESS);
    let mut out = vec![];
    let mut add = |priority: u16, head: &str, mut fields: Fields, a: &str| {
        fields.push(reg.clone());
        out.push(flow(tables::BASE_EGRESS, priority, cookie, head, fields, a.to_string()));
    };
    let s = |v: &str| v.to_string();
    let (v4, v6) = pairs(p, filter);
    let macs: BTreeSet<&str> = v4.iter().chain(&v6).map(|(m, _)| m.as_str()).collect();
    for mac in macs {
        add(prio::BASE_ALLOW, "rarp", vec![("dl_src", s(mac))], &accept);
    }
    for (mac, ip) in &v4 {
        let arp = vec![("dl_src", mac.clone()), ("arp_sha", mac.clone()), ("arp_spa", ip.clone())];
        add(prio::BASE_ALLOW, "arp", arp, &accept);
        let dhcp =
            vec![("dl_src", mac.clone()), ("nw_src", ip.clone()), ("tp_src", s("68")), ("tp_dst", s("67"))];
        add(prio::DHCP_CLIENT, "udp", dhcp, &accept);
        add(prio::TO_CONNTRACK, "ip", vec![("dl_src", mac.clone()), ("nw_src", ip.clone())], &ct);
    }
    // DHCP discovery comes from 0.0.0.0, from the port's own MAC.
    let mac = p.mac.to_ascii_lowercase();
    let discover = vec![("dl_src", mac), ("nw_src", s("0.0.0.0")), ("tp_src", s("68")), ("tp_dst", s("67"))];
    add(prio::DHCP_CLIENT, "udp", discover, &accept);
    for (mac, ip) in &v6 {
        for t in ND_EGRESS {
            let nd = vec![("dl_src", mac.clone()), ("ipv6_src", ip.clone()), ("icmp_type", t.to_string())];
            add(prio::BASE_ALLOW, "icmp6", nd, &accept);
        }
        let na =
            vec![("dl_src", mac.clone()), ("icmp_type", ND_ADVERT.to_string()), ("nd_target", ip.clone())];
        add(prio::BASE_ALLOW, "icmp6", na, &accept);
        let dhcp = vec![
            ("dl_src", mac.clone()),
            ("ipv6_src", ip.clone()),
            ("tp_src", s("546")),
            ("tp_dst", s("547")),
        ];
        add(prio::DHCP_CLIENT, "udp6", dhcp, &accept);
        add(prio::TO_CONNTRACK, "ipv6", vec![("dl_src", mac.clone()), ("ipv6_src", ip.clone())], &ct);
    }
    add(prio::SERVER_SPOOF, "udp", vec![("tp_src", s("67"))], &dropped);
    add(prio::SERVER_SPOOF, "udp6", vec![("tp_src", s("547"))], &dropped);
    add(prio::SERVER_SPOOF, "icmp6", vec![("icmp_type", ROUTER_ADVERT.to_string())], &dropped);
    add(prio::EGRESS_OTHER, "", vec![], &dropped);
    out
}

/// Table 81 for a port with port security.
pub fn ingress(cookie: u64, p: &LocalPort) -> Vec<Flow> {
    let reg = reg_port(p);
    let output = format!("output:{}", p.ofport);
    let mut out = vec![];
    let mut add = |priority: u16, head: &str, mut fields: Fields, a: String| {
        fields.push(reg.clone());
        out.push(flow(tables::BASE_INGRESS, priority, cookie, head, fields, a));
    };
    add(prio::INGRESS_NEIGHBOUR, "arp", vec![], output.clone());
    for t in ND_INGRESS {
        add(prio::INGRESS_NEIGHBOUR, "icmp6", vec![("icmp_type", t.to_string())], output.clone());
    }
    let ports = |src: &str, dst: &str| vec![("tp_src", src.to_string()), ("tp_dst", dst.to_string())];
    add(prio::DHCP_REPLY, "udp", ports("67", "68"), output.clone());
    add(prio::DHCP_REPLY, "udp6", ports("547", "546"), output.clone());
    for eth in ["ip", "ipv6"] {
        let track = format!("ct(table={},zone={ZONE})", tables::RULES_INGRESS);
        add(prio::TRACK, eth, vec![("ct_state", ct::UNTRACKED.into())], track);
    }
    let rules = format!("resubmit(,{})", tables::RULES_INGRESS);
    add(prio::TRACKED, "", vec![("ct_state", ct::TRACKED.into())], rules);
    out
}

/// A port without port security: egress skips to 73, ingress outputs; a new connection that a
/// filtered port of this host opened to it (tracked in that port's egress) is committed here,
/// so its replies are established in the opener's ingress.
pub fn unfiltered(cookie: u64, p: &LocalPort) -> Vec<Flow> {
    let reg = reg_port(p);
    let output = format!("output:{}", p.ofport);
    let mut out = vec![
        flow(
            tables::BASE_EGRESS,
            prio::UNFILTERED,
            cookie,
            "",
            vec![reg.clone()],
            format!("resubmit(,{})", tables::ACCEPT_OR_INGRESS),
        ),
        flow(tables::BASE_INGRESS, prio::UNFILTERED, cookie, "", vec![reg.clone()], output.clone()),
    ];
    for eth in ["ip", "ipv6"] {
        out.push(flow(
            tables::BASE_INGRESS,
            prio::UNFILTERED_COMMIT,
            cookie,
            eth,
            vec![reg.clone(), ("ct_state", ct::NEW.into())],
            format!("ct(commit,zone={ZONE}),{output}"),
        ));
    }
    out
}
