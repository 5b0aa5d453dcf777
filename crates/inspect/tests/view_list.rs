//! `list` on the recorded host: every bridge with datapath type, fail mode, controllers and
//! ports with their types.

mod host_fixture;

use neutrino_inspect::views::list::list;
use neutrino_inspect::views::switch::IfaceKind;

#[test]
fn lists_every_bridge_with_ports_controllers_and_fail_mode() {
    let h = host_fixture::host();
    let v = list(&host_fixture::switch(&h));
    let names: Vec<&str> = v.bridges.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["br-int", "br-phys", "br-tun"]);
    let int = &v.bridges[0];
    assert_eq!((int.datapath_type.as_str(), int.fail_mode.as_deref()), ("netdev", Some("secure")));
    assert!(int.controllers.is_empty());
    let patch = int.ports.iter().find(|p| p.name == "patch-tun").unwrap();
    assert_eq!((patch.ofport, &patch.kind), (Some(1), &IfaceKind::Patch { peer: Some("patch-int".into()) }));
    let phys = &v.bridges[1];
    assert_eq!(phys.fail_mode, None);
    assert_eq!(phys.controllers.len(), 1);
    assert_eq!(phys.controllers[0].target, "tcp:127.0.0.1:6653");
    assert!(!phys.controllers[0].is_connected);
    let tun = &v.bridges[2];
    let vx = tun.ports.iter().find(|p| p.name == "vxlan-ac1f0002").unwrap();
    assert_eq!((vx.ofport, &vx.kind), (Some(5), &IfaceKind::Vxlan { remote_ip: Some("172.31.0.2".into()) }));
    let gre = tun.ports.iter().find(|p| p.name == "gre-ac1f0003").unwrap();
    assert_eq!(gre.kind, IfaceKind::Gre { remote_ip: Some("172.31.0.3".into()) });
    // The bridge's own port comes last.
    assert_eq!(int.ports.last().map(|p| (p.name.as_str(), p.ofport)), Some(("br-int", Some(65534))));

    insta::assert_snapshot!("list", v.render());
    insta::assert_snapshot!("list_json", serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn an_empty_switch_says_so() {
    let v = list(&Default::default());
    assert_eq!(v.render(), "no bridges\n");
}

#[test]
fn an_interface_that_failed_shows_its_error() {
    let h = host_fixture::host();
    let mut sw = host_fixture::switch(&h);
    let tun = sw.bridges.iter_mut().find(|b| b.name == "br-int").unwrap();
    let vm = tun.ports.iter_mut().find(|i| i.name == "tap-vm2").unwrap();
    (vm.ofport, vm.error) = (None, Some("could not open network device tap-vm2 (No such device)".into()));
    let text = list(&sw).render();
    assert!(
        text.contains(
            "tap-vm2        -      system (error: could not open network device tap-vm2 (No such device))\n"
        ),
        "{text}"
    );
}

#[test]
fn read_from_a_host_gives_the_same_view() {
    let h = host_fixture::host();
    assert_eq!(neutrino_inspect::views::list::read(&h).unwrap(), list(&host_fixture::switch(&h)));
}
