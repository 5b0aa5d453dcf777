//! A VM's DHCP client: busybox `udhcpc` running in the foreground inside the VM's namespace
//! ([`DhcpClient`]), with the sandbox's own event script ([`UDHCPC_SCRIPT`]) that applies the
//! lease to that namespace only and records it in the VM's `lease` file; renewing (SIGUSR1),
//! releasing (SIGUSR2), waiting for a lease and stopping the client by pid, checked against
//! its program and namespace first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use neutrino_host::{Host, Process, Signal, Spawn};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::process::STOP_TIMEOUT;

/// The program the client runs as (`busybox udhcpc`), checked before every signal.
pub const DHCP_CLIENT_PROGRAM: &str = "busybox";
/// The variable naming the lease file for the script.
pub const LEASE_FILE_VAR: &str = "NEUTRINO_LEASE_FILE";

/// udhcpc's event script. It runs inside the VM's namespace (udhcpc's own), changes only
/// `$interface` there — address and prefix, MTU (option 26), the routes of option 121 and a
/// default route via the router unless option 121 holds one (RFC 3442) — and writes what it
/// got to `$NEUTRINO_LEASE_FILE` (temporary file, then rename). It never writes
/// `/etc/resolv.conf` or any other file of the machine: `ip netns exec` shares the machine's
/// `/etc` with the VM, so the DNS servers are only recorded.
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# udhcpc event script of the Neutrino sandbox (written by the sandbox; docs/design.md,
# "Sandbox"). Applies the lease to $interface inside the VM's namespace and records it in
# $NEUTRINO_LEASE_FILE. It never writes /etc/resolv.conf: the VM shares the machine's /etc.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
event="$1"
file="${NEUTRINO_LEASE_FILE:?NEUTRINO_LEASE_FILE is not set}"
dev="${interface:?}"

record() {
	seq=$(sed -n 's/^seq=//p' "$file" 2>/dev/null)
	seq=$(( ${seq:-0} + 1 ))
	tmp="$file.tmp.$$"
	{
		echo "event=$event"
		echo "seq=$seq"
		echo "time=$(date +%s)"
		for key in interface ip mask subnet broadcast router dns domain hostname mtu staticroutes lease serverid message; do
			eval "value=\${$key:-}"
			printf '%s=%s\n' "$key" "$(printf '%s' "$value" | tr '\n\r' '  ')"
		done
	} > "$tmp" && mv -f "$tmp" "$file"
}

case "$event" in
deconfig)
	ip -4 addr flush dev "$dev"
	ip link set dev "$dev" up
	record
	;;
bound|renew)
	if [ -n "${mtu:-}" ]; then
		ip link set dev "$dev" mtu "$mtu"
	fi
	want="$ip/${mask:-32}"
	have=""
	for cidr in $(ip -4 -o addr show dev "$dev" | sed -n 's/.* inet \([0-9./]*\) .*/\1/p'); do
		have="$have $cidr"
	done
	if [ "$have" != " $want" ]; then
		ip -4 addr flush dev "$dev"
	fi
	brd=""
	if [ -n "${broadcast:-}" ]; then
		brd="broadcast $broadcast"
	fi
	ip -4 addr replace "$want" $brd dev "$dev"
	ip -4 route flush dev "$dev" proto dhcp
	default=yes
	if [ -n "${staticroutes:-}" ]; then
		set -- $staticroutes
		while [ $# -ge 2 ]; do
			case "$1" in 0.0.0.0/0) default=no ;; esac
			ip -4 route replace "$1" via "$2" dev "$dev" proto dhcp
			shift 2
		done
	fi
	if [ "$default" = yes ] && [ -n "${router:-}" ]; then
		set -- $router
		ip -4 route replace default via "$1" dev "$dev" proto dhcp
	fi
	record
	;;
leasefail|nak)
	record
	;;
esac
exit 0
"#;

/// A running `udhcpc` and its files, as recorded in `sandbox.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpClient {
    /// The namespace it runs in (the VM's).
    pub netns: String,
    pub interface: String,
    pub pid: u32,
    pub pidfile: PathBuf,
    /// Where the script records each event (see [`Lease`]).
    pub lease_file: PathBuf,
    pub script: PathBuf,
    /// udhcpc's own output.
    pub log: PathBuf,
}

impl DhcpClient {
    /// Writes the script into `dir` and starts `busybox udhcpc -f -i <interface>` inside
    /// `netns`, its files in `dir` (`udhcpc.script`, `udhcpc.pid`, `udhcpc.log`, `lease`).
    pub fn start(sys: &dyn Host, netns: &str, interface: &str, dir: &Path) -> Result<DhcpClient> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let script = dir.join("udhcpc.script");
        write_executable(&script, UDHCPC_SCRIPT)?;
        let lease_file = dir.join("lease");
        // A lease from an earlier client is not this one's.
        match std::fs::remove_file(&lease_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&lease_file, e)),
            _ => {}
        }
        let (pidfile, log) = (dir.join("udhcpc.pid"), dir.join("udhcpc.log"));
        let script_arg = script.display().to_string();
        let argv = [
            DHCP_CLIENT_PROGRAM,
            "udhcpc",
            "-f",
            "-i",
            interface,
            "-s",
            &script_arg,
            // Discover once a second, five times, then again after 5 s, for ever.
            "-t",
            "5",
            "-T",
            "1",
            "-A",
            "5",
            // Not asked for by default: the MTU and the classless static routes.
            "-O",
            "mtu",
            "-O",
            "staticroutes",
        ];
        let spawn = Spawn::new(argv, &pidfile)
            .in_netns(Some(netns))
            .env(LEASE_FILE_VAR, lease_file.display().to_string())
            .log(&log);
        let pid = sys.spawn(&spawn)?.pid;
        Ok(DhcpClient {
            netns: netns.into(),
            interface: interface.into(),
            pid,
            pidfile,
            lease_file,
            script,
            log,
        })
    }

    /// The client as a process to check before signalling: its pid, running busybox, in the
    /// VM's namespace.
    pub fn process(&self) -> Process {
        Process { pid: self.pid, program: Some(DHCP_CLIENT_PROGRAM.into()), netns: Some(self.netns.clone()) }
    }

    pub fn is_running(&self, sys: &dyn Host) -> bool {
        sys.is_running(&self.process())
    }

    /// The last event recorded, if any.
    pub fn lease(&self) -> Result<Option<Lease>> {
        Lease::read(&self.lease_file)
    }

    /// Asks for a renewal now (SIGUSR1): a `renew` (or, after a NAK, a new `bound`) follows.
    pub fn renew(&self, sys: &dyn Host) -> Result<()> {
        Ok(sys.signal(&self.process(), Signal::Usr1)?)
    }

    /// Releases the lease (SIGUSR2): the script records `deconfig` and removes the address.
    pub fn release(&self, sys: &dyn Host) -> Result<()> {
        Ok(sys.signal(&self.process(), Signal::Usr2)?)
    }

    /// Stops the client (SIGTERM, then SIGKILL), if it is still the process started.
    pub fn stop(&self, sys: &dyn Host) -> Result<bool> {
        let stopped = sys.stop(&self.process(), STOP_TIMEOUT)?;
        let _ = std::fs::remove_file(&self.pidfile);
        Ok(stopped)
    }

    /// Waits up to `timeout` for a lease in force recorded after `after` (any, when `None`).
    pub fn wait_lease(&self, sys: &dyn Host, after: Option<&Lease>, timeout: Duration) -> Result<Lease> {
        let seq = after.map_or(0, |l| l.seq);
        self.wait_for(sys, timeout, "a lease", |l| l.is_bound() && l.seq > seq)
    }

    /// Waits up to `timeout` for a record that `accept`s; a clear error (with the last event
    /// and udhcpc's last lines) when none comes or the client ends.
    pub fn wait_for(
        &self,
        sys: &dyn Host,
        timeout: Duration,
        what: &str,
        mut accept: impl FnMut(&Lease) -> bool,
    ) -> Result<Lease> {
        let start = Instant::now();
        loop {
            let lease = self.lease()?;
            if let Some(l) = lease.as_ref().filter(|l| accept(l)) {
                return Ok(l.clone());
            }
            let running = self.is_running(sys);
            if !running || start.elapsed() >= timeout {
                let last = lease.map_or("none".to_string(), |l| format!("{:?} (seq {})", l.event, l.seq));
                let why = if running {
                    format!("none within {} s", timeout.as_secs())
                } else {
                    "the client ended".into()
                };
                return Err(Error::NoLease {
                    name: self.netns.clone(),
                    message: format!(
                        "waiting for {what}: {why}; last event {last}; udhcpc: {}",
                        self.log_tail()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
