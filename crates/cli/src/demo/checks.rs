//! The demo's checks with real traffic: the servers in the VMs (HTTP on 80 answering the VM's
//! name; TCP listeners that tell each caller the address it came from) and on the public
//! host, started in the namespaces in the background (stopped when their VM is unplugged or
//! by `sandbox down`), then each [`CheckPlan`] run as a TCP client in a namespace. Blocked
//! checks run after the open ones, so the paths they share are known to work.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use neutrino_host::Cmd;
use neutrino_sandbox::{PUBLIC_HOST_CIDR, Sandbox};

use super::build::Built;
use super::plan::{CheckPlan, HTTP, Plan, SnatVia};
use super::report::CheckResult;

/// HTTP on `argv[1]` answering every GET with `argv[2]` (the VM's name).
const HTTP_SERVER: &str = r#"
import http.server, sys
body = (sys.argv[2] + "\n").encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"#;

/// TCP on `argv[1]`: tells each caller its address as seen here, then closes.
const PEER_SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
while True:
    c, a = s.accept()
    try:
        c.sendall((a[0] + "\n").encode())
    finally:
        c.close()
"#;

/// Connects to `argv[1]:argv[2]` within `argv[3]` seconds (sending a GET to port 80) and
/// prints the answer's body; exits 1 with the error otherwise.
const CLIENT: &str = r#"
import socket, sys
host, port, t = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    c = socket.create_connection((host, port), timeout=t)
    if port == 80:
        c.sendall(b"GET / HTTP/1.0\r\nHost: demo\r\n\r\n")
    data = b""
    while True:
        d = c.recv(4096)
        if not d:
            break
        data += d
    print(data.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip())
except Exception as e:
    print(type(e).__name__ + (": " + str(e) if str(e) else ""))
    sys.exit(1)
"#;

/// Seconds a client waits for a connection.
const CONNECT_TIMEOUT: &str = "3";

/// Starts `script` in `netns` in the background (its own process group, output to `log`).
fn start(netns: &str, script: &str, args: &[&str], log: &Path) -> Result<u32, String> {
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd =
        Cmd::in_netns(netns, "python3").arg("-c").arg(script).args(args.iter().copied()).to_command();
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().map_err(|e| e.to_string())?;
    Ok(child.id())
}

/// The servers of the plan: in each VM on its ports, and the public host's listener.
pub fn start_servers(sb: &Sandbox, plan: &Plan, dir: &Path) -> Result<(), String> {
    let logs = dir.join("servers");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    for v in &plan.vms {
        let ns = sb.vm(&v.sandbox_name()).map_err(|e| e.to_string())?.netns.clone();
        for port in &v.listens {
            let log = logs.join(format!("{}-{port}.log", v.name));
            let p = port.to_string();
            if *port == HTTP {
                start(&ns, HTTP_SERVER, &[&p, v.name], &log)
            } else {
                start(&ns, PEER_SERVER, &[&p], &log)
            }?;
        }
    }
    let public = sb.public_netns().map_err(|e| e.to_string())?.to_string();
    start(&public, PEER_SERVER, &[&plan.public_port.to_string()], &logs.join("public.log"))?;
    Ok(())
}

/// One client run: the answer, or the error.
fn connect(sb: &Sandbox, netns: &str, host: &str, port: u16) -> Result<String, String> {
    let out = sb
        .exec(netns, &["python3", "-c", CLIENT, host, &port.to_string(), CONNECT_TIMEOUT])
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() { Ok(text) } else { Err(text) }
}

/// Retries a connection that should work for up to `patience` (flows, ARP and NAT settle).
fn connect_patiently(
    sb: &Sandbox,
    netns: &str,
    host: &str,
    port: u16,
    patience: Duration,
) -> Result<String, String> {
    let start = Instant::now();
    loop {
        match connect(sb, netns, host, port) {
            Ok(answer) => return Ok(answer),
            Err(e) if start.elapsed() > patience => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// A positive check: answered, and with `want` when given.
fn expect_answer(got: Result<String, String>, want: Option<&str>) -> (bool, String) {
    match (got, want) {
        (Ok(a), Some(w)) if a == w => (true, format!("answered: {a}")),
        (Ok(a), Some(w)) => (false, format!("answered {a}, expected {w}")),
        (Ok(a), None) => (true, format!("answered: {a}")),
        (Err(e), _) => (false, format!("no answer: {e}")),
    }
}

/// A negative check: no answer — the connection timed out or was refused (what a firewall
/// does), not some other failure (no address, no route), which proves nothing.
fn expect_blocked(got: Result<String, String>) -> (bool, String) {
    match got {
        Ok(a) => (false, format!("answered: {a}")),
        Err(e) if e.starts_with("TimeoutError") || e.starts_with("ConnectionRefusedError") => {
            (true, format!("no answer ({e})"))
        }
        Err(e) => (false, format!("failed otherwise: {e}")),
    }
}

/// Runs one traffic check (leases and floating IP status are checked elsewhere).
pub fn run(sb: &Sandbox, plan: &Plan, built: &Built, check: &CheckPlan, patience: Duration) -> CheckResult {
    let ns = |vm: &str| plan.vm(vm).and_then(|v| sb.vm(&v.sandbox_name()).ok()).map(|v| v.netns.clone());
    let fixed = |vm: &str| built.vms.get(vm).map(|v| v.ip.clone()).unwrap_or_default();
    let floating =
        |vm: &str| built.vms.get(vm).and_then(|v| v.floating.clone()).map(|f| f.1).unwrap_or_default();
    let public = sb.public_netns().map(str::to_string).unwrap_or_default();
    let public_ip = PUBLIC_HOST_CIDR.split('/').next().unwrap_or_default();
    let (ok, detail) = match check {
        CheckPlan::PublicToFloating { vm, port, answered: true } => {
            expect_answer(connect_patiently(sb, &public, &floating(vm), *port, patience), Some(vm))
        }
        CheckPlan::PublicToFloating { vm, port, answered: false } => {
            expect_blocked(connect(sb, &public, &floating(vm), *port))
        }
        CheckPlan::Snat { vm, via } => {
            let want = match via {
                SnatVia::FloatingIp => floating(vm),
                SnatVia::RouterGateway => built.gateway_ip.clone(),
            };
            let from = ns(vm).unwrap_or_default();
            expect_answer(connect_patiently(sb, &from, public_ip, plan.public_port, patience), Some(&want))
        }
        CheckPlan::Tcp { from, to, port, answered: true } => {
            let got = connect_patiently(sb, &ns(from).unwrap_or_default(), &fixed(to), *port, patience);
            expect_answer(got, Some(&fixed(from)))
        }
        CheckPlan::Tcp { from, to, port, answered: false } => {
            expect_blocked(connect(sb, &ns(from).unwrap_or_default(), &fixed(to), *port))
        }
        CheckPlan::Lease { .. } | CheckPlan::FloatingActive { .. } => (false, "not a traffic check".into()),
    };
    CheckResult { what: check.describe(), ok, detail }
}

/// Runs the traffic checks concurrently, the open ones first, then the blocked ones; results
/// in the order given.
pub fn run_all(sb: &Sandbox, plan: &Plan, built: &Built, checks: &[CheckPlan]) -> Vec<CheckResult> {
    let blocked = CheckPlan::is_blocked;
    let patience = Duration::from_secs(20);
    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    for phase in [false, true] {
        std::thread::scope(|s| {
            let handles: Vec<_> = checks
                .iter()
                .enumerate()
                .filter(|(_, c)| blocked(c) == phase)
                .map(|(i, c)| (i, s.spawn(move || run(sb, plan, built, c, patience))))
                .collect();
            for (i, h) in handles {
                results[i] = h.join().ok();
            }
        });
    }
    let mut results: Vec<CheckResult> = results
        .into_iter()
        .zip(checks)
        .map(|(r, c)| {
            r.unwrap_or_else(|| CheckResult { what: c.describe(), ok: false, detail: "crashed".into() })
        })
        .collect();
    // A block whose open twin failed shows nothing about the firewall.
    for (i, c) in checks.iter().enumerate().filter(|(_, c)| c.is_blocked()) {
        let twin_ok = checks.iter().zip(&results).any(|(o, r)| o.is_twin_of(c) && r.ok);
        if !twin_ok && results[i].ok {
            results[i].ok = false;
            results[i].detail =
                format!("{} — but its open twin failed, so this shows nothing", results[i].detail);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_by_what_was_seen() {
        assert_eq!(expect_answer(Ok("web-1".into()), Some("web-1")), (true, "answered: web-1".into()));
        assert!(
            !expect_answer(Ok("10.10.1.5".into()), Some("203.0.113.101")).0,
            "SNAT through the wrong address"
        );
        assert!(!expect_answer(Err("timeout".into()), None).0);
        assert!(expect_blocked(Err("TimeoutError: timed out".into())).0);
        assert!(expect_blocked(Err("ConnectionRefusedError: [Errno 111]".into())).0);
        assert!(!expect_blocked(Ok("10.10.1.5".into())).0);
        assert!(
            !expect_blocked(Err("gaierror: [Errno -2] Name or service not known".into())).0,
            "no address"
        );
        assert!(!expect_blocked(Err("OSError: [Errno 113] No route to host".into())).0);
    }
}
