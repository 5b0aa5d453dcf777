//! The topology as Graphviz dot (`topology -f dot`): an undirected graph with one cluster per
//! host (its bridges, namespaces and VMs), the networks, routers and remote tunnel ends outside,
//! in the view's stable order. Every identifier and label is a quoted string escaped as the DOT
//! language requires, so tenant-chosen names cannot break out of it.

use std::fmt::Write;

use super::{EdgeKind, Node, NodeKind, Topology, segment};

/// `s` as a DOT quoted string: `"` and `\` escaped, line breaks as the label escape `\n`, other
/// control characters dropped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn lines(parts: &[String]) -> String {
    quote(&parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join("\n"))
}

fn node_line(n: &Node) -> String {
    let (shape, label) = match &n.kind {
        NodeKind::Host { .. } => ("plaintext", vec![n.name.clone()]),
        NodeKind::Bridge => ("box", vec![n.name.clone()]),
        NodeKind::Namespace { .. } => ("folder", vec![n.name.clone()]),
        NodeKind::Vm { ips, floating_ips, .. } => {
            let mut l = vec![n.name.clone(), ips.join(", ")];
            l.extend(floating_ips.iter().map(|f| format!("floating {f}")));
            ("component", l)
        }
        NodeKind::Router { .. } => ("octagon", vec![n.name.clone()]),
        NodeKind::Network { cidrs, .. } => {
            ("ellipse", vec![n.name.clone(), segment(&n.kind), cidrs.join(", ")])
        }
        NodeKind::Remote { ip } => ("diamond", vec![n.name.clone(), ip.clone()]),
    };
    format!("{} [shape={shape}, label={}];", quote(&n.id), lines(&label))
}

impl Topology {
    /// The graph in Graphviz dot, for `dot -Tpng` and friends.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("graph topology {\n");
        out.push_str("  graph [rankdir=TB, fontname=\"sans-serif\"];\n");
        out.push_str("  node [fontname=\"sans-serif\", fontsize=10];\n");
        out.push_str("  edge [fontname=\"sans-serif\", fontsize=9];\n");
        let hosts = self.nodes.iter().filter(|n| matches!(n.kind, NodeKind::Host { .. }));
        for (i, host) in hosts.enumerate() {
            let NodeKind::Host { tunnel_ip } = &host.kind else { continue };
            let title = vec![host.name.clone(), tunnel_ip.clone().unwrap_or_default()];
            let _ = writeln!(out, "  subgraph \"cluster_{i}\" {{");
            let _ = writeln!(out, "    label={};", lines(&title));
            let _ = writeln!(out, "    style=rounded;");
            if self.edges.iter().any(|e| e.from == host.id || e.to == host.id) {
                // A tunnel ends at the host itself when it has no tunnel port back.
                let _ = writeln!(out, "    {}", node_line(host));
            }
            let inside = self.nodes.iter().filter(|n| {
                n.host.as_deref() == Some(host.name.as_str())
                    && !matches!(n.kind, NodeKind::Vm { placed: false, .. })
            });
            for n in inside {
                let _ = writeln!(out, "    {}", node_line(n));
            }
            out.push_str("  }\n");
        }
        let outside = self.nodes.iter().filter(|n| match n.kind {
            NodeKind::Host { .. } => false,
            NodeKind::Vm { placed, .. } => !placed,
            _ => n.host.is_none(),
        });
        for n in outside {
            let _ = writeln!(out, "  {}", node_line(n));
        }
        for e in &self.edges {
            let style = match e.kind {
                EdgeKind::Tunnel => "dashed",
                EdgeKind::Patch => "bold",
                EdgeKind::Serves => "dotted",
                _ => "solid",
            };
            let mut attrs = format!("style={style}");
            if !e.label.is_empty() && e.kind != EdgeKind::Patch {
                let _ = write!(attrs, ", label={}", quote(&e.label));
            }
            if let Some(p) = &e.from_port {
                let _ = write!(attrs, ", taillabel={}", quote(p));
            }
            if let Some(p) = &e.to_port {
                let _ = write!(attrs, ", headlabel={}", quote(p));
            }
            let _ = writeln!(out, "  {} -- {} [{attrs}];", quote(&e.from), quote(&e.to));
        }
        out.push_str("}\n");
        out
    }
}
