//! The `neutrino` binary: `neutrino server`, `neutrino agent`, `neutrino sandbox`,
//! `neutrino hash-password`, `neutrino demo`, the inspection shell (`neutrino shell`, `neutrino
//! inspect VERB`) and the resource commands (`network`, `subnet`,
//! `port`, `security group`, `router`, `floating ip`); errors are printed as `Error: …` with
//! exit code 1.

mod agent;
mod connect;
mod demo;
mod error;
mod inspect;
mod output;
mod resources;
mod sandbox;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use resources::floating_ip::FloatingCmd;
use resources::{
    network::NetworkCmd, port::PortCmd, router::RouterCmd, security_group::SecurityCmd, subnet::SubnetCmd,
};

#[derive(Parser)]
#[command(
    name = "neutrino",
    version,
    about = "Network-as-a-service speaking the OpenStack Networking API v2.0"
)]
struct Cli {
    #[command(flatten)]
    connect: connect::ConnectArgs,
    /// Output format of the resource commands.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = output::Format::Table)]
    output: output::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Server(server::ServerArgs),
    /// Run the host agent (Open vSwitch L2).
    Agent(agent::AgentArgs),
    /// A simulated multi-host cloud in network namespaces (needs root).
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCmd),
    /// Print the argon2id hash of a password read from standard input, for `password_hash`
    /// in `[[auth.users]]`.
    HashPassword,
    /// The 3-tier demo on a whole cloud in network namespaces (needs root); `demo down --dir
    /// DIR` tears it down.
    Demo(demo::DemoArgs),
    /// The operator's inspection shell (interactive, or one command with `-c`).
    Shell(inspect::ShellArgs),
    /// One command of the inspection shell: `neutrino inspect dump br-int`, `inspect trace …`.
    Inspect(inspect::InspectArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage subnets.
    #[command(subcommand)]
    Subnet(SubnetCmd),
    /// Manage ports.
    #[command(subcommand)]
    Port(PortCmd),
    /// Manage security groups and their rules (`security group …`).
    #[command(subcommand)]
    Security(SecurityCmd),
    /// Manage routers and their interfaces.
    #[command(subcommand)]
    Router(RouterCmd),
    /// Manage floating IPs (`floating ip …`).
    #[command(subcommand)]
    Floating(FloatingCmd),
}

async fn resource_command(cli: Cli) -> Result<(), error::CliError> {
    let client = connect::connect(&cli.connect).await?;
    let fmt = cli.output;
    match cli.command {
        Command::Server(_)
        | Command::Agent(_)
        | Command::HashPassword
        | Command::Demo(_)
        | Command::Shell(_)
        | Command::Inspect(_) => Ok(()),
        Command::Sandbox(c) => sandbox::run_api(&client, c).await,
        Command::Network(c) => resources::network::run(&client, fmt, c).await,
        Command::Subnet(c) => resources::subnet::run(&client, fmt, c).await,
        Command::Port(c) => resources::port::run(&client, fmt, c).await,
        Command::Security(c) => resources::security_group::run(&client, fmt, c).await,
        Command::Router(c) => resources::router::run(&client, fmt, c).await,
        Command::Floating(c) => resources::floating_ip::run(&client, fmt, c).await,
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEUTRINO_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Server(args) => rt.block_on(server::run(args)),
        Command::Agent(args) => rt.block_on(agent::run(args)),
        Command::Sandbox(ref c) if sandbox::run_local(c)? => Ok(()),
        Command::Demo(args) => demo::run(&rt, args),
        Command::Shell(args) => Ok(inspect::run_shell(&rt, &cli.connect, args)?),
        Command::Inspect(args) => Ok(inspect::run_inspect(&rt, &cli.connect, args)?),
        Command::HashPassword => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = line.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!password.is_empty(), "no password on standard input");
            println!("{}", neutrino_server::auth::hash_password(password));
            Ok(())
        }
        _ => Ok(rt.block_on(resource_command(cli))?),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}
