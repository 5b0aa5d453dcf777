//! `neutrino shell` and `neutrino inspect VERB …`: the operator's inspection shell over one
//! host's Open vSwitch, namespaces and nftables joined with the API — a real host (its agent's
//! configuration) or any host of a sandbox (`--sandbox DIR --host NAME`; `trace` then follows
//! packets across all of the sandbox's hosts). The views live in `neutrino_inspect`; this module
//! finds the hosts, reads the API, runs one command line ([`commands`]) and hosts the
//! interactive prompt ([`shell`]).

mod commands;
mod shell;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use neutrino_inspect::cloud::Cloud;
use neutrino_inspect::record::Recorder;
use neutrino_inspect::source::{HostSource, RealHost};

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
    /// Keep everything the command read (each host's answers as `<host>.json`, the API's
    /// objects as `cloud.json`) in this directory: a problem handed over, or a test's input.
    /// Nothing is changed while recording.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Answer from a directory `--record` wrote instead of the hosts and the API (the trace of a
    /// cloud that is not at hand; `addflow`/`delflow` then change only the copy in memory).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["record", "agent_config", "sandbox"])]
    replay: Option<PathBuf>,
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
    pub hosts: Vec<Arc<dyn HostSource>>,
    /// With `--record`: the hosts' recorders (the same objects as `hosts`) and the directory.
    recorders: Vec<Arc<Recorder>>,
    record: Option<PathBuf>,
    /// The index in `hosts` of the host commands look at.
    pub current: usize,
    pub int_bridge: String,
    pub tun_bridge: String,
    api: Api,
}

/// Where the API's objects come from.
enum Api {
    Live { client: neutrino_client::Client, rt: tokio::runtime::Handle },
    Replay(Box<Cloud>),
}

fn load(path: &Path) -> Result<(RealHost, String, String), CliError> {
    let cfg = neutrino_agent::config::AgentConfig::load(path)
        .map_err(|e| CliError::Config(format!("{}: {e}", path.display())))?;
    Ok((RealHost::from_agent_config(&cfg), cfg.integration_bridge.clone(), cfg.tunnel_bridge.clone()))
}

impl Context {
    /// The hosts and API objects a `--record` directory holds.
    fn replay(target: &Target, dir: &Path) -> Result<Context, CliError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| CliError::Config(format!("{}: {e}", p.display())))
        };
        let cloud = Cloud::from_json(&read(&dir.join("cloud.json"))?)
            .map_err(|e| CliError::Config(format!("{}: {e}", dir.join("cloud.json").display())))?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CliError::Config(format!("{}: {e}", dir.display())))?
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("cloud.json"))
            .collect();
        files.sort();
        let mut hosts: Vec<Arc<dyn HostSource>> = vec![];
        for f in files {
            let rec: neutrino_inspect::record::Recording = serde_json::from_str(&read(&f)?)
                .map_err(|e| CliError::Config(format!("{}: {e}", f.display())))?;
            hosts.push(Arc::new(rec.into_fake()));
        }
        if hosts.is_empty() {
            return Err(CliError::Config(format!("{} holds no recorded host", dir.display())));
        }
        let mut cx = Context {
            hosts,
            recorders: vec![],
            record: None,
            int_bridge: "br-int".into(),
            tun_bridge: "br-tun".into(),
            api: Api::Replay(Box::new(cloud)),
            current: 0,
        };
        if let Some(h) = &target.host {
            cx.select(h)?;
        }
        Ok(cx)
    }

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
        let (hosts, recorders): (Vec<Arc<dyn HostSource>>, Vec<Arc<Recorder>>) = match &target.record {
            None => (hosts.into_iter().map(|h| Arc::new(h) as Arc<dyn HostSource>).collect(), vec![]),
            Some(_) => {
                let r: Vec<Arc<Recorder>> =
                    hosts.into_iter().map(|h| Arc::new(Recorder::new(Box::new(h)))).collect();
                (r.iter().map(|r| r.clone() as Arc<dyn HostSource>).collect(), r)
            }
        };
        let mut cx = Context {
            hosts,
            recorders,
            record: target.record.clone(),
            int_bridge,
            tun_bridge,
            api: Api::Live { client, rt },
            current: 0,
        };
        if let Some(h) = &target.host {
            cx.select(h)?;
        }
        Ok(cx)
    }

    /// Looks at host `name` from now on.
    pub fn select(&mut self, name: &str) -> Result<(), CliError> {
        self.current = self.hosts.iter().position(|h| h.host() == name).ok_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.host()).collect();
            CliError::Usage(format!("no host {name:?} (hosts: {})", names.join(", ")))
        })?;
        Ok(())
    }

    pub fn host(&self) -> Arc<dyn HostSource> {
        self.hosts[self.current].clone()
    }

    /// The API's objects, read now (and kept when recording).
    pub fn cloud(&self) -> Result<Cloud, CliError> {
        let cloud = match &self.api {
            Api::Replay(c) => return Ok(c.as_ref().clone()),
            Api::Live { client, rt } => rt
                .block_on(Cloud::fetch(client))
                .map_err(|e| CliError::Usage(format!("reading the API: {e}")))?,
        };
        if let Some(dir) = &self.record {
            write_json(&dir.join("cloud.json"), &cloud)?;
        }
        Ok(cloud)
    }

    /// Writes what the hosts answered so far (with `--record`).
    fn save_recordings(&self) -> Result<(), CliError> {
        let Some(dir) = &self.record else { return Ok(()) };
        for r in &self.recorders {
            let rec = r.recording();
            write_json(&dir.join(format!("{}.json", rec.host)), &rec)?;
        }
        Ok(())
    }
}

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<(), CliError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::Usage(format!("{}: {e}", dir.display())))?;
    }
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Output(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

fn context(
    rt: &tokio::runtime::Runtime,
    connect: &ConnectArgs,
    target: &Target,
) -> Result<Context, CliError> {
    match &target.replay {
        Some(dir) => Context::replay(target, dir),
        None => {
            let client = rt.block_on(crate::connect::connect(connect))?;
            Context::new(target, client, rt.handle().clone())
        }
    }
}

/// `neutrino inspect VERB …`.
pub fn run_inspect(
    rt: &tokio::runtime::Runtime,
    connect: &ConnectArgs,
    args: InspectArgs,
) -> Result<(), CliError> {
    let mut cx = context(rt, connect, &args.target)?;
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    let out = commands::run(&mut cx, &words, &args.target.format, &mut commands::Confirm::Ask)?;
    print!("{out}");
    cx.save_recordings()
}

/// `neutrino shell [-c COMMAND]`.
pub fn run_shell(
    rt: &tokio::runtime::Runtime,
    connect: &ConnectArgs,
    args: ShellArgs,
) -> Result<(), CliError> {
    let mut cx = context(rt, connect, &args.target)?;
    let mut confirm = if args.yes { commands::Confirm::Yes } else { commands::Confirm::Ask };
    match &args.command {
        Some(line) => {
            let words = commands::split(line);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            print!("{}", commands::run(&mut cx, &words, &args.target.format, &mut confirm)?);
            cx.save_recordings()
        }
        None => {
            shell::interactive(&mut cx, &args.target.format, &mut confirm)?;
            cx.save_recordings()
        }
    }
}
