//! `br-tun`, as Neutron's Open vSwitch agent lays it out: traffic from `br-int` goes to the
//! tunnel its destination MAC was learnt from (table 20) or is flooded to the hosts that have
//! ports on its network (22); traffic from a tunnel is mapped from its tunnel id to the local
//! VLAN (3 for GRE, 4 for VXLAN), its source MAC learnt (10) and handed to `br-int`. Also the
//! names of tunnel ports and which ones a host needs.

use std::collections::BTreeMap;

use neutrino_model::network_type::NetworkType;
use neutrino_ovs::flow::Flow;

use super::tables::{self, priority as prio};
use super::{LocalNet, TunLayout, f};

/// Seconds a MAC learnt from a tunnel is kept (upstream's `hard_timeout`).
pub const LEARN_HARD_TIMEOUT: u16 = 300;

fn to_lv_table(kind: NetworkType) -> u8 {
    if kind == NetworkType::Gre { tables::GRE_TUN_TO_LV } else { tables::VXLAN_TUN_TO_LV }
}

/// The bridge's own flows.
pub fn base(cookie: u64, t: &TunLayout) -> Vec<Flow> {
    let c = cookie;
    let learn = format!(
        "learn(table={},hard_timeout={LEARN_HARD_TIMEOUT},priority={},NXM_OF_VLAN_TCI[0..11],\
         NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],\
         output:NXM_OF_IN_PORT[]),output:{}",
        tables::UCAST_TO_TUN,
        prio::NETWORK,
        t.patch_int
    );
    vec![
        f(0, prio::DEFAULT, c, "", "drop"),
        f(
            0,
            prio::NETWORK,
            c,
            format!("in_port={}", t.patch_int),
            format!("resubmit(,{})", tables::PATCH_LV_TO_TUN),
        ),
        f(
            tables::PATCH_LV_TO_TUN,
            prio::DEFAULT,
            c,
            "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00",
            format!("resubmit(,{})", tables::UCAST_TO_TUN),
        ),
        f(
            tables::PATCH_LV_TO_TUN,
            prio::DEFAULT,
            c,
            "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
            format!("resubmit(,{})", tables::FLOOD_TO_TUN),
        ),
        f(tables::GRE_TUN_TO_LV, prio::DEFAULT, c, "", "drop"),
        f(tables::VXLAN_TUN_TO_LV, prio::DEFAULT, c, "", "drop"),
        f(tables::LEARN_FROM_TUN, prio::NETWORK, c, "", learn),
        f(tables::UCAST_TO_TUN, prio::DEFAULT, c, "", format!("resubmit(,{})", tables::FLOOD_TO_TUN)),
        f(tables::FLOOD_TO_TUN, prio::DEFAULT, c, "", "drop"),
    ]
}

/// A tunnel port's entry: its traffic goes to the tunnel-id table of its type.
pub fn port(cookie: u64, kind: NetworkType, ofport: i64) -> Flow {
    f(0, prio::NETWORK, cookie, format!("in_port={ofport}"), format!("resubmit(,{})", to_lv_table(kind)))
}

/// A tunnel network's flows: its tunnel id to its local VLAN, and its flood to the tunnels of
/// the hosts in `peers` (none when it has no peer).
pub fn segment(cookie: u64, t: &TunLayout, n: &LocalNet, peers: &[String]) -> Vec<Flow> {
    let Some(seg) = n.segmentation_id.filter(|_| n.network_type.is_tunnel()) else { return vec![] };
    let mut out = vec![f(
        to_lv_table(n.network_type),
        prio::NETWORK,
        cookie,
        format!("tun_id={seg:#x}"),
        format!("mod_vlan_vid:{},resubmit(,{})", n.local_vlan, tables::LEARN_FROM_TUN),
    )];
    // By ofport, once each: the flow depends on the set of peers, not on their order.
    let mut ofports: Vec<i64> =
        peers.iter().filter_map(|ip| t.ports.get(&(n.network_type, ip.clone())).copied()).collect();
    ofports.sort_unstable();
    ofports.dedup();
    if !ofports.is_empty() {
        let outs: Vec<String> = ofports.iter().map(|p| format!("output:{p}")).collect();
        out.push(f(
            tables::FLOOD_TO_TUN,
            prio::NETWORK,
            cookie,
            format!("dl_vlan={}", n.local_vlan),
            format!("strip_vlan,set_tunnel:{seg:#x},{}", outs.join(",")),
        ));
    }
    out
}

/// The tunnel ports the host needs: (type, remote IP) for every peer of a tunnel network.
pub fn wanted(nets: &[LocalNet], peers: &BTreeMap<String, Vec<String>>) -> Vec<(NetworkType, String)> {
    let mut out: Vec<(NetworkType, String)> = nets
        .iter()
        .filter(|n| n.network_type.is_tunnel())
        .flat_map(|n| peers.get(&n.id).into_iter().flatten().map(|ip| (n.network_type, ip.clone())))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A tunnel port's name: `vxlan-ac1f0002` for 172.31.0.2 (at most 15 characters).
pub fn port_name(kind: NetworkType, ip: &str) -> String {
    let hex: String = match ip.parse::<std::net::Ipv4Addr>() {
        Ok(a) => a.octets().iter().map(|o| format!("{o:02x}")).collect(),
        Err(_) => ip.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))).to_string(),
    };
    let mut name = format!("{}-{hex}", kind.as_str());
    name.truncate(15);
    name
}
