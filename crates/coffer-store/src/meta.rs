//! Bucket, object, upload and part records in redb.
//!
//! Tables (keys and values are bytes):
//! - `buckets`: bucket name → [`BucketRecord`]
//! - `versions`: bucket name, 0x00, object key, 0x00, version sequence → one
//!   [`ObjectRecord`] (an object version or a delete marker)
//! - `uploads`: bucket name, 0x00, object key, 0x00, upload id → [`UploadRecord`]
//! - `parts`: upload id, 0x00, part number (u32, big-endian) → [`PartRecord`]
//! - `bucket_configs`: bucket name, 0x00, kind → a configuration document
//! - `users`: user name → [`UserRecord`]
//! - `keys`: access key → [`KeyRecord`]
//! - `counters`: name → u64 (big-endian); `version` numbers every version ever
//!   written, so that no two versions share a sequence
//! - `inline_data`: data name → the bytes of a segment kept in the database
//!   ([`coffer_engine::Segment::inline`]), written and removed in the same
//!   transaction as the version that refers to it
//! - `bucket_usage`: bucket name → [`BucketUsage`], changed in the same
//!   transaction as every version or upload written or removed, so reading
//!   it is one lookup; absent for a bucket that holds nothing yet
//!
//! Bucket names and upload ids never contain 0x00, so one bucket's versions
//! (or uploads) form one contiguous range, ordered by the UTF-8 bytes of their
//! keys as S3 orders listings, and one upload's parts form one range in part
//! order. A version's sequence is stored inverted (`u64::MAX - sequence`,
//! big-endian), so one key's versions sort newest first and its current
//! version is the first row of its range. Version ids other than `null`
//! begin with the version's sequence in hex, so finding a version by id is
//! one lookup; the null version is found by walking the key's versions. Each part is its own row, so adding a part costs the same on the
//! ten-thousandth part as on the first. Every value is a format byte followed
//! by MessagePack with named fields, so fields can be added without rewriting
//! old records.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use bytes::Bytes;
use coffer_engine::{
    BucketChange, BucketRecord, BucketUsage, DeleteOptions, Deleted, EngineError, EngineResult, KeyRecord, ListEntry,
    ListPage, ListQuery, Listed, ListedVersion, NULL_VERSION_ID, ObjectChange, ObjectRecord, ObjectSummary, PartRecord,
    UploadRecord, UserRecord, WriteCondition,
};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::db_file::ZeroFilledFile;
use crate::group_commit::GroupCommit;
use crate::layout::sync_dir;

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

const BUCKETS: Table = TableDefinition::new("buckets");
const VERSIONS: Table = TableDefinition::new("versions");
/// Where Coffer before versioning kept one record per key; moved into
/// `versions` when such a database is opened.
const OBJECTS_BEFORE_VERSIONING: Table = TableDefinition::new("objects");
const UPLOADS: Table = TableDefinition::new("uploads");
const PARTS: Table = TableDefinition::new("parts");
const BUCKET_CONFIGS: Table = TableDefinition::new("bucket_configs");
const USERS: Table = TableDefinition::new("users");
const KEYS: Table = TableDefinition::new("keys");
const INLINE_DATA: Table = TableDefinition::new("inline_data");
const COUNTERS: TableDefinition<'static, &'static str, u64> = TableDefinition::new("counters");
const USAGE_TABLE_NAME: &str = "bucket_usage";
const USAGE: Table = TableDefinition::new(USAGE_TABLE_NAME);
const VERSION_COUNTER: &str = "version";

/// The bytes after a key in a `versions` key: the separator and the sequence.
const VERSION_SUFFIX_LEN: usize = 1 + 8;
/// Hex digits of the sequence, then of random bits, in a version id.
const VERSION_ID_HEX_LEN: usize = 32;

/// redb's page cache. The operating system's page cache holds the file too,
/// so this stays small, bounding the server's own memory whatever the store's
/// size.
const CACHE_BYTES: usize = 32 << 20;

/// The first byte of every stored value: the encoding that follows.
const RECORD_FORMAT_V1: u8 = 1;

/// Separates the parts of composite table keys; never part of a bucket name,
/// an upload id, or (in practice) a key.
const SEPARATOR: u8 = 0;

/// A byte that never occurs in UTF-8: every key that starts with some prefix
/// sorts before that prefix followed by this byte.
const AFTER_ALL_UTF8: u8 = 0xFF;

fn open_database(path: &Path) -> EngineResult<Database> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create_with_backend(ZeroFilledFile::open(path).map_err(internal)?)
        .map_err(internal)
}

/// Whether redb failed reading or writing its file (now, or earlier).
fn is_io(err: &redb::StorageError) -> bool {
    matches!(err, redb::StorageError::Io(_) | redb::StorageError::PreviousIo)
}

fn closed() -> EngineError {
    EngineError::Internal("the metadata database could not be reopened after an I/O error".into())
}

fn internal(err: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(err.to_string())
}

fn encode<T: Serialize>(record: &T) -> EngineResult<Vec<u8>> {
    let mut bytes = vec![RECORD_FORMAT_V1];
    rmp_serde::encode::write_named(&mut bytes, record).map_err(internal)?;
    Ok(bytes)
}

/// The MessagePack of a stored value, after its format byte.
fn record_body(bytes: &[u8]) -> EngineResult<&[u8]> {
    match bytes.split_first() {
        Some((&RECORD_FORMAT_V1, rest)) => Ok(rest),
        _ => Err(internal("record in an unknown format")),
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> EngineResult<T> {
    rmp_serde::from_slice(record_body(bytes)?).map_err(internal)
}

/// Joins the parts of a composite table key.
fn composite_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            bytes.push(SEPARATOR);
        }
        bytes.extend_from_slice(part);
    }
    bytes
}

/// `bucket`, 0x00, `key`: with an empty key, the start of the bucket's range
/// in `versions` and `uploads`; otherwise the start of the key's range.
fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    composite_key(&[bucket.as_bytes(), key.as_bytes()])
}

/// The `versions` key of the version of `key` with sequence `sequence`.
fn version_key(bucket: &str, key: &str, sequence: u64) -> Vec<u8> {
    composite_key(&[bucket.as_bytes(), key.as_bytes(), &(u64::MAX - sequence).to_be_bytes()])
}

/// The range of `versions` keys holding the versions of `key`, newest first.
fn key_versions(bucket: &str, key: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = object_key(bucket, key);
    start.push(SEPARATOR);
    let mut end = object_key(bucket, key);
    end.push(SEPARATOR + 1);
    (start, end)
}

/// A new version id: the sequence, so the id finds its row, then random
/// bits, so ids do not read as a counter.
fn new_version_id(sequence: u64) -> String {
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    format!("{sequence:016x}{random:016x}")
}

/// The sequence a version id was made from, if it is one of ours.
fn sequence_in(version_id: &str) -> Option<u64> {
    if version_id.len() != VERSION_ID_HEX_LEN || !version_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&version_id[..16], 16).ok()
}

fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    composite_key(&[bucket.as_bytes(), key.as_bytes(), upload_id.as_bytes()])
}

fn part_key(upload_id: &str, part_number: u32) -> Vec<u8> {
    composite_key(&[upload_id.as_bytes(), &part_number.to_be_bytes()])
}

/// The first key after every key that starts with `prefix`, when the byte
/// after the prefix is [`SEPARATOR`] or a UTF-8 byte.
fn after_prefix(mut prefix: Vec<u8>) -> Vec<u8> {
    prefix.push(AFTER_ALL_UTF8);
    prefix
}

/// The first key after every key of `bucket`'s range (`bucket`, 0x00, …).
fn bucket_range_end(bucket: &str) -> Vec<u8> {
    let mut end = bucket.as_bytes().to_vec();
    end.push(SEPARATOR + 1);
    end
}

fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> EngineResult<Option<T>> {
    table
        .get(key)
        .map_err(internal)?
        .map(|value| decode(value.value()))
        .transpose()
}

/// Every record of a table, in key order.
fn all<T: DeserializeOwned>(table: &impl ReadableTable<&'static [u8], &'static [u8]>) -> EngineResult<Vec<T>> {
    let mut records = Vec::new();
    for entry in table.iter().map_err(internal)? {
        let (_, value) = entry.map_err(internal)?;
        records.push(decode(value.value())?);
    }
    Ok(records)
}

fn require_bucket(txn_buckets: &impl ReadableTable<&'static [u8], &'static [u8]>, bucket: &str) -> EngineResult<()> {
    match txn_buckets.get(bucket.as_bytes()).map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(EngineError::NoSuchBucket(bucket.to_owned())),
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(bytes) => Bound::Included(bytes.as_slice()),
        Bound::Excluded(bytes) => Bound::Excluded(bytes.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn no_such_version(key: &str, version_id: Option<&str>) -> EngineError {
    EngineError::NoSuchVersion {
        key: key.to_owned(),
        version_id: version_id.unwrap_or_default().to_owned(),
    }
}

/// Removes an upload and all its parts in `txn`; returns the parts.
fn remove_upload(txn: &WriteTransaction, bucket: &str, key: &str, upload_id: &str) -> EngineResult<Vec<PartRecord>> {
    let mut uploads = txn.open_table(UPLOADS).map_err(internal)?;
    if uploads
        .remove(upload_key(bucket, key, upload_id).as_slice())
        .map_err(internal)?
        .is_none()
    {
        return Err(EngineError::NoSuchUpload(upload_id.to_owned()));
    }
    update_usage(txn, bucket, |usage| {
        usage.uploads = usage.uploads.saturating_sub(1);
        Ok(())
    })?;
    let mut parts_table = txn.open_table(PARTS).map_err(internal)?;
    let first = part_key(upload_id, 0);
    let end = after_prefix(upload_id.as_bytes().to_vec());
    let mut parts = Vec::new();
    for entry in parts_table
        .extract_from_if(first.as_slice()..end.as_slice(), |_, _| true)
        .map_err(internal)?
    {
        let (_, value) = entry.map_err(internal)?;
        parts.push(decode(value.value())?);
    }
    Ok(parts)
}

/// The metadata database.
pub struct Meta {
    /// First, so that when the database closes its committing thread has
    /// finished the batch it held.
    group: GroupCommit<WriteTransaction>,
    path: PathBuf,
    /// `None` only while a reopen has failed; the next write tries again.
    db: RwLock<Option<Database>>,
    /// Set by a failed commit: after any I/O error redb refuses every write
    /// (`PreviousIo`) until the database is opened again.
    reopen: Arc<AtomicBool>,
    snapshots: Arc<Snapshots>,
}

/// The snapshot reads share until the next commit, which marks it stale from
/// the committing thread.
#[derive(Default)]
struct Snapshots {
    /// Counts the commits (and reopens) that made earlier snapshots stale.
    commits: AtomicU64,
    current: RwLock<Option<Arc<Snapshot>>>,
}

impl Snapshots {
    /// Marks the snapshot stale, and lets it go once its readers are done: a
    /// live read transaction keeps the pages later commits free from being
    /// used again, so a snapshot must not outlive the commit after it.
    fn mark_stale(&self) {
        let mut current = self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.commits.fetch_add(1, Ordering::Release);
        current.take();
    }
}

/// Commits a batch, on the committing thread: syncs the directories its
/// writes' data files were renamed into, commits it durably, and marks the
/// snapshot before it stale. An I/O error marks the database for reopening.
fn commit_batch(
    txn: WriteTransaction,
    directories: &[PathBuf],
    reopen: &AtomicBool,
    snapshots: &Snapshots,
) -> EngineResult<()> {
    crash_point!("before-directory-fsync");
    for directory in directories {
        sync_dir(directory)?;
    }
    crash_point!("before-commit");
    txn.commit().map_err(|err| {
        mark_for_reopen(reopen, matches!(&err, redb::CommitError::Storage(err) if is_io(err)));
        internal(err)
    })?;
    snapshots.mark_stale();
    Ok(())
}

fn mark_for_reopen(reopen: &AtomicBool, failed_in_storage: bool) {
    if failed_in_storage {
        reopen.store(true, Ordering::Relaxed);
    }
}

/// A read transaction with its tables open, shared by every read until a
/// commit makes it stale: beginning a transaction and opening its tables cost
/// more than most reads themselves. A write returns only after its commit has
/// made the snapshot before it stale, so a read that starts after a write's
/// answer sees that write.
struct Snapshot {
    /// [`Snapshots::commits`] when the snapshot was taken.
    taken_at: u64,
    buckets: ReadOnlyTable<&'static [u8], &'static [u8]>,
    versions: ReadOnlyTable<&'static [u8], &'static [u8]>,
    uploads: ReadOnlyTable<&'static [u8], &'static [u8]>,
    parts: ReadOnlyTable<&'static [u8], &'static [u8]>,
    configs: ReadOnlyTable<&'static [u8], &'static [u8]>,
    users: ReadOnlyTable<&'static [u8], &'static [u8]>,
    keys: ReadOnlyTable<&'static [u8], &'static [u8]>,
    usage: ReadOnlyTable<&'static [u8], &'static [u8]>,
    inline_data: ReadOnlyTable<&'static [u8], &'static [u8]>,
    found: Mutex<Found>,
}

/// How many latest versions one snapshot keeps decoded.
const FOUND_VERSIONS_AT_MOST: usize = 4096;
/// How many bytes of inline bodies one snapshot keeps.
const FOUND_INLINE_BYTES_AT_MOST: usize = 16 << 20;

/// Lookups a snapshot serves before it keeps what they find: a snapshot
/// that writes end within a few lookups would pay for keeping and get
/// nothing back.
const FOUND_AFTER_LOOKUPS: u32 = 64;

/// What reads through one snapshot found, kept for the snapshot's life so
/// that a key read again is neither looked up nor decoded again: a small
/// object's GET spent ~15% of its CPU in those lookups. The commit that ends
/// the snapshot ends this too, so nothing here is older than what the
/// snapshot itself would return. Past its bounds it stops taking more.
#[derive(Default)]
struct Found {
    lookups: u32,
    /// The latest version of "bucket/key" (a bucket name has no `/`).
    latest: HashMap<String, Arc<ObjectRecord>>,
    /// Inline bodies by data name.
    inline: HashMap<String, Bytes>,
    inline_bytes: usize,
}

impl Found {
    /// Counts a lookup that found nothing kept, and says whether to keep
    /// what it finds.
    fn keeps_after_lookup(&mut self) -> bool {
        self.lookups = self.lookups.saturating_add(1);
        self.lookups > FOUND_AFTER_LOOKUPS
    }
}

impl Snapshot {
    fn found(&self) -> MutexGuard<'_, Found> {
        // What a panicking reader left is still what the snapshot holds.
        self.found.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The latest version of `key`, decoded once.
    fn latest_version(&self, bucket: &str, key: &str) -> EngineResult<ObjectRecord> {
        let name = format!("{bucket}/{key}");
        if let Some(object) = self.found().latest.get(&name).cloned() {
            return Ok(ObjectRecord::clone(&object));
        }
        require_bucket(&self.buckets, bucket)?;
        let (_, object) = existing_version(&self.versions, bucket, key, None)?;
        let mut found = self.found();
        if found.keeps_after_lookup() && found.latest.len() < FOUND_VERSIONS_AT_MOST {
            found.latest.insert(name, Arc::new(object.clone()));
        }
        Ok(object)
    }

    fn open(txn: &ReadTransaction, taken_at: u64) -> EngineResult<Snapshot> {
        let table = |definition: Table| txn.open_table(definition).map_err(internal);
        Ok(Snapshot {
            taken_at,
            buckets: table(BUCKETS)?,
            versions: table(VERSIONS)?,
            uploads: table(UPLOADS)?,
            parts: table(PARTS)?,
            configs: table(BUCKET_CONFIGS)?,
            users: table(USERS)?,
            keys: table(KEYS)?,
            usage: table(USAGE)?,
            inline_data: table(INLINE_DATA)?,
            found: Mutex::default(),
        })
    }
}

impl Meta {
    pub fn open(path: &Path) -> EngineResult<Meta> {
        let db = open_database(path)?;
        let txn = db.begin_write().map_err(internal)?;
        let usage_kept = txn
            .list_tables()
            .map_err(internal)?
            .any(|table| table.name() == USAGE_TABLE_NAME);
        for table in [
            BUCKETS,
            VERSIONS,
            UPLOADS,
            PARTS,
            BUCKET_CONFIGS,
            USERS,
            KEYS,
            USAGE,
            INLINE_DATA,
        ] {
            txn.open_table(table).map_err(internal)?;
        }
        txn.open_table(COUNTERS).map_err(internal)?;
        move_objects_into_versions(&txn)?;
        if !usage_kept {
            count_usage(&txn)?;
        }
        txn.commit().map_err(internal)?;
        let reopen = Arc::new(AtomicBool::new(false));
        let snapshots = Arc::new(Snapshots::default());
        let group = GroupCommit::new({
            let (reopen, snapshots) = (Arc::clone(&reopen), Arc::clone(&snapshots));
            move |txn, directories| commit_batch(txn, directories, &reopen, &snapshots)
        })?;
        Ok(Meta {
            group,
            path: path.to_owned(),
            db: RwLock::new(Some(db)),
            reopen,
            snapshots,
        })
    }

    fn database(&self) -> RwLockReadGuard<'_, Option<Database>> {
        self.db.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Begins a write transaction, on a reopened database if an I/O error
    /// left redb refusing every write: one the last write met inside its
    /// transaction (a growth of the file that did not fit, say) is only
    /// reported here.
    fn begin_batch(&self) -> EngineResult<WriteTransaction> {
        self.reopen_after_failure()?;
        self.begin_write().or_else(|err| {
            if !self.reopen.load(Ordering::Relaxed) {
                return Err(err);
            }
            self.reopen_after_failure()?;
            self.begin_write()
        })
    }

    /// Begins a write transaction; an I/O error marks the database for
    /// reopening.
    fn begin_write(&self) -> EngineResult<WriteTransaction> {
        let database = self.database();
        let db = database.as_ref().ok_or_else(closed)?;
        db.begin_write().map_err(|err| {
            mark_for_reopen(
                &self.reopen,
                matches!(&err, redb::TransactionError::Storage(err) if is_io(err)),
            );
            internal(err)
        })
    }

    /// Opens the database again after an I/O error (a full volume, say), so
    /// that writes resume once the cause is gone instead of after a restart.
    /// The commits made since the last durable one are lost, as in a crash;
    /// their writers were answered with an error.
    fn reopen_after_failure(&self) -> EngineResult<()> {
        if !self.reopen.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut database = self.db.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !self.reopen.load(Ordering::Relaxed) {
            return Ok(());
        }
        // redb holds the file until the old handle, and every snapshot of
        // it, is gone: drop them first.
        self.snapshots.mark_stale();
        database.take();
        *database = Some(open_database(&self.path)?);
        self.reopen.store(false, Ordering::Relaxed);
        tracing::warn!(path = %self.path.display(), "reopened the metadata database after an I/O error");
        Ok(())
    }

    /// Runs `work` in a write transaction and returns once that transaction
    /// has committed durably: concurrent writes share one transaction and
    /// one commit (see [`crate::group_commit`]). `work` may run more than
    /// once, and is answered from its last run.
    async fn write<T>(&self, work: impl FnMut(&WriteTransaction) -> EngineResult<T>) -> EngineResult<T> {
        let result = self.group.write(|| self.begin_batch(), work).await?;
        crash_point!("after-commit");
        Ok(result)
    }

    /// Notes that `directory` gained an entry that the next write will refer
    /// to: the entry is made durable before that write is.
    pub fn directory_changed(&self, directory: PathBuf) {
        self.group.directory_changed(directory);
    }

    /// The current snapshot, taken anew if a commit has made the last one
    /// stale.
    fn read(&self) -> EngineResult<Arc<Snapshot>> {
        let commits = self.snapshots.commits.load(Ordering::Acquire);
        let cached = self
            .snapshots
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(snapshot) = cached.as_ref().filter(|snapshot| snapshot.taken_at == commits) {
            return Ok(Arc::clone(snapshot));
        }
        drop(cached);
        let txn = {
            let database = self.database();
            database.as_ref().ok_or_else(closed)?.begin_read().map_err(internal)?
        };
        let snapshot = Arc::new(Snapshot::open(&txn, commits)?);
        let mut cached = self
            .snapshots
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A commit since `commits` was read has already made this stale.
        if self.snapshots.commits.load(Ordering::Acquire) == commits {
            *cached = Some(Arc::clone(&snapshot));
        }
        Ok(snapshot)
    }

    pub async fn create_bucket(&self, bucket: &BucketRecord) -> EngineResult<()> {
        self.write(|txn| {
            let mut buckets = txn.open_table(BUCKETS).map_err(internal)?;
            if let Some(existing) = get::<BucketRecord>(&buckets, bucket.name.as_bytes())? {
                return Err(EngineError::BucketExists {
                    name: existing.name,
                    owner: existing.owner,
                });
            }
            buckets
                .insert(bucket.name.as_bytes(), encode(bucket)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
        .await
    }

    pub fn bucket(&self, name: &str) -> EngineResult<BucketRecord> {
        get(&self.read()?.buckets, name.as_bytes())?.ok_or_else(|| EngineError::NoSuchBucket(name.to_owned()))
    }

    pub fn list_buckets(&self) -> EngineResult<Vec<BucketRecord>> {
        all(&self.read()?.buckets)
    }

    pub fn bucket_usage(&self, bucket: &str) -> EngineResult<BucketUsage> {
        let snapshot = self.read()?;
        require_bucket(&snapshot.buckets, bucket)?;
        Ok(get(&snapshot.usage, bucket.as_bytes())?.unwrap_or_default())
    }

    /// Removes an empty bucket, aborting its uploads in progress; returns the
    /// parts of those uploads, whose data the caller frees.
    pub async fn delete_bucket(&self, name: &str) -> EngineResult<Vec<PartRecord>> {
        self.write(|txn| {
            let mut buckets = txn.open_table(BUCKETS).map_err(internal)?;
            require_bucket(&buckets, name)?;
            let first = object_key(name, "");
            let versions = txn.open_table(VERSIONS).map_err(internal)?;
            let mut in_bucket = versions.range(first.as_slice()..).map_err(internal)?;
            if let Some(entry) = in_bucket.next() {
                let (key, _) = entry.map_err(internal)?;
                if key.value().starts_with(&first) {
                    return Err(EngineError::BucketNotEmpty(name.to_owned()));
                }
            }
            let mut uploads_in_bucket = Vec::new();
            {
                let uploads = txn.open_table(UPLOADS).map_err(internal)?;
                let end = bucket_range_end(name);
                for entry in uploads.range(first.as_slice()..end.as_slice()).map_err(internal)? {
                    let (_, value) = entry.map_err(internal)?;
                    uploads_in_bucket.push(decode::<UploadRecord>(value.value())?);
                }
            }
            let mut parts = Vec::new();
            for upload in uploads_in_bucket {
                parts.extend(remove_upload(txn, name, &upload.key, &upload.upload_id)?);
            }
            buckets.remove(name.as_bytes()).map_err(internal)?;
            txn.open_table(USAGE)
                .map_err(internal)?
                .remove(name.as_bytes())
                .map_err(internal)?;
            let end = bucket_range_end(name);
            txn.open_table(BUCKET_CONFIGS)
                .map_err(internal)?
                .retain_in(first.as_slice()..end.as_slice(), |_, _| false)
                .map_err(internal)?;
            Ok(parts)
        })
        .await
    }

    /// Writes `object` as the current version of its key if `condition`
    /// holds; returns the record as stored and the version it displaced.
    /// `inline_data` is the bytes of its one segment when that segment is
    /// [`coffer_engine::Segment::inline`].
    pub async fn put_object(
        &self,
        bucket: &str,
        object: ObjectRecord,
        condition: &WriteCondition,
        inline_data: Option<&[u8]>,
    ) -> EngineResult<(ObjectRecord, Option<ObjectRecord>)> {
        self.write(|txn| {
            if let (Some(data), [segment]) = (inline_data, object.segments.as_slice()) {
                txn.open_table(INLINE_DATA)
                    .map_err(internal)?
                    .insert(segment.blob.as_bytes(), data)
                    .map_err(internal)?;
            }
            write_version(txn, bucket, object.clone(), condition)
        })
        .await
    }

    /// The bytes of an inline segment; `None` once its version is removed.
    pub fn inline_data(&self, blob: &str) -> EngineResult<Option<Bytes>> {
        let snapshot = self.read()?;
        if let Some(data) = snapshot.found().inline.get(blob) {
            return Ok(Some(data.clone()));
        }
        let Some(data) = snapshot.inline_data.get(blob.as_bytes()).map_err(internal)? else {
            return Ok(None);
        };
        let data = Bytes::copy_from_slice(data.value());
        let mut found = snapshot.found();
        if found.keeps_after_lookup()
            && found.inline_bytes + data.len() <= FOUND_INLINE_BYTES_AT_MOST
            && found.inline.insert(blob.to_owned(), data.clone()).is_none()
        {
            found.inline_bytes += data.len();
        }
        Ok(Some(data))
    }

    pub fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord> {
        let snapshot = self.read()?;
        let Some(version_id) = version_id else {
            return snapshot.latest_version(bucket, key);
        };
        require_bucket(&snapshot.buckets, bucket)?;
        existing_version(&snapshot.versions, bucket, key, Some(version_id)).map(|(_, object)| object)
    }

    pub async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: ObjectChange,
    ) -> EngineResult<ObjectRecord> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut versions = txn.open_table(VERSIONS).map_err(internal)?;
            let (row, mut object) = existing_version(&versions, bucket, key, version_id)?;
            change(&mut object).map_err(EngineError::Rejected)?;
            versions
                .insert(row.as_slice(), encode(&object)?.as_slice())
                .map_err(internal)?;
            Ok(object)
        })
        .await
    }

    pub async fn update_bucket(&self, name: &str, change: BucketChange) -> EngineResult<BucketRecord> {
        self.write(|txn| {
            let mut buckets = txn.open_table(BUCKETS).map_err(internal)?;
            let mut bucket: BucketRecord =
                get(&buckets, name.as_bytes())?.ok_or_else(|| EngineError::NoSuchBucket(name.to_owned()))?;
            change(&mut bucket).map_err(EngineError::Rejected)?;
            buckets
                .insert(name.as_bytes(), encode(&bucket)?.as_slice())
                .map_err(internal)?;
            Ok(bucket)
        })
        .await
    }

    /// Deletes as [`coffer_engine::Engine::delete_object`] describes; returns
    /// what S3 reports and the version removed, whose data the caller frees.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        options: &DeleteOptions,
    ) -> EngineResult<(Deleted, Option<ObjectRecord>)> {
        self.write(|txn| {
            let bucket_record = bucket_record(txn, bucket)?;
            let mut versions = txn.open_table(VERSIONS).map_err(internal)?;
            if let Some(version_id) = version_id {
                let Some((row, removed)) = named_version(&versions, bucket, key, version_id)? else {
                    let nothing = Deleted {
                        version_id: Some(version_id.to_owned()),
                        delete_marker: false,
                    };
                    return Ok((nothing, None));
                };
                check_removable(&removed, options.bypass_governance)?;
                remove_version(txn, &mut versions, &row, &removed)?;
                release(txn, bucket, &removed)?;
                let deleted = Deleted {
                    version_id: Some(removed.version_id.clone()),
                    delete_marker: removed.delete_marker,
                };
                return Ok((deleted, Some(removed)));
            }
            let removed = if bucket_record.versioning_enabled() {
                None
            } else {
                remove_null_version(txn, &mut versions, bucket, key, options.bypass_governance)?
            };
            if let Some(removed) = &removed {
                release(txn, bucket, removed)?;
            }
            if bucket_record.versioning.is_none() {
                return Ok((Deleted::default(), removed));
            }
            let sequence = next_sequence(txn)?;
            let version_id = if bucket_record.versioning_enabled() {
                new_version_id(sequence)
            } else {
                NULL_VERSION_ID.to_owned()
            };
            let marker = ObjectRecord::delete_marker(key, version_id.clone(), &options.owner);
            versions
                .insert(
                    version_key(bucket, key, sequence).as_slice(),
                    encode(&marker)?.as_slice(),
                )
                .map_err(internal)?;
            let deleted = Deleted {
                version_id: Some(version_id),
                delete_marker: true,
            };
            Ok((deleted, removed))
        })
        .await
    }

    /// One page of the current versions of a bucket's keys; see [`ListQuery`].
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage<ObjectSummary>> {
        let snapshot = self.read()?;
        let start = query.start_after.as_deref().map(|after| key_versions(bucket, after).1);
        let listing = Listing {
            table: |snapshot| &snapshot.versions,
            key_of: key_of_version,
            current_only: true,
        };
        let start = start.map_or(Bound::Unbounded, Bound::Included);
        list(&snapshot, &listing, bucket, query, start, |object: &ObjectSummary| {
            !object.delete_marker
        })
    }

    /// One page of all versions and delete markers of a bucket's keys.
    pub fn list_object_versions(
        &self,
        bucket: &str,
        query: &ListQuery,
        version_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<ListedVersion>> {
        let snapshot = self.read()?;
        require_bucket(&snapshot.buckets, bucket)?;
        let versions = &snapshot.versions;
        // The row the page starts after, when it starts within a key.
        let mut marker_row = None;
        let start = match (query.start_after.as_deref(), version_id_marker) {
            (Some(after), Some(version_id)) => {
                let row = match sequence_in(version_id) {
                    Some(sequence) => Some(version_key(bucket, after, sequence)),
                    None if version_id == NULL_VERSION_ID => {
                        named_version(versions, bucket, after, version_id)?.map(|(row, _)| row)
                    }
                    None => return Err(EngineError::InvalidVersionId(version_id.to_owned())),
                };
                marker_row = row.clone();
                match row {
                    Some(row) => Bound::Excluded(row),
                    None => Bound::Included(key_versions(bucket, after).1),
                }
            }
            (Some(after), None) => Bound::Included(key_versions(bucket, after).1),
            (None, _) => Bound::Unbounded,
        };
        let listing = Listing {
            table: |snapshot| &snapshot.versions,
            key_of: key_of_version,
            current_only: false,
        };
        let page = list(&snapshot, &listing, bucket, query, start, |_: &ObjectRecord| true)?;

        // A version is its key's latest when no row of its key precedes it:
        // on this page that is the previous item; before the page, the rows
        // of the marker's key up to and including the marker.
        let mut previous_key: Option<String> = None;
        let mut entries = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            let entry = match entry {
                ListEntry::Item(object) => {
                    let is_latest = match (&previous_key, &marker_row) {
                        (Some(previous), _) => *previous != object.key,
                        (None, Some(marker_row)) if Some(object.key.as_str()) == query.start_after.as_deref() => {
                            let (key_start, _) = key_versions(bucket, &object.key);
                            let mut before = versions
                                .range(key_start.as_slice()..=marker_row.as_slice())
                                .map_err(internal)?;
                            before.next().is_none()
                        }
                        (None, _) => true,
                    };
                    previous_key = Some(object.key.clone());
                    ListEntry::Item(Box::new(ListedVersion {
                        object: *object,
                        is_latest,
                    }))
                }
                ListEntry::CommonPrefix(prefix) => {
                    previous_key = None;
                    ListEntry::CommonPrefix(prefix)
                }
            };
            entries.push(entry);
        }
        Ok(ListPage {
            entries,
            truncated: page.truncated,
        })
    }

    /// One page of the uploads in progress in a bucket, by key then upload id.
    pub fn list_uploads(
        &self,
        bucket: &str,
        query: &ListQuery,
        upload_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<UploadRecord>> {
        let snapshot = self.read()?;
        let start = query.start_after.as_deref().map(|after| match upload_id_marker {
            Some(upload_id) => upload_key(bucket, after, upload_id),
            None => after_prefix(object_key(bucket, after)),
        });
        let listing = Listing {
            table: |snapshot| &snapshot.uploads,
            key_of: key_of_upload,
            current_only: false,
        };
        let start = start.map_or(Bound::Unbounded, Bound::Excluded);
        list(&snapshot, &listing, bucket, query, start, |_: &UploadRecord| true)
    }

    pub async fn create_upload(&self, bucket: &str, upload: &UploadRecord) -> EngineResult<()> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut uploads = txn.open_table(UPLOADS).map_err(internal)?;
            uploads
                .insert(
                    upload_key(bucket, &upload.key, &upload.upload_id).as_slice(),
                    encode(upload)?.as_slice(),
                )
                .map_err(internal)?;
            update_usage(txn, bucket, |usage| {
                usage.uploads += 1;
                Ok(())
            })
        })
        .await
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<UploadRecord> {
        let snapshot = self.read()?;
        require_bucket(&snapshot.buckets, bucket)?;
        get(&snapshot.uploads, &upload_key(bucket, key, upload_id))?
            .ok_or_else(|| EngineError::NoSuchUpload(upload_id.to_owned()))
    }

    /// Records a part if its upload still exists; returns the part it replaced.
    /// This check, in the same transaction as the insert, is what makes an
    /// abort definitive: once the abort commits, no part can.
    pub async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: &PartRecord,
    ) -> EngineResult<Option<PartRecord>> {
        self.write(|txn| {
            let uploads = txn.open_table(UPLOADS).map_err(internal)?;
            if uploads
                .get(upload_key(bucket, key, upload_id).as_slice())
                .map_err(internal)?
                .is_none()
            {
                return Err(EngineError::NoSuchUpload(upload_id.to_owned()));
            }
            let mut parts = txn.open_table(PARTS).map_err(internal)?;
            parts
                .insert(
                    part_key(upload_id, part.part_number).as_slice(),
                    encode(part)?.as_slice(),
                )
                .map_err(internal)?
                .map(|old| decode(old.value()))
                .transpose()
        })
        .await
    }

    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        max_parts: usize,
    ) -> EngineResult<(Vec<PartRecord>, bool)> {
        let snapshot = self.read()?;
        if snapshot
            .uploads
            .get(upload_key(bucket, key, upload_id).as_slice())
            .map_err(internal)?
            .is_none()
        {
            return Err(EngineError::NoSuchUpload(upload_id.to_owned()));
        }
        let first = part_key(upload_id, after);
        let end = after_prefix(upload_id.as_bytes().to_vec());
        let mut parts = Vec::new();
        let range = snapshot
            .parts
            .range::<&[u8]>((Bound::Excluded(first.as_slice()), Bound::Excluded(end.as_slice())))
            .map_err(internal)?;
        for entry in range.take(max_parts + 1) {
            let (_, value) = entry.map_err(internal)?;
            parts.push(decode(value.value())?);
        }
        let truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        Ok((parts, truncated))
    }

    /// Ends an upload by committing `object`, whose segments must each be the
    /// part they name. Returns the replaced version and the parts left out.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectRecord,
        condition: &WriteCondition,
    ) -> EngineResult<(ObjectRecord, Option<ObjectRecord>, Vec<PartRecord>)> {
        self.write(|txn| {
            let mut unused = remove_upload(txn, bucket, &object.key, upload_id)?;
            for segment in &object.segments {
                let at = unused
                    .iter()
                    .position(|part| part.part_number == segment.part_number && part.blob == segment.blob)
                    .ok_or(EngineError::InvalidPart(segment.part_number))?;
                unused.swap_remove(at);
            }
            let (stored, displaced) = write_version(txn, bucket, object.clone(), condition)?;
            Ok((stored, displaced, unused))
        })
        .await
    }

    /// Ends an upload without an object; returns its parts.
    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<Vec<PartRecord>> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            remove_upload(txn, bucket, key, upload_id)
        })
        .await
    }

    pub async fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<&[u8]>) -> EngineResult<()> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut configs = txn.open_table(BUCKET_CONFIGS).map_err(internal)?;
            let id = object_key(bucket, kind);
            match document {
                Some(document) => configs.insert(id.as_slice(), document).map_err(internal)?,
                None => configs.remove(id.as_slice()).map_err(internal)?,
            };
            Ok(())
        })
        .await
    }

    pub fn bucket_config(&self, bucket: &str, kind: &str) -> EngineResult<Option<Vec<u8>>> {
        let snapshot = self.read()?;
        require_bucket(&snapshot.buckets, bucket)?;
        let found = snapshot
            .configs
            .get(object_key(bucket, kind).as_slice())
            .map_err(internal)?;
        Ok(found.map(|value| value.value().to_vec()))
    }

    pub async fn create_user(&self, user: &UserRecord) -> EngineResult<()> {
        self.write(|txn| {
            let mut users = txn.open_table(USERS).map_err(internal)?;
            if users.get(user.name.as_bytes()).map_err(internal)?.is_some() {
                return Err(EngineError::UserExists(user.name.clone()));
            }
            users
                .insert(user.name.as_bytes(), encode(user)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
        .await
    }

    pub async fn delete_user(&self, name: &str) -> EngineResult<Vec<KeyRecord>> {
        self.write(|txn| {
            let mut users = txn.open_table(USERS).map_err(internal)?;
            let Some(user) = get::<UserRecord>(&users, name.as_bytes())? else {
                return Err(EngineError::NoSuchUser(name.to_owned()));
            };
            for bucket in all::<BucketRecord>(&txn.open_table(BUCKETS).map_err(internal)?)? {
                if bucket.owner == user.id {
                    return Err(EngineError::UserOwnsBuckets(name.to_owned()));
                }
            }
            users.remove(name.as_bytes()).map_err(internal)?;
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            let mut removed = Vec::new();
            for entry in keys
                .extract_if(|_, value| decode::<KeyRecord>(value).is_ok_and(|key| key.user == name))
                .map_err(internal)?
            {
                let (_, value) = entry.map_err(internal)?;
                removed.push(decode(value.value())?);
            }
            Ok(removed)
        })
        .await
    }

    pub fn list_users(&self) -> EngineResult<Vec<UserRecord>> {
        all(&self.read()?.users)
    }

    pub async fn create_key(&self, key: &KeyRecord) -> EngineResult<()> {
        self.write(|txn| {
            if get::<UserRecord>(&txn.open_table(USERS).map_err(internal)?, key.user.as_bytes())?.is_none() {
                return Err(EngineError::NoSuchUser(key.user.clone()));
            }
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            if keys.get(key.access_key.as_bytes()).map_err(internal)?.is_some() {
                return Err(EngineError::AccessKeyExists(key.access_key.clone()));
            }
            keys.insert(key.access_key.as_bytes(), encode(key)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
        .await
    }

    pub async fn update_key(&self, key: &KeyRecord) -> EngineResult<()> {
        self.write(|txn| {
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            if keys.get(key.access_key.as_bytes()).map_err(internal)?.is_none() {
                return Err(EngineError::NoSuchAccessKey(key.access_key.clone()));
            }
            keys.insert(key.access_key.as_bytes(), encode(key)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
        .await
    }

    pub async fn delete_key(&self, access_key: &str) -> EngineResult<KeyRecord> {
        self.write(|txn| {
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            let removed = keys.remove(access_key.as_bytes()).map_err(internal)?;
            match removed {
                Some(value) => decode(value.value()),
                None => Err(EngineError::NoSuchAccessKey(access_key.to_owned())),
            }
        })
        .await
    }

    pub fn list_keys(&self) -> EngineResult<Vec<KeyRecord>> {
        all(&self.read()?.keys)
    }

    /// Every data file name that some record refers to.
    pub fn referenced_blobs(&self) -> EngineResult<HashSet<String>> {
        let snapshot = self.read()?;
        let mut blobs = HashSet::new();
        for entry in snapshot.versions.iter().map_err(internal)? {
            let (_, value) = entry.map_err(internal)?;
            let object: ObjectRecord = decode(value.value())?;
            blobs.extend(object.segments.into_iter().map(|segment| segment.blob));
        }
        for entry in snapshot.parts.iter().map_err(internal)? {
            let (_, value) = entry.map_err(internal)?;
            blobs.insert(decode::<PartRecord>(value.value())?.blob);
        }
        Ok(blobs)
    }
}

/// Moves the records of a database written before versioning, one per key,
/// into `versions`, each as its key's only version.
fn move_objects_into_versions(txn: &WriteTransaction) -> EngineResult<()> {
    let mut versions = txn.open_table(VERSIONS).map_err(internal)?;
    {
        let mut objects = txn.open_table(OBJECTS_BEFORE_VERSIONING).map_err(internal)?;
        for entry in objects.extract_if(|_, _| true).map_err(internal)? {
            let (stored_key, value) = entry.map_err(internal)?;
            let mut row = stored_key.value().to_vec();
            row.push(SEPARATOR);
            row.extend_from_slice(&(u64::MAX - next_sequence(txn)?).to_be_bytes());
            versions.insert(row.as_slice(), value.value()).map_err(internal)?;
        }
    }
    txn.delete_table(OBJECTS_BEFORE_VERSIONING).map_err(internal)?;
    Ok(())
}

/// The object key in a `versions` key's part after the bucket.
fn key_of_version(suffix: &[u8]) -> &[u8] {
    &suffix[..suffix.len().saturating_sub(VERSION_SUFFIX_LEN)]
}

/// The object key in an `uploads` key's part after the bucket (key, 0x00, upload id).
fn key_of_upload(suffix: &[u8]) -> &[u8] {
    match suffix.iter().rposition(|b| *b == SEPARATOR) {
        Some(end) => &suffix[..end],
        None => suffix,
    }
}

/// Which table a listing reads, and how.
struct Listing {
    table: fn(&Snapshot) -> &ReadOnlyTable<&'static [u8], &'static [u8]>,
    /// Finds the object key in a table key's part after the bucket.
    key_of: fn(&[u8]) -> &[u8],
    /// List only the first row of each key (its current version).
    current_only: bool,
}

/// A listed table's record, as a listing reads it.
trait Listable: Listed + Sized {
    fn from_stored(bytes: &[u8]) -> EngineResult<Self>;
}

impl Listable for ObjectRecord {
    fn from_stored(bytes: &[u8]) -> EngineResult<Self> {
        decode(bytes)
    }
}

impl Listable for UploadRecord {
    fn from_stored(bytes: &[u8]) -> EngineResult<Self> {
        decode(bytes)
    }
}

impl Listable for ObjectSummary {
    fn from_stored(bytes: &[u8]) -> EngineResult<Self> {
        crate::summary::decode(record_body(bytes)?)
    }
}

/// How many older versions of one key a listing of current versions steps
/// over before it seeks past the rest instead.
const OLDER_VERSIONS_STEPPED_MAX: usize = 16;

/// One page of a bucket's range of a table with S3's listing semantics,
/// starting at `start` (a table key), or at the query's prefix when that
/// comes later. Rows for which `visible` is false are left out; when the
/// listing lists current versions only, so is the rest of their key.
fn list<T: Listable>(
    snapshot: &Snapshot,
    listing: &Listing,
    bucket: &str,
    query: &ListQuery,
    start: Bound<Vec<u8>>,
    visible: impl Fn(&T) -> bool,
) -> EngineResult<ListPage<T>> {
    require_bucket(&snapshot.buckets, bucket)?;
    let records = (listing.table)(snapshot);
    let bucket_start = object_key(bucket, "").len();
    let prefix_start = object_key(bucket, &query.prefix);
    let mut lower = match start {
        Bound::Included(row) | Bound::Excluded(row) if row <= prefix_start => Bound::Included(prefix_start),
        Bound::Unbounded => Bound::Included(prefix_start),
        start => start,
    };
    let upper = Bound::Excluded(bucket_range_end(bucket));

    let wanted = query.max_keys + 1;
    let mut entries: Vec<ListEntry<T>> = Vec::new();
    // The key whose first row was the last one handled, and how many of its
    // older rows were stepped over since.
    let mut current_key: Vec<u8> = Vec::new();
    let mut older_rows = 0;
    'seek: while entries.len() < wanted {
        let range = records
            .range::<&[u8]>((as_slice(&lower), as_slice(&upper)))
            .map_err(internal)?;
        for entry in range {
            let (stored_key, value) = entry.map_err(internal)?;
            let key_bytes = (listing.key_of)(&stored_key.value()[bucket_start..]);
            let key = std::str::from_utf8(key_bytes).map_err(internal)?;
            if !key.starts_with(query.prefix.as_str()) {
                break 'seek;
            }
            if listing.current_only {
                if !current_key.is_empty() && current_key == key_bytes {
                    older_rows += 1;
                    if older_rows > OLDER_VERSIONS_STEPPED_MAX {
                        lower = Bound::Included(key_versions(bucket, key).1);
                        continue 'seek;
                    }
                    continue;
                }
                current_key.clear();
                current_key.extend_from_slice(key_bytes);
                older_rows = 0;
            }
            let common_prefix = query
                .delimiter
                .as_deref()
                .filter(|d| !d.is_empty())
                .and_then(|delimiter| {
                    key[query.prefix.len()..]
                        .find(delimiter)
                        .map(|at| &key[..query.prefix.len() + at + delimiter.len()])
                });
            let record = T::from_stored(value.value())?;
            if !visible(&record) {
                continue;
            }
            if let Some(common_prefix) = common_prefix {
                let seen = query.start_after.as_deref().is_some_and(|after| common_prefix <= after);
                if !seen {
                    entries.push(ListEntry::CommonPrefix(common_prefix.to_owned()));
                }
                lower = Bound::Excluded(after_prefix(object_key(bucket, common_prefix)));
                current_key.clear();
                continue 'seek;
            }
            entries.push(ListEntry::Item(Box::new(record)));
            if entries.len() == wanted {
                break 'seek;
            }
        }
        break;
    }
    let truncated = entries.len() > query.max_keys;
    entries.truncate(query.max_keys);
    Ok(ListPage { entries, truncated })
}

/// A version's row in `versions`, and its record.
type VersionRow = (Vec<u8>, ObjectRecord);

/// The current version (or delete marker) of `key`.
fn current_version(
    versions: &impl ReadableTable<&'static [u8], &'static [u8]>,
    bucket: &str,
    key: &str,
) -> EngineResult<Option<VersionRow>> {
    let (start, end) = key_versions(bucket, key);
    let mut rows = versions.range(start.as_slice()..end.as_slice()).map_err(internal)?;
    match rows.next() {
        Some(row) => {
            let (row, value) = row.map_err(internal)?;
            Ok(Some((row.value().to_vec(), decode(value.value())?)))
        }
        None => Ok(None),
    }
}

/// The version (or delete marker) of `key` whose id is `version_id`.
fn named_version(
    versions: &impl ReadableTable<&'static [u8], &'static [u8]>,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> EngineResult<Option<VersionRow>> {
    if version_id == NULL_VERSION_ID {
        let (start, end) = key_versions(bucket, key);
        for row in versions.range(start.as_slice()..end.as_slice()).map_err(internal)? {
            let (row, value) = row.map_err(internal)?;
            let object: ObjectRecord = decode(value.value())?;
            if object.version_id == NULL_VERSION_ID {
                return Ok(Some((row.value().to_vec(), object)));
            }
        }
        return Ok(None);
    }
    let sequence = sequence_in(version_id).ok_or_else(|| EngineError::InvalidVersionId(version_id.to_owned()))?;
    let row = version_key(bucket, key, sequence);
    let object = get::<ObjectRecord>(versions, &row)?.filter(|object| object.version_id == version_id);
    Ok(object.map(|object| (row, object)))
}

/// The version a read or an update addresses: the current one, or the one
/// named. It must exist and must not be a delete marker.
fn existing_version(
    versions: &impl ReadableTable<&'static [u8], &'static [u8]>,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> EngineResult<VersionRow> {
    let found = match version_id {
        Some(version_id) => named_version(versions, bucket, key, version_id)?,
        None => current_version(versions, bucket, key)?,
    };
    match found {
        Some((_, object)) if object.delete_marker => Err(EngineError::DeleteMarker {
            key: key.to_owned(),
            version_id: object.version_id,
            named: version_id.is_some(),
        }),
        Some(found) => Ok(found),
        None if version_id.is_some() => Err(no_such_version(key, version_id)),
        None => Err(EngineError::NoSuchKey(key.to_owned())),
    }
}

/// Refuses to remove a version under a legal hold or unexpired retention.
fn check_removable(object: &ObjectRecord, bypass_governance: bool) -> EngineResult<()> {
    match &object.lock {
        Some(lock) if lock.forbids_removal(OffsetDateTime::now_utc(), bypass_governance) => {
            Err(EngineError::ObjectLocked {
                key: object.key.clone(),
                version_id: object.version_id.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Removes the null version of `key`, if there is one and it may be removed;
/// returns it.
fn remove_null_version(
    txn: &WriteTransaction,
    versions: &mut redb::Table<&'static [u8], &'static [u8]>,
    bucket: &str,
    key: &str,
    bypass_governance: bool,
) -> EngineResult<Option<ObjectRecord>> {
    let Some((row, null_version)) = named_version(versions, bucket, key, NULL_VERSION_ID)? else {
        return Ok(None);
    };
    check_removable(&null_version, bypass_governance)?;
    remove_version(txn, versions, &row, &null_version)?;
    Ok(Some(null_version))
}

/// Removes the version stored at `row` and whatever data of it the database
/// keeps; its data files are the caller's to free after the commit.
fn remove_version(
    txn: &WriteTransaction,
    versions: &mut redb::Table<&'static [u8], &'static [u8]>,
    row: &[u8],
    removed: &ObjectRecord,
) -> EngineResult<()> {
    versions.remove(row).map_err(internal)?;
    let mut inline_data = txn.open_table(INLINE_DATA).map_err(internal)?;
    for segment in removed.segments.iter().filter(|segment| segment.inline) {
        inline_data.remove(segment.blob.as_bytes()).map_err(internal)?;
    }
    Ok(())
}

/// The next version sequence; every version row gets its own.
fn next_sequence(txn: &WriteTransaction) -> EngineResult<u64> {
    let mut counters = txn.open_table(COUNTERS).map_err(internal)?;
    let next = counters
        .get(VERSION_COUNTER)
        .map_err(internal)?
        .map_or(0, |last| last.value())
        + 1;
    counters.insert(VERSION_COUNTER, next).map_err(internal)?;
    Ok(next)
}

fn bucket_record(txn: &WriteTransaction, bucket: &str) -> EngineResult<BucketRecord> {
    get(&txn.open_table(BUCKETS).map_err(internal)?, bucket.as_bytes())?
        .ok_or_else(|| EngineError::NoSuchBucket(bucket.to_owned()))
}

/// Writes `object` in `txn` as the new current version of its key if
/// `condition` holds; returns it as stored, with the version id the bucket's
/// versioning state gives it, and the null version it displaced, if any.
fn write_version(
    txn: &WriteTransaction,
    bucket: &str,
    mut object: ObjectRecord,
    condition: &WriteCondition,
) -> EngineResult<(ObjectRecord, Option<ObjectRecord>)> {
    let bucket_record = bucket_record(txn, bucket)?;
    let mut versions = txn.open_table(VERSIONS).map_err(internal)?;
    if *condition != WriteCondition::Always {
        let current = current_version(&versions, bucket, &object.key)?
            .map(|(_, current)| current)
            .filter(|current| !current.delete_marker);
        match (condition, current) {
            (WriteCondition::IfAbsent, Some(_)) => return Err(EngineError::PreconditionFailed),
            (WriteCondition::IfEtag(_), None) => return Err(EngineError::NoSuchKey(object.key.clone())),
            (WriteCondition::IfEtag(etag), Some(current)) if *etag != current.etag => {
                return Err(EngineError::PreconditionFailed);
            }
            _ => {}
        }
    }
    let sequence = next_sequence(txn)?;
    let displaced = if bucket_record.versioning_enabled() {
        object.version_id = new_version_id(sequence);
        None
    } else {
        object.version_id = NULL_VERSION_ID.to_owned();
        remove_null_version(txn, &mut versions, bucket, &object.key, false)?
    };
    update_usage(txn, bucket, |usage| {
        let before = usage.bytes;
        if let Some(displaced) = &displaced {
            count_out(usage, displaced);
        }
        count_in(usage, &object);
        let over_quota = bucket_record.quota_bytes.is_some_and(|max| usage.bytes > max);
        if usage.bytes > before && over_quota {
            return Err(EngineError::QuotaExceeded(bucket.to_owned()));
        }
        Ok(())
    })?;
    versions
        .insert(
            version_key(bucket, &object.key, sequence).as_slice(),
            encode(&object)?.as_slice(),
        )
        .map_err(internal)?;
    Ok((object, displaced))
}

/// Adds a version's data to a bucket's usage; delete markers hold none.
fn count_in(usage: &mut BucketUsage, object: &ObjectRecord) {
    if !object.delete_marker {
        usage.objects += 1;
        usage.bytes += object.size;
    }
}

/// Takes a removed version's data out of a bucket's usage.
fn count_out(usage: &mut BucketUsage, object: &ObjectRecord) {
    if !object.delete_marker {
        usage.objects = usage.objects.saturating_sub(1);
        usage.bytes = usage.bytes.saturating_sub(object.size);
    }
}

/// Reads `bucket`'s usage in `txn`, lets `change` adjust it and stores it;
/// an error from `change` leaves it, and the transaction, to be dropped.
fn update_usage(
    txn: &WriteTransaction,
    bucket: &str,
    change: impl FnOnce(&mut BucketUsage) -> EngineResult<()>,
) -> EngineResult<()> {
    let mut table = txn.open_table(USAGE).map_err(internal)?;
    let mut usage: BucketUsage = get(&table, bucket.as_bytes())?.unwrap_or_default();
    change(&mut usage)?;
    table
        .insert(bucket.as_bytes(), encode(&usage)?.as_slice())
        .map_err(internal)?;
    Ok(())
}

/// Records in `txn` that a removed version no longer counts in its bucket.
fn release(txn: &WriteTransaction, bucket: &str, removed: &ObjectRecord) -> EngineResult<()> {
    update_usage(txn, bucket, |usage| {
        count_out(usage, removed);
        Ok(())
    })
}

/// The bucket a `versions` or `uploads` key belongs to.
fn bucket_of(stored_key: &[u8]) -> EngineResult<String> {
    let end = stored_key
        .iter()
        .position(|b| *b == SEPARATOR)
        .unwrap_or(stored_key.len());
    String::from_utf8(stored_key[..end].to_vec()).map_err(internal)
}

/// Counts every bucket's usage from its versions and uploads, for a database
/// written before usage was kept: one walk of both tables, once.
fn count_usage(txn: &WriteTransaction) -> EngineResult<()> {
    let mut counted: std::collections::BTreeMap<String, BucketUsage> = std::collections::BTreeMap::new();
    for entry in txn.open_table(VERSIONS).map_err(internal)?.iter().map_err(internal)? {
        let (stored_key, value) = entry.map_err(internal)?;
        let usage = counted.entry(bucket_of(stored_key.value())?).or_default();
        count_in(usage, &decode(value.value())?);
    }
    for entry in txn.open_table(UPLOADS).map_err(internal)?.iter().map_err(internal)? {
        let (stored_key, _) = entry.map_err(internal)?;
        counted.entry(bucket_of(stored_key.value())?).or_default().uploads += 1;
    }
    let mut table = txn.open_table(USAGE).map_err(internal)?;
    for (bucket, usage) in counted {
        table
            .insert(bucket.as_bytes(), encode(&usage)?.as_slice())
            .map_err(internal)?;
    }
    Ok(())
}
