//! IP address management inside a write transaction (upstream `ipam_pluggable_backend`):
//! requested addresses are checked against the subnet and the allocations; automatic ones are
//! drawn at random from the pools, with a full scan before giving up, so a full subnet gives
//! `IpAddressGenerationFailure`. The store's primary key (subnet, address) makes a double
//! hand-out impossible even if two writers raced.

use std::collections::BTreeSet;
use std::net::IpAddr;

use neutrino_model::ip::{self, Range};
use neutrino_model::subnet::Subnet;
use neutrino_model::{ApiError, ApiResult};

use crate::store::{Sql, allocations};

/// Random draws before scanning the whole subnet.
const PROBES: usize = 24;

/// Owners that may hold a subnet's gateway address.
pub fn may_hold_gateway(device_owner: &str) -> bool {
    matches!(
        device_owner,
        "network:router_interface"
            | "network:router_interface_distributed"
            | "network:ha_router_replicated_interface"
    )
}

fn ip_in_use(network_id: &str, ip: IpAddr) -> ApiError {
    ApiError::conflict(
        "IpAddressInUse",
        format!("Unable to complete operation for network {network_id}. The IP address {ip} is in use."),
    )
}

/// Checks a requested address: inside the subnet, not its network/broadcast address, not the
/// gateway (unless a router takes it), and free. Addresses outside the pools may be asked for.
pub fn check_requested(sql: &mut dyn Sql, subnet: &Subnet, ip: IpAddr, device_owner: &str) -> ApiResult<()> {
    let usable = ip::usable(&subnet.cidr);
    if !subnet.cidr.contains(&ip) || !usable.is_some_and(|r| r.contains(ip::to_u128(ip))) {
        return Err(ApiError::bad_request(format!(
            "IP address {ip} is not a valid IP for the specified subnet."
        ))
        .with_kind("InvalidIpForSubnet"));
    }
    if subnet.gateway_ip == Some(ip) && !may_hold_gateway(device_owner) {
        return Err(ip_in_use(&subnet.network_id, ip));
    }
    if allocations::in_use(sql, &subnet.std.id, ip)? {
        return Err(ip_in_use(&subnet.network_id, ip));
    }
    Ok(())
}

/// Picks a free address of `subnet`, skipping `taken_here` (addresses this request already
/// took). `None` when the pools are exhausted.
pub fn pick(sql: &mut dyn Sql, subnet: &Subnet, taken_here: &[IpAddr]) -> ApiResult<Option<IpAddr>> {
    let pools: Vec<Range> = subnet.allocation_pools.clone();
    let total: u128 = pools.iter().map(Range::size).fold(0u128, u128::saturating_add);
    if total == 0 {
        return Ok(None);
    }
    let v6 = subnet.is_v6();
    let free = |n: u128| {
        let ip = ip::from_u128(n, v6);
        (subnet.gateway_ip != Some(ip) && !taken_here.contains(&ip)).then_some(ip)
    };
    for _ in 0..PROBES {
        let mut k = rand::random::<u128>() % total;
        let mut candidate = None;
        for p in &pools {
            if k < p.size() {
                candidate = Some(p.start + k);
                break;
            }
            k -= p.size();
        }
        if let Some(ip) = candidate.and_then(free)
            && !allocations::in_use(sql, &subnet.std.id, ip)?
        {
            return Ok(Some(ip));
        }
    }
    // Dense subnet: walk the pools against the sorted allocations.
    lowest(sql, subnet, taken_here)
}

/// The lowest free address of `subnet`'s pools, skipping `taken_here`: what a DHCP port takes,
/// so that the server's address is predictable (the first free one after the gateway, where
/// upstream's DHCP ports usually sit) and a port asking for another address by hand does not
/// meet a DHCP port placed at random. `None` when the pools are exhausted.
pub fn lowest(sql: &mut dyn Sql, subnet: &Subnet, taken_here: &[IpAddr]) -> ApiResult<Option<IpAddr>> {
    let pools: Vec<Range> = subnet.allocation_pools.clone();
    let v6 = subnet.is_v6();
    let free = |n: u128| {
        let ip = ip::from_u128(n, v6);
        (subnet.gateway_ip != Some(ip) && !taken_here.contains(&ip)).then_some(ip)
    };
    let taken: BTreeSet<u128> =
        allocations::taken(sql, &subnet.std.id)?.into_iter().map(ip::to_u128).collect();
    // Past this many steps in one pool, a free address must have been met.
    let budget = taken.len() + taken_here.len() + 2;
    for p in &pools {
        let steps = p.size().min(budget as u128);
        for n in (0..steps).map(|i| p.start + i) {
            if !taken.contains(&n)
                && let Some(ip) = free(n)
            {
                return Ok(Some(ip));
            }
        }
    }
    Ok(None)
}

/// 409 `IpAddressGenerationFailure`.
pub fn exhausted(network_id: &str) -> ApiError {
    ApiError::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

/// Whether a subnet hands out addresses by SLAAC (EUI-64) rather than from its pools.
pub fn is_auto_address(subnet: &Subnet) -> bool {
    subnet.is_v6() && matches!(subnet.ipv6_address_mode.as_deref(), Some("slaac") | Some("dhcpv6-stateless"))
}
