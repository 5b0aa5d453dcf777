//! Links, addresses, routes and sysctls inside network namespaces: the [`Links`] trait and its
//! real implementation with iproute2 (`ip -n <ns> …`, `ip -j` for reading), `ethtool` for TX
//! checksum offload and `sysctl` for `net.*` keys. `netns: None` is the root namespace.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::command::Cmd;
use crate::error::{Error, Result, ns_label};
use crate::linux::{LinuxHost, ip, no_such_link, parse_json, run_checked};
use crate::names::{validate_ifname, validate_mac, validate_mtu, validate_sysctl, validate_sysctl_value};

/// What a link is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    Loopback,
    Veth,
    Bridge,
    /// Anything else (`tun` for an Open vSwitch internal port of a userspace switch, `vxlan`…).
    Other(String),
}

/// One link as the namespace shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    pub name: String,
    pub kind: LinkKind,
    /// Administratively up (`ip link set … up`).
    pub up: bool,
    pub mtu: u32,
    pub mac: Option<String>,
    /// The bridge it is a port of.
    pub master: Option<String>,
    pub addresses: Vec<IpNet>,
}

/// A route of the main table. `dst` `0.0.0.0/0` (or `::/0`) is the default route.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
}

impl Route {
    /// `default via <gateway> [dev <dev>]`.
    pub fn default_via(gateway: IpAddr, dev: Option<&str>) -> Route {
        let dst = match gateway {
            IpAddr::V4(_) => IpNet::V4(Default::default()),
            IpAddr::V6(_) => IpNet::V6(Default::default()),
        };
        Route { dst, via: Some(gateway), dev: dev.map(str::to_string) }
    }

    /// Whether this is a default route.
    pub fn is_default(&self) -> bool {
        self.dst.prefix_len() == 0
    }

    /// The destination and next hop as `ip route` arguments.
    pub(crate) fn ip_args(&self) -> Vec<String> {
        let mut args =
            vec![if self.is_default() { "default".to_string() } else { self.dst.trunc().to_string() }];
        if let Some(via) = self.via {
            args.extend(["via".into(), via.to_string()]);
        }
        if let Some(dev) = &self.dev {
            args.extend(["dev".into(), dev.clone()]);
        }
        args
    }

    pub(crate) fn family_flag(&self) -> &'static str {
        if self.dst.addr().is_ipv4() { "-4" } else { "-6" }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ip_args().join(" "))
    }
}

/// Links, addresses, routes and sysctls of a namespace (`None`: the root namespace).
///
/// Every name is checked first ([`crate::names`]): a veth end longer than 15 characters is
/// [`Error::InvalidName`] before anything runs.
pub trait Links: Send + Sync + fmt::Debug {
    /// A veth pair: `name` in `netns`, `peer` in `peer_netns`. Both ends start down.
    fn add_veth(&self, netns: Option<&str>, name: &str, peer_netns: Option<&str>, peer: &str) -> Result<()>;
    /// A Linux bridge (no VLAN filtering), down.
    fn add_bridge(&self, netns: Option<&str>, name: &str) -> Result<()>;
    /// Deletes a link (a veth takes its peer with it).
    fn delete_link(&self, netns: Option<&str>, name: &str) -> Result<()>;
    fn set_link_up(&self, netns: Option<&str>, name: &str, up: bool) -> Result<()>;
    fn set_mtu(&self, netns: Option<&str>, name: &str, mtu: u32) -> Result<()>;
    fn set_mac(&self, netns: Option<&str>, name: &str, mac: &str) -> Result<()>;
    /// Makes `name` a port of bridge `bridge` in the same namespace.
    fn set_master(&self, netns: Option<&str>, name: &str, bridge: &str) -> Result<()>;
    /// Moves a link into `target`; like the kernel, it arrives down and without addresses.
    fn move_link(&self, netns: Option<&str>, name: &str, target: Option<&str>) -> Result<()>;
    /// TX checksum offload on or off (`ethtool -K <dev> tx off`): off on every veth whose
    /// traffic crosses a userspace Open vSwitch, or TCP and UDP fail while ping works.
    fn set_tx_offload(&self, netns: Option<&str>, name: &str, on: bool) -> Result<()>;
    fn tx_offload(&self, netns: Option<&str>, name: &str) -> Result<bool>;
    /// Adds an address; [`Error::AddressExists`] when it is there.
    fn add_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()>;
    /// Adds an address unless it is there (`ip addr replace`).
    fn replace_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()>;
    fn delete_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()>;
    /// Every link of the namespace with its addresses.
    fn links(&self, netns: Option<&str>) -> Result<Vec<LinkInfo>>;
    /// Adds a route; [`Error::RouteExists`] when it is there, [`Error::GatewayUnreachable`]
    /// when the gateway is on no connected subnet.
    fn add_route(&self, netns: Option<&str>, route: &Route) -> Result<()>;
    /// Adds or changes the route to `route.dst` (`ip route replace`).
    fn replace_route(&self, netns: Option<&str>, route: &Route) -> Result<()>;
    fn delete_route(&self, netns: Option<&str>, route: &Route) -> Result<()>;
    /// The main table's routes, without the kernel's own connected routes.
    fn routes(&self, netns: Option<&str>) -> Result<Vec<Route>>;
    /// Sets a `net.*` sysctl of the namespace.
    fn set_sysctl(&self, netns: Option<&str>, key: &str, value: &str) -> Result<()>;
    fn sysctl(&self, netns: Option<&str>, key: &str) -> Result<String>;
}

/// `program` inside `netns` (through `ip netns exec`) or in the root namespace.
fn tool(netns: Option<&str>, program: &str) -> Cmd {
    Cmd::in_optional_netns(netns, program)
}

fn link_cmd(netns: Option<&str>, name: &str, args: &[&str]) -> Result<()> {
    validate_ifname(name)?;
    let cmd = ip(netns).args(["link", "set", "dev", name]).args(args.iter().copied());
    run_checked(&cmd, netns, |e| no_such_link(e, netns, name))?;
    Ok(())
}

fn address_cmd(netns: Option<&str>, verb: &str, name: &str, address: IpNet) -> Result<()> {
    validate_ifname(name)?;
    let cmd = ip(netns).args(["addr", verb, &address.to_string(), "dev", name]);
    let (link, addr, label) = (name.to_string(), address.to_string(), ns_label(netns));
    run_checked(&cmd, netns, |e| {
        no_such_link(e, netns, name).or_else(|| {
            if e.contains("already assigned") || e.contains("File exists") {
                Some(Error::AddressExists { netns: label, link, address: addr })
            } else if e.contains("Address not found") || e.contains("Cannot assign requested address") {
                Some(Error::NoSuchAddress { netns: label, link, address: addr })
            } else {
                None
            }
        })
    })?;
    Ok(())
}

fn route_cmd(netns: Option<&str>, verb: &str, route: &Route) -> Result<()> {
    if let Some(dev) = &route.dev {
        validate_ifname(dev)?;
    }
    let cmd = ip(netns).arg(route.family_flag()).args(["route", verb]).args(route.ip_args());
    let (label, shown) = (ns_label(netns), route.to_string());
    run_checked(&cmd, netns, |e| {
        if let Some(dev) = &route.dev
            && let Some(err) = no_such_link(e, netns, dev)
        {
            return Some(err);
        }
        if e.contains("File exists") {
            Some(Error::RouteExists { netns: label, route: shown })
        } else if e.contains("No such process") || e.contains("FIB table does not exist") {
            Some(Error::NoSuchRoute { netns: label, route: shown })
        } else if e.contains("invalid gateway") || e.contains("Network is unreachable") {
            let gateway = route.via.map(|v| v.to_string()).unwrap_or_default();
            Some(Error::GatewayUnreachable { netns: label, gateway })
        } else {
            None
        }
    })?;
    Ok(())
}

impl Links for LinuxHost {
    fn add_veth(&self, netns: Option<&str>, name: &str, peer_netns: Option<&str>, peer: &str) -> Result<()> {
        validate_ifname(name)?;
        validate_ifname(peer)?;
        let mut cmd = ip(netns).args(["link", "add", name, "type", "veth", "peer", "name", peer]);
        if peer_netns != netns {
            // `netns 1`: the namespace of pid 1, the root one.
            cmd = cmd.args(["netns", peer_netns.unwrap_or("1")]);
        }
        let label = ns_label(netns);
        run_checked(&cmd, netns, |e| {
            if e.contains("File exists") {
                Some(Error::LinkExists { netns: label, link: format!("{name} or {peer}") })
            } else if e.contains("Invalid \"netns\" value") {
                Some(Error::NoSuchNetns(peer_netns.unwrap_or_default().into()))
            } else {
                None
            }
        })?;
        Ok(())
    }

    fn add_bridge(&self, netns: Option<&str>, name: &str) -> Result<()> {
        validate_ifname(name)?;
        let cmd = ip(netns).args(["link", "add", name, "type", "bridge"]);
        let label = ns_label(netns);
        run_checked(&cmd, netns, |e| {
            e.contains("File exists").then(|| Error::LinkExists { netns: label, link: name.into() })
        })?;
        Ok(())
    }

    fn delete_link(&self, netns: Option<&str>, name: &str) -> Result<()> {
        validate_ifname(name)?;
        let cmd = ip(netns).args(["link", "delete", "dev", name]);
        run_checked(&cmd, netns, |e| no_such_link(e, netns, name))?;
        Ok(())
    }

    fn set_link_up(&self, netns: Option<&str>, name: &str, up: bool) -> Result<()> {
        link_cmd(netns, name, &[if up { "up" } else { "down" }])
    }

    fn set_mtu(&self, netns: Option<&str>, name: &str, mtu: u32) -> Result<()> {
        validate_mtu(mtu)?;
        link_cmd(netns, name, &["mtu", &mtu.to_string()])
    }

    fn set_mac(&self, netns: Option<&str>, name: &str, mac: &str) -> Result<()> {
        validate_mac(mac)?;
        link_cmd(netns, name, &["address", mac])
    }

    fn set_master(&self, netns: Option<&str>, name: &str, bridge: &str) -> Result<()> {
        validate_ifname(bridge)?;
        link_cmd(netns, name, &["master", bridge])
    }

    fn move_link(&self, netns: Option<&str>, name: &str, target: Option<&str>) -> Result<()> {
        link_cmd(netns, name, &["netns", target.unwrap_or("1")])
    }

    fn set_tx_offload(&self, netns: Option<&str>, name: &str, on: bool) -> Result<()> {
        validate_ifname(name)?;
        let cmd = tool(netns, "ethtool").args(["-K", name, "tx", if on { "on" } else { "off" }]);
        run_checked(&cmd, netns, |e| no_such_link(e, netns, name))?;
        Ok(())
    }

    fn tx_offload(&self, netns: Option<&str>, name: &str) -> Result<bool> {
        validate_ifname(name)?;
        let cmd = tool(netns, "ethtool").args(["-k", name]);
        let out = run_checked(&cmd, netns, |e| no_such_link(e, netns, name))?;
        parse_tx_offload(&out.stdout)
            .ok_or_else(|| Error::Parse { cmd: cmd.to_string(), reason: "no `tx-checksumming:` line".into() })
    }

    fn add_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()> {
        address_cmd(netns, "add", name, address)
    }

    fn replace_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()> {
        address_cmd(netns, "replace", name, address)
    }

    fn delete_address(&self, netns: Option<&str>, name: &str, address: IpNet) -> Result<()> {
        address_cmd(netns, "delete", name, address)
    }

    fn links(&self, netns: Option<&str>) -> Result<Vec<LinkInfo>> {
        let cmd = ip(netns).args(["-j", "-d", "addr", "show"]);
        let out = run_checked(&cmd, netns, |_| None)?;
        let links: Vec<IpLink> = parse_json(&cmd, &out)?;
        Ok(links.into_iter().map(IpLink::into_info).collect())
    }

    fn add_route(&self, netns: Option<&str>, route: &Route) -> Result<()> {
        route_cmd(netns, "add", route)
    }

    fn replace_route(&self, netns: Option<&str>, route: &Route) -> Result<()> {
        route_cmd(netns, "replace", route)
    }

    fn delete_route(&self, netns: Option<&str>, route: &Route) -> Result<()> {
        route_cmd(netns, "delete", route)
    }

    fn routes(&self, netns: Option<&str>) -> Result<Vec<Route>> {
        let mut routes = Vec::new();
        for family in ["-4", "-6"] {
            let cmd = ip(netns).args(["-j", family, "route", "show"]);
            let out = run_checked(&cmd, netns, |_| None)?;
            let shown: Vec<IpRoute> = parse_json(&cmd, &out)?;
            for r in shown.into_iter().filter(|r| r.protocol.as_deref() != Some("kernel")) {
                routes.push(r.into_route(family == "-6", &cmd)?);
            }
        }
        Ok(routes)
    }

    fn set_sysctl(&self, netns: Option<&str>, key: &str, value: &str) -> Result<()> {
        validate_sysctl(key)?;
        validate_sysctl_value(value)?;
        let cmd = tool(netns, "sysctl").args(["-q", "-w", &format!("{key}={value}")]);
        run_checked(&cmd, netns, |e| no_such_sysctl(e, netns, key))?;
        Ok(())
    }

    fn sysctl(&self, netns: Option<&str>, key: &str) -> Result<String> {
        validate_sysctl(key)?;
        let cmd = tool(netns, "sysctl").args(["-n", key]);
        let out = run_checked(&cmd, netns, |e| no_such_sysctl(e, netns, key))?;
        Ok(out.stdout.trim().to_string())
    }
}

fn no_such_sysctl(stderr: &str, netns: Option<&str>, key: &str) -> Option<Error> {
    stderr.contains("cannot stat").then(|| Error::NoSuchSysctl { netns: ns_label(netns), key: key.into() })
}

/// `tx-checksumming: off` (possibly followed by ` [fixed]`) in `ethtool -k` output.
pub(crate) fn parse_tx_offload(stdout: &str) -> Option<bool> {
    let line = stdout.lines().find_map(|l| l.trim().strip_prefix("tx-checksumming:"))?;
    Some(line.trim_start().starts_with("on"))
}

/// One entry of `ip -j -d addr show`.
#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    mtu: u32,
    address: Option<String>,
    master: Option<String>,
    link_type: Option<String>,
    linkinfo: Option<IpLinkInfo>,
    #[serde(default)]
    addr_info: Vec<IpAddrInfo>,
}

#[derive(Deserialize)]
struct IpLinkInfo {
    info_kind: Option<String>,
}

#[derive(Deserialize)]
struct IpAddrInfo {
    local: Option<IpAddr>,
    prefixlen: Option<u8>,
}

impl IpLink {
    fn into_info(self) -> LinkInfo {
        let kind = match (self.link_type.as_deref(), self.linkinfo.and_then(|i| i.info_kind).as_deref()) {
            (Some("loopback"), _) => LinkKind::Loopback,
            (_, Some("veth")) => LinkKind::Veth,
            (_, Some("bridge")) => LinkKind::Bridge,
            (_, Some(other)) => LinkKind::Other(other.into()),
            (t, None) => LinkKind::Other(t.unwrap_or_default().into()),
        };
        let addresses = self
            .addr_info
            .iter()
            .filter_map(|a| IpNet::new(a.local?, a.prefixlen?).ok())
            .filter(|a| !matches!(a.addr(), IpAddr::V6(v6) if v6.segments()[0] == 0xfe80))
            .collect();
        LinkInfo {
            up: self.flags.iter().any(|f| f == "UP"),
            name: self.ifname,
            kind,
            mtu: self.mtu,
            mac: self.address,
            master: self.master,
            addresses,
        }
    }
}

/// One entry of `ip -j route show`.
#[derive(Deserialize)]
struct IpRoute {
    dst: String,
    gateway: Option<IpAddr>,
    dev: Option<String>,
    protocol: Option<String>,
}

impl IpRoute {
    fn into_route(self, v6: bool, cmd: &Cmd) -> Result<Route> {
        let dst = match self.dst.as_str() {
            "default" if v6 => Some(IpNet::V6(Default::default())),
            "default" => Some(IpNet::V4(Default::default())),
            d if d.contains('/') => d.parse().ok(),
            d => d.parse::<IpAddr>().ok().map(IpNet::from),
        }
        .ok_or_else(|| Error::Parse {
            cmd: cmd.to_string(),
            reason: format!("route destination `{}`", self.dst),
        })?;
        Ok(Route { dst, via: self.gateway, dev: self.dev })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_arguments() {
        let r = Route::default_via("10.0.0.1".parse().unwrap(), Some("eth0"));
        assert!(r.is_default());
        assert_eq!(r.to_string(), "default via 10.0.0.1 dev eth0");
        let r = Route { dst: "10.1.2.3/16".parse().unwrap(), via: None, dev: Some("qr-1".into()) };
        assert_eq!(r.ip_args(), ["10.1.0.0/16", "dev", "qr-1"]);
        assert_eq!(Route::default_via("fe80::1".parse().unwrap(), None).family_flag(), "-6");
    }

    #[test]
    fn ip_json_parsing() {
        let json = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"link_type":"loopback",
            "address":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifindex":2,"ifname":"va","flags":["BROADCAST","UP"],"mtu":1450,"link_type":"ether","master":"br0",
            "address":"5e:fe:81:e4:78:7b","linkinfo":{"info_kind":"veth"},
            "addr_info":[{"family":"inet","local":"10.9.0.1","prefixlen":24},
                         {"family":"inet6","local":"fe80::1","prefixlen":64}]}]"#;
        let links: Vec<IpLink> = serde_json::from_str(json).unwrap();
        let info: Vec<LinkInfo> = links.into_iter().map(IpLink::into_info).collect();
        assert_eq!(info[0].kind, LinkKind::Loopback);
        assert_eq!(info[1].kind, LinkKind::Veth);
        assert_eq!((info[1].up, info[1].mtu, info[1].master.as_deref()), (true, 1450, Some("br0")));
        assert_eq!(info[1].addresses, ["10.9.0.1/24".parse::<IpNet>().unwrap()]);
        let r: IpRoute =
            serde_json::from_str(r#"{"dst":"default","gateway":"10.9.0.254","dev":"va"}"#).unwrap();
        let cmd = Cmd::new("ip");
        assert_eq!(r.into_route(false, &cmd).unwrap().to_string(), "default via 10.9.0.254 dev va");
        assert_eq!(parse_tx_offload("Features for va:\ntx-checksumming: off [fixed]\n"), Some(false));
        assert_eq!(parse_tx_offload("tx-checksumming: on\n"), Some(true));
    }
}
