//! Turning resources into response objects: admin-only attributes stripped, `fields=` applied.

use neutrino_model::attrs::Attr;
use serde_json::{Map, Value};

use super::policy;
use crate::context::RequestContext;

/// The response object for `m`, as the caller may see it, restricted to `fields` if any.
pub fn render(
    ctx: &RequestContext,
    attrs: &[Attr],
    mut m: Map<String, Value>,
    fields: &[String],
) -> Map<String, Value> {
    policy::strip(ctx, attrs, &mut m);
    if !fields.is_empty() {
        m.retain(|k, _| fields.iter().any(|f| f == k));
    }
    m
}
