//! Router figures on a sandbox of two compute hosts and a network node (its agent runs the
//! `l3` role with the external network on `br-ex`): floating IP associate → the first echo
//! reply the public host gets from the VM behind it; a router with 10 interfaces and 100
//! floating IPs: how long a restarted agent takes to be in sync, against its first build of
//! the same router; routed TCP throughput between two networks against the same VMs' hosts on
//! one network, in the same run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cloud::Cloud;
use crate::report::ms_summary;
use crate::resync::iperf;

/// The public host behind the sandbox's `ext` namespace.
const PUBLIC_HOST: &str = "198.51.100.10";
const NETWORK_NODE: &str = "network";

/// Sends an ICMP echo request to `argv[1]` every 5 ms from a raw socket and prints the wall
/// clock time (seconds) of the first reply from it, or nothing after `argv[2]` seconds.
const FIRST_REPLY: &str = r#"
import os, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
dst, end = sys.argv[1], time.time() + float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setblocking(False)
ident, seq = os.getpid() & 0xffff, 0
while time.time() < end:
    seq = (seq + 1) & 0xffff
    h = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"neutrino"
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(h), ident, seq) + b"neutrino", (dst, 0))
    stop = time.time() + 0.005
    while time.time() < stop:
        try:
            data, addr = s.recvfrom(1500)
        except BlockingIOError:
            time.sleep(0.0005)
            continue
        ihl = (data[0] & 0x0f) * 4
        if addr[0] == dst and data[ihl] == 0 and struct.unpack("!H", data[ihl + 4:ihl + 6])[0] == ident:
            print("%.6f" % time.time(), flush=True)
            sys.exit(0)
sys.exit(1)
"#;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn id(v: &Value) -> Result<String> {
    Ok(v["id"].as_str().context("id")?.to_string())
}

/// The external network and a router with its gateway there: (external network, router).
fn router(cloud: &Cloud) -> Result<(String, String)> {
    let n = cloud.api(
        "POST",
        "/v2.0/networks",
        Some(json!({"network": {"name": "public", "router:external": true,
        "provider:network_type": "flat", "provider:physical_network": "public"}})),
    )?;
    let ext = id(&n["network"])?;
    cloud.api(
        "POST",
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": ext, "ip_version": 4,
        "cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": false}})),
    )?;
    let r = cloud.api(
        "POST",
        "/v2.0/routers",
        Some(json!({"router": {"name": "bench",
        "external_gateway_info": {"network_id": ext}}})),
    )?;
    Ok((ext, id(&r["router"])?))
}

/// A VXLAN network with subnet `10.<n>.0.0/24` (gateway `.1`) on `router`: (network, mtu).
fn routed_network(cloud: &Cloud, router: &str, n: u32) -> Result<(String, u32)> {
    let net = cloud.api(
        "POST",
        "/v2.0/networks",
        Some(json!({"network": {"name": format!("n{n}"),
        "provider:network_type": "vxlan"}})),
    )?;
    let net_id = id(&net["network"])?;
    let s = cloud.api(
        "POST",
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net_id, "ip_version": 4,
        "cidr": format!("10.{n}.0.0/24"), "gateway_ip": format!("10.{n}.0.1"), "enable_dhcp": false}})),
    )?;
    let body = json!({"subnet_id": id(&s["subnet"])?});
    cloud.api("PUT", &format!("/v2.0/routers/{router}/add_router_interface"), Some(body))?;
    let mtu = u32::try_from(net["network"]["mtu"].as_u64().context("mtu")?)?;
    Ok((net_id, mtu))
}

/// A security group admitting ICMP and TCP from anywhere.
fn open_group(cloud: &Cloud) -> Result<String> {
    let g = cloud.api("POST", "/v2.0/security-groups", Some(json!({"security_group": {"name": "open"}})))?;
    let g = id(&g["security_group"])?;
    for protocol in ["icmp", "tcp"] {
        cloud.api(
            "POST",
            "/v2.0/security-group-rules",
            Some(json!({"security_group_rule": {
            "security_group_id": g, "direction": "ingress", "ethertype": "IPv4", "protocol": protocol,
            "remote_ip_prefix": "0.0.0.0/0"}})),
        )?;
    }
    Ok(g)
}

/// A VM on `host` in `network` (`10.<n>.0.0/24`) with its default route via the router.
fn vm(
    cloud: &mut Cloud,
    host: &str,
    name: &str,
    network: &str,
    n: u32,
    mtu: u32,
    group: &str,
) -> Result<String> {
    let ip = cloud.vm_with(host, name, network, mtu, json!({"security_groups": [group]}))?;
    let ns = cloud.vm_netns(name)?;
    // The harness plugs /20 addresses; the subnets here are /24.
    for argv in [
        vec!["ip", "addr", "flush", "dev", "eth0"],
        vec!["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
        vec!["ip", "route", "replace", "default", "via", &format!("10.{n}.0.1")],
    ] {
        let out = cloud.sandbox.exec(&ns, &argv)?;
        if !out.status.success() {
            bail!("{}: {}", argv.join(" "), String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(ip)
}

fn public_netns(cloud: &Cloud) -> String {
    format!("{}public", cloud.sandbox.state().name_prefix)
}

/// Associate → first reply, `samples` times, each on a fresh floating IP.
fn fip_to_first_reply(cloud: &Cloud, ext: &str, port: &str, samples: usize) -> Result<Vec<Duration>> {
    let public = public_netns(cloud);
    let mut out = vec![];
    for _ in 0..samples {
        let f = cloud.api(
            "POST",
            "/v2.0/floatingips",
            Some(json!({"floatingip": {"floating_network_id": ext}})),
        )?;
        let (fid, fip) = (
            id(&f["floatingip"])?,
            f["floatingip"]["floating_ip_address"].as_str().context("ip")?.to_string(),
        );
        let prober = cloud.sandbox.spawn(&public, &["python3", "-c", FIRST_REPLY, &fip, "10"])?;
        std::thread::sleep(Duration::from_millis(300));
        let t0 = now();
        cloud.api(
            "PUT",
            &format!("/v2.0/floatingips/{fid}"),
            Some(json!({"floatingip": {"port_id": port}})),
        )?;
        let o = prober.wait_with_output()?;
        let text = String::from_utf8_lossy(&o.stdout);
        let t1: f64 = text.trim().parse().with_context(|| format!("no reply from {fip} within 10 s"))?;
        out.push(Duration::from_secs_f64((t1 - t0).max(0.0)));
        cloud.api("DELETE", &format!("/v2.0/floatingips/{fid}"), None)?;
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(out)
}

/// The network node's agent stopped and started again: the time from its start to its
/// `agent in sync` line.
fn restart_to_sync(cloud: &mut Cloud) -> Result<Duration> {
    cloud.stop_agent(NETWORK_NODE)?;
    start_to_sync(cloud)
}

/// Starts the network node's (stopped) agent; the time to its `agent in sync` line.
fn start_to_sync(cloud: &mut Cloud) -> Result<Duration> {
    let log = cloud.agent_log(NETWORK_NODE)?;
    let t = std::time::Instant::now();
    cloud.start_agent(NETWORK_NODE)?;
    loop {
        if std::fs::read_to_string(&log).unwrap_or_default().contains("agent in sync") {
            return Ok(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(120) {
            bail!("the network node's agent not in sync 120 s after its start");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn run(cloud: &mut Cloud, samples: usize) -> Result<()> {
    let (ext, r) = router(cloud)?;
    let group = open_group(cloud)?;
    let (n1, mtu) = routed_network(cloud, &r, 1)?;
    let (n2, _) = routed_network(cloud, &r, 2)?;
    let a = vm(cloud, "h1", "a", &n1, 1, mtu, &group)?;
    let b = vm(cloud, "h2", "b", &n2, 2, mtu, &group)?;
    let c = vm(cloud, "h2", "c", &n1, 1, mtu, &group)?;
    let (ns_a, ns_b, ns_c) = (cloud.vm_netns("a")?, cloud.vm_netns("b")?, cloud.vm_netns("c")?);
    cloud.wait(Duration::from_secs(30), "a pings b through the router", |c| {
        Ok(c.sandbox.exec(&ns_a, &["busybox", "ping", "-c", "1", "-W", "1", &b])?.status.success())
    })?;
    cloud.wait(Duration::from_secs(30), "a reaches the public host through SNAT", |c| {
        Ok(c.sandbox.exec(&ns_a, &["busybox", "ping", "-c", "1", "-W", "1", PUBLIC_HOST])?.status.success())
    })?;
    eprintln!("router up; a {a} (h1, n1), b {b} (h2, n2), c {c} (h2, n1)");

    let port_a = cloud.api("GET", "/v2.0/ports?name=a", None)?["ports"][0]["id"]
        .as_str()
        .context("port a")?
        .to_string();
    let fip = fip_to_first_reply(cloud, &ext, &port_a, samples)?;
    println!(
        "floating IP associate -> first echo reply from outside ({} samples): {}",
        fip.len(),
        ms_summary(&fip)
    );

    let (mut routed, mut switched) = (vec![], vec![]);
    for _ in 0..3 {
        routed.push(iperf(cloud, &ns_a, &ns_b, &b)?);
        switched.push(iperf(cloud, &ns_a, &ns_c, &c)?);
    }
    let (rm, sm) = (crate::median(routed), crate::median(switched));
    println!(
        "TCP a -> b routed (h1 -> network node -> h2): {:.2} Gbit/s; a -> c same network (h1 -> h2): {:.2} Gbit/s; ratio {:.2}",
        rm / 1e9,
        sm / 1e9,
        rm / sm
    );

    // A router with 10 interfaces and 100 floating IPs (ports need no VM to hold one).
    for n in 3..=10 {
        routed_network(cloud, &r, n)?;
    }
    for i in 0..100 {
        let p = cloud.port(&n1, None, &format!("f{i}"))?;
        cloud.api(
            "POST",
            "/v2.0/floatingips",
            Some(json!({"floatingip": {"floating_network_id": ext,
            "port_id": id(&p)?}})),
        )?;
    }
    cloud.wait(Duration::from_secs(120), "100 floating IPs ACTIVE", |c| {
        let l = c.api("GET", "/v2.0/floatingips?status=ACTIVE&fields=id", None)?;
        Ok(l["floatingips"].as_array().map_or(0, Vec::len) >= 100)
    })?;
    let mut warm = vec![];
    for _ in 0..3 {
        warm.push(restart_to_sync(cloud)?);
    }
    let ns = format!("{}qrouter-{r}", cloud.host(NETWORK_NODE)?.namespace_prefix());
    cloud.stop_agent(NETWORK_NODE)?;
    // What runs in the namespace (the metadata proxy) goes with it, by pid.
    let host = &cloud.sandbox.machine().host;
    for p in host.processes_in_netns(&ns)? {
        host.stop(&p, Duration::from_secs(5))?;
    }
    let del = std::process::Command::new("ip").args(["netns", "delete", &ns]).status()?;
    if !del.success() {
        bail!("no namespace {ns} to delete");
    }
    let cold = start_to_sync(cloud)?;
    println!(
        "router with 10 interfaces and 100 floating IPs: restarted agent in sync {} (3 runs); building it from nothing {:.0} ms",
        ms_summary(&warm),
        cold.as_secs_f64() * 1e3
    );
    Ok(())
}
