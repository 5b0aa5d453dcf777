//! `neutrino port create|list|show|set|delete`, with the `--fixed-ip` option syntax.

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
pub enum PortCmd {
    /// Create a port.
    Create(CreateArgs),
    /// List ports.
    List(ListArgs),
    /// Show one port.
    Show {
        /// Port name or ID.
        port: String,
    },
    /// Change a port.
    Set(SetArgs),
    /// Delete ports.
    Delete {
        /// Port names or IDs.
        #[arg(required = true)]
        ports: Vec<String>,
    },
}

/// `--fixed-ip subnet=S,ip-address=A` (either part may be left out, not both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIp {
    /// Subnet name or ID, resolved before sending.
    pub subnet: Option<String>,
    pub ip_address: Option<String>,
}

pub fn parse_fixed_ip(s: &str) -> Result<FixedIp, String> {
    let kv = parse_kv(s, &["subnet", "ip-address"])?;
    let ip_address = kv_get(&kv, "ip-address").map(|a| ip(a, "ip-address")).transpose()?;
    Ok(FixedIp { subnet: kv_get(&kv, "subnet").map(String::from), ip_address })
}

impl FixedIp {
    /// The API form, with the subnet already resolved to `subnet_id`.
    pub fn to_json(&self, subnet_id: Option<&str>) -> Value {
        let mut m = Object::new();
        put(&mut m, "subnet_id", subnet_id);
        put(&mut m, "ip_address", self.ip_address.clone());
        Value::Object(m)
    }
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Name of the new port.
    pub name: String,
    /// Network (name or ID) the port belongs to.
    #[arg(long)]
    pub network: String,
    /// Fixed IP subnet=SUBNET,ip-address=IP (repeat for several).
    #[arg(long = "fixed-ip", value_parser = parse_fixed_ip, value_name = "subnet=SUBNET,ip-address=IP")]
    pub fixed_ips: Vec<FixedIp>,
    /// No fixed IPs at all.
    #[arg(long, conflicts_with = "fixed_ips")]
    pub no_fixed_ip: bool,
    /// MAC address (default: generated).
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Device ID (e.g. a server UUID).
    #[arg(long, visible_alias = "device")]
    pub device_id: Option<String>,
    /// Device owner (e.g. compute:nova).
    #[arg(long)]
    pub device_owner: Option<String>,
    /// Host to bind the port to (binding:host_id, admin).
    #[arg(long)]
    pub host: Option<String>,
    /// Enable the port (the default).
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the port.
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub common: CreateCommon,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: ListCommon,
    /// Only ports of this network (name or ID).
    #[arg(long)]
    pub network: Option<String>,
    /// Only ports with this device ID.
    #[arg(long)]
    pub device_id: Option<String>,
    /// Only ports with this device owner.
    #[arg(long)]
    pub device_owner: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct SetArgs {
    /// Port name or ID.
    pub port: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Fixed IP to add (repeat for several).
    #[arg(long = "fixed-ip", value_parser = parse_fixed_ip, value_name = "subnet=SUBNET,ip-address=IP")]
    pub fixed_ips: Vec<FixedIp>,
    /// Remove the existing fixed IPs.
    #[arg(long)]
    pub no_fixed_ip: bool,
    /// New MAC address.
    #[arg(long)]
    pub mac_address: Option<String>,
    /// New device ID.
    #[arg(long, visible_alias = "device")]
    pub device_id: Option<String>,
    /// New device owner.
    #[arg(long)]
    pub device_owner: Option<String>,
    /// Host to bind the port to.
    #[arg(long)]
    pub host: Option<String>,
    /// Enable the port.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the port.
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub tags: SetTags,
}

/// The POST body of `port create`; `fixed_ips` are already in API form (`None`: server's choice).
pub fn create_body(a: &CreateArgs, network_id: &str, fixed_ips: Option<Vec<Value>>) -> Object {
    let mut b = Object::new();
    b.insert("name".into(), Value::from(a.name.clone()));
    b.insert("network_id".into(), Value::from(network_id));
    b.insert("admin_state_up".into(), Value::Bool(!a.disable));
    let fixed = if a.no_fixed_ip { Some(vec![]) } else { fixed_ips };
    put(&mut b, "fixed_ips", fixed);
    put(&mut b, "mac_address", a.mac_address.clone());
    put(&mut b, "device_id", a.device_id.clone());
    put(&mut b, "device_owner", a.device_owner.clone());
    put(&mut b, "binding:host_id", a.host.clone());
    a.common.put_into(&mut b);
    b
}

/// The PUT body of `port set`; `added` fixed IPs (API form) go after the current ones unless
/// `--no-fixed-ip`.
pub fn set_body(a: &SetArgs, current: &Object, added: Vec<Value>) -> Object {
    let mut b = Object::new();
    put(&mut b, "name", a.name.clone());
    put(&mut b, "description", a.description.clone());
    if a.no_fixed_ip || !added.is_empty() {
        let mut ips = match (a.no_fixed_ip, current.get("fixed_ips")) {
            (false, Some(Value::Array(cur))) => cur
                .iter()
                .map(|f| json!({"subnet_id": f.get("subnet_id"), "ip_address": f.get("ip_address")}))
                .collect(),
            _ => Vec::new(),
        };
        ips.extend(added);
        put(&mut b, "fixed_ips", Some(ips));
    }
    put(&mut b, "mac_address", a.mac_address.clone());
    put(&mut b, "device_id", a.device_id.clone());
    put(&mut b, "device_owner", a.device_owner.clone());
    put(&mut b, "binding:host_id", a.host.clone());
    put(&mut b, "admin_state_up", flag_pair(a.enable, a.disable));
    b
}

/// The columns of `port list` (`--long` adds more).
pub fn columns(long: bool) -> Vec<Column> {
    let mut c = vec![
        col("ID", "id"),
        col("Name", "name"),
        col("MAC Address", "mac_address"),
        col("Fixed IP Addresses", "fixed_ips"),
        col("Status", "status"),
    ];
    if long {
        c.extend([
            col("Network", "network_id"),
            col("Project", "project_id"),
            col("State", "admin_state_up"),
            col("Device ID", "device_id"),
            col("Device Owner", "device_owner"),
            col("Host", "binding:host_id"),
            col("Tags", "tags"),
        ]);
    }
    c
}

async fn resolve(client: &Client, specs: &[FixedIp]) -> Result<Vec<Value>, CliError> {
    let mut out = Vec::with_capacity(specs.len());
    for s in specs {
        let subnet = match &s.subnet {
            Some(name) => Some(client.subnets().find_id(name).await?),
            None => None,
        };
        out.push(s.to_json(subnet.as_deref()));
    }
    Ok(out)
}

pub async fn run(client: &Client, fmt: Format, cmd: PortCmd) -> Result<(), CliError> {
    let res = client.ports();
    match cmd {
        PortCmd::Create(a) => {
            let net = client.networks().find_id(&a.network).await?;
            let fixed = match a.fixed_ips.is_empty() {
                true => None,
                false => Some(resolve(client, &a.fixed_ips).await?),
            };
            let mut obj = res.create(create_body(&a, &net, fixed)).await?;
            tag_created(res, &mut obj, &a.common.tags).await?;
            print_object(fmt, &obj)
        }
        PortCmd::List(a) => {
            let mut f = a.common.filters();
            if let Some(n) = &a.network {
                f.push(("network_id".into(), client.networks().find_id(n).await?));
            }
            if let Some(d) = &a.device_id {
                f.push(("device_id".into(), d.clone()));
            }
            if let Some(d) = &a.device_owner {
                f.push(("device_owner".into(), d.clone()));
            }
            print_list(fmt, &res.list(&f).await?, &columns(a.common.long))
        }
        PortCmd::Show { port } => print_object(fmt, &res.find(&port).await?),
        PortCmd::Set(a) => {
            let current = res.find(&a.port).await?;
            let added = resolve(client, &a.fixed_ips).await?;
            apply_set(res, &current, set_body(&a, &current, added), &a.tags).await
        }
        PortCmd::Delete { ports } => delete_many(res, &ports).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ip_syntax() {
        let f = parse_fixed_ip("subnet=s1,ip-address=10.0.0.5").unwrap();
        assert_eq!(f, FixedIp { subnet: Some("s1".into()), ip_address: Some("10.0.0.5".into()) });
        assert_eq!(f.to_json(Some("SID")), json!({"subnet_id": "SID", "ip_address": "10.0.0.5"}));
        let only_subnet = parse_fixed_ip("subnet=s1").unwrap();
        assert_eq!(only_subnet.to_json(Some("SID")), json!({"subnet_id": "SID"}));
        assert!(parse_fixed_ip("ip_address=10.0.0.7").is_ok());
        assert!(parse_fixed_ip("ip-address=nope").unwrap_err().contains("not an IP"));
        assert!(parse_fixed_ip("network=n").unwrap_err().contains("unknown key"));
        assert!(parse_fixed_ip("subnet").is_err());
    }

    #[test]
    fn create_body_from_flags() {
        let a = CreateArgs {
            name: "p1".into(),
            network: "n".into(),
            mac_address: Some("fa:16:3e:00:00:01".into()),
            host: Some("h1".into()),
            device_owner: Some("compute:nova".into()),
            ..Default::default()
        };
        let b = create_body(&a, "NID", Some(vec![json!({"subnet_id": "SID"})]));
        assert_eq!(
            Value::Object(b),
            json!({"name": "p1", "network_id": "NID", "admin_state_up": true, "fixed_ips": [{"subnet_id": "SID"}],
                   "mac_address": "fa:16:3e:00:00:01", "device_owner": "compute:nova", "binding:host_id": "h1"})
        );
        let none = CreateArgs { name: "p".into(), no_fixed_ip: true, disable: true, ..Default::default() };
        let b = create_body(&none, "NID", None);
        assert_eq!(b["fixed_ips"], json!([]));
        assert_eq!(b["admin_state_up"], json!(false));
    }

    #[test]
    fn set_body_keeps_current_fixed_ips_when_adding() {
        let cur = json!({"fixed_ips": [{"subnet_id": "S", "ip_address": "10.0.0.5"}]});
        let cur = cur.as_object().unwrap();
        let a = SetArgs { disable: true, ..Default::default() };
        let b = set_body(&a, cur, vec![json!({"subnet_id": "S", "ip_address": "10.0.0.6"})]);
        assert_eq!(
            b["fixed_ips"],
            json!([{"subnet_id": "S", "ip_address": "10.0.0.5"}, {"subnet_id": "S", "ip_address": "10.0.0.6"}])
        );
        assert_eq!(b["admin_state_up"], json!(false));
        let clear = SetArgs { no_fixed_ip: true, ..Default::default() };
        assert_eq!(set_body(&clear, cur, vec![])["fixed_ips"], json!([]));
        assert!(set_body(&SetArgs::default(), cur, vec![]).is_empty());
    }
}
