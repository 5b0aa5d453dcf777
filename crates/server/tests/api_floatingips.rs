//! Floating IPs (`/v2.0/floatingips`): create from the external network's pool or at a given
//! address (admins and project managers), the `network:floatingip` port holding it, refusals (not external, taken,
//! outside the subnets), association at create and by update, moving, disassociating, the
//! fixed IP rules, the router that must join the port's subnet to the external network, one
//! floating IP per fixed IP, other projects' ports, `port_details`, list filters and tags.

mod common;

use axum::http::StatusCode;
use common::l3::{FakeRouter, fake_router, fake_router_on};
use common::{App, Caller, assert_error, assert_error_msg, id, ids};
use serde_json::{Value, json};

/// The external network `public` (203.0.113.0/24, pool .10-.200; the addresses picked by hand lie
/// above it) of the admin, and p1's network with subnet 10.0.0.0/24 behind p1's router.
struct World {
    ext: String,
    ext_sub: String,
    net: String,
    sub: String,
    router: FakeRouter,
}

async fn world(app: &App) -> World {
    let admin = app.admin();
    let ext = id(&admin.network(json!({"name": "public", "router:external": true})).await);
    let ext_sub = id(&admin
        .subnet(
            &ext,
            "203.0.113.0/24",
            json!({"name": "public-v4", "gateway_ip": "203.0.113.1",
                "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.200"}]}),
        )
        .await);
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    let router = fake_router(app, "p1", &ext, &[&sub]).await;
    World { ext, ext_sub, net, sub, router }
}

async fn create(c: &Caller, body: Value) -> common::Resp {
    c.post("/v2.0/floatingips", json!({ "floatingip": body })).await
}

/// Creates a floating IP (asserting 201) and returns it.
async fn fip(c: &Caller, body: Value) -> Value {
    let (s, b) = create(c, body).await;
    assert_eq!(s, StatusCode::CREATED, "create floating IP: {b}");
    b["floatingip"].clone()
}

async fn update(c: &Caller, fip: &str, body: Value) -> common::Resp {
    c.put(&format!("/v2.0/floatingips/{fip}"), json!({ "floatingip": body })).await
}

async fn updated(c: &Caller, fip: &str, body: Value) -> Value {
    let (s, b) = update(c, fip, body).await;
    assert_eq!(s, StatusCode::OK, "update floating IP: {b}");
    b["floatingip"].clone()
}

fn first_ip(port: &Value) -> String {
    port["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn create_from_the_pool_makes_an_unbound_floatingip_port_and_upstreams_shape() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let f = fip(&p1, json!({"floating_network_id": w.ext, "description": "web"})).await;
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "description",
            "fixed_ip_address",
            "floating_ip_address",
            "floating_network_id",
            "id",
            "port_details",
            "port_id",
            "project_id",
            "revision_number",
            "router_id",
            "status",
            "tags",
            "tenant_id",
            "updated_at",
        ]
    );
    assert_eq!((&f["project_id"], &f["tenant_id"]), (&json!("p1"), &json!("p1")));
    assert_eq!(
        (&f["status"], &f["description"], &f["revision_number"]),
        (&json!("DOWN"), &json!("web"), &json!(1))
    );
    for k in ["port_id", "fixed_ip_address", "router_id", "port_details"] {
        assert_eq!(f[k], Value::Null, "{k} of an unassociated floating IP: {f}");
    }
    let addr: std::net::Ipv4Addr = f["floating_ip_address"].as_str().unwrap().parse().unwrap();
    let n = u32::from(addr) - u32::from(std::net::Ipv4Addr::new(203, 0, 113, 0));
    assert!((10..=200).contains(&n), "{addr} is from the pool");
    // The port holding the address: on the external network, owned by the floating IP, unbound.
    let (s, b) = app.admin().get("/v2.0/ports?device_owner=network:floatingip").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ports = b["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "{b}");
    let port = &ports[0];
    assert_eq!(
        (&port["device_id"], &port["network_id"], &port["project_id"]),
        (&f["id"], &json!(w.ext), &json!("p1"))
    );
    assert_eq!((&port["binding:host_id"], &port["binding:vif_type"]), (&json!(""), &json!("unbound")));
    assert_eq!(port["fixed_ips"], json!([{"subnet_id": w.ext_sub, "ip_address": f["floating_ip_address"]}]));
    // Show and list agree; another project sees nothing of it.
    let path = format!("/v2.0/floatingips/{}", id(&f));
    assert_eq!(p1.get(&path).await, (StatusCode::OK, json!({ "floatingip": f })));
    assert_eq!(ids(&p1.get("/v2.0/floatingips").await.1, "floatingips"), vec![id(&f)]);
    let p2 = app.as_("p2", "member");
    assert_error_msg(
        &p2.get(&path).await,
        404,
        "FloatingIPNotFound",
        &format!("Floating IP {} could not be found", id(&f)),
    );
    assert_eq!(p2.get("/v2.0/floatingips").await, (StatusCode::OK, json!({"floatingips": []})));
    // An admin lists every project's floating IPs.
    let p2_own = fip(&p2, json!({"floating_network_id": w.ext})).await;
    let mut all = ids(&app.admin().get("/v2.0/floatingips").await.1, "floatingips");
    all.sort();
    let mut want = vec![id(&f), id(&p2_own)];
    want.sort();
    assert_eq!(all, want);
    assert_eq!(ids(&p2.get("/v2.0/floatingips").await.1, "floatingips"), vec![id(&p2_own)]);
    assert_eq!(p2.delete(&format!("/v2.0/floatingips/{}", id(&p2_own))).await.0, StatusCode::NO_CONTENT);
    assert_error(&update(&p2, &id(&f), json!({"description": "x"})).await, 404, "FloatingIPNotFound");
    assert_error(&p2.delete(&path).await, 404, "FloatingIPNotFound");
    // `fields=` cuts the object.
    let (_, b) = p1.get(&format!("{path}?fields=floating_ip_address&fields=status")).await;
    assert_eq!(b, json!({"floatingip": {"floating_ip_address": f["floating_ip_address"], "status": "DOWN"}}));
}

#[tokio::test]
async fn a_given_address_is_for_admins_and_must_be_free_and_inside_a_subnet() {
    let app = App::new().await;
    let w = world(&app).await;
    let (admin, p1) = (app.admin(), app.as_("p1", "member"));
    let r = create(&p1, json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.250"})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    let f = fip(
        &admin,
        json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.250", "project_id": "p1"}),
    )
    .await;
    assert_eq!((&f["floating_ip_address"], &f["project_id"]), (&json!("203.0.113.250"), &json!("p1")));
    let r =
        create(&admin, json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.250"})).await;
    assert_error_msg(
        &r,
        409,
        "IpAddressInUse",
        &format!(
            "Unable to complete operation for network {}. The IP address 203.0.113.250 is in use.",
            w.ext
        ),
    );
    // Upstream's project managers may ask for an address in their project too.
    let manager = app.as_("p1", "manager");
    let m =
        fip(&manager, json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.251"})).await;
    assert_eq!((&m["floating_ip_address"], &m["project_id"]), (&json!("203.0.113.251"), &json!("p1")));
    let r =
        create(&admin, json!({"floating_network_id": w.ext, "floating_ip_address": "198.51.100.5"})).await;
    assert_error(&r, 400, "InvalidIpForNetwork");
    // The gateway address is the upstream router's, not a floating IP.
    let r = create(&admin, json!({"floating_network_id": w.ext, "floating_ip_address": "203.0.113.1"})).await;
    assert_error(&r, 409, "IpAddressInUse");
    // `subnet_id` picks the subnet; one of another network is refused.
    let f = fip(&p1, json!({"floating_network_id": w.ext, "subnet_id": w.ext_sub})).await;
    assert!(f["floating_ip_address"].as_str().unwrap().starts_with("203.0.113."), "{f}");
    assert!(f.get("subnet_id").is_none(), "subnet_id is not shown: {f}");
    let r = create(&p1, json!({"floating_network_id": w.ext, "subnet_id": w.sub})).await;
    assert_error(&r, 400, "InvalidInput");
}

#[tokio::test]
async fn the_network_must_be_external_and_visible() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let r = create(&p1, json!({"floating_network_id": w.net})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        &format!("Bad floatingip request: Network {} is not a valid external network.", w.net),
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(&create(&p1, json!({"floating_network_id": unknown})).await, 404, "NetworkNotFound");
    let hidden = app.as_("p2", "member").net("p2-net").await;
    assert_error(&create(&p1, json!({"floating_network_id": hidden})).await, 404, "NetworkNotFound");
    assert_error(&create(&p1, json!({})).await, 400, "HTTPBadRequest");
    assert_error(
        &create(&p1, json!({"floating_network_id": w.ext, "status": "ACTIVE"})).await,
        400,
        "HTTPBadRequest",
    );
    // An external network without an IPv4 subnet has no address to give.
    let bare = id(&app.admin().network(json!({"name": "bare", "router:external": true})).await);
    assert_error(&create(&p1, json!({"floating_network_id": bare})).await, 400, "BadRequest");
    assert_eq!(create(&p1, json!({"floating_network_id": w.ext})).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn associate_at_create_then_move_and_disassociate_by_update() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let vm1 = p1
        .port(&w.net, json!({"name": "vm1", "device_id": "server-1", "device_owner": "compute:nova"}))
        .await;
    let vm2 = p1.port(&w.net, json!({"name": "vm2"})).await;
    let f = fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm1)})).await;
    assert_eq!((&f["port_id"], &f["fixed_ip_address"]), (&json!(id(&vm1)), &json!(first_ip(&vm1))));
    assert_eq!((&f["router_id"], &f["status"]), (&json!(w.router.id), &json!("DOWN")));
    assert_eq!(
        f["port_details"],
        json!({"name": "vm1", "network_id": w.net, "mac_address": vm1["mac_address"], "admin_state_up": true,
            "status": "DOWN", "device_id": "server-1", "device_owner": "compute:nova"})
    );
    let fid = id(&f);
    let moved = updated(&p1, &fid, json!({"port_id": id(&vm2)})).await;
    assert_eq!((&moved["port_id"], &moved["fixed_ip_address"]), (&json!(id(&vm2)), &json!(first_ip(&vm2))));
    assert_eq!((&moved["port_details"]["name"], &moved["revision_number"]), (&json!("vm2"), &json!(2)));
    // A description alone keeps the association.
    let d = updated(&p1, &fid, json!({"description": "now vm2"})).await;
    assert_eq!((&d["port_id"], &d["description"]), (&json!(id(&vm2)), &json!("now vm2")));
    let gone = updated(&p1, &fid, json!({"port_id": null})).await;
    for k in ["port_id", "fixed_ip_address", "router_id", "port_details"] {
        assert_eq!(gone[k], Value::Null, "{k} after disassociation: {gone}");
    }
    assert_eq!((&gone["status"], &gone["floating_ip_address"]), (&json!("DOWN"), &f["floating_ip_address"]));
    // `If-Match` constrains updates and deletes to a revision.
    let path = format!("/v2.0/floatingips/{fid}");
    let rev = gone["revision_number"].as_i64().unwrap();
    let r = p1.put_if(&path, json!({"floatingip": {"description": "late"}}), rev - 1).await;
    assert_error(&r, 412, "RevisionNumberConstraintFailed");
    assert_error(&p1.delete_if(&path, rev - 1).await, 412, "RevisionNumberConstraintFailed");
    let r = p1.put_if(&path, json!({"floatingip": {"description": "on time"}}), rev).await;
    assert_eq!((r.0, &r.1["floatingip"]["revision_number"]), (StatusCode::OK, &json!(rev + 1)));
    // Read-only attributes stay so.
    let r = update(&p1, &fid, json!({"floating_network_id": w.ext})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    assert_eq!(updated(&p1, &fid, json!({"port_id": id(&vm1)})).await["port_id"], json!(id(&vm1)));
}

#[tokio::test]
async fn the_fixed_ip_must_be_one_of_the_ports_ipv4_addresses() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let two = p1.port(&w.net, json!({"fixed_ips": [{"subnet_id": w.sub}, {"subnet_id": w.sub}]})).await;
    let (a, b) = (first_ip(&two), two["fixed_ips"][1]["ip_address"].as_str().unwrap().to_string());
    let fid = id(&fip(&p1, json!({"floating_network_id": w.ext})).await);
    let r = update(&p1, &fid, json!({"port_id": id(&two)})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        &format!(
            "Bad floatingip request: Port {} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP.",
            id(&two)
        ),
    );
    let r = update(&p1, &fid, json!({"port_id": id(&two), "fixed_ip_address": "10.0.0.250"})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        &format!("Bad floatingip request: Port {} does not have fixed ip 10.0.0.250.", id(&two)),
    );
    let r = update(&p1, &fid, json!({"fixed_ip_address": a})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        "Bad floatingip request: fixed_ip_address cannot be specified without a port_id.",
    );
    let r = update(&p1, &fid, json!({"port_id": id(&two), "fixed_ip_address": "fd00::5"})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        "Bad floatingip request: Cannot process floating IP association with fd00::5, since that is not an IPv4 address.",
    );
    let f = updated(&p1, &fid, json!({"port_id": id(&two), "fixed_ip_address": b})).await;
    assert_eq!((&f["fixed_ip_address"], &f["router_id"]), (&json!(b), &json!(w.router.id)));
    // The port's other address may have a floating IP of its own.
    let g = fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&two), "fixed_ip_address": a})).await;
    assert_eq!(g["fixed_ip_address"], json!(a));
}

#[tokio::test]
async fn without_a_router_joining_the_subnet_to_the_external_network_it_is_404() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let lonely_net = p1.net("lonely").await;
    let lonely_sub = id(&p1.subnet(&lonely_net, "10.9.0.0/24", json!({})).await);
    let port = p1.port(&lonely_net, json!({})).await;
    let fid = id(&fip(&p1, json!({"floating_network_id": w.ext})).await);
    let r = update(&p1, &fid, json!({"port_id": id(&port)})).await;
    assert_error_msg(
        &r,
        404,
        "ExternalGatewayForFloatingIPNotFound",
        &format!(
            "External network {} is not reachable from subnet {lonely_sub}.  Therefore, cannot associate Port {} with a Floating IP.",
            w.ext,
            id(&port)
        ),
    );
    let r = create(&p1, json!({"floating_network_id": w.ext, "port_id": id(&port)})).await;
    assert_error(&r, 404, "ExternalGatewayForFloatingIPNotFound");
    // Nothing was left behind by the refused create: only the first floating IP exists.
    assert_eq!(ids(&p1.get("/v2.0/floatingips").await.1, "floatingips"), vec![fid.clone()]);
    // A router with its gateway on another external network does not do either.
    let other_ext = id(&app.admin().network(json!({"name": "other", "router:external": true})).await);
    app.admin().subnet(&other_ext, "192.0.2.0/24", json!({})).await;
    fake_router(&app, "p1", &other_ext, &[&lonely_sub]).await;
    assert_error(
        &update(&p1, &fid, json!({"port_id": id(&port)})).await,
        404,
        "ExternalGatewayForFloatingIPNotFound",
    );
    // Positive control: a port on the routed subnet associates.
    let vm = p1.port(&w.net, json!({})).await;
    assert_eq!(updated(&p1, &fid, json!({"port_id": id(&vm)})).await["router_id"], json!(w.router.id));
}

#[tokio::test]
async fn a_fixed_ip_has_at_most_one_floating_ip_per_external_network() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let (vm1, vm2) = (p1.port(&w.net, json!({})).await, p1.port(&w.net, json!({})).await);
    let f1 = fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm1)})).await;
    let f2 = fip(&p1, json!({"floating_network_id": w.ext})).await;
    let r = update(&p1, &id(&f2), json!({"port_id": id(&vm1)})).await;
    assert_error_msg(
        &r,
        409,
        "FloatingIPPortAlreadyAssociated",
        &format!(
            "Cannot associate floating IP {} ({}) with port {} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
            f2["floating_ip_address"].as_str().unwrap(),
            id(&f2),
            id(&vm1),
            first_ip(&vm1),
            w.ext
        ),
    );
    let r = create(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm1)})).await;
    assert_error(&r, 409, "FloatingIPPortAlreadyAssociated");
    // Associating a floating IP with the port it already has is no conflict; another port is fine.
    assert_eq!(updated(&p1, &id(&f1), json!({"port_id": id(&vm1)})).await["revision_number"], json!(1));
    assert_eq!(updated(&p1, &id(&f2), json!({"port_id": id(&vm2)})).await["port_id"], json!(id(&vm2)));
}

#[tokio::test]
async fn another_projects_port_is_hidden_or_refused_and_admins_may() {
    let app = App::new().await;
    let w = world(&app).await;
    let (p1, p2) = (app.as_("p1", "member"), app.as_("p2", "member"));
    app.admin().put(&format!("/v2.0/networks/{}", w.net), json!({"network": {"shared": true}})).await;
    let mine = p1.port(&w.net, json!({})).await;
    let theirs = p2.port(&w.net, json!({})).await;
    let f2 = fip(&p2, json!({"floating_network_id": w.ext})).await;
    // p2 cannot see p1's port at all.
    let r = update(&p2, &id(&f2), json!({"port_id": id(&mine)})).await;
    assert_error(&r, 404, "PortNotFound");
    // p1 sees p2's port (it owns the network) but may not point its floating IP at it.
    let f1 = fip(&p1, json!({"floating_network_id": w.ext})).await;
    let r = update(&p1, &id(&f1), json!({"port_id": id(&theirs)})).await;
    assert_error_msg(
        &r,
        400,
        "BadRequest",
        &format!(
            "Bad floatingip request: Cannot process floating IP association with Port {}, since that port is owned by a different project.",
            id(&theirs)
        ),
    );
    // Positive controls: each project with its own port, and the admin across projects.
    assert_eq!(updated(&p2, &id(&f2), json!({"port_id": id(&theirs)})).await["port_id"], json!(id(&theirs)));
    assert_eq!(
        updated(&app.admin(), &id(&f1), json!({"port_id": id(&mine)})).await["port_id"],
        json!(id(&mine))
    );
    // A DHCP-owned port takes no floating IP.
    let dhcp = app.admin().port(&w.net, json!({"device_owner": "network:dhcp", "project_id": "p1"})).await;
    let f3 = fip(&p1, json!({"floating_network_id": w.ext})).await;
    assert_error(&update(&p1, &id(&f3), json!({"port_id": id(&dhcp)})).await, 400, "BadRequest");
}

#[tokio::test]
async fn lists_filter_sort_and_page_and_floating_ips_take_tags() {
    let app = App::new().await;
    let w = world(&app).await;
    let p1 = app.as_("p1", "member");
    let vm = p1.port(&w.net, json!({})).await;
    let a = fip(&p1, json!({"floating_network_id": w.ext, "port_id": id(&vm)})).await;
    let b = fip(&p1, json!({"floating_network_id": w.ext})).await;
    let list = |q: String| {
        let p1 = p1.clone();
        async move {
            let (s, body) = p1.get(&format!("/v2.0/floatingips?{q}")).await;
            assert_eq!(s, StatusCode::OK, "{q}: {body}");
            ids(&body, "floatingips")
        }
    };
    assert_eq!(list(format!("port_id={}", id(&vm))).await, vec![id(&a)]);
    assert_eq!(list(format!("router_id={}", w.router.id)).await, vec![id(&a)]);
    assert_eq!(list(format!("fixed_ip_address={}", first_ip(&vm))).await, vec![id(&a)]);
    assert_eq!(
        list(format!("floating_ip_address={}", b["floating_ip_address"].as_str().unwrap())).await,
        vec![id(&b)]
    );
    assert_eq!(list(format!("floating_network_id={}", w.ext)).await.len(), 2);
    assert_eq!(list("status=DOWN".into()).await.len(), 2);
    assert_eq!(list("status=ACTIVE".into()).await, Vec::<String>::new());
    assert_eq!(list("project_id=p1".into()).await.len(), 2);
    let page = list("limit=1&sort_key=id&sort_dir=asc".into()).await;
    let mut all = [id(&a), id(&b)];
    all.sort();
    assert_eq!(page, vec![all[0].clone()]);
    assert_eq!(
        list(format!("limit=1&sort_key=id&sort_dir=asc&marker={}", all[0])).await,
        vec![all[1].clone()]
    );
    assert_error(&p1.get("/v2.0/floatingips?bogus=1").await, 400, "HTTPBadRequest");
    // Tags.
    let (s, t) = p1.put(&format!("/v2.0/floatingips/{}/tags", id(&b)), json!({"tags": ["red"]})).await;
    assert_eq!((s, t), (StatusCode::OK, json!({"tags": ["red"]})));
    assert_eq!(list("tags=red".into()).await, vec![id(&b)]);
    assert_eq!(list("not-tags=red".into()).await, vec![id(&a)]);
    let (_, shown) = p1.get(&format!("/v2.0/floatingips/{}", id(&b))).await;
    assert_eq!(
        (&shown["floatingip"]["tags"], &shown["floatingip"]["revision_number"]),
        (&json!(["red"]), &json!(2))
    );
    let r = app
        .as_("p2", "member")
        .put(&format!("/v2.0/floatingips/{}/tags", id(&b)), json!({"tags": ["x"]}))
        .await;
    assert_error(&r, 404, "FloatingIPNotFound");
}

#[tokio::test]
async fn among_routers_on_the_subnet_the_one_at_its_gateway_address_serves() {
    let app = App::new().await;
    let admin = app.admin();
    let ext = id(&admin.network(json!({"name": "public", "router:external": true})).await);
    admin.subnet(&ext, "203.0.113.0/24", json!({})).await;
    let p1 = app.as_("p1", "member");
    let net = p1.net("n1").await;
    let sub = id(&p1.subnet(&net, "10.0.0.0/24", json!({})).await);
    // The first router by id sits elsewhere on the subnet; the last holds its gateway address.
    let (first, last) = ("00000000-0000-4000-8000-000000000001", "ffffffff-ffff-4fff-bfff-ffffffffffff");
    fake_router_on(&app, first, "p1", &ext, &[(&sub, Some("10.0.0.254"))]).await;
    fake_router_on(&app, last, "p1", &ext, &[(&sub, None)]).await;
    let vm = p1.port(&net, json!({})).await;
    let f = fip(&p1, json!({"floating_network_id": ext, "port_id": id(&vm)})).await;
    assert_eq!(f["router_id"], json!(last));
    // Without a router at the gateway address, the first by id.
    let net2 = p1.net("n2").await;
    let sub2 = id(&p1.subnet(&net2, "10.0.2.0/24", json!({})).await);
    let (a, b) = ("00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b");
    fake_router_on(&app, b, "p1", &ext, &[(&sub2, Some("10.0.2.200"))]).await;
    fake_router_on(&app, a, "p1", &ext, &[(&sub2, Some("10.0.2.201"))]).await;
    let vm2 = p1.port(&net2, json!({})).await;
    assert_eq!(updated(&p1, &id(&f), json!({"port_id": id(&vm2)})).await["router_id"], json!(a));
}
