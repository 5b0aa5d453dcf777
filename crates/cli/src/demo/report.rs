//! What `neutrino demo` prints: step lines, a progress line for slow waits, the summary table
//! of the checks (✔/✘ with what was seen), and the commands to look around and to tear
//! everything down. Rendering functions return strings so they can be tested.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use comfy_table::{Table, presets};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub what: String,
    pub ok: bool,
    /// What was seen (an address, an answer, a timeout).
    pub detail: String,
}

/// A step, in plain words.
pub fn step(text: &str) {
    println!("• {text}");
}

/// The summary: one row per check, then the count.
pub fn summary(results: &[CheckResult]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["", "check", "seen"]);
    for r in results {
        t.add_row(vec![if r.ok { "✔" } else { "✘" }, r.what.as_str(), r.detail.as_str()]);
    }
    let passed = results.iter().filter(|r| r.ok).count();
    format!("{t}\n{passed} of {} checks passed\n", results.len())
}

/// Whether every check passed.
pub fn all_passed(results: &[CheckResult]) -> bool {
    !results.is_empty() && results.iter().all(|r| r.ok)
}

/// The commands to look around the running demo and the one that tears it down.
pub fn look_around(dir: &Path, exe: &str, qrouter_ns: Option<&str>) -> String {
    let d = dir.display();
    let clouds = format!("OS_CLIENT_CONFIG_FILE={d}/data/clouds.yaml");
    let sandbox = format!("--run-dir {d}/sandbox");
    let mut s = String::from("The cloud is still up. Look around:\n");
    s.push_str(&format!("  {clouds} {exe} --os-cloud neutrino-demo router show r1\n"));
    s.push_str(&format!("  {clouds} {exe} --os-cloud neutrino-demo floating ip list --long\n"));
    s.push_str(&format!("  {clouds} {exe} --os-cloud neutrino-admin port list --long\n"));
    s.push_str(&format!("  {exe} sandbox vm exec web1 {sandbox} -- ip addr\n"));
    s.push_str(&format!(
        "  {exe} sandbox outside exec --public {sandbox} -- curl -s http://<floating IP>/\n"
    ));
    match qrouter_ns {
        Some(ns) => s.push_str(&format!("  ip netns exec {ns} nft list ruleset\n")),
        None => s.push_str("  ip netns list | grep qrouter   (then: ip netns exec <it> nft list ruleset)\n"),
    }
    let shell = format!("{clouds} {exe} --os-cloud neutrino-admin");
    s.push_str("Ask the inspection shell what is where, and why a packet arrives or not:\n");
    s.push_str(&format!(
        "  {shell} shell --sandbox {d}/sandbox      (then: help, list, show br-int, ns list, …)\n"
    ));
    s.push_str(&format!("  {shell} inspect --sandbox {d}/sandbox trace web-1 db-1 tcp 5432\n"));
    s.push_str(&format!("  {shell} inspect --sandbox {d}/sandbox trace app-1 db-1 tcp 5432\n"));
    s.push_str(&format!("  {shell} inspect --sandbox {d}/sandbox --host network ns show r1\n"));
    s.push_str(&format!("  {shell} inspect --sandbox {d}/sandbox topology --svg {d}/topology.svg\n"));
    s.push_str(&format!("Logs: {d}/server.log, {d}/sandbox/<host>/agent.log\n"));
    s.push_str(&format!("Tear everything down with:\n  {exe} demo down --dir {d}\n"));
    s
}

/// A progress line (`  waiting for leases… 12s`) redrawn every second on a terminal until
/// dropped; on other outputs one line at the start.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(what: &str) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!("  {what}…");
            return Progress { stop, thread: None };
        }
        let (flag, what) = (stop.clone(), what.to_string());
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                print!("\r  {what}… {}s ", start.elapsed().as_secs());
                let _ = std::io::stdout().flush();
                std::thread::sleep(Duration::from_millis(250));
            }
            println!("\r  {what}… done in {}s", start.elapsed().as_secs());
        });
        Progress { stop, thread: Some(thread) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(what: &str, ok: bool, detail: &str) -> CheckResult {
        CheckResult { what: what.into(), ok, detail: detail.into() }
    }

    #[test]
    fn the_summary_marks_each_check() {
        let results = [
            r("web-1 got its address by DHCP", true, "10.10.1.5"),
            r("web-1 → db-1 tcp/5432 blocked", false, "answered: 10.10.1.5"),
        ];
        let text = summary(&results);
        let lines: Vec<&str> = text.lines().collect();
        let row = |needle: &str| lines.iter().find(|l| l.contains(needle)).copied().unwrap_or_default();
        assert!(row("got its address").contains('✔') && !row("got its address").contains('✘'), "{text}");
        assert!(row("blocked").contains('✘') && row("blocked").contains("answered: 10.10.1.5"), "{text}");
        assert!(text.ends_with("1 of 2 checks passed\n"), "{text}");
        assert!(!all_passed(&results));
        assert!(all_passed(&results[..1]));
        assert!(!all_passed(&[]), "no checks is not a pass");
    }

    #[test]
    fn look_around_names_the_teardown_command() {
        let text = look_around(
            Path::new("/tmp/neutrino-demo.x"),
            "/bin/neutrino",
            Some("nt-demo-network-qrouter-r"),
        );
        assert!(text.contains("/bin/neutrino demo down --dir /tmp/neutrino-demo.x\n"), "{text}");
        assert!(text.contains("ip netns exec nt-demo-network-qrouter-r nft list ruleset"), "{text}");
        assert!(text.contains("OS_CLIENT_CONFIG_FILE=/tmp/neutrino-demo.x/data/clouds.yaml"), "{text}");
        assert_eq!(text.matches("demo down").count(), 1, "one teardown command");
        // The closing lines point at the inspection shell on the same sandbox.
        assert!(
            text.contains("--os-cloud neutrino-admin shell --sandbox /tmp/neutrino-demo.x/sandbox"),
            "{text}"
        );
        assert!(
            text.contains("inspect --sandbox /tmp/neutrino-demo.x/sandbox trace web-1 db-1 tcp 5432"),
            "{text}"
        );
    }
}
