//! What the `l3` driver's tests share: a router of its section — a gateway on 203.0.113.0/24,
//! interface A on 10.0.0.0/24 (and 2001:db8:1::/64 with SLAAC), interface B on 10.0.1.0/24,
//! two floating IPs and two extra routes — and a floating IP builder.

use neutrino_model::NetworkType;
use neutrino_model::internal::{
    FloatingIpState, HostRouteState, RouterGatewayState, RouterPortState, RouterState, RouterSubnetState,
};

pub const ROUTER: &str = "r0000000-0000-4000-8000-000000000001";
pub const GW_PORT: &str = "g0000000-0000-4000-8000-000000000001";
pub const PORT_A: &str = "a0000000-0000-4000-8000-000000000001";
pub const PORT_B: &str = "b0000000-0000-4000-8000-000000000001";
pub const QG: &str = "qg-g0000000-00";
pub const TG: &str = "tg-g0000000-00";
pub const QR_A: &str = "qr-a0000000-00";
pub const TR_A: &str = "tr-a0000000-00";
pub const QR_B: &str = "qr-b0000000-00";
pub const TR_B: &str = "tr-b0000000-00";

pub fn subnet(id: &str, ip: &str, cidr: &str, gw: &str, v: u8) -> RouterSubnetState {
    RouterSubnetState {
        subnet_id: id.into(),
        ip_address: ip.into(),
        cidr: cidr.into(),
        gateway_ip: Some(gw.into()),
        ip_version: v,
        ..Default::default()
    }
}

pub fn fip(id: &str, floating: &str, fixed: &str) -> FloatingIpState {
    FloatingIpState {
        id: id.into(),
        floating_ip_address: floating.into(),
        fixed_ip_address: fixed.into(),
        port_id: format!("port-of-{fixed}"),
    }
}

fn port(id: &str, network: &str, mac: &str, mtu: i64, subnets: Vec<RouterSubnetState>) -> RouterPortState {
    RouterPortState { id: id.into(), network_id: network.into(), mac_address: mac.into(), mtu, subnets }
}

/// The gateway port at `address` on 203.0.113.0/24 (gateway 203.0.113.1).
pub fn gateway(address: &str, enable_snat: bool) -> RouterGatewayState {
    RouterGatewayState {
        port: port(
            GW_PORT,
            "public",
            "fa:16:3e:00:00:01",
            1500,
            vec![subnet("pub", address, "203.0.113.0/24", "203.0.113.1", 4)],
        ),
        enable_snat,
        network_type: NetworkType::Flat,
        physical_network: Some("public".into()),
        segmentation_id: None,
    }
}

/// The router with both interfaces, the gateway at 203.0.113.5, floating IPs f1
/// (203.0.113.10 → 10.0.0.5) and f2 (203.0.113.11 → 10.0.1.7), and the extra routes.
pub fn router() -> RouterState {
    let mut v6 = subnet("s6", "2001:db8:1::1", "2001:db8:1::/64", "2001:db8:1::1", 6);
    v6.ipv6_ra_mode = Some("slaac".into());
    v6.ipv6_address_mode = Some("slaac".into());
    RouterState {
        id: ROUTER.into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: Some(gateway("203.0.113.5", true)),
        interfaces: vec![
            port(
                PORT_A,
                "net-a",
                "fa:16:3e:00:00:0a",
                1450,
                vec![subnet("s4", "10.0.0.1", "10.0.0.0/24", "10.0.0.1", 4), v6],
            ),
            port(
                PORT_B,
                "net-b",
                "fa:16:3e:00:00:0b",
                1450,
                vec![subnet("s5", "10.0.1.1", "10.0.1.0/24", "10.0.1.1", 4)],
            ),
        ],
        routes: vec![
            HostRouteState { destination: "172.16.0.0/16".into(), nexthop: "10.0.1.254".into() },
            HostRouteState { destination: "192.168.0.0/24".into(), nexthop: "10.0.0.254".into() },
        ],
        floating_ips: vec![fip("f1", "203.0.113.10", "10.0.0.5"), fip("f2", "203.0.113.11", "10.0.1.7")],
    }
}
