//! `bench-dataplane dhcp`: the time from creating a port (bound to h1, its VM plugged at once
//! with a DHCP client) until the VM holds its lease from the network node's dnsmasq, with 1,
//! 100 and 1,000 ports on the network. Each sample also records when the port was ACTIVE (the
//! `l2` wiring) and when dnsmasq's host file named it (the server's delta, the `dhcp` driver's
//! files and SIGHUP), so that the lease time can be read against its parts. The client is
//! busybox `udhcpc`: a DISCOVER sent before dnsmasq knows the port is retried after 3 s.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use neutrino_sandbox::VmSpec;
use serde_json::json;

use crate::cloud::Cloud;
use crate::report::pct;

const NODE: &str = "network";

struct Sample {
    active: Duration,
    in_dnsmasq: Duration,
    lease: Duration,
}

/// Unbound ports on `net` until it has `target` ports besides the DHCP port (bulk creates).
fn fill(c: &Cloud, net: &str, have: &mut usize, target: usize) -> Result<()> {
    while *have < target {
        let n = (target - *have).min(200);
        let ports: Vec<_> = (0..n)
            .map(|i| json!({"network_id": net, "name": format!("fill-{}", *have + i), "device_owner": "compute:nova"}))
            .collect();
        c.api("POST", "/v2.0/ports", Some(json!({ "ports": ports })))?;
        *have += n;
    }
    Ok(())
}

fn sample(c: &mut Cloud, net: &str, i: usize) -> Result<Sample> {
    let name = format!("d{i}");
    let hosts_file = c.host(NODE)?.dhcp_state_path().join(net).join("host");
    let t0 = Instant::now();
    let p = c.port(net, Some("h1"), &name)?;
    let id = p["id"].as_str().context("id")?.to_string();
    let mac = p["mac_address"].as_str().context("mac")?.to_string();
    let mut spec = VmSpec::new(&name, &id, &mac).with_dhcp();
    spec.mtu = 1450;
    c.sandbox.plug_vm("h1", &spec)?;
    let (mut active, mut in_dnsmasq, mut lease) = (None, None, None);
    let path = format!("/v2.0/ports/{id}");
    while lease.is_none() || active.is_none() || in_dnsmasq.is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("sample {i}: no lease within 60 s (active {active:?}, in dnsmasq {in_dnsmasq:?})");
        }
        if in_dnsmasq.is_none() && std::fs::read_to_string(&hosts_file).unwrap_or_default().contains(&mac) {
            in_dnsmasq = Some(t0.elapsed());
        }
        if lease.is_none() && c.sandbox.vm_lease(&name)?.is_some_and(|l| l.is_bound()) {
            lease = Some(t0.elapsed());
        }
        if active.is_none() && c.api("GET", &path, None)?["port"]["status"] == "ACTIVE" {
            active = Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    c.sandbox.unplug_vm(&name)?;
    c.api("DELETE", &path, None)?;
    Ok(Sample {
        active: active.unwrap_or_default(),
        in_dnsmasq: in_dnsmasq.unwrap_or_default(),
        lease: lease.unwrap_or_default(),
    })
}

pub fn run(c: &mut Cloud, samples: usize) -> Result<()> {
    let n = c.api(
        "POST",
        "/v2.0/networks",
        Some(json!({"network": {"name": "dhcp-bench", "provider:network_type": "vxlan"}})),
    )?;
    let net = n["network"]["id"].as_str().context("network id")?.to_string();
    c.api(
        "POST",
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.60.0.0/16", "gateway_ip": "10.60.0.1"}})),
    )?;
    let mut have = 0;
    let mut rows = vec![];
    for level in [1usize, 100, 1000] {
        // The level counts the ports already there when a sample's port comes.
        fill(c, &net, &mut have, level - 1)?;
        let mut got = vec![];
        for i in 0..samples {
            got.push(sample(c, &net, level * 1000 + i)?);
        }
        let lease: Vec<Duration> = got.iter().map(|s| s.lease).collect();
        eprintln!("  {level} ports: lease p50 {:.0} ms p99 {:.0} ms", pct(&lease, 0.5), pct(&lease, 0.99));
        rows.push((level, got));
    }
    println!("## port create (bound to h1, VM plugged with udhcpc) -> lease from the network node's dnsmasq");
    println!(
        "{:>10} {:>4} {:>14} {:>16} {:>12} {:>12}",
        "ports", "n", "ACTIVE p50 ms", "in dnsmasq p50", "lease p50", "lease p99"
    );
    for (level, got) in &rows {
        let col = |f: fn(&Sample) -> Duration| got.iter().map(f).collect::<Vec<_>>();
        println!(
            "{:>10} {:>4} {:>14.0} {:>16.0} {:>12.0} {:>12.0}",
            level,
            got.len(),
            pct(&col(|s| s.active), 0.5),
            pct(&col(|s| s.in_dnsmasq), 0.5),
            pct(&col(|s| s.lease), 0.5),
            pct(&col(|s| s.lease), 0.99),
        );
    }
    println!(
        "(ports: on the network when the sample's port is created; in dnsmasq: its MAC in the host file on the network node)"
    );
    Ok(())
}
