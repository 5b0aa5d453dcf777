//! [`Vswitch`] over the native OVSDB client (RFC 7047, vswitch.ovsschema). Each change reads
//! the rows it touches, then commits ONE transaction guarded by `wait` operations on what it
//! read (optimistic concurrency, as ovs-vsctl's verify), retried a few times on a race.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::{
    EventKind, InterfaceEvent, PROTOCOLS, PortInfo, PortSpec, StrMap, Vswitch, VswitchError, merged,
    tag_from, validate_tag,
};
use crate::ovsdb::datum::{self, named_uuid, str_map, uuid};
use crate::ovsdb::{Client, OvsdbError, TableUpdates};

const DB: &str = "Open_vSwitch";
const RETRIES: usize = 5;

/// The Open_vSwitch database through one OVSDB connection.
#[derive(Debug, Clone)]
pub struct OvsVswitch {
    client: Client,
}

type Row = Map<String, Value>;

fn by_name(name: &str) -> Value {
    json!([["name", "==", name]])
}

fn by_uuid(id: &str) -> Value {
    json!([["_uuid", "==", uuid(id)]])
}

fn row_uuid(row: &Row) -> String {
    row.get("_uuid").and_then(datum::as_uuid).unwrap_or_default().to_string()
}

/// A `wait` op asserting the rows matching `where_` still have exactly these column values.
fn guard(table: &str, where_: Value, rows: &[&Row], columns: &[&str]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            Value::Object(
                columns.iter().filter_map(|c| r.get(*c).map(|v| ((*c).to_string(), v.clone()))).collect(),
            )
        })
        .collect();
    json!({"op": "wait", "timeout": 0, "table": table, "where": where_, "columns": columns, "until": "==", "rows": rows})
}

fn is_guard_failure(e: &VswitchError) -> bool {
    matches!(e, VswitchError::Ovsdb(OvsdbError::Operation { error, .. }) if error == "timed out")
}

fn tag_value(tag: Option<u16>) -> Value {
    match tag {
        Some(t) => json!(t),
        None => datum::empty(),
    }
}

impl OvsVswitch {
    /// Connects to the ovsdb-server socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<OvsVswitch, VswitchError> {
        Ok(OvsVswitch { client: Client::connect(path).await? })
    }

    /// Wraps an existing client.
    pub fn new(client: Client) -> OvsVswitch {
        OvsVswitch { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn select(&self, table: &str, where_: Value, columns: &[&str]) -> Result<Vec<Row>, VswitchError> {
        let op = json!({"op": "select", "table": table, "where": where_, "columns": columns});
        let mut res = self.client.transact(DB, vec![op]).await?;
        let rows = res.pop().and_then(|mut r| r.get_mut("rows").map(Value::take)).unwrap_or(json!([]));
        Ok(rows
            .as_array()
            .map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect())
            .unwrap_or_default())
    }

    async fn one(&self, table: &str, name: &str, columns: &[&str]) -> Result<Option<Row>, VswitchError> {
        Ok(self.select(table, by_name(name), columns).await?.into_iter().next())
    }

    async fn retrying<F, Fut>(&self, what: &str, mut attempt: F) -> Result<(), VswitchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), VswitchError>>,
    {
        for _ in 0..RETRIES {
            match attempt().await {
                Err(e) if is_guard_failure(&e) => continue,
                other => return other,
            }
        }
        Err(VswitchError::Conflict(what.to_string()))
    }

    async fn try_ensure_bridge(
        &self,
        name: &str,
        datapath_type: &str,
        external_ids: &StrMap,
        fail_mode: Option<&str>,
    ) -> Result<(), VswitchError> {
        const COLS: &[&str] = &["_uuid", "datapath_type", "external_ids", "fail_mode", "protocols"];
        let protocols = datum::set(PROTOCOLS.iter().map(|p| json!(p)));
        let fail_mode_v = fail_mode.map_or_else(datum::empty, |f| json!(f));
        let Some(row) = self.one("Bridge", name, COLS).await? else {
            let ops = vec![
                json!({"op": "wait", "timeout": 0, "table": "Bridge", "where": by_name(name), "columns": ["name"],
                       "until": "==", "rows": []}),
                json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                       "row": {"name": name, "type": "internal"}}),
                json!({"op": "insert", "table": "Port", "uuid-name": "port",
                       "row": {"name": name, "interfaces": named_uuid("iface")}}),
                json!({"op": "insert", "table": "Bridge", "uuid-name": "br",
                       "row": {"name": name, "ports": named_uuid("port"), "datapath_type": datapath_type,
                               "external_ids": str_map(external_ids), "fail_mode": fail_mode_v,
                               "protocols": protocols}}),
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                       "mutations": [["bridges", "insert", datum::set([named_uuid("br")])]]}),
            ];
            self.client.transact(DB, ops).await?;
            return Ok(());
        };
        let have_ids = datum::as_str_map(&row["external_ids"]);
        let want_ids = merged(&have_ids, external_ids);
        let mut have_protocols = datum::str_set(&row["protocols"]);
        have_protocols.sort();
        let unchanged = row.get("datapath_type").and_then(Value::as_str) == Some(datapath_type)
            && have_ids == want_ids
            && datum::opt_str(&row["fail_mode"]).as_deref() == fail_mode
            && have_protocols == PROTOCOLS;
        if unchanged {
            return Ok(());
        }
        let id = row_uuid(&row);
        let ops = vec![
            guard("Bridge", by_uuid(&id), &[&row], &COLS[1..]),
            json!({"op": "update", "table": "Bridge", "where": by_uuid(&id),
                   "row": {"datapath_type": datapath_type, "external_ids": str_map(&want_ids),
                           "fail_mode": fail_mode_v, "protocols": protocols}}),
        ];
        self.client.transact(DB, ops).await?;
        Ok(())
    }

    async fn try_ensure_port(&self, bridge: &str, port: &str, spec: &PortSpec) -> Result<(), VswitchError> {
        const BR_COLS: &[&str] = &["_uuid", "ports"];
        const PORT_COLS: &[&str] = &["_uuid", "tag", "external_ids", "interfaces"];
        const IF_COLS: &[&str] = &["_uuid", "type", "options", "external_ids"];
        let br = self
            .one("Bridge", bridge, BR_COLS)
            .await?
            .ok_or_else(|| VswitchError::NotFound(format!("bridge {bridge}")))?;
        let br_id = row_uuid(&br);
        let Some(prow) = self.one("Port", port, PORT_COLS).await? else {
            let ops = vec![
                json!({"op": "wait", "timeout": 0, "table": "Port", "where": by_name(port), "columns": ["name"],
                       "until": "==", "rows": []}),
                json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                       "row": {"name": port, "type": spec.iface_type, "options": str_map(&spec.options),
                               "external_ids": str_map(&spec.iface_external_ids)}}),
                json!({"op": "insert", "table": "Port", "uuid-name": "port",
                       "row": {"name": port, "interfaces": named_uuid("iface"), "tag": tag_value(spec.tag),
                               "external_ids": str_map(&spec.port_external_ids)}}),
                json!({"op": "mutate", "table": "Bridge", "where": by_uuid(&br_id),
                       "mutations": [["ports", "insert", datum::set([named_uuid("port")])]]}),
            ];
            self.client.transact(DB, ops).await?;
            return Ok(());
        };
        let port_id = row_uuid(&prow);
        if !datum::uuids(&br["ports"]).contains(&port_id) {
            return Err(VswitchError::Invalid(format!("port {port} exists on another bridge than {bridge}")));
        }
        let irow = self.one("Interface", port, IF_COLS).await?;
        let mut ops = Vec::new();
        let have_tag = tag_from(datum::opt_i64(&prow["tag"]));
        let have_pids = datum::as_str_map(&prow["external_ids"]);
        let want_pids = merged(&have_pids, &spec.port_external_ids);
        if have_tag != spec.tag || have_pids != want_pids {
            ops.push(guard("Port", by_uuid(&port_id), &[&prow], &PORT_COLS[1..]));
            ops.push(json!({"op": "update", "table": "Port", "where": by_uuid(&port_id),
                            "row": {"tag": tag_value(spec.tag), "external_ids": str_map(&want_pids)}}));
        }
        match irow {
            Some(irow) => {
                let if_id = row_uuid(&irow);
                let have_iids = datum::as_str_map(&irow["external_ids"]);
                let want_iids = merged(&have_iids, &spec.iface_external_ids);
                let have_type = irow.get("type").and_then(Value::as_str).unwrap_or_default();
                if have_type != spec.iface_type
                    || datum::as_str_map(&irow["options"]) != spec.options
                    || have_iids != want_iids
                {
                    ops.push(guard("Interface", by_uuid(&if_id), &[&irow], &IF_COLS[1..]));
                    ops.push(json!({"op": "update", "table": "Interface", "where": by_uuid(&if_id),
                                    "row": {"type": spec.iface_type, "options": str_map(&spec.options),
                                            "external_ids": str_map(&want_iids)}}));
                }
            }
            None => {
                // A port whose interface has another name (e.g. a bond): add ours.
                ops.push(guard("Port", by_uuid(&port_id), &[&prow], &["interfaces"]));
                ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": "iface",
                                "row": {"name": port, "type": spec.iface_type, "options": str_map(&spec.options),
                                        "external_ids": str_map(&spec.iface_external_ids)}}));
                ops.push(json!({"op": "mutate", "table": "Port", "where": by_uuid(&port_id),
                                "mutations": [["interfaces", "insert", datum::set([named_uuid("iface")])]]}));
            }
        }
        if !ops.is_empty() {
            self.client.transact(DB, ops).await?;
        }
        Ok(())
    }
}

impl Vswitch for OvsVswitch {
    async fn ensure_bridge(
        &self,
        name: &str,
        datapath_type: &str,
        external_ids: &StrMap,
        fail_mode: Option<&str>,
    ) -> Result<(), VswitchError> {
        if name.is_empty() {
            return Err(VswitchError::Invalid("empty bridge name".into()));
        }
        self.retrying(name, || self.try_ensure_bridge(name, datapath_type, external_ids, fail_mode)).await
    }

    async fn delete_bridge(&self, name: &str) -> Result<(), VswitchError> {
        let Some(row) = self.one("Bridge", name, &["_uuid"]).await? else { return Ok(()) };
        let op = json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                        "mutations": [["bridges", "delete", datum::set([uuid(&row_uuid(&row))])]]});
        self.client.transact(DB, vec![op]).await?;
        Ok(())
    }

    async fn ensure_port(&self, bridge: &str, port: &str, spec: &PortSpec) -> Result<(), VswitchError> {
        validate_tag(spec.tag)?;
        if port.is_empty() {
            return Err(VswitchError::Invalid("empty port name".into()));
        }
        self.retrying(port, || self.try_ensure_port(bridge, port, spec)).await
    }

    async fn delete_port(&self, bridge: &str, port: &str) -> Result<(), VswitchError> {
        let Some(row) = self.one("Port", port, &["_uuid"]).await? else { return Ok(()) };
        let op = json!({"op": "mutate", "table": "Bridge", "where": by_name(bridge),
                        "mutations": [["ports", "delete", datum::set([uuid(&row_uuid(&row))])]]});
        self.client.transact(DB, vec![op]).await?;
        Ok(())
    }

    async fn list_ports(&self, bridge: &str) -> Result<Vec<PortInfo>, VswitchError> {
        let ops = vec![
            json!({"op": "select", "table": "Bridge", "where": by_name(bridge), "columns": ["ports"]}),
            json!({"op": "select", "table": "Port", "where": [], "columns": ["_uuid", "name", "tag", "interfaces"]}),
            json!({"op": "select", "table": "Interface", "where": [],
                   "columns": ["_uuid", "name", "type", "ofport", "options", "external_ids"]}),
        ];
        let res = self.client.transact(DB, ops).await?;
        let rows = |i: usize| -> Vec<Row> {
            res.get(i)
                .and_then(|r| r.get("rows"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect())
                .unwrap_or_default()
        };
        let br =
            rows(0).into_iter().next().ok_or_else(|| VswitchError::NotFound(format!("bridge {bridge}")))?;
        let members = datum::uuids(&br["ports"]);
        let ifaces: BTreeMap<String, Row> = rows(2).into_iter().map(|r| (row_uuid(&r), r)).collect();
        let mut out = Vec::new();
        for p in rows(1).into_iter().filter(|p| members.contains(&row_uuid(p))) {
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let if_ids = datum::uuids(&p["interfaces"]);
            let iface = if_ids
                .iter()
                .filter_map(|u| ifaces.get(u))
                .find(|i| i.get("name").and_then(Value::as_str) == Some(&name))
                .or_else(|| if_ids.first().and_then(|u| ifaces.get(u)));
            let mut info = PortInfo { name, tag: tag_from(datum::opt_i64(&p["tag"])), ..Default::default() };
            if let Some(i) = iface {
                info.ofport = datum::opt_i64(&i["ofport"]);
                info.iface_type = i.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                info.options = datum::as_str_map(&i["options"]);
                info.external_ids = datum::as_str_map(&i["external_ids"]);
            }
            out.push(info);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn ofport(&self, iface: &str, timeout: Duration) -> Result<Option<i64>, VswitchError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let row = self.one("Interface", iface, &["ofport"]).await?;
            let ofport = row.as_ref().and_then(|r| r.get("ofport")).and_then(datum::opt_i64);
            if let Some(p) = ofport.filter(|p| *p > 0) {
                return Ok(Some(p));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(ofport);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn monitor_interfaces(&self) -> Result<mpsc::UnboundedReceiver<InterfaceEvent>, VswitchError> {
        let (initial, mut updates) =
            self.client.monitor(DB, &[("Interface", &["name", "ofport", "type", "external_ids"])]).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        for ev in interface_events(&initial) {
            let _ = tx.send(ev);
        }
        tokio::spawn(async move {
            while let Some(u) = updates.recv().await {
                for ev in interface_events(&u) {
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Turns an `Interface` table update into events.
pub fn interface_events(u: &TableUpdates) -> Vec<InterfaceEvent> {
    let Some(rows) = u.get("Interface") else { return Vec::new() };
    rows.values()
        .filter_map(|r| {
            let (kind, row) = match (&r.old, &r.new) {
                (None, Some(new)) => (EventKind::Added, new),
                (Some(_), Some(new)) => (EventKind::Modified, new),
                (Some(old), None) => (EventKind::Deleted, old),
                (None, None) => return None,
            };
            Some(InterfaceEvent {
                kind,
                name: row.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                ofport: row.get("ofport").and_then(datum::opt_i64),
                iface_type: row.get("type").and_then(Value::as_str).unwrap_or_default().to_string(),
                external_ids: row.get("external_ids").map(datum::as_str_map).unwrap_or_default(),
            })
        })
        .collect()
}
