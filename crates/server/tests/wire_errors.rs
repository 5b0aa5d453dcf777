//! Error bodies of the layers around the routes, over raw TCP on a loopback server: 413, 400 for
//! a bad path segment, 405 on `/`, 414, 431 and the request timeout are JSON in the
//! Networking API's shape (Keystone's under `/identity/`), each next to a request on the
//! same path that succeeds; and every request carries the peer address (`ConnectInfo`).

mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get as route_get;
use neutrino_server::config::HttpConfig;
use tokio::io::AsyncWriteExt;
use wire::{connect, exchange, get, read_answer, start, with_body};

fn small_bodies() -> HttpConfig {
    HttpConfig { max_body_bytes: 1024, ..HttpConfig::default() }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let addr = start(small_bodies());
    let ok = r#"{"network": {"name": "n"}}"#;
    exchange(addr, &with_body("POST", "/v2.0/networks", ok)).await.assert_status(201);
    // Refused on its Content-Length, before the body is sent at all.
    let head = "POST /v2.0/networks HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n";
    let a = exchange(addr, head.as_bytes()).await;
    a.assert_neutron(413, "HTTPRequestEntityTooLarge");
    assert_eq!(a.header("connection"), Some("close"));
    // A chunked body (no length announced) is cut off once past the limit.
    let big = format!(r#"{{"network": {{"name": "{}"}}}}"#, "x".repeat(2000));
    let chunked = format!(
        "POST /v2.0/networks HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    exchange(addr, chunked.as_bytes()).await.assert_neutron(413, "HTTPRequestEntityTooLarge");
    let id_head = "POST /identity/v3/auth/tokens HTTP/1.1\r\nhost: t\r\ncontent-length: 4096\r\n\r\n";
    exchange(addr, id_head.as_bytes()).await.assert_keystone(413);
}

#[tokio::test]
async fn bad_path_segments_are_400() {
    let addr = start(HttpConfig::default());
    let missing = "/v2.0/networks/6c6d4a2e-0b9f-4bb4-9d8a-4a56d5c0d3f1";
    exchange(addr, &get(missing)).await.assert_neutron(404, "NetworkNotFound");
    exchange(addr, &get("/v2.0/networks/%FF")).await.assert_neutron(400, "HTTPBadRequest");
    exchange(addr, &get("/v2.0/networks/%C3%28/tags")).await.assert_neutron(400, "HTTPBadRequest");
    exchange(addr, &get("/v2.0/extensions/%FF")).await.assert_neutron(400, "HTTPBadRequest");
}

#[tokio::test]
async fn methods_not_allowed_on_root_are_405_with_allow() {
    let addr = start(HttpConfig::default());
    exchange(addr, &get("/")).await.assert_status(200);
    for method in ["DELETE", "POST", "PUT"] {
        let a =
            exchange(addr, format!("{method} / HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await;
        a.assert_neutron(405, "HTTPMethodNotAllowed");
        assert!(a.header("allow").is_some_and(|v| v.contains("GET")), "{a:?}");
    }
}

#[tokio::test]
async fn long_uris_are_414() {
    let addr = start(HttpConfig::default());
    exchange(addr, &get(&format!("/v2.0/networks?name={}", "a".repeat(4000)))).await.assert_status(200);
    let long = format!("/v2.0/networks?name={}", "a".repeat(9000));
    exchange(addr, &get(&long)).await.assert_neutron(414, "HTTPRequestURITooLong");
    let long_id = format!("/identity/v3/projects?name={}", "a".repeat(9000));
    exchange(addr, &get(&long_id)).await.assert_keystone(414);
}

/// A GET of `/v2.0/networks` with `n` extra headers of `len` bytes each.
fn with_headers(path: &str, n: usize, len: usize) -> Vec<u8> {
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: t\r\n");
    for i in 0..n {
        req.push_str(&format!("x-filler-{i}: {}\r\n", "v".repeat(len)));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

#[tokio::test]
async fn large_header_blocks_are_431() {
    let addr = start(HttpConfig::default());
    exchange(addr, &with_headers("/v2.0/networks", 20, 100)).await.assert_status(200);
    // Too many bytes (40 x 500) though few fields; too many fields (150) though few bytes.
    let a = exchange(addr, &with_headers("/v2.0/networks", 40, 500)).await;
    a.assert_neutron(431, "HTTPRequestHeaderFieldsTooLarge");
    let a = exchange(addr, &with_headers("/v2.0/networks", 150, 4)).await;
    a.assert_neutron(431, "HTTPRequestHeaderFieldsTooLarge");
    exchange(addr, &with_headers("/identity/v3/projects", 40, 500)).await.assert_keystone(431);
}

async fn serve_test_router(router: Router, cfg: HttpConfig) -> SocketAddr {
    wire::serve_router(router, cfg, std::future::pending()).await.0
}

#[tokio::test]
async fn requests_past_the_request_timeout_are_503() {
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(600)).await;
        "late"
    };
    let router = Router::new()
        .route("/fast", route_get(|| async { "fast" }))
        .route("/slow", route_get(slow))
        .route("/identity/v3/slow", route_get(slow));
    let addr =
        serve_test_router(router, HttpConfig { request_timeout_secs: 1, ..HttpConfig::default() }).await;
    let a = exchange(addr, &get("/fast")).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"fast"[..]));
    exchange(addr, &get("/slow")).await.assert_neutron(503, "HTTPServiceUnavailable");
    exchange(addr, &get("/identity/v3/slow")).await.assert_keystone(503);
}

#[tokio::test]
async fn requests_carry_the_peer_address() {
    let router = Router::new().route(
        "/peer",
        route_get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let addr = serve_test_router(router, HttpConfig::default()).await;
    let mut s = connect(addr).await;
    let me = s.local_addr().unwrap();
    s.write_all(&get("/peer")).await.unwrap();
    let a = read_answer(&mut s).await.expect("an answer");
    a.assert_status(200);
    assert_eq!(String::from_utf8_lossy(&a.body), me.to_string());
}
