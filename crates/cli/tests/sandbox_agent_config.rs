//! The agent reads what `neutrino sandbox up` writes: a compute host's `agent.toml` loads with
//! the agent's own parser and says what the sandbox built, and a network node's roles are the
//! agent's `l2`, `dhcp` and `l3`, with the external network's physnet `public` mapped to
//! `br-ex` (built on a fake machine: no root needed).

use neutrino_agent::config::AgentConfig;
use neutrino_model::NetworkType;
use neutrino_model::agent::Role;
use neutrino_sandbox::{AgentSettings, Machine, Sandbox, SandboxSpec};

#[test]
fn the_agent_accepts_the_sandboxs_configs() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = SandboxSpec::default(1);
    spec.run_dir = dir.path().join("run");
    spec.network_node = true;
    let (machine, _host, _switch) = Machine::fake();
    let sb = Sandbox::up_with(&spec, machine).unwrap();
    let settings = AgentSettings::new("http://127.0.0.1:9696", "secret");

    let compute = AgentConfig::load(&sb.write_agent_config("h1", &settings).unwrap()).unwrap();
    assert_eq!((compute.host.as_str(), compute.roles.as_slice()), ("h1", &[Role::L2][..]));
    assert_eq!((compute.datapath_type.as_str(), compute.netns.as_deref()), ("netdev", Some("nt-h1")));
    assert_eq!(compute.local_ip.as_deref(), Some("172.31.0.1"));
    assert_eq!(compute.ovsdb, spec.run_dir.join("h1/db.sock"));
    assert_eq!(compute.ovs_rundir, spec.run_dir.join("h1"));
    assert_eq!(compute.bridge_mappings.get("physnet1").map(String::as_str), Some("br-eth1"));
    assert_eq!(compute.tunnel_types, [NetworkType::Vxlan, NetworkType::Gre]);
    assert_eq!(compute.token.as_deref(), Some("secret"));

    #[derive(serde::Deserialize)]
    struct Roles {
        roles: Vec<Role>,
        bridge_mappings: std::collections::BTreeMap<String, String>,
    }
    // The network node's DHCP and router files are under its host directory.
    let full = AgentConfig::load(&sb.write_agent_config("network", &settings).unwrap()).unwrap();
    assert_eq!(full.dhcp.state_path, spec.run_dir.join("network/dhcp"));
    assert_eq!(full.l3.state_path, spec.run_dir.join("network/l3"));
    let text = std::fs::read_to_string(sb.write_agent_config("network", &settings).unwrap()).unwrap();
    let network: Roles = toml::from_str(&text).unwrap();
    assert_eq!(network.roles, [Role::L2, Role::Dhcp, Role::L3]);
    assert_eq!(network.bridge_mappings.get("public").map(String::as_str), Some("br-ex"));
    assert_eq!(network.bridge_mappings.get("physnet1").map(String::as_str), Some("br-eth1"));
}
