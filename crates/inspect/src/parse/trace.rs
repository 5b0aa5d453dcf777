//! `ovs-appctl ofproto/trace BRIDGE FLOW [--ct-next FLAGS]…` output of Open vSwitch 3.1
//! (ovs-vswitchd(8) "OFPROTO COMMANDS"): the `Flow:` line, a `bridge("…")` block per bridge
//! crossed (nested and indented when a patch port or tunnel is output mid-actions), numbered
//! table steps with their indented actions and `->`/`>>` notes, `Final flow:`, `Megaflow:`,
//! `Datapath actions:`, and one more such section per conntrack recirculation.

use neutrino_ovs::flow::normalize::{self, parse_u64};
use neutrino_ovs::flow::{Flow, FlowId};
use serde::Serialize;

use super::ParseError;
use super::datapath::{DpAction, TunnelPush, flatten, parse_datapath_actions};

/// A whole trace: the first pass and one section per recirculation, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub sections: Vec<Section>,
}

/// One pass through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// `None` for the first pass.
    pub recirc: Option<Recirc>,
    /// The `Flow:` text: the packet as this pass sees it.
    pub flow: String,
    pub steps: Vec<Step>,
    /// Lines that belong to no step (`thaw`, `Resuming from table 20`, translation errors).
    pub notes: Vec<String>,
    /// `Final flow:`; `unchanged` is kept as written.
    pub final_flow: Option<String>,
    pub megaflow: Option<String>,
    pub datapath_actions: String,
}

/// The banner of a recirculation section:
/// `recirc(0x1) - resume conntrack with [default ]ct_state=trk|new …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recirc {
    pub id: Option<u32>,
    /// The conntrack state the pass resumes with, as written (`est|trk`).
    pub ct_state: Option<String>,
    /// Whether that state is OVS's default (no `--ct-next` given for this pass).
    pub default_ct_state: bool,
    /// The whole banner line.
    pub text: String,
}

/// One table lookup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub bridge: String,
    /// How deeply the bridge block is nested (0: not nested; 1: a patch port or tunnel output
    /// in the middle of another bridge's actions…).
    pub depth: usize,
    pub table: u8,
    /// The flow's match, normalised as `dump` normalises dumped flows (fields sorted, aliases
    /// renamed), so it compares with them; empty for a match-everything flow or no match.
    pub matches: String,
    /// 0 when `no_match`.
    pub priority: u16,
    #[serde(serialize_with = "super::serialize_cookie")]
    pub cookie: u64,
    /// `N. No match.`: the table had no flow for the packet.
    pub no_match: bool,
    /// The action lines in order; `depth` counts indentation below the step's first level.
    pub actions: Vec<ActionLine>,
    /// The `->` and `>>` lines, with their marker (`-> output to native tunnel`).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionLine {
    pub depth: usize,
    pub text: String,
}

impl Step {
    /// The [`FlowId`] of the flow that matched, as `dump` shows it (`None` for no match).
    pub fn flow_id(&self) -> Option<FlowId> {
        (!self.no_match).then(|| Flow::new(self.table, self.priority, self.cookie, &self.matches, "").id())
    }
}

impl Section {
    /// The datapath actions, parsed.
    pub fn dp_actions(&self) -> Vec<DpAction> {
        parse_datapath_actions(&self.datapath_actions)
    }

    /// Whether the datapath drops the packet in this pass.
    pub fn is_drop(&self) -> bool {
        self.dp_actions().iter().all(|a| matches!(a, DpAction::Drop))
    }

    /// The datapath ports the packet is output to (clones included), in order.
    pub fn output_ports(&self) -> Vec<u32> {
        let actions = self.dp_actions();
        flatten(&actions)
            .into_iter()
            .filter_map(|a| if let DpAction::Output(p) = a { Some(*p) } else { None })
            .collect()
    }

    /// The tunnel encapsulations, in order.
    pub fn tunnels(&self) -> Vec<TunnelPush> {
        let actions = self.dp_actions();
        flatten(&actions)
            .into_iter()
            .filter_map(|a| if let DpAction::Tunnel(t) = a { Some(t.clone()) } else { None })
            .collect()
    }

    /// The arguments of each `ct(…)`, in order.
    pub fn ct(&self) -> Vec<String> {
        let actions = self.dp_actions();
        flatten(&actions)
            .into_iter()
            .filter_map(|a| if let DpAction::Ct(c) = a { Some(c.clone()) } else { None })
            .collect()
    }

    /// The `recirc(…)` ids: the sections that follow from this one.
    pub fn recircs(&self) -> Vec<u32> {
        let actions = self.dp_actions();
        flatten(&actions)
            .into_iter()
            .filter_map(|a| if let DpAction::Recirc(r) = a { Some(*r) } else { None })
            .collect()
    }
}

impl Trace {
    /// The last pass: where the packet's fate is decided.
    pub fn final_section(&self) -> Option<&Section> {
        self.sections.last()
    }

    /// The last table step of the last pass.
    pub fn last_step(&self) -> Option<&Step> {
        self.sections.iter().rev().find_map(|s| s.steps.last())
    }

    /// Whether the last pass drops the packet.
    pub fn is_drop(&self) -> bool {
        self.final_section().is_none_or(Section::is_drop)
    }

    /// Every step of every pass, in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.sections.iter().flat_map(|s| s.steps.iter())
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `bridge("br-int")` → `br-int`.
fn bridge_header(text: &str) -> Option<&str> {
    text.strip_prefix("bridge(\"")?.strip_suffix("\")")
}

/// `12. rest` → (`12`, `rest`).
fn step_line(text: &str) -> Option<(&str, &str)> {
    let (num, rest) = text.split_once(". ").or_else(|| text.strip_suffix('.').map(|n| (n, "")))?;
    (!num.is_empty() && num.len() <= 3 && num.bytes().all(|b| b.is_ascii_digit())).then_some((num, rest))
}

/// The part of a step line after `N. `: `MATCH, priority P[, cookie C]` or `priority P…`.
fn step_body(body: &str) -> Result<(String, u16, u64), String> {
    let (rest, cookie) = match body.rsplit_once(", cookie ") {
        Some((r, c)) => (r, parse_u64(c).ok_or("bad cookie")?),
        None => (body, 0),
    };
    let (matches, priority) = match rest.strip_prefix("priority ") {
        Some(p) => ("", p),
        None => rest.rsplit_once(", priority ").ok_or("no priority")?,
    };
    let priority = priority.parse().map_err(|_| "bad priority")?;
    Ok((matches.to_string(), priority, cookie))
}

fn recirc_banner(text: &str) -> Recirc {
    let id = text
        .strip_prefix("recirc(")
        .and_then(|r| r.split_once(')'))
        .and_then(|(id, _)| parse_u64(id))
        .and_then(|v| u32::try_from(v).ok());
    let ct_state = text
        .split_once("ct_state=")
        .map(|(_, r)| r.split_whitespace().next().unwrap_or_default().to_string());
    Recirc { id, ct_state, default_ct_state: text.contains("default ct_state="), text: text.to_string() }
}

/// A section while its lines are read.
struct Open {
    recirc: Option<Recirc>,
    flow: String,
    steps: Vec<(usize, Step)>,
    notes: Vec<String>,
    bridges: Vec<(usize, String)>,
    final_flow: Option<String>,
    megaflow: Option<String>,
    datapath_actions: Option<String>,
}

impl Open {
    fn new(recirc: Option<Recirc>, flow: &str) -> Open {
        Open {
            recirc,
            flow: flow.to_string(),
            steps: Vec::new(),
            notes: Vec::new(),
            bridges: Vec::new(),
            final_flow: None,
            megaflow: None,
            datapath_actions: None,
        }
    }

    fn close(self) -> Result<Section, ParseError> {
        let datapath_actions = self.datapath_actions.ok_or_else(|| {
            ParseError::Incomplete(format!("no \"Datapath actions:\" for the pass of {:?}", self.flow))
        })?;
        Ok(Section {
            recirc: self.recirc,
            flow: self.flow,
            steps: self.steps.into_iter().map(|(_, s)| s).collect(),
            notes: self.notes,
            final_flow: self.final_flow,
            megaflow: self.megaflow,
            datapath_actions,
        })
    }

    /// A line inside the bridge blocks: a step, or an action or note of an open step.
    fn body_line(&mut self, n: usize, line: &str) -> Result<(), ParseError> {
        let indent = indent_of(line);
        let text = line.trim();
        // A block ends at the first line indented less than its header.
        while self.bridges.last().is_some_and(|(i, _)| *i > indent) {
            self.bridges.pop();
        }
        if let Some(name) = bridge_header(text) {
            self.bridges.push((indent, name.to_string()));
            return Ok(());
        }
        if !text.is_empty() && text.bytes().all(|b| b == b'-') {
            return Ok(());
        }
        if let Some((num, body)) = step_line(text) {
            let level = indent / 4 * 4;
            let table = num.parse().map_err(|_| ParseError::line(n, line, "bad table number"))?;
            let (bridge_indent, bridge) = self
                .bridges
                .iter()
                .rev()
                .find(|(i, _)| *i <= level)
                .map(|(i, b)| (*i, b.clone()))
                .unwrap_or_default();
            let no_match = body.starts_with("No match");
            let (matches, priority, cookie) = if no_match {
                (String::new(), 0, 0)
            } else {
                step_body(body).map_err(|reason| ParseError::line(n, line, reason))?
            };
            let notes = if no_match && body != "No match." { vec![body.to_string()] } else { Vec::new() };
            let step = Step {
                bridge,
                depth: bridge_indent / 4,
                table,
                matches: normalize::matches(&matches),
                priority,
                cookie,
                no_match,
                actions: Vec::new(),
                notes,
            };
            self.steps.push((level, step));
            return Ok(());
        }
        match self.steps.iter_mut().rev().find(|(level, _)| *level < indent) {
            Some((_, step)) if text.starts_with("->") || text.starts_with(">>") => {
                step.notes.push(text.to_string());
            }
            Some((level, step)) => {
                let depth = indent.saturating_sub(*level + 4) / 4;
                step.actions.push(ActionLine { depth, text: text.to_string() });
            }
            None => self.notes.push(text.to_string()),
        }
        Ok(())
    }
}

/// Parses a whole `ofproto/trace` output. It must start with a `Flow:` line, and every pass
/// must end with `Datapath actions:`; lines it does not know are kept as notes.
pub fn parse_trace(text: &str) -> Result<Trace, ParseError> {
    let mut sections = Vec::new();
    let mut open: Option<Open> = None;
    let mut banner: Option<Recirc> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(flow) = line.strip_prefix("Flow: ") {
            if let Some(prev) = open.take() {
                sections.push(prev.close()?);
            }
            open = Some(Open::new(banner.take(), flow.trim()));
            continue;
        }
        if trimmed.len() >= 3 && trimmed.bytes().all(|b| b == b'=') && indent_of(line) == 0 {
            continue;
        }
        if line.starts_with("recirc(") {
            if let Some(prev) = open.take() {
                sections.push(prev.close()?);
            }
            banner = Some(recirc_banner(trimmed));
            continue;
        }
        let Some(section) = open.as_mut() else {
            return Err(ParseError::line(n, line, "expected \"Flow:\" first"));
        };
        if let Some(v) = line.strip_prefix("Final flow: ") {
            section.final_flow = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Megaflow: ") {
            section.megaflow = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Datapath actions: ") {
            section.datapath_actions = Some(v.trim().to_string());
        } else if section.datapath_actions.is_some() {
            section.notes.push(trimmed.to_string());
        } else {
            section.body_line(n, line)?;
        }
    }
    match open {
        Some(last) => sections.push(last.close()?),
        None => return Err(ParseError::Incomplete("no \"Flow:\" line".to_string())),
    }
    if banner.is_some() {
        return Err(ParseError::Incomplete("a recirculation banner without its pass".to_string()));
    }
    Ok(Trace { sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = "Flow: in_port=1

bridge(\"br-x\")
---------------
 0. in_port=1, priority 5
    clone
        set_field:1->reg0
        resubmit(,3)
     -> a note
 3. No match, flow generates \"packet in\"s.
    drop

Final flow: unchanged
Megaflow: recirc_id=0,in_port=1
Datapath actions: drop
";

    #[test]
    fn deeper_lines_keep_their_depth_and_no_match_keeps_its_text() {
        let t = parse_trace(NESTED).unwrap();
        let steps = &t.sections[0].steps;
        let depths: Vec<_> = steps[0].actions.iter().map(|a| (a.depth, a.text.as_str())).collect();
        assert_eq!(depths, [(0, "clone"), (1, "set_field:1->reg0"), (1, "resubmit(,3)")]);
        assert_eq!(steps[0].notes, ["-> a note"]);
        assert!(steps[1].no_match && steps[1].flow_id().is_none());
        assert_eq!(steps[1].notes, ["No match, flow generates \"packet in\"s."]);
        assert_eq!(t.last_step().map(|s| s.table), Some(3));
        assert!(t.is_drop());
    }

    #[test]
    fn step_bodies_and_banners() {
        assert_eq!(step_body("priority 0"), Ok((String::new(), 0, 0)));
        assert_eq!(step_body("ip,in_port=2, priority 10"), Ok(("ip,in_port=2".into(), 10, 0)));
        assert_eq!(step_body("arp, priority 90, cookie 0x4e54"), Ok(("arp".into(), 90, 0x4e54)));
        assert!(step_body("arp, priority 70000").is_err());
        assert!(step_body("arp, priority 1, cookie zz").is_err());
        assert!(step_body("arp").is_err());
        let r = recirc_banner(
            "recirc(0x1) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)",
        );
        assert_eq!((r.id, r.ct_state.as_deref(), r.default_ct_state), (Some(1), Some("trk|new"), true));
        let r = recirc_banner("recirc(0x3) - resume conntrack with ct_state=est|trk");
        assert_eq!((r.id, r.ct_state.as_deref(), r.default_ct_state), (Some(3), Some("est|trk"), false));
        assert_eq!(recirc_banner("recirc(").id, None);
    }

    #[test]
    fn a_banner_without_its_pass_or_text_before_flow_is_an_error() {
        assert!(parse_trace("Flow: x\nDatapath actions: drop\nrecirc(0x1) - resume\n").is_err());
        assert!(parse_trace("bridge(\"br-int\")\nFlow: x\nDatapath actions: drop\n").is_err());
        assert!(parse_trace("Flow: x\nDatapath actions: drop\n").is_ok());
    }
}
