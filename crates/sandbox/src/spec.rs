//! What to build: [`SandboxSpec`], [`HostSpec`] with its [`HostRole`], [`VmSpec`], their
//! validation, and the names of every namespace, link and bridge the sandbox creates (all
//! interface names ≤ 15 chars).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Prefix every sandbox namespace must carry.
pub const REQUIRED_PREFIX: &str = "nt-";
/// Linux's IFNAMSIZ - 1.
pub const MAX_IFNAME: usize = neutrino_host::MAX_IFNAME;
/// Address of the outside world in the `ext` namespace.
pub const EXT_GATEWAY_CIDR: &str = "203.0.113.1/24";
/// The physical network of the external network (flat), bridged by `br-ex` on the network node.
pub const EXT_PHYSNET: &str = "public";
/// `ext`'s address towards the public host.
pub const PUBLIC_GATEWAY_CIDR: &str = "198.51.100.1/24";
/// The public host's address (namespace `<prefix>public`), behind `ext`.
pub const PUBLIC_HOST_CIDR: &str = "198.51.100.10/24";
/// Name of the network node, when [`SandboxSpec::network_node`] asks for one.
pub const NETWORK_NODE: &str = "network";
/// Tunnel endpoint of the network node (compute hosts count up from `.1`).
pub const NETWORK_NODE_TUNNEL_IP: &str = "172.31.0.254/24";
/// Host names the sandbox uses for its own namespaces (`vm` would make a host's agent
/// namespace prefix `<prefix>vm-` collide with the VMs').
const RESERVED_HOSTS: [&str; 5] = ["fab", "phys", "ext", "vm", "public"];

/// A whole sandbox: hosts joined by an underlay fabric and a physical network, optionally an
/// outside world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Prefix of every namespace created (must start with `nt-`).
    pub name_prefix: String,
    /// Where the OVS databases, sockets, pidfiles, logs and `sandbox.json` live (absolute).
    pub run_dir: PathBuf,
    /// The compute hosts (and any other host spelled out).
    pub hosts: Vec<HostSpec>,
    /// Give every host a `br-ex` onto the outside world (the `ext` namespace, 203.0.113.1/24).
    /// Without it only network nodes get one; the outside world exists whenever some host
    /// has a `br-ex` (see [`SandboxSpec::outside`]).
    pub ext: bool,
    /// Add a host named `network` ([`NETWORK_NODE`]) with the [`HostRole::Network`] role: its
    /// own Open vSwitch and tunnel endpoint ([`NETWORK_NODE_TUNNEL_IP`]), on every physical
    /// network, after the hosts above.
    #[serde(default)]
    pub network_node: bool,
}

/// What a host is for, and so which roles its agent serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostRole {
    /// A hypervisor: VMs, the `l2` role.
    #[default]
    Compute,
    /// The network node: `l2`, `dhcp` and `l3`, with a `br-ex` onto the outside world.
    Network,
}

impl HostRole {
    /// The agent's `roles` on a host of this kind.
    pub fn agent_roles(self) -> &'static [&'static str] {
        match self {
            HostRole::Compute => &["l2"],
            HostRole::Network => &["l2", "dhcp", "l3"],
        }
    }
}

/// One simulated hypervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    /// Short name (`h1`): lowercase letters and digits, at most 10 characters.
    pub name: String,
    /// Tunnel endpoint with prefix length, e.g. `172.31.0.1/24`.
    pub tunnel_ip: String,
    /// Physical networks this host is attached to (`physnet1` → `br-eth1`).
    pub physnets: Vec<String>,
    #[serde(default)]
    pub role: HostRole,
}

impl SandboxSpec {
    /// `n_hosts` hosts `h1…hN` with tunnel IPs `172.31.0.<i>/24` on `physnet1`, prefix `nt-`,
    /// run dir `$TMPDIR/neutrino-sandbox`, no `ext`.
    pub fn default(n_hosts: usize) -> Self {
        SandboxSpec {
            name_prefix: REQUIRED_PREFIX.into(),
            run_dir: std::env::temp_dir().join("neutrino-sandbox"),
            hosts: (1..=n_hosts)
                .map(|i| HostSpec {
                    name: format!("h{i}"),
                    tunnel_ip: format!("172.31.0.{i}/24"),
                    physnets: vec!["physnet1".into()],
                    role: HostRole::Compute,
                })
                .collect(),
            ext: false,
            network_node: false,
        }
    }

    /// Every host to build, in order: [`SandboxSpec::hosts`], then the network node when asked
    /// for (attached to every physical network of the hosts).
    pub fn all_hosts(&self) -> Vec<HostSpec> {
        let mut all = self.hosts.clone();
        if self.network_node {
            all.push(HostSpec {
                name: NETWORK_NODE.into(),
                tunnel_ip: NETWORK_NODE_TUNNEL_IP.into(),
                physnets: self.physnets(),
                role: HostRole::Network,
            });
        }
        all
    }

    /// The physical networks of all hosts in order of first appearance; `physnet` at index
    /// `i` is bridged by `br-eth<i+1>` on every host, so `bridge_mappings` agree.
    pub fn physnets(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for p in self.hosts.iter().flat_map(|h| &h.physnets) {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }

    /// Whether `host` gets a `br-ex` onto the outside world: every host with
    /// [`SandboxSpec::ext`], else network nodes only.
    pub fn host_has_ext(&self, host: &HostSpec) -> bool {
        self.ext || host.role == HostRole::Network
    }

    /// Whether the outside world (`ext` and the public host behind it) is built: when some
    /// host has a `br-ex`.
    pub fn outside(&self) -> bool {
        self.all_hosts().iter().any(|h| self.host_has_ext(h))
    }

    pub(crate) fn names(&self) -> Names {
        Names { prefix: self.name_prefix.clone() }
    }

    /// Checks names, lengths and addresses before anything is created.
    pub fn validate(&self) -> Result<()> {
        validate_prefix(&self.name_prefix)?;
        if !self.run_dir.is_absolute() {
            return Err(invalid(format!("run_dir {} must be absolute", self.run_dir.display())));
        }
        // Unix socket paths are limited to 108 bytes.
        let longest = self.run_dir.join("h").join("ovs-vswitchd.ctl");
        if longest.as_os_str().len() + 10 > 107 {
            return Err(invalid(format!("run_dir {} is too long for unix sockets", self.run_dir.display())));
        }
        let hosts = self.all_hosts();
        if hosts.is_empty() {
            return Err(invalid("at least one host".into()));
        }
        let names = self.names();
        let physnets = self.physnets();
        for (i, h) in hosts.iter().enumerate() {
            validate_short_name("host", &h.name, 10)?;
            if RESERVED_HOSTS.contains(&h.name.as_str()) {
                return Err(invalid(format!("host name `{}` is reserved", h.name)));
            }
            if hosts[..i].iter().any(|o| o.name == h.name) {
                return Err(invalid(format!("duplicate host `{}`", h.name)));
            }
            parse_cidr(&h.tunnel_ip)?;
            if hosts[..i].iter().any(|o| o.tunnel_ip == h.tunnel_ip) {
                return Err(invalid(format!("duplicate tunnel ip {}", h.tunnel_ip)));
            }
            let mut ifnames = vec![names.underlay_host(&h.name), names.underlay_fab(&h.name)];
            ifnames.extend([names.ext_host(&h.name), names.ext_peer(&h.name)]);
            for p in &h.physnets {
                if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return Err(invalid(format!("physnet name `{p}`")));
                }
                let n = physnets.iter().position(|q| q == p).unwrap_or_default() + 1;
                ifnames.extend([names.phys_host(n, &h.name), names.phys_peer(n, &h.name)]);
            }
            for ifname in ifnames {
                validate_ifname(&ifname)?;
            }
        }
        Ok(())
    }
}

/// A "VM": a namespace with `eth0`, plugged into `br-int` the way os-vif plugs a tap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSpec {
    /// Short name (lowercase letters, digits), at most 20 characters; namespace `<prefix>vm-<name>`.
    pub name: String,
    /// Neutron port id; the host end is `tap<port_id[:11]>`, `external_ids:iface-id`.
    pub port_id: String,
    pub mac: String,
    /// Nova instance id (`external_ids:vm-uuid`).
    pub device_id: String,
    /// Static address for `eth0`, e.g. `10.0.0.5/24`; `None` to leave it to DHCP.
    pub ip_cidr: Option<String>,
    /// Default route, e.g. `10.0.0.1`.
    pub gateway: Option<String>,
    pub mtu: u32,
    /// Run a DHCP client (busybox `udhcpc`) in the VM for its address, routes and MTU,
    /// instead of `ip_cidr`/`gateway`.
    #[serde(default)]
    pub dhcp: bool,
}

impl VmSpec {
    /// A VM with MTU 1500 and no address; `device_id` defaults to the port id.
    pub fn new(name: impl Into<String>, port_id: impl Into<String>, mac: impl Into<String>) -> Self {
        let port_id = port_id.into();
        VmSpec {
            name: name.into(),
            device_id: port_id.clone(),
            port_id,
            mac: mac.into(),
            ip_cidr: None,
            gateway: None,
            mtu: 1500,
            dhcp: false,
        }
    }

    /// The same VM addressed by DHCP.
    pub fn with_dhcp(self) -> Self {
        VmSpec { dhcp: true, ip_cidr: None, gateway: None, ..self }
    }

    pub fn validate(&self) -> Result<()> {
        validate_short_name("vm", &self.name, 20)?;
        if self.port_id.len() < 11 || !self.port_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(format!("port id `{}` (need ≥ 11 chars of [0-9a-z-])", self.port_id)));
        }
        let octets: Vec<_> = self.mac.split(':').collect();
        if octets.len() != 6 || octets.iter().any(|o| o.len() != 2 || u8::from_str_radix(o, 16).is_err()) {
            return Err(invalid(format!("mac `{}`", self.mac)));
        }
        if self.device_id.is_empty() || self.device_id.chars().any(|c| c.is_whitespace() || c == '"') {
            return Err(invalid(format!("device id `{}`", self.device_id)));
        }
        if let Some(c) = &self.ip_cidr {
            parse_cidr(c)?;
        }
        if let Some(g) = &self.gateway {
            g.parse::<Ipv4Addr>().map_err(|_| invalid(format!("gateway `{g}`")))?;
        }
        if self.dhcp && (self.ip_cidr.is_some() || self.gateway.is_some()) {
            return Err(invalid(format!("vm `{}`: a static address or gateway and DHCP", self.name)));
        }
        if !(68..=9000).contains(&self.mtu) {
            return Err(invalid(format!("mtu {}", self.mtu)));
        }
        Ok(())
    }

    /// `tap<port_id[:11]>`.
    pub fn tap_name(&self) -> String {
        tap_name(&self.port_id)
    }
}

/// `tap<port_id[:11]>`, the name Nova/os-vif and Neutron give a VM's host-side device.
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", port_id.chars().take(11).collect::<String>())
}

/// Names of everything the sandbox creates, derived from the namespace prefix.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    pub prefix: String,
}

impl Names {
    pub fn host_ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }
    pub fn fab_ns(&self) -> String {
        format!("{}fab", self.prefix)
    }
    pub fn phys_ns(&self) -> String {
        format!("{}phys", self.prefix)
    }
    pub fn ext_ns(&self) -> String {
        format!("{}ext", self.prefix)
    }
    pub fn public_ns(&self) -> String {
        format!("{}public", self.prefix)
    }
    pub fn vm_ns(&self, vm: &str) -> String {
        format!("{}vm-{vm}", self.prefix)
    }
    /// The Linux bridges inside the fabric, physical and ext namespaces.
    pub const FAB_BRIDGE: &'static str = "fabric";
    pub const PHYS_BRIDGE: &'static str = "physnet";
    pub const EXT_BRIDGE: &'static str = "extnet";
    /// The veth between `ext` (this end) and the public host (`eth0`).
    pub const EXT_PUBLIC_DEV: &'static str = "to-public";
    pub const PUBLIC_DEV: &'static str = "eth0";
    pub fn underlay_host(&self, host: &str) -> String {
        format!("ul-{host}")
    }
    pub fn underlay_fab(&self, host: &str) -> String {
        format!("fab-{host}")
    }
    pub fn phys_host(&self, n: usize, host: &str) -> String {
        format!("ph{n}-{host}")
    }
    pub fn phys_peer(&self, n: usize, host: &str) -> String {
        format!("p{n}-{host}")
    }
    pub fn ext_host(&self, host: &str) -> String {
        format!("ex-{host}")
    }
    pub fn ext_peer(&self, host: &str) -> String {
        format!("x-{host}")
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidSpec(message)
}

/// The prefix must start with `nt-` and hold only `[a-z0-9-]`.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if !prefix.starts_with(REQUIRED_PREFIX)
        || prefix.len() > 12
        || !prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(format!(
            "name prefix `{prefix}` must start with `{REQUIRED_PREFIX}`, ≤ 12 of [a-z0-9-]"
        )));
    }
    Ok(())
}

fn validate_short_name(kind: &str, name: &str, max: usize) -> Result<()> {
    if name.is_empty()
        || name.len() > max
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(invalid(format!("{kind} name `{name}` must be 1–{max} of [a-z0-9]")));
    }
    Ok(())
}

pub(crate) fn validate_ifname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_IFNAME {
        return Err(invalid(format!("interface name `{name}` is longer than {MAX_IFNAME} characters")));
    }
    Ok(())
}

/// Parses `a.b.c.d/len`.
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || invalid(format!("`{cidr}` is not an IPv4 address with prefix length"));
    let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
    let addr = addr.parse::<Ipv4Addr>().map_err(|_| bad())?;
    let len = len.parse::<u8>().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        let spec = SandboxSpec::default(3);
        spec.validate().unwrap();
        assert_eq!(spec.hosts[2].tunnel_ip, "172.31.0.3/24");
        assert_eq!(spec.physnets(), ["physnet1"]);
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut spec = SandboxSpec::default(1);
        spec.name_prefix = "x-".into();
        assert!(spec.validate().is_err());
        let mut spec = SandboxSpec::default(1);
        spec.hosts[0].name = "averyveryverylonghost".into();
        assert!(spec.validate().is_err());
        let mut spec = SandboxSpec::default(2);
        spec.hosts[1].name = "h1".into();
        assert!(spec.validate().is_err());
        let mut spec = SandboxSpec::default(1);
        spec.hosts[0].tunnel_ip = "172.31.0.1".into();
        assert!(spec.validate().is_err());
        let mut spec = SandboxSpec::default(1);
        spec.run_dir = "relative".into();
        assert!(spec.validate().is_err());
    }

    #[test]
    fn longest_names_fit_ifnamsiz() {
        let mut spec = SandboxSpec::default(1);
        spec.hosts[0].name = "abcdefghij".into();
        spec.hosts[0].physnets = (1..=12).map(|i| format!("physnet{i}")).collect();
        spec.validate().unwrap();
        assert_eq!(tap_name("0123456789abcdef"), "tap0123456789a");
    }

    #[test]
    fn vm_spec_validation() {
        let vm = VmSpec::new("a", "11111111-2222-3333-4444-555555555555", "fa:16:3e:00:00:01");
        vm.validate().unwrap();
        assert_eq!(vm.tap_name(), "tap11111111-22");
        assert!(VmSpec { mac: "fa:16:3e:00:00".into(), ..vm.clone() }.validate().is_err());
        assert!(VmSpec { ip_cidr: Some("10.0.0.5".into()), ..vm.clone() }.validate().is_err());
        assert!(VmSpec { port_id: "short".into(), ..vm }.validate().is_err());
    }
}
