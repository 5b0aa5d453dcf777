//! IPAM under concurrency (property test): many port creates at once on one subnet never share
//! an address, every address lies in the allocation pools, a full subnet answers 409
//! `IpAddressGenerationFailure`, and deleting ports frees addresses for reuse. Run on the
//! in-memory store and on the file-backed store (which reads through separate connections).

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use axum::http::StatusCode;
use common::{App, Caller, id};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// One generated scenario.
#[derive(Debug, Clone)]
struct Case {
    prefix: u8,
    wave: usize,
    explicit_pct: u32,
    trim_start: u32,
    trim_end: u32,
    seed: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    (26u8..=28, 8usize..=32, 0u32..=60, 0u32..=3, 0u32..=3, any::<u64>()).prop_map(
        |(prefix, wave, explicit_pct, trim_start, trim_end, seed)| Case {
            prefix,
            wave,
            explicit_pct,
            trim_start,
            trim_end,
            seed,
        },
    )
}

/// What one create asked for and got.
struct Outcome {
    explicit: Option<Ipv4Addr>,
    status: StatusCode,
    body: Value,
}

fn ip_of(port: &Value) -> Ipv4Addr {
    port["fixed_ips"][0]["ip_address"].as_str().unwrap().parse().unwrap()
}

fn kind(body: &Value) -> &str {
    body["NeutronError"]["type"].as_str().unwrap_or("")
}

/// Creates `n` ports at once; each asks for an explicit pool address with `explicit_pct`%.
async fn wave(p: &Caller, net: &str, n: usize, pct: u32, pool: (u32, u32), rng: &mut StdRng) -> Vec<Outcome> {
    let mut tasks = vec![];
    for _ in 0..n {
        let explicit = (rng.gen_range(0..100) < pct).then(|| Ipv4Addr::from(rng.gen_range(pool.0..=pool.1)));
        let (p, net) = (p.clone(), net.to_string());
        tasks.push(tokio::spawn(async move {
            let mut body = json!({"network_id": net});
            if let Some(ip) = explicit {
                body["fixed_ips"] = json!([{"ip_address": ip.to_string()}]);
            }
            let (status, body) = p.post("/v2.0/ports", json!({ "port": body })).await;
            Outcome { explicit, status, body }
        }));
    }
    let mut out = vec![];
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

/// The addresses the server reports as held, by port id.
async fn held(p: &Caller, net: &str) -> Vec<(String, Ipv4Addr)> {
    let (s, b) = p.get(&format!("/v2.0/ports?network_id={net}")).await;
    assert_eq!(s, StatusCode::OK);
    b["ports"].as_array().unwrap().iter().map(|p| (id(p), ip_of(p))).collect()
}

async fn run(app: App, c: Case) {
    let mut rng = StdRng::seed_from_u64(c.seed);
    let p1 = app.as_("p1", "member");
    let net = p1.net("n").await;
    let size = 1u32 << (32 - c.prefix);
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    // Gateway .1; pools inside [.2, broadcast-1], trimmed at both ends.
    let pool = (base + 2 + c.trim_start, base + size - 2 - c.trim_end);
    let pool_size = (pool.1 - pool.0 + 1) as usize;
    p1.subnet(
        &net,
        &format!("10.0.0.0/{}", c.prefix),
        json!({"allocation_pools": [{"start": Ipv4Addr::from(pool.0).to_string(), "end": Ipv4Addr::from(pool.1).to_string()}]}),
    )
    .await;
    let in_pool = |ip: Ipv4Addr| (pool.0..=pool.1).contains(&u32::from(ip));

    // Phase 1: waves until the pool is full.
    let mut mine: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let mut full_seen = false;
    let mut collided: Vec<Ipv4Addr> = vec![];
    for _ in 0..(pool_size / c.wave + 8) {
        for o in wave(&p1, &net, c.wave, c.explicit_pct, pool, &mut rng).await {
            match (o.status, kind(&o.body)) {
                (StatusCode::CREATED, _) => {
                    let ip = ip_of(&o.body["port"]);
                    assert!(in_pool(ip), "{ip} outside the pool {pool:?}");
                    if let Some(e) = o.explicit {
                        assert_eq!(ip, e);
                    }
                    assert!(mine.insert(ip), "{ip} handed out twice");
                }
                (StatusCode::CONFLICT, "IpAddressInUse") => {
                    let e = o.explicit.expect("only explicit requests may collide");
                    collided.push(e);
                }
                (StatusCode::CONFLICT, "IpAddressGenerationFailure") => {
                    assert!(o.explicit.is_none(), "explicit requests do not generate: {}", o.body);
                    full_seen = true;
                }
                other => panic!("unexpected outcome {other:?}: {}", o.body),
            }
        }
        if full_seen {
            break;
        }
    }
    // Allocations only grew in phase 1, so a generation failure means the pool is now full.
    let now = held(&p1, &net).await;
    let ips: BTreeSet<Ipv4Addr> = now.iter().map(|h| h.1).collect();
    assert_eq!(ips.len(), now.len(), "two ports share an address");
    assert_eq!(ips, mine);
    for e in &collided {
        assert!(mine.contains(e), "{e} was refused as in use but nobody holds it");
    }
    assert!(full_seen, "the pool never filled ({} of {pool_size})", mine.len());
    assert_eq!(mine.len(), pool_size, "generation failed before the pool was full");

    // Every further create is refused.
    for o in wave(&p1, &net, c.wave.min(12), 0, pool, &mut rng).await {
        assert_eq!(
            (o.status, kind(&o.body)),
            (StatusCode::CONFLICT, "IpAddressGenerationFailure"),
            "{}",
            o.body
        );
    }

    // Phase 2: free some addresses concurrently; exactly that many creates succeed, reusing them.
    let k = rng.gen_range(1..=now.len().min(c.wave));
    let victims: Vec<(String, Ipv4Addr)> = now.iter().take(k).cloned().collect();
    let mut tasks = vec![];
    for (pid, _) in &victims {
        let (p, path) = (p1.clone(), format!("/v2.0/ports/{pid}"));
        tasks.push(tokio::spawn(async move { p.delete(&path).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::NO_CONTENT);
    }
    let freed: BTreeSet<Ipv4Addr> = victims.iter().map(|v| v.1).collect();
    let outcomes = wave(&p1, &net, k + 4, 0, pool, &mut rng).await;
    let mut reused = BTreeSet::new();
    for o in &outcomes {
        match (o.status, kind(&o.body)) {
            (StatusCode::CREATED, _) => assert!(reused.insert(ip_of(&o.body["port"]))),
            (StatusCode::CONFLICT, "IpAddressGenerationFailure") => {}
            other => panic!("unexpected outcome {other:?}: {}", o.body),
        }
    }
    assert_eq!(reused, freed, "the freed addresses, and only they, are handed out again");
    let after = held(&p1, &net).await;
    let ips: BTreeSet<Ipv4Addr> = after.iter().map(|h| h.1).collect();
    assert_eq!((ips.len(), after.len()), (pool_size, pool_size));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_creates_on_the_memory_store(c in cases()) {
        runtime().block_on(async move { run(App::new().await, c).await });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_creates_on_the_sqlite_file_store(c in cases()) {
        runtime().block_on(async move { run(App::sqlite().await, c).await });
    }
}

/// Explicit requests for one address at once: exactly one wins, the rest get IpAddressInUse.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_for_one_address_has_one_winner() {
    for app in [App::new().await, App::sqlite().await] {
        let p1 = app.as_("p1", "member");
        let net = p1.net("n").await;
        p1.subnet(&net, "10.0.0.0/28", json!({})).await;
        let mut tasks = vec![];
        for _ in 0..16 {
            let (p, net) = (p1.clone(), net.clone());
            tasks.push(tokio::spawn(async move {
                p.post(
                    "/v2.0/ports",
                    json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.9"}]}}),
                )
                .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            let (s, b) = t.await.unwrap();
            match s {
                StatusCode::CREATED => wins += 1,
                _ => common::assert_error(&(s, b), 409, "IpAddressInUse"),
            }
        }
        assert_eq!(wins, 1);
    }
}
