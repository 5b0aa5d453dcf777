//! The agent's configuration file (`neutrino agent --config FILE`): the host, the server and
//! its credential, the `roles` this agent serves (`["l2"]` by default), and the `l2` role's
//! options named like upstream's `openvswitch_agent.ini` — `integration_bridge`,
//! `tunnel_bridge`, `bridge_mappings`, `tunnel_types`, `local_ip`, `datapath_type` — with the
//! OVSDB socket, the run directory of ovs-vswitchd and the namespace the host lives in; the
//! prefix of the namespaces the agent creates, the `dhcp` role's `[dhcp]` table (named like
//! upstream's `dhcp_agent.ini`: `dhcp_lease_duration`, `dnsmasq_dns_servers`,
//! `enable_isolated_metadata`), the `l3` role's `[l3]` table ([`L3Config`]: `metadata_port`
//! as upstream's `l3_agent.ini`, the programs it runs) and the `[metadata]` table
//! ([`MetadataConfig`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use neutrino_model::NetworkType;
use neutrino_model::agent::Role;
use serde::{Deserialize, Deserializer, Serialize};

use crate::metadata::MetadataConfig;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The host name ports are bound to.
    pub host: String,
    /// The server's URL (`http://127.0.0.1:9696`).
    pub server: String,
    /// The agent credential, or a file holding it.
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// The roles this agent serves on its host (`l2`, `dhcp`, `l3`),
    /// each reported as its own agent row.
    pub roles: Vec<Role>,
    pub integration_bridge: String,
    pub tunnel_bridge: String,
    /// `physnet1 = "br-eth1"`.
    pub bridge_mappings: BTreeMap<String, String>,
    /// `vxlan`, `gre`.
    #[serde(deserialize_with = "tunnel_types")]
    pub tunnel_types: Vec<NetworkType>,
    /// This host's tunnel endpoint.
    pub local_ip: Option<String>,
    /// `system` (kernel module) or `netdev` (userspace).
    pub datapath_type: String,
    /// The OVSDB socket.
    pub ovsdb: PathBuf,
    /// Where ovs-vswitchd keeps `<bridge>.mgmt` (`OVS_RUNDIR`).
    pub ovs_rundir: PathBuf,
    /// The network namespace of the host's interfaces, where ovs-vswitchd's ports live (the
    /// tap end of a DHCP port goes there): empty in production, set by the sandbox.
    pub netns: Option<String>,
    /// Put before the name of every namespace the agent creates (`<prefix>qdhcp-<network>`):
    /// empty in production; the sandbox sets one per host, since its hosts share one kernel.
    pub namespace_prefix: String,
    /// The `dhcp` role's options.
    pub dhcp: DhcpConfig,
    /// The `l3` role's options.
    pub l3: L3Config,
    /// Seconds between heartbeats.
    pub report_interval: u64,
    /// The cookie on every flow this agent installs; derived from the host name if unset.
    pub cookie: Option<u64>,
    /// `[metadata]`: the metadata service of the `dhcp` role's networks.
    pub metadata: MetadataConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            server: "http://127.0.0.1:9696".into(),
            token: None,
            token_file: None,
            roles: vec![Role::L2],
            integration_bridge: "br-int".into(),
            tunnel_bridge: "br-tun".into(),
            bridge_mappings: BTreeMap::new(),
            tunnel_types: vec![],
            local_ip: None,
            datapath_type: "system".into(),
            ovsdb: PathBuf::from("/var/run/openvswitch/db.sock"),
            ovs_rundir: PathBuf::from("/var/run/openvswitch"),
            netns: None,
            namespace_prefix: String::new(),
            dhcp: DhcpConfig::default(),
            l3: L3Config::default(),
            report_interval: 10,
            cookie: None,
            metadata: MetadataConfig::default(),
        }
    }
}

/// The `[dhcp]` table: where the `dhcp` driver keeps its files and which programs it runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhcpConfig {
    /// One directory per served network (`<state_path>/<network id>/`: dnsmasq's files, pid
    /// files, the metadata proxy's configuration).
    pub state_path: PathBuf,
    /// The programs (a name looked up in `PATH`, or a path). `dhcp_release6` is looked for next
    /// to `dhcp_release` (the same name with `6`).
    pub dnsmasq: String,
    pub dhcp_release: String,
    pub haproxy: String,
    /// Seconds; `-1` is infinite.
    pub dhcp_lease_duration: i64,
    /// Upstream resolvers dnsmasq forwards to (`--server`); none: it answers only the names of
    /// the network's ports.
    pub dnsmasq_dns_servers: Vec<String>,
    /// Serve metadata (haproxy on 169.254.169.254:80 in the network's namespace) on networks
    /// with a DHCP subnet no router serves.
    pub enable_isolated_metadata: bool,
    /// The unix socket the agent's metadata service listens on, where every network's haproxy
    /// forwards (default `<state_path>/metadata_proxy`).
    pub metadata_socket: Option<PathBuf>,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        Self {
            state_path: PathBuf::from("/var/lib/neutrino/dhcp"),
            dnsmasq: "dnsmasq".into(),
            dhcp_release: "dhcp_release".into(),
            haproxy: "haproxy".into(),
            dhcp_lease_duration: 86400,
            dnsmasq_dns_servers: vec![],
            enable_isolated_metadata: true,
            metadata_socket: None,
        }
    }
}

impl DhcpConfig {
    /// The metadata service's socket: configured, or `<state_path>/metadata_proxy`.
    pub fn metadata_socket(&self) -> PathBuf {
        self.metadata_socket.clone().unwrap_or_else(|| self.state_path.join("metadata_proxy"))
    }

    /// `dhcp_release6`, next to `dhcp_release`.
    pub fn dhcp_release6(&self) -> String {
        format!("{}6", self.dhcp_release)
    }
}

/// The `[l3]` table: where the `l3` driver keeps its files, the port of the routers' metadata
/// proxies and the programs it runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct L3Config {
    /// One directory per router (`<state_path>/<router id>/`: the nftables batch applied,
    /// haproxy's and radvd's configuration and pid files).
    pub state_path: PathBuf,
    /// The port haproxy listens on in a router's namespace, where requests to
    /// 169.254.169.254:80 from its interfaces are redirected (upstream's `metadata_port`).
    pub metadata_port: u16,
    /// The programs (a name looked up in `PATH`, or a path).
    pub haproxy: String,
    pub radvd: String,
    /// Gratuitous ARP for a floating IP (`arping -U`, Debian's iputils-arping).
    pub arping: String,
    /// Cuts the connections of a floating IP that went (`conntrack -D`).
    pub conntrack: String,
}

impl Default for L3Config {
    fn default() -> Self {
        Self {
            state_path: PathBuf::from("/var/lib/neutrino/l3"),
            metadata_port: 9697,
            haproxy: "haproxy".into(),
            radvd: "radvd".into(),
            arping: "arping".into(),
            conntrack: "conntrack".into(),
        }
    }
}

fn unknown_tunnel_type(t: &str) -> String {
    format!("unknown tunnel type {t:?} (vxlan, gre)")
}

fn is_tunnel_type(t: NetworkType) -> bool {
    matches!(t, NetworkType::Vxlan | NetworkType::Gre)
}

/// Reads `tunnel_types`, naming a bad entry as [`AgentConfig::check`] does.
fn tunnel_types<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NetworkType>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|t| {
            t.parse()
                .ok()
                .filter(|t| is_tunnel_type(*t))
                .ok_or_else(|| serde::de::Error::custom(unknown_tunnel_type(t)))
        })
        .collect()
}

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("invalid agent configuration: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid agent configuration: {0}")]
    Invalid(String),
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        let c: Self = toml::from_str(&text)?;
        c.check()?;
        Ok(c)
    }

    /// Checks what the agent cannot work without.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.host.is_empty() {
            return Err(ConfigError::Invalid("host is required".into()));
        }
        if self.roles.is_empty() {
            return Err(ConfigError::Invalid("roles must name at least one role (l2)".into()));
        }
        if let Some(r) = self.roles.iter().find(|r| !crate::drivers::AVAILABLE.contains(r)) {
            return Err(ConfigError::Invalid(format!(
                "role {:?} has no driver in this agent (l2, dhcp, l3)",
                r.as_str()
            )));
        }
        if self.dhcp.dhcp_lease_duration == 0 || self.dhcp.dhcp_lease_duration < -1 {
            return Err(ConfigError::Invalid(
                "dhcp.dhcp_lease_duration must be a number of seconds, or -1 (infinite)".into(),
            ));
        }
        if let Some(s) = self.dhcp.dnsmasq_dns_servers.iter().find(|s| s.parse::<std::net::IpAddr>().is_err())
        {
            return Err(ConfigError::Invalid(format!(
                "dhcp.dnsmasq_dns_servers: {s:?} is not an IP address"
            )));
        }
        if self.l3.metadata_port == 0 {
            return Err(ConfigError::Invalid("l3.metadata_port must be a port number".into()));
        }
        if !self.namespace_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ConfigError::Invalid(
                "namespace_prefix may hold only letters, digits, `-` and `_`".into(),
            ));
        }
        if let Some(t) = self.tunnel_types.iter().find(|t| !is_tunnel_type(**t)) {
            return Err(ConfigError::Invalid(unknown_tunnel_type(t.as_str())));
        }
        if !self.tunnel_types.is_empty()
            && self.local_ip.as_deref().is_none_or(|ip| ip.parse::<std::net::IpAddr>().is_err())
        {
            return Err(ConfigError::Invalid("tunnel_types need local_ip, an IP address".into()));
        }
        self.metadata.check().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The agent credential.
    pub fn token(&self) -> Result<String, ConfigError> {
        match (&self.token, &self.token_file) {
            (Some(t), _) => Ok(t.clone()),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| ConfigError::Read(f.display().to_string(), e)),
            (None, None) => Err(ConfigError::Invalid("token or token_file is required".into())),
        }
    }

    /// The flow cookie: configured, or a stable value derived from the host name so that a
    /// restarted agent recognises its own flows. Its high 32 bits name the agent
    /// (`neutrino_ovs::flow::AGENT_COOKIE_MASK`); each flow's low 32 bits name the object it is
    /// for (`flows::Owner::tag`), so the low bits of a configured cookie are not used.
    pub fn cookie(&self) -> u64 {
        self.cookie.unwrap_or_else(|| {
            let h = self
                .host
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            // Keep it recognisable: the high 16 bits spell "NT"; the next 16 are the host's.
            (0x4e54u64 << 48) | (h & 0x0000_ffff_0000_0000)
        })
    }

    /// The patch port names of a physical bridge (`int-br-eth1` on br-int, `phy-br-eth1` on it).
    pub fn phys_patch_names(bridge: &str) -> (String, String) {
        let mut a = format!("int-{bridge}");
        let mut b = format!("phy-{bridge}");
        a.truncate(15);
        b.truncate(15);
        (a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let c: AgentConfig = toml::from_str(
            r#"host = "h1"
token = "t"
tunnel_types = ["vxlan"]
local_ip = "172.31.0.1"
datapath_type = "netdev"
[bridge_mappings]
physnet1 = "br-eth1"
"#,
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.roles, vec![Role::L2], "l2 is the default role");
        assert_eq!(c.tunnel_types, vec![NetworkType::Vxlan]);
        assert_eq!(c.bridge_mappings["physnet1"], "br-eth1");
        assert_eq!(c.cookie() >> 48, 0x4e54);
        assert_eq!(c.cookie(), c.clone().cookie());
        let bad =
            AgentConfig { host: "h".into(), tunnel_types: vec![NetworkType::Vxlan], ..Default::default() };
        assert!(bad.check().is_err());
        assert!(toml::from_str::<AgentConfig>("hostt = 1").is_err());
    }

    fn load(text: &str) -> Result<AgentConfig, ConfigError> {
        let c: AgentConfig = toml::from_str(text)?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn roles_are_checked() {
        let c = load("host = \"h\"\nroles = [\"l2\"]").unwrap();
        assert_eq!(c.roles, vec![Role::L2]);
        let e = load("host = \"h\"\nroles = [\"l4\"]").unwrap_err();
        assert!(matches!(e, ConfigError::Parse(_)), "{e}");
        assert!(e.to_string().contains("unknown variant `l4`"), "{e}");
        let c = load("host = \"h\"\nroles = [\"l2\", \"l3\"]").unwrap();
        assert_eq!(c.roles, vec![Role::L2, Role::L3]);
        let e = load("host = \"h\"\nroles = []").unwrap_err().to_string();
        assert!(e.contains("at least one role"), "{e}");
    }

    #[test]
    fn l3_table_defaults_and_checks() {
        let c = load("host = \"h\"").unwrap();
        assert_eq!(c.l3, L3Config::default());
        assert_eq!(
            (c.l3.metadata_port, c.l3.state_path.as_path()),
            (9697, Path::new("/var/lib/neutrino/l3"))
        );
        let c = load("host = \"h\"\n[l3]\nmetadata_port = 8697\nradvd = \"/usr/sbin/radvd\"").unwrap();
        assert_eq!((c.l3.metadata_port, c.l3.radvd.as_str()), (8697, "/usr/sbin/radvd"));
        assert_eq!(c.l3.haproxy, "haproxy", "unset keys keep their defaults");
        let e = load("host = \"h\"\n[l3]\nmetadata_port = 0").unwrap_err().to_string();
        assert!(e.contains("l3.metadata_port"), "{e}");
        assert!(load("host = \"h\"\n[l3]\nport = 1").is_err(), "unknown keys are refused");
    }

    #[test]
    fn tunnel_types_are_named_in_errors() {
        for bad in ["geneve", "token-ring", "flat"] {
            let e = load(&format!("host = \"h\"\ntunnel_types = [{bad:?}]")).unwrap_err().to_string();
            assert!(e.contains(&format!("unknown tunnel type {bad:?} (vxlan, gre)")), "{e}");
        }
        let c = AgentConfig { host: "h".into(), tunnel_types: vec![NetworkType::Flat], ..Default::default() };
        assert_eq!(
            c.check().unwrap_err().to_string(),
            "invalid agent configuration: unknown tunnel type \"flat\" (vxlan, gre)"
        );
        let c = load("host = \"h\"\ntunnel_types = [\"gre\", \"vxlan\"]\nlocal_ip = \"10.0.0.1\"").unwrap();
        assert_eq!(c.tunnel_types, vec![NetworkType::Gre, NetworkType::Vxlan]);
    }

    #[test]
    fn the_metadata_table_is_optional_and_checked() {
        let c = load("host = \"h\"").unwrap();
        assert_eq!(c.metadata, MetadataConfig::default());
        let c = load("host = \"h\"\n[metadata]\nnova_metadata_url = \"http://nova:8775\"\nmetadata_proxy_shared_secret = \"s\"\nnova_client_timeout = 10").unwrap();
        assert_eq!(c.metadata.nova_metadata_url.as_deref(), Some("http://nova:8775"));
        assert_eq!(c.metadata.metadata_proxy_shared_secret, "s");
        assert_eq!(c.metadata.nova_client_timeout, 10);
        let e = load("host = \"h\"\n[metadata]\nnova_metadata_url = \"nova\"").unwrap_err().to_string();
        assert!(e.contains("metadata.nova_metadata_url"), "{e}");
        assert!(load("host = \"h\"\n[metadata]\nnova_metadata_port = 8775").is_err());
        // Written out (as a sandbox would) it reads back the same.
        let back: AgentConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.metadata, c.metadata);
    }

    #[test]
    fn dhcp_table_defaults_and_checks() {
        let c = load("host = \"h\"").unwrap();
        assert_eq!(c.namespace_prefix, "");
        assert_eq!(c.dhcp, DhcpConfig::default());
        assert_eq!(c.dhcp.state_path, PathBuf::from("/var/lib/neutrino/dhcp"));
        assert_eq!(c.dhcp.metadata_socket(), PathBuf::from("/var/lib/neutrino/dhcp/metadata_proxy"));
        assert_eq!((c.dhcp.dhcp_lease_duration, c.dhcp.enable_isolated_metadata), (86400, true));
        let c = load(
            r#"host = "h"
namespace_prefix = "nt-h1-"
netns = "nt-h1"
[dhcp]
state_path = "/tmp/d"
dnsmasq = "/usr/sbin/dnsmasq"
dhcp_release = "/usr/bin/dhcp_release"
dhcp_lease_duration = -1
dnsmasq_dns_servers = ["192.0.2.53"]
enable_isolated_metadata = false
metadata_socket = "/run/neutrino/meta.sock"
"#,
        )
        .unwrap();
        assert_eq!(c.namespace_prefix, "nt-h1-");
        assert_eq!(c.dhcp.dhcp_release6(), "/usr/bin/dhcp_release6");
        assert_eq!(c.dhcp.metadata_socket(), PathBuf::from("/run/neutrino/meta.sock"));
        assert_eq!(c.dhcp.haproxy, "haproxy", "unset keys keep their defaults");
        for (bad, want) in [
            ("[dhcp]\ndhcp_lease_duration = 0", "dhcp_lease_duration"),
            ("[dhcp]\ndnsmasq_dns_servers = [\"resolver\"]", "not an IP address"),
            ("namespace_prefix = \"a/b\"", "namespace_prefix"),
        ] {
            let e = load(&format!("host = \"h\"\n{bad}")).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        assert!(load("host = \"h\"\n[dhcp]\nlease = 1").is_err(), "unknown keys are refused");
    }
}
