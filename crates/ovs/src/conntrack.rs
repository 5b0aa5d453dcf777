//! The connection tracker of a userspace (`netdev`) ovs-vswitchd: its entries live in the
//! daemon, not in the kernel, so the kernel's `conntrack` tool cannot see them. [`Conntrack`]
//! reads a zone's entries and deletes one entry by its original tuple; [`OvsConntrack`] does it
//! with `ovs-appctl dpctl/dump-conntrack zone=N` and `dpctl/flush-conntrack zone=N <tuple>`
//! (ovs-vswitchd(8), "DATAPATH COMMANDS"; Open vSwitch 3.1 cannot flush by mark, so the marked
//! entries are found in the dump and flushed one by one), [`FakeConntrack`] keeps entries in
//! memory. [`flush_marked`] is what a firewall runs after a bundle that removed rules: it
//! deletes the entries Neutron's `openvswitch` firewall marked as no longer allowed.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

use crate::flow::normalize::split_top;
use crate::ofctl::{OfctlError, run_tool};

/// A boxed future, so that the trait can be used as an object (`Arc<dyn Conntrack>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One connection tracker entry, as `dpctl/dump-conntrack` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CtEntry {
    pub zone: u16,
    pub mark: u32,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, …
    pub protocol: String,
    /// The original direction's fields (`src`, `dst`, `sport`, `dport`, `id`, `type`, `code`).
    pub orig: BTreeMap<String, String>,
    /// A TCP entry's state (`protoinfo=(state=…)`: `ESTABLISHED`, `TIME_WAIT`, …).
    pub state: Option<String>,
}

impl CtEntry {
    /// Parses one line of `dpctl/dump-conntrack`, e.g.
    /// `tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=4,dport=22),reply=(…),zone=3,mark=1,protoinfo=(…)`.
    pub fn parse(line: &str) -> Option<CtEntry> {
        let parts = split_top(line.trim());
        let protocol = parts.first()?.to_string();
        if protocol.contains('=') {
            return None;
        }
        let mut e = CtEntry { zone: 0, mark: 0, protocol, orig: BTreeMap::new(), state: None };
        for p in &parts[1..] {
            let Some((k, v)) = p.split_once('=') else { continue };
            match k {
                "orig" => {
                    let inner = v.strip_prefix('(')?.strip_suffix(')')?;
                    for f in split_top(inner) {
                        let (k, v) = f.split_once('=')?;
                        e.orig.insert(k.to_string(), v.to_string());
                    }
                }
                "zone" => e.zone = v.parse().ok()?,
                "protoinfo" => {
                    let inner = v.strip_prefix('(').and_then(|i| i.strip_suffix(')')).unwrap_or(v);
                    e.state =
                        split_top(inner).into_iter().find_map(|f| f.strip_prefix("state=").map(String::from));
                }
                "mark" => {
                    e.mark = crate::flow::normalize::parse_u64(v).and_then(|m| u32::try_from(m).ok())?
                }
                _ => {}
            }
        }
        e.orig.contains_key("src").then_some(e)
    }

    /// The original tuple as `dpctl/flush-conntrack` wants it (`ct_nw_src=…,ct_nw_proto=6,…`).
    pub fn flush_tuple(&self) -> String {
        let v6 = self.orig.get("src").is_some_and(|s| s.contains(':'));
        let (src, dst) = if v6 { ("ct_ipv6_src", "ct_ipv6_dst") } else { ("ct_nw_src", "ct_nw_dst") };
        let proto = match self.protocol.as_str() {
            "tcp" => Some(6),
            "udp" => Some(17),
            "sctp" => Some(132),
            "icmp" => Some(1),
            "icmpv6" | "icmp6" => Some(58),
            _ => None,
        };
        let mut out = vec![];
        for (field, key) in [(src, "src"), (dst, "dst")] {
            if let Some(v) = self.orig.get(key) {
                out.push(format!("{field}={v}"));
            }
        }
        if let Some(p) = proto {
            out.push(format!("ct_nw_proto={p}"));
        }
        for (field, key) in [
            ("ct_tp_src", "sport"),
            ("ct_tp_dst", "dport"),
            ("icmp_id", "id"),
            ("icmp_type", "type"),
            ("icmp_code", "code"),
        ] {
            if let Some(v) = self.orig.get(key) {
                out.push(format!("{field}={v}"));
            }
        }
        out.join(",")
    }
}

/// Reads and deletes a datapath's connection tracker entries.
pub trait Conntrack: Send + Sync {
    /// The entries of one zone.
    fn dump(&self, zone: u16) -> BoxFuture<'_, Result<Vec<CtEntry>, OfctlError>>;
    /// Deletes the entry of `zone` with `entry`'s original tuple.
    fn flush(&self, entry: &CtEntry) -> BoxFuture<'_, Result<(), OfctlError>>;
}

/// TCP states of a connection that has ended (one side sent FIN or RST).
const ENDED: &[&str] =
    &["FIN_WAIT_1", "FIN_WAIT_2", "CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK", "CLOSED"];

/// Whether a marked entry is to be deleted now: a TCP connection that has ended. A live marked
/// entry is what keeps the connection cut both ways — deleting it lets the side that may still
/// send (its egress allows it) start the same connection again in the other direction (the
/// tracker picks TCP up mid-stream), which `bench-dataplane security` showed with an echo every
/// 2 ms; so live entries stay marked, dropped by the firewall's flows, until they end (then the
/// next sweep deletes them) or expire (UDP and ICMP after about 30 s without packets). ICMPv6
/// entries are never flushed by tuple anyway: Open vSwitch 3.1's userspace datapath aborts
/// (ovs-vswitchd dies) on `dpctl/flush-conntrack` with an ICMPv6 tuple.
pub fn flushable(e: &CtEntry) -> bool {
    e.protocol == "tcp" && e.state.as_deref().is_some_and(|s| ENDED.contains(&s))
}

/// Deletes the [`flushable`] entries of `zones` carrying `mark`; returns how many were deleted.
pub async fn flush_marked(ct: &dyn Conntrack, zones: &[u16], mark: u32) -> Result<usize, OfctlError> {
    let mut n = 0;
    for zone in zones {
        for e in ct.dump(*zone).await?.into_iter().filter(|e| e.mark == mark && flushable(e)) {
            ct.flush(&e).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// [`Conntrack`] through `ovs-appctl` to the ovs-vswitchd of `rundir`: its control socket
/// `<rundir>/ovs-vswitchd.ctl` when it exists (how the sandbox and the tests start it), else
/// the one its pid file in `rundir` names.
#[derive(Debug, Clone)]
pub struct OvsConntrack {
    rundir: PathBuf,
}

impl OvsConntrack {
    pub fn new(rundir: impl Into<PathBuf>) -> OvsConntrack {
        OvsConntrack { rundir: rundir.into() }
    }

    async fn appctl(&self, args: &[&str]) -> Result<String, OfctlError> {
        let ctl = self.rundir.join("ovs-vswitchd.ctl");
        let target = match ctl.exists() {
            true => ctl.display().to_string(),
            false => "ovs-vswitchd".to_string(),
        };
        let mut all = vec!["-t", target.as_str()];
        all.extend_from_slice(args);
        run_tool("ovs-appctl", &self.rundir, "vswitchd", args[0], &all, None).await
    }
}

impl Conntrack for OvsConntrack {
    fn dump(&self, zone: u16) -> BoxFuture<'_, Result<Vec<CtEntry>, OfctlError>> {
        Box::pin(async move {
            let out = self.appctl(&["dpctl/dump-conntrack", &format!("zone={zone}")]).await?;
            Ok(out.lines().filter_map(CtEntry::parse).collect())
        })
    }

    fn flush(&self, entry: &CtEntry) -> BoxFuture<'_, Result<(), OfctlError>> {
        let (zone, tuple) = (format!("zone={}", entry.zone), entry.flush_tuple());
        Box::pin(async move { self.appctl(&["dpctl/flush-conntrack", &zone, &tuple]).await.map(|_| ()) })
    }
}

/// An in-memory connection tracker for tests: entries added by the test, dumped per zone,
/// flushed by original tuple; it counts the flushes.
#[derive(Debug, Default)]
pub struct FakeConntrack {
    entries: Mutex<Vec<CtEntry>>,
    flushes: Mutex<usize>,
}

impl FakeConntrack {
    pub fn new() -> FakeConntrack {
        FakeConntrack::default()
    }
    pub fn insert(&self, e: CtEntry) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }
    pub fn entries(&self) -> Vec<CtEntry> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    pub fn flushes(&self) -> usize {
        *self.flushes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Conntrack for FakeConntrack {
    fn dump(&self, zone: u16) -> BoxFuture<'_, Result<Vec<CtEntry>, OfctlError>> {
        let got = self.entries().into_iter().filter(|e| e.zone == zone).collect();
        Box::pin(async move { Ok(got) })
    }

    fn flush(&self, entry: &CtEntry) -> BoxFuture<'_, Result<(), OfctlError>> {
        let key = (entry.zone, entry.flush_tuple());
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).retain(|e| (e.zone, e.flush_tuple()) != key);
        *self.flushes.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Box::pin(async move { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dump_lines_and_writes_flush_tuples() {
        let e = CtEntry::parse(
            "tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=40000,dport=22),reply=(src=10.0.0.2,dst=10.0.0.1,sport=22,dport=40000),zone=3,mark=1,protoinfo=(state=ESTABLISHED)",
        )
        .expect("a tcp entry");
        assert_eq!((e.zone, e.mark, e.protocol.as_str()), (3, 1, "tcp"));
        assert_eq!(e.state.as_deref(), Some("ESTABLISHED"));
        assert!(!flushable(&e), "a live connection stays marked");
        let ended = CtEntry { state: Some("TIME_WAIT".into()), ..e.clone() };
        assert!(flushable(&ended));
        assert_eq!(
            e.flush_tuple(),
            "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_src=40000,ct_tp_dst=22"
        );
        let i = CtEntry::parse(
            "icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=7,type=8,code=0),reply=(src=10.0.0.2,dst=10.0.0.1,id=7,type=0,code=0),zone=4",
        )
        .expect("an icmp entry");
        assert_eq!((i.zone, i.mark), (4, 0));
        assert_eq!(
            i.flush_tuple(),
            "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=1,icmp_id=7,icmp_type=8,icmp_code=0"
        );
        let v6 =
            CtEntry::parse("udp,orig=(src=fd00::1,dst=fd00::2,sport=1,dport=2),reply=(),zone=1,mark=0x1")
                .expect("a v6 entry");
        assert_eq!(v6.mark, 1);
        assert!(v6.flush_tuple().starts_with("ct_ipv6_src=fd00::1,ct_ipv6_dst=fd00::2,ct_nw_proto=17"));
        assert_eq!(CtEntry::parse(""), None);
        assert_eq!(CtEntry::parse("zone=1"), None);
    }

    #[tokio::test]
    async fn flush_marked_deletes_only_marked_entries_of_the_zones() {
        let ct = FakeConntrack::new();
        let entry = |zone: u16, mark: u32, sport: u16| CtEntry {
            zone,
            mark,
            state: Some("FIN_WAIT_1".into()),
            protocol: "tcp".into(),
            orig: [("src", "10.0.0.1".to_string()), ("dst", "10.0.0.2".into()), ("sport", sport.to_string())]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        };
        ct.insert(entry(1, 1, 1));
        ct.insert(entry(1, 0, 2));
        ct.insert(entry(2, 1, 3));
        let mut icmpv6 = entry(1, 1, 4);
        icmpv6.protocol = "icmpv6".into();
        ct.insert(icmpv6.clone());
        let live = CtEntry { state: Some("ESTABLISHED".into()), ..entry(1, 1, 5) };
        ct.insert(live.clone());
        assert_eq!(flush_marked(&ct, &[1], 1).await.expect("flush"), 1);
        assert_eq!(
            ct.entries(),
            vec![entry(1, 0, 2), entry(2, 1, 3), icmpv6, live],
            "zone 2, unmarked, ICMPv6 and live entries stay"
        );
        assert_eq!(ct.flushes(), 1);
    }
}
