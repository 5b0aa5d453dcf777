//! A host's Open vSwitch as the `list`, `show` and `query` views read it: its bridges with
//! their controllers and ports, each port's interface with its type and the `external_ids`
//! Neutron-style integration sets (`iface-id`, `attached-mac`; Open vSwitch's
//! "Integration Guide for Centralized Control"), built from the OVSDB `Bridge`, `Port`,
//! `Interface` and `Controller` rows (vswitchd.conf.db(5)).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::parse::ovsdb::Row;
use crate::parse::{DumpedFlow, ParseError, parse_dump, parse_list};
use crate::source::{HostSource, SourceError};

/// Reading the switch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An OVSDB table (`what` is its name) or a bridge's flows (`flows of BRIDGE`) that could
    /// not be understood.
    #[error("{what}: {error}")]
    Parse { what: String, error: ParseError },
}

/// Every bridge of the switch, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub bridges: Vec<Bridge>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bridge {
    pub name: String,
    /// `system` (the kernel datapath, also when the column is empty) or `netdev` (userspace).
    pub datapath_type: String,
    /// `secure` or `standalone`; `None` when unset (Open vSwitch then behaves as standalone).
    pub fail_mode: Option<String>,
    pub controllers: Vec<Controller>,
    /// Sorted by OpenFlow port number (the bridge's own port, 65534, last), then name.
    pub ports: Vec<Interface>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Controller {
    pub target: String,
    pub is_connected: bool,
}

/// One interface of a bridge's port (a bond's members each make one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// The Port row's name (the interface's, except for bonds).
    pub port: String,
    pub name: String,
    /// `None`: not yet assigned, or the interface failed (-1).
    pub ofport: Option<i64>,
    #[serde(rename = "type")]
    pub kind: IfaceKind,
    /// `external_ids:iface-id`: the API port the interface is for.
    pub iface_id: Option<String>,
    /// `external_ids:attached-mac`: the MAC the port's owner gave it.
    pub attached_mac: Option<String>,
    /// Why ovs-vswitchd could not set the interface up, when it could not.
    pub error: Option<String>,
}

/// An interface's type, with what identifies it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IfaceKind {
    /// A network device of the host (`type` empty or `system`).
    #[default]
    System,
    Internal,
    Patch {
        peer: Option<String>,
    },
    Vxlan {
        remote_ip: Option<String>,
    },
    Gre {
        remote_ip: Option<String>,
    },
    Geneve {
        remote_ip: Option<String>,
    },
    /// Any other type (`tap`, `dpdk`, `stt`…), by its name.
    Other {
        name: String,
    },
}

impl IfaceKind {
    fn of(kind: &str, options: &BTreeMap<String, String>) -> IfaceKind {
        let remote_ip = options.get("remote_ip").cloned();
        match kind {
            "" | "system" => IfaceKind::System,
            "internal" => IfaceKind::Internal,
            "patch" => IfaceKind::Patch { peer: options.get("peer").cloned() },
            "vxlan" => IfaceKind::Vxlan { remote_ip },
            "gre" => IfaceKind::Gre { remote_ip },
            "geneve" => IfaceKind::Geneve { remote_ip },
            other => IfaceKind::Other { name: other.to_string() },
        }
    }
}

impl fmt::Display for IfaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_q = |s: &Option<String>| s.clone().unwrap_or_else(|| "?".into());
        match self {
            IfaceKind::System => f.write_str("system"),
            IfaceKind::Internal => f.write_str("internal"),
            IfaceKind::Patch { peer } => write!(f, "patch({})", or_q(peer)),
            IfaceKind::Vxlan { remote_ip } => write!(f, "vxlan({})", or_q(remote_ip)),
            IfaceKind::Gre { remote_ip } => write!(f, "gre({})", or_q(remote_ip)),
            IfaceKind::Geneve { remote_ip } => write!(f, "geneve({})", or_q(remote_ip)),
            IfaceKind::Other { name } => f.write_str(name),
        }
    }
}

/// The OVSDB rows the switch is built from (`ovs-vsctl --format=json --data=json list TABLE`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    pub bridges: Vec<Row>,
    pub ports: Vec<Row>,
    pub interfaces: Vec<Row>,
    pub controllers: Vec<Row>,
}

impl Tables {
    /// Parses the four tables' JSON texts.
    pub fn parse(bridge: &str, port: &str, interface: &str, controller: &str) -> Result<Tables, SwitchError> {
        let p = |table: &str, text: &str| {
            parse_list(text).map_err(|error| SwitchError::Parse { what: table.to_string(), error })
        };
        Ok(Tables {
            bridges: p("Bridge", bridge)?,
            ports: p("Port", port)?,
            interfaces: p("Interface", interface)?,
            controllers: p("Controller", controller)?,
        })
    }

    /// Reads the four tables from a host.
    pub fn read(host: &dyn HostSource) -> Result<Tables, SwitchError> {
        Tables::parse(
            &host.ovsdb_list("Bridge")?,
            &host.ovsdb_list("Port")?,
            &host.ovsdb_list("Interface")?,
            &host.ovsdb_list("Controller")?,
        )
    }
}

fn by_uuid(rows: &[Row]) -> BTreeMap<&str, &Row> {
    rows.iter().filter_map(|r| Some((r.uuid()?, r))).collect()
}

fn interface(port: &str, row: &Row) -> Interface {
    let ids = row.map("external_ids");
    let nonempty = |k: &str| ids.get(k).filter(|v| !v.is_empty()).cloned();
    Interface {
        port: port.to_string(),
        name: row.str("name").unwrap_or_default().to_string(),
        ofport: row.int("ofport").filter(|p| *p >= 0),
        kind: IfaceKind::of(row.str("type").unwrap_or_default(), &row.map("options")),
        iface_id: nonempty("iface-id"),
        attached_mac: nonempty("attached-mac"),
        error: row.str("error").map(str::to_string),
    }
}

impl Switch {
    /// Joins the rows: bridge → ports → interfaces, bridge → controllers. References to rows
    /// that are missing (a table read a moment later) are left out.
    pub fn from_tables(t: &Tables) -> Switch {
        let ports = by_uuid(&t.ports);
        let ifaces = by_uuid(&t.interfaces);
        let ctls = by_uuid(&t.controllers);
        let mut bridges: Vec<Bridge> = t
            .bridges
            .iter()
            .map(|b| {
                let mut list: Vec<Interface> = b
                    .set_of_uuids("ports")
                    .into_iter()
                    .filter_map(|u| ports.get(u))
                    .flat_map(|p| {
                        let pname = p.str("name").unwrap_or_default();
                        p.set_of_uuids("interfaces")
                            .into_iter()
                            .filter_map(|u| ifaces.get(u))
                            .map(move |i| interface(pname, i))
                    })
                    .collect();
                list.sort_by(|a, b| {
                    (a.ofport.unwrap_or(i64::MAX), &a.name).cmp(&(b.ofport.unwrap_or(i64::MAX), &b.name))
                });
                let mut controllers: Vec<Controller> = b
                    .set_of_uuids("controller")
                    .into_iter()
                    .filter_map(|u| ctls.get(u))
                    .map(|c| Controller {
                        target: c.str("target").unwrap_or_default().to_string(),
                        is_connected: c.bool("is_connected").unwrap_or(false),
                    })
                    .collect();
                controllers.sort_by(|a, b| a.target.cmp(&b.target));
                Bridge {
                    name: b.str("name").unwrap_or_default().to_string(),
                    datapath_type: match b.str("datapath_type").unwrap_or_default() {
                        "" => "system".to_string(),
                        d => d.to_string(),
                    },
                    fail_mode: b.str("fail_mode").map(str::to_string),
                    controllers,
                    ports: list,
                }
            })
            .collect();
        bridges.sort_by(|a, b| a.name.cmp(&b.name));
        Switch { bridges }
    }

    /// Reads and joins a host's tables.
    pub fn read(host: &dyn HostSource) -> Result<Switch, SwitchError> {
        Ok(Switch::from_tables(&Tables::read(host)?))
    }

    pub fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The bridge and interface whose `iface-id` is the API port `port_id`.
    pub fn find_iface_id(&self, port_id: &str) -> Option<(&Bridge, &Interface)> {
        self.bridges
            .iter()
            .find_map(|b| b.ports.iter().find(|i| i.iface_id.as_deref() == Some(port_id)).map(|i| (b, i)))
    }
}

/// A bridge's flows with their counters, read from a host.
pub fn read_flows(host: &dyn HostSource, bridge: &str) -> Result<Vec<DumpedFlow>, SwitchError> {
    parse_dump(&host.dump_flows(bridge)?)
        .map_err(|error| SwitchError::Parse { what: format!("flows of {bridge}"), error })
}
