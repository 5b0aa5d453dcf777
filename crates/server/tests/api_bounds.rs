//! Every list query and every bulk request is bounded: repeated sort keys, huge tag filters,
//! huge `limit`s and oversized bulk creates get a correct answer or a 4xx in NeutronError shape,
//! never a 5xx or a statement whose cost grows with the query string.

mod common;

use common::{App, Caller, assert_error, id, ids};
use neutrino_server::config::Config;
use neutrino_server::store::Store;
use serde_json::json;

/// The application with URIs up to 1 MiB accepted (the `[http]` default is 8 KiB), so that
/// the bounds under test are the query's own, whatever an operator allows on the wire.
async fn long_uris() -> App {
    let mut config = Config::default();
    config.http.max_uri_bytes = 1 << 20;
    config.http.max_header_bytes = 2 << 20;
    App::with_config(config, Store::memory(), None).await
}

async fn six_networks() -> (App, Caller, Vec<String>) {
    let app = long_uris().await;
    let p1 = app.as_("p1", "member");
    let mut nets = vec![];
    for name in ["f", "a", "e", "b", "d", "c"] {
        nets.push(p1.net(name).await);
    }
    (app, p1, nets)
}

fn repeat(pair: &str, n: usize) -> String {
    vec![pair; n].join("&")
}

#[tokio::test]
async fn repeated_sort_keys_cost_one_key_each() {
    let (_app, p1, _) = six_networks().await;
    let (s, all) = p1.get("/v2.0/networks?sort_key=name&sort_dir=asc").await;
    assert_eq!(s, 200, "{all}");
    let names: Vec<&str> =
        all["networks"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e", "f"]);
    let by_name = ids(&all, "networks");
    // With a marker: 250 and 300 repeats once gave 6-8 s and then a 500 (too many SQL variables).
    for n in [250, 300] {
        let q = format!(
            "/v2.0/networks?{}&{}&limit=2&marker={}",
            repeat("sort_key=name", n),
            repeat("sort_dir=asc", n),
            by_name[1]
        );
        let (s, page) = p1.get(&q).await;
        assert_eq!(s, 200, "{n} sort keys: {page}");
        assert_eq!(ids(&page, "networks"), by_name[2..4], "{n} sort keys");
    }
    // Without a marker: 2,000 once gave a 500 (too many terms in ORDER BY).
    let q = format!("/v2.0/networks?{}&{}", repeat("sort_key=name", 499), repeat("sort_dir=desc", 499));
    let (s, page) = p1.get(&q).await;
    assert_eq!(s, 200, "{page}");
    let mut reversed = by_name.clone();
    reversed.reverse();
    assert_eq!(ids(&page, "networks"), reversed);
    // tenant_id and project_id are one column: sorting on both is sorting on it once.
    let (s, page) = p1.get("/v2.0/networks?sort_key=tenant_id&sort_key=project_id&sort_key=name").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(ids(&page, "networks"), by_name);
}

#[tokio::test]
async fn tag_filters_of_any_size_answer() {
    let (_app, p1, nets) = six_networks().await;
    for t in ["red", "blue"] {
        let (s, b) = p1.put(&format!("/v2.0/networks/{}/tags/{t}", nets[0]), json!(null)).await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, b) = p1.put(&format!("/v2.0/networks/{}/tags/red", nets[1]), json!(null)).await;
    assert_eq!(s, 201, "{b}");
    // 990 tags in one filter once gave a 500 (expression tree is too large). Values are at most
    // 4 KiB, so the list comes in a few repeats of the key, which add up.
    let many: Vec<String> = (0..990).map(|i| format!("t{i}")).collect();
    let list =
        |key: &str| many.chunks(400).map(|c| format!("{key}={}", c.join(","))).collect::<Vec<_>>().join("&");
    let any = format!("/v2.0/networks?tags-any=red&{}", list("tags-any"));
    let (s, b) = p1.get(&any).await;
    assert_eq!(s, 200, "{b}");
    let mut want = vec![nets[0].clone(), nets[1].clone()];
    want.sort();
    let mut got = ids(&b, "networks");
    got.sort();
    assert_eq!(got, want);
    // Each tag filter keeps its meaning.
    let (_, b) = p1.get("/v2.0/networks?tags=red,blue").await;
    assert_eq!(ids(&b, "networks"), vec![nets[0].clone()]);
    let (_, b) = p1.get(&format!("/v2.0/networks?tags=red&{}", list("tags"))).await;
    assert_eq!(ids(&b, "networks"), Vec::<String>::new());
    let (_, b) = p1.get("/v2.0/networks?not-tags=red,blue").await;
    assert_eq!(ids(&b, "networks").len(), 5);
    let (_, b) = p1.get(&format!("/v2.0/networks?not-tags-any=red&{}", list("not-tags-any"))).await;
    assert_eq!(ids(&b, "networks").len(), 4);
    // Repeating a tag does not change the count of distinct tags it must have.
    let (_, b) = p1.get("/v2.0/networks?tags=red,red&tags=red").await;
    assert_eq!(ids(&b, "networks").len(), 2);
    // Beyond the bound on filter values: a 400, not a 500.
    let too_many: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let list =
        too_many.chunks(400).map(|c| format!("tags-any={}", c.join(","))).collect::<Vec<_>>().join("&");
    let r = p1.get(&format!("/v2.0/networks?{list}")).await;
    assert_error(&r, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn query_strings_are_bounded() {
    let (_app, p1, nets) = six_networks().await;
    // 1,000 parameters pass; 1,001 are refused.
    let ok = format!("/v2.0/networks?{}", repeat("fields=id", 1000));
    let (s, b) = p1.get(&ok).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["networks"][0].as_object().unwrap().len(), 1, "{b}");
    let r = p1.get(&format!("/v2.0/networks?{}", repeat("fields=id", 1001))).await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1.get(&format!("/v2.0/networks/{}?{}", nets[0], repeat("fields=id", 1001))).await;
    assert_error(&r, 400, "HTTPBadRequest");
    // One over-long value.
    let r = p1.get(&format!("/v2.0/networks?name={}", "x".repeat(5000))).await;
    assert_error(&r, 400, "HTTPBadRequest");
    // Many values of one filter are one IN list.
    let names: Vec<String> = (0..999).map(|i| format!("name=n{i}")).collect();
    let (s, b) = p1.get(&format!("/v2.0/networks?name=a&{}", names.join("&"))).await;
    assert_eq!((s.as_u16(), ids(&b, "networks").len()), (200, 1), "{b}");
    let r = p1.get(&format!("/v2.0/agents?{}", repeat("host=x", 1001))).await;
    assert_error(&r, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn fixed_ips_filters_are_one_condition() {
    let app = long_uris().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let port = p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.7"}]})).await;
    let _other = p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.8"}]})).await;
    let subs: Vec<String> = (0..999).map(|i| format!("fixed_ips=ip_address_substr%3D.{i}9")).collect();
    let (st, b) = p1.get(&format!("/v2.0/ports?fixed_ips=ip_address_substr%3D.7&{}", subs.join("&"))).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(ids(&b, "ports"), vec![id(&port)]);
    // Values of one kind are alternatives; kinds must all match (on the same address).
    let (_, b) = p1.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.7&fixed_ips=ip_address%3D10.0.0.8").await;
    assert_eq!(ids(&b, "ports").len(), 2, "{b}");
    let (_, b) =
        p1.get(&format!("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.7&fixed_ips=subnet_id%3D{s}")).await;
    assert_eq!(ids(&b, "ports"), vec![id(&port)]);
    let (_, b) = p1.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.7&fixed_ips=subnet_id%3Dnone").await;
    assert_eq!(ids(&b, "ports"), Vec::<String>::new());
}

#[tokio::test]
async fn huge_limits_mean_all() {
    let (_app, p1, nets) = six_networks().await;
    // i64::MAX once gave a 500; u64::MAX wrapped to an empty page; Python's int() takes any size.
    for limit in [
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "123456789012345678901234567890",
    ] {
        let (s, b) = p1.get(&format!("/v2.0/networks?limit={limit}")).await;
        assert_eq!(s, 200, "limit={limit}: {b}");
        assert_eq!(ids(&b, "networks").len(), nets.len(), "limit={limit}: {b}");
        assert!(
            b.get("networks_links").is_none_or(|l| l.as_array().unwrap().iter().all(|l| l["rel"] != "next"))
        );
    }
    let (s, b) = p1.get("/v2.0/networks?limit=2").await;
    assert_eq!((s.as_u16(), ids(&b, "networks").len()), (200, 2));
    for bad in ["-1", "abc", "", "1.5", "0x10"] {
        let r = p1.get(&format!("/v2.0/networks?limit={bad}")).await;
        assert_error(&r, 400, "HTTPBadRequest");
    }
}

async fn bulk_app(max: usize) -> App {
    let mut config = Config::default();
    config.server.max_bulk_items = max;
    App::with_config(config, Store::memory(), None).await
}

#[tokio::test]
async fn bulk_creates_are_bounded() {
    let app = bulk_app(5).await;
    let p1 = app.as_("p1", "member");
    let items =
        |n: usize| json!({"networks": (0..n).map(|i| json!({"name": format!("n{i}")})).collect::<Vec<_>>()});
    let r = p1.post("/v2.0/networks", items(6)).await;
    assert_error(&r, 413, "HTTPRequestEntityTooLarge");
    let (_, b) = p1.get("/v2.0/networks").await;
    assert_eq!(ids(&b, "networks").len(), 0, "a refused bulk creates nothing");
    let (s, b) = p1.post("/v2.0/networks", items(5)).await;
    assert_eq!(s, 201, "{b}");
    let n = id(&b["networks"][0]);
    let ports = json!({"ports": (0..6).map(|_| json!({"network_id": n})).collect::<Vec<_>>()});
    assert_error(&p1.post("/v2.0/ports", ports).await, 413, "HTTPRequestEntityTooLarge");
    let (_, b) = p1.get("/v2.0/ports").await;
    assert_eq!(ids(&b, "ports").len(), 0);
}
