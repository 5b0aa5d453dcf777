//! The table the metadata service identifies its callers in: the networks this host serves, as
//! the `dhcp` driver last loaded them, and the networks behind each router this host runs, as
//! the `l3` driver last loaded them. A caller is the port of that network (or of one of the
//! router's networks) holding the source address (upstream's metadata agent looks the port up
//! by network and fixed IP the same way).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use neutrino_model::internal::{DhcpNetworkState, DhcpPortState};

/// The networks the metadata service answers for; cheap to clone, shared by the drivers (which
/// write it) and the service (which reads it).
#[derive(Debug, Clone, Default)]
pub struct Instances(Arc<RwLock<BTreeMap<String, DhcpNetworkState>>>, Routers);

/// Router id → the networks of its interfaces.
type Routers = Arc<RwLock<BTreeMap<String, Vec<String>>>>;

/// Who asked: the port holding the source address on the network the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub network: DhcpNetworkState,
    pub port: DhcpPortState,
}

impl Instances {
    /// Replaces every network (after a full listing).
    pub fn replace_all(&self, networks: impl IntoIterator<Item = DhcpNetworkState>) {
        let mut w = self.0.write().unwrap_or_else(PoisonError::into_inner);
        *w = networks.into_iter().map(|n| (n.id.clone(), n)).collect();
    }

    /// Adds or replaces one network.
    pub fn set(&self, network: DhcpNetworkState) {
        let mut w = self.0.write().unwrap_or_else(PoisonError::into_inner);
        w.insert(network.id.clone(), network);
    }

    /// Forgets a network this host no longer serves.
    pub fn remove(&self, network_id: &str) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).remove(network_id);
    }

    /// The port of `network_id` that holds `ip` (as the server wrote it; an IPv6 address is
    /// compared in its parsed form), or `None`: the request is not answered.
    pub fn caller(&self, network_id: &str, ip: &str) -> Option<Caller> {
        let want: std::net::IpAddr = ip.parse().ok()?;
        let r = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let network = r.get(network_id)?;
        let port = network.ports.iter().find(|p| {
            p.fixed_ips.iter().any(|f| f.ip_address.parse::<std::net::IpAddr>().is_ok_and(|a| a == want))
        })?;
        Some(Caller { network: network.clone(), port: port.clone() })
    }

    /// Replaces every router (after a full listing of the `l3` section).
    pub fn replace_routers(&self, routers: impl IntoIterator<Item = (String, Vec<String>)>) {
        *self.1.write().unwrap_or_else(PoisonError::into_inner) = routers.into_iter().collect();
    }

    /// Adds or replaces the networks of one router.
    pub fn set_router(&self, router_id: &str, networks: Vec<String>) {
        self.1.write().unwrap_or_else(PoisonError::into_inner).insert(router_id.to_string(), networks);
    }

    /// Forgets a router this host no longer runs.
    pub fn remove_router(&self, router_id: &str) {
        self.1.write().unwrap_or_else(PoisonError::into_inner).remove(router_id);
    }

    /// The networks behind router `router_id` (none when this host does not run it).
    pub fn router_networks(&self, router_id: &str) -> Vec<String> {
        self.1.read().unwrap_or_else(PoisonError::into_inner).get(router_id).cloned().unwrap_or_default()
    }

    /// The port of `network_id` with MAC address `mac` (compared without case), or `None`: how
    /// a caller known only by an IPv6 link-local address is found (upstream does the same with
    /// the MAC encoded in the address).
    pub fn caller_by_mac(&self, network_id: &str, mac: &str) -> Option<Caller> {
        let r = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let network = r.get(network_id)?;
        let port = network.ports.iter().find(|p| p.mac_address.eq_ignore_ascii_case(mac))?;
        Some(Caller { network: network.clone(), port: port.clone() })
    }
}

#[cfg(test)]
mod tests {
    use neutrino_model::internal::FixedIpState;

    use super::*;

    fn net(id: &str, ports: &[(&str, &str)]) -> DhcpNetworkState {
        DhcpNetworkState {
            id: id.into(),
            ports: ports
                .iter()
                .map(|(p, ip)| DhcpPortState {
                    id: (*p).into(),
                    fixed_ips: vec![FixedIpState { subnet_id: "s".into(), ip_address: (*ip).into() }],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_caller_is_the_port_holding_the_address_on_that_network() {
        let t = Instances::default();
        t.replace_all([
            net("n1", &[("a", "10.0.0.5"), ("b", "2001:db8::5")]),
            net("n2", &[("c", "10.0.0.5")]),
        ]);
        assert_eq!(t.caller("n1", "10.0.0.5").map(|c| c.port.id), Some("a".into()));
        assert_eq!(t.caller("n2", "10.0.0.5").map(|c| c.port.id), Some("c".into()));
        assert_eq!(t.caller("n1", "2001:db8:0::5").map(|c| c.port.id), Some("b".into()));
        // Another network's address, an unknown address, garbage: nobody.
        assert_eq!(t.caller("n2", "2001:db8::5"), None);
        assert_eq!(t.caller("n1", "10.0.0.6"), None);
        assert_eq!(t.caller("n1", "not an address"), None);
        assert_eq!(t.caller("n3", "10.0.0.5"), None);
        t.remove("n1");
        assert_eq!(t.caller("n1", "10.0.0.5"), None);
        t.set(net("n1", &[("d", "10.0.0.5")]));
        assert_eq!(t.caller("n1", "10.0.0.5").map(|c| c.port.id), Some("d".into()));
    }

    #[test]
    fn a_caller_by_mac_is_on_that_network() {
        let t = Instances::default();
        let mut n1 = net("n1", &[("a", "10.0.0.5")]);
        n1.ports[0].mac_address = "fa:16:3e:00:00:01".into();
        t.replace_all([n1, net("n2", &[("c", "10.0.0.5")])]);
        assert_eq!(t.caller_by_mac("n1", "FA:16:3E:00:00:01").map(|c| c.port.id), Some("a".into()));
        assert_eq!(t.caller_by_mac("n2", "fa:16:3e:00:00:01"), None);
        assert_eq!(t.caller_by_mac("n1", "fa:16:3e:00:00:02"), None);
    }
}
