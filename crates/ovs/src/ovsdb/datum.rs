//! OVSDB value encodings of RFC 7047 §5.1 (atoms, `["uuid", …]`, `["named-uuid", …]`,
//! `["set", […]]`, `["map", [[k, v], …]]`): builders and tolerant decoders.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// `["uuid", id]`: a reference to an existing row.
pub fn uuid(id: &str) -> Value {
    json!(["uuid", id])
}

/// `["named-uuid", name]`: a reference to a row inserted in the same transaction.
pub fn named_uuid(name: &str) -> Value {
    json!(["named-uuid", name])
}

/// `["set", [..]]` of the given atoms.
pub fn set<I: IntoIterator<Item = Value>>(atoms: I) -> Value {
    json!(["set", atoms.into_iter().collect::<Vec<_>>()])
}

/// `["map", [[k, v], ..]]` of string pairs.
pub fn str_map(map: &BTreeMap<String, String>) -> Value {
    json!(["map", map.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()])
}

/// The empty set, which is also "no value" for optional columns (`min: 0`).
pub fn empty() -> Value {
    json!(["set", []])
}

/// The atoms of a datum: a bare atom is a one-element set, `["set", [..]]` its elements.
pub fn atoms(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) if a.len() == 2 && a[0] == "set" => {
            a[1].as_array().map(|e| e.iter().collect()).unwrap_or_default()
        }
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The id of a `["uuid", id]` (or `["named-uuid", id]`) atom.
pub fn as_uuid(v: &Value) -> Option<&str> {
    match v.as_array()?.as_slice() {
        [kind, Value::String(id)] if kind == "uuid" || kind == "named-uuid" => Some(id),
        _ => None,
    }
}

/// All uuids of a set-of-references column.
pub fn uuids(v: &Value) -> Vec<String> {
    atoms(v).into_iter().filter_map(as_uuid).map(str::to_owned).collect()
}

/// An optional integer column (`["set", []]` is `None`).
pub fn opt_i64(v: &Value) -> Option<i64> {
    atoms(v).first().and_then(|a| a.as_i64())
}

/// An optional string column.
pub fn opt_str(v: &Value) -> Option<String> {
    atoms(v).first().and_then(|a| a.as_str()).map(str::to_owned)
}

/// A string→string map column; non-string keys or values are rendered as JSON text.
pub fn as_str_map(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some([kind, Value::Array(pairs)]) = v.as_array().map(Vec::as_slice)
        && kind == "map"
    {
        for pair in pairs {
            if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
                out.insert(atom_text(k), atom_text(v));
            }
        }
    }
    out
}

/// A strings set column.
pub fn str_set(v: &Value) -> Vec<String> {
    atoms(v).into_iter().map(atom_text).collect()
}

fn atom_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => as_uuid(other).map(str::to_owned).unwrap_or_else(|| other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_atoms_sets_and_maps() {
        assert_eq!(opt_i64(&json!(5)), Some(5));
        assert_eq!(opt_i64(&json!(["set", []])), None);
        assert_eq!(opt_i64(&json!(["set", [7]])), Some(7));
        assert_eq!(uuids(&json!(["uuid", "a"])), vec!["a"]);
        assert_eq!(uuids(&json!(["set", [["uuid", "a"], ["uuid", "b"]]])), vec!["a", "b"]);
        let m = as_str_map(&json!(["map", [["iface-id", "p1"], ["n", 3]]]));
        assert_eq!(m.get("iface-id").map(String::as_str), Some("p1"));
        assert_eq!(m.get("n").map(String::as_str), Some("3"));
        assert!(as_str_map(&json!("garbage")).is_empty());
        assert_eq!(str_set(&json!(["set", ["OpenFlow10", "OpenFlow14"]])), vec!["OpenFlow10", "OpenFlow14"]);
        assert_eq!(opt_str(&json!("secure")), Some("secure".into()));
    }

    #[test]
    fn encodes() {
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), "v".to_string());
        assert_eq!(str_map(&m), json!(["map", [["k", "v"]]]));
        assert_eq!(set([json!(1), json!(2)]), json!(["set", [1, 2]]));
        assert_eq!(named_uuid("x"), json!(["named-uuid", "x"]));
        assert_eq!(as_uuid(&uuid("u")), Some("u"));
    }
}
