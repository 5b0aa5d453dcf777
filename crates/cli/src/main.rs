//! The `neutrino` binary: `neutrino server` and the resource commands.

mod server;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "neutrino",
    version,
    about = "Network-as-a-service speaking the OpenStack Networking API v2.0"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Server(server::ServerArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Server(args) => rt.block_on(server::run(args)),
    }
}
