//! The flows of a host, as a pure function of its desired state and its bridge layout,
//! following Neutron's Open vSwitch agent: `br-int` puts each VM port's traffic on its
//! network's host-local VLAN and switches within it; `br-<physnet>` translates local VLANs to
//! the segment's VLAN (or strips them for flat); `br-tun` maps tunnel ids to local VLANs and
//! floods only to the hosts that have ports on a network.
//!
//! The local VLAN of a VM port is set by OpenFlow (`in_port=P → mod_vlan_vid`), not by the
//! port's OVSDB `tag`: a tag change makes ovs-vswitchd reconfigure the whole bridge, which
//! costs tens of ms with a thousand ports, while a flow change costs the same at any size.
//! Switching is by flows too: unicast to a local port's MAC, and a per-network flood to the
//! uplinks (tunnel and physical patches, still tagged) and the local ports (untagged).

use std::collections::BTreeMap;

use neutrino_ovs::flow::Flow;
use neutrino_ovs::ofctl::canary_flow;

/// `br-int` tables (Neutron's `constants.py` numbering).
pub const INT_LOCAL_SWITCHING: u8 = 0;
pub const INT_TRANSIENT: u8 = 60;
/// Priority of the per-port ingress flows of table 0 (they carry the local VLAN; a restarted
/// agent reads the VLANs back from them).
pub const INT_PORT_INGRESS: u16 = 10;
/// Seconds a MAC learnt from an uplink stays without traffic.
pub const LEARN_IDLE_TIMEOUT: u16 = 300;

/// What `br-int` does with traffic from an uplink (tunnel or physical patch): learn where its
/// source MAC lives — a flow `dl_vlan,dl_dst=src → output:in_port` in table 60 (priority 2,
/// cookie 0: not ours to sweep, it times out) — then switch it. Without this, unicast to a
/// remote VM would be flooded to every local port of its network.
fn learn_then_switch() -> String {
    format!(
        "learn(table={INT_TRANSIENT},idle_timeout={LEARN_IDLE_TIMEOUT},priority=2,\
         NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,{INT_TRANSIENT})"
    )
}
/// `br-tun` tables.
pub const TUN_FROM_PATCH: u8 = 2;
pub const TUN_GRE_TO_LV: u8 = 3;
pub const TUN_VXLAN_TO_LV: u8 = 4;
pub const TUN_FLOOD: u8 = 22;

/// Where things are on this host's bridges (ofports assigned by ovs-vswitchd).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub cookie: u64,
    pub int_bridge: String,
    pub tun: Option<TunLayout>,
    /// Physical network → its bridge and patch ports.
    pub phys: BTreeMap<String, PhysLayout>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunLayout {
    pub bridge: String,
    /// `patch-int` on `br-tun`.
    pub patch_int: i64,
    /// `patch-tun` on `br-int`.
    pub int_patch: i64,
    /// Tunnel ports by (type, remote IP).
    pub ports: BTreeMap<(String, String), i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhysLayout {
    pub bridge: String,
    /// `int-br-<x>` on `br-int`.
    pub int_ofport: i64,
    /// `phy-br-<x>` on the physical bridge.
    pub phy_ofport: i64,
}

/// A network present on this host, with its local VLAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNet {
    pub id: String,
    pub network_type: String,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    pub local_vlan: u16,
    /// The network's wired ports on this host.
    pub ports: Vec<LocalPort>,
}

/// A VM (or service) port on `br-int`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalPort {
    pub ofport: i64,
    pub mac: String,
}

fn f(table: u8, priority: u16, cookie: u64, matches: impl Into<String>, actions: impl Into<String>) -> Flow {
    Flow::new(table, priority, cookie, &matches.into(), &actions.into())
}

/// All flows of all bridges of the host. `peers` gives, per tunnel network, the tunnel
/// endpoints of the other hosts that have ports on it.
pub fn generate(
    layout: &Layout,
    nets: &[LocalNet],
    peers: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<Flow>> {
    let c = layout.cookie;
    let mut out: BTreeMap<String, Vec<Flow>> = BTreeMap::new();
    let mut int = vec![
        f(INT_LOCAL_SWITCHING, 0, c, "", learn_then_switch()),
        f(INT_TRANSIENT, 0, c, "", "drop"),
        canary_flow(c),
    ];
    for n in nets {
        switching(&mut int, layout, n);
    }
    for (physnet, p) in &layout.phys {
        int.push(f(0, 2, c, format!("in_port={}", p.int_ofport), "drop"));
        let mut phys =
            vec![f(0, 0, c, "", "NORMAL"), f(0, 2, c, format!("in_port={}", p.phy_ofport), "drop")];
        for n in nets.iter().filter(|n| n.physical_network.as_deref() == Some(physnet)) {
            let lv = n.local_vlan;
            match (n.network_type.as_str(), n.segmentation_id) {
                ("vlan", Some(seg)) => {
                    int.push(f(
                        0,
                        3,
                        c,
                        format!("in_port={},dl_vlan={seg}", p.int_ofport),
                        format!("mod_vlan_vid:{lv},{}", learn_then_switch()),
                    ));
                    phys.push(f(
                        0,
                        4,
                        c,
                        format!("in_port={},dl_vlan={lv}", p.phy_ofport),
                        format!("mod_vlan_vid:{seg},NORMAL"),
                    ));
                }
                ("flat", _) => {
                    int.push(f(
                        0,
                        3,
                        c,
                        format!("in_port={},vlan_tci=0x0000/0x1fff", p.int_ofport),
                        format!("mod_vlan_vid:{lv},{}", learn_then_switch()),
                    ));
                    phys.push(f(
                        0,
                        4,
                        c,
                        format!("in_port={},dl_vlan={lv}", p.phy_ofport),
                        "strip_vlan,NORMAL",
                    ));
                }
                _ => {}
            }
        }
        out.insert(p.bridge.clone(), phys);
    }
    if let Some(t) = &layout.tun {
        let mut tun = vec![
            f(0, 0, c, "", "drop"),
            f(0, 1, c, format!("in_port={}", t.patch_int), format!("resubmit(,{TUN_FROM_PATCH})")),
            // Unicast is flooded too (to the hosts of the network only): no MAC learning table.
            f(TUN_FROM_PATCH, 0, c, "", format!("resubmit(,{TUN_FLOOD})")),
            f(TUN_GRE_TO_LV, 0, c, "", "drop"),
            f(TUN_VXLAN_TO_LV, 0, c, "", "drop"),
            f(TUN_FLOOD, 0, c, "", "drop"),
        ];
        for ((kind, _), ofport) in &t.ports {
            let table = if kind == "gre" { TUN_GRE_TO_LV } else { TUN_VXLAN_TO_LV };
            tun.push(f(0, 1, c, format!("in_port={ofport}"), format!("resubmit(,{table})")));
        }
        for n in nets.iter().filter(|n| matches!(n.network_type.as_str(), "vxlan" | "gre")) {
            let Some(seg) = n.segmentation_id else { continue };
            let table = if n.network_type == "gre" { TUN_GRE_TO_LV } else { TUN_VXLAN_TO_LV };
            tun.push(f(
                table,
                1,
                c,
                format!("tun_id={seg:#x}"),
                format!("mod_vlan_vid:{},output:{}", n.local_vlan, t.patch_int),
            ));
            // By ofport, once each: the flow depends on the set of peers, not on their order.
            let mut ofports: Vec<i64> = peers
                .get(&n.id)
                .into_iter()
                .flatten()
                .filter_map(|ip| t.ports.get(&(n.network_type.clone(), ip.clone())).copied())
                .collect();
            ofports.sort_unstable();
            ofports.dedup();
            let outs: Vec<String> = ofports.iter().map(|p| format!("output:{p}")).collect();
            if !outs.is_empty() {
                tun.push(f(
                    TUN_FLOOD,
                    1,
                    c,
                    format!("dl_vlan={}", n.local_vlan),
                    format!("strip_vlan,set_tunnel:{seg:#x},{}", outs.join(",")),
                ));
            }
        }
        out.insert(t.bridge.clone(), tun);
    }
    out.insert(layout.int_bridge.clone(), int);
    for flows in out.values_mut() {
        flows.sort_by(|a, b| {
            (a.table, std::cmp::Reverse(a.priority), &a.matches).cmp(&(
                b.table,
                std::cmp::Reverse(b.priority),
                &b.matches,
            ))
        });
    }
    out
}

/// `br-int` flows of one network: ingress per port (tagging), unicast per port, one flood.
fn switching(int: &mut Vec<Flow>, layout: &Layout, n: &LocalNet) {
    let (c, lv) = (layout.cookie, n.local_vlan);
    let mut ports = n.ports.clone();
    ports.sort();
    ports.dedup_by(|a, b| a.ofport == b.ofport);
    for p in &ports {
        int.extend(port_flows(c, lv, p));
    }
    let mut outs: Vec<String> = vec![];
    match (n.network_type.as_str(), &layout.tun, n.physical_network.as_ref().and_then(|p| layout.phys.get(p)))
    {
        ("vxlan" | "gre", Some(t), _) => outs.push(format!("output:{}", t.int_patch)),
        ("vlan" | "flat", _, Some(p)) => outs.push(format!("output:{}", p.int_ofport)),
        _ => {}
    }
    if !ports.is_empty() {
        outs.push("strip_vlan".into());
        outs.extend(ports.iter().map(|p| format!("output:{}", p.ofport)));
    }
    if !outs.is_empty() {
        int.push(f(INT_TRANSIENT, 1, c, format!("dl_vlan={lv}"), outs.join(",")));
    }
}

/// A port's two flows, written directly in `ovs-ofctl`'s canonical form: normalising
/// thousands of strings on every sync would make each sync cost more as ports accumulate.
/// (`per_port_flows_are_canonical` checks the form against the normaliser.) Local unicast
/// (priority 3) outranks MACs learnt from uplinks (priority 2).
fn port_flows(cookie: u64, lv: u16, p: &LocalPort) -> [Flow; 2] {
    [
        Flow {
            table: INT_LOCAL_SWITCHING,
            priority: INT_PORT_INGRESS,
            cookie,
            matches: format!("in_port={}", p.ofport),
            actions: format!("mod_vlan_vid:{lv},resubmit(,{INT_TRANSIENT})"),
        },
        Flow {
            table: INT_TRANSIENT,
            priority: 3,
            cookie,
            matches: format!("dl_dst={},dl_vlan={lv}", p.mac.to_ascii_lowercase()),
            actions: format!("strip_vlan,output:{}", p.ofport),
        },
    ]
}

/// Local VLANs found in installed ingress flows: ofport → VLAN (what a restarted agent keeps).
pub fn ingress_vlans(flows: &[Flow]) -> BTreeMap<i64, u16> {
    flows
        .iter()
        .filter(|fl| fl.table == INT_LOCAL_SWITCHING && fl.priority == INT_PORT_INGRESS)
        .filter_map(|fl| {
            let port = fl.matches.strip_prefix("in_port=")?.parse().ok()?;
            let vlan = fl.actions.strip_prefix("mod_vlan_vid:")?.split(',').next()?.parse().ok()?;
            Some((port, vlan))
        })
        .collect()
}

/// The tunnel ports the host needs: (type, remote IP) for every peer of a tunnel network.
pub fn wanted_tunnels(nets: &[LocalNet], peers: &BTreeMap<String, Vec<String>>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = nets
        .iter()
        .filter(|n| matches!(n.network_type.as_str(), "vxlan" | "gre"))
        .flat_map(|n| peers.get(&n.id).into_iter().flatten().map(|ip| (n.network_type.clone(), ip.clone())))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A tunnel port's name: `vxlan-ac1f0002` for 172.31.0.2 (at most 15 characters).
pub fn tunnel_port_name(kind: &str, ip: &str) -> String {
    let hex: String = match ip.parse::<std::net::Ipv4Addr>() {
        Ok(a) => a.octets().iter().map(|o| format!("{o:02x}")).collect(),
        Err(_) => ip.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))).to_string(),
    };
    let prefix = if kind == "gre" { "gre" } else { "vxlan" };
    let mut name = format!("{prefix}-{hex}");
    name.truncate(15);
    name
}

/// Flows as text, one per line, for snapshots and for operators.
pub fn render(flows: &BTreeMap<String, Vec<Flow>>) -> String {
    let mut s = String::new();
    for (bridge, list) in flows {
        s.push_str(&format!("# {bridge}\n"));
        for fl in list {
            s.push_str(&fl.to_add_line());
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let mut phys = BTreeMap::new();
        phys.insert(
            "physnet1".to_string(),
            PhysLayout { bridge: "br-eth1".into(), int_ofport: 2, phy_ofport: 1 },
        );
        let mut ports = BTreeMap::new();
        ports.insert(("vxlan".to_string(), "172.31.0.2".to_string()), 5);
        ports.insert(("vxlan".to_string(), "172.31.0.3".to_string()), 6);
        ports.insert(("gre".to_string(), "172.31.0.2".to_string()), 7);
        Layout {
            cookie: 0x4e54_0000_0000_0001,
            int_bridge: "br-int".into(),
            tun: Some(TunLayout { bridge: "br-tun".into(), patch_int: 1, int_patch: 1, ports }),
            phys,
        }
    }

    fn nets() -> Vec<LocalNet> {
        let n = |id: &str, t: &str, p: Option<&str>, seg: Option<i64>, lv: u16| LocalNet {
            id: id.into(),
            network_type: t.into(),
            physical_network: p.map(String::from),
            segmentation_id: seg,
            local_vlan: lv,
            ports: vec![LocalPort { ofport: 10 + i64::from(lv), mac: format!("fa:16:3e:00:00:{lv:02x}") }],
        };
        vec![
            n("net-vx", "vxlan", None, Some(100), 1),
            n("net-gre", "gre", None, Some(7), 2),
            n("net-vlan", "vlan", Some("physnet1"), Some(101), 3),
            n("net-flat", "flat", Some("physnet1"), None, 4),
            n("net-lonely", "vxlan", None, Some(200), 5),
        ]
    }

    fn peers() -> BTreeMap<String, Vec<String>> {
        let mut p = BTreeMap::new();
        p.insert("net-vx".to_string(), vec!["172.31.0.2".to_string(), "172.31.0.3".to_string()]);
        p.insert("net-gre".to_string(), vec!["172.31.0.2".to_string()]);
        p.insert("net-lonely".to_string(), vec![]);
        p
    }

    #[test]
    fn flows_of_a_host_with_every_segment_type() {
        insta::assert_snapshot!(render(&generate(&layout(), &nets(), &peers())));
    }

    #[test]
    fn flooding_goes_only_to_hosts_of_the_network() {
        let flows = generate(&layout(), &nets(), &peers());
        let flood: Vec<&Flow> =
            flows["br-tun"].iter().filter(|f| f.table == TUN_FLOOD && f.priority == 1).collect();
        assert_eq!(flood.len(), 2, "no flood flow for a network without peers");
        assert!(flood.iter().any(|f| f.actions.ends_with("output:5,output:6")));
        assert!(flood.iter().any(|f| f.actions.ends_with("output:7")));
        // The same peers in another order, or listed twice, give the same flows.
        let mut shuffled = peers();
        shuffled.insert("net-vx".into(), vec!["172.31.0.3".into(), "172.31.0.2".into(), "172.31.0.3".into()]);
        assert_eq!(generate(&layout(), &nets(), &shuffled), flows);
    }

    #[test]
    fn empty_host_has_only_base_flows_and_is_stable() {
        let a = generate(&layout(), &[], &BTreeMap::new());
        assert_eq!(a, generate(&layout(), &[], &BTreeMap::new()));
        assert!(a["br-tun"].iter().all(|f| !f.matches.contains("tun_id")));
    }

    #[test]
    fn per_port_flows_are_canonical() {
        let p = LocalPort { ofport: 42, mac: "FA:16:3E:0A:0B:0C".into() };
        for fl in port_flows(7, 9, &p) {
            assert_eq!(fl, Flow::new(fl.table, fl.priority, fl.cookie, &fl.matches, &fl.actions));
        }
    }

    #[test]
    fn local_vlans_are_read_back_from_ingress_flows() {
        let flows = generate(&layout(), &nets(), &peers());
        let vlans = ingress_vlans(&flows["br-int"]);
        assert_eq!(vlans.len(), 5);
        assert_eq!(vlans[&13], 3);
    }

    #[test]
    fn tunnel_ports_are_named_and_wanted_per_peer() {
        assert_eq!(tunnel_port_name("vxlan", "172.31.0.2"), "vxlan-ac1f0002");
        assert_eq!(tunnel_port_name("gre", "10.0.0.1"), "gre-0a000001");
        let w = wanted_tunnels(&nets(), &peers());
        assert_eq!(w.len(), 3);
    }
}
