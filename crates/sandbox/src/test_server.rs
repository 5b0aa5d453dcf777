//! A DHCP server for tests of the sandbox's DHCP client where no DHCP agent runs: dnsmasq
//! bound to one interface of a namespace, serving the fixed host entries and options of the
//! files `host` and `opts` the caller writes in its directory (rewrite them, then
//! [`reload_test_dhcp_server`]).

use std::path::Path;
use std::time::{Duration, Instant};

use neutrino_host::{Process, Processes, Signal, Spawn};

use crate::{Error, Result};

/// dnsmasq on `interface` in `netns`, for the /24 at `network` (`10.77.0.0`) with leases of
/// `lease_secs`; its files, pid file and log in `dir`.
pub fn test_dhcp_server(netns: &str, interface: &str, network: &str, lease_secs: u32, dir: &Path) -> Spawn {
    let file = |name: &str| dir.join(name).display().to_string();
    let argv = [
        "dnsmasq".to_string(),
        "--keep-in-foreground".into(),
        "--conf-file=/dev/null".into(),
        "--user=root".into(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        "--except-interface=lo".into(),
        format!("--interface={interface}"),
        "--bind-interfaces".into(),
        "--port=0".into(),
        "--leasefile-ro".into(),
        format!("--dhcp-range=set:subnet,{network},static,255.255.255.0,{lease_secs}s"),
        format!("--dhcp-hostsfile={}", file("host")),
        format!("--dhcp-optsfile={}", file("opts")),
        format!("--pid-file={}", file("dnsmasq.pid")),
        "--log-dhcp".into(),
        "--log-facility=-".into(),
    ];
    Spawn::new(argv, dir.join("spawn.pid")).in_netns(Some(netns)).log(dir.join("log"))
}

/// How many times the server in `dir` has read its host file (dnsmasq logs every read).
fn host_file_reads(dir: &Path) -> usize {
    let host = dir.join("host").display().to_string();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    log.lines().filter(|l| l.contains("read ") && l.trim_end().ends_with(&host)).count()
}

/// SIGHUPs the server in `dir` and waits (up to `timeout`) until it has read its host file
/// again: a request sent before that would still get the old entries.
pub fn reload_test_dhcp_server(
    host: &dyn Processes,
    server: &Process,
    dir: &Path,
    timeout: Duration,
) -> Result<()> {
    let before = host_file_reads(dir);
    host.signal(server, Signal::Hup)?;
    let start = Instant::now();
    while host_file_reads(dir) <= before {
        if start.elapsed() > timeout {
            let message = format!("did not re-read {}/host within {timeout:?}", dir.display());
            return Err(Error::Process { name: "test DHCP server".into(), message });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
