//! The `Datapath actions:` line of `ofproto/trace` (the datapath action syntax of Open vSwitch
//! 3.1's `odp-util`, as printed by `ovs-dpctl dump-flows`): outputs, `drop`, `clone(…)`,
//! `ct(…)`, `recirc(…)`, `userspace(…)`, and tunnel encapsulation in its two forms, the
//! userspace datapath's `tnl_push(tnl_port(…),header(…),out_port(…))` and the kernel's
//! `set(tunnel(tun_id=…,dst=…))` before an output.

use std::net::IpAddr;

use neutrino_ovs::flow::normalize::{parse_u64, split_top};
use serde::Serialize;

/// How deep `clone(…)` is followed; deeper text is kept as [`DpAction::Other`].
const MAX_NESTING: usize = 8;

/// One datapath action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum DpAction {
    /// Output to a datapath port (a number, not an OpenFlow port).
    Output(u32),
    Drop,
    /// Encapsulation: `tnl_push(…)` or `set(tunnel(…))`.
    Tunnel(TunnelPush),
    /// `ct(…)` with its arguments (`commit,zone=3`).
    Ct(String),
    /// `recirc(0x…)`: the packet comes back with this `recirc_id`.
    Recirc(u32),
    /// `userspace(…)` (to the controller, sFlow…) with its arguments.
    Userspace(String),
    /// `clone(…)`: the actions on a copy of the packet.
    Clone(Vec<DpAction>),
    /// Anything else, as written (`push_vlan(vid=5,pcp=0)`, `pop_vlan`, `set(…)`…).
    Other(String),
}

/// Which form a tunnel encapsulation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelKind {
    /// The userspace datapath builds the outer headers itself: `tnl_push(…)`.
    Native,
    /// The kernel datapath's tunnel port does: `set(tunnel(…))` then output to that port.
    Kernel,
}

/// What a tunnel encapsulation says about the outer packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelPush {
    pub kind: TunnelKind,
    /// The VXLAN/Geneve VNI (`vni=0x3e9`) or the kernel form's `tun_id`.
    pub vni: Option<u64>,
    /// The outer source and destination addresses.
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// `tnl_port(N)`: the datapath port of the tunnel (native form only).
    pub tnl_port: Option<u32>,
    /// `out_port(N)`: the datapath port the outer packet leaves by (native form only).
    pub out_port: Option<u32>,
}

/// Parses a `Datapath actions:` value. It never fails: what it does not know is
/// [`DpAction::Other`].
pub fn parse_datapath_actions(text: &str) -> Vec<DpAction> {
    parse_list(text, 0)
}

fn parse_list(text: &str, depth: usize) -> Vec<DpAction> {
    let mut out = Vec::new();
    for part in split_top(text) {
        out.push(parse_one(part, depth));
    }
    out
}

/// `name(inner)` → `inner`, when `s` is exactly that.
fn call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

fn parse_one(part: &str, depth: usize) -> DpAction {
    if part == "drop" {
        return DpAction::Drop;
    }
    if let Ok(port) = part.parse::<u32>() {
        return DpAction::Output(port);
    }
    if let Some(inner) = call(part, "clone")
        && depth < MAX_NESTING
    {
        return DpAction::Clone(parse_list(inner, depth + 1));
    }
    if let Some(inner) = call(part, "ct") {
        return DpAction::Ct(inner.to_string());
    }
    if let Some(id) = call(part, "recirc").and_then(parse_u64).and_then(|v| u32::try_from(v).ok()) {
        return DpAction::Recirc(id);
    }
    if let Some(inner) = call(part, "userspace") {
        return DpAction::Userspace(inner.to_string());
    }
    if let Some(inner) = call(part, "tnl_push") {
        return DpAction::Tunnel(native_push(inner));
    }
    if let Some(inner) = call(part, "set").and_then(|s| call(s, "tunnel")) {
        return DpAction::Tunnel(kernel_tunnel(inner));
    }
    DpAction::Other(part.to_string())
}

/// `key=value` pairs of a comma list (top level only).
fn fields(s: &str) -> impl Iterator<Item = (&str, &str)> {
    split_top(s).into_iter().filter_map(|f| f.split_once('='))
}

fn port(s: &str) -> Option<u32> {
    s.trim().parse().ok()
}

fn native_push(inner: &str) -> TunnelPush {
    let mut push = TunnelPush {
        kind: TunnelKind::Native,
        vni: None,
        src: None,
        dst: None,
        tnl_port: None,
        out_port: None,
    };
    for part in split_top(inner) {
        if let Some(p) = call(part, "tnl_port") {
            push.tnl_port = port(p);
        } else if let Some(p) = call(part, "out_port") {
            push.out_port = port(p);
        } else if let Some(header) = call(part, "header") {
            for layer in split_top(header) {
                let Some((name, args)) = layer.split_once('(') else { continue };
                let args = args.strip_suffix(')').unwrap_or(args);
                for (k, v) in fields(args) {
                    match (name, k) {
                        ("ipv4" | "ipv6", "src") => push.src = v.parse().ok(),
                        ("ipv4" | "ipv6", "dst") => push.dst = v.parse().ok(),
                        (_, "vni") => push.vni = parse_u64(v),
                        _ => {}
                    }
                }
            }
        }
    }
    push
}

fn kernel_tunnel(inner: &str) -> TunnelPush {
    let mut push = TunnelPush {
        kind: TunnelKind::Kernel,
        vni: None,
        src: None,
        dst: None,
        tnl_port: None,
        out_port: None,
    };
    for (k, v) in fields(inner) {
        match k {
            "tun_id" => push.vni = parse_u64(v),
            "src" | "ipv6_src" => push.src = v.parse().ok(),
            "dst" | "ipv6_dst" => push.dst = v.parse().ok(),
            _ => {}
        }
    }
    push
}

/// The actions with every `clone(…)` opened, in order.
pub fn flatten(actions: &[DpAction]) -> Vec<&DpAction> {
    let mut out = Vec::new();
    let mut stack: Vec<&DpAction> = actions.iter().rev().collect();
    while let Some(a) = stack.pop() {
        match a {
            DpAction::Clone(inner) => stack.extend(inner.iter().rev()),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_vxlan_push_inside_clone() {
        let a = parse_datapath_actions(
            "clone(tnl_push(tnl_port(1),header(size=50,type=4,eth(dst=aa:bb:cc:dd:ee:02,src=3a:bd:8c:fd:9a:4f,dl_type=0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x3e9)),out_port(10)),9),3",
        );
        let flat = flatten(&a);
        let DpAction::Tunnel(t) = flat[0] else { panic!("{a:?}") };
        assert_eq!(t.kind, TunnelKind::Native);
        assert_eq!(t.vni, Some(0x3e9));
        assert_eq!(t.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(t.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!((t.tnl_port, t.out_port), (Some(1), Some(10)));
        assert_eq!(flat[1..], [&DpAction::Output(9), &DpAction::Output(3)]);
    }

    #[test]
    fn kernel_tunnel_set_then_output() {
        // The kernel datapath's form (not recordable here: no kernel module on the test host).
        let a = parse_datapath_actions(
            "set(tunnel(tun_id=0x3e9,src=10.0.0.1,dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df|key))),pop_vlan,2",
        );
        let DpAction::Tunnel(t) = &a[0] else { panic!("{a:?}") };
        assert_eq!((t.kind, t.vni), (TunnelKind::Kernel, Some(0x3e9)));
        assert_eq!(t.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(a[1..], [DpAction::Other("pop_vlan".into()), DpAction::Output(2)]);
    }

    #[test]
    fn ct_recirc_drop_userspace_and_unknown() {
        assert_eq!(
            parse_datapath_actions("push_vlan(vid=5,pcp=0),ct(zone=3),recirc(0x1)"),
            [
                DpAction::Other("push_vlan(vid=5,pcp=0)".into()),
                DpAction::Ct("zone=3".into()),
                DpAction::Recirc(1)
            ]
        );
        assert_eq!(parse_datapath_actions("drop"), [DpAction::Drop]);
        assert!(matches!(
            &parse_datapath_actions("userspace(pid=0,controller(reason=1))")[0],
            DpAction::Userspace(_)
        ));
        assert_eq!(parse_datapath_actions("recirc(zz)"), [DpAction::Other("recirc(zz)".into())]);
        assert!(parse_datapath_actions("").is_empty());
    }

    #[test]
    fn deep_clones_stop_nesting() {
        let deep = format!("{}1{}", "clone(".repeat(10_000), ")".repeat(10_000));
        let a = parse_datapath_actions(&deep);
        assert_eq!(a.len(), 1);
        assert!(flatten(&a).iter().any(|x| matches!(x, DpAction::Other(_))));
    }
}
