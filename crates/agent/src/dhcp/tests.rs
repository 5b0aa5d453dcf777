//! Snapshots of what the generators write for typical networks (IPv4, DHCPv6 stateful and
//! stateless, SLAAC, extra options, no gateway, host routes, the command line, the metadata
//! proxy), and the lease release decisions.

use std::path::Path;

use neutrino_model::internal::{
    DhcpNetworkState, DhcpPortState, DhcpSubnetState, ExtraDhcpOptState, FixedIpState, HostRouteState,
};

use super::argv::{DnsmasqSettings, Paths, dnsmasq_argv, haproxy_config};
use super::hosts::{addn_hosts_file, hosts_file, seed_leases};
use super::leases::{Release, release_argv, stale};
use super::opts::{format_option, metadata_enabled, opts_file};

const NET: &str = "8f0b9c3e-1d2a-4c5b-9e6f-0a1b2c3d4e5f";
const DHCP_PORT: &str = "d1c2b3a4-0000-4000-8000-000000000001";

fn subnet(id: &str, v: u8, cidr: &str, gw: Option<&str>) -> DhcpSubnetState {
    DhcpSubnetState {
        id: id.into(),
        ip_version: v,
        cidr: cidr.into(),
        gateway_ip: gw.map(str::to_string),
        enable_dhcp: true,
        ..Default::default()
    }
}

fn port(id: &str, mac: &str, owner: &str, ips: &[(&str, &str)]) -> DhcpPortState {
    DhcpPortState {
        id: id.into(),
        mac_address: mac.into(),
        device_owner: owner.into(),
        admin_state_up: true,
        fixed_ips: ips
            .iter()
            .map(|(s, ip)| FixedIpState { subnet_id: (*s).into(), ip_address: (*ip).into() })
            .collect(),
        ..Default::default()
    }
}

fn net(subnets: Vec<DhcpSubnetState>, ports: Vec<DhcpPortState>) -> DhcpNetworkState {
    DhcpNetworkState {
        id: NET.into(),
        project_id: "p".into(),
        mtu: 1450,
        admin_state_up: true,
        dhcp_port: Some(DHCP_PORT.into()),
        subnets,
        ports,
        routed_subnets: vec![],
        dns_domain: "openstacklocal".into(),
    }
}

/// An IPv4 network: the DHCP port, two VMs (one named), a router interface.
fn v4() -> DhcpNetworkState {
    let mut vm2 = port("vm-2", "fa:16:3e:00:00:02", "compute:nova", &[("s4", "10.0.0.6")]);
    vm2.dns_name = "web".into();
    net(
        vec![subnet("s4", 4, "10.0.0.0/24", Some("10.0.0.1"))],
        vec![
            port(DHCP_PORT, "fa:16:3e:00:00:aa", "network:dhcp", &[("s4", "10.0.0.2")]),
            port("vm-1", "fa:16:3e:00:00:01", "compute:nova", &[("s4", "10.0.0.5")]),
            vm2,
            port("gw", "fa:16:3e:00:00:99", "network:router_gateway", &[("s4", "10.0.0.99")]),
        ],
    )
}

fn render(net: &DhcpNetworkState) -> String {
    format!(
        "--- host\n{}--- addn_hosts\n{}--- opts\n{}\n--- leases\n{}",
        hosts_file(net),
        addn_hosts_file(net),
        opts_file(net, true),
        seed_leases(net, None)
    )
}

fn settings() -> DnsmasqSettings {
    DnsmasqSettings {
        program: "dnsmasq".into(),
        interface: "ns-d1c2b3a4-00".into(),
        lease_duration: 86400,
        dns_servers: vec![],
    }
}

fn paths() -> Paths {
    Paths::new(Path::new("/var/lib/neutrino/dhcp"), NET)
}

#[test]
fn ipv4_network() {
    insta::assert_snapshot!(render(&v4()));
}

#[test]
fn ipv4_routed_network_gets_metadata_through_its_router() {
    let mut n = v4();
    n.routed_subnets = vec!["s4".into()];
    assert!(!metadata_enabled(&n, true));
    assert!(opts_file(&n, true).contains("169.254.169.254/32,10.0.0.1,0.0.0.0/0,10.0.0.1"));
    assert!(metadata_enabled(&v4(), true) && !metadata_enabled(&v4(), false));
}

#[test]
fn null_gateway_and_host_routes() {
    let mut s = subnet("s4", 4, "10.0.0.0/24", None);
    s.host_routes = vec![
        HostRouteState { destination: "192.168.0.0/16".into(), nexthop: "10.0.0.254".into() },
        HostRouteState { destination: "172.16.0.0/12".into(), nexthop: "10.0.0.253".into() },
    ];
    s.dns_nameservers = vec!["192.0.2.53".into(), "192.0.2.54".into()];
    let mut no_routes = subnet("s5", 4, "10.1.0.0/24", None);
    no_routes.dns_nameservers = vec!["0.0.0.0".into()];
    let mut off = subnet("s6", 4, "10.2.0.0/24", Some("10.2.0.1"));
    off.enable_dhcp = false;
    let n = net(
        vec![s, no_routes, off],
        vec![
            port(DHCP_PORT, "fa:16:3e:00:00:aa", "network:dhcp", &[("s4", "10.0.0.2"), ("s5", "10.1.0.2")]),
            port("vm-1", "fa:16:3e:00:00:01", "", &[("s4", "10.0.0.5"), ("s6", "10.2.0.5")]),
        ],
    );
    insta::assert_snapshot!(render(&n));
    // Without isolated metadata there is no metadata route, the rest stays.
    let plain = opts_file(&n, false);
    assert!(!plain.contains("169.254.169.254"), "{plain}");
    assert!(plain.contains("192.168.0.0/16,10.0.0.254"), "{plain}");
}

#[test]
fn default_host_route_is_the_gateway_without_one() {
    let mut s = subnet("s4", 4, "10.0.0.0/24", None);
    s.host_routes = vec![HostRouteState { destination: "0.0.0.0/0".into(), nexthop: "10.0.0.254".into() }];
    let n = net(vec![s], vec![port(DHCP_PORT, "fa:16:3e:00:00:aa", "network:dhcp", &[("s4", "10.0.0.2")])]);
    let o = opts_file(&n, true);
    assert!(o.contains("tag:subnet-s4,option:router,10.0.0.254"), "{o}");
    assert!(o.contains("169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.254"), "{o}");
}

fn v6(mode: &str) -> DhcpNetworkState {
    let mut s = subnet("s6", 6, "2001:db8::/64", Some("2001:db8::1"));
    s.ipv6_address_mode = Some(mode.into());
    s.ipv6_ra_mode = Some(mode.into());
    let mut n = net(
        vec![subnet("s4", 4, "10.0.0.0/24", Some("10.0.0.1")), s],
        vec![
            port(
                DHCP_PORT,
                "fa:16:3e:00:00:aa",
                "network:dhcp",
                &[("s4", "10.0.0.2"), ("s6", "2001:db8::2")],
            ),
            port("vm-1", "fa:16:3e:00:00:01", "compute:nova", &[("s4", "10.0.0.5"), ("s6", "2001:db8::5")]),
        ],
    );
    n.ports[1].extra_dhcp_opts = vec![ExtraDhcpOptState {
        opt_name: "dns-server".into(),
        opt_value: "[2001:db8::53]".into(),
        ip_version: 6,
    }];
    n
}

#[test]
fn dhcpv6_stateful() {
    let n = v6("dhcpv6-stateful");
    insta::assert_snapshot!(format!(
        "{}--- argv\n{}\n",
        render(&n),
        dnsmasq_argv(&n, &paths(), &settings()).join("\n")
    ));
}

#[test]
fn dhcpv6_stateless() {
    let n = v6("dhcpv6-stateless");
    insta::assert_snapshot!(format!(
        "{}--- argv\n{}\n",
        render(&n),
        dnsmasq_argv(&n, &paths(), &settings()).join("\n")
    ));
}

#[test]
fn slaac_subnets_get_no_range_and_no_options() {
    let n = v6("slaac");
    let argv = dnsmasq_argv(&n, &paths(), &settings()).join(" ");
    assert!(!argv.contains("subnet-s6"), "{argv}");
    assert!(!opts_file(&n, true).contains("subnet-s6"));
    assert!(!hosts_file(&n).contains("2001:db8::5"));
    assert!(addn_hosts_file(&n).contains("2001:db8::5\thost-2001-db8--5.openstacklocal host-2001-db8--5"));
}

#[test]
fn extra_options() {
    let mut n = v4();
    n.ports[1].extra_dhcp_opts = vec![
        ExtraDhcpOptState { opt_name: "tftp-server".into(), opt_value: "10.0.0.20".into(), ip_version: 4 },
        ExtraDhcpOptState { opt_name: "bootfile-name".into(), opt_value: "pxelinux.0".into(), ip_version: 4 },
        ExtraDhcpOptState { opt_name: "66".into(), opt_value: "10.0.0.21".into(), ip_version: 4 },
        ExtraDhcpOptState {
            opt_name: "tag:ipxe,bootfile-name".into(),
            opt_value: "boot.ipxe".into(),
            ip_version: 4,
        },
        // No IPv6 address: not written.
        ExtraDhcpOptState {
            opt_name: "dns-server".into(),
            opt_value: "[2001:db8::53]".into(),
            ip_version: 6,
        },
    ];
    n.ports[2].extra_dhcp_opts =
        vec![ExtraDhcpOptState { opt_name: "client-id".into(), opt_value: "01:aa:bb".into(), ip_version: 4 }];
    insta::assert_snapshot!(render(&n));
}

#[test]
fn option_formats() {
    assert_eq!(format_option(4, "port-x", "router", &["10.0.0.1"]), "tag:port-x,option:router,10.0.0.1");
    assert_eq!(format_option(4, "port-x", "42", &["10.0.0.1"]), "tag:port-x,42,10.0.0.1");
    assert_eq!(format_option(6, "port-x", "23", &["[::1]"]), "tag:port-x,option6:23,[::1]");
    assert_eq!(
        format_option(4, "t", "tag:a,tag:b,mtu", &["1400\nevil"]),
        "tag:t,tag:a,tag:b,option:mtu,1400"
    );
    assert_eq!(format_option(4, "t", "router\nx", &[]), "tag:t,option:router");
}

#[test]
fn command_line() {
    let mut n = v4();
    n.subnets.push(subnet("s-big", 6, "2001:db8::/56", None));
    let mut s = settings();
    s.dns_servers = vec!["192.0.2.53".into()];
    insta::assert_snapshot!(dnsmasq_argv(&n, &paths(), &s).join("\n"));
    s.lease_duration = -1;
    let argv = dnsmasq_argv(&n, &paths(), &s);
    assert!(argv.contains(&"--dhcp-range=set:subnet-s4,10.0.0.0,static,255.255.255.0,infinite".into()));
    assert!(!argv.iter().any(|a| a.starts_with("--leasefile-ro")));
}

#[test]
fn metadata_proxy_configuration() {
    insta::assert_snapshot!(haproxy_config(
        NET,
        &paths(),
        Path::new("/var/lib/neutrino/dhcp/metadata_proxy")
    ));
}

#[test]
fn seed_leases_keep_ipv6_leases_and_the_duid() {
    let n = v6("dhcpv6-stateful");
    let existing = "duid 00:01:00:01:aa\n1700000000 1234 2001:db8::5 host-x 00:03:00:01:bb\n\
                    1700000000 99 2001:db8::77 gone 00:03:00:01:cc\n1700000000 fa:16:3e:00:00:01 10.0.0.5 x *\n";
    assert_eq!(
        seed_leases(&n, Some(existing)),
        "duid 00:01:00:01:aa\n0 fa:16:3e:00:00:aa 10.0.0.2 * *\n0 fa:16:3e:00:00:01 10.0.0.5 * *\n\
         1700000000 1234 2001:db8::5 host-x 00:03:00:01:bb\n"
    );
}

#[test]
fn stale_leases_are_the_addresses_no_port_holds_with_that_mac() {
    let before = v6("dhcpv6-stateful");
    let old_hosts = hosts_file(&before);
    let leases = "duid 00:01:aa\n1700000000 fa:16:3e:00:00:01 10.0.0.5 x *\n\
                  1700000000 777 2001:db8::5 x 00:03:bb\n1700000000 fa:16:3e:00:00:aa 10.0.0.2 x *\n";
    assert_eq!(stale(&before, &old_hosts, leases), vec![], "nothing changed");
    // The VM's port is gone.
    let mut after = before.clone();
    after.ports.truncate(1);
    let r = stale(&after, &old_hosts, leases);
    assert_eq!(
        r,
        vec![
            Release::V4 { ip: "10.0.0.5".into(), mac: "fa:16:3e:00:00:01".into(), client_id: None },
            Release::V6 {
                ip: "2001:db8::5".into(),
                client_id: "00:03:bb".into(),
                server_id: Some("00:01:aa".into()),
                iaid: "777".into()
            },
        ]
    );
    assert_eq!(
        release_argv(&r[0], "ns-x", "dhcp_release", "dhcp_release6"),
        ["dhcp_release", "ns-x", "10.0.0.5", "fa:16:3e:00:00:01"]
    );
    assert_eq!(
        release_argv(&r[1], "ns-x", "dhcp_release", "dhcp_release6").join(" "),
        "dhcp_release6 --iface ns-x --ip 2001:db8::5 --client-id 00:03:bb --server-id 00:01:aa --iaid 777"
    );
    // A new MAC: the old binding goes.
    let mut moved = before.clone();
    moved.ports[1].mac_address = "fa:16:3e:00:00:03".into();
    let r = stale(&moved, &old_hosts, leases);
    assert!(r.contains(&Release::V4 {
        ip: "10.0.0.5".into(),
        mac: "fa:16:3e:00:00:01".into(),
        client_id: None
    }));
    // No lease file: nothing to release.
    assert_eq!(stale(&after, &old_hosts, ""), vec![]);
}

#[test]
fn generators_take_any_input() {
    let mut n = v4();
    n.subnets.push(subnet("bad", 4, "not a cidr", None));
    n.subnets.push(subnet("bad6", 6, "10.0.0.0/8", None));
    n.ports.push(port("odd", "", "", &[("nowhere", "garbage"), ("bad", "::")]));
    let _ = render(&n);
    let _ = dnsmasq_argv(&n, &paths(), &settings());
    let _ = stale(&n, "garbage,,,\n,\n\n,set:x", "1 2\nduid\n a b c d e f");
}

#[test]
fn a_state_path_closed_to_other_users_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().expect("tempdir");
    let inner = t.path().join("dhcp");
    std::fs::create_dir_all(&inner).expect("mkdir");
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let e = super::check_reachable(&inner).expect_err("0700 above the state path");
    assert!(e.to_string().contains("closed to other users"), "{e}");
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    super::check_reachable(&inner).expect("open once it is 0755");
}
