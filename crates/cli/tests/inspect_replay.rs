//! `neutrino inspect` and `neutrino shell` as an operator runs them, on a recorded cloud
//! (`--replay` of the 3-tier demo that `--record` kept, crates/inspect/tests/fixtures/recorded):
//! every command's table and JSON, the trace verdicts, `-c`, a piped session, the SVG file, and
//! errors that say what is wrong with exit code 1. No root, no server: the recording answers.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../inspect/tests/fixtures/recorded/demo")
}

fn neutrino(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .env("HOME", home.path())
        .env_remove("NEUTRINO_SANDBOX")
        .args(args)
        .output()
        .unwrap()
}

fn inspect(args: &[&str]) -> (String, String, i32) {
    let dir = fixture();
    let mut all = vec!["inspect", "--replay", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = neutrino(&all);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn ok(args: &[&str]) -> String {
    let (out, err, code) = inspect(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

#[test]
fn traces_give_the_verdicts_traffic_gave() {
    let cases: [(&[&str], &str); 5] = [
        (&["trace", "web-1", "web-2", "tcp", "80"], "DELIVERED: delivered to web-2"),
        (&["trace", "app-1", "198.51.100.10", "tcp", "9000"], "LEFT THE CLOUD"),
        (&["trace", "198.51.100.10", "203.0.113.145", "tcp/80"], "DELIVERED: delivered to web-1"),
        (&["trace", "web-1", "db-1", "tcp", "5432"], "DROPPED: no rule of group db allows ingress tcp/5432"),
        (
            &["trace", "198.51.100.10", "203.0.113.145", "tcp", "22"],
            "DROPPED: no rule of group web allows ingress tcp/22",
        ),
    ];
    for (args, verdict) in cases {
        let out = ok(args);
        assert!(out.lines().any(|l| l.starts_with(verdict)), "{args:?}:\n{out}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "app-1", "198.51.100.10", "tcp", "9000", "-f", "json"])).unwrap();
    assert_eq!(json["verdict"]["outcome"], "left_cloud");
    let nat = json["observations"].as_array().unwrap().iter().find(|o| o["component"] == "nat").unwrap();
    assert_eq!(nat["translated_src"], "203.0.113.166");
    assert_eq!(nat["host"], "network");
}

#[test]
fn every_view_answers_as_a_table_and_as_json() {
    let views: [&[&str]; 8] = [
        &["list"],
        &["show", "br-int"],
        &["dump", "br-int"],
        &["dump", "br-int", "rules-ingress"],
        &["ipt", "10.10.1.165"],
        &["query", "web-1"],
        &["--host", "network", "ns", "list"],
        &["--host", "network", "ns", "show", "r1"],
    ];
    for v in views {
        let table = ok(v);
        assert!(!table.trim().is_empty(), "{v:?}");
        let mut j = v.to_vec();
        j.extend(["-f", "json"]);
        let json: serde_json::Value = serde_json::from_str(&ok(&j)).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert!(json.is_object(), "{v:?}");
    }
    // show joins by iface-id: web-1's row has its address, MAC and port id.
    let show = ok(&["show", "br-int"]);
    let row = show.lines().find(|l| l.contains("10.10.1.165")).expect("web-1's row");
    assert!(
        row.contains("fa:16:3e:a1:88:2e") && row.contains("ac1eb70f-787b-46a8-8778-ae0c59c5c101"),
        "{row}"
    );
    // ipt: web-1's rule tcp/80 in IN.
    let ipt = ok(&["sg", "10.10.1.165"]);
    assert!(ipt.contains("IN") && ipt.contains("OUT") && ipt.contains("SRC FILTER"), "{ipt}");
    assert!(ipt.lines().any(|l| l.contains("5fa34ebc") && l.contains("tcp/80")), "{ipt}");
}

#[test]
fn topology_as_text_dot_and_an_svg_file() {
    let text = ok(&["topology"]);
    for name in ["h1", "h2", "network", "r1", "web-1", "db-1"] {
        assert!(text.contains(name), "{name}:\n{text}");
    }
    // Tunnels join the inspected hosts (the network node's endpoint is its Open vSwitch agent's,
    // not its DHCP or L3 agent's, which report none).
    assert!(text.contains("VXLAN to network br-tun"), "{text}");
    assert!(!text.contains("not inspected"), "{text}");
    let dot = ok(&["topology", "-f", "dot"]);
    assert!(dot.starts_with("digraph") || dot.starts_with("graph"), "{dot}");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("t.svg");
    ok(&["topology", "--svg", svg.to_str().unwrap()]);
    let body = std::fs::read_to_string(&svg).unwrap();
    assert!(body.contains("<svg") && body.contains("web-1"), "{body}");
}

#[test]
fn the_shell_runs_one_line_or_a_piped_session() {
    let dir = fixture();
    let d = dir.to_str().unwrap();
    let out = neutrino(&["shell", "--replay", d, "-c", "trace web-1 db-1 tcp 5432"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DROPPED: no rule of group db"));
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .env("HOME", home.path())
        .args(["shell", "--replay", d, "--yes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let session = "hosts\nhost h2\nbogus\nshow br-int\naddflow br-int table=0,priority=1,in_port=99 drop\ndump br-int in_port=99\nexit\n";
    child.stdin.take().unwrap().write_all(session.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("looking at h2"), "{stdout}");
    assert!(stderr.contains("unknown command \"bogus\""), "an error does not end the session: {stderr}");
    assert!(stdout.contains("tapea676d34"), "h2's br-int: {stdout}");
    // The flow added (to the replayed copy) is in the next dump, with its stable id.
    assert!(stdout.lines().any(|l| l.contains("in_port=99") && l.contains("drop")), "{stdout}");
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let cases: [(&[&str], &str); 6] = [
        (&["trace", "nobody", "10.0.0.1"], "no port, VM or IPv4 address \"nobody\""),
        (&["trace", "web-1", "db-1", "tcp", "99999"], "not a port number"),
        (&["trace", "web-1", "db-1", "tcp"], "tcp needs a destination port"),
        (&["dump", "br-nope"], "no bridge br-nope"),
        (&["bogus"], "unknown command"),
        (&["--host", "nope", "list"], "no host \"nope\" (hosts: h1, h2, network)"),
    ];
    for (args, want) in cases {
        let (_, err, code) = inspect(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (_, err, code) = inspect(&["delflow", "br-int", "0123456789abcdef"]);
    assert_eq!(code, 1);
    assert!(!err.is_empty());
}
