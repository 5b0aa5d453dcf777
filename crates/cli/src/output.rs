//! Printing results: `-o table` (comfy-table, OSC-like cell formatting) or `-o json`. Rendering
//! functions return strings so they can be tested.

use clap::ValueEnum;
use comfy_table::{Table, TableComponent, presets};
use neutrino_client::Object;
use serde_json::Value;

use crate::error::CliError;

/// The output format (`-o`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// One column of a list: a header and the attribute it shows.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub key: &'static str,
}

/// Shorthand for a [`Column`].
pub const fn col(header: &'static str, key: &'static str) -> Column {
    Column { header, key }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn inline_object(m: &serde_json::Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys.iter().map(|k| format!("{k}='{}'", scalar(&m[k.as_str()]))).collect::<Vec<_>>().join(", ")
}

/// How the attribute `key` with value `v` shows in a table cell.
pub fn format_value(key: &str, v: &Value) -> String {
    match (key, v) {
        ("admin_state_up", Value::Bool(up)) => if *up { "UP" } else { "DOWN" }.to_string(),
        (_, Value::Array(items)) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        }
        ("allocation_pools", Value::Array(items)) => items
            .iter()
            .map(|p| match (p.get("start"), p.get("end")) {
                (Some(s), Some(e)) => format!("{}-{}", scalar(s), scalar(e)),
                _ => format_value("", p),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        (_, Value::Array(items)) => items.iter().map(|i| format_value("", i)).collect::<Vec<_>>().join("\n"),
        (_, Value::Object(m)) => inline_object(m),
        (_, other) => scalar(other),
    }
}

fn new_table(headers: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::ASCII_FULL_CONDENSED);
    // The header rule looks like the others, as in OSC: `+----+------+`.
    t.set_style(TableComponent::HeaderLines, '-');
    for c in [
        TableComponent::LeftHeaderIntersection,
        TableComponent::MiddleHeaderIntersections,
        TableComponent::RightHeaderIntersection,
    ] {
        t.set_style(c, '+');
    }
    t.set_header(headers);
    t
}

/// One object as a `Field | Value` table, fields sorted.
pub fn render_object(obj: &Object) -> String {
    let mut t = new_table(vec!["Field", "Value"]);
    let mut keys: Vec<&String> = obj.keys().collect();
    keys.sort();
    for k in keys {
        t.add_row(vec![k.clone(), format_value(k, &obj[k.as_str()])]);
    }
    t.to_string()
}

/// Objects as a table with the given columns (a missing attribute shows as an empty cell).
pub fn render_list(items: &[Object], cols: &[Column]) -> String {
    let mut t = new_table(cols.iter().map(|c| c.header).collect());
    for item in items {
        t.add_row(cols.iter().map(|c| item.get(c.key).map(|v| format_value(c.key, v)).unwrap_or_default()));
    }
    t.to_string()
}

fn json(v: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(v).map_err(|e| CliError::Output(e.to_string()))
}

/// Prints one object.
pub fn print_object(fmt: Format, obj: &Object) -> Result<(), CliError> {
    let text = match fmt {
        Format::Table => render_object(obj),
        Format::Json => json(obj)?,
    };
    println!("{text}");
    Ok(())
}

/// Prints a list; JSON output carries the whole objects, not only the columns.
pub fn print_list(fmt: Format, items: &[Object], cols: &[Column]) -> Result<(), CliError> {
    let text = match fmt {
        Format::Table => render_list(items, cols),
        Format::Json => json(&items)?,
    };
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn values_format_like_osc() {
        assert_eq!(format_value("admin_state_up", &json!(false)), "DOWN");
        assert_eq!(format_value("shared", &json!(true)), "True");
        assert_eq!(format_value("gateway_ip", &json!(null)), "None");
        assert_eq!(format_value("mtu", &json!(1500)), "1500");
        assert_eq!(format_value("tags", &json!(["a", "b"])), "a, b");
        assert_eq!(format_value("tags", &json!([])), "");
        let pools =
            json!([{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.20", "end": "10.0.0.29"}]);
        assert_eq!(format_value("allocation_pools", &pools), "10.0.0.2-10.0.0.9\n10.0.0.20-10.0.0.29");
        let ips = json!([{"subnet_id": "s1", "ip_address": "10.0.0.5"}]);
        assert_eq!(format_value("fixed_ips", &ips), "ip_address='10.0.0.5', subnet_id='s1'");
    }

    #[test]
    fn object_table_has_sorted_fields() {
        let t = render_object(&obj(json!({"name": "n1", "id": "abc", "admin_state_up": true})));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "+----------------+-------+");
        assert_eq!(lines[1], "| Field          | Value |");
        assert_eq!(lines[3], "| admin_state_up | UP    |");
        assert_eq!(lines[4], "| id             | abc   |");
        assert_eq!(lines[5], "| name           | n1    |");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn list_table_shows_the_columns_in_order() {
        let items = vec![
            obj(json!({"id": "1", "name": "a", "subnets": ["s1", "s2"]})),
            obj(json!({"id": "2", "name": "b"})),
        ];
        let t = render_list(&items, &[col("ID", "id"), col("Name", "name"), col("Subnets", "subnets")]);
        assert_eq!(
            t,
            "+----+------+---------+\n\
             | ID | Name | Subnets |\n\
             +----+------+---------+\n\
             | 1  | a    | s1, s2  |\n\
             | 2  | b    |         |\n\
             +----+------+---------+"
        );
    }
}
