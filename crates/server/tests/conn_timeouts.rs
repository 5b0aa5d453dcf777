//! Connection timeouts over raw TCP on a loopback server: a request head that never completes
//! (or never starts), an idle keep-alive connection and a body shorter than its
//! `Content-Length` are each ended by the server (`[http]` timeouts of 1 s here), while a
//! normal request on the same server is answered.

mod wire;

use neutrino_server::config::HttpConfig;
use tokio::io::AsyncWriteExt;
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
