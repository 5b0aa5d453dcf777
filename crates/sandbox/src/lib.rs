//! A simulated multi-host cloud inside network namespaces, for Neutrino's tests and demo:
//! per host a namespace with its own userspace Open vSwitch, an underlay fabric for tunnels,
//! a physical network for flat/VLAN segments, an optional outside world, and "VMs" plugged
//! into `br-int` as Nova's os-vif does, addressed statically or by their own DHCP client
//! (whose lease tests read, wait for and renew); optionally a network node whose agent serves
//! `l2`, `dhcp` and `l3`, with a `br-ex` onto the outside world (`ext`, 203.0.113.1, and a
//! public host behind it, 198.51.100.10). Nothing is added to the root namespace. The machine's
//! facilities come from `neutrino-host` (real or fake), each host's Open vSwitch
//! configuration from a [`Switch`]; this crate holds the plan.
//!
//! ```no_run
//! use neutrino_sandbox::{Sandbox, SandboxSpec, VmSpec};
//! let mut spec = SandboxSpec::default(2);
//! spec.run_dir = "/tmp/nt-demo".into();
//! spec.network_node = true; // a host `network` whose agent serves l2, dhcp and l3
//! let mut sb = Sandbox::up(&spec)?;
//! let vm = sb.plug_vm("h1", &VmSpec::new("a", "0123456789abcdef", "fa:16:3e:00:00:01"))?;
//! sb.exec(&vm.netns, &["ip", "addr"])?;
//! // A VM that asks for its address (something must serve its network: a dhcp agent).
//! sb.plug_vm("h2", &VmSpec::new("b", "123456789abcdef0", "fa:16:3e:00:00:02").with_dhcp())?;
//! let lease = sb.wait_vm_lease("b", None, std::time::Duration::from_secs(30))?;
//! sb.renew_vm_lease("b")?;
//! let renewed = sb.wait_vm_lease("b", Some(&lease), std::time::Duration::from_secs(30))?;
//! # let _ = renewed;
//! sb.teardown()?;
//! # Ok::<(), neutrino_sandbox::Error>(())
//! ```

mod agent_config;
mod dhcp_client;
mod down;
mod error;
mod lease;
mod process;
mod sandbox;
mod spec;
mod state;
mod switch;
mod test_server;
mod up;
mod vm;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dhcp;
#[cfg(test)]
mod tests_down;
#[cfg(test)]
mod tests_roles;

pub use agent_config::AgentSettings;
pub use dhcp_client::{DHCP_CLIENT_PROGRAM, DhcpClient, LEASE_FILE_VAR, UDHCPC_SCRIPT};
pub use down::{DownReport, HostStatus, ProcessStatus, Status, down, down_with, status, status_with};
pub use error::{Error, Result};
pub use lease::{Lease, LeaseEvent, StaticRoute};
pub use neutrino_host::LinuxHost;
pub use process::{exec, spawn};
pub use sandbox::{Machine, Sandbox};
pub use spec::{
    EXT_GATEWAY_CIDR, EXT_PHYSNET, HostRole, HostSpec, MAX_IFNAME, NETWORK_NODE, NETWORK_NODE_TUNNEL_IP,
    PUBLIC_GATEWAY_CIDR, PUBLIC_HOST_CIDR, REQUIRED_PREFIX, SandboxSpec, VmSpec, parse_cidr, tap_name,
};
pub use state::{HostHandle, PREFIX_FILE, ProcessRecord, STATE_FILE, SandboxState, VmHandle, salvage_prefix};
pub use switch::{FakeBridge, FakeOvs, FakeSwitch, Switch, VsctlSwitch};
pub use test_server::{reload_test_dhcp_server, test_dhcp_server};
pub use up::{EXT_BRIDGE, INTEGRATION_BRIDGE, TUNNEL_BRIDGE, vswitch_schema};
pub use vm::{ECHO_SERVER, LEASE_TIMEOUT, wire_vm};
