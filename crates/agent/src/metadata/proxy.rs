//! The haproxy in front of the metadata service, in a `qdhcp-` or `qrouter-` namespace
//! (upstream's `neutron/agent/metadata/driver_base.py` configuration template): HTTP on the
//! address a VM asks (or the port the router's redirect sends it to), forwarded to the agent's
//! metadata socket. Whatever `X-Neutron-*` headers a VM sends are dropped; the proxy names its
//! network or router and sets `X-Forwarded-For` (exactly one address: the caller's), from which
//! the metadata service finds the caller. Pure functions.

use std::path::Path;

/// The metadata address a VM asks.
pub const METADATA_IP: &str = "169.254.169.254";

/// What a proxy serves: the header that names it to the metadata service.
#[derive(Debug, Clone, Copy)]
pub enum Serves<'a> {
    /// An isolated network (`X-Neutron-Network-ID`).
    Network(&'a str),
    /// A router's networks (`X-Neutron-Router-ID`).
    Router(&'a str),
}

/// haproxy's configuration: listen on `bind`, write `pid_file`, forward to `socket`.
pub fn haproxy_config(bind: &str, serves: Serves<'_>, pid_file: &Path, socket: &Path) -> String {
    let (header, id) = match serves {
        Serves::Network(id) => ("X-Neutron-Network-ID", id),
        Serves::Router(id) => ("X-Neutron-Router-ID", id),
    };
    format!(
        "global
    maxconn     1024
    pidfile     {pid}
    daemon

defaults
    mode http
    option http-server-close
    retries                 3
    timeout http-request    30s
    timeout connect         30s
    timeout client          32s
    timeout server          32s
    timeout http-keep-alive 30s

listen listener
    bind {bind}
    http-request del-header X-Neutron- -m beg
    http-request set-header {header} {id}
    http-request set-header X-Forwarded-For %[src]
    server metadata {socket}
",
        pid = pid_file.display(),
        socket = socket.display(),
    )
}
