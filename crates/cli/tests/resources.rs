//! End to end: an in-process noauth server on 127.0.0.1:0, driven through the `neutrino`
//! binary's network/subnet/port and security group commands with `-o json`.

#![allow(clippy::expect_used, reason = "test code: an expect states what the test relies on")]

use neutrino_server::auth::AuthMode;
use neutrino_server::config::Config;
use serde_json::Value;

struct Cli {
    url: String,
}

impl Cli {
    async fn run(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_neutrino"))
            .arg("--os-url")
            .arg(&self.url)
            .args(args)
            .env_remove("OS_TOKEN")
            .env_remove("OS_CLOUD")
            .output()
            .await
            .expect("run neutrino")
    }

    /// Runs a command that must succeed; its stdout as JSON (Null when empty).
    async fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).expect("JSON output")
        }
    }

    /// Runs a command that must fail with exit code 1; its stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

async fn start() -> Cli {
    let mut config = Config::default();
    config.auth.mode = AuthMode::Noauth;
    // A configured agent credential: otherwise the server keeps one in its data_dir, which by
    // default is the machine's /var/lib/neutrino.
    config.agents.token = Some("resources-agent".into());
    let app = neutrino_server::run::app_with_store(config, neutrino_server::store::Store::memory())
        .await
        .expect("app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Cli { url: format!("http://{addr}") }
}

/// `-o json` followed by `extra`.
fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    ["-o", "json"].into_iter().chain(extra.iter().copied()).collect()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().expect("list").iter().map(|o| o["name"].as_str().unwrap_or_default()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_subnet_port_lifecycle() {
    let cli = start().await;

    // Network.
    let net = cli.ok(&with(&["network", "create", "net1", "--description", "first", "--tag", "blue"])).await;
    assert_eq!(net["name"], "net1");
    assert_eq!(net["admin_state_up"], true);
    assert_eq!(net["tags"], serde_json::json!(["blue"]));
    let net_id = net["id"].as_str().unwrap().to_string();
    cli.ok(&with(&["network", "create", "net2", "--disable"])).await;
    assert_eq!(names(&cli.ok(&with(&["network", "list", "--tag", "blue"])).await), ["net1"]);
    cli.ok(&["network", "set", "net1", "--name", "net1b", "--tag", "green", "--disable"]).await;
    let shown = cli.ok(&with(&["network", "show", &net_id])).await;
    assert_eq!(shown["name"], "net1b");
    assert_eq!(shown["admin_state_up"], false);
    let mut tags: Vec<&str> = shown["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["blue", "green"]);

    // Subnet on it, by network name.
    let sub = cli
        .ok(&with(&[
            "subnet",
            "create",
            "sub1",
            "--network",
            "net1b",
            "--subnet-range",
            "10.9.0.0/24",
            "--allocation-pool",
            "start=10.9.0.10,end=10.9.0.50",
            "--dns-nameserver",
            "10.9.0.2",
            "--gateway",
            "10.9.0.1",
        ]))
        .await;
    assert_eq!(sub["network_id"], net_id.as_str());
    assert_eq!(sub["cidr"], "10.9.0.0/24");
    assert_eq!(sub["allocation_pools"], serde_json::json!([{"start": "10.9.0.10", "end": "10.9.0.50"}]));
    assert_eq!(sub["gateway_ip"], "10.9.0.1");
    cli.ok(&["subnet", "set", "sub1", "--gateway", "none", "--description", "d"]).await;
    let sub = cli.ok(&with(&["subnet", "show", "sub1"])).await;
    assert_eq!(sub["gateway_ip"], Value::Null);
    assert_eq!(sub["description"], "d");
    assert_eq!(names(&cli.ok(&with(&["subnet", "list", "--network", "net1b"])).await), ["sub1"]);

    // Port with a fixed IP given by subnet name.
    let port = cli
        .ok(&with(&[
            "port",
            "create",
            "p1",
            "--network",
            "net1b",
            "--fixed-ip",
            "subnet=sub1,ip-address=10.9.0.20",
        ]))
        .await;
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.9.0.20");
    assert_eq!(port["fixed_ips"][0]["subnet_id"], sub["id"]);
    cli.ok(&["port", "set", "p1", "--name", "p1b", "--device-owner", "compute:nova"]).await;
    let ports = cli.ok(&with(&["port", "list", "--network", &net_id])).await;
    assert_eq!(names(&ports), ["p1b"]);
    assert_eq!(ports[0]["device_owner"], "compute:nova");

    // Errors: NeutronError type and message, exit code 1.
    let err = cli.fails(&["network", "delete", "net1b"]).await;
    assert!(err.contains("NetworkInUse"), "{err}");
    let err = cli.fails(&["port", "show", "nope"]).await;
    assert!(err.contains("Error: No Port found for nope"), "{err}");
    let err = cli
        .fails(&["port", "create", "p2", "--network", "net1b", "--fixed-ip", "ip-address=10.9.0.20"])
        .await;
    assert!(err.contains("Error: IpAddressInUse: "), "{err}");

    // Table output of a list mentions the port.
    let table = String::from_utf8(cli.run(&["port", "list", "--long"]).await.stdout).unwrap();
    assert!(table.contains("p1b") && table.contains("Fixed IP Addresses"), "{table}");

    // Delete several at once.
    cli.ok(&["port", "delete", "p1b"]).await;
    cli.ok(&["subnet", "delete", "sub1"]).await;
    cli.ok(&["network", "delete", "net1b", "net2"]).await;
    assert_eq!(cli.ok(&with(&["network", "list"])).await, serde_json::json!([]));
    let err = cli.fails(&["network", "delete", "net1b"]).await;
    assert!(err.contains("1 of 1 networks failed to delete"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_group_and_rule_lifecycle() {
    let cli = start().await;
    let web =
        cli.ok(&with(&["security", "group", "create", "web", "--description", "front", "--tag", "t1"])).await;
    let web_id = web["id"].as_str().expect("id").to_string();
    assert_eq!((web["description"].as_str(), web["stateful"].as_bool()), (Some("front"), Some(true)));
    assert_eq!(web["tags"], serde_json::json!(["t1"]));
    // Its two default egress rules come with it.
    let rules = cli.ok(&with(&["security", "group", "rule", "list", "web"])).await;
    let dirs: Vec<&str> =
        rules.as_array().expect("list").iter().filter_map(|r| r["direction"].as_str()).collect();
    assert_eq!(dirs, ["egress", "egress"]);
    cli.ok(&with(&["security", "group", "create", "app"])).await;

    // TCP 80 from anywhere, by group name; a range from a remote group by name; ICMP type/code.
    let http = cli
        .ok(&with(&["security", "group", "rule", "create", "web", "--protocol", "tcp", "--dst-port", "80"]))
        .await;
    assert_eq!((http["port_range_min"].as_i64(), http["port_range_max"].as_i64()), (Some(80), Some(80)));
    assert_eq!((http["direction"].as_str(), http["ethertype"].as_str()), (Some("ingress"), Some("IPv4")));
    assert_eq!(http["security_group_id"].as_str(), Some(web_id.as_str()));
    let from_app = cli
        .ok(&with(&[
            "security",
            "group",
            "rule",
            "create",
            "web",
            "--protocol",
            "tcp",
            "--dst-port",
            "8000:8080",
            "--remote-group",
            "app",
        ]))
        .await;
    let app_id = cli.ok(&with(&["security", "group", "show", "app"])).await["id"].as_str().map(String::from);
    assert_eq!(from_app["remote_group_id"].as_str(), app_id.as_deref());
    assert_eq!(
        (from_app["port_range_min"].as_i64(), from_app["port_range_max"].as_i64()),
        (Some(8000), Some(8080))
    );
    let ping6 = cli
        .ok(&with(&[
            "security",
            "group",
            "rule",
            "create",
            "web",
            "--protocol",
            "ipv6-icmp",
            "--icmp-type",
            "128",
            "--icmp-code",
            "0",
            "--remote-ip",
            "2001:db8::/64",
        ]))
        .await;
    assert_eq!((ping6["ethertype"].as_str(), ping6["port_range_min"].as_i64()), (Some("IPv6"), Some(128)));
    let ingress = cli.ok(&with(&["security", "group", "rule", "list", "web", "--ingress"])).await;
    assert_eq!(ingress.as_array().map(Vec::len), Some(3));

    // Errors: the server's (a port range on ICMP with a bad type), the CLI's (a bad range).
    let err = cli
        .fails(&["security", "group", "rule", "create", "web", "--protocol", "icmp", "--icmp-type", "300"])
        .await;
    assert!(err.contains("300"), "{err}");
    let out = cli.run(&["security", "group", "rule", "create", "web", "--dst-port", "23:22"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("above"), "a usage error: {err}");
    let err = cli.fails(&["security", "group", "rule", "create", "nosuch", "--protocol", "tcp"]).await;
    assert!(err.contains("nosuch"), "{err}");

    // Set, show, delete a rule and the groups.
    cli.ok(&["security", "group", "set", "web", "--name", "www", "--stateless"]).await;
    let shown = cli.ok(&with(&["security", "group", "show", &web_id])).await;
    assert_eq!((shown["name"].as_str(), shown["stateful"].as_bool()), (Some("www"), Some(false)));
    let rule_id = http["id"].as_str().expect("rule id");
    assert_eq!(cli.ok(&with(&["security", "group", "rule", "show", rule_id])).await["protocol"], "tcp");
    cli.ok(&["security", "group", "rule", "delete", rule_id]).await;
    let err = cli.fails(&["security", "group", "rule", "show", rule_id]).await;
    assert!(err.contains("SecurityGroupRuleNotFound") && err.contains(rule_id), "{err}");
    cli.ok(&["security", "group", "delete", "www", "app"]).await;
    let left = cli.ok(&with(&["security", "group", "list"])).await;
    assert_eq!(names(&left), ["default"], "only the project's default group is left");
}
