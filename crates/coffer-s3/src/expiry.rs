//! The lifecycle worker: it enforces each bucket's lifecycle rules in the
//! background, as Amazon S3 does: it expires current versions, deletes
//! noncurrent ones, removes lone delete markers and aborts incomplete
//! multipart uploads once the rules say they are due.
//!
//! It owns the walk: which buckets a pass visits, the steps it reads their
//! versions and uploads in, what it learns of each version from the versions
//! listed around it, and where the walk stands between passes (each bucket's
//! `lifecycle-cursor` configuration document). It also owns the worker's clock
//! and schedule. What a rule asks of a version is [`crate::lifecycle`]'s to
//! decide; the worker may call only that module and the
//! [`coffer_engine::Engine`] trait.
//!
//! A pass goes through the buckets with lifecycle rules in name order, from
//! where the previous pass stopped, and in each bucket through every version
//! (ListObjectVersions order), then every upload. It reads at most
//! [`STEP_ENTRIES`] entries per step, acts on them, records its position and
//! yields; it stops after `pass_entries` entries, at a shutdown, or at the end
//! of the last bucket, after which the next pass starts over from the first.
//! Because the position is stored after every step, a restart resumes the
//! walk where it stopped: a bucket larger than one pass is still covered, a
//! pass at a time.

use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use coffer_engine::{
    BucketRecord, DeleteOptions, Engine, EngineError, EngineResult, ListQuery, ListedVersion, NULL_VERSION_ID,
    ObjectRecord,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use tokio::sync::{Mutex, watch};

use crate::lifecycle::{self, Action, Lifecycle, Status, VersionFacts};

/// The kind of the configuration document that records where the walk
/// stands in a bucket. At most one bucket has one between passes, so the
/// next pass knows where to begin.
pub const CURSOR_KIND: &str = "lifecycle-cursor";

/// Listing entries read and acted on in one step, between yields and
/// records of the position.
const STEP_ENTRIES: usize = 1000;
/// A listing step reads at least this many entries. A key has at most one
/// `null` version, so a step of two versions of one key holds a version with
/// an id of its own to resume after (see [`survey`]).
const STEP_ENTRIES_MIN: usize = 2;
/// The test clock moves at most this far ahead, which keeps every time the
/// worker computes within the calendar.
const CLOCK_OFFSET_MAX: Duration = Duration::days(36_525);

/// How the worker is scheduled.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Seconds from the end of one pass to the start of the next; the first
    /// pass starts this long after the server.
    pub interval_seconds: NonZeroU64,
    /// How many versions and uploads one pass examines at most.
    pub pass_entries: NonZeroUsize,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub versions_examined: u64,
    pub uploads_examined: u64,
    /// Current versions expired: removed, or hidden behind a delete marker.
    pub expired: u64,
    pub noncurrent_versions_deleted: u64,
    pub delete_markers_removed: u64,
    pub uploads_aborted: u64,
    /// Versions due for removal but kept by object lock.
    pub locked: u64,
    /// Actions that failed and will be tried again in a later walk.
    pub failed: u64,
    /// The walk reached the end of the last bucket; the next pass starts over.
    pub walk_complete: bool,
}

impl Report {
    /// Adds what another pass did; `walk_complete` is left alone.
    fn add(&mut self, pass: &Report) {
        self.versions_examined += pass.versions_examined;
        self.uploads_examined += pass.uploads_examined;
        self.expired += pass.expired;
        self.noncurrent_versions_deleted += pass.noncurrent_versions_deleted;
        self.delete_markers_removed += pass.delete_markers_removed;
        self.uploads_aborted += pass.uploads_aborted;
        self.locked += pass.locked;
        self.failed += pass.failed;
    }
}

/// What every pass since the server started did, for its metrics.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// Passes that ended without an error (those stopped by their entry
    /// budget or a shutdown among them).
    pub passes: u64,
    pub failed_passes: u64,
    /// What all passes did, failed ones included, up to their failure.
    pub done: Report,
}

/// Where the walk stands in one bucket, as stored in its cursor document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Cursor {
    /// The versions of keys after `after` remain (all keys when `None`).
    Keys { after: Option<String> },
    /// The versions of a key after one of them remain, then later keys.
    Key(InKey),
    /// Every version has been examined; the uploads after `after` (key,
    /// upload id) remain.
    Uploads { after: Option<(String, String)> },
}

/// A key whose versions one step could not hold, and what the walk has
/// learnt of it so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct InKey {
    key: String,
    /// The last version examined; never `null`, whose row moves when it is
    /// replaced, so that the listing resumes exactly after it.
    version_id: String,
    /// When that version was written: the next one became noncurrent then.
    #[serde(with = "time::serde::rfc3339")]
    last_modified: OffsetDateTime,
    /// Noncurrent versions (not delete markers) examined so far.
    noncurrent_versions: usize,
}

/// What the listing around a version tells of it, beyond its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    is_latest: bool,
    noncurrent_since: Option<OffsetDateTime>,
    newer_noncurrent_versions: usize,
    only_version: bool,
}

/// The worker's clock: the real one, moved ahead only by tests.
#[derive(Debug, Default)]
struct Clock {
    offset_seconds: AtomicI64,
}

impl Clock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::seconds(self.offset_seconds.load(Ordering::Relaxed))
    }

    /// Moves the clock `by` further ahead and returns the new now; `None`,
    /// leaving it alone, if that would take it back or beyond
    /// [`CLOCK_OFFSET_MAX`].
    fn advance(&self, by: Duration) -> Option<OffsetDateTime> {
        self.offset_seconds
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                let advanced = Duration::seconds(offset).checked_add(by)?;
                (by >= Duration::ZERO && advanced <= CLOCK_OFFSET_MAX).then(|| advanced.whole_seconds())
            })
            .ok()
            .map(|_| self.now())
    }
}

/// The lifecycle worker of one server.
pub struct Worker {
    engine: Arc<dyn Engine>,
    settings: Settings,
    clock: Clock,
    /// Turns true when the server shuts down; a pass stops after its step.
    stopping: watch::Receiver<bool>,
    /// Held through a pass: a scheduled pass and one asked for through the
    /// admin API must not walk at once.
    walking: Mutex<()>,
    /// Changed once per pass and read once per metrics scrape.
    totals: std::sync::Mutex<Totals>,
}

impl Worker {
    pub fn new(engine: Arc<dyn Engine>, settings: Settings, stopping: watch::Receiver<bool>) -> Arc<Worker> {
        Arc::new(Worker {
            engine,
            settings,
            clock: Clock::default(),
            stopping,
            walking: Mutex::new(()),
            totals: std::sync::Mutex::default(),
        })
    }

    /// Moves the worker's clock `by` further ahead of the real one and
    /// returns the worker's new now; `None`, leaving the clock alone, if that
    /// would take it back or more than a century ahead. For tests only: the
    /// admin API offers it only when the server runs with its test clock.
    pub fn advance_clock(&self, by: Duration) -> Option<OffsetDateTime> {
        self.clock.advance(by)
    }

    /// Runs passes, one interval apart, until the server shuts down.
    pub async fn run(self: Arc<Self>) {
        let interval = std::time::Duration::from_secs(self.settings.interval_seconds.get());
        let mut stopping = self.stopping.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            match self.pass().await {
                Ok(report) => tracing::info!(?report, "lifecycle pass done"),
                Err(err) => tracing::warn!(%err, "lifecycle pass failed; the next one resumes where it stopped"),
            }
        }
    }

    /// What every pass since the server started did.
    pub fn totals(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs one pass, from where the walk stands, and reports what it did.
    pub async fn pass(&self) -> EngineResult<Report> {
        let _walking = self.walking.lock().await;
        let mut pass = Pass {
            engine: self.engine.as_ref(),
            now: self.clock.now(),
            budget: self.settings.pass_entries.get(),
            stopping: &self.stopping,
            report: Report::default(),
        };
        let walked = self.walk(&mut pass).await;
        let mut totals = self.totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        totals.done.add(&pass.report);
        match walked {
            Ok(()) => {
                totals.passes += 1;
                Ok(pass.report)
            }
            Err(err) => {
                totals.failed_passes += 1;
                Err(err)
            }
        }
    }

    /// Walks the buckets with rules from where the walk stands, until the
    /// pass's budget is spent, the server stops, or the last bucket is done.
    async fn walk(&self, pass: &mut Pass<'_>) -> EngineResult<()> {
        let mut buckets = Vec::new();
        for bucket in self.engine.list_buckets().await? {
            match self.documents(&bucket.name).await {
                Ok(Some((lifecycle, cursor))) => buckets.push((bucket, lifecycle, cursor)),
                Ok(None) | Err(EngineError::NoSuchBucket(_)) => {}
                Err(err) => return Err(err),
            }
        }
        // Only the bucket the walk stopped in resumes; the rest start from
        // their beginning, whatever an older cursor of theirs says.
        let first = buckets.iter().position(|(_, _, cursor)| cursor.is_some()).unwrap_or(0);
        for (index, (bucket, lifecycle, cursor)) in buckets.iter().enumerate().skip(first) {
            let cursor = match cursor {
                Some(cursor) if index == first => cursor.clone(),
                _ => Cursor::Keys { after: None },
            };
            if !pass.bucket(bucket, lifecycle, cursor).await? {
                return Ok(());
            }
            // The next bucket takes the cursor before this one drops it, so
            // that a pass ending here, or a crash, resumes there.
            if let Some((next, _, _)) = buckets.get(index + 1) {
                pass.record(&next.name, Some(&Cursor::Keys { after: None })).await?;
            }
            pass.record(&bucket.name, None).await?;
        }
        pass.report.walk_complete = true;
        Ok(())
    }

    /// The bucket's rules, if any of them is enabled, and where the walk
    /// stands in it. A document that cannot be read is logged and does not
    /// stop the other buckets' walk: unreadable rules are not enforced, and
    /// an unreadable cursor starts the walk over.
    async fn documents(&self, bucket: &str) -> EngineResult<Option<(Lifecycle, Option<Cursor>)>> {
        let Some(document) = self.engine.bucket_config(bucket, lifecycle::CONFIG_KIND).await? else {
            return Ok(None);
        };
        let lifecycle = match Lifecycle::decode(&document) {
            Ok(lifecycle) => lifecycle,
            Err(err) => {
                tracing::warn!(bucket, %err, "lifecycle rules left unenforced");
                return Ok(None);
            }
        };
        if enabled_rules(&lifecycle).next().is_none() {
            return Ok(None);
        }
        let cursor = self
            .engine
            .bucket_config(bucket, CURSOR_KIND)
            .await?
            .and_then(|document| {
                serde_json::from_slice(&document)
                    .inspect_err(
                        |err| tracing::warn!(bucket, %err, "lifecycle cursor unreadable; the walk starts over"),
                    )
                    .ok()
            });
        Ok(Some((lifecycle, cursor)))
    }
}

/// One pass under way.
struct Pass<'a> {
    engine: &'a dyn Engine,
    /// The moment the rules are weighed against, fixed for the pass.
    now: OffsetDateTime,
    /// Entries the pass may still examine.
    budget: usize,
    stopping: &'a watch::Receiver<bool>,
    report: Report,
}

impl Pass<'_> {
    /// Walks one bucket from `cursor`. True when the bucket is done; false
    /// when the pass must stop, its position recorded.
    async fn bucket(&mut self, bucket: &BucketRecord, lifecycle: &Lifecycle, mut cursor: Cursor) -> EngineResult<bool> {
        let acts_on_versions = enabled_rules(lifecycle)
            .any(|rule| rule.expiration.is_some() || rule.noncurrent_version_expiration.is_some());
        let acts_on_uploads =
            enabled_rules(lifecycle).any(|rule| rule.abort_incomplete_multipart_upload_days.is_some());
        if !acts_on_versions && !matches!(cursor, Cursor::Uploads { .. }) {
            cursor = Cursor::Uploads { after: None };
        }
        loop {
            if matches!(cursor, Cursor::Uploads { .. }) && !acts_on_uploads {
                return Ok(true);
            }
            if self.budget == 0 || *self.stopping.borrow() {
                return Ok(false);
            }
            let step = match &cursor {
                Cursor::Keys { after } => self.versions_step(bucket, lifecycle, after.clone(), None).await,
                Cursor::Key(in_key) => {
                    let after = Some(in_key.key.clone());
                    self.versions_step(bucket, lifecycle, after, Some(in_key)).await
                }
                Cursor::Uploads { after } => self.uploads_step(bucket, lifecycle, after.as_ref()).await,
            };
            cursor = match step {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(true),
                // Deleted while the walk was in it: nothing is left to do.
                Err(EngineError::NoSuchBucket(_)) => return Ok(true),
                Err(err) => return Err(err),
            };
            self.record(&bucket.name, Some(&cursor)).await?;
            tokio::task::yield_now().await;
        }
    }

    /// Reads and acts on one step of versions, after key `start_after` or,
    /// with `in_key`, within it; returns where the walk goes on (the uploads
    /// once the versions are done).
    async fn versions_step(
        &mut self,
        bucket: &BucketRecord,
        lifecycle: &Lifecycle,
        start_after: Option<String>,
        in_key: Option<&InKey>,
    ) -> EngineResult<Option<Cursor>> {
        let version_id_marker = in_key.map(|in_key| in_key.version_id.as_str());
        let query = ListQuery {
            start_after,
            max_keys: self.step_entries(),
            ..Default::default()
        };
        let page = self
            .engine
            .list_object_versions(&bucket.name, &query, version_id_marker)
            .await?;
        let truncated = page.truncated;
        let (versions, _) = page.split();
        let (seen, next) = survey(&versions, truncated, in_key);
        self.spend(seen.len());
        self.report.versions_examined += seen.len() as u64;
        for (listed, seen) in versions.iter().zip(&seen) {
            let object = &listed.object;
            let facts = VersionFacts {
                key: &object.key,
                size: object.size,
                tags: &object.tags,
                last_modified: object.last_modified,
                is_latest: seen.is_latest,
                is_delete_marker: object.delete_marker,
                noncurrent_since: seen.noncurrent_since,
                newer_noncurrent_versions: seen.newer_noncurrent_versions,
                only_version: seen.only_version,
            };
            if let Some(action) = lifecycle.object_action(&facts, self.now) {
                self.act(bucket, object, action).await?;
            }
        }
        Ok(Some(next.unwrap_or(Cursor::Uploads { after: None })))
    }

    async fn act(&mut self, bucket: &BucketRecord, object: &ObjectRecord, action: Action) -> EngineResult<()> {
        let version_id = match action {
            // Expiring acts on the key, not on a version: a version written
            // since the listing must not be expired in place of the one listed.
            Action::Expire if !self.still_current(bucket, object).await? => return Ok(()),
            Action::Expire => None,
            Action::DeleteVersion | Action::RemoveExpiredDeleteMarker => Some(object.version_id.as_str()),
        };
        let options = DeleteOptions {
            owner: bucket.owner.clone(),
            bypass_governance: false,
        };
        match self
            .engine
            .delete_object(&bucket.name, &object.key, version_id, &options)
            .await
        {
            Ok(_) => {
                let count = match action {
                    Action::Expire => &mut self.report.expired,
                    Action::DeleteVersion => &mut self.report.noncurrent_versions_deleted,
                    Action::RemoveExpiredDeleteMarker => &mut self.report.delete_markers_removed,
                };
                *count += 1;
            }
            // S3's lifecycle never removes a locked version; it waits.
            Err(EngineError::ObjectLocked { key, version_id }) => {
                tracing::debug!(bucket = %bucket.name, %key, %version_id, "lifecycle leaves a locked version");
                self.report.locked += 1;
            }
            Err(err @ EngineError::NoSuchBucket(_)) => return Err(err),
            Err(err) => {
                tracing::warn!(bucket = %bucket.name, key = %object.key, %err, ?action, "lifecycle action failed");
                self.report.failed += 1;
            }
        }
        Ok(())
    }

    async fn still_current(&self, bucket: &BucketRecord, object: &ObjectRecord) -> EngineResult<bool> {
        match self.engine.object(&bucket.name, &object.key, None).await {
            Ok(current) => Ok(current.version_id == object.version_id && current.last_modified == object.last_modified),
            Err(EngineError::NoSuchKey(_) | EngineError::DeleteMarker { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Reads one step of uploads after `after` and aborts those due.
    async fn uploads_step(
        &mut self,
        bucket: &BucketRecord,
        lifecycle: &Lifecycle,
        after: Option<&(String, String)>,
    ) -> EngineResult<Option<Cursor>> {
        let query = ListQuery {
            start_after: after.map(|(key, _)| key.clone()),
            max_keys: self.step_entries(),
            ..Default::default()
        };
        let marker = after.map(|(_, upload_id)| upload_id.as_str());
        let page = self.engine.list_uploads(&bucket.name, &query, marker).await?;
        let truncated = page.truncated;
        let (uploads, _) = page.split();
        self.spend(uploads.len());
        self.report.uploads_examined += uploads.len() as u64;
        for upload in &uploads {
            if !lifecycle.upload_action(&upload.key, upload.initiated, self.now) {
                continue;
            }
            match self
                .engine
                .abort_upload(&bucket.name, &upload.key, &upload.upload_id)
                .await
            {
                Ok(()) => self.report.uploads_aborted += 1,
                // Completed or aborted by a client since the listing.
                Err(EngineError::NoSuchUpload(_)) => {}
                Err(err @ EngineError::NoSuchBucket(_)) => return Err(err),
                Err(err) => {
                    tracing::warn!(bucket = %bucket.name, upload_id = %upload.upload_id, %err, "lifecycle abort failed");
                    self.report.failed += 1;
                }
            }
        }
        let last = uploads.last().filter(|_| truncated);
        Ok(last.map(|upload| Cursor::Uploads {
            after: Some((upload.key.clone(), upload.upload_id.clone())),
        }))
    }

    fn step_entries(&self) -> usize {
        self.budget.clamp(STEP_ENTRIES_MIN, STEP_ENTRIES)
    }

    fn spend(&mut self, entries: usize) {
        self.budget = self.budget.saturating_sub(entries);
    }

    /// Records where the walk stands in `bucket`, or that it is not there.
    async fn record(&self, bucket: &str, cursor: Option<&Cursor>) -> EngineResult<()> {
        let document = cursor.map(|cursor| serde_json::to_vec(cursor).expect("a cursor serializes"));
        match self.engine.put_bucket_config(bucket, CURSOR_KIND, document).await {
            Err(EngineError::NoSuchBucket(_)) => Ok(()),
            other => other,
        }
    }
}

fn enabled_rules(lifecycle: &Lifecycle) -> impl Iterator<Item = &lifecycle::Rule> {
    lifecycle.rules.iter().filter(|rule| rule.status == Status::Enabled)
}

/// What the listing tells of the versions of one step, in the order listed,
/// and where the next step starts (`None`: no version remains). Only a
/// prefix of `versions` is surveyed when the listing goes on: a version's
/// facts depend on its key's other versions, so a step ends at the end of a
/// key, or, when one key fills it, after that key's last version with an id
/// of its own. `in_key` is what earlier steps learnt of the key the step
/// starts in.
fn survey(versions: &[ListedVersion], truncated: bool, in_key: Option<&InKey>) -> (Vec<Seen>, Option<Cursor>) {
    let (surveyed, resume_in_key) = match versions.last() {
        Some(last) if truncated => match versions.iter().position(|v| v.object.key == last.object.key) {
            Some(start) if start > 0 => (start, false),
            _ => match versions.iter().rposition(|v| v.object.version_id != NULL_VERSION_ID) {
                Some(index) => (index + 1, true),
                // Never with a store that keeps one null version per key; a
                // walk that moves past the key still goes on.
                None => (versions.len(), false),
            },
        },
        _ => (versions.len(), false),
    };

    let mut seen = Vec::with_capacity(surveyed);
    let mut state = in_key.cloned();
    for (index, listed) in versions[..surveyed].iter().enumerate() {
        let object = &listed.object;
        if listed.is_latest || state.as_ref().is_none_or(|state| state.key != object.key) {
            state = None;
        }
        let followed_in_key = match versions.get(index + 1) {
            Some(next) => next.object.key == object.key,
            None => truncated,
        };
        let newer_noncurrent_versions = state.as_ref().map_or(0, |state| state.noncurrent_versions);
        seen.push(Seen {
            is_latest: listed.is_latest,
            noncurrent_since: state.as_ref().map(|state| state.last_modified),
            newer_noncurrent_versions,
            only_version: listed.is_latest && !followed_in_key,
        });
        state = Some(InKey {
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            last_modified: object.last_modified,
            noncurrent_versions: newer_noncurrent_versions + usize::from(!listed.is_latest && !object.delete_marker),
        });
    }

    let next = match (versions.last(), state) {
        (Some(_), Some(state)) if truncated && resume_in_key => Some(Cursor::Key(state)),
        (Some(_), Some(state)) if truncated => Some(Cursor::Keys { after: Some(state.key) }),
        _ => None,
    };
    (seen, next)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// A version of `key` written at minute `minute`, listed as S3 lists it.
    fn listed(key: &str, version_id: &str, minute: i64, is_latest: bool, delete_marker: bool) -> ListedVersion {
        let mut object = ObjectRecord::delete_marker(key, version_id.to_owned(), "owner");
        object.delete_marker = delete_marker;
        object.last_modified = at(minute);
        ListedVersion { object, is_latest }
    }

    fn at(minute: i64) -> OffsetDateTime {
        datetime!(2024-01-01 00:00 UTC) + Duration::minutes(minute)
    }

    fn seen(is_latest: bool, noncurrent_since: Option<i64>, newer_noncurrent_versions: usize) -> Seen {
        Seen {
            is_latest,
            noncurrent_since: noncurrent_since.map(at),
            newer_noncurrent_versions,
            only_version: false,
        }
    }

    #[test]
    fn a_whole_listing_is_surveyed_and_ends_the_walk() {
        let versions = [
            listed("a", "v3", 30, true, false),
            listed("a", "v2", 20, false, true),
            listed("a", "v1", 10, false, false),
            listed("a", NULL_VERSION_ID, 5, false, false),
            listed("b", NULL_VERSION_ID, 1, true, false),
        ];
        let (seen_versions, next) = survey(&versions, false, None);
        assert_eq!(
            seen_versions,
            [
                seen(true, None, 0),
                // A noncurrent delete marker is not counted among the newer
                // noncurrent versions of older ones.
                seen(false, Some(30), 0),
                seen(false, Some(20), 0),
                seen(false, Some(10), 1),
                Seen {
                    only_version: true,
                    ..seen(true, None, 0)
                },
            ]
        );
        assert_eq!(next, None);
    }

    #[test]
    fn a_lone_delete_marker_is_its_keys_only_version() {
        let versions = [
            listed("a", "m1", 3, true, true),
            listed("b", "m2", 2, true, true),
            listed("b", "v1", 1, false, false),
            listed("c", "m3", 1, true, true),
        ];
        let (seen_versions, _) = survey(&versions, false, None);
        let only: Vec<bool> = seen_versions.iter().map(|seen| seen.only_version).collect();
        assert_eq!(only, [true, false, false, true]);
    }

    #[test]
    fn a_step_ends_at_the_end_of_a_key() {
        let versions = [
            listed("a", NULL_VERSION_ID, 1, true, false),
            listed("b", "m1", 2, true, true),
            listed("c", "v2", 2, true, false),
            listed("c", "v1", 1, false, false),
        ];
        // The listing goes on, perhaps with more versions of c: c waits for
        // the next step, and b's marker is alone whatever follows.
        let (seen_versions, next) = survey(&versions, true, None);
        assert_eq!(seen_versions.len(), 2);
        assert!(seen_versions[1].only_version);
        assert_eq!(
            next,
            Some(Cursor::Keys {
                after: Some("b".to_owned())
            })
        );
    }

    #[test]
    fn a_key_longer_than_a_step_is_resumed_within_with_what_was_learnt() {
        // A marker in front of versions, the null one last in this step: the
        // step ends after the last version with an id of its own.
        let first = [
            listed("k", "m", 50, true, true),
            listed("k", "v4", 40, false, false),
            listed("k", "v3", 30, false, false),
            listed("k", NULL_VERSION_ID, 25, false, false),
        ];
        let (seen_first, next) = survey(&first, true, None);
        assert_eq!(
            seen_first,
            [seen(true, None, 0), seen(false, Some(50), 0), seen(false, Some(40), 1)]
        );
        let in_key = InKey {
            key: "k".to_owned(),
            version_id: "v3".to_owned(),
            last_modified: at(30),
            noncurrent_versions: 2,
        };
        assert_eq!(next, Some(Cursor::Key(in_key.clone())));

        let rest = [
            listed("k", NULL_VERSION_ID, 25, false, false),
            listed("k", "v1", 10, false, false),
            listed("l", "v9", 5, true, false),
        ];
        let (seen_rest, next) = survey(&rest, false, Some(&in_key));
        assert_eq!(
            seen_rest,
            [
                seen(false, Some(30), 2),
                seen(false, Some(25), 3),
                Seen {
                    only_version: true,
                    ..seen(true, None, 0)
                },
            ]
        );
        assert_eq!(next, None);
    }

    #[test]
    fn what_was_learnt_of_a_key_is_dropped_when_its_versions_are_gone() {
        let in_key = InKey {
            key: "k".to_owned(),
            version_id: "v3".to_owned(),
            last_modified: at(30),
            noncurrent_versions: 7,
        };
        let versions = [listed("l", "v2", 20, true, false), listed("l", "v1", 10, false, false)];
        let (seen_versions, _) = survey(&versions, false, Some(&in_key));
        assert_eq!(seen_versions[0].noncurrent_since, None);
        assert_eq!(seen_versions[1], seen(false, Some(20), 0));
    }

    #[test]
    fn every_step_makes_progress() {
        // Two versions of one key, the null one last: one is surveyed.
        let versions = [
            listed("k", "v2", 2, true, false),
            listed("k", NULL_VERSION_ID, 1, false, false),
        ];
        let (seen_versions, next) = survey(&versions, true, None);
        assert_eq!(seen_versions.len(), 1);
        assert!(matches!(next, Some(Cursor::Key(InKey { ref version_id, .. })) if version_id == "v2"));
        // A key's last version at a step's end may have more behind it.
        let versions = [listed("k", "v3", 3, true, true), listed("k", "v2", 2, false, false)];
        let (seen_versions, _) = survey(&versions, true, None);
        assert!(!seen_versions[0].only_version);
    }

    #[test]
    fn the_test_clock_moves_only_forward_and_within_a_century() {
        let clock = Clock::default();
        let before = clock.now();
        let moved = clock.advance(Duration::days(3)).expect("moves forward");
        assert!(moved - before >= Duration::days(3));
        assert!(clock.advance(Duration::seconds(-1)).is_none());
        assert!(clock.advance(CLOCK_OFFSET_MAX).is_none());
        assert!(
            clock.now() - before < Duration::days(4),
            "refusals leave the clock alone"
        );
    }
}
