//! The cap on concurrent connections over raw TCP (alone in its test binary, so that this
//! process's descriptor count is its own): with `max_connections = N` and N idle
//! connections held, 50 more are answered 503 (or closed) at once instead of being held, the
//! server's descriptors stay at N, a fresh request still gets an answer, and once the idle
//! connections go away a normal request gets 200.

mod wire;

use neutrino_server::config::HttpConfig;
use tokio::io::AsyncWriteExt;
use wire::{Answer, connect, eventually, get, open_fds, read_answer, server_sockets, start, until_closed};

const N: usize = 20;
const EXTRA: usize = 50;

/// A GET on a fresh connection; `None` when the server closed it without an answer.
async fn try_get(addr: std::net::SocketAddr) -> Option<Answer> {
    let mut s = connect(addr).await;
    s.write_all(&get("/v2.0/networks")).await.ok()?;
    read_answer(&mut s).await
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_descriptors_stay_bounded() {
    // Long header/idle timeouts: the N idle connections stay held for the whole test.
    let addr = start(HttpConfig {
        max_connections: Some(N),
        header_read_timeout_secs: 120,
        idle_timeout_secs: 120,
        ..HttpConfig::default()
    });
    let port = addr.port();
    let fds_before = open_fds();

    let mut idle = vec![];
    for _ in 0..N {
        idle.push(connect(addr).await);
    }
    assert!(eventually(|| server_sockets(port) == N).await, "server holds {} of {N}", server_sockets(port));

    let mut extra = vec![];
    for _ in 0..EXTRA {
        extra.push(connect(addr).await);
    }
    // Each is refused promptly: a 503 NeutronError with `Connection: close`, or (when the
    // refusal slots are all busy) closed without an answer. None is held.
    let mut answered = 0;
    for s in &mut extra {
        let got = until_closed(s).await;
        if got.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(&got);
        let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
        assert!(head.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(head.to_ascii_lowercase().contains("connection: close"), "{text}");
        let j: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(j["NeutronError"]["type"], "HTTPServiceUnavailable", "{j}");
        answered += 1;
    }
    assert!(answered > 0, "no refused connection got the 503");

    // The server's side: the N served connections only (refused ones are closed even though
    // their clients keep them open). The process: our N + 50 ends plus the server's N.
    assert!(
        eventually(|| server_sockets(port) <= N).await,
        "server holds {} sockets with a cap of {N}",
        server_sockets(port)
    );
    let grown = open_fds().saturating_sub(fds_before);
    assert!(grown <= 2 * N + EXTRA + 10, "descriptors grew by {grown} (cap {N}, {} client ends)", N + EXTRA);

    // While the cap is reached, a new client still gets an answer: the 503.
    let mut refused = None;
    for _ in 0..20 {
        refused = try_get(addr).await;
        if refused.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refused = refused.expect("a refused client gets an answer");
    refused.assert_neutron(503, "HTTPServiceUnavailable");
    assert_eq!(refused.header("connection"), Some("close"));

    // Positive control: once the idle connections are gone, a normal request gets 200.
    drop(idle);
    drop(extra);
    let mut ok = None;
    for _ in 0..100 {
        match try_get(addr).await {
            Some(a) if a.status == 200 => {
                ok = Some(a);
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    ok.expect("a normal GET gets 200 once connections are free").json();
}
