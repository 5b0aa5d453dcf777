//! Recording what a host showed ([`Recorder`], a [`HostSource`] that passes every read through
//! and keeps the answer) and playing it back ([`Recording::into_fake`], a [`FakeHost`] answering
//! the same questions the same way): `neutrino inspect --record DIR` writes one
//! `<host>.json` per host and the API's objects as `cloud.json`, which is how the snapshot tests'
//! fixed inputs were taken from a running sandbox and how an operator hands a problem over.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::source::{FakeHost, HostSource, NsQuery, SourceError};

/// Everything a host answered, keyed by the question.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Recording {
    pub host: String,
    pub namespace_prefix: String,
    pub ovsdb: BTreeMap<String, String>,
    pub flows: BTreeMap<String, String>,
    /// `[bridge, flow, ct-next flags joined by ' ', answer]`.
    pub traces: Vec<[String; 4]>,
    pub namespaces: Vec<String>,
    /// `[namespace, the command inside it, answer]`.
    pub ns: Vec<[String; 3]>,
    pub leases: BTreeMap<String, String>,
    pub dnsmasq: BTreeMap<String, u32>,
}

impl Recording {
    /// A fake host answering as recorded.
    pub fn into_fake(self) -> FakeHost {
        let fake = FakeHost {
            host: self.host,
            namespace_prefix: self.namespace_prefix,
            ovsdb: self.ovsdb,
            traces: self.traces.into_iter().map(|[b, f, c, t]| ((b, f, c), t)).collect(),
            namespaces: self.namespaces,
            ns: self
                .ns
                .into_iter()
                .filter_map(|[n, q, t]| Some(((n, NsQuery::from_command(&q)?), t)))
                .collect(),
            leases: self.leases,
            dnsmasq: self.dnsmasq,
            ..FakeHost::default()
        };
        for (bridge, text) in self.flows {
            fake.set_flows(&bridge, &text);
        }
        fake
    }
}

/// A host whose answers are kept as they pass.
pub struct Recorder {
    inner: Box<dyn HostSource>,
    seen: Mutex<Recording>,
}

impl Recorder {
    pub fn new(inner: Box<dyn HostSource>) -> Recorder {
        let seen = Recording {
            host: inner.host().to_string(),
            namespace_prefix: inner.namespace_prefix().to_string(),
            ..Recording::default()
        };
        Recorder { inner, seen: Mutex::new(seen) }
    }

    /// What was read so far.
    pub fn recording(&self) -> Recording {
        self.seen.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn keep(&self, f: impl FnOnce(&mut Recording)) {
        if let Ok(mut r) = self.seen.lock() {
            f(&mut r);
        }
    }
}

impl HostSource for Recorder {
    fn host(&self) -> &str {
        self.inner.host()
    }

    fn namespace_prefix(&self) -> &str {
        self.inner.namespace_prefix()
    }

    fn ovsdb_list(&self, table: &str) -> Result<String, SourceError> {
        let t = self.inner.ovsdb_list(table)?;
        self.keep(|r| {
            r.ovsdb.insert(table.into(), t.clone());
        });
        Ok(t)
    }

    fn dump_flows(&self, bridge: &str) -> Result<String, SourceError> {
        let t = self.inner.dump_flows(bridge)?;
        self.keep(|r| {
            r.flows.insert(bridge.into(), t.clone());
        });
        Ok(t)
    }

    fn trace(&self, bridge: &str, flow: &str, ct_next: &[String]) -> Result<String, SourceError> {
        let t = self.inner.trace(bridge, flow, ct_next)?;
        self.keep(|r| r.traces.push([bridge.into(), flow.into(), ct_next.join(" "), t.clone()]));
        Ok(t)
    }

    fn add_flow(&self, _: &str, _: &str) -> Result<(), SourceError> {
        Err(SourceError::Missing("a recording session changes nothing".into()))
    }

    fn del_flow(&self, _: &str, _: &str) -> Result<(), SourceError> {
        Err(SourceError::Missing("a recording session changes nothing".into()))
    }

    fn namespaces(&self) -> Result<Vec<String>, SourceError> {
        let n = self.inner.namespaces()?;
        self.keep(|r| r.namespaces = n.clone());
        Ok(n)
    }

    fn in_ns(&self, ns: &str, query: &NsQuery) -> Result<String, SourceError> {
        let t = self.inner.in_ns(ns, query)?;
        self.keep(|r| r.ns.push([ns.into(), query.command(), t.clone()]));
        Ok(t)
    }

    fn leases(&self, network_id: &str) -> Result<Option<String>, SourceError> {
        let l = self.inner.leases(network_id)?;
        if let Some(text) = &l {
            self.keep(|r| {
                r.leases.insert(network_id.into(), text.clone());
            });
        }
        Ok(l)
    }

    fn dnsmasq_pid(&self, network_id: &str) -> Result<Option<u32>, SourceError> {
        let p = self.inner.dnsmasq_pid(network_id)?;
        if let Some(pid) = p {
            self.keep(|r| {
                r.dnsmasq.insert(network_id.into(), pid);
            });
        }
        Ok(p)
    }
}
