//! A DHCP VM's lease as its client's script records it in `<vm dir>/lease`: one `key=value`
//! line per field (`event`, `seq`, `time`, then udhcpc's own variables: `ip`, `mask`,
//! `router`, `dns`, `domain`, `mtu`, `staticroutes`, `lease`, `serverid`, …), parsed into a
//! [`Lease`].

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The client event that wrote the file (udhcpc's script argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseEvent {
    /// A new lease (after a discover or a NAK).
    Bound,
    /// The same server renewed the lease.
    Renew,
    /// The client dropped its address (at start, after a NAK, on release).
    Deconfig,
    /// No server answered.
    Leasefail,
    /// The server refused the address asked for.
    Nak,
}

/// A classless static route (option 121).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    pub destination: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// What the client last recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub event: LeaseEvent,
    /// Counts the events recorded for this VM (1, 2, …): a renewal with unchanged contents is
    /// still a new record.
    pub seq: u64,
    /// Unix time of the record.
    pub time: u64,
    pub interface: String,
    /// Address with prefix length (options 50 and 1).
    pub address: Option<Ipv4Net>,
    pub broadcast: Option<Ipv4Addr>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6: recorded here, never written to a `resolv.conf`.
    pub dns: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 26.
    pub mtu: Option<u32>,
    /// Option 121, in the server's order.
    pub routes: Vec<StaticRoute>,
    /// Option 51, seconds.
    pub lease_seconds: Option<u32>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// The server's message (option 56, sent with a NAK).
    pub message: Option<String>,
}

impl Lease {
    /// Whether this record holds a lease in force (`bound` or `renew`).
    pub fn is_bound(&self) -> bool {
        matches!(self.event, LeaseEvent::Bound | LeaseEvent::Renew)
    }

    /// The leased address alone.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.address.map(|a| a.addr())
    }

    /// Reads a lease file; `Ok(None)` while there is none.
    pub fn read(path: &Path) -> Result<Option<Lease>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        Lease::parse(&text).map(Some).map_err(|message| Error::Lease { path: path.into(), message })
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> std::result::Result<Lease, String> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let num =
            |key: &str| get(key).map(|v| v.parse::<u64>().map_err(|_| format!("{key}={v}"))).transpose();
        let addr = |key: &str, v: &str| v.parse::<Ipv4Addr>().map_err(|_| format!("{key}: `{v}`"));
        let one = |key: &str| get(key).map(|v| addr(key, v)).transpose();
        let list = |key: &str| {
            get(key)
                .unwrap_or_default()
                .split_whitespace()
                .map(|v| addr(key, v))
                .collect::<Result<Vec<_>, _>>()
        };
        let event = match get("event") {
            Some("bound") => LeaseEvent::Bound,
            Some("renew") => LeaseEvent::Renew,
            Some("deconfig") => LeaseEvent::Deconfig,
            Some("leasefail") => LeaseEvent::Leasefail,
            Some("nak") => LeaseEvent::Nak,
            other => return Err(format!("event `{}`", other.unwrap_or_default())),
        };
        let address = match (one("ip")?, num("mask")?) {
            (Some(ip), mask) => {
                let len = u8::try_from(mask.unwrap_or(32)).map_err(|_| "mask".to_string())?;
                Some(Ipv4Net::new(ip, len).map_err(|_| format!("mask {len}"))?)
            }
            (None, _) => None,
        };
        let words: Vec<&str> = get("staticroutes").unwrap_or_default().split_whitespace().collect();
        if !words.len().is_multiple_of(2) {
            return Err(format!("staticroutes: `{}`", words.join(" ")));
        }
        let routes = words
            .chunks(2)
            .map(|pair| {
                let destination = pair[0].parse().map_err(|_| format!("staticroutes: `{}`", pair[0]))?;
                Ok(StaticRoute { destination, gateway: addr("staticroutes", pair[1])? })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let small =
            |key: &str| num(key)?.map(|n| u32::try_from(n).map_err(|_| format!("{key}={n}"))).transpose();
        Ok(Lease {
            event,
            seq: num("seq")?.unwrap_or(0),
            time: num("time")?.unwrap_or(0),
            interface: get("interface").unwrap_or_default().to_string(),
            address,
            broadcast: one("broadcast")?,
            routers: list("router")?,
            dns: list("dns")?,
            domain: get("domain").map(str::to_string),
            hostname: get("hostname").map(str::to_string),
            mtu: small("mtu")?,
            routes,
            lease_seconds: small("lease")?,
            server_id: one("serverid")?,
            message: get("message").map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_lease_parses() {
        let text = "event=bound\nseq=3\ntime=1700000000\ninterface=eth0\nip=10.0.0.5\nmask=24\n\
                    subnet=255.255.255.0\nbroadcast=10.0.0.255\nrouter=10.0.0.1\ndns=10.0.0.2 10.0.0.3\n\
                    domain=example.test\nhostname=\nmtu=1400\nstaticroutes=192.0.2.0/24 10.0.0.254 0.0.0.0/0 10.0.0.1\n\
                    lease=86400\nserverid=10.0.0.2\nmessage=\n";
        let lease = Lease::parse(text).unwrap();
        assert!(lease.is_bound());
        assert_eq!((lease.seq, lease.time, lease.interface.as_str()), (3, 1_700_000_000, "eth0"));
        assert_eq!(lease.address, Some("10.0.0.5/24".parse().unwrap()));
        assert_eq!(lease.ip(), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(lease.routers, [Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(lease.dns, [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)]);
        assert_eq!((lease.domain.as_deref(), lease.hostname), (Some("example.test"), None));
        assert_eq!((lease.mtu, lease.lease_seconds), (Some(1400), Some(86400)));
        assert_eq!(
            lease.routes,
            [
                StaticRoute {
                    destination: "192.0.2.0/24".parse().unwrap(),
                    gateway: "10.0.0.254".parse().unwrap()
                },
                StaticRoute {
                    destination: "0.0.0.0/0".parse().unwrap(),
                    gateway: "10.0.0.1".parse().unwrap()
                },
            ]
        );
        assert_eq!(lease.server_id, Some(Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn failures_and_garbage() {
        let lease = Lease::parse("event=leasefail\nseq=1\ninterface=eth0\nip=\n").unwrap();
        assert!(!lease.is_bound());
        assert_eq!((lease.event, lease.address, lease.routers.len()), (LeaseEvent::Leasefail, None, 0));
        let nak = Lease::parse("event=nak\nseq=2\nmessage=wrong address\n").unwrap();
        assert_eq!(nak.message.as_deref(), Some("wrong address"));
        assert!(Lease::parse("").is_err());
        assert!(Lease::parse("event=bound\nip=10.0.0.300\n").is_err());
        assert!(Lease::parse("event=bound\nstaticroutes=10.0.0.0/8\n").is_err());
        assert!(Lease::parse("event=bound\nmask=40\nip=10.0.0.1\n").is_err());
    }

    #[test]
    fn reading_a_missing_file_is_no_lease() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Lease::read(&dir.path().join("lease")).unwrap(), None);
        std::fs::write(dir.path().join("lease"), "event=what\n").unwrap();
        assert!(matches!(Lease::read(&dir.path().join("lease")), Err(Error::Lease { .. })));
    }
}
