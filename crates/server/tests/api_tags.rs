//! The tag sub-resource and the tag list filters (`standard-attr-tag`).

mod common;

use axum::http::StatusCode;
use common::{App, assert_error, id, ids};
use serde_json::json;

#[tokio::test]
async fn tag_sub_resource_api() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let base = format!("/v2.0/networks/{n}/tags");
    let (s, b) = p1.put(&base, json!({"tags": ["b", "a"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut t: Vec<String> = serde_json::from_value(b["tags"].clone()).unwrap();
    t.sort();
    assert_eq!(t, ["a", "b"]);
    let (s, _) = p1.send(axum::http::Method::PUT, &format!("{base}/c"), None, &[]).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = p1.get(&format!("{base}/c")).await;
    assert_eq!((s, b), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    let r = p1.get(&format!("{base}/zz")).await;
    assert_error(&r, 404, "TagNotFound");
    let (s, b) = p1.get(&base).await;
    assert_eq!(s, StatusCode::OK);
    let mut t: Vec<String> = serde_json::from_value(b["tags"].clone()).unwrap();
    t.sort();
    assert_eq!(t, ["a", "b", "c"]);
    // The resource shows its tags, and each change bumped its revision.
    let (_, b) = p1.get(&format!("/v2.0/networks/{n}")).await;
    assert_eq!(b["network"]["tags"].as_array().unwrap().len(), 3);
    assert!(b["network"]["revision_number"].as_i64().unwrap() >= 3, "{b}");
    let (s, _) = p1.delete(&format!("{base}/a")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = p1.post(&base, json!({"tags": ["d"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = p1.get(&base).await;
    let mut t: Vec<String> = serde_json::from_value(b["tags"].clone()).unwrap();
    t.sort();
    assert_eq!(t, ["b", "c", "d"]);
    let (s, _) = p1.delete(&base).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, b) = p1.get(&base).await;
    assert_eq!(b, json!({"tags": []}));
}

#[tokio::test]
async fn tags_on_subnets_and_ports_too() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let s = id(&p1.subnet(&n, "10.0.0.0/24", json!({})).await);
    let p = id(&p1.port(&n, json!({})).await);
    for path in [format!("/v2.0/subnets/{s}/tags"), format!("/v2.0/ports/{p}/tags")] {
        let (st, b) = p1.put(&path, json!({"tags": ["x"]})).await;
        assert_eq!(st, StatusCode::OK, "{path}: {b}");
        assert_eq!(b, json!({"tags": ["x"]}));
    }
    let (_, b) = p1.get("/v2.0/ports?tags=x").await;
    assert_eq!(ids(&b, "ports"), [p]);
}

#[tokio::test]
async fn bad_tags_and_unknown_resources() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let base = format!("/v2.0/networks/{n}/tags");
    let r = p1.put(&base, json!({"tags": ["a".repeat(256)]})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let r = p1.put(&base, json!({"tags": many})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1.put(&base, json!({"tags": "a"})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    let r = p1.put("/v2.0/networks/nope/tags", json!({"tags": ["a"]})).await;
    assert_error(&r, 404, "NetworkNotFound");
    // Tags are read-only in resource bodies.
    let r = p1.post("/v2.0/networks", json!({"network": {"tags": ["a"]}})).await;
    assert_error(&r, 400, "HTTPBadRequest");
    assert_eq!(r.1["NeutronError"]["message"], "Attribute 'tags' not allowed in POST");
}

#[tokio::test]
async fn tag_filters() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let mut nets = vec![];
    for (name, tags) in [("ab", vec!["a", "b"]), ("a", vec!["a"]), ("c", vec!["c"]), ("none", vec![])] {
        let n = p1.net(name).await;
        p1.put(&format!("/v2.0/networks/{n}/tags"), json!({ "tags": tags })).await;
        nets.push(n);
    }
    let names = |b: &serde_json::Value| {
        let mut v: Vec<String> = b["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let (_, b) = p1.get("/v2.0/networks?tags=a,b").await;
    assert_eq!(names(&b), ["ab"]);
    let (_, b) = p1.get("/v2.0/networks?tags-any=b,c").await;
    assert_eq!(names(&b), ["ab", "c"]);
    let (_, b) = p1.get("/v2.0/networks?not-tags=a,b").await;
    assert_eq!(names(&b), ["a", "c", "none"]);
    let (_, b) = p1.get("/v2.0/networks?not-tags-any=a,c").await;
    assert_eq!(names(&b), ["none"]);
    let (_, b) = p1.get("/v2.0/networks?tags=a&name=a").await;
    assert_eq!(names(&b), ["a"]);
}

#[tokio::test]
async fn readers_and_other_projects_cannot_tag() {
    let app = App::new().await;
    let p1 = app.as_("p1", "member");
    let n = p1.net("n").await;
    let base = format!("/v2.0/networks/{n}/tags");
    let r = app.as_("p1", "reader").put(&base, json!({"tags": ["a"]})).await;
    assert_error(&r, 403, "PolicyNotAuthorized");
    let (s, _) = app.as_("p1", "reader").get(&base).await;
    assert_eq!(s, StatusCode::OK);
    let r = app.as_("p2", "member").put(&base, json!({"tags": ["a"]})).await;
    assert_error(&r, 404, "NetworkNotFound");
}
