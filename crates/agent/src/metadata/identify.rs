//! Who is asking: the headers the network's or the router's haproxy set
//! (`X-Neutron-Network-ID` or `X-Neutron-Router-ID`, and `X-Forwarded-For` appended last)
//! resolved to the instance port holding that address on that network (or on one of the
//! router's networks), as upstream's `_get_instance_and_project_id` does (an IPv4-mapped
//! address is the IPv4 one; an IPv6 link-local address is found by the MAC it encodes). A
//! router's networks are known from the `l3` driver, their ports from the `dhcp` driver: on a
//! host without the `dhcp` role a request through a router is not found (404).

use std::net::{IpAddr, Ipv6Addr};

use hyper::StatusCode;
use hyper::header::HeaderMap;

use super::reply::Reply;
use super::{Caller, Instances};

pub const NETWORK_ID_HEADER: &str = "x-neutron-network-id";
pub const ROUTER_ID_HEADER: &str = "x-neutron-router-id";
pub const FORWARDED_FOR_HEADER: &str = "x-forwarded-for";

/// An identified caller and the address it asked from.
#[derive(Debug, Clone)]
pub struct Identified {
    pub caller: Caller,
    pub address: IpAddr,
}

fn bad_request(why: &str) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, why)
}

/// The one value of header `name`, or `None` when it is absent, repeated, empty or not text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut all = headers.get_all(name).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    first.to_str().ok().map(str::trim).filter(|v| !v.is_empty())
}

/// The address haproxy appended: the last entry of the last `X-Forwarded-For` (earlier ones
/// are whatever the VM sent itself).
pub fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all(FORWARDED_FOR_HEADER).iter().next_back()?;
    let addr: IpAddr = last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()?;
    Some(match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    })
}

/// The MAC of a link-local EUI-64 address (`fe80::f816:3eff:fe00:1` → `fa:16:3e:00:00:01`).
pub fn eui64_mac(addr: Ipv6Addr) -> Option<String> {
    let o = addr.octets();
    let link_local = o[0] == 0xfe && (o[1] & 0xc0) == 0x80;
    if !link_local || o[11] != 0xff || o[12] != 0xfe {
        return None;
    }
    let mac = [o[8] ^ 0x02, o[9], o[10], o[13], o[14], o[15]];
    Some(mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// The caller of a request with `headers`, or the refusal: 400 without exactly one network id
/// or router id (not both) and a readable address, 404 when no instance port of that network
/// (or of the router's networks) holds the address.
pub fn identify(instances: &Instances, headers: &HeaderMap) -> Result<Identified, Reply> {
    let (network, router) = (single(headers, NETWORK_ID_HEADER), single(headers, ROUTER_ID_HEADER));
    let both = headers.contains_key(NETWORK_ID_HEADER) && headers.contains_key(ROUTER_ID_HEADER);
    let (networks, place) = match (network, router) {
        (Some(n), None) if !both => (vec![n.to_string()], format!("network {n}")),
        (None, Some(r)) if !both => (instances.router_networks(r), format!("router {r}")),
        _ => {
            return Err(bad_request(
                "The request needs one X-Neutron-Network-ID or one X-Neutron-Router-ID header.",
            ));
        }
    };
    let Some(address) = forwarded_for(headers) else {
        return Err(bad_request("The request needs an X-Forwarded-For address."));
    };
    let find = |network_id: &str| match address {
        IpAddr::V6(v6) if eui64_mac(v6).is_some() => {
            eui64_mac(v6).and_then(|mac| instances.caller_by_mac(network_id, &mac))
        }
        _ => instances.caller(network_id, &address.to_string()),
    };
    let caller = networks.iter().find_map(|n| find(n));
    // Callers are instances: a port of the network itself (DHCP, router) or one without a
    // device has no metadata, as upstream answers 404 without an instance id.
    match caller {
        Some(c) if !c.port.device_id.is_empty() && !c.port.device_owner.starts_with("network:") => {
            Ok(Identified { caller: c, address })
        }
        _ => Err(Reply::error(StatusCode::NOT_FOUND, &format!("Instance was not found on {place}."))),
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_address_is_the_one_haproxy_appended() {
        let xff = |pairs| forwarded_for(&headers(pairs)).map(|a| a.to_string());
        assert_eq!(xff(&[("x-forwarded-for", "10.0.0.5")]), Some("10.0.0.5".into()));
        // The VM's own header comes first; haproxy's is the last.
        assert_eq!(
            xff(&[("x-forwarded-for", "10.0.0.7"), ("x-forwarded-for", "10.0.0.5")]),
            Some("10.0.0.5".into())
        );
        assert_eq!(xff(&[("x-forwarded-for", "10.0.0.7, 10.0.0.5")]), Some("10.0.0.5".into()));
        assert_eq!(xff(&[("x-forwarded-for", "::ffff:10.0.0.5")]), Some("10.0.0.5".into()));
        assert_eq!(xff(&[("x-forwarded-for", "2001:db8::5")]), Some("2001:db8::5".into()));
        assert_eq!(xff(&[("x-forwarded-for", "10.0.0.5, garbage")]), None);
        assert_eq!(xff(&[("x-forwarded-for", "")]), None);
        assert_eq!(xff(&[]), None);
    }

    #[test]
    fn link_local_addresses_name_their_mac() {
        let mac = |a: &str| eui64_mac(a.parse().unwrap());
        assert_eq!(mac("fe80::f816:3eff:fe00:1"), Some("fa:16:3e:00:00:01".into()));
        assert_eq!(mac("fe80::1"), None, "not EUI-64");
        assert_eq!(mac("2001:db8::f816:3eff:fe00:1"), None, "not link-local");
    }
}
