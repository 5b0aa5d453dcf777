//! `extra_dhcp_opts` on ports (`extra_dhcp_opt` extension): set on create, shown and listed,
//! an update replaces values by name and IP version, adds new ones and removes those given a
//! `null` value; invalid entries are a 400 `InvalidInput` that changes nothing; the options
//! reach the dhcp section of the host serving the network.

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, id};
use serde_json::{Value, json};

/// `(name, value, version)` of a port's options, sorted.
fn opts(p: &Value) -> Vec<(String, String, i64)> {
    let mut v: Vec<(String, String, i64)> = p["extra_dhcp_opts"]
        .as_array()
        .unwrap_or_else(|| panic!("extra_dhcp_opts in {p}"))
        .iter()
        .map(|o| {
            (
                o["opt_name"].as_str().unwrap().into(),
                o["opt_value"].as_str().unwrap().into(),
                o["ip_version"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn o(name: &str, value: &str, v: i64) -> (String, String, i64) {
    (name.into(), value.into(), v)
}

#[tokio::test]
async fn create_show_list_update_and_remove() {
    let app = App::new().await;
    let user = app.as_("p1", "member");
    let net = user.net("n").await;
    let p = user
        .port(
            &net,
            json!({"extra_dhcp_opts": [
                {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
                {"opt_name": "tftp-server", "opt_value": "10.0.0.9", "ip_version": 4},
                {"opt_name": "dns-server", "opt_value": "2001:db8::53", "ip_version": 6},
                {"opt_name": "server-ip-address", "opt_value": null}]}),
        )
        .await;
    let want = vec![
        o("bootfile-name", "pxelinux.0", 4),
        o("dns-server", "2001:db8::53", 6),
        o("tftp-server", "10.0.0.9", 4),
    ];
    assert_eq!(opts(&p), want, "a null value is not stored");
    let path = format!("/v2.0/ports/{}", id(&p));
    assert_eq!(opts(&user.get(&path).await.1["port"]), want);
    let (_, l) = user.get(&format!("/v2.0/ports?network_id={net}")).await;
    assert_eq!(opts(&l["ports"][0]), want);
    // A port without options shows an empty list.
    let bare = user.port(&net, json!({})).await;
    assert_eq!(bare["extra_dhcp_opts"], json!([]));

    let (s, b) = user
        .put(
            &path,
            json!({"port": {"extra_dhcp_opts": [
                {"opt_name": "bootfile-name", "opt_value": "ipxe.efi"},
                {"opt_name": "dns-server", "opt_value": null, "ip_version": 6},
                {"opt_name": "router", "opt_value": ""}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let want = vec![o("bootfile-name", "ipxe.efi", 4), o("router", "", 4), o("tftp-server", "10.0.0.9", 4)];
    assert_eq!(opts(&b["port"]), want, "replaced, removed (v6 only), added; others kept");
    assert_eq!(opts(&user.get(&path).await.1["port"]), want);
    // An update without the attribute keeps them; an empty list changes nothing either (as upstream).
    user.put(&path, json!({"port": {"name": "x"}})).await;
    user.put(&path, json!({"port": {"extra_dhcp_opts": []}})).await;
    assert_eq!(opts(&user.get(&path).await.1["port"]), want);
}

#[tokio::test]
async fn invalid_entries_are_refused_and_change_nothing() {
    let app = App::new().await;
    let user = app.as_("p1", "member");
    let net = user.net("n").await;
    let p = user.port(&net, json!({"extra_dhcp_opts": [{"opt_name": "a", "opt_value": "1"}]})).await;
    let path = format!("/v2.0/ports/{}", id(&p));
    for bad in [
        json!("bootfile-name"),
        json!([{"opt_name": "bootfile-name", "opt_value": ""}]),
        json!([{"opt_name": "bootfile-name"}]),
        json!([{"opt_name": "a", "opt_value": "x", "ip_version": 5}]),
        json!([{"opt_name": "a", "opt_value": "x", "ip_version": "v4"}]),
        json!([{"opt_name": "a", "opt_value": "x", "colour": "red"}]),
        json!([{"opt_name": "a\nb", "opt_value": "x"}]),
        json!([{"opt_name": "a", "opt_value": "x"}, {"opt_name": "a", "opt_value": "x"}]),
    ] {
        let r = user.post("/v2.0/ports", json!({"port": {"network_id": net, "extra_dhcp_opts": bad}})).await;
        assert_error(&r, 400, "InvalidInput");
        let r = user.put(&path, json!({"port": {"extra_dhcp_opts": bad}})).await;
        assert_error(&r, 400, "InvalidInput");
    }
    assert_eq!(opts(&user.get(&path).await.1["port"]), vec![o("a", "1", 4)]);
    let (_, l) = user.get(&format!("/v2.0/ports?network_id={net}")).await;
    assert_eq!(l["ports"].as_array().unwrap().len(), 1, "no port was made");
    // `null` is no options.
    let p = user.port(&net, json!({"extra_dhcp_opts": null})).await;
    assert_eq!(p["extra_dhcp_opts"], json!([]));
}

#[tokio::test]
async fn options_reach_the_dhcp_section_and_go_with_the_port() {
    let app = App::new().await;
    let agent = app.agent();
    let r =
        json!({"host": "h1", "agent_type": "DHCP agent", "binary": "neutron-dhcp-agent", "start_flag": true});
    assert_eq!(agent.post("/internal/v1/agents/report", r).await.0, StatusCode::OK);
    let user = app.as_("p1", "member");
    let net = user.net("n").await;
    user.subnet(&net, "10.0.0.0/24", json!({})).await;
    let p = user
        .port(&net, json!({"extra_dhcp_opts": [{"opt_name": "dns-server", "opt_value": "2001:db8::53", "ip_version": 6}]}))
        .await;
    let (_, st) = agent.get("/internal/v1/hosts/h1/state").await;
    let ports = st["dhcp"]["networks"][0]["ports"].as_array().unwrap().clone();
    let mine = ports.iter().find(|x| x["id"] == p["id"]).unwrap_or_else(|| panic!("the port in {st}"));
    assert_eq!(
        mine["extra_dhcp_opts"],
        json!([{"opt_name": "dns-server", "opt_value": "2001:db8::53", "ip_version": 6}])
    );
    // The options go with the port (their rows reference it).
    let (s, b) = user.delete(&format!("/v2.0/ports/{}", id(&p))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (_, st) = agent.get("/internal/v1/hosts/h1/state").await;
    let ports = st["dhcp"]["networks"][0]["ports"].as_array().unwrap().clone();
    assert!(ports.iter().all(|x| x["id"] != p["id"]), "{st}");
}

#[tokio::test]
async fn the_extension_is_listed() {
    let app = App::new().await;
    let (s, b) = app.admin().get("/v2.0/extensions/extra_dhcp_opt").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["extension"]["name"], "Neutron Extra DHCP options");
}
