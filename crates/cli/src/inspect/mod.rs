//! `neutrino shell` and `neutrino inspect VERB …`: the operator's inspection shell over one
//! host's Open vSwitch, namespaces and nftables joined with the API — a real host (its agent's
//! configuration) or any host of a sandbox (`--sandbox DIR --host NAME`; `trace` then follows
//! packets across all of the sandbox's hosts). The views live in `neutrino_inspect`; this module
//! finds the hosts, reads the API, runs one command line ([`commands`]) and hosts the
//! interactive prompt ([`shell`]).

mod commands;
mod shell;

use std::path::{Path, PathBuf};

use clap::Args;
use neutrino_inspect::cloud::Cloud;
use neutrino_inspect::source::RealHost;

use crate::connect::ConnectArgs;
use crate::error::CliError;

/// Where the hosts are.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The host's agent configuration (a real host) [default: /etc/neutrino/agent.toml when no
    /// sandbox is given].
    #[arg(long, value_name = "FILE")]
    agent_config: Option<PathBuf>,
    /// A sandbox's run directory: its hosts can be inspected (`--host`) and traced across.
    #[arg(long, value_name = "DIR", env = "NEUTRINO_SANDBOX")]
    sandbox: Option<PathBuf>,
    /// The sandbox host to inspect [default: the first].
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Output: a table (`table`), JSON (`json`), or for `topology` Graphviz (`dot`).
    #[arg(long, short = 'f', default_value = "table", value_name = "FORMAT")]
    format: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    target: Target,
    /// The command and its arguments (`dump br-int`, `trace web-1 10.0.0.5 tcp 80`…).
    #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ShellArgs {
    #[command(flatten)]
    target: Target,
    /// Run this command line and exit (as `neutrino inspect`).
    #[arg(short = 'c', value_name = "COMMAND")]
    command: Option<String>,
    /// Answer yes to addflow/delflow's question (for scripts).
    #[arg(long)]
    yes: bool,
}

/// The hosts and the API a command reads.
pub struct Context {
    pub hosts: Vec<RealHost>,
    /// The index in `hosts` of the host commands look at.
    pub current: usize,
    pub int_bridge: String,
    pub tun_bridge: String,
    client: neutrino_client::Client,
    rt: tokio::runtime::Handle,
}

fn load(path: &Path) -> Result<(RealHost, String, String), CliError> {
    let cfg = neutrino_agent::config::AgentConfig::load(path)
        .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
    Ok((RealHost::from_agent_config(&cfg), cfg.integration_bridge.clone(), cfg.tunnel_bridge.clone()))
}

impl Context {
    fn new(
        target: &Target,
        client: neutrino_client::Client,
        rt: tokio::runtime::Handle,
    ) -> Result<Context, CliError> {
        let mut hosts = vec![];
        let (mut int_bridge, mut tun_bridge) = ("br-int".to_string(), "br-tun".to_string());
        if let (None, Some(dir)) = (&target.agent_config, &target.sandbox) {
            let sb = neutrino_sandbox::Sandbox::open(dir)
                .map_err(|e| CliError::Config(format!("sandbox {}: {e}", dir.display())))?;
            for h in &sb.state().hosts {
                let (host, i, t) = load(&h.run_dir().join("agent.toml"))?;
                (int_bridge, tun_bridge) = (i, t);
                hosts.push(host);
            }
        } else {
            let path =
                target.agent_config.clone().unwrap_or_else(|| PathBuf::from("/etc/neutrino/agent.toml"));
            let (host, i, t) = load(&path)?;
            (int_bridge, tun_bridge) = (i, t);
            hosts.push(host);
        }
        let mut cx = Context { hosts, current: 0, int_bridge, tun_bridge, client, rt };
        if let Some(h) = &target.host {
            cx.select(h)?;
        }
        Ok(cx)
    }

    /// Looks at host `name` from now on.
    pub fn select(&mut self, name: &str) -> Result<(), CliError> {
        self.current = self.hosts.iter().position(|h| h.host == name).ok_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.host.as_str()).collect();
            CliError::Usage(format!("no host {name:?} (hosts: {})", names.join(", ")))
        })?;
        Ok(())
    }

    pub fn host(&self) -> &RealHost {
        &self.hosts[self.current]
    }

    /// The API's objects, read now.
    pub fn cloud(&self) -> Result<Cloud, CliError> {
        self.rt
            .block_on(Cloud::fetch(&self.client))
            .map_err(|e| CliError::Usage(format!("reading the API: {e}")))
    }
}

/// `neutrino inspect VERB …`.
pub fn run_inspect(
    rt: &tokio::runtime::Runtime,
    connect: &ConnectArgs,
    args: InspectArgs,
) -> Result<(), CliError> {
    let client = rt.block_on(crate::connect::connect(connect))?;
    let mut cx = Context::new(&args.target, client, rt.handle().clone())?;
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    let out = commands::run(&mut cx, &words, &args.target.format, &mut commands::Confirm::Ask)?;
    print!("{out}");
    Ok(())
}

/// `neutrino shell [-c COMMAND]`.
pub fn run_shell(
    rt: &tokio::runtime::Runtime,
    connect: &ConnectArgs,
    args: ShellArgs,
) -> Result<(), CliError> {
    let client = rt.block_on(crate::connect::connect(connect))?;
    let mut cx = Context::new(&args.target, client, rt.handle().clone())?;
    let mut confirm = if args.yes { commands::Confirm::Yes } else { commands::Confirm::Ask };
    match &args.command {
        Some(line) => {
            let words = commands::split(line);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            print!("{}", commands::run(&mut cx, &words, &args.target.format, &mut confirm)?);
            Ok(())
        }
        None => shell::interactive(&mut cx, &args.target.format, &mut confirm),
    }
}
