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
use super::super::{LocalPort, PortFilter, f};
use super::{ZONE, priority as prio};

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

/// The (MAC, address) pairs a port may send from, IPv4 and IPv6 apart, sorted: its MAC with
/// its fixed IPs, its allowed address pairs; IPv6 also its MAC's link-local address.
pub fn pairs(p: &LocalPort, filter: &PortFilter) -> (Vec<Pair>, Vec<Pair>) {
    let mac = p.mac.to_ascii_lowercase();
    let mut all: BTreeSet<(String, String)> = filter.ips.iter().map(|ip| (mac.clone(), ip.clone())).collect();
    all.extend(filter.pairs.iter().map(|a| (a.mac_address.to_ascii_lowercase(), a.ip_address.clone())));
    if let Some(lla) = link_local(&mac) {
        all.insert((mac, lla));
    }
    all.into_iter().partition(|(_, ip)| !ip.contains(':'))
}

/// Table 71 for a port with port security.
pub fn egress(cookie: u64, p: &LocalPort, filter: &PortFilter) -> Vec<Flow> {
    let reg = format!("reg5={:#x}", p.ofport);
    let to = |t: u8| format!("resubmit(,{t})");
    let accept = to(tables::ACCEPT_OR_INGRESS);
    let ct = format!("ct(table={},zone={ZONE})", tables::RULES_EGRESS);
    let mut out = vec![];
    let mut flow =
        |priority: u16, m: String, a: &str| out.push(f(tables::BASE_EGRESS, priority, cookie, m, a));
    let (v4, v6) = pairs(p, filter);
    let macs: BTreeSet<&str> = v4.iter().chain(&v6).map(|(m, _)| m.as_str()).collect();
    for mac in macs {
        flow(prio::BASE_ALLOW, format!("rarp,{reg},dl_src={mac}"), &accept);
    }
    for (mac, ip) in &v4 {
        let src = format!("{reg},dl_src={mac}");
        flow(prio::BASE_ALLOW, format!("arp,{src},arp_sha={mac},arp_spa={ip}"), &accept);
        flow(prio::DHCP_CLIENT, format!("udp,{src},nw_src={ip},tp_src=68,tp_dst=67"), &accept);
        flow(prio::TO_CONNTRACK, format!("ip,{src},nw_src={ip}"), &ct);
    }
    // DHCP discovery comes from 0.0.0.0, from the port's own MAC.
    flow(
        prio::DHCP_CLIENT,
        format!("udp,{reg},dl_src={},nw_src=0.0.0.0,tp_src=68,tp_dst=67", p.mac.to_ascii_lowercase()),
        &accept,
    );
    for (mac, ip) in &v6 {
        let src = format!("{reg},dl_src={mac}");
        for t in ND_EGRESS {
            flow(prio::BASE_ALLOW, format!("icmp6,{src},ipv6_src={ip},icmp_type={t}"), &accept);
        }
        flow(prio::BASE_ALLOW, format!("icmp6,{src},icmp_type={ND_ADVERT},nd_target={ip}"), &accept);
        flow(prio::DHCP_CLIENT, format!("udp6,{src},ipv6_src={ip},tp_src=546,tp_dst=547"), &accept);
        flow(prio::TO_CONNTRACK, format!("ipv6,{src},ipv6_src={ip}"), &ct);
    }
    let dropped = to(tables::DROPPED);
    flow(prio::SERVER_SPOOF, format!("udp,{reg},tp_src=67"), &dropped);
    flow(prio::SERVER_SPOOF, format!("udp6,{reg},tp_src=547"), &dropped);
    flow(prio::SERVER_SPOOF, format!("icmp6,{reg},icmp_type={ROUTER_ADVERT}"), &dropped);
    flow(prio::EGRESS_OTHER, reg.clone(), &dropped);
    out
}

/// Table 81 for a port with port security.
pub fn ingress(cookie: u64, p: &LocalPort) -> Vec<Flow> {
    let reg = format!("reg5={:#x}", p.ofport);
    let output = format!("output:{}", p.ofport);
    let mut out = vec![];
    let mut flow =
        |priority: u16, m: String, a: String| out.push(f(tables::BASE_INGRESS, priority, cookie, m, a));
    flow(prio::INGRESS_NEIGHBOUR, format!("arp,{reg}"), output.clone());
    for t in ND_INGRESS {
        flow(prio::INGRESS_NEIGHBOUR, format!("icmp6,{reg},icmp_type={t}"), output.clone());
    }
    flow(prio::DHCP_REPLY, format!("udp,{reg},tp_src=67,tp_dst=68"), output.clone());
    flow(prio::DHCP_REPLY, format!("udp6,{reg},tp_src=547,tp_dst=546"), output.clone());
    for eth in ["ip", "ipv6"] {
        flow(
            prio::TRACK,
            format!("{eth},{reg},ct_state=-trk"),
            format!("ct(table={},zone={ZONE})", tables::RULES_INGRESS),
        );
    }
    flow(prio::TRACKED, format!("{reg},ct_state=+trk"), format!("resubmit(,{})", tables::RULES_INGRESS));
    out
}

/// A port without port security: egress skips to 73, ingress outputs; a new connection that a
/// filtered port of this host opened to it (tracked in that port's egress) is committed here,
/// so its replies are established in the opener's ingress.
pub fn unfiltered(cookie: u64, p: &LocalPort) -> Vec<Flow> {
    let reg = format!("reg5={:#x}", p.ofport);
    let output = format!("output:{}", p.ofport);
    let mut out = vec![
        f(
            tables::BASE_EGRESS,
            prio::UNFILTERED,
            cookie,
            reg.clone(),
            format!("resubmit(,{})", tables::ACCEPT_OR_INGRESS),
        ),
        f(tables::BASE_INGRESS, prio::UNFILTERED, cookie, reg.clone(), output.clone()),
    ];
    for eth in ["ip", "ipv6"] {
        out.push(f(
            tables::BASE_INGRESS,
            prio::UNFILTERED_COMMIT,
            cookie,
            format!("{eth},{reg},ct_state=+new-est"),
            format!("ct(commit,zone={ZONE}),{output}"),
        ));
    }
    out
}
