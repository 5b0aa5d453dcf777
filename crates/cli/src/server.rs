//! `neutrino server`: load the configuration file, apply flags, serve.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use neutrino_server::auth::AuthMode;
use neutrino_server::config::Config;

#[derive(Args)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, short, env = "NEUTRINO_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:9696).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Data directory (SQLite file, token key, clouds.yaml).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Store URL: sqlite:PATH or sqlite::memory:.
    #[arg(long)]
    database: Option<String>,
    /// Public URL for links and the service catalog.
    #[arg(long)]
    public_url: Option<String>,
    /// Authentication mode: builtin, keystone or noauth.
    #[arg(long, value_parser = parse_mode)]
    auth: Option<AuthMode>,
}

fn parse_mode(s: &str) -> Result<AuthMode, String> {
    match s {
        "builtin" => Ok(AuthMode::Builtin),
        "keystone" => Ok(AuthMode::Keystone),
        "noauth" => Ok(AuthMode::Noauth),
        other => Err(format!("unknown auth mode {other:?} (builtin, keystone, noauth)")),
    }
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(b) = args.bind {
        config.server.bind = b;
    }
    if let Some(d) = args.data_dir {
        config.server.data_dir = d;
    }
    if let Some(u) = args.public_url {
        config.server.public_url = Some(u);
    }
    if let Some(db) = args.database {
        config.database.url = Some(db);
    }
    if let Some(m) = args.auth {
        config.auth.mode = m;
    }
    neutrino_server::run::serve(config).await.context("neutrino server failed")
}
