//! One command line of the shell: `list`, `show`, `dump`, `ipt`/`sg`, `ns`, `query`, `addflow`,
//! `delflow`, `trace`, `topology`, `host`, `hosts`, `help` — each read fresh from the host and
//! the API, printed as a table or JSON (`-f json` anywhere on the line, or the session's
//! format). `addflow`/`delflow` show their plan and ask before changing anything.

use std::io::{BufRead, Write};

use neutrino_inspect::cloud::Cloud;
use neutrino_inspect::owners::Owners;
use neutrino_inspect::source::HostSource;
use neutrino_inspect::trace::{self, Fabric, TraceHost, TraceRequest};
use neutrino_inspect::views::switch::Switch;
use neutrino_inspect::views::{dump, flowmod, ipt, list, ns, query, show, topology};
use serde::Serialize;

use super::Context;
use crate::error::CliError;

/// The commands, for `help` and completion.
pub const COMMANDS: &[(&str, &str)] = &[
    ("list", "every bridge with its ports, controllers and fail mode"),
    ("show", "show BRIDGE: one row per port, joined with the API by iface-id"),
    ("dump", "dump BRIDGE [FILTER]: the flow table with stable ids, stages and owners"),
    ("ipt", "ipt VM-IP: the VM's security group flows (IN / OUT / SRC FILTER) with counts"),
    ("sg", "sg VM-IP: the same as ipt"),
    ("ns", "ns [list | show NAME]: qrouter-/qdhcp- namespaces, routes, NAT, dnsmasq"),
    ("query", "query IP|ID|NAME: everything about one port"),
    ("addflow", "addflow BRIDGE MATCH ACTIONS: add a flow (asks first)"),
    ("delflow", "delflow BRIDGE ID...: delete flows by their ids (asks first)"),
    ("trace", "trace FROM TO [icmp|tcp|udp [PORT]]: follow one packet and say why"),
    ("topology", "topology [-f dot] [--svg FILE]: hosts, bridges, tunnels, routers, networks, VMs"),
    ("host", "host NAME: look at another host of the sandbox"),
    ("hosts", "the hosts this shell can read"),
    ("help", "this list"),
];

/// How addflow/delflow get their answer.
pub enum Confirm {
    /// Ask on the terminal.
    Ask,
    /// Yes without asking (`--yes`).
    Yes,
}

impl Confirm {
    fn ok(&mut self, question: &str) -> bool {
        match self {
            Confirm::Yes => true,
            Confirm::Ask => {
                print!("{question} [y/N] ");
                let _ = std::io::stdout().flush();
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                matches!(line.trim(), "y" | "Y" | "yes")
            }
        }
    }
}

/// Splits a command line into words ('…' and "…" group words).
pub fn split(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn usage(s: &str) -> CliError {
    CliError::Usage(s.to_string())
}

fn err(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

fn out<T: Serialize>(format: &str, view: &T, text: impl FnOnce(&T) -> String) -> Result<String, CliError> {
    match format {
        "json" => {
            serde_json::to_string_pretty(view).map(|s| s + "\n").map_err(|e| CliError::Output(e.to_string()))
        }
        _ => Ok(text(view)),
    }
}

/// Runs one command line.
pub fn run(
    cx: &mut Context,
    words: &[&str],
    format: &str,
    confirm: &mut Confirm,
) -> Result<String, CliError> {
    // `-f FORMAT` anywhere on the line.
    let mut format = format.to_string();
    let mut svg: Option<String> = None;
    let mut rest = vec![];
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match *w {
            "-f" | "--format" => {
                format = it.next().ok_or_else(|| usage("-f needs table, json or dot"))?.to_string()
            }
            "--svg" => svg = Some(it.next().ok_or_else(|| usage("--svg needs a file"))?.to_string()),
            w => rest.push(w),
        }
    }
    if !matches!(format.as_str(), "table" | "json" | "dot") {
        return Err(usage("the format is table, json or dot"));
    }
    let Some((verb, args)) = rest.split_first() else { return Ok(String::new()) };
    let host = cx.host();
    let host: &dyn HostSource = host.as_ref();
    let (int, tun) = (cx.int_bridge.clone(), cx.tun_bridge.clone());
    match (*verb, args) {
        ("help", _) => Ok(COMMANDS.iter().map(|(c, h)| format!("  {c:<9} {h}\n")).collect()),
        ("hosts", _) => Ok(cx
            .hosts
            .iter()
            .map(|h| format!("  {}{}\n", h.host(), if h.host() == host.host() { " *" } else { "" }))
            .collect()),
        ("host", [name]) => {
            cx.select(name)?;
            Ok(format!("looking at {name}\n"))
        }
        ("list", []) => out(&format, &list::read(host).map_err(err)?, list::List::render),
        ("show", [bridge]) => {
            let v = show::read(host, bridge, &cx.cloud()?).map_err(err)?;
            out(&format, &v, show::Show::render)
        }
        ("dump", [bridge, filter @ ..]) => {
            let b = dump::read_bridge(host, bridge).map_err(err)?;
            let cloud = cx.cloud()?;
            let owners = Owners::new(&cloud, host.host());
            let role = dump::BridgeRole::of(bridge, &int, Some(&tun));
            let filter = (!filter.is_empty()).then(|| filter.join(" "));
            let v = dump::Dump::new(bridge, role, &b.flows, &b.names, &owners, filter.as_deref());
            out(&format, &v, dump::Dump::render)
        }
        ("ipt" | "sg", [ip]) => {
            let b = dump::read_bridge(host, &int).map_err(err)?;
            let cloud = cx.cloud()?;
            let owners = Owners::new(&cloud, host.host());
            let v = ipt::Ipt::new(ip, &cloud, &owners, &b.flows, &b.names).map_err(err)?;
            out(&format, &v, ipt::Ipt::render)
        }
        ("ns", [] | ["list"]) => {
            let v = ns::list(host, &cx.cloud()?).map_err(err)?;
            out(&format, &v, ns::NsList::render)
        }
        ("ns", ["show", name]) => {
            let v = ns::show(host, &cx.cloud()?, name).map_err(err)?;
            out(&format, &v, ns::NsDetail::render)
        }
        ("query", [what]) => {
            let v = query::read(host, &cx.cloud()?, what).map_err(err)?;
            out(&format, &v, query::Query::render)
        }
        ("addflow", [bridge, matches, actions]) => {
            let b = dump::read_bridge(host, bridge).map_err(err)?;
            let cloud = cx.cloud()?;
            let owners = Owners::new(&cloud, host.host());
            let plan =
                flowmod::plan_add(bridge, matches, actions, &b.flows, &b.names, &owners).map_err(err)?;
            let mut s = plan.render();
            print!("{s}");
            if !confirm.ok(&format!("add this flow to {bridge} on {}?", host.host())) {
                return Ok("nothing changed\n".into());
            }
            plan.apply(host).map_err(err)?;
            s = "added\n".into();
            Ok(s)
        }
        ("delflow", [bridge, ids @ ..]) if !ids.is_empty() => {
            let cloud = cx.cloud()?;
            let owners = Owners::new(&cloud, host.host());
            let current = dump::read_bridge(host, bridge).map_err(err)?.flows;
            let plan = flowmod::plan_del(bridge, ids, &current, &owners).map_err(err)?;
            print!("{}", plan.render());
            if !confirm.ok(&format!("delete these flows from {bridge} on {}?", host.host())) {
                return Ok("nothing changed\n".into());
            }
            plan.apply(host).map_err(err)?;
            Ok("deleted\n".into())
        }
        ("trace", args) => {
            let req = TraceRequest::parse(args).map_err(err)?;
            let cloud = cx.cloud()?;
            let mut hosts = vec![];
            for h in &cx.hosts {
                let switch = Switch::read(h.as_ref()).map_err(err)?;
                hosts.push(TraceHost { src: h.as_ref(), switch });
            }
            let fabric = Fabric { cloud: &cloud, hosts, int_bridge: int.clone() };
            let v = trace::trace(&fabric, &req).map_err(err)?;
            out(&format, &v, trace::TraceResult::render)
        }
        ("topology", []) => {
            let cloud = cx.cloud()?;
            let input = topology_input(cx, cloud)?;
            let v = topology::Topology::build(&input);
            if let Some(path) = svg {
                std::fs::write(&path, v.to_svg()).map_err(|e| CliError::Usage(format!("{path}: {e}")))?;
            }
            match format.as_str() {
                "dot" => Ok(v.to_dot()),
                f => out(f, &v, topology::Topology::render),
            }
        }
        (v, _) if COMMANDS.iter().any(|(c, _)| *c == v) => {
            let help = COMMANDS.iter().find(|(c, _)| *c == v).map(|(_, h)| *h).unwrap_or_default();
            Err(usage(&format!("usage: {help}")))
        }
        (v, _) => Err(usage(&format!("unknown command {v:?} (help lists them)"))),
    }
}

fn topology_input(cx: &Context, cloud: Cloud) -> Result<topology::TopologyInput, CliError> {
    let mut hosts = vec![];
    for h in &cx.hosts {
        let switch = Switch::read(h.as_ref()).map_err(err)?;
        let namespaces = h.namespaces().map_err(err)?;
        // The host's Open vSwitch agent reports its tunnel endpoint (its DHCP and L3 rows do not).
        let tunnel_ip = cloud
            .agents
            .iter()
            .filter(|a| a.host == h.host())
            .find_map(|a| a.tunneling_ip())
            .map(str::to_string);
        hosts.push(topology::HostTopo::from_switch(h.host(), tunnel_ip.as_deref(), &switch, namespaces));
    }
    Ok(topology::TopologyInput { hosts, cloud })
}
