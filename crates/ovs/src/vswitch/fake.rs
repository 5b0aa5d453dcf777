//! [`FakeVswitch`]: an in-memory [`Vswitch`] with the same observable behaviour as the OVSDB
//! one (idempotent writes, merged `external_ids`, ofports assigned at once, interface events),
//! plus hooks for tests to plug and unplug "VM" interfaces as Nova would.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{
    EventKind, InterfaceEvent, PortInfo, PortSpec, StrMap, Vswitch, VswitchError, merged, validate_tag,
};

/// A bridge as the fake holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeBridge {
    pub datapath_type: String,
    pub external_ids: StrMap,
    pub fail_mode: Option<String>,
}

#[derive(Debug, Clone)]
struct FakePort {
    bridge: String,
    info: PortInfo,
    port_external_ids: StrMap,
}

#[derive(Debug, Default)]
struct State {
    bridges: BTreeMap<String, FakeBridge>,
    ports: BTreeMap<String, FakePort>,
    next_ofport: i64,
    watchers: Vec<mpsc::UnboundedSender<InterfaceEvent>>,
    writes: usize,
}

impl State {
    fn emit(&mut self, kind: EventKind, info: &PortInfo) {
        let ev = InterfaceEvent {
            kind,
            name: info.name.clone(),
            ofport: info.ofport,
            iface_type: info.iface_type.clone(),
            external_ids: info.external_ids.clone(),
        };
        self.watchers.retain(|w| w.send(ev.clone()).is_ok());
    }

    fn add_port(&mut self, bridge: &str, port: &str, spec: &PortSpec) -> Result<(), VswitchError> {
        if !self.bridges.contains_key(bridge) {
            return Err(VswitchError::NotFound(format!("bridge {bridge}")));
        }
        match self.ports.get(port) {
            Some(p) if p.bridge != bridge => {
                Err(VswitchError::Invalid(format!("port {port} exists on another bridge than {bridge}")))
            }
            Some(p) => {
                let mut next = p.clone();
                next.info.tag = spec.tag;
                next.info.iface_type = spec.iface_type.clone();
                next.info.options = spec.options.clone();
                next.info.external_ids = merged(&p.info.external_ids, &spec.iface_external_ids);
                next.port_external_ids = merged(&p.port_external_ids, &spec.port_external_ids);
                if next.info != p.info || next.port_external_ids != p.port_external_ids {
                    self.writes += 1;
                    self.emit(EventKind::Modified, &next.info);
                    self.ports.insert(port.to_string(), next);
                }
                Ok(())
            }
            None => {
                self.next_ofport += 1;
                let info = PortInfo {
                    name: port.to_string(),
                    tag: spec.tag,
                    ofport: Some(self.next_ofport),
                    iface_type: spec.iface_type.clone(),
                    options: spec.options.clone(),
                    external_ids: spec.iface_external_ids.clone(),
                };
                self.writes += 1;
                self.emit(EventKind::Added, &info);
                let port_external_ids = spec.port_external_ids.clone();
                self.ports.insert(
                    port.to_string(),
                    FakePort { bridge: bridge.to_string(), info, port_external_ids },
                );
                Ok(())
            }
        }
    }

    fn remove_port(&mut self, port: &str) {
        if let Some(p) = self.ports.remove(port) {
            self.writes += 1;
            self.emit(EventKind::Deleted, &p.info);
        }
    }
}

/// An in-memory Open vSwitch.
#[derive(Debug, Default)]
pub struct FakeVswitch {
    state: Mutex<State>,
}

impl FakeVswitch {
    pub fn new() -> FakeVswitch {
        FakeVswitch::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Plugs a VM interface into `bridge` the way Nova/os-vif does (`iface-id`,
    /// `attached-mac`, `iface-status=active`, `vm-uuid`), firing an `Added` event.
    pub fn plug_vm_interface(
        &self,
        bridge: &str,
        name: &str,
        iface_id: &str,
        mac: &str,
        vm_uuid: &str,
    ) -> Result<(), VswitchError> {
        let mut ids = StrMap::new();
        ids.insert("iface-id".into(), iface_id.into());
        ids.insert("attached-mac".into(), mac.into());
        ids.insert("iface-status".into(), "active".into());
        ids.insert("vm-uuid".into(), vm_uuid.into());
        self.state().add_port(bridge, name, &PortSpec { iface_external_ids: ids, ..Default::default() })
    }

    /// Removes an interface as if the VM went away, firing a `Deleted` event.
    pub fn unplug_interface(&self, name: &str) {
        self.state().remove_port(name);
    }

    /// A bridge's state, if it exists.
    pub fn bridge(&self, name: &str) -> Option<FakeBridge> {
        self.state().bridges.get(name).cloned()
    }

    /// Names of all bridges.
    pub fn bridges(&self) -> Vec<String> {
        self.state().bridges.keys().cloned().collect()
    }

    /// A port's state and its bridge, if it exists.
    pub fn port(&self, name: &str) -> Option<(String, PortInfo)> {
        self.state().ports.get(name).map(|p| (p.bridge.clone(), p.info.clone()))
    }

    /// A port's own `external_ids` (as opposed to its interface's).
    pub fn port_external_ids(&self, name: &str) -> Option<StrMap> {
        self.state().ports.get(name).map(|p| p.port_external_ids.clone())
    }

    /// How many writes changed something (idempotent calls do not count).
    pub fn writes(&self) -> usize {
        self.state().writes
    }
}

impl Vswitch for FakeVswitch {
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
        let mut st = self.state();
        let current = st.bridges.get(name).cloned();
        let next = FakeBridge {
            datapath_type: datapath_type.to_string(),
            external_ids: merged(&current.clone().unwrap_or_default().external_ids, external_ids),
            fail_mode: fail_mode.map(str::to_owned),
        };
        if current.as_ref() != Some(&next) {
            st.writes += 1;
            st.bridges.insert(name.to_string(), next);
            if current.is_none() {
                let spec = PortSpec { iface_type: "internal".into(), ..Default::default() };
                st.add_port(name, name, &spec)?;
            }
        }
        Ok(())
    }

    async fn delete_bridge(&self, name: &str) -> Result<(), VswitchError> {
        let mut st = self.state();
        if st.bridges.remove(name).is_some() {
            st.writes += 1;
            let ports: Vec<String> =
                st.ports.iter().filter(|(_, p)| p.bridge == name).map(|(n, _)| n.clone()).collect();
            for p in ports {
                st.remove_port(&p);
            }
        }
        Ok(())
    }

    async fn ensure_port(&self, bridge: &str, port: &str, spec: &PortSpec) -> Result<(), VswitchError> {
        validate_tag(spec.tag)?;
        if port.is_empty() {
            return Err(VswitchError::Invalid("empty port name".into()));
        }
        self.state().add_port(bridge, port, spec)
    }

    async fn delete_port(&self, bridge: &str, port: &str) -> Result<(), VswitchError> {
        let mut st = self.state();
        if st.ports.get(port).is_some_and(|p| p.bridge == bridge) {
            st.remove_port(port);
        }
        Ok(())
    }

    async fn list_ports(&self, bridge: &str) -> Result<Vec<PortInfo>, VswitchError> {
        let st = self.state();
        if !st.bridges.contains_key(bridge) {
            return Err(VswitchError::NotFound(format!("bridge {bridge}")));
        }
        Ok(st.ports.values().filter(|p| p.bridge == bridge).map(|p| p.info.clone()).collect())
    }

    async fn ofport(&self, iface: &str, _timeout: Duration) -> Result<Option<i64>, VswitchError> {
        Ok(self.state().ports.get(iface).and_then(|p| p.info.ofport))
    }

    async fn monitor_interfaces(&self) -> Result<mpsc::UnboundedReceiver<InterfaceEvent>, VswitchError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.state();
        for p in st.ports.values() {
            let ev = InterfaceEvent {
                kind: EventKind::Added,
                name: p.info.name.clone(),
                ofport: p.info.ofport,
                iface_type: p.info.iface_type.clone(),
                external_ids: p.info.external_ids.clone(),
            };
            let _ = tx.send(ev);
        }
        st.watchers.push(tx);
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fake_is_idempotent_and_reports_events() {
        let vs = FakeVswitch::new();
        let ids = StrMap::from([("neutrino".to_string(), "yes".to_string())]);
        vs.ensure_bridge("br-int", "netdev", &ids, Some("secure")).await.unwrap();
        let w = vs.writes();
        vs.ensure_bridge("br-int", "netdev", &ids, Some("secure")).await.unwrap();
        assert_eq!(vs.writes(), w);
        let mut events = vs.monitor_interfaces().await.unwrap();
        assert_eq!(events.recv().await.unwrap().name, "br-int");
        vs.plug_vm_interface("br-int", "tap1", "port-1", "fa:16:3e:00:00:01", "vm-1").unwrap();
        let ev = events.recv().await.unwrap();
        assert_eq!(
            (ev.kind, ev.iface_id(), ev.attached_mac()),
            (EventKind::Added, Some("port-1"), Some("fa:16:3e:00:00:01"))
        );
        let tagged = |tag| PortSpec { tag: Some(tag), ..PortSpec::default() };
        vs.ensure_port("br-int", "tap2", &tagged(4095)).await.unwrap();
        assert_eq!(events.recv().await.unwrap().name, "tap2");
        assert_eq!(vs.list_ports("br-int").await.unwrap()[2].tag, Some(4095));
        assert!(vs.ensure_port("br-int", "tap3", &tagged(4096)).await.is_err(), "VLAN tag out of range");
        vs.unplug_interface("tap1");
        assert_eq!(events.recv().await.unwrap().kind, EventKind::Deleted);
        assert!(vs.ensure_port("br-none", "x", &PortSpec::default()).await.is_err());
        vs.delete_bridge("br-int").await.unwrap();
        assert!(vs.bridges().is_empty());
        assert_eq!(events.recv().await.unwrap().kind, EventKind::Deleted);
    }
}
