//! `coffer scrub`: reads every object of a stopped server's data directory
//! back and reports the damaged ones (`coffer_s3::scrub`), and the
//! background scrub `coffer serve` runs at a bounded pace.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use coffer_engine::{Engine, SealingKey};
use coffer_s3::scrub::{ScrubReport, scrub};
use coffer_store::Store;
use tokio::sync::watch;

use crate::credentials;

#[derive(clap::Args)]
pub struct ScrubArgs {
    /// Directory holding all metadata and object data (no server may be using it).
    #[arg(long, default_value = "./coffer-data", env = "COFFER_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Master key of SSE-S3 objects, 64 hex digits, when it is not kept in
    /// the data directory.
    #[arg(long, env = "COFFER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
}

pub async fn run(args: ScrubArgs) -> anyhow::Result<()> {
    let master_key = credentials::existing_master_key(&args.data_dir, args.master_key.as_deref())?;
    let store = Store::open(&args.data_dir).with_context(|| format!("opening {}", args.data_dir.display()))?;
    let report = scrub(&store, master_key.as_ref(), None).await?;
    store.close()?;
    for damage in &report.damaged {
        println!(
            "damaged: {}/{} (version {}): {}",
            damage.bucket, damage.key, damage.version_id, damage.reason
        );
    }
    println!("{}", summary(&report));
    if !report.damaged.is_empty() {
        bail!("{} damaged object versions", report.damaged.len());
    }
    Ok(())
}

fn summary(report: &ScrubReport) -> String {
    format!(
        "scrubbed {} versions ({} bytes): {} damaged, {} skipped (sealed with keys the server does not hold)",
        report.versions_checked,
        report.bytes_checked,
        report.damaged.len(),
        report.skipped
    )
}

/// Scrubs the store every `interval` at `rate` bytes per second until
/// `stopping` turns true, logging what each scrub finds.
pub async fn background(
    engine: Arc<dyn Engine>,
    master_key: SealingKey,
    interval: Duration,
    rate: u64,
    mut stopping: watch::Receiver<bool>,
) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping.changed() => return,
        }
        // Reading is all a scrub does, so stopping may cut it short.
        let report = tokio::select! {
            report = scrub(engine.as_ref(), Some(&master_key), Some(rate)) => report,
            _ = stopping.changed() => return,
        };
        match report {
            Ok(report) => {
                for damage in &report.damaged {
                    tracing::error!(
                        bucket = %damage.bucket, key = %damage.key, version = %damage.version_id,
                        reason = %damage.reason, "scrub found a damaged object version"
                    );
                }
                tracing::info!("{}", summary(&report));
            }
            Err(err) => tracing::warn!(%err, "the scrub stopped early"),
        }
    }
}
