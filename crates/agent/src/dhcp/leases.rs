//! Which leases dnsmasq must forget before a reload (upstream's `_release_unused_leases` in
//! `neutron/agent/linux/dhcp.py`): an address that was in the previous hosts file or in the
//! lease file but that no port holds any more with that MAC (a port deleted, an address or a
//! MAC changed) is released with `dhcp_release` (IPv4) or `dhcp_release6` (IPv6, with the
//! lease's IAID and DUIDs). Parses dnsmasq's lease file and our own hosts file; pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use neutrino_model::internal::DhcpNetworkState;

use crate::dhcp::hosts::is_client_id;

/// A lease of dnsmasq's lease file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// IPv4: the client's MAC; IPv6: the IAID.
    pub iaid: String,
    /// The client identifier (IPv4) or DUID (IPv6); `*` when unknown.
    pub client_id: String,
    /// The server's DUID (the file's `duid` line).
    pub server_id: Option<String>,
}

/// One lease to release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    V4 { ip: String, mac: String, client_id: Option<String> },
    V6 { ip: String, client_id: String, server_id: Option<String>, iaid: String },
}

/// `(address, MAC, client id)`.
type Binding = (String, String, Option<String>);

/// The leases of a lease file by address: `<expiry> <mac|iaid> <ip> <name> <client id>` lines and
/// one `duid <server duid>` line.
pub fn parse_leases(text: &str) -> BTreeMap<String, Lease> {
    let server_id = text.lines().find_map(|l| l.strip_prefix("duid ")).map(|d| d.trim().to_string());
    text.lines()
        .filter(|l| !l.starts_with("duid"))
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
            [_, iaid, ip, _, client_id] => Some((
                ip.trim_matches(['[', ']']).to_string(),
                Lease { iaid: (*iaid).into(), client_id: (*client_id).into(), server_id: server_id.clone() },
            )),
            _ => None,
        })
        .collect()
}

/// The bindings of a hosts file this driver wrote (`mac,[tag:…,][id:…,]name,ip[,set:…]`).
fn parse_hosts(text: &str) -> BTreeSet<Binding> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        let Some((mac, rest)) = fields.split_first() else { continue };
        let mut rest = rest;
        let mut client_id = None;
        if rest.first().is_none_or(|f| f.starts_with("set:")) {
            continue;
        }
        if let Some((first, after)) = rest.split_first()
            && first.starts_with("tag:")
        {
            rest = after;
        }
        if let Some((first, after)) = rest.split_first()
            && let Some(id) = first.strip_prefix("id:")
        {
            client_id = Some(id.to_string());
            rest = after;
        }
        // `name,ip,…`: the addresses follow the name.
        for ip in rest.iter().skip(1).map(|f| f.trim_matches(['[', ']'])) {
            if ip.parse::<IpAddr>().is_ok() {
                out.insert((ip.to_string(), (*mac).to_string(), client_id.clone()));
            }
        }
    }
    out
}

/// The leases to release before dnsmasq rereads its files for `net`: `old_hosts` is the hosts
/// file it last read, `leases` its lease file. Nothing when the lease file is empty.
pub fn stale(net: &DhcpNetworkState, old_hosts: &str, leases: &str) -> Vec<Release> {
    let current = parse_leases(leases);
    if current.is_empty() {
        return vec![];
    }
    let old = parse_hosts(old_hosts);
    let v4: BTreeSet<Binding> = current
        .iter()
        .filter(|(ip, _)| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()))
        .map(|(ip, l)| (ip.clone(), l.iaid.clone(), Some(l.client_id.clone()).filter(|c| c != "*")))
        .collect();
    let mut wanted = BTreeSet::new();
    for port in &net.ports {
        let cid =
            port.extra_dhcp_opts.iter().find(|o| is_client_id(&o.opt_name)).map(|o| o.opt_value.clone());
        for f in &port.fixed_ips {
            wanted.insert((f.ip_address.clone(), port.mac_address.clone(), cid.clone()));
        }
    }
    let mut release: BTreeSet<Binding> = v4.union(&old).filter(|b| !wanted.contains(*b)).cloned().collect();
    // A client that sends an id the port does not name keeps its lease while the port keeps
    // its address and MAC.
    release.retain(|(ip, mac, cid)| {
        let bare = (ip.clone(), mac.clone(), None);
        cid.is_none() || !(old.contains(&bare) && wanted.contains(&bare))
    });
    release
        .into_iter()
        .filter_map(|(ip, mac, client_id)| {
            let lease = current.get(&ip)?;
            Some(match ip.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => Release::V6 {
                    ip,
                    client_id: lease.client_id.clone(),
                    server_id: lease.server_id.clone(),
                    iaid: lease.iaid.clone(),
                },
                _ => Release::V4 { ip, mac, client_id },
            })
        })
        .collect()
}

/// The command line of a release on `interface` (`dhcp_release <if> <ip> <mac> [<client id>]`,
/// `dhcp_release6 --iface <if> --ip <ip> --client-id <duid> --server-id <duid> --iaid <n>`).
pub fn release_argv(
    release: &Release,
    interface: &str,
    dhcp_release: &str,
    dhcp_release6: &str,
) -> Vec<String> {
    match release {
        Release::V4 { ip, mac, client_id } => {
            let mut argv = vec![dhcp_release.to_string(), interface.into(), ip.clone(), mac.clone()];
            argv.extend(client_id.clone());
            argv
        }
        Release::V6 { ip, client_id, server_id, iaid } => {
            let mut argv = vec![
                dhcp_release6.to_string(),
                "--iface".into(),
                interface.into(),
                "--ip".into(),
                ip.clone(),
            ];
            argv.extend(["--client-id".into(), client_id.clone()]);
            if let Some(s) = server_id {
                argv.extend(["--server-id".into(), s.clone()]);
            }
            argv.extend(["--iaid".into(), iaid.clone()]);
            argv
        }
    }
}
