//! Address arithmetic for subnets and allocation pools: addresses as integers (IPv4 and IPv6
//! alike), pool ranges, the default pools of a subnet, EUI-64 addresses (RFC 4291 §2.5.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// An address as a number in its family's space.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of number `n` in the family of `like`.
pub fn from_u128(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: u128,
    pub end: u128,
}

impl Range {
    pub fn contains(&self, n: u128) -> bool {
        self.start <= n && n <= self.end
    }
    pub fn overlaps(&self, o: &Range) -> bool {
        self.start <= o.end && o.start <= self.end
    }
    /// Number of addresses, saturating.
    pub fn size(&self) -> u128 {
        (self.end - self.start).saturating_add(1)
    }
}

/// The addresses of a subnet that may be handed out at all: not the network address and,
/// for IPv4, not the broadcast address.
pub fn usable(net: &IpNet) -> Option<Range> {
    let first = to_u128(net.network());
    let last = to_u128(net.broadcast());
    let (start, end) = match net {
        IpNet::V4(_) if net.prefix_len() >= 31 => (first, last),
        IpNet::V4(_) => (first + 1, last - 1),
        IpNet::V6(_) if net.prefix_len() == 128 => (first, last),
        IpNet::V6(_) => (first + 1, last),
    };
    (start <= end).then_some(Range { start, end })
}

/// The pools upstream gives a subnet without `allocation_pools`: the usable range minus the
/// gateway.
pub fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Range> {
    let Some(r) = usable(net) else { return vec![] };
    let Some(gw) = gateway.map(to_u128).filter(|g| r.contains(*g)) else { return vec![r] };
    let mut out = vec![];
    if gw > r.start {
        out.push(Range { start: r.start, end: gw - 1 });
    }
    if gw < r.end {
        out.push(Range { start: gw + 1, end: r.end });
    }
    out
}

/// The modified EUI-64 address of `mac` in a /64 `prefix` (SLAAC).
pub fn eui64(prefix: &IpNet, mac: &str) -> Option<IpAddr> {
    let bytes: Vec<u8> = mac.split(':').map(|p| u8::from_str_radix(p, 16).ok()).collect::<Option<_>>()?;
    if bytes.len() != 6 || !matches!(prefix, IpNet::V6(_)) {
        return None;
    }
    let iid = [bytes[0] ^ 0x02, bytes[1], bytes[2], 0xff, 0xfe, bytes[3], bytes[4], bytes[5]];
    let high = to_u128(prefix.network()) & !((1u128 << 64) - 1);
    let low = u64::from_be_bytes(iid);
    Some(from_u128(high | u128::from(low), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_skip_network_broadcast_and_gateway() {
        let n = net("10.0.0.0/24");
        let p = default_pools(&n, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(p.len(), 1);
        assert_eq!(from_u128(p[0].start, false).to_string(), "10.0.0.2");
        assert_eq!(from_u128(p[0].end, false).to_string(), "10.0.0.254");
        let p = default_pools(&n, Some("10.0.0.100".parse().unwrap()));
        assert_eq!(p.len(), 2);
        let p = default_pools(&n, None);
        assert_eq!(from_u128(p[0].start, false).to_string(), "10.0.0.1");
    }

    #[test]
    fn v6_pools_include_the_last_address() {
        let p = default_pools(&net("2001:db8::/64"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(from_u128(p[0].end, true).to_string(), "2001:db8::ffff:ffff:ffff:ffff");
    }

    #[test]
    fn eui64_flips_the_universal_bit() {
        let ip = eui64(&net("2001:db8::/64"), "fa:16:3e:00:00:01").unwrap();
        assert_eq!(ip.to_string(), "2001:db8::f816:3eff:fe00:1");
    }
}
