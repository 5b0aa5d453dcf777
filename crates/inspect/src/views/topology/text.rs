//! The topology as an indented text tree: each host with its bridges (and what their ports
//! join: patch peers, tunnels, VMs, namespaces), namespaces and VMs, then the networks and the
//! routers.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Edge, EdgeKind, Node, NodeKind, NsRole, RouterLeg, Topology, segment};

/// One line of a name: line breaks and other control characters become spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

impl Topology {
    /// The indented tree (`topology` without `-f`).
    pub fn render(&self) -> String {
        let by_id: BTreeMap<&str, &Node> = self.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let name = |id: &str| by_id.get(id).map(|n| one_line(&n.name)).unwrap_or_else(|| one_line(id));
        let mut out = String::new();
        for host in self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Host { .. })) {
            let NodeKind::Host { tunnel_ip } = &host.kind else { continue };
            let tunnel = tunnel_ip.as_deref().map(|ip| format!("  tunnel {}", one_line(ip)));
            let _ = writeln!(out, "host {}{}", one_line(&host.name), tunnel.unwrap_or_default());
            let mine = |n: &&Node| n.host.as_deref() == Some(host.name.as_str());
            for n in self.nodes.iter().filter(mine) {
                match &n.kind {
                    NodeKind::Bridge => {
                        let _ = writeln!(out, "  bridge {}", one_line(&n.name));
                        let mut ports: Vec<String> = self
                            .edges
                            .iter()
                            .filter(|e| e.from == n.id || e.to == n.id)
                            .filter_map(|e| bridge_line(e, &n.id, &by_id))
                            .collect();
                        // By port name, as the operator finds them in `list`.
                        ports.sort();
                        for line in ports {
                            let _ = writeln!(out, "    {line}");
                        }
                    }
                    NodeKind::Namespace { role, resource_id, known } => {
                        let what = match role {
                            NsRole::Router => "router",
                            NsRole::Dhcp => "dhcp for network",
                        };
                        let of = match known {
                            true => {
                                let target =
                                    self.edges.iter().find(|e| e.kind == EdgeKind::Serves && e.from == n.id);
                                target.map(|e| name(&e.to)).unwrap_or_default()
                            }
                            false => format!("{} (not in the API)", one_line(resource_id)),
                        };
                        let _ = writeln!(out, "  namespace {}  {what} {of}", one_line(&n.name));
                    }
                    NodeKind::Vm { .. } => {
                        let _ = writeln!(out, "  vm {}", vm_line(self, n, &name));
                    }
                    _ => {}
                }
            }
        }
        let unplaced: Vec<&Node> =
            self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Vm { placed: false, .. })).collect();
        if !unplaced.is_empty() {
            let _ = writeln!(out, "vms on hosts not inspected");
            for n in unplaced {
                let host = n.host.as_deref().map(one_line).unwrap_or_else(|| "unbound".into());
                let _ = writeln!(out, "  vm {}  host {host}", vm_line(self, n, &name));
            }
        }
        let nets: Vec<&Node> =
            self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Network { .. })).collect();
        if !nets.is_empty() {
            let _ = writeln!(out, "networks");
            for n in nets {
                let NodeKind::Network { cidrs, .. } = &n.kind else { continue };
                let cidrs = cidrs.iter().map(|c| one_line(c)).collect::<Vec<_>>().join(", ");
                let parts = [one_line(&n.name), one_line(&segment(&n.kind)), cidrs];
                let line = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("  ");
                let _ = writeln!(out, "  {line}");
            }
        }
        let routers: Vec<&Node> =
            self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Router { .. })).collect();
        if !routers.is_empty() {
            let _ = writeln!(out, "routers");
            for n in routers {
                let NodeKind::Router { gateway, interfaces, .. } = &n.kind else { continue };
                let gw = gateway.as_ref().map(|g| format!("  gateway {}", leg_text(g))).unwrap_or_default();
                let _ = writeln!(out, "  {}{gw}", one_line(&n.name));
                for i in interfaces {
                    let _ = writeln!(out, "    interface {}", leg_text(i));
                }
            }
        }
        out
    }
}

fn leg_text(leg: &RouterLeg) -> String {
    let ips = leg.ips.iter().map(|i| one_line(i)).collect::<Vec<_>>().join(", ");
    format!("{} {ips}", one_line(&leg.network)).trim_end().to_string()
}

fn vm_line(topo: &Topology, n: &Node, name: &dyn Fn(&str) -> String) -> String {
    let NodeKind::Vm { ips, floating_ips, network_id, .. } = &n.kind else { return String::new() };
    let mut line = one_line(&n.name);
    for ip in ips {
        let _ = write!(line, "  {}", one_line(ip));
    }
    for f in floating_ips {
        let _ = write!(line, "  floating {}", one_line(f));
    }
    let net = topo
        .edges
        .iter()
        .find(|e| e.kind == EdgeKind::Port && e.from == n.id)
        .map(|e| name(&e.to))
        .unwrap_or_else(|| one_line(network_id));
    let _ = write!(line, "  on {net}");
    line
}

/// What one of the bridge's edges joins it to, from the bridge's side.
fn bridge_line(e: &Edge, bridge: &str, by_id: &BTreeMap<&str, &Node>) -> Option<String> {
    let (mine, other, other_port) = match e.from == bridge {
        true => (&e.from_port, e.to.as_str(), &e.to_port),
        false => (&e.to_port, e.from.as_str(), &e.from_port),
    };
    let other_node = by_id.get(other)?;
    let port = mine.as_deref().map(one_line).unwrap_or_else(|| "-".into());
    let far = match (&other_node.host, &other_node.kind) {
        (Some(h), NodeKind::Bridge) => format!("{} {}", one_line(h), one_line(&other_node.name)),
        (_, NodeKind::Remote { ip }) if *ip != other_node.name => {
            format!("{} {} (not inspected)", one_line(&other_node.name), one_line(ip))
        }
        (_, NodeKind::Remote { ip }) => format!("{} (not inspected)", one_line(ip)),
        _ => one_line(&other_node.name),
    };
    let far_port = other_port.as_deref().map(|p| format!(" ({})", one_line(p))).unwrap_or_default();
    let text = match e.kind {
        EdgeKind::Patch => format!("{port}  patch to {}{far_port}", one_line(&other_node.name)),
        EdgeKind::Tunnel => format!("{port}  {} to {far}{far_port}", one_line(&e.label)),
        EdgeKind::Plug => match other_node.kind {
            NodeKind::Vm { .. } => format!("{port}  vm {far}"),
            _ => format!("{port}  namespace {far}"),
        },
        _ => return None,
    };
    Some(text)
}
