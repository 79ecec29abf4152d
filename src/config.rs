//! The settings of `coffer serve` and where each comes from.
//!
//! Every option is a flag (`--data-dir`), a `COFFER_*` environment variable
//! (`COFFER_DATA_DIR`) and a key of the TOML file given to `--config`
//! (`data_dir`: the flag's name with dashes turned into underscores). For
//! each option separately, a flag beats the variable, the variable beats the
//! file, and the file beats the built-in default. This module owns that
//! merge, the reading and checking of the file, and the defaults; what the
//! settings then do is `server.rs`'s.
//!
//! One struct, [`Options`], is both the clap arguments and the file's
//! schema, so a new option is one field there, one line in [`Options::or`],
//! one in [`Options::resolve`], and its key in `contrib/coffer.toml` (a test
//! checks that the example names every option).

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;

const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
const DEFAULT_DATA_DIR: &str = "./coffer-data";
const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_LIFECYCLE_INTERVAL: u64 = 3600;
const DEFAULT_LIFECYCLE_PASS_ENTRIES: usize = 1_000_000;
const DEFAULT_MAX_CONNECTIONS: usize = 4096;
const DEFAULT_SCRUB_INTERVAL: u64 = 7 * 24 * 60 * 60;
const DEFAULT_SCRUB_RATE: u64 = 32 << 20;

/// How log lines are written: for people, or one JSON object a line.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The command line of `coffer serve`.
#[derive(clap::Args)]
#[command(after_help = "\
Every option above can also be set in the --config file (TOML), under its name
without the leading dashes and with dashes turned into underscores:
`listen = \"0.0.0.0:9000\"`, `data_dir = \"/var/lib/coffer\"`, `tls_cert = ...`.
Relative paths in the file are relative to the file's directory. For each
option, a flag beats its COFFER_* variable, which beats the file, which beats
the default. contrib/coffer.toml describes every key.")]
pub struct ServeArgs {
    /// Configuration file (TOML) with any of the options below as keys.
    #[arg(long, value_name = "FILE", env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub options: Options,
}

/// The options of `coffer serve`, each from a flag or the environment (clap)
/// or from the configuration file (serde); absent where none gave it.
#[derive(clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Address to serve S3 on; port 0 picks a free port [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR", env = "COFFER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory holding all metadata and object data [default: ./coffer-data].
    #[arg(long, value_name = "DIR", env = "COFFER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the admin API (users and keys), plain HTTP even with TLS
    /// [default: 127.0.0.1:9001; if that is taken, the server runs without
    /// an admin API].
    #[arg(long, value_name = "ADDR", env = "COFFER_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// The region this endpoint serves, as SigV4 signatures name it [default: us-east-1].
    #[arg(long, env = "COFFER_REGION")]
    pub region: Option<String>,
    /// Domain for virtual-hosted–style requests: `Host: bucket.DOMAIN`
    /// addresses `bucket`. Path-style requests are served either way.
    #[arg(long, env = "COFFER_DOMAIN")]
    pub domain: Option<String>,
    /// Root access key; generated and kept in the data directory if absent.
    /// Needs --secret-key.
    #[arg(long, env = "COFFER_ACCESS_KEY")]
    pub access_key: Option<String>,
    /// Root secret key. Needs --access-key.
    #[arg(long, env = "COFFER_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Master key sealing SSE-S3 objects, 64 hex digits; generated and kept
    /// in the data directory (`master.key`) if absent.
    #[arg(long, env = "COFFER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Certificate chain (PEM) to serve HTTPS with on --listen; needs
    /// --tls-key. Reloaded, with the key, on SIGHUP.
    #[arg(long, value_name = "PEM_FILE", env = "COFFER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "PEM_FILE", env = "COFFER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between two passes of the lifecycle worker [default: 3600].
    #[arg(long, value_name = "SECONDS", env = "COFFER_LIFECYCLE_INTERVAL")]
    pub lifecycle_interval: Option<NonZeroU64>,
    /// Versions and uploads one lifecycle pass examines at most; the next
    /// pass goes on from there [default: 1000000].
    #[arg(long, value_name = "ENTRIES", env = "COFFER_LIFECYCLE_PASS_ENTRIES")]
    pub lifecycle_pass_entries: Option<NonZeroUsize>,
    /// Connections served at once; more wait until one closes [default: 4096].
    #[arg(long, value_name = "N", env = "COFFER_MAX_CONNECTIONS")]
    pub max_connections: Option<NonZeroUsize>,
    /// Seconds between two background scrubs, which read every object back
    /// and log any damaged one; 0 turns them off [default: 604800].
    #[arg(long, value_name = "SECONDS", env = "COFFER_SCRUB_INTERVAL")]
    pub scrub_interval: Option<u64>,
    /// Bytes per second a background scrub reads at most [default: 33554432].
    #[arg(long, value_name = "BYTES", env = "COFFER_SCRUB_RATE")]
    pub scrub_rate: Option<u64>,
    /// Objects of up to this many bytes (plain, unencrypted) are kept in the
    /// metadata database instead of files of their own: one commit and no
    /// file per small PUT. 0 keeps every object in a file [default: 16384].
    #[arg(long, value_name = "BYTES", env = "COFFER_INLINE_MAX_BYTES")]
    pub inline_max_bytes: Option<usize>,
    /// Makes GET /metrics on the admin listener require
    /// `Authorization: Bearer TOKEN`; without it, /metrics is open.
    #[arg(long, value_name = "TOKEN", env = "COFFER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// How log lines are written (`text` or `json`); on the command line
    /// this is the global `--log-format`, which the file cannot override.
    #[arg(skip)]
    pub log_format: Option<LogFormat>,
    /// For tests only: crash the process at a point inside the storage
    /// engine, `NAME=ACTION` in the `fail` crate's syntax (`before-commit=return`).
    #[cfg(feature = "failpoints")]
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub failpoint: Vec<String>,
    /// For tests only: lets the admin API move the lifecycle worker's clock
    /// forward and run a pass on demand.
    #[arg(
        long,
        hide = true,
        env = "COFFER_LIFECYCLE_TEST_CLOCK",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub lifecycle_test_clock: Option<bool>,
}

/// What `coffer serve` runs with: every option decided.
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub admin_listen: Option<SocketAddr>,
    pub region: String,
    pub domain: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub master_key: Option<String>,
    pub tls: Option<TlsFiles>,
    pub lifecycle_interval: NonZeroU64,
    pub lifecycle_pass_entries: NonZeroUsize,
    pub lifecycle_test_clock: bool,
    pub max_connections: NonZeroUsize,
    pub scrub_interval: u64,
    pub scrub_rate: u64,
    pub inline_max_bytes: usize,
    pub metrics_token: Option<String>,
    pub log_format: Option<LogFormat>,
    #[cfg(feature = "failpoints")]
    pub failpoint: Vec<String>,
}

/// The PEM files HTTPS is served with, read at startup and on every SIGHUP.
#[derive(Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ServeArgs {
    /// Merges the command line and environment over the configuration file,
    /// then the defaults under both, and checks what only the merged whole
    /// can show.
    pub fn settings(self) -> anyhow::Result<Settings> {
        let options = match &self.config {
            Some(path) => self.options.or(read(path)?),
            None => self.options,
        };
        options.resolve()
    }
}

impl Options {
    /// Each option from `self` where it has one, else from `fallback`.
    fn or(self, fallback: Options) -> Options {
        Options {
            listen: self.listen.or(fallback.listen),
            data_dir: self.data_dir.or(fallback.data_dir),
            admin_listen: self.admin_listen.or(fallback.admin_listen),
            region: self.region.or(fallback.region),
            domain: self.domain.or(fallback.domain),
            access_key: self.access_key.or(fallback.access_key),
            secret_key: self.secret_key.or(fallback.secret_key),
            master_key: self.master_key.or(fallback.master_key),
            tls_cert: self.tls_cert.or(fallback.tls_cert),
            tls_key: self.tls_key.or(fallback.tls_key),
            lifecycle_interval: self.lifecycle_interval.or(fallback.lifecycle_interval),
            lifecycle_pass_entries: self.lifecycle_pass_entries.or(fallback.lifecycle_pass_entries),
            lifecycle_test_clock: self.lifecycle_test_clock.or(fallback.lifecycle_test_clock),
            max_connections: self.max_connections.or(fallback.max_connections),
            scrub_interval: self.scrub_interval.or(fallback.scrub_interval),
            scrub_rate: self.scrub_rate.or(fallback.scrub_rate),
            inline_max_bytes: self.inline_max_bytes.or(fallback.inline_max_bytes),
            metrics_token: self.metrics_token.or(fallback.metrics_token),
            log_format: self.log_format.or(fallback.log_format),
            #[cfg(feature = "failpoints")]
            failpoint: self.failpoint,
        }
    }

    fn resolve(self) -> anyhow::Result<Settings> {
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => bail!("tls_cert and tls_key go together: give both (--tls-cert and --tls-key) or neither"),
        };
        if self.access_key.is_some() != self.secret_key.is_some() {
            bail!("access_key and secret_key go together: give both (--access-key and --secret-key) or neither");
        }
        Ok(Settings {
            listen: self
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a socket address")),
            data_dir: self.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            admin_listen: self.admin_listen,
            region: self.region.unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            domain: self.domain,
            access_key: self.access_key,
            secret_key: self.secret_key,
            master_key: self.master_key,
            tls,
            lifecycle_interval: self
                .lifecycle_interval
                .unwrap_or(NonZeroU64::new(DEFAULT_LIFECYCLE_INTERVAL).expect("not zero")),
            lifecycle_pass_entries: self
                .lifecycle_pass_entries
                .unwrap_or(NonZeroUsize::new(DEFAULT_LIFECYCLE_PASS_ENTRIES).expect("not zero")),
            lifecycle_test_clock: self.lifecycle_test_clock.unwrap_or(false),
            max_connections: self
                .max_connections
                .unwrap_or(NonZeroUsize::new(DEFAULT_MAX_CONNECTIONS).expect("not zero")),
            scrub_interval: self.scrub_interval.unwrap_or(DEFAULT_SCRUB_INTERVAL),
            scrub_rate: self.scrub_rate.unwrap_or(DEFAULT_SCRUB_RATE),
            inline_max_bytes: self.inline_max_bytes.unwrap_or(coffer_store::DEFAULT_INLINE_MAX_BYTES),
            metrics_token: self.metrics_token,
            log_format: self.log_format,
            #[cfg(feature = "failpoints")]
            failpoint: self.failpoint,
        })
    }
}

/// Reads and checks the configuration file. Every error names the file, and
/// the key at fault where there is one.
fn read(path: &Path) -> anyhow::Result<Options> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut options: Options =
        toml::from_str(&text).map_err(|err| anyhow!("{}: {}", path.display(), explain(&err, &text)))?;
    // A file names paths from where it lies: the same file must mean the same
    // directories whatever directory the server is started from.
    let base = path.parent().unwrap_or(Path::new(""));
    for file_path in [&mut options.data_dir, &mut options.tls_cert, &mut options.tls_key]
        .into_iter()
        .flatten()
    {
        *file_path = base.join(&*file_path);
    }
    Ok(options)
}

/// Turns a TOML or serde error into one line: the key at fault, what is wrong
/// with it, and its line.
fn explain(err: &toml::de::Error, text: &str) -> String {
    let message = err.message().trim_end();
    let message = match message.strip_prefix("unknown field ") {
        // serde lists every field after this; the help already does.
        Some(rest) => format!("unknown key {}", rest.split(',').next().unwrap_or(rest)),
        None => message.to_owned(),
    };
    let Some(span) = err.span() else { return message };
    let line_start = text[..span.start].rfind('\n').map_or(0, |newline| newline + 1);
    let line_number = text[..span.start].matches('\n').count() + 1;
    let key = text[line_start..]
        .split_once('=')
        .map(|(key, _)| key.trim())
        .filter(|key| !key.is_empty() && !key.contains('\n'));
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("key `{key}`: {message} (line {line_number})"),
        _ => format!("{message} (line {line_number})"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Args;

    use super::*;

    /// The defaults are written out in the options' help, where clap cannot
    /// show them (it would apply them over the file); the help must say what
    /// `resolve` does.
    #[test]
    fn the_help_shows_the_defaults_resolve_applies() {
        let help = ServeArgs::augment_args(clap::Command::new("serve"))
            .term_width(1000)
            .render_help()
            .to_string();
        for default in [
            DEFAULT_LISTEN.to_owned(),
            DEFAULT_DATA_DIR.to_owned(),
            DEFAULT_REGION.to_owned(),
            DEFAULT_LIFECYCLE_INTERVAL.to_string(),
            DEFAULT_LIFECYCLE_PASS_ENTRIES.to_string(),
            DEFAULT_MAX_CONNECTIONS.to_string(),
            DEFAULT_SCRUB_INTERVAL.to_string(),
            DEFAULT_SCRUB_RATE.to_string(),
        ] {
            assert!(help.contains(&format!("[default: {default}]")), "{default} in\n{help}");
        }
    }
}
