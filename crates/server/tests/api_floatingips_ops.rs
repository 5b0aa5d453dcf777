//! Floating IPs beyond their own resource: status reports of the L3 agent serving one (and
//! reports from other hosts ignored), the `router` changes of the feed for the router a
//! floating IP left and the one it joined, deletes (its port goes with it; a port delete
//! disassociates; its port, its external network and subnet cannot be deleted under it), the
//! `floatingip` quota, `GET /v2.0/floatingip_pools` and the extensions advertised.

mod common;

use axum::http::StatusCode;
use common::l3::{FakeRouter, fake_router, schedule_router};
use common::{App, Caller, assert_error, assert_error_msg, id};
use neutrino_server::store::changes;
use serde_json::{Value, json};

struct World {
    ext: String,
    ext_sub: String,
    net: String,
    router: FakeRouter,
}

async fn world(app: &App) -> World {
    let admin = app.admin();
    let ext = id(&admin.network(json!({"name": "public", "router:external": true})).await);
    let ext_sub = id(&admin
        .subnet(
            &ext,
            "203.0.113.0/24",
            json!({"name": "public-v4",
        // Above the pool: the addresses the tests pick by hand.
        "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.200"}]}),
        )
        .await);
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let router = fake_router(app, "p1", &ext, &[&sub]).await;
    World { ext, ext_sub, net, router }
}

async fn fip(c: &Caller, body: Value) -> Value {
    let (s, b) = c.post("/v2.0/floatingips", json!({ "floatingip": body })).await;
    assert_eq!(s, StatusCode::CREATED, "create floating IP: {b}");
    b["floatingip"].clone()
}

async fn updated(c: &Caller, fip: &str, body: Value) -> Value {
    let (s, b) = c.put(&format!("/v2.0/floatingips/{fip}"), json!({ "floatingip": body })).await;
    assert_eq!(s, StatusCode::OK, "update floating IP: {b}");
    b["floatingip"].clone()
}

async fn shown(c: &Caller, fip: &str) -> Value {
    let (s, b) = c.get(&format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["floatingip"].clone()
}

async fn report(app: &App, host: &str, fips: Value) {
    let (s, b) =
        app.agent().post("/internal/v1/ports/status", json!({"host": host, "floatingips": fips})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn revision(app: &App) -> i64 {
    app.store().read(|sql| Ok(changes::current(sql)?)).await.unwrap()
}

/// The routers of the `router` changes after `since`, in order.
async fn router_changes(app: &App, since: i64) -> Vec<String> {
    let list = app.store().read(move |sql| Ok(changes::since(sql, since, 1000)?)).await.unwrap();
    list.into_iter().filter(|c| c.kind == changes::ROUTER).map(|c| c.resource_id).collect()
}

#[tokio::test]
async fn status_follows_reports_of_the_routers_host_only() {
    let app = App::new().await;
    let w = world(&app).await;
    schedule_router(&app, &w.router.id, "net1").await;
    let p1 = app.as_("p1", "member");
    let (vm1, vm2) = (p1.port(&w.net, json!({})).await, p1.port(&w.net, json!({})).await);
    let fid = id(&fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm1)})).await);
    assert_eq!(shown(&p1, &fid).await["status"], "DOWN");
    report(&app, "compute9", json!({ &fid: "ACTIVE" })).await;
    assert_eq!(shown(&p1, &fid).await["status"], "DOWN", "a report from another host is ignored");
    report(&app, "net1", json!({ &fid: "ACTIVE" })).await;
    let f = shown(&p1, &fid).await;
    assert_eq!((&f["status"], &f["revision_number"]), (&json!("ACTIVE"), &json!(2)));
    // Moving it puts it DOWN until the agent has it again.
    assert_eq!(updated(&p1, &fid, json!({"port_id": id(&vm2)})).await["status"], "DOWN");
    report(&app, "net1", json!({ &fid: "ACTIVE" })).await;
    assert_eq!(shown(&p1, &fid).await["status"], "ACTIVE");
    // A description change leaves it ACTIVE; disassociating puts it DOWN.
    assert_eq!(updated(&p1, &fid, json!({"description": "x"})).await["status"], "ACTIVE");
    assert_eq!(updated(&p1, &fid, json!({"port_id": null})).await["status"], "DOWN");
    // An unassociated floating IP has no router, so no host may report on it.
    report(&app, "net1", json!({ &fid: "ACTIVE" })).await;
    assert_eq!(shown(&p1, &fid).await["status"], "DOWN");
    // A status the API does not know is refused.
    let (s, b) = app
        .agent()
        .post("/internal/v1/ports/status", json!({"host": "net1", "floatingips": {&fid: "UP"}}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn writes_record_router_changes_for_the_router_left_and_the_one_joined() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let net2 = p1.net("n2").await;
    let sub2 = id(&p1.subnet(&net2, "10.0.2.0/24", json!({})).await);
    let r2 = fake_router(&app, "p1", &w.ext, &[&sub2]).await;
    let (vm1, vm2) = (p1.port(&w.net, json!({})).await, p1.port(&net2, json!({})).await);
    let rev = revision(&app).await;
    let fid = id(&fip(&p1, json!({"floating_network_id": w.ext})).await);
    assert_eq!(
        router_changes(&app, rev).await,
        Vec::<String>::new(),
        "an unassociated floating IP is no router's"
    );
    let rev = revision(&app).await;
    updated(&p1, &fid, json!({"port_id": id(&vm1)})).await;
    assert_eq!(router_changes(&app, rev).await, vec![w.router.id.clone()]);
    let rev = revision(&app).await;
    updated(&p1, &fid, json!({"description": "no association change"})).await;
    assert_eq!(router_changes(&app, rev).await, Vec::<String>::new());
    let rev = revision(&app).await;
    assert_eq!(updated(&p1, &fid, json!({"port_id": id(&vm2)})).await["router_id"], json!(r2.id));
    assert_eq!(router_changes(&app, rev).await, vec![w.router.id.clone(), r2.id.clone()]);
    let rev = revision(&app).await;
    updated(&p1, &fid, json!({"port_id": null})).await;
    assert_eq!(router_changes(&app, rev).await, vec![r2.id.clone()]);
    // Created associated, then deleted: one change each.
    let rev = revision(&app).await;
    let g = id(&fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm1)})).await);
    assert_eq!(router_changes(&app, rev).await, vec![w.router.id.clone()]);
    let rev = revision(&app).await;
    assert_eq!(p1.delete(&format!("/v2.0/floatingips/{g}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(router_changes(&app, rev).await, vec![w.router.id.clone()]);
}

#[tokio::test]
async fn delete_frees_the_address_and_removes_the_floatingip_port() {
    let app = App::new().await;
    let w = world(&app).await;
    let admin = app.admin();
    let f = fip(
        &admin,
        json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.250", "project_id": "p1"}),
    )
    .await;
    let (s, ports) = admin.get(&format!("/v2.0/ports?device_id={}", id(&f))).await;
    assert_eq!(s, StatusCode::OK);
    let port = id(&ports["ports"][0]);
    // The floating IP's port goes only with it.
    let r = admin.delete(&format!("/v2.0/ports/{port}")).await;
    assert_error_msg(
        &r,
        409,
        "ServicePortInUse",
        &format!(
            "Port {port} cannot be deleted directly via the port API: has device owner network:floatingip."
        ),
    );
    // Its owner sees it but may not change it; an admin may, and a changed owner does not make
    // it deletable.
    let (p1, path) = (app.as_("p1", "member"), format!("/v2.0/ports/{port}"));
    assert_eq!(p1.get(&path).await.0, StatusCode::OK);
    assert_error(&p1.put(&path, json!({"port": {"device_owner": ""}})).await, 403, "PolicyNotAuthorized");
    let (s, b) = admin.put(&path, json!({"port": {"device_owner": "compute:nova", "name": "x"}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_error(&admin.delete(&path).await, 409, "ServicePortInUse");
    assert_eq!(admin.delete(&format!("/v2.0/floatingips/{}", id(&f))).await.0, StatusCode::NO_CONTENT);
    assert_error(&admin.get(&format!("/v2.0/floatingips/{}", id(&f))).await, 404, "FloatingIPNotFound");
    assert_error(&admin.get(&format!("/v2.0/ports/{port}")).await, 404, "PortNotFound");
    assert_error(&admin.delete(&format!("/v2.0/floatingips/{}", id(&f))).await, 404, "FloatingIPNotFound");
    // The address is free again.
    let again =
        fip(&admin, json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.250"})).await;
    assert_eq!(again["floating_ip_address"], "203.0.113.250");
}

#[tokio::test]
async fn deleting_the_associated_port_disassociates_and_records_the_router() {
    let app = App::new().await;
    let w = world(&app).await;
    schedule_router(&app, &w.router.id, "net1").await;
    let p1 = app.as_("p1", "member");
    let (vm, other) = (p1.port(&w.net, json!({})).await, p1.port(&w.net, json!({})).await);
    let fid = id(&fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm)})).await);
    let kept = id(&fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&other)})).await);
    report(&app, "net1", json!({ &fid: "ACTIVE" })).await;
    let rev = revision(&app).await;
    assert_eq!(p1.delete(&format!("/v2.0/ports/{}", id(&vm))).await.0, StatusCode::NO_CONTENT);
    let f = shown(&p1, &fid).await;
    for k in ["port_id", "fixed_ip_address", "router_id", "port_details"] {
        assert_eq!(f[k], Value::Null, "{k} after its port went: {f}");
    }
    assert_eq!(f["status"], "DOWN");
    assert_eq!(router_changes(&app, rev).await, vec![w.router.id.clone()]);
    // The floating IP of the other port is untouched.
    assert_eq!(shown(&p1, &kept).await["port_id"], json!(id(&other)));
}

#[tokio::test]
async fn the_external_network_and_subnet_stay_while_floating_ips_use_them() {
    let app = App::new().await;
    let admin = app.admin();
    let ext = id(&admin.network(json!({"name": "spare", "router:external": true})).await);
    let sub = id(&admin.subnet(&ext, "192.0.2.0/24", json!({})).await);
    let f = fip(&app.as_("p1", "member"), json!({"floating_network_id": ext})).await;
    assert_error(&admin.delete(&format!("/v2.0/subnets/{sub}")).await, 409, "SubnetInUse");
    // Deleting the network deletes the floating IPs no port uses, as upstream does.
    assert_eq!(admin.delete(&format!("/v2.0/networks/{ext}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin.get(&format!("/v2.0/floatingips/{}", id(&f))).await.0, StatusCode::NOT_FOUND);
    let (_, ports) = admin.get("/v2.0/ports?device_owner=network:floatingip").await;
    assert_eq!(ports["ports"], json!([]), "the floating IP's port went with it");

    // A network still in use (a router's gateway, an associated floating IP) stays, and the
    // refused delete took nothing with it: the unassociated floating IP is still there.
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let (_, port) = p1.post("/v2.0/ports", json!({"port": {"network_id": w.net}})).await;
    let used = fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&port["port"])})).await;
    let spare = fip(&p1, json!({"floating_network_id": w.ext})).await;
    assert_error(&admin.delete(&format!("/v2.0/networks/{}", w.ext)).await, 409, "NetworkInUse");
    assert_eq!(shown(&admin, &id(&spare)).await["status"], "DOWN", "a refused delete deleted nothing");
    assert_eq!(shown(&admin, &id(&used)).await["port_id"], id(&port["port"]));
}

#[tokio::test]
async fn the_floatingip_quota_counts_a_projects_floating_ips() {
    let app = App::new().await;
    let w = world(&app).await;
    let (admin, p1) = (app.admin(), app.as_("p1", "member"));
    let (_, q) = p1.get("/v2.0/quotas/p1").await;
    assert_eq!(q["quota"]["floatingip"], 50, "{q}");
    let (s, b) = admin.put("/v2.0/quotas/p1", json!({"quota": {"floatingip": 2}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let one = json!({"floating_network_id": w.ext});
    let (s, b) = p1.post("/v2.0/floatingips", json!({"floatingips": [one, one]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["floatingips"].as_array().unwrap().len(), 2, "{b}");
    let r = p1.post("/v2.0/floatingips", json!({"floatingip": one})).await;
    assert_error_msg(&r, 409, "OverQuota", "Quota exceeded for resources: ['floatingip'].");
    // Nothing of the refused create stayed: two floating IP ports on the network.
    let (_, ports) = admin.get("/v2.0/ports?device_owner=network:floatingip").await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 2, "{ports}");
    let (_, d) = p1.get("/v2.0/quotas/p1/details").await;
    assert_eq!(d["quota"]["floatingip"], json!({"limit": 2, "used": 2, "reserved": 0}));
    // Another project has its own count.
    fip(&app.as_("p2", "member"), json!({"floating_network_id": w.ext})).await;
}

#[tokio::test]
async fn floatingip_pools_are_the_ipv4_subnets_of_external_networks() {
    let app = App::new().await;
    let w = world(&app).await;
    let admin = app.admin();
    admin.subnet(&w.ext, "2001:db8::/64", json!({"ip_version": 6})).await;
    let (s, b) = app.as_("p1", "member").get("/v2.0/floatingip_pools").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"floatingip_pools": [{"subnet_id": w.ext_sub, "subnet_name": "public-v4", "network_id": w.ext,
            "network_name": "public", "cidr": "203.0.113.0/24", "project_id": "p1", "tenant_id": "p1"}]})
    );
    let (s, e) = admin.get("/v2.0/extensions").await;
    assert_eq!(s, StatusCode::OK);
    let aliases: Vec<&str> =
        e["extensions"].as_array().unwrap().iter().map(|x| x["alias"].as_str().unwrap()).collect();
    for a in ["fip-port-details", "floatingip-pools"] {
        assert!(aliases.contains(&a), "{a} advertised: {aliases:?}");
    }
    for a in ["qos-fip", "dns-integration", "floating-ip-port-forwarding"] {
        assert!(!aliases.contains(&a), "{a} not advertised");
    }
}

/// The `network:floatingip` port is in the change feed like any port: the DHCP agent of the
/// external network is sent the network again, with the port, when a floating IP comes, and
/// without it when it goes.
#[tokio::test]
async fn the_floatingip_port_comes_and_goes_in_the_external_networks_dhcp_section() {
    let app = App::new().await;
    let report = json!({"host": "net1", "agent_type": "DHCP agent", "binary": "neutron-dhcp-agent",
        "start_flag": true, "configurations": {}});
    assert_eq!(app.agent().post("/internal/v1/agents/report", report).await.0, StatusCode::OK);
    let w = world(&app).await;
    let ports_in = |d: &Value| -> Vec<String> {
        let nets = d["dhcp"]["networks"].as_array().unwrap_or_else(|| panic!("a dhcp section: {d}"));
        let ext = nets.iter().find(|n| n["id"] == json!(w.ext)).unwrap_or_else(|| panic!("ext sent: {d}"));
        ext["ports"].as_array().unwrap().iter().map(id).collect()
    };
    let watch = |since: i64| {
        let agent = app.agent();
        async move {
            let (s, d) = agent.get(&format!("/internal/v1/hosts/net1/watch?since={since}&timeout=1")).await;
            assert_eq!(s, StatusCode::OK, "{d}");
            d
        }
    };
    let rev = revision(&app).await;
    let f = fip(&app.as_("p1", "member"), json!({"floating_network_id": w.ext})).await;
    let (_, ports) = app.admin().get(&format!("/v2.0/ports?device_id={}", id(&f))).await;
    let port = id(&ports["ports"][0]);
    assert!(ports_in(&watch(rev).await).contains(&port), "the port came");
    let rev = revision(&app).await;
    assert_eq!(app.admin().delete(&format!("/v2.0/floatingips/{}", id(&f))).await.0, StatusCode::NO_CONTENT);
    let after = ports_in(&watch(rev).await);
    assert!(!after.contains(&port), "the port went: {after:?}");
    assert!(after.contains(&w.router.gw_port), "the router's gateway port stays: {after:?}");
}

#[tokio::test]
async fn a_port_keeps_the_fixed_ip_its_floating_ip_points_at() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let vm = p1.port(&w.net, json!({"fixed_ips": [{"ip_address": "10.0.0.20"}]})).await;
    fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm)})).await;
    let path = format!("/v2.0/ports/{}", id(&vm));
    let r = p1.put(&path, json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.21"}]}})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        &format!(
            "Bad port request: Cannot update the fixed_ips of the port {}, because its original fixed_ip has been associated to a floating ip.",
            id(&vm)
        ),
    );
    // Adding an address while keeping the associated one is fine.
    let both = json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.20"}, {"ip_address": "10.0.0.21"}]}});
    let (s, b) = p1.put(&path, both).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["fixed_ips"].as_array().unwrap().len(), 2, "{b}");
}
