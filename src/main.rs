//! The `coffer` binary: the command line, and the wiring of the layers.
//!
//! It owns process concerns only (arguments, credentials bootstrap, logging,
//! the listening socket, signals) and builds the stack: `coffer-store` (the
//! embedded engine) under `coffer-s3` (the S3 front end) under hyper.

mod admin;
mod bench;
mod client;
mod credentials;
mod scrub;
mod server;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "coffer", version, about = "An S3-compatible object storage server")]
struct Cli {
    /// How log lines are written to standard error: `text` for people,
    /// `json` (one object a line) for log collectors.
    #[arg(long, global = true, value_enum, default_value = "text", env = "COFFER_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the S3 API from a data directory.
    Serve(ServeArgs),
    /// Manage users and access keys of a running server.
    Admin(admin::AdminArgs),
    /// Measure an S3 endpoint under load.
    Bench(bench::BenchArgs),
    /// Check every stored object against its checksums, on a stopped
    /// server's data directory; exits 1 if any is damaged.
    Scrub(scrub::ScrubArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9000", env = "COFFER_LISTEN")]
    pub listen: SocketAddr,
    /// Directory holding all metadata and object data.
    #[arg(long, default_value = "./coffer-data", env = "COFFER_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address of the admin API (users and keys) [default: 127.0.0.1:9001;
    /// if that is taken, the server runs without an admin API].
    #[arg(long, env = "COFFER_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// The region this endpoint serves, as SigV4 signatures name it.
    #[arg(long, default_value = "us-east-1", env = "COFFER_REGION")]
    pub region: String,
    /// Domain for virtual-hosted–style requests: `Host: bucket.DOMAIN`
    /// addresses `bucket`. Path-style requests are served either way.
    #[arg(long, env = "COFFER_DOMAIN")]
    pub domain: Option<String>,
    /// Root access key; generated and kept in the data directory if absent.
    #[arg(long, env = "COFFER_ACCESS_KEY", requires = "secret_key")]
    pub access_key: Option<String>,
    /// Root secret key.
    #[arg(long, env = "COFFER_SECRET_KEY", requires = "access_key", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Master key sealing SSE-S3 objects, 64 hex digits; generated and kept
    /// in the data directory (`master.key`) if absent.
    #[arg(long, env = "COFFER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Seconds between two passes of the lifecycle worker.
    #[arg(long, value_name = "SECONDS", default_value = "3600", hide = true)]
    pub lifecycle_interval: NonZeroU64,
    /// Versions and uploads one lifecycle pass examines at most; the next
    /// pass goes on from there.
    #[arg(long, value_name = "ENTRIES", default_value = "1000000", hide = true)]
    pub lifecycle_pass_entries: NonZeroUsize,
    /// Connections served at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value = "4096", env = "COFFER_MAX_CONNECTIONS")]
    pub max_connections: NonZeroUsize,
    /// Seconds between two background scrubs, which read every object back
    /// and log any damaged one; 0 turns them off.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "604800",
        env = "COFFER_SCRUB_INTERVAL"
    )]
    pub scrub_interval: u64,
    /// Bytes per second a background scrub reads at most.
    #[arg(long, value_name = "BYTES", default_value = "33554432", env = "COFFER_SCRUB_RATE")]
    pub scrub_rate: u64,
    /// For tests only: crash the process at a point inside the storage
    /// engine, `NAME=ACTION` in the `fail` crate's syntax (`before-commit=return`).
    #[cfg(feature = "failpoints")]
    #[arg(long, hide = true)]
    pub failpoint: Vec<String>,
    /// For tests only: lets the admin API move the lifecycle worker's clock
    /// forward and run a pass on demand.
    #[arg(long, hide = true)]
    pub lifecycle_test_clock: bool,
    /// Makes GET /metrics on the admin listener require
    /// `Authorization: Bearer TOKEN`; without it, /metrics is open.
    #[arg(long, value_name = "TOKEN", env = "COFFER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
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
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off")),
    );
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Fields at the top level of each object, where log collectors look.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(server::serve(args)),
        Command::Admin(args) => runtime.block_on(admin::run(args)),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::Scrub(args) => runtime.block_on(scrub::run(args)),
    }
}
