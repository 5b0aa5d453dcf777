//! "VMs": a namespace with `eth0`, plugged into a host's `br-int` the way Nova's os-vif
//! plugs a tap (`external_ids:iface-id`, `attached-mac`, `iface-status`, `vm-uuid`).

use std::time::Duration;

/// A Python program that echoes one TCP connection on port `argv[1]` (run in a VM with
/// `python3 -c`): the far end of the tests' and benchmarks' long-lived exchanges.
pub const ECHO_SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
c, _ = s.accept()
while True:
    d = c.recv(100)
    if not d:
        break
    c.sendall(d)
"#;

use neutrino_host::Route;

use crate::error::{Error, Result};
use crate::sandbox::Sandbox;
use crate::spec::{Names, VmSpec, validate_ifname};
use crate::state::VmHandle;
use crate::up::{INTEGRATION_BRIDGE, cidr};

impl Sandbox {
    /// Plugs VM `vm` into `host`'s `br-int` (creating `br-int` with `datapath_type=netdev`
    /// if the agent has not yet).
    pub fn plug_vm(&mut self, host: &str, vm: &VmSpec) -> Result<VmHandle> {
        vm.validate()?;
        let h = self.host(host)?.clone();
        if self.state.vms.iter().any(|v| v.name == vm.name) {
            return Err(Error::AlreadyPlugged(vm.name.clone()));
        }
        let tap = vm.tap_name();
        validate_ifname(&tap)?;
        let ns = Names { prefix: self.state.name_prefix.clone() }.vm_ns(&vm.name);
        let handle = VmHandle {
            name: vm.name.clone(),
            host: host.into(),
            netns: ns.clone(),
            tap: tap.clone(),
            port_id: vm.port_id.clone(),
            mac: vm.mac.clone(),
            ip_cidr: vm.ip_cidr.clone(),
        };
        self.state.vms.push(handle.clone());
        self.add_netns(&ns)?;

        let (host_ns, vm_ns) = (Some(h.netns.as_str()), Some(ns.as_str()));
        let sys = self.sys();
        sys.add_veth(host_ns, &tap, vm_ns, "eth0")?;
        sys.set_mtu(host_ns, &tap, vm.mtu)?;
        sys.set_link_up(host_ns, &tap, true)?;
        sys.set_tx_offload(host_ns, &tap, false)?;
        sys.set_mac(vm_ns, "eth0", &vm.mac)?;
        sys.set_mtu(vm_ns, "eth0", vm.mtu)?;
        sys.set_link_up(vm_ns, "eth0", true)?;
        // Without this TCP and UDP checksums are wrong after userspace OVS; ICMP still works.
        sys.set_tx_offload(vm_ns, "eth0", false)?;
        if let Some(address) = &vm.ip_cidr {
            sys.add_address(vm_ns, "eth0", cidr(address)?)?;
        }
        if let Some(gw) = &vm.gateway {
            let gw = gw.parse().map_err(|_| Error::InvalidSpec(format!("gateway `{gw}`")))?;
            sys.replace_route(vm_ns, &Route::default_via(gw, Some("eth0")))?;
        }

        if !self.switch().bridge_exists(&h, INTEGRATION_BRIDGE)? {
            self.switch().add_bridge(&h, INTEGRATION_BRIDGE, None)?;
        }
        let external_ids = [
            ("iface-id", vm.port_id.as_str()),
            ("attached-mac", vm.mac.as_str()),
            ("iface-status", "active"),
            ("vm-uuid", vm.device_id.as_str()),
        ];
        self.switch().add_port(&h, INTEGRATION_BRIDGE, &tap, &external_ids)?;
        self.state.save()?;
        Ok(handle)
    }

    /// Unplugs VM `name`: removes its port from `br-int` and deletes its namespace (which
    /// destroys the veth pair).
    pub fn unplug_vm(&mut self, name: &str) -> Result<()> {
        let vm = self.vm(name)?.clone();
        let h = self.host(&vm.host)?.clone();
        self.switch().del_port(&h, &vm.tap)?;
        if self.sys().netns_exists(&vm.netns)? {
            // Processes still inside the VM would keep the namespace alive.
            for p in self.sys().processes_in_netns(&vm.netns).unwrap_or_default() {
                self.sys().stop(&p, Duration::from_secs(5))?;
            }
            self.sys().delete_netns(&vm.netns)?;
        }
        self.state.vms.retain(|v| v.name != name);
        self.state.namespaces.retain(|n| *n != vm.netns);
        self.state.save()
    }
}
