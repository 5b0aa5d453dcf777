//! The `topology` view's input: each inspected host's bridges with their ports' kinds (from the
//! Open_vSwitch database's `Interface` rows, `ovs-vswitchd.conf.db(5)`: `type`,
//! `options:peer`, `options:remote_ip`, `external_ids:iface-id`) and namespaces, with the API's
//! objects.

use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::inventory::{Iface, Inventory};

/// What the view is built from: each inspected host's bridges and namespaces, and the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopologyInput {
    pub hosts: Vec<HostTopo>,
    pub cloud: Cloud,
}

/// One host as its OVSDB and `ip netns` show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostTopo {
    /// The host's name, as in the ports' `binding:host_id`.
    pub name: String,
    /// Its tunnel endpoint (the agent's `local_ip`), which other hosts' tunnel ports point at.
    pub tunnel_ip: Option<String>,
    pub bridges: Vec<BridgeTopo>,
    /// Every namespace of the host (only the `qrouter-`/`qdhcp-` ones are shown).
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BridgeTopo {
    pub name: String,
    pub ports: Vec<PortTopo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortTopo {
    pub name: String,
    pub kind: PortKind,
}

/// An Open vSwitch port's kind, from its interface's `type`, `options` and `external_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PortKind {
    Internal,
    Patch {
        peer: String,
    },
    Vxlan {
        remote_ip: String,
    },
    Gre {
        remote_ip: String,
    },
    Geneve {
        remote_ip: String,
    },
    /// A port with `external_ids:iface-id`: a VM's, a router's or a DHCP server's API port.
    Vm {
        iface_id: String,
    },
    Other,
}

impl PortKind {
    /// The kind of an interface read from OVSDB: an `iface-id` makes it an API port's, whatever
    /// its type; a patch port without a peer or a tunnel without a remote is `Other`.
    pub fn of(iface: &Iface) -> PortKind {
        if let Some(id) = iface.iface_id() {
            return PortKind::Vm { iface_id: id.to_string() };
        }
        let remote = || iface.remote_ip().map(str::to_string);
        let kind = match iface.kind.as_str() {
            "internal" => Some(PortKind::Internal),
            "patch" => iface.peer().map(|p| PortKind::Patch { peer: p.to_string() }),
            "vxlan" => remote().map(|remote_ip| PortKind::Vxlan { remote_ip }),
            "gre" => remote().map(|remote_ip| PortKind::Gre { remote_ip }),
            "geneve" => remote().map(|remote_ip| PortKind::Geneve { remote_ip }),
            _ => None,
        };
        kind.unwrap_or(PortKind::Other)
    }
}

impl HostTopo {
    /// A host from its OVSDB inventory, its tunnel endpoint and `ip netns` names.
    pub fn from_inventory(
        name: &str,
        tunnel_ip: Option<&str>,
        inventory: &Inventory,
        namespaces: Vec<String>,
    ) -> HostTopo {
        let bridges = inventory
            .bridges
            .iter()
            .map(|b| BridgeTopo {
                name: b.name.clone(),
                ports: b
                    .ifaces
                    .iter()
                    .map(|i| PortTopo { name: i.name.clone(), kind: PortKind::of(i) })
                    .collect(),
            })
            .collect();
        HostTopo { name: name.to_string(), tunnel_ip: tunnel_ip.map(str::to_string), bridges, namespaces }
    }
}
