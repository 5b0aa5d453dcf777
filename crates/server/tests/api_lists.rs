//! List queries: filters (ANDed keys, ORed repeats, converted booleans, port `fixed_ips`),
//! `fields`, `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse` with `*_links`, and the
//! `.json` suffix.

mod common;

use axum::http::StatusCode;
use common::{App, Caller, assert_error, assert_error_msg, id, ids};
use serde_json::{Value, json};

async fn named(p: &Caller, names: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for n in names {
        out.push(p.net(n).await);
    }
    out
}

fn names(b: &Value) -> Vec<String> {
    b["networks"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn filters_and_within_keys_or_across_repeats() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let ids_ = named(&p1, &["a", "b", "c"]).await;
    p1.put(&format!("/v2.0/networks/{}", ids_[1]), json!({"network": {"admin_state_up": false}})).await;
    let (s, b) = p1.get("/v2.0/networks?name=a&name=b&sort_key=name").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(names(&b), ["a", "b"]);
    let (_, b) = p1.get("/v2.0/networks?name=a&name=b&admin_state_up=True").await;
    assert_eq!(names(&b), ["a"]);
    let (_, b) = p1.get("/v2.0/networks?admin_state_up=false").await;
    assert_eq!(names(&b), ["b"]);
    let (_, b) = p1.get("/v2.0/networks?admin_state_up=0").await;
    assert_eq!(names(&b), ["b"]);
    let (_, b) = p1.get(&format!("/v2.0/networks?id={}&id={}&sort_key=name", ids_[2], ids_[0])).await;
    assert_eq!(names(&b), ["a", "c"]);
    let (_, b) = p1.get("/v2.0/networks?name=zzz").await;
    assert_eq!(b, json!({"networks": []}));
    let (_, b) = p1.get("/v2.0/networks?tenant_id=p1").await;
    assert_eq!(names(&b).len(), 3);
}

#[tokio::test]
async fn bad_filters_are_400() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let r = p1.get("/v2.0/networks?bogus=1").await;
    assert_error_msg(&r, 400, "HTTPBadRequest", "[bogus] is invalid attribute for filtering");
    let r = p1.get("/v2.0/networks?admin_state_up=maybe").await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1.get("/v2.0/networks?mtu=big").await;
    assert_error(&r, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn empty_string_filter_matches_empty_values() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let bare = id(&p1.port(&n, json!({})).await);
    p1.port(&n, json!({"device_id": "vm"})).await;
    let (_, b) = p1.get("/v2.0/ports?device_id=").await;
    assert_eq!(ids(&b, "ports"), [bare]);
}

#[tokio::test]
async fn port_fixed_ips_filters() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s1 = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let s2 = id(&p1.subnet(&n, "10.0.1.0/24", json!({})).await);
    let a = id(&p1.port(&n, json!({"fixed_ips": [{"ip_address": "10.0.0.5"}]})).await);
    let b_ = id(&p1.port(&n, json!({"fixed_ips": [{"subnet_id": s2}]})).await);
    let (_, b) = p1.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.5").await;
    assert_eq!(ids(&b, "ports"), std::slice::from_ref(&a));
    let (_, b) = p1.get(&format!("/v2.0/ports?fixed_ips=subnet_id%3D{s2}")).await;
    assert_eq!(ids(&b, "ports"), [b_]);
    let (_, b) = p1.get(&format!("/v2.0/ports?fixed_ips=subnet_id%3D{s1}")).await;
    assert_eq!(ids(&b, "ports"), [a]);
    let r = p1.get("/v2.0/ports?fixed_ips=mac%3Dx").await;
    assert_error(&r, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn fields_select_exactly_the_requested_keys() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let (_, b) = p1.get("/v2.0/networks?fields=id&fields=name").await;
    let item = b["networks"][0].as_object().unwrap();
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    assert_eq!(keys, ["id", "name"]);
    let (s, b) = p1.get(&format!("/v2.0/networks/{n}?fields=name")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, json!({"network": {"name": "n"}}));
    // Comma-separated is accepted too.
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}?fields=name,status")).await;
    assert_eq!(b, json!({"network": {"name": "n", "status": "ACTIVE"}}));
}

#[tokio::test]
async fn sorting_by_several_keys() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    named(&p1, &["b", "a", "c", "a"]).await;
    let (_, b) = p1.get("/v2.0/networks?sort_key=name&sort_dir=desc").await;
    assert_eq!(names(&b), ["c", "b", "a", "a"]);
    let (_, b) = p1.get("/v2.0/networks?sort_key=name&sort_dir=asc&sort_key=id&sort_dir=desc").await;
    assert_eq!(names(&b), ["a", "a", "b", "c"]);
    let ids_ = ids(&b, "networks");
    assert!(ids_[0] > ids_[1], "ties broken by id descending: {ids_:?}");
    let r = p1.get("/v2.0/networks?sort_key=name&sort_key=id&sort_dir=asc").await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1.get("/v2.0/networks?sort_key=name&sort_dir=up").await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1.get("/v2.0/networks?sort_key=subnets").await;
    assert_error(&r, 400, "HTTPBadRequest");
}

fn link<'a>(b: &'a Value, coll: &str, rel: &str) -> Option<&'a str> {
    b.get(format!("{coll}_links"))?.as_array()?.iter().find(|l| l["rel"] == rel)?["href"].as_str()
}

/// The path and query of a link, for the next request.
fn path_of(href: &str) -> String {
    let u = url::Url::parse(href).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

#[tokio::test]
async fn pagination_walks_forward_and_back_with_links() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    named(&p1, &["n0", "n1", "n2", "n3", "n4"]).await;
    let (_, all) = p1.get("/v2.0/networks?sort_key=name").await;
    let all = ids(&all, "networks");
    let (_, b) = p1.get("/v2.0/networks?sort_key=name&limit=2").await;
    assert_eq!(names(&b), ["n0", "n1"]);
    assert!(link(&b, "networks", "previous").is_none(), "first page has no previous: {b}");
    let next = link(&b, "networks", "next").expect("next link");
    let q: Vec<(String, String)> = url::Url::parse(next).unwrap().query_pairs().into_owned().collect();
    assert!(q.contains(&("limit".into(), "2".into())), "{next}");
    assert!(q.contains(&("marker".into(), all[1].clone())), "{next}");
    assert!(q.contains(&("sort_key".into(), "name".into())), "{next}");
    let (_, b2) = p1.get(&path_of(next)).await;
    assert_eq!(names(&b2), ["n2", "n3"]);
    let prev = link(&b2, "networks", "previous").expect("previous link");
    let q: Vec<(String, String)> = url::Url::parse(prev).unwrap().query_pairs().into_owned().collect();
    assert!(q.contains(&("marker".into(), all[2].clone())), "{prev}");
    assert!(q.contains(&("page_reverse".into(), "True".into())), "{prev}");
    let (_, back) = p1.get(&path_of(prev)).await;
    assert_eq!(names(&back), ["n0", "n1"]);
    let (_, b3) = p1.get(&path_of(link(&b2, "networks", "next").unwrap())).await;
    assert_eq!(names(&b3), ["n4"]);
    assert!(link(&b3, "networks", "next").is_none(), "last page has no next: {b3}");
    assert!(link(&b3, "networks", "previous").is_some());
    // limit=0 means no paging.
    let (_, b) = p1.get("/v2.0/networks?limit=0").await;
    assert_eq!(names(&b).len(), 5);
    assert!(b.get("networks_links").is_none());
    // An unknown marker is a 404 of the collection's kind.
    let r = p1.get("/v2.0/networks?limit=2&marker=nope").await;
    assert_error(&r, 404, "NetworkNotFound");
    let r = p1.get("/v2.0/networks?limit=-1").await;
    assert_error(&r, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn pages_of_a_descending_sort() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    named(&p1, &["n0", "n1", "n2"]).await;
    let (_, b) = p1.get("/v2.0/networks?sort_key=name&sort_dir=desc&limit=2").await;
    assert_eq!(names(&b), ["n2", "n1"]);
    let (_, b) = p1.get(&path_of(link(&b, "networks", "next").unwrap())).await;
    assert_eq!(names(&b), ["n0"]);
}

#[tokio::test]
async fn json_suffix_is_ignored() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let (s, b) = p1.get("/v2.0/networks.json?name=n").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&b, "networks"), std::slice::from_ref(&n));
    let (s, b) = p1.get(&format!("/v2.0/networks/{n}.json")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["network"]["id"], n.as_str());
    let (s, _) = p1.post("/v2.0/networks.json", json!({"network": {"name": "m"}})).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn page_reverse_without_marker_gives_the_last_page() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    named(&p1, &["n0", "n1", "n2"]).await;
    let (_, b) = p1.get("/v2.0/networks?sort_key=name&limit=2&page_reverse=True").await;
    assert_eq!(names(&b), ["n1", "n2"]);
    assert!(link(&b, "networks", "next").is_none(), "{b}");
    let (_, b) = p1.get(&path_of(link(&b, "networks", "previous").expect("previous"))).await;
    assert_eq!(names(&b), ["n0"]);
}

#[tokio::test]
async fn project_filters_and_field_selection_on_lists() {
    let app = App::new().await;
    let admin = app.admin();
    for p in ["p1", "p2", "p3"] {
        admin.network(json!({"name": p, "project_id": p})).await;
    }
    let (_, b) = admin.get("/v2.0/networks?project_id=p1&project_id=p3&sort_key=name&fields=name").await;
    assert_eq!(b, json!({"networks": [{"name": "p1"}, {"name": "p3"}]}));
    let (_, b) = admin.get("/v2.0/networks?tenant_id=p2&fields=tenant_id").await;
    assert_eq!(b, json!({"networks": [{"tenant_id": "p2"}]}));
}

#[tokio::test]
async fn changed_since_filters_on_updated_at() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.network(json!({"name": "n"})).await;
    let at = n["updated_at"].as_str().unwrap().to_string();
    let (_, b) = p1.get(&format!("/v2.0/networks?changed_since={at}")).await;
    assert_eq!(ids(&b, "networks"), [id(&n)]);
    let net = id(&n);
    p1.port(&net, json!({})).await;
    let (_, b) = p1.get("/v2.0/ports?changed_since=2000-01-01T00:00:00").await;
    assert_eq!(b["ports"].as_array().unwrap().len(), 1);
    let (_, b) = p1.get("/v2.0/networks?changed_since=2999-01-01T00:00:00Z").await;
    assert_eq!(b, json!({"networks": []}));
    let r = p1.get("/v2.0/subnets?changed_since=yesterday").await;
    assert_error_msg(
        &r,
        400,
        "InvalidInput",
        "Invalid input for operation: The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SS.",
    );
}
