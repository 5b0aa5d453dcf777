//! OpenAPI operations of the Networking API v2.0 as routed in `http/{resources,agents}.rs`:
//! discovery, extensions, the networks/subnets/ports collections (list query parameters from the
//! attribute maps: filters, `fields`, sorting, pagination, tag and `changed_since` filters),
//! their members with `If-Match`, their tags, and `/v2.0/agents`.

use neutrino_model::attrs::FilterKind;
use serde_json::{Map, Value, json};

use super::schemas::{self, RESOURCES, Resource};
use super::{errors, json_response, op, schema_ref};
use crate::service::query::{CHANGED_SINCE, TAG_FILTERS};

/// Error statuses every authenticated networking operation may answer.
pub(super) const AUTHED: &[u16] = &[401, 414, 431, 503];

pub(super) fn with(extra: &[u16]) -> Vec<u16> {
    let mut v = AUTHED.to_vec();
    v.extend_from_slice(extra);
    v.sort_unstable();
    v
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A query parameter that may be repeated (`?k=a&k=b`).
fn repeated(name: &str, items: Value, description: &str) -> Value {
    let mut q = query(name, json!({"type": "array", "items": items}), description);
    q["style"] = json!("form");
    q["explode"] = json!(true);
    q
}

pub(super) fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
        "schema": {"type": "string"}})
}

fn if_match() -> Value {
    json!({"name": "If-Match", "in": "header", "required": false,
        "description": "`revision_number=N`: act only if the resource is at revision N (412 otherwise; \
            `revision-if-match`). Other forms are ignored.",
        "schema": {"type": "string", "pattern": "^revision_number=[0-9]+$"}, "example": "revision_number=1"})
}

/// The names a response object may have, for `fields=`.
fn field_names(r: &Resource) -> Vec<String> {
    let s = schemas::resource(r);
    s["properties"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn fields_param(r: &Resource) -> Value {
    repeated(
        "fields",
        json!({"type": "string", "enum": field_names(r)}),
        "Return only these attributes (repeat, or separate with commas).",
    )
}

/// Every query parameter of `GET /v2.0/{plural}`.
fn list_params(r: &Resource) -> Vec<Value> {
    let mut out = vec![];
    for a in r.attrs.iter().filter(|a| a.filter != FilterKind::None && !TAG_FILTERS.contains(&a.name)) {
        let item = match (r.singular, a.name, a.filter) {
            ("port", "fixed_ips", _) => json!({"type": "string", "example": "ip_address=10.0.0.5"}),
            (_, _, FilterKind::Bool) => json!({"type": "boolean"}),
            (_, _, FilterKind::Int) => json!({"type": "integer", "format": "int64"}),
            _ => json!({"type": "string"}),
        };
        let what = if a.name == "fixed_ips" {
            "Filter: `ip_address=A`, `subnet_id=S` or `ip_address_substr=P`; repeated values are ORed."
        } else {
            "Filter: equal to one of the given values (repeat the key to OR)."
        };
        out.push(repeated(a.name, item, what));
    }
    out.push(fields_param(r));
    let sortable: Vec<&str> = r.attrs.iter().filter(|a| a.sort).map(|a| a.name).collect();
    out.push(repeated(
        "sort_key",
        json!({"type": "string", "enum": sortable}),
        "Sort by these attributes, in order (as many as `sort_dir`s, if any are given).",
    ));
    out.push(repeated("sort_dir", json!({"type": "string", "enum": ["asc", "desc"]}), "One per `sort_key`."));
    out.push(query(
        "limit",
        json!({"type": "integer", "format": "int64", "minimum": 0}),
        "Page size (0: no paging); capped by `pagination_max_limit`.",
    ));
    out.push(query("marker", json!({"type": "string"}), "Id of the last item of the previous page."));
    out.push(query("page_reverse", json!({"type": "boolean"}), "Page backwards from the marker."));
    for (name, what) in TAG_FILTERS.iter().zip([
        "Has all these tags (comma-separated).",
        "Has any of these tags (comma-separated).",
        "Does not have all of these tags (comma-separated).",
        "Has none of these tags (comma-separated).",
    ]) {
        out.push(repeated(name, json!({"type": "string"}), what));
    }
    out.push(query(
        CHANGED_SINCE,
        json!({"type": "string", "format": "date-time"}),
        "Only resources updated at or after this time (ISO 8601; naive times are UTC).",
    ));
    out
}

pub(super) fn body(schema: Value, example: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema, "example": example}}})
}

pub(super) fn no_content(description: &str) -> Value {
    json!({"description": description})
}

fn create_example(r: &Resource) -> Value {
    let net = "a87cc70a-3e15-4acf-8205-9b711a3531b7";
    match r.singular {
        "network" => json!({"network": {"name": "net1"}}),
        "subnet" => json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.0.0.0/24"}}),
        "port" => json!({"port": {"network_id": net}}),
        "security_group" => json!({"security_group": {"name": "web"}}),
        "router" => json!({"router": {"name": "r1", "admin_state_up": true}}),
        "floatingip" => json!({"floatingip": {"floating_network_id": net}}),
        _ => {
            json!({"security_group_rule": {"security_group_id": net, "direction": "ingress", "protocol": "tcp",
            "port_range_min": 22, "port_range_max": 22}})
        }
    }
}

fn collection(r: &Resource) -> Value {
    let t = r.title;
    let item = schema_ref(t);
    let list = op(
        &format!("list{t}s"),
        &format!("List {}", r.plural),
        r.path,
        list_params(r),
        None,
        json_response(
            "200",
            "The page of resources.",
            schemas::list_body(r, item.clone()),
            errors(&with(&[400, 404])),
        ),
    );
    let one = json!({"type": "object", "properties": {r.singular: item.clone(), r.plural: {"type": "array", "items": item}}});
    let create = op(
        &format!("create{t}"),
        &format!("Create one {} or several (bulk, all or nothing)", r.singular),
        r.path,
        vec![],
        Some(body(schema_ref(&format!("{t}Create")), create_example(r))),
        json_response(
            "201",
            "Created: `{singular}` for one, `{plural}` for a bulk request.",
            one,
            errors(&with(&[400, 403, 404, 409, 413])),
        ),
    );
    json!({"get": list, "post": create})
}

fn member(r: &Resource, id: &str) -> Value {
    let t = r.title;
    let wrapped = schemas::wrapped(r.singular, schema_ref(t));
    let idp = path_param(id, &format!("The {}'s id.", r.singular));
    let show = op(
        &format!("show{t}"),
        &format!("Show a {}", r.singular),
        r.path,
        vec![idp.clone(), fields_param(r)],
        None,
        json_response("200", "The resource.", wrapped.clone(), errors(&with(&[404]))),
    );
    let update = op(
        &format!("update{t}"),
        &format!("Update a {}", r.singular),
        r.path,
        vec![idp.clone(), if_match()],
        Some(body(
            schemas::wrapped(r.singular, schema_ref(&format!("{t}Update"))),
            json!({r.singular: {"description": "updated"}}),
        )),
        json_response(
            "200",
            "The updated resource.",
            wrapped,
            errors(&with(&[400, 403, 404, 409, 412, 413])),
        ),
    );
    let mut del_resp = errors(&with(&[400, 403, 404, 409, 412]));
    del_resp.insert("204".into(), no_content("Deleted."));
    let delete = op(
        &format!("delete{t}"),
        &format!("Delete a {}", r.singular),
        r.path,
        vec![idp, if_match()],
        None,
        del_resp,
    );
    if r.updatable {
        json!({"get": show, "put": update, "delete": delete})
    } else {
        json!({"get": show, "delete": delete})
    }
}

fn tags(r: &Resource, id: &str) -> (Value, Value) {
    let t = r.title;
    let idp = path_param(id, &format!("The {}'s id.", r.singular));
    let tags_ok = |d: &str, codes: &[u16]| json_response("200", d, schema_ref("Tags"), errors(&with(codes)));
    let tags_in = || Some(body(schema_ref("Tags"), json!({"tags": ["red", "blue"]})));
    let empty = |code: &str, d: &str, codes: &[u16]| {
        let mut m = errors(&with(codes));
        m.insert(code.into(), no_content(d));
        m
    };
    let p = vec![idp.clone()];
    let all = json!({
        "get": op(&format!("list{t}Tags"), "List the tags", r.path, p.clone(), None, tags_ok("The tags.", &[404])),
        "put": op(&format!("replace{t}Tags"), "Replace all the tags", r.path, p.clone(), tags_in(),
            tags_ok("The tags now.", &[400, 403, 404, 413])),
        "post": op(&format!("add{t}Tags"), "Add tags", r.path, p.clone(), tags_in(),
            tags_ok("The tags now.", &[400, 403, 404, 413])),
        "delete": op(&format!("clear{t}Tags"), "Remove all the tags", r.path, p, None,
            empty("204", "Removed.", &[403, 404])),
    });
    let tp = json!({"name": "tag", "in": "path", "required": true, "schema": schemas::tag()});
    let p = vec![idp, tp];
    let one = json!({
        "get": op(&format!("check{t}Tag"), "Check a tag", r.path, p.clone(), None,
            empty("204", "The resource has the tag (404 `TagNotFound` otherwise).", &[404])),
        "put": op(&format!("add{t}Tag"), "Add one tag", r.path, p.clone(), None,
            empty("201", "Added.", &[400, 403, 404])),
        "delete": op(&format!("remove{t}Tag"), "Remove one tag", r.path, p, None,
            empty("204", "Removed.", &[403, 404])),
    });
    (all, one)
}

fn agents() -> (Value, Value) {
    let filters = [
        ("id", "string"),
        ("agent_type", "string"),
        ("binary", "string"),
        ("host", "string"),
        ("topic", "string"),
        ("description", "string"),
        ("availability_zone", "string"),
        ("admin_state_up", "boolean"),
        ("alive", "boolean"),
    ];
    let mut params: Vec<Value> =
        filters.iter().map(|(n, t)| repeated(n, json!({"type": t}), "Filter: equal to the value.")).collect();
    params.push(repeated("fields", json!({"type": "string"}), "Accepted and ignored."));
    let list_body = json!({"type": "object", "required": ["agents"],
        "properties": {"agents": {"type": "array", "items": schema_ref("Agent")}}});
    let list = op(
        "listAgents",
        "List agents (admins; others get an empty list)",
        "agents",
        params,
        None,
        json_response("200", "The agents.", list_body, errors(AUTHED)),
    );
    let one = schemas::wrapped("agent", schema_ref("Agent"));
    let idp = vec![path_param("agent_id", "The agent's id.")];
    let show = op(
        "showAgent",
        "Show an agent (admins)",
        "agents",
        idp.clone(),
        None,
        json_response("200", "The agent.", one.clone(), errors(&with(&[404]))),
    );
    let update = op(
        "updateAgent",
        "Update an agent's admin_state_up or description (admins)",
        "agents",
        idp.clone(),
        Some(body(
            schemas::wrapped("agent", schema_ref("AgentUpdate")),
            json!({"agent": {"description": "rack 4"}}),
        )),
        json_response("200", "The agent.", one, errors(&with(&[400, 404, 413]))),
    );
    let mut del = errors(&with(&[404]));
    del.insert("204".into(), no_content("Deleted."));
    let delete = op("deleteAgent", "Delete an agent (admins)", "agents", idp, None, del);
    (json!({"get": list}), json!({"get": show, "put": update, "delete": delete}))
}

fn discovery() -> Map<String, Value> {
    let mut p = Map::new();
    let public = |mut o: Value| {
        o["security"] = json!([]);
        o
    };
    p.insert(
        "/".into(),
        json!({"get": public(op("listVersions", "API versions (no token needed)", "discovery", vec![], None,
            json_response("200", "The versions.", schema_ref("Versions"), errors(&[414, 431]))))}),
    );
    p.insert(
        "/openapi.json".into(),
        json!({"get": public(op("getOpenApi", "This document (no token needed)", "discovery", vec![], None,
            json_response("200", "The OpenAPI document.", json!({"type": "object"}), errors(&[414, 431]))))}),
    );
    p.insert(
        "/v2.0/".into(),
        json!({"get": op("listResources", "The resources of v2.0", "discovery", vec![], None,
            json_response("200", "The resources.", schema_ref("Resources"), errors(AUTHED)))}),
    );
    let exts = json!({"type": "object", "required": ["extensions"],
        "properties": {"extensions": {"type": "array", "items": schema_ref("Extension")}}});
    p.insert(
        "/v2.0/extensions".into(),
        json!({"get": op("listExtensions", "The extensions implemented", "discovery", vec![], None,
            json_response("200", "The extensions.", exts, errors(AUTHED)))}),
    );
    let alias = json!({"name": "alias", "in": "path", "required": true, "schema": {"type": "string"},
        "example": "tag"});
    p.insert(
        "/v2.0/extensions/{alias}".into(),
        json!({"get": op("showExtension", "One extension (404 `ExtensionNotFound` if not implemented)",
            "discovery", vec![alias], None,
            json_response("200", "The extension.", schemas::wrapped("extension", schema_ref("Extension")),
                errors(&with(&[404]))))}),
    );
    p
}

/// The networking paths.
pub fn paths() -> Map<String, Value> {
    let mut p = discovery();
    for r in &RESOURCES {
        let id = format!("{}_id", r.singular);
        p.insert(format!("/v2.0/{}", r.path), collection(r));
        p.insert(format!("/v2.0/{}/{{{id}}}", r.path), member(r, &id));
        if !r.updatable {
            continue;
        }
        let (all, one) = tags(r, &id);
        p.insert(format!("/v2.0/{}/{{{id}}}/tags", r.path), all);
        p.insert(format!("/v2.0/{}/{{{id}}}/tags/{{tag}}", r.path), one);
    }
    let pools = json!({"type": "object", "required": ["floatingip_pools"], "properties": {
        "floatingip_pools": {"type": "array", "items": schema_ref("FloatingIpPool")}}});
    p.insert(
        "/v2.0/floatingip_pools".into(),
        json!({"get": op("listFloatingIpPools", "The IPv4 subnets of the external networks (`floatingip-pools`)",
            "floatingips", vec![], None, json_response("200", "The pools.", pools, errors(AUTHED)))}),
    );
    let (list, one) = agents();
    p.insert("/v2.0/agents".into(), list);
    p.insert("/v2.0/agents/{agent_id}".into(), one);
    p
}

/// The resource schemas (`Network`, `NetworkCreate`, `NetworkUpdate`, … `Agent`).
pub fn schemas() -> Map<String, Value> {
    let mut m = schemas::common();
    for r in &RESOURCES {
        m.insert(r.title.into(), schemas::resource(r));
        let create_ref = schema_ref(&format!("{}CreateItem", r.title));
        m.insert(format!("{}CreateItem", r.title), schemas::request(r, true));
        m.insert(format!("{}Create", r.title), schemas::create_body(r, create_ref));
        if r.updatable {
            m.insert(format!("{}Update", r.title), schemas::request(r, false));
        }
    }
    m.insert("FloatingIpPool".into(), schemas::floatingip_pool());
    m.insert("Agent".into(), schemas::agent());
    m.insert("AgentUpdate".into(), schemas::agent_update());
    m
}
