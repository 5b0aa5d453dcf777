//! The fake's links, addresses, routes and sysctls ([`crate::Links`]), with the kernel's rules:
//! a veth's ends live and die together, a link moved to another namespace arrives down and
//! without addresses, a link set down loses its routes, a gateway must be on a connected
//! subnet, and only sysctls the kernel has can be read or written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::{Error, Result, ns_label};
use crate::fake::{FakeHost, FakeLink, FakeState, no_link};
use crate::links::{LinkInfo, LinkKind, Links, Route};
use crate::names::{validate_ifname, validate_mac, validate_mtu, validate_sysctl, validate_sysctl_value};

/// Removes link `name` of `netns` with what hangs on it: its routes, its ports' `master`,
/// and a veth's peer (with the peer's routes).
pub(crate) fn remove_link(s: &mut FakeState, netns: Option<&str>, name: &str) {
    let Ok(ns) = s.ns_mut(netns) else { return };
    let Some(link) = ns.links.remove(name) else { return };
    ns.routes.retain(|r| r.dev.as_deref() != Some(name));
    for port in ns.links.values_mut().filter(|l| l.master.as_deref() == Some(name)) {
        port.master = None;
    }
    if let Some((peer, peer_ns)) = link.peer
        && let Ok(other) = s.ns_mut(peer_ns.as_deref())
        && other.links.get(&peer).is_some_and(|l| l.peer.is_some())
    {
        other.links.remove(&peer);
        other.routes.retain(|r| r.dev.as_deref() != Some(peer.as_str()));
    }
}

/// The addresses the kernel gives `lo` when it comes up: `127.0.0.1/8` and `::1/128`.
pub(crate) const LOOPBACK: [IpNet; 2] = [
    IpNet::new_assert(IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
    IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
];

fn exists_err(netns: Option<&str>, name: &str) -> Error {
    Error::LinkExists { netns: ns_label(netns), link: name.into() }
}

/// The link holding an address whose subnet contains `gateway` (on `dev` when given).
fn on_link(s: &FakeState, netns: Option<&str>, gateway: IpAddr, dev: Option<&str>) -> Option<String> {
    let ns = s.ns(netns).ok()?;
    ns.links
        .iter()
        .filter(|(name, _)| dev.is_none_or(|d| d == name.as_str()))
        .find(|(_, l)| l.addresses.iter().any(|a| a.contains(&gateway)))
        .map(|(name, _)| name.clone())
}

/// Checks `route` and fills in the device the kernel would pick for its gateway.
fn resolve_route(s: &FakeState, netns: Option<&str>, route: &Route) -> Result<Route> {
    if let Some(dev) = &route.dev {
        validate_ifname(dev)?;
        s.link(netns, dev)?;
    }
    let mut resolved = Route { dst: route.dst.trunc(), ..route.clone() };
    if let Some(gateway) = route.via {
        if gateway.is_ipv4() != route.dst.addr().is_ipv4() {
            return Err(Error::Invalid { what: "route", reason: format!("{route}: mixed address families") });
        }
        let dev = on_link(s, netns, gateway, route.dev.as_deref()).ok_or_else(|| {
            Error::GatewayUnreachable { netns: ns_label(netns), gateway: gateway.to_string() }
        })?;
        resolved.dev = Some(dev);
    } else if route.dev.is_none() {
        return Err(Error::Invalid {
            what: "route",
            reason: format!("{route}: needs a gateway or a device"),
        });
    }
    Ok(resolved)
}

/// The kernel's value of a sysctl this fake knows, for `netns`'s links.
fn sysctl_default(s: &FakeState, netns: Option<&str>, key: &str) -> Option<&'static str> {
    const GLOBAL: [(&str, &str); 6] = [
        ("net.ipv4.ip_forward", "0"),
        ("net.ipv4.ip_nonlocal_bind", "0"),
        ("net.ipv6.ip_nonlocal_bind", "0"),
        ("net.ipv4.ip_local_port_range", "32768\t60999"),
        ("net.netfilter.nf_conntrack_tcp_loose", "1"),
        ("net.ipv4.neigh.default.gc_thresh1", "128"),
    ];
    const CONF4: [(&str, &str); 7] = [
        ("forwarding", "0"),
        ("proxy_arp", "0"),
        ("rp_filter", "0"),
        ("arp_ignore", "0"),
        ("arp_announce", "0"),
        ("send_redirects", "1"),
        ("accept_redirects", "1"),
    ];
    const CONF6: [(&str, &str); 4] =
        [("forwarding", "0"), ("accept_ra", "1"), ("disable_ipv6", "0"), ("accept_dad", "1")];
    if let Some((_, v)) = GLOBAL.iter().find(|(k, _)| *k == key) {
        return Some(v);
    }
    let (table, rest) = if let Some(rest) = key.strip_prefix("net.ipv4.conf.") {
        (&CONF4[..], rest)
    } else {
        (&CONF6[..], key.strip_prefix("net.ipv6.conf.")?)
    };
    let (dev, attr) = rest.rsplit_once('.')?;
    let known_dev = dev == "all" || dev == "default" || s.link(netns, dev).is_ok();
    table.iter().find(|(k, _)| *k == attr).filter(|_| known_dev).map(|(_, v)| *v)
}

fn new_link(s: &mut FakeState, kind: LinkKind, peer: Option<(String, Option<String>)>) -> FakeLink {
    FakeLink { kind, peer, mac: s.new_mac(), ..FakeLink::new() }
}

impl Links for FakeHost {
    fn add_veth(&self, netns: Option<&str>, name: &str, peer_netns: Option<&str>, peer: &str) -> Result<()> {
        validate_ifname(name)?;
        validate_ifname(peer)?;
        self.transact(|s| {
            if s.ns(netns)?.links.contains_key(name) {
                return Err(exists_err(netns, name));
            }
            if s.ns(peer_netns)?.links.contains_key(peer) || (netns == peer_netns && name == peer) {
                return Err(exists_err(peer_netns, peer));
            }
            let a = new_link(s, LinkKind::Veth, Some((peer.into(), peer_netns.map(str::to_string))));
            let b = new_link(s, LinkKind::Veth, Some((name.into(), netns.map(str::to_string))));
            s.ns_mut(netns)?.links.insert(name.into(), a);
            s.ns_mut(peer_netns)?.links.insert(peer.into(), b);
            Ok(())
        })
    }

    fn add_bridge(&self, netns: Option<&str>, name: &str) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            if s.ns(netns)?.links.contains_key(name) {
                return Err(exists_err(netns, name));
            }
            let link = new_link(s, LinkKind::Bridge, None);
            s.ns_mut(netns)?.links.insert(name.into(), link);
            Ok(())
        })
    }

    fn delete_link(&self, netns: Option<&str>, name: &str) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            s.link(netns, name)?;
            remove_link(s, netns, name);
            Ok(())
        })
    }

    fn set_link_up(&self, netns: Option<&str>, name: &str, up: bool) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            let link = s.link_mut(netns, name)?;
            link.up = up;
            if up && link.kind == LinkKind::Loopback && link.addresses.is_empty() {
                // The kernel gives `lo` its addresses when it comes up.
                link.addresses = LOOPBACK.to_vec();
            }
            if !up {
                s.ns_mut(netns)?.routes.retain(|r| r.dev.as_deref() != Some(name));
            }
            Ok(())
        })
    }

    fn set_mtu(&self, netns: Option<&str>, name: &str, mtu: u32) -> Result<()> {
        validate_ifname(name)?;
        validate_mtu(mtu)?;
        self.transact(|s| {
            s.link_mut(netns, name)?.mtu = mtu;
            Ok(())
        })
    }

    fn set_mac(&self, netns: Option<&str>, name: &str, mac: &str) -> Result<()> {
        validate_ifname(name)?;
        validate_mac(mac)?;
        self.transact(|s| {
            s.link_mut(netns, name)?.mac = mac.to_ascii_lowercase();
            Ok(())
        })
    }

    fn set_master(&self, netns: Option<&str>, name: &str, bridge: &str) -> Result<()> {
        validate_ifname(name)?;
        validate_ifname(bridge)?;
        self.transact(|s| {
            if s.link(netns, bridge)?.kind != LinkKind::Bridge || name == bridge {
                return Err(Error::Invalid { what: "master", reason: format!("`{bridge}` is not a bridge") });
            }
            s.link_mut(netns, name)?.master = Some(bridge.into());
            Ok(())
        })
    }

    fn move_link(&self, netns: Option<&str>, name: &str, target: Option<&str>) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            s.link(netns, name)?;
            s.ns(target)?;
            if netns == target {
                return Ok(());
            }
            if s.ns(target)?.links.contains_key(name) {
                return Err(exists_err(target, name));
            }
            let ns = s.ns_mut(netns)?;
            let mut link = ns.links.remove(name).ok_or_else(|| no_link(netns, name))?;
            ns.routes.retain(|r| r.dev.as_deref() != Some(name));
            for port in ns.links.values_mut().filter(|l| l.master.as_deref() == Some(name)) {
                port.master = None;
            }
            link.up = false;
            link.addresses.clear();
            link.master = None;
            if let Some((peer, peer_ns)) = &link.peer
                && let Ok(other) = s.link_mut(peer_ns.as_deref(), peer)
            {
                other.peer = Some((name.into(), target.map(str::to_string)));
            }
            s.ns_mut(target)?.links.insert(name.into(), link);
            Ok(())
        })
    }

    fn set_tx_offload(&self, netns: Option<&str>, name: &str, on: bool) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            s.link_mut(netns, name)?.tx_offload = on;
            Ok(())
        })
    }

    fn tx_offload(&self, netns: Option<&str>, name: &str) -> Result<bool> {
        validate_ifname(name)?;
        Ok(self.lock().link(netns, name)?.tx_offload)
    }

    fn add_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            let link = s.link_mut(netns, name)?;
            if link.addresses.contains(&address) {
                return Err(Error::AddressExists {
                    netns: ns_label(netns),
                    link: name.into(),
                    address: address.to_string(),
                });
            }
            link.addresses.push(address);
            Ok(())
        })
    }

    fn replace_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            let link = s.link_mut(netns, name)?;
            if !link.addresses.contains(&address) {
                link.addresses.push(address);
            }
            Ok(())
        })
    }

    fn delete_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()> {
        validate_ifname(name)?;
        self.transact(|s| {
            let link = s.link_mut(netns, name)?;
            let before = link.addresses.len();
            link.addresses.retain(|a| *a != address);
            if link.addresses.len() == before {
                return Err(Error::NoSuchAddress {
                    netns: ns_label(netns),
                    link: name.into(),
                    address: address.to_string(),
                });
            }
            Ok(())
        })
    }

    fn links(&self, netns: Option<&str>) -> Result<Vec<LinkInfo>> {
        let s = self.lock();
        Ok(s.ns(netns)?
            .links
            .iter()
            .map(|(name, l)| LinkInfo {
                name: name.clone(),
                kind: l.kind.clone(),
                up: l.up,
                mtu: l.mtu,
                mac: Some(l.mac.clone()),
                master: l.master.clone(),
                addresses: l.addresses.clone(),
            })
            .collect())
    }

    fn add_route(&self, netns: Option<&str>, route: &Route) -> Result<()> {
        self.transact(|s| {
            let route = resolve_route(s, netns, route)?;
            let ns = s.ns_mut(netns)?;
            if ns.routes.iter().any(|r| r.dst == route.dst) {
                return Err(Error::RouteExists { netns: ns_label(netns), route: route.to_string() });
            }
            ns.routes.push(route);
            Ok(())
        })
    }

    fn replace_route(&self, netns: Option<&str>, route: &Route) -> Result<()> {
        self.transact(|s| {
            let route = resolve_route(s, netns, route)?;
            let ns = s.ns_mut(netns)?;
            match ns.routes.iter_mut().find(|r| r.dst == route.dst) {
                Some(r) => *r = route,
                None => ns.routes.push(route),
            }
            Ok(())
        })
    }

    fn delete_route(&self, netns: Option<&str>, route: &Route) -> Result<()> {
        self.transact(|s| {
            let ns = s.ns_mut(netns)?;
            let dst = route.dst.trunc();
            let matches = |r: &Route| {
                r.dst == dst
                    && route.via.is_none_or(|v| r.via == Some(v))
                    && route.dev.as_ref().is_none_or(|d| r.dev.as_ref() == Some(d))
            };
            let before = ns.routes.len();
            ns.routes.retain(|r| !matches(r));
            if ns.routes.len() == before {
                return Err(Error::NoSuchRoute { netns: ns_label(netns), route: route.to_string() });
            }
            Ok(())
        })
    }

    fn routes(&self, netns: Option<&str>) -> Result<Vec<Route>> {
        Ok(self.lock().ns(netns)?.routes.clone())
    }

    fn set_sysctl(&self, netns: Option<&str>, key: &str, value: &str) -> Result<()> {
        validate_sysctl(key)?;
        validate_sysctl_value(value)?;
        self.transact(|s| {
            s.ns(netns)?;
            if sysctl_default(s, netns, key).is_none() {
                return Err(Error::NoSuchSysctl { netns: ns_label(netns), key: key.into() });
            }
            s.ns_mut(netns)?.sysctls.insert(key.into(), value.into());
            Ok(())
        })
    }

    fn sysctl(&self, netns: Option<&str>, key: &str) -> Result<String> {
        validate_sysctl(key)?;
        let s = self.lock();
        if let Some(v) = s.ns(netns)?.sysctls.get(key) {
            return Ok(v.clone());
        }
        sysctl_default(&s, netns, key)
            .map(str::to_string)
            .ok_or_else(|| Error::NoSuchSysctl { netns: ns_label(netns), key: key.into() })
    }
}
