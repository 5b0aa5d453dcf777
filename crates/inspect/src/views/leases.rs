//! dnsmasq's lease file (its `--dhcp-leasefile`, as dnsmasq(8) writes it): one lease a line,
//! `<expiry> <MAC> <IP> <hostname> <client-id>` for DHCPv4 and `<expiry> <IAID> <IPv6>
//! <hostname> <DUID>` for DHCPv6 after the `duid <server DUID>` line; `*` is "none" and expiry
//! 0 is a lease that never expires. Lines it does not understand are skipped: the reader never
//! fails and never panics.

use std::net::IpAddr;

use serde::Serialize;

/// One lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// Seconds since the Unix epoch when the lease ends; 0: never.
    pub expiry: u64,
    /// The client's hardware address (DHCPv4), lower case.
    pub mac: Option<String>,
    /// The client's identity association (DHCPv6).
    pub iaid: Option<String>,
    pub ip: IpAddr,
    pub hostname: Option<String>,
    pub client_id: Option<String>,
}

impl Lease {
    /// When the lease ends, as UTC time (`never` for 0).
    pub fn expiry_text(&self) -> String {
        expiry_text(self.expiry)
    }
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`; 0 is `never`.
pub fn expiry_text(secs: u64) -> String {
    if secs == 0 {
        return "never".into();
    }
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| secs.to_string())
}

fn none_if_star(s: Option<&str>) -> Option<String> {
    s.filter(|v| !v.is_empty() && *v != "*").map(str::to_string)
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() >= 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// One line's lease, or `None` for the `duid` line, blank lines and anything malformed.
pub fn parse_line(line: &str) -> Option<Lease> {
    let mut f = line.split_whitespace();
    let expiry = f.next()?.parse::<u64>().ok()?;
    let who = f.next()?;
    let ip: IpAddr = f.next()?.parse().ok()?;
    let (mac, iaid) = match (ip, is_mac(who)) {
        (IpAddr::V4(_), true) => (Some(who.to_ascii_lowercase()), None),
        (IpAddr::V6(_), false) => (None, Some(who.to_string())),
        _ => return None,
    };
    Some(Lease { expiry, mac, iaid, ip, hostname: none_if_star(f.next()), client_id: none_if_star(f.next()) })
}

/// Every lease of a lease file, in file order.
pub fn parse(text: &str) -> Vec<Lease> {
    text.lines().filter_map(parse_line).collect()
}

/// The lease held by `mac` (any case), preferring one for `ip` when the client holds several.
pub fn find<'a>(leases: &'a [Lease], mac: &str, ip: Option<&str>) -> Option<&'a Lease> {
    let mac = mac.to_ascii_lowercase();
    let ip: Option<IpAddr> = ip.and_then(|i| i.parse().ok());
    let mine: Vec<&Lease> = leases.iter().filter(|l| l.mac.as_deref() == Some(mac.as_str())).collect();
    mine.iter().find(|l| Some(l.ip) == ip).or(mine.first()).copied()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const FILE: &str = "\
1764795600 fa:16:3e:1a:2b:01 10.0.1.5 host-10-0-1-5 01:fa:16:3e:1a:2b:01
0 FA:16:3E:1A:2B:02 10.0.1.9 * *
not a lease
1764795600 fa:16:3e:1a:2b:03 10.0.1.300 x *
duid 00:01:00:01:2c:5a:aa:bb:fa:16:3e:00:00:01
1764795600 2135162321 fd00::5 host-fd00--5 00:04:9a:0c:1f:7e
";

    #[test]
    fn reads_v4_and_v6_leases_and_skips_the_rest() {
        let l = parse(FILE);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].mac.as_deref(), Some("fa:16:3e:1a:2b:01"));
        assert_eq!(l[0].hostname.as_deref(), Some("host-10-0-1-5"));
        assert_eq!(l[0].client_id.as_deref(), Some("01:fa:16:3e:1a:2b:01"));
        assert_eq!(l[0].expiry_text(), "2025-12-03 21:00:00 UTC");
        assert_eq!(
            (l[1].mac.as_deref(), l[1].hostname.as_ref(), l[1].expiry_text().as_str()),
            (Some("fa:16:3e:1a:2b:02"), None, "never")
        );
        assert_eq!(l[2].iaid.as_deref(), Some("2135162321"));
        assert_eq!(l[2].mac, None);
        assert_eq!(l[2].ip.to_string(), "fd00::5");
    }

    #[test]
    fn finds_a_clients_lease_by_mac_then_ip() {
        let l = parse("1 fa:16:3e:00:00:01 10.0.0.4 a *\n2 fa:16:3e:00:00:01 10.0.0.5 a *\n");
        assert_eq!(find(&l, "FA:16:3E:00:00:01", Some("10.0.0.5")).map(|l| l.expiry), Some(2));
        assert_eq!(find(&l, "fa:16:3e:00:00:01", Some("10.0.0.9")).map(|l| l.expiry), Some(1));
        assert_eq!(find(&l, "fa:16:3e:00:00:02", None), None);
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_lease_shaped_lines(
            lines in proptest::collection::vec(
                ("[0-9]{0,21}", "[0-9a-fA-F:]{0,20}", "[0-9a-f.:]{0,20}", "[*a-z0-9-]{0,8}", "[*0-9a-f:]{0,8}"),
                0..8,
            )
        ) {
            let text: String =
                lines.iter().map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}\n")).collect();
            for l in parse(&text) {
                prop_assert!(l.mac.is_some() != l.iaid.is_some());
                let _ = l.expiry_text();
            }
        }

        #[test]
        fn reads_back_what_it_is_given(
            expiry in 0u64..4_000_000_000,
            mac in proptest::array::uniform6(any::<u8>()),
            ip in any::<std::net::Ipv4Addr>(),
        ) {
            let mac = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
            let l = parse(&format!("{expiry} {mac} {ip} * *\n"));
            prop_assert_eq!(l.len(), 1);
            prop_assert_eq!(l[0].expiry, expiry);
            prop_assert_eq!(l[0].mac.as_deref(), Some(mac.as_str()));
            prop_assert_eq!(l[0].ip, IpAddr::V4(ip));
        }
    }
}
