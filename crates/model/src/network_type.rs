//! Network (segment) types: the values of `provider:network_type` (neutron-lib
//! `constants.TYPE_*`), of ML2's `type_drivers`, of the internal API's `network_type` and of an
//! Open vSwitch agent's `tunnel_types`, with upstream's strings on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A segment type. `geneve` is known to the API (as upstream's `provider` extension knows it)
/// but has no type driver here, so ML2 refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    Local,
    Flat,
    Vlan,
    Vxlan,
    Gre,
    Geneve,
}

/// A string that names no network type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network type {0:?}")]
pub struct UnknownNetworkType(pub String);

impl NetworkType {
    /// Every type, in the order the API documents them.
    pub const ALL: [NetworkType; 6] = [
        NetworkType::Local,
        NetworkType::Flat,
        NetworkType::Vlan,
        NetworkType::Vxlan,
        NetworkType::Gre,
        NetworkType::Geneve,
    ];

    /// The wire string (`vxlan`).
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Local => "local",
            NetworkType::Flat => "flat",
            NetworkType::Vlan => "vlan",
            NetworkType::Vxlan => "vxlan",
            NetworkType::Gre => "gre",
            NetworkType::Geneve => "geneve",
        }
    }

    /// Whether hosts reach the segment through tunnels (upstream's `TUNNELLED_NETWORK_TYPES`).
    pub fn is_tunnel(self) -> bool {
        matches!(self, NetworkType::Vxlan | NetworkType::Gre | NetworkType::Geneve)
    }
}

impl FromStr for NetworkType {
    type Err = UnknownNetworkType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetworkType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownNetworkType(s.to_string()))
    }
}

impl fmt::Display for NetworkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_upstreams() {
        for t in NetworkType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
            assert_eq!(serde_json::from_value::<NetworkType>(serde_json::json!(t.as_str())).unwrap(), t);
            assert_eq!(t.as_str().parse::<NetworkType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        let strings: Vec<&str> = NetworkType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(strings, crate::network::NETWORK_TYPES);
        assert!("VXLAN".parse::<NetworkType>().is_err());
        assert!(serde_json::from_value::<NetworkType>(serde_json::json!("token-ring")).is_err());
        assert!(NetworkType::Gre.is_tunnel() && !NetworkType::Vlan.is_tunnel());
    }
}
