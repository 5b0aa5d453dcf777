//! The metadata service without Nova, over its unix socket: what a VM reads (Nova's paths and
//! shapes), that each caller reads its own data and never another VM's, that requests without
//! haproxy's headers are refused, that garbage does not hurt the service, and the socket's
//! binding. Every refusal is paired with an accepted request on the same path.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod metadata_common;

use std::os::unix::fs::PermissionsExt;

use metadata_common::*;
use neutrino_agent::metadata::{MetadataConfig, bind};

const MD: &str = "/openstack/latest/meta_data.json";

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON")
}

#[tokio::test]
async fn a_dual_stack_port_reads_novas_paths_and_shapes() {
    let s = start(MetadataConfig::default());
    let (sock, net, vm1) = (&s.socket, NET_A, "10.0.0.5");

    let versions = get(sock, "/openstack", net, vm1).await;
    assert_eq!(versions.status, 200);
    assert_eq!(
        versions.text(),
        "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n2017-02-22\n2018-08-27\n\
         2020-10-14\n2025-04-04\nlatest"
    );
    assert_eq!(get(sock, "/openstack/latest", net, vm1).await.text(), "meta_data.json\nnetwork_data.json");
    assert_eq!(get(sock, "/openstack/2013-10-17/", net, vm1).await.text(), "meta_data.json");

    let md = get(sock, MD, net, vm1).await;
    assert_eq!(md.status, 200);
    assert_eq!(md.header("content-type").as_deref(), Some("application/json"));
    insta::assert_snapshot!("vm1_meta_data", pretty(&md.json()));
    // A dated version has that version's keys: project_id came with Liberty.
    let folsom = get(sock, "/openstack/2012-08-10/meta_data.json", net, vm1).await.json();
    assert_eq!(folsom["uuid"], VM1);
    assert!(folsom.get("project_id").is_none(), "{folsom}");
    assert_eq!(
        get(sock, "/openstack/2015-10-15/meta_data.json", net, vm1).await.json()["project_id"],
        "proj-a"
    );

    let nd = get(sock, "/openstack/latest/network_data.json", net, vm1).await;
    assert_eq!(nd.status, 200);
    insta::assert_snapshot!("vm1_network_data", pretty(&nd.json()));
    // The same port asking over IPv6 reads the same documents.
    let over_v6 = get(sock, "/openstack/latest/network_data.json", net, "2001:db8:1::5").await;
    assert_eq!(over_v6.body, nd.body);
    // Answers are byte for byte the same each time.
    assert_eq!(get(sock, MD, net, vm1).await.body, md.body);

    // The static network: addresses, netmasks and routes in full, the MTU on the link.
    let static_nd = get(sock, "/openstack/latest/network_data.json", NET_B, "10.0.0.5").await;
    insta::assert_snapshot!("vm3_network_data", pretty(&static_nd.json()));

    // The EC2 tree.
    assert_eq!(get(sock, "/", net, vm1).await.text().lines().last(), Some("latest"));
    assert_eq!(get(sock, "/latest", net, vm1).await.text(), "meta-data/");
    assert_eq!(
        get(sock, "/latest/meta-data/", net, vm1).await.text(),
        "ami-launch-index\nhostname\ninstance-id\nlocal-hostname\nlocal-ipv4"
    );
    assert_eq!(get(sock, "/2009-04-04/meta-data/instance-id", net, vm1).await.text(), VM1);
    assert_eq!(get(sock, "/latest/meta-data/local-ipv4", net, vm1).await.text(), "10.0.0.5");
    assert_eq!(
        get(sock, "/ec2/latest/meta-data/hostname", net, vm1).await.text(),
        "host-10-0-0-5.openstacklocal"
    );
    assert_eq!(get(sock, "/latest/meta-data/hostname", net, "10.0.0.6").await.text(), "web.openstacklocal");

    // What Neutrino does not know is not found; so is what Nova does not have.
    for path in [
        "/openstack/latest/user_data",
        "/openstack/latest/vendor_data.json",
        "/openstack/latest/password",
        "/openstack/2099-01-01/meta_data.json",
        "/openstack/latest/meta_data.json/uuid",
        "/latest/meta-data/public-keys/",
        "/latest/meta-data/nothing",
        "/1999-01-01/meta-data/",
        "/nothing",
    ] {
        let a = get(sock, path, net, vm1).await;
        assert_eq!(a.status, 404, "{path}: {}", a.text());
    }
    // Path segments are normalised as Nova does; the query is not part of the path.
    assert_eq!(get(sock, "//openstack/./latest/../latest/meta_data.json?x=1", net, vm1).await.body, md.body);
    s.server.stop().await;
}

#[tokio::test]
async fn each_caller_reads_its_own_data_and_never_another_vms() {
    let s = start(MetadataConfig::default());
    let sock = &s.socket;
    let uuid = |a: Answer| (a.status, a.json()["uuid"].as_str().map(str::to_string));
    let own = |vm: &str| (200, Some(vm.to_string()));

    assert_eq!(uuid(get(sock, MD, NET_A, "10.0.0.5").await), own(VM1));
    assert_eq!(uuid(get(sock, MD, NET_A, "10.0.0.6").await), own(VM2));
    // The same address on another network is that network's VM.
    assert_eq!(uuid(get(sock, MD, NET_B, "10.0.0.5").await), own(VM3));
    let vm3 = get(sock, MD, NET_B, "10.0.0.5").await.json();
    assert_eq!(
        (vm3["project_id"].as_str(), vm3["hostname"].as_str()),
        (Some("proj-c"), Some("host-10-0-0-5"))
    );

    // Addresses nobody holds on that network, unknown networks: 404, no data.
    for (net, addr) in [
        (NET_B, "10.0.0.6"),
        (NET_B, "2001:db8:1::5"),
        (NET_A, "10.0.0.99"),
        (NET_A, "2001:db8:9:0:f816:3eff:fe00:35"),
        ("0c000000-0000-4000-8000-00000000000c", "10.0.0.5"),
    ] {
        let a = get(sock, MD, net, addr).await;
        assert_eq!(a.status, 404, "{net} {addr}: {}", a.text());
        assert!(!a.text().contains("6f1e8d3a"), "{}", a.text());
    }
    // The DHCP port is no instance (its neighbour is).
    assert_eq!(get(sock, MD, NET_A, "10.0.0.2").await.status, 404);
    assert_eq!(get(sock, MD, NET_A, "2001:db8:1::2").await.status, 404);
    assert_eq!(uuid(get(sock, MD, NET_A, "2001:db8:1::6").await), own(VM2));

    // An address a VM puts in its own X-Forwarded-For does not count: haproxy's is the last.
    let spoofed = "GET /openstack/latest/meta_data.json HTTP/1.1\r\nX-Forwarded-For: 10.0.0.6\r\n\
                   X-Neutron-Network-ID: 0a000000-0000-4000-8000-00000000000a\r\nX-Forwarded-For: 10.0.0.5\r\n\r\n";
    assert_eq!(uuid(raw(sock, spoofed.as_bytes()).await.expect("an answer")), own(VM1));
    let joined = get(sock, MD, NET_A, "10.0.0.6, 10.0.0.5").await;
    assert_eq!(uuid(joined), own(VM1));

    // Link-local IPv6 callers are found by the MAC the address encodes, on that network only.
    assert_eq!(uuid(get(sock, MD, NET_A, "fe80::f816:3eff:fe00:5").await), own(VM1));
    assert_eq!(uuid(get(sock, MD, NET_B, "fe80::f816:3eff:fe00:35").await), own(VM3));
    assert_eq!(get(sock, MD, NET_B, "fe80::f816:3eff:fe00:5").await.status, 404);
    assert_eq!(get(sock, MD, NET_A, "fe80::5").await.status, 404);
    // IPv4-mapped addresses are the IPv4 ones.
    assert_eq!(uuid(get(sock, MD, NET_A, "::ffff:10.0.0.5").await), own(VM1));
    s.server.stop().await;
}

#[tokio::test]
async fn callers_follow_the_table_the_dhcp_driver_keeps() {
    let s = start(MetadataConfig::default());
    let sock = &s.socket;
    assert_eq!(get(sock, MD, NET_A, "10.0.0.7").await.status, 404);
    // A VM that came: answered at once, with its data.
    let mut a = network_a();
    let mut vm4 = a.ports[1].clone();
    vm4.id = "44444444-aaaa-4bbb-8ccc-000000000007".into();
    vm4.device_id = "6f1e8d3a-0004-4000-8000-000000000004".into();
    vm4.mac_address = "fa:16:3e:00:00:07".into();
    vm4.fixed_ips[0].ip_address = "10.0.0.7".into();
    vm4.fixed_ips.truncate(1);
    a.ports.push(vm4);
    s.instances.set(a);
    assert_eq!(get(sock, MD, NET_A, "10.0.0.7").await.json()["uuid"], "6f1e8d3a-0004-4000-8000-000000000004");
    assert_eq!(get(sock, MD, NET_A, "10.0.0.5").await.json()["uuid"], VM1);
    // A network this host no longer serves: nobody on it is answered; the other still is.
    s.instances.remove(NET_A);
    assert_eq!(get(sock, MD, NET_A, "10.0.0.5").await.status, 404);
    assert_eq!(get(sock, MD, NET_A, "10.0.0.7").await.status, 404);
    assert_eq!(get(sock, MD, NET_B, "10.0.0.5").await.json()["uuid"], VM3);
    s.server.stop().await;
}

#[tokio::test]
async fn requests_without_the_proxy_headers_are_refused() {
    let s = start(MetadataConfig::default());
    let sock = &s.socket;
    let req = |headers: &str| format!("GET {MD} HTTP/1.1\r\nHost: 169.254.169.254\r\n{headers}\r\n");
    let net = "X-Neutron-Network-ID: 0a000000-0000-4000-8000-00000000000a\r\n";
    let xff = "X-Forwarded-For: 10.0.0.5\r\n";

    let ok = raw(sock, req(&format!("{net}{xff}")).as_bytes()).await.expect("an answer");
    assert_eq!((ok.status, ok.json()["uuid"].as_str()), (200, Some(VM1)));
    for (why, headers) in [
        ("no headers", String::new()),
        ("no network", xff.to_string()),
        ("no address", net.to_string()),
        ("two networks", format!("{net}X-Neutron-Network-ID: {NET_B}\r\n{xff}")),
        ("an empty network", format!("X-Neutron-Network-ID: \r\n{xff}")),
        ("a router too", format!("{net}X-Neutron-Router-ID: r1\r\n{xff}")),
        ("a garbage address", format!("{net}X-Forwarded-For: 10.0.0.500\r\n")),
        ("a name for an address", format!("{net}X-Forwarded-For: vm1.example\r\n")),
    ] {
        let a = raw(sock, req(&headers).as_bytes()).await.expect("an answer");
        assert_eq!(a.status, 400, "{why}: {}", a.text());
        assert!(!a.text().contains(VM1), "{why}: {}", a.text());
    }
    // Other methods than GET and HEAD are not answered without Nova.
    let post = format!("POST {MD} HTTP/1.1\r\n{net}{xff}Content-Length: 2\r\n\r\nhi");
    assert_eq!(raw(sock, post.as_bytes()).await.expect("an answer").status, 405);
    let head =
        raw(sock, format!("HEAD {MD} HTTP/1.1\r\n{net}{xff}\r\n").as_bytes()).await.expect("an answer");
    assert_eq!((head.status, head.body.len()), (200, 0));
    s.server.stop().await;
}

/// `GET path` as a router's haproxy sends it: the router's id and the VM's address.
async fn get_via_router(socket: &std::path::Path, router: &str, forwarded_for: &str) -> Answer {
    let req = format!(
        "GET {MD} HTTP/1.1\r\nHost: 169.254.169.254\r\nX-Neutron-Router-ID: {router}\r\nX-Forwarded-For: {forwarded_for}\r\n\r\n"
    );
    raw(socket, req.as_bytes()).await.expect("an answer")
}

#[tokio::test]
async fn a_request_through_a_router_is_from_a_port_of_its_networks() {
    let s = start(MetadataConfig::default());
    let sock = &s.socket;
    // As the l3 driver keeps it: r1 routes network A, r2 network B.
    s.instances
        .replace_routers([("r1".to_string(), vec![NET_A.to_string()]), ("r2".into(), vec![NET_B.into()])]);

    // vm2 (10.0.0.6, network A) asks through r1: its own document.
    let vm2 = get_via_router(sock, "r1", "10.0.0.6").await;
    assert_eq!((vm2.status, vm2.json()["uuid"].as_str()), (200, Some(VM2)), "{}", vm2.text());
    // 10.0.0.5 is vm1 on network A and vm3 on network B: each router answers with its own.
    assert_eq!(get_via_router(sock, "r1", "10.0.0.5").await.json()["uuid"], VM1);
    assert_eq!(get_via_router(sock, "r2", "10.0.0.5").await.json()["uuid"], VM3);
    // vm2's address through r2, whose network does not hold it: not found, nothing of vm2's.
    let stranger = get_via_router(sock, "r2", "10.0.0.6").await;
    assert_eq!(stranger.status, 404, "{}", stranger.text());
    assert!(!stranger.text().contains(VM2), "{}", stranger.text());
    // A router this host does not run answers nobody; once it does, the same request works.
    assert_eq!(get_via_router(sock, "r3", "10.0.0.6").await.status, 404);
    s.instances.set_router("r3", vec![NET_A.into()]);
    assert_eq!(get_via_router(sock, "r3", "10.0.0.6").await.json()["uuid"], VM2);
    s.instances.remove_router("r3");
    assert_eq!(get_via_router(sock, "r3", "10.0.0.6").await.status, 404);
    s.server.stop().await;
}

#[tokio::test]
async fn garbage_does_not_hurt_the_service() {
    let s = start(MetadataConfig::default());
    let sock = &s.socket;
    let net = "X-Neutron-Network-ID: 0a000000-0000-4000-8000-00000000000a\r\n";
    let xff = "X-Forwarded-For: 10.0.0.5\r\n";

    // A connection that sends nothing does not hold up the others.
    let idle = tokio::net::UnixStream::connect(sock).await.expect("connect");
    let huge_header = format!("GET / HTTP/1.1\r\n{net}{xff}X-Big: {}\r\n\r\n", "a".repeat(64 << 10));
    let many_headers = format!("GET / HTTP/1.1\r\n{net}{xff}{}\r\n", "X-A: b\r\n".repeat(500));
    let long_path = format!("GET /{} HTTP/1.1\r\n{net}{xff}\r\n", "a/".repeat(20_000));
    let big_body =
        format!("POST {MD} HTTP/1.1\r\n{net}{xff}Content-Length: 10000000\r\n\r\n{}", "x".repeat(100_000));
    let chunked = format!("POST {MD} HTTP/1.1\r\n{net}{xff}Transfer-Encoding: chunked\r\n\r\nzz\r\n");
    let garbage: Vec<Vec<u8>> = vec![
        b"\x00\xff\xfe garbage\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        [b"GET /\xc3\x28/\x80 HTTP/1.1\r\n".as_slice(), net.as_bytes(), xff.as_bytes(), b"\r\n"].concat(),
        [b"GET /openstack/\xff\xfe HTTP/1.1\r\n".as_slice(), net.as_bytes(), xff.as_bytes(), b"\r\n"]
            .concat(),
        [b"GET / HTTP/1.1\r\nX-Forwarded-For: \xff\xfe\r\n".as_slice(), net.as_bytes(), b"\r\n"].concat(),
        format!("GET http://evil.example/openstack HTTP/1.1\r\n{net}{xff}\r\n").into_bytes(),
        format!("OPTIONS * HTTP/1.1\r\n{net}{xff}\r\n").into_bytes(),
        huge_header.into_bytes(),
        many_headers.into_bytes(),
        long_path.into_bytes(),
        big_body.into_bytes(),
        chunked.into_bytes(),
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
    ];
    for g in &garbage {
        // Whatever the answer (4xx, or none), the service does not answer with data or die.
        if let Some(a) = raw(sock, g).await {
            assert!(a.status == 200 || (400..500).contains(&a.status), "{}: {}", a.status, a.text());
            assert!(!a.text().contains("meta_data") || a.status == 200, "{}", a.text());
        }
        let ok = get(sock, MD, NET_A, "10.0.0.5").await;
        assert_eq!((ok.status, ok.json()["uuid"].as_str()), (200, Some(VM1)));
    }
    drop(idle);
    s.server.stop().await;
}

#[tokio::test]
async fn the_socket_is_private_replaces_a_stale_one_and_stops() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("metadata_proxy");
    // A socket left by a dead service is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("a stale socket"));
    let listener = bind(&path).expect("bind over a stale socket");
    let mode = std::fs::metadata(&path).expect("the socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A live one is not.
    let e = bind(&path).expect_err("a socket in use");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    // Nor a file that is not a socket.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("a file");
    assert!(bind(&file).is_err());
    assert_eq!(std::fs::read_to_string(&file).expect("the file"), "x");

    let server =
        neutrino_agent::metadata::spawn(listener, instances(), MetadataConfig::default()).expect("start");
    assert_eq!(get(&path, MD, NET_A, "10.0.0.5").await.status, 200);
    server.stop().await;
    assert!(tokio::net::UnixStream::connect(&path).await.is_err(), "stopped: nobody listens");

    // A bad configuration does not start.
    let listener = bind(&dir.path().join("other")).expect("bind");
    let cfg = MetadataConfig { nova_metadata_url: Some("nova".into()), ..Default::default() };
    assert!(neutrino_agent::metadata::spawn(listener, instances(), cfg).is_err());
}

#[tokio::test(start_paused = true)]
async fn slow_senders_are_cut_off() {
    use neutrino_agent::metadata::service::{BODY_TIMEOUT, HEADER_READ_TIMEOUT};
    // A Nova nobody listens on: only complete requests are forwarded, and fail at once.
    let s =
        start(MetadataConfig { nova_metadata_url: Some("http://127.0.0.1:9".into()), ..Default::default() });
    let sock = &s.socket;
    let head =
        format!("POST {MD} HTTP/1.1\r\nX-Neutron-Network-ID: {NET_A}\r\nX-Forwarded-For: 10.0.0.5\r\n");

    // A head never finished: the connection is closed after the header read timeout.
    let t = tokio::time::Instant::now();
    let a = raw(sock, head.as_bytes()).await;
    assert!(a.as_ref().is_none_or(|a| a.status == 408), "{a:?}");
    assert!(t.elapsed() >= HEADER_READ_TIMEOUT, "{:?}", t.elapsed());

    // A body never finished: 408 after the body timeout.
    let t = tokio::time::Instant::now();
    let a = raw(sock, format!("{head}Content-Length: 10\r\n\r\nab").as_bytes()).await.expect("an answer");
    assert_eq!(a.status, 408, "{}", a.text());
    assert!(t.elapsed() >= BODY_TIMEOUT, "{:?}", t.elapsed());

    // The whole request is forwarded (and Nova is down).
    let a = raw(sock, format!("{head}Content-Length: 2\r\n\r\nab").as_bytes()).await.expect("an answer");
    assert_eq!(a.status, 503, "{}", a.text());
    s.server.stop().await;
}
