//! The table numbers, priorities and registers of the pipeline, named as Neutron's Open vSwitch
//! agent and its `openvswitch` firewall number them (neutron-lib `ovs_constants`, the firewall's
//! registers), and the stage name of each table for people (the shell's `dump`).

/// `br-int`: where every packet starts — a VM port's traffic is put on its network's local
/// VLAN, an uplink's traffic translated to it.
pub const LOCAL_SWITCHING: u8 = 0;
/// `br-int`: the canary table (a flow there that vanished means ovs-vswitchd restarted).
pub const CANARY: u8 = neutrino_ovs::ofctl::CANARY_TABLE;
/// `br-int`: dispatch — traffic from a local port goes to the egress firewall, traffic to a
/// local port's MAC to the ingress firewall, the rest to switching.
pub const TRANSIENT: u8 = 60;
/// `br-int`: egress firewall — base checks (anti-spoofing from the security group issue on).
pub const BASE_EGRESS: u8 = 71;
/// `br-int`: egress firewall — the security group rules.
pub const RULES_EGRESS: u8 = 72;
/// `br-int`: egress accepted — to a local port on the same network (its ingress firewall) or out.
pub const ACCEPT_OR_INGRESS: u8 = 73;
/// `br-int`: ingress firewall — base checks.
pub const BASE_INGRESS: u8 = 81;
/// `br-int`: ingress firewall — the security group rules; accepted traffic is output to the port.
pub const RULES_INGRESS: u8 = 82;
/// `br-int`: accepted egress (upstream's hook for a connection's first packet).
pub const ACCEPTED_EGRESS: u8 = 91;
/// `br-int`: accepted ingress hook (drops: accepted traffic was already output).
pub const ACCEPTED_INGRESS: u8 = 92;
/// `br-int`: dropped traffic hook.
pub const DROPPED: u8 = 93;
/// `br-int`: switching of accepted egress and of uplink traffic for no local port: MACs learnt
/// from uplinks, else the network's flood (upstream puts `NORMAL` here).
pub const SWITCHING: u8 = 94;

/// `br-tun`: traffic from `br-int` (`patch-int`): unicast or flood.
pub const PATCH_LV_TO_TUN: u8 = 2;
/// `br-tun`: GRE tunnel id → local VLAN.
pub const GRE_TUN_TO_LV: u8 = 3;
/// `br-tun`: VXLAN VNI → local VLAN.
pub const VXLAN_TUN_TO_LV: u8 = 4;
/// `br-tun`: learn which tunnel a source MAC came from, then hand the packet to `br-int`.
pub const LEARN_FROM_TUN: u8 = 10;
/// `br-tun`: unicast to the tunnel a MAC was learnt from, else flood.
pub const UCAST_TO_TUN: u8 = 20;
/// `br-tun`: flood a network's traffic to the hosts that have ports on it.
pub const FLOOD_TO_TUN: u8 = 22;

/// Register holding the OpenFlow port a packet is from (egress) or for (ingress).
pub const REG_PORT: &str = "NXM_NX_REG5[]";
/// Register holding the packet's local VLAN (the conntrack zone from the security group issue on).
pub const REG_NET: &str = "NXM_NX_REG6[]";

/// Priorities, highest first within a table.
pub mod priority {
    /// `br-int` 60: traffic from a local port.
    pub const FROM_PORT: u16 = 100;
    /// `br-int` 60 and 73: traffic to a local port's MAC.
    pub const TO_PORT: u16 = 90;
    /// `br-int` 0: a local port's traffic, tagged with its network's VLAN. A restarted agent
    /// reads the local VLANs back from these flows.
    pub const PORT_INGRESS: u16 = 10;
    /// `br-int` 0: an uplink's traffic of a known segment; physical bridges: a local VLAN out.
    pub const UPLINK_SEGMENT: u16 = 3;
    /// Physical bridges: a local VLAN out to the segment.
    pub const PHYS_SEGMENT: u16 = 4;
    /// `br-int` 0 and physical bridges: anything else from the patch between them.
    pub const UPLINK_OTHER: u16 = 2;
    /// `br-int` 94: a MAC learnt from an uplink (written by `learn`).
    pub const LEARNT: u16 = 2;
    /// `br-int` 94, `br-tun` 22: a network's flood; `br-tun` 0, 3, 4, 10, 20: per port or segment.
    pub const NETWORK: u16 = 1;
    /// Table defaults.
    pub const DEFAULT: u16 = 0;
}

/// What a `br-int` table is for, as the shell's `dump` names it.
pub fn int_stage(table: u8) -> Option<&'static str> {
    Some(match table {
        LOCAL_SWITCHING => "local-switching",
        CANARY => "canary",
        TRANSIENT => "transient",
        BASE_EGRESS => "base-egress",
        RULES_EGRESS => "rules-egress",
        ACCEPT_OR_INGRESS => "accept-or-ingress",
        BASE_INGRESS => "base-ingress",
        RULES_INGRESS => "rules-ingress",
        ACCEPTED_EGRESS => "accepted-egress",
        ACCEPTED_INGRESS => "accepted-ingress",
        DROPPED => "dropped",
        SWITCHING => "switching",
        _ => return None,
    })
}

/// What a `br-tun` table is for.
pub fn tun_stage(table: u8) -> Option<&'static str> {
    Some(match table {
        0 => "from-port",
        PATCH_LV_TO_TUN => "patch-lv-to-tun",
        GRE_TUN_TO_LV => "gre-tun-to-lv",
        VXLAN_TUN_TO_LV => "vxlan-tun-to-lv",
        LEARN_FROM_TUN => "learn-from-tun",
        UCAST_TO_TUN => "ucast-to-tun",
        FLOOD_TO_TUN => "flood-to-tun",
        _ => return None,
    })
}
