//! End-to-end DHCP and metadata: VMs on compute hosts configured by the dnsmasq a DHCP agent on
//! another host (the network node) runs for their network, over VXLAN and VLAN; what changes
//! reaches them at renewal; the metadata service answers each VM about itself.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use std::time::Duration;

use cloud::{Cloud, Options, prerequisites};
use serde_json::{Value, json};

fn network_node(prefix: &str) -> Cloud {
    Cloud::up_with(prefix, Options { hosts: 1, network_node: true, ..Options::default() })
}

/// A network of `kind` and a DHCP subnet with a gateway, a DNS server and a host route.
fn dhcp_network(c: &Cloud, kind: &str, cidr_prefix: &str) -> (String, String, i64) {
    let provider = match kind {
        "vlan" => json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1"}),
        t => json!({"provider:network_type": t}),
    };
    let (s, n) = c.api("POST", "/v2.0/networks", Some(json!({ "network": provider })));
    assert_eq!(s, 201, "{n}");
    let net = n["network"]["id"].as_str().expect("id").to_string();
    let subnet = json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": format!("{cidr_prefix}.0/24"),
        "gateway_ip": format!("{cidr_prefix}.1"), "dns_nameservers": [format!("{cidr_prefix}.53")],
        "host_routes": [{"destination": "10.99.0.0/16", "nexthop": format!("{cidr_prefix}.254")}]}});
    let (s, b) = c.api("POST", "/v2.0/subnets", Some(subnet));
    assert_eq!(s, 201, "{b}");
    (net, b["subnet"]["id"].as_str().expect("id").to_string(), n["network"]["mtu"].as_i64().expect("mtu"))
}

/// The address of the network's DHCP port (on the network node) once the server made it.
fn dhcp_port_ip(c: &Cloud, net: &str) -> String {
    let mut ip = String::new();
    c.wait(Duration::from_secs(30), "the DHCP port", |c| {
        let ports = c.api("GET", &format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp"), None).1;
        match ports["ports"][0]["fixed_ips"][0]["ip_address"].as_str() {
            Some(a) => {
                ip = a.to_string();
                true
            }
            None => false,
        }
    });
    ip
}

fn vm_gets_everything_from_dhcp(prefix: &str, kind: &str) {
    if !prerequisites() {
        return;
    }
    let mut c = network_node(prefix);
    let (net, _, mtu) = dhcp_network(&c, kind, "10.40.0");
    let agents = c.api("GET", &format!("/v2.0/networks/{net}/dhcp-agents"), None).1;
    assert_eq!(agents["agents"][0]["host"], "network", "the network node's DHCP agent hosts it: {agents}");
    let server = dhcp_port_ip(&c, &net);
    let port = c.port("h1", "a", &net, json!({}));
    let want_ip = port["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string();
    let lease = c.dhcp_vm("h1", "a", &port, mtu);
    assert_eq!(lease.address.map(|a| a.to_string()), Some(format!("{want_ip}/24")), "{lease:?}");
    assert_eq!(lease.server_id.map(|a| a.to_string()), Some(server.clone()), "served by the network node");
    assert_eq!(lease.mtu, u32::try_from(mtu).ok(), "the network's MTU");
    assert_eq!(lease.dns.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["10.40.0.53"]);
    let routes: Vec<(String, String)> =
        lease.routes.iter().map(|r| (r.destination.to_string(), r.gateway.to_string())).collect();
    for want in
        [("10.99.0.0/16", "10.40.0.254"), ("169.254.169.254/32", server.as_str()), ("0.0.0.0/0", "10.40.0.1")]
    {
        assert!(routes.contains(&(want.0.to_string(), want.1.to_string())), "route {want:?} in {routes:?}");
    }
    // Applied inside the VM: the address and the host route.
    let out = c.exec("a", &["ip", "-4", "route"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("10.99.0.0/16 via 10.40.0.254"), "{table}");
    // The VM reaches the DHCP server over the network (the path every renewal takes).
    assert!(c.ping("a", &server), "a pings its DHCP server {server}\n{}", c.logs());
    // And its metadata: about itself.
    let meta = metadata(&c, "a", "openstack/latest/meta_data.json");
    assert_eq!(meta["uuid"], "vm-a", "{meta}");
}

/// `GET http://169.254.169.254/<path>` from inside VM `vm`, as JSON.
fn metadata(c: &Cloud, vm: &str, path: &str) -> Value {
    let url = format!("http://169.254.169.254/{path}");
    // Not busybox wget: its `-T` crashes on Debian's busybox.
    let get = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())";
    let out = c.exec(vm, &["python3", "-c", get, &url]);
    assert!(out.status.success(), "{vm}: GET {url}: {}\n{}", String::from_utf8_lossy(&out.stderr), c.logs());
    serde_json::from_slice(&out.stdout).expect("JSON from the metadata service")
}

#[test]
fn a_vm_on_vxlan_gets_its_configuration_from_the_network_node() {
    vm_gets_everything_from_dhcp("nt-dx-", "vxlan");
}

#[test]
fn a_vm_on_vlan_gets_its_configuration_from_the_network_node() {
    vm_gets_everything_from_dhcp("nt-dl-", "vlan");
}

/// Plugs VM `name` for `port` with a DHCP client without waiting for a lease; waits for ACTIVE.
fn plug_dhcp_vm(c: &mut Cloud, host: &str, name: &str, port: &Value, mtu: i64) {
    let id = port["id"].as_str().expect("id");
    let mut spec =
        neutrino_sandbox::VmSpec::new(name, id, port["mac_address"].as_str().expect("mac")).with_dhcp();
    spec.mtu = u32::try_from(mtu).expect("mtu");
    c.sandbox.plug_vm(host, &spec).expect("plug vm");
    let path = format!("/v2.0/ports/{id}");
    c.wait(Duration::from_secs(30), &format!("port of {name} ACTIVE"), |c| {
        c.api("GET", &path, None).1["port"]["status"] == "ACTIVE"
    });
}

/// dnsmasq's files for `net` on the network node.
fn dnsmasq_file(c: &Cloud, net: &str, file: &str) -> String {
    let dir = c.sandbox.host("network").expect("network node").dhcp_state_path().join(net);
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

fn subnet(c: &Cloud, net: &str, cidr: &str, gateway: &str, enable_dhcp: bool) -> String {
    let body = json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": cidr, "gateway_ip": gateway,
        "enable_dhcp": enable_dhcp}});
    let (s, b) = c.api("POST", "/v2.0/subnets", Some(body));
    assert_eq!(s, 201, "{b}");
    b["subnet"]["id"].as_str().expect("id").to_string()
}

fn ip_of(port: &Value) -> String {
    port["fixed_ips"][0]["ip_address"].as_str().expect("ip").to_string()
}

/// Two subnets served by one dnsmasq; a subnet without DHCP serves nothing until DHCP is
/// turned on; a changed fixed IP arrives at the next renewal; a deleted port's lease is
/// released; an agent restart keeps dnsmasq running; each VM's metadata is its own.
#[test]
fn one_dnsmasq_follows_the_network_through_changes() {
    if !prerequisites() {
        return;
    }
    let mut c = network_node("nt-dc-");
    let (net, sub_a, mtu) = dhcp_network(&c, "vxlan", "10.40.0");
    let sub_b = subnet(&c, &net, "10.41.0.0/24", "10.41.0.1", true);
    let sub_c = subnet(&c, &net, "10.42.0.0/24", "10.42.0.1", false);
    dhcp_port_ip(&c, &net);
    let on = |s: &str| json!({"fixed_ips": [{"subnet_id": s}]});
    let pa = c.port("h1", "a", &net, on(&sub_a));
    let pb = c.port("h1", "b", &net, on(&sub_b));
    let lease_a = c.dhcp_vm("h1", "a", &pa, mtu);
    let lease_b = c.dhcp_vm("h1", "b", &pb, mtu);
    assert_eq!(lease_a.address.map(|a| a.addr().to_string()), Some(ip_of(&pa)));
    assert_eq!(lease_b.address.map(|a| a.addr().to_string()), Some(ip_of(&pb)), "the second subnet's VM");
    assert_eq!(lease_b.routers.iter().map(|r| r.to_string()).collect::<Vec<_>>(), ["10.41.0.1"]);

    // No DHCP on the third subnet: its VM hears nothing, while the same dnsmasq answers the
    // others (the two leases above); once DHCP is on, the same client gets its address.
    let pc = c.port("h1", "c", &net, on(&sub_c));
    plug_dhcp_vm(&mut c, "h1", "c", &pc, mtu);
    let sys = c.sandbox.machine().host.clone();
    let failed = c
        .sandbox
        .vm_dhcp("c")
        .expect("client")
        .wait_for(&*sys, Duration::from_secs(40), "leasefail", |l| {
            l.event == neutrino_sandbox::LeaseEvent::Leasefail
        })
        .expect("no lease on a subnet without DHCP");
    assert!(failed.address.is_none());
    let (s, b) =
        c.api("PUT", &format!("/v2.0/subnets/{sub_c}"), Some(json!({"subnet": {"enable_dhcp": true}})));
    assert_eq!(s, 200, "{b}");
    let lease_c = c
        .sandbox
        .wait_vm_lease("c", Some(&failed), Duration::from_secs(60))
        .expect("a lease once DHCP is on");
    assert_eq!(lease_c.address.map(|a| a.addr().to_string()), Some(ip_of(&pc)));

    // A new fixed IP arrives at the next renewal.
    let (s, b) = c.api(
        "PUT",
        &format!("/v2.0/ports/{}", pa["id"].as_str().expect("id")),
        Some(json!({"port": {"fixed_ips": [{"subnet_id": sub_a, "ip_address": "10.40.0.77"}]}})),
    );
    assert_eq!(s, 200, "{b}");
    c.wait(Duration::from_secs(20), "dnsmasq knows the new address", |c| {
        dnsmasq_file(c, &net, "host").contains("10.40.0.77")
    });
    c.sandbox.renew_vm_lease("a").expect("renew");
    let renewed = c.sandbox.wait_vm_lease("a", Some(&lease_a), Duration::from_secs(30)).expect("renewal");
    assert_eq!(renewed.address.map(|a| a.to_string()), Some("10.40.0.77/24".into()), "{renewed:?}");

    // Metadata: each VM is told about itself.
    for (vm, port) in [("a", &pa), ("b", &pb)] {
        let meta = metadata(&c, vm, "openstack/latest/meta_data.json");
        assert_eq!(meta["uuid"], format!("vm-{vm}"), "{vm}: {meta}");
        let nd = metadata(&c, vm, "openstack/latest/network_data.json");
        let mac = port["mac_address"].as_str().expect("mac");
        assert_eq!(nd["links"][0]["ethernet_mac_address"], mac, "{vm}: {nd}");
        assert_eq!(nd["links"].as_array().map(Vec::len), Some(1), "{vm}: only its own port: {nd}");
    }

    // An agent restart keeps dnsmasq (same pid, still serving: b renews from it).
    let pid = dnsmasq_file(&c, &net, "pid").trim().to_string();
    assert!(
        !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "dnsmasq runs ({pid})"
    );
    c.stop_agent("network");
    c.start_agent("network");
    // Its log starts afresh with the new process.
    c.wait(Duration::from_secs(30), "the network node's agent in sync again", |c| {
        let log =
            std::fs::read_to_string(c.sandbox.host("network").expect("host").run_dir().join("agent.log"))
                .unwrap_or_default();
        log.contains("agent in sync")
    });
    assert_eq!(dnsmasq_file(&c, &net, "pid").trim(), pid, "the restarted agent adopted dnsmasq");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "dnsmasq {pid} still runs");
    let before = c.sandbox.vm_lease("b").expect("lease").expect("some lease");
    c.sandbox.renew_vm_lease("b").expect("renew");
    let again =
        c.sandbox.wait_vm_lease("b", Some(&before), Duration::from_secs(30)).expect("renewal after restart");
    assert_eq!(again.address, lease_b.address);

    // A deleted port's lease is released: dnsmasq's lease file drops its MAC, keeps a's.
    let (mac_b, mac_a) = (pb["mac_address"].as_str().expect("mac"), pa["mac_address"].as_str().expect("mac"));
    assert!(dnsmasq_file(&c, &net, "leases").contains(mac_b), "b holds a lease before");
    let (s, _) = c.api("DELETE", &format!("/v2.0/ports/{}", pb["id"].as_str().expect("id")), None);
    assert_eq!(s, 204);
    c.wait(Duration::from_secs(20), "b's lease released", |c| {
        !dnsmasq_file(c, &net, "leases").contains(mac_b)
    });
    assert!(dnsmasq_file(&c, &net, "leases").contains(mac_a), "a's lease stays");
}

/// GET `path` from the metadata service with `source` as the VM's source address; `None`
/// when no answer came (5 s).
fn metadata_from(c: &Cloud, vm: &str, source: &str, path: &str) -> Option<Value> {
    let get = "import sys, http.client\n\
               h = http.client.HTTPConnection('169.254.169.254', 80, timeout=5, source_address=(sys.argv[1], 0))\n\
               h.request('GET', '/' + sys.argv[2]); r = h.getresponse()\n\
               sys.stdout.write(r.read().decode()) if r.status == 200 else sys.exit(2)";
    let out = c.exec(vm, &["python3", "-c", get, source, path]);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).expect("JSON"))
}

/// The DHCP agent's host dies (agent and dnsmasq gone): after the server's failover time its
/// network moves to the other DHCP agent, with the same DHCP port address, and a VM renews
/// there. A VM cannot read another VM's metadata by sending from that VM's address.
#[test]
fn a_dead_dhcp_agents_network_moves_and_metadata_is_only_the_callers() {
    if !prerequisites() {
        return;
    }
    let opts = Options { hosts: 2, network_node: true, dhcp_hosts: vec!["h2"], agent_down_time: Some(3) };
    let mut c = Cloud::up_with("nt-df-", opts);
    let (net, _, mtu) = dhcp_network(&c, "vxlan", "10.40.0");
    let server = dhcp_port_ip(&c, &net);
    let hosting = |c: &Cloud| -> Vec<String> {
        let a = c.api("GET", &format!("/v2.0/networks/{net}/dhcp-agents"), None).1;
        a["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["host"].as_str().map(String::from))
            .collect()
    };
    let first = hosting(&c);
    assert_eq!(first.len(), 1, "one DHCP agent per network: {first:?}");
    let (dead, other) = if first[0] == "h2" { ("h2", "network") } else { ("network", "h2") };
    let pa = c.port("h1", "a", &net, json!({}));
    let pb = c.port("h1", "b", &net, json!({}));
    let lease = c.dhcp_vm("h1", "a", &pa, mtu);
    c.dhcp_vm("h1", "b", &pb, mtu);

    // Metadata: from its own address a is answered about itself; from b's address (which a
    // gives itself) nothing comes back — anti-spoofing drops it before any proxy sees it.
    let (ip_a, ip_b) = (ip_of(&pa), ip_of(&pb));
    let own = metadata_from(&c, "a", &ip_a, "openstack/latest/meta_data.json").expect("a's own metadata");
    assert_eq!(own["uuid"], "vm-a");
    let add = c.exec("a", &["ip", "addr", "add", &format!("{ip_b}/32"), "dev", "eth0"]);
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    assert_eq!(metadata_from(&c, "a", &ip_b, "openstack/latest/meta_data.json"), None, "a posing as b");
    let own = metadata_from(&c, "a", &ip_a, "openstack/latest/meta_data.json").expect("a, again itself");
    assert_eq!(own["uuid"], "vm-a");
    let theirs = metadata_from(&c, "b", &ip_b, "openstack/latest/meta_data.json").expect("b's own metadata");
    assert_eq!(theirs["uuid"], "vm-b");

    // The hosting host dies: its agent, then its dnsmasq (by the pid in its pid file).
    let pid_file = c.sandbox.host(dead).expect("host").dhcp_state_path().join(&net).join("pid");
    let pid = std::fs::read_to_string(&pid_file).expect("dnsmasq pid").trim().to_string();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "dnsmasq", "pid {pid} is the dead host's dnsmasq");
    c.stop_agent(dead);
    let killed = std::process::Command::new("kill").arg(&pid).status().expect("kill");
    assert!(killed.success());
    c.wait(Duration::from_secs(10), "the dead host's dnsmasq gone", |_| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).map_or(true, |comm| comm.trim() != "dnsmasq")
    });
    c.wait(Duration::from_secs(40), "the network moved to the live DHCP agent", |c| hosting(c) == [other]);
    let ports = c.api("GET", &format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp"), None).1;
    assert_eq!(ports["ports"].as_array().map(Vec::len), Some(1), "{ports}");
    assert_eq!(ports["ports"][0]["binding:host_id"], other);
    assert_eq!(ports["ports"][0]["fixed_ips"][0]["ip_address"], server.as_str(), "the same server address");
    c.wait(Duration::from_secs(30), "dnsmasq on the live agent", |c| {
        let dir = c.sandbox.host(other).expect("host").dhcp_state_path().join(&net);
        std::fs::read_to_string(dir.join("host")).unwrap_or_default().contains(&ip_a)
    });
    c.sandbox.renew_vm_lease("a").expect("renew");
    let renewed = c
        .sandbox
        .wait_vm_lease("a", Some(&lease), Duration::from_secs(40))
        .expect("a renews at the new agent");
    assert_eq!(renewed.address, lease.address);
    // The only dnsmasq left for this network is the live agent's: it answered.
    assert_eq!(renewed.server_id.map(|s| s.to_string()), Some(server.clone()));
}
