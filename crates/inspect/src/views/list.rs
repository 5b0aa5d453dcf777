//! `list`: every bridge of the host's switch with its datapath type, fail mode, controllers
//! and ports (OpenFlow port number and type), as EasyOVS's `list` prints them.

use serde::Serialize;

use super::plain;
use super::switch::{IfaceKind, Switch, SwitchError};
use crate::source::HostSource;

/// The `list` view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct List {
    pub bridges: Vec<ListBridge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListBridge {
    pub name: String,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    pub controllers: Vec<ListController>,
    pub ports: Vec<ListPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListController {
    pub target: String,
    pub is_connected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListPort {
    pub name: String,
    pub ofport: Option<i64>,
    #[serde(rename = "type")]
    pub kind: IfaceKind,
    /// Why ovs-vswitchd could not set the interface up (its `error` column).
    pub error: Option<String>,
}

/// The view of a switch.
pub fn list(switch: &Switch) -> List {
    List {
        bridges: switch
            .bridges
            .iter()
            .map(|b| ListBridge {
                name: b.name.clone(),
                datapath_type: b.datapath_type.clone(),
                fail_mode: b.fail_mode.clone(),
                controllers: b
                    .controllers
                    .iter()
                    .map(|c| ListController { target: c.target.clone(), is_connected: c.is_connected })
                    .collect(),
                ports: b
                    .ports
                    .iter()
                    .map(|i| ListPort {
                        name: i.name.clone(),
                        ofport: i.ofport,
                        kind: i.kind.clone(),
                        error: i.error.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The view of a host's switch, read through `host`.
pub fn read(host: &dyn HostSource) -> Result<List, SwitchError> {
    Ok(list(&Switch::read(host)?))
}

impl List {
    /// Each bridge as a heading line (datapath, fail mode, controllers) over its ports' table.
    pub fn render(&self) -> String {
        if self.bridges.is_empty() {
            return "no bridges\n".into();
        }
        let mut out = Vec::new();
        for b in &self.bridges {
            let controllers = match b.controllers.is_empty() {
                true => "none".to_string(),
                false => b
                    .controllers
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({})",
                            c.target,
                            if c.is_connected { "connected" } else { "not connected" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let mut s = format!(
                "{}  datapath={}  fail_mode={}  controllers: {controllers}\n",
                b.name,
                b.datapath_type,
                b.fail_mode.as_deref().unwrap_or("(unset)")
            );
            let rows = b.ports.iter().map(|p| {
                vec![
                    p.name.clone(),
                    p.ofport.map_or_else(|| "-".to_string(), |o| o.to_string()),
                    match &p.error {
                        Some(e) => format!("{} (error: {e})", p.kind),
                        None => p.kind.to_string(),
                    },
                ]
            });
            s.push_str(&plain::table(&["PORT", "OFPORT", "TYPE"], rows));
            out.push(s);
        }
        out.join("\n")
    }
}
