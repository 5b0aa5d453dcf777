//! The topology as an SVG picture drawn by this crate (the SVG file of `topology`). Hand-written
//! rather than laid out by Graphviz: there is no maintained pure-Rust Graphviz layout crate, and
//! the picture is a fixed layered layout that needs none. Hosts are columns of boxes (bridges,
//! namespaces, VMs; then a column for what is on hosts not inspected, and one of routers);
//! networks are horizontal bands below them. Lines run in lanes beside the boxes: patch links and
//! plugs on a column's left, drops to a network band (ending in a dot) on its right, tunnels
//! through a strip above the columns, namespace-to-router links through a strip below them.
//! Coordinates are integers computed from the text lengths only, so the same topology always
//! gives the same file; every text is escaped, and characters XML cannot hold are replaced.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::text::one_line;
use super::{EdgeKind, Node, NodeKind, NsRole, Topology, segment};
use crate::cloud::label;

const MARGIN: i64 = 20;
const CHAR_W: i64 = 7;
const LINE_H: i64 = 14;
const LANE: i64 = 6;
const COL_GAP: i64 = 30;
const HEADER_H: i64 = 40;
const BAND_H: i64 = 24;
const BOX_MIN: i64 = 140;
const BOX_MAX: i64 = 280;
const GUTTER_MAX: i64 = 360;
/// The strip of tunnels has room for a label above each lane.
const TUNNEL_LANE: i64 = 14;

/// `s` as XML character data or attribute value: markup characters escaped, control characters
/// (line breaks too) as spaces, and characters XML 1.0 cannot hold as U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `chars` characters (with an ellipsis when cut).
fn fit(s: &str, chars: i64) -> String {
    let s = one_line(s);
    let max = usize::try_from(chars.max(2)).unwrap_or(2);
    match s.chars().count() > max {
        true => s.chars().take(max - 1).chain(['…']).collect(),
        false => s,
    }
}

fn width_of(s: &str) -> i64 {
    i64::try_from(s.chars().count()).unwrap_or(i64::MAX / 16).saturating_mul(CHAR_W)
}

#[derive(Debug, Clone, Copy, Default)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

impl Rect {
    fn cy(&self) -> i64 {
        self.y + self.h / 2
    }
    fn right(&self) -> i64 {
        self.x + self.w
    }
}

struct Item<'a> {
    node: &'a Node,
    lines: Vec<String>,
    rect: Rect,
}

#[derive(Default)]
struct Column<'a> {
    title: Vec<String>,
    full_title: String,
    host: Option<&'a str>,
    items: Vec<Item<'a>>,
    left_lanes: i64,
    right_lanes: i64,
    rect: Rect,
    box_x: i64,
    box_w: i64,
}

#[derive(Clone, Copy)]
enum At {
    Item(usize, usize),
    Header(usize),
    Band(usize),
}

enum Route {
    /// Within a column, on its left: (column, left lane).
    Side(usize, i64),
    /// Down to a band: (column, right lane).
    Drop(usize, i64),
    /// Through the strip above (tunnels) or below: (from column, right lane, to column, left
    /// lane, strip lane, above).
    Across(usize, i64, usize, i64, i64, bool),
}

fn item_lines(t: &Topology, n: &Node) -> Vec<String> {
    match &n.kind {
        NodeKind::Vm { ips, floating_ips, placed, .. } => {
            let mut second = ips.join(", ");
            for f in floating_ips {
                second.push_str(&format!(" ⇄ {f}"));
            }
            let mut lines = vec![n.name.clone(), second];
            if !placed {
                lines.push(format!("on {}", n.host.as_deref().unwrap_or("no host")));
            }
            lines
        }
        NodeKind::Bridge => vec![format!("bridge {}", n.name)],
        NodeKind::Namespace { role, resource_id, known } => {
            let what = match role {
                NsRole::Router => "router",
                NsRole::Dhcp => "dhcp",
            };
            let of = t
                .edges
                .iter()
                .find(|e| e.kind == EdgeKind::Serves && e.from == n.id)
                .and_then(|e| t.node(&e.to));
            let of = match (of, known) {
                (Some(of), _) => of.name.clone(),
                (None, _) => format!("{} (not in the API)", label("", resource_id)),
            };
            vec![format!("{what} {of}"), n.name.clone()]
        }
        NodeKind::Remote { ip } => vec![n.name.clone(), format!("tunnel end {ip}")],
        NodeKind::Router { gateway, .. } => {
            let gw = gateway.as_ref().map(|g| format!("gw {} {}", g.network, g.ips.join(", ")));
            vec![n.name.clone(), gw.unwrap_or_default()]
        }
        _ => vec![n.name.clone()],
    }
}

fn fill_of(n: &Node) -> &'static str {
    match n.kind {
        NodeKind::Bridge => "#e8f0fe",
        NodeKind::Namespace { .. } => "#fef7e0",
        NodeKind::Vm { .. } => "#e6f4ea",
        NodeKind::Router { .. } => "#fce8e6",
        _ => "#f1f3f4",
    }
}

fn columns(t: &Topology) -> Vec<Column<'_>> {
    let mut cols = Vec::new();
    for host in t.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Host { .. })) {
        let NodeKind::Host { tunnel_ip } = &host.kind else { continue };
        let items = t
            .nodes
            .iter()
            .filter(|n| n.host.as_deref() == Some(host.name.as_str()))
            .filter(|n| !matches!(n.kind, NodeKind::Vm { placed: false, .. }))
            .map(|n| Item { node: n, lines: item_lines(t, n), rect: Rect::default() })
            .collect();
        cols.push(Column {
            title: vec![host.name.clone(), tunnel_ip.clone().unwrap_or_default()],
            full_title: host.name.clone(),
            host: Some(host.id.as_str()),
            items,
            ..Column::default()
        });
    }
    let elsewhere: Vec<Item> = t
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Vm { placed: false, .. } | NodeKind::Remote { .. }))
        .map(|n| Item { node: n, lines: item_lines(t, n), rect: Rect::default() })
        .collect();
    if !elsewhere.is_empty() {
        let title = "not inspected".to_string();
        cols.push(Column {
            title: vec![title.clone()],
            full_title: title,
            items: elsewhere,
            ..Column::default()
        });
    }
    let routers: Vec<Item> = t
        .nodes
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Router { .. }))
        .map(|n| Item { node: n, lines: item_lines(t, n), rect: Rect::default() })
        .collect();
    if !routers.is_empty() {
        let title = "routers".to_string();
        cols.push(Column {
            title: vec![title.clone()],
            full_title: title,
            items: routers,
            ..Column::default()
        });
    }
    cols
}

fn band_text(n: &Node) -> String {
    let cidrs = match &n.kind {
        NodeKind::Network { cidrs, .. } => cidrs.join(", "),
        _ => String::new(),
    };
    let parts = [n.name.clone(), segment(&n.kind), cidrs];
    parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("  ")
}

fn rect(out: &mut String, r: Rect, fill: &str, rx: i64) {
    let _ = writeln!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" rx="{rx}" fill="{fill}" stroke="#5f6368"/>"##,
        r.x, r.y, r.w, r.h
    );
}

fn text(out: &mut String, x: i64, y: i64, s: &str, bold: bool) {
    let weight = if bold { r#" font-weight="bold""# } else { "" };
    let _ = writeln!(out, r#"<text x="{x}" y="{y}"{weight}>{}</text>"#, escape(s));
}

fn path(out: &mut String, points: &[(i64, i64)], dashed: bool) {
    let d: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (x, y))| format!("{}{x} {y}", if i == 0 { "M" } else { "L" }))
        .collect();
    let dash = if dashed { r#" stroke-dasharray="5 3""# } else { "" };
    let _ = writeln!(out, r##"<path d="{}" fill="none" stroke="#3c4043"{dash}/>"##, d.join(" "));
}

impl Topology {
    /// The picture as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let mut cols = columns(self);
        let bands: Vec<&Node> =
            self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Network { .. })).collect();
        let mut at: BTreeMap<&str, At> = BTreeMap::new();
        for (c, col) in cols.iter().enumerate() {
            if let Some(h) = col.host {
                at.insert(h, At::Header(c));
            }
            for (i, item) in col.items.iter().enumerate() {
                at.insert(item.node.id.as_str(), At::Item(c, i));
            }
        }
        for (b, n) in bands.iter().enumerate() {
            at.insert(n.id.as_str(), At::Band(b));
        }
        let col_of = |a: At| match a {
            At::Item(c, _) | At::Header(c) => Some(c),
            At::Band(_) => None,
        };

        // Plan each edge's route, counting the lanes each column and strip needs.
        let (mut above, mut below) = (0, 0);
        let mut routes = Vec::new();
        let mut drawn = BTreeSet::new();
        for e in &self.edges {
            let (Some(&a), Some(&b)) = (at.get(e.from.as_str()), at.get(e.to.as_str())) else { continue };
            // A namespace's several ports on one bridge are one line.
            if e.kind == EdgeKind::Plug && !drawn.insert((&e.from, &e.to)) {
                continue;
            }
            let (a, b) = match (col_of(a), col_of(b)) {
                (None, Some(_)) => (b, a),
                _ => (a, b),
            };
            let route = match (col_of(a), col_of(b)) {
                (Some(c), None) => {
                    cols[c].right_lanes += 1;
                    Route::Drop(c, cols[c].right_lanes - 1)
                }
                (Some(c), Some(d)) if c == d => {
                    cols[c].left_lanes += 1;
                    Route::Side(c, cols[c].left_lanes - 1)
                }
                (Some(c), Some(d)) => {
                    let up = e.kind == EdgeKind::Tunnel;
                    let strip = if up { &mut above } else { &mut below };
                    *strip += 1;
                    cols[c].right_lanes += 1;
                    cols[d].left_lanes += 1;
                    Route::Across(c, cols[c].right_lanes - 1, d, cols[d].left_lanes - 1, *strip - 1, up)
                }
                (None, _) => continue,
            };
            routes.push((e, a, b, route));
        }

        // Place the columns, their boxes and the bands.
        let gutter =
            bands.iter().map(|n| width_of(&one_line(&band_text(n))) + 16).max().unwrap_or(0).min(GUTTER_MAX);
        let above_h = if above > 0 { 6 + TUNNEL_LANE * above } else { 0 };
        let top = MARGIN + above_h;
        let mut x = MARGIN + gutter;
        let mut bottom = top + HEADER_H;
        for col in &mut cols {
            let widest =
                col.items.iter().flat_map(|i| i.lines.iter()).chain(&col.title).map(|l| width_of(l)).max();
            col.box_w = (widest.unwrap_or(0) + 16).clamp(BOX_MIN, BOX_MAX);
            col.box_x = x + 10 + LANE * col.left_lanes;
            let right = col.box_x + col.box_w + 10 + LANE * col.right_lanes;
            let mut y = top + HEADER_H;
            for item in &mut col.items {
                let lines = i64::try_from(item.lines.len()).unwrap_or(1);
                item.rect = Rect { x: col.box_x, y, w: col.box_w, h: 10 + LINE_H * lines };
                y += item.rect.h + 10;
            }
            bottom = bottom.max(y);
            col.rect = Rect { x, y: top, w: right - x, h: 0 };
            x = right + COL_GAP;
        }
        for col in &mut cols {
            col.rect.h = bottom - top;
        }
        let width = (x - COL_GAP + MARGIN).max(MARGIN * 2 + gutter);
        let below_top = bottom + 10;
        let bands_top = below_top + if below > 0 { 12 + LANE * below } else { 0 } + 10;
        let band_rect = |b: usize| {
            let k = i64::try_from(b).unwrap_or(0);
            Rect { x: MARGIN, y: bands_top + k * (BAND_H + 10), w: width - 2 * MARGIN, h: BAND_H }
        };
        let nbands = i64::try_from(bands.len()).unwrap_or(0);
        let height = bands_top + nbands * (BAND_H + 10) - if nbands > 0 { 10 } else { 0 } + MARGIN;
        let height = height.max(bottom + MARGIN);
        let rect_of = |a: At| match a {
            At::Item(c, i) => cols[c].items[i].rect,
            At::Header(c) => Rect { x: cols[c].rect.x, y: cols[c].rect.y, w: cols[c].rect.w, h: HEADER_H },
            At::Band(b) => band_rect(b),
        };

        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(out, r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#);
        for col in &cols {
            let _ = writeln!(out, "<g><title>{}</title>", escape(&col.full_title));
            rect(&mut out, col.rect, "#fafafa", 6);
            let chars = (col.rect.w - 16) / CHAR_W;
            for (k, line) in col.title.iter().enumerate() {
                let k = i64::try_from(k).unwrap_or(0);
                text(&mut out, col.rect.x + 8, col.rect.y + 16 + k * LINE_H, &fit(line, chars), k == 0);
            }
            out.push_str("</g>\n");
        }
        for (b, n) in bands.iter().enumerate() {
            let r = band_rect(b);
            let _ = writeln!(out, "<g><title>{}</title>", escape(&n.name));
            rect(&mut out, r, "#e8eaed", 4);
            text(&mut out, r.x + 8, r.y + 16, &fit(&band_text(n), (gutter - 16) / CHAR_W), true);
            out.push_str("</g>\n");
        }
        let mut dots = Vec::new();
        for (e, a, b, route) in &routes {
            let (ra, rb) = (rect_of(*a), rect_of(*b));
            let dashed = e.kind == EdgeKind::Tunnel;
            match *route {
                Route::Side(c, lane) => {
                    let lx = cols[c].box_x - 6 - LANE * lane;
                    path(&mut out, &[(ra.x, ra.cy()), (lx, ra.cy()), (lx, rb.cy()), (rb.x, rb.cy())], dashed);
                }
                Route::Drop(c, lane) => {
                    let lx = cols[c].box_x + cols[c].box_w + 6 + LANE * lane;
                    path(&mut out, &[(ra.right(), ra.cy()), (lx, ra.cy()), (lx, rb.cy())], dashed);
                    dots.push((lx, rb.cy(), e.label.clone()));
                }
                Route::Across(c, lane, d, dlane, strip, up) => {
                    let x1 = cols[c].box_x + cols[c].box_w + 6 + LANE * lane;
                    let x2 = cols[d].box_x - 6 - LANE * dlane;
                    let sy = match up {
                        true => MARGIN + TUNNEL_LANE + TUNNEL_LANE * strip,
                        false => below_top + 6 + LANE * strip,
                    };
                    let start = (ra.right().min(x1), ra.cy());
                    let end = (rb.x.max(x2), rb.cy());
                    path(&mut out, &[start, (x1, ra.cy()), (x1, sy), (x2, sy), (x2, rb.cy()), end], dashed);
                    if !e.label.is_empty() {
                        text(&mut out, x1.min(x2) + 4, sy - 2, &fit(&e.label, 12), false);
                    }
                }
            }
        }
        for col in &cols {
            let chars = (col.box_w - 12) / CHAR_W;
            for item in &col.items {
                let _ = writeln!(out, "<g><title>{}</title>", escape(&item.node.name));
                rect(&mut out, item.rect, fill_of(item.node), 3);
                for (k, line) in item.lines.iter().enumerate() {
                    let k = i64::try_from(k).unwrap_or(0);
                    text(&mut out, item.rect.x + 6, item.rect.y + 17 + k * LINE_H, &fit(line, chars), k == 0);
                }
                out.push_str("</g>\n");
            }
        }
        for (x, y, label) in dots {
            let _ = writeln!(out, r##"<circle cx="{x}" cy="{y}" r="3" fill="#3c4043"/>"##);
            if !label.is_empty() {
                let _ = writeln!(
                    out,
                    r#"<text x="{}" y="{}" font-size="9" text-anchor="end">{}</text>"#,
                    x - 4,
                    y - 4,
                    escape(&fit(&label, 24))
                );
            }
        }
        out.push_str("</svg>\n");
        out
    }
}
