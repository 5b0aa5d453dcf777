//! List query parameters of the Networking API (filters with repeated keys ORed, `fields`,
//! `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse`, tag filters), checked against a
//! resource's attribute map (`filter-validation`) and turned into a [`Select`].

use std::collections::BTreeMap;

use neutrino_model::ApiError;
use neutrino_model::attrs::{Attr, FilterKind, find};
use neutrino_model::convert::parse_bool_str;

use crate::store::list::Select;
use crate::store::{SqlValue, tags};

/// Tag filters of `standard-attr-tag`.
pub const TAG_FILTERS: &[&str] = &["tags", "tags-any", "not-tags", "not-tags-any"];

/// `standard-attr-timestamp`'s filter: resources updated at or after a time.
pub const CHANGED_SINCE: &str = "changed_since";

/// Parses an ISO 8601 time (naive times are UTC) into the stored `YYYY-MM-DDTHH:MM:SSZ` form.
fn changed_since(v: &str) -> Result<String, ApiError> {
    let t = v.trim();
    let utc = chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(t.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| {
            ApiError::invalid_input(
                "The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SS",
            )
        })?;
    Ok(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A parsed list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub filters: BTreeMap<String, Vec<String>>,
    pub fields: Vec<String>,
    pub sorts: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

impl ListParams {
    /// Parses query pairs in order. `max_limit` caps `limit` (upstream `pagination_max_limit`).
    pub fn parse(
        pairs: &[(String, String)],
        attrs: &[Attr],
        max_limit: Option<usize>,
    ) -> Result<Self, ApiError> {
        let mut p = ListParams::default();
        let mut keys = vec![];
        let mut dirs = vec![];
        for (k, v) in pairs {
            match k.as_str() {
                "fields" => {
                    p.fields.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from))
                }
                "sort_key" => keys.push(v.clone()),
                "sort_dir" => dirs.push(v.clone()),
                "limit" => {
                    let n: usize = v.parse().map_err(|_| {
                        ApiError::bad_request(format!("Limit must be an integer 0 or greater and not '{v}'"))
                    })?;
                    p.limit = (n > 0).then_some(n);
                }
                "marker" => p.marker = Some(v.clone()),
                "page_reverse" => {
                    p.page_reverse = parse_bool_str(v).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid input for page_reverse. Reason: '{v}' cannot be converted to boolean."
                        ))
                    })?
                }
                key if TAG_FILTERS.contains(&key) => p.filters.entry(k.clone()).or_default().push(v.clone()),
                CHANGED_SINCE => p.filters.entry(k.clone()).or_default().push(changed_since(v)?),
                key => {
                    let attr =
                        find(attrs, key).filter(|a| a.filter != FilterKind::None).ok_or_else(|| {
                            ApiError::bad_request(format!("[{key}] is invalid attribute for filtering"))
                        })?;
                    p.filters.entry(attr.name.to_string()).or_default().push(v.clone());
                }
            }
        }
        if let Some(max) = max_limit {
            p.limit = Some(p.limit.map_or(max, |l| l.min(max)));
        }
        if dirs.is_empty() {
            dirs = vec!["asc".into(); keys.len()];
        }
        if keys.len() != dirs.len() {
            return Err(ApiError::bad_request("The number of sort_keys and sort_dirs must be same"));
        }
        for (k, d) in keys.into_iter().zip(dirs) {
            let asc = match d.as_str() {
                "asc" => true,
                "desc" => false,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "{other} is an invalid value for sort_dir, valid values are 'asc' and 'desc'"
                    )));
                }
            };
            if !find(attrs, &k).is_some_and(|a| a.sort) {
                return Err(ApiError::bad_request(format!("'{k}' is an invalid attribute for sort_keys")));
            }
            p.sorts.push((k, asc));
        }
        Ok(p)
    }

    /// Values of one special filter (e.g. `fixed_ips`), if given.
    pub fn special(&self, name: &str) -> Option<&Vec<String>> {
        self.filters.get(name)
    }

    /// Adds the column filters, tag filters and sort order to `select`. Filters without a column
    /// (other than tags) are left to the resource's service.
    pub fn apply(&self, select: &mut Select, attrs: &[Attr], tag_type: &str) -> Result<(), ApiError> {
        for (name, values) in &self.filters {
            if TAG_FILTERS.contains(&name.as_str()) {
                self.apply_tags(select, name, values, tag_type);
                continue;
            }
            if name == CHANGED_SINCE {
                for v in values {
                    select.push("updated_at >= ?", vec![SqlValue::from(v)]);
                }
                continue;
            }
            let Some(attr) = find(attrs, name) else { continue };
            let Some(column) = attr.column else { continue };
            let converted =
                values.iter().map(|v| convert(attr, v)).collect::<Result<Vec<SqlValue>, ApiError>>()?;
            select.any_of(column, converted);
        }
        for (k, asc) in &self.sorts {
            let attr = find(attrs, k).expect("checked in parse");
            let column = attr.column.expect("sort keys have columns");
            let expr = match attr.filter {
                FilterKind::Text => format!("COALESCE({column}, '')"),
                _ => format!("COALESCE({column}, -1)"),
            };
            select.order.push((if column == "id" { "id".into() } else { expr }, *asc));
        }
        select.limit = self.limit;
        select.reverse = self.page_reverse;
        Ok(())
    }

    /// Applies the query to `select` and runs it from the marker: the page's rows and whether
    /// more follow. An unknown marker is `not_found`.
    pub fn run(
        &self,
        sql: &mut dyn crate::store::Sql,
        select: &mut Select,
        attrs: &[Attr],
        tag_type: &str,
        not_found: fn(&str) -> ApiError,
    ) -> Result<(Vec<crate::store::Row>, bool), ApiError> {
        self.apply(select, attrs, tag_type)?;
        if let Some(m) = &self.marker
            && !select.set_marker(sql, m)?
        {
            return Err(not_found(m));
        }
        Ok(select.run(sql)?)
    }

    fn apply_tags(&self, select: &mut Select, name: &str, values: &[String], tag_type: &str) {
        let tags: Vec<String> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        if tags.is_empty() {
            return;
        }
        let has = tags::has_tag_condition(tag_type, select.table);
        let each: Vec<String> = tags.iter().map(|_| has.clone()).collect();
        let params: Vec<SqlValue> = tags.iter().map(SqlValue::from).collect();
        let cond = match name {
            "tags" => format!("({})", each.join(" AND ")),
            "tags-any" => format!("({})", each.join(" OR ")),
            "not-tags" => format!("NOT ({})", each.join(" AND ")),
            _ => format!("NOT ({})", each.join(" OR ")),
        };
        select.push(cond, params);
    }
}

fn convert(attr: &Attr, v: &str) -> Result<SqlValue, ApiError> {
    let bad = |what: &str| {
        ApiError::bad_request(format!("Invalid input for {}. Reason: '{v}' is not {what}.", attr.name))
    };
    match attr.filter {
        FilterKind::Bool => parse_bool_str(v).map(SqlValue::from).ok_or_else(|| bad("a valid boolean")),
        FilterKind::Int => v.parse::<i64>().map(SqlValue::from).map_err(|_| bad("an integer")),
        _ => Ok(SqlValue::from(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_model::attrs::NETWORK;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn repeated_keys_collect_values() {
        let p = ListParams::parse(&pairs(&[("name", "a"), ("name", "b"), ("fields", "id")]), &NETWORK, None)
            .unwrap();
        assert_eq!(p.filters["name"], vec!["a", "b"]);
        assert_eq!(p.fields, vec!["id"]);
    }

    #[test]
    fn bad_queries_are_400() {
        for q in [
            vec![("bogus", "1")],
            vec![("limit", "-1")],
            vec![("sort_key", "name"), ("sort_dir", "up")],
            vec![("sort_key", "subnets")],
            vec![("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc")],
            vec![("page_reverse", "maybe")],
        ] {
            let e = ListParams::parse(&pairs(&q), &NETWORK, None).unwrap_err();
            assert_eq!(e.status, 400, "{q:?}");
        }
    }

    #[test]
    fn changed_since_is_normalised_to_utc() {
        let p = ListParams::parse(&pairs(&[("changed_since", "2024-05-01T12:00:00+02:00")]), &NETWORK, None)
            .unwrap();
        assert_eq!(p.filters["changed_since"], vec!["2024-05-01T10:00:00Z"]);
        let p =
            ListParams::parse(&pairs(&[("changed_since", "2024-05-01T12:00:00")]), &NETWORK, None).unwrap();
        assert_eq!(p.filters["changed_since"], vec!["2024-05-01T12:00:00Z"]);
        let e = ListParams::parse(&pairs(&[("changed_since", "yesterday")]), &NETWORK, None).unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (400, "InvalidInput"));
    }

    #[test]
    fn max_limit_caps_the_page() {
        let p = ListParams::parse(&pairs(&[("limit", "500")]), &NETWORK, Some(100)).unwrap();
        assert_eq!(p.limit, Some(100));
        let p = ListParams::parse(&pairs(&[("limit", "0")]), &NETWORK, None).unwrap();
        assert_eq!(p.limit, None);
    }

    #[test]
    fn boolean_filters_are_converted() {
        let p = ListParams::parse(&pairs(&[("shared", "True")]), &NETWORK, None).unwrap();
        let mut s = Select::new("networks", "id");
        p.apply(&mut s, &NETWORK, "networks").unwrap();
        assert_eq!(s.wheres[0].1, vec![SqlValue::Int(1)]);
        let p = ListParams::parse(&pairs(&[("shared", "yes")]), &NETWORK, None).unwrap();
        assert_eq!(p.apply(&mut s, &NETWORK, "networks").unwrap_err().status, 400);
    }
}
