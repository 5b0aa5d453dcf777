//! Tags of any standard-attribute resource (`standard-attr-tag`), kept in one table keyed by
//! resource type and id.

use std::collections::HashMap;

use super::list::chunks;
use super::{Sql, SqlValue, StoreError, placeholders};

/// The tags of each of `ids`, sorted.
pub fn of(
    sql: &mut dyn Sql,
    rtype: &str,
    ids: &[String],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in chunks(ids) {
        let mut params: Vec<SqlValue> = vec![rtype.into()];
        params.extend(chunk.iter().map(SqlValue::from));
        let rows = sql.query(
            &format!(
                "SELECT resource_id, tag FROM tags WHERE resource_type = ? AND resource_id IN ({}) ORDER BY tag",
                placeholders(chunk.len())
            ),
            &params,
        )?;
        for r in rows {
            out.entry(r[0].text()).or_default().push(r[1].text());
        }
    }
    Ok(out)
}

pub fn add(sql: &mut dyn Sql, rtype: &str, id: &str, tag: &str) -> Result<bool, StoreError> {
    let exists = !sql
        .query(
            "SELECT 1 FROM tags WHERE resource_type = ? AND resource_id = ? AND tag = ?",
            &[rtype.into(), id.into(), tag.into()],
        )?
        .is_empty();
    if !exists {
        sql.execute(
            "INSERT INTO tags (resource_type, resource_id, tag) VALUES (?, ?, ?)",
            &[rtype.into(), id.into(), tag.into()],
        )?;
    }
    Ok(!exists)
}

pub fn remove(sql: &mut dyn Sql, rtype: &str, id: &str, tag: &str) -> Result<bool, StoreError> {
    Ok(sql.execute(
        "DELETE FROM tags WHERE resource_type = ? AND resource_id = ? AND tag = ?",
        &[rtype.into(), id.into(), tag.into()],
    )? > 0)
}

pub fn clear(sql: &mut dyn Sql, rtype: &str, id: &str) -> Result<usize, StoreError> {
    sql.execute("DELETE FROM tags WHERE resource_type = ? AND resource_id = ?", &[rtype.into(), id.into()])
}

/// The condition of one tag filter of `standard-attr-tag` over `table`'s rows and its
/// parameters: `tags` (all of), `tags-any`, `not-tags` (not all of), `not-tags-any` (none of)
/// the distinct `tags`. One subquery whatever the number of tags, so that the statement's size
/// grows with the tags as an `IN` list, never as a nested expression.
pub fn filter_condition(rtype: &str, table: &str, filter: &str, tags: &[String]) -> (String, Vec<SqlValue>) {
    let from = format!(
        "FROM tags t WHERE t.resource_type = '{rtype}' AND t.resource_id = {table}.id AND t.tag IN ({})",
        placeholders(tags.len())
    );
    let n = tags.len();
    let cond = match filter {
        "tags" => format!("(SELECT COUNT(*) {from}) = {n}"),
        "tags-any" => format!("EXISTS (SELECT 1 {from})"),
        "not-tags" => format!("(SELECT COUNT(*) {from}) < {n}"),
        _ => format!("NOT EXISTS (SELECT 1 {from})"),
    };
    (cond, tags.iter().map(SqlValue::from).collect())
}
