//! Building a sandbox: the fabric, physical and outside-world namespaces, then per host a
//! namespace with its own `ovsdb-server` + `ovs-vswitchd`, `br-phy` (tunnel endpoint),
//! `br-eth<N>` per physnet and optionally `br-ex`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::process::read_pidfile;
use crate::runner::{Cmd, HostRunner, Runner, run_ok};
use crate::sandbox::Sandbox;
use crate::spec::{EXT_GATEWAY_CIDR, HostSpec, Names, SandboxSpec};
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

/// `ovs-vsctl --db=unix:<host>/db.sock --timeout=30 <args…>`, run from the root namespace.
pub(crate) fn vsctl(host: &HostHandle) -> Cmd {
    Cmd::new("ovs-vsctl").arg(format!("--db={}", host.db_target())).arg("--timeout=30")
}

/// `--may-exist add-br <br> -- set bridge <br> datapath_type=netdev -- --may-exist add-port <br> <port>`.
fn add_netdev_bridge_with_port(host: &HostHandle, bridge: &str, port: &str) -> Cmd {
    vsctl(host)
        .args(["--may-exist", "add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev"])
        .args(["--", "--may-exist", "add-port", bridge, port])
}

impl Sandbox {
    /// Builds the sandbox described by `spec` on this machine.
    pub fn up(spec: &SandboxSpec) -> Result<Sandbox> {
        Self::up_with(spec, Arc::new(HostRunner))
    }

    /// Builds the sandbox with the given runner; on failure it tears down what it made.
    pub fn up_with(spec: &SandboxSpec, runner: Arc<dyn Runner>) -> Result<Sandbox> {
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
        let mut sandbox = Sandbox::from_parts(state, runner);
        match sandbox.build(spec) {
            Ok(()) => Ok(sandbox),
            Err(e) => {
                let _ = crate::down::down_with(run_dir, Some(&spec.name_prefix), sandbox.runner().as_ref());
                Err(e)
            }
        }
    }

    fn build(&mut self, spec: &SandboxSpec) -> Result<()> {
        let names = spec.names();
        let physnets = spec.physnets();
        self.add_bridge_netns(&names.fab_ns(), Names::FAB_BRIDGE, &[], None)?;
        if !physnets.is_empty() {
            // A bridge without VLAN filtering (the default; these kernels reject even an explicit
            // `vlan_filtering 0`) passes the tagged frames of VLAN networks untouched.
            self.add_bridge_netns(&names.phys_ns(), Names::PHYS_BRIDGE, &[], None)?;
        }
        if spec.ext {
            self.add_bridge_netns(&names.ext_ns(), Names::EXT_BRIDGE, &[], Some(EXT_GATEWAY_CIDR))?;
            self.state.ext_netns = Some(names.ext_ns());
            self.state.save()?;
        }
        for host in &spec.hosts {
            self.build_host(&names, host, &physnets, spec.ext)?;
        }
        Ok(())
    }

    /// A namespace holding one Linux bridge (and optionally an address on it).
    fn add_bridge_netns(&mut self, ns: &str, bridge: &str, opts: &[&str], addr: Option<&str>) -> Result<()> {
        self.add_netns(ns)?;
        self.run_ok(
            &Cmd::in_netns(ns, "ip").args(["link", "add", bridge, "type", "bridge"]).args(opts.to_vec()),
        )?;
        if let Some(addr) = addr {
            self.run_ok(&Cmd::in_netns(ns, "ip").args(["addr", "add", addr, "dev", bridge]))?;
        }
        self.run_ok(&Cmd::in_netns(ns, "ip").args(["link", "set", bridge, "up"]))?;
        Ok(())
    }

    /// Records, then creates, a namespace with `lo` up.
    pub(crate) fn add_netns(&mut self, ns: &str) -> Result<()> {
        self.state.add_namespace(ns);
        self.state.save()?;
        self.run_ok(&Cmd::new("ip").args(["netns", "add", ns]))?;
        self.run_ok(&Cmd::in_netns(ns, "ip").args(["link", "set", "lo", "up"]))?;
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
        self.run_ok(
            &Cmd::in_netns(ns, "ip")
                .args(["link", "add", local, "type", "veth", "peer", "name", peer, "netns", peer_ns]),
        )?;
        if let Some(br) = peer_bridge {
            self.run_ok(&Cmd::in_netns(peer_ns, "ip").args(["link", "set", peer, "master", br]))?;
        }
        for (ns, dev) in [(peer_ns, peer), (ns, local)] {
            self.run_ok(&Cmd::in_netns(ns, "ip").args(["link", "set", dev, "up"]))?;
            self.run_ok(&Cmd::in_netns(ns, "ethtool").args(["-K", dev, "tx", "off"]))?;
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
        self.run_ok(&Cmd::new("ovsdb-tool").arg("create").arg(path(&conf)).arg(path(&vswitch_schema())))?;

        let db = format!("unix:{}", path(&host.db_socket()));
        let remote = format!("--remote=p{db}");
        self.start_daemon(&host, "ovsdb-server", &[path(&conf), remote])?;
        self.run_ok(&vsctl(&host).args(["--no-wait", "init"]))?;
        self.start_daemon(&host, "ovs-vswitchd", &[db])?;

        // Underlay: the tunnel endpoint lives on br-phy, with the fabric veth as its port.
        self.add_veth(
            &ns,
            &host.underlay_dev,
            &names.fab_ns(),
            &names.underlay_fab(&spec.name),
            Some(Names::FAB_BRIDGE),
        )?;
        self.run_ok(&add_netdev_bridge_with_port(&host, TUNNEL_BRIDGE, &host.underlay_dev))?;
        self.run_ok(&Cmd::in_netns(&ns, "ip").args([
            "addr",
            "replace",
            &spec.tunnel_ip,
            "dev",
            TUNNEL_BRIDGE,
        ]))?;
        self.run_ok(&Cmd::in_netns(&ns, "ip").args(["link", "set", TUNNEL_BRIDGE, "up"]))?;

        for physnet in &spec.physnets {
            let n = physnets.iter().position(|p| p == physnet).unwrap_or_default() + 1;
            let bridge = format!("br-eth{n}");
            let dev = names.phys_host(n, &spec.name);
            let peer = names.phys_peer(n, &spec.name);
            self.add_veth(&ns, &dev, &names.phys_ns(), &peer, Some(Names::PHYS_BRIDGE))?;
            self.run_ok(&add_netdev_bridge_with_port(&host, &bridge, &dev))?;
            host.physnet_bridges.insert(physnet.clone(), bridge.clone());
            host.physnet_devs.insert(bridge, dev);
        }
        if ext {
            let dev = names.ext_host(&spec.name);
            self.add_veth(&ns, &dev, &names.ext_ns(), &names.ext_peer(&spec.name), Some(Names::EXT_BRIDGE))?;
            self.run_ok(&add_netdev_bridge_with_port(&host, EXT_BRIDGE, &dev))?;
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
        let cmd = Cmd::in_netns(&host.netns, program)
            .env("OVS_RUNDIR", &dir)
            .env("OVS_LOGDIR", &dir)
            .env("OVS_DBDIR", &dir)
            .args(args.to_vec())
            .arg(format!("--pidfile={}", path(&file("pid"))))
            .arg(format!("--unixctl={}", path(&file("ctl"))))
            .arg(format!("--log-file={}", path(&file("log"))))
            .arg("--detach");
        self.run_ok(&cmd)?;
        let pid = read_pidfile(&record.pidfile);
        if let Some(r) = self.state.processes.iter_mut().rev().find(|r| r.pidfile == record.pidfile) {
            r.pid = pid;
        }
        self.state.save()
    }

    /// Kills the host's ovs-vswitchd (SIGKILL, as a crash would) and starts it again on the
    /// same database: OpenFlow tables are lost, OVSDB keeps bridges and ports.
    pub fn restart_vswitchd(&mut self, host: &str) -> Result<()> {
        let handle = self.host(host)?.clone();
        let pidfile = handle.dir.join("ovs-vswitchd.pid");
        if let Some(pid) = crate::process::read_pidfile(&pidfile) {
            run_ok(self.runner().as_ref(), &Cmd::new("kill").arg("-9").arg(pid.to_string()))?;
            for _ in 0..100 {
                if !self.runner().alive(pid) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_file(&pidfile);
        self.state.processes.retain(|r| !(r.host == handle.name && r.name == "ovs-vswitchd"));
        let db = format!("unix:{}", path(&handle.db_socket()));
        self.start_daemon(&handle, "ovs-vswitchd", &[db])
    }

    pub(crate) fn run_ok(&self, cmd: &Cmd) -> Result<()> {
        run_ok(self.runner().as_ref(), cmd).map(drop)
    }
}

pub(crate) fn path(p: &Path) -> String {
    p.display().to_string()
}
