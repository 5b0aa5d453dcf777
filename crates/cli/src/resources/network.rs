//! `neutrino network create|list|show|set|delete`.

use clap::{Args, Subcommand};
use neutrino_client::{Client, Object};
use serde_json::Value;

use super::{CreateCommon, ListCommon, SetTags, apply_set, delete_many, flag_pair, put, tag_created};
use crate::error::CliError;
use crate::output::{Column, Format, col, print_list, print_object};

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    List(ListArgs),
    /// Show one network.
    Show {
        /// Network name or ID.
        network: String,
    },
    /// Change a network.
    Set(SetArgs),
    /// Delete networks.
    Delete {
        /// Network names or IDs.
        #[arg(required = true)]
        networks: Vec<String>,
    },
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Name of the new network.
    pub name: String,
    /// Share the network with all projects (admin).
    #[arg(long, visible_alias = "shared", conflicts_with = "no_share")]
    pub share: bool,
    /// Do not share the network.
    #[arg(long)]
    pub no_share: bool,
    /// Mark the network as external (router:external, admin).
    #[arg(long, conflicts_with = "internal")]
    pub external: bool,
    /// Mark the network as internal (the default).
    #[arg(long)]
    pub internal: bool,
    /// Enable the network (the default).
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the network (admin_state_up false).
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub common: CreateCommon,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: ListCommon,
    /// Only external networks.
    #[arg(long, conflicts_with = "internal")]
    pub external: bool,
    /// Only internal networks.
    #[arg(long)]
    pub internal: bool,
}

#[derive(Args, Debug, Default)]
pub struct SetArgs {
    /// Network name or ID.
    pub network: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Enable the network.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Disable the network.
    #[arg(long)]
    pub disable: bool,
    /// Share the network.
    #[arg(long, conflicts_with = "no_share")]
    pub share: bool,
    /// Stop sharing the network.
    #[arg(long)]
    pub no_share: bool,
    /// Mark external.
    #[arg(long, conflicts_with = "internal")]
    pub external: bool,
    /// Mark internal.
    #[arg(long)]
    pub internal: bool,
    #[command(flatten)]
    pub tags: SetTags,
}

/// The POST body of `network create` (OSC always sends `admin_state_up`).
pub fn create_body(a: &CreateArgs) -> Object {
    let mut b = Object::new();
    b.insert("name".into(), Value::from(a.name.clone()));
    b.insert("admin_state_up".into(), Value::Bool(!a.disable));
    put(&mut b, "shared", flag_pair(a.share, a.no_share));
    put(&mut b, "router:external", flag_pair(a.external, a.internal));
    a.common.put_into(&mut b);
    b
}

/// The PUT body of `network set` (empty when only tags change).
pub fn set_body(a: &SetArgs) -> Object {
    let mut b = Object::new();
    put(&mut b, "name", a.name.clone());
    put(&mut b, "description", a.description.clone());
    put(&mut b, "admin_state_up", flag_pair(a.enable, a.disable));
    put(&mut b, "shared", flag_pair(a.share, a.no_share));
    put(&mut b, "router:external", flag_pair(a.external, a.internal));
    b
}

/// The columns of `network list` (`--long` adds more).
pub fn columns(long: bool) -> Vec<Column> {
    let mut c = vec![col("ID", "id"), col("Name", "name"), col("Subnets", "subnets")];
    if long {
        c.extend([
            col("Status", "status"),
            col("Project", "project_id"),
            col("State", "admin_state_up"),
            col("Shared", "shared"),
            col("External", "router:external"),
            col("MTU", "mtu"),
            col("Tags", "tags"),
        ]);
    }
    c
}

pub async fn run(client: &Client, fmt: Format, cmd: NetworkCmd) -> Result<(), CliError> {
    let res = client.networks();
    match cmd {
        NetworkCmd::Create(a) => {
            let mut obj = res.create(create_body(&a)).await?;
            tag_created(res, &mut obj, &a.common.tags).await?;
            print_object(fmt, &obj)
        }
        NetworkCmd::List(a) => {
            let mut f = a.common.filters();
            if let Some(ext) = flag_pair(a.external, a.internal) {
                f.push(("router:external".into(), ext.to_string()));
            }
            print_list(fmt, &res.list(&f).await?, &columns(a.common.long))
        }
        NetworkCmd::Show { network } => print_object(fmt, &res.find(&network).await?),
        NetworkCmd::Set(a) => {
            let current = res.find(&a.network).await?;
            apply_set(res, &current, set_body(&a), &a.tags).await
        }
        NetworkCmd::Delete { networks } => delete_many(res, &networks).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_from_flags() {
        let a = CreateArgs { name: "n1".into(), ..Default::default() };
        assert_eq!(Value::Object(create_body(&a)), json!({"name": "n1", "admin_state_up": true}));
        let a = CreateArgs {
            name: "ext".into(),
            share: true,
            external: true,
            disable: true,
            common: CreateCommon { description: Some("d".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(
            Value::Object(create_body(&a)),
            json!({"name": "ext", "admin_state_up": false, "shared": true, "router:external": true, "description": "d"})
        );
    }

    #[test]
    fn set_body_only_has_what_was_asked() {
        let a = SetArgs { network: "n".into(), ..Default::default() };
        assert!(set_body(&a).is_empty());
        let a = SetArgs {
            network: "n".into(),
            name: Some("m".into()),
            enable: true,
            no_share: true,
            ..Default::default()
        };
        assert_eq!(
            Value::Object(set_body(&a)),
            json!({"name": "m", "admin_state_up": true, "shared": false})
        );
    }
}
