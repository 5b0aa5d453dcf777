//! Building the demo's cloud through the public API, as upstream's clients would: the admin
//! makes the external network `public` (flat on physnet `public`, `router:external`) and binds
//! the VMs' ports to their hosts (as Nova does); everything else is the demo tenant's —
//! networks, subnets, router `r1` with its gateway and interfaces, security groups, ports,
//! floating IPs. VMs are plugged into the sandbox and ask for their addresses by DHCP.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use neutrino_client::{Client, Object};
use neutrino_sandbox::{Sandbox, VmSpec};
use serde_json::{Value, json};

use super::plan::{Plan, Remote, VmPlan};
use super::report::step;
use crate::error::CliError;

/// What was built, by name.
#[derive(Debug, Default, Clone)]
pub struct Built {
    pub external_id: String,
    pub router_id: String,
    /// The router's address on the external network (its SNAT address).
    pub gateway_ip: String,
    /// Network name → (network id, subnet id, mtu).
    pub networks: BTreeMap<String, (String, String, u32)>,
    pub groups: BTreeMap<String, String>,
    pub vms: BTreeMap<String, VmBuilt>,
}

/// A VM's port as the server made it.
#[derive(Debug, Default, Clone)]
pub struct VmBuilt {
    pub port_id: String,
    pub ip: String,
    /// Floating IP (id, address).
    pub floating: Option<(String, String)>,
}

fn obj(v: Value) -> Object {
    v.as_object().cloned().unwrap_or_default()
}

fn text(o: &Object, key: &str) -> String {
    o.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The external network and its subnet (admin).
pub async fn external(admin: &Client, plan: &Plan, built: &mut Built) -> Result<(), CliError> {
    let e = &plan.external;
    step(&format!(
        "admin: creating the external network {} (flat on physnet {}, router:external)…",
        e.name, e.physnet
    ));
    let net = admin
        .networks()
        .create(obj(json!({"name": e.name, "router:external": true,
            "provider:network_type": "flat", "provider:physical_network": e.physnet})))
        .await?;
    built.external_id = text(&net, "id");
    step(&format!(
        "admin: creating subnet {} {} (gateway {}, floating IPs {}–{})…",
        e.subnet, e.cidr, e.gateway, e.pool.0, e.pool.1
    ));
    admin
        .subnets()
        .create(obj(
            json!({"name": e.subnet, "network_id": built.external_id, "ip_version": 4, "cidr": e.cidr,
            "gateway_ip": e.gateway, "enable_dhcp": false,
            "allocation_pools": [{"start": e.pool.0, "end": e.pool.1}]}),
        ))
        .await?;
    Ok(())
}

/// The tenant's networks, router and security groups.
pub async fn tenant(demo: &Client, plan: &Plan, built: &mut Built) -> Result<(), CliError> {
    for n in &plan.networks {
        step(&format!("creating network {} with subnet {} ({})…", n.name, n.subnet, n.cidr));
        let net = demo.networks().create(obj(json!({"name": n.name}))).await?;
        let id = text(&net, "id");
        let mtu = net.get("mtu").and_then(Value::as_u64).and_then(|m| u32::try_from(m).ok()).unwrap_or(1450);
        let sub = demo
            .subnets()
            .create(obj(json!({"name": n.subnet, "network_id": id, "ip_version": 4, "cidr": n.cidr})))
            .await?;
        built.networks.insert(n.name.into(), (id, text(&sub, "id"), mtu));
    }
    step(&format!("creating router {} with its gateway on {}…", plan.router, plan.external.name));
    let router = demo
        .routers()
        .create(obj(json!({"name": plan.router, "external_gateway_info": {"network_id": built.external_id}})))
        .await?;
    built.router_id = text(&router, "id");
    built.gateway_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for n in &plan.networks {
        step(&format!("attaching subnet {} to {}…", n.subnet, plan.router));
        let subnet = &built.networks[n.name].1;
        demo.routers()
            .action(&built.router_id, "add_router_interface", &json!({"subnet_id": subnet}))
            .await?;
    }
    for g in &plan.groups {
        step(&format!("creating security group {}…", g.name));
        let sg = demo.security_groups().create(obj(json!({"name": g.name, "description": g.name}))).await?;
        built.groups.insert(g.name.into(), text(&sg, "id"));
    }
    for g in &plan.groups {
        for r in &g.ingress {
            let mut rule = json!({"security_group_id": built.groups[g.name], "direction": "ingress",
                "ethertype": "IPv4", "protocol": "tcp", "port_range_min": r.port, "port_range_max": r.port});
            let from = match &r.remote {
                Remote::Cidr(c) => {
                    rule["remote_ip_prefix"] = json!(c);
                    c.to_string()
                }
                Remote::Group(other) => {
                    rule["remote_group_id"] = json!(built.groups[*other]);
                    format!("group {other}")
                }
            };
            step(&format!("  {}: allow tcp/{} from {from}", g.name, r.port));
            demo.security_group_rules().create(obj(rule)).await?;
        }
    }
    Ok(())
}

/// One VM: its port (tenant), bound to its host (admin), plugged into the sandbox with a DHCP
/// client; waits until the port is ACTIVE.
pub async fn vm(
    demo: &Client,
    admin: &Client,
    sandbox: &mut Sandbox,
    vm: &VmPlan,
    built: &mut Built,
) -> Result<(), CliError> {
    step(&format!(
        "creating VM {} on {} (network {}, security group {})…",
        vm.name, vm.host, vm.network, vm.group
    ));
    let (net, _, mtu) = built.networks[vm.network].clone();
    let port = demo
        .ports()
        .create(obj(json!({"name": vm.name, "network_id": net, "security_groups": [built.groups[vm.group]]})))
        .await?;
    let port_id = text(&port, "id");
    admin
        .ports()
        .update(
            &port_id,
            obj(json!({"binding:host_id": vm.host, "device_owner": "compute:nova",
                "device_id": format!("demo-{}", vm.name)})),
        )
        .await?;
    let mac = text(&port, "mac_address");
    let ip = port["fixed_ips"][0]["ip_address"].as_str().unwrap_or_default().to_string();
    let mut spec = VmSpec::new(vm.sandbox_name(), &port_id, &mac).with_dhcp();
    spec.device_id = format!("demo-{}", vm.name);
    spec.mtu = mtu;
    sandbox.plug_vm(vm.host, &spec).map_err(|e| CliError::Config(format!("sandbox: {e}")))?;
    wait_port_active(admin, &port_id, vm.name).await?;
    built.vms.insert(vm.name.into(), VmBuilt { port_id, ip, floating: None });
    Ok(())
}

async fn wait_port_active(admin: &Client, port_id: &str, name: &str) -> Result<(), CliError> {
    let start = Instant::now();
    loop {
        let p = admin.ports().show(port_id).await?;
        if p.get("status").and_then(Value::as_str) == Some("ACTIVE") {
            return Ok(());
        }
        if p.get("binding:vif_type").and_then(Value::as_str) == Some("binding_failed") {
            return Err(CliError::Config(format!(
                "the port of {name} could not bind (no live agent on its host?)"
            )));
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(CliError::Config(format!("the port of {name} did not become ACTIVE")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The floating IPs of the VMs that get one (tenant).
pub async fn floating_ips(demo: &Client, plan: &Plan, built: &mut Built) -> Result<(), CliError> {
    for v in plan.vms.iter().filter(|v| v.floating_ip) {
        let port = built.vms[v.name].port_id.clone();
        let fip = demo
            .floating_ips()
            .create(obj(json!({"floating_network_id": built.external_id, "port_id": port})))
            .await?;
        let address = text(&fip, "floating_ip_address");
        step(&format!("floating IP {address} for {}", v.name));
        if let Some(vm) = built.vms.get_mut(v.name) {
            vm.floating = Some((text(&fip, "id"), address));
        }
    }
    Ok(())
}

/// Waits until the server counts `rows` live agents (one per role of each host's agent).
pub async fn wait_agents(admin: &Client, rows: usize) -> Result<(), CliError> {
    let start = Instant::now();
    loop {
        let (_, body) = admin.call(neutrino_client::Method::GET, "/v2.0/agents", None).await?;
        let agents = body["agents"].as_array().cloned().unwrap_or_default();
        let alive = agents.iter().filter(|a| a["alive"] == true).count();
        if alive >= rows {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(CliError::Config(format!(
                "only {alive} of {rows} agents came alive (see the agent logs)"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
