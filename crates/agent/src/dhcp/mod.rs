//! The `dhcp` role (upstream's DHCP agent with its `Dnsmasq` driver, docs/design.md "The dhcp
//! driver"): per served network a `qdhcp-` namespace holding the DHCP port's interface, a
//! dnsmasq and, on isolated networks, the metadata proxy. [`hosts`], [`opts`] and [`argv`]
//! generate dnsmasq's files, its command line and haproxy's configuration; [`leases`] decides
//! which leases to release; [`network`] realises one network on the host, [`sweep`] removes
//! what is no longer wanted, [`driver`] is the [`crate::driver::Driver`].

pub mod argv;
pub mod driver;
pub mod hosts;
pub mod leases;
pub mod network;
pub mod opts;
pub mod sweep;

#[cfg(test)]
mod tests;

use crate::units::short;

pub use driver::DhcpDriver;

/// The prefix of the namespaces of served networks (after the configured `namespace_prefix`).
pub const NS_PREFIX: &str = "qdhcp-";

/// `external_ids` key on the DHCP port's interface naming the network it serves (with
/// [`crate::reconcile::OWNER_KEY`], what the sweep recognises as its own).
pub const NETWORK_KEY: &str = "neutrino-dhcp-network";

/// The namespace of a network: `<prefix>qdhcp-<network id>`.
pub fn namespace(prefix: &str, network_id: &str) -> String {
    format!("{prefix}{NS_PREFIX}{network_id}")
}

/// The host end of the DHCP port's veth, in ovs-vswitchd's namespace: `tap<port id[:11]>`.
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", short(port_id))
}

/// The namespace end, where dnsmasq listens: `ns-<port id[:11]>`.
pub fn ns_name(port_id: &str) -> String {
    format!("ns-{}", short(port_id))
}

/// Errors of the `dhcp` driver.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("host: {0}")]
    Host(#[from] neutrino_host::Error),
    #[error("ovsdb: {0}")]
    Vswitch(#[from] neutrino_ovs::vswitch::VswitchError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network {network}: {reason}")]
    Network { network: String, reason: String },
    /// dnsmasq drops its privileges (to `nobody`) and then could not read its files.
    #[error(
        "{0} is closed to other users (mode {1:o}): dnsmasq reads its files as nobody; open it (chmod o+x) or choose another state_path"
    )]
    Unreachable(std::path::PathBuf, u32),
    /// Some removals failed (each was tried).
    #[error("removing what is no longer served: {}", .0.join("; "))]
    Teardown(Vec<String>),
}

/// Fails when a directory on the way to `dir` is closed to other users: dnsmasq, once it
/// dropped its privileges, could not read the files written there, and every VM would go
/// without a lease while the agent looked healthy.
pub fn check_reachable(dir: &std::path::Path) -> Result<(), DhcpError> {
    use std::os::unix::fs::PermissionsExt;
    for d in dir.ancestors() {
        let Ok(meta) = std::fs::metadata(d) else { continue };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o001 == 0 {
            return Err(DhcpError::Unreachable(d.to_path_buf(), mode));
        }
    }
    Ok(())
}

impl DhcpError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
