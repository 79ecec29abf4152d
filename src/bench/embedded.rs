//! `coffer bench --self`: a `coffer serve` of this same executable, on a free
//! port over a temporary data directory with generated keys, for the length
//! of one run.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What `coffer serve` prints once it accepts connections.
const LISTENING: &str = "coffer listening on ";
/// Startup is opening an empty store; anything slower is broken.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// After SIGTERM the server finishes in-flight requests; the run has none
/// left, so waiting longer means it hangs.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct EmbeddedServer {
    child: Child,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// Removed on drop, after the server is gone.
    _data_dir: TempDir,
}

impl EmbeddedServer {
    pub async fn start() -> anyhow::Result<EmbeddedServer> {
        let data_dir = tempfile::Builder::new()
            .prefix("coffer-bench-")
            .tempdir()
            .context("creating a data directory")?;
        let (access_key, secret_key) = coffer_s3::auth::new_key_pair();
        let executable = std::env::current_exe().context("finding the coffer executable")?;
        let mut child = Command::new(executable)
            // Free ports for both listeners: the run must not take the
            // admin API's default port from a real server.
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir.path())
            .env("COFFER_ACCESS_KEY", &access_key)
            .env("COFFER_SECRET_KEY", &secret_key)
            // Its info lines would break the progress line; warnings may not.
            .env("RUST_LOG", "warn,s3s=off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting coffer serve")?;
        let stdout = child.stdout.take().context("coffer serve's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let endpoint = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(endpoint) = line.strip_prefix(LISTENING) {
                    return Ok(endpoint.trim().to_owned());
                }
            }
            bail!("coffer serve exited before listening")
        })
        .await
        .context("coffer serve did not start in time")??;
        // Whatever else it prints must not fill the pipe and stall it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(EmbeddedServer {
            child,
            endpoint,
            access_key,
            secret_key,
            _data_dir: data_dir,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server as an operator would, with SIGTERM, and waits for
    /// it; one that does not stop is killed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) touches no memory; the pid is our own child's,
            // not yet reaped, so it names no other process.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for coffer serve")?;
                if !status.success() {
                    bail!("coffer serve exited with {status}");
                }
            }
            Err(_) => {
                self.child.kill().await.context("killing coffer serve")?;
                bail!("coffer serve did not stop within {STOP_TIMEOUT:?} of SIGTERM");
            }
        }
        Ok(())
    }
}
