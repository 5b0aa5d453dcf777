//! What a floating IP needs beyond its map elements, as upstream's L3 agent does it
//! (`router_info.py`, `ip_lib.send_ip_addr_adv_notif`, `delete_conntrack_state`): when one is
//! associated (or moved) the router announces the address with gratuitous ARP from `qg-`
//! (`arping -U -c 3`, started in the background so the sync does not wait its ~2 s), and when
//! one goes (or moves) the namespace's connection tracking entries of the address are deleted
//! (`conntrack -D -d <fip>`, `conntrack -D -q <fip>`: original destination and reply
//! destination), so established connections through the old mapping stop. Both are best
//! effort: a failure is logged, not retried.

use std::net::Ipv4Addr;

use neutrino_host::{Cmd, Host, Spawn};

use crate::config::L3Config;
use crate::l3::Paths;

/// The floating addresses that appeared or changed their fixed address, and those that went
/// or changed (both hold a moved one).
pub fn changes(old: &[(Ipv4Addr, Ipv4Addr)], new: &[(Ipv4Addr, Ipv4Addr)]) -> (Vec<Ipv4Addr>, Vec<Ipv4Addr>) {
    let announce = new.iter().filter(|p| !old.contains(p)).map(|p| p.0).collect();
    let flush = old.iter().filter(|p| !new.contains(p)).map(|p| p.0).collect();
    (announce, flush)
}

/// `arping`'s command line: three unsolicited ARP replies for `address` from `device`.
pub fn garp_argv(program: &str, device: &str, address: Ipv4Addr) -> Vec<String> {
    [program, "-U", "-c", "3", "-I", device, &address.to_string()].map(str::to_string).to_vec()
}

/// `conntrack`'s command lines deleting the entries of `address`: as original destination
/// (connections to the floating IP) and as reply destination (connections SNATed to it).
pub fn conntrack_argvs(program: &str, address: Ipv4Addr) -> [Vec<String>; 2] {
    let a = address.to_string();
    [
        [program, "-D", "-d", &a].map(str::to_string).to_vec(),
        [program, "-D", "-q", &a].map(str::to_string).to_vec(),
    ]
}

/// Announces `address` from `device` in the background.
pub fn announce(host: &dyn Host, cfg: &L3Config, paths: &Paths, ns: &str, device: &str, address: Ipv4Addr) {
    let argv = garp_argv(&cfg.arping, device, address);
    let spawn = Spawn::new(argv, paths.garp_pid(&address.to_string())).in_netns(Some(ns));
    if let Err(e) = host.spawn(&spawn) {
        tracing::warn!(%address, error = %e, "gratuitous ARP failed");
    }
}

/// Deletes the connection tracking entries of `address` in `ns`. `conntrack -D` fails when it
/// found nothing to delete; that is fine.
pub fn flush(host: &dyn Host, cfg: &L3Config, ns: &str, address: Ipv4Addr) {
    for argv in conntrack_argvs(&cfg.conntrack, address) {
        let Some((program, args)) = argv.split_first() else { continue };
        let cmd = Cmd::in_netns(ns, program.clone()).args(args.iter().cloned());
        match host.run(&cmd) {
            Ok(out) if out.success() || out.stderr.contains("0 flow entries") => {}
            Ok(out) => tracing::warn!(%address, stderr = %out.stderr, "deleting conntrack entries failed"),
            Err(e) => tracing::warn!(%address, error = %e, "deleting conntrack entries failed"),
        }
    }
}
