//! The `[metadata]` table of the agent configuration: where Nova's metadata API is (upstream's
//! `nova_metadata_host`/`_port`/`_protocol` of `metadata_agent.ini`, here one URL), the secret
//! the instance id is signed with (`metadata_proxy_shared_secret`) and how long Nova may take.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[metadata]`: without `nova_metadata_url`, the service answers from what Neutrino knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataConfig {
    /// Nova's metadata API (`http://nova:8775`), `http` or `https`; requests are forwarded
    /// there when set.
    pub nova_metadata_url: Option<String>,
    /// The key of the `X-Instance-ID-Signature` HMAC; the same as Nova's
    /// `[neutron] metadata_proxy_shared_secret`.
    pub metadata_proxy_shared_secret: String,
    /// Seconds a forwarded request may take, answer included (upstream: 60, fixed).
    pub nova_client_timeout: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self { nova_metadata_url: None, metadata_proxy_shared_secret: String::new(), nova_client_timeout: 60 }
    }
}

impl MetadataConfig {
    /// The Nova timeout.
    pub fn nova_timeout(&self) -> Duration {
        Duration::from_secs(self.nova_client_timeout)
    }

    /// Checks the values; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        if let Some(u) = &self.nova_metadata_url {
            let url = reqwest::Url::parse(u).map_err(|e| format!("metadata.nova_metadata_url {u:?}: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("metadata.nova_metadata_url {u:?}: must be http(s)://host[:port]"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(format!("metadata.nova_metadata_url {u:?}: must have no query or fragment"));
            }
        }
        if self.nova_client_timeout == 0 {
            return Err("metadata.nova_client_timeout must be at least 1 second".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_keys() {
        let d = MetadataConfig::default();
        assert_eq!(d.nova_metadata_url, None);
        assert_eq!(d.metadata_proxy_shared_secret, "");
        assert_eq!(d.nova_timeout(), Duration::from_secs(60));
        d.check().unwrap();
        let c: MetadataConfig = toml::from_str(
            "nova_metadata_url = \"http://nova:8775\"\nmetadata_proxy_shared_secret = \"s\"\nnova_client_timeout = 5",
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.nova_metadata_url.as_deref(), Some("http://nova:8775"));
        assert_eq!(c.nova_timeout(), Duration::from_secs(5));
        assert!(toml::from_str::<MetadataConfig>("nova_metadata_host = \"x\"").is_err());
    }

    #[test]
    fn bad_values_are_named() {
        for bad in ["nova:8775", "ftp://nova", "http://nova:8775/?a=1", "not a url"] {
            let c = MetadataConfig { nova_metadata_url: Some(bad.into()), ..Default::default() };
            let e = c.check().unwrap_err();
            assert!(e.contains("nova_metadata_url"), "{bad}: {e}");
        }
        let ok = MetadataConfig {
            nova_metadata_url: Some("https://[2001:db8::1]:8775".into()),
            ..Default::default()
        };
        ok.check().unwrap();
        let c = MetadataConfig { nova_client_timeout: 0, ..Default::default() };
        assert!(c.check().unwrap_err().contains("nova_client_timeout"));
    }
}
