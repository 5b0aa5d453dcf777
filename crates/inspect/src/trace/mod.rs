//! `trace FROM TO [PROTO [PORT]]`: one packet followed through the cloud in the tenant's terms.
//! Each Open vSwitch bridge it crosses is asked with `ofproto/trace` (patch ports are followed
//! by Open vSwitch itself; tunnels and physical networks lead to the next host's bridge with the
//! tunnel metadata or VLAN the packet carries; conntrack answers `--ct-next trk,new` for a new
//! connection, then the same path is asked again as an established one); a router is followed
//! through its namespace's routes and its NAT (floating IPs, SNAT). Every step becomes an
//! [`Observation`] (host, component, action, rule, translated addresses — the shape of Antrea's
//! Traceflow observations) and the whole a [`Verdict`]; a drop names the reason and the rule,
//! or the missing rule and the nearest one. Steps are interpreted by the flow's owner tag in
//! its cookie ([`crate::owners`]) and the table's stage.

mod bridge;
mod explain;
mod packet;
mod render;
mod router;
mod start;

use serde::Serialize;

use crate::cloud::Cloud;
use crate::error::InspectError;
use crate::source::HostSource;
use crate::views::switch::Switch;

pub use packet::{Packet, Proto};

/// One host the trace may cross: how to read it and its bridges.
pub struct TraceHost<'a> {
    pub src: &'a dyn HostSource,
    pub switch: Switch,
}

/// The cloud as the trace sees it: the API's objects and every host it can read.
pub struct Fabric<'a> {
    pub cloud: &'a Cloud,
    pub hosts: Vec<TraceHost<'a>>,
    /// The integration bridge's name (`br-int`).
    pub int_bridge: String,
}

impl<'a> Fabric<'a> {
    pub fn host(&self, name: &str) -> Option<&TraceHost<'a>> {
        self.hosts.iter().find(|h| h.src.host() == name)
    }
}

/// What the operator asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRequest {
    /// A VM or port (name, id, fixed IP) or an address outside the cloud.
    pub from: String,
    /// An address (fixed, floating or outside) or a VM/port.
    pub to: String,
    pub proto: Proto,
    /// The destination port (TCP/UDP).
    pub port: Option<u16>,
}

impl TraceRequest {
    /// From the shell's words: `FROM TO [PROTO [PORT]]` (PROTO `icmp` by default, `tcp/80`
    /// accepted as one word).
    pub fn parse(words: &[&str]) -> Result<TraceRequest, InspectError> {
        let usage = || InspectError::Invalid("usage: trace FROM TO [icmp|tcp|udp [PORT]]".into());
        let (from, to) = match words {
            [f, t, ..] => (f.to_string(), t.to_string()),
            _ => return Err(usage()),
        };
        let mut rest: Vec<String> = words[2..].iter().map(|s| s.to_string()).collect();
        if let Some((p, n)) =
            rest.first().and_then(|w| w.split_once('/')).map(|(a, b)| (a.to_string(), b.to_string()))
        {
            rest.splice(0..1, [p, n]);
        }
        let proto = match rest.first().map(String::as_str) {
            None => Proto::Icmp,
            Some(p) => p.parse::<Proto>().map_err(InspectError::Invalid)?,
        };
        let port = match rest.get(1) {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| InspectError::Invalid(format!("{p:?} is not a port number (1-65535)")))?,
            ),
        };
        if rest.len() > 2 {
            return Err(usage());
        }
        if port.is_some() && proto == Proto::Icmp {
            return Err(InspectError::Invalid("icmp has no port".into()));
        }
        if port.is_none() && proto != Proto::Icmp {
            return Err(InspectError::Invalid(format!("{} needs a destination port", proto.name())));
        }
        Ok(TraceRequest { from, to, proto, port })
    }
}

/// What happened at one step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub host: String,
    /// `port`, `security-group`, `conntrack`, `switching`, `tunnel`, `physical`, `router`,
    /// `nat`, `external`.
    pub component: String,
    /// `allowed`, `forwarded`, `delivered`, `dropped`, `translated`, `left`.
    pub action: String,
    /// What a person reads.
    pub text: String,
    /// The security group rule, when one decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The bridge, table and flow id of the step, when a flow decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translated_src: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translated_dst: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_dst: Option<String>,
}

/// How the packet's journey ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It reaches the destination port.
    Delivered,
    /// It leaves the cloud through a router's gateway (to an address outside).
    LeftCloud,
    /// It is dropped (the reason says where and why).
    Dropped,
    /// The trace could not follow it (a host it reaches cannot be read, a loop).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub reason: String,
}

/// The whole trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceResult {
    pub request: TraceRequest,
    /// The packet as it starts.
    pub packet: Packet,
    /// Steps of a new connection's first packet.
    pub observations: Vec<Observation>,
    pub verdict: Verdict,
    /// The same path asked as an established connection (when the first packet got through).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub established: Option<Verdict>,
}

/// Follows the packet `req` describes through `fabric`.
pub fn trace(fabric: &Fabric<'_>, req: &TraceRequest) -> Result<TraceResult, InspectError> {
    let start = start::resolve(fabric, req)?;
    // Every host's flows are read, so no host's objects are preferred on a tag collision.
    let tags = crate::owners::Owners::new(fabric.cloud, "");
    let first = start::walk(fabric, &tags, &start, "trk,new");
    let (observations, verdict) = first;
    let established = match verdict.outcome {
        Outcome::Delivered | Outcome::LeftCloud => Some(start::walk(fabric, &tags, &start, "trk,est").1),
        _ => None,
    };
    Ok(TraceResult { request: req.clone(), packet: start.packet.clone(), observations, verdict, established })
}

impl TraceResult {
    /// The steps and the verdict, one line each, as the shell prints them.
    pub fn render(&self) -> String {
        render::text(self)
    }
}
