//! Default policy: project isolation (someone else's resource is a 404), readers cannot
//! write (403), admin-only attributes (403 when set, stripped when read), shared and external
//! networks visible to all, and the network owner's rights over ports on its network.

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, assert_error_msg, id, ids};
use serde_json::json;

#[tokio::test]
async fn other_projects_resources_do_not_exist_for_you() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let p2 = app.as_("p2", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = id(&p1.port(&n, json!({})).await);
    assert_error_msg(
        &p2.get(&format!("/v2.0/networks/{n}")).await,
        404,
        "NetworkNotFound",
        &format!("Network {n} could not be found."),
    );
    assert_error(&p2.get(&format!("/v2.0/subnets/{s}")).await, 404, "SubnetNotFound");
    assert_error(&p2.get(&format!("/v2.0/ports/{p}")).await, 404, "PortNotFound");
    // Writes to a resource the caller cannot see are policy-hidden 404s.
    let hidden = "The resource could not be found.";
    let r = p2.put(&format!("/v2.0/networks/{n}"), json!({"network": {"name": "x"}})).await;
    assert_error_msg(&r, 404, "HTTPNotFound", hidden);
    assert_error_msg(&p2.delete(&format!("/v2.0/networks/{n}")).await, 404, "HTTPNotFound", hidden);
    let r = p2.put(&format!("/v2.0/subnets/{s}"), json!({"subnet": {"name": "x"}})).await;
    assert_error_msg(&r, 404, "HTTPNotFound", hidden);
    assert_error_msg(&p2.delete(&format!("/v2.0/subnets/{s}")).await, 404, "HTTPNotFound", hidden);
    let r = p2.put(&format!("/v2.0/ports/{p}"), json!({"port": {"name": "x"}})).await;
    assert_error_msg(&r, 404, "HTTPNotFound", hidden);
    assert_error_msg(&p2.delete(&format!("/v2.0/ports/{p}")).await, 404, "HTTPNotFound", hidden);
    // Creating on someone else's private network: the network is not found.
    let r = p2.post("/v2.0/ports", json!({"port": {"network_id": n}})).await;
    assert_error(&r, 404, "NetworkNotFound");
    let r = p2
        .post("/v2.0/subnets", json!({"subnet": {"network_id": n, "ip_version": 4, "cidr": "10.9.0.0/24"}}))
        .await;
    assert_error(&r, 404, "NetworkNotFound");
    // Lists hold only what the caller may see.
    let (_, b) = p2.get("/v2.0/networks").await;
    assert_eq!(b, json!({"networks": []}));
    let (_, b) = p2.get("/v2.0/subnets").await;
    assert_eq!(b, json!({"subnets": []}));
    let (_, b) = p2.get("/v2.0/ports").await;
    assert_eq!(b, json!({"ports": []}));
    // Nothing changed.
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(b["network"]["name"], "n");
    // The admin sees everything.
    let (_, b) = app.admin().get("/v2.0/networks").await;
    assert_eq!(ids(&b, "networks"), [n]);
}

#[tokio::test]
async fn readers_cannot_write() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let reader = app.as_("p1", "reader");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = id(&p1.port(&n, json!({})).await);
    let r = reader.post("/v2.0/networks", json!({"network": {"name": "x"}})).await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:create_network is disallowed by policy");
    let r = reader.put(&format!("/v2.0/networks/{n}"), json!({"network": {"name": "x"}})).await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:update_network is disallowed by policy");
    let r = reader.delete(&format!("/v2.0/networks/{n}")).await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:delete_network is disallowed by policy");
    let r = reader
        .post("/v2.0/subnets", json!({"subnet": {"network_id": n, "ip_version": 4, "cidr": "10.1.0.0/24"}}))
        .await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    assert_error(
        &reader.put(&format!("/v2.0/subnets/{s}"), json!({"subnet": {"name": "x"}})).await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(&reader.delete(&format!("/v2.0/subnets/{s}")).await, 403, "PolicyNotAuthorized");
    assert_error(
        &reader.post("/v2.0/ports", json!({"port": {"network_id": n}})).await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(
        &reader.put(&format!("/v2.0/ports/{p}"), json!({"port": {"name": "x"}})).await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(&reader.delete(&format!("/v2.0/ports/{p}")).await, 403, "PolicyNotAuthorized");
    // Reading is fine.
    for path in [format!("/v2.0/networks/{n}"), format!("/v2.0/subnets/{s}"), format!("/v2.0/ports/{p}")] {
        assert_eq!(reader.get(&path).await.0, StatusCode::OK, "{path}");
    }
    let (_, b) = reader.get("/v2.0/ports").await;
    assert_eq!(ids(&b, "ports"), [p]);
}

#[tokio::test]
async fn admin_only_attributes_are_403_to_set() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    for (attr, val) in [
        ("shared", json!(true)),
        ("router:external", json!(true)),
        ("provider:network_type", json!("vlan")),
        ("provider:physical_network", json!("physnet1")),
        ("provider:segmentation_id", json!(5)),
    ] {
        let r = p1.post("/v2.0/networks", json!({"network": {attr: val}})).await;
        assert_error_msg(
            &r,
            403,
            "PolicyNotAuthorized",
            &format!("rule:create_network:{attr} is disallowed by policy"),
        );
    }
    let n = p1.net("n").await;
    let r = p1.put(&format!("/v2.0/networks/{n}"), json!({"network": {"shared": true}})).await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:update_network:shared is disallowed by policy");
    for attr in ["binding:host_id", "binding:profile"] {
        let val = if attr == "binding:profile" { json!({}) } else { json!("h1") };
        let r = p1.post("/v2.0/ports", json!({"port": {"network_id": n, attr: val}})).await;
        assert_error_msg(
            &r,
            403,
            "PolicyNotAuthorized",
            &format!("rule:create_port:{attr} is disallowed by policy"),
        );
    }
    let p = id(&p1.port(&n, json!({})).await);
    let r = p1.put(&format!("/v2.0/ports/{p}"), json!({"port": {"binding:host_id": "h1"}})).await;
    assert_error_msg(
        &r,
        403,
        "PolicyNotAuthorized",
        "rule:update_port:binding:host_id is disallowed by policy",
    );
    // Updating the MAC is for admins.
    let r = p1.put(&format!("/v2.0/ports/{p}"), json!({"port": {"mac_address": "fa:16:3e:00:00:09"}})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    // Nothing was created by the refused requests.
    let (_, b) = p1.get("/v2.0/networks").await;
    assert_eq!(ids(&b, "networks"), [n]);
}

#[tokio::test]
async fn admin_only_attributes_are_stripped_on_read() {
    let app = App::new().await;
    let admin = app.admin();
    let n = id(&admin
        .network(json!({"shared": true, "provider:network_type": "vxlan", "provider:segmentation_id": 77}))
        .await);
    let p = id(&admin.port(&n, json!({"binding:host_id": "h1", "project_id": "p2"})).await);
    let p2 = app.as_("p2", "member");
    let (_, b) = p2.get(&format!("/v2.0/networks/{n}")).await;
    for k in ["provider:network_type", "provider:physical_network", "provider:segmentation_id"] {
        assert!(b["network"].get(k).is_none(), "{k} leaked: {b}");
    }
    let (_, b) = p2.get("/v2.0/networks").await;
    assert!(b["networks"][0].get("provider:network_type").is_none());
    // Even when asked for by name.
    let (_, b) = p2.get(&format!("/v2.0/networks/{n}?fields=provider:segmentation_id&fields=id")).await;
    assert_eq!(b, json!({"network": {"id": n}}));
    let (_, b) = p2.get(&format!("/v2.0/ports/{p}")).await;
    for k in ["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"] {
        assert!(b["port"].get(k).is_none(), "{k} leaked: {b}");
    }
    assert_eq!(b["port"]["binding:vnic_type"], "normal");
    let (_, b) = admin.get(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(b["network"]["provider:network_type"], "vxlan");
    assert_eq!(b["network"]["provider:segmentation_id"], 77);
    let (_, b) = admin.get(&format!("/v2.0/ports/{p}")).await;
    assert_eq!(b["port"]["binding:host_id"], "h1");
}

#[tokio::test]
async fn shared_and_external_networks_are_visible_to_all() {
    let app = App::new().await;
    let admin = app.admin();
    let shared = id(&admin.network(json!({"name": "shared", "shared": true, "project_id": "p1"})).await);
    let ext = id(&admin.network(json!({"name": "ext", "router:external": true})).await);
    let private = admin.network(json!({"name": "private", "project_id": "p1"})).await;
    let sub = id(&admin.subnet(&shared, "10.0.0.0/24", json!({"project_id": "p1"})).await);
    let p2 = app.as_("p2", "member");
    let (_, b) = p2.get("/v2.0/networks?sort_key=name").await;
    assert_eq!(ids(&b, "networks"), [ext.clone(), shared.clone()]);
    assert_eq!(b["networks"][1]["shared"], true);
    let (s, _) = p2.get(&format!("/v2.0/networks/{shared}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = p2.get("/v2.0/networks?shared=True").await;
    assert_eq!(ids(&b, "networks"), std::slice::from_ref(&shared));
    let (_, b) = p2.get("/v2.0/subnets").await;
    assert_eq!(ids(&b, "subnets"), [sub]);
    assert_error(&p2.get(&format!("/v2.0/networks/{}", id(&private))).await, 404, "NetworkNotFound");
    // Anyone may attach a port to a shared network; it is theirs.
    let port = p2.port(&shared, json!({})).await;
    assert_eq!(port["project_id"], "p2");
    assert_eq!(port["fixed_ips"].as_array().unwrap().len(), 1);
    // But they cannot change the network (they can see it: 403), nor add subnets to it.
    let r = p2.put(&format!("/v2.0/networks/{shared}"), json!({"network": {"name": "mine"}})).await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:update_network is disallowed by policy");
    assert_error(&p2.delete(&format!("/v2.0/networks/{shared}")).await, 403, "PolicyNotAuthorized");
    let r = p2
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": shared, "ip_version": 4, "cidr": "10.1.0.0/24"}}),
        )
        .await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    // Nor pick addresses or MACs on it, nor take network:* owners.
    let r = p2
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": shared, "fixed_ips": [{"ip_address": "10.0.0.50"}]}}),
        )
        .await;
    assert_error_msg(
        &r,
        403,
        "PolicyNotAuthorized",
        "rule:create_port:fixed_ips:ip_address is disallowed by policy",
    );
    let r = p2
        .post("/v2.0/ports", json!({"port": {"network_id": shared, "mac_address": "fa:16:3e:00:00:09"}}))
        .await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:create_port:mac_address is disallowed by policy");
    let r =
        p2.post("/v2.0/ports", json!({"port": {"network_id": shared, "device_owner": "network:dhcp"}})).await;
    assert_error_msg(&r, 403, "PolicyNotAuthorized", "rule:create_port:device_owner is disallowed by policy");
    // The network's owner sees the port on its network; a third project does not.
    let (s, _) = app.as_("p1", "member").get(&format!("/v2.0/ports/{}", id(&port))).await;
    assert_eq!(s, StatusCode::OK);
    assert_error(
        &app.as_("p3", "member").get(&format!("/v2.0/ports/{}", id(&port))).await,
        404,
        "PortNotFound",
    );
    // The owner cannot unshare while another project uses the network.
    let r = admin.put(&format!("/v2.0/networks/{shared}"), json!({"network": {"shared": false}})).await;
    assert_error(&r, 409, "InvalidSharedSetting");
}

#[tokio::test]
async fn project_id_of_another_project_needs_admin() {
    let app = App::new().await;
    let r = app.as_("p1", "member").post("/v2.0/networks", json!({"network": {"project_id": "p2"}})).await;
    assert_error_msg(
        &r,
        400,
        "HTTPBadRequest",
        "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
    );
    let n = app.as_("p1", "member").network(json!({"tenant_id": "p1"})).await;
    assert_eq!(n["project_id"], "p1");
    let n = app.admin().network(json!({"tenant_id": "p9"})).await;
    assert_eq!((n["project_id"].as_str(), n["tenant_id"].as_str()), (Some("p9"), Some("p9")));
}
