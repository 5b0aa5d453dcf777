//! Snapshots of what the `l3` driver generates (its nftables batch with and without SNAT and
//! gateway, radvd's configuration, haproxy's) and the element batches of floating IP changes.

use std::path::Path;

use neutrino_model::NetworkType;
use neutrino_model::internal::{
    FloatingIpState, HostRouteState, RouterGatewayState, RouterPortState, RouterState, RouterSubnetState,
};

use super::{nat, proxy, radvd, router};

fn subnet(id: &str, ip: &str, cidr: &str, gw: &str, v: u8) -> RouterSubnetState {
    RouterSubnetState {
        subnet_id: id.into(),
        ip_address: ip.into(),
        cidr: cidr.into(),
        gateway_ip: Some(gw.into()),
        ip_version: v,
        ..Default::default()
    }
}

/// A router with a gateway, 3 subnets on 2 interfaces (one IPv6 with SLAAC), 2 floating IPs
/// and 2 extra routes.
pub fn sample() -> RouterState {
    let mut v6 = subnet("s6", "2001:db8:1::1", "2001:db8:1::/64", "2001:db8:1::1", 6);
    v6.ipv6_ra_mode = Some("slaac".into());
    v6.ipv6_address_mode = Some("slaac".into());
    v6.dns_nameservers = vec!["2001:db8::53".into()];
    RouterState {
        id: "r0000000-0000-4000-8000-000000000001".into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: Some(RouterGatewayState {
            port: RouterPortState {
                id: "g0000000-0000-4000-8000-000000000001".into(),
                network_id: "public".into(),
                mac_address: "fa:16:3e:00:00:01".into(),
                mtu: 1500,
                subnets: vec![subnet("pub", "203.0.113.5", "203.0.113.0/24", "203.0.113.1", 4)],
            },
            enable_snat: true,
            network_type: NetworkType::Flat,
            physical_network: Some("public".into()),
            segmentation_id: None,
        }),
        interfaces: vec![
            RouterPortState {
                id: "a0000000-0000-4000-8000-000000000001".into(),
                network_id: "net-a".into(),
                mac_address: "fa:16:3e:00:00:0a".into(),
                mtu: 1450,
                subnets: vec![subnet("s4", "10.0.0.1", "10.0.0.0/24", "10.0.0.1", 4), v6],
            },
            RouterPortState {
                id: "b0000000-0000-4000-8000-000000000001".into(),
                network_id: "net-b".into(),
                mac_address: "fa:16:3e:00:00:0b".into(),
                mtu: 1450,
                subnets: vec![subnet("s5", "10.0.1.1", "10.0.1.0/24", "10.0.1.1", 4)],
            },
        ],
        routes: vec![
            HostRouteState { destination: "172.16.0.0/16".into(), nexthop: "10.0.1.254".into() },
            HostRouteState { destination: "192.168.0.0/24".into(), nexthop: "10.0.0.254".into() },
        ],
        floating_ips: vec![
            FloatingIpState {
                id: "f1".into(),
                floating_ip_address: "203.0.113.10".into(),
                fixed_ip_address: "10.0.0.5".into(),
                port_id: "vm1".into(),
            },
            FloatingIpState {
                id: "f2".into(),
                floating_ip_address: "203.0.113.11".into(),
                fixed_ip_address: "10.0.1.7".into(),
                port_id: "vm2".into(),
            },
        ],
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[test]
fn ruleset_with_gateway_snat_and_floating_ips() {
    insta::assert_snapshot!(pretty(&nat::ruleset(&sample(), 9697)));
}

#[test]
fn ruleset_without_snat() {
    let mut r = sample();
    if let Some(g) = r.gateway.as_mut() {
        g.enable_snat = false;
    }
    let text = pretty(&nat::ruleset(&r, 9697));
    // Floating IPs still translate; nothing else leaves as the gateway address.
    assert!(text.contains("fip_snat") && text.contains("203.0.113.10"), "{text}");
    assert!(!text.contains("203.0.113.5"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn ruleset_without_gateway() {
    let mut r = sample();
    r.gateway = None;
    let text = pretty(&nat::ruleset(&r, 9697));
    // Only the metadata redirect and its guard: no gateway, no floating IP, no SNAT.
    assert!(
        text.contains("redirect") && !text.contains("snat\": {") && !text.contains("203.0.113"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn a_floating_ip_change_is_map_elements_only() {
    let old = sample();
    let mut moved = sample();
    moved.floating_ips[0].fixed_ip_address = "10.0.0.6".into();
    moved.floating_ips.pop();
    let (a, b) = (nat::ruleset(&old, 9697), nat::ruleset(&moved, 9697));
    assert_ne!(a, b);
    assert_eq!(nat::structure(&a), nat::structure(&b), "the rules do not depend on the floating IPs");
    assert_eq!(nat::recorded_pairs(&a), nat::fip_pairs(&old));
    let batch = nat::element_batch(&nat::fip_pairs(&old), &nat::fip_pairs(&moved));
    insta::assert_snapshot!(pretty(&batch.unwrap_or_default()));
    assert_eq!(nat::element_batch(&nat::fip_pairs(&old), &nat::fip_pairs(&old)), None);
    // Any other change is a change of the rules.
    let mut other = sample();
    if let Some(g) = other.gateway.as_mut() {
        g.port.subnets[0].ip_address = "203.0.113.6".into();
    }
    assert_ne!(nat::structure(&a), nat::structure(&nat::ruleset(&other, 9697)));
}

#[test]
fn devices_and_routes() {
    let r = sample();
    let devices = router::devices(&r);
    let names: Vec<(&str, &str)> = devices.iter().map(|d| (d.inner.as_str(), d.outer.as_str())).collect();
    assert_eq!(
        names,
        [
            ("qr-a0000000-00", "tr-a0000000-00"),
            ("qr-b0000000-00", "tr-b0000000-00"),
            ("qg-g0000000-00", "tg-g0000000-00")
        ]
    );
    let addrs = |i: usize| devices[i].addresses.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(addrs(0), ["10.0.0.1/24", "2001:db8:1::1/64"]);
    // The gateway holds the floating addresses as /32s.
    assert_eq!(addrs(2), ["203.0.113.5/24", "203.0.113.10/32", "203.0.113.11/32"]);
    let routes: Vec<String> = router::wanted_routes(&r).iter().map(ToString::to_string).collect();
    assert_eq!(
        routes,
        [
            "default via 203.0.113.1 dev qg-g0000000-00",
            "172.16.0.0/16 via 10.0.1.254",
            "192.168.0.0/24 via 10.0.0.254"
        ]
    );
}

#[test]
fn radvd_configuration() {
    let mut r = sample();
    let mut stateful = subnet("s7", "2001:db8:2::1", "2001:db8:2::/64", "2001:db8:2::1", 6);
    stateful.ipv6_ra_mode = Some("dhcpv6-stateful".into());
    r.interfaces[1].subnets.push(stateful);
    insta::assert_snapshot!(radvd::radvd_config(&r).unwrap_or_default());
    // No subnet with an RA mode: no radvd.
    r.interfaces.iter_mut().for_each(|p| p.subnets.retain(|s| s.ip_version == 4));
    assert_eq!(radvd::radvd_config(&r), None);
}

#[test]
fn haproxy_configuration() {
    let conf = proxy::haproxy_config(
        &sample().id,
        9697,
        Path::new("/var/lib/neutrino/l3/r1/haproxy.pid"),
        Path::new("/var/lib/neutrino/dhcp/metadata_proxy"),
    );
    insta::assert_snapshot!(conf);
}
