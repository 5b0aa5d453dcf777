//! `bench-dataplane security`: the security group figures on a sandbox of two hosts —
//! OpenFlow rules on a host as a remote group grows to 10, 100 and 1,000 members (and with ten
//! local ports in it), the time from one rule added to a group of 500 ports spread over both
//! hosts until every host has its flows, the time from a rule removed until the established TCP
//! connection it allowed stops, and VM-to-VM TCP throughput with security groups against the
//! same path with port security off, side by side in one run.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use neutrino_sandbox::ECHO_SERVER;

use crate::binding::plug_args;
use crate::cloud::Cloud;
use crate::{median, resync};

/// Sends a byte every 2 ms on one TCP connection for `argv[3]` seconds and prints the wall-clock
/// time of every echo received (a reply not back within 20 ms prints nothing).
const EXCHANGE_CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.settimeout(0.02)
end = time.time() + float(sys.argv[3])
while time.time() < end:
    try:
        s.sendall(b"x")
        if s.recv(1):
            print("%.6f" % time.time(), flush=True)
    except OSError:
        pass
    time.sleep(0.002)
"#;

fn group(cloud: &Cloud, name: &str) -> Result<String> {
    let g = cloud.api("POST", "/v2.0/security-groups", Some(json!({"security_group": {"name": name}})))?;
    Ok(g["security_group"]["id"].as_str().context("group id")?.to_string())
}

fn rule(cloud: &Cloud, group: &str, mut body: Value) -> Result<String> {
    body["security_group_id"] = json!(group);
    let r = cloud.api("POST", "/v2.0/security-group-rules", Some(json!({"security_group_rule": body})))?;
    Ok(r["security_group_rule"]["id"].as_str().context("rule id")?.to_string())
}

/// Waits until `host`'s br-int flow count has not changed for a second; returns it.
fn settled_flows(cloud: &Cloud, host: &str) -> Result<usize> {
    let start = Instant::now();
    let mut last = (cloud.flow_count(host, "br-int")?, Instant::now());
    while start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
        let n = cloud.flow_count(host, "br-int")?;
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return Ok(n);
        }
    }
    bail!("{host}'s flows did not settle in 120 s")
}

/// Plugs `n` ports of `group` bound to `host` as OVS internal ports, 100 per `ovs-vsctl` call.
fn plugged_members(cloud: &Cloud, net: &str, host: &str, group: &str, n: usize, tag: &str) -> Result<()> {
    let mut done = 0;
    while done < n {
        let mut batch = vec![];
        for i in done..(done + 100).min(n) {
            let p = cloud.port_with(
                net,
                Some(host),
                &format!("{tag}{i}"),
                json!({"security_groups": [group]}),
            )?;
            batch.push((
                p["id"].as_str().context("id")?.to_string(),
                p["mac_address"].as_str().context("mac")?.to_string(),
            ));
        }
        done += batch.len();
        cloud.vsctl(host, &plug_args(&batch))?;
    }
    Ok(())
}

/// Rules on h1 with one (then ten) local ports in a group whose rule admits its own members,
/// as the group grows to 10, 100 and 1,000 members (the others unbound).
fn flows_by_members(cloud: &Cloud, net: &str) -> Result<Vec<(usize, usize, usize)>> {
    let g = group(cloud, "remote")?;
    rule(cloud, &g, json!({"direction": "ingress", "remote_group_id": g}))?;
    plugged_members(cloud, net, "h1", &g, 1, "local")?;
    let mut members = 1;
    let mut rows = vec![(1, members, settled_flows(cloud, "h1")?)];
    for target in [10, 100, 1000] {
        while members < target {
            cloud.port_with(net, None, &format!("member{members}"), json!({"security_groups": [g]}))?;
            members += 1;
        }
        rows.push((1, members, settled_flows(cloud, "h1")?));
    }
    plugged_members(cloud, net, "h1", &g, 9, "local-more")?;
    rows.push((10, members + 9, settled_flows(cloud, "h1")?));
    Ok(rows)
}

/// Whether `host`'s br-int has a flow matching TCP destination port `port`.
fn has_port_flow(cloud: &Cloud, host: &str, port: u16) -> Result<bool> {
    let mgmt = cloud.host(host)?.run_dir().join("br-int.mgmt");
    let out = std::process::Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow14", "--no-stats", "dump-flows"])
        .arg(format!("unix:{}", mgmt.display()))
        .arg(format!("tcp,tp_dst={port}"))
        .output()
        .context("ovs-ofctl")?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().any(|l| l.contains(&format!("tp_dst={port}"))))
}

/// Seconds from a rule's POST to its flows on both hosts, for a group of 500 ports (250 per
/// host), `samples` times with a new port each time.
fn rule_to_enforced(cloud: &Cloud, net: &str, samples: usize) -> Result<Vec<Duration>> {
    let g = group(cloud, "big")?;
    for h in ["h1", "h2"] {
        plugged_members(cloud, net, h, &g, 250, &format!("big-{h}-"))?;
    }
    cloud.wait(Duration::from_secs(300), "the 500 ports ACTIVE", |c| {
        let l = c.api("GET", &format!("/v2.0/ports?security_groups={g}&status=ACTIVE&fields=id"), None)?;
        Ok(l["ports"].as_array().map_or(0, Vec::len) >= 500)
    })?;
    settled_flows(cloud, "h1")?;
    let mut out = vec![];
    for i in 0..samples {
        let port = 7000 + u16::try_from(i)?;
        let start = Instant::now();
        rule(
            cloud,
            &g,
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": port, "port_range_max": port}),
        )?;
        let mut seen = [false, false];
        while !seen.iter().all(|s| *s) {
            for (k, h) in ["h1", "h2"].iter().enumerate() {
                if !seen[k] && has_port_flow(cloud, h, port)? {
                    seen[k] = true;
                }
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("rule for tcp/{port} not on both hosts after 30 s");
            }
        }
        out.push(start.elapsed());
    }
    Ok(out)
}

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds from a rule's DELETE to the last echo of the connection it allowed (c on h1 to d on
/// h2, TCP 5001 admitted from c's address only), `samples` times.
fn cut_after_removal(cloud: &mut Cloud, net: &str, mtu: u32, samples: usize) -> Result<Vec<Duration>> {
    let (gc, gd) = (group(cloud, "client")?, group(cloud, "server")?);
    let c_ip = cloud.vm_with("h1", "c", net, mtu, json!({"security_groups": [gc]}))?;
    let d_ip = cloud.vm_with("h2", "d", net, mtu, json!({"security_groups": [gd]}))?;
    let (ns_c, ns_d) = (cloud.vm_netns("c")?, cloud.vm_netns("d")?);
    let mut out = vec![];
    for _ in 0..samples {
        let r = rule(
            cloud,
            &gd,
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 5001,
            "port_range_max": 5001, "remote_ip_prefix": format!("{c_ip}/32")}),
        )?;
        std::thread::sleep(Duration::from_secs(1));
        let mut server = cloud.sandbox.spawn(&ns_d, &["python3", "-c", ECHO_SERVER, "5001"])?;
        std::thread::sleep(Duration::from_millis(300));
        let client = cloud.sandbox.spawn(&ns_c, &["python3", "-c", EXCHANGE_CLIENT, &d_ip, "5001", "8"])?;
        std::thread::sleep(Duration::from_secs(2));
        let deleted_at = now_s();
        cloud.api("DELETE", &format!("/v2.0/security-group-rules/{r}"), None)?;
        let text = client.wait_with_output()?;
        let _ = server.kill();
        let _ = server.wait();
        let echoes: Vec<f64> =
            String::from_utf8_lossy(&text.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
        let before = echoes.iter().filter(|t| **t < deleted_at).count();
        if before < 100 {
            bail!("the connection did not work before the rule went ({before} echoes)");
        }
        let last = echoes.last().copied().unwrap_or(deleted_at);
        if last > deleted_at + 5.5 {
            bail!("the connection was not cut in the 6 s after its rule went");
        }
        out.push(Duration::from_secs_f64((last - deleted_at).max(0.0)));
    }
    Ok(out)
}

/// Bits per second a→b (both in the default group, which admits its members) and n→m (port
/// security off), alternating, three runs each.
fn throughput(cloud: &mut Cloud, net: &str, mtu: u32) -> Result<(f64, f64)> {
    cloud.vm("h1", "a", net, mtu)?;
    let b = cloud.vm("h2", "b", net, mtu)?;
    let open = json!({"port_security_enabled": false, "security_groups": []});
    cloud.vm_with("h1", "n", net, mtu, open.clone())?;
    let m = cloud.vm_with("h2", "m", net, mtu, open)?;
    let ns = |c: &Cloud, v: &str| c.vm_netns(v);
    let (ns_a, ns_b, ns_n, ns_m) = (ns(cloud, "a")?, ns(cloud, "b")?, ns(cloud, "n")?, ns(cloud, "m")?);
    let (mut sg, mut plain) = (vec![], vec![]);
    for _ in 0..3 {
        sg.push(resync::iperf(cloud, &ns_a, &ns_b, &b)?);
        plain.push(resync::iperf(cloud, &ns_n, &ns_m, &m)?);
    }
    Ok((median(sg), median(plain)))
}

#[allow(clippy::cast_precision_loss, reason = "flow counts are far below 2^52")]
fn delta(now: usize, before: usize, by: usize) -> f64 {
    (now as f64 - before as f64) / by.max(1) as f64
}

pub fn run(cloud: &mut Cloud, samples: usize) -> Result<()> {
    let (net, mtu) = cloud.vxlan_network("10.10.0.0/20")?;
    let (sg_bps, plain_bps) = throughput(cloud, &net, mtu)?;
    eprintln!("throughput: {:.2} Gbit/s with groups, {:.2} without", sg_bps / 1e9, plain_bps / 1e9);
    let cut = cut_after_removal(cloud, &net, mtu, 5)?;
    eprintln!("cut: {}", crate::report::ms_summary(&cut));
    let flows = flows_by_members(cloud, &net)?;
    let enforced = rule_to_enforced(cloud, &net, samples)?;
    println!("## security groups (VXLAN, two hosts)");
    println!("OpenFlow rules on h1's br-int, group admitting its own members:");
    println!("| local ports in group | members | br-int rules | added rules per added member / local port |");
    println!("|---|---|---|---|");
    let mut prev: Option<(usize, usize, usize)> = None;
    for &(local, members, n) in &flows {
        let per = match prev {
            Some((l, _, f)) if local > l => format!("{:.2} per local port", delta(n, f, local - l)),
            Some((_, m, f)) => format!("{:.2} per member", delta(n, f, members - m)),
            None => "-".into(),
        };
        println!("| {local} | {members} | {n} | {per} |");
        prev = Some((local, members, n));
    }
    println!(
        "rule added to a group of 500 ports (250 per host) -> flows on both hosts: {}",
        crate::report::ms_summary(&enforced)
    );
    println!(
        "  target under 1 s: {}",
        if crate::report::pct(&enforced, 0.99) < 1000.0 { "met" } else { "MISSED" }
    );
    println!("rule removed -> last echo of the connection it allowed: {}", crate::report::ms_summary(&cut));
    println!(
        "TCP VM to VM over VXLAN: {:.2} Gbit/s with security groups, {:.2} Gbit/s with port security off, ratio {:.3}",
        sg_bps / 1e9,
        plain_bps / 1e9,
        sg_bps / plain_bps
    );
    Ok(())
}
