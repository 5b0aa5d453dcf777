//! Security group rules in words, and why none admitted a packet: the rules of the port's groups
//! in that direction, and the nearest one (the same protocol and port from elsewhere, the same
//! protocol on another port, or any rule of the direction), as "no rule of group db allows
//! tcp/22 from 10.0.1.5; nearest: rule 9c1e… allows tcp/5432 from group app".

use crate::cloud::{Cloud, Port, SecurityGroupRule};
use crate::owners::{allows_text, protocol_name, remote_text};

use super::packet::{Packet, Proto};

/// First 8 characters of an id, with an ellipsis.
pub fn short(id: &str) -> String {
    let s: String = id.chars().take(8).collect();
    match id.chars().count() > 8 {
        true => format!("{s}…"),
        false => s,
    }
}

/// What a rule admits, in the words of `ipt` and `dump` ([`allows_text`], [`remote_text`])
/// and its ethertype: `tcp/80 from 0.0.0.0/0 (IPv4)`, `any to anywhere (IPv4)`.
pub fn describe_rule(cloud: &Cloud, r: &SecurityGroupRule) -> String {
    let word = if r.direction == "egress" { "to" } else { "from" };
    format!("{} {word} {} ({})", allows_text(r), remote_text(cloud, r), r.ethertype)
}

fn proto_matches(r: &SecurityGroupRule, proto: Proto) -> bool {
    protocol_name(r).is_none_or(|p| p == proto.name())
}

fn port_matches(r: &SecurityGroupRule, port: Option<u16>) -> bool {
    match (port, r.port_range_min, r.port_range_max) {
        (_, None, _) => true,
        (None, Some(_), _) => true,
        (Some(p), Some(a), b) => u32::from(p) >= a && u32::from(p) <= b.unwrap_or(a),
    }
}

/// Why no rule of `port`'s groups admitted `packet` in `direction` (`ingress` for a packet to
/// the port, `egress` from it), with the nearest rule.
pub fn missing_rule(
    cloud: &Cloud,
    port: &Port,
    direction: &str,
    packet: &Packet,
) -> (String, Option<String>) {
    let groups: Vec<String> = port.security_groups.iter().map(|g| cloud.group_label(g)).collect();
    let peer = match direction {
        "egress" => format!("to {}", packet.dst_ip),
        _ => format!("from {}", packet.src_ip),
    };
    let whose = match groups.len() {
        0 => format!("port {} has no security group, so nothing", port.label()),
        1 => format!("no rule of group {}", groups[0]),
        _ => format!("no rule of groups {}", groups.join(", ")),
    };
    let mut text = format!("{whose} allows {direction} {} {peer}", packet.service());
    let rules: Vec<&SecurityGroupRule> = port
        .security_groups
        .iter()
        .filter_map(|g| cloud.security_group(g))
        .flat_map(|g| g.security_group_rules.iter())
        .filter(|r| r.direction == direction && r.ethertype == "IPv4")
        .collect();
    // Nearest: the same service from/to elsewhere, then the same protocol, then anything.
    let nearest = rules
        .iter()
        .find(|r| proto_matches(r, packet.proto) && port_matches(r, packet.dst_port))
        .or_else(|| rules.iter().find(|r| proto_matches(r, packet.proto)))
        .or_else(|| rules.first());
    if let Some(r) = nearest {
        text.push_str(&format!("; nearest: rule {} allows {}", short(&r.id), describe_rule(cloud, r)));
        if let Some(g) = &r.remote_group_id {
            let members = cloud.ports.iter().any(|p| {
                p.security_groups.contains(g) && p.ips().any(|ip| ip == packet.src_ip || ip == packet.dst_ip)
            });
            if !members && proto_matches(r, packet.proto) && port_matches(r, packet.dst_port) {
                text.push_str(&format!(
                    " ({} is not a member of group {})",
                    if direction == "egress" { &packet.dst_ip } else { &packet.src_ip },
                    cloud.group_label(g)
                ));
            }
        }
    }
    (text, nearest.map(|r| r.id.clone()))
}
