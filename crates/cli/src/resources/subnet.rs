//! `neutrino subnet create|list|show|set|delete`, with the `--allocation-pool`,
//! `--host-route` and `--gateway` option syntaxes.

use clap::{Args, Subcommand};
use neutrino_client::{Client, Object};
use serde_json::{Value, json};

use super::{
    CreateCommon, ListCommon, SetTags, apply_set, delete_many, flag_pair, ip, kv_get, parse_kv, put,
    tag_created,
};
use crate::error::CliError;
use crate::output::{Column, Format, col, print_list, print_object};

#[derive(Subcommand, Debug)]
pub enum SubnetCmd {
    /// Create a subnet.
    Create(CreateArgs),
    /// List subnets.
    List(ListArgs),
    /// Show one subnet.
    Show {
        /// Subnet name or ID.
        subnet: String,
    },
    /// Change a subnet.
    Set(SetArgs),
    /// Delete subnets.
    Delete {
        /// Subnet names or IDs.
        #[arg(required = true)]
        subnets: Vec<String>,
    },
}

/// `--allocation-pool start=A,end=B` as JSON.
pub fn parse_pool(s: &str) -> Result<Value, String> {
    let kv = parse_kv(s, &["start", "end"])?;
    match (kv_get(&kv, "start"), kv_get(&kv, "end")) {
        (Some(a), Some(b)) => Ok(json!({"start": ip(a, "start")?, "end": ip(b, "end")?})),
        _ => Err("an allocation pool needs start=IP,end=IP".into()),
    }
}

/// `--host-route destination=CIDR,gateway=IP` as JSON (`gateway` becomes `nexthop`).
pub fn parse_route(s: &str) -> Result<Value, String> {
    let kv = parse_kv(s, &["destination", "gateway"])?;
    match (kv_get(&kv, "destination"), kv_get(&kv, "gateway")) {
        (Some(d), Some(g)) => Ok(json!({"destination": d, "nexthop": ip(g, "gateway")?})),
        _ => Err("a host route needs destination=CIDR,gateway=IP".into()),
    }
}

/// `--gateway`: an address, `none` (no gateway, JSON null) or `auto` (server's choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gateway {
    Auto,
    None,
    Ip(String),
}

pub fn parse_gateway(s: &str) -> Result<Gateway, String> {
    match s {
        "auto" => Ok(Gateway::Auto),
        "none" => Ok(Gateway::None),
        other => ip(other, "gateway").map(Gateway::Ip),
    }
}

fn put_gateway(b: &mut Object, g: &Option<Gateway>) {
    match g {
        Some(Gateway::None) => put(b, "gateway_ip", Some(Value::Null)),
        Some(Gateway::Ip(a)) => put(b, "gateway_ip", Some(a.clone())),
        Some(Gateway::Auto) | None => {}
    }
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Name of the new subnet.
    pub name: String,
    /// Network (name or ID) the subnet belongs to.
    #[arg(long)]
    pub network: String,
    /// CIDR, e.g. 10.0.0.0/24.
    #[arg(long, value_name = "CIDR")]
    pub subnet_range: String,
    /// IP version (default: from the CIDR).
    #[arg(long, value_parser = ["4", "6"])]
    pub ip_version: Option<String>,
    /// Gateway address, `auto` (default) or `none`.
    #[arg(long, value_parser = parse_gateway, value_name = "IP|auto|none")]
    pub gateway: Option<Gateway>,
    /// Allocation pool start=IP,end=IP (repeat for several).
    #[arg(long = "allocation-pool", value_parser = parse_pool, value_name = "start=IP,end=IP")]
    pub allocation_pools: Vec<Value>,
    /// DNS server (repeat for several).
    #[arg(long = "dns-nameserver", value_name = "IP")]
    pub dns_nameservers: Vec<String>,
    /// Host route destination=CIDR,gateway=IP (repeat for several).
    #[arg(long = "host-route", value_parser = parse_route, value_name = "destination=CIDR,gateway=IP")]
    pub host_routes: Vec<Value>,
    /// Enable DHCP (the default).
    #[arg(long, conflicts_with = "no_dhcp")]
    pub dhcp: bool,
    /// Disable DHCP.
    #[arg(long)]
    pub no_dhcp: bool,
    #[command(flatten)]
    pub common: CreateCommon,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: ListCommon,
    /// Only subnets of this network (name or ID).
    #[arg(long)]
    pub network: Option<String>,
    /// Only subnets of this IP version.
    #[arg(long, value_parser = ["4", "6"])]
    pub ip_version: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct SetArgs {
    /// Subnet name or ID.
    pub subnet: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// New gateway address, or `none`.
    #[arg(long, value_parser = parse_gateway, value_name = "IP|none")]
    pub gateway: Option<Gateway>,
    /// Allocation pool to add (repeat for several).
    #[arg(long = "allocation-pool", value_parser = parse_pool, value_name = "start=IP,end=IP")]
    pub allocation_pools: Vec<Value>,
    /// Remove the existing allocation pools.
    #[arg(long)]
    pub no_allocation_pool: bool,
    /// DNS server to add (repeat for several).
    #[arg(long = "dns-nameserver", value_name = "IP")]
    pub dns_nameservers: Vec<String>,
    /// Remove the existing DNS servers.
    #[arg(long)]
    pub no_dns_nameservers: bool,
    /// Host route to add (repeat for several).
    #[arg(long = "host-route", value_parser = parse_route, value_name = "destination=CIDR,gateway=IP")]
    pub host_routes: Vec<Value>,
    /// Remove the existing host routes.
    #[arg(long)]
    pub no_host_route: bool,
    /// Enable DHCP.
    #[arg(long, conflicts_with = "no_dhcp")]
    pub dhcp: bool,
    /// Disable DHCP.
    #[arg(long)]
    pub no_dhcp: bool,
    #[command(flatten)]
    pub tags: SetTags,
}

/// The POST body of `subnet create`, given the network's resolved id.
pub fn create_body(a: &CreateArgs, network_id: &str) -> Object {
    let mut b = Object::new();
    b.insert("name".into(), Value::from(a.name.clone()));
    b.insert("network_id".into(), Value::from(network_id));
    let version = match a.ip_version.as_deref() {
        Some(v) => v == "6",
        None => a.subnet_range.contains(':'),
    };
    b.insert("ip_version".into(), Value::from(if version { 6 } else { 4 }));
    b.insert("cidr".into(), Value::from(a.subnet_range.clone()));
    put_gateway(&mut b, &a.gateway);
    if !a.allocation_pools.is_empty() {
        put(&mut b, "allocation_pools", Some(a.allocation_pools.clone()));
    }
    if !a.dns_nameservers.is_empty() {
        put(&mut b, "dns_nameservers", Some(a.dns_nameservers.clone()));
    }
    if !a.host_routes.is_empty() {
        put(&mut b, "host_routes", Some(a.host_routes.clone()));
    }
    put(&mut b, "enable_dhcp", flag_pair(a.dhcp, a.no_dhcp));
    a.common.put_into(&mut b);
    b
}

/// `current[key]` (unless `clear`) followed by `added`, or `None` when nothing changes.
fn merged(current: &Object, key: &str, clear: bool, added: Vec<Value>) -> Option<Vec<Value>> {
    if !clear && added.is_empty() {
        return None;
    }
    let mut out = match (clear, current.get(key)) {
        (false, Some(Value::Array(a))) => a.clone(),
        _ => Vec::new(),
    };
    out.extend(added);
    Some(out)
}

/// The PUT body of `subnet set`; list options add to the current values, `--no-*` clear them.
pub fn set_body(a: &SetArgs, current: &Object) -> Object {
    let mut b = Object::new();
    put(&mut b, "name", a.name.clone());
    put(&mut b, "description", a.description.clone());
    put_gateway(&mut b, &a.gateway);
    let pools = merged(current, "allocation_pools", a.no_allocation_pool, a.allocation_pools.clone());
    put(&mut b, "allocation_pools", pools);
    let dns = a.dns_nameservers.iter().map(|s| Value::from(s.as_str())).collect();
    put(&mut b, "dns_nameservers", merged(current, "dns_nameservers", a.no_dns_nameservers, dns));
    put(&mut b, "host_routes", merged(current, "host_routes", a.no_host_route, a.host_routes.clone()));
    put(&mut b, "enable_dhcp", flag_pair(a.dhcp, a.no_dhcp));
    b
}

/// The columns of `subnet list` (`--long` adds more).
pub fn columns(long: bool) -> Vec<Column> {
    let mut c =
        vec![col("ID", "id"), col("Name", "name"), col("Network", "network_id"), col("Subnet", "cidr")];
    if long {
        c.extend([
            col("Project", "project_id"),
            col("DHCP", "enable_dhcp"),
            col("Name Servers", "dns_nameservers"),
            col("Allocation Pools", "allocation_pools"),
            col("Host Routes", "host_routes"),
            col("IP Version", "ip_version"),
            col("Gateway", "gateway_ip"),
            col("Tags", "tags"),
        ]);
    }
    c
}

pub async fn run(client: &Client, fmt: Format, cmd: SubnetCmd) -> Result<(), CliError> {
    let res = client.subnets();
    match cmd {
        SubnetCmd::Create(a) => {
            let net = client.networks().find_id(&a.network).await?;
            let mut obj = res.create(create_body(&a, &net)).await?;
            tag_created(res, &mut obj, &a.common.tags).await?;
            print_object(fmt, &obj)
        }
        SubnetCmd::List(a) => {
            let mut f = a.common.filters();
            if let Some(n) = &a.network {
                f.push(("network_id".into(), client.networks().find_id(n).await?));
            }
            if let Some(v) = &a.ip_version {
                f.push(("ip_version".into(), v.clone()));
            }
            print_list(fmt, &res.list(&f).await?, &columns(a.common.long))
        }
        SubnetCmd::Show { subnet } => print_object(fmt, &res.find(&subnet).await?),
        SubnetCmd::Set(a) => {
            let current = res.find(&a.subnet).await?;
            apply_set(res, &current, set_body(&a, &current), &a.tags).await
        }
        SubnetCmd::Delete { subnets } => delete_many(res, &subnets).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CreateArgs {
        CreateArgs {
            name: "s1".into(),
            network: "n1".into(),
            subnet_range: "10.0.0.0/24".into(),
            ..Default::default()
        }
    }

    #[test]
    fn option_syntaxes_become_json() {
        assert_eq!(
            parse_pool("start=10.0.0.10,end=10.0.0.20").unwrap(),
            json!({"start": "10.0.0.10", "end": "10.0.0.20"})
        );
        assert!(parse_pool("start=10.0.0.10").unwrap_err().contains("start=IP,end=IP"));
        assert!(parse_pool("start=x,end=10.0.0.1").unwrap_err().contains("not an IP"));
        assert!(parse_pool("10.0.0.1-10.0.0.9").is_err());
        assert_eq!(
            parse_route("destination=192.168.0.0/16,gateway=10.0.0.1").unwrap(),
            json!({"destination": "192.168.0.0/16", "nexthop": "10.0.0.1"})
        );
        assert_eq!(parse_gateway("none").unwrap(), Gateway::None);
        assert!(parse_gateway("10.0.0.300").is_err());
    }

    #[test]
    fn create_body_minimal_and_full() {
        assert_eq!(
            Value::Object(create_body(&base(), "NID")),
            json!({"name": "s1", "network_id": "NID", "ip_version": 4, "cidr": "10.0.0.0/24"})
        );
        let a = CreateArgs {
            gateway: Some(Gateway::None),
            allocation_pools: vec![parse_pool("start=10.0.0.10,end=10.0.0.20").unwrap()],
            dns_nameservers: vec!["8.8.8.8".into()],
            host_routes: vec![parse_route("destination=0.0.0.0/0,gateway=10.0.0.254").unwrap()],
            no_dhcp: true,
            ..base()
        };
        let b = create_body(&a, "NID");
        assert_eq!(b["gateway_ip"], Value::Null);
        assert_eq!(b["allocation_pools"], json!([{"start": "10.0.0.10", "end": "10.0.0.20"}]));
        assert_eq!(b["dns_nameservers"], json!(["8.8.8.8"]));
        assert_eq!(b["host_routes"], json!([{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"}]));
        assert_eq!(b["enable_dhcp"], json!(false));
        let v6 = CreateArgs { subnet_range: "fd00::/64".into(), gateway: Some(Gateway::Auto), ..base() };
        let b = create_body(&v6, "NID");
        assert_eq!(b["ip_version"], json!(6));
        assert!(!b.contains_key("gateway_ip"));
    }

    #[test]
    fn set_body_appends_or_clears_lists() {
        let cur = json!({"dns_nameservers": ["1.1.1.1"], "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]});
        let cur = cur.as_object().unwrap();
        let a = SetArgs {
            dns_nameservers: vec!["8.8.8.8".into()],
            no_allocation_pool: true,
            ..Default::default()
        };
        let b = set_body(&a, cur);
        assert_eq!(b["dns_nameservers"], json!(["1.1.1.1", "8.8.8.8"]));
        assert_eq!(b["allocation_pools"], json!([]));
        assert!(!b.contains_key("host_routes"));
        let a = SetArgs { gateway: Some(Gateway::Ip("10.0.0.1".into())), ..Default::default() };
        assert_eq!(Value::Object(set_body(&a, cur)), json!({"gateway_ip": "10.0.0.1"}));
    }
}
