//! Connection options (`--os-url`, `--os-token`, noauth headers, `--os-cloud`) and building a
//! [`Client`] from them, including reading `clouds.yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use neutrino_client::{Auth, Client, PasswordAuth};
use serde::Deserialize;

use crate::error::CliError;

/// Where the Networking endpoint is when nothing says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9696";

/// Options saying which endpoint to talk to and how to authenticate.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnectArgs {
    /// Networking endpoint [default: http://127.0.0.1:9696]; overrides the catalog with --os-cloud.
    #[arg(long, env = "NEUTRINO_URL", global = true, value_name = "URL")]
    pub os_url: Option<String>,
    /// Token sent as X-Auth-Token.
    #[arg(long, env = "OS_TOKEN", global = true, hide_env_values = true, value_name = "TOKEN")]
    pub os_token: Option<String>,
    /// Project for a noauth server (X-Project-Id).
    #[arg(long, global = true, value_name = "PROJECT")]
    pub os_project_id: Option<String>,
    /// Comma-separated roles for a noauth server (X-Roles).
    #[arg(long, global = true, value_name = "ROLES")]
    pub os_roles: Option<String>,
    /// Cloud from clouds.yaml (OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml).
    #[arg(long, env = "OS_CLOUD", global = true, value_name = "NAME")]
    pub os_cloud: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CloudsFile {
    #[serde(default)]
    clouds: BTreeMap<String, Cloud>,
}

/// One entry under `clouds:` (the keys this client understands; others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Cloud {
    pub auth_type: Option<String>,
    pub auth: CloudAuth,
    pub region_name: Option<String>,
    pub interface: Option<String>,
    pub network_endpoint_override: Option<String>,
}

/// `auth:` of a cloud.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CloudAuth {
    pub auth_url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_name: Option<String>,
    pub domain_id: Option<String>,
    /// `auth_type: none` / `admin_token`: the endpoint to use.
    pub endpoint: Option<String>,
    /// `auth_type: admin_token` / `token`.
    pub token: Option<String>,
}

/// How a cloud connects, before any network traffic.
#[derive(Debug, Clone)]
pub enum CloudPlan {
    Password { creds: Box<PasswordAuth>, endpoint_override: Option<String> },
    Direct { endpoint: String, auth: Auth },
}

fn config_error(msg: impl Into<String>) -> CliError {
    CliError::Config(msg.into())
}

/// The cloud `name` of the clouds.yaml text `yaml`.
pub fn parse_cloud(yaml: &str, name: &str) -> Result<Cloud, CliError> {
    let file: CloudsFile =
        serde_yaml_ng::from_str(yaml).map_err(|e| config_error(format!("cannot parse clouds.yaml: {e}")))?;
    let mut clouds = file.clouds;
    clouds.remove(name).ok_or_else(|| config_error(format!("cloud {name:?} is not in clouds.yaml")))
}

impl Cloud {
    /// What connecting to this cloud takes; `url_override` is an explicit `--os-url`.
    pub fn plan(self, url_override: Option<String>) -> Result<CloudPlan, CliError> {
        let a = self.auth;
        let endpoint_override = url_override.or(self.network_endpoint_override);
        let auth_type = self.auth_type.as_deref().unwrap_or("password");
        let endpoint = || {
            endpoint_override
                .clone()
                .or(a.endpoint.clone())
                .ok_or_else(|| config_error(format!("auth_type {auth_type} needs auth.endpoint or --os-url")))
        };
        match auth_type {
            "password" | "v3password" => {
                let need = |v: &Option<String>, k: &str| {
                    v.clone().ok_or_else(|| config_error(format!("clouds.yaml: auth.{k} is required")))
                };
                let creds = PasswordAuth {
                    auth_url: need(&a.auth_url, "auth_url")?,
                    username: need(&a.username, "username")?,
                    password: need(&a.password, "password")?,
                    user_domain_name: a.user_domain_name.clone().or(a.domain_name.clone()),
                    user_domain_id: a.user_domain_id.clone().or(a.domain_id.clone()),
                    project_name: a.project_name.clone(),
                    project_id: a.project_id.clone(),
                    project_domain_name: a.project_domain_name.clone().or(a.domain_name.clone()),
                    project_domain_id: a.project_domain_id.clone().or(a.domain_id.clone()),
                    region_name: self.region_name,
                    interface: self.interface,
                };
                Ok(CloudPlan::Password { creds: Box::new(creds), endpoint_override })
            }
            "none" | "noauth" => Ok(CloudPlan::Direct { endpoint: endpoint()?, auth: Auth::None }),
            "admin_token" | "token" => {
                let token =
                    a.token.clone().ok_or_else(|| config_error("clouds.yaml: auth.token is required"))?;
                Ok(CloudPlan::Direct { endpoint: endpoint()?, auth: Auth::Token(token) })
            }
            other => {
                Err(config_error(format!("unsupported auth_type {other:?} (password, none, admin_token)")))
            }
        }
    }
}

/// Where clouds.yaml may be, in order.
pub fn clouds_candidates(env_file: Option<PathBuf>, home: Option<PathBuf>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    out.extend(env_file);
    out.push(PathBuf::from("clouds.yaml"));
    if let Some(h) = home {
        out.push(h.join(".config/openstack/clouds.yaml"));
    }
    out.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    out
}

fn read_clouds_yaml() -> Result<(PathBuf, String), CliError> {
    let candidates = clouds_candidates(
        std::env::var_os("OS_CLIENT_CONFIG_FILE").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    );
    for p in &candidates {
        if Path::new(p).is_file() {
            let text = std::fs::read_to_string(p)
                .map_err(|e| config_error(format!("cannot read {}: {e}", p.display())))?;
            return Ok((p.clone(), text));
        }
    }
    Err(config_error("no clouds.yaml found (set OS_CLIENT_CONFIG_FILE)"))
}

/// The client the options describe (authenticating first with `--os-cloud` password clouds).
pub async fn connect(args: &ConnectArgs) -> Result<Client, CliError> {
    if let Some(name) = &args.os_cloud {
        let (path, yaml) = read_clouds_yaml()?;
        let cloud = parse_cloud(&yaml, name).map_err(|e| config_error(format!("{}: {e}", path.display())))?;
        return Ok(match cloud.plan(args.os_url.clone())? {
            CloudPlan::Password { creds, endpoint_override } => {
                Client::with_password(&creds, endpoint_override.as_deref()).await?
            }
            CloudPlan::Direct { endpoint, auth } => Client::new(&endpoint, auth)?,
        });
    }
    let url = args.os_url.as_deref().unwrap_or(DEFAULT_URL);
    Ok(Client::new(url, direct_auth(args))?)
}

/// The client of cloud `name` in the `clouds.yaml` at `path` (authenticating first with
/// password clouds).
pub async fn connect_cloud(path: &Path, name: &str) -> Result<Client, CliError> {
    let yaml = std::fs::read_to_string(path)
        .map_err(|e| config_error(format!("cannot read {}: {e}", path.display())))?;
    let cloud = parse_cloud(&yaml, name).map_err(|e| config_error(format!("{}: {e}", path.display())))?;
    Ok(match cloud.plan(None)? {
        CloudPlan::Password { creds, endpoint_override } => {
            Client::with_password(&creds, endpoint_override.as_deref()).await?
        }
        CloudPlan::Direct { endpoint, auth } => Client::new(&endpoint, auth)?,
    })
}

/// Token, noauth headers, or nothing, from the flags.
pub fn direct_auth(args: &ConnectArgs) -> Auth {
    if let Some(t) = &args.os_token {
        Auth::Token(t.clone())
    } else if args.os_project_id.is_some() || args.os_roles.is_some() {
        Auth::Noauth { project_id: args.os_project_id.clone(), roles: args.os_roles.clone() }
    } else {
        Auth::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
clouds:
  dev:
    auth_type: password
    region_name: RegionOne
    auth:
      auth_url: http://127.0.0.1:9696/identity/v3
      username: alice
      password: secret
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
  local:
    auth_type: none
    auth:
      endpoint: http://127.0.0.1:9696
"#;

    #[test]
    fn password_cloud_becomes_password_auth() {
        let plan = parse_cloud(YAML, "dev").unwrap().plan(None).unwrap();
        let CloudPlan::Password { creds, endpoint_override } = plan else { panic!("not password") };
        assert_eq!(creds.username, "alice");
        assert_eq!(creds.project_name.as_deref(), Some("demo"));
        assert_eq!(creds.region_name.as_deref(), Some("RegionOne"));
        assert_eq!(creds.tokens_url(), "http://127.0.0.1:9696/identity/v3/auth/tokens");
        assert!(endpoint_override.is_none());
    }

    #[test]
    fn none_cloud_uses_its_endpoint_and_os_url_overrides() {
        let plan = parse_cloud(YAML, "local").unwrap().plan(None).unwrap();
        assert!(
            matches!(plan, CloudPlan::Direct { ref endpoint, auth: Auth::None } if endpoint == "http://127.0.0.1:9696")
        );
        let plan = parse_cloud(YAML, "local").unwrap().plan(Some("http://x:1".into())).unwrap();
        assert!(matches!(plan, CloudPlan::Direct { ref endpoint, .. } if endpoint == "http://x:1"));
    }

    #[test]
    fn missing_cloud_and_missing_fields_are_errors() {
        assert!(parse_cloud(YAML, "nope").unwrap_err().to_string().contains("nope"));
        let bad = "clouds:\n  c:\n    auth:\n      username: u\n";
        let err = parse_cloud(bad, "c").unwrap().plan(None).unwrap_err().to_string();
        assert!(err.contains("auth_url"), "{err}");
        assert!(parse_cloud("clouds: [", "c").is_err());
    }

    #[test]
    fn flags_choose_token_then_noauth() {
        let a =
            ConnectArgs { os_token: Some("t".into()), os_project_id: Some("p".into()), ..Default::default() };
        assert!(matches!(direct_auth(&a), Auth::Token(t) if t == "t"));
        let a = ConnectArgs { os_project_id: Some("p".into()), ..Default::default() };
        assert!(matches!(direct_auth(&a), Auth::Noauth { project_id: Some(p), roles: None } if p == "p"));
        assert!(matches!(direct_auth(&ConnectArgs::default()), Auth::None));
    }

    #[test]
    fn clouds_yaml_search_order() {
        let c = clouds_candidates(Some("/x/c.yaml".into()), Some("/home/u".into()));
        assert_eq!(c[0], PathBuf::from("/x/c.yaml"));
        assert_eq!(c[1], PathBuf::from("clouds.yaml"));
        assert_eq!(c[2], PathBuf::from("/home/u/.config/openstack/clouds.yaml"));
    }
}
