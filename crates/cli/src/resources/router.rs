//! `neutrino router create|list|show|set|unset|delete` and `router add|remove subnet|port`,
//! with the options of `openstack router …` (`--external-gateway NET`, `--disable-snat`,
//! `--route destination=CIDR,gateway=IP`, `--no-route`); the request bodies are built by pure
//! functions from the arguments and the ids the names resolved to.

use clap::{Args, Subcommand};
use neutrino_client::{Client, Object};
use serde_json::{Value, json};

use super::{
    CreateCommon, ListCommon, SetTags, apply_set, delete_many, flag_pair, ip, parse_kv, put, tag_created,
};
use crate::error::CliError;
use crate::output::{Column, Format, col, print_list, print_object};

#[derive(Subcommand, Debug)]
pub enum RouterCmd {
    /// Create a router.
    Create(CreateArgs),
    /// List routers.
    List(ListArgs),
    /// Show one router (with its interfaces).
    Show {
        /// Router name or ID.
        router: String,
    },
    /// Change a router.
    Set(SetArgs),
    /// Remove a router's gateway or routes.
    Unset(UnsetArgs),
    /// Delete routers.
    Delete {
        /// Router names or IDs.
        #[arg(required = true)]
        routers: Vec<String>,
    },
    /// Attach an interface (a subnet or a port) to a router.
    #[command(subcommand)]
    Add(InterfaceCmd),
    /// Detach an interface (a subnet or a port) from a router.
    #[command(subcommand)]
    Remove(InterfaceCmd),
}

#[derive(Subcommand, Debug)]
pub enum InterfaceCmd {
    /// By subnet: the router takes the subnet's gateway address.
    Subnet {
        /// Router name or ID.
        router: String,
        /// Subnet name or ID.
        subnet: String,
    },
    /// By port: an unused port of the tenant network becomes the interface.
    Port {
        /// Router name or ID.
        router: String,
        /// Port name or ID.
        port: String,
    },
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Name of the new router.
    pub name: String,
    /// External network (name or ID) for the router's gateway.
    #[arg(long, value_name = "NETWORK")]
    pub external_gateway: Option<String>,
    /// Source-NAT the tenant networks behind the gateway (the default).
    #[arg(long, requires = "external_gateway", conflicts_with = "disable_snat")]
    pub enable_snat: bool,
    /// Do not source-NAT behind the gateway (admin).
    #[arg(long, requires = "external_gateway")]
    pub disable_snat: bool,
    /// Enable the router (the default).
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the router (admin_state_up false).
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub common: CreateCommon,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: ListCommon,
}

#[derive(Args, Debug, Default)]
pub struct SetArgs {
    /// Router name or ID.
    pub router: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Enable the router.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the router.
    #[arg(long)]
    pub disable: bool,
    /// External network (name or ID) for the router's gateway.
    #[arg(long, value_name = "NETWORK", conflicts_with = "no_external_gateway")]
    pub external_gateway: Option<String>,
    /// Remove the router's gateway.
    #[arg(long)]
    pub no_external_gateway: bool,
    /// With --external-gateway: source-NAT behind it.
    #[arg(long, requires = "external_gateway", conflicts_with = "disable_snat")]
    pub enable_snat: bool,
    /// With --external-gateway: do not source-NAT behind it (admin).
    #[arg(long, requires = "external_gateway")]
    pub disable_snat: bool,
    /// A static route `destination=CIDR,gateway=IP` to add (repeat for several).
    #[arg(long = "route", value_name = "destination=CIDR,gateway=IP", value_parser = parse_route)]
    pub routes: Vec<Route>,
    /// Remove the existing routes (with --route: replace them).
    #[arg(long)]
    pub no_route: bool,
    #[command(flatten)]
    pub tags: SetTags,
}

#[derive(Args, Debug, Default)]
pub struct UnsetArgs {
    /// Router name or ID.
    pub router: String,
    /// Remove the router's gateway.
    #[arg(long)]
    pub external_gateway: bool,
    /// A static route `destination=CIDR,gateway=IP` to remove (repeat for several).
    #[arg(long = "route", value_name = "destination=CIDR,gateway=IP", value_parser = parse_route)]
    pub routes: Vec<Route>,
}

/// One static route, as the API spells it (`nexthop` is OSC's `gateway`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

impl Route {
    fn to_value(&self) -> Value {
        json!({"destination": self.destination, "nexthop": self.nexthop})
    }
}

/// Parses `destination=10.0.0.0/24,gateway=10.0.1.1`.
pub fn parse_route(s: &str) -> Result<Route, String> {
    let pairs = parse_kv(s, &["destination", "gateway"])?;
    let get = |k: &str| super::kv_get(&pairs, k).ok_or_else(|| format!("--route needs {k}=…"));
    let destination = get("destination")?;
    let valid = destination
        .split_once('/')
        .is_some_and(|(a, len)| ip(a, "destination").is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 128));
    if !valid {
        return Err(format!("destination: {destination:?} is not a CIDR"));
    }
    Ok(Route { destination: destination.to_string(), nexthop: ip(get("gateway")?, "gateway")? })
}

/// `external_gateway_info` for network `net_id` (`enable_snat` only when asked, as OSC).
fn gateway_info(net_id: &str, enable: bool, disable: bool) -> Value {
    let mut info = json!({"network_id": net_id});
    if let Some(snat) = flag_pair(enable, disable) {
        info["enable_snat"] = Value::Bool(snat);
    }
    info
}

/// The POST body of `router create`; `gateway` is the resolved id of `--external-gateway`.
pub fn create_body(a: &CreateArgs, gateway: Option<&str>) -> Object {
    let mut b = Object::new();
    b.insert("name".into(), Value::from(a.name.clone()));
    b.insert("admin_state_up".into(), Value::Bool(!a.disable));
    put(&mut b, "external_gateway_info", gateway.map(|g| gateway_info(g, a.enable_snat, a.disable_snat)));
    a.common.put_into(&mut b);
    b
}

/// The routes of `current` (a router as the server returned it).
fn current_routes(current: &Object) -> Vec<Value> {
    current.get("routes").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The PUT body of `router set` (empty when only tags change): `--route` adds to the routes
/// `current` has, `--no-route` starts from none.
pub fn set_body(a: &SetArgs, current: &Object, gateway: Option<&str>) -> Object {
    let mut b = Object::new();
    put(&mut b, "name", a.name.clone());
    put(&mut b, "description", a.description.clone());
    put(&mut b, "admin_state_up", flag_pair(a.enable, a.disable));
    if a.no_external_gateway {
        b.insert("external_gateway_info".into(), json!({}));
    }
    put(&mut b, "external_gateway_info", gateway.map(|g| gateway_info(g, a.enable_snat, a.disable_snat)));
    if a.no_route || !a.routes.is_empty() {
        let mut routes = if a.no_route { Vec::new() } else { current_routes(current) };
        for r in a.routes.iter().map(Route::to_value) {
            if !routes.contains(&r) {
                routes.push(r);
            }
        }
        b.insert("routes".into(), Value::Array(routes));
    }
    b
}

/// The PUT body of `router unset`; `None` when there is nothing to change. A route to
/// remove that the router does not have is an error, as in OSC.
pub fn unset_body(a: &UnsetArgs, current: &Object) -> Result<Option<Object>, String> {
    let mut b = Object::new();
    if a.external_gateway {
        b.insert("external_gateway_info".into(), json!({}));
    }
    if !a.routes.is_empty() {
        let mut routes = current_routes(current);
        for r in &a.routes {
            let v = r.to_value();
            let before = routes.len();
            routes.retain(|x| *x != v);
            if routes.len() == before {
                return Err(format!("the router has no route {} via {}", r.destination, r.nexthop));
            }
        }
        b.insert("routes".into(), Value::Array(routes));
    }
    Ok(Some(b).filter(|b| !b.is_empty()))
}

/// The body of `add_router_interface`/`remove_router_interface`: `{"subnet_id": …}` or
/// `{"port_id": …}`.
pub fn interface_body(by_subnet: bool, id: &str) -> Value {
    if by_subnet { json!({"subnet_id": id}) } else { json!({"port_id": id}) }
}

/// The columns of `router list` (`--long` adds more).
pub fn columns(long: bool) -> Vec<Column> {
    let mut c = vec![
        col("ID", "id"),
        col("Name", "name"),
        col("Status", "status"),
        col("State", "admin_state_up"),
        col("Project", "project_id"),
    ];
    if long {
        c.extend([
            col("Routes", "routes"),
            col("External gateway info", "external_gateway_info"),
            col("Tags", "tags"),
        ]);
    }
    c
}

/// `interfaces_info` as OSC shows it: each `network:router_interface` port of the router with
/// its subnet and address.
pub fn interfaces_info(ports: &[Object]) -> Value {
    let mut out = Vec::new();
    for p in ports
        .iter()
        .filter(|p| p.get("device_owner").and_then(Value::as_str) == Some("network:router_interface"))
    {
        for f in p.get("fixed_ips").and_then(Value::as_array).into_iter().flatten() {
            out.push(
                json!({"port_id": p.get("id"), "subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}),
            );
        }
    }
    Value::Array(out)
}

pub async fn run(client: &Client, fmt: Format, cmd: RouterCmd) -> Result<(), CliError> {
    let res = client.routers();
    match cmd {
        RouterCmd::Create(a) => {
            let gateway = match &a.external_gateway {
                Some(n) => Some(client.networks().find_id(n).await?),
                None => None,
            };
            let mut obj = res.create(create_body(&a, gateway.as_deref())).await?;
            tag_created(res, &mut obj, &a.common.tags).await?;
            print_object(fmt, &obj)
        }
        RouterCmd::List(a) => print_list(fmt, &res.list(&a.common.filters()).await?, &columns(a.common.long)),
        RouterCmd::Show { router } => {
            let mut obj = res.find(&router).await?;
            let id = super::id_of(&obj)?;
            let ports = client.ports().list(&[("device_id".into(), id)]).await?;
            obj.insert("interfaces_info".into(), interfaces_info(&ports));
            print_object(fmt, &obj)
        }
        RouterCmd::Set(a) => {
            let current = res.find(&a.router).await?;
            let gateway = match &a.external_gateway {
                Some(n) => Some(client.networks().find_id(n).await?),
                None => None,
            };
            apply_set(res, &current, set_body(&a, &current, gateway.as_deref()), &a.tags).await
        }
        RouterCmd::Unset(a) => {
            let current = res.find(&a.router).await?;
            match unset_body(&a, &current).map_err(CliError::Usage)? {
                Some(body) => res.update(&super::id_of(&current)?, body).await.map(drop).map_err(Into::into),
                None => Ok(()),
            }
        }
        RouterCmd::Delete { routers } => delete_many(res, &routers).await,
        RouterCmd::Add(i) => interface(client, fmt, "add_router_interface", i).await,
        RouterCmd::Remove(i) => interface(client, fmt, "remove_router_interface", i).await,
    }
}

async fn interface(client: &Client, fmt: Format, action: &str, cmd: InterfaceCmd) -> Result<(), CliError> {
    let (router, by_subnet, id) = match cmd {
        InterfaceCmd::Subnet { router, subnet } => (router, true, client.subnets().find_id(&subnet).await?),
        InterfaceCmd::Port { router, port } => (router, false, client.ports().find_id(&port).await?),
    };
    let router = client.routers().find_id(&router).await?;
    let answer = client.routers().action(&router, action, &interface_body(by_subnet, &id)).await?;
    // OSC prints nothing; `-o json` shows the server's answer (router, port, subnet ids).
    match fmt {
        Format::Json => print_object(fmt, &answer),
        Format::Table => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn create_body_from_flags() {
        let a = CreateArgs { name: "r1".into(), ..Default::default() };
        assert_eq!(Value::Object(create_body(&a, None)), json!({"name": "r1", "admin_state_up": true}));
        let a = CreateArgs {
            name: "r1".into(),
            external_gateway: Some("public".into()),
            disable_snat: true,
            common: CreateCommon { description: Some("edge".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(
            Value::Object(create_body(&a, Some("net-id"))),
            json!({"name": "r1", "admin_state_up": true, "description": "edge",
                   "external_gateway_info": {"network_id": "net-id", "enable_snat": false}})
        );
        let a =
            CreateArgs { name: "r1".into(), external_gateway: Some("public".into()), ..Default::default() };
        assert_eq!(
            create_body(&a, Some("n"))["external_gateway_info"],
            json!({"network_id": "n"}),
            "enable_snat only when asked: the server's default applies"
        );
    }

    #[test]
    fn routes_parse_like_osc() {
        let r = parse_route("destination=10.9.0.0/16,gateway=10.10.1.254").unwrap();
        assert_eq!(r, Route { destination: "10.9.0.0/16".into(), nexthop: "10.10.1.254".into() });
        assert!(parse_route("destination=10.9.0.0/16").unwrap_err().contains("gateway"));
        assert!(parse_route("destination=10.9.0.0,gateway=10.0.0.1").unwrap_err().contains("CIDR"));
        assert!(parse_route("destination=10.9.0.0/16,gateway=x").unwrap_err().contains("not an IP"));
        assert!(parse_route("dest=10.9.0.0/16,gateway=10.0.0.1").unwrap_err().contains("unknown key"));
    }

    #[test]
    fn set_body_gateway_and_routes() {
        let current =
            obj(json!({"id": "r", "routes": [{"destination": "10.8.0.0/16", "nexthop": "10.10.1.9"}]}));
        let a = SetArgs { router: "r".into(), ..Default::default() };
        assert!(set_body(&a, &current, None).is_empty());
        let added = parse_route("destination=10.9.0.0/16,gateway=10.10.1.254").unwrap();
        let a = SetArgs {
            router: "r".into(),
            external_gateway: Some("public".into()),
            enable_snat: true,
            routes: vec![added.clone(), added.clone()],
            ..Default::default()
        };
        assert_eq!(
            Value::Object(set_body(&a, &current, Some("pub-id"))),
            json!({"external_gateway_info": {"network_id": "pub-id", "enable_snat": true},
                   "routes": [{"destination": "10.8.0.0/16", "nexthop": "10.10.1.9"},
                              {"destination": "10.9.0.0/16", "nexthop": "10.10.1.254"}]})
        );
        let a = SetArgs { router: "r".into(), no_route: true, routes: vec![added], ..Default::default() };
        assert_eq!(
            set_body(&a, &current, None)["routes"],
            json!([{"destination": "10.9.0.0/16", "nexthop": "10.10.1.254"}])
        );
        let a =
            SetArgs { router: "r".into(), no_route: true, no_external_gateway: true, ..Default::default() };
        assert_eq!(
            Value::Object(set_body(&a, &current, None)),
            json!({"external_gateway_info": {}, "routes": []})
        );
    }

    #[test]
    fn unset_body_removes_what_exists() {
        let current = obj(json!({"routes": [{"destination": "10.8.0.0/16", "nexthop": "10.10.1.9"}]}));
        let a = UnsetArgs { router: "r".into(), ..Default::default() };
        assert_eq!(unset_body(&a, &current), Ok(None));
        let a = UnsetArgs { router: "r".into(), external_gateway: true, ..Default::default() };
        assert_eq!(
            unset_body(&a, &current).unwrap().map(Value::Object),
            Some(json!({"external_gateway_info": {}}))
        );
        let a = UnsetArgs {
            router: "r".into(),
            routes: vec![parse_route("destination=10.8.0.0/16,gateway=10.10.1.9").unwrap()],
            ..Default::default()
        };
        assert_eq!(unset_body(&a, &current).unwrap().map(Value::Object), Some(json!({"routes": []})));
        let a = UnsetArgs {
            router: "r".into(),
            routes: vec![parse_route("destination=10.7.0.0/16,gateway=10.10.1.9").unwrap()],
            ..Default::default()
        };
        assert!(unset_body(&a, &current).unwrap_err().contains("no route 10.7.0.0/16"));
    }

    #[test]
    fn interfaces_by_subnet_or_port() {
        assert_eq!(interface_body(true, "s"), json!({"subnet_id": "s"}));
        assert_eq!(interface_body(false, "p"), json!({"port_id": "p"}));
        let ports = [
            obj(json!({"id": "p1", "device_owner": "network:router_interface",
                       "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.10.1.1"}]})),
            obj(json!({"id": "p2", "device_owner": "network:router_gateway",
                       "fixed_ips": [{"subnet_id": "s9", "ip_address": "203.0.113.101"}]})),
        ];
        assert_eq!(
            interfaces_info(&ports),
            json!([{"port_id": "p1", "subnet_id": "s1", "ip_address": "10.10.1.1"}]),
            "the gateway port is external_gateway_info's, not an interface"
        );
    }
}
