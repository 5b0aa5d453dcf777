//! "VMs": a namespace with `eth0`, plugged into a host's `br-int` the way Nova's os-vif
//! plugs a tap (`external_ids:iface-id`, `attached-mac`, `iface-status`, `vm-uuid`).

use crate::error::{Error, Result};
use crate::runner::Cmd;
use crate::sandbox::Sandbox;
use crate::spec::{Names, VmSpec, validate_ifname};
use crate::state::VmHandle;
use crate::up::{INTEGRATION_BRIDGE, vsctl};

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

        let mtu = vm.mtu.to_string();
        self.run_ok(
            &Cmd::in_netns(&h.netns, "ip")
                .args(["link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", &ns]),
        )?;
        self.run_ok(&Cmd::in_netns(&h.netns, "ip").args(["link", "set", &tap, "mtu", &mtu, "up"]))?;
        self.run_ok(&Cmd::in_netns(&h.netns, "ethtool").args(["-K", &tap, "tx", "off"]))?;
        self.run_ok(
            &Cmd::in_netns(&ns, "ip").args(["link", "set", "eth0", "address", &vm.mac, "mtu", &mtu]),
        )?;
        self.run_ok(&Cmd::in_netns(&ns, "ip").args(["link", "set", "eth0", "up"]))?;
        // Without this TCP and UDP checksums are wrong after userspace OVS; ICMP still works.
        self.run_ok(&Cmd::in_netns(&ns, "ethtool").args(["-K", "eth0", "tx", "off"]))?;
        if let Some(cidr) = &vm.ip_cidr {
            self.run_ok(&Cmd::in_netns(&ns, "ip").args(["addr", "add", cidr, "dev", "eth0"]))?;
        }
        if let Some(gw) = &vm.gateway {
            self.run_ok(
                &Cmd::in_netns(&ns, "ip").args(["route", "replace", "default", "via", gw, "dev", "eth0"]),
            )?;
        }

        let exists = self.runner().run(&vsctl(&h).args(["br-exists", INTEGRATION_BRIDGE]))?;
        if exists.status == 2 {
            self.run_ok(&vsctl(&h).args([
                "--may-exist",
                "add-br",
                INTEGRATION_BRIDGE,
                "--",
                "set",
                "bridge",
                INTEGRATION_BRIDGE,
                "datapath_type=netdev",
            ]))?;
        }
        self.run_ok(
            &vsctl(&h)
                .args(["--may-exist", "add-port", INTEGRATION_BRIDGE, &tap, "--", "set", "interface", &tap])
                .args([
                    format!("external_ids:iface-id={}", vm.port_id),
                    format!("external_ids:attached-mac={}", vm.mac),
                    "external_ids:iface-status=active".into(),
                    format!("external_ids:vm-uuid={}", vm.device_id),
                ]),
        )?;
        self.state.save()?;
        Ok(handle)
    }

    /// Unplugs VM `name`: removes its port from `br-int` and deletes its namespace (which
    /// destroys the veth pair).
    pub fn unplug_vm(&mut self, name: &str) -> Result<()> {
        let vm = self.vm(name)?.clone();
        let h = self.host(&vm.host)?.clone();
        self.run_ok(&vsctl(&h).args(["--if-exists", "del-port", &vm.tap]))?;
        // Processes still inside the VM would keep the namespace alive.
        if let Ok(out) = self.runner().run(&Cmd::new("ip").args(["netns", "pids", &vm.netns])) {
            for pid in out.stdout.split_whitespace().filter_map(|p| p.parse().ok()) {
                crate::process::stop_pid(self.runner().as_ref(), pid, None);
            }
        }
        let present = crate::down::list_netns(self.runner().as_ref())?;
        if present.contains(&vm.netns) {
            self.run_ok(&Cmd::new("ip").args(["netns", "del", &vm.netns]))?;
        }
        self.state.vms.retain(|v| v.name != name);
        self.state.namespaces.retain(|n| *n != vm.netns);
        self.state.save()
    }
}
