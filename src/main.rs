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
mod logs;
mod scrub;
mod server;
mod tls;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc keeps per-thread free lists, where the system allocator's
/// arenas took a tenth of a small GET's CPU time (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_arena_eager_commit`, which the crate does not
/// name. Committed eagerly, an arena's freed pages are only marked free to
/// the kernel and still count as resident: 64 MiB PUTs left the server at
/// 190 MiB instead of 105 MiB.
#[cfg(target_os = "linux")]
const MIMALLOC_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Runs before `main`, from the ELF constructors: the standard library's
/// own start-up allocates, and the first allocation reserves mimalloc's
/// first arena with the options of that moment.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static SET_ALLOCATOR_OPTIONS: extern "C" fn() = set_allocator_options;

#[cfg(target_os = "linux")]
extern "C" fn set_allocator_options() {
    // SAFETY: sets a global option before any thread or allocation exists.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_ARENA_EAGER_COMMIT, 0) };
}

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

/// Logs to standard error through [`logs::sink`], which batches the access
/// log's lines. The returned flusher writes out what is left when dropped,
/// at the end of the command.
fn start_logging(format: Option<config::LogFormat>) -> logs::LogFlusher {
    let (writer, flusher) = logs::sink();
    let logs = tracing_subscriber::fmt().with_writer(writer).with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off")),
    );
    match format.unwrap_or_default() {
        config::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // Fields at the top level of each object, where log collectors look.
        config::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    flusher
}
