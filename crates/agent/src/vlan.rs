//! Host-local VLANs: each network present on the host gets a VLAN id on `br-int` (1-4094),
//! recovered from the agent's own ingress flows after a restart so that traffic keeps flowing.

use std::collections::BTreeMap;

/// The VLAN Neutron parks ports on that must not pass traffic (here: a port without flows).
pub const DEAD_VLAN: u16 = 4095;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalVlans {
    by_net: BTreeMap<String, u16>,
}

impl LocalVlans {
    pub fn get(&self, net: &str) -> Option<u16> {
        self.by_net.get(net).copied()
    }

    /// Takes over a VLAN found on an existing port of `net` (after a restart). A VLAN already
    /// used by another network is not taken (the port's flows will move it).
    pub fn recover(&mut self, net: &str, vlan: u16) -> bool {
        if !(1..DEAD_VLAN).contains(&vlan)
            || self.by_net.contains_key(net)
            || self.by_net.values().any(|v| *v == vlan)
        {
            return false;
        }
        self.by_net.insert(net.to_string(), vlan);
        true
    }

    /// The VLAN of `net`, assigning the lowest free one if it has none; `None` if all 4094
    /// are taken.
    pub fn assign(&mut self, net: &str) -> Option<u16> {
        if let Some(v) = self.get(net) {
            return Some(v);
        }
        let used: std::collections::BTreeSet<u16> = self.by_net.values().copied().collect();
        let v = (1..DEAD_VLAN).find(|v| !used.contains(v))?;
        self.by_net.insert(net.to_string(), v);
        Some(v)
    }

    /// Frees the VLAN of a network that left the host.
    pub fn release(&mut self, net: &str) -> Option<u16> {
        self.by_net.remove(net)
    }

    pub fn networks(&self) -> impl Iterator<Item = (&String, &u16)> {
        self.by_net.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_lowest_free_and_recovers() {
        let mut v = LocalVlans::default();
        assert!(v.recover("a", 3));
        assert!(!v.recover("b", 3), "taken by a");
        assert_eq!(v.assign("b"), Some(1));
        assert_eq!(v.assign("c"), Some(2));
        assert_eq!(v.assign("d"), Some(4));
        assert_eq!(v.assign("b"), Some(1));
        assert_eq!(v.release("c"), Some(2));
        assert_eq!(v.assign("e"), Some(2));
        assert!(!v.recover("f", DEAD_VLAN));
    }
}
