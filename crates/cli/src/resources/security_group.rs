//! `neutrino security group create|list|show|set|delete` and `neutrino security group rule
//! create|list|show|delete`, with the options of `openstack security group …` (`--dst-port
//! 22:23`, `--icmp-type`/`--icmp-code`, `--remote-ip`/`--remote-group` by name or ID).

use clap::{Args, Subcommand};
use neutrino_client::{Client, Object};
use serde_json::Value;

use super::{CreateCommon, ListCommon, SetTags, apply_set, delete_many, flag_pair, put, tag_created};
use crate::error::CliError;
use crate::output::{Column, Format, col, print_list, print_object};

#[derive(Subcommand, Debug)]
pub enum SecurityCmd {
    /// Manage security groups and their rules.
    #[command(subcommand)]
    Group(GroupCmd),
}

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// Create a security group (with its two default egress rules).
    Create(CreateArgs),
    /// List security groups.
    List(ListArgs),
    /// Show one security group with its rules.
    Show {
        /// Group name or ID.
        group: String,
    },
    /// Change a security group.
    Set(SetArgs),
    /// Delete security groups.
    Delete {
        /// Group names or IDs.
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Manage the rules of security groups.
    #[command(subcommand)]
    Rule(RuleCmd),
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Name of the new group.
    pub name: String,
    /// Track connections (the default).
    #[arg(long, conflicts_with = "stateless")]
    pub stateful: bool,
    /// Do not track connections (stored; the agents enforce every group statefully).
    #[arg(long)]
    pub stateless: bool,
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
    /// Group name or ID.
    pub group: String,
    /// New name.
    #[arg(long)]
    pub name: Option<String>,
    /// New description.
    #[arg(long)]
    pub description: Option<String>,
    /// Track connections.
    #[arg(long, conflicts_with = "stateless")]
    pub stateful: bool,
    /// Do not track connections.
    #[arg(long)]
    pub stateless: bool,
    #[command(flatten)]
    pub tags: SetTags,
}

#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// Add a rule to a group.
    Create(RuleArgs),
    /// List rules (of one group when given).
    List(RuleListArgs),
    /// Show one rule.
    Show {
        /// Rule ID.
        rule: String,
    },
    /// Delete rules.
    Delete {
        /// Rule IDs.
        #[arg(required = true)]
        rules: Vec<String>,
    },
}

#[derive(Args, Debug, Default)]
pub struct RuleArgs {
    /// The group (name or ID) the rule belongs to.
    pub group: String,
    /// Traffic into the group's ports (the default).
    #[arg(long, conflicts_with = "egress")]
    pub ingress: bool,
    /// Traffic out of the group's ports.
    #[arg(long)]
    pub egress: bool,
    /// IPv4 or IPv6 (default IPv4, or IPv6 when --remote-ip is an IPv6 prefix).
    #[arg(long, value_parser = ["IPv4", "IPv6"])]
    pub ethertype: Option<String>,
    /// Protocol: a name (tcp, udp, icmp, ipv6-icmp, …), a number, or `any`.
    #[arg(long)]
    pub protocol: Option<String>,
    /// Destination port or range (`22` or `8000:8080`; TCP, UDP, SCTP).
    #[arg(long, value_parser = parse_port_range, value_name = "PORT[:PORT]")]
    pub dst_port: Option<(u16, u16)>,
    /// ICMP type (ICMP protocols).
    #[arg(long)]
    pub icmp_type: Option<u16>,
    /// ICMP code (with --icmp-type).
    #[arg(long, requires = "icmp_type")]
    pub icmp_code: Option<u16>,
    /// Remote IP prefix (CIDR).
    #[arg(long, conflicts_with = "remote_group")]
    pub remote_ip: Option<String>,
    /// Remote security group (name or ID).
    #[arg(long)]
    pub remote_group: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
    /// Owning project (admin).
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Args, Debug, Default)]
pub struct RuleListArgs {
    /// Only the rules of this group (name or ID).
    pub group: Option<String>,
    /// Only ingress rules.
    #[arg(long, conflicts_with = "egress")]
    pub ingress: bool,
    /// Only egress rules.
    #[arg(long)]
    pub egress: bool,
    /// Only rules of this protocol.
    #[arg(long)]
    pub protocol: Option<String>,
    /// Show more columns.
    #[arg(long)]
    pub long: bool,
}

/// `22` or `8000:8080`.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{s:?} is not a port or a range PORT:PORT (1-65535)");
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    match s.split_once(':') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(format!("{s:?}: the first port is above the second"));
            }
            Ok((a, b))
        }
        None => port(s).map(|p| (p, p)),
    }
}

/// The POST body of `security group create`.
pub fn create_body(a: &CreateArgs) -> Object {
    let mut b = Object::new();
    b.insert("name".into(), Value::from(a.name.clone()));
    put(&mut b, "stateful", flag_pair(a.stateful, a.stateless));
    a.common.put_into(&mut b);
    b
}

/// The PUT body of `security group set` (empty when only tags change).
pub fn set_body(a: &SetArgs) -> Object {
    let mut b = Object::new();
    put(&mut b, "name", a.name.clone());
    put(&mut b, "description", a.description.clone());
    put(&mut b, "stateful", flag_pair(a.stateful, a.stateless));
    b
}

/// The POST body of `security group rule create`, with the group and the remote group already
/// resolved to ids.
pub fn rule_body(a: &RuleArgs, group_id: &str, remote_group_id: Option<String>) -> Object {
    let mut b = Object::new();
    b.insert("security_group_id".into(), Value::from(group_id));
    let direction = if a.egress { "egress" } else { "ingress" };
    b.insert("direction".into(), Value::from(direction));
    let v6_remote = a.remote_ip.as_deref().is_some_and(|p| p.contains(':'));
    let ethertype = a.ethertype.clone().unwrap_or_else(|| if v6_remote { "IPv6" } else { "IPv4" }.into());
    b.insert("ethertype".into(), Value::from(ethertype));
    put(&mut b, "protocol", a.protocol.clone().filter(|p| p != "any"));
    if let Some((min, max)) = a.dst_port {
        b.insert("port_range_min".into(), Value::from(min));
        b.insert("port_range_max".into(), Value::from(max));
    }
    put(&mut b, "port_range_min", a.icmp_type);
    put(&mut b, "port_range_max", a.icmp_code);
    put(&mut b, "remote_ip_prefix", a.remote_ip.clone());
    put(&mut b, "remote_group_id", remote_group_id);
    put(&mut b, "description", a.description.clone());
    put(&mut b, "project_id", a.project.clone());
    b
}

/// The columns of `security group list` (`--long` adds more).
pub fn columns(long: bool) -> Vec<Column> {
    let mut c = vec![
        col("ID", "id"),
        col("Name", "name"),
        col("Description", "description"),
        col("Project", "project_id"),
    ];
    if long {
        c.extend([col("Stateful", "stateful"), col("Tags", "tags")]);
    }
    c
}

/// The columns of `security group rule list`.
pub fn rule_columns(long: bool) -> Vec<Column> {
    let mut c = vec![
        col("ID", "id"),
        col("IP Protocol", "protocol"),
        col("Ethertype", "ethertype"),
        col("IP Range", "remote_ip_prefix"),
        col("Port Range Min", "port_range_min"),
        col("Port Range Max", "port_range_max"),
        col("Direction", "direction"),
        col("Remote Security Group", "remote_group_id"),
    ];
    if long {
        c.extend([col("Security Group", "security_group_id"), col("Description", "description")]);
    }
    c
}

pub async fn run(client: &Client, fmt: Format, cmd: SecurityCmd) -> Result<(), CliError> {
    let SecurityCmd::Group(cmd) = cmd;
    let res = client.security_groups();
    match cmd {
        GroupCmd::Create(a) => {
            let mut obj = res.create(create_body(&a)).await?;
            tag_created(res, &mut obj, &a.common.tags).await?;
            print_object(fmt, &obj)
        }
        GroupCmd::List(a) => print_list(fmt, &res.list(&a.common.filters()).await?, &columns(a.common.long)),
        GroupCmd::Show { group } => print_object(fmt, &res.find(&group).await?),
        GroupCmd::Set(a) => {
            let current = res.find(&a.group).await?;
            apply_set(res, &current, set_body(&a), &a.tags).await
        }
        GroupCmd::Delete { groups } => delete_many(res, &groups).await,
        GroupCmd::Rule(cmd) => run_rule(client, fmt, cmd).await,
    }
}

async fn run_rule(client: &Client, fmt: Format, cmd: RuleCmd) -> Result<(), CliError> {
    let (groups, rules) = (client.security_groups(), client.security_group_rules());
    match cmd {
        RuleCmd::Create(a) => {
            let group = groups.find_id(&a.group).await?;
            let remote = match &a.remote_group {
                Some(g) => Some(groups.find_id(g).await?),
                None => None,
            };
            print_object(fmt, &rules.create(rule_body(&a, &group, remote)).await?)
        }
        RuleCmd::List(a) => {
            let mut f = vec![];
            if let Some(g) = &a.group {
                f.push(("security_group_id".to_string(), groups.find_id(g).await?));
            }
            match flag_pair(a.ingress, a.egress) {
                Some(true) => f.push(("direction".into(), "ingress".into())),
                Some(false) => f.push(("direction".into(), "egress".into())),
                None => {}
            }
            if let Some(p) = &a.protocol {
                f.push(("protocol".into(), p.clone()));
            }
            print_list(fmt, &rules.list(&f).await?, &rule_columns(a.long))
        }
        RuleCmd::Show { rule } => print_object(fmt, &rules.show(&rule).await?),
        RuleCmd::Delete { rules: ids } => delete_many(rules, &ids).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_ranges_parse_as_osc_writes_them() {
        assert_eq!(parse_port_range("22"), Ok((22, 22)));
        assert_eq!(parse_port_range("8000:8080"), Ok((8000, 8080)));
        assert!(parse_port_range("0").is_err());
        assert!(parse_port_range("23:22").unwrap_err().contains("above"));
        assert!(parse_port_range("http").is_err());
        assert!(parse_port_range("1:70000").is_err());
    }

    #[test]
    fn rule_bodies_from_options() {
        let a = RuleArgs {
            group: "web".into(),
            protocol: Some("tcp".into()),
            dst_port: Some((80, 80)),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(rule_body(&a, "sg-1", None)),
            json!({"security_group_id": "sg-1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                   "port_range_min": 80, "port_range_max": 80})
        );
        let a = RuleArgs {
            group: "web".into(),
            egress: true,
            protocol: Some("ipv6-icmp".into()),
            icmp_type: Some(128),
            icmp_code: Some(0),
            remote_ip: Some("2001:db8::/64".into()),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(rule_body(&a, "sg-1", None)),
            json!({"security_group_id": "sg-1", "direction": "egress", "ethertype": "IPv6", "protocol": "ipv6-icmp",
                   "port_range_min": 128, "port_range_max": 0, "remote_ip_prefix": "2001:db8::/64"})
        );
        let a = RuleArgs { group: "db".into(), protocol: Some("any".into()), ..Default::default() };
        assert_eq!(
            Value::Object(rule_body(&a, "sg-2", Some("sg-app".into()))),
            json!({"security_group_id": "sg-2", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": "sg-app"})
        );
    }

    #[test]
    fn group_bodies_have_only_what_was_asked() {
        let a = CreateArgs { name: "web".into(), stateless: true, ..Default::default() };
        assert_eq!(Value::Object(create_body(&a)), json!({"name": "web", "stateful": false}));
        let a = SetArgs { group: "web".into(), ..Default::default() };
        assert!(set_body(&a).is_empty());
    }
}
