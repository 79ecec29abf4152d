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
mod scrub;
mod server;
mod tls;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "coffer", version, about = "An S3-compatible object storage server")]
struct Cli {
    /// How log lines are written to standard error: `text` for people,
    /// `json` (one object a line) for log collectors [default: text].
    #[arg(long, global = true, value_enum, env = "COFFER_LOG_FORMAT")]
    log_format: Option<config::LogFormat>,
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
    /// Check every stored object against its checksums, on a stopped
    /// server's data directory; exits 1 if any is damaged.
    Scrub(scrub::ScrubArgs),
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
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        // `coffer serve` may name the log format in its configuration file,
        // so its logging starts once its settings are known.
        Command::Serve(args) => {
            let settings = args.settings()?;
            let _logs = start_logging(cli.log_format.or(settings.log_format));
            runtime.block_on(server::serve(settings))
        }
        Command::Admin(args) => {
            let _logs = start_logging(cli.log_format);
            runtime.block_on(admin::run(args))
        }
        Command::Bench(args) => {
            let _logs = start_logging(cli.log_format);
            runtime.block_on(bench::run(args))
        }
        Command::Scrub(args) => {
            let _logs = start_logging(cli.log_format);
            runtime.block_on(scrub::run(args))
        }
    }
}

const LOG_BUFFER_BYTES: usize = 64 << 10;

/// Logs to standard error through a writer thread: a request's task formats
/// its line (the access log writes one per request) and queues it, instead of
/// taking the stderr lock and making a write call of its own. The thread
/// buffers what it finds queued and writes it in one call once the queue is
/// empty, so a busy server makes one write per batch of lines, not per line.
/// Lines wait when the queue is full rather than being dropped. The returned
/// guard flushes the queue when dropped, at the end of the command.
fn start_logging(format: Option<config::LogFormat>) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(LOG_BUFFER_BYTES, std::io::stderr()));
    let logs = tracing_subscriber::fmt().with_writer(writer).with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off")),
    );
    match format.unwrap_or_default() {
        config::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Fields at the top level of each object, where log collectors look.
        config::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    guard
}
