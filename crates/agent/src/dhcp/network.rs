//! One served network on the host, as upstream's DHCP agent sets it up (`DeviceManager.setup`
//! and `Dnsmasq.enable`/`reload_allocations` in `neutron/agent/linux/dhcp.py`, the interface as
//! docs/design.md "The dhcp driver" lays it out): the `qdhcp-` namespace, the veth of the DHCP
//! port (its host end plugged into the integration bridge as Nova plugs a VM, the other end in
//! the namespace with the port's MAC and addresses, the network MTU, TX offload off), the files
//! written atomically, dnsmasq started, reloaded by SIGHUP after releasing stale leases, or
//! restarted when its subnets or command line changed, and the metadata proxy of an isolated
//! network. Idempotent: what is already right is left alone, a running dnsmasq is adopted.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use neutrino_host::process::program_name;
use neutrino_host::{Cmd, Host, LinkKind, Process, Signal, Spawn};
use neutrino_model::internal::{DhcpNetworkState, DhcpPortState};
use neutrino_ovs::vswitch::{PortSpec, StrMap, Vswitch};
use serde::{Deserialize, Serialize};

use crate::config::AgentConfig;
use crate::dhcp::argv::{DnsmasqSettings, Paths, dnsmasq_argv, haproxy_argv, haproxy_config};
use crate::dhcp::opts::{METADATA_CIDR, metadata_enabled};
use crate::dhcp::{DhcpError, NETWORK_KEY, hosts, leases, namespace, ns_name, opts, tap_name};
use crate::reconcile::OWNER_KEY;
use crate::units::STOP_TIMEOUT;

/// What the driver works with.
pub struct Cx<'a, V: Vswitch> {
    pub cfg: &'a AgentConfig,
    pub host: &'a dyn Host,
    pub vs: &'a V,
}

/// What happened to a network's dnsmasq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    Started,
    /// Files rewritten, stale leases released, SIGHUP.
    Reloaded,
    /// Stopped and started again (its subnets or command line changed).
    Restarted,
}

/// The DHCP port of a network that must be served: admin up, with a DHCP subnet and its port.
pub fn served_port(net: &DhcpNetworkState) -> Option<&DhcpPortState> {
    if !net.admin_state_up || !net.subnets.iter().any(|s| s.enable_dhcp) {
        return None;
    }
    let id = net.dhcp_port.as_ref()?;
    net.ports.iter().find(|p| p.id == *id)
}

/// A subnet as far as a running dnsmasq depends on it: id, CIDR, DHCP enabled, RA mode,
/// address mode.
type SubnetKey = (String, String, bool, Option<String>, Option<String>);

/// What a running dnsmasq was started for: a change of either means a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub argv: Vec<String>,
    pub subnets: Vec<SubnetKey>,
}

impl Recorded {
    fn of(net: &DhcpNetworkState, argv: Vec<String>) -> Self {
        let subnets = net
            .subnets
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.cidr.clone(),
                    s.enable_dhcp,
                    s.ipv6_ra_mode.clone(),
                    s.ipv6_address_mode.clone(),
                )
            })
            .collect();
        Self { argv, subnets }
    }
}

/// Writes `contents` through a temporary file and a rename, so dnsmasq never reads half a file.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), DhcpError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|e| DhcpError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DhcpError::io(path, e))
}

/// Writes `contents` unless the file holds them already; whether it wrote.
fn update(path: &Path, contents: &str) -> Result<bool, DhcpError> {
    if std::fs::read_to_string(path).is_ok_and(|c| c == contents) {
        return Ok(false);
    }
    write_atomic(path, contents)?;
    Ok(true)
}

/// The addresses the namespace end must hold: the DHCP port's, each with its subnet's prefix
/// length, and the metadata address when the network's proxy runs.
fn wanted_addresses(net: &DhcpNetworkState, port: &DhcpPortState, metadata: bool) -> BTreeSet<IpNet> {
    let subnets = hosts::subnets(net);
    let mut out: BTreeSet<IpNet> = port
        .fixed_ips
        .iter()
        .filter_map(|f| {
            let plen = subnets.get(f.subnet_id.as_str())?.cidr.parse::<IpNet>().ok()?.prefix_len();
            IpNet::new(f.ip_address.parse::<IpAddr>().ok()?, plen).ok()
        })
        .collect();
    if metadata && let Ok(m) = METADATA_CIDR.parse() {
        out.insert(m);
    }
    out
}

fn is_link_local_v6(a: &IpNet) -> bool {
    matches!(a.addr(), IpAddr::V6(v6) if v6.is_unicast_link_local())
}

impl<V: Vswitch> Cx<'_, V> {
    fn vswitch_ns(&self) -> Option<&str> {
        self.cfg.netns.as_deref()
    }

    /// The namespace, the veth and its settings and addresses; whether the veth is new.
    fn ensure_interface(
        &self,
        net: &DhcpNetworkState,
        port: &DhcpPortState,
        ns: &str,
    ) -> Result<bool, DhcpError> {
        let h = self.host;
        let (tap, nsif, vs_ns) = (tap_name(&port.id), ns_name(&port.id), self.vswitch_ns());
        if !h.netns_exists(ns)? {
            h.add_netns(ns)?;
        }
        let mut links = h.links(Some(ns))?;
        if !links.iter().any(|l| l.name == "lo" && l.up) {
            h.set_link_up(Some(ns), "lo", true)?;
        }
        let created = !links.iter().any(|l| l.name == nsif);
        if created {
            // The interface of a former DHCP port of the network (the namespace is ours).
            for old in links.iter().filter(|l| l.name.starts_with("ns-") && l.kind == LinkKind::Veth) {
                h.delete_link(Some(ns), &old.name)?;
            }
            // A host end left without its peer (the namespace was deleted under us) goes first.
            if h.links(vs_ns)?.iter().any(|l| l.name == tap) {
                h.delete_link(vs_ns, &tap)?;
            }
            h.add_veth(vs_ns, &tap, Some(ns), &nsif)?;
            h.set_tx_offload(vs_ns, &tap, false)?;
            links = h.links(Some(ns))?;
        }
        let Some(link) = links.into_iter().find(|l| l.name == nsif) else {
            return Err(DhcpError::Network { network: net.id.clone(), reason: format!("{nsif} vanished") });
        };
        if !link.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(&port.mac_address)) {
            h.set_mac(Some(ns), &nsif, &port.mac_address)?;
        }
        if let Ok(mtu) = u32::try_from(net.mtu)
            && mtu > 0
            && link.mtu != mtu
        {
            h.set_mtu(vs_ns, &tap, mtu)?;
            h.set_mtu(Some(ns), &nsif, mtu)?;
        }
        if !link.up {
            h.set_link_up(vs_ns, &tap, true)?;
            h.set_link_up(Some(ns), &nsif, true)?;
        }
        // Without this UDP checksums are wrong after a userspace Open vSwitch: no lease arrives.
        if h.tx_offload(Some(ns), &nsif)? {
            h.set_tx_offload(Some(ns), &nsif, false)?;
        }
        let wanted =
            wanted_addresses(net, port, metadata_enabled(net, self.cfg.dhcp.enable_isolated_metadata));
        let have: BTreeSet<IpNet> = link.addresses.into_iter().filter(|a| !is_link_local_v6(a)).collect();
        for a in have.difference(&wanted) {
            h.delete_address(Some(ns), &nsif, *a)?;
        }
        for a in wanted.difference(&have) {
            h.replace_address(Some(ns), &nsif, *a)?;
        }
        Ok(created)
    }

    /// The host end on the integration bridge, as Nova plugs a VM (so the `l2` driver wires
    /// it), marked as ours.
    async fn ensure_ovs_port(&self, net: &DhcpNetworkState, port: &DhcpPortState) -> Result<(), DhcpError> {
        let ids =
            |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<StrMap>();
        let owner = ids(&[(OWNER_KEY, &self.cfg.host)]);
        let spec = PortSpec {
            iface_external_ids: ids(&[
                ("iface-id", &port.id),
                ("attached-mac", &port.mac_address),
                ("iface-status", "active"),
                (OWNER_KEY, &self.cfg.host),
                (NETWORK_KEY, &net.id),
            ]),
            port_external_ids: owner,
            ..Default::default()
        };
        self.vs.ensure_port(&self.cfg.integration_bridge, &tap_name(&port.id), &spec).await?;
        Ok(())
    }

    /// Removes the bridge ports of the network's former DHCP ports.
    async fn remove_other_ports(&self, net: &DhcpNetworkState, tap: &str) -> Result<(), DhcpError> {
        let vs_ns = self.vswitch_ns();
        for p in self.vs.list_ports(&self.cfg.integration_bridge).await? {
            let ours = p.external_ids.get(OWNER_KEY).is_some_and(|h| *h == self.cfg.host)
                && p.external_ids.get(NETWORK_KEY).is_some_and(|n| *n == net.id);
            if ours && p.name != tap {
                self.vs.delete_port(&self.cfg.integration_bridge, &p.name).await?;
                if self.host.links(vs_ns)?.iter().any(|l| l.name == p.name) {
                    self.host.delete_link(vs_ns, &p.name)?;
                }
            }
        }
        Ok(())
    }

    /// Releases the leases no port holds any more (best effort, as upstream: a release is a
    /// UDP packet to dnsmasq and may be lost; the lease then expires).
    fn release_stale(&self, net: &DhcpNetworkState, ns: &str, nsif: &str, old_hosts: &str, paths: &Paths) {
        let lease_text = std::fs::read_to_string(paths.leases()).unwrap_or_default();
        let (v4, v6) = (&self.cfg.dhcp.dhcp_release, self.cfg.dhcp.dhcp_release6());
        for r in leases::stale(net, old_hosts, &lease_text) {
            let argv = leases::release_argv(&r, nsif, v4, &v6);
            let Some((program, args)) = argv.split_first() else { continue };
            let cmd = Cmd::in_netns(ns, program.clone()).args(args.iter().cloned());
            match self.host.run(&cmd) {
                Ok(out) if out.success() => tracing::debug!(network = %net.id, release = ?r, "released"),
                Ok(out) => {
                    tracing::warn!(network = %net.id, release = ?r, stderr = %out.stderr, "release failed")
                }
                Err(e) => tracing::warn!(network = %net.id, release = ?r, error = %e, "release failed"),
            }
        }
    }

    fn start_dnsmasq(
        &self,
        net: &DhcpNetworkState,
        ns: &str,
        paths: &Paths,
        rec: &Recorded,
    ) -> Result<(), DhcpError> {
        let existing = std::fs::read_to_string(paths.leases()).ok();
        write_atomic(&paths.leases(), &hosts::seed_leases(net, existing.as_deref()))?;
        let _ = std::fs::remove_file(paths.pid());
        let json = serde_json::to_string(rec).unwrap_or_default();
        self.host.spawn(&Spawn::new(rec.argv.clone(), paths.pid()).in_netns(Some(ns)).daemonizes())?;
        write_atomic(&paths.argv(), &json)
    }

    /// The running dnsmasq of the network (its pid file's process, if it is dnsmasq in `ns`).
    pub fn dnsmasq(&self, paths: &Paths, ns: &str) -> Result<Option<Process>, DhcpError> {
        let program = program_name(&self.cfg.dhcp.dnsmasq);
        Ok(self.host.process_from_pid_file(&paths.pid(), Some(&program), Some(ns))?)
    }

    /// The running metadata proxy of the network.
    pub fn haproxy(&self, paths: &Paths, ns: &str) -> Result<Option<Process>, DhcpError> {
        let program = program_name(&self.cfg.dhcp.haproxy);
        Ok(self.host.process_from_pid_file(&paths.haproxy_pid(), Some(&program), Some(ns))?)
    }

    /// Writes the files and starts, reloads, restarts or keeps dnsmasq.
    fn converge_dnsmasq(
        &self,
        net: &DhcpNetworkState,
        port: &DhcpPortState,
        ns: &str,
    ) -> Result<Action, DhcpError> {
        let paths = Paths::new(&self.cfg.dhcp.state_path, &net.id);
        std::fs::create_dir_all(&paths.dir).map_err(|e| DhcpError::io(&paths.dir, e))?;
        let nsif = ns_name(&port.id);
        let settings = DnsmasqSettings {
            program: self.cfg.dhcp.dnsmasq.clone(),
            interface: nsif.clone(),
            lease_duration: self.cfg.dhcp.dhcp_lease_duration,
            dns_servers: self.cfg.dhcp.dnsmasq_dns_servers.clone(),
        };
        let rec = Recorded::of(net, dnsmasq_argv(net, &paths, &settings));
        let old_hosts = std::fs::read_to_string(paths.host()).unwrap_or_default();
        let isolated = self.cfg.dhcp.enable_isolated_metadata;
        let mut changed = update(&paths.host(), &hosts::hosts_file(net))?;
        changed |= update(&paths.addn_hosts(), &hosts::addn_hosts_file(net))?;
        changed |= update(&paths.opts(), &opts::opts_file(net, isolated))?;
        let recorded: Option<Recorded> =
            std::fs::read_to_string(paths.argv()).ok().and_then(|t| serde_json::from_str(&t).ok());
        match self.dnsmasq(&paths, ns)? {
            Some(p) if recorded.as_ref() == Some(&rec) => {
                if !changed {
                    return Ok(Action::Unchanged);
                }
                self.release_stale(net, ns, &nsif, &old_hosts, &paths);
                self.host.signal(&p, Signal::Hup)?;
                Ok(Action::Reloaded)
            }
            Some(p) => {
                self.host.stop(&p, STOP_TIMEOUT)?;
                self.start_dnsmasq(net, ns, &paths, &rec)?;
                Ok(Action::Restarted)
            }
            None => {
                self.start_dnsmasq(net, ns, &paths, &rec)?;
                Ok(Action::Started)
            }
        }
    }

    /// Runs the metadata proxy where isolated metadata applies (restarted when its
    /// configuration changed), stops it elsewhere.
    fn converge_haproxy(&self, net: &DhcpNetworkState, ns: &str) -> Result<(), DhcpError> {
        let paths = Paths::new(&self.cfg.dhcp.state_path, &net.id);
        let running = self.haproxy(&paths, ns)?;
        if !metadata_enabled(net, self.cfg.dhcp.enable_isolated_metadata) {
            if let Some(p) = running {
                self.host.stop(&p, STOP_TIMEOUT)?;
            }
            let _ = std::fs::remove_file(paths.haproxy_conf());
            return Ok(());
        }
        let conf = haproxy_config(&net.id, &paths, &self.cfg.dhcp.metadata_socket());
        let current = std::fs::read_to_string(paths.haproxy_conf()).ok();
        if let Some(p) = running {
            if current.as_deref() == Some(conf.as_str()) {
                return Ok(());
            }
            self.host.stop(&p, STOP_TIMEOUT)?;
        }
        write_atomic(&paths.haproxy_conf(), &conf)?;
        let _ = std::fs::remove_file(paths.haproxy_pid());
        let argv = haproxy_argv(&self.cfg.dhcp.haproxy, &paths);
        self.host.spawn(&Spawn::new(argv, paths.haproxy_pid()).in_netns(Some(ns)).daemonizes())?;
        Ok(())
    }

    /// Converges one served network.
    pub async fn ensure(&self, net: &DhcpNetworkState) -> Result<Action, DhcpError> {
        let port = served_port(net).ok_or_else(|| DhcpError::Network {
            network: net.id.clone(),
            reason: "not served (down, no DHCP subnet or no DHCP port)".into(),
        })?;
        let ns = namespace(&self.cfg.namespace_prefix, &net.id);
        if self.ensure_interface(net, port, &ns)? {
            self.remove_other_ports(net, &tap_name(&port.id)).await?;
        }
        self.ensure_ovs_port(net, port).await?;
        let action = self.converge_dnsmasq(net, port, &ns)?;
        self.converge_haproxy(net, &ns)?;
        Ok(action)
    }

    /// Whether the network's processes still run (a realised network needs no other check).
    pub fn running(&self, net: &DhcpNetworkState) -> bool {
        let ns = namespace(&self.cfg.namespace_prefix, &net.id);
        let paths = Paths::new(&self.cfg.dhcp.state_path, &net.id);
        let dnsmasq = self.dnsmasq(&paths, &ns).ok().flatten().is_some();
        let haproxy = !metadata_enabled(net, self.cfg.dhcp.enable_isolated_metadata)
            || self.haproxy(&paths, &ns).ok().flatten().is_some();
        dnsmasq && haproxy
    }
}
