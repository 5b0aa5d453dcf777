//! OpenAPI operations and schemas of the `quotas` and `quota_details` extensions as routed in
//! `http/quotas.rs` (neutron `extensions/quotasv2.py`, `quotasv2_detail.py`); the counted
//! resources come from `store::quotas::RESOURCES`, so a new one appears here by itself.

use serde_json::{Map, Value, json};

use super::paths::{body, no_content, with};
use super::schemas::wrapped;
use super::{errors, json_response, op, schema_ref};
use crate::service::quotas::MAX_LIMIT;
use crate::store::quotas::RESOURCES;

const TAG: &str = "quotas";

fn limit() -> Value {
    json!({"type": "integer", "minimum": -1, "maximum": MAX_LIMIT,
        "description": "The most the project may have; -1 is unlimited."})
}

/// `{resource: schema}` for every counted resource.
fn per_resource(schema: impl Fn() -> Value) -> Map<String, Value> {
    RESOURCES.iter().map(|r| (r.name.to_string(), schema())).collect()
}

fn names() -> Vec<&'static str> {
    RESOURCES.iter().map(|r| r.name).collect()
}

/// The schemas `Quota`, `ProjectQuota`, `QuotaUpdate` and `QuotaDetails`.
pub fn schemas() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "Quota".into(),
        json!({"type": "object", "required": names(), "properties": per_resource(limit),
            "additionalProperties": false}),
    );
    let mut project = per_resource(limit);
    project.insert("project_id".into(), json!({"type": "string"}));
    project.insert("tenant_id".into(), json!({"type": "string"}));
    let mut required = names();
    required.extend(["project_id", "tenant_id"]);
    m.insert(
        "ProjectQuota".into(),
        json!({"type": "object", "required": required, "properties": project, "additionalProperties": false}),
    );
    let mut update = per_resource(limit);
    update.insert(
        "force".into(),
        json!({"type": "boolean", "description": "Accepted and ignored (limits are never checked unless asked)."}),
    );
    update.insert(
        "check_limit".into(),
        json!({"type": "boolean", "description": "Refuse (400) a limit below the project's current usage."}),
    );
    m.insert(
        "QuotaUpdate".into(),
        json!({"type": "object", "properties": update, "additionalProperties": false}),
    );
    let usage = || {
        json!({"type": "object", "required": ["limit", "used", "reserved"], "additionalProperties": false,
            "properties": {"limit": limit(), "used": {"type": "integer", "minimum": 0},
                "reserved": {"type": "integer", "minimum": 0}}})
    };
    m.insert(
        "QuotaDetails".into(),
        json!({"type": "object", "required": names(), "properties": per_resource(usage),
            "additionalProperties": false}),
    );
    m
}

fn project_param() -> Value {
    json!({"name": "project_id", "in": "path", "required": true,
        "description": "The project's id (any string: projects are not looked up).",
        "schema": {"type": "string", "minLength": 1}})
}

/// `{"project": {"project_id": …}}` (or `tenant`).
fn whoami_body(key: &str) -> Value {
    let id = format!("{key}_id");
    let inner = json!({"type": "object", "required": [id], "properties": {id.clone(): {"type": "string"}},
        "additionalProperties": false});
    wrapped(key, inner)
}

fn whoami(key: &str) -> Value {
    let op_id = if key == "project" { "showOwnProject" } else { "showOwnTenant" };
    json!({"get": op(op_id,
        &format!("The caller's own {key} id (upstream's `{key}` action)"), TAG, vec![], None,
        json_response("200", "The caller's project.", whoami_body(key), errors(&with(&[400]))))})
}

/// The quota paths.
pub fn paths() -> Map<String, Value> {
    let mut p = Map::new();
    let list = json!({"type": "object", "required": ["quotas"], "additionalProperties": false,
        "properties": {"quotas": {"type": "array", "items": schema_ref("ProjectQuota")}}});
    p.insert(
        "/v2.0/quotas".into(),
        json!({"get": op("listQuotas", "The projects with limits of their own (admin)", TAG, vec![], None,
            json_response("200", "Each such project with all its limits.", list, errors(&with(&[403]))))}),
    );
    let quota = wrapped("quota", schema_ref("Quota"));
    let pp = vec![project_param()];
    // The ids `project` and `tenant` are upstream's who-am-I actions (also described alone).
    let shown = json!({"anyOf": [quota.clone(), whoami_body("project"), whoami_body("tenant")]});
    let show = op(
        "showQuota",
        "A project's limits (one's own, or any as admin)",
        TAG,
        pp.clone(),
        None,
        json_response(
            "200",
            "The limits (for the ids `project` and `tenant`, the caller's own project id).",
            shown,
            errors(&with(&[400, 403, 404])),
        ),
    );
    let update = op(
        "updateQuota",
        "Set some of a project's limits (admin); the others stay",
        TAG,
        pp.clone(),
        Some(body(
            wrapped("quota", schema_ref("QuotaUpdate")),
            json!({"quota": {"network": 20, "port": -1}}),
        )),
        json_response(
            "200",
            "All the project's limits now.",
            quota.clone(),
            errors(&with(&[400, 403, 404, 413])),
        ),
    );
    let mut gone = errors(&with(&[403, 404]));
    gone.insert("204".into(), no_content("The project has the defaults again."));
    let delete = op(
        "deleteQuota",
        "Reset a project's limits to the defaults (admin; 404 `TenantQuotaNotFound` if it has none of its own)",
        TAG,
        pp.clone(),
        None,
        gone,
    );
    p.insert("/v2.0/quotas/{project_id}".into(), json!({"get": show, "put": update, "delete": delete}));
    p.insert(
        "/v2.0/quotas/{project_id}/default".into(),
        json!({"get": op("showQuotaDefaults", "The default limits (`[quotas]`)", TAG, pp.clone(), None,
            json_response("200", "The defaults.", quota, errors(&with(&[403, 404]))))}),
    );
    p.insert(
        "/v2.0/quotas/{project_id}/details".into(),
        json!({"get": op("showQuotaDetails", "Limit, usage and reservations of each resource (`quota_details`)",
            TAG, pp, None,
            json_response("200", "The details.", wrapped("quota", schema_ref("QuotaDetails")),
                errors(&with(&[403, 404]))))}),
    );
    p.insert("/v2.0/quotas/project".into(), whoami("project"));
    p.insert("/v2.0/quotas/tenant".into(), whoami("tenant"));
    p
}
