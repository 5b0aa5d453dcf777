//! The plain text table every view of this module renders with: comfy-table without borders
//! or colours, one space between columns, cells never wrapped (a flow's match stays on one
//! line), trailing spaces trimmed.

use comfy_table::{ContentArrangement, Table, presets};

/// `header` over `rows`, columns in the given order.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty()
        .set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 1));
    }
    let mut out: Vec<String> =
        t.lines().map(|l| l.trim_end().to_string()).filter(|l| !l.is_empty()).collect();
    out.push(String::new());
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_without_borders() {
        let s = table(&["ID", "NAME"], vec![vec!["1".into(), "a".into()], vec!["22".into(), "bb".into()]]);
        assert_eq!(s, "ID NAME\n1  a\n22 bb\n");
    }
}
