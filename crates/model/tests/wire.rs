//! The JSON wire forms of agents and of the internal API, compared with fixtures recorded from
//! the untyped implementation (`configurations` built with `json!`, host state and deltas
//! without sections): typing them and splitting them into driver sections changed no byte an
//! agent, a server of the previous build or `openstack network agent show` sees.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::collections::BTreeMap;

use neutrino_model::NetworkType;
use neutrino_model::agent::{Agent, L2Configurations, OVS_AGENT_TYPE, Role, agent_timestamp};
use neutrino_model::internal::{
    AddressPairState, Delta, DhcpDelta, DhcpNetworkState, DhcpPortState, DhcpState, DhcpSubnetState,
    ExtraDhcpOptState, FirewallState, FixedIpState, FloatingIpState, HostRouteState, HostState, L2Delta,
    L2State, L3Delta, L3State, NetworkState, PortState, Report, RouterGatewayState, RouterPortState,
    RouterState, RouterSubnetState, RuleState, SecurityGroupState, StatusReport,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture is JSON")
}

/// `value` serializes to the fixture, and the fixture reads back to `value`.
fn same_wire<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T, name: &str) {
    let want = fixture(name);
    assert_eq!(serde_json::to_value(value).unwrap(), want, "{name}: serialized form changed");
    let back: T = serde_json::from_value(want).expect("fixture reads back");
    assert_eq!(&back, value, "{name}: read back differently");
}

/// What the agent of the tests reports: VXLAN from 172.31.0.1, physnet1 on br-eth1, netdev.
fn l2_conf() -> L2Configurations {
    L2Configurations {
        bridge_mappings: BTreeMap::from([("physnet1".to_string(), "br-eth1".to_string())]),
        tunnel_types: vec![NetworkType::Vxlan],
        tunneling_ip: "172.31.0.1".into(),
        integration_bridge: "br-int".into(),
        datapath_type: "netdev".into(),
        devices: 1,
        l2_population: false,
        arp_responder_enabled: false,
    }
}

fn port() -> PortState {
    PortState {
        id: "p1".into(),
        network_id: "net-1".into(),
        mac_address: "fa:16:3e:00:0d:c1".into(),
        fixed_ips: vec![FixedIpState { subnet_id: "s1".into(), ip_address: "10.0.0.5".into() }],
        admin_state_up: true,
        device_owner: "compute:nova".into(),
        device_id: "vm-1".into(),
        port_security_enabled: true,
        security_groups: vec![],
        allowed_address_pairs: vec![],
    }
}

fn net(id: &str, t: NetworkType, physnet: Option<&str>, seg: Option<i64>, mtu: i64) -> NetworkState {
    NetworkState {
        id: id.into(),
        network_type: t,
        physical_network: physnet.map(String::from),
        segmentation_id: seg,
        mtu,
        admin_state_up: true,
    }
}

fn peers(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    list.iter().map(|(n, ips)| (n.to_string(), ips.iter().map(|s| s.to_string()).collect())).collect()
}

#[test]
fn l2_configurations_keep_upstreams_keys() {
    same_wire(&l2_conf(), "l2_configurations");
    assert_eq!(L2Configurations::from_value(&fixture("l2_configurations")), Some(l2_conf()));
    // Missing keys read as upstream's defaults; a foreign shape is not read at all.
    let partial = L2Configurations::from_value(&serde_json::json!({"tunneling_ip": "10.0.0.1"})).unwrap();
    assert_eq!((partial.integration_bridge.as_str(), partial.datapath_type.as_str()), ("br-int", "system"));
    assert_eq!(partial.tunnel_endpoint(), Some("10.0.0.1"));
    assert_eq!(L2Configurations::default().tunnel_endpoint(), None);
    assert_eq!(L2Configurations::from_value(&serde_json::json!({"bridge_mappings": ["physnet1"]})), None);
}

#[test]
fn agents_render_as_before() {
    let a = Agent {
        id: "a1".into(),
        agent_type: OVS_AGENT_TYPE.into(),
        binary: "neutron-openvswitch-agent".into(),
        host: "host-a".into(),
        topic: "N/A".into(),
        admin_state_up: true,
        description: String::new(),
        availability_zone: None,
        configurations: l2_conf().to_value(),
        heartbeat_at: 1_800_000_000,
        heartbeat_timestamp: agent_timestamp(1_800_000_000),
        started_at: agent_timestamp(1_799_999_000),
        created_at: agent_timestamp(1_799_990_000),
        alive: true,
    };
    assert_eq!(Value::Object(a.to_json()), fixture("agent"));
    assert_eq!(a.l2_configurations(), Some(l2_conf()));
    let other = Agent { agent_type: "DHCP agent".into(), ..a };
    assert_eq!(other.l2_configurations(), None, "only an Open vSwitch agent has L2 configurations");
}

#[test]
fn heartbeats_and_status_reports_are_unchanged() {
    let r = Report::new("host-a", Role::L2, l2_conf().to_value(), true);
    same_wire(&r, "report");
    same_wire(
        &StatusReport {
            host: "host-a".into(),
            up: vec!["p1".into()],
            down: vec!["p2".into()],
            ..Default::default()
        },
        "status_report",
    );
}

fn firewall() -> FirewallState {
    FirewallState {
        groups: vec![SecurityGroupState {
            id: "sg-1".into(),
            stateful: true,
            rules: vec![RuleState {
                id: "r1".into(),
                direction: "ingress".into(),
                ethertype: "IPv4".into(),
                protocol: Some(6),
                port_range_min: Some(22),
                port_range_max: Some(22),
                remote_ip_prefix: None,
                remote_group_id: Some("sg-1".into()),
            }],
        }],
        members: BTreeMap::from([(
            "sg-1".to_string(),
            vec!["10.0.0.5".to_string(), "10.0.0.64/26".to_string()],
        )]),
    }
}

fn secured_port() -> PortState {
    PortState {
        security_groups: vec!["sg-1".into()],
        allowed_address_pairs: vec![AddressPairState {
            ip_address: "10.0.0.64/26".into(),
            mac_address: "fa:16:3e:00:0d:c1".into(),
        }],
        ..port()
    }
}

#[test]
fn host_state_and_delta_keep_the_unsectioned_form() {
    let l2 = L2State {
        ports: vec![port()],
        networks: vec![
            net("net-1", NetworkType::Vxlan, None, Some(100), 1450),
            net("net-2", NetworkType::Flat, Some("physnet1"), None, 1500),
        ],
        peers: peers(&[("net-1", &["172.31.0.2"])]),
    };
    let l2_delta = L2Delta {
        ports: vec![port()],
        removed_ports: vec!["p9".into()],
        networks: vec![net("net-3", NetworkType::Vlan, Some("physnet1"), Some(101), 1500)],
        peers: peers(&[("net-1", &["172.31.0.2", "172.31.0.3"])]),
    };
    // What a server without the firewall section sent still reads, with that section empty.
    let old: HostState = serde_json::from_value(fixture("host_state")).unwrap();
    assert_eq!(old, HostState { revision: 7, l2: l2.clone(), ..Default::default() });
    let old: Delta = serde_json::from_value(fixture("delta")).unwrap();
    assert_eq!(
        old,
        Delta { revision: 9, resync: false, l2: l2_delta.clone(), firewall: None, dhcp: None, l3: None }
    );
    // The l2 section stays flattened; the firewall is a named section.
    let mut l2 = l2;
    l2.ports = vec![secured_port()];
    same_wire(
        &HostState { revision: 7, l2, firewall: firewall(), ..Default::default() },
        "host_state_firewall",
    );
    let mut l2_delta = l2_delta;
    l2_delta.ports = vec![secured_port()];
    same_wire(
        &Delta { revision: 9, resync: false, l2: l2_delta, firewall: Some(firewall()), dhcp: None, l3: None },
        "delta_firewall",
    );
}

#[test]
fn roles_are_upstreams_agents() {
    let rows: Vec<(&str, &str, &str)> =
        Role::ALL.iter().map(|r| (r.as_str(), r.binary(), r.agent_type())).collect();
    assert_eq!(
        rows,
        vec![
            ("l2", "neutron-openvswitch-agent", "Open vSwitch agent"),
            ("l3", "neutron-l3-agent", "L3 agent"),
            ("dhcp", "neutron-dhcp-agent", "DHCP agent"),
        ]
    );
    for r in Role::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), Value::String(r.as_str().into()));
    }
    assert!(serde_json::from_value::<Role>(Value::String("l4".into())).is_err());
}

fn dhcp_network() -> DhcpNetworkState {
    DhcpNetworkState {
        id: "net-1".into(),
        project_id: "proj".into(),
        mtu: 1450,
        admin_state_up: true,
        dhcp_port: Some("dp".into()),
        subnets: vec![DhcpSubnetState {
            id: "sub-1".into(),
            ip_version: 4,
            cidr: "10.0.0.0/24".into(),
            gateway_ip: Some("10.0.0.1".into()),
            enable_dhcp: true,
            dns_nameservers: vec!["10.0.0.53".into()],
            host_routes: vec![HostRouteState {
                destination: "10.9.0.0/16".into(),
                nexthop: "10.0.0.9".into(),
            }],
            ipv6_ra_mode: None,
            ipv6_address_mode: None,
        }],
        ports: vec![DhcpPortState {
            id: "p1".into(),
            project_id: "proj".into(),
            name: "vm1".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            fixed_ips: vec![FixedIpState { subnet_id: "sub-1".into(), ip_address: "10.0.0.5".into() }],
            admin_state_up: true,
            device_owner: "compute:nova".into(),
            device_id: "vm-1".into(),
            dns_name: String::new(),
            extra_dhcp_opts: vec![ExtraDhcpOptState {
                opt_name: "bootfile-name".into(),
                opt_value: "pxelinux.0".into(),
                ip_version: 4,
            }],
        }],
        routed_subnets: vec![],
        dns_domain: "openstacklocal".into(),
    }
}

#[test]
fn the_dhcp_section_is_named_and_optional() {
    let dhcp = DhcpState { networks: vec![dhcp_network()] };
    same_wire(&HostState { revision: 7, dhcp, ..Default::default() }, "host_state_dhcp");
    let delta = DhcpDelta { networks: vec![dhcp_network()], removed_networks: vec!["net-2".into()] };
    same_wire(&Delta { revision: 9, dhcp: Some(delta), ..Default::default() }, "delta_dhcp");
}

fn router() -> RouterState {
    let subnet = |id: &str, ip: &str, cidr: &str, gw: &str| RouterSubnetState {
        subnet_id: id.into(),
        ip_address: ip.into(),
        cidr: cidr.into(),
        gateway_ip: Some(gw.into()),
        ip_version: 4,
        ipv6_ra_mode: None,
        ipv6_address_mode: None,
        dns_nameservers: vec![],
    };
    let port = |id: &str, net: &str, mac: &str, mtu: i64, s: RouterSubnetState| RouterPortState {
        id: id.into(),
        network_id: net.into(),
        mac_address: mac.into(),
        mtu,
        subnets: vec![s],
    };
    RouterState {
        id: "r1".into(),
        project_id: "proj-1".into(),
        admin_state_up: true,
        gateway: Some(RouterGatewayState {
            port: port(
                "gw-port",
                "ext",
                "fa:16:3e:00:00:0e",
                1500,
                subnet("ext-sub", "203.0.113.2", "203.0.113.0/24", "203.0.113.1"),
            ),
            enable_snat: true,
            network_type: NetworkType::Flat,
            physical_network: Some("public".into()),
            segmentation_id: None,
        }),
        interfaces: vec![port(
            "qr-port",
            "net-1",
            "fa:16:3e:00:00:01",
            1450,
            subnet("s1", "10.0.0.1", "10.0.0.0/24", "10.0.0.1"),
        )],
        routes: vec![HostRouteState { destination: "10.9.0.0/16".into(), nexthop: "10.0.0.9".into() }],
        floating_ips: vec![FloatingIpState {
            id: "fip-1".into(),
            floating_ip_address: "203.0.113.10".into(),
            fixed_ip_address: "10.0.0.5".into(),
            port_id: "p1".into(),
        }],
    }
}

#[test]
fn the_l3_section_is_named_and_optional() {
    same_wire(
        &HostState { revision: 7, l3: L3State { routers: vec![router()] }, ..Default::default() },
        "host_state_l3",
    );
    let delta = L3Delta { routers: vec![router()], removed_routers: vec!["r2".into()] };
    same_wire(&Delta { revision: 9, l3: Some(delta), ..Default::default() }, "delta_l3");
    // A floating IP status travels with the port status; without one the report is as before.
    let report = StatusReport {
        host: "h1".into(),
        floatingips: BTreeMap::from([("fip-1".to_string(), "ACTIVE".to_string())]),
        ..Default::default()
    };
    let wire = serde_json::to_value(&report).unwrap();
    assert_eq!(wire["floatingips"]["fip-1"], "ACTIVE");
    assert_eq!(serde_json::from_value::<StatusReport>(wire).unwrap(), report);
    let plain = serde_json::to_value(StatusReport { host: "h1".into(), ..Default::default() }).unwrap();
    assert!(plain.get("floatingips").is_none(), "{plain}");
}
