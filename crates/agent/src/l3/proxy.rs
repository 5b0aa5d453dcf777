//! The metadata proxy of a router (upstream's `metadata/driver.py` for routers): a haproxy in
//! the router's namespace on `0.0.0.0:<metadata_port>`, where the table's redirect sends
//! requests to 169.254.169.254:80 arriving on `qr-*`, forwarding to the agent's metadata
//! socket with `X-Neutron-Router-ID` and `X-Forwarded-For` (the caller's address) set and any
//! `X-Neutron-*` header a VM sent dropped. The metadata service finds the caller by that
//! address on the router's networks. Restarted when its configuration changed, adopted by its
//! pid file after an agent restart, stopped on a router without interfaces.

use std::path::Path;

use neutrino_host::process::program_name;
use neutrino_host::{Host, Process, Spawn};

use crate::dhcp::network::write_atomic;
use crate::l3::{L3Error, Paths};
use crate::metadata::{self, proxy::Serves};
use crate::units::STOP_TIMEOUT;

/// haproxy's configuration for router `router_id`: on every address at `port`, naming the
/// router in `X-Neutron-Router-ID` ([`metadata::proxy::haproxy_config`]).
pub fn haproxy_config(router_id: &str, port: u16, pid_file: &Path, socket: &Path) -> String {
    let bind = format!("0.0.0.0:{port}");
    metadata::proxy::haproxy_config(&bind, Serves::Router(router_id), pid_file, socket)
}

/// The running proxy of a router.
pub fn running(host: &dyn Host, program: &str, paths: &Paths, ns: &str) -> Result<Option<Process>, L3Error> {
    let name = program_name(program);
    Ok(host.process_from_pid_file(&paths.haproxy_pid(), Some(&name), Some(ns))?)
}

/// Runs (`wanted`) or stops the proxy; what to run is `conf`.
pub fn converge(
    host: &dyn Host,
    program: &str,
    paths: &Paths,
    ns: &str,
    conf: Option<&str>,
) -> Result<(), L3Error> {
    let current = running(host, program, paths, ns)?;
    let Some(conf) = conf else {
        if let Some(p) = current {
            host.stop(&p, STOP_TIMEOUT)?;
        }
        let _ = std::fs::remove_file(paths.haproxy_conf());
        return Ok(());
    };
    let written = std::fs::read_to_string(paths.haproxy_conf()).ok();
    if let Some(p) = current {
        if written.as_deref() == Some(conf) {
            return Ok(());
        }
        host.stop(&p, STOP_TIMEOUT)?;
    }
    write_atomic(&paths.haproxy_conf(), conf).map_err(|e| L3Error::router(ns, e.to_string()))?;
    let _ = std::fs::remove_file(paths.haproxy_pid());
    let argv = vec![program.to_string(), "-f".into(), paths.haproxy_conf().display().to_string()];
    host.spawn(&Spawn::new(argv, paths.haproxy_pid()).in_netns(Some(ns)).daemonizes())?;
    Ok(())
}
