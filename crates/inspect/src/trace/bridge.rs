//! One `ofproto/trace` of one host's bridge, read in the tenant's terms: the steps of the
//! firewall tables named by the rule or port their flow's cookie names, and where the packet
//! leaves Open vSwitch (a port, a tunnel, a physical network) or why it was dropped.

use neutrino_agent::flows::Owner;
use neutrino_agent::flows::tables as t;

use crate::cloud::Cloud;
use crate::parse::{Step, Trace, parse_trace};

use super::explain::{describe_rule, missing_rule, short};
use super::owners::Tags;
use super::packet::{Arrival, Packet};
use super::{Observation, TraceHost};

/// Where the packet leaves a host's Open vSwitch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Out of an interface wired for an API port.
    Port { port_id: String },
    /// Into a tunnel to `remote_ip` with this tunnel id, from `local_ip`.
    Tunnel { remote_ip: String, local_ip: String, vni: u64, kind: String },
    /// Out of a physical bridge's uplink, with the VLAN tag it carries.
    Physical { bridge: String, iface: String, vlan: Option<u16> },
}

/// What one bridge trace shows.
pub struct Crossing {
    pub observations: Vec<Observation>,
    pub exits: Vec<Exit>,
    /// Why nothing left, when nothing did.
    pub drop: Option<Observation>,
}

fn obs(host: &str, step: &Step, component: &str, action: &str, text: String) -> Observation {
    Observation {
        host: host.to_string(),
        component: component.into(),
        action: action.into(),
        text,
        bridge: Some(step.bridge.clone()),
        table: Some(step.table),
        flow: step.flow_id().map(|f| f.to_string()),
        ..Observation::default()
    }
}

fn actions_text(step: &Step) -> String {
    step.actions.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(",")
}

/// The number after `prefix` in an action such as `load:0x1->NXM_NX_TUN_ID[]` or
/// `set_field:0x1->tun_id`.
fn loaded(step: &Step, fields: &[&str]) -> Option<u64> {
    step.actions.iter().find_map(|a| {
        let text = a.text.trim();
        let body = text.strip_prefix("load:").or_else(|| text.strip_prefix("set_field:"))?;
        let (value, field) = body.split_once("->")?;
        fields.iter().any(|f| field.starts_with(f)).then(|| parse_num(value)).flatten()
    })
}

fn parse_num(v: &str) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// The OpenFlow ports a step outputs to (`output:N`, including inside group buckets).
fn outputs(step: &Step) -> Vec<i64> {
    step.actions
        .iter()
        .flat_map(|a| a.text.split(','))
        .filter_map(|a| a.trim().strip_prefix("output:")?.parse::<i64>().ok())
        .collect()
}

/// The VLAN the packet carries after a step, given the one before: `mod_vlan_vid:N`, or
/// `set_field:4196->vlan_vid` with the CFI bit, set it; `pop_vlan`/`strip_vlan` remove it.
fn vlan_after(step: &Step, before: Option<u16>) -> Option<u16> {
    step.actions.iter().fold(before, |vlan, a| {
        let text = a.text.trim();
        if text == "pop_vlan" || text == "strip_vlan" {
            return None;
        }
        if let Some(v) = text.strip_prefix("mod_vlan_vid:") {
            return v.parse().ok().or(vlan);
        }
        let set = text.strip_prefix("set_field:").and_then(|b| b.split_once("->"));
        match set {
            Some((value, "vlan_vid")) => parse_num(value).map(|n| (n & 0x0fff) as u16).or(vlan),
            _ => vlan,
        }
    })
}

/// Whether a step hands the packet to the bridge's `NORMAL` switching.
fn normal(step: &Step) -> bool {
    step.actions.iter().any(|a| a.text.trim() == "NORMAL")
}

/// Traces `packet` entering `bridge` of `host` at `in_port` and reads the result.
pub fn cross(
    cloud: &Cloud,
    tags: &Tags,
    host: &TraceHost<'_>,
    bridge: &str,
    in_port: i64,
    arrival: &Arrival,
    packet: &Packet,
    ct: &str,
) -> Result<Crossing, String> {
    let name = host.src.host();
    let flow = packet.microflow(in_port, arrival);
    let ct_next = vec![ct.to_string(); 4];
    let text = host.src.trace(bridge, &flow, &ct_next).map_err(|e| format!("{name}: {e}"))?;
    let trace = parse_trace(&text).map_err(|e| format!("{name}: ofproto/trace of {bridge}: {e}"))?;
    Ok(read(cloud, tags, host, &on_their_bridges(trace), packet))
}

/// Whether a step sends the packet through conntrack to be resumed in another table (the
/// `ct(table=…)` that freezes it for a recirculation).
fn freezes(step: &Step) -> bool {
    step.actions.iter().any(|a| a.text.trim_start().starts_with("ct(") && a.text.contains("table="))
}

/// The trace with each recirculated pass's steps on the bridge that froze the packet:
/// `ofproto/trace` heads every resumed pass with the bridge it was asked about
/// (`bridge("br-tun")`, then `thaw`), although the pass resumes where `ct(table=…)` ran — on
/// `br-int` for a packet that came in by a tunnel. Steps after a later bridge header (a patch
/// port crossed in the resumed pass) keep their own bridge.
fn on_their_bridges(mut trace: Trace) -> Trace {
    let frozen_on: Vec<(Vec<u32>, Option<String>)> = trace
        .sections
        .iter()
        .map(|s| (s.recircs(), s.steps.iter().rev().find(|st| freezes(st)).map(|st| st.bridge.clone())))
        .collect();
    let mut fixed: Vec<Option<String>> = vec![None; trace.sections.len()];
    for (i, section) in trace.sections.iter().enumerate() {
        let Some(id) = section.recirc.as_ref().and_then(|r| r.id) else { continue };
        let from = frozen_on[..i].iter().rposition(|(ids, _)| ids.contains(&id));
        // The bridge that froze it, itself corrected when that pass was a resumed one.
        fixed[i] = from.and_then(|j| {
            let b = frozen_on[j].1.clone()?;
            let header = trace.sections[j].steps.first().map(|s| s.bridge.clone());
            Some(match (&fixed[j], header) {
                (Some(fj), Some(h)) if h == b => fj.clone(),
                _ => b,
            })
        });
    }
    for (section, bridge) in trace.sections.iter_mut().zip(fixed) {
        let (Some(bridge), Some(header)) = (bridge, section.steps.first().map(|s| s.bridge.clone())) else {
            continue;
        };
        for step in section.steps.iter_mut().take_while(|s| s.bridge == header) {
            step.bridge = bridge.clone();
        }
    }
    trace
}

fn read(cloud: &Cloud, tags: &Tags, host: &TraceHost<'_>, trace: &Trace, packet: &Packet) -> Crossing {
    let name = host.src.host();
    let mut observations = vec![];
    let mut exits = vec![];
    let mut last_fw: Option<&Step> = None;
    let mut vlan = None;
    let mut vni = None;
    for step in trace.steps() {
        if step.no_match {
            continue;
        }
        vlan = vlan_after(step, vlan);
        vni = loaded(step, &["NXM_NX_TUN_ID", "tun_id"]).or(vni);
        let owner = tags.owner(step.cookie);
        let port_label = |id: &str| cloud.port(id).map(|p| p.label()).unwrap_or_else(|| short(id));
        let acts = actions_text(step);
        let sender = |id: &str| cloud.port(id).is_some_and(|p| p.mac_address == packet.src_mac);
        if matches!(step.table, t::BASE_EGRESS | t::RULES_EGRESS | t::BASE_INGRESS | t::RULES_INGRESS) {
            last_fw = Some(step);
        }
        match (step.table, &owner) {
            (t::BASE_EGRESS, Some(Owner::AntiSpoofing(p)))
                if !acts.contains("resubmit(,93)") && acts != "drop" =>
            {
                observations.push(obs(
                    name,
                    step,
                    "port",
                    "allowed",
                    format!(
                        "port {}: anti-spoofing ok ({} {})",
                        port_label(p),
                        packet.src_mac,
                        packet.src_ip
                    ),
                ));
            }
            // A flooded copy going back to the sender passes its own ingress rules, but Open
            // vSwitch never outputs it there ("skipping output to input port"): not a step.
            (t::RULES_INGRESS, Some(Owner::Rule { port, .. })) if sender(port) => {}
            (t::RULES_EGRESS | t::RULES_INGRESS, Some(Owner::Rule { rule, .. }))
                if !acts.starts_with("conjunction(") =>
            {
                let dir = if step.table == t::RULES_EGRESS { "egress" } else { "ingress" };
                let text = match cloud.rule(rule) {
                    Some((g, r)) => format!(
                        "security group {}: rule {} allows {dir} {}",
                        crate::cloud::label(&g.name, &g.id),
                        short(rule),
                        describe_rule(cloud, r)
                    ),
                    None => format!("rule {} allows {dir}", short(rule)),
                };
                let mut o = obs(name, step, "security-group", "allowed", text);
                o.rule = Some(rule.clone());
                observations.push(o);
            }
            (
                t::RULES_EGRESS | t::RULES_INGRESS | t::BASE_EGRESS | t::BASE_INGRESS,
                Some(Owner::Firewall(p)),
            ) if step.matches.contains("+est") && !acts.contains("resubmit(,93)") => {
                observations.push(obs(
                    name,
                    step,
                    "conntrack",
                    "allowed",
                    format!("port {}: established connection, allowed", port_label(p)),
                ));
            }
            (t::BASE_EGRESS | t::BASE_INGRESS, Some(Owner::Firewall(p))) if !acts.contains("ct(") => {
                observations.push(obs(
                    name,
                    step,
                    "port",
                    "allowed",
                    format!("port {}: port security off, not filtered", port_label(p)),
                ));
            }
            (t::ACCEPT_OR_INGRESS, _) | (t::RULES_INGRESS, _) if acts.contains("ct(commit") => {
                observations.push(obs(
                    name,
                    step,
                    "conntrack",
                    "allowed",
                    "conntrack: new connection committed".into(),
                ));
            }
            _ => {}
        }
        // A physical bridge switches by NORMAL towards its NIC (the agent's flows there end so).
        if normal(step) && step.bridge != "br-phy" {
            let uplinks =
                host.inventory.bridge(&step.bridge).map(|b| b.ifaces.as_slice()).unwrap_or_default();
            for iface in uplinks.iter().filter(|i| i.kind == "system") {
                let exit = Exit::Physical { bridge: step.bridge.clone(), iface: iface.name.clone(), vlan };
                if !exits.contains(&exit) {
                    exits.push(exit);
                }
            }
        }
        for ofport in outputs(step) {
            let Some(bridge) = host.inventory.bridge(&step.bridge) else { continue };
            let Some(iface) = bridge.by_ofport(ofport) else { continue };
            let exit = if let Some(id) = iface.iface_id() {
                // Open vSwitch skips the output back to the port a packet came in by.
                if sender(id) {
                    continue;
                }
                Exit::Port { port_id: id.to_string() }
            } else if let Some(remote) = iface.remote_ip() {
                Exit::Tunnel {
                    remote_ip: remote.to_string(),
                    local_ip: iface.options.get("local_ip").cloned().unwrap_or_default(),
                    vni: vni.unwrap_or(0),
                    kind: iface.kind.clone(),
                }
            } else if iface.kind == "system" && step.bridge != "br-phy" {
                Exit::Physical { bridge: step.bridge.clone(), iface: iface.name.clone(), vlan }
            } else {
                continue;
            };
            if !exits.contains(&exit) {
                exits.push(exit);
            }
        }
    }
    let drop = exits.is_empty().then(|| drop_reason(cloud, tags, name, trace, last_fw, packet));
    Crossing { observations, exits, drop }
}

/// The step that dropped the packet, in words.
fn drop_reason(
    cloud: &Cloud,
    tags: &Tags,
    host: &str,
    trace: &Trace,
    last_fw: Option<&Step>,
    packet: &Packet,
) -> Observation {
    let last = trace.last_step();
    let Some(step) = last_fw.or(last) else {
        return Observation {
            host: host.into(),
            component: "switching".into(),
            action: "dropped".into(),
            text: "dropped: no flow matched".into(),
            ..Observation::default()
        };
    };
    let port_of = |id: &str| cloud.port(id);
    match (step.table, tags.owner(step.cookie)) {
        (t::BASE_EGRESS, Some(Owner::AntiSpoofing(p))) | (t::BASE_EGRESS, Some(Owner::Firewall(p))) => {
            let label = port_of(&p).map(|p| p.label()).unwrap_or_else(|| short(&p));
            obs(
                host,
                step,
                "port",
                "dropped",
                format!(
                    "port {label}: anti-spoofing dropped it: {} {} is not the port's address",
                    packet.src_mac, packet.src_ip
                ),
            )
        }
        (t::RULES_EGRESS | t::BASE_EGRESS, _) => {
            let src = cloud.ports.iter().find(|p| p.mac_address == packet.src_mac);
            firewall_drop(cloud, host, step, src, "egress", packet)
        }
        (t::RULES_INGRESS | t::BASE_INGRESS, _) => {
            let dst = cloud
                .ports
                .iter()
                .find(|p| p.mac_address == packet.dst_mac || p.ips().any(|i| i == packet.dst_ip));
            firewall_drop(cloud, host, step, dst, "ingress", packet)
        }
        _ => {
            let stage = t::int_stage(step.table).or_else(|| t::tun_stage(step.table)).unwrap_or("");
            obs(
                host,
                step,
                "switching",
                "dropped",
                format!(
                    "dropped on {} in table {} {stage}: no port of its network has {}",
                    step.bridge, step.table, packet.dst_mac
                ),
            )
        }
    }
}

fn firewall_drop(
    cloud: &Cloud,
    host: &str,
    step: &Step,
    port: Option<&crate::cloud::Port>,
    direction: &str,
    packet: &Packet,
) -> Observation {
    let Some(port) = port else {
        return obs(host, step, "security-group", "dropped", format!("dropped by the {direction} firewall"));
    };
    let (text, nearest) = missing_rule(cloud, port, direction, packet);
    let mut o = obs(host, step, "security-group", "dropped", text);
    o.rule = nearest;
    o
}
