//! `neutrino sandbox up|status|vm create|vm exec|vm lease|vm delete|outside exec|down` as an
//! operator types them, against a `neutrino server` process: the VM's port binds, turns
//! ACTIVE, a DHCP VM on a network no dhcp agent serves fails clearly, a network node's outside
//! world answers, and `down` leaves no namespace behind.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

mod cloud;

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn neutrino(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neutrino")).args(args).output().expect("neutrino runs")
}

fn ok(args: &[&str]) -> String {
    let out = neutrino(args);
    assert!(
        out.status.success(),
        "neutrino {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn namespaces(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// A GET on the noauth server, body as text (HTTP/1.0, no client library needed).
/// What `/proc` says of `pid` (its state, command line and network namespace) and of the
/// named namespaces: for the message when a process outlives what should have stopped it.
fn proc_facts(pid: u32) -> String {
    let read = |p: String| std::fs::read(&p).map(|b| String::from_utf8_lossy(&b).replace('\0', " "));
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/net"));
    let named = std::fs::read_dir("/run/netns").map(|d| {
        d.flatten()
            .map(|e| {
                use std::os::unix::fs::MetadataExt;
                let ino = std::fs::metadata(e.path()).map(|m| m.ino());
                format!("{}={ino:?}", e.file_name().to_string_lossy())
            })
            .collect::<Vec<_>>()
    });
    format!(
        "stat {:?}; cmdline {:?}; ns {ns:?}; /run/netns {named:?}",
        read(format!("/proc/{pid}/stat")),
        read(format!("/proc/{pid}/cmdline"))
    )
}

fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("response");
    body
}

#[test]
fn sandbox_commands_drive_a_one_host_cloud() {
    if !cloud::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["server", "--auth", "noauth", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .spawn()
        .expect("server starts");
    let _server = Server(child);
    let token = data.join("agent.token");
    let start = Instant::now();
    while !token.exists() || neutrino(&["--os-url", &url, "network", "list"]).status.code() != Some(0) {
        assert!(start.elapsed() < Duration::from_secs(20), "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let run_dir = dir.path().join("sandbox");
    let rd = run_dir.to_str().expect("utf-8 path");
    let prefix = "nt-sc-";
    ok(&[
        "sandbox",
        "up",
        "--hosts",
        "1",
        "--prefix",
        prefix,
        "--run-dir",
        rd,
        "--server",
        &url,
        "--agent-token-file",
        token.to_str().expect("utf-8"),
    ]);
    let result = std::panic::catch_unwind(|| {
        let status: Value =
            serde_json::from_str(&ok(&["sandbox", "status", "--run-dir", rd])).expect("status json");
        assert_eq!(status["hosts"].as_array().map(Vec::len), Some(1), "{status}");
        ok(&["--os-url", &url, "network", "create", "n1"]);
        ok(&[
            "--os-url",
            &url,
            "subnet",
            "create",
            "s1",
            "--network",
            "n1",
            "--subnet-range",
            "10.50.0.0/24",
        ]);
        // Binding needs a live agent: wait for h1's first heartbeat.
        let start = Instant::now();
        while !get(port, "/v2.0/agents").contains("\"alive\":true") {
            assert!(start.elapsed() < Duration::from_secs(20), "the agent of h1 never reported");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = ok(&[
            "--os-url",
            &url,
            "sandbox",
            "vm",
            "create",
            "v1",
            "--host",
            "h1",
            "--network",
            "n1",
            "--ip",
            "10.50.0.7",
            // No network node serves this network: the address is set directly.
            "--static",
            "--run-dir",
            rd,
        ]);
        assert!(out.contains("ACTIVE"), "{out}");
        let addr = ok(&[
            "sandbox",
            "vm",
            "exec",
            "v1",
            "--run-dir",
            rd,
            "--",
            "ip",
            "-o",
            "-4",
            "addr",
            "show",
            "eth0",
        ]);
        assert!(addr.contains("10.50.0.7/24"), "{addr}");
        let ports: Value =
            serde_json::from_str(&ok(&["--os-url", &url, "-o", "json", "port", "list"])).expect("json");
        assert_eq!(ports[0]["status"], "ACTIVE", "{ports}");
        ok(&["--os-url", &url, "sandbox", "vm", "delete", "v1", "--run-dir", rd]);
        let ports: Value =
            serde_json::from_str(&ok(&["--os-url", &url, "-o", "json", "port", "list"])).expect("json");
        assert_eq!(ports, Value::Array(vec![]));

        // A VM asks for its address by DHCP unless `--static`. No dhcp agent serves n1 here:
        // `vm create` says so and how to go on, the client's failure is recorded, and `vm
        // delete` stops the client (alive until then) by its pid.
        let out = neutrino(&[
            "--os-url",
            &url,
            "sandbox",
            "vm",
            "create",
            "v2",
            "--host",
            "h1",
            "--network",
            "n1",
            "--run-dir",
            rd,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("no lease for") && err.contains("--static"), "{err}");
        let lease: Value = serde_json::from_str(&ok(&["sandbox", "vm", "lease", "v2", "--run-dir", rd]))
            .expect("lease json");
        assert_eq!(lease["event"], "leasefail", "{lease}");
        let status: Value =
            serde_json::from_str(&ok(&["sandbox", "status", "--run-dir", rd])).expect("status json");
        let pid = status["vms"][0]["dhcp"]["pid"].as_u64().and_then(|p| u32::try_from(p).ok()).expect("pid");
        assert!(neutrino_host::process::proc_alive(pid), "the client keeps trying");
        ok(&["--os-url", &url, "sandbox", "vm", "delete", "v2", "--run-dir", rd]);
        assert!(
            !neutrino_host::process::proc_alive(pid),
            "vm delete stopped the client: {}",
            proc_facts(pid)
        );
    });
    ok(&["sandbox", "down", "--run-dir", rd]);
    assert_eq!(namespaces(prefix), Vec::<String>::new(), "sandbox down left namespaces");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn sandbox_up_with_a_network_node_builds_the_outside_world() {
    if !cloud::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("sandbox");
    let rd = run_dir.to_str().expect("utf-8 path");
    let prefix = "nt-so-";
    // No server: the agents only retry; the outside world needs none.
    let up = ok(&[
        "sandbox",
        "up",
        "--hosts",
        "1",
        "--network-node",
        "--prefix",
        prefix,
        "--run-dir",
        rd,
        "--server",
        "http://127.0.0.1:9",
        "--agent-token",
        "unused",
    ]);
    let result = std::panic::catch_unwind(|| {
        // The network node's roles (l2, dhcp, l3) that this build's agent has drivers for.
        let roles: Vec<&str> = ["l2", "dhcp", "l3"]
            .into_iter()
            .filter(|r| neutrino_agent::drivers::AVAILABLE.iter().any(|a| a.as_str() == *r))
            .collect();
        assert!(up.contains("(network node): netns nt-so-network"), "{up}");
        assert!(up.contains(&format!("agent roles {},", roles.join(","))), "{up}");
        assert!(up.contains("outside world: netns nt-so-ext at 203.0.113.1"), "{up}");
        assert!(up.contains("public host: netns nt-so-public at 198.51.100.10"), "{up}");
        let ext =
            ok(&["sandbox", "outside", "exec", "--run-dir", rd, "--", "ip", "-o", "-4", "addr", "show"]);
        assert!(ext.contains("203.0.113.1/24") && ext.contains("198.51.100.1/24"), "{ext}");
        // The public host reaches ext's address on the external network; a command that fails
        // there fails `outside exec`.
        let ping = [
            "sandbox",
            "outside",
            "exec",
            "--public",
            "--run-dir",
            rd,
            "--",
            "busybox",
            "ping",
            "-c1",
            "-W1",
        ];
        let start = Instant::now();
        while !neutrino(&[&ping[..], &["203.0.113.1"]].concat()).status.success() {
            assert!(start.elapsed() < Duration::from_secs(10), "the public host never reached 203.0.113.1");
            std::thread::sleep(Duration::from_millis(200));
        }
        let unreachable = neutrino(&[&ping[..], &["192.0.2.77"]].concat());
        assert!(!unreachable.status.success(), "a ping to nowhere succeeded");
    });
    ok(&["sandbox", "down", "--run-dir", rd]);
    assert_eq!(namespaces(prefix), Vec::<String>::new(), "sandbox down left namespaces");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
