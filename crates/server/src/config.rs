//! The server's configuration: a TOML file (`neutrino server --config FILE`) whose sections
//! `[server]`, `[database]`, `[auth]`, `[ml2]`, `[agents]`, `[http]`, `[quotas]` and `[dhcp]` have
//! defaults good for the embedded single-host setup.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::ml2::Ml2Config;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub ml2: Ml2Config,
    pub agents: AgentsConfig,
    pub http: HttpConfig,
    pub quotas: QuotaConfig,
    pub dhcp: DhcpConfig,
}

/// `[quotas]`: the default limit of each counted resource for projects without their own
/// (upstream `[QUOTAS] quota_<resource>`), e.g. `port = 1000`; `-1` is unlimited. Resources not
/// named keep upstream's default (`store::quotas::RESOURCES`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct QuotaConfig {
    pub defaults: BTreeMap<String, i64>,
}

impl QuotaConfig {
    /// The default limit of `resource`.
    pub fn default_of(&self, resource: &crate::store::quotas::Counted) -> i64 {
        self.defaults.get(resource.name).copied().unwrap_or(resource.default)
    }

    /// Every counted resource unlimited (benchmarks).
    pub fn unlimited() -> Self {
        Self { defaults: crate::store::quotas::RESOURCES.iter().map(|r| (r.name.to_string(), -1)).collect() }
    }

    /// Refuses resources quotas do not count and limits below -1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, limit) in &self.defaults {
            if crate::store::quotas::counted(name).is_none() {
                let known: Vec<&str> = crate::store::quotas::RESOURCES.iter().map(|r| r.name).collect();
                return Err(format!("unknown resource {name:?} (known: {})", known.join(", ")));
            }
            if !(-1..=i64::from(i32::MAX)).contains(limit) {
                return Err(format!("{name} = {limit}: a limit is -1 (unlimited) or 0 to {}", i32::MAX));
            }
        }
        Ok(())
    }
}

/// `[dhcp]`: scheduling networks to DHCP agents and what their dnsmasq serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhcpConfig {
    /// DHCP agents each DHCP-enabled network is scheduled to (upstream
    /// `dhcp_agents_per_network`, at least 1).
    pub dhcp_agents_per_network: usize,
    /// The domain of the host names the DHCP agents hand out (upstream `dns_domain`).
    pub dns_domain: String,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        Self { dhcp_agents_per_network: 1, dns_domain: "openstacklocal".into() }
    }
}

impl DhcpConfig {
    /// Refuses fewer than one agent per network and an empty domain.
    pub fn validate(&self) -> Result<(), String> {
        if self.dhcp_agents_per_network == 0 {
            return Err("dhcp_agents_per_network must be at least 1".into());
        }
        if self.dns_domain.trim().is_empty() {
            return Err("dns_domain must not be empty".into());
        }
        Ok(())
    }
}

/// `[agents]`: how agents authenticate to the internal API.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// The shared agent credential; unset means `<data_dir>/agent.token`, created on first
    /// start.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where the API listens.
    pub bind: SocketAddr,
    /// The URL clients reach the server at (links, the catalog); derived from `bind` if unset.
    pub public_url: Option<String>,
    /// Holds the SQLite file, the token key, generated credentials and `clouds.yaml`.
    pub data_dir: PathBuf,
    pub region: String,
    /// Upper bound on `limit` (upstream `pagination_max_limit`); `None` is unlimited.
    pub pagination_max_limit: Option<usize>,
    /// The MTU of networks (upstream `global_physnet_mtu`).
    pub global_physnet_mtu: i64,
    /// Most parameters one query string may carry (more is a 400).
    pub max_query_params: usize,
    /// Most resources one bulk create may carry (more is a 413): bounds how long one request
    /// holds the store's single writer.
    pub max_bulk_items: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 9696)),
            public_url: None,
            data_dir: PathBuf::from("/var/lib/neutrino"),
            region: "RegionOne".into(),
            pagination_max_limit: None,
            global_physnet_mtu: 1500,
            max_query_params: crate::service::query::MAX_QUERY_PARAMS,
            max_bulk_items: 1000,
        }
    }
}

impl ServerConfig {
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
            .trim_end_matches('/')
            .to_string()
    }
}

/// `[http]`: how connections are accepted and how long each phase of a request may take (see
/// `docs/decisions.md`, "Connection hygiene").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time a client has to send a whole request head, counted from when the server starts
    /// waiting for it (a new connection, or the end of the previous response).
    pub header_read_timeout_secs: u64,
    /// A connection on which no byte moves either way while no request is being handled is
    /// closed after this long (keep-alive gaps, clients that stop reading a response).
    pub idle_timeout_secs: u64,
    /// Time a request body has to arrive in full, from its head; a stalled body gets a 408.
    pub body_read_timeout_secs: u64,
    /// Time a request may take until its response starts; past it, a 503.
    pub request_timeout_secs: u64,
    /// Connections served at once; unset means derived from the open-files limit
    /// (`RLIMIT_NOFILE`), at most 1,024. Connections beyond it get a short 503 and are closed.
    pub max_connections: Option<usize>,
    /// Largest request body (413 beyond, before reading it when `Content-Length` says so).
    pub max_body_bytes: usize,
    /// Longest request target (path and query; 414 beyond).
    pub max_uri_bytes: usize,
    /// Largest request header block, names and values (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 30,
            request_timeout_secs: 60,
            max_connections: None,
            max_body_bytes: 2 * 1024 * 1024,
            max_uri_bytes: 8192,
            max_header_bytes: 16384,
            max_headers: 100,
        }
    }
}

impl HttpConfig {
    /// Refuses values the server cannot work with (zero timeouts or limits).
    pub fn validate(&self) -> Result<(), String> {
        let secs = [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_read_timeout_secs", self.body_read_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ];
        let sizes = [
            ("max_body_bytes", self.max_body_bytes),
            ("max_uri_bytes", self.max_uri_bytes),
            ("max_header_bytes", self.max_header_bytes),
            ("max_headers", self.max_headers),
            ("max_connections", self.max_connections.unwrap_or(1)),
        ];
        let zero = secs
            .iter()
            .map(|(k, v)| (*k, *v == 0))
            .chain(sizes.iter().map(|(k, v)| (*k, *v == 0)))
            .find(|(_, is_zero)| *is_zero);
        match zero {
            Some((key, _)) => Err(format!("{key} must be greater than 0")),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite:PATH`, `sqlite::memory:`; unset means `sqlite:<data_dir>/neutrino.db`.
    pub url: Option<String>,
    /// Longest one transaction may run, in milliseconds: beyond it the request's change is
    /// rolled back and answered 503, so no request holds the store's single writer for longer.
    pub transaction_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            transaction_timeout_ms: u64::try_from(
                crate::store::sqlite::DEFAULT_TRANSACTION_TIMEOUT.as_millis(),
            )
            .unwrap_or(u64::MAX),
        }
    }
}

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid configuration in {path}: {source}")]
    Parse { path: String, source: toml::de::Error },
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse { path: path.display().to_string(), source })
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The store URL this configuration selects.
    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.server.data_dir.join("neutrino.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_listen_on_loopback_9696() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:9696");
        assert_eq!(c.server.public_url(), "http://127.0.0.1:9696");
        assert!(c.database_url().ends_with("neutrino.db"));
    }

    #[test]
    fn http_section_has_defaults_and_refuses_zero() {
        let c = Config::parse("[http]\nmax_connections = 64").unwrap();
        assert_eq!(c.http.max_connections, Some(64));
        assert_eq!(c.http.header_read_timeout_secs, 10);
        assert!(c.http.validate().is_ok());
        let c = Config::parse("[http]\nrequest_timeout_secs = 0").unwrap();
        assert!(c.http.validate().unwrap_err().contains("request_timeout_secs"));
        assert!(Config::parse("[http]\nmax_conns = 1").is_err());
    }

    #[test]
    fn quota_defaults_are_upstream_s_unless_configured() {
        let c = Config::parse("[quotas]\nport = 7\nnetwork = -1").unwrap();
        let port = crate::store::quotas::counted("port").unwrap();
        let subnet = crate::store::quotas::counted("subnet").unwrap();
        assert_eq!((c.quotas.default_of(port), c.quotas.default_of(subnet)), (7, 100));
        assert!(c.quotas.validate().is_ok());
        assert!(Config::parse("[quotas]\nrouterz = 1").unwrap().quotas.validate().is_err());
        assert!(Config::parse("[quotas]\nport = -2").unwrap().quotas.validate().is_err());
    }

    #[test]
    fn dhcp_section_has_upstream_defaults_and_refuses_zero_agents() {
        let c = Config::parse("").unwrap();
        assert_eq!((c.dhcp.dhcp_agents_per_network, c.dhcp.dns_domain.as_str()), (1, "openstacklocal"));
        let c = Config::parse("[dhcp]\ndhcp_agents_per_network = 2\ndns_domain = \"example.org\"").unwrap();
        assert_eq!((c.dhcp.dhcp_agents_per_network, c.dhcp.dns_domain.as_str()), (2, "example.org"));
        assert!(c.dhcp.validate().is_ok());
        let c = Config::parse("[dhcp]\ndhcp_agents_per_network = 0").unwrap();
        assert!(c.dhcp.validate().unwrap_err().contains("dhcp_agents_per_network"));
        assert!(Config::parse("[dhcp]\nagents = 1").is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(Config::parse("[server]\nbindd = 1").is_err());
    }
}
