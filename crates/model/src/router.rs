//! The router resource (`/v2.0/routers`, neutron-lib `api/definitions/l3.py` with the
//! `ext-gw-mode`, `extraroute` and `router_availability_zone` attributes): response shape and
//! the validated create/update requests, the `add/remove_router_interface` body, and the
//! `routes` lists of `extraroute` / `extraroute-atomic`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use crate::attrs::{self, Op};
use crate::common::Standard;
use crate::convert::{self, NAME_MAX_LEN};
use crate::error::ApiError;
use crate::network::{name_desc, project_of};
use crate::port::FixedIp;
use crate::subnet::HostRoute;

/// Owner of a router's interface port on a tenant network.
pub const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
/// Owner of a router's port on its external network.
pub const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";

/// 400 `BadRequest` of the router resource (`Bad router request: …`), upstream's
/// `BadRequest(resource='router', msg=…)`.
pub fn bad_request(msg: impl AsRef<str>) -> ApiError {
    ApiError::new(400, "BadRequest", format!("Bad router request: {}.", msg.as_ref().trim_end_matches('.')))
}

/// A router's external gateway as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub network_id: String,
    pub enable_snat: bool,
    /// The gateway port's addresses.
    pub external_fixed_ips: Vec<FixedIp>,
}

/// A router as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Router {
    pub std: Standard,
    pub admin_state_up: bool,
    pub status: String,
    /// The `network:router_gateway` port, when the router has a gateway.
    pub gw_port_id: Option<String>,
    pub enable_snat: bool,
    pub gateway: Option<Gateway>,
    /// Extra routes, sorted by destination then nexthop.
    pub routes: Vec<HostRoute>,
    pub availability_zone_hints: Vec<String>,
}

fn fixed_ips_json(ips: &[FixedIp]) -> Value {
    Value::Array(
        ips.iter()
            .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address.to_string()}))
            .collect(),
    )
}

impl Router {
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.std.write(&mut m);
        m.insert("admin_state_up".into(), json!(self.admin_state_up));
        m.insert("status".into(), json!(self.status));
        let gw = self.gateway.as_ref().map(|g| {
            json!({"network_id": g.network_id, "enable_snat": g.enable_snat,
                "external_fixed_ips": fixed_ips_json(&g.external_fixed_ips)})
        });
        m.insert("external_gateway_info".into(), gw.unwrap_or(Value::Null));
        m.insert("routes".into(), crate::subnet::routes_json(&self.routes));
        m.insert("availability_zone_hints".into(), json!(self.availability_zone_hints));
        m.insert("availability_zones".into(), json!([]));
        m
    }
}

/// One `external_fixed_ips` entry asked for: a subnet, an address, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<IpAddr>,
}

/// An `external_gateway_info` asked for: `None` in [`RouterChanges::gateway`] means untouched,
/// `Some(None)` cleared (`{}` or `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRequest {
    pub network_id: String,
    pub enable_snat: Option<bool>,
    pub external_fixed_ips: Option<Vec<ExternalIpRequest>>,
}

/// The changes a create or update asks for; `None` leaves the attribute alone (or default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub admin_state_up: Option<bool>,
    pub gateway: Option<Option<GatewayRequest>>,
    pub routes: Option<Vec<HostRoute>>,
    pub availability_zone_hints: Option<Vec<String>>,
}

const GW_KEYS: &[&str] = &["network_id", "enable_snat", "external_fixed_ips"];

fn parse_external_ips(v: &Value) -> Result<Vec<ExternalIpRequest>, ApiError> {
    const ATTR: &str = "external_gateway_info";
    let mut out = vec![];
    for item in convert::to_list(ATTR, v)? {
        let d = convert::to_dict(ATTR, item, &["subnet_id", "ip_address"], &[])?;
        let subnet_id = d.get("subnet_id").map(|s| convert::to_uuid(ATTR, s)).transpose()?;
        let ip_address = d.get("ip_address").map(|s| convert::to_ip(ATTR, s)).transpose()?;
        if subnet_id.is_none() && ip_address.is_none() {
            return Err(ApiError::invalid_attr(
                ATTR,
                "an external_fixed_ips entry needs subnet_id or ip_address",
            ));
        }
        out.push(ExternalIpRequest { subnet_id, ip_address });
    }
    Ok(out)
}

/// Reads `external_gateway_info`: `{}` or `null` clears it.
pub fn parse_gateway(v: &Value) -> Result<Option<GatewayRequest>, ApiError> {
    const ATTR: &str = "external_gateway_info";
    if v.is_null() {
        return Ok(None);
    }
    let d = convert::to_dict(ATTR, v, GW_KEYS, &[])?;
    if d.is_empty() {
        return Ok(None);
    }
    let network_id = d
        .get("network_id")
        .ok_or_else(|| {
            ApiError::invalid_attr(
                ATTR,
                "Validation of dictionary's keys failed. Expected keys: {'network_id'}",
            )
        })
        .and_then(|n| convert::to_uuid(ATTR, n))?;
    let enable_snat = d.get("enable_snat").map(|b| convert::to_bool(ATTR, b)).transpose()?;
    let external_fixed_ips = d.get("external_fixed_ips").map(parse_external_ips).transpose()?;
    Ok(Some(GatewayRequest { network_id, enable_snat, external_fixed_ips }))
}

/// Reads a `routes` list (extraroute): destinations are CIDRs (host bits dropped), nexthops
/// addresses; a route given twice is refused; `null` is no routes (upstream's
/// `convert_none_to_empty_list`).
pub fn parse_routes(v: &Value) -> Result<Vec<HostRoute>, ApiError> {
    let mut out: Vec<HostRoute> = vec![];
    if v.is_null() {
        return Ok(out);
    }
    for item in convert::to_list("routes", v)? {
        let d = convert::to_dict("routes", item, &["destination", "nexthop"], &["destination", "nexthop"])?;
        let destination: IpNet = convert::to_cidr("routes", &d["destination"], false)?.trunc();
        let nexthop = convert::to_ip("routes", &d["nexthop"])?;
        let r = HostRoute { destination, nexthop };
        if out.contains(&r) {
            return Err(ApiError::invalid_attr("routes", format!("Duplicate hostroute '{}'", r.destination)));
        }
        out.push(r);
    }
    Ok(out)
}

/// Sorts routes by destination then nexthop (as text, the order agents get them in).
pub fn sort_routes(routes: &mut [HostRoute]) {
    routes.sort_by_key(|r| (r.destination.to_string(), r.nexthop.to_string()));
}

impl RouterChanges {
    /// Validates a `{"router": {...}}` inner object.
    pub fn parse(body: &Map<String, Value>, op: Op) -> Result<Self, ApiError> {
        attrs::check_body(&attrs::ROUTER, body, op)?;
        let (name, description) = name_desc(body)?;
        let availability_zone_hints = body
            .get("availability_zone_hints")
            .map(|v| {
                convert::to_list("availability_zone_hints", v)?
                    .iter()
                    .map(|z| convert::to_string("availability_zone_hints", z, NAME_MAX_LEN))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Self {
            name,
            description,
            project_id: project_of(body)?,
            admin_state_up: body
                .get("admin_state_up")
                .map(|v| convert::to_bool("admin_state_up", v))
                .transpose()?,
            gateway: body.get("external_gateway_info").map(parse_gateway).transpose()?,
            routes: body.get("routes").map(parse_routes).transpose()?,
            availability_zone_hints,
        })
    }
}

/// The body of `add_router_interface` / `remove_router_interface`: a subnet or a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceRequest {
    Subnet(String),
    Port(String),
}

impl InterfaceRequest {
    /// Reads the (unwrapped) body: exactly one of `subnet_id` and `port_id`.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let id = |k: &str| body.get(k).filter(|v| !v.is_null()).map(|v| convert::to_uuid(k, v)).transpose();
        match (id("subnet_id")?, id("port_id")?) {
            (Some(_), Some(_)) => Err(bad_request("Cannot specify both subnet-id and port-id")),
            (None, None) => Err(bad_request("Either subnet_id or port_id must be specified")),
            (Some(s), None) => Ok(Self::Subnet(s)),
            (None, Some(p)) => Ok(Self::Port(p)),
        }
    }
}

/// The `routes` of an `add_extraroutes` / `remove_extraroutes` body (`{"router": {"routes": [...]}}`).
pub fn parse_routes_body(body: &Map<String, Value>) -> Result<Vec<HostRoute>, ApiError> {
    if let Some(k) = body.keys().find(|k| k.as_str() != "routes") {
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{k}'")));
    }
    let v = body.get("routes").ok_or_else(|| attrs::missing_required("routes"))?;
    parse_routes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn empty_or_null_gateway_clears_it() {
        let c = RouterChanges::parse(&obj(json!({"external_gateway_info": {}})), Op::Update).unwrap();
        assert_eq!(c.gateway, Some(None));
        let c = RouterChanges::parse(&obj(json!({"external_gateway_info": null})), Op::Update).unwrap();
        assert_eq!(c.gateway, Some(None));
        let id = "3f1e9c2a-4b4e-4c61-9e0b-1f2d3c4b5a69";
        let c = RouterChanges::parse(&obj(json!({"external_gateway_info": {"network_id": id}})), Op::Update)
            .unwrap();
        assert_eq!(c.gateway.unwrap().unwrap().network_id, id);
    }

    #[test]
    fn routes_are_put_only_and_duplicates_refused() {
        let r = json!([{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}]);
        let e = RouterChanges::parse(&obj(json!({"routes": r})), Op::Create).unwrap_err();
        assert_eq!(e.message, "Attribute 'routes' not allowed in POST");
        let twice = json!([{"destination": "10.1.0.7/24", "nexthop": "10.0.0.5"},
            {"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}]);
        let e = RouterChanges::parse(&obj(json!({"routes": twice})), Op::Update).unwrap_err();
        assert_eq!(e.status, 400);
        let none = RouterChanges::parse(&obj(json!({"routes": null})), Op::Update).unwrap();
        assert_eq!(none.routes, Some(vec![]), "null clears them");
        let ok = RouterChanges::parse(&obj(json!({"routes": r})), Op::Update).unwrap();
        assert_eq!(ok.routes.unwrap()[0].destination.to_string(), "10.1.0.0/24");
    }

    #[test]
    fn interface_body_needs_exactly_one_of_subnet_and_port() {
        let id = "3f1e9c2a-4b4e-4c61-9e0b-1f2d3c4b5a69";
        let e = InterfaceRequest::parse(&obj(json!({}))).unwrap_err();
        assert_eq!(e.message, "Bad router request: Either subnet_id or port_id must be specified.");
        let e = InterfaceRequest::parse(&obj(json!({"subnet_id": id, "port_id": id}))).unwrap_err();
        assert_eq!(e.message, "Bad router request: Cannot specify both subnet-id and port-id.");
        assert_eq!(
            InterfaceRequest::parse(&obj(json!({"port_id": id}))).unwrap(),
            InterfaceRequest::Port(id.into())
        );
    }
}
