//! What the shell reads from one host, behind [`HostSource`]: its Open vSwitch (OVSDB tables
//! as `ovs-vsctl --format=json`, `ovs-ofctl dump-flows`, `ovs-appctl ofproto/trace`), its
//! namespaces (`ip -j`, `nft -j list ruleset`) and the DHCP role's lease files — the real host
//! ([`RealHost`], run as the programs' text output, located by the host's agent configuration)
//! and a stateful fake of fixed inputs ([`FakeHost`]) for the views' snapshot tests. The only
//! changes are `addflow`/`delflow`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use neutrino_ovs::flow::Flow;

/// Reading a host failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("cannot run {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{0}")]
    Missing(String),
}

/// What is asked inside a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NsQuery {
    /// `ip -j addr show`.
    Addresses,
    /// `ip -j route show` (IPv4 main table).
    Routes,
    /// `ip -j -6 route show`.
    Routes6,
    /// `nft -j list ruleset`.
    Ruleset,
    /// `ip -j route get DST from SRC iif DEV`: where the namespace forwards a packet.
    RouteGet { dst: String, src: String, iif: String },
    /// `ip -j neigh show`: the addresses the namespace has resolved.
    Neighbours,
}

impl NsQuery {
    /// The command as one line (how a recording names the question).
    pub fn command(&self) -> String {
        self.argv().join(" ")
    }

    /// The query whose [`NsQuery::command`] is `line`.
    pub fn from_command(line: &str) -> Option<NsQuery> {
        let w: Vec<&str> = line.split(' ').collect();
        Some(match w.as_slice() {
            ["ip", "-j", "addr", "show"] => NsQuery::Addresses,
            ["ip", "-j", "route", "show"] => NsQuery::Routes,
            ["ip", "-j", "-6", "route", "show"] => NsQuery::Routes6,
            ["nft", "-j", "list", "ruleset"] => NsQuery::Ruleset,
            ["ip", "-j", "neigh", "show"] => NsQuery::Neighbours,
            ["ip", "-j", "route", "get", dst, "from", src, "iif", iif] => {
                NsQuery::RouteGet { dst: dst.to_string(), src: src.to_string(), iif: iif.to_string() }
            }
            _ => return None,
        })
    }

    fn argv(&self) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            NsQuery::Addresses => v(&["ip", "-j", "addr", "show"]),
            NsQuery::Routes => v(&["ip", "-j", "route", "show"]),
            NsQuery::Routes6 => v(&["ip", "-j", "-6", "route", "show"]),
            NsQuery::Ruleset => v(&["nft", "-j", "list", "ruleset"]),
            NsQuery::Neighbours => v(&["ip", "-j", "neigh", "show"]),
            NsQuery::RouteGet { dst, src, iif } => {
                v(&["ip", "-j", "route", "get", dst, "from", src, "iif", iif])
            }
        }
    }
}

/// One host as the shell sees it. Texts are the programs' outputs, parsed by [`crate::parse`].
pub trait HostSource: Send + Sync {
    /// The host's name (the agents' `host`).
    fn host(&self) -> &str;
    /// The prefix of the namespaces its agent creates (empty on a real host).
    fn namespace_prefix(&self) -> &str;
    /// `ovs-vsctl --format=json --data=json list TABLE`.
    fn ovsdb_list(&self, table: &str) -> Result<String, SourceError>;
    /// `ovs-ofctl dump-flows BRIDGE` with counters, port numbers as numbers.
    fn dump_flows(&self, bridge: &str) -> Result<String, SourceError>;
    /// `ovs-appctl ofproto/trace BRIDGE FLOW --ct-next F...`.
    fn trace(&self, bridge: &str, flow: &str, ct_next: &[String]) -> Result<String, SourceError>;
    /// `ovs-ofctl add-flow BRIDGE FLOW`.
    fn add_flow(&self, bridge: &str, flow: &str) -> Result<(), SourceError>;
    /// `ovs-ofctl --strict del-flows BRIDGE table=..,priority=..,MATCH`.
    fn del_flow(&self, bridge: &str, strict_match: &str) -> Result<(), SourceError>;
    /// The names of the host's namespaces that its agent made (they start with the prefix).
    fn namespaces(&self) -> Result<Vec<String>, SourceError>;
    /// A query inside namespace `ns` (its JSON text).
    fn in_ns(&self, ns: &str, query: &NsQuery) -> Result<String, SourceError>;
    /// The dnsmasq lease file of a network served here, if any.
    fn leases(&self, network_id: &str) -> Result<Option<String>, SourceError>;
    /// The pid of the dnsmasq serving a network here, if it runs.
    fn dnsmasq_pid(&self, network_id: &str) -> Result<Option<u32>, SourceError>;
}

/// Where a real host keeps what the shell reads: from its agent's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealHost {
    pub host: String,
    /// The OVSDB socket.
    pub ovsdb: PathBuf,
    /// ovs-vswitchd's run directory (`OVS_RUNDIR`: the bridges' management sockets).
    pub ovs_rundir: PathBuf,
    pub namespace_prefix: String,
    /// The DHCP role's state directory (`<network id>/leases`, `<network id>/pid`).
    pub dhcp_state: PathBuf,
}

impl RealHost {
    /// The host an agent configuration describes.
    pub fn from_agent_config(cfg: &neutrino_agent::config::AgentConfig) -> RealHost {
        RealHost {
            host: cfg.host.clone(),
            ovsdb: cfg.ovsdb.clone(),
            ovs_rundir: cfg.ovs_rundir.clone(),
            namespace_prefix: cfg.namespace_prefix.clone(),
            dhcp_state: cfg.dhcp.state_path.clone(),
        }
    }

    fn run(&self, program: &str, args: &[String]) -> Result<String, SourceError> {
        let out = Command::new(program)
            .args(args)
            .env("OVS_RUNDIR", &self.ovs_rundir)
            .output()
            .map_err(|e| SourceError::Spawn { program: program.to_string(), reason: e.to_string() })?;
        if !out.status.success() {
            return Err(SourceError::Failed {
                command: format!("{program} {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ofctl(&self, args: &[&str]) -> Result<String, SourceError> {
        let mut a = vec!["-O".to_string(), "OpenFlow15".to_string(), "--no-names".to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        self.run("ovs-ofctl", &a)
    }
}

fn read_optional(path: PathBuf) -> Result<Option<String>, SourceError> {
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SourceError::Missing(format!("{}: {e}", path.display()))),
    }
}

impl HostSource for RealHost {
    fn host(&self) -> &str {
        &self.host
    }

    fn namespace_prefix(&self) -> &str {
        &self.namespace_prefix
    }

    fn ovsdb_list(&self, table: &str) -> Result<String, SourceError> {
        let db = format!("--db=unix:{}", self.ovsdb.display());
        let args = [db.as_str(), "--format=json", "--data=json", "list", table];
        self.run("ovs-vsctl", &args.map(String::from))
    }

    fn dump_flows(&self, bridge: &str) -> Result<String, SourceError> {
        self.ofctl(&["dump-flows", bridge])
    }

    fn trace(&self, bridge: &str, flow: &str, ct_next: &[String]) -> Result<String, SourceError> {
        // The sandbox and the tests start ovs-vswitchd with `--unixctl=<rundir>/ovs-vswitchd.ctl`;
        // a packaged one has `ovs-vswitchd.<pid>.ctl`, which ovs-appctl finds by itself.
        let ctl = self.ovs_rundir.join("ovs-vswitchd.ctl");
        let mut args = match ctl.exists() {
            true => vec!["-t".to_string(), ctl.display().to_string()],
            false => vec![],
        };
        args.extend(["ofproto/trace".to_string(), bridge.to_string(), flow.to_string()]);
        for c in ct_next {
            args.push("--ct-next".into());
            args.push(c.clone());
        }
        self.run("ovs-appctl", &args)
    }

    fn add_flow(&self, bridge: &str, flow: &str) -> Result<(), SourceError> {
        self.ofctl(&["add-flow", bridge, flow]).map(|_| ())
    }

    fn del_flow(&self, bridge: &str, strict_match: &str) -> Result<(), SourceError> {
        self.ofctl(&["--strict", "del-flows", bridge, strict_match]).map(|_| ())
    }

    fn namespaces(&self) -> Result<Vec<String>, SourceError> {
        let text = self.run("ip", &["netns".to_string(), "list".to_string()])?;
        let mut out: Vec<String> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| {
                n.strip_prefix(self.namespace_prefix.as_str())
                    .is_some_and(|rest| rest.starts_with("qrouter-") || rest.starts_with("qdhcp-"))
            })
            .map(str::to_string)
            .collect();
        out.sort();
        Ok(out)
    }

    fn in_ns(&self, ns: &str, query: &NsQuery) -> Result<String, SourceError> {
        let mut args = vec!["netns".to_string(), "exec".to_string(), ns.to_string()];
        args.extend(query.argv());
        self.run("ip", &args)
    }

    fn leases(&self, network_id: &str) -> Result<Option<String>, SourceError> {
        read_optional(self.dhcp_state.join(network_id).join("leases"))
    }

    fn dnsmasq_pid(&self, network_id: &str) -> Result<Option<u32>, SourceError> {
        let pid = read_optional(self.dhcp_state.join(network_id).join("pid"))?
            .and_then(|s| s.trim().parse::<u32>().ok());
        Ok(pid.filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists()))
    }
}

/// A host of fixed inputs. Its flow tables are kept as dump text per bridge and change with
/// `add_flow`/`del_flow`, like a switch's; traces and namespace answers are looked up by their
/// arguments (anything not given is an error, as on a host that lacks it).
#[derive(Debug, Default)]
pub struct FakeHost {
    pub host: String,
    pub namespace_prefix: String,
    /// Table name → `ovs-vsctl --format=json list` text.
    pub ovsdb: BTreeMap<String, String>,
    /// Bridge → dump-flows text.
    pub flows: Mutex<BTreeMap<String, String>>,
    /// (bridge, flow, ct-next flags joined by ' ') → trace text.
    pub traces: BTreeMap<(String, String, String), String>,
    pub namespaces: Vec<String>,
    /// (namespace, query) → JSON text.
    pub ns: BTreeMap<(String, NsQuery), String>,
    /// Network id → lease file text.
    pub leases: BTreeMap<String, String>,
    /// Network id → dnsmasq pid.
    pub dnsmasq: BTreeMap<String, u32>,
}

impl FakeHost {
    pub fn new(host: &str) -> FakeHost {
        FakeHost { host: host.to_string(), ..FakeHost::default() }
    }

    /// Sets a bridge's dump-flows text.
    pub fn set_flows(&self, bridge: &str, text: &str) {
        if let Ok(mut f) = self.flows.lock() {
            f.insert(bridge.to_string(), text.to_string());
        }
    }

    fn missing(what: String) -> SourceError {
        SourceError::Missing(what)
    }
}

impl HostSource for FakeHost {
    fn host(&self) -> &str {
        &self.host
    }

    fn namespace_prefix(&self) -> &str {
        &self.namespace_prefix
    }

    fn ovsdb_list(&self, table: &str) -> Result<String, SourceError> {
        self.ovsdb.get(table).cloned().ok_or_else(|| Self::missing(format!("no table {table}")))
    }

    fn dump_flows(&self, bridge: &str) -> Result<String, SourceError> {
        let flows = self.flows.lock().map_err(|_| Self::missing("flows poisoned".into()))?;
        flows.get(bridge).cloned().ok_or_else(|| Self::missing(format!("no bridge {bridge}")))
    }

    fn trace(&self, bridge: &str, flow: &str, ct_next: &[String]) -> Result<String, SourceError> {
        let key = (bridge.to_string(), flow.to_string(), ct_next.join(" "));
        self.traces.get(&key).cloned().ok_or_else(|| Self::missing(format!("no trace for {key:?}")))
    }

    fn add_flow(&self, bridge: &str, flow: &str) -> Result<(), SourceError> {
        let parsed = Flow::parse_dump_line(flow).map_err(|e| SourceError::Failed {
            command: format!("ovs-ofctl add-flow {bridge}"),
            stderr: e.to_string(),
        })?;
        let mut flows = self.flows.lock().map_err(|_| Self::missing("flows poisoned".into()))?;
        let text = flows.get_mut(bridge).ok_or_else(|| Self::missing(format!("no bridge {bridge}")))?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| Flow::parse_dump_line(l).map_or(true, |f| f.key() != parsed.key()))
            .collect();
        let mut out = kept.join("\n");
        let matches = if parsed.matches.is_empty() { String::new() } else { format!(",{}", parsed.matches) };
        let actions = if parsed.actions.is_empty() { "drop" } else { parsed.actions.as_str() };
        out.push_str(&format!(
            "\n cookie={:#x}, duration=0.001s, table={}, n_packets=0, n_bytes=0, priority={}{matches} actions={actions}\n",
            parsed.cookie, parsed.table, parsed.priority
        ));
        *text = out;
        Ok(())
    }

    fn del_flow(&self, bridge: &str, strict_match: &str) -> Result<(), SourceError> {
        let key = Flow::parse_dump_line(&format!("{strict_match} actions=drop"))
            .map_err(|e| SourceError::Failed {
                command: "ovs-ofctl del-flows".into(),
                stderr: e.to_string(),
            })?
            .key();
        let mut flows = self.flows.lock().map_err(|_| Self::missing("flows poisoned".into()))?;
        let text = flows.get_mut(bridge).ok_or_else(|| Self::missing(format!("no bridge {bridge}")))?;
        let kept: Vec<&str> =
            text.lines().filter(|l| Flow::parse_dump_line(l).map_or(true, |f| f.key() != key)).collect();
        *text = kept.join("\n") + "\n";
        Ok(())
    }

    fn namespaces(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.namespaces.clone())
    }

    fn in_ns(&self, ns: &str, query: &NsQuery) -> Result<String, SourceError> {
        self.ns
            .get(&(ns.to_string(), query.clone()))
            .cloned()
            .ok_or_else(|| Self::missing(format!("no answer to {query:?} in {ns}")))
    }

    fn leases(&self, network_id: &str) -> Result<Option<String>, SourceError> {
        Ok(self.leases.get(network_id).cloned())
    }

    fn dnsmasq_pid(&self, network_id: &str) -> Result<Option<u32>, SourceError> {
        Ok(self.dnsmasq.get(network_id).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_queries_name_themselves() {
        let all = [
            NsQuery::Addresses,
            NsQuery::Routes,
            NsQuery::Routes6,
            NsQuery::Ruleset,
            NsQuery::Neighbours,
            NsQuery::RouteGet { dst: "10.0.0.5".into(), src: "10.0.1.7".into(), iif: "qr-1".into() },
        ];
        for q in all {
            assert_eq!(NsQuery::from_command(&q.command()), Some(q));
        }
        assert_eq!(NsQuery::from_command("rm -rf /"), None);
    }

    #[test]
    fn fake_flows_change_with_add_and_del() {
        let h = FakeHost::new("c1");
        h.set_flows(
            "br-int",
            " cookie=0x1, table=0, n_packets=3, n_bytes=180, priority=10,in_port=1 actions=drop\n",
        );
        h.add_flow("br-int", "table=5,priority=7,ip,actions=output:2").unwrap();
        let text = h.dump_flows("br-int").unwrap();
        let flows = Flow::parse_dump(&text).unwrap();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[1], Flow::new(5, 7, 0, "ip", "output:2"));
        // Adding the same key replaces it.
        h.add_flow("br-int", "table=5,priority=7,ip,actions=drop").unwrap();
        assert_eq!(Flow::parse_dump(&h.dump_flows("br-int").unwrap()).unwrap().len(), 2);
        h.del_flow("br-int", "table=0,priority=10,in_port=1").unwrap();
        let left = Flow::parse_dump(&h.dump_flows("br-int").unwrap()).unwrap();
        assert_eq!(left, vec![Flow::new(5, 7, 0, "ip", "drop")]);
        assert!(h.dump_flows("br-tun").is_err());
        assert!(h.add_flow("br-int", "no actions here").is_err());
    }
}
