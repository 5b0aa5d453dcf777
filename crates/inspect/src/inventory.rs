//! A host's Open vSwitch as the views join it: bridges with their interfaces (OpenFlow port,
//! type, options, `external_ids` such as `iface-id`), controllers and fail mode, read from the
//! OVSDB tables `Bridge`, `Port`, `Interface` and `Controller` (the Open_vSwitch schema,
//! `ovs-vswitchd.conf.db(5)`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::InspectError;
use crate::parse::{Row, parse_list};
use crate::source::HostSource;

/// One interface of a bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Iface {
    pub name: String,
    /// Its OpenFlow port (`None` while ovs-vswitchd has not assigned one; -1 on failure).
    pub ofport: Option<i64>,
    /// `internal`, `patch`, `vxlan`, `gre`…; `system` for an ordinary device.
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    pub mac_in_use: Option<String>,
}

impl Iface {
    /// The API port wired here (`external_ids:iface-id`).
    pub fn iface_id(&self) -> Option<&str> {
        self.external_ids.get("iface-id").map(String::as_str)
    }

    /// A patch port's peer.
    pub fn peer(&self) -> Option<&str> {
        (self.kind == "patch").then(|| self.options.get("peer").map(String::as_str)).flatten()
    }

    /// A tunnel port's remote endpoint.
    pub fn remote_ip(&self) -> Option<&str> {
        matches!(self.kind.as_str(), "vxlan" | "gre" | "geneve")
            .then(|| self.options.get("remote_ip").map(String::as_str))
            .flatten()
    }
}

/// A controller of a bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Controller {
    pub target: String,
    pub is_connected: bool,
}

/// One bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bridge {
    pub name: String,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    pub controllers: Vec<Controller>,
    /// Its interfaces, by OpenFlow port (unassigned last), then name.
    pub ifaces: Vec<Iface>,
}

impl Bridge {
    pub fn by_ofport(&self, ofport: i64) -> Option<&Iface> {
        self.ifaces.iter().find(|i| i.ofport == Some(ofport))
    }

    pub fn by_name(&self, name: &str) -> Option<&Iface> {
        self.ifaces.iter().find(|i| i.name == name)
    }

    /// OpenFlow port → interface name, for showing port numbers as names.
    pub fn port_names(&self) -> BTreeMap<i64, String> {
        self.ifaces.iter().filter_map(|i| Some((i.ofport?, i.name.clone()))).collect()
    }
}

/// Every bridge of a host, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub bridges: Vec<Bridge>,
}

impl Inventory {
    /// Reads the four tables from `src`.
    pub fn read(src: &dyn HostSource) -> Result<Inventory, InspectError> {
        let table = |t: &str| -> Result<Vec<Row>, InspectError> { Ok(parse_list(&src.ovsdb_list(t)?)?) };
        Ok(Inventory::from_rows(
            &table("Bridge")?,
            &table("Port")?,
            &table("Interface")?,
            &table("Controller")?,
        ))
    }

    /// Joins the rows: Bridge.ports → Port.interfaces → Interface, Bridge.controller → Controller.
    pub fn from_rows(bridges: &[Row], ports: &[Row], ifaces: &[Row], controllers: &[Row]) -> Inventory {
        let by_uuid = |rows: &[Row]| -> BTreeMap<String, Row> {
            rows.iter().filter_map(|r| Some((r.uuid()?.to_string(), r.clone()))).collect()
        };
        let (ports, ifaces, controllers) = (by_uuid(ports), by_uuid(ifaces), by_uuid(controllers));
        let mut out: Vec<Bridge> = bridges
            .iter()
            .map(|b| {
                let mut list: Vec<Iface> = b
                    .set_of_uuids("ports")
                    .into_iter()
                    .filter_map(|p| ports.get(p))
                    .flat_map(|p| p.set_of_uuids("interfaces"))
                    .filter_map(|i| ifaces.get(i))
                    .map(iface)
                    .collect();
                list.sort_by(|a, b| {
                    (a.ofport.is_none(), a.ofport, &a.name).cmp(&(b.ofport.is_none(), b.ofport, &b.name))
                });
                Bridge {
                    name: b.str("name").unwrap_or_default().to_string(),
                    datapath_type: b.str("datapath_type").unwrap_or_default().to_string(),
                    fail_mode: b.str("fail_mode").filter(|s| !s.is_empty()).map(str::to_string),
                    controllers: b
                        .set_of_uuids("controller")
                        .into_iter()
                        .filter_map(|c| controllers.get(c))
                        .map(|c| Controller {
                            target: c.str("target").unwrap_or_default().to_string(),
                            is_connected: c.bool("is_connected").unwrap_or(false),
                        })
                        .collect(),
                    ifaces: list,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Inventory { bridges: out }
    }

    pub fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.name == name)
    }

    /// The interface wired for API port `port_id`, and its bridge.
    pub fn by_iface_id(&self, port_id: &str) -> Option<(&Bridge, &Iface)> {
        self.bridges
            .iter()
            .find_map(|b| b.ifaces.iter().find(|i| i.iface_id() == Some(port_id)).map(|i| (b, i)))
    }

    /// An interface by name, and its bridge.
    pub fn by_name(&self, name: &str) -> Option<(&Bridge, &Iface)> {
        self.bridges.iter().find_map(|b| b.by_name(name).map(|i| (b, i)))
    }

    /// The bridge holding a patch port named `name` (the far side of a patch).
    pub fn bridge_of(&self, iface: &str) -> Option<&Bridge> {
        self.by_name(iface).map(|(b, _)| b)
    }
}

fn iface(r: &Row) -> Iface {
    let kind = r.str("type").filter(|t| !t.is_empty()).unwrap_or("system").to_string();
    Iface {
        name: r.str("name").unwrap_or_default().to_string(),
        ofport: r.int("ofport"),
        kind,
        options: r.map("options"),
        external_ids: r.map("external_ids"),
        mac_in_use: r.str("mac_in_use").map(str::to_string),
    }
}
