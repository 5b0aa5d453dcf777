//! What the metadata service tests share: two networks with the same IPv4 prefix (a dual-stack
//! one served by DHCP, a static one), the service on a unix socket in a temporary directory,
//! and a raw HTTP/1.1 client (so that tests can send what no proper client would).

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use neutrino_agent::metadata::{Instances, MetadataConfig, MetadataServer, bind, spawn};
use neutrino_model::internal::{
    DhcpNetworkState, DhcpPortState, DhcpSubnetState, FixedIpState, HostRouteState,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub const NET_A: &str = "0a000000-0000-4000-8000-00000000000a";
pub const NET_B: &str = "0b000000-0000-4000-8000-00000000000b";
pub const VM1: &str = "6f1e8d3a-0001-4000-8000-000000000001";
pub const VM2: &str = "6f1e8d3a-0002-4000-8000-000000000002";
pub const VM3: &str = "6f1e8d3a-0003-4000-8000-000000000003";

fn ip(subnet: &str, addr: &str) -> FixedIpState {
    FixedIpState { subnet_id: subnet.into(), ip_address: addr.into() }
}

fn route(destination: &str, nexthop: &str) -> HostRouteState {
    HostRouteState { destination: destination.into(), nexthop: nexthop.into() }
}

fn port(id: &str, device: &str, mac: &str, ips: Vec<FixedIpState>) -> DhcpPortState {
    DhcpPortState {
        id: id.into(),
        project_id: "proj-a".into(),
        mac_address: mac.into(),
        fixed_ips: ips,
        admin_state_up: true,
        device_owner: "compute:nova".into(),
        device_id: device.into(),
        ..Default::default()
    }
}

/// Network A: DHCP on 10.0.0.0/24 and DHCPv6 (stateful) on 2001:db8:1::/64, each with DNS
/// servers and a host route; its DHCP port; vm1 (no names) and vm2 (`dns_name` `web`).
pub fn network_a() -> DhcpNetworkState {
    let dhcp = DhcpPortState {
        device_owner: "network:dhcp".into(),
        ..port(
            "port-dhcp-a",
            "dhcp-host1",
            "fa:16:3e:00:00:02",
            vec![ip("sub-a4", "10.0.0.2"), ip("sub-a6", "2001:db8:1::2")],
        )
    };
    let vm1 = port(
        "11111111-aaaa-4bbb-8ccc-000000000005",
        VM1,
        "fa:16:3e:00:00:05",
        vec![ip("sub-a4", "10.0.0.5"), ip("sub-a6", "2001:db8:1::5")],
    );
    let vm2 = DhcpPortState {
        name: "web-port".into(),
        dns_name: "web".into(),
        project_id: "proj-b".into(),
        ..port(
            "22222222-aaaa-4bbb-8ccc-000000000006",
            VM2,
            "fa:16:3e:00:00:06",
            vec![ip("sub-a4", "10.0.0.6"), ip("sub-a6", "2001:db8:1::6")],
        )
    };
    DhcpNetworkState {
        id: NET_A.into(),
        project_id: "proj-a".into(),
        mtu: 1450,
        admin_state_up: true,
        dhcp_port: Some("port-dhcp-a".into()),
        subnets: vec![
            DhcpSubnetState {
                id: "sub-a4".into(),
                ip_version: 4,
                cidr: "10.0.0.0/24".into(),
                gateway_ip: Some("10.0.0.1".into()),
                enable_dhcp: true,
                dns_nameservers: vec!["192.0.2.53".into(), "192.0.2.54".into()],
                host_routes: vec![route("172.16.0.0/16", "10.0.0.254")],
                ..Default::default()
            },
            DhcpSubnetState {
                id: "sub-a6".into(),
                ip_version: 6,
                cidr: "2001:db8:1::/64".into(),
                gateway_ip: Some("2001:db8:1::1".into()),
                enable_dhcp: true,
                dns_nameservers: vec!["2001:db8::53".into()],
                host_routes: vec![route("2001:db8:2::/64", "2001:db8:1::fe")],
                ipv6_ra_mode: Some("dhcpv6-stateful".into()),
                ipv6_address_mode: Some("dhcpv6-stateful".into()),
            },
        ],
        ports: vec![dhcp, vm1, vm2],
        routed_subnets: vec![],
        dns_domain: "openstacklocal.".into(),
    }
}

/// Network B: the same 10.0.0.0/24, static (DHCP only on its SLAAC IPv6 subnet, no DHCP port
/// yet); vm3 holds 10.0.0.5 there too.
pub fn network_b() -> DhcpNetworkState {
    let vm3 = DhcpPortState {
        project_id: "proj-c".into(),
        ..port(
            "33333333-aaaa-4bbb-8ccc-000000000005",
            VM3,
            "fa:16:3e:00:00:35",
            vec![ip("sub-b4", "10.0.0.5"), ip("sub-b6", "2001:db8:9:0:f816:3eff:fe00:35")],
        )
    };
    DhcpNetworkState {
        id: NET_B.into(),
        project_id: "proj-c".into(),
        mtu: 1500,
        admin_state_up: true,
        dhcp_port: None,
        subnets: vec![
            DhcpSubnetState {
                id: "sub-b4".into(),
                ip_version: 4,
                cidr: "10.0.0.0/24".into(),
                gateway_ip: Some("10.0.0.1".into()),
                enable_dhcp: false,
                dns_nameservers: vec!["192.0.2.53".into()],
                host_routes: vec![route("192.168.0.0/24", "10.0.0.254")],
                ..Default::default()
            },
            DhcpSubnetState {
                id: "sub-b6".into(),
                ip_version: 6,
                cidr: "2001:db8:9::/64".into(),
                gateway_ip: None,
                enable_dhcp: true,
                ipv6_ra_mode: Some("slaac".into()),
                ipv6_address_mode: Some("slaac".into()),
                ..Default::default()
            },
        ],
        ports: vec![vm3],
        routed_subnets: vec![],
        dns_domain: String::new(),
    }
}

pub fn instances() -> Instances {
    let t = Instances::default();
    t.replace_all([network_a(), network_b()]);
    t
}

/// The service on a socket in a fresh temporary directory.
pub struct Service {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub server: MetadataServer,
    /// The table the service reads, as the `dhcp` driver holds it.
    pub instances: Instances,
}

pub fn start(cfg: MetadataConfig) -> Service {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("metadata_proxy");
    let listener = bind(&socket).expect("bind the socket");
    let instances = instances();
    let server = spawn(listener, instances.clone(), cfg).expect("start the service");
    Service { dir, socket, server, instances }
}

/// An answer as read off the socket.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends `raw` and reads until the service closes; `None` if it closed without an answer.
pub async fn raw(socket: &Path, raw: &[u8]) -> Option<Answer> {
    let mut s = UnixStream::connect(socket).await.expect("connect to the service");
    s.write_all(raw).await.expect("send");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the service answers in time")
        .ok()?;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Answer { status, head, body: out[split + 4..].to_vec() })
}

/// `GET path` as haproxy sends it: the network's id and the VM's address appended last.
pub async fn get(socket: &Path, path: &str, network: &str, forwarded_for: &str) -> Answer {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nX-Neutron-Network-ID: {network}\r\nX-Forwarded-For: {forwarded_for}\r\n\r\n"
    );
    raw(socket, req.as_bytes()).await.expect("an answer")
}
