//! ML2 type drivers (`local`, `flat`, `vlan`, `gre`, `vxlan`): checking provider segments,
//! allocating tenant segments race-free (the allocations are [`crate::store::segments`], whose
//! primary key makes a double allocation impossible; SQLite's single writer makes it never even
//! tried), releasing them, and the MTU each type gives (upstream: VXLAN 50 and GRE 42 bytes of
//! overhead).

use neutrino_model::network::Provider;
use neutrino_model::{ApiError, ApiResult, NetworkType};

use super::config::{MAX_GRE, MAX_VLAN, MAX_VNI, Ml2Config, Ml2ConfigError, Ranges};
use crate::store::Sql;
use crate::store::segments::{self, first_free, reserve, taken};

/// The ML2 plugin's segment logic.
#[derive(Debug, Clone)]
pub struct Ml2 {
    pub config: Ml2Config,
    ranges: Ranges,
    global_mtu: i64,
}

fn no_tenant_network() -> ApiError {
    ApiError::new(
        503,
        "NoNetworkAvailable",
        "Unable to create the network. No tenant network is available for allocation.",
    )
}

impl Ml2 {
    pub fn new(config: Ml2Config, global_mtu: i64) -> Result<Self, Ml2ConfigError> {
        let ranges = config.ranges()?;
        Ok(Self { config, ranges, global_mtu })
    }

    /// The MTU of a network of `network_type`.
    pub fn mtu(&self, network_type: Option<NetworkType>) -> i64 {
        match network_type {
            Some(NetworkType::Vxlan) => self.global_mtu - 50,
            Some(NetworkType::Gre) => self.global_mtu - 42,
            Some(NetworkType::Geneve) => self.global_mtu - 58,
            _ => self.global_mtu,
        }
    }

    fn enabled(&self, t: NetworkType) -> ApiResult<()> {
        if self.ranges.types.contains(&t) {
            Ok(())
        } else {
            Err(ApiError::invalid_input(format!("network_type value '{t}' not supported")))
        }
    }

    /// Allocates the segment of a new network: the admin's provider segment, checked and
    /// reserved, or a tenant segment of the first tenant type with a free id.
    pub fn allocate(
        &self,
        sql: &mut dyn Sql,
        network_id: &str,
        asked: Option<&Provider>,
    ) -> ApiResult<Provider> {
        match asked {
            Some(p)
                if p.network_type.is_some()
                    || p.physical_network.is_some()
                    || p.segmentation_id.is_some() =>
            {
                self.provider(sql, network_id, p)
            }
            _ => {
                for t in &self.ranges.tenant_types {
                    if let Some(p) = self.tenant(sql, network_id, *t)? {
                        return Ok(p);
                    }
                }
                Err(no_tenant_network())
            }
        }
    }

    fn tenant(&self, sql: &mut dyn Sql, network_id: &str, t: NetworkType) -> ApiResult<Option<Provider>> {
        let pools: Vec<(String, Vec<(u32, u32)>)> = match t {
            NetworkType::Vxlan => vec![(String::new(), self.ranges.vxlan.clone())],
            NetworkType::Gre => vec![(String::new(), self.ranges.gre.clone())],
            NetworkType::Vlan => self.ranges.vlan.iter().map(|(p, r)| (p.clone(), r.clone())).collect(),
            NetworkType::Local => {
                return Ok(Some(Provider { network_type: Some(t), ..Default::default() }));
            }
            NetworkType::Flat | NetworkType::Geneve => return Ok(None),
        };
        for (physnet, ranges) in pools {
            for (lo, hi) in ranges {
                if let Some(id) = first_free(sql, t, &physnet, lo, hi)? {
                    reserve(sql, t, &physnet, id, network_id)?;
                    return Ok(Some(Provider {
                        network_type: Some(t),
                        physical_network: (!physnet.is_empty()).then_some(physnet),
                        segmentation_id: Some(i64::from(id)),
                    }));
                }
            }
        }
        Ok(None)
    }

    fn provider(&self, sql: &mut dyn Sql, network_id: &str, p: &Provider) -> ApiResult<Provider> {
        let t = p.network_type.ok_or_else(|| ApiError::invalid_input("network_type required"))?;
        self.enabled(t)?;
        let physnet = p.physical_network.clone();
        let seg = p.segmentation_id;
        match t {
            NetworkType::Local => {
                if physnet.is_some() || seg.is_some() {
                    return Err(ApiError::invalid_input(
                        "physical_network and segmentation_id prohibited for local provider network",
                    ));
                }
                Ok(Provider { network_type: Some(t), ..Default::default() })
            }
            NetworkType::Flat => {
                let Some(pn) = physnet else {
                    return Err(ApiError::invalid_input(
                        "physical_network required for flat provider network",
                    ));
                };
                if seg.is_some() {
                    return Err(ApiError::invalid_input(
                        "segmentation_id prohibited for flat provider network",
                    ));
                }
                if !self.config.flat_networks.iter().any(|f| f == "*" || *f == pn) {
                    return Err(ApiError::invalid_input(format!(
                        "physical_network '{pn}' unknown for flat provider network"
                    )));
                }
                if taken(sql, t, &pn, 0)? {
                    return Err(ApiError::conflict(
                        "FlatNetworkInUse",
                        format!("Unable to create the flat network. Physical network {pn} is in use."),
                    ));
                }
                reserve(sql, t, &pn, 0, network_id)?;
                Ok(Provider { network_type: Some(t), physical_network: Some(pn), segmentation_id: None })
            }
            NetworkType::Vlan => {
                let Some(pn) = physnet else {
                    return Err(ApiError::invalid_input(
                        "physical_network required for VLAN provider network",
                    ));
                };
                let Some(ranges) = self.ranges.vlan.get(&pn) else {
                    return Err(ApiError::invalid_input(format!(
                        "physical_network '{pn}' unknown for VLAN provider network"
                    )));
                };
                let id = match seg {
                    Some(s) => {
                        let s = check_range(s, MAX_VLAN, "VLAN")?;
                        if taken(sql, t, &pn, s)? {
                            return Err(ApiError::conflict(
                                "VlanIdInUse",
                                format!(
                                    "Unable to create the network. The VLAN {s} on physical network {pn} is in use."
                                ),
                            ));
                        }
                        s
                    }
                    None => {
                        let mut found = None;
                        for (lo, hi) in ranges {
                            if let Some(id) = first_free(sql, t, &pn, *lo, *hi)? {
                                found = Some(id);
                                break;
                            }
                        }
                        found.ok_or_else(no_tenant_network)?
                    }
                };
                reserve(sql, t, &pn, id, network_id)?;
                Ok(Provider {
                    network_type: Some(t),
                    physical_network: Some(pn),
                    segmentation_id: Some(i64::from(id)),
                })
            }
            NetworkType::Vxlan | NetworkType::Gre => {
                if physnet.is_some() {
                    return Err(ApiError::invalid_input(format!(
                        "provider:physical_network specified for {t} network"
                    )));
                }
                let (max, ranges) = if t == NetworkType::Vxlan {
                    (MAX_VNI, &self.ranges.vxlan)
                } else {
                    (MAX_GRE, &self.ranges.gre)
                };
                let id = match seg {
                    Some(s) => {
                        let s = check_range(s, max, "tunnel")?;
                        if taken(sql, t, "", s)? {
                            return Err(ApiError::conflict(
                                "TunnelIdInUse",
                                format!("Unable to create the network. The tunnel ID {s} is in use."),
                            ));
                        }
                        s
                    }
                    None => {
                        let mut found = None;
                        for (lo, hi) in ranges {
                            if let Some(id) = first_free(sql, t, "", *lo, *hi)? {
                                found = Some(id);
                                break;
                            }
                        }
                        found.ok_or_else(no_tenant_network)?
                    }
                };
                reserve(sql, t, "", id, network_id)?;
                Ok(Provider {
                    network_type: Some(t),
                    physical_network: None,
                    segmentation_id: Some(i64::from(id)),
                })
            }
            NetworkType::Geneve => {
                Err(ApiError::invalid_input(format!("network_type value '{t}' not supported")))
            }
        }
    }

    /// Frees the segment ids a network held.
    pub fn release(&self, sql: &mut dyn Sql, network_id: &str) -> ApiResult<()> {
        Ok(segments::release(sql, network_id)?)
    }
}

fn check_range(s: i64, max: u32, what: &str) -> ApiResult<u32> {
    u32::try_from(s).ok().filter(|v| *v >= 1 && *v <= max).ok_or_else(|| {
        ApiError::invalid_input(format!(
            "provider:segmentation_id {s} out of range for {what} (1 through {max})"
        ))
    })
}
