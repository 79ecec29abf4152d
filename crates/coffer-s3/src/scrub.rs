//! The scrub: reads every stored object version back through the same checks
//! a GET makes (`integrity.rs`, and AES-GCM for sealed data) and reports the
//! versions whose bytes are damaged or missing, so rot is found before a
//! client asks for it. `coffer scrub` runs it on a stopped server's data
//! directory; `coffer serve` runs it in the background at a bounded pace.
//! Calls only the `Engine` trait, `integrity.rs` and `sse.rs`.

use std::time::{Duration, Instant};

use coffer_engine::{Engine, EngineError, EngineResult, ListEntry, ListQuery, ObjectRecord, SealingKey};
use futures::StreamExt;

/// Versions listed per step of the walk.
const PAGE_VERSIONS: usize = 1000;

/// A version whose bytes did not read back as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub reason: String,
}

/// What a scrub found.
#[derive(Debug, Default)]
pub struct ScrubReport {
    pub versions_checked: u64,
    pub bytes_checked: u64,
    /// Versions sealed with a customer's key, which the server cannot read.
    pub skipped: u64,
    pub damaged: Vec<Damage>,
}

/// Reads every object version of every bucket and checks it. With a `pace`
/// in bytes per second, it sleeps between versions to stay under it.
/// `master_key` opens SSE-S3 data; without it such versions are skipped.
pub async fn scrub(
    engine: &dyn Engine,
    master_key: Option<&SealingKey>,
    pace: Option<u64>,
) -> EngineResult<ScrubReport> {
    let started = Instant::now();
    let mut report = ScrubReport::default();
    for bucket in engine.list_buckets().await? {
        let mut query = ListQuery {
            max_keys: PAGE_VERSIONS,
            ..Default::default()
        };
        let mut version_marker: Option<String> = None;
        loop {
            let page = match engine
                .list_object_versions(&bucket.name, &query, version_marker.as_deref())
                .await
            {
                Err(EngineError::NoSuchBucket(_)) => break,
                page => page?,
            };
            let mut last = None;
            for entry in page.entries {
                let ListEntry::Item(listed) = entry else { continue };
                let object = listed.object;
                last = Some((object.key.clone(), object.version_id.clone()));
                if object.delete_marker {
                    continue;
                }
                check(engine, &bucket.name, &object, master_key, &mut report).await;
                if let Some(pace) = pace.filter(|pace| *pace > 0) {
                    let due = Duration::from_secs_f64(report.bytes_checked as f64 / pace as f64);
                    if let Some(ahead) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(ahead).await;
                    }
                }
            }
            match (page.truncated, last) {
                (true, Some((key, version_id))) => {
                    query.start_after = Some(key);
                    version_marker = Some(version_id);
                }
                _ => break,
            }
        }
    }
    Ok(report)
}

/// Reads one version whole and records what it found.
async fn check(
    engine: &dyn Engine,
    bucket: &str,
    object: &ObjectRecord,
    master_key: Option<&SealingKey>,
    report: &mut ScrubReport,
) {
    let sealing = match &object.encryption {
        Some(encryption) if encryption.customer_key_md5.is_some() => {
            report.skipped += 1;
            return;
        }
        Some(_) => match master_key {
            Some(key) => Some(key),
            None => {
                report.skipped += 1;
                return;
            }
        },
        None => None,
    };
    let damaged = |reason: String| Damage {
        bucket: bucket.to_owned(),
        key: object.key.clone(),
        version_id: object.version_id.clone(),
        reason,
    };
    report.versions_checked += 1;
    let body = match engine.open(object, None, sealing).await {
        Ok(body) => body,
        // Replaced or removed since it was listed: nothing to check.
        Err(EngineError::VersionGone) => return,
        Err(err) => {
            report.damaged.push(damaged(format!("cannot be opened: {err}")));
            return;
        }
    };
    let mut body = crate::integrity::verified(object, None, body);
    let mut read = 0u64;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => read += chunk.len() as u64,
            Err(err) => {
                report.damaged.push(damaged(err.to_string()));
                return;
            }
        }
    }
    report.bytes_checked += read;
    if read != object.size {
        report
            .damaged
            .push(damaged(format!("{read} bytes stored of {}", object.size)));
    }
}
