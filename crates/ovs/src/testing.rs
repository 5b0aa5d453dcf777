//! A private Open vSwitch for the integration tests of this crate and the agent (the `testing`
//! feature): ovsdb-server and a userspace (`netdev`) ovs-vswitchd in a throwaway network
//! namespace and temp run directory, stopped by pid file and removed on drop. Without root or
//! Open vSwitch the tests print "skipped: …" — unless `CI=true`, where a missing prerequisite
//! fails them (`neutrino_host::testing`).

#![allow(clippy::expect_used, reason = "test support: an expect states what the test relies on")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use neutrino_host::testing::{Prerequisites, unmet};

/// The OVSDB schema the private database is created from.
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct OvsSandbox {
    pub dir: tempfile::TempDir,
    pub netns: String,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_for(path: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl OvsSandbox {
    /// Starts the daemons, or returns `None` (skip) when this machine cannot.
    pub fn start() -> Option<OvsSandbox> {
        let met = Prerequisites::new()
            .root()
            .programs(&["ip", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"])
            .file(SCHEMA)
            .met();
        if !met {
            return None;
        }
        let netns = format!("nt-ovstest-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        if let Err(e) = run(Command::new("ip").args(["netns", "add", &netns])) {
            unmet(&format!("cannot create a network namespace: {e}"));
            return None;
        }
        let dir = tempfile::Builder::new().prefix("ovs").tempdir_in("/tmp").expect("tempdir");
        let sb = OvsSandbox { dir, netns };
        sb.netns_exec(&["ip", "link", "set", "lo", "up"]).expect("lo up");
        let db = sb.path("conf.db");
        run(Command::new("ovsdb-tool").arg("create").arg(&db).arg(SCHEMA)).expect("ovsdb-tool create");
        let d = sb.dir.path().display().to_string();
        sb.netns_exec(&[
            "ovsdb-server",
            &db.display().to_string(),
            &format!("--remote=punix:{d}/db.sock"),
            &format!("--pidfile={d}/ovsdb-server.pid"),
            &format!("--unixctl={d}/ovsdb-server.ctl"),
            &format!("--log-file={d}/ovsdb-server.log"),
            "--detach",
        ])
        .expect("ovsdb-server");
        run(Command::new("ovs-vsctl").arg(format!("--db=unix:{d}/db.sock")).args(["--no-wait", "init"]))
            .expect("ovs-vsctl init");
        sb.start_vswitchd();
        Some(sb)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db_sock(&self) -> PathBuf {
        self.path("db.sock")
    }

    pub fn rundir(&self) -> &Path {
        self.dir.path()
    }

    pub fn netns_exec(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip").args(["netns", "exec", &self.netns]).args(args))
    }

    /// `ovs-vsctl --db=unix:… ARGS` from the root namespace.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("ovs-vsctl").arg(format!("--db=unix:{}", self.db_sock().display())).args(args))
    }

    /// `OVS_RUNDIR=… ovs-ofctl ARGS` from the root namespace.
    pub fn ofctl(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("ovs-ofctl").env("OVS_RUNDIR", self.rundir()).args(args))
    }

    pub fn start_vswitchd(&self) {
        let d = self.dir.path().display().to_string();
        run(Command::new("ip").args(["netns", "exec", &self.netns]).env("OVS_RUNDIR", &d).args([
            "ovs-vswitchd",
            &format!("unix:{d}/db.sock"),
            &format!("--pidfile={d}/ovs-vswitchd.pid"),
            &format!("--unixctl={d}/ovs-vswitchd.ctl"),
            &format!("--log-file={d}/ovs-vswitchd.log"),
            "--detach",
        ]))
        .expect("ovs-vswitchd");
    }

    /// Waits until ovs-vswitchd serves `<bridge>.mgmt`.
    pub fn wait_bridge(&self, bridge: &str) {
        assert!(
            wait_for(&self.path(&format!("{bridge}.mgmt")), Duration::from_secs(10)),
            "{bridge}.mgmt never appeared"
        );
    }

    fn kill_pidfile(&self, name: &str) {
        let pidfile = self.path(name);
        let Ok(pid) = std::fs::read_to_string(&pidfile) else { return };
        let pid = pid.trim().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let start = Instant::now();
        while proc.exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if proc.exists() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        let _ = std::fs::remove_file(pidfile);
    }

    pub fn stop_vswitchd(&self) {
        self.kill_pidfile("ovs-vswitchd.pid");
    }

    pub fn stop_ovsdb_server(&self) {
        self.kill_pidfile("ovsdb-server.pid");
    }
}

impl Drop for OvsSandbox {
    fn drop(&mut self) {
        self.stop_vswitchd();
        self.stop_ovsdb_server();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}
