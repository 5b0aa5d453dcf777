//! The `topology` view on fixed inputs (three hosts: two computes and a network node, three
//! networks, a router with a gateway, four VMs, a floating IP): its text, dot and JSON, the SVG
//! parsed as XML, and names no tenant can use to break the dot quoting or the SVG.

use neutrino_inspect::cloud::{Cloud, FloatingIp, Network, Port, Router};
use neutrino_inspect::inventory::{Bridge, Iface, Inventory};
use neutrino_inspect::views::topology::{
    BridgeTopo, EdgeKind, HostTopo, NodeKind, PortKind, PortTopo, Topology, TopologyInput,
};
use proptest::prelude::*;

fn three_hosts() -> TopologyInput {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/topology_three_hosts.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn text_of_three_hosts() {
    insta::assert_snapshot!(Topology::build(&three_hosts()).render());
}

#[test]
fn dot_of_three_hosts() {
    insta::assert_snapshot!(Topology::build(&three_hosts()).to_dot());
}

#[test]
fn json_of_three_hosts() {
    insta::assert_snapshot!(serde_json::to_string_pretty(&Topology::build(&three_hosts())).unwrap());
}

#[test]
fn the_graph_joins_what_the_hosts_hold_with_the_api() {
    let t = Topology::build(&three_hosts());
    let count = |k: EdgeKind| t.edges.iter().filter(|e| e.kind == k).count();
    // A full mesh of three hosts is three tunnels, each seen from both ends but drawn once.
    assert_eq!(count(EdgeKind::Tunnel), 3);
    assert!(t.edges.iter().filter(|e| e.kind == EdgeKind::Tunnel).all(|e| e.label == "VXLAN"));
    let tunnel = |a: &str, b: &str| {
        t.edges.iter().any(|e| {
            e.kind == EdgeKind::Tunnel
                && e.from == format!("host/{a}/bridge/br-tun")
                && e.to == format!("host/{b}/bridge/br-tun")
        })
    };
    assert!(
        tunnel("compute-1", "compute-2") && tunnel("compute-1", "network") && tunnel("compute-2", "network")
    );
    // br-int/br-tun on each host, br-int/br-public on the network node.
    assert_eq!(count(EdgeKind::Patch), 4);
    // Four VMs and the network node's two router interfaces, gateway and two DHCP ports.
    assert_eq!(count(EdgeKind::Plug), 4 + 5);
    assert_eq!(count(EdgeKind::Port), 4);
    assert_eq!(count(EdgeKind::Interface), 2);
    assert_eq!(count(EdgeKind::Gateway), 1);
    // The router's namespace and the two DHCP namespaces; `sandbox-network` is not shown.
    assert_eq!(count(EdgeKind::Serves), 3);
    assert!(!t.nodes.iter().any(|n| n.name == "sandbox-network"));
    let web1 = t.nodes.iter().find(|n| n.name == "web-1").unwrap();
    assert_eq!(web1.host.as_deref(), Some("compute-1"));
    let NodeKind::Vm { ips, floating_ips, placed, .. } = &web1.kind else { panic!("{web1:?}") };
    assert_eq!(
        (ips.as_slice(), floating_ips.as_slice(), *placed),
        (&["10.0.1.5".to_string()][..], &["203.0.113.7".to_string()][..], true)
    );
    let r1 = t.nodes.iter().find(|n| n.name == "r1").unwrap();
    let NodeKind::Router { gateway, interfaces, .. } = &r1.kind else { panic!("{r1:?}") };
    assert_eq!(
        gateway.as_ref().map(|g| (g.network.as_str(), g.ips.clone())),
        Some(("public", vec!["203.0.113.5".into()]))
    );
    let legs: Vec<&str> = interfaces.iter().map(|i| i.network.as_str()).collect();
    assert_eq!(legs, ["db", "web"]);
}

#[test]
fn input_order_does_not_change_the_view() {
    let mut input = three_hosts();
    let before = Topology::build(&input);
    input.hosts.reverse();
    for h in &mut input.hosts {
        h.bridges.reverse();
        h.namespaces.reverse();
        for b in &mut h.bridges {
            b.ports.reverse();
        }
    }
    input.cloud.ports.reverse();
    input.cloud.networks.reverse();
    assert_eq!(Topology::build(&input), before);
}

/// What is not where it should be: a VM on a host not inspected, a namespace whose router is
/// gone, tunnels to an endpoint only the API knows and to one nobody knows, a nameless network.
#[test]
fn text_of_loose_ends() {
    let mut input = three_hosts();
    input.hosts.retain(|h| h.name != "compute-2");
    let network = input.hosts.iter_mut().find(|h| h.name == "network").unwrap();
    network.namespaces.push("nt-network-qrouter-0dead000-0000-4000-8000-000000000000".into());
    let tun = network.bridges.iter_mut().find(|b| b.name == "br-tun").unwrap();
    tun.ports.push(PortTopo {
        name: "gre-c6336401".into(),
        kind: PortKind::Gre { remote_ip: "198.51.100.1".into() },
    });
    input.cloud.networks.push(Network { id: "9a9a9a9a-0000".into(), ..Network::default() });
    let t = Topology::build(&input);
    let remote = t.node("remote/192.0.2.12").unwrap();
    assert_eq!(remote.name, "compute-2", "named after the agent reporting that endpoint");
    insta::assert_snapshot!(t.render());
    let titles = titles(&svg_of(&t));
    for name in ["not inspected", "db-1", "web-2", "compute-2", "198.51.100.1", "9a9a9a9a"] {
        assert!(titles.iter().any(|t| t == name), "{name} not in {titles:?}");
    }
}

#[test]
fn hosts_come_from_the_ovsdb_inventory() {
    let iface = |name: &str, kind: &str, opts: &[(&str, &str)], ids: &[(&str, &str)]| Iface {
        name: name.into(),
        kind: kind.into(),
        options: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        external_ids: ids.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Iface::default()
    };
    let inventory = Inventory {
        bridges: vec![Bridge {
            name: "br-tun".into(),
            ifaces: vec![
                iface("br-tun", "internal", &[], &[]),
                iface("patch-int", "patch", &[("peer", "patch-tun")], &[]),
                iface("vxlan-c000020b", "vxlan", &[("remote_ip", "192.0.2.11")], &[]),
                iface("gre-c000020c", "gre", &[("remote_ip", "192.0.2.12")], &[]),
                iface("gnv-c000020d", "geneve", &[("remote_ip", "192.0.2.13")], &[]),
                iface("vxlan-broken", "vxlan", &[], &[]),
                iface("tap1", "", &[], &[("iface-id", "p1")]),
                iface("qr-1", "internal", &[], &[("iface-id", "p2")]),
                iface("eth1", "", &[], &[]),
            ],
            ..Bridge::default()
        }],
    };
    let host = HostTopo::from_inventory("compute-1", Some("192.0.2.10"), &inventory, vec!["ns1".into()]);
    let kinds: Vec<(&str, &PortKind)> =
        host.bridges[0].ports.iter().map(|p| (p.name.as_str(), &p.kind)).collect();
    let remote = |ip: &str| ip.to_string();
    assert_eq!(
        kinds,
        [
            ("br-tun", &PortKind::Internal),
            ("patch-int", &PortKind::Patch { peer: "patch-tun".into() }),
            ("vxlan-c000020b", &PortKind::Vxlan { remote_ip: remote("192.0.2.11") }),
            ("gre-c000020c", &PortKind::Gre { remote_ip: remote("192.0.2.12") }),
            ("gnv-c000020d", &PortKind::Geneve { remote_ip: remote("192.0.2.13") }),
            ("vxlan-broken", &PortKind::Other),
            ("tap1", &PortKind::Vm { iface_id: "p1".into() }),
            ("qr-1", &PortKind::Vm { iface_id: "p2".into() }),
            ("eth1", &PortKind::Other),
        ]
    );
    assert_eq!((host.name.as_str(), host.tunnel_ip.as_deref()), ("compute-1", Some("192.0.2.10")));
    assert_eq!(host.namespaces, ["ns1"]);
}

fn svg_of(t: &Topology) -> String {
    let svg = t.to_svg();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
    // Everything drawn is inside the viewBox.
    let view: Vec<i64> = root.attribute("viewBox").unwrap().split(' ').map(|v| v.parse().unwrap()).collect();
    let (w, h) = (view[2], view[3]);
    let num = |n: &roxmltree::Node, a: &str| n.attribute(a).map(|v| v.parse::<i64>().unwrap()).unwrap_or(0);
    for n in doc.descendants().filter(|n| n.is_element()) {
        let (x, y) = match n.tag_name().name() {
            "rect" => (num(&n, "x") + num(&n, "width"), num(&n, "y") + num(&n, "height")),
            "text" => (num(&n, "x"), num(&n, "y")),
            "circle" => (num(&n, "cx") + num(&n, "r"), num(&n, "cy") + num(&n, "r")),
            "path" => {
                for p in n.attribute("d").unwrap().split(['M', 'L']).filter(|p| !p.trim().is_empty()) {
                    let xy: Vec<i64> = p.split_whitespace().map(|v| v.parse().unwrap()).collect();
                    assert!((0..=w).contains(&xy[0]) && (0..=h).contains(&xy[1]), "{p} outside {w}x{h}");
                }
                continue;
            }
            _ => continue,
        };
        assert!((0..=w).contains(&x) && (0..=h).contains(&y), "{n:?} outside {w}x{h}");
    }
    svg
}

fn titles(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("title"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect()
}

#[test]
fn svg_of_three_hosts_is_xml_naming_every_host_vm_router_and_network() {
    let t = Topology::build(&three_hosts());
    let svg = svg_of(&t);
    let titles = titles(&svg);
    for name in
        ["compute-1", "compute-2", "network", "web-1", "web-2", "app-1", "db-1", "r1", "web", "db", "public"]
    {
        assert!(titles.iter().any(|t| t == name), "{name} not in {titles:?}");
    }
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let texts: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.contains("203.0.113.7"), "the floating IP is drawn on its VM");
    assert!(texts.contains("VXLAN"));
    assert_eq!(t.to_svg(), svg, "the layout is deterministic");
}

/// The dot's quoted strings, unescaped; panics if a string is not closed, holds a raw line
/// break, or anything outside strings is not DOT punctuation or a plain word.
fn dot_strings(dot: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = dot.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            assert!(
                c.is_ascii_alphanumeric() || " \n_=;,.-[]{}".contains(c),
                "{c:?} outside a string in\n{dot}"
            );
            continue;
        }
        let mut s = String::new();
        loop {
            match chars.next() {
                None => panic!("unclosed string in\n{dot}"),
                Some('"') => break,
                Some('\n') => panic!("raw line break in a string in\n{dot}"),
                Some('\\') => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some(c @ ('"' | '\\')) => s.push(c),
                    other => panic!("unexpected escape {other:?} in\n{dot}"),
                },
                Some(c) => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

fn name() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        any::<char>(),
        Just('"'),
        Just('\\'),
        Just('<'),
        Just('>'),
        Just('&'),
        Just('\''),
        Just('\n'),
        Just('\r'),
        Just('{'),
        Just(']'),
        Just(';'),
    ];
    prop::collection::vec(c, 1..10).prop_map(String::from_iter)
}

fn odd_input(names: &[String]) -> TopologyInput {
    let [host, bridge, net, router, vm, fip, tunnel] = names else { unreachable!() };
    let port = |n: &str, kind| PortTopo { name: n.to_string(), kind };
    let hosts = vec![
        HostTopo {
            name: host.clone(),
            tunnel_ip: Some(tunnel.clone()),
            bridges: vec![
                BridgeTopo {
                    name: bridge.clone(),
                    ports: vec![
                        port(vm, PortKind::Vm { iface_id: "p1".into() }),
                        port("patch-tun", PortKind::Patch { peer: "patch-int".into() }),
                    ],
                },
                BridgeTopo {
                    name: format!("{bridge}-tun"),
                    ports: vec![
                        port("patch-int", PortKind::Patch { peer: "patch-tun".into() }),
                        port(tunnel, PortKind::Vxlan { remote_ip: "10.9.9.9".into() }),
                    ],
                },
            ],
            namespaces: vec![format!("{host}qrouter-r1")],
        },
        HostTopo { name: "other".into(), tunnel_ip: Some("10.9.9.9".into()), ..HostTopo::default() },
    ];
    let cloud = Cloud {
        networks: vec![Network { id: "n1".into(), name: net.clone(), ..Network::default() }],
        ports: vec![Port {
            id: "p1".into(),
            name: vm.clone(),
            network_id: "n1".into(),
            device_owner: "compute:nova".into(),
            host: Some(host.clone()),
            ..Port::default()
        }],
        routers: vec![Router { id: "r1".into(), name: router.clone(), ..Router::default() }],
        floatingips: vec![FloatingIp {
            floating_ip_address: fip.clone(),
            port_id: Some("p1".into()),
            ..FloatingIp::default()
        }],
        ..Cloud::default()
    };
    TopologyInput { hosts, cloud }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_names_stay_inside_dot_strings_and_svg_text(names in prop::collection::vec(name(), 7)) {
        let t = Topology::build(&odd_input(&names));
        let strings = dot_strings(&t.to_dot());
        for n in &names {
            let want: String = n.chars().filter_map(|c| match c {
                '\r' => Some('\n'),
                c if c.is_control() && c != '\n' => None,
                c => Some(c),
            }).collect();
            prop_assert!(strings.iter().any(|s| s.contains(&want)), "{n:?} not in {strings:?}");
        }
        let svg = svg_of(&t);
        let titles = titles(&svg);
        let [host, _, net, router, vm, ..] = &names[..] else { unreachable!() };
        for n in [host, net, router, vm] {
            let want: String = n.chars().map(|c| match c {
                '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
                c if c.is_control() => ' ',
                c => c,
            }).collect();
            prop_assert!(titles.contains(&want), "{n:?} not in {titles:?}");
        }
    }
}
