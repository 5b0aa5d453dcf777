//! The [`Vswitch`] trait: typed operations on the Open_vSwitch database
//! (vswitch.ovsschema, ovs-vswitchd.conf.db(5)) — bridges, ports, interfaces, VLAN tags,
//! `external_ids`, ofports and interface events — with the OVSDB implementation
//! ([`OvsVswitch`]) and an in-memory fake ([`FakeVswitch`]) for the agent's tests.

mod fake;
mod ovs;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

pub use fake::{FakeBridge, FakeVswitch};
pub use ovs::OvsVswitch;

use crate::ovsdb::OvsdbError;

/// OpenFlow versions every bridge we create speaks; bundles (atomic flow changes) need 1.4,
/// group bucket ids (one bucket added or removed at a time) 1.5.
pub const PROTOCOLS: &[&str] = &["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"];

/// Errors of [`Vswitch`] operations.
#[derive(Debug, thiserror::Error)]
pub enum VswitchError {
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("concurrent change to {0}; gave up after retries")]
    Conflict(String),
}

pub type StrMap = BTreeMap<String, String>;

/// The wanted state of a port with one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortSpec {
    /// Interface type: `""` (a system/veth device), `"internal"`, `"patch"`, `"vxlan"`, `"gre"`.
    pub iface_type: String,
    /// Interface `options` (e.g. `peer` for patch ports, `remote_ip`/`key` for tunnels);
    /// replaced as a whole.
    pub options: StrMap,
    /// Merged into the Port's `external_ids` (other keys are kept).
    pub port_external_ids: StrMap,
    /// Merged into the Interface's `external_ids` (other keys are kept).
    pub iface_external_ids: StrMap,
    /// Access VLAN tag; `None` makes a trunk port.
    pub tag: Option<u16>,
}

/// A port of a bridge as the database has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortInfo {
    pub name: String,
    pub tag: Option<u16>,
    /// `None` until ovs-vswitchd assigned one; `Some(-1)` if it failed to add the interface.
    pub ofport: Option<i64>,
    pub iface_type: String,
    pub options: StrMap,
    /// The interface's `external_ids` (`iface-id`, `attached-mac`, …).
    pub external_ids: StrMap,
}

/// What happened to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

/// An interface row change seen by [`Vswitch::monitor_interfaces`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceEvent {
    pub kind: EventKind,
    pub name: String,
    pub ofport: Option<i64>,
    pub iface_type: String,
    pub external_ids: StrMap,
}

impl InterfaceEvent {
    /// The Neutron port id of a VM/service interface (`external_ids:iface-id`).
    pub fn iface_id(&self) -> Option<&str> {
        self.external_ids.get("iface-id").map(String::as_str)
    }

    /// The attached MAC (`external_ids:attached-mac`).
    pub fn attached_mac(&self) -> Option<&str> {
        self.external_ids.get("attached-mac").map(String::as_str)
    }
}

/// Typed operations on one Open vSwitch. Each write is one OVSDB transaction and idempotent:
/// asking for what is already there changes nothing.
pub trait Vswitch: Send + Sync {
    /// Creates the bridge (with its internal port) or brings its `datapath_type`,
    /// `fail_mode` and `protocols` ([`PROTOCOLS`]) in line; `external_ids` are merged.
    fn ensure_bridge(
        &self,
        name: &str,
        datapath_type: &str,
        external_ids: &StrMap,
        fail_mode: Option<&str>,
    ) -> impl Future<Output = Result<(), VswitchError>> + Send;

    /// Removes the bridge and its ports; absent is fine.
    fn delete_bridge(&self, name: &str) -> impl Future<Output = Result<(), VswitchError>> + Send;

    /// Creates the port on `bridge` or updates it to `spec`.
    fn ensure_port(
        &self,
        bridge: &str,
        port: &str,
        spec: &PortSpec,
    ) -> impl Future<Output = Result<(), VswitchError>> + Send;

    /// Removes a port from a bridge; absent is fine.
    fn delete_port(&self, bridge: &str, port: &str) -> impl Future<Output = Result<(), VswitchError>> + Send;

    /// The bridge's ports, sorted by name.
    fn list_ports(&self, bridge: &str) -> impl Future<Output = Result<Vec<PortInfo>, VswitchError>> + Send;

    /// The interface's OpenFlow port number, waiting up to `timeout` for ovs-vswitchd to assign
    /// it. `None` if it did not (or the interface does not exist).
    fn ofport(
        &self,
        iface: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<i64>, VswitchError>> + Send;

    /// A stream of interface events: first an `Added` for every existing interface, then
    /// changes as they happen. The stream ends when the connection to the database is lost;
    /// monitor again (after reconnecting) and treat the new `Added` events as a full resync.
    fn monitor_interfaces(
        &self,
    ) -> impl Future<Output = Result<mpsc::UnboundedReceiver<InterfaceEvent>, VswitchError>> + Send;
}

fn tag_from(tag: Option<i64>) -> Option<u16> {
    tag.and_then(|t| u16::try_from(t).ok())
}

fn validate_tag(tag: Option<u16>) -> Result<(), VswitchError> {
    match tag {
        Some(t) if t > 4095 => Err(VswitchError::Invalid(format!("VLAN tag {t} is out of range 0..=4095"))),
        _ => Ok(()),
    }
}

fn merged(current: &StrMap, wanted: &StrMap) -> StrMap {
    let mut m = current.clone();
    m.extend(wanted.iter().map(|(k, v)| (k.clone(), v.clone())));
    m
}
