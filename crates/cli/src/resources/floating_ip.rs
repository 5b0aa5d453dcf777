//! `neutrino floating ip create|list|show|set|unset|delete`, with the options of `openstack
//! floating ip …` (`create EXT_NET --port PORT --fixed-ip-address IP --floating-ip-address IP`,
//! `set FIP --port PORT`, `unset FIP --port`). A floating IP is named by its ID or its address;
//! the request bodies are built by pure functions from the arguments and the resolved ids.

use std::net::IpAddr;

use clap::{Args, Subcommand};
use neutrino_client::{Client, Object, Resources};
use serde_json::Value;

use super::{SetTags, apply_set, id_of, ip, put, tag_created};
use crate::error::CliError;
use crate::output::{Column, Format, col, print_list, print_object};

#[derive(Subcommand, Debug)]
pub enum FloatingCmd {
    /// Manage floating IPs.
    #[command(subcommand)]
    Ip(FipCmd),
}

#[derive(Subcommand, Debug)]
pub enum FipCmd {
    /// Allocate a floating IP on an external network (and associate it with a port).
    Create(CreateArgs),
    /// List floating IPs.
    List(ListArgs),
    /// Show one floating IP.
    Show {
        /// Floating IP address or ID.
        floating_ip: String,
    },
    /// Associate a floating IP with a port (or change its description, tags).
    Set(SetArgs),
    /// Disassociate a floating IP from its port.
    Unset(UnsetArgs),
    /// Release floating IPs.
    Delete {
        /// Floating IP addresses or IDs.
        #[arg(required = true)]
        floating_ips: Vec<String>,
    },
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// External network (name or ID) to allocate the address from.
    pub network: String,
    /// Port (name or ID) to associate with.
    #[arg(long)]
    pub port: Option<String>,
    /// Which of the port's addresses to translate to (with --port).
    #[arg(long, requires = "port", value_parser = |s: &str| ip(s, "--fixed-ip-address"))]
    pub fixed_ip_address: Option<String>,
    /// The floating address to take (admin).
    #[arg(long, value_parser = |s: &str| ip(s, "--floating-ip-address"))]
    pub floating_ip_address: Option<String>,
    /// External subnet (name or ID) to allocate from.
    #[arg(long)]
    pub subnet: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Owning project (admin).
    #[arg(long)]
    pub project: Option<String>,
    /// Tag to set (repeat for several).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    /// Only floating IPs of this external network (name or ID).
    #[arg(long)]
    pub network: Option<String>,
    /// Only the floating IP of this port (name or ID).
    #[arg(long)]
    pub port: Option<String>,
    /// Only floating IPs in this status (ACTIVE, DOWN, ERROR).
    #[arg(long)]
    pub status: Option<String>,
    /// Only floating IPs of this project (id).
    #[arg(long)]
    pub project: Option<String>,
    /// Show more columns.
    #[arg(long)]
    pub long: bool,
}

#[derive(Args, Debug, Default)]
pub struct SetArgs {
    /// Floating IP address or ID.
    pub floating_ip: String,
    /// Port (name or ID) to associate with.
    #[arg(long)]
    pub port: Option<String>,
    /// Which of the port's addresses to translate to (with --port).
    #[arg(long, requires = "port", value_parser = |s: &str| ip(s, "--fixed-ip-address"))]
    pub fixed_ip_address: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub tags: SetTags,
}

#[derive(Args, Debug, Default)]
pub struct UnsetArgs {
    /// Floating IP address or ID.
    pub floating_ip: String,
    /// Disassociate it from its port.
    #[arg(long)]
    pub port: bool,
}

/// The ids the names of `create` resolved to.
#[derive(Debug, Default)]
pub struct CreateIds<'a> {
    pub network: &'a str,
    pub port: Option<&'a str>,
    pub subnet: Option<&'a str>,
}

/// The POST body of `floating ip create`.
pub fn create_body(a: &CreateArgs, ids: &CreateIds<'_>) -> Object {
    let mut b = Object::new();
    b.insert("floating_network_id".into(), Value::from(ids.network));
    put(&mut b, "port_id", ids.port);
    put(&mut b, "fixed_ip_address", a.fixed_ip_address.clone());
    put(&mut b, "floating_ip_address", a.floating_ip_address.clone());
    put(&mut b, "subnet_id", ids.subnet);
    put(&mut b, "description", a.description.clone());
    put(&mut b, "project_id", a.project.clone());
    b
}

/// The PUT body of `floating ip set`; `port` is the resolved id of `--port`.
pub fn set_body(a: &SetArgs, port: Option<&str>) -> Object {
    let mut b = Object::new();
    put(&mut b, "port_id", port);
    put(&mut b, "fixed_ip_address", a.fixed_ip_address.clone());
    put(&mut b, "description", a.description.clone());
    b
}

/// The PUT body of `floating ip unset` (`port_id: null` disassociates); `None` when nothing
/// was asked.
pub fn unset_body(a: &UnsetArgs) -> Option<Object> {
    a.port.then(|| {
        let mut b = Object::new();
        b.insert("port_id".into(), Value::Null);
        b
    })
}

/// The columns of `floating ip list` (`--long` adds more).
pub fn columns(long: bool) -> Vec<Column> {
    let mut c = vec![
        col("ID", "id"),
        col("Floating IP Address", "floating_ip_address"),
        col("Fixed IP Address", "fixed_ip_address"),
        col("Port", "port_id"),
        col("Floating Network", "floating_network_id"),
        col("Project", "project_id"),
    ];
    if long {
        c.extend([
            col("Router", "router_id"),
            col("Status", "status"),
            col("Description", "description"),
            col("Tags", "tags"),
        ]);
    }
    c
}

/// Finds a floating IP by ID or, when the argument is an address, by `floating_ip_address`.
pub async fn find(res: Resources<'_>, id_or_address: &str) -> Result<Object, CliError> {
    if id_or_address.parse::<IpAddr>().is_err() {
        return Ok(res.show(id_or_address).await?);
    }
    let mut found = res.list(&[("floating_ip_address".into(), id_or_address.into())]).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => {
            Err(neutrino_client::Error::NotFound { resource: "Floating IP", name: id_or_address.into() }
                .into())
        }
        _ => {
            Err(neutrino_client::Error::Ambiguous { resource: "Floating IP", name: id_or_address.into() }
                .into())
        }
    }
}

pub async fn run(client: &Client, fmt: Format, cmd: FloatingCmd) -> Result<(), CliError> {
    let FloatingCmd::Ip(cmd) = cmd;
    let res = client.floating_ips();
    match cmd {
        FipCmd::Create(a) => {
            let network = client.networks().find_id(&a.network).await?;
            let port = match &a.port {
                Some(p) => Some(client.ports().find_id(p).await?),
                None => None,
            };
            let subnet = match &a.subnet {
                Some(s) => Some(client.subnets().find_id(s).await?),
                None => None,
            };
            let ids = CreateIds { network: &network, port: port.as_deref(), subnet: subnet.as_deref() };
            let mut obj = res.create(create_body(&a, &ids)).await?;
            tag_created(res, &mut obj, &a.tags).await?;
            print_object(fmt, &obj)
        }
        FipCmd::List(a) => {
            let mut f = Vec::new();
            if let Some(n) = &a.network {
                f.push(("floating_network_id".to_string(), client.networks().find_id(n).await?));
            }
            if let Some(p) = &a.port {
                f.push(("port_id".to_string(), client.ports().find_id(p).await?));
            }
            if let Some(s) = &a.status {
                f.push(("status".to_string(), s.clone()));
            }
            if let Some(p) = &a.project {
                f.push(("project_id".to_string(), p.clone()));
            }
            print_list(fmt, &res.list(&f).await?, &columns(a.long))
        }
        FipCmd::Show { floating_ip } => print_object(fmt, &find(res, &floating_ip).await?),
        FipCmd::Set(a) => {
            let current = find(res, &a.floating_ip).await?;
            let port = match &a.port {
                Some(p) => Some(client.ports().find_id(p).await?),
                None => None,
            };
            apply_set(res, &current, set_body(&a, port.as_deref()), &a.tags).await
        }
        FipCmd::Unset(a) => {
            let current = find(res, &a.floating_ip).await?;
            match unset_body(&a) {
                Some(body) => res.update(&id_of(&current)?, body).await.map(drop).map_err(Into::into),
                None => Ok(()),
            }
        }
        FipCmd::Delete { floating_ips } => {
            let mut failed = 0;
            for name in &floating_ips {
                let outcome = match find(res, name).await {
                    Ok(o) => match id_of(&o) {
                        Ok(id) => res.delete(&id).await.map_err(Into::into),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    failed += 1;
                    eprintln!("Failed to delete floating IP with IP address or ID '{name}': {e}");
                }
            }
            match failed {
                0 => Ok(()),
                _ => Err(CliError::Partial { failed, total: floating_ips.len(), what: "floatingips" }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_from_flags() {
        let a = CreateArgs { network: "public".into(), ..Default::default() };
        let ids = CreateIds { network: "ext-id", ..Default::default() };
        assert_eq!(Value::Object(create_body(&a, &ids)), json!({"floating_network_id": "ext-id"}));
        let a = CreateArgs {
            network: "public".into(),
            port: Some("web-1".into()),
            fixed_ip_address: Some("10.10.1.5".into()),
            floating_ip_address: Some("203.0.113.150".into()),
            description: Some("web".into()),
            ..Default::default()
        };
        let ids = CreateIds { network: "ext-id", port: Some("port-id"), subnet: Some("sub-id") };
        assert_eq!(
            Value::Object(create_body(&a, &ids)),
            json!({"floating_network_id": "ext-id", "port_id": "port-id", "fixed_ip_address": "10.10.1.5",
                   "floating_ip_address": "203.0.113.150", "subnet_id": "sub-id", "description": "web"})
        );
    }

    #[test]
    fn set_associates_and_unset_disassociates() {
        let a = SetArgs { floating_ip: "f".into(), ..Default::default() };
        assert!(set_body(&a, None).is_empty());
        let a = SetArgs {
            floating_ip: "f".into(),
            fixed_ip_address: Some("10.10.1.5".into()),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(set_body(&a, Some("port-id"))),
            json!({"port_id": "port-id", "fixed_ip_address": "10.10.1.5"})
        );
        assert_eq!(unset_body(&UnsetArgs { floating_ip: "f".into(), port: false }), None);
        assert_eq!(
            unset_body(&UnsetArgs { floating_ip: "f".into(), port: true }).map(Value::Object),
            Some(json!({"port_id": null})),
            "null, not absent: that is what disassociates"
        );
    }
}
