//! `neutrino agent`: load the agent configuration, apply flags, run the host agent.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use neutrino_agent::config::AgentConfig;

#[derive(Args)]
pub struct AgentArgs {
    /// TOML configuration file (see neutrino_agent::config::AgentConfig).
    #[arg(long, short)]
    config: PathBuf,
    /// The host name (overrides `host` in the file).
    #[arg(long)]
    host: Option<String>,
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let mut cfg = AgentConfig::load(&args.config)
        .or_else(|e| match &args.host {
            // The file may leave the host to the flag.
            Some(_) => toml::from_str::<AgentConfig>(&std::fs::read_to_string(&args.config)?)
                .map_err(anyhow::Error::from),
            None => Err(e.into()),
        })
        .with_context(|| format!("reading {}", args.config.display()))?;
    if let Some(h) = args.host {
        cfg.host = h;
    }
    neutrino_agent::run::run(cfg).await.context("neutrino agent failed")
}
