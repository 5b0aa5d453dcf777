//! Binding latency: for each sample a port is created without a host, an os-vif-style
//! interface for it is plugged into h1's `br-int` (an OVS internal port with
//! `external_ids:iface-id`) and given an ofport, then after 100 ms (the agent's OVSDB monitor
//! has long delivered the interface; an unknown port gets no flows, so nothing shows it),
//! `binding:host_id=h1` is PUT and the port polled every 2 ms until ACTIVE. Between levels
//! h1 is filled with bound, plugged ports in batches of one `ovs-vsctl` call per 100 ports.
//! Flows on h1's br-int and br-tun are counted at each level.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cloud::Cloud;

pub const HOST: &str = "h1";
const BATCH: usize = 100;

/// One level of measurement 1 (and the flow counts of measurement 3 at that level).
pub struct Level {
    /// Ports bound and plugged on h1 before the first sample.
    pub ports_before: usize,
    /// Seconds from the PUT to the first GET showing ACTIVE, one per sample.
    pub samples: Vec<Duration>,
    /// (br-int, br-tun) flow counts with `ports_before` ports.
    pub flows: (usize, usize),
    /// Median time of `ovs-vsctl set port <tap> tag=…` (which waits until ovs-vswitchd has
    /// applied it) after the samples: what reconfiguring the datapath costs at this level.
    pub vswitchd_apply: Duration,
}

/// The `ovs-vsctl` arguments plugging `tap<id[:11]>` for each (port id, MAC) into br-int.
pub fn plug_args(ports: &[(String, String)]) -> Vec<String> {
    let mut args = vec![];
    for (id, mac) in ports {
        let tap = neutrino_sandbox::tap_name(id);
        if !args.is_empty() {
            args.push("--".into());
        }
        args.extend(
            ["--may-exist", "add-port", "br-int", &tap, "--", "set", "interface", &tap, "type=internal"]
                .map(String::from),
        );
        args.push(format!("external_ids:iface-id={id}"));
        args.push(format!("external_ids:attached-mac={mac}"));
        args.push("external_ids:iface-status=active".into());
    }
    args
}

fn id_mac(p: &Value) -> Result<(String, String)> {
    Ok((
        p["id"].as_str().context("port id")?.to_string(),
        p["mac_address"].as_str().context("mac")?.to_string(),
    ))
}

pub struct Filler<'a> {
    pub cloud: &'a Cloud,
    pub network: String,
    /// Ports on h1 that are bound, plugged and ACTIVE.
    pub on_host: usize,
    /// ACTIVE ports of the network on other hosts.
    others: usize,
    next: usize,
    last_tap: Option<String>,
}

impl<'a> Filler<'a> {
    /// `on_host` ports of `network` are already ACTIVE on h1, `others` elsewhere.
    pub fn new(cloud: &'a Cloud, network: &str, on_host: usize, others: usize) -> Self {
        Filler { cloud, network: network.into(), on_host, others, next: 0, last_tap: None }
    }

    fn name(&mut self, kind: &str) -> String {
        self.next += 1;
        format!("{kind}{}", self.next)
    }

    /// Bulk: creates ports bound to h1 until `target` are on it, plugs them 100 per
    /// `ovs-vsctl` call and waits until all of the network's ports are ACTIVE.
    pub fn fill_to(&mut self, target: usize) -> Result<()> {
        let start = Instant::now();
        while self.on_host < target {
            let n = BATCH.min(target - self.on_host);
            let mut batch = vec![];
            for _ in 0..n {
                let name = self.name("fill");
                batch.push(id_mac(&self.cloud.port(&self.network, Some(HOST), &name)?)?);
            }
            self.cloud.vsctl(HOST, &plug_args(&batch))?;
            self.on_host += n;
        }
        let want = self.on_host + self.others;
        let net = self.network.clone();
        self.cloud.wait(Duration::from_secs(300), &format!("{want} ports ACTIVE"), |c| {
            Ok(c.active_ports(&net)? >= want)
        })?;
        eprintln!("  {} ports on {HOST}, filled in {:.1} s", self.on_host, start.elapsed().as_secs_f64());
        Ok(())
    }

    /// One sample: unbound port, plugged (seen by the agent's OVSDB monitor); then the binding
    /// is timed.
    pub fn sample(&mut self) -> Result<Duration> {
        let name = self.name("s");
        let (id, mac) = id_mac(&self.cloud.port(&self.network, None, &name)?)?;
        let tap = neutrino_sandbox::tap_name(&id);
        self.last_tap = Some(tap.clone());
        self.cloud.vsctl(HOST, &plug_args(&[(id.clone(), mac)]))?;
        // Plugged once ovs-vswitchd gave it an ofport; the agent's monitor sees it at once.
        self.cloud.wait(Duration::from_secs(30), &format!("{tap} has an ofport"), |c| {
            Ok(c.vsctl(HOST, &["get", "interface", &tap, "ofport"])?
                .trim()
                .parse::<i64>()
                .is_ok_and(|o| o > 0))
        })?;
        std::thread::sleep(Duration::from_millis(100));
        let path = format!("/v2.0/ports/{id}");
        let start = Instant::now();
        let p = self.cloud.api("PUT", &path, Some(json!({"port": {"binding:host_id": HOST}})))?;
        if p["port"]["binding:vif_type"] != "ovs" {
            bail!("port {id} did not bind to {HOST}: {p}");
        }
        loop {
            if self.cloud.api("GET", &path, None)?["port"]["status"] == "ACTIVE" {
                let t = start.elapsed();
                self.on_host += 1;
                return Ok(t);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("port {id} not ACTIVE 30 s after binding");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Fills to `ports`, counts flows, then takes `n` samples.
    pub fn level(&mut self, ports: usize, n: usize) -> Result<Level> {
        self.fill_to(ports)?;
        let flows = (self.cloud.flow_count(HOST, "br-int")?, self.cloud.flow_count(HOST, "br-tun")?);
        let ports_before = self.on_host;
        let mut samples = vec![];
        for _ in 0..n {
            samples.push(self.sample()?);
        }
        let vswitchd_apply = self.vswitchd_apply()?;
        Ok(Level { ports_before, samples, flows, vswitchd_apply })
    }

    /// Moves the last sample's port to VLAN 4094 and back twice with `ovs-vsctl` (which
    /// waits for ovs-vswitchd to reconfigure); the agent does not watch tags, so the port
    /// ends where it was. Returns the median time of the four calls.
    fn vswitchd_apply(&self) -> Result<Duration> {
        let Some(tap) = &self.last_tap else { return Ok(Duration::ZERO) };
        let tag = self.cloud.vsctl(HOST, &["get", "port", tap, "tag"])?;
        let mut times = vec![];
        for t in ["4094", &tag, "4094", &tag] {
            let start = Instant::now();
            self.cloud.vsctl(HOST, &["set", "port", tap, &format!("tag={t}")])?;
            times.push(start.elapsed());
        }
        times.sort();
        Ok(times[times.len() / 2])
    }
}
