//! What the service answers without Nova, from the caller's port and network alone, following
//! the paths of Nova's metadata API (`nova/api/metadata/base.py`): the OpenStack tree
//! (`/openstack`, `meta_data.json`, `network_data.json`) and the EC2 tree's `meta-data`.
//! Only what Neutrino knows is said: no keys, user data, passwords or vendor data (404).

use neutrino_model::internal::{DhcpNetworkState, DhcpPortState};
use serde_json::{Value, json};

use super::Caller;
use super::network_data::network_data;
use super::reply::Reply;

/// Nova's OpenStack metadata versions (Folsom … Epoxy); `latest` is the last.
pub const OPENSTACK_VERSIONS: &[&str] = &[
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
    "2025-04-04",
];
/// The version `project_id` appeared in (Liberty), and `network_data.json` with it.
const LIBERTY: &str = "2015-10-15";

/// The EC2 versions Nova lists; `latest` is the last.
pub const EC2_VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

/// The position of `version` in `versions` (`latest` is the last), or `None`.
fn version_index(versions: &[&str], version: &str) -> Option<usize> {
    if version == "latest" { Some(versions.len() - 1) } else { versions.iter().position(|v| *v == version) }
}

fn at_least(versions: &[&str], index: usize, required: &str) -> bool {
    versions.iter().position(|v| *v == required).is_some_and(|r| index >= r)
}

/// The path's segments, normalised as Nova does (`posixpath.normpath`): empty and `.` segments
/// dropped, `..` removes the one before.
fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

/// The port's first IPv4 address, else its first address.
fn first_address(port: &DhcpPortState) -> Option<&str> {
    let v4 = port.fixed_ips.iter().find(|f| f.ip_address.parse::<std::net::Ipv4Addr>().is_ok());
    v4.or(port.fixed_ips.first()).map(|f| f.ip_address.as_str())
}

/// The port's host name: its `dns_name`, else dnsmasq's `host-10-0-0-5` of its first address.
pub fn short_host_name(port: &DhcpPortState) -> String {
    if !port.dns_name.is_empty() {
        return port.dns_name.trim_end_matches('.').to_string();
    }
    let addr = first_address(port).unwrap_or("");
    format!("host-{}", addr.replace(['.', ':'], "-"))
}

/// The host name with the network's DNS domain (`host-10-0-0-5.openstacklocal`).
pub fn host_name(network: &DhcpNetworkState, port: &DhcpPortState) -> String {
    let short = short_host_name(port);
    let domain = network.dns_domain.trim_matches('.');
    if domain.is_empty() || port.dns_name.ends_with('.') { short } else { format!("{short}.{domain}") }
}

/// `meta_data.json` of OpenStack version `index`: the keys Nova gives every instance, with
/// what Neutrino knows (`uuid` is the port's device, `launch_index` 0, no availability zone).
fn meta_data(network: &DhcpNetworkState, port: &DhcpPortState, index: usize) -> Value {
    let name = if port.name.is_empty() { short_host_name(port) } else { port.name.clone() };
    let mut md = json!({
        "uuid": port.device_id,
        "hostname": host_name(network, port),
        "name": name,
        "launch_index": 0,
        "availability_zone": null,
    });
    if at_least(OPENSTACK_VERSIONS, index, LIBERTY) {
        md["project_id"] = json!(port.project_id);
    }
    md
}

/// The EC2 `meta-data` tree of EC2 version `index`, as (key, value) sorted by key.
fn ec2_meta_data(
    network: &DhcpNetworkState,
    port: &DhcpPortState,
    index: usize,
) -> Vec<(&'static str, String)> {
    let host = host_name(network, port);
    let mut md = vec![
        ("ami-launch-index", "0".to_string()),
        ("hostname", host.clone()),
        ("instance-id", port.device_id.clone()),
    ];
    if at_least(EC2_VERSIONS, index, "2007-01-19") {
        md.push(("local-hostname", host));
    }
    if let Some(ip) = port.fixed_ips.iter().find(|f| f.ip_address.parse::<std::net::Ipv4Addr>().is_ok()) {
        md.push(("local-ipv4", ip.ip_address.clone()));
    }
    md.sort();
    md
}

fn listing(lines: impl IntoIterator<Item = impl AsRef<str>>) -> Reply {
    let lines: Vec<String> = lines.into_iter().map(|l| l.as_ref().to_string()).collect();
    Reply::text(lines.join("\n"))
}

fn with_latest(versions: &[&str]) -> Reply {
    listing(versions.iter().copied().chain(["latest"]))
}

fn openstack(caller: &Caller, rest: &[&str]) -> Reply {
    let Some((version, file)) = rest.split_first() else {
        return with_latest(OPENSTACK_VERSIONS);
    };
    let Some(index) = version_index(OPENSTACK_VERSIONS, version) else {
        return Reply::not_found();
    };
    match file {
        [] => {
            let mut files = vec!["meta_data.json"];
            if at_least(OPENSTACK_VERSIONS, index, LIBERTY) {
                files.push("network_data.json");
            }
            listing(files)
        }
        ["meta_data.json"] => Reply::json(&meta_data(&caller.network, &caller.port, index)),
        // Nova serves it under every version, listing it from Liberty on.
        ["network_data.json"] => Reply::json(&network_data(&caller.network, &caller.port)),
        _ => Reply::not_found(),
    }
}

fn ec2(caller: &Caller, rest: &[&str]) -> Reply {
    let Some((version, rest)) = rest.split_first() else {
        return with_latest(EC2_VERSIONS);
    };
    let Some(index) = version_index(EC2_VERSIONS, version) else {
        return Reply::not_found();
    };
    match rest {
        [] => Reply::text("meta-data/"),
        ["meta-data"] => {
            listing(ec2_meta_data(&caller.network, &caller.port, index).into_iter().map(|(k, _)| k))
        }
        ["meta-data", key] => ec2_meta_data(&caller.network, &caller.port, index)
            .into_iter()
            .find(|(k, _)| k == key)
            .map_or_else(Reply::not_found, |(_, v)| Reply::text(v)),
        _ => Reply::not_found(),
    }
}

/// The answer to `GET path` (query already removed) from `caller`.
pub fn answer(caller: &Caller, path: &str) -> Reply {
    match segments(path).as_slice() {
        ["openstack", rest @ ..] => openstack(caller, rest),
        ["ec2", rest @ ..] => ec2(caller, rest),
        rest => ec2(caller, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_like_nova() {
        assert_eq!(
            segments("/openstack//latest/./meta_data.json"),
            ["openstack", "latest", "meta_data.json"]
        );
        assert_eq!(segments("/a/../openstack/"), ["openstack"]);
        assert_eq!(segments("/../../"), Vec::<&str>::new());
        assert_eq!(segments(""), Vec::<&str>::new());
    }

    #[test]
    fn versions() {
        assert_eq!(version_index(OPENSTACK_VERSIONS, "latest"), Some(OPENSTACK_VERSIONS.len() - 1));
        assert_eq!(version_index(OPENSTACK_VERSIONS, "2012-08-10"), Some(0));
        assert_eq!(version_index(OPENSTACK_VERSIONS, "2012-08-11"), None);
        assert!(at_least(OPENSTACK_VERSIONS, 3, LIBERTY));
        assert!(!at_least(OPENSTACK_VERSIONS, 2, LIBERTY));
    }

    #[test]
    fn host_names() {
        use neutrino_model::internal::FixedIpState;
        let ip = |a: &str| FixedIpState { subnet_id: "s".into(), ip_address: a.into() };
        let mut port =
            DhcpPortState { fixed_ips: vec![ip("2001:db8::5"), ip("10.0.0.5")], ..Default::default() };
        let mut net = DhcpNetworkState { dns_domain: "openstacklocal.".into(), ..Default::default() };
        assert_eq!(host_name(&net, &port), "host-10-0-0-5.openstacklocal");
        port.fixed_ips.remove(1);
        assert_eq!(host_name(&net, &port), "host-2001-db8--5.openstacklocal");
        port.dns_name = "vm1".into();
        assert_eq!(host_name(&net, &port), "vm1.openstacklocal");
        net.dns_domain.clear();
        assert_eq!(host_name(&net, &port), "vm1");
    }
}
