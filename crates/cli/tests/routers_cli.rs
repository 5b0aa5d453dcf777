//! The `router` and `floating ip` commands of the `neutrino` binary against a recording
//! stand-in for the server (a few known objects, found by id or `?name=`; writes echoed back):
//! the requests each command sends — method, path and body — after resolving names to ids.
//! (The server's own routers API is tested on its side; this pins the client's wire format.)

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

type Log = Arc<Mutex<Vec<(String, String, Value)>>>;

/// The objects the stand-in knows, by collection.
fn known() -> HashMap<&'static str, Vec<Value>> {
    HashMap::from([
        ("networks", vec![json!({"id": "net-public", "name": "public"})]),
        ("subnets", vec![json!({"id": "sub-web", "name": "web-subnet"})]),
        ("ports", vec![json!({"id": "port-web1", "name": "web-1", "device_id": "vm"})]),
        (
            "routers",
            vec![json!({"id": "rtr-1", "name": "r1",
                        "routes": [{"destination": "10.8.0.0/16", "nexthop": "10.10.1.9"}]})],
        ),
        ("floatingips", vec![json!({"id": "fip-1", "floating_ip_address": "203.0.113.150"})]),
    ])
}

fn singular(collection: &str) -> &str {
    collection.strip_suffix('s').unwrap_or(collection)
}

async fn handle(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let segs: Vec<&str> = uri.path().trim_start_matches("/v2.0/").split('/').collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if method != Method::GET {
        log.lock().expect("log").push((method.to_string(), uri.path().to_string(), body.clone()));
    }
    let known = known();
    let Some(objects) = known.get(segs[0]) else {
        return (StatusCode::NOT_FOUND, "{}").into_response();
    };
    let key = singular(segs[0]);
    let by_id = |id: &str| objects.iter().find(|o| o["id"] == id).cloned();
    let not_found = || {
        let e = json!({"NeutronError": {"type": "NotFound", "message": "not found", "detail": ""}});
        (StatusCode::NOT_FOUND, axum::Json(e)).into_response()
    };
    match (method, segs.len()) {
        (Method::GET, 1) => {
            let hits: Vec<Value> = objects
                .iter()
                .filter(|o| query.iter().all(|(k, v)| o[k.as_str()] == v.as_str()))
                .cloned()
                .collect();
            axum::Json(json!({ segs[0]: hits })).into_response()
        }
        (Method::GET, 2) => match by_id(segs[1]) {
            Some(o) => axum::Json(json!({ key: o })).into_response(),
            None => not_found(),
        },
        (Method::POST, 1) => {
            let mut o = body[key].clone();
            o["id"] = json!("new-id");
            (StatusCode::CREATED, axum::Json(json!({ key: o }))).into_response()
        }
        (Method::PUT, 2) => match by_id(segs[1]) {
            Some(mut o) => {
                for (k, v) in body[key].as_object().cloned().unwrap_or_default() {
                    o[k] = v;
                }
                axum::Json(json!({ key: o })).into_response()
            }
            None => not_found(),
        },
        (Method::PUT, 3) => {
            let mut answer = json!({"id": segs[1], "port_id": "port-if"});
            for (k, v) in body.as_object().cloned().unwrap_or_default() {
                answer[k] = v;
            }
            axum::Json(answer).into_response()
        }
        (Method::DELETE, 2) => match by_id(segs[1]) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => not_found(),
        },
        _ => (StatusCode::METHOD_NOT_ALLOWED, "{}").into_response(),
    }
}

struct Stub {
    url: String,
    log: Log,
}

impl Stub {
    async fn start() -> Stub {
        let log = Log::default();
        let app = Router::new().fallback(handle).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { url: format!("http://{addr}"), log }
    }

    /// Runs `neutrino -o json ARGS`; (success, stdout, stderr) and the writes it sent.
    async fn run(&self, args: &[&str]) -> (bool, String, String, Vec<(String, String, Value)>) {
        self.log.lock().expect("log").clear();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_neutrino"))
            .args(["--os-url", &self.url, "-o", "json"])
            .args(args)
            .env_remove("OS_TOKEN")
            .env_remove("OS_CLOUD")
            .output()
            .await
            .expect("run neutrino");
        let writes = self.log.lock().expect("log").clone();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr), writes)
    }

    /// The single write `args` sends (the command must succeed).
    async fn write(&self, args: &[&str]) -> (String, String, Value) {
        let (ok, _, stderr, mut writes) = self.run(args).await;
        assert!(ok, "{args:?} failed: {stderr}");
        assert_eq!(writes.len(), 1, "{args:?}: {writes:?}");
        writes.remove(0)
    }
}

fn put(path: &str, body: Value) -> (String, String, Value) {
    ("PUT".into(), path.into(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_commands_send_upstreams_bodies() {
    let s = Stub::start().await;
    assert_eq!(
        s.write(&["router", "create", "r2"]).await,
        ("POST".into(), "/v2.0/routers".into(), json!({"router": {"name": "r2", "admin_state_up": true}}))
    );
    assert_eq!(
        s.write(&["router", "create", "r2", "--external-gateway", "public", "--disable-snat"]).await.2,
        json!({"router": {"name": "r2", "admin_state_up": true,
               "external_gateway_info": {"network_id": "net-public", "enable_snat": false}}})
    );
    assert_eq!(
        s.write(&["router", "add", "subnet", "r1", "web-subnet"]).await,
        put("/v2.0/routers/rtr-1/add_router_interface", json!({"subnet_id": "sub-web"}))
    );
    assert_eq!(
        s.write(&["router", "remove", "subnet", "r1", "sub-web"]).await,
        put("/v2.0/routers/rtr-1/remove_router_interface", json!({"subnet_id": "sub-web"}))
    );
    assert_eq!(
        s.write(&["router", "add", "port", "rtr-1", "web-1"]).await,
        put("/v2.0/routers/rtr-1/add_router_interface", json!({"port_id": "port-web1"}))
    );
    assert_eq!(
        s.write(&["router", "remove", "port", "r1", "web-1"]).await,
        put("/v2.0/routers/rtr-1/remove_router_interface", json!({"port_id": "port-web1"}))
    );
    assert_eq!(
        s.write(&["router", "set", "r1", "--external-gateway", "public"]).await,
        put(
            "/v2.0/routers/rtr-1",
            json!({"router": {"external_gateway_info": {"network_id": "net-public"}}})
        )
    );
    // --route adds to the routes the router has.
    assert_eq!(
        s.write(&["router", "set", "r1", "--route", "destination=10.9.0.0/16,gateway=10.10.1.254"]).await.2,
        json!({"router": {"routes": [{"destination": "10.8.0.0/16", "nexthop": "10.10.1.9"},
                                     {"destination": "10.9.0.0/16", "nexthop": "10.10.1.254"}]}})
    );
    assert_eq!(
        s.write(&["router", "set", "r1", "--no-route", "--no-external-gateway"]).await.2,
        json!({"router": {"external_gateway_info": {}, "routes": []}})
    );
    assert_eq!(
        s.write(&["router", "unset", "r1", "--external-gateway"]).await.2,
        json!({"router": {"external_gateway_info": {}}})
    );
    assert_eq!(
        s.write(&["router", "delete", "r1"]).await,
        ("DELETE".into(), "/v2.0/routers/rtr-1".into(), Value::Null)
    );

    // `show` adds the router's interfaces from its ports.
    let (ok, stdout, stderr, writes) = s.run(&["router", "show", "r1"]).await;
    assert!(ok && writes.is_empty(), "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!((shown["id"].as_str(), shown["interfaces_info"].is_array()), (Some("rtr-1"), true));

    // Bad input is refused before anything is sent, and a write that would be a no-op fails
    // with a message; a name the server does not know fails as a lookup.
    for bad in [
        &["router", "set", "r1", "--route", "destination=10.9.0.0,gateway=10.0.0.1"][..],
        &["router", "create", "r2", "--disable-snat"],
        &["router", "set", "r1", "--external-gateway", "public", "--no-external-gateway"],
        &["router", "unset", "r1", "--route", "destination=10.7.0.0/16,gateway=10.10.1.9"],
        &["router", "add", "subnet", "r1", "no-such-subnet"],
    ] {
        let (ok, _, stderr, writes) = s.run(bad).await;
        assert!(!ok && writes.is_empty(), "{bad:?} went through: {writes:?}");
        assert!(!stderr.is_empty(), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floating_ip_commands_send_upstreams_bodies() {
    let s = Stub::start().await;
    assert_eq!(
        s.write(&["floating", "ip", "create", "public"]).await,
        (
            "POST".into(),
            "/v2.0/floatingips".into(),
            json!({"floatingip": {"floating_network_id": "net-public"}})
        )
    );
    assert_eq!(
        s.write(&[
            "floating",
            "ip",
            "create",
            "public",
            "--port",
            "web-1",
            "--fixed-ip-address",
            "10.10.1.5"
        ])
        .await
        .2,
        json!({"floatingip": {"floating_network_id": "net-public", "port_id": "port-web1",
               "fixed_ip_address": "10.10.1.5"}})
    );
    // By address or by id.
    assert_eq!(
        s.write(&["floating", "ip", "set", "203.0.113.150", "--port", "web-1"]).await,
        put("/v2.0/floatingips/fip-1", json!({"floatingip": {"port_id": "port-web1"}}))
    );
    assert_eq!(
        s.write(&["floating", "ip", "unset", "fip-1", "--port"]).await,
        put("/v2.0/floatingips/fip-1", json!({"floatingip": {"port_id": null}}))
    );
    assert_eq!(
        s.write(&["floating", "ip", "delete", "203.0.113.150"]).await,
        ("DELETE".into(), "/v2.0/floatingips/fip-1".into(), Value::Null)
    );
    let (ok, stdout, stderr, _) = s.run(&["floating", "ip", "show", "203.0.113.150"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).expect("json")["id"], "fip-1");

    for bad in [
        &["floating", "ip", "create", "public", "--fixed-ip-address", "10.10.1.5"][..],
        &["floating", "ip", "create", "public", "--port", "web-1", "--fixed-ip-address", "ten"],
        &["floating", "ip", "set", "203.0.113.99", "--port", "web-1"],
        &["floating", "ip", "delete", "203.0.113.99"],
    ] {
        let (ok, _, stderr, writes) = s.run(bad).await;
        assert!(!ok && writes.is_empty(), "{bad:?} went through: {writes:?}");
        assert!(!stderr.is_empty(), "{bad:?}");
    }
}
