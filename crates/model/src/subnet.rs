//! The subnet resource (`/v2.0/subnets`, neutron-lib `api/definitions/subnet.py`): response
//! shape, validated create/update requests, and the rules that tie a CIDR, its gateway and its
//! allocation pools together (as `neutron/db/ipam_backend_mixin.py` enforces them).

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use crate::attrs::{self, Op};
use crate::common::Standard;
use crate::convert;
use crate::error::ApiError;
use crate::ip::{self, Range};
use crate::network::{name_desc, project_of};

/// Upstream's `max_dns_nameservers` and `max_subnet_host_routes` defaults.
pub const MAX_DNS_NAMESERVERS: usize = 5;
pub const MAX_HOST_ROUTES: usize = 20;
const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostRoute {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

/// A subnet as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub std: Standard,
    pub network_id: String,
    pub ip_version: u8,
    pub cidr: IpNet,
    pub gateway_ip: Option<IpAddr>,
    pub allocation_pools: Vec<Range>,
    pub dns_nameservers: Vec<IpAddr>,
    pub host_routes: Vec<HostRoute>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    /// Mirrors the network's `router:external`.
    pub router_external: bool,
}

/// Renders pools as `[{"start", "end"}]`.
pub fn pools_json(pools: &[Range], v6: bool) -> Value {
    Value::Array(
        pools
            .iter()
            .map(|p| {
                json!({"start": ip::from_u128(p.start, v6).to_string(), "end": ip::from_u128(p.end, v6).to_string()})
            })
            .collect(),
    )
}

pub fn routes_json(routes: &[HostRoute]) -> Value {
    Value::Array(
        routes
            .iter()
            .map(|r| json!({"destination": r.destination.to_string(), "nexthop": r.nexthop.to_string()}))
            .collect(),
    )
}

impl Subnet {
    pub fn is_v6(&self) -> bool {
        self.ip_version == 6
    }

    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.std.write(&mut m);
        m.insert("network_id".into(), json!(self.network_id));
        m.insert("ip_version".into(), json!(self.ip_version));
        m.insert("cidr".into(), json!(self.cidr.to_string()));
        m.insert("gateway_ip".into(), json!(self.gateway_ip.map(|g| g.to_string())));
        m.insert("allocation_pools".into(), pools_json(&self.allocation_pools, self.is_v6()));
        m.insert(
            "dns_nameservers".into(),
            json!(self.dns_nameservers.iter().map(ToString::to_string).collect::<Vec<_>>()),
        );
        m.insert("host_routes".into(), routes_json(&self.host_routes));
        m.insert("enable_dhcp".into(), json!(self.enable_dhcp));
        m.insert("ipv6_ra_mode".into(), json!(self.ipv6_ra_mode));
        m.insert("ipv6_address_mode".into(), json!(self.ipv6_address_mode));
        m.insert("subnetpool_id".into(), Value::Null);
        m.insert("router:external".into(), json!(self.router_external));
        m
    }
}

/// What a create or update asks for. `gateway_ip: Some(None)` is an explicit `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub network_id: Option<String>,
    pub ip_version: Option<u8>,
    pub cidr: Option<IpNet>,
    pub gateway_ip: Option<Option<IpAddr>>,
    pub allocation_pools: Option<Vec<(IpAddr, IpAddr)>>,
    pub dns_nameservers: Option<Vec<IpAddr>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub enable_dhcp: Option<bool>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
}

fn opt_mode(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = convert::to_string(key, v, 32)?;
            if !IPV6_MODES.contains(&s.as_str()) {
                return Err(ApiError::invalid_attr(key, format!("'{s}' is not in {IPV6_MODES:?}")));
            }
            Ok(Some(s))
        }
    }
}

impl SubnetChanges {
    /// Validates a `{"subnet": {...}}` inner object, value by value.
    pub fn parse(body: &Map<String, Value>, op: Op) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::SUBNET, body, op)?;
        for k in ["subnetpool_id", "prefixlen", "use_default_subnetpool"] {
            if body.get(k).is_some_and(|v| !v.is_null() && v != &json!(false)) {
                return Err(ApiError::bad_request(format!(
                    "Subnet pools are not supported: '{k}' cannot be used"
                )));
            }
        }
        let (name, description) = name_desc(body)?;
        let ip_version = match body.get("ip_version") {
            None => None,
            Some(v) => match convert::to_int("ip_version", v)? {
                4 => Some(4),
                6 => Some(6),
                n => return Err(ApiError::invalid_attr("ip_version", format!("'{n}' is not in [4, 6]"))),
            },
        };
        let network_id = body.get("network_id").map(|v| convert::to_uuid("network_id", v)).transpose()?;
        let cidr = match body.get("cidr") {
            None => None,
            Some(v) => Some(convert::to_cidr("cidr", v, true)?),
        };
        let gateway_ip = match body.get("gateway_ip") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(convert::to_ip("gateway_ip", v)?)),
        };
        let allocation_pools = body
            .get("allocation_pools")
            .map(|v| {
                convert::to_list("allocation_pools", v)?
                    .iter()
                    .map(|p| {
                        let d =
                            convert::to_dict("allocation_pools", p, &["start", "end"], &["start", "end"])?;
                        Ok((
                            convert::to_ip("allocation_pools", &d["start"])?,
                            convert::to_ip("allocation_pools", &d["end"])?,
                        ))
                    })
                    .collect::<Result<Vec<_>, ApiError>>()
            })
            .transpose()?;
        let dns_nameservers = body
            .get("dns_nameservers")
            .map(|v| {
                let list = convert::to_list("dns_nameservers", v)?;
                let mut out: Vec<IpAddr> = vec![];
                let mut seen = std::collections::HashSet::new();
                for item in list {
                    let ip = convert::to_ip("dns_nameservers", item)?;
                    if !seen.insert(ip) {
                        return Err(ApiError::invalid_attr(
                            "dns_nameservers",
                            format!("Duplicate nameserver '{ip}'"),
                        ));
                    }
                    out.push(ip);
                }
                Ok(out)
            })
            .transpose()?;
        let host_routes = body
            .get("host_routes")
            .map(|v| {
                let mut out: Vec<HostRoute> = vec![];
                let mut seen = std::collections::HashSet::new();
                for item in convert::to_list("host_routes", v)? {
                    let d = convert::to_dict(
                        "host_routes",
                        item,
                        &["destination", "nexthop"],
                        &["destination", "nexthop"],
                    )?;
                    let route = HostRoute {
                        destination: convert::to_cidr("host_routes", &d["destination"], false)?.trunc(),
                        nexthop: convert::to_ip("host_routes", &d["nexthop"])?,
                    };
                    if !seen.insert(route.clone()) {
                        return Err(ApiError::invalid_attr(
                            "host_routes",
                            format!("Duplicate hostroute '{}'", route.destination),
                        ));
                    }
                    out.push(route);
                }
                Ok(out)
            })
            .transpose()?;
        let enable_dhcp = body.get("enable_dhcp").map(|v| convert::to_bool("enable_dhcp", v)).transpose()?;
        Ok(Self {
            name,
            description,
            project_id: project_of(body)?,
            network_id,
            ip_version,
            cidr,
            gateway_ip,
            allocation_pools,
            dns_nameservers,
            host_routes,
            enable_dhcp,
            ipv6_ra_mode: opt_mode(body, "ipv6_ra_mode")?,
            ipv6_address_mode: opt_mode(body, "ipv6_address_mode")?,
        })
    }
}

fn fam(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

/// Checks a create's CIDR, version and IPv6 modes.
pub fn check_cidr(
    cidr: &IpNet,
    ip_version: u8,
    ra: Option<&str>,
    addr: Option<&str>,
) -> Result<(), ApiError> {
    let v = if matches!(cidr, IpNet::V4(_)) { 4 } else { 6 };
    if v != ip_version {
        return Err(ApiError::invalid_input(format!("Cidr {cidr} does not match ip_version {ip_version}")));
    }
    if cidr.prefix_len() == 0 {
        return Err(ApiError::invalid_input(format!("{cidr} is not allowed as a subnet cidr")));
    }
    if v == 4 && (ra.is_some() || addr.is_some()) {
        return Err(ApiError::invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False or ip_version is 4",
        ));
    }
    if let (Some(r), Some(a)) = (ra, addr)
        && r != a
    {
        return Err(ApiError::invalid_input(format!(
            "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If both attributes are set, they must be the same value"
        )));
    }
    Ok(())
}

/// Checks a gateway against its subnet: same family, and not the network or broadcast address.
pub fn check_gateway(cidr: &IpNet, gw: IpAddr) -> Result<(), ApiError> {
    if fam(&gw) != if matches!(cidr, IpNet::V4(_)) { 4 } else { 6 } {
        return Err(ApiError::invalid_input(format!(
            "Gateway IP version inconsistent with subnet IP version: {gw}"
        )));
    }
    let usable = ip::usable(cidr);
    let n = ip::to_u128(gw);
    if cidr.contains(&gw) && !usable.is_some_and(|r| r.contains(n)) {
        return Err(ApiError::invalid_input(format!("Gateway is not valid on subnet {cidr}")));
    }
    Ok(())
}

/// Turns requested pools into ranges: each inside the usable part of the CIDR, start <= end,
/// no two overlapping, none holding the gateway.
pub fn resolve_pools(
    cidr: &IpNet,
    pools: &[(IpAddr, IpAddr)],
    gw: Option<IpAddr>,
) -> Result<Vec<Range>, ApiError> {
    let usable = ip::usable(cidr);
    let mut out: Vec<Range> = vec![];
    // The accepted (disjoint) pools by start: an overlap is found in O(log n), not O(n).
    let mut by_start: std::collections::BTreeMap<u128, u128> = std::collections::BTreeMap::new();
    for (s, e) in pools {
        let text = format!("{{'start': '{s}', 'end': '{e}'}}");
        if fam(s) != fam(e) || !cidr.contains(s) && fam(s) != fam(&cidr.network()) {
            return Err(ApiError::bad_request(format!("The allocation pool {text} is not valid."))
                .with_kind("InvalidAllocationPool"));
        }
        let r = Range { start: ip::to_u128(*s), end: ip::to_u128(*e) };
        if r.start > r.end {
            return Err(ApiError::bad_request(format!("The allocation pool {text} is not valid."))
                .with_kind("InvalidAllocationPool"));
        }
        if !usable.is_some_and(|u| u.contains(r.start) && u.contains(r.end)) {
            return Err(ApiError::bad_request(format!(
                "The allocation pool {text} spans beyond the subnet cidr {cidr}."
            ))
            .with_kind("OutOfBoundsAllocationPool"));
        }
        // Of disjoint pools, only the last one starting at or before `r.end` can reach into `r`.
        if let Some((&start, &end)) = by_start.range(..=r.end).next_back()
            && end >= r.start
        {
            let v6 = cidr.network().is_ipv6();
            return Err(ApiError::bad_request(format!(
                "Found overlapping allocation pools: {text} and {{'start': '{}', 'end': '{}'}}",
                ip::from_u128(start, v6),
                ip::from_u128(end, v6)
            ))
            .with_kind("OverlappingAllocationPools"));
        }
        by_start.insert(r.start, r.end);
        out.push(r);
    }
    if let Some(g) = gw {
        check_gateway_outside_pools(cidr, g, &out)?;
    }
    out.sort();
    Ok(out)
}

/// 409 `GatewayConflictWithAllocationPools` when the gateway sits in a pool.
pub fn check_gateway_outside_pools(cidr: &IpNet, gw: IpAddr, pools: &[Range]) -> Result<(), ApiError> {
    let v6 = cidr.network().is_ipv6();
    if let Some(p) = pools.iter().find(|p| p.contains(ip::to_u128(gw))) {
        return Err(ApiError::conflict(
            "GatewayConflictWithAllocationPools",
            format!(
                "Gateway ip {gw} conflicts with allocation pool {}-{}",
                ip::from_u128(p.start, v6),
                ip::from_u128(p.end, v6)
            ),
        ));
    }
    Ok(())
}

/// Limits on DNS servers and host routes, and host routes of the right family.
pub fn check_lists(
    cidr: &IpNet,
    dns: Option<&[IpAddr]>,
    routes: Option<&[HostRoute]>,
    id: &str,
) -> Result<(), ApiError> {
    if let Some(d) = dns {
        if d.len() > MAX_DNS_NAMESERVERS {
            return Err(ApiError::bad_request(format!(
                "Unable to complete operation for {id}. The number of DNS nameservers exceeds the limit {MAX_DNS_NAMESERVERS}."
            ))
            .with_kind("DNSNameServersExhausted"));
        }
        if let Some(bad) = d.iter().find(|ip| fam(ip) != if cidr.network().is_ipv4() { 4 } else { 6 }) {
            return Err(ApiError::invalid_input(format!(
                "DNS nameserver {bad} does not match the subnet's IP version"
            )));
        }
    }
    if let Some(r) = routes {
        if r.len() > MAX_HOST_ROUTES {
            return Err(ApiError::bad_request(format!(
                "Unable to complete operation for {id}. The number of host routes exceeds the limit {MAX_HOST_ROUTES}."
            ))
            .with_kind("HostRoutesExhausted"));
        }
        let v4 = cidr.network().is_ipv4();
        if let Some(bad) =
            r.iter().find(|h| h.destination.network().is_ipv4() != v4 || h.nexthop.is_ipv4() != v4)
        {
            return Err(ApiError::invalid_input(format!(
                "Host route {} via {} does not match the subnet's IP version",
                bad.destination, bad.nexthop
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pools_outside_the_cidr_are_refused() {
        let e = resolve_pools(&net("10.0.0.0/24"), &[(ip("10.0.0.2"), ip("10.0.1.5"))], None).unwrap_err();
        assert_eq!(e.kind, "OutOfBoundsAllocationPool");
        let e = resolve_pools(&net("10.0.0.0/24"), &[(ip("10.0.0.0"), ip("10.0.0.5"))], None).unwrap_err();
        assert_eq!(e.kind, "OutOfBoundsAllocationPool");
    }

    #[test]
    fn many_pools_are_checked_against_each_other_in_any_order() {
        // 30,000 one-address pools of a /16, given out of order; then one overlapping pool that
        // must be found whichever pool it meets.
        let c = net("10.0.0.0/16");
        let addr = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 2 * i + 1));
        let mut pools: Vec<(IpAddr, IpAddr)> = (1..30_001).map(|i| (addr(i), addr(i))).collect();
        pools.reverse();
        assert_eq!(resolve_pools(&c, &pools, None).unwrap().len(), 30_000);
        pools.push((addr(14_999), addr(15_000)));
        let e = resolve_pools(&c, &pools, None).unwrap_err();
        assert_eq!(e.kind, "OverlappingAllocationPools");
        assert!(e.message.contains(&format!("'start': '{}'", addr(15_000))), "{}", e.message);
    }

    #[test]
    fn overlapping_and_reversed_pools_are_refused() {
        let c = net("10.0.0.0/24");
        let e =
            resolve_pools(&c, &[(ip("10.0.0.2"), ip("10.0.0.9")), (ip("10.0.0.9"), ip("10.0.0.20"))], None)
                .unwrap_err();
        assert_eq!(e.kind, "OverlappingAllocationPools");
        let e = resolve_pools(&c, &[(ip("10.0.0.9"), ip("10.0.0.2"))], None).unwrap_err();
        assert_eq!(e.kind, "InvalidAllocationPool");
    }

    #[test]
    fn gateway_inside_a_pool_is_a_conflict() {
        let e = resolve_pools(&net("10.0.0.0/24"), &[(ip("10.0.0.1"), ip("10.0.0.9"))], Some(ip("10.0.0.1")))
            .unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (409, "GatewayConflictWithAllocationPools"));
    }

    #[test]
    fn gateway_on_network_or_broadcast_is_invalid() {
        assert!(check_gateway(&net("10.0.0.0/24"), ip("10.0.0.0")).is_err());
        assert!(check_gateway(&net("10.0.0.0/24"), ip("10.0.0.255")).is_err());
        assert!(check_gateway(&net("10.0.0.0/24"), ip("10.0.0.254")).is_ok());
        assert!(check_gateway(&net("10.0.0.0/24"), ip("2001:db8::1")).is_err());
    }

    #[test]
    fn version_mismatch_is_refused() {
        assert!(check_cidr(&net("10.0.0.0/24"), 6, None, None).is_err());
        assert!(check_cidr(&net("10.0.0.0/24"), 4, Some("slaac"), None).is_err());
        assert!(check_cidr(&net("2001:db8::/64"), 6, Some("slaac"), Some("slaac")).is_ok());
    }

    #[test]
    fn duplicate_nameservers_are_refused() {
        let body = json!({"network_id": uuid::Uuid::new_v4().to_string(), "ip_version": 4,
            "cidr": "10.0.0.0/24", "dns_nameservers": ["8.8.8.8", "8.8.8.8"]});
        let e = SubnetChanges::parse(body.as_object().unwrap(), Op::Create).unwrap_err();
        assert!(e.message.contains("Duplicate nameserver"), "{}", e.message);
    }

    #[test]
    fn too_many_nameservers_are_refused() {
        let d: Vec<IpAddr> = (1..=6).map(|i| ip(&format!("10.1.0.{i}"))).collect();
        let e = check_lists(&net("10.0.0.0/24"), Some(&d), None, "s").unwrap_err();
        assert_eq!(e.kind, "DNSNameServersExhausted");
    }
}
