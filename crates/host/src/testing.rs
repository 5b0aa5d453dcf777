//! Prerequisites of tests that need root and host tools (feature `testing`): without them a
//! test prints `skipped: <reason>` and returns — unless `CI=true`, where a missing
//! prerequisite fails the test, never a silent skip.
//!
//! ```no_run
//! use neutrino_host::testing::Prerequisites;
//! if !Prerequisites::new().root().programs(&["ip", "nft"]).met() {
//!     return;
//! }
//! ```

use std::path::PathBuf;

use crate::command::program_available;

/// What a test needs of the machine.
#[derive(Clone, Debug, Default)]
pub struct Prerequisites {
    root: bool,
    programs: Vec<String>,
    files: Vec<PathBuf>,
}

impl Prerequisites {
    pub fn new() -> Self {
        Self::default()
    }

    /// Running as root (namespaces, links, nftables, Open vSwitch daemons).
    pub fn root(mut self) -> Self {
        self.root = true;
        self
    }

    /// Programs found on `$PATH` or in an `sbin` directory.
    pub fn programs(mut self, programs: &[&str]) -> Self {
        self.programs.extend(programs.iter().map(|p| p.to_string()));
        self
    }

    /// A file that must exist (a schema, a kernel interface).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// The first prerequisite this machine lacks.
    pub fn missing(&self) -> Option<String> {
        if self.root && !is_root() {
            return Some("not running as root".into());
        }
        if let Some(p) = self.programs.iter().find(|p| !program_available(p)) {
            return Some(format!("`{p}` is not installed"));
        }
        if let Some(f) = self.files.iter().find(|f| !f.exists()) {
            return Some(format!("no {}", f.display()));
        }
        None
    }

    /// Whether the test can run; see [`unmet`] for what happens when it cannot.
    pub fn met(&self) -> bool {
        match self.missing() {
            None => true,
            Some(reason) => unmet(&reason),
        }
    }
}

/// A prerequisite is missing: panics when `CI=true`, else prints `skipped: <reason>`;
/// returns `false` (the test should return). The line goes straight to the process's stderr,
/// past the test harness's capture (which would hide it for a passing test), so that it shows
/// in `cargo test`'s output next to the test.
pub fn unmet(reason: &str) -> bool {
    if in_ci() {
        panic!("CI=true and a test prerequisite is missing: {reason}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {reason}");
    false
}

/// Whether `CI=true`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_first_missing_prerequisite() {
        assert_eq!(Prerequisites::new().programs(&["sh"]).missing(), None);
        let missing = Prerequisites::new().programs(&["sh", "no-such-tool-here"]).missing();
        assert_eq!(missing.as_deref(), Some("`no-such-tool-here` is not installed"));
        let missing = Prerequisites::new().file("/no/such/schema").missing();
        assert_eq!(missing.as_deref(), Some("no /no/such/schema"));
        if !is_root() {
            assert_eq!(Prerequisites::new().root().missing().as_deref(), Some("not running as root"));
        }
    }

    #[test]
    fn skips_outside_ci_and_fails_inside() {
        // Run the check in a child test process with CI set either way, with the harness
        // capturing output as `cargo test` does: the skip line must still be seen.
        let exe = std::env::current_exe().unwrap();
        for (ci, ok) in [("false", true), ("true", false)] {
            let out = std::process::Command::new(&exe)
                .args(["--exact", "testing::tests::child_with_a_missing_tool", "--include-ignored"])
                .env("CI", ci)
                .output()
                .unwrap();
            let (stdout, stderr) =
                (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.success(), ok, "CI={ci}: {stdout}{stderr}");
            if ok {
                assert!(stderr.contains("skipped: `no-such-tool-here` is not installed"), "{stdout}{stderr}");
            }
        }
    }

    #[test]
    #[ignore = "run by skips_outside_ci_and_fails_inside"]
    fn child_with_a_missing_tool() {
        assert!(!Prerequisites::new().programs(&["no-such-tool-here"]).met());
    }
}
