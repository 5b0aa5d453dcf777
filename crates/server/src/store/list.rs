//! Paged, sorted, filtered selects (the list half of the API: `sort_key`/`sort_dir`,
//! `limit`/`marker`/`page_reverse`), built as portable SQL.

use super::{Row, Sql, SqlValue, StoreError, placeholders};

/// A select over one table.
#[derive(Debug, Default, Clone)]
pub struct Select {
    pub table: &'static str,
    pub columns: &'static str,
    /// SQL conditions, ANDed, each with its parameters.
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
        let mut wheres = self.wheres.clone();
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
            text.push_str(&format!(" LIMIT {}", limit + 1));
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

/// Splits `ids` into chunks small enough for one statement's parameters.
pub fn chunks(ids: &[String]) -> impl Iterator<Item = &[String]> {
    ids.chunks(500)
}

impl Select {
    /// Looks the marker row up by id; false when it does not exist.
    pub fn set_marker(&mut self, sql: &mut dyn Sql, id: &str) -> Result<bool, StoreError> {
        let q = format!("SELECT {} FROM {} WHERE id = ?", self.marker_columns(), self.table);
        let rows = sql.query(&q, &[id.into()])?;
        match rows.into_iter().next() {
            Some(r) => {
                self.marker = Some(r);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
