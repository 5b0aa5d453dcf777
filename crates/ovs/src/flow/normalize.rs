//! Canonical match and action text, so a flow we generate and the same flow read back from
//! `ovs-ofctl dump-flows` (OpenFlow 1.0 + NXM output, ovs-ofctl(8), ovs-fields(7),
//! ovs-actions(7)) compare equal. Checked against Open vSwitch 3.1's own output by the
//! `flows` integration test.
//!
//! Matches: protocol shorthand first (`dl_type`/`nw_proto` folded into `ip`, `tcp`, `arp`…),
//! then the other fields sorted by name; field aliases renamed to the names ovs-ofctl prints
//! (`eth_src`→`dl_src`, `udp_dst`→`tp_dst`, `tunnel_id`→`tun_id`…); masks applied and
//! all-ones masks dropped; numbers in ovs-ofctl's base; `ct_state` flags in bit order.
//! Actions keep their order; each is rewritten the way ovs-ofctl prints it back
//! (`output:NORMAL`→`NORMAL`, `3`→`output:3`, `pop_vlan`→`strip_vlan`,
//! `set_field:5->reg0`→`load:0x5->NXM_NX_REG0[]`, `goto_table:N`→`resubmit(,N)`…).
//! Text it does not know is kept as written.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_u64(s: &str) -> Option<u64> {
    parse_u128(s).and_then(|v| u64::try_from(v).ok())
}

fn parse_u128(s: &str) -> Option<u128> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Splits on commas that are not inside parentheses. A stray `)` closes nothing, so only the
/// last part can be left open (see `leaves_open`).
pub fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0usize, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Whether `s` has a `(` that is not closed: any text after it would belong to it.
fn leaves_open(s: &str) -> bool {
    s.chars().fold(0usize, |d, c| match c {
        '(' => d + 1,
        ')' => d.saturating_sub(1),
        _ => d,
    }) > 0
}

const PROTOCOLS: &[(&str, u16, Option<u8>)] = &[
    ("ip", 0x0800, None),
    ("icmp", 0x0800, Some(1)),
    ("tcp", 0x0800, Some(6)),
    ("udp", 0x0800, Some(17)),
    ("sctp", 0x0800, Some(132)),
    ("ipv6", 0x86dd, None),
    ("tcp6", 0x86dd, Some(6)),
    ("udp6", 0x86dd, Some(17)),
    ("icmp6", 0x86dd, Some(58)),
    ("sctp6", 0x86dd, Some(132)),
    ("arp", 0x0806, None),
    ("rarp", 0x8035, None),
    ("mpls", 0x8847, None),
    ("mplsm", 0x8848, None),
];

fn field_alias(name: &str) -> &str {
    match name {
        "eth_src" => "dl_src",
        "eth_dst" => "dl_dst",
        "eth_type" => "dl_type",
        "vlan_pcp" => "dl_vlan_pcp",
        "ip_src" | "ipv4_src" => "nw_src",
        "ip_dst" | "ipv4_dst" => "nw_dst",
        "ip_proto" => "nw_proto",
        "tunnel_id" => "tun_id",
        "tcp_src" | "udp_src" | "sctp_src" => "tp_src",
        "tcp_dst" | "udp_dst" | "sctp_dst" => "tp_dst",
        "icmpv4_type" | "icmpv6_type" => "icmp_type",
        "icmpv4_code" | "icmpv6_code" => "icmp_code",
        other => other,
    }
}

enum Kind {
    Mac,
    Ipv4,
    Ipv6,
    /// Printed in hex, with the field's width in bits.
    Hex(u32),
    /// Printed in decimal; masked values in hex (as `tp_dst=0x50/0xfff0`).
    Dec(u32),
    CtState,
    Other,
}

fn kind(name: &str) -> Kind {
    match name {
        "dl_src" | "dl_dst" | "arp_sha" | "arp_tha" | "nd_sll" | "nd_tll" => Kind::Mac,
        "nw_src" | "nw_dst" | "arp_spa" | "arp_tpa" | "tun_src" | "tun_dst" | "ct_nw_src" | "ct_nw_dst" => {
            Kind::Ipv4
        }
        "ipv6_src" | "ipv6_dst" | "nd_target" | "ct_ipv6_src" | "ct_ipv6_dst" => Kind::Ipv6,
        "tun_id" | "metadata" => Kind::Hex(64),
        "pkt_mark" | "ct_mark" => Kind::Hex(32),
        "vlan_tci" | "dl_type" => Kind::Hex(16),
        "ct_label" => Kind::Hex(128),
        "ct_state" => Kind::CtState,
        "tp_src" | "tp_dst" => Kind::Dec(16),
        "dl_vlan" => Kind::Dec(12),
        "dl_vlan_pcp" | "nw_proto" | "nw_tos" | "nw_ecn" | "nw_ttl" | "icmp_type" | "icmp_code"
        | "arp_op" => Kind::Dec(16),
        "conj_id" | "ct_zone" | "recirc_id" | "mpls_label" => Kind::Dec(32),
        n if is_reg(n) => Kind::Hex(32),
        _ => Kind::Other,
    }
}

fn is_reg(n: &str) -> bool {
    n.strip_prefix("reg").and_then(|i| i.parse::<u8>().ok()).is_some_and(|i| i < 16)
}

fn ones(bits: u32) -> u128 {
    if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 }
}

fn norm_value(name: &str, value: &str) -> String {
    let (v, mask) = match value.split_once('/') {
        Some((v, m)) => (v.trim(), Some(m.trim())),
        None => (value.trim(), None),
    };
    let out = match kind(name) {
        Kind::Mac => norm_mac(v, mask),
        Kind::Ipv4 => norm_ipv4(v, mask),
        Kind::Ipv6 => norm_ipv6(v, mask),
        Kind::Hex(bits) => norm_int(v, mask, bits, true),
        Kind::Dec(bits) => norm_int(v, mask, bits, false),
        Kind::CtState => Some(norm_ct_state(value)),
        Kind::Other => None,
    };
    out.unwrap_or_else(|| value.to_string())
}

fn norm_int(v: &str, mask: Option<&str>, bits: u32, hex: bool) -> Option<String> {
    let v = parse_u128(v)?;
    match mask.map(parse_u128) {
        None => Some(if hex { format!("{v:#x}") } else { v.to_string() }),
        Some(None) => None,
        Some(Some(m)) if m & ones(bits) == ones(bits) => {
            Some(if hex { format!("{v:#x}") } else { v.to_string() })
        }
        Some(Some(m)) => Some(format!("{:#x}/{m:#x}", v & m)),
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn norm_mac(v: &str, mask: Option<&str>) -> Option<String> {
    let v = parse_mac(v)?;
    match mask {
        None => Some(fmt_mac(v)),
        Some(m) => {
            let m = parse_mac(m)?;
            if m == [0xff; 6] {
                return Some(fmt_mac(v));
            }
            let masked: Vec<u8> = v.iter().zip(m).map(|(a, b)| a & b).collect();
            Some(format!("{}/{}", fmt_mac(masked.try_into().ok()?), fmt_mac(m)))
        }
    }
}

fn norm_ipv4(v: &str, mask: Option<&str>) -> Option<String> {
    let addr: Ipv4Addr = v.parse().ok()?;
    let Some(mask) = mask else { return Some(addr.to_string()) };
    let m: u32 = match mask.parse::<u8>() {
        Ok(len) if len <= 32 => u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0),
        Ok(_) => return None,
        Err(_) => u32::from(mask.parse::<Ipv4Addr>().ok()?),
    };
    let net = Ipv4Addr::from(u32::from(addr) & m);
    if m == u32::MAX {
        Some(net.to_string())
    } else if m.leading_ones() + m.trailing_zeros() == 32 {
        Some(format!("{net}/{}", m.leading_ones()))
    } else {
        Some(format!("{net}/{}", Ipv4Addr::from(m)))
    }
}

fn norm_ipv6(v: &str, mask: Option<&str>) -> Option<String> {
    let addr: Ipv6Addr = v.parse().ok()?;
    let Some(mask) = mask else { return Some(addr.to_string()) };
    let m: u128 = match mask.parse::<u8>() {
        Ok(len) if len <= 128 => u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0),
        Ok(_) => return None,
        Err(_) => u128::from(mask.parse::<Ipv6Addr>().ok()?),
    };
    let net = Ipv6Addr::from(u128::from(addr) & m);
    if m == u128::MAX {
        Some(net.to_string())
    } else if m.leading_ones() + m.trailing_zeros() == 128 {
        Some(format!("{net}/{}", m.leading_ones()))
    } else {
        Some(format!("{net}/{}", Ipv6Addr::from(m)))
    }
}

const CT_FLAGS: &[&str] = &["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];

fn norm_ct_state(v: &str) -> String {
    let mut set: Vec<(usize, char)> = Vec::new();
    let mut rest = v.trim();
    while let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
        rest = &rest[1..];
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let Some(bit) = CT_FLAGS.iter().position(|f| *f == rest[..end].to_ascii_lowercase()) else {
            return v.to_string();
        };
        set.retain(|(b, _)| *b != bit);
        set.push((bit, sign));
        rest = &rest[end..];
    }
    if !rest.is_empty() || set.is_empty() {
        return v.to_string();
    }
    set.sort();
    set.iter().map(|(b, s)| format!("{s}{}", CT_FLAGS[*b])).collect()
}

/// The canonical form of a match (see the module documentation).
pub fn matches(text: &str) -> String {
    let mut proto: Option<(u16, Option<u8>)> = None;
    let mut dl_type: Option<u16> = None;
    let mut nw_proto: Option<u8> = None;
    // A bare token (`ip`, a flag) has no value; `name=` keeps its empty value, so that the
    // canonical text reads back as the same fields.
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for token in split_top(text) {
        let Some((name, value)) = token.split_once('=') else {
            let t = token.to_ascii_lowercase();
            let t = if t == "ipv4" { "ip".to_string() } else { t };
            match PROTOCOLS.iter().find(|(n, _, _)| *n == t) {
                Some((_, eth, p)) => proto = Some((*eth, *p)),
                None => fields.push((t, None)),
            }
            continue;
        };
        let name = field_alias(name.trim().to_ascii_lowercase().as_str()).to_string();
        let value = norm_value(&name, value);
        match name.as_str() {
            "dl_type" if !value.contains('/') => {
                dl_type = parse_u64(&value).and_then(|v| u16::try_from(v).ok())
            }
            "nw_proto" => nw_proto = value.parse().ok(),
            _ => {}
        }
        if (name == "dl_type" && dl_type.is_some()) || (name == "nw_proto" && nw_proto.is_some()) {
            continue;
        }
        fields.push((name, Some(value)));
    }
    let eth = proto.map(|p| p.0).or(dl_type);
    let ip_proto = proto.and_then(|p| p.1).or(nw_proto);
    let mut head = Vec::new();
    if let Some(eth) = eth {
        match PROTOCOLS.iter().find(|(_, e, p)| *e == eth && *p == ip_proto) {
            Some((n, _, _)) => head.push(n.to_string()),
            None => {
                match PROTOCOLS.iter().find(|(_, e, p)| *e == eth && p.is_none()) {
                    Some((n, _, _)) => head.push(n.to_string()),
                    None => fields.push(("dl_type".into(), Some(format!("{eth:#06x}")))),
                }
                if let Some(p) = ip_proto {
                    fields.push(("nw_proto".into(), Some(p.to_string())));
                }
            }
        }
    } else if let Some(p) = ip_proto {
        fields.push(("nw_proto".into(), Some(p.to_string())));
    }
    for (name, value) in fields.iter_mut() {
        if let Some(value) = value {
            fold_vlan(name, value);
        }
    }
    fields.sort();
    fields.dedup();
    let mut rendered: Vec<String> = fields
        .into_iter()
        .map(|(n, v)| match v {
            Some(v) => format!("{n}={v}"),
            None => n,
        })
        .collect();
    // Garbage with an unclosed `(` stays last, or it would swallow the fields after it.
    if let Some(i) = rendered.iter().position(|f| leaves_open(f)) {
        let open = rendered.remove(i);
        rendered.push(open);
    }
    head.extend(rendered);
    head.join(",")
}

/// `dl_vlan=0xffff` (no VLAN) is `vlan_tci=0x0000/0x1fff`; `vlan_tci=0x1VVV/0x1fff` is `dl_vlan=VVV`.
fn fold_vlan(name: &mut String, value: &mut String) {
    if name == "dl_vlan" && value == "65535" {
        *name = "vlan_tci".into();
        *value = "0x0000/0x1fff".into();
    } else if name == "vlan_tci"
        && let Some((v, m)) = value.split_once('/')
        && parse_u64(m) == Some(0x1fff)
        && let Some(v) = parse_u64(v)
    {
        if v & 0x1000 != 0 {
            *name = "dl_vlan".into();
            *value = (v & 0xfff).to_string();
        } else if v == 0 {
            *value = "0x0000/0x1fff".into();
        }
    }
}

fn field_ref(f: &str) -> String {
    let (name, range) = match f.find('[') {
        Some(i) => (&f[..i], &f[i..]),
        None => (f, "[]"),
    };
    let lower = name.to_ascii_lowercase();
    let nxm = match lower.as_str() {
        n if is_reg(n) => format!("NXM_NX_REG{}", &n[3..]),
        "tun_id" | "tunnel_id" => "NXM_NX_TUN_ID".into(),
        "vlan_tci" => "NXM_OF_VLAN_TCI".into(),
        "eth_src" | "dl_src" => "NXM_OF_ETH_SRC".into(),
        "eth_dst" | "dl_dst" => "NXM_OF_ETH_DST".into(),
        "in_port" => "NXM_OF_IN_PORT".into(),
        "ct_mark" => "NXM_NX_CT_MARK".into(),
        "pkt_mark" => "NXM_NX_PKT_MARK".into(),
        "metadata" => "OXM_OF_METADATA".into(),
        _ => name.to_string(),
    };
    format!("{nxm}{range}")
}

fn hex_value(v: &str) -> String {
    parse_u128(v).map(|n| format!("{n:#x}")).unwrap_or_else(|| v.to_string())
}

const RESERVED_PORTS: &[&str] = &["NORMAL", "FLOOD", "ALL", "LOCAL", "IN_PORT"];

/// How deep `ct(exec(…))` lists are rewritten; deeper ones are kept as written, so that no
/// input can exhaust the stack (Open vSwitch refuses such nesting long before).
const MAX_NESTING: usize = 8;

/// The canonical form of an action list (see the module documentation). The empty list is
/// `drop`, as ovs-ofctl prints it.
pub fn actions(text: &str) -> String {
    let list = action_list(text, 0);
    if list.is_empty() { "drop".into() } else { list }
}

fn action_list(text: &str, depth: usize) -> String {
    split_top(text).into_iter().map(|a| action(a, depth)).collect::<Vec<_>>().join(",")
}

fn action(a: &str, depth: usize) -> String {
    let upper = a.to_ascii_uppercase();
    let port = upper.strip_prefix("OUTPUT:").unwrap_or(&upper);
    if RESERVED_PORTS.contains(&port) {
        return port.to_string();
    }
    if port == "CONTROLLER" {
        return "CONTROLLER:65535".into();
    }
    if let Some(len) = port.strip_prefix("CONTROLLER:") {
        return format!("CONTROLLER:{len}");
    }
    if let Some(n) = parse_u64(port).filter(|_| !port.starts_with("0X")) {
        return format!("output:{n}");
    }
    let lower = a.to_ascii_lowercase();
    if lower == "drop" || lower == "strip_vlan" || lower == "pop_vlan" {
        return if lower == "drop" { "drop".into() } else { "strip_vlan".into() };
    }
    if let Some((verb, arg)) = a.split_once(':') {
        let verb = verb.trim().to_ascii_lowercase();
        let arg = arg.trim();
        match verb.as_str() {
            "set_tunnel" | "set_tunnel64" => return format!("load:{}->NXM_NX_TUN_ID[]", hex_value(arg)),
            "goto_table" => {
                return format!("resubmit(,{})", parse_u64(arg).map_or(arg.to_string(), |n| n.to_string()));
            }
            "mod_dl_src" | "mod_dl_dst" => return format!("{verb}:{}", arg.to_ascii_lowercase()),
            "mod_vlan_vid" | "mod_vlan_pcp" | "resubmit" => {
                return format!("{verb}:{}", parse_u64(arg).map_or(arg.to_string(), |n| n.to_string()));
            }
            "load" => {
                if let Some((v, f)) = arg.split_once("->") {
                    return format!("load:{}->{}", hex_value(v.trim()), field_ref(f.trim()));
                }
            }
            "move" => {
                if let Some((s, d)) = arg.split_once("->") {
                    return format!("move:{}->{}", field_ref(s.trim()), field_ref(d.trim()));
                }
            }
            "set_field" => {
                if let Some((v, f)) = arg.rsplit_once("->") {
                    let (v, f) = (v.trim(), f.trim().to_ascii_lowercase());
                    match f.as_str() {
                        "eth_src" | "dl_src" => return format!("mod_dl_src:{}", v.to_ascii_lowercase()),
                        "eth_dst" | "dl_dst" => return format!("mod_dl_dst:{}", v.to_ascii_lowercase()),
                        "tun_id" | "tunnel_id" => return format!("load:{}->NXM_NX_TUN_ID[]", hex_value(v)),
                        f if is_reg(f) && !v.contains('/') => {
                            return format!("load:{}->{}", hex_value(v), field_ref(f));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(inner) = a.strip_prefix("ct(").and_then(|r| r.strip_suffix(')'))
        && depth < MAX_NESTING
    {
        let args: Vec<String> = split_top(inner)
            .into_iter()
            .map(|arg| match arg.strip_prefix("exec(").and_then(|r| r.strip_suffix(')')) {
                Some(ex) => format!("exec({})", action_list(ex, depth + 1)),
                None => arg.to_string(),
            })
            .collect();
        return format!("ct({})", args.join(","));
    }
    a.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_canonical() {
        assert_eq!(matches("in_port=1,dl_vlan=5"), "dl_vlan=5,in_port=1");
        assert_eq!(matches("dl_type=0x0800,nw_proto=6"), "tcp");
        assert_eq!(matches("eth_type=0x0806,in_port=LOCAL"), "arp,in_port=LOCAL");
        assert_eq!(matches("ip,nw_proto=17"), "udp");
        assert_eq!(matches("dl_type=0x86dd,nw_proto=58"), "icmp6");
        assert_eq!(matches("ip,nw_proto=47"), "ip,nw_proto=47");
        assert_eq!(matches("dl_type=0x88cc"), "dl_type=0x88cc");
        assert_eq!(
            matches("ip,nw_src=10.0.0.5/32,nw_dst=10.1.2.3/255.255.0.0"),
            "ip,nw_dst=10.1.0.0/16,nw_src=10.0.0.5"
        );
        assert_eq!(matches("ipv6,ipv6_src=fe80::1/64"), "ipv6,ipv6_src=fe80::/64");
        assert_eq!(
            matches("dl_src=FA:16:3E:00:00:01/ff:ff:ff:00:00:00"),
            "dl_src=fa:16:3e:00:00:00/ff:ff:ff:00:00:00"
        );
        assert_eq!(matches("eth_dst=fa:16:3e:00:00:01/ff:ff:ff:ff:ff:ff"), "dl_dst=fa:16:3e:00:00:01");
        assert_eq!(matches("reg0=5,tun_id=0x0005,metadata=10"), "metadata=0xa,reg0=0x5,tun_id=0x5");
        assert_eq!(matches("reg1=0x5/0xffffffff"), "reg1=0x5");
        assert_eq!(matches("tcp6,tp_dst=80/0xfff0"), "tcp6,tp_dst=0x50/0xfff0");
        assert_eq!(matches("udp,udp_dst=67"), "udp,tp_dst=67");
        assert_eq!(matches("ct_state=+trk+est-rel,ip"), "ip,ct_state=+est-rel+trk");
        assert_eq!(matches("dl_vlan=0xffff,in_port=1"), "in_port=1,vlan_tci=0x0000/0x1fff");
        assert_eq!(matches("vlan_tci=0x1005/0x1fff"), "dl_vlan=5");
        assert_eq!(matches(""), "");
        // `name=` keeps its `=`: written as `ip` it would read back as the protocol.
        assert_eq!(matches("ipv4=,udp"), "udp,ipv4=");
        assert_eq!(matches(&matches("ipv4=,udp")), "udp,ipv4=");
        assert_eq!(matches("=,in_port=1"), "=,in_port=1");
        // Unbalanced parentheses (garbage) read back as the same fields.
        assert_eq!(matches("z,a(,b"), "z,a(,b");
        assert_eq!(split_top("a),b"), vec!["a)", "b"]);
        // Garbage stays as written rather than panicking.
        assert_eq!(
            matches("nw_src=300.1.1.1,ct_state=+bogus,dl_src=zz"),
            "ct_state=+bogus,dl_src=zz,nw_src=300.1.1.1"
        );
    }

    #[test]
    fn actions_are_canonical() {
        assert_eq!(actions("output:normal"), "NORMAL");
        assert_eq!(actions("normal"), "NORMAL");
        assert_eq!(
            actions("mod_vlan_vid:0x7,3,output:in_port,local"),
            "mod_vlan_vid:7,output:3,IN_PORT,LOCAL"
        );
        assert_eq!(
            actions("pop_vlan,set_tunnel:0x5,output:2"),
            "strip_vlan,load:0x5->NXM_NX_TUN_ID[],output:2"
        );
        assert_eq!(
            actions("set_field:5->reg0,set_field:FA:16:3e:00:00:bb->eth_dst,mod_dl_src:FA:16:3E:00:00:AA"),
            "load:0x5->NXM_NX_REG0[],mod_dl_dst:fa:16:3e:00:00:bb,mod_dl_src:fa:16:3e:00:00:aa"
        );
        assert_eq!(
            actions("load:1->reg1,move:reg0[0..11]->vlan_tci[0..11]"),
            "load:0x1->NXM_NX_REG1[],move:NXM_NX_REG0[0..11]->NXM_OF_VLAN_TCI[0..11]"
        );
        assert_eq!(
            actions("set_field:0x1234->tunnel_id,goto_table:9"),
            "load:0x1234->NXM_NX_TUN_ID[],resubmit(,9)"
        );
        assert_eq!(actions("controller"), "CONTROLLER:65535");
        assert_eq!(actions("resubmit(,3)"), "resubmit(,3)");
        assert_eq!(
            actions("ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x1->ct_mark)),output:1"),
            "ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x1->ct_mark)),output:1"
        );
        assert_eq!(
            actions("ct(commit,exec(load:1->NXM_NX_CT_MARK[]))"),
            "ct(commit,exec(load:0x1->NXM_NX_CT_MARK[]))"
        );
        assert_eq!(actions("DROP"), "drop");
        assert_eq!(actions(""), "drop");
        assert_eq!(actions(" , "), "drop");
    }

    #[test]
    fn deeply_nested_actions_do_not_exhaust_the_stack() {
        let deep = format!("{}drop{}", "ct(exec(".repeat(100_000), "))".repeat(100_000));
        assert_eq!(actions(&deep), deep);
        let shallow = "ct(commit,exec(ct(exec(3))))";
        assert_eq!(actions(shallow), "ct(commit,exec(ct(exec(output:3))))");
    }

    #[test]
    fn normalising_is_idempotent() {
        for m in [
            "in_port=1,dl_vlan=5",
            "tcp6,tp_dst=80/0xfff0",
            "dl_vlan=0xffff",
            "ct_state=-trk,ip",
            // Garbage found by tests/fuzz_flows.rs.
            "ipv4=,udp",
            "a( ,)(),)()",
            "b,a(,c",
        ] {
            assert_eq!(matches(&matches(m)), matches(m));
        }
        for a in ["set_field:5->reg0,3", "pop_vlan,goto_table:3", "ct(commit,exec(load:1->reg0))"] {
            assert_eq!(actions(&actions(a)), actions(a));
        }
    }
}
