//! `[ml2]` configuration, as upstream's `ml2_conf.ini` spells it: type drivers, tenant network
//! types, `flat_networks`, `network_vlan_ranges = physnet1:100:2999`, `vni_ranges`,
//! `tunnel_id_ranges`, and the agent liveness window (`agent_down_time`).

use std::collections::BTreeMap;

use neutrino_model::NetworkType;
use serde::{Deserialize, Serialize};

/// The type names stay text here (the operator's file) and are parsed by [`Ml2Config::ranges`],
/// which names a bad one in its error.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ml2Config {
    pub type_drivers: Vec<String>,
    /// Types tried in order for tenant networks.
    pub tenant_network_types: Vec<String>,
    /// Physical networks flat networks may use; `*` allows any.
    pub flat_networks: Vec<String>,
    /// `physnet` (provider networks only) or `physnet:min:max` (also a tenant range).
    pub network_vlan_ranges: Vec<String>,
    /// `min:max` VXLAN network identifiers for tenant networks.
    pub vni_ranges: Vec<String>,
    /// `min:max` GRE keys for tenant networks.
    pub tunnel_id_ranges: Vec<String>,
    /// Seconds without a heartbeat after which an agent is dead.
    pub agent_down_time: u64,
}

impl Default for Ml2Config {
    fn default() -> Self {
        Self {
            type_drivers: TYPE_DRIVERS.map(|t| t.as_str().to_string()).to_vec(),
            tenant_network_types: vec![NetworkType::Vxlan.as_str().into()],
            flat_networks: vec!["*".into()],
            network_vlan_ranges: vec!["physnet1:100:2999".into()],
            vni_ranges: vec!["1:1000".into()],
            tunnel_id_ranges: vec!["1:1000".into()],
            agent_down_time: 75,
        }
    }
}

/// Errors in `[ml2]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Ml2ConfigError {
    #[error("invalid range {0:?}: expected min:max with 1 <= min <= max <= {1}")]
    Range(String, u32),
    #[error("invalid network_vlan_ranges entry {0:?}: expected physnet or physnet:min:max (1-4094)")]
    Vlan(String),
    #[error("unknown type driver {0:?} (local, flat, vlan, gre, vxlan)")]
    Type(String),
    #[error("tenant network type {0:?} is not among type_drivers")]
    TenantType(String),
}

/// The parsed configuration: enabled types and ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ranges {
    /// `type_drivers`.
    pub types: Vec<NetworkType>,
    /// `tenant_network_types`, in order.
    pub tenant_types: Vec<NetworkType>,
    /// Physnet → tenant VLAN ranges (empty: provider networks only).
    pub vlan: BTreeMap<String, Vec<(u32, u32)>>,
    pub vxlan: Vec<(u32, u32)>,
    pub gre: Vec<(u32, u32)>,
}

/// The types this server has a type driver for (not `geneve`).
pub const TYPE_DRIVERS: [NetworkType; 5] =
    [NetworkType::Local, NetworkType::Flat, NetworkType::Vlan, NetworkType::Gre, NetworkType::Vxlan];

pub const MAX_VLAN: u32 = 4094;
pub const MAX_VNI: u32 = (1 << 24) - 1;
pub const MAX_GRE: u32 = u32::MAX;

fn range(s: &str, max: u32) -> Result<(u32, u32), Ml2ConfigError> {
    let bad = || Ml2ConfigError::Range(s.to_string(), max);
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    let (a, b): (u32, u32) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a == 0 || a > b || b > max {
        return Err(bad());
    }
    Ok((a, b))
}

impl Ml2Config {
    /// Checks the configuration and parses its ranges.
    pub fn ranges(&self) -> Result<Ranges, Ml2ConfigError> {
        let mut r = Ranges::default();
        for t in &self.type_drivers {
            match t.parse::<NetworkType>() {
                Ok(nt) if TYPE_DRIVERS.contains(&nt) => r.types.push(nt),
                _ => return Err(Ml2ConfigError::Type(t.clone())),
            }
        }
        for t in &self.tenant_network_types {
            match t.parse::<NetworkType>() {
                Ok(nt) if self.type_drivers.contains(t) => r.tenant_types.push(nt),
                _ => return Err(Ml2ConfigError::TenantType(t.clone())),
            }
        }
        for entry in &self.network_vlan_ranges {
            let parts: Vec<&str> = entry.split(':').collect();
            match parts.as_slice() {
                [p] if !p.is_empty() => {
                    r.vlan.entry(p.to_string()).or_default();
                }
                [p, a, b] if !p.is_empty() => {
                    let rg = range(&format!("{a}:{b}"), MAX_VLAN)
                        .map_err(|_| Ml2ConfigError::Vlan(entry.clone()))?;
                    r.vlan.entry(p.to_string()).or_default().push(rg);
                }
                _ => return Err(Ml2ConfigError::Vlan(entry.clone())),
            }
        }
        r.vxlan = self.vni_ranges.iter().map(|s| range(s, MAX_VNI)).collect::<Result<_, _>>()?;
        r.gre = self.tunnel_id_ranges.iter().map(|s| range(s, MAX_GRE)).collect::<Result<_, _>>()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let r = Ml2Config::default().ranges().unwrap();
        assert_eq!(r.types, TYPE_DRIVERS);
        assert_eq!(r.tenant_types, vec![NetworkType::Vxlan]);
        assert_eq!(r.vlan["physnet1"], vec![(100, 2999)]);
        assert_eq!(r.vxlan, vec![(1, 1000)]);
    }

    #[test]
    fn bad_ranges_are_refused() {
        let mut c = Ml2Config { network_vlan_ranges: vec!["physnet1:0:5000".into()], ..Default::default() };
        assert!(matches!(c.ranges(), Err(Ml2ConfigError::Vlan(_))));
        c.network_vlan_ranges = vec!["physnet2".into()];
        assert!(c.ranges().unwrap().vlan["physnet2"].is_empty());
        c.vni_ranges = vec!["5:1".into()];
        assert!(c.ranges().is_err());
        let c = Ml2Config { tenant_network_types: vec!["geneve".into()], ..Default::default() };
        assert_eq!(c.ranges(), Err(Ml2ConfigError::TenantType("geneve".into())));
        let c = Ml2Config { type_drivers: vec!["vxlan".into(), "geneve".into()], ..Default::default() };
        assert_eq!(c.ranges(), Err(Ml2ConfigError::Type("geneve".into())));
        let c = Ml2Config { type_drivers: vec!["token-ring".into()], ..Default::default() };
        assert_eq!(
            c.ranges().unwrap_err().to_string(),
            "unknown type driver \"token-ring\" (local, flat, vlan, gre, vxlan)"
        );
    }
}
