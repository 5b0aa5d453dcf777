//! The `extra_dhcp_opt` extension of ports (neutron-lib `api/definitions/extra_dhcp_opt.py`,
//! neutron `db/extradhcpopt_db.py`): a port's list of `{opt_name, opt_value, ip_version}`, each
//! entry matching one of upstream's two key specs (`router` and `classless-static-route` may
//! have a blank value, other names need a one-line value), and how a create or an update
//! applies such a list (an entry with a `null` value is skipped, or removes that option).

use serde_json::{Map, Value, json};

use crate::error::ApiError;

pub const OPT_NAME_MAX_LEN: usize = 64;
pub const OPT_VALUE_MAX_LEN: usize = 255;
/// Options whose value may be blank (upstream `VALID_BLANK_EXTRA_DHCP_OPTS`).
pub const VALID_BLANK: &[&str] = &["router", "classless-static-route"];

/// A stored option of a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
    /// 4 or 6.
    pub ip_version: u8,
}

impl ExtraDhcpOpt {
    pub fn to_json(&self) -> Value {
        json!({"opt_name": self.opt_name, "opt_value": self.opt_value, "ip_version": self.ip_version})
    }
}

/// One entry of a request: `opt_value` `None` is JSON `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraDhcpOptRequest {
    pub opt_name: String,
    pub opt_value: Option<String>,
    pub ip_version: u8,
}

/// Python's rendering of a JSON value, as upstream's messages show the entry they refuse.
fn py(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!(
                "{{{}}}",
                m.iter().map(|(k, v)| format!("'{k}': {}", py(v))).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

fn invalid(msg: String) -> ApiError {
    ApiError::invalid_input(msg)
}

/// Python's `str.splitlines()` boundaries.
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `type:oneline_not_empty_string` with `max`.
fn oneline_not_empty(v: &Value, max: usize) -> bool {
    v.as_str().is_some_and(|s| {
        s.chars().count() <= max
            && !s.trim().is_empty()
            && !s.trim_end_matches(is_line_break).contains(is_line_break)
    })
}

/// Upstream's `convert_to_int` of `ip_version` (absent: 4); `Err` is its own `InvalidInput`.
fn ip_version(v: Option<&Value>) -> Result<i64, ApiError> {
    let Some(v) = v else { return Ok(4) };
    let n = match v {
        // Python's int() truncates a float; only 4 and 6 are valid afterwards.
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64().map(|f| match f.trunc() {
                4.0 => 4,
                6.0 => 6,
                _ => 0,
            })
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    n.ok_or_else(|| invalid(format!("'{}' is not an integer", py(v).trim_matches('\''))))
}

/// Whether `m` matches one of upstream's key specs (required keys present, nothing else, each
/// value valid); the entry it makes.
fn entry(m: &Map<String, Value>) -> Result<Option<ExtraDhcpOptRequest>, ApiError> {
    if !m.contains_key("opt_name") || !m.contains_key("opt_value") {
        return Ok(None);
    }
    if m.keys().any(|k| !matches!(k.as_str(), "opt_name" | "opt_value" | "ip_version")) {
        return Ok(None);
    }
    let version = ip_version(m.get("ip_version"))?;
    if version != 4 && version != 6 {
        return Ok(None);
    }
    let (name, value) = (&m["opt_name"], &m["opt_value"]);
    let blank_ok = name.as_str().is_some_and(|n| VALID_BLANK.contains(&n));
    let value_ok = match value {
        Value::Null => true,
        Value::String(s) if blank_ok => s.chars().count() <= OPT_VALUE_MAX_LEN,
        v => oneline_not_empty(v, OPT_VALUE_MAX_LEN),
    };
    if !value_ok || !(blank_ok || oneline_not_empty(name, OPT_NAME_MAX_LEN)) {
        return Ok(None);
    }
    Ok(Some(ExtraDhcpOptRequest {
        opt_name: name.as_str().unwrap_or_default().to_string(),
        opt_value: value.as_str().map(String::from),
        ip_version: if version == 6 { 6 } else { 4 },
    }))
}

/// Parses `extra_dhcp_opts` (`null` is no entry) with upstream's messages, all 400
/// `InvalidInput`: not a list, duplicate entries, an entry no key spec matches, an
/// `ip_version` that is not an integer.
pub fn parse(v: &Value) -> Result<Vec<ExtraDhcpOptRequest>, ApiError> {
    let list = match v {
        Value::Null => return Ok(vec![]),
        Value::Array(a) => a,
        other => return Err(invalid(format!("'{}' is not a list", py(other)))),
    };
    let mut seen: Vec<&Value> = vec![];
    for item in list {
        if seen.contains(&item) {
            return Err(invalid(format!("Duplicate items in the list: '{}'", py(item))));
        }
        seen.push(item);
    }
    let mut out: Vec<ExtraDhcpOptRequest> = vec![];
    for item in list {
        let e = match item {
            Value::Object(m) => entry(m)?,
            _ => None,
        };
        let e = e.ok_or_else(|| invalid(format!("No valid key specs matched for: {}", py(item))))?;
        // One row per option and IP version (upstream's unique key).
        if out.iter().any(|o| o.opt_name == e.opt_name && o.ip_version == e.ip_version) {
            return Err(invalid(format!(
                "Duplicate items in the list: '{}' (IPv{})",
                e.opt_name, e.ip_version
            )));
        }
        out.push(e);
    }
    Ok(out)
}

/// Upstream's `_is_valid_opt_value`: the blank-capable options need a value, the others a
/// non-empty one.
fn valid_value(name: &str, value: Option<&str>) -> Option<String> {
    let v = value?;
    (VALID_BLANK.contains(&name) || !v.is_empty()).then(|| v.to_string())
}

/// The options of a new port: the entries with a value, sorted.
pub fn on_create(requests: &[ExtraDhcpOptRequest]) -> Vec<ExtraDhcpOpt> {
    let mut out: Vec<ExtraDhcpOpt> = requests
        .iter()
        .filter_map(|r| {
            valid_value(&r.opt_name, r.opt_value.as_deref()).map(|v| ExtraDhcpOpt {
                opt_name: r.opt_name.clone(),
                opt_value: v,
                ip_version: r.ip_version,
            })
        })
        .collect();
    out.sort();
    out
}

/// `current` after an update's entries: one naming an existing option (name and IP version)
/// replaces its value, or removes it when its value is `null`; others are added. Sorted.
pub fn on_update(current: &[ExtraDhcpOpt], requests: &[ExtraDhcpOptRequest]) -> Vec<ExtraDhcpOpt> {
    let mut out = current.to_vec();
    for r in requests {
        let at = out.iter().position(|o| o.opt_name == r.opt_name && o.ip_version == r.ip_version);
        match (at, r.opt_value.as_deref()) {
            (Some(i), None) => {
                out.remove(i);
            }
            (Some(i), value) => {
                if let Some(v) = valid_value(&r.opt_name, value) {
                    out[i].opt_value = v;
                }
            }
            (None, value) => {
                if let Some(v) = valid_value(&r.opt_name, value) {
                    out.push(ExtraDhcpOpt {
                        opt_name: r.opt_name.clone(),
                        opt_value: v,
                        ip_version: r.ip_version,
                    });
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(v: Value) -> Result<Vec<ExtraDhcpOptRequest>, ApiError> {
        parse(&json!([v]))
    }

    #[test]
    fn entries_follow_upstream_s_key_specs() {
        let ok = one(json!({"opt_name": "tftp-server", "opt_value": "10.0.0.9"})).unwrap();
        assert_eq!(
            ok[0],
            ExtraDhcpOptRequest {
                opt_name: "tftp-server".into(),
                opt_value: Some("10.0.0.9".into()),
                ip_version: 4
            }
        );
        assert_eq!(
            one(json!({"opt_name": "dns-server", "opt_value": "::1", "ip_version": "6"})).unwrap()[0]
                .ip_version,
            6
        );
        assert_eq!(
            one(json!({"opt_name": "router", "opt_value": ""})).unwrap()[0].opt_value.as_deref(),
            Some("")
        );
        assert_eq!(one(json!({"opt_name": "bootfile-name", "opt_value": null})).unwrap()[0].opt_value, None);
        for bad in [
            json!({"opt_name": "bootfile-name", "opt_value": ""}),
            json!({"opt_name": "bootfile-name", "opt_value": "a\nb"}),
            json!({"opt_name": "", "opt_value": "x"}),
            json!({"opt_name": "x".repeat(65), "opt_value": "x"}),
            json!({"opt_name": "bootfile-name", "opt_value": "x".repeat(256)}),
            json!({"opt_name": "bootfile-name"}),
            json!({"opt_value": "x"}),
            json!({"opt_name": "a", "opt_value": "x", "ip_version": 5}),
            json!({"opt_name": "a", "opt_value": "x", "extra": 1}),
            json!({"opt_name": 7, "opt_value": "x"}),
            json!("bootfile-name"),
        ] {
            let e = one(bad.clone()).unwrap_err();
            assert_eq!((e.status, e.kind.as_str()), (400, "InvalidInput"), "{bad}");
            assert!(e.message.contains("No valid key specs matched for: "), "{bad}: {}", e.message);
        }
        let e = one(json!({"opt_name": "a", "opt_value": "x", "ip_version": "four"})).unwrap_err();
        assert_eq!(e.message, "Invalid input for operation: 'four' is not an integer.");
        let e = parse(&json!({"opt_name": "a"})).unwrap_err();
        assert_eq!(e.message, "Invalid input for operation: '{'opt_name': 'a'}' is not a list.");
        let twice = json!({"opt_name": "a", "opt_value": "x"});
        assert!(parse(&json!([twice, twice])).unwrap_err().message.contains("Duplicate items"));
        let same_key = json!([{"opt_name": "a", "opt_value": "x"}, {"opt_name": "a", "opt_value": "y"}]);
        assert!(parse(&same_key).unwrap_err().message.contains("Duplicate items"));
        assert_eq!(parse(&Value::Null).unwrap(), vec![]);
    }

    #[test]
    fn create_skips_nulls_and_update_replaces_adds_and_removes() {
        let reqs = parse(&json!([{"opt_name": "a", "opt_value": "1"}, {"opt_name": "b", "opt_value": null},
            {"opt_name": "a", "opt_value": "6", "ip_version": 6}]))
        .unwrap();
        let made = on_create(&reqs);
        let names: Vec<(&str, &str, u8)> =
            made.iter().map(|o| (o.opt_name.as_str(), o.opt_value.as_str(), o.ip_version)).collect();
        assert_eq!(names, vec![("a", "1", 4), ("a", "6", 6)]);
        let upd = parse(&json!([{"opt_name": "a", "opt_value": "2"}, {"opt_name": "a", "opt_value": null, "ip_version": 6},
            {"opt_name": "c", "opt_value": "3"}, {"opt_name": "d", "opt_value": null}]))
        .unwrap();
        let after = on_update(&made, &upd);
        let names: Vec<(&str, &str, u8)> =
            after.iter().map(|o| (o.opt_name.as_str(), o.opt_value.as_str(), o.ip_version)).collect();
        assert_eq!(names, vec![("a", "2", 4), ("c", "3", 4)]);
    }
}
