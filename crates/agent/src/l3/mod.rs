//! The `l3` role (upstream's L3 agent with legacy routers, docs/design.md "Routers (agent)"):
//! per router a `qrouter-` namespace holding one `qr-` device per interface and the `qg-`
//! device of the gateway, forwarding between them, NAT in one nftables table ([`nat`]),
//! floating IPs announced and their connections cut on removal ([`fip`]), the metadata proxy
//! of the router's networks ([`proxy`]) and IPv6 router advertisements ([`radvd`]).
//! [`router`] realises one router on the host, [`sweep`] removes what is no longer wanted,
//! [`driver`] is the [`crate::driver::Driver`].

pub mod driver;
pub mod fip;
pub mod nat;
pub mod proxy;
pub mod radvd;
pub mod realise;
pub mod router;
pub mod sweep;

#[cfg(test)]
mod tests;

use crate::units::short;

pub use driver::L3Driver;

/// The prefix of router namespaces (after the configured `namespace_prefix`).
pub const NS_PREFIX: &str = "qrouter-";

/// `external_ids` key on a router device's interface naming its router (with
/// [`crate::reconcile::OWNER_KEY`], what the sweep recognises as its own).
pub const ROUTER_KEY: &str = "neutrino-l3-router";

/// The namespace of a router: `<prefix>qrouter-<router id>`.
pub fn namespace(prefix: &str, router_id: &str) -> String {
    format!("{prefix}{NS_PREFIX}{router_id}")
}

/// An interface's device inside the namespace: `qr-<port id[:11]>`.
pub fn qr_name(port_id: &str) -> String {
    format!("qr-{}", short(port_id))
}

/// The gateway's device inside the namespace: `qg-<port id[:11]>`.
pub fn qg_name(port_id: &str) -> String {
    format!("qg-{}", short(port_id))
}

/// The integration-bridge end of an interface's veth: `tr-<port id[:11]>`.
pub fn tr_name(port_id: &str) -> String {
    format!("tr-{}", short(port_id))
}

/// The integration-bridge end of the gateway's veth: `tg-<port id[:11]>`.
pub fn tg_name(port_id: &str) -> String {
    format!("tg-{}", short(port_id))
}

/// Errors of the `l3` driver.
#[derive(Debug, thiserror::Error)]
pub enum L3Error {
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
    #[error("router {router}: {reason}")]
    Router { router: String, reason: String },
    /// Some removals failed (each was tried).
    #[error("removing what is no longer routed: {}", .0.join("; "))]
    Teardown(Vec<String>),
}

impl L3Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn router(router: &str, reason: impl Into<String>) -> Self {
        Self::Router { router: router.into(), reason: reason.into() }
    }
}

/// A router's directory under the `[l3] state_path`, and the files in it.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: std::path::PathBuf,
}

impl Paths {
    pub fn new(state_path: &std::path::Path, router_id: &str) -> Self {
        Self { dir: state_path.join(router_id) }
    }

    /// The nftables batch last applied (what a restarted agent compares with).
    pub fn nft(&self) -> std::path::PathBuf {
        self.dir.join("nft.json")
    }

    pub fn haproxy_conf(&self) -> std::path::PathBuf {
        self.dir.join("haproxy.cfg")
    }

    pub fn haproxy_pid(&self) -> std::path::PathBuf {
        self.dir.join("haproxy.pid")
    }

    pub fn radvd_conf(&self) -> std::path::PathBuf {
        self.dir.join("radvd.conf")
    }

    pub fn radvd_pid(&self) -> std::path::PathBuf {
        self.dir.join("radvd.pid")
    }

    /// The gratuitous ARP sender of a floating address.
    pub fn garp_pid(&self, address: &str) -> std::path::PathBuf {
        self.dir.join(format!("garp-{address}.pid"))
    }
}
