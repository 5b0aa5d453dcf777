//! A DHCP server for tests of the sandbox's DHCP client where no DHCP agent runs: dnsmasq
//! bound to one interface of a namespace, serving the fixed host entries and options of the
//! files `host` and `opts` the caller writes in its directory (rewrite them and SIGHUP it).

use std::path::Path;

use neutrino_host::Spawn;

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
