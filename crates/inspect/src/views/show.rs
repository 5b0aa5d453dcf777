//! `show BRIDGE`: one row per interface of a bridge — OpenFlow port, local VLAN (from the
//! bridge's table 0 tagging flows, as the agent reads them back), type — joined with the API's
//! port ONLY through the interface's `external_ids:iface-id` (its `attached-mac` checked
//! against the port's MAC), never guessed from interface names: the VM's addresses and MAC, the
//! API port, its network, owner and project.

use std::collections::BTreeMap;

use neutrino_agent::flows::tables::{self, priority as prio};
use serde::Serialize;

use super::plain;
use super::switch::{IfaceKind, Interface, Switch, SwitchError, read_flows};
use crate::cloud::{Cloud, Port, label};
use crate::parse::DumpedFlow;
use crate::source::HostSource;

/// `show` could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShowError {
    #[error("no bridge {name} (bridges: {})", .known.join(", "))]
    NoBridge { name: String, known: Vec<String> },
    #[error(transparent)]
    Read(#[from] SwitchError),
}

/// How an interface was joined with the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    /// No `iface-id` (a patch port, a tunnel, the bridge's own port, anything not the API's).
    NoIfaceId,
    /// An `iface-id` the API does not know (a port deleted while its interface stayed).
    NotInApi,
    /// The API's port of that id.
    Joined,
}

/// The `show` view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Show {
    pub bridge: String,
    pub ports: Vec<ShowPort>,
}

/// One interface and, when joined, its API port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShowPort {
    pub interface: String,
    pub ofport: Option<i64>,
    /// The local VLAN its traffic is tagged with on the bridge.
    pub vlan: Option<u16>,
    #[serde(rename = "type")]
    pub kind: IfaceKind,
    pub iface_id: Option<String>,
    pub attached_mac: Option<String>,
    pub join: Join,
    /// The API port's fixed IPs.
    pub ips: Vec<String>,
    /// The API port's MAC.
    pub mac: Option<String>,
    /// `attached-mac` differs from the API port's MAC (the interface was plugged for another).
    pub mac_mismatch: bool,
    pub port_id: Option<String>,
    pub port_name: Option<String>,
    pub network_id: Option<String>,
    /// The network's name (its id's start when it has none).
    pub network: Option<String>,
    pub device_owner: Option<String>,
    pub device_id: Option<String>,
    /// `device_owner` and what it names, e.g. `compute:nova 6a0c1f7e`, `network:dhcp`,
    /// `network:router_interface r1`.
    pub owner: Option<String>,
    pub project_id: Option<String>,
}

/// The owner as operators say it: the device owner and the device (a router by its name; a
/// VM by its id's first 8 characters; a DHCP port by nothing more).
pub fn owner_text(cloud: &Cloud, port: &Port) -> Option<String> {
    if port.device_owner.is_empty() && port.device_id.is_empty() {
        return None;
    }
    if let Some(r) = cloud.router_of_port(port) {
        return Some(format!("{} {}", port.device_owner, label(&r.name, &r.id)));
    }
    if port.device_owner == "network:dhcp" || port.device_id.is_empty() {
        return Some(port.device_owner.clone());
    }
    Some(format!("{} {}", port.device_owner, label("", &port.device_id)).trim().to_string())
}

/// The local VLAN of each OpenFlow port, from a bridge's table 0 tagging flows: what the agent
/// reads back ([`neutrino_agent::flows::ingress_vlans`], OpenFlow 1.0's `mod_vlan_vid:N`) and
/// the same flows as an OpenFlow 1.3+ dump prints them (`push_vlan:0x8100,
/// set_field:4096+N->vlan_vid`).
pub fn local_vlans(flows: &[DumpedFlow]) -> BTreeMap<i64, u16> {
    let plain: Vec<_> = flows.iter().map(|d| d.flow.clone()).collect();
    let mut vlans = neutrino_agent::flows::ingress_vlans(&plain);
    let tagging =
        plain.iter().filter(|f| f.table == tables::LOCAL_SWITCHING && f.priority == prio::PORT_INGRESS);
    for f in tagging {
        let port = f.matches.strip_prefix("in_port=").and_then(|p| p.parse::<i64>().ok());
        let vid = f.actions.split(',').find_map(|a| {
            let v = a.strip_prefix("set_field:")?.strip_suffix("->vlan_vid")?;
            let v = v.split('/').next()?.parse::<u32>().ok()?;
            u16::try_from(v.checked_sub(0x1000)?).ok().filter(|v| *v < 0x1000)
        });
        if let (Some(p), Some(v)) = (port, vid) {
            vlans.entry(p).or_insert(v);
        }
    }
    vlans
}

fn row(cloud: &Cloud, iface: &Interface, vlan: Option<u16>) -> ShowPort {
    let api = iface.iface_id.as_deref().and_then(|id| cloud.port(id));
    let join = match (&iface.iface_id, api) {
        (None, _) => Join::NoIfaceId,
        (Some(_), None) => Join::NotInApi,
        (Some(_), Some(_)) => Join::Joined,
    };
    let mac_mismatch = match (api, &iface.attached_mac) {
        (Some(p), Some(m)) => !p.mac_address.eq_ignore_ascii_case(m),
        _ => false,
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    ShowPort {
        interface: iface.name.clone(),
        ofport: iface.ofport,
        vlan,
        kind: iface.kind.clone(),
        iface_id: iface.iface_id.clone(),
        attached_mac: iface.attached_mac.clone(),
        join,
        ips: api.map(|p| p.ips().map(str::to_string).collect()).unwrap_or_default(),
        mac: api.and_then(|p| some(&p.mac_address)),
        mac_mismatch,
        port_id: api.map(|p| p.id.clone()),
        port_name: api.and_then(|p| some(&p.name)),
        network_id: api.and_then(|p| some(&p.network_id)),
        network: api.and_then(|p| some(&p.network_id)).map(|n| cloud.network_label(&n)),
        device_owner: api.and_then(|p| some(&p.device_owner)),
        device_id: api.and_then(|p| some(&p.device_id)),
        owner: api.and_then(|p| owner_text(cloud, p)),
        project_id: api.and_then(|p| some(&p.project_id)),
    }
}

/// The view of `bridge`; `flows` are its dumped flows (for the local VLANs).
pub fn show(switch: &Switch, bridge: &str, flows: &[DumpedFlow], cloud: &Cloud) -> Result<Show, ShowError> {
    let b = switch.bridge(bridge).ok_or_else(|| ShowError::NoBridge {
        name: bridge.to_string(),
        known: switch.bridges.iter().map(|b| b.name.clone()).collect(),
    })?;
    let vlans = local_vlans(flows);
    let ports =
        b.ports.iter().map(|i| row(cloud, i, i.ofport.and_then(|o| vlans.get(&o).copied()))).collect();
    Ok(Show { bridge: b.name.clone(), ports })
}

/// The view of `bridge` on `host` (its switch and the bridge's flows read through it).
pub fn read(host: &dyn HostSource, bridge: &str, cloud: &Cloud) -> Result<Show, ShowError> {
    let switch = Switch::read(host)?;
    // An unknown bridge is told before its flows are asked for.
    if switch.bridge(bridge).is_none() {
        return show(&switch, bridge, &[], cloud);
    }
    show(&switch, bridge, &read_flows(host, bridge)?, cloud)
}

fn short(s: &Option<String>) -> String {
    s.as_deref().map(|s| label("", s)).unwrap_or_default()
}

impl Show {
    /// The table: the API port's full id (what `query` takes), the project by its first 8
    /// characters.
    pub fn render(&self) -> String {
        let header =
            ["INTERFACE", "OFPORT", "VLAN", "TYPE", "VM IP", "VM MAC", "PORT", "NETWORK", "OWNER", "PROJECT"];
        let rows = self.ports.iter().map(|p| {
            let port = match p.join {
                Join::NoIfaceId => String::new(),
                Join::NotInApi => format!("{} (not in the API)", p.iface_id.as_deref().unwrap_or_default()),
                Join::Joined => p.port_id.clone().unwrap_or_default(),
            };
            let mac = match (p.mac_mismatch, &p.mac) {
                (true, Some(m)) => {
                    format!("{m} (attached-mac {})", p.attached_mac.as_deref().unwrap_or_default())
                }
                _ => p.mac.clone().unwrap_or_default(),
            };
            vec![
                p.interface.clone(),
                p.ofport.map(|o| o.to_string()).unwrap_or_else(|| "-".into()),
                p.vlan.map(|v| v.to_string()).unwrap_or_default(),
                p.kind.to_string(),
                p.ips.join(","),
                mac,
                port,
                p.network.clone().unwrap_or_default(),
                p.owner.clone().unwrap_or_default(),
                short(&p.project_id),
            ]
        });
        format!("{}\n{}", self.bridge, plain::table(&header, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_dump;

    #[test]
    fn local_vlans_read_both_openflow_1_0_and_1_3_tagging() {
        let text = "\
 cookie=0x1, table=0, n_packets=0, n_bytes=0, priority=10,in_port=10 actions=mod_vlan_vid:3,resubmit(,60)
 cookie=0x1, table=0, n_packets=0, n_bytes=0, priority=10,in_port=11 actions=push_vlan:0x8100,set_field:4100->vlan_vid,resubmit(,60)
 cookie=0x1, table=0, n_packets=0, n_bytes=0, priority=3,in_port=2,dl_vlan=101 actions=set_field:4101->vlan_vid,resubmit(,60)
 cookie=0x1, table=60, n_packets=0, n_bytes=0, priority=10,in_port=12 actions=set_field:4102->vlan_vid
";
        let flows = parse_dump(text).unwrap();
        assert_eq!(local_vlans(&flows), BTreeMap::from([(10, 3), (11, 4)]));
    }
}
