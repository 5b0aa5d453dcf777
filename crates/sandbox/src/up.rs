//! Building a sandbox: the fabric, physical and outside-world namespaces (`ext`, the upstream
//! router of the external network, and the public host behind it), then per host a
//! namespace with its own `ovsdb-server` + `ovs-vswitchd`, `br-phy` (tunnel endpoint),
//! `br-eth<N>` per physnet and, on network nodes (or every host with `ext`), `br-ex`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use neutrino_host::{Signal, Spawn};

use crate::error::{Error, Result};
use crate::sandbox::{Machine, Sandbox};
use crate::spec::{EXT_GATEWAY_CIDR, HostSpec, Names, PUBLIC_GATEWAY_CIDR, PUBLIC_HOST_CIDR, SandboxSpec};
use crate::state::{HostHandle, PREFIX_FILE, ProcessRecord, SandboxState};

/// The bridge carrying the tunnel endpoint address.
pub const TUNNEL_BRIDGE: &str = "br-phy";
/// The bridge towards the `ext` namespace.
pub const EXT_BRIDGE: &str = "br-ex";
/// The integration bridge (created by the agent, or by `plug_vm` if it is not there yet).
pub const INTEGRATION_BRIDGE: &str = "br-int";

const SCHEMA_PATHS: [&str; 2] =
    ["/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema"];

/// The OVSDB schema file (`$OVS_SCHEMA` overrides the usual locations).
pub fn vswitch_schema() -> PathBuf {
    if let Some(p) = std::env::var_os("OVS_SCHEMA") {
        return p.into();
    }
    SCHEMA_PATHS.iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| SCHEMA_PATHS[0].into())
}

/// `a.b.c.d/len` of a validated spec as an address.
pub(crate) fn cidr(text: &str) -> Result<IpNet> {
    text.parse().map_err(|_| Error::InvalidSpec(format!("`{text}` is not an address with prefix length")))
}

impl Sandbox {
    /// Builds the sandbox described by `spec` on this machine.
    pub fn up(spec: &SandboxSpec) -> Result<Sandbox> {
        Self::up_with(spec, Machine::real())
    }

    /// Builds the sandbox on `machine`; on failure it tears down what it made.
    pub fn up_with(spec: &SandboxSpec, machine: Machine) -> Result<Sandbox> {
        spec.validate()?;
        let run_dir = &spec.run_dir;
        if SandboxState::path(run_dir).exists() {
            return Err(Error::AlreadyUp(run_dir.clone()));
        }
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
        let prefix_file = run_dir.join(PREFIX_FILE);
        std::fs::write(&prefix_file, format!("{}\n", spec.name_prefix))
            .map_err(|e| Error::io(&prefix_file, e))?;
        let state = SandboxState {
            name_prefix: spec.name_prefix.clone(),
            run_dir: run_dir.clone(),
            ..Default::default()
        };
        state.save()?;
        let mut sandbox = Sandbox::from_parts(state, machine);
        match sandbox.build(spec) {
            Ok(()) => Ok(sandbox),
            Err(e) => {
                let _ = crate::down::down_with(run_dir, Some(&spec.name_prefix), sandbox.sys());
                Err(e)
            }
        }
    }

    fn build(&mut self, spec: &SandboxSpec) -> Result<()> {
        let names = spec.names();
        let physnets = spec.physnets();
        self.add_bridge_netns(&names.fab_ns(), Names::FAB_BRIDGE, None)?;
        if !physnets.is_empty() {
            // A bridge without VLAN filtering (the default; these kernels reject even an explicit
            // `vlan_filtering 0`) passes the tagged frames of VLAN networks untouched.
            self.add_bridge_netns(&names.phys_ns(), Names::PHYS_BRIDGE, None)?;
        }
        if spec.outside() {
            self.build_outside(&names)?;
        }
        for host in &spec.all_hosts() {
            self.build_host(&names, host, &physnets, spec.host_has_ext(host))?;
        }
        Ok(())
    }

    /// The outside world: `ext` with 203.0.113.1/24 on bridge `extnet` (the hosts' `br-ex`
    /// uplinks join it) and 198.51.100.1/24 towards the public host, forwarding between the
    /// two (inside `ext` only); the public host `<prefix>public` at 198.51.100.10/24 with its
    /// default route via `ext`. Both subnets are directly connected in `ext`.
    fn build_outside(&mut self, names: &Names) -> Result<()> {
        let (ext, public) = (names.ext_ns(), names.public_ns());
        self.add_bridge_netns(&ext, Names::EXT_BRIDGE, Some(EXT_GATEWAY_CIDR))?;
        self.state.ext_netns = Some(ext.clone());
        self.state.save()?;
        self.sys().set_sysctl(Some(&ext), "net.ipv4.ip_forward", "1")?;
        self.add_netns(&public)?;
        self.state.public_netns = Some(public.clone());
        self.state.save()?;
        self.add_veth(&ext, Names::EXT_PUBLIC_DEV, &public, Names::PUBLIC_DEV, None)?;
        self.sys().add_address(Some(&ext), Names::EXT_PUBLIC_DEV, cidr(PUBLIC_GATEWAY_CIDR)?)?;
        self.sys().add_address(Some(&public), Names::PUBLIC_DEV, cidr(PUBLIC_HOST_CIDR)?)?;
        let gateway = cidr(PUBLIC_GATEWAY_CIDR)?.addr();
        self.sys()
            .add_route(Some(&public), &neutrino_host::Route::default_via(gateway, Some(Names::PUBLIC_DEV)))?;
        Ok(())
    }

    /// A namespace holding one Linux bridge (and optionally an address on it).
    fn add_bridge_netns(&mut self, ns: &str, bridge: &str, addr: Option<&str>) -> Result<()> {
        self.add_netns(ns)?;
        let ns = Some(ns);
        self.sys().add_bridge(ns, bridge)?;
        if let Some(addr) = addr {
            self.sys().add_address(ns, bridge, cidr(addr)?)?;
        }
        self.sys().set_link_up(ns, bridge, true)?;
        Ok(())
    }

    /// Records, then creates, a namespace with `lo` up.
    pub(crate) fn add_netns(&mut self, ns: &str) -> Result<()> {
        self.state.add_namespace(ns);
        self.state.save()?;
        self.sys().add_netns(ns)?;
        self.sys().set_link_up(Some(ns), "lo", true)?;
        Ok(())
    }

    /// A veth from inside `ns` (`local`) to `peer` in `peer_ns`, both up with TX checksum
    /// offload off, `peer` enslaved to `peer_bridge` when given.
    pub(crate) fn add_veth(
        &self,
        ns: &str,
        local: &str,
        peer_ns: &str,
        peer: &str,
        peer_bridge: Option<&str>,
    ) -> Result<()> {
        let host = self.sys();
        host.add_veth(Some(ns), local, Some(peer_ns), peer)?;
        if let Some(br) = peer_bridge {
            host.set_master(Some(peer_ns), peer, br)?;
        }
        for (ns, dev) in [(peer_ns, peer), (ns, local)] {
            host.set_link_up(Some(ns), dev, true)?;
            host.set_tx_offload(Some(ns), dev, false)?;
        }
        Ok(())
    }

    fn build_host(&mut self, names: &Names, spec: &HostSpec, physnets: &[String], ext: bool) -> Result<()> {
        let ns = names.host_ns(&spec.name);
        let dir = self.state.run_dir.join(&spec.name);
        let mut host = HostHandle {
            name: spec.name.clone(),
            netns: ns.clone(),
            dir: dir.clone(),
            tunnel_ip: spec.tunnel_ip.clone(),
            role: spec.role,
            underlay_dev: names.underlay_host(&spec.name),
            physnet_bridges: BTreeMap::new(),
            physnet_devs: BTreeMap::new(),
            ext_bridge: None,
            ext_dev: None,
        };
        self.state.hosts.push(host.clone());
        self.add_netns(&ns)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let conf = dir.join("conf.db");
        self.switch().create_db(&host)?;

        let db = format!("unix:{}", path(&host.db_socket()));
        let remote = format!("--remote=p{db}");
        self.start_daemon(&host, "ovsdb-server", &[path(&conf), remote])?;
        self.switch().init(&host)?;
        self.start_daemon(&host, "ovs-vswitchd", &[db])?;

        // Underlay: the tunnel endpoint lives on br-phy, with the fabric veth as its port.
        self.add_veth(
            &ns,
            &host.underlay_dev,
            &names.fab_ns(),
            &names.underlay_fab(&spec.name),
            Some(Names::FAB_BRIDGE),
        )?;
        self.switch().add_bridge(&host, TUNNEL_BRIDGE, Some(&host.underlay_dev))?;
        self.sys().replace_address(Some(&ns), TUNNEL_BRIDGE, cidr(&spec.tunnel_ip)?)?;
        self.sys().set_link_up(Some(&ns), TUNNEL_BRIDGE, true)?;

        for physnet in &spec.physnets {
            let n = physnets.iter().position(|p| p == physnet).unwrap_or_default() + 1;
            let bridge = format!("br-eth{n}");
            let dev = names.phys_host(n, &spec.name);
            let peer = names.phys_peer(n, &spec.name);
            self.add_veth(&ns, &dev, &names.phys_ns(), &peer, Some(Names::PHYS_BRIDGE))?;
            self.switch().add_bridge(&host, &bridge, Some(&dev))?;
            host.physnet_bridges.insert(physnet.clone(), bridge.clone());
            host.physnet_devs.insert(bridge, dev);
        }
        if ext {
            let dev = names.ext_host(&spec.name);
            self.add_veth(&ns, &dev, &names.ext_ns(), &names.ext_peer(&spec.name), Some(Names::EXT_BRIDGE))?;
            self.switch().add_bridge(&host, EXT_BRIDGE, Some(&dev))?;
            host.ext_bridge = Some(EXT_BRIDGE.into());
            host.ext_dev = Some(dev);
        }
        if let Some(h) = self.state.hosts.iter_mut().find(|h| h.name == host.name) {
            *h = host;
        }
        self.state.save()
    }

    /// Starts an OVS daemon inside the host's namespace, detached, with pidfile, unixctl
    /// socket and log in the host directory; records it before starting it.
    fn start_daemon(&mut self, host: &HostHandle, program: &str, args: &[String]) -> Result<()> {
        let file = |ext: &str| host.dir.join(format!("{program}.{ext}"));
        let record = ProcessRecord {
            host: host.name.clone(),
            name: program.into(),
            pidfile: file("pid"),
            pid: None,
            program: program.into(),
            log: file("log"),
        };
        self.state.processes.push(record.clone());
        self.state.save()?;
        let dir = path(&host.dir);
        let mut argv = vec![program.to_string()];
        argv.extend(args.iter().cloned());
        argv.extend([
            format!("--pidfile={}", path(&file("pid"))),
            format!("--unixctl={}", path(&file("ctl"))),
            format!("--log-file={}", path(&file("log"))),
            "--detach".into(),
        ]);
        let spawn = Spawn::new(argv, file("pid"))
            .in_netns(Some(&host.netns))
            .env("OVS_RUNDIR", &dir)
            .env("OVS_LOGDIR", &dir)
            .env("OVS_DBDIR", &dir)
            .daemonizes();
        let pid = self.sys().spawn(&spawn)?.pid;
        if let Some(r) = self.state.processes.iter_mut().rev().find(|r| r.pidfile == record.pidfile) {
            r.pid = Some(pid);
        }
        self.state.save()
    }

    /// Kills the host's ovs-vswitchd (SIGKILL, as a crash would) and starts it again on the
    /// same database: OpenFlow tables are lost, OVSDB keeps bridges and ports.
    pub fn restart_vswitchd(&mut self, host: &str) -> Result<()> {
        let handle = self.host(host)?.clone();
        let pidfile = handle.dir.join("ovs-vswitchd.pid");
        if let Some(p) = self.sys().process_from_pid_file(&pidfile, Some("ovs-vswitchd"), None)? {
            self.sys().signal(&p, Signal::Kill)?;
            self.sys().wait_exit(&p, std::time::Duration::from_secs(5))?;
        }
        let _ = std::fs::remove_file(&pidfile);
        self.state.processes.retain(|r| !(r.host == handle.name && r.name == "ovs-vswitchd"));
        let db = format!("unix:{}", path(&handle.db_socket()));
        self.start_daemon(&handle, "ovs-vswitchd", &[db])
    }
}

pub(crate) fn path(p: &Path) -> String {
    p.display().to_string()
}
