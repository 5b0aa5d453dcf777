//! The metadata service forwarding to Nova: a fake Nova (hyper on 127.0.0.1) records what it
//! receives, so the tests see the signed headers, the path, query and body, and that Nova's
//! answers are relayed as upstream's metadata agent relays them; unknown callers never reach
//! Nova; an unreachable or slow Nova is a 503 or 504, never a hang.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod metadata_common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use metadata_common::*;
use neutrino_agent::metadata::MetadataConfig;
use tokio::net::TcpListener;

/// `python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cret",
/// b"6f1e8d3a-0001-4000-8000-000000000001",hashlib.sha256).hexdigest())'`
const VM1_SIGNATURE: &str = "983d1f3ca83fcec07c256818cf9b6d50c0305aaedd063e45a8fd53bddbbb3c14";

/// One request as the fake Nova saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Nova's answer to a path: `/status/N` answers N, `/slow` after 3 s, anything else 200 with
/// the instance id it was told, as JSON.
async fn nova_answer(req: &Seen) -> Response<String> {
    let (status, ctype, body) = if let Some(n) = req.path_and_query.strip_prefix("/status/") {
        (n.parse().unwrap_or(500), "text/plain", format!("nova says {n}"))
    } else if req.path_and_query == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
        (200, "text/plain", "late".to_string())
    } else {
        let id = req.header("x-instance-id").unwrap_or("");
        (200, "application/json", format!("{{\"uuid\": \"{id}\", \"from\": \"nova\"}}"))
    };
    let mut r = Response::new(body);
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static(ctype));
    r
}

/// Starts the fake Nova; its URL and what it saw.
async fn fake_nova() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Nova");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        use http_body_util_free::collect;
                        let (parts, body) = req.into_parts();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path_and_query: parts
                                .uri
                                .path_and_query()
                                .map_or("/", |p| p.as_str())
                                .to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                                })
                                .collect(),
                            body: collect(body).await,
                        };
                        log.lock().expect("the log").push(seen.clone());
                        Ok::<_, Infallible>(nova_answer(&seen).await)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

/// Reads a body to its end without another crate.
mod http_body_util_free {
    use hyper::body::{Body, Incoming};

    pub async fn collect(body: Incoming) -> Vec<u8> {
        let mut body = std::pin::pin!(body);
        let mut out = Vec::new();
        while let Some(Ok(frame)) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            if let Ok(d) = frame.into_data() {
                out.extend_from_slice(&d);
            }
        }
        out
    }
}

fn nova_cfg(url: &str, timeout: u64) -> MetadataConfig {
    MetadataConfig {
        nova_metadata_url: Some(url.into()),
        metadata_proxy_shared_secret: "s3cret".into(),
        nova_client_timeout: timeout,
    }
}

#[tokio::test]
async fn requests_reach_nova_signed_and_its_answers_are_relayed() {
    let (url, seen) = fake_nova().await;
    let s = start(nova_cfg(&format!("{url}/"), 10));
    let sock = &s.socket;

    // The VM's own X-Forwarded-For and X-Neutron-* never reach Nova; the identified ones do.
    let req = "GET /openstack/latest/meta_data.json?a=1&b=2 HTTP/1.1\r\nX-Forwarded-For: 10.0.0.6\r\n\
               X-Neutron-Network-ID: 0a000000-0000-4000-8000-00000000000a\r\nX-Instance-ID: evil\r\n\
               X-Forwarded-For: 10.0.0.5\r\n\r\n";
    let a = raw(sock, req.as_bytes()).await.expect("an answer");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(a.json()["uuid"], VM1);
    assert_eq!(a.json()["from"], "nova");
    let got = seen.lock().expect("the log").pop().expect("Nova was asked");
    assert_eq!(
        (got.method.as_str(), got.path_and_query.as_str()),
        ("GET", "/openstack/latest/meta_data.json?a=1&b=2")
    );
    assert_eq!(got.header("x-instance-id"), Some(VM1));
    assert_eq!(got.header("x-tenant-id"), Some("proj-a"));
    assert_eq!(got.header("x-forwarded-for"), Some("10.0.0.5"));
    assert_eq!(got.header("x-instance-id-signature"), Some(VM1_SIGNATURE));
    assert_eq!(got.headers.iter().filter(|(k, _)| k == "x-instance-id").count(), 1);
    assert!(got.headers.iter().all(|(k, _)| !k.starts_with("x-neutron")), "{:?}", got.headers);

    // Another VM is signed as itself.
    let vm2 = get(sock, "/openstack/latest/meta_data.json", NET_A, "10.0.0.6").await;
    assert_eq!(vm2.json()["uuid"], VM2);
    let got = seen.lock().expect("the log").pop().expect("Nova was asked");
    assert_eq!((got.header("x-instance-id"), got.header("x-tenant-id")), (Some(VM2), Some("proj-b")));
    assert_ne!(got.header("x-instance-id-signature"), Some(VM1_SIGNATURE));

    // A POST (the password upload) carries its body.
    let post = "POST /openstack/latest/password HTTP/1.1\r\nX-Neutron-Network-ID: 0a000000-0000-4000-8000-00000000000a\r\n\
                X-Forwarded-For: 10.0.0.5\r\nContent-Length: 6\r\n\r\nsecret";
    let a = raw(sock, post.as_bytes()).await.expect("an answer");
    assert_eq!(a.status, 200, "{}", a.text());
    let got = seen.lock().expect("the log").pop().expect("Nova was asked");
    assert_eq!((got.method.as_str(), got.body.as_slice()), ("POST", b"secret".as_slice()));

    // Unknown callers and refused requests never reach Nova (the known one above did).
    let before = seen.lock().expect("the log").len();
    assert_eq!(get(sock, "/openstack", NET_A, "10.0.0.99").await.status, 404);
    assert_eq!(get(sock, "/openstack", NET_B, "10.0.0.6").await.status, 404);
    let no_net = "GET /openstack HTTP/1.1\r\nX-Forwarded-For: 10.0.0.5\r\n\r\n";
    assert_eq!(raw(sock, no_net.as_bytes()).await.expect("an answer").status, 400);
    let put = "PUT /openstack HTTP/1.1\r\nX-Neutron-Network-ID: 0a000000-0000-4000-8000-00000000000a\r\n\
               X-Forwarded-For: 10.0.0.5\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(raw(sock, put.as_bytes()).await.expect("an answer").status, 405);
    let big = format!(
        "POST /openstack/latest/password HTTP/1.1\r\nX-Neutron-Network-ID: {NET_A}\r\nX-Forwarded-For: 10.0.0.5\r\n\
         Content-Length: 70000\r\n\r\n{}",
        "x".repeat(70_000)
    );
    if let Some(a) = raw(sock, big.as_bytes()).await {
        assert_eq!(a.status, 413);
    }
    assert_eq!(seen.lock().expect("the log").len(), before);
    assert_eq!(get(sock, "/openstack", NET_A, "10.0.0.5").await.status, 200);
    assert_eq!(seen.lock().expect("the log").len(), before + 1);

    // Nova's statuses: those upstream relays keep their status and body; others are a 500.
    for code in [400, 403, 404, 409, 500, 502, 503, 504] {
        let a = get(sock, &format!("/status/{code}"), NET_A, "10.0.0.5").await;
        assert_eq!((a.status, a.text()), (code, format!("nova says {code}")));
    }
    for code in [201, 301, 401, 418] {
        let a = get(sock, &format!("/status/{code}"), NET_A, "10.0.0.5").await;
        assert_eq!(a.status, 500, "{code}: {}", a.text());
        assert!(!a.text().contains("nova says"), "{}", a.text());
    }
    // HEAD is forwarded and answered without a body.
    let head = format!(
        "HEAD /openstack HTTP/1.1\r\nX-Neutron-Network-ID: {NET_A}\r\nX-Forwarded-For: 10.0.0.5\r\n\r\n"
    );
    let a = raw(sock, head.as_bytes()).await.expect("an answer");
    assert_eq!((a.status, a.body.len()), (200, 0));
    assert_eq!(seen.lock().expect("the log").pop().map(|s| s.method), Some("HEAD".into()));
    s.server.stop().await;
}

#[tokio::test]
async fn an_unreachable_or_slow_nova_is_an_error_not_a_hang() {
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("its address"));
    drop(closed);
    let s = start(nova_cfg(&dead, 5));
    let a = get(&s.socket, "/openstack", NET_A, "10.0.0.5").await;
    assert_eq!(a.status, 503, "{}", a.text());
    // Unknown callers are still 404: refused before Nova is asked.
    assert_eq!(get(&s.socket, "/openstack", NET_A, "10.0.0.99").await.status, 404);
    s.server.stop().await;

    let (url, _) = fake_nova().await;
    let s = start(nova_cfg(&url, 1));
    let t = std::time::Instant::now();
    let a = get(&s.socket, "/slow", NET_A, "10.0.0.5").await;
    assert_eq!(a.status, 504, "{}", a.text());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // The same Nova answers a quick path.
    assert_eq!(get(&s.socket, "/openstack", NET_A, "10.0.0.5").await.status, 200);
    s.server.stop().await;
}
