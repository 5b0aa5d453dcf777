//! Paged, sorted, filtered selects (the list half of the API: `sort_key`/`sort_dir`,
//! `limit`/`marker`/`page_reverse`), built as portable SQL.

use super::{Row, Sql, SqlValue, StoreError, placeholders};

/// Whose rows a list may return: all of them (admins), or those one project may see. The
/// service decides which (policy); each resource module turns it into its select's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Project(&'a str),
}

/// A select over one table.
#[derive(Debug, Default, Clone)]
pub struct Select {
    pub table: &'static str,
    pub columns: &'static str,
    /// What the caller may see at all (ANDed, with parameters): applies to the page and to the
    /// marker row alike, so that a marker outside it is as unknown as a missing one.
    pub scope: Vec<(String, Vec<SqlValue>)>,
    /// The query's filters: SQL conditions, ANDed, each with its parameters.
    pub wheres: Vec<(String, Vec<SqlValue>)>,
    /// Sort expressions and whether ascending; `id` is appended as the tie-breaker.
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
    /// Values of the sort expressions (and id, last) of the row to start after.
    pub marker: Option<Vec<SqlValue>>,
    pub reverse: bool,
}

impl Select {
    pub fn new(table: &'static str, columns: &'static str) -> Self {
        Self { table, columns, ..Default::default() }
    }

    /// Adds `column IN (values)`.
    pub fn any_of(&mut self, column: &str, values: Vec<SqlValue>) {
        let cond = format!("{column} IN ({})", placeholders(values.len()));
        self.wheres.push((cond, values));
    }

    pub fn push(&mut self, cond: impl Into<String>, params: Vec<SqlValue>) {
        self.wheres.push((cond.into(), params));
    }

    /// Adds `standard-attr-timestamp`'s `changed_since`: rows updated at or after `t`.
    pub fn updated_since(&mut self, t: &str) {
        self.push("updated_at >= ?", vec![t.into()]);
    }

    /// Adds one tag filter of `standard-attr-tag` (`tags`, `tags-any`, `not-tags`,
    /// `not-tags-any`) over the tags of `tag_type`.
    pub fn tagged(&mut self, tag_type: &str, filter: &str, tags: &[String]) {
        let (cond, params) = super::tags::filter_condition(tag_type, self.table, filter, tags);
        self.push(cond, params);
    }

    /// Sorts by `column` (after the sort keys added before); NULLs sort as `''` in a `text`
    /// column and as -1 in others.
    pub fn sort_by(&mut self, column: &str, text: bool, asc: bool) {
        let expr = match (column, text) {
            ("id", _) => "id".to_string(),
            (_, true) => format!("COALESCE({column}, '')"),
            (_, false) => format!("COALESCE({column}, -1)"),
        };
        self.order.push((expr, asc));
    }

    /// Restricts the select (and its marker) to what the caller may see.
    pub fn scope(&mut self, cond: impl Into<String>, params: Vec<SqlValue>) {
        self.scope.push((cond.into(), params));
    }

    fn keys(&self) -> Vec<(String, bool)> {
        let mut keys = self.order.clone();
        if !keys.iter().any(|(k, _)| k == "id") {
            keys.push(("id".into(), keys.first().is_none_or(|k| k.1)));
        }
        if self.reverse {
            for k in &mut keys {
                k.1 = !k.1;
            }
        }
        keys
    }

    /// The expressions whose values identify a marker row.
    pub fn marker_columns(&self) -> String {
        let mut keys = self.order.iter().map(|k| k.0.clone()).collect::<Vec<_>>();
        if !keys.iter().any(|k| k == "id") {
            keys.push("id".into());
        }
        keys.join(", ")
    }

    /// Runs the select: the rows of the page in API order, and whether more rows follow it.
    pub fn run(&self, sql: &mut dyn Sql) -> Result<(Vec<Row>, bool), StoreError> {
        let keys = self.keys();
        let mut wheres: Vec<(String, Vec<SqlValue>)> =
            self.scope.iter().chain(&self.wheres).cloned().collect();
        if let Some(marker) = &self.marker {
            // Lexicographic "after the marker" over the sort keys.
            let mut ors = vec![];
            let mut params = vec![];
            for i in 0..keys.len() {
                let mut ands = vec![];
                for (j, (k, _)) in keys.iter().take(i).enumerate() {
                    ands.push(format!("{k} = ?"));
                    params.push(marker[j].clone());
                }
                let (k, asc) = &keys[i];
                ands.push(format!("{k} {} ?", if *asc { ">" } else { "<" }));
                params.push(marker[i].clone());
                ors.push(format!("({})", ands.join(" AND ")));
            }
            wheres.push((format!("({})", ors.join(" OR ")), params));
        }
        let mut text = format!("SELECT {} FROM {}", self.columns, self.table);
        let mut params = vec![];
        if !wheres.is_empty() {
            text.push_str(" WHERE ");
            text.push_str(&wheres.iter().map(|w| w.0.as_str()).collect::<Vec<_>>().join(" AND "));
            for w in wheres {
                params.extend(w.1);
            }
        }
        let order: Vec<String> =
            keys.iter().map(|(k, asc)| format!("{k} {}", if *asc { "ASC" } else { "DESC" })).collect();
        text.push_str(" ORDER BY ");
        text.push_str(&order.join(", "));
        if let Some(limit) = self.limit {
            // One more row than the page tells whether more follow; saturate for huge limits.
            let fetch = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1).min(i64::MAX as u64);
            text.push_str(&format!(" LIMIT {fetch}"));
        }
        let mut rows = sql.query(&text, &params)?;
        let more = self.limit.is_some_and(|l| rows.len() > l);
        if let Some(l) = self.limit {
            rows.truncate(l);
        }
        if self.reverse {
            rows.reverse();
        }
        Ok((rows, more))
    }
}

/// `conds` joined by `op` (`AND`/`OR`) in balanced parentheses, so that the expression's depth
/// grows with the logarithm of their number (SQLite refuses expression trees deeper than 1000).
pub fn balanced(op: &str, conds: &[String]) -> String {
    match conds {
        [] => String::new(),
        [one] => format!("({one})"),
        _ => {
            let (a, b) = conds.split_at(conds.len() / 2);
            format!("({} {op} {})", balanced(op, a), balanced(op, b))
        }
    }
}

/// Splits `ids` into chunks small enough for one statement's parameters.
pub fn chunks(ids: &[String]) -> impl Iterator<Item = &[String]> {
    ids.chunks(500)
}

impl Select {
    /// Looks the marker row up by id within the select's scope; false when it does not exist
    /// or the caller may not see it.
    pub fn set_marker(&mut self, sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
        let mut q = format!("SELECT {} FROM {} WHERE id = ?", self.marker_columns(), self.table);
        let mut params = vec![SqlValue::from(id)];
        for (cond, p) in &self.scope {
            q.push_str(" AND ");
            q.push_str(cond);
            params.extend(p.iter().cloned());
        }
        let rows = sql.query(&q, &params)?;
        match rows.into_iter().next() {
            Some(r) => {
                self.marker = Some(r);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
