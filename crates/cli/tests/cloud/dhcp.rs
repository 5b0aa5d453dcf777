//! DHCP VMs in the end-to-end harness: a bound port, a VM plugged for it with its own DHCP
//! client (waiting for ACTIVE and a lease), and a test DHCP server for tests without a DHCP
//! agent: dnsmasq inside a VM, serving fixed host entries, stopped by its pid.

use std::time::Duration;

use neutrino_host::Process;
use neutrino_sandbox::{Lease, VmSpec};
use serde_json::{Value, json};

use super::Cloud;

impl Cloud {
    /// A port on `network` bound to `host` for VM `name`, `extra` merged into the body; the
    /// port as created.
    pub fn port(&self, host: &str, name: &str, network: &str, extra: Value) -> Value {
        let mut port = json!({"network_id": network, "binding:host_id": host, "device_owner": "compute:nova",
            "device_id": format!("vm-{name}")});
        port.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        let (s, p) = self.api("POST", "/v2.0/ports", Some(json!({ "port": port })));
        assert_eq!(s, 201, "{p}");
        assert_eq!(p["port"]["binding:vif_type"], "ovs", "port binds to {host}");
        p["port"].clone()
    }

    /// Plugs VM `name` on `host` for `port` with a DHCP client; waits until the port is
    /// ACTIVE and the client holds a lease (30 s each). The lease.
    pub fn dhcp_vm(&mut self, host: &str, name: &str, port: &Value, mtu: i64) -> Lease {
        let id = port["id"].as_str().expect("id");
        let mut spec = VmSpec::new(name, id, port["mac_address"].as_str().expect("mac")).with_dhcp();
        spec.mtu = u32::try_from(mtu).expect("mtu");
        self.sandbox.plug_vm(host, &spec).expect("plug vm");
        let path = format!("/v2.0/ports/{id}");
        self.wait(Duration::from_secs(30), &format!("port of {name} ACTIVE"), |c| {
            c.api("GET", &path, None).1["port"]["status"] == "ACTIVE"
        });
        self.sandbox
            .wait_vm_lease(name, None, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()))
    }

    /// dnsmasq in VM `vm` (on its `eth0`, which has its address), serving `hosts` (`mac,ip`
    /// pairs, fixed addresses only) in `subnet` (`10.30.0.0`, `/24`) with `options` lines
    /// (`option:mtu,1450`); files in the test's directory. Stop it with
    /// [`Cloud::stop_dhcp_server`].
    pub fn dhcp_server(&self, vm: &str, subnet: &str, hosts: &[(&str, &str)], options: &[&str]) -> Process {
        let dir = self.dir.path().join(format!("dnsmasq-{vm}"));
        std::fs::create_dir_all(&dir).expect("dnsmasq dir");
        self.dhcp_hosts(vm, hosts);
        std::fs::write(dir.join("opts"), options.join("\n") + "\n").expect("opts");
        let spawn = neutrino_sandbox::test_dhcp_server(&self.vm_netns(vm), "eth0", subnet, 3600, &dir);
        self.sandbox.machine().host.spawn(&spawn).expect("dnsmasq starts")
    }

    /// Rewrites the host entries of the dnsmasq in `vm` (then [`Cloud::reload_dhcp_server`]).
    pub fn dhcp_hosts(&self, vm: &str, hosts: &[(&str, &str)]) {
        let dir = self.dir.path().join(format!("dnsmasq-{vm}"));
        let lines: String = hosts.iter().map(|(mac, ip)| format!("{mac},{ip}\n")).collect();
        std::fs::write(dir.join("host"), lines).expect("hosts file");
    }

    /// Makes the dnsmasq in `vm` re-read its host entries, waiting until it has.
    pub fn reload_dhcp_server(&self, vm: &str, server: &Process) {
        let dir = self.dir.path().join(format!("dnsmasq-{vm}"));
        let host = &*self.sandbox.machine().host;
        neutrino_sandbox::reload_test_dhcp_server(host, server, &dir, Duration::from_secs(10))
            .expect("dnsmasq re-reads");
    }

    /// Stops a [`Cloud::dhcp_server`] by its pid.
    pub fn stop_dhcp_server(&self, server: &Process) {
        assert!(
            self.sandbox.machine().host.stop(server, Duration::from_secs(5)).expect("stop"),
            "dnsmasq stopped"
        );
    }
}
