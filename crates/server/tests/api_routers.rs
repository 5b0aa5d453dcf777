//! The routers API: CRUD with the standard attributes, tags and project isolation; the external
//! gateway (its `network:router_gateway` port, SNAT policy, clearing, floating IPs holding it);
//! interfaces by subnet and by port with upstream's answer and errors; what a router's ports
//! refuse (deleting them through the port API, deleting their subnet, deleting the router);
//! extra routes (validation, `extraroute-atomic`); the `router` quota; the extensions listed.

mod common;

use axum::http::StatusCode;
use common::routers::{add_iface, ext_net, iface, insert_fip, ports_of, remove_iface, router};
use common::{App, assert_error, assert_error_msg, id, ids};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::json;

#[tokio::test]
async fn crud_with_standard_attributes_and_isolation() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let r = router(&p1, json!({"name": "r1", "description": "d"})).await;
    let rid = id(&r);
    assert_eq!(r["status"], "ACTIVE");
    assert_eq!(r["admin_state_up"], true);
    assert_eq!(r["external_gateway_info"], serde_json::Value::Null);
    assert_eq!(r["routes"], json!([]));
    assert_eq!(r["availability_zone_hints"], json!([]));
    assert_eq!(r["tenant_id"], "p1");
    assert_eq!(r["revision_number"], 1);
    let (s, b) = p1.get(&format!("/v2.0/routers/{rid}?fields=name")).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"router": {"name": "r1"}})));
    router(&p1, json!({"name": "r2"})).await;
    let (_, b) = p1.get("/v2.0/routers?name=r1").await;
    assert_eq!(ids(&b, "routers"), vec![rid.clone()]);
    let (_, b) = p1.get("/v2.0/routers?sort_key=name&sort_dir=desc&limit=1").await;
    assert_eq!(b["routers"][0]["name"], "r2");
    assert!(b["routers_links"].is_array(), "{b}");
    let (s, b) = p1
        .put(&format!("/v2.0/routers/{rid}"), json!({"router": {"name": "r1b", "admin_state_up": false}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["router"]["revision_number"], 2);
    assert_eq!(b["router"]["admin_state_up"], false);
    assert_eq!(
        p1.put_if(&format!("/v2.0/routers/{rid}"), json!({"router": {"name": "x"}}), 1).await.0,
        StatusCode::PRECONDITION_FAILED
    );
    let (s, b) = p1.put(&format!("/v2.0/routers/{rid}/tags/web"), json!(null)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, b) = p1.get("/v2.0/routers?tags=web").await;
    assert_eq!(ids(&b, "routers"), vec![rid.clone()]);
    // Another project sees nothing of it.
    let p2 = app.as_("p2", "member");
    assert_error(&p2.get(&format!("/v2.0/routers/{rid}")).await, 404, "RouterNotFound");
    assert_error(
        &p2.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"name": "x"}})).await,
        404,
        "RouterNotFound",
    );
    assert_error(&p2.delete(&format!("/v2.0/routers/{rid}")).await, 404, "RouterNotFound");
    let (_, b) = p2.get("/v2.0/routers").await;
    assert_eq!(b["routers"], json!([]));
    // A reader may look but not write.
    let reader = app.as_("p1", "reader");
    assert_eq!(reader.get(&format!("/v2.0/routers/{rid}")).await.0, StatusCode::OK);
    assert_error(&reader.delete(&format!("/v2.0/routers/{rid}")).await, 403, "PolicyNotAuthorized");
    assert_error(
        &p1.post("/v2.0/routers", json!({"router": {"status": "DOWN"}})).await,
        400,
        "HTTPBadRequest",
    );
    assert_eq!(p1.delete(&format!("/v2.0/routers/{rid}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&p1.get(&format!("/v2.0/routers/{rid}")).await, 404, "RouterNotFound");
    let (s, b) = p1.post("/v2.0/routers", json!({"routers": [{"name": "b1"}, {"name": "b2"}]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["routers"].as_array().unwrap().len(), 2, "{b}");
}

#[tokio::test]
async fn the_gateway_is_a_port_on_the_external_network() {
    let app = App::new().await;
    let admin = app.admin();
    let (ext, ext_sub) = ext_net(&admin).await;
    let p1 = app.as_("p1", "member");
    let r = router(&p1, json!({"name": "r1", "external_gateway_info": {"network_id": ext}})).await;
    let rid = id(&r);
    let gw = &r["external_gateway_info"];
    assert_eq!(gw["network_id"], ext.as_str());
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(gw["external_fixed_ips"][0]["subnet_id"], ext_sub.as_str());
    let ports = ports_of(&admin, &rid, "network:router_gateway").await;
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0]["network_id"], ext.as_str());
    assert_eq!(ports[0]["project_id"], "", "no project, as upstream's gateway port");
    assert_eq!(ports[0]["device_id"], rid.as_str());
    assert_eq!(ports[0]["fixed_ips"], gw["external_fixed_ips"]);
    // Only admins choose SNAT and addresses.
    let snat = json!({"router": {"external_gateway_info": {"network_id": ext, "enable_snat": false}}});
    assert_error(&p1.put(&format!("/v2.0/routers/{rid}"), snat.clone()).await, 403, "PolicyNotAuthorized");
    let (s, b) = admin.put(&format!("/v2.0/routers/{rid}"), snat).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["router"]["external_gateway_info"]["enable_snat"], false);
    assert_eq!(ports_of(&admin, &rid, "network:router_gateway").await.len(), 1, "the port stays");
    let fixed = json!({"router": {"external_gateway_info": {"network_id": ext,
        "external_fixed_ips": [{"ip_address": "203.0.113.250"}]}}});
    let (s, b) = admin.put(&format!("/v2.0/routers/{rid}"), fixed).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"], "203.0.113.250");
    // A network that is not external is refused.
    let tenant = p1.net("n1").await;
    let r2 = router(&p1, json!({})).await;
    assert_error_msg(
        &p1.put(
            &format!("/v2.0/routers/{}", id(&r2)),
            json!({"router": {"external_gateway_info": {"network_id": tenant}}}),
        )
        .await,
        400,
        "BadRequest",
        &format!("Bad router request: Network {tenant} is not an external network."),
    );
    // `{}` clears it (the port goes); null too after setting it again.
    let (s, b) =
        p1.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"external_gateway_info": {}}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["router"]["external_gateway_info"], serde_json::Value::Null);
    assert!(ports_of(&admin, &rid, "network:router_gateway").await.is_empty());
    p1.put(
        &format!("/v2.0/routers/{rid}"),
        json!({"router": {"external_gateway_info": {"network_id": ext}}}),
    )
    .await;
    assert_eq!(ports_of(&admin, &rid, "network:router_gateway").await.len(), 1);
    let (s, _) =
        p1.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"external_gateway_info": null}})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ports_of(&admin, &rid, "network:router_gateway").await.is_empty());
    // Deleting a router deletes its gateway port.
    p1.put(
        &format!("/v2.0/routers/{rid}"),
        json!({"router": {"external_gateway_info": {"network_id": ext}}}),
    )
    .await;
    assert_eq!(p1.delete(&format!("/v2.0/routers/{rid}")).await.0, StatusCode::NO_CONTENT);
    let (_, b) = admin.get(&format!("/v2.0/ports?network_id={ext}")).await;
    assert_eq!(b["ports"], json!([]), "{b}");
}

#[tokio::test]
async fn interfaces_by_subnet_answer_as_upstream() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let rid = id(&router(&p1, json!({})).await);
    let b = iface(&p1, &rid, json!({"subnet_id": sub})).await;
    let port = b["port_id"].as_str().unwrap().to_string();
    assert_eq!(
        b,
        json!({"id": rid, "tenant_id": "p1", "project_id": "p1", "port_id": port, "network_id": net,
            "subnet_id": sub, "subnet_ids": [sub]})
    );
    let (_, p) = p1.get(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(p["port"]["device_owner"], "network:router_interface");
    assert_eq!(p["port"]["device_id"], rid.as_str());
    assert_eq!(p["port"]["fixed_ips"], json!([{"subnet_id": sub, "ip_address": "10.0.0.1"}]));
    // The same subnet again, or one overlapping it, is refused.
    assert_error_msg(
        &add_iface(&p1, &rid, json!({"subnet_id": sub})).await,
        400,
        "BadRequest",
        &format!("Bad router request: Router already has a port on subnet {sub}."),
    );
    let net2 = p1.net("n2").await;
    let sub2 = id(&p1.subnet(&net2, "10.0.0.0/16", json!({})).await);
    let r = add_iface(&p1, &rid, json!({"subnet_id": sub2})).await;
    assert_error(&r, 400, "BadRequest");
    assert!(r.1["NeutronError"]["message"].as_str().unwrap().contains("overlaps with"), "{}", r.1);
    let sub3 = id(&p1.subnet(&net2, "10.9.0.0/24", json!({"gateway_ip": null})).await);
    assert_error(&add_iface(&p1, &rid, json!({"subnet_id": sub3})).await, 400, "BadRequest");
    assert_error_msg(
        &add_iface(&p1, &rid, json!({})).await,
        400,
        "BadRequest",
        "Bad router request: Either subnet_id or port_id must be specified.",
    );
    assert_error(&add_iface(&p1, &rid, json!({"subnet_id": sub, "port_id": port})).await, 400, "BadRequest");
    assert_error(&add_iface(&p1, &rid, json!({"subnet_id": "nope"})).await, 400, "HTTPBadRequest");
    // Another project's subnet, router, port are unknown.
    let p2 = app.as_("p2", "member");
    let other = p2.net("o").await;
    let osub = id(&p2.subnet(&other, "10.50.0.0/24", json!({})).await);
    assert_error(&add_iface(&p1, &rid, json!({"subnet_id": osub})).await, 404, "SubnetNotFound");
    assert_error(&add_iface(&p2, &rid, json!({"subnet_id": osub})).await, 404, "RouterNotFound");
    // Removal by subnet deletes the port; a second time it is not found.
    let (s, b) = remove_iface(&p1, &rid, json!({"subnet_id": sub})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["port_id"], port.as_str());
    assert_eq!(b["subnet_ids"], json!([sub]));
    assert_error(&p1.get(&format!("/v2.0/ports/{port}")).await, 404, "PortNotFound");
    assert_error(
        &remove_iface(&p1, &rid, json!({"subnet_id": sub})).await,
        404,
        "RouterInterfaceNotFoundForSubnet",
    );
}

#[tokio::test]
async fn interfaces_by_port_take_an_unowned_port() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let rid = id(&router(&p1, json!({})).await);
    let used = p1.port(&net, json!({"device_owner": "compute:nova", "device_id": "vm1"})).await;
    assert_error(&add_iface(&p1, &rid, json!({"port_id": id(&used)})).await, 409, "PortInUse");
    let bare = p1.port(&net, json!({"fixed_ips": []})).await;
    assert_error_msg(
        &add_iface(&p1, &rid, json!({"port_id": id(&bare)})).await,
        400,
        "BadRequest",
        "Bad router request: Router port must have at least one fixed IP.",
    );
    let free = p1.port(&net, json!({"fixed_ips": [{"ip_address": "10.0.0.9"}]})).await;
    let b = iface(&p1, &rid, json!({"port_id": id(&free)})).await;
    assert_eq!(b["port_id"], id(&free).as_str());
    assert_eq!(b["subnet_ids"], json!([sub]));
    let (_, p) = p1.get(&format!("/v2.0/ports/{}", id(&free))).await;
    assert_eq!(p["port"]["device_owner"], "network:router_interface");
    assert_eq!(p["port"]["device_id"], rid.as_str());
    let p2 = app.as_("p2", "member");
    let onet = p2.net("o").await;
    p2.subnet(&onet, "10.60.0.0/24", json!({})).await;
    let oport = p2.port(&onet, json!({})).await;
    assert_error(&add_iface(&p1, &rid, json!({"port_id": id(&oport)})).await, 404, "PortNotFound");
    assert_error(
        &remove_iface(&p1, &rid, json!({"port_id": id(&used)})).await,
        404,
        "RouterInterfaceNotFound",
    );
    let (s, _) = remove_iface(&p1, &rid, json!({"port_id": id(&free)})).await;
    assert_eq!(s, StatusCode::OK);
    assert_error(&p1.get(&format!("/v2.0/ports/{}", id(&free))).await, 404, "PortNotFound");
}

#[tokio::test]
async fn a_router_s_ports_hold_their_router_and_subnet() {
    let app = App::new().await;
    let admin = app.admin();
    let (ext, _) = ext_net(&admin).await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let rid = id(&router(&p1, json!({"external_gateway_info": {"network_id": ext}})).await);
    let port = iface(&p1, &rid, json!({"subnet_id": sub})).await["port_id"].as_str().unwrap().to_string();
    assert_error_msg(
        &p1.delete(&format!("/v2.0/routers/{rid}")).await,
        409,
        "RouterInUse",
        &format!("Router {rid} still has ports"),
    );
    let r = p1.delete(&format!("/v2.0/ports/{port}")).await;
    assert_error(&r, 409, "ServicePortInUse");
    assert!(r.1["NeutronError"]["message"].as_str().unwrap().contains("network:router_interface"), "{}", r.1);
    let gw = id(&ports_of(&admin, &rid, "network:router_gateway").await[0]);
    assert_error(&admin.delete(&format!("/v2.0/ports/{gw}")).await, 409, "ServicePortInUse");
    assert_error(&p1.delete(&format!("/v2.0/subnets/{sub}")).await, 409, "SubnetInUse");
    assert_error(&p1.delete(&format!("/v2.0/networks/{net}")).await, 409, "NetworkInUse");
    // Without the interface all of them go.
    remove_iface(&p1, &rid, json!({"subnet_id": sub})).await;
    assert_eq!(p1.delete(&format!("/v2.0/subnets/{sub}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(p1.delete(&format!("/v2.0/routers/{rid}")).await.0, StatusCode::NO_CONTENT);
    // An ordinary port still deletes through the port API.
    let vm = p1.port(&net, json!({})).await;
    assert_eq!(p1.delete(&format!("/v2.0/ports/{}", id(&vm))).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn floating_ips_hold_the_gateway_and_their_interface() {
    let store = Store::memory();
    let app = App::with_config(Config::default(), store.clone(), None).await;
    let admin = app.admin();
    let (ext, _) = ext_net(&admin).await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let sub2 = id(&p1.subnet(&p1.net("n2").await, "10.1.0.0/24", json!({})).await);
    let rid = id(&router(&p1, json!({"external_gateway_info": {"network_id": ext}})).await);
    iface(&p1, &rid, json!({"subnet_id": sub})).await;
    iface(&p1, &rid, json!({"subnet_id": sub2})).await;
    let vm = p1.port(&net, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await;
    insert_fip(&store, &admin, &ext, "203.0.113.251", &rid, &id(&vm), "10.0.0.5").await;
    let clear = json!({"router": {"external_gateway_info": {}}});
    assert_error(
        &p1.put(&format!("/v2.0/routers/{rid}"), clear).await,
        409,
        "RouterExternalGatewayInUseByFloatingIp",
    );
    assert_error(
        &remove_iface(&p1, &rid, json!({"subnet_id": sub})).await,
        409,
        "RouterInterfaceInUseByFloatingIP",
    );
    // The other interface is not needed by it.
    assert_eq!(remove_iface(&p1, &rid, json!({"subnet_id": sub2})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn extra_routes_go_through_the_router_s_subnets() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let rid = id(&router(&p1, json!({})).await);
    let path = format!("/v2.0/routers/{rid}");
    let route = |d: &str, n: &str| json!({"destination": d, "nexthop": n});
    assert_error(&p1.post("/v2.0/routers", json!({"router": {"routes": []}})).await, 400, "HTTPBadRequest");
    assert_error(
        &p1.put(&path, json!({"router": {"routes": [route("10.8.0.0/24", "10.0.0.10")]}})).await,
        400,
        "InvalidRoutes",
    );
    iface(&p1, &rid, json!({"subnet_id": sub})).await;
    assert_error(
        &p1.put(&path, json!({"router": {"routes": [route("10.8.0.0/24", "10.9.0.10")]}})).await,
        400,
        "InvalidRoutes",
    );
    assert_error(
        &p1.put(&path, json!({"router": {"routes": [route("10.8.0.0/24", "10.0.0.1")]}})).await,
        400,
        "InvalidRoutes",
    );
    assert_error(
        &p1.put(&path, json!({"router": {"routes": [route("nowhere", "10.0.0.10")]}})).await,
        400,
        "HTTPBadRequest",
    );
    let twice =
        json!({"router": {"routes": [route("10.8.0.0/24", "10.0.0.10"), route("10.8.0.0/24", "10.0.0.10")]}});
    assert_error(&p1.put(&path, twice).await, 400, "HTTPBadRequest");
    let (s, b) = p1.put(&path, json!({"router": {"routes": [route("10.9.0.0/24", "10.0.0.10"), route("10.8.0.0/24", "10.0.0.11")]}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["router"]["routes"],
        json!([route("10.8.0.0/24", "10.0.0.11"), route("10.9.0.0/24", "10.0.0.10")])
    );
    let many: Vec<_> = (0..31).map(|i| route(&format!("10.100.{i}.0/24"), "10.0.0.10")).collect();
    assert_error(&p1.put(&path, json!({"router": {"routes": many}})).await, 400, "RoutesExhausted");
    // Atomic add and remove answer the whole router.
    let (s, b) = p1
        .put(
            &format!("{path}/add_extraroutes"),
            json!({"router": {"routes": [route("10.7.0.0/24", "10.0.0.12")]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["router"]["routes"].as_array().unwrap().len(), 3, "{b}");
    assert_eq!(b["router"]["id"], rid.as_str());
    assert_error(
        &p1.put(
            &format!("{path}/add_extraroutes"),
            json!({"router": {"routes": [route("10.6.0.0/24", "10.5.0.1")]}}),
        )
        .await,
        400,
        "InvalidRoutes",
    );
    let (s, b) = p1
        .put(
            &format!("{path}/remove_extraroutes"),
            json!({"router": {"routes": [route("10.9.0.0/24", "10.0.0.10")]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["router"]["routes"],
        json!([route("10.7.0.0/24", "10.0.0.12"), route("10.8.0.0/24", "10.0.0.11")])
    );
    assert_error(
        &p1.put(&format!("{path}/add_extraroutes"), json!({"router": {}})).await,
        400,
        "HTTPBadRequest",
    );
    // The interface the routes need stays.
    assert_error(
        &remove_iface(&p1, &rid, json!({"subnet_id": sub})).await,
        409,
        "RouterInterfaceInUseByRoute",
    );
    let (s, b) = p1.put(&path, json!({"router": {"routes": null}})).await;
    assert_eq!((s, &b["router"]["routes"]), (StatusCode::OK, &json!([])), "null clears them: {b}");
    assert_eq!(remove_iface(&p1, &rid, json!({"subnet_id": sub})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_router_quota_is_enforced() {
    let app = App::new().await;
    let admin = app.admin();
    let (_, b) = admin.get("/v2.0/quotas/p1").await;
    assert_eq!(b["quota"]["router"], 10, "{b}");
    let (s, b) = admin.put("/v2.0/quotas/p1", json!({"quota": {"router": 1}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let p1 = app.as_("p1", "member");
    router(&p1, json!({})).await;
    let r = p1.post("/v2.0/routers", json!({"router": {}})).await;
    assert_error(&r, 409, "OverQuota");
    router(&app.as_("p2", "member"), json!({})).await;
}

#[tokio::test]
async fn the_l3_extensions_are_listed_and_not_ha_or_dvr() {
    let app = App::new().await;
    let (_, b) = app.admin().get("/v2.0/extensions").await;
    let aliases: Vec<&str> =
        b["extensions"].as_array().unwrap().iter().map(|e| e["alias"].as_str().unwrap()).collect();
    for a in ["router", "ext-gw-mode", "extraroute", "extraroute-atomic", "l3_agent_scheduler"] {
        assert!(aliases.contains(&a), "{a} in {aliases:?}");
    }
    for a in ["l3-ha", "dvr", "l3-flavors"] {
        assert!(!aliases.contains(&a), "{a} not in {aliases:?}");
    }
}
