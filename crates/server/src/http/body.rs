//! Request bodies of the Networking API: JSON objects wrapped in the resource name, one
//! resource or a bulk list (`{"network": {...}}` or `{"networks": [...]}`).

use neutrino_model::ApiError;
use serde_json::{Map, Value};

/// Parses raw bytes as a JSON object; anything else is a 400.
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Resource body required"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("Malformed request body: the body must be a JSON object")),
        Err(e) => {
            Err(ApiError::bad_request(format!("Malformed request body: {e}"))
                .with_kind("MalformedRequestBody"))
        }
    }
}

/// A request body of a create or update: a non-empty JSON object (upstream
/// `prepare_request_body` refuses `{}` as it refuses no body at all).
fn resource_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let body = json_object(bytes)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("Resource body required"));
    }
    Ok(body)
}

/// The resource objects of a create: one (`singular`) or several (`plural`, all or nothing).
/// Returns the objects and whether the request was a bulk one.
pub fn for_create(
    bytes: &[u8],
    singular: &str,
    plural: &str,
) -> Result<(Vec<Map<String, Value>>, bool), ApiError> {
    let mut body = resource_body(bytes)?;
    if let Some(list) = body.remove(plural) {
        if !body.is_empty() {
            return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", keys(&body))));
        }
        let Value::Array(items) = list else {
            return Err(ApiError::bad_request(format!("Resources required: '{plural}' must be a list")));
        };
        if items.is_empty() {
            return Err(ApiError::bad_request("Resources required"));
        }
        let objs = items.into_iter().map(|i| unwrap_one(i, singular)).collect::<Result<Vec<_>, _>>()?;
        return Ok((objs, true));
    }
    Ok((vec![single(body, singular)?], false))
}

/// Refuses a bulk create of more than `max` resources (413): one request runs in one write
/// transaction, and the store has a single writer that every other write waits for.
pub fn check_bulk_size(items: usize, max: usize) -> Result<(), ApiError> {
    if items > max {
        return Err(ApiError::new(
            413,
            "HTTPRequestEntityTooLarge",
            format!("Bulk request of {items} resources exceeds the limit of {max} per request"),
        ));
    }
    Ok(())
}

/// A bulk item may be bare or wrapped (`{"network": {...}}`), as upstream accepts both.
fn unwrap_one(item: Value, singular: &str) -> Result<Map<String, Value>, ApiError> {
    match item {
        Value::Object(mut m) => {
            if m.len() == 1
                && let Some(Value::Object(inner)) = m.remove(singular)
            {
                return Ok(inner);
            }
            Ok(m)
        }
        _ => Err(ApiError::bad_request(format!("Malformed request body: each {singular} must be an object"))),
    }
}

fn keys(m: &Map<String, Value>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// The resource object of an update.
pub fn for_update(bytes: &[u8], singular: &str) -> Result<Map<String, Value>, ApiError> {
    single(resource_body(bytes)?, singular)
}

fn single(mut body: Map<String, Value>, singular: &str) -> Result<Map<String, Value>, ApiError> {
    let inner = body
        .remove(singular)
        .ok_or_else(|| ApiError::bad_request(format!("Unable to find '{singular}' in request body")))?;
    if !body.is_empty() {
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", keys(&body))));
    }
    match inner {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad_request(format!(
            "Malformed request body: '{singular}' must be an object, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_bulk_bodies() {
        let (one, bulk) = for_create(br#"{"network": {"name": "a"}}"#, "network", "networks").unwrap();
        assert_eq!((one.len(), bulk), (1, false));
        let (two, bulk) = for_create(
            br#"{"networks": [{"name": "a"}, {"network": {"name": "b"}}]}"#,
            "network",
            "networks",
        )
        .unwrap();
        assert_eq!((two.len(), bulk), (2, true));
        assert_eq!(two[1]["name"], "b");
    }

    #[test]
    fn malformed_bodies_are_400() {
        for b in
            [&b"{"[..], b"[]", b"", b"{}", br#"{"net": {}}"#, br#"{"network": 5}"#, br#"{"networks": []}"#]
        {
            assert_eq!(
                for_create(b, "network", "networks").unwrap_err().status,
                400,
                "{:?}",
                std::str::from_utf8(b)
            );
        }
        assert_eq!(for_update(b"{}", "network").unwrap_err().message, "Resource body required");
    }
}
