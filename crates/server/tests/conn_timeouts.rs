//! Connection timeouts over raw TCP on a loopback server: a request head that never completes
//! (or never starts), an idle keep-alive connection and a body shorter than its
//! `Content-Length` are each ended by the server (`[http]` timeouts of 1 s here), while a
//! normal request on the same server is answered. Shutdown finishes the request in progress,
//! closes idle connections and stops accepting.

mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get as route_get;
use neutrino_server::config::HttpConfig;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, oneshot};
use wire::{connect, exchange, get, read_answer, start, start_builtin, until_closed, with_body};

fn timeouts(header: u64, idle: u64, body: u64) -> HttpConfig {
    HttpConfig {
        header_read_timeout_secs: header,
        idle_timeout_secs: idle,
        body_read_timeout_secs: body,
        ..HttpConfig::default()
    }
}

#[tokio::test]
async fn request_heads_that_stall_are_cut_off() {
    let addr = start(timeouts(1, 60, 60));
    let mut partial = connect(addr).await;
    partial.write_all(b"GET /v2.0/networks HTTP/1.1\r\nhost: test\r\nx-slow: ").await.unwrap();
    let mut silent = connect(addr).await;
    // Positive control on the same server while both are stalled.
    exchange(addr, &get("/v2.0/networks")).await.assert_status(200);
    until_closed(&mut partial).await;
    until_closed(&mut silent).await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let addr = start(timeouts(60, 1, 60));
    let mut s = connect(addr).await;
    s.write_all(&get("/v2.0/networks")).await.unwrap();
    let first = read_answer(&mut s).await.expect("answer");
    first.assert_status(200);
    assert_ne!(first.header("connection"), Some("close"), "{first:?}");
    // The connection was kept alive after the response; now idle, the server closes it.
    assert!(until_closed(&mut s).await.is_empty());
}

#[tokio::test]
async fn bodies_shorter_than_their_length_get_408() {
    let addr = start(timeouts(60, 60, 1));
    let body = r#"{"network": {"name": "n"}}"#;
    exchange(addr, &with_body("POST", "/v2.0/networks", body)).await.assert_status(201);
    let mut s = connect(addr).await;
    let head = format!(
        "POST /v2.0/networks HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len() + 50
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let a = read_answer(&mut s).await.expect("an answer to the stalled body");
    a.assert_neutron(408, "HTTPRequestTimeout");
    assert_eq!(a.header("connection"), Some("close"), "{a:?}");
    until_closed(&mut s).await;
}

#[tokio::test]
async fn stalled_identity_bodies_get_keystone_408() {
    let addr = start_builtin(timeouts(60, 60, 1));
    let mut s = connect(addr).await;
    s.write_all(b"POST /identity/v3/auth/tokens HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    read_answer(&mut s).await.expect("an answer").assert_keystone(408);
}

#[tokio::test]
async fn shutdown_finishes_requests_in_progress_and_closes_idle_connections() {
    let started = Arc::new(Notify::new());
    let s2 = started.clone();
    let router = Router::new().route("/fast", route_get(|| async { "fast" })).route(
        "/slow",
        route_get(move || {
            let s2 = s2.clone();
            async move {
                s2.notify_one();
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let (addr, server) = wire::serve_router(router, HttpConfig::default(), async {
        let _ = stopped.await;
    })
    .await;
    exchange(addr, &get("/fast")).await.assert_status(200);
    let mut idle = connect(addr).await;
    let mut busy = connect(addr).await;
    busy.write_all(&get("/slow")).await.unwrap();
    started.notified().await;
    stop.send(()).unwrap();
    let a = read_answer(&mut busy).await.expect("the request in progress is answered");
    assert_eq!((a.status, a.body.as_slice()), (200, &b"done"[..]));
    until_closed(&mut idle).await;
    tokio::time::timeout(wire::PATIENCE, server).await.expect("serve returns").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}
