//! The `topology` view: hosts, their bridges, tunnels and patch links (from each host's OVSDB),
//! their `qrouter-`/`qdhcp-` namespaces, and the API's routers, networks and VMs (ports of
//! `compute:*` owners, placed by `binding:host_id`, with their floating IPs) as one graph of
//! nodes and edges; rendered as an indented text tree ([`Topology::render`]), Graphviz dot
//! ([`Topology::to_dot`]) and a self-drawn SVG ([`Topology::to_svg`]).

mod dot;
mod input;
mod svg;
mod text;

pub use input::{BridgeTopo, HostTopo, PortKind, PortTopo, TopologyInput};

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cloud::{Cloud, Port, label};

/// The picture as data: nodes (each with a unique `id`) and the edges between them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Unique within the topology: `host/H`, `host/H/bridge/B`, `host/H/ns/N`, `router/ID`,
    /// `network/ID`, `vm/PORT-ID`, `remote/IP`.
    pub id: String,
    /// What an operator calls it: the host, bridge or namespace name, or the API object's name
    /// (its id's first 8 characters when it has none).
    pub name: String,
    /// The inspected host it is on (bridges, namespaces and VMs), or the VM's binding host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeKind {
    Host {
        tunnel_ip: Option<String>,
    },
    Bridge,
    Namespace {
        role: NsRole,
        /// The router or network id in its name.
        resource_id: String,
        /// Whether the API has that router or network (a namespace left behind has none).
        known: bool,
    },
    Router {
        router_id: String,
        gateway: Option<RouterLeg>,
        interfaces: Vec<RouterLeg>,
    },
    Network {
        network_id: String,
        network_type: Option<String>,
        segmentation_id: Option<i64>,
        physical_network: Option<String>,
        external: bool,
        cidrs: Vec<String>,
    },
    Vm {
        port_id: String,
        network_id: String,
        mac_address: String,
        ips: Vec<String>,
        floating_ips: Vec<String>,
        /// Whether its binding host is one of the inspected hosts.
        placed: bool,
    },
    /// A tunnel's far end that is none of the inspected hosts (named after the agent reporting
    /// that endpoint, else the address).
    Remote {
        ip: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NsRole {
    Router,
    Dhcp,
}

/// A router's interface or gateway on a network, with its addresses there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterLeg {
    pub network_id: String,
    pub network: String,
    pub ips: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub kind: EdgeKind,
    pub from: String,
    pub to: String,
    /// The Open vSwitch port at each end, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_port: Option<String>,
    /// `VXLAN`/`GRE`/`Geneve` for tunnels, the addresses for ports and router legs, else empty.
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Between two hosts' tunnel bridges (or a remote endpoint).
    Tunnel,
    /// Between two bridges of a host joined by patch ports.
    Patch,
    /// A VM or namespace's port on a bridge.
    Plug,
    /// A VM's port on its network.
    Port,
    /// A namespace implementing a router or serving a network's DHCP.
    Serves,
    /// A router's interface on a network.
    Interface,
    /// A router's gateway on its external network.
    Gateway,
}

fn host_id(host: &str) -> String {
    format!("host/{host}")
}

fn bridge_id(host: &str, bridge: &str) -> String {
    format!("host/{host}/bridge/{bridge}")
}

fn ns_id(host: &str, ns: &str) -> String {
    format!("host/{host}/ns/{ns}")
}

fn network_id(id: &str) -> String {
    format!("network/{id}")
}

fn router_id(id: &str) -> String {
    format!("router/{id}")
}

fn vm_id(port: &str) -> String {
    format!("vm/{port}")
}

/// The role and resource id of a `qrouter-`/`qdhcp-` namespace, whatever prefix the host's agent
/// puts before it: the id is what follows the marker, preferring one the API knows.
fn namespace_role(cloud: &Cloud, ns: &str) -> Option<(NsRole, String, bool)> {
    let markers =
        [(NsRole::Router, neutrino_agent::l3::NS_PREFIX), (NsRole::Dhcp, neutrino_agent::dhcp::NS_PREFIX)];
    let mut fallback = None;
    for (role, marker) in markers {
        for (at, _) in ns.match_indices(marker) {
            let id = &ns[at + marker.len()..];
            if id.is_empty() {
                continue;
            }
            let known = match role {
                NsRole::Router => cloud.router(id).is_some(),
                NsRole::Dhcp => cloud.network(id).is_some(),
            };
            if known {
                return Some((role, id.to_string(), true));
            }
            fallback.get_or_insert((role, id.to_string(), false));
        }
    }
    fallback
}

fn is_vm(port: &Port) -> bool {
    port.device_owner.starts_with("compute:")
}

fn ips(port: &Port) -> Vec<String> {
    port.ips().map(str::to_string).collect()
}

impl Topology {
    /// The graph of `input`, in a stable order: hosts by name (each followed by its bridges,
    /// namespaces and VMs by name), VMs of hosts not inspected, routers, networks, remote tunnel
    /// ends; edges by kind, then ends.
    pub fn build(input: &TopologyInput) -> Topology {
        let cloud = &input.cloud;
        let mut hosts: Vec<&HostTopo> = input.hosts.iter().collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        let inspected: BTreeSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        let mut nodes = Vec::new();
        let mut edges = BTreeSet::new();
        let mut vms: Vec<&Port> = cloud.ports.iter().filter(|p| is_vm(p)).collect();
        vms.sort_by(|a, b| (a.label(), &a.id).cmp(&(b.label(), &b.id)));
        let vm_host = |p: &Port| p.host.clone().filter(|h| !h.is_empty());

        for host in &hosts {
            nodes.push(Node {
                id: host_id(&host.name),
                name: host.name.clone(),
                host: None,
                kind: NodeKind::Host { tunnel_ip: host.tunnel_ip.clone() },
            });
            let mut bridges: Vec<&BridgeTopo> = host.bridges.iter().collect();
            bridges.sort_by(|a, b| a.name.cmp(&b.name));
            for b in &bridges {
                nodes.push(Node {
                    id: bridge_id(&host.name, &b.name),
                    name: b.name.clone(),
                    host: Some(host.name.clone()),
                    kind: NodeKind::Bridge,
                });
            }
            let mut spaces: Vec<(&String, (NsRole, String, bool))> =
                host.namespaces.iter().filter_map(|n| Some((n, namespace_role(cloud, n)?))).collect();
            spaces.sort_by(|a, b| a.0.cmp(b.0));
            spaces.dedup_by(|a, b| a.0 == b.0);
            for (ns, (role, id, known)) in &spaces {
                let node = ns_id(&host.name, ns);
                if *known {
                    let to = match role {
                        NsRole::Router => router_id(id),
                        NsRole::Dhcp => network_id(id),
                    };
                    edges.insert(edge(EdgeKind::Serves, &node, &to, None, None, String::new()));
                }
                nodes.push(Node {
                    id: node,
                    name: ns.to_string(),
                    host: Some(host.name.clone()),
                    kind: NodeKind::Namespace { role: *role, resource_id: id.clone(), known: *known },
                });
            }
            for p in vms.iter().filter(|p| vm_host(p).as_deref() == Some(host.name.as_str())) {
                nodes.push(vm_node(cloud, p, true));
            }
            plugs(cloud, host, &spaces, &mut edges);
            patches(host, &mut edges);
        }
        for p in vms.iter().filter(|p| !vm_host(p).is_some_and(|h| inspected.contains(h.as_str()))) {
            nodes.push(vm_node(cloud, p, false));
        }
        for p in &vms {
            edges.insert(edge(
                EdgeKind::Port,
                &vm_id(&p.id),
                &network_id(&p.network_id),
                None,
                None,
                ips(p).join(", "),
            ));
        }
        routers(cloud, &mut nodes, &mut edges);
        networks(cloud, &mut nodes);
        tunnels(cloud, &hosts, &mut nodes, &mut edges);
        let known: BTreeSet<String> = nodes.iter().map(|n| n.id.clone()).collect();
        let edges = edges.into_iter().filter(|e| known.contains(&e.from) && known.contains(&e.to)).collect();
        Topology { nodes, edges }
    }

    /// The node of `id`.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl PartialOrd for Edge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Edge {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.kind, &self.from, &self.to, &self.from_port, &self.to_port, &self.label).cmp(&(
            other.kind,
            &other.from,
            &other.to,
            &other.from_port,
            &other.to_port,
            &other.label,
        ))
    }
}

fn edge(
    kind: EdgeKind,
    from: &str,
    to: &str,
    from_port: Option<&str>,
    to_port: Option<&str>,
    label: String,
) -> Edge {
    Edge {
        kind,
        from: from.to_string(),
        to: to.to_string(),
        from_port: from_port.map(str::to_string),
        to_port: to_port.map(str::to_string),
        label,
    }
}

fn vm_node(cloud: &Cloud, p: &Port, placed: bool) -> Node {
    let floating_ips = cloud
        .floatingips
        .iter()
        .filter(|f| f.port_id.as_deref() == Some(p.id.as_str()))
        .map(|f| f.floating_ip_address.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Node {
        id: vm_id(&p.id),
        name: p.label(),
        host: p.host.clone().filter(|h| !h.is_empty()),
        kind: NodeKind::Vm {
            port_id: p.id.clone(),
            network_id: p.network_id.clone(),
            mac_address: p.mac_address.clone(),
            ips: ips(p),
            floating_ips,
            placed,
        },
    }
}

/// Each iface-id port on the host's bridges, plugged from its VM or from the host's namespace of
/// its router or network.
fn plugs(
    cloud: &Cloud,
    host: &HostTopo,
    spaces: &[(&String, (NsRole, String, bool))],
    edges: &mut BTreeSet<Edge>,
) {
    let ns_of = |role: NsRole, id: &str| {
        spaces.iter().find(|(_, (r, i, _))| *r == role && i == id).map(|(n, _)| ns_id(&host.name, n))
    };
    for b in &host.bridges {
        for port in &b.ports {
            let PortKind::Vm { iface_id } = &port.kind else { continue };
            let Some(api) = cloud.port(iface_id) else { continue };
            let from = if is_vm(api) {
                Some(vm_id(&api.id)).filter(|_| api.host.as_deref() == Some(host.name.as_str()))
            } else if api.device_owner.starts_with("network:router") {
                ns_of(NsRole::Router, &api.device_id)
            } else if api.device_owner == "network:dhcp" {
                ns_of(NsRole::Dhcp, &api.network_id)
            } else {
                None
            };
            if let Some(from) = from {
                let to = bridge_id(&host.name, &b.name);
                edges.insert(edge(EdgeKind::Plug, &from, &to, None, Some(&port.name), String::new()));
            }
        }
    }
}

/// Patch links between the host's bridges, once per pair of peer ports.
fn patches(host: &HostTopo, edges: &mut BTreeSet<Edge>) {
    let owner: BTreeMap<&str, &str> = host
        .bridges
        .iter()
        .flat_map(|b| b.ports.iter().map(|p| (p.name.as_str(), b.name.as_str())))
        .collect();
    for b in &host.bridges {
        for port in &b.ports {
            let PortKind::Patch { peer } = &port.kind else { continue };
            let Some(other) = owner.get(peer.as_str()) else { continue };
            let a = (b.name.as_str(), port.name.as_str());
            let z = (*other, peer.as_str());
            let (a, z) = if a <= z { (a, z) } else { (z, a) };
            edges.insert(edge(
                EdgeKind::Patch,
                &bridge_id(&host.name, a.0),
                &bridge_id(&host.name, z.0),
                Some(a.1),
                Some(z.1),
                "patch".into(),
            ));
        }
    }
}

fn tunnel_of(kind: &PortKind) -> Option<(&'static str, &str)> {
    match kind {
        PortKind::Vxlan { remote_ip } => Some(("VXLAN", remote_ip)),
        PortKind::Gre { remote_ip } => Some(("GRE", remote_ip)),
        PortKind::Geneve { remote_ip } => Some(("Geneve", remote_ip)),
        _ => None,
    }
}

/// Tunnels: each tunnel port to the inspected host whose endpoint is its remote IP (to that
/// host's tunnel port back, when it has one), once per pair; else to a remote node.
fn tunnels(cloud: &Cloud, hosts: &[&HostTopo], nodes: &mut Vec<Node>, edges: &mut BTreeSet<Edge>) {
    let mut remotes = BTreeMap::new();
    for host in hosts {
        for b in &host.bridges {
            for port in &b.ports {
                let Some((kind, remote)) = tunnel_of(&port.kind) else { continue };
                let from = (bridge_id(&host.name, &b.name), Some(port.name.as_str()));
                let far =
                    hosts.iter().find(|h| h.name != host.name && h.tunnel_ip.as_deref() == Some(remote));
                let to = match far {
                    Some(far) => {
                        let back = far.bridges.iter().find_map(|fb| {
                            fb.ports
                                .iter()
                                .find(|fp| {
                                    tunnel_of(&fp.kind).is_some_and(|(k, r)| {
                                        k == kind && Some(r) == host.tunnel_ip.as_deref()
                                    })
                                })
                                .map(|fp| (bridge_id(&far.name, &fb.name), Some(fp.name.as_str())))
                        });
                        back.unwrap_or_else(|| (host_id(&far.name), None))
                    }
                    None => {
                        let name = cloud.host_of_tunnel_ip(remote).map(str::to_string);
                        remotes.insert(remote.to_string(), name.unwrap_or_else(|| remote.to_string()));
                        (format!("remote/{remote}"), None)
                    }
                };
                let (a, z) = if from <= to { (from, to) } else { (to, from) };
                edges.insert(edge(EdgeKind::Tunnel, &a.0, &z.0, a.1, z.1, kind.into()));
            }
        }
    }
    for (ip, name) in remotes {
        nodes.push(Node { id: format!("remote/{ip}"), name, host: None, kind: NodeKind::Remote { ip } });
    }
}

fn leg(cloud: &Cloud, network: &str, ips: Vec<String>) -> RouterLeg {
    RouterLeg { network_id: network.to_string(), network: cloud.network_label(network), ips }
}

fn routers(cloud: &Cloud, nodes: &mut Vec<Node>, edges: &mut BTreeSet<Edge>) {
    let mut routers: Vec<_> = cloud.routers.iter().collect();
    routers.sort_by(|a, b| (label(&a.name, &a.id), &a.id).cmp(&(label(&b.name, &b.id), &b.id)));
    for r in routers {
        let id = router_id(&r.id);
        let gateway = r.external_gateway_info.as_ref().filter(|g| !g.network_id.is_empty()).map(|g| {
            let ips = g.external_fixed_ips.iter().map(|f| f.ip_address.clone()).collect();
            leg(cloud, &g.network_id, ips)
        });
        let mut interfaces: Vec<RouterLeg> = cloud
            .ports
            .iter()
            .filter(|p| p.device_id == r.id && p.device_owner.starts_with("network:router_interface"))
            .map(|p| leg(cloud, &p.network_id, ips(p)))
            .collect();
        interfaces
            .sort_by(|a, b| (&a.network, &a.network_id, &a.ips).cmp(&(&b.network, &b.network_id, &b.ips)));
        if let Some(g) = &gateway {
            edges.insert(edge(
                EdgeKind::Gateway,
                &id,
                &network_id(&g.network_id),
                None,
                None,
                g.ips.join(", "),
            ));
        }
        for i in &interfaces {
            edges.insert(edge(
                EdgeKind::Interface,
                &id,
                &network_id(&i.network_id),
                None,
                None,
                i.ips.join(", "),
            ));
        }
        nodes.push(Node {
            id,
            name: label(&r.name, &r.id),
            host: None,
            kind: NodeKind::Router { router_id: r.id.clone(), gateway, interfaces },
        });
    }
}

fn networks(cloud: &Cloud, nodes: &mut Vec<Node>) {
    let mut nets: Vec<_> = cloud.networks.iter().collect();
    nets.sort_by(|a, b| (label(&a.name, &a.id), &a.id).cmp(&(label(&b.name, &b.id), &b.id)));
    for n in nets {
        let cidrs = cloud.subnets.iter().filter(|s| s.network_id == n.id).map(|s| s.cidr.clone()).collect();
        nodes.push(Node {
            id: network_id(&n.id),
            name: label(&n.name, &n.id),
            host: None,
            kind: NodeKind::Network {
                network_id: n.id.clone(),
                network_type: n.network_type.clone(),
                segmentation_id: n.segmentation_id,
                physical_network: n.physical_network.clone(),
                external: n.external,
                cidrs,
            },
        });
    }
}

/// A network's segment as the text and pictures print it: `vxlan 1043`, `vlan 101 on physnet1`,
/// `flat on public, external` (empty when the API gave none).
pub(crate) fn segment(kind: &NodeKind) -> String {
    let NodeKind::Network { network_type, segmentation_id, physical_network, external, .. } = kind else {
        return String::new();
    };
    let mut parts: Vec<String> = network_type.iter().cloned().collect();
    parts.extend(segmentation_id.map(|id| id.to_string()));
    parts.extend(physical_network.as_ref().map(|p| format!("on {p}")));
    let mut out = parts.join(" ");
    if *external {
        out.push_str(if out.is_empty() { "external" } else { ", external" });
    }
    out
}
