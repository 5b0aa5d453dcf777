//! Each host's `agent.toml`: what `neutrino agent --config` reads to serve that host — its
//! roles (from the host's [`HostRole`]), its Open vSwitch (socket, run directory, `netdev`),
//! tunnel endpoint and bridge mappings (a network node also maps the external network's
//! physnet `public` to its `br-ex`) and, on a network node, where the `dhcp` role keeps its
//! files and the prefix of the namespaces its `dhcp` and `l3` roles create.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::spec::{EXT_PHYSNET, HostRole};
use crate::state::HostHandle;

/// What every agent of a sandbox shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    /// The server's URL.
    pub server: String,
    /// The agent credential (the server's `<data_dir>/agent.token`).
    pub token: String,
    /// Seconds between heartbeats; the agent's default when `None`.
    pub report_interval: Option<u64>,
    /// The roles the agent program has drivers for: each host serves those of its
    /// [`HostRole::agent_roles`] that are among them (`None`: all of them).
    pub roles_available: Option<Vec<String>>,
}

impl AgentSettings {
    pub fn new(server: impl Into<String>, token: impl Into<String>) -> Self {
        AgentSettings {
            server: server.into(),
            token: token.into(),
            report_interval: None,
            roles_available: None,
        }
    }

    /// The same settings for an agent program with drivers for `roles` only.
    pub fn with_roles_available<S: Into<String>>(self, roles: impl IntoIterator<Item = S>) -> Self {
        AgentSettings { roles_available: Some(roles.into_iter().map(Into::into).collect()), ..self }
    }

    /// The roles an agent of a host of kind `role` serves.
    pub fn roles_of(&self, role: HostRole) -> Vec<&'static str> {
        let available = |r: &&str| self.roles_available.as_ref().is_none_or(|a| a.iter().any(|x| x == r));
        role.agent_roles().iter().copied().filter(available).collect()
    }
}

/// The file's contents. Plain keys first, tables last, as TOML requires.
#[derive(Serialize)]
struct AgentToml<'a> {
    host: &'a str,
    server: &'a str,
    token: &'a str,
    roles: Vec<&'static str>,
    tunnel_types: [&'static str; 2],
    local_ip: String,
    datapath_type: &'static str,
    ovsdb: PathBuf,
    ovs_rundir: &'a std::path::Path,
    netns: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report_interval: Option<u64>,
    bridge_mappings: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dhcp: Option<DhcpSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    l3: Option<StateSection>,
}

#[derive(Serialize)]
struct DhcpSection {
    state_path: PathBuf,
}

/// A role's table that only says where its files go (`[l3]`).
#[derive(Serialize)]
struct StateSection {
    state_path: PathBuf,
}

impl HostHandle {
    /// The agent's `bridge_mappings`: the host's physnets and, on a network node with a
    /// `br-ex`, `public = "br-ex"` (the external network is flat on physnet `public`; the
    /// agent patches `br-int` to `br-ex`, whose uplink goes to `ext`).
    pub fn agent_bridge_mappings(&self) -> BTreeMap<String, String> {
        let mut mappings = self.physnet_bridges.clone();
        if let (HostRole::Network, Some(br)) = (self.role, &self.ext_bridge) {
            mappings.entry(EXT_PHYSNET.into()).or_insert_with(|| br.clone());
        }
        mappings
    }

    /// The text of this host's `agent.toml`. Compute hosts serve `l2`; a network node serves
    /// `l2`, `dhcp` and `l3`, with `namespace_prefix`, `[dhcp] state_path` and `[l3]
    /// state_path` (under the host's directory, never the machine's `/var/lib/neutrino`), which
    /// only a network node's agent reads.
    pub fn agent_config(&self, settings: &AgentSettings) -> Result<String> {
        let network = self.role == HostRole::Network;
        let file = AgentToml {
            host: &self.name,
            server: &settings.server,
            token: &settings.token,
            roles: settings.roles_of(self.role),
            tunnel_types: ["vxlan", "gre"],
            local_ip: self.tunnel_addr().to_string(),
            datapath_type: "netdev",
            ovsdb: self.db_socket(),
            ovs_rundir: self.run_dir(),
            netns: &self.netns,
            namespace_prefix: network.then(|| self.namespace_prefix()),
            report_interval: settings.report_interval,
            bridge_mappings: self.agent_bridge_mappings(),
            dhcp: network.then(|| DhcpSection { state_path: self.dhcp_state_path() }),
            l3: network.then(|| StateSection { state_path: self.l3_state_path() }),
        };
        toml::to_string(&file).map_err(|e| Error::InvalidSpec(format!("agent.toml of {}: {e}", self.name)))
    }

    /// `<host run dir>/agent.toml`.
    pub fn agent_config_path(&self) -> PathBuf {
        self.dir.join("agent.toml")
    }
}

impl Sandbox {
    /// Writes `host`'s `agent.toml` (see [`HostHandle::agent_config`]); its path.
    pub fn write_agent_config(&self, host: &str, settings: &AgentSettings) -> Result<PathBuf> {
        let h = self.host(host)?;
        let path = h.agent_config_path();
        std::fs::write(&path, h.agent_config(settings)?).map_err(|e| Error::io(&path, e))?;
        Ok(path)
    }

    /// Writes `host`'s `agent.toml` and starts `<neutrino> agent --config <it>` as the host's
    /// process `agent` (see [`Sandbox::start_process`]); its pid.
    pub fn start_agent(
        &mut self,
        host: &str,
        neutrino: &str,
        settings: &AgentSettings,
        env: &[(&str, &str)],
    ) -> Result<u32> {
        let path = self.write_agent_config(host, settings)?.display().to_string();
        self.start_process(host, "agent", &[neutrino, "agent", "--config", &path], env)
    }
}
