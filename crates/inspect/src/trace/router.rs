//! A router on the path: the packet enters its `qrouter-` namespace by an interface (`qr-`) or
//! the gateway (`qg-`); the namespace's floating IP map (`fip_dnat` of table `ip neutrino-l3`)
//! translates a floating destination, its routes (`ip route get … iif …`) choose the way out,
//! and leaving by the gateway the source becomes its floating IP (`fip_snat`) or, with SNAT on,
//! the gateway's address. The packet then enters the integration bridge from the outgoing
//! device's veth (`tr-`/`tg-`), addressed to the next hop's MAC (the namespace's neighbours, or
//! the API port holding the address).

use serde_json::Value;

use crate::cloud::{Cloud, Port, Router};
use crate::source::NsQuery;
use crate::views::ns::nft_map;

use super::packet::Packet;
use super::{Observation, TraceHost};

/// Where the packet goes after the router.
pub struct Routed {
    pub observations: Vec<Observation>,
    /// The router port it leaves by and the packet as it leaves (`None`: dropped, see the last
    /// observation).
    pub out: Option<(String, Packet)>,
}

fn obs(host: &str, component: &str, action: &str, text: String) -> Observation {
    Observation {
        host: host.into(),
        component: component.into(),
        action: action.into(),
        text,
        ..Observation::default()
    }
}

/// The router drops the packet: `observations` end with why.
fn dropped(mut observations: Vec<Observation>, host: &str, why: String) -> Routed {
    observations.push(obs(host, "router", "dropped", why));
    Routed { observations, out: None }
}

/// The router's device for one of its ports.
fn device(port: &Port) -> String {
    match port.device_owner.as_str() {
        "network:router_gateway" => neutrino_agent::l3::qg_name(&port.id),
        _ => neutrino_agent::l3::qr_name(&port.id),
    }
}

/// Follows `packet` arriving on router port `in_port` of `router`, on `host`.
pub fn route(
    cloud: &Cloud,
    host: &TraceHost<'_>,
    router: &Router,
    in_port: &Port,
    packet: &Packet,
) -> Routed {
    let name = host.src.host();
    let rlabel = crate::cloud::label(&router.name, &router.id);
    let ns = neutrino_agent::l3::namespace(host.src.namespace_prefix(), &router.id);
    let mut observations = vec![];
    let mut p = packet.clone();
    let ruleset: Value = host
        .src
        .in_ns(&ns, &NsQuery::Ruleset)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let dnat = nft_map(&ruleset, "fip_dnat");
    let snat = nft_map(&ruleset, "fip_snat");
    let iif = device(in_port);
    if in_port.device_owner == "network:router_gateway"
        && let Some(fixed) = dnat.get(&p.dst_ip)
    {
        let mut o = obs(
            name,
            "nat",
            "translated",
            format!("router {rlabel}: floating IP {} → {fixed} (DNAT)", p.dst_ip),
        );
        o.translated_dst = Some(fixed.clone());
        observations.push(o);
        p.dst_ip = fixed.clone();
    }
    let query = NsQuery::RouteGet { dst: p.dst_ip.clone(), src: packet.src_ip.clone(), iif: iif.clone() };
    let answer = host.src.in_ns(&ns, &query);
    let hop: Option<(String, Option<String>)> = answer.as_ref().ok().and_then(|t| {
        let v: Value = serde_json::from_str(t).ok()?;
        let r = v.as_array()?.first()?;
        let dev = r.get("dev")?.as_str()?.to_string();
        Some((dev, r.get("gateway").and_then(Value::as_str).map(str::to_string)))
    });
    let Some((dev, gateway)) = hop else {
        let why = match answer {
            Err(e) => e.to_string(),
            Ok(_) => "no route".into(),
        };
        return dropped(observations, name, format!("router {rlabel}: no route to {}: {why}", p.dst_ip));
    };
    let ports: Vec<&Port> = cloud.ports.iter().filter(|q| q.device_id == router.id).collect();
    let Some(out) = ports.iter().find(|q| device(q) == dev) else {
        let text = format!("router {rlabel}: route to {} leaves by {dev}, not one of its ports", p.dst_ip);
        return dropped(observations, name, text);
    };
    let via = gateway.clone().unwrap_or_else(|| p.dst_ip.clone());
    observations.push(obs(
        name,
        "router",
        "forwarded",
        format!(
            "router {rlabel}: {} via {dev} (network {}){}, TTL {}→{}",
            p.dst_ip,
            cloud.network_label(&out.network_id),
            gateway.as_ref().map(|g| format!(" next hop {g}")).unwrap_or_default(),
            p.ttl,
            p.ttl.saturating_sub(1)
        ),
    ));
    if out.device_owner == "network:router_gateway" {
        let gw_ip = out.ips().next().unwrap_or_default().to_string();
        let snat_on = router.external_gateway_info.as_ref().and_then(|g| g.enable_snat).unwrap_or(true);
        let new_src = match snat.get(&p.src_ip) {
            Some(fip) => {
                Some((fip.clone(), format!("router {rlabel}: source {} → its floating IP {fip}", p.src_ip)))
            }
            None if snat_on => Some((gw_ip.clone(), format!("router {rlabel}: SNAT to {gw_ip}"))),
            None => None,
        };
        if let Some((src, text)) = new_src {
            let mut o = obs(name, "nat", "translated", text);
            o.translated_src = Some(src.clone());
            observations.push(o);
            p.src_ip = src;
        }
    }
    let neighbours: Value = host
        .src
        .in_ns(&ns, &NsQuery::Neighbours)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let lladdr = neighbours.as_array().and_then(|list| {
        list.iter().find_map(|n| {
            (n.get("dst")?.as_str()? == via && n.get("dev")?.as_str()? == dev)
                .then(|| n.get("lladdr")?.as_str().map(str::to_string))
                .flatten()
        })
    });
    let from_api = cloud
        .ports
        .iter()
        .find(|q| q.network_id == out.network_id && q.ips().any(|i| i == via))
        .map(|q| q.mac_address.clone());
    p.src_mac = out.mac_address.clone();
    p.dst_mac = from_api.or(lladdr).unwrap_or_else(|| "ff:ff:ff:ff:ff:ff".into());
    p.ttl = p.ttl.saturating_sub(1);
    Routed { observations, out: Some((out.id.clone(), p)) }
}
