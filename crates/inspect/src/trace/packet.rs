//! The traced packet and its `ofproto/trace` microflow (ovs-fields(7) names): Ethernet and IPv4
//! headers, ICMP echo or a TCP/UDP port, and where it enters a bridge (in_port, the tunnel
//! metadata a tunnel port would set, a VLAN tag from a physical network).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Icmp,
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Icmp => "icmp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "icmp" | "ping" => Ok(Proto::Icmp),
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(format!("unknown protocol {s:?} (icmp, tcp or udp)")),
        }
    }
}

/// The source port of traced TCP/UDP packets (any ephemeral port would do).
pub const SOURCE_PORT: u16 = 40000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub src_mac: String,
    pub dst_mac: String,
    pub src_ip: String,
    pub dst_ip: String,
    pub proto: Proto,
    pub dst_port: Option<u16>,
    pub ttl: u8,
}

/// How the packet enters a bridge besides its in_port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arrival {
    /// `tun_id`, outer source and destination of a tunnel.
    pub tunnel: Option<(u64, String, String)>,
    /// The 802.1Q tag it carries on a physical network.
    pub vlan: Option<u16>,
}

impl Packet {
    /// The `ofproto/trace` flow of this packet entering at `in_port`.
    pub fn microflow(&self, in_port: i64, arrival: &Arrival) -> String {
        let mut f = vec![format!("in_port={in_port}")];
        if let Some((id, src, dst)) = &arrival.tunnel {
            f.push(format!("tun_id={id:#x},tun_src={src},tun_dst={dst}"));
        }
        if let Some(v) = arrival.vlan {
            f.push(format!("dl_vlan={v}"));
        }
        f.push(self.proto.name().to_string());
        f.push(format!("dl_src={},dl_dst={}", self.src_mac, self.dst_mac));
        f.push(format!("nw_src={},nw_dst={},nw_ttl={}", self.src_ip, self.dst_ip, self.ttl));
        match (self.proto, self.dst_port) {
            (Proto::Icmp, _) => f.push("icmp_type=8,icmp_code=0".into()),
            (_, Some(p)) => f.push(format!("tp_src={SOURCE_PORT},tp_dst={p}")),
            (_, None) => f.push(format!("tp_src={SOURCE_PORT}")),
        }
        f.join(",")
    }

    /// `tcp/80`, `udp/53` or `icmp`.
    pub fn service(&self) -> String {
        match self.dst_port {
            Some(p) => format!("{}/{p}", self.proto.name()),
            None => self.proto.name().to_string(),
        }
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} {}", self.src_ip, self.dst_ip, self.service())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microflows_name_every_header_the_pipeline_matches() {
        let p = Packet {
            src_mac: "fa:16:3e:00:00:01".into(),
            dst_mac: "fa:16:3e:00:00:02".into(),
            src_ip: "10.0.0.5".into(),
            dst_ip: "10.0.1.7".into(),
            proto: Proto::Tcp,
            dst_port: Some(22),
            ttl: 64,
        };
        assert_eq!(
            p.microflow(3, &Arrival::default()),
            "in_port=3,tcp,dl_src=fa:16:3e:00:00:01,dl_dst=fa:16:3e:00:00:02,nw_src=10.0.0.5,nw_dst=10.0.1.7,nw_ttl=64,tp_src=40000,tp_dst=22"
        );
        let a = Arrival { tunnel: Some((0x3e9, "172.31.0.1".into(), "172.31.0.2".into())), vlan: None };
        let icmp = Packet { proto: Proto::Icmp, dst_port: None, ..p };
        assert_eq!(
            icmp.microflow(2, &a),
            "in_port=2,tun_id=0x3e9,tun_src=172.31.0.1,tun_dst=172.31.0.2,icmp,dl_src=fa:16:3e:00:00:01,dl_dst=fa:16:3e:00:00:02,nw_src=10.0.0.5,nw_dst=10.0.1.7,nw_ttl=64,icmp_type=8,icmp_code=0"
        );
        assert_eq!(icmp.to_string(), "10.0.0.5 → 10.0.1.7 icmp");
    }
}
