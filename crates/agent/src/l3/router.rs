//! One router's namespace on the host, as upstream's L3 agent sets up a legacy router
//! (`RouterNamespace.create` in `neutron/agent/l3/namespaces.py`, `internal_network_added` and
//! `external_gateway_added` in `router_info.py`; the devices as docs/design.md "Routers
//! (agent)" names them): the `qrouter-` namespace with forwarding on and upstream's ARP
//! sysctls, `lo` up, per interface and for the gateway a veth — `qr-`/`qg-` inside with the
//! port's MAC, MTU, addresses and TX offload off, `tr-`/`tg-` on the integration bridge marked
//! as Nova marks a VM's tap (so the `l2` driver wires it) — and the routes: the default route
//! via the gateway subnet's gateway and the extra routes. Idempotent: what is right is left
//! alone, what is stale (addresses, routes, devices this driver made) goes.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_host::{Host, LinkKind, Route};
use neutrino_model::internal::{RouterPortState, RouterState};
use neutrino_ovs::vswitch::{PortSpec, StrMap, Vswitch};

use crate::config::AgentConfig;
use crate::l3::{L3Error, ROUTER_KEY, namespace, nat, qg_name, qr_name, tg_name, tr_name};
use crate::reconcile::OWNER_KEY;

/// The sysctls of a router namespace: forwarding (both families); ARP answered only for the
/// addresses of the incoming device and announced from the best local address (upstream's
/// `arp_ignore=1`, `arp_announce=2`); no reverse-path filter (floating IPs make paths
/// asymmetric).
pub const SYSCTLS: [(&str, &str); 6] = [
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
    ("net.ipv4.conf.all.arp_ignore", "1"),
    ("net.ipv4.conf.all.arp_announce", "2"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
];

/// What the driver works with.
pub struct Cx<'a, V: Vswitch> {
    pub cfg: &'a AgentConfig,
    pub host: &'a dyn Host,
    pub vs: &'a V,
}

/// One device of the router: its port, the names of both ends, the addresses inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device<'r> {
    pub port: &'r RouterPortState,
    /// `qr-…`/`qg-…`, in the namespace.
    pub inner: String,
    /// `tr-…`/`tg-…`, on the integration bridge.
    pub outer: String,
    pub addresses: BTreeSet<IpNet>,
}

/// The addresses of a router port: its address on each subnet with the subnet's prefix.
fn port_addresses(port: &RouterPortState) -> BTreeSet<IpNet> {
    port.subnets
        .iter()
        .filter_map(|s| {
            let plen = s.cidr.parse::<IpNet>().ok()?.prefix_len();
            IpNet::new(s.ip_address.parse::<IpAddr>().ok()?, plen).ok()
        })
        .collect()
}

/// The devices `router` needs: one per interface, then the gateway, which also holds each
/// floating address as a /32 (so the router answers ARP for it, as upstream does).
pub fn devices(router: &RouterState) -> Vec<Device<'_>> {
    let mut out: Vec<Device<'_>> = router
        .interfaces
        .iter()
        .map(|p| Device {
            port: p,
            inner: qr_name(&p.id),
            outer: tr_name(&p.id),
            addresses: port_addresses(p),
        })
        .collect();
    if let Some(gw) = &router.gateway {
        let mut addresses = port_addresses(&gw.port);
        addresses.extend(nat::fip_pairs(router).into_iter().map(|(f, _)| IpNet::from(IpAddr::V4(f))));
        out.push(Device {
            port: &gw.port,
            inner: qg_name(&gw.port.id),
            outer: tg_name(&gw.port.id),
            addresses,
        });
    }
    out
}

/// The routes `router` needs (without device, which the kernel resolves): the default route
/// via each gateway subnet's gateway, then the extra routes.
pub fn wanted_routes(router: &RouterState) -> Vec<Route> {
    let mut out = vec![];
    if let Some(gw) = &router.gateway {
        let dev = qg_name(&gw.port.id);
        for s in &gw.port.subnets {
            if let Some(ip) = s.gateway_ip.as_deref().and_then(|g| g.parse::<IpAddr>().ok()) {
                out.push(Route::default_via(ip, Some(&dev)));
            }
        }
    }
    for r in &router.routes {
        if let (Ok(dst), Ok(via)) = (r.destination.parse::<IpNet>(), r.nexthop.parse::<IpAddr>()) {
            out.push(Route { dst: dst.trunc(), via: Some(via), dev: None });
        }
    }
    out
}

/// A route as far as convergence compares them: destination and next hop.
fn route_key(r: &Route) -> (IpNet, Option<IpAddr>) {
    (r.dst.trunc(), r.via)
}

fn is_link_local_v6(a: &IpNet) -> bool {
    matches!(a.addr(), IpAddr::V6(v6) if v6.is_unicast_link_local())
}

/// Whether a link of a router namespace is one of this driver's devices.
pub fn is_router_device(name: &str) -> bool {
    name.starts_with("qr-") || name.starts_with("qg-")
}

impl<V: Vswitch> Cx<'_, V> {
    pub fn vswitch_ns(&self) -> Option<&str> {
        self.cfg.netns.as_deref()
    }

    /// The namespace with its sysctls and `lo` up.
    pub fn ensure_namespace(&self, ns: &str) -> Result<(), L3Error> {
        let h = self.host;
        if !h.netns_exists(ns)? {
            h.add_netns(ns)?;
        }
        for (key, value) in SYSCTLS {
            if h.sysctl(Some(ns), key)?.trim() != value {
                h.set_sysctl(Some(ns), key, value)?;
            }
        }
        if !h.links(Some(ns))?.iter().any(|l| l.name == "lo" && l.up) {
            h.set_link_up(Some(ns), "lo", true)?;
        }
        Ok(())
    }

    /// One device: the veth (made when missing), its MAC, MTU, state, offload and addresses.
    pub fn ensure_device(&self, ns: &str, d: &Device<'_>) -> Result<(), L3Error> {
        let (h, vs_ns) = (self.host, self.vswitch_ns());
        let mut links = h.links(Some(ns))?;
        if !links.iter().any(|l| l.name == d.inner) {
            // An outer end left without its peer (the namespace was deleted under us) goes first.
            if h.links(vs_ns)?.iter().any(|l| l.name == d.outer) {
                h.delete_link(vs_ns, &d.outer)?;
            }
            h.add_veth(vs_ns, &d.outer, Some(ns), &d.inner)?;
            h.set_tx_offload(vs_ns, &d.outer, false)?;
            links = h.links(Some(ns))?;
        }
        let Some(link) = links.into_iter().find(|l| l.name == d.inner) else {
            return Err(L3Error::router(ns, format!("{} vanished", d.inner)));
        };
        if !link.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&d.port.mac_address)) {
            h.set_mac(Some(ns), &d.inner, &d.port.mac_address)?;
        }
        if let Ok(mtu) = u32::try_from(d.port.mtu)
            && mtu > 0
            && link.mtu != mtu
        {
            h.set_mtu(vs_ns, &d.outer, mtu)?;
            h.set_mtu(Some(ns), &d.inner, mtu)?;
        }
        if !link.up {
            h.set_link_up(vs_ns, &d.outer, true)?;
            h.set_link_up(Some(ns), &d.inner, true)?;
        }
        // A userspace Open vSwitch forwards the unfinished checksums of TX offload as they are.
        if h.tx_offload(Some(ns), &d.inner)? {
            h.set_tx_offload(Some(ns), &d.inner, false)?;
        }
        let have: BTreeSet<IpNet> = link.addresses.into_iter().filter(|a| !is_link_local_v6(a)).collect();
        for a in have.difference(&d.addresses) {
            h.delete_address(Some(ns), &d.inner, *a)?;
        }
        for a in d.addresses.difference(&have) {
            h.replace_address(Some(ns), &d.inner, *a)?;
        }
        Ok(())
    }

    /// The outer end on the integration bridge, as Nova plugs a VM, marked as this router's.
    pub async fn ensure_ovs_port(&self, router_id: &str, d: &Device<'_>) -> Result<(), L3Error> {
        let ids =
            |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<StrMap>();
        let spec = PortSpec {
            iface_external_ids: ids(&[
                ("iface-id", &d.port.id),
                ("attached-mac", &d.port.mac_address),
                ("iface-status", "active"),
                (OWNER_KEY, &self.cfg.host),
                (ROUTER_KEY, router_id),
            ]),
            port_external_ids: ids(&[(OWNER_KEY, &self.cfg.host)]),
            ..Default::default()
        };
        self.vs.ensure_port(&self.cfg.integration_bridge, &d.outer, &spec).await?;
        Ok(())
    }

    /// The integration-bridge ports this agent made for routers: (port name, router id).
    pub async fn our_ports(&self) -> Result<Vec<(String, String)>, L3Error> {
        let ports = self.vs.list_ports(&self.cfg.integration_bridge).await?;
        Ok(ports
            .into_iter()
            .filter(|p| p.external_ids.get(OWNER_KEY).is_some_and(|h| *h == self.cfg.host))
            .filter_map(|p| p.external_ids.get(ROUTER_KEY).cloned().map(|r| (p.name, r)))
            .collect())
    }

    /// Removes an outer end: its bridge port and the veth (which takes the inner end along).
    pub async fn remove_outer(&self, outer: &str) -> Result<(), L3Error> {
        let vs_ns = self.vswitch_ns();
        self.vs.delete_port(&self.cfg.integration_bridge, outer).await?;
        if self.host.links(vs_ns)?.iter().any(|l| l.name == outer) {
            self.host.delete_link(vs_ns, outer)?;
        }
        Ok(())
    }

    /// Removes the devices of the router's former interfaces and gateway.
    pub async fn remove_stale_devices(
        &self,
        router_id: &str,
        ns: &str,
        wanted: &[Device<'_>],
    ) -> Result<(), L3Error> {
        for (port, router) in self.our_ports().await? {
            if router == router_id && !wanted.iter().any(|d| d.outer == port) {
                self.remove_outer(&port).await?;
            }
        }
        for l in self.host.links(Some(ns))? {
            if l.kind == LinkKind::Veth
                && is_router_device(&l.name)
                && !wanted.iter().any(|d| d.inner == l.name)
            {
                self.host.delete_link(Some(ns), &l.name)?;
            }
        }
        Ok(())
    }

    /// Adds the missing routes and deletes the stale ones (the kernel's connected routes are
    /// not listed, so they stay).
    pub fn converge_routes(&self, ns: &str, router: &RouterState) -> Result<(), L3Error> {
        let h = self.host;
        let wanted = wanted_routes(router);
        let have = h.routes(Some(ns))?;
        let keys: BTreeSet<_> = wanted.iter().map(route_key).collect();
        for r in have.iter().filter(|r| !keys.contains(&route_key(r))) {
            h.delete_route(Some(ns), r)?;
        }
        let present: BTreeSet<_> = have.iter().map(route_key).collect();
        for r in wanted.iter().filter(|r| !present.contains(&route_key(r))) {
            h.replace_route(Some(ns), r)?;
        }
        Ok(())
    }

    /// The namespace, devices and routes of `router` (NAT and processes are the driver's).
    pub async fn ensure_plumbing(&self, router: &RouterState) -> Result<String, L3Error> {
        let ns = namespace(&self.cfg.namespace_prefix, &router.id);
        self.ensure_namespace(&ns)?;
        let devices = devices(router);
        self.remove_stale_devices(&router.id, &ns, &devices).await?;
        for d in &devices {
            self.ensure_device(&ns, d)?;
            self.ensure_ovs_port(&router.id, d).await?;
        }
        self.converge_routes(&ns, router)?;
        Ok(ns)
    }
}
