//! The firewall's flows: their snapshot, packets followed through them by the interpreter
//! (anti-spoofing, rules, remote groups, the conntrack state machine, a removed rule cutting an
//! established connection), their growth with a remote group's members, and the deltas that
//! changes make.

use std::collections::BTreeMap;

use neutrino_model::internal::{AddressPairState, FirewallState, RuleState, SecurityGroupState};
use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::{Flow, diff};

use super::super::sim::{self, Ct, Packet};
use super::super::tables;
use super::super::*;
use super::{CT_MARK_INVALID, conj};

const TUN_PATCH: i64 = 1;
const LV: u16 = 1;
const DEFAULT: &str = "sg-default";
const SSH: &str = "sg-ssh";

fn layout() -> Layout {
    Layout {
        cookie: 0x4e54_0000_0000_0001,
        int_bridge: "br-int".into(),
        tun: Some(TunLayout {
            bridge: "br-tun".into(),
            patch_int: 1,
            int_patch: TUN_PATCH,
            ports: BTreeMap::new(),
        }),
        phys: BTreeMap::new(),
    }
}

fn mac(n: i64) -> String {
    format!("fa:16:3e:00:00:{n:02x}")
}

fn ip(n: i64) -> String {
    format!("10.0.0.{n}")
}

/// Port `n`: ofport `10 + n`, MAC and IP from `n`; `groups: None` is port security off.
fn port(n: i64, groups: Option<&[&str]>) -> LocalPort {
    LocalPort {
        ofport: 10 + n,
        mac: mac(n),
        id: format!("port-{n}"),
        filter: groups.map(|g| PortFilter {
            ips: vec![ip(n)],
            pairs: vec![],
            groups: g.iter().map(|s| s.to_string()).collect(),
        }),
    }
}

fn rule(id: &str, direction: &str, ethertype: &str) -> RuleState {
    RuleState {
        id: id.into(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: None,
    }
}

/// The default group (ingress from its members, all egress) and a group admitting TCP 22 from
/// 192.168.0.0/24 (and all egress).
fn groups() -> Vec<SecurityGroupState> {
    let from_members =
        |id: &str, eth: &str| RuleState { remote_group_id: Some(DEFAULT.into()), ..rule(id, "ingress", eth) };
    let ssh = RuleState {
        protocol: Some(6),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_ip_prefix: Some("192.168.0.0/24".into()),
        ..rule("r-ssh", "ingress", "IPv4")
    };
    vec![
        SecurityGroupState {
            id: DEFAULT.into(),
            stateful: true,
            rules: vec![
                rule("r-egress4", "egress", "IPv4"),
                rule("r-egress6", "egress", "IPv6"),
                from_members("r-in4", "IPv4"),
                from_members("r-in6", "IPv6"),
            ],
        },
        SecurityGroupState {
            id: SSH.into(),
            stateful: true,
            rules: vec![ssh, rule("r-ssh-egress", "egress", "IPv4")],
        },
    ]
}

fn firewall(members: usize) -> FirewallState {
    let mut m = vec![ip(1), ip(2)];
    m.extend((0..members.saturating_sub(2)).map(|i| format!("10.1.{}.{}", i / 250, i % 250 + 1)));
    m.sort();
    FirewallState { groups: groups(), members: BTreeMap::from([(DEFAULT.to_string(), m)]) }
}

/// a, b: default group; c: the SSH group; d: no port security; e: port security, no group.
fn ports() -> Vec<LocalPort> {
    vec![
        port(1, Some(&[DEFAULT])),
        port(2, Some(&[DEFAULT])),
        port(3, Some(&[SSH])),
        port(4, None),
        port(5, Some(&[])),
    ]
}

fn net(ports: Vec<LocalPort>) -> Vec<LocalNet> {
    vec![LocalNet {
        id: "net".into(),
        network_type: NetworkType::Vxlan,
        physical_network: None,
        segmentation_id: Some(100),
        local_vlan: LV,
        ports,
    }]
}

fn int(nets: &[LocalNet], fw: &FirewallState) -> sim::Bridge {
    let set = generate(&layout(), nets, &BTreeMap::new(), fw);
    let groups = set.groups().remove("br-int").unwrap_or_default();
    sim::Bridge { flows: set.flows_of("br-int"), groups }
}

/// An IPv4 packet from port `from` (or from the tunnel when `from` is 0) to `to`'s MAC.
fn ip_packet(from: i64, src: &str, to: i64, dst: &str, proto: u8, dport: u16) -> Packet {
    let mut p = Packet { in_port: 10 + from, dl_dst: mac(to), ..Default::default() };
    if from == 0 {
        p.in_port = TUN_PATCH;
        p.vlan = Some(LV);
    }
    let (proto, sport, dport) = (proto.to_string(), "40000".to_string(), dport.to_string());
    let src_mac = if from == 0 { "fa:16:3e:99:99:99".to_string() } else { mac(from) };
    p.with(&[
        ("dl_type", "0x0800"),
        ("dl_src", &src_mac),
        ("nw_src", src),
        ("nw_dst", dst),
        ("nw_proto", &proto),
        ("tp_src", &sport),
        ("tp_dst", &dport),
    ])
}

/// The reply to an IPv4 packet, from port `from`.
fn reply(to_packet: &Packet, from: i64, to_mac: &str) -> Packet {
    let g = |k: &str| to_packet.fields[k].clone();
    let p = Packet { in_port: 10 + from, dl_dst: to_mac.into(), ..Default::default() };
    p.with(&[
        ("dl_type", "0x0800"),
        ("dl_src", &mac(from)),
        ("nw_src", &g("nw_dst")),
        ("nw_dst", &g("nw_src")),
        ("nw_proto", &g("nw_proto")),
        ("tp_src", &g("tp_dst")),
        ("tp_dst", &g("tp_src")),
    ])
}

fn delivered(t: &sim::Trace, to: i64) -> bool {
    t.ports().contains(&(10 + to))
}

#[test]
fn flows_of_ports_with_and_without_port_security() {
    let set = generate(&layout(), &net(ports()), &BTreeMap::new(), &firewall(2));
    let fw: Vec<String> = set.bridges["br-int"]
        .iter()
        .filter(|o| matches!(o.flow.table, 71..=93))
        .map(|o| format!("{}  # {}", o.flow.to_add_line(), o.owner))
        .collect();
    insta::assert_snapshot!(fw.join("\n"));
}

#[test]
fn members_of_the_default_group_talk_and_nothing_else_reaches_them() {
    let fw = firewall(2);
    let int = int(&net(ports()), &fw);
    let mut ct = Ct::default();
    let ab = ip_packet(1, &ip(1), 2, &ip(2), 6, 80);
    let t = sim::run_ct(&int, ab.clone(), &mut ct);
    assert!(delivered(&t, 2), "a → b (same group): {t:?}");
    assert!(t.tables.contains(&tables::RULES_INGRESS), "through b's rules: {:?}", t.tables);
    let t = sim::run_ct(&int, reply(&ab, 2, &mac(1)), &mut ct);
    assert!(delivered(&t, 1), "b's reply reaches a: {t:?}");
    // c is not a member: it cannot reach a, while it reaches d (no port security), same path.
    let t = sim::run_ct(&int, ip_packet(3, &ip(3), 1, &ip(1), 6, 80), &mut ct);
    assert!(!delivered(&t, 1), "c → a admitted: {t:?}");
    let cd = ip_packet(3, &ip(3), 4, &ip(4), 6, 80);
    let t = sim::run_ct(&int, cd.clone(), &mut ct);
    assert!(delivered(&t, 4), "c → d: {t:?}");
    // d's reply is established in c's ingress (d committed it).
    assert!(delivered(&sim::run_ct(&int, reply(&cd, 4, &mac(3)), &mut ct), 3), "d's reply to c");
    // A new connection from d (no group admits it) does not reach a, nor e (no groups).
    assert!(!delivered(&sim::run_ct(&int, ip_packet(4, &ip(4), 1, &ip(1), 6, 81), &mut ct), 1));
    assert!(!delivered(&sim::run_ct(&int, ip_packet(4, &ip(4), 5, &ip(5), 6, 81), &mut ct), 5));
    // From the uplink: a member's address is admitted, another is not.
    let from_member = ip_packet(0, "10.1.0.1", 1, &ip(1), 6, 80);
    assert!(!delivered(&sim::run_ct(&int, from_member.clone(), &mut ct), 1), "10.1.0.1 is no member yet");
    let int3 = self::int(&net(ports()), &firewall(3));
    assert!(delivered(&sim::run_ct(&int3, from_member, &mut ct), 1), "10.1.0.1 is a member now");
}

#[test]
fn an_ingress_rule_from_a_cidr_admits_exactly_that() {
    let int = int(&net(ports()), &firewall(2));
    let mut ct = Ct::default();
    assert!(delivered(&sim::run_ct(&int, ip_packet(0, "192.168.0.5", 3, &ip(3), 6, 22), &mut ct), 3));
    assert!(!delivered(&sim::run_ct(&int, ip_packet(0, "192.168.0.5", 3, &ip(3), 6, 23), &mut ct), 3));
    assert!(!delivered(&sim::run_ct(&int, ip_packet(0, "192.168.1.5", 3, &ip(3), 6, 22), &mut ct), 3));
    assert!(!delivered(&sim::run_ct(&int, ip_packet(0, "192.168.0.5", 3, &ip(3), 17, 22), &mut ct), 3));
}

#[test]
fn removing_a_rule_cuts_an_established_connection() {
    let nets = net(ports());
    let mut ct = Ct::default();
    let syn = ip_packet(0, "192.168.0.5", 3, &ip(3), 6, 22);
    let int = int(&nets, &firewall(2));
    assert!(delivered(&sim::run_ct(&int, syn.clone(), &mut ct), 3));
    let answer = reply(&syn, 3, "fa:16:3e:99:99:99");
    assert!(sim::run_ct(&int, answer.clone(), &mut ct).ports().contains(&TUN_PATCH), "c answers");
    assert!(delivered(&sim::run_ct(&int, syn.clone(), &mut ct), 3), "established");
    // The rule goes: the next packet is dropped and marks the connection, which stays cut.
    let mut fw = firewall(2);
    fw.groups[1].rules.retain(|r| r.id != "r-ssh");
    let int = self::int(&nets, &fw);
    assert!(!delivered(&sim::run_ct(&int, syn.clone(), &mut ct), 3), "cut");
    assert!(ct.0.values().any(|(mark, _)| *mark == CT_MARK_INVALID), "marked: {ct:?}");
    assert!(!sim::run_ct(&int, answer, &mut ct).ports().contains(&TUN_PATCH), "c's answers are cut too");
}

#[test]
fn a_port_sends_only_from_its_own_addresses() {
    let mut ps = ports();
    if let Some(f) = ps[0].filter.as_mut() {
        f.pairs.push(AddressPairState { ip_address: "10.9.0.0/24".into(), mac_address: mac(1) });
    }
    let int = int(&net(ps), &firewall(2));
    // To d (no port security): only a's egress decides.
    let own = ip_packet(1, &ip(1), 4, &ip(4), 6, 80);
    assert!(delivered(&sim::run(&int, own.clone()), 4), "positive control");
    assert!(delivered(&sim::run(&int, own.clone().with(&[("nw_src", "10.9.0.7")])), 4), "an allowed pair");
    assert!(!delivered(&sim::run(&int, own.clone().with(&[("nw_src", ip(2).as_str())])), 4), "b's IP");
    assert!(
        !delivered(&sim::run(&int, own.clone().with(&[("dl_src", "fa:16:3e:00:00:77")])), 4),
        "another MAC"
    );
    let arp = |spa: &str, sha: &str| {
        Packet { in_port: 11, dl_dst: "ff:ff:ff:ff:ff:ff".into(), ..Default::default() }.with(&[
            ("dl_type", "0x0806"),
            ("dl_src", &mac(1)),
            ("arp_sha", sha),
            ("arp_spa", spa),
        ])
    };
    assert!(delivered(&sim::run(&int, arp(&ip(1), &mac(1))), 2), "its own ARP is flooded to b");
    assert!(sim::run(&int, arp(&ip(2), &mac(1))).outputs.is_empty(), "ARP for b's address");
    assert!(sim::run(&int, arp(&ip(1), &mac(2))).outputs.is_empty(), "ARP with b's MAC inside");
    // DHCP: requests pass, a VM answering as a server is dropped.
    let dhcp = |sport: &str, dport: &str, src: &str| {
        Packet { in_port: 11, dl_dst: "ff:ff:ff:ff:ff:ff".into(), ..Default::default() }.with(&[
            ("dl_type", "0x0800"),
            ("dl_src", &mac(1)),
            ("nw_src", src),
            ("nw_dst", "255.255.255.255"),
            ("nw_proto", "17"),
            ("tp_src", sport),
            ("tp_dst", dport),
        ])
    };
    assert!(sim::run(&int, dhcp("68", "67", "0.0.0.0")).ports().contains(&TUN_PATCH), "a DHCP discover");
    assert!(sim::run(&int, dhcp("67", "68", &ip(1))).outputs.is_empty(), "a DHCP offer from a VM");
}

#[test]
fn flows_grow_linearly_with_a_remote_groups_members_and_not_with_rules() {
    let count = |members: usize, extra_rules: u16| {
        let mut fw = firewall(members);
        for p in 1..=extra_rules {
            fw.groups[0].rules.push(RuleState {
                protocol: Some(6),
                port_range_min: Some(1000 + p),
                port_range_max: Some(1000 + p),
                remote_group_id: Some(DEFAULT.into()),
                ..rule(&format!("r-tcp-{p}"), "ingress", "IPv4")
            });
        }
        let nets = net(vec![port(1, Some(&[DEFAULT]))]);
        let set = generate(&layout(), &nets, &BTreeMap::new(), &fw);
        set.bridges["br-int"].len()
    };
    let (c10, c100, c1000) = (count(10, 0), count(100, 0), count(1000, 0));
    eprintln!(
        "flows on a host with one port of the default group: 10 members {c10}, 100 {c100}, 1000 {c1000}"
    );
    assert_eq!(c100 - c10, 2 * 90, "two flows per member (one per conntrack state)");
    assert_eq!(c1000 - c100, 2 * 900);
    // Ten more rules naming the group at one priority: their own flows only, not × members.
    // (Rules of another priority than the default group's add one more set of member flows.)
    let (r100, r1000) = (count(100, 10), count(1000, 10));
    assert_eq!(r1000 - r100, count(1000, 1) - count(100, 1), "members × rules would grow here");
    // Those rules' flows: per rule its two port-dimension flows, once the member flows of
    // their priority (2 per member) and the two accept flows of their conjunction.
    assert_eq!(r100 - c100, 10 * 2 + 2 * 100 + 2);
}

#[test]
fn changes_are_deltas_of_the_flows_they_touch() {
    let nets = net(ports());
    let flows = |fw: &FirewallState, nets: &[LocalNet]| {
        generate(&layout(), nets, &BTreeMap::new(), fw).flows_of("br-int")
    };
    let before = flows(&firewall(100), &nets);
    // One more member of a 100-member remote group: its two flows.
    let c = layout().cookie;
    let d = diff(&flows(&firewall(101), &nets), &before, c);
    assert_eq!((d.add.len(), d.delete.len()), (2, 0), "{d:?}");
    assert!(d.add.iter().all(|f| f.actions.starts_with("conjunction(")));
    // A rule removed: its flows only.
    let mut fw = firewall(100);
    fw.groups[1].rules.retain(|r| r.id != "r-ssh");
    let d = diff(&flows(&fw, &nets), &before, c);
    assert_eq!((d.add.len(), d.delete.len()), (0, 2), "{d:?}");
    // A port's address changed: its anti-spoofing flows, nothing of the others.
    let mut moved = ports();
    if let Some(f) = moved[2].filter.as_mut() {
        f.ips = vec!["10.0.0.33".into()];
    }
    let d = diff(&flows(&firewall(100), &net(moved)), &before, c);
    assert_eq!(d.add.len(), d.delete.len());
    assert!(
        d.add
            .iter()
            .chain(&d.delete)
            .all(|f| f.table == tables::BASE_EGRESS && f.matches.contains("reg5=0xd")),
        "{d:?}"
    );
    // Generating again, with the groups listed in another order, changes nothing.
    let mut shuffled = firewall(100);
    shuffled.groups.reverse();
    assert!(diff(&flows(&shuffled, &nets), &before, c).is_empty());
}

#[test]
fn conjunction_ids_follow_the_state_not_the_order_of_arrival() {
    let key = |g: &str| conj::ConjKey {
        group: g.into(),
        remote: DEFAULT.into(),
        direction: "ingress".into(),
        v6: false,
        offset: 0,
    };
    let a = conj::ConjIds::allocate([key("g1"), key("g2")].into());
    let b = conj::ConjIds::allocate([key("g2"), key("g1"), key("g3")].into());
    assert_eq!(a.id(&key("g1")), b.id(&key("g1")));
    assert_eq!(a.id(&key("g2")), b.id(&key("g2")));
    assert_ne!(a.id(&key("g1")), a.id(&key("g2")));
    assert!([a.id(&key("g1")), b.id(&key("g3"))].iter().all(|id| id % 2 == 0 && *id >= 2));
}

#[test]
fn every_firewall_flow_names_what_it_is_for() {
    let set = generate(&layout(), &net(ports()), &BTreeMap::new(), &firewall(2));
    let int = &set.bridges["br-int"];
    let for_rule =
        |r: &str| int.iter().filter(|o| matches!(&o.owner, Owner::Rule { rule, .. } if rule == r)).count();
    assert_eq!(for_rule("r-ssh"), 2, "its two conntrack states");
    assert_eq!(for_rule("r-in4"), 2 * (2 + 2), "per port (a, b): two port-dimension and two accept flows");
    let members = int
        .iter()
        .filter(|o| matches!(&o.owner, Owner::RemoteGroup { group, .. } if group == DEFAULT))
        .count();
    assert_eq!(members, 2 * 2, "two members, two conntrack states (IPv4 only)");
    assert!(int.iter().any(|o| o.owner == Owner::AntiSpoofing("port-1".into())));
    assert!(!int.iter().any(|o| o.owner == Owner::AntiSpoofing("port-4".into())), "d has no port security");
    for o in int.iter().filter(|o| matches!(o.flow.table, 71 | 72 | 81 | 82) && o.flow.priority > 0) {
        assert!(
            !matches!(o.owner, Owner::Pipeline | Owner::Port(_)) || o.flow.matches.contains("+inv"),
            "{}",
            o.flow
        );
    }
    let flow: &Flow = &int
        .iter()
        .find(|o| matches!(&o.owner, Owner::Rule { rule, .. } if rule == "r-ssh"))
        .expect("a flow")
        .flow;
    assert_eq!(
        set.owner("br-int", &flow.key()),
        Some(&Owner::Rule { rule: "r-ssh".into(), port: "port-3".into() })
    );
}

#[test]
fn firewall_flows_are_canonical() {
    let mut fw = firewall(5);
    fw.members
        .get_mut(DEFAULT)
        .expect("members")
        .extend(["fd00:0:0::0005".to_string(), "10.8.0.9/24".into()]);
    let extra = [
        RuleState {
            protocol: Some(17),
            port_range_min: Some(40),
            port_range_max: Some(105),
            ..rule("r-udp", "egress", "IPv4")
        },
        RuleState {
            protocol: Some(1),
            port_range_min: Some(8),
            port_range_max: Some(0),
            ..rule("r-icmp", "ingress", "IPv4")
        },
        RuleState { protocol: Some(58), port_range_min: Some(128), ..rule("r-icmp6", "ingress", "IPv6") },
        RuleState {
            protocol: Some(47),
            remote_ip_prefix: Some("10.1.0.0/16".into()),
            ..rule("r-gre", "ingress", "IPv4")
        },
        RuleState {
            protocol: Some(6),
            remote_ip_prefix: Some("fd00::/64".into()),
            ..rule("r-tcp6", "ingress", "IPv6")
        },
        RuleState {
            protocol: Some(6),
            port_range_min: Some(22),
            port_range_max: Some(22),
            remote_group_id: Some(DEFAULT.into()),
            ..rule("r-tcp-members", "ingress", "IPv6")
        },
    ];
    fw.groups[0].rules.extend(extra);
    let mut ps = ports();
    if let Some(f) = ps[0].filter.as_mut() {
        f.ips.push("FD00:0:0:0::1".into());
        f.pairs.push(AddressPairState {
            ip_address: "10.9.0.7/24".into(),
            mac_address: "FA:16:3E:00:00:AA".into(),
        });
        f.pairs.push(AddressPairState { ip_address: "10.9.1.1/32".into(), mac_address: mac(1) });
    }
    let set = generate(&layout(), &net(ps), &BTreeMap::new(), &fw);
    let mut n = 0;
    for o in set.bridges["br-int"].iter().filter(|o| matches!(o.flow.table, 71..=93)) {
        let fl = &o.flow;
        assert_eq!(*fl, Flow::new(fl.table, fl.priority, fl.cookie, &fl.matches, &fl.actions), "{}", o.owner);
        n += 1;
    }
    assert!(n > 200, "{n}");
}
