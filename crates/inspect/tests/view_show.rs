//! `show BRIDGE` on the recorded host: each interface joined with its API port through
//! `external_ids:iface-id` only.

mod host_fixture;

use neutrino_inspect::views::show::{Join, ShowError, show};

#[test]
fn joins_every_interface_through_its_iface_id() {
    let h = host_fixture::host();
    let (sw, cloud) = (host_fixture::switch(&h), host_fixture::cloud());
    let v = show(&sw, "br-int", &host_fixture::flows(&h, "br-int"), &cloud).unwrap();
    let by = |name: &str| v.ports.iter().find(|p| p.interface == name).unwrap();

    let web = by("tap-vm1");
    assert_eq!(web.join, Join::Joined);
    assert_eq!((web.ofport, web.vlan), (Some(10), Some(1)));
    assert_eq!(web.ips, ["10.0.1.5"]);
    assert_eq!(web.mac.as_deref(), Some("fa:16:3e:1a:2b:01"));
    assert_eq!(web.port_id.as_deref(), Some("8f1c2a7e-4b3d-4c55-9e0a-1d2b3c4d5e01"));
    assert_eq!(web.network.as_deref(), Some("web-net"));
    assert_eq!(web.owner.as_deref(), Some("compute:nova 0e4f8a21"));
    assert_eq!(web.project_id.as_deref(), Some("5f2a0c1e9d8b4a7c6e5f4d3c2b1a0987"));
    assert!(!web.mac_mismatch);

    let db = by("tap-vm2");
    assert_eq!(
        (db.vlan, db.network.as_deref(), db.ips.as_slice()),
        (Some(2), Some("db-net"), &["10.0.2.7".to_string()][..])
    );
    assert_eq!(by("tap3c9d0e11-22").owner.as_deref(), Some("network:dhcp"));
    assert_eq!(by("qr-4d5e6f70-81").owner.as_deref(), Some("network:router_interface r1"));

    let ghost = by("tap-ghost");
    assert_eq!(ghost.join, Join::NotInApi);
    assert_eq!((ghost.port_id.as_ref(), ghost.ips.len(), ghost.vlan), (None, 0, None));

    // Patch ports and the bridge's own port have no iface-id and so no API columns, even where
    // a name would suggest one.
    for name in ["patch-tun", "int-br-phys", "br-int"] {
        let p = by(name);
        assert_eq!(p.join, Join::NoIfaceId, "{name}");
        assert_eq!((p.port_id.as_ref(), p.network.as_ref(), p.owner.as_ref()), (None, None, None));
    }

    insta::assert_snapshot!("show_br_int", v.render());
    insta::assert_snapshot!("show_br_int_json", serde_json::to_string_pretty(&v).unwrap());
}

#[test]
fn never_joins_by_name_and_flags_a_mac_another_port_plugged() {
    let h = host_fixture::host();
    let mut sw = host_fixture::switch(&h);
    let mut cloud = host_fixture::cloud();
    // An API port named like an interface is not joined with it.
    cloud.ports[1].name = "tap-ghost".into();
    // Nova plugged tap-vm1 with another MAC than the API's.
    let int = sw.bridges.iter_mut().find(|b| b.name == "br-int").unwrap();
    let vm1 = int.ports.iter_mut().find(|i| i.name == "tap-vm1").unwrap();
    vm1.attached_mac = Some("fa:16:3e:ff:ff:ff".into());
    let v = show(&sw, "br-int", &host_fixture::flows(&h, "br-int"), &cloud).unwrap();
    let ghost = v.ports.iter().find(|p| p.interface == "tap-ghost").unwrap();
    assert_eq!(ghost.join, Join::NotInApi);
    let web = v.ports.iter().find(|p| p.interface == "tap-vm1").unwrap();
    assert!(web.mac_mismatch);
    assert!(v.render().contains("fa:16:3e:1a:2b:01 (attached-mac fa:16:3e:ff:ff:ff)"));
}

#[test]
fn the_tunnel_bridge_has_no_api_ports_and_an_unknown_bridge_is_an_error() {
    let h = host_fixture::host();
    let (sw, cloud) = (host_fixture::switch(&h), host_fixture::cloud());
    let v = show(&sw, "br-tun", &host_fixture::flows(&h, "br-tun"), &cloud).unwrap();
    assert!(v.ports.iter().all(|p| p.join == Join::NoIfaceId && p.vlan.is_none()));
    insta::assert_snapshot!("show_br_tun", v.render());
    let err = show(&sw, "br-nope", &[], &cloud).unwrap_err();
    assert!(matches!(err, ShowError::NoBridge { .. }));
    assert_eq!(err.to_string(), "no bridge br-nope (bridges: br-int, br-phys, br-tun)");
}

#[test]
fn read_from_a_host_gives_the_same_view() {
    let h = host_fixture::host();
    let cloud = host_fixture::cloud();
    let direct =
        show(&host_fixture::switch(&h), "br-int", &host_fixture::flows(&h, "br-int"), &cloud).unwrap();
    assert_eq!(neutrino_inspect::views::show::read(&h, "br-int", &cloud).unwrap(), direct);
    assert!(matches!(
        neutrino_inspect::views::show::read(&h, "br-x", &cloud),
        Err(ShowError::NoBridge { .. })
    ));
    h.set_flows("br-int", "not a flow actions\n");
    let err = neutrino_inspect::views::show::read(&h, "br-int", &cloud).unwrap_err();
    assert!(err.to_string().starts_with("flows of br-int: "), "{err}");
}
