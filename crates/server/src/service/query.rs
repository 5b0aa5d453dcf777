//! List query parameters of the Networking API (filters with repeated keys ORed, `fields`,
//! `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse`, tag filters), checked against a
//! resource's attribute map (`filter-validation`) and turned into a [`Select`].

use std::collections::{BTreeMap, HashSet};

use neutrino_model::ApiError;
use neutrino_model::attrs::{Attr, FilterKind, find};
use neutrino_model::convert::parse_bool_str;

use crate::store::SqlValue;
use crate::store::list::Select;

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

/// Most query parameters one request may carry (`[server] max_query_params`'s default).
pub const MAX_QUERY_PARAMS: usize = 1000;
/// Longest value of one query parameter, in bytes.
pub const MAX_QUERY_VALUE: usize = 4096;
/// Most filter values (after splitting tag lists) one list may compare against: each becomes
/// an SQL parameter, and the total must stay far below SQLite's limit on variables.
pub const MAX_FILTER_VALUES: usize = 1000;

/// Splits a raw query string into pairs, refusing more than `max_params` of them or a value
/// longer than [`MAX_QUERY_VALUE`] (400), so that no query string costs more to parse, check
/// or run than a bounded amount.
pub fn parse_pairs(raw: Option<&str>, max_params: usize) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else { return Ok(vec![]) };
    let mut out = vec![];
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if out.len() == max_params {
            return Err(ApiError::bad_request(format!(
                "Too many query parameters: at most {max_params} are accepted"
            )));
        }
        if k.len() > MAX_QUERY_VALUE || v.len() > MAX_QUERY_VALUE {
            return Err(ApiError::bad_request(format!(
                "Query parameter '{}' is too long: at most {MAX_QUERY_VALUE} bytes",
                k.chars().take(64).collect::<String>()
            )));
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

/// `limit` as upstream reads it (`int(limit)`, 0 or greater): any size of integer is
/// accepted and means "that many"; values beyond what a page could hold are "all".
fn parse_limit(v: &str) -> Result<usize, ApiError> {
    let t = v.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        // Python's int() also takes "-0"; nothing else negative is a valid limit.
        if digits.strip_prefix('-').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b == b'0')) {
            return Ok(0);
        }
        return Err(ApiError::bad_request(format!("Limit must be an integer 0 or greater and not '{v}'")));
    }
    // Saturate: a limit above i64::MAX rows is the same as no limit on any store.
    let rows = digits.parse::<u64>().map_or(i64::MAX as u64, |n| n.min(i64::MAX as u64));
    Ok(usize::try_from(rows).unwrap_or(usize::MAX))
}

/// Who reads: decides which attributes the caller may filter and sort on (those they may see).
pub type Readable<'a> = &'a dyn Fn(&Attr) -> bool;

/// A parsed list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub filters: BTreeMap<String, Vec<String>>,
    pub fields: Vec<String>,
    /// Sort keys, each attribute (store column) once, in the order first given.
    pub sorts: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

impl ListParams {
    /// Parses query pairs in order. `max_limit` caps `limit` (upstream `pagination_max_limit`).
    /// Filters and sort keys on attributes the caller may not read (`readable`) are refused as
    /// unknown ones are: to that caller they do not exist.
    pub fn parse(
        pairs: &[(String, String)],
        attrs: &[Attr],
        max_limit: Option<usize>,
        readable: Readable<'_>,
    ) -> Result<Self, ApiError> {
        let mut p = ListParams::default();
        let mut keys = vec![];
        let mut dirs = vec![];
        let visible = |key: &str| find(attrs, key).filter(|a| readable(a));
        let mut seen_fields = HashSet::new();
        for (k, v) in pairs {
            match k.as_str() {
                "fields" => {
                    for f in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if seen_fields.insert(f) {
                            if p.fields.len() == MAX_FILTER_VALUES {
                                return Err(ApiError::bad_request(format!(
                                    "Too many fields: at most {MAX_FILTER_VALUES} are accepted"
                                )));
                            }
                            p.fields.push(f.to_string());
                        }
                    }
                }
                "sort_key" => keys.push(v.clone()),
                "sort_dir" => dirs.push(v.clone()),
                "limit" => {
                    let n = parse_limit(v)?;
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
                    let attr = visible(key).filter(|a| a.filter != FilterKind::None).ok_or_else(|| {
                        ApiError::bad_request(format!("[{key}] is invalid attribute for filtering"))
                    })?;
                    p.filters.entry(attr.name.to_string()).or_default().push(v.clone());
                }
            }
        }
        let values: usize = p
            .filters
            .iter()
            .map(|(k, vs)| if TAG_FILTERS.contains(&k.as_str()) { split_tags(vs).len() } else { vs.len() })
            .sum();
        if values > MAX_FILTER_VALUES {
            return Err(ApiError::bad_request(format!(
                "Too many filter values: at most {MAX_FILTER_VALUES} are accepted"
            )));
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
        let mut columns: Vec<&str> = vec![];
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
            let column = visible(&k).filter(|a| a.sort).and_then(|a| a.column).ok_or_else(|| {
                ApiError::bad_request(format!("'{k}' is an invalid attribute for sort_keys"))
            })?;
            // A key already sorted on cannot change the order again: keep its first use only,
            // so the cost of a query is bounded by the number of sortable attributes.
            if !columns.contains(&column) {
                columns.push(column);
                p.sorts.push((k, asc));
            }
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
                // Repeats narrow nothing further than the latest of them.
                if let Some(latest) = values.iter().max() {
                    select.updated_since(latest);
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
            let Some(attr) = find(attrs, k) else { continue };
            let Some(column) = attr.column else { continue };
            select.sort_by(column, attr.filter == FilterKind::Text, *asc);
        }
        select.limit = self.limit;
        select.reverse = self.page_reverse;
        Ok(())
    }

    /// Applies the query to `select` and runs it from the marker: the page's rows and whether
    /// more follow. A marker outside the select's scope (unknown, or not visible to the caller)
    /// is `not_found`, as upstream looks the marker up with the caller's own visibility.
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
        let tags = split_tags(values);
        if tags.is_empty() {
            return;
        }
        select.tagged(tag_type, name, &tags);
    }
}

/// The distinct tags of tag filter values (each a comma list).
fn split_tags(values: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut tags: Vec<String> = vec![];
    for t in values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|t| !t.is_empty()) {
        if seen.insert(t) {
            tags.push(t.to_string());
        }
    }
    tags
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

    const ALL: Readable<'static> = &|_| true;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn repeated_keys_collect_values() {
        let p =
            ListParams::parse(&pairs(&[("name", "a"), ("name", "b"), ("fields", "id")]), &NETWORK, None, ALL)
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
            let e = ListParams::parse(&pairs(&q), &NETWORK, None, ALL).unwrap_err();
            assert_eq!(e.status, 400, "{q:?}");
        }
    }

    #[test]
    fn changed_since_is_normalised_to_utc() {
        let p =
            ListParams::parse(&pairs(&[("changed_since", "2024-05-01T12:00:00+02:00")]), &NETWORK, None, ALL)
                .unwrap();
        assert_eq!(p.filters["changed_since"], vec!["2024-05-01T10:00:00Z"]);
        let p = ListParams::parse(&pairs(&[("changed_since", "2024-05-01T12:00:00")]), &NETWORK, None, ALL)
            .unwrap();
        assert_eq!(p.filters["changed_since"], vec!["2024-05-01T12:00:00Z"]);
        let e =
            ListParams::parse(&pairs(&[("changed_since", "yesterday")]), &NETWORK, None, ALL).unwrap_err();
        assert_eq!((e.status, e.kind.as_str()), (400, "InvalidInput"));
    }

    #[test]
    fn max_limit_caps_the_page() {
        let p = ListParams::parse(&pairs(&[("limit", "500")]), &NETWORK, Some(100), ALL).unwrap();
        assert_eq!(p.limit, Some(100));
        let p = ListParams::parse(&pairs(&[("limit", "0")]), &NETWORK, None, ALL).unwrap();
        assert_eq!(p.limit, None);
    }

    #[test]
    fn boolean_filters_are_converted() {
        let p = ListParams::parse(&pairs(&[("shared", "True")]), &NETWORK, None, ALL).unwrap();
        let mut s = Select::new("networks", "id");
        p.apply(&mut s, &NETWORK, "networks").unwrap();
        assert_eq!(s.wheres[0].1, vec![SqlValue::Int(1)]);
        let p = ListParams::parse(&pairs(&[("shared", "yes")]), &NETWORK, None, ALL).unwrap();
        assert_eq!(p.apply(&mut s, &NETWORK, "networks").unwrap_err().status, 400);
    }
}
