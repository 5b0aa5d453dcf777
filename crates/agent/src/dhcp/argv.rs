//! How one network's processes are started: dnsmasq's command line, as upstream's DHCP agent
//! builds it (`neutron/agent/linux/dhcp.py`, `_build_cmdline_callback`: one `--dhcp-range`
//! per DHCP subnet, the MTU option, the lease cap, no `--leasefile-ro`), and the metadata
//! proxy's haproxy configuration (`neutron/agent/metadata/driver_base.py`, `common/metadata.py`:
//! listen on 169.254.169.254:80 in the namespace, name the network in `X-Neutron-Network-ID`,
//! forward to the agent's metadata socket). Pure functions.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use neutrino_model::internal::DhcpNetworkState;

use crate::dhcp::hosts::subnet_tag;
use crate::metadata::proxy::{self, METADATA_IP, Serves};

/// dnsmasq's upper bound of leases whatever the subnets' sizes (upstream's `dnsmasq_lease_max`).
pub const LEASE_MAX: u128 = 1 << 24;

/// The files of one network under `<state_path>/<network id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(state_path: &Path, network_id: &str) -> Self {
        Self { dir: state_path.join(network_id) }
    }
    pub fn host(&self) -> PathBuf {
        self.dir.join("host")
    }
    pub fn addn_hosts(&self) -> PathBuf {
        self.dir.join("addn_hosts")
    }
    pub fn opts(&self) -> PathBuf {
        self.dir.join("opts")
    }
    pub fn leases(&self) -> PathBuf {
        self.dir.join("leases")
    }
    pub fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }
    /// The command line the running dnsmasq was started with (JSON), to tell after an agent
    /// restart whether it may be kept.
    pub fn argv(&self) -> PathBuf {
        self.dir.join("dnsmasq.argv")
    }
    pub fn haproxy_conf(&self) -> PathBuf {
        self.dir.join("haproxy.conf")
    }
    pub fn haproxy_pid(&self) -> PathBuf {
        self.dir.join("haproxy.pid")
    }
}

/// What dnsmasq's command line depends on besides the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsmasqSettings {
    /// The program.
    pub program: String,
    /// The interface it serves (`ns-…`).
    pub interface: String,
    /// Seconds; `-1` is infinite.
    pub lease_duration: i64,
    /// Resolvers to forward to (`--server`).
    pub dns_servers: Vec<String>,
}

/// dnsmasq's command line for `net`: DNS without the machine's `/etc/hosts`, resolver list or
/// configuration file; DHCP from the files in `paths`, one static range per DHCP subnet
/// (IPv4 with its netmask; DHCPv6 stateful or stateless with its prefix length, skipped below
/// /64; SLAAC subnets get none).
pub fn dnsmasq_argv(net: &DhcpNetworkState, paths: &Paths, s: &DnsmasqSettings) -> Vec<String> {
    let file = |p: PathBuf| p.display().to_string();
    let mut argv = vec![s.program.clone(), "--no-hosts".into()];
    // Upstream reads the host's resolv.conf only when told to (`dnsmasq_local_resolv`), never
    // here: the machine's resolver is not the tenant's.
    argv.push("--no-resolv".into());
    argv.extend([
        format!("--pid-file={}", file(paths.pid())),
        format!("--dhcp-hostsfile={}", file(paths.host())),
        format!("--addn-hosts={}", file(paths.addn_hosts())),
        format!("--dhcp-optsfile={}", file(paths.opts())),
        format!("--dhcp-leasefile={}", file(paths.leases())),
        "--dhcp-match=set:ipxe,175".into(),
        "--dhcp-userclass=set:ipxe6,iPXE".into(),
        "--local-service".into(),
        "--bind-dynamic".into(),
        format!("--interface={}", s.interface),
    ]);
    let lease =
        if s.lease_duration == -1 { "infinite".to_string() } else { format!("{}s", s.lease_duration) };
    let mut possible: u128 = 0;
    for sub in net.subnets.iter().filter(|s| s.enable_dhcp) {
        let Ok(cidr) = sub.cidr.parse::<IpNet>() else {
            tracing::warn!(subnet = %sub.id, cidr = %sub.cidr, "not a CIDR; no DHCP range");
            continue;
        };
        let tag = subnet_tag(&sub.id);
        let range = match cidr {
            IpNet::V4(c) if sub.ip_version == 4 => {
                format!("--dhcp-range=set:{tag},{},static,{},{lease}", c.network(), c.netmask())
            }
            IpNet::V6(c) if sub.ip_version == 6 => {
                let static_mode = matches!(
                    (sub.ipv6_address_mode.as_deref(), sub.ipv6_ra_mode.as_deref()),
                    (Some("dhcpv6-stateful" | "dhcpv6-stateless"), _) | (None, None)
                );
                if !static_mode {
                    continue;
                }
                if c.prefix_len() < 64 {
                    tracing::debug!(subnet = %sub.id, "prefix shorter than /64: no DHCPv6 range");
                    continue;
                }
                format!("--dhcp-range=set:{tag},{},static,{},{lease}", c.network(), c.prefix_len())
            }
            _ => continue,
        };
        argv.push(range);
        let host_bits = u32::from(cidr.max_prefix_len() - cidr.prefix_len());
        possible = possible.saturating_add(1u128.checked_shl(host_bits).unwrap_or(u128::MAX));
    }
    if net.mtu > 0 {
        argv.push(format!("--dhcp-option-force=option:mtu,{}", net.mtu));
    }
    argv.push(format!("--dhcp-lease-max={}", possible.min(LEASE_MAX)));
    argv.push("--conf-file=/dev/null".into());
    argv.extend(s.dns_servers.iter().map(|d| format!("--server={d}")));
    if !net.dns_domain.is_empty() {
        argv.push(format!("--domain={}", net.dns_domain));
    }
    argv
}

/// haproxy's command line: it reads `conf` and detaches, writing its pid file.
pub fn haproxy_argv(program: &str, paths: &Paths) -> Vec<String> {
    vec![program.to_string(), "-f".into(), paths.haproxy_conf().display().to_string()]
}

/// The metadata proxy of network `network_id`: HTTP on 169.254.169.254:80 inside the
/// namespace, naming the network in `X-Neutron-Network-ID` ([`proxy::haproxy_config`]).
pub fn haproxy_config(network_id: &str, paths: &Paths, socket: &Path) -> String {
    let bind = format!("{METADATA_IP}:80");
    proxy::haproxy_config(&bind, Serves::Network(network_id), &paths.haproxy_pid(), socket)
}
