//! The server's configuration: a TOML file (`neutrino server --config FILE`) whose sections
//! `[server]`, `[database]` and `[auth]` have defaults good for the embedded single-host setup.

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
            transaction_timeout_ms: crate::store::sqlite::DEFAULT_TRANSACTION_TIMEOUT.as_millis() as u64,
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
    fn unknown_keys_are_errors() {
        assert!(Config::parse("[server]\nbindd = 1").is_err());
    }
}
