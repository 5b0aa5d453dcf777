//! End-to-end L2 operations: isolation of networks with the same CIDR, a deleted port cuts
//! its VM off, an agent restart during a continuous ping loses no packet, a killed
//! ovs-vswitchd gets its flows back by itself.

mod cloud;

use std::time::Duration;

use cloud::{Cloud, ping_counts, prerequisites};

#[test]
fn networks_with_the_same_cidr_are_isolated_and_deleting_a_port_cuts_it_off() {
    if !prerequisites() {
        return;
    }
    let mut c = Cloud::up("nt-ei-", 2);
    let (red, mtu) = c.network("vxlan", "10.20.0.0/24");
    let (blue, _) = c.network("vxlan", "10.20.0.0/24");
    let (_, r1) = c.vm("h1", "r1", &red, mtu, Some("10.20.0.11"));
    let (r2_port, r2) = c.vm("h2", "r2", &red, mtu, Some("10.20.0.12"));
    let (_, _b1) = c.vm("h1", "b1", &blue, mtu, Some("10.20.0.21"));
    let (_, b2) = c.vm("h2", "b2", &blue, mtu, Some("10.20.0.12"));
    c.wait_ping("r1", &r2);
    c.wait_ping("b1", &b2);
    // r1 and b1 share h1, r2 and b2 share an address on h2: nothing crosses.
    assert!(!c.ping("r1", "10.20.0.21"), "red reached blue on the same host\n{}", c.logs());
    let (_, via) = c.api("GET", &format!("/v2.0/ports?fixed_ips=ip_address%3D{r2}&network_id={red}"), None);
    assert_eq!(via["ports"].as_array().map(Vec::len), Some(1));
    assert!(c.ping("b2", "10.20.0.21"));
    assert!(!c.ping("b2", &r1), "blue reached red across hosts\n{}", c.logs());

    let (s, _) = c.api("DELETE", &format!("/v2.0/ports/{r2_port}"), None);
    assert_eq!(s, 204);
    c.wait(Duration::from_secs(20), "r2 cut off", |c| !c.ping("r1", &r2));
    // The other network is untouched.
    assert!(c.ping("b1", &b2), "deleting a red port broke blue\n{}", c.logs());
    // red's last port left h2: h2 drops red's tunnel id, keeps blue's; h1 keeps its tunnel to h2
    // (blue still needs it) but no longer floods red there.
    let (red_seg, blue_seg) = (c.segment(&red), c.segment(&blue));
    c.wait(Duration::from_secs(10), "red's flows gone from h2", |c| {
        !c.flows("h2", "br-tun").contains(&format!("tun_id={red_seg:#x}"))
    });
    assert!(c.flows("h2", "br-tun").contains(&format!("tun_id={blue_seg:#x}")));
    let h1_tun = c.flows("h1", "br-tun");
    // (The flood table is 22; each network's flood flow sets its tunnel id, which ovs-ofctl
    // prints as `load:` or `set_field:` depending on the OpenFlow version it was written in.)
    let sets_tun_id = |l: &&str| l.contains("->tun_id") || l.contains("->NXM_NX_TUN_ID[]");
    let floods = h1_tun.lines().filter(|l| l.contains("table=22")).filter(sets_tun_id).count();
    assert_eq!(floods, 1, "h1 floods only blue over tunnels:\n{h1_tun}");
}

#[test]
fn agent_restart_loses_no_packet() {
    if !prerequisites() {
        return;
    }
    let mut c = Cloud::up("nt-ea-", 2);
    let (net, mtu) = c.network("vxlan", "10.30.0.0/24");
    c.vm("h1", "a", &net, mtu, None);
    let (_, ip_b) = c.vm("h2", "b", &net, mtu, None);
    c.wait_ping("a", &ip_b);
    let ns = c.vm_netns("a");
    let ping = c
        .sandbox
        .spawn(&ns, &["busybox", "ping", "-i", "0.05", "-c", "160", "-W", "2", &ip_b])
        .expect("ping");
    std::thread::sleep(Duration::from_secs(1));
    for host in ["h1", "h2"] {
        c.stop_agent(host);
        std::thread::sleep(Duration::from_millis(500));
        c.start_agent(host);
        std::thread::sleep(Duration::from_secs(2));
    }
    let out = ping.wait_with_output().expect("ping output");
    let text = String::from_utf8_lossy(&out.stdout);
    let (sent, received) = ping_counts(&text);
    assert_eq!(sent, 160, "{text}");
    assert_eq!(received, sent, "packets lost across agent restarts:\n{text}\n{}", c.logs());
    // And the restarted agents still follow changes.
    let (_, ip_c) = c.vm("h2", "c", &net, mtu, None);
    c.wait_ping("a", &ip_c);
}

#[test]
fn vswitchd_restart_restores_connectivity() {
    if !prerequisites() {
        return;
    }
    let mut c = Cloud::up("nt-er-", 2);
    let (net, mtu) = c.network("vxlan", "10.40.0.0/24");
    c.vm("h1", "a", &net, mtu, None);
    let (_, ip_b) = c.vm("h2", "b", &net, mtu, None);
    c.wait_ping("a", &ip_b);
    c.sandbox.restart_vswitchd("h1").expect("restart ovs-vswitchd");
    c.wait(Duration::from_secs(30), "connectivity back after ovs-vswitchd restart", |c| {
        c.exec("a", &["busybox", "ping", "-c", "1", "-W", "1", &ip_b]).status.success()
    });
    let bytes = c.tcp_bytes("a", "b", &ip_b);
    assert!(bytes >= 1_000_000, "TCP after the restart delivered {bytes} bytes");
}
