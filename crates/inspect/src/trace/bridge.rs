//! One `ofproto/trace` of one host's bridge, read in the tenant's terms: the steps of the
//! firewall tables named by the rule or port their flow's cookie names, and where the packet
//! leaves Open vSwitch (a port, a tunnel, a physical network) or why it was dropped.

use neutrino_agent::flows::Owner;
use neutrino_agent::flows::tables as t;

use crate::cloud::Cloud;
use crate::parse::{Step, Trace, parse_trace};
use crate::views::switch::IfaceKind;

use super::explain::{describe_rule, missing_rule, short};
use super::packet::{Arrival, Packet};
use super::{Observation, TraceHost};
use crate::owners::Owners;

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

fn obs(
    host: &str,
    (bridge, step): (&str, &Step),
    component: &str,
    action: &str,
    text: String,
) -> Observation {
    Observation {
        host: host.to_string(),
        component: component.into(),
        action: action.into(),
        text,
        bridge: Some(bridge.to_string()),
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

/// What an action does to the packet's VLAN tag: `Some(None)` removes it (`pop_vlan`,
/// `strip_vlan`), `Some(Some(n))` sets it (`mod_vlan_vid:N`, or `set_field:4096+N->vlan_vid` as
/// OpenFlow 1.3+ prints it, with the CFI bit), `None` leaves it.
fn vlan_change(action: &str) -> Option<Option<u16>> {
    let text = action.trim();
    if text == "pop_vlan" || text == "strip_vlan" {
        return Some(None);
    }
    if let Some(v) = text.strip_prefix("mod_vlan_vid:") {
        return v.parse().ok().map(Some);
    }
    let (value, field) = text.strip_prefix("set_field:")?.split_once("->")?;
    (field == "vlan_vid")
        .then(|| parse_num(value).and_then(|n| u16::try_from(n & 0x0fff).ok()).map(Some))
        .flatten()
}

/// The VLAN a step puts on the packet.
fn pushed_vlan(step: &Step) -> Option<u16> {
    step.actions.iter().find_map(|a| vlan_change(&a.text).flatten())
}

/// A physical bridge's `NORMAL` for a packet from its patch to `br-int` sends it out of the
/// bridge's uplink (its `system` interface), with the VLAN that bridge's flow left on it.
fn normal_out(host: &TraceHost<'_>, bridge_name: &str, step: &Step) -> Option<Exit> {
    if !step.actions.iter().any(|a| a.text.trim() == "NORMAL") || bridge_name == "br-phy" {
        return None;
    }
    let bridge = host.switch.bridge(bridge_name)?;
    let from_patch = step.matches.split(',').any(|m| {
        m.strip_prefix("in_port=")
            .and_then(|p| p.parse::<i64>().ok())
            .and_then(|p| bridge.by_ofport(p))
            .is_some_and(|i| matches!(i.kind, IfaceKind::Patch { .. }))
    });
    let uplink = bridge.uplink()?;
    if !from_patch {
        return None;
    }
    let mut vlan = step.matches.split(',').find_map(|m| m.strip_prefix("dl_vlan=")?.parse::<u16>().ok());
    for change in step.actions.iter().filter_map(|a| vlan_change(&a.text)) {
        vlan = change;
    }
    Some(Exit::Physical { bridge: bridge_name.to_string(), iface: uplink.name.clone(), vlan })
}

/// Every step with the bridge it really ran on. A pass resumed after conntrack
/// (`recirc(…)`) is printed under the bridge the trace was started on, whatever bridge forked it;
/// its leading steps ran on the bridge of the `ct(table=…)` that forked it.
fn effective_steps(trace: &Trace) -> Vec<(String, &Step)> {
    let mut out = vec![];
    let mut forked_on: Option<String> = None;
    for section in &trace.sections {
        let header = section.steps.first().map(|s| s.bridge.clone());
        let mut leading = section.recirc.is_some() && forked_on.is_some();
        let mut next_fork = None;
        for step in &section.steps {
            if Some(&step.bridge) != header.as_ref() {
                leading = false;
            }
            let bridge = match (leading, &forked_on) {
                (true, Some(b)) => b.clone(),
                _ => step.bridge.clone(),
            };
            if step
                .actions
                .iter()
                .any(|a| a.text.trim_start().starts_with("ct(") && a.text.contains("table="))
            {
                next_fork = Some(bridge.clone());
            }
            out.push((bridge, step));
        }
        if next_fork.is_some() {
            forked_on = next_fork;
        }
    }
    out
}

/// Where a packet enters a host's switch: the bridge, the OpenFlow port and what came with it.
pub struct Entry<'e> {
    pub bridge: &'e str,
    pub in_port: i64,
    pub arrival: &'e Arrival,
}

/// Traces `packet` entering `host`'s switch at `at`, conntrack answering `ct`, and reads the
/// result.
pub fn cross(
    cloud: &Cloud,
    tags: &Owners<'_>,
    host: &TraceHost<'_>,
    at: Entry<'_>,
    packet: &Packet,
    ct: &str,
) -> Result<Crossing, String> {
    let Entry { bridge, in_port, arrival } = at;
    let name = host.src.host();
    let flow = packet.microflow(in_port, arrival);
    let ct_next = vec![ct.to_string(); 4];
    let text = host.src.trace(bridge, &flow, &ct_next).map_err(|e| format!("{name}: {e}"))?;
    let trace = parse_trace(&text).map_err(|e| format!("{name}: ofproto/trace of {bridge}: {e}"))?;
    Ok(read(cloud, tags, host, &trace, packet))
}

fn read(cloud: &Cloud, tags: &Owners<'_>, host: &TraceHost<'_>, trace: &Trace, packet: &Packet) -> Crossing {
    let name = host.src.host();
    let mut observations = vec![];
    let mut exits = vec![];
    let mut last_fw: Option<(String, &Step)> = None;
    let mut vlan = None;
    let mut vni = None;
    for (bridge_name, step) in effective_steps(trace) {
        if step.no_match {
            continue;
        }
        vlan = pushed_vlan(step).or(vlan);
        vni = loaded(step, &["NXM_NX_TUN_ID", "tun_id"]).or(vni);
        let owner = tags.of_cookie(step.cookie).cloned();
        let port_label = |id: &str| cloud.port(id).map(|p| p.label()).unwrap_or_else(|| short(id));
        let acts = actions_text(step);
        let sender = |id: &str| cloud.port(id).is_some_and(|p| p.mac_address == packet.src_mac);
        if matches!(step.table, t::BASE_EGRESS | t::RULES_EGRESS | t::BASE_INGRESS | t::RULES_INGRESS) {
            last_fw = Some((bridge_name.clone(), step));
        }
        match (step.table, &owner) {
            (t::BASE_EGRESS, Some(Owner::AntiSpoofing(p)))
                if !acts.contains("resubmit(,93)") && acts != "drop" =>
            {
                observations.push(obs(
                    name,
                    (&bridge_name, step),
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
                let mut o = obs(name, (&bridge_name, step), "security-group", "allowed", text);
                o.rule = Some(rule.clone());
                observations.push(o);
            }
            (
                t::RULES_EGRESS | t::RULES_INGRESS | t::BASE_EGRESS | t::BASE_INGRESS,
                Some(Owner::Firewall(p)),
            ) if step.matches.contains("+est") && !acts.contains("resubmit(,93)") => {
                observations.push(obs(
                    name,
                    (&bridge_name, step),
                    "conntrack",
                    "allowed",
                    format!("port {}: established connection, allowed", port_label(p)),
                ));
            }
            // Router and DHCP ports are the cloud's own: not filtered, and the router's step says more.
            (t::BASE_EGRESS | t::BASE_INGRESS, Some(Owner::Firewall(p)))
                if !acts.contains("ct(")
                    && !cloud.port(p).is_some_and(|q| q.device_owner.starts_with("network:")) =>
            {
                observations.push(obs(
                    name,
                    (&bridge_name, step),
                    "port",
                    "allowed",
                    format!("port {}: port security off, not filtered", port_label(p)),
                ));
            }
            (t::ACCEPT_OR_INGRESS, _) | (t::RULES_INGRESS, _) if acts.contains("ct(commit") => {
                observations.push(obs(
                    name,
                    (&bridge_name, step),
                    "conntrack",
                    "allowed",
                    "conntrack: new connection committed".into(),
                ));
            }
            _ => {}
        }
        if let Some(exit) = normal_out(host, &bridge_name, step)
            && !exits.contains(&exit)
        {
            exits.push(exit);
        }
        for ofport in outputs(step) {
            let Some(bridge) = host.switch.bridge(&bridge_name) else { continue };
            let Some(iface) = bridge.by_ofport(ofport) else { continue };
            let exit = if let Some(id) = &iface.iface_id {
                // Open vSwitch skips the output back to the port a packet came in by.
                if sender(id) {
                    continue;
                }
                Exit::Port { port_id: id.clone() }
            } else if let (Some(remote), Some(kind)) = (iface.remote_ip(), iface.tunnel_type()) {
                Exit::Tunnel {
                    remote_ip: remote.to_string(),
                    local_ip: iface.local_ip().unwrap_or_default().to_string(),
                    vni: vni.unwrap_or(0),
                    kind: kind.to_string(),
                }
            } else if iface.kind == IfaceKind::System && bridge_name != "br-phy" {
                Exit::Physical { bridge: bridge_name.clone(), iface: iface.name.clone(), vlan }
            } else {
                continue;
            };
            if !exits.contains(&exit) {
                exits.push(exit);
            }
        }
    }
    let drop = exits.is_empty().then(|| {
        drop_reason(cloud, tags, name, trace, last_fw.as_ref().map(|(b, s)| (b.as_str(), *s)), packet)
    });
    Crossing { observations, exits, drop }
}

/// The step that dropped the packet, in words.
fn drop_reason(
    cloud: &Cloud,
    tags: &Owners<'_>,
    host: &str,
    trace: &Trace,
    last_fw: Option<(&str, &Step)>,
    packet: &Packet,
) -> Observation {
    let last = trace.last_step().map(|s| (s.bridge.as_str(), s));
    let Some((bridge, step)) = last_fw.or(last) else {
        return Observation {
            host: host.into(),
            component: "switching".into(),
            action: "dropped".into(),
            text: "dropped: no flow matched".into(),
            ..Observation::default()
        };
    };
    let port_of = |id: &str| cloud.port(id);
    match (step.table, tags.of_cookie(step.cookie).cloned()) {
        (t::BASE_EGRESS, Some(Owner::AntiSpoofing(p))) | (t::BASE_EGRESS, Some(Owner::Firewall(p))) => {
            let label = port_of(&p).map(|p| p.label()).unwrap_or_else(|| short(&p));
            obs(
                host,
                (bridge, step),
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
            firewall_drop(cloud, host, (bridge, step), src, "egress", packet)
        }
        (t::RULES_INGRESS | t::BASE_INGRESS, _) => {
            let dst = cloud
                .ports
                .iter()
                .find(|p| p.mac_address == packet.dst_mac || p.ips().any(|i| i == packet.dst_ip));
            firewall_drop(cloud, host, (bridge, step), dst, "ingress", packet)
        }
        _ => {
            let stage = t::int_stage(step.table).or_else(|| t::tun_stage(step.table)).unwrap_or("");
            obs(
                host,
                (bridge, step),
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
    at: (&str, &Step),
    port: Option<&crate::cloud::Port>,
    direction: &str,
    packet: &Packet,
) -> Observation {
    let Some(port) = port else {
        return obs(host, at, "security-group", "dropped", format!("dropped by the {direction} firewall"));
    };
    let (text, nearest) = missing_rule(cloud, port, direction, packet);
    let mut o = obs(host, at, "security-group", "dropped", text);
    o.rule = nearest;
    o
}

#[cfg(test)]
mod tests {
    use super::vlan_change;

    #[test]
    fn vlan_actions_in_both_spellings() {
        assert_eq!(vlan_change("mod_vlan_vid:101"), Some(Some(101)));
        assert_eq!(vlan_change("set_field:4197->vlan_vid"), Some(Some(101)));
        assert_eq!(vlan_change(" pop_vlan"), Some(None));
        assert_eq!(vlan_change("strip_vlan"), Some(None));
        assert_eq!(vlan_change("set_field:0x3->reg6"), None);
        assert_eq!(vlan_change("NORMAL"), None);
    }
}
