//! Unit tests of host roles against the fake machine: the network node exists only when asked
//! for and is built like any host plus a `br-ex` onto the outside world (which compute hosts
//! lack), the outside world and its public host, each host's `agent.toml` carries its role's
//! settings, and `down` removes the namespaces the agents made under the hosts' prefixes.

use neutrino_host::{Links, Netns, Route, Signal};

use crate::tests::{net, spec, up};
use crate::{AgentSettings, HostRole, down_with};

fn settings() -> AgentSettings {
    AgentSettings { report_interval: Some(2), ..AgentSettings::new("http://127.0.0.1:9696", "s3\"cr\\et") }
}

#[test]
fn a_host_serves_the_roles_its_agent_program_has() {
    let all = AgentSettings::new("http://x", "t");
    assert_eq!(all.roles_of(HostRole::Network), ["l2", "dhcp", "l3"]);
    let without_l3 = all.clone().with_roles_available(["l2", "dhcp"]);
    assert_eq!(without_l3.roles_of(HostRole::Network), ["l2", "dhcp"]);
    assert_eq!(without_l3.roles_of(HostRole::Compute), ["l2"]);
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 1, false);
    spec.network_node = true;
    let (_host, _switch, sb) = up(&spec);
    let text = sb.host("network").unwrap().agent_config(&without_l3).unwrap();
    assert!(text.contains("roles = [\"l2\", \"dhcp\"]\n"), "{text}");
    let text = sb.host("network").unwrap().agent_config(&all).unwrap();
    assert!(text.contains("roles = [\"l2\", \"dhcp\", \"l3\"]\n"), "{text}");
}

#[test]
fn the_network_node_is_built_only_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _switch, sb) = up(&spec(dir.path(), 2, false));
    let names: Vec<_> = sb.hosts().iter().map(|h| (h.name.as_str(), h.role)).collect();
    assert_eq!(names, [("h1", HostRole::Compute), ("h2", HostRole::Compute)]);
    assert!(host.netns(Some("nt-network")).is_none());

    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 2, true);
    spec.network_node = true;
    let (host, switch, sb) = up(&spec);
    let names: Vec<_> = sb.hosts().iter().map(|h| (h.name.as_str(), h.role)).collect();
    assert_eq!(names, [("h1", HostRole::Compute), ("h2", HostRole::Compute), ("network", HostRole::Network)]);
    // Like any host: its namespace, its own Open vSwitch, a tunnel endpoint, physnet and ext.
    let network = sb.host("network").unwrap();
    assert_eq!((network.netns(), network.tunnel_ip()), ("nt-network", "172.31.0.254/24"));
    assert_eq!(host.link(Some("nt-network"), "br-phy").unwrap().addresses, [net("172.31.0.254/24")]);
    for (dev, peer_ns, peer) in [
        ("ul-network", "nt-fab", "fab-network"),
        ("ph1-network", "nt-phys", "p1-network"),
        ("ex-network", "nt-ext", "x-network"),
    ] {
        let link = host.link(Some("nt-network"), dev).unwrap_or_else(|| panic!("no {dev}"));
        assert_eq!((link.peer_name(), link.peer_netns()), (Some(peer), Some(Some(peer_ns))), "{dev}");
    }
    assert_eq!(network.bridge_mappings(), "physnet1:br-eth1");
    for program in ["ovsdb-server", "ovs-vswitchd"] {
        let in_network: Vec<_> = host
            .processes_named(program)
            .into_iter()
            .filter(|p| p.netns.as_deref() == Some("nt-network") && p.running)
            .collect();
        assert_eq!(in_network.len(), 1, "{program} of the network node");
    }
    let bridges: Vec<_> = switch.ovs("network").unwrap().bridges.keys().cloned().collect();
    assert_eq!(bridges, ["br-eth1", "br-ex", "br-phy"]);
    assert!(host.netns(None).unwrap().is_pristine());

    // The name is the sandbox's: a host spelled `network` as well is refused, as is `vm`.
    let mut twice = spec.clone();
    twice.hosts[1].name = "network".into();
    assert!(twice.validate().is_err());
    let mut vm = spec;
    vm.network_node = false;
    vm.hosts[1].name = "vm".into();
    assert!(vm.validate().is_err());
}

#[test]
fn agent_configs_carry_each_hosts_roles() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 1, false);
    spec.network_node = true;
    let (_host, _switch, sb) = up(&spec);
    let run = spec.run_dir.clone();
    let read = |host: &str| -> toml::Table {
        let path = sb.write_agent_config(host, &settings()).unwrap();
        assert_eq!(path, run.join(host).join("agent.toml"));
        std::fs::read_to_string(&path).unwrap().parse().unwrap()
    };
    let s = |v: &toml::Value| v.as_str().unwrap().to_string();

    let compute = read("h1");
    let network = read("network");
    for (name, cfg, ip) in [("h1", &compute, "172.31.0.1"), ("network", &network, "172.31.0.254")] {
        let dir = run.join(name);
        assert_eq!(s(&cfg["host"]), name);
        assert_eq!(s(&cfg["server"]), "http://127.0.0.1:9696");
        assert_eq!(s(&cfg["token"]), "s3\"cr\\et", "the token survives TOML quoting");
        assert_eq!(s(&cfg["local_ip"]), ip);
        assert_eq!(s(&cfg["datapath_type"]), "netdev");
        assert_eq!(s(&cfg["ovsdb"]), dir.join("db.sock").display().to_string());
        assert_eq!(s(&cfg["ovs_rundir"]), dir.display().to_string());
        assert_eq!(s(&cfg["netns"]), format!("nt-{name}"));
        assert_eq!(cfg["report_interval"].as_integer(), Some(2));
        assert_eq!(s(&cfg["bridge_mappings"]["physnet1"]), "br-eth1");
        let tunnels: Vec<_> = cfg["tunnel_types"].as_array().unwrap().iter().map(s).collect();
        assert_eq!(tunnels, ["vxlan", "gre"]);
    }
    let roles = |cfg: &toml::Table| cfg["roles"].as_array().unwrap().iter().map(s).collect::<Vec<_>>();
    assert_eq!(roles(&compute), ["l2"]);
    assert!(!compute.contains_key("namespace_prefix") && !compute.contains_key("dhcp"), "{compute}");
    assert_eq!(roles(&network), ["l2", "dhcp", "l3"]);
    // The external network is flat on physnet `public`: only the network node maps it.
    let mappings = |cfg: &toml::Table| cfg["bridge_mappings"].as_table().unwrap().clone();
    assert_eq!(mappings(&network).keys().collect::<Vec<_>>(), ["physnet1", "public"]);
    assert_eq!(s(&network["bridge_mappings"]["public"]), "br-ex");
    assert_eq!(mappings(&compute).keys().collect::<Vec<_>>(), ["physnet1"]);
    assert_eq!(s(&network["namespace_prefix"]), "nt-network-");
    assert_eq!(s(&network["dhcp"]["state_path"]), run.join("network/dhcp").display().to_string());
    // The routers' files live under the host's directory too, never in the machine's
    // /var/lib/neutrino (the agent's default).
    assert_eq!(s(&network["l3"]["state_path"]), run.join("network/l3").display().to_string());
    assert!(!compute.contains_key("l3"), "{compute}");
    // Without an interval the agent's default applies.
    let plain = sb.host("h1").unwrap().agent_config(&AgentSettings::new("http://x", "t")).unwrap();
    assert!(!plain.contains("report_interval"), "{plain}");
}

#[test]
fn start_agent_writes_the_config_it_starts_with() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), 1, false);
    let (host, _switch, mut sb) = up(&spec);
    let pid = sb.start_agent("h1", "/usr/bin/neutrino", &settings(), &[("NEUTRINO_LOG", "info")]).unwrap();
    let p = host.process(pid).unwrap();
    let cfg = spec.run_dir.join("h1/agent.toml").display().to_string();
    assert_eq!(p.argv, ["/usr/bin/neutrino", "agent", "--config", cfg.as_str()]);
    assert_eq!(p.netns, None, "agents run in the root namespace");
    assert!(std::fs::read_to_string(&cfg).unwrap().contains("roles = [\"l2\"]"));
    assert_eq!(sb.process("h1", "agent").unwrap().pid, Some(pid));
}

#[test]
fn down_removes_the_namespaces_the_agents_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 1, false);
    spec.network_node = true;
    // Another sandbox (`nt-z-`) shares the machine.
    spec.name_prefix = "nt-q-".into();
    let (host, _switch, mut sb) = up(&spec);
    let agent = sb.start_agent("network", "neutrino", &settings(), &[]).unwrap();
    // What the network node's dhcp driver makes: a namespace under the host's prefix, with
    // dnsmasq inside (started by the agent, so not in the sandbox's records).
    let qdhcp = format!("{}qdhcp-net1", sb.host("network").unwrap().namespace_prefix());
    assert_eq!(qdhcp, "nt-q-network-qdhcp-net1");
    host.add_netns(&qdhcp).unwrap();
    let dnsmasq = host.plant_process(&["dnsmasq", "--conf-file=/dev/null"], Some(&qdhcp));
    // Not the sandbox's: a host's own DHCP namespace and another sandbox's.
    host.add_netns("qdhcp-net1").unwrap();
    host.add_netns("nt-z-network-qdhcp-net1").unwrap();
    let theirs = host.plant_process(&["dnsmasq"], Some("qdhcp-net1"));

    let report = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert_eq!(
        report.namespaces_deleted,
        [
            "nt-q-network-qdhcp-net1",
            "nt-q-network",
            "nt-q-h1",
            "nt-q-public",
            "nt-q-ext",
            "nt-q-phys",
            "nt-q-fab"
        ],
        "the agent's namespace before its host's"
    );
    assert_eq!(host.process(agent).unwrap().signals, [Signal::Term]);
    assert_eq!(host.process(dnsmasq).unwrap().signals, [Signal::Term]);
    assert!(host.process(theirs).unwrap().running && host.process(theirs).unwrap().signals.is_empty());
    assert_eq!(host.list_netns().unwrap(), ["nt-z-network-qdhcp-net1", "qdhcp-net1"]);
}

#[test]
fn the_network_node_alone_has_br_ex_onto_the_outside_world() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 2, false);
    spec.network_node = true;
    let (host, switch, sb) = up(&spec);
    // br-ex with its uplink veth into `ext`, enslaved to extnet there.
    let network = sb.host("network").unwrap();
    assert_eq!(
        (network.ext_bridge.as_deref(), network.ext_dev.as_deref()),
        (Some("br-ex"), Some("ex-network"))
    );
    let br_ex = &switch.ovs("network").unwrap().bridges["br-ex"];
    assert_eq!(br_ex.ports.keys().collect::<Vec<_>>(), ["ex-network"]);
    assert_eq!(br_ex.datapath_type, "netdev");
    let peer = host.link(Some("nt-ext"), "x-network").unwrap();
    assert_eq!(peer.master.as_deref(), Some("extnet"));
    // Compute hosts: no br-ex, no uplink.
    for h in ["h1", "h2"] {
        assert_eq!(sb.host(h).unwrap().ext_bridge, None, "{h}");
        assert!(!switch.ovs(h).unwrap().bridges.contains_key("br-ex"), "{h}");
        assert!(host.link(Some(&format!("nt-{h}")), &format!("ex-{h}")).is_none(), "{h}");
    }

    // ext: 203.0.113.1 on extnet, 198.51.100.1 towards the public host, forwarding on.
    assert_eq!(host.link(Some("nt-ext"), "extnet").unwrap().addresses, [net("203.0.113.1/24")]);
    assert_eq!(host.link(Some("nt-ext"), "to-public").unwrap().addresses, [net("198.51.100.1/24")]);
    assert_eq!(host.sysctl(Some("nt-ext"), "net.ipv4.ip_forward").unwrap(), "1");
    // The public host: 198.51.100.10, default route via ext, on a veth whose peer is in ext.
    let eth0 = host.link(Some("nt-public"), "eth0").unwrap();
    assert_eq!(eth0.addresses, [net("198.51.100.10/24")]);
    assert_eq!((eth0.peer_name(), eth0.peer_netns()), (Some("to-public"), Some(Some("nt-ext"))));
    assert!(eth0.up && !eth0.tx_offload);
    let gw = "198.51.100.1".parse().unwrap();
    assert!(host.routes(Some("nt-public")).unwrap().contains(&Route::default_via(gw, Some("eth0"))));
    assert_eq!((sb.outside_netns().unwrap(), sb.public_netns().unwrap()), ("nt-ext", "nt-public"));
    // Forwarding is ext's alone: not the hosts', not the root namespace's.
    assert_eq!(host.sysctl(Some("nt-network"), "net.ipv4.ip_forward").unwrap(), "0");
    assert!(host.netns(None).unwrap().is_pristine());

    // Without a network node (and without `ext`) there is no outside world.
    let dir = tempfile::tempdir().unwrap();
    let (host, _switch, sb) = up(&crate::tests::spec(dir.path(), 1, false));
    assert!(host.netns(Some("nt-ext")).is_none() && host.netns(Some("nt-public")).is_none());
    assert!(sb.exec_public(&["true"]).is_err() && sb.outside_netns().is_err());
}

#[test]
fn down_removes_the_outside_world() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), 1, false);
    spec.network_node = true;
    let (host, _switch, _sb) = up(&spec);
    // A listener on the public host (as the demo starts), not recorded by the sandbox.
    let listener = host.plant_process(&["python3", "-m", "http.server"], Some("nt-public"));
    assert!(host.netns(Some("nt-public")).is_some() && host.netns(Some("nt-ext")).is_some());
    let report = down_with(&spec.run_dir, None, host.as_ref()).unwrap();
    assert!(report.leftovers.is_empty(), "{report:?}");
    assert!(report.namespaces_deleted.contains(&"nt-public".to_string()), "{report:?}");
    assert!(report.namespaces_deleted.contains(&"nt-ext".to_string()), "{report:?}");
    assert!(host.list_netns().unwrap().is_empty());
    assert_eq!(host.process(listener).unwrap().signals, [Signal::Term]);
}
