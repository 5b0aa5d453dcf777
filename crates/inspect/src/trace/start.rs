//! Where a trace starts and how it goes from hop to hop: a VM's port (its host's integration
//! bridge, addressed to the destination's MAC on the same network or to its subnet's router) or
//! an address outside (the external bridge of the host of the router holding the floating IP),
//! then bridge after bridge — tunnels to the host of the tunnel's remote endpoint, physical
//! networks to the host of the destination MAC — and router after router, to the end.

use std::net::Ipv4Addr;

use crate::cloud::{Cloud, Port};
use crate::error::InspectError;

use super::bridge::{self, Entry, Exit};
use super::packet::{Arrival, Packet, Proto};
use super::{Fabric, Observation, Outcome, TraceRequest, Verdict, router};
use crate::owners::Owners;

/// A hop of the walk.
#[derive(Debug, Clone)]
enum Hop {
    Bridge { host: String, bridge: String, in_port: i64, arrival: Arrival, packet: Packet },
    Router { host: String, router: String, in_port: String, packet: Packet },
}

/// The resolved start of a trace.
#[derive(Debug, Clone)]
pub struct Start {
    pub packet: Packet,
    first: Hop,
    /// The API port the packet is for, when it is in the cloud.
    dst_port: Option<String>,
    /// What the source network lacks to reach the destination (no router at its gateway).
    isolated: Option<String>,
}

fn ipv4(p: &Port) -> Option<&str> {
    p.ips().find(|ip| ip.parse::<Ipv4Addr>().is_ok())
}

/// Reads FROM and TO against the cloud.
pub fn resolve(f: &Fabric<'_>, req: &TraceRequest) -> Result<Start, InspectError> {
    let cloud = f.cloud;
    let found = |what: &str| -> Result<Option<&Port>, InspectError> {
        match cloud.find_port(what) {
            Ok(p) => Ok(Some(p)),
            Err(c) if c.is_empty() => Ok(None),
            Err(c) => Err(InspectError::Ambiguous(format!(
                "{what:?} names {} ports: {}",
                c.len(),
                c.iter().map(|p| format!("{} ({})", p.label(), p.id)).collect::<Vec<_>>().join(", ")
            ))),
        }
    };
    let dst_ip = match found(&req.to)? {
        Some(p) => ipv4(p)
            .ok_or_else(|| InspectError::Invalid(format!("port {} has no IPv4 address", p.label())))?
            .to_string(),
        None => req
            .to
            .parse::<Ipv4Addr>()
            .map_err(|_| InspectError::NotFound(format!("no port, VM or IPv4 address {:?}", req.to)))?
            .to_string(),
    };
    let dst_port_id = match cloud.floatingips.iter().find(|fip| fip.floating_ip_address == dst_ip) {
        Some(fip) => fip.port_id.clone(),
        None => cloud
            .ports_with_ip(&dst_ip)
            .into_iter()
            .find(|p| !p.device_owner.starts_with("network:router"))
            .map(|p| p.id.clone()),
    };
    let packet = |src_mac: &str, src_ip: &str, dst_mac: &str| Packet {
        src_mac: src_mac.into(),
        dst_mac: dst_mac.into(),
        src_ip: src_ip.into(),
        dst_ip: dst_ip.clone(),
        proto: req.proto,
        dst_port: if req.proto == Proto::Icmp { None } else { req.port },
        ttl: 64,
    };
    if let Some(src) = found(&req.from)? {
        let src_ip = ipv4(src)
            .ok_or_else(|| InspectError::Invalid(format!("port {} has no IPv4 address", src.label())))?;
        let host =
            src.host.clone().filter(|h| !h.is_empty()).ok_or_else(|| {
                InspectError::NotFound(format!("port {} is not bound to a host", src.label()))
            })?;
        let th = f.host(&host).ok_or_else(|| {
            InspectError::NotFound(format!("host {host} (of port {}) cannot be read", src.label()))
        })?;
        let (bridge, iface) = th
            .switch
            .find_iface_id(&src.id)
            .ok_or_else(|| InspectError::NotFound(format!("port {} is not wired on {host}", src.label())))?;
        let in_port = iface
            .ofport
            .ok_or_else(|| InspectError::NotFound(format!("{} has no OpenFlow port", iface.name)))?;
        let (dst_mac, isolated) = next_mac(cloud, src, &dst_ip);
        let p = packet(&src.mac_address, src_ip, &dst_mac);
        let first = Hop::Bridge {
            host,
            bridge: bridge.name.clone(),
            in_port,
            arrival: Arrival::default(),
            packet: p.clone(),
        };
        return Ok(Start { packet: p, first, dst_port: dst_port_id, isolated });
    }
    let src_ip = req
        .from
        .parse::<Ipv4Addr>()
        .map_err(|_| InspectError::NotFound(format!("no port, VM or IPv4 address {:?}", req.from)))?
        .to_string();
    // From outside: the router holding the floating IP (or the gateway address) answers.
    let router_id = cloud
        .floatingips
        .iter()
        .find(|fip| fip.floating_ip_address == dst_ip)
        .and_then(|fip| fip.router_id.clone())
        .or_else(|| {
            cloud.ports_with_ip(&dst_ip).into_iter().find(|p| p.device_owner == "network:router_gateway").map(|p| p.device_id.clone())
        })
        .ok_or_else(|| InspectError::NotFound(format!("{dst_ip} is neither an associated floating IP nor a router's gateway: nothing outside can reach it")))?;
    let gw = cloud
        .ports
        .iter()
        .find(|p| p.device_id == router_id && p.device_owner == "network:router_gateway")
        .ok_or_else(|| {
            InspectError::NotFound(format!("router {} has no gateway", cloud.router_label(&router_id)))
        })?;
    let host = gw.host.clone().unwrap_or_default();
    let th = f.host(&host).ok_or_else(|| {
        InspectError::NotFound(format!(
            "host {host:?} (of router {}) cannot be read",
            cloud.router_label(&router_id)
        ))
    })?;
    let physnet = cloud.network(&gw.network_id).and_then(|n| n.physical_network.clone()).unwrap_or_default();
    let ext_bridge = cloud
        .agents
        .iter()
        .filter(|a| a.host == host)
        .find_map(|a| a.configurations.get("bridge_mappings")?.get(&physnet)?.as_str().map(str::to_string))
        .ok_or_else(|| {
            InspectError::NotFound(format!("{host} maps no bridge for physical network {physnet:?}"))
        })?;
    let bridge = th
        .switch
        .bridge(&ext_bridge)
        .ok_or_else(|| InspectError::NotFound(format!("{host} has no bridge {ext_bridge}")))?;
    let uplink = bridge
        .uplink()
        .and_then(|i| i.ofport)
        .ok_or_else(|| InspectError::NotFound(format!("{ext_bridge} on {host} has no uplink")))?;
    let p = packet("02:00:00:00:00:01", &src_ip, &gw.mac_address);
    let first = Hop::Bridge {
        host,
        bridge: ext_bridge,
        in_port: uplink,
        arrival: Arrival::default(),
        packet: p.clone(),
    };
    Ok(Start { packet: p, first, dst_port: dst_port_id, isolated: None })
}

/// The MAC a VM sends to for `dst_ip`: the port holding it on its network, else its subnet's
/// router; with neither, the destination's own MAC (and why it cannot work).
fn next_mac(cloud: &Cloud, src: &Port, dst_ip: &str) -> (String, Option<String>) {
    if let Some(p) =
        cloud.ports.iter().find(|p| p.network_id == src.network_id && p.ips().any(|i| i == dst_ip))
    {
        return (p.mac_address.clone(), None);
    }
    let subnet = src.fixed_ips.iter().find_map(|f| cloud.subnet(&f.subnet_id));
    let gw_ip = subnet.and_then(|s| s.gateway_ip.clone());
    if let Some(gw) = gw_ip.as_deref().and_then(|g| {
        cloud.ports.iter().find(|p| {
            p.network_id == src.network_id
                && p.device_owner == "network:router_interface"
                && p.ips().any(|i| i == g)
        })
    }) {
        return (gw.mac_address.clone(), None);
    }
    let net = cloud.network_label(&src.network_id);
    let why = match gw_ip {
        Some(g) => format!("network {net} has no router at its gateway {g}"),
        None => format!("subnet of {} on network {net} has no gateway", src.label()),
    };
    let dst = cloud.ports_with_ip(dst_ip).into_iter().next();
    let mac = dst.map(|p| p.mac_address.clone()).unwrap_or_else(|| "ff:ff:ff:ff:ff:ff".into());
    let why = match dst {
        Some(d) => format!(
            "{why}, and {} is on network {}: nothing connects them",
            d.label(),
            cloud.network_label(&d.network_id)
        ),
        None => why,
    };
    (mac, Some(why))
}

fn end(outcome: Outcome, reason: String) -> Verdict {
    Verdict { outcome, reason }
}

/// Walks from the start with conntrack answering `ct` (`trk,new` or `trk,est`).
pub fn walk(f: &Fabric<'_>, tags: &Owners<'_>, start: &Start, ct: &str) -> (Vec<Observation>, Verdict) {
    let cloud = f.cloud;
    let mut out = vec![];
    let mut hop = start.first.clone();
    for _ in 0..12 {
        match hop {
            Hop::Bridge { host, bridge, in_port, arrival, packet } => {
                let Some(th) = f.host(&host) else {
                    return (out, end(Outcome::Unknown, format!("host {host} cannot be read")));
                };
                let crossing = match bridge::cross(
                    cloud,
                    tags,
                    th,
                    Entry { bridge: &bridge, in_port, arrival: &arrival },
                    &packet,
                    ct,
                ) {
                    Ok(c) => c,
                    Err(e) => return (out, end(Outcome::Unknown, e)),
                };
                for o in crossing.observations {
                    // One line per fact: a pass resumed after conntrack can repeat a step.
                    if out.last() != Some(&o) {
                        out.push(o);
                    }
                }
                if let Some(d) = crossing.drop {
                    let mut reason = d.text.clone();
                    if let Some(why) = &start.isolated {
                        reason = format!("{reason} ({why})");
                    }
                    out.push(d);
                    return (out, end(Outcome::Dropped, reason));
                }
                match pick(cloud, &crossing.exits, &packet).cloned() {
                    Some(Exit::Port { port_id }) => {
                        let port = cloud.port(&port_id);
                        if let Some(r) = port.and_then(|p| cloud.router_of_port(p)) {
                            hop = Hop::Router {
                                host: host.clone(),
                                router: r.id.clone(),
                                in_port: port_id.clone(),
                                packet,
                            };
                            continue;
                        }
                        let label = port.map(|p| p.label()).unwrap_or_else(|| port_id.clone());
                        let ok = start.dst_port.as_deref() == Some(port_id.as_str());
                        out.push(Observation {
                            host: host.clone(),
                            component: "port".into(),
                            action: "delivered".into(),
                            text: format!("delivered to port {label} on {host}"),
                            ..Observation::default()
                        });
                        let verdict = match ok {
                            true => end(
                                Outcome::Delivered,
                                format!("delivered to {label} ({}) on {host}", packet.dst_ip),
                            ),
                            false => end(
                                Outcome::Dropped,
                                format!("reached port {label}, not the destination {}", packet.dst_ip),
                            ),
                        };
                        return (out, verdict);
                    }
                    Some(Exit::Tunnel { remote_ip, local_ip, vni, kind }) => {
                        let Some(next) = cloud.host_of_tunnel_ip(&remote_ip).map(str::to_string) else {
                            return (
                                out,
                                end(Outcome::Unknown, format!("no host has tunnel endpoint {remote_ip}")),
                            );
                        };
                        out.push(Observation {
                            host: host.clone(),
                            component: "tunnel".into(),
                            action: "forwarded".into(),
                            text: format!("{} {vni} to {next} ({remote_ip})", kind.to_uppercase()),
                            tunnel_dst: Some(remote_ip.clone()),
                            ..Observation::default()
                        });
                        let Some(nh) = f.host(&next) else {
                            return (out, end(Outcome::Unknown, format!("host {next} cannot be read")));
                        };
                        let tun = nh.switch.bridges.iter().find_map(|b| {
                            b.ports
                                .iter()
                                .find(|i| {
                                    i.remote_ip() == Some(local_ip.as_str())
                                        && i.tunnel_type() == Some(kind.as_str())
                                })
                                .map(|i| (b.name.clone(), i.ofport))
                        });
                        let Some((tb, Some(tp))) = tun else {
                            return (
                                out,
                                end(Outcome::Dropped, format!("{next} has no {kind} tunnel from {local_ip}")),
                            );
                        };
                        let arrival = Arrival { tunnel: Some((vni, local_ip, remote_ip)), vlan: None };
                        hop = Hop::Bridge { host: next, bridge: tb, in_port: tp, arrival, packet };
                    }
                    Some(Exit::Physical { bridge: pb, iface, vlan }) => {
                        let target = cloud.ports.iter().find(|p| p.mac_address == packet.dst_mac);
                        match target.and_then(|p| p.host.clone()).filter(|h| *h != host) {
                            None if target.is_none() => {
                                out.push(Observation {
                                    host: host.clone(),
                                    component: "external".into(),
                                    action: "left".into(),
                                    text: format!(
                                        "leaves the cloud by {iface} of {pb} as {} → {}",
                                        packet.src_ip, packet.dst_ip
                                    ),
                                    ..Observation::default()
                                });
                                let verdict = end(
                                    Outcome::LeftCloud,
                                    format!(
                                        "leaves the cloud from {host} as {} towards {}",
                                        packet.src_ip, packet.dst_ip
                                    ),
                                );
                                return (out, verdict);
                            }
                            None => {
                                return (
                                    out,
                                    end(
                                        Outcome::Dropped,
                                        format!("left {host} by {iface}, but its destination is on {host}"),
                                    ),
                                );
                            }
                            Some(next) => {
                                let Some(nh) = f.host(&next) else {
                                    return (
                                        out,
                                        end(Outcome::Unknown, format!("host {next} cannot be read")),
                                    );
                                };
                                let up =
                                    nh.switch.bridge(&pb).and_then(|b| b.uplink()).and_then(|i| i.ofport);
                                let Some(up) = up else {
                                    return (
                                        out,
                                        end(Outcome::Unknown, format!("{next} has no uplink on {pb}")),
                                    );
                                };
                                out.push(Observation {
                                    host: host.clone(),
                                    component: "physical".into(),
                                    action: "forwarded".into(),
                                    text: format!(
                                        "physical network by {pb}{} to {next}",
                                        vlan.map(|v| format!(", VLAN {v}")).unwrap_or_default()
                                    ),
                                    ..Observation::default()
                                });
                                let arrival = Arrival { tunnel: None, vlan };
                                hop = Hop::Bridge { host: next, bridge: pb, in_port: up, arrival, packet };
                            }
                        }
                    }
                    None => {
                        let reason = match &start.isolated {
                            Some(why) => format!("not delivered: {why}"),
                            None => format!("not delivered: no port here has {}", packet.dst_mac),
                        };
                        out.push(Observation {
                            host: host.clone(),
                            component: "switching".into(),
                            action: "dropped".into(),
                            text: reason.clone(),
                            ..Observation::default()
                        });
                        return (out, end(Outcome::Dropped, reason));
                    }
                }
            }
            Hop::Router { host, router: rid, in_port, packet } => {
                let (Some(th), Some(r), Some(port)) =
                    (f.host(&host), cloud.router(&rid), cloud.port(&in_port))
                else {
                    return (
                        out,
                        end(
                            Outcome::Unknown,
                            format!("router {} on {host} cannot be read", cloud.router_label(&rid)),
                        ),
                    );
                };
                let routed = router::route(cloud, th, r, port, &packet);
                out.extend(routed.observations);
                let Some((port_id, p)) = routed.out else {
                    let reason = out.last().map(|o| o.text.clone()).unwrap_or_default();
                    return (out, end(Outcome::Dropped, reason));
                };
                let Some((b, i)) = th.switch.find_iface_id(&port_id) else {
                    return (
                        out,
                        end(
                            Outcome::Unknown,
                            format!(
                                "router port {} is not wired on {host}",
                                crate::trace::explain::short(&port_id)
                            ),
                        ),
                    );
                };
                let Some(ofport) = i.ofport else {
                    return (out, end(Outcome::Unknown, format!("{} has no OpenFlow port", i.name)));
                };
                hop = Hop::Bridge {
                    host,
                    bridge: b.name.clone(),
                    in_port: ofport,
                    arrival: Arrival::default(),
                    packet: p,
                };
            }
        }
    }
    (out, end(Outcome::Unknown, "the trace went through more than 12 hops (a loop?)".into()))
}

/// Which exit the packet takes: the port with its destination MAC, else a tunnel to or a
/// physical network towards the destination's host, else the first tunnel or uplink.
fn pick<'e>(cloud: &Cloud, exits: &'e [Exit], packet: &Packet) -> Option<&'e Exit> {
    let target = cloud.ports.iter().find(|p| p.mac_address == packet.dst_mac);
    if let Some(e) =
        exits.iter().find(|e| matches!(e, Exit::Port { port_id } if target.is_some_and(|t| t.id == *port_id)))
    {
        return Some(e);
    }
    let target_host = target.and_then(|t| t.host.as_deref());
    let tunnel_to_target = exits.iter().find(|e| {
        matches!(e, Exit::Tunnel { remote_ip, .. } if target_host.is_some() && cloud.host_of_tunnel_ip(remote_ip) == target_host)
    });
    tunnel_to_target.or_else(|| exits.iter().find(|e| matches!(e, Exit::Physical { .. }))).or_else(|| {
        match target {
            // Flooded on the source network only: the destination is not on it.
            Some(_) => None,
            None => exits.iter().find(|e| matches!(e, Exit::Tunnel { .. })),
        }
    })
}
