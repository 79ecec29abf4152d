//! The `coffer` binary: the command line, and the wiring of the layers.
//!
//! It owns process concerns only (arguments, credentials bootstrap, logging,
//! the listening socket, signals) and builds the stack: `coffer-store` (the
//! embedded engine) under `coffer-s3` (the S3 front end) under hyper.

mod admin;
mod bench;
mod client;
mod config;
mod credentials;
mod server;
mod tls;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "coffer", version, about = "An S3-compatible object storage server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the S3 API from a data directory.
    Serve(config::ServeArgs),
    /// Manage users and access keys of a running server.
    Admin(admin::AdminArgs),
    /// Measure an S3 endpoint under load.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("coffer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(server::serve(args.settings()?)),
        Command::Admin(args) => runtime.block_on(admin::run(args)),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
    }
}
