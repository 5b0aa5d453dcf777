//! What `neutrino demo` builds and checks, as plain data: the external network `public`
//! (flat on physnet `public`, 203.0.113.0/24), the three tiers' networks, router `r1`, the
//! security groups of the tiers, the VMs and their floating IPs, the checks with real traffic
//! (each a row of the final table), and the server's configuration file.

use std::path::Path;

/// The external network, made by the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalPlan {
    pub name: &'static str,
    pub physnet: &'static str,
    pub subnet: &'static str,
    pub cidr: &'static str,
    pub gateway: &'static str,
    pub pool: (&'static str, &'static str),
}

/// A tenant network with one subnet (DHCP on, gateway `.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    pub name: &'static str,
    pub subnet: &'static str,
    pub cidr: &'static str,
}

/// Where an ingress rule lets traffic come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Cidr(&'static str),
    /// Members of this group (by name).
    Group(&'static str),
}

/// An ingress TCP rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulePlan {
    pub port: u16,
    pub remote: Remote,
}

/// A security group: its own default egress rules plus these ingress rules, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPlan {
    pub name: &'static str,
    pub ingress: Vec<RulePlan>,
}

/// A VM: its port (name `name`) on `network` in `group`, bound to `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPlan {
    pub name: &'static str,
    pub host: &'static str,
    pub network: &'static str,
    pub group: &'static str,
    /// TCP ports its servers listen on (80 answers HTTP with the VM's name; others tell the
    /// caller its address).
    pub listens: Vec<u16>,
    pub floating_ip: bool,
}

impl VmPlan {
    /// The sandbox's name of the VM (letters and digits only): `web-1` → `web1`.
    pub fn sandbox_name(&self) -> String {
        self.name.replace('-', "")
    }
}

/// Which address the public host must see a VM's connections come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnatVia {
    /// Its floating IP (1:1 NAT).
    FloatingIp,
    /// The router's gateway address.
    RouterGateway,
}

/// One check with real traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckPlan {
    /// The VM got a DHCP lease with its port's address.
    Lease { vm: &'static str },
    /// The floating IP is ACTIVE (the L3 agent has its NAT in place).
    FloatingActive { vm: &'static str },
    /// The public host reaches the VM's floating IP on `port` (`answered`) or does not.
    PublicToFloating { vm: &'static str, port: u16, answered: bool },
    /// The VM reaches the public host, which sees the address `via`.
    Snat { vm: &'static str, via: SnatVia },
    /// `from` reaches `to`'s fixed address on tcp/`port` (`answered`) or does not.
    Tcp { from: &'static str, to: &'static str, port: u16, answered: bool },
}

impl CheckPlan {
    /// Whether this check expects no answer (the firewall's block).
    pub fn is_blocked(&self) -> bool {
        matches!(
            self,
            CheckPlan::PublicToFloating { answered: false, .. } | CheckPlan::Tcp { answered: false, .. }
        )
    }

    /// Whether this is the open check paired with `blocked`: the same destination answering
    /// on its open port, which shows that the path works and the block is the firewall's.
    pub fn is_twin_of(&self, blocked: &CheckPlan) -> bool {
        match (self, blocked) {
            (
                CheckPlan::PublicToFloating { vm, port: HTTP, answered: true },
                CheckPlan::PublicToFloating { vm: other, answered: false, .. },
            ) => vm == other,
            (
                CheckPlan::Tcp { to, port, answered: true, .. },
                CheckPlan::Tcp { to: other, port: other_port, answered: false, .. },
            ) => to == other && port == other_port,
            _ => false,
        }
    }

    /// The row's text in the summary.
    pub fn describe(&self) -> String {
        match self {
            CheckPlan::Lease { vm } => format!("{vm} got its address by DHCP"),
            CheckPlan::FloatingActive { vm } => format!("floating IP of {vm} is ACTIVE"),
            CheckPlan::PublicToFloating { vm, port, answered: true } => {
                format!("public host → {vm}'s floating IP tcp/{port} answered")
            }
            CheckPlan::PublicToFloating { vm, port, answered: false } => {
                format!("public host → {vm}'s floating IP tcp/{port} blocked")
            }
            CheckPlan::Snat { vm, via: SnatVia::FloatingIp } => {
                format!("{vm} → public host, seen as its floating IP")
            }
            CheckPlan::Snat { vm, via: SnatVia::RouterGateway } => {
                format!("{vm} → public host, seen as the router's gateway (SNAT)")
            }
            CheckPlan::Tcp { from, to, port, answered: true } => format!("{from} → {to} tcp/{port} answered"),
            CheckPlan::Tcp { from, to, port, answered: false } => format!("{from} → {to} tcp/{port} blocked"),
        }
    }
}

/// The whole demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub external: ExternalPlan,
    pub networks: Vec<NetworkPlan>,
    pub router: &'static str,
    pub groups: Vec<GroupPlan>,
    pub vms: Vec<VmPlan>,
    /// TCP port of the public host's listener that tells callers their address.
    pub public_port: u16,
}

/// The port the web tier's VMs answer HTTP on.
pub const HTTP: u16 = 80;
/// A port a web VM listens on (like sshd) that no rule opens: the public host must not reach it.
pub const SSH: u16 = 22;
pub const APP: u16 = 8080;
pub const DB: u16 = 5432;

impl Plan {
    /// The 3-tier demo: web (2 VMs with floating IPs) → app → db behind router `r1`.
    pub fn three_tier() -> Plan {
        let vm = |name, host, tier, listens: &[u16], floating_ip| VmPlan {
            name,
            host,
            network: tier,
            group: tier,
            listens: listens.to_vec(),
            floating_ip,
        };
        Plan {
            external: ExternalPlan {
                name: "public",
                physnet: "public",
                subnet: "public-subnet",
                cidr: "203.0.113.0/24",
                gateway: "203.0.113.1",
                pool: ("203.0.113.100", "203.0.113.200"),
            },
            networks: vec![
                NetworkPlan { name: "web", subnet: "web-subnet", cidr: "10.10.1.0/24" },
                NetworkPlan { name: "app", subnet: "app-subnet", cidr: "10.10.2.0/24" },
                NetworkPlan { name: "db", subnet: "db-subnet", cidr: "10.10.3.0/24" },
            ],
            router: "r1",
            groups: vec![
                GroupPlan {
                    name: "web",
                    ingress: vec![RulePlan { port: HTTP, remote: Remote::Cidr("0.0.0.0/0") }],
                },
                GroupPlan {
                    name: "app",
                    ingress: vec![RulePlan { port: APP, remote: Remote::Group("web") }],
                },
                GroupPlan { name: "db", ingress: vec![RulePlan { port: DB, remote: Remote::Group("app") }] },
            ],
            vms: vec![
                vm("web-1", "h1", "web", &[HTTP, SSH], true),
                vm("web-2", "h2", "web", &[HTTP, SSH], true),
                vm("app-1", "h2", "app", &[APP], false),
                vm("db-1", "h1", "db", &[DB], false),
            ],
            public_port: 9000,
        }
    }

    /// The checks, in the order of the summary: leases, floating IPs, the public host to the
    /// web tier (each block paired with the open port on the same address), SNAT, the tiers.
    pub fn checks(&self) -> Vec<CheckPlan> {
        let mut c: Vec<CheckPlan> = self.vms.iter().map(|v| CheckPlan::Lease { vm: v.name }).collect();
        let floating: Vec<&VmPlan> = self.vms.iter().filter(|v| v.floating_ip).collect();
        c.extend(floating.iter().map(|v| CheckPlan::FloatingActive { vm: v.name }));
        for v in &floating {
            c.push(CheckPlan::PublicToFloating { vm: v.name, port: HTTP, answered: true });
            c.push(CheckPlan::PublicToFloating { vm: v.name, port: SSH, answered: false });
        }
        for v in &self.vms {
            let via = if v.floating_ip { SnatVia::FloatingIp } else { SnatVia::RouterGateway };
            c.push(CheckPlan::Snat { vm: v.name, via });
        }
        c.extend([
            CheckPlan::Tcp { from: "web-1", to: "app-1", port: APP, answered: true },
            CheckPlan::Tcp { from: "web-2", to: "app-1", port: APP, answered: true },
            CheckPlan::Tcp { from: "app-1", to: "db-1", port: DB, answered: true },
            CheckPlan::Tcp { from: "web-1", to: "db-1", port: DB, answered: false },
        ]);
        c
    }

    pub fn vm(&self, name: &str) -> Option<&VmPlan> {
        self.vms.iter().find(|v| v.name == name)
    }
}

/// The server's `neutrino.toml`: loopback `port`, SQLite and the builtin identity in
/// `data_dir`, the agents' token, ML2 with flat networks on `physnet1` and the external
/// network's physnet `public`, VXLAN for tenant networks.
pub fn server_config(data_dir: &Path, port: u16, agent_token: &str, external_physnet: &str) -> String {
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\ndata_dir = {data}\n\n\
         [auth]\nmode = \"builtin\"\n\n\
         [agents]\ntoken = {token}\n\n\
         [ml2]\ntenant_network_types = [\"vxlan\"]\nflat_networks = [\"physnet1\", {physnet}]\n\
         network_vlan_ranges = [\"physnet1:100:2999\"]\nvni_ranges = [\"1:1000\"]\n\n\
         [dhcp]\ndhcp_agents_per_network = 1\n",
        data = toml_str(&data_dir.display().to_string()),
        token = toml_str(agent_token),
        physnet = toml_str(external_physnet),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_the_three_tiers() {
        let p = Plan::three_tier();
        let vms: Vec<_> = p.vms.iter().map(|v| (v.name, v.host, v.network, v.floating_ip)).collect();
        assert_eq!(
            vms,
            [
                ("web-1", "h1", "web", true),
                ("web-2", "h2", "web", true),
                ("app-1", "h2", "app", false),
                ("db-1", "h1", "db", false)
            ]
        );
        assert_eq!(p.vm("web-1").unwrap().sandbox_name(), "web1");
        // Exactly the rules of the tiers: nothing opens ICMP or tcp/22.
        let rules: Vec<_> = p.groups.iter().map(|g| (g.name, g.ingress.clone())).collect();
        assert_eq!(
            rules,
            [
                ("web", vec![RulePlan { port: 80, remote: Remote::Cidr("0.0.0.0/0") }]),
                ("app", vec![RulePlan { port: 8080, remote: Remote::Group("web") }]),
                ("db", vec![RulePlan { port: 5432, remote: Remote::Group("app") }]),
            ]
        );
        for v in &p.vms {
            assert!(
                p.networks.iter().any(|n| n.name == v.network) && p.groups.iter().any(|g| g.name == v.group),
                "{v:?}"
            );
        }
        assert_eq!((p.external.cidr, p.external.gateway), ("203.0.113.0/24", "203.0.113.1"));
    }

    #[test]
    fn every_blocked_check_has_its_open_twin() {
        let checks = Plan::three_tier().checks();
        assert_eq!(checks.iter().filter(|c| matches!(c, CheckPlan::Lease { .. })).count(), 4);
        for c in &checks {
            match c {
                CheckPlan::PublicToFloating { vm, answered: false, .. } => {
                    assert!(checks.contains(&CheckPlan::PublicToFloating { vm, port: HTTP, answered: true }))
                }
                CheckPlan::Tcp { to, port, answered: false, .. } => assert!(
                    checks.iter().any(|o| matches!(o, CheckPlan::Tcp { to: t, port: q, answered: true, .. }
                        if t == to && q == port)),
                    "{c:?} has no positive control"
                ),
                _ => {}
            }
        }
        // The blocked ports do have listeners: a block is the firewall's, not a closed port.
        let p = Plan::three_tier();
        assert!(p.vm("web-1").unwrap().listens.contains(&SSH) && p.vm("db-1").unwrap().listens.contains(&DB));
        assert!(checks.contains(&CheckPlan::Snat { vm: "web-2", via: SnatVia::FloatingIp }));
        assert!(checks.contains(&CheckPlan::Snat { vm: "db-1", via: SnatVia::RouterGateway }));
        assert_eq!(
            CheckPlan::Tcp { from: "web-1", to: "db-1", port: DB, answered: false }.describe(),
            "web-1 → db-1 tcp/5432 blocked"
        );
    }

    #[test]
    fn the_server_config_loads() {
        let text = server_config(Path::new("/tmp/d \"x\"/data"), 9797, "tok\"en", "public");
        let path = std::env::temp_dir().join(format!("neutrino-demo-config-{}.toml", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let c = neutrino_server::config::Config::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:9797");
        assert_eq!(c.server.data_dir, Path::new("/tmp/d \"x\"/data"));
        assert_eq!(c.agents.token.as_deref(), Some("tok\"en"));
        assert_eq!(c.ml2.flat_networks, ["physnet1", "public"]);
        assert_eq!(c.ml2.vni_ranges, ["1:1000"]);
        assert_eq!(c.auth.mode, neutrino_server::auth::AuthMode::Builtin);
    }
}
