//! "VMs": a namespace with `eth0`, plugged into a host's `br-int` the way Nova's os-vif
//! plugs a tap (`external_ids:iface-id`, `attached-mac`, `iface-status`, `vm-uuid`), addressed
//! statically or by its own DHCP client, whose lease tests read, wait for and renew.

use std::path::PathBuf;
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

use neutrino_host::{Host, Route};

use crate::dhcp_client::DhcpClient;
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::sandbox::Sandbox;
use crate::spec::{Names, VmSpec, validate_ifname};
use crate::state::VmHandle;
use crate::up::{INTEGRATION_BRIDGE, cidr};

/// How long `vm create` waits for a DHCP VM's first lease.
pub const LEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// The VM's `eth0` inside `vm_ns` (which must exist) as the peer of `tap` in `host_ns`: MAC,
/// MTU, both ends up with TX checksum offload off, and the static address and gateway of the
/// spec if it has them. No Open vSwitch: [`Sandbox::plug_vm`] plugs `tap` into `br-int`; a
/// test may instead serve the VM from `host_ns` directly.
pub fn wire_vm(sys: &dyn Host, host_ns: &str, vm_ns: &str, vm: &VmSpec) -> Result<()> {
    vm.validate()?;
    let tap = vm.tap_name();
    validate_ifname(&tap)?;
    let (host_ns, vm_ns) = (Some(host_ns), Some(vm_ns));
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
    Ok(())
}

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
            dhcp: None,
        };
        self.state.vms.push(handle.clone());
        self.add_netns(&ns)?;

        wire_vm(self.sys(), &h.netns, &ns, vm)?;

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
        if !vm.dhcp {
            return Ok(handle);
        }
        let client = DhcpClient::start(self.sys(), &ns, "eth0", &self.vm_dir(&vm.name))?;
        let handle = VmHandle { dhcp: Some(client), ..handle };
        if let Some(v) = self.state.vms.iter_mut().find(|v| v.name == vm.name) {
            *v = handle.clone();
        }
        self.state.save()?;
        Ok(handle)
    }

    /// `<run_dir>/vms/<vm>`: the VM's DHCP client files and its `lease`.
    pub fn vm_dir(&self, name: &str) -> PathBuf {
        self.state.run_dir.join("vms").join(name)
    }

    /// The DHCP client of VM `name` ([`Error::NotFound`] for a VM addressed statically).
    pub fn vm_dhcp(&self, name: &str) -> Result<&DhcpClient> {
        self.vm(name)?.dhcp.as_ref().ok_or_else(|| crate::state::not_found("DHCP client of VM", name))
    }

    /// The last event VM `name`'s client recorded (`None` before the first).
    pub fn vm_lease(&self, name: &str) -> Result<Option<Lease>> {
        self.vm_dhcp(name)?.lease()
    }

    /// Waits up to `timeout` for VM `name`'s lease in force, recorded after `after` (any
    /// lease when `None`): after a renewal, pass the lease from before it.
    pub fn wait_vm_lease(&self, name: &str, after: Option<&Lease>, timeout: Duration) -> Result<Lease> {
        self.vm_dhcp(name)?.wait_lease(self.sys(), after, timeout)
    }

    /// Makes VM `name`'s client renew now (SIGUSR1).
    pub fn renew_vm_lease(&self, name: &str) -> Result<()> {
        self.vm_dhcp(name)?.renew(self.sys())
    }

    /// Makes VM `name`'s client release its lease (SIGUSR2; the address goes).
    pub fn release_vm_lease(&self, name: &str) -> Result<()> {
        self.vm_dhcp(name)?.release(self.sys())
    }

    /// Unplugs VM `name`: removes its port from `br-int` and deletes its namespace (which
    /// destroys the veth pair).
    pub fn unplug_vm(&mut self, name: &str) -> Result<()> {
        let vm = self.vm(name)?.clone();
        let h = self.host(&vm.host)?.clone();
        self.switch().del_port(&h, &vm.tap)?;
        if let Some(client) = &vm.dhcp
            && !client.stop(self.sys())?
        {
            return Err(Error::Process { name: format!("udhcpc of {name}"), message: "did not stop".into() });
        }
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
