//! The fixed inputs of the views' snapshot tests: a cloud of two networks (`blue`, VXLAN;
//! `red`, VLAN on physnet1), two security groups and four ports (`fixtures/views/cloud.json`),
//! and the flows the agent's own generator gives host `compute-1` for it, written as
//! `ovs-ofctl dump-flows` text with made-up counters (a seed picks them).

#![allow(dead_code, reason = "each test file uses part of it")]
#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::collections::BTreeMap;

use neutrino_agent::flows::{self, Layout, LocalNet, LocalPort, PhysLayout, PortFilter, TunLayout};
use neutrino_inspect::cloud::Cloud;
use neutrino_inspect::parse::flows::{DumpedFlow, parse_dump};
use neutrino_model::internal::{FirewallState, RuleState, SecurityGroupState};
use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::Flow;

pub const CLOUD: &str = include_str!("../fixtures/views/cloud.json");
pub const HOST: &str = "compute-1";
pub const AGENT_COOKIE: u64 = 0x4e54_a1b2_0000_0000;

/// `br-int`'s OpenFlow ports on compute-1: the patches, then the local ports in cloud order.
pub const INT_PORTS: [(i64, &str); 5] = [
    (1, "patch-tun"),
    (2, "int-br-eth1"),
    (3, "tap1234abcd-00"),
    (4, "tap9abc0123-00"),
    (5, "tapdef01234-00"),
];
pub const TUN_PORTS: [(i64, &str); 2] = [(1, "patch-int"), (2, "vxlan-ac1f0002")];

pub fn cloud() -> Cloud {
    Cloud::from_json(CLOUD).expect("the fixture cloud")
}

pub fn int_names() -> BTreeMap<i64, String> {
    INT_PORTS.iter().map(|(p, n)| (*p, n.to_string())).collect()
}

pub fn tun_names() -> BTreeMap<i64, String> {
    TUN_PORTS.iter().map(|(p, n)| (*p, n.to_string())).collect()
}

fn layout(cookie: u64) -> Layout {
    Layout {
        cookie,
        int_bridge: "br-int".into(),
        tun: Some(TunLayout {
            bridge: "br-tun".into(),
            patch_int: 1,
            int_patch: 1,
            ports: BTreeMap::from([((NetworkType::Vxlan, "172.31.0.2".to_string()), 2)]),
        }),
        phys: BTreeMap::from([(
            "physnet1".to_string(),
            PhysLayout { bridge: "br-eth1".into(), int_ofport: 2, phy_ofport: 1 },
        )]),
    }
}

fn protocol(p: Option<&str>, v6: bool) -> Option<u8> {
    match p? {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(if v6 { 58 } else { 1 }),
        n => n.parse().ok(),
    }
}

/// The firewall state the server gives compute-1: the groups of its ports with port security,
/// and the members of the remote groups their rules name.
pub fn firewall(c: &Cloud) -> FirewallState {
    let mut groups = vec![];
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for g in &c.security_groups {
        let used =
            c.ports.iter().any(|p| p.host.as_deref() == Some(HOST) && p.security_groups.contains(&g.id));
        if !used {
            continue;
        }
        let mut rules: Vec<RuleState> = g
            .security_group_rules
            .iter()
            .map(|r| RuleState {
                id: r.id.clone(),
                direction: r.direction.clone(),
                ethertype: r.ethertype.clone(),
                protocol: protocol(r.protocol.as_deref(), r.ethertype == "IPv6"),
                port_range_min: r.port_range_min.and_then(|v| u16::try_from(v).ok()),
                port_range_max: r.port_range_max.and_then(|v| u16::try_from(v).ok()),
                remote_ip_prefix: r.remote_ip_prefix.clone(),
                remote_group_id: r.remote_group_id.clone(),
            })
            .collect();
        rules.sort();
        for remote in rules.iter().filter_map(|r| r.remote_group_id.clone()) {
            let mut m: Vec<String> = c
                .ports
                .iter()
                .filter(|p| p.security_groups.contains(&remote))
                .flat_map(|p| p.ips().map(str::to_string).collect::<Vec<_>>())
                .collect();
            m.sort();
            members.insert(remote, m);
        }
        groups.push(SecurityGroupState { id: g.id.clone(), stateful: true, rules });
    }
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    FirewallState { groups, members }
}

/// compute-1's networks with their local VLANs (blue 1, red 2) and ports (ofports of
/// [`INT_PORTS`]).
pub fn nets(c: &Cloud) -> Vec<LocalNet> {
    let ofport = |id: &str| -> i64 {
        let n = INT_PORTS.iter().find(|(_, name)| name[3..].starts_with(&id[..8])).map(|(p, _)| *p);
        n.expect("an ofport")
    };
    c.networks
        .iter()
        .zip(1u16..)
        .map(|(n, lv)| LocalNet {
            id: n.id.clone(),
            network_type: match n.network_type.as_deref() {
                Some("vlan") => NetworkType::Vlan,
                _ => NetworkType::Vxlan,
            },
            physical_network: n.physical_network.clone(),
            segmentation_id: n.segmentation_id,
            local_vlan: lv,
            ports: c
                .ports
                .iter()
                .filter(|p| p.network_id == n.id && p.host.as_deref() == Some(HOST))
                .map(|p| LocalPort {
                    ofport: ofport(&p.id),
                    mac: p.mac_address.clone(),
                    id: p.id.clone(),
                    filter: (p.port_security_enabled != Some(false)).then(|| PortFilter {
                        ips: p.ips().map(str::to_string).collect(),
                        pairs: vec![],
                        groups: p.security_groups.clone(),
                    }),
                })
                .collect(),
        })
        .collect()
}

/// The agent's flows for the cloud, per bridge.
pub fn generated(c: &Cloud, cookie: u64) -> BTreeMap<String, Vec<Flow>> {
    let nets = nets(c);
    let peers = BTreeMap::from([(nets[0].id.clone(), vec!["172.31.0.2".to_string()])]);
    flows::generate(&layout(cookie), &nets, &peers, &firewall(c)).into_flows()
}

/// Made-up counters of a flow for a seed: about a third of the flows saw no packet.
fn counters(flow: &Flow, seed: u64) -> (u64, u64, u64) {
    let h = (flow.id().0 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    let packets = if h.is_multiple_of(3) { 0 } else { h % 1000 };
    (packets, packets * 98, h % 600)
}

/// Flows as `ovs-ofctl dump-flows` prints them (NXST header, one line per flow with its
/// statistics), then `extra` lines as given.
pub fn dump_text(flows: &[Flow], seed: u64, extra: &[&str]) -> String {
    let mut out = String::from("NXST_FLOW reply (xid=0x4):\n");
    for f in flows {
        let (packets, bytes, age) = counters(f, seed);
        let matches = if f.matches.is_empty() { String::new() } else { format!(",{}", f.matches) };
        out.push_str(&format!(
            " cookie={:#x}, duration={}.{:03}s, table={}, n_packets={packets}, n_bytes={bytes}, idle_age={age}, priority={}{matches} actions={}\n",
            f.cookie,
            600 + seed,
            age,
            f.table,
            f.priority,
            f.actions
        ));
    }
    for l in extra {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// A MAC learnt on `br-int` from the tunnel (web-2's, on compute-2).
pub const INT_LEARNT: &str = " cookie=0x0, duration=12.500s, table=94, n_packets=7, n_bytes=686, idle_timeout=300, idle_age=3, priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:01:06 actions=output:1";
/// The same MAC learnt on `br-tun`.
pub const TUN_LEARNT: &str = " cookie=0x0, duration=12.500s, table=20, n_packets=7, n_bytes=686, hard_timeout=300, idle_age=3, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:00:01:06 actions=load:0->NXM_OF_VLAN_TCI[],load:0x413->NXM_NX_TUN_ID[],output:2";

/// A bridge's parsed dump for the cloud, with counters of `seed`, and its learnt flow.
pub fn dumped(c: &Cloud, bridge: &str, seed: u64, cookie: u64) -> Vec<DumpedFlow> {
    let all = generated(c, cookie);
    let learnt = if bridge == "br-int" { INT_LEARNT } else { TUN_LEARNT };
    let text = dump_text(all.get(bridge).map(Vec::as_slice).unwrap_or_default(), seed, &[learnt]);
    parse_dump(&text).expect("the generated dump parses")
}
