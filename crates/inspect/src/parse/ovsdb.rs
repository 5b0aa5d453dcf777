//! `ovs-vsctl --format=json --data=json list|find TABLE` output (ovs-vsctl(8) "Table
//! Formatting Options"): `{"data": [[…], …], "headings": […]}`, each cell an OVSDB datum in the
//! JSON encoding of RFC 7047 §5.1 (atoms, `["uuid", …]`, `["named-uuid", …]`, `["set", […]]`,
//! `["map", [[k, v], …]]`), read into typed [`Row`]s.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::ParseError;

/// One OVSDB atom.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    /// `["uuid", id]`: a reference to a row.
    Uuid(String),
    /// `["named-uuid", name]`: a row inserted by the same transaction.
    NamedUuid(String),
}

/// One cell: an atom, a set of atoms, or a map. OVSDB's optional columns are sets of zero or
/// one atom, and a one-atom set may also be sent as the bare atom; the getters of [`Row`] read
/// both.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Atom(Atom),
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

impl Atom {
    fn from_json(v: &Value) -> Option<Atom> {
        match v {
            Value::String(s) => Some(Atom::String(s.clone())),
            Value::Bool(b) => Some(Atom::Boolean(*b)),
            Value::Number(n) => n.as_i64().map(Atom::Integer).or_else(|| n.as_f64().map(Atom::Real)),
            Value::Array(a) => match a.as_slice() {
                [Value::String(kind), Value::String(id)] if kind == "uuid" => Some(Atom::Uuid(id.clone())),
                [Value::String(kind), Value::String(id)] if kind == "named-uuid" => {
                    Some(Atom::NamedUuid(id.clone()))
                }
                _ => None,
            },
            Value::Null | Value::Object(_) => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        if let Atom::String(s) = self { Some(s) } else { None }
    }

    pub fn as_int(&self) -> Option<i64> {
        if let Atom::Integer(i) = self { Some(*i) } else { None }
    }

    pub fn as_bool(&self) -> Option<bool> {
        if let Atom::Boolean(b) = self { Some(*b) } else { None }
    }

    pub fn as_uuid(&self) -> Option<&str> {
        match self {
            Atom::Uuid(u) | Atom::NamedUuid(u) => Some(u),
            _ => None,
        }
    }

    /// The atom as text: strings as they are, uuids as the id, numbers and booleans as JSON.
    pub fn text(&self) -> String {
        match self {
            Atom::String(s) | Atom::Uuid(s) | Atom::NamedUuid(s) => s.clone(),
            Atom::Integer(i) => i.to_string(),
            Atom::Real(r) => r.to_string(),
            Atom::Boolean(b) => b.to_string(),
        }
    }
}

/// Atoms as plain JSON values (uuids as their id string).
impl Serialize for Atom {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Atom::Integer(i) => s.serialize_i64(*i),
            Atom::Real(r) => s.serialize_f64(*r),
            Atom::Boolean(b) => s.serialize_bool(*b),
            Atom::String(v) | Atom::Uuid(v) | Atom::NamedUuid(v) => s.serialize_str(v),
        }
    }
}

/// A datum as plain JSON: an atom, an array for a set, an object (keys as text) for a map.
impl Serialize for Datum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Datum::Atom(a) => a.serialize(s),
            Datum::Set(atoms) => {
                let mut seq = s.serialize_seq(Some(atoms.len()))?;
                for a in atoms {
                    seq.serialize_element(a)?;
                }
                seq.end()
            }
            Datum::Map(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(&k.text(), v)?;
                }
                map.end()
            }
        }
    }
}

impl Datum {
    /// Reads RFC 7047's `<value>` encoding.
    pub fn from_json(v: &Value) -> Option<Datum> {
        if let Some([Value::String(kind), Value::Array(items)]) = v.as_array().map(Vec::as_slice) {
            match kind.as_str() {
                "set" => return items.iter().map(Atom::from_json).collect::<Option<_>>().map(Datum::Set),
                "map" => {
                    let pairs = items.iter().map(|p| match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => Some((Atom::from_json(k)?, Atom::from_json(v)?)),
                        _ => None,
                    });
                    return pairs.collect::<Option<_>>().map(Datum::Map);
                }
                _ => {}
            }
        }
        Atom::from_json(v).map(Datum::Atom)
    }

    /// The atoms of an atom or a set (a map has none).
    pub fn atoms(&self) -> &[Atom] {
        match self {
            Datum::Atom(a) => std::slice::from_ref(a),
            Datum::Set(atoms) => atoms,
            Datum::Map(_) => &[],
        }
    }
}

/// One row of a table, by column name.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Row {
    pub columns: BTreeMap<String, Datum>,
}

impl Row {
    pub fn get(&self, column: &str) -> Option<&Datum> {
        self.columns.get(column)
    }

    fn first(&self, column: &str) -> Option<&Atom> {
        self.get(column).and_then(|d| d.atoms().first())
    }

    /// A string column (or optional string column holding one).
    pub fn str(&self, column: &str) -> Option<&str> {
        self.first(column).and_then(Atom::as_str)
    }

    /// An integer column (or optional integer column holding one), e.g. `ofport`.
    pub fn int(&self, column: &str) -> Option<i64> {
        self.first(column).and_then(Atom::as_int)
    }

    pub fn bool(&self, column: &str) -> Option<bool> {
        self.first(column).and_then(Atom::as_bool)
    }

    /// The row's own `_uuid`.
    pub fn uuid(&self) -> Option<&str> {
        self.ref_uuid("_uuid")
    }

    /// A reference column holding one row.
    pub fn ref_uuid(&self, column: &str) -> Option<&str> {
        self.first(column).and_then(Atom::as_uuid)
    }

    /// A set-of-references column (`ports`, `interfaces`, `bridges`…).
    pub fn set_of_uuids(&self, column: &str) -> Vec<&str> {
        self.atoms(column).iter().filter_map(Atom::as_uuid).collect()
    }

    /// A set-of-strings column.
    pub fn strs(&self, column: &str) -> Vec<&str> {
        self.atoms(column).iter().filter_map(Atom::as_str).collect()
    }

    /// A set-of-integers column (`trunks`…).
    pub fn ints(&self, column: &str) -> Vec<i64> {
        self.atoms(column).iter().filter_map(Atom::as_int).collect()
    }

    /// A map column (`external_ids`, `options`, `statistics`…) with keys and values as text.
    pub fn map(&self, column: &str) -> BTreeMap<String, String> {
        match self.get(column) {
            Some(Datum::Map(pairs)) => pairs.iter().map(|(k, v)| (k.text(), v.text())).collect(),
            _ => BTreeMap::new(),
        }
    }

    fn atoms(&self, column: &str) -> &[Atom] {
        self.get(column).map(Datum::atoms).unwrap_or_default()
    }
}

/// Parses `ovs-vsctl --format=json --data=json list|find TABLE` output into its rows, in order.
pub fn parse_list(json_text: &str) -> Result<Vec<Row>, ParseError> {
    let err = |m: String| ParseError::Table(m);
    let v: Value = serde_json::from_str(json_text).map_err(|e| err(format!("not JSON: {e}")))?;
    let headings: Vec<&str> = v
        .get("headings")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no \"headings\" array".into()))?
        .iter()
        .map(|h| h.as_str().ok_or_else(|| err(format!("heading {h} is not a string"))))
        .collect::<Result<_, _>>()?;
    let data = v.get("data").and_then(Value::as_array).ok_or_else(|| err("no \"data\" array".into()))?;
    data.iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = row.as_array().ok_or_else(|| err(format!("row {i} is not an array")))?;
            if cells.len() != headings.len() {
                return Err(err(format!(
                    "row {i} has {} cells for {} headings",
                    cells.len(),
                    headings.len()
                )));
            }
            let columns = headings
                .iter()
                .zip(cells)
                .map(|(h, c)| {
                    Datum::from_json(c)
                        .map(|d| (h.to_string(), d))
                        .ok_or_else(|| err(format!("row {i} column {h}: not an OVSDB datum: {c}")))
                })
                .collect::<Result<_, _>>()?;
            Ok(Row { columns })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_atoms_sets_maps_and_optional_columns() {
        let rows = parse_list(
            r#"{"data":[[["uuid","u1"],"p1",["set",[]],["set",[3]],["map",[["iface-id","a"],["n",3]]],["set",[["uuid","x"],["uuid","y"]]],true,1.5]],
               "headings":["_uuid","name","tag","ofport","external_ids","ports","up","r"]}"#,
        )
        .unwrap();
        let r = &rows[0];
        assert_eq!(r.uuid(), Some("u1"));
        assert_eq!(r.str("name"), Some("p1"));
        assert_eq!(r.int("tag"), None);
        assert_eq!(r.int("ofport"), Some(3));
        assert_eq!(r.ints("ofport"), [3]);
        assert_eq!(r.map("external_ids").get("n").map(String::as_str), Some("3"));
        assert_eq!(r.set_of_uuids("ports"), ["x", "y"]);
        assert_eq!(r.bool("up"), Some(true));
        assert_eq!(r.get("r"), Some(&Datum::Atom(Atom::Real(1.5))));
        assert_eq!(r.str("missing"), None);
        assert!(r.map("name").is_empty());
        let json = serde_json::to_string(r).unwrap();
        assert!(json.contains(r#""external_ids":{"iface-id":"a","n":3}"#), "{json}");
    }

    #[test]
    fn rejects_what_is_not_a_table() {
        for bad in [
            "",
            "[]",
            r#"{"data":[]}"#,
            r#"{"data":[[1]],"headings":["a","b"]}"#,
            r#"{"data":[[null]],"headings":["a"]}"#,
            r#"{"data":[[["set",[["set",[]]]]]],"headings":["a"]}"#,
            r#"{"data":[[["map",[[1]]]]],"headings":["a"]}"#,
            r#"{"data":[[{}]],"headings":["a"]}"#,
        ] {
            assert!(parse_list(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_list(r#"{"data":[],"headings":["name"]}"#).unwrap(), vec![]);
    }
}
