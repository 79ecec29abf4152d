//! Coffer's embedded engine: metadata in one redb database, object bytes in
//! plain files, all under one data directory.
//!
//! This crate owns the data directory and its on-disk format (see
//! `docs/architecture.md`): [`layout`] names every file, [`blobs`] writes,
//! reads and frees data files, [`sealed`] is their at-rest encryption format,
//! [`meta`] keeps the records in redb, on a file whose new space `db_file`
//! writes with zeros before redb fills it, and [`recovery`] makes the directory
//! consistent at startup. It implements
//! [`coffer_engine::Engine`] and may call only `coffer-engine`, redb and the
//! file system; it knows nothing of S3 or HTTP.
//!
//! Write order for every new object version: stream into `tmp/`, fsync, rename
//! into `blobs/`, add the record to the current batch's redb transaction, then
//! wait for the group commit ([`group_commit`]) to fsync that directory and
//! commit the batch durably. Only then is the write acknowledged. Reads share
//! one redb snapshot until the next commit, and a listing reads only what it
//! shows of each version record (`summary`). A small plain body skips the
//! file: its bytes go into the same transaction as its record. Bytes a commit
//! stops referencing are unlinked after the commit; a crash before that leaves
//! an unreferenced file, which recovery removes.

/// Stops the process on the spot, as a power cut would, when a test build
/// (feature `failpoints`) was told to crash at `$name`; elsewhere it is
/// nothing. Each one sits between two steps of a write's durable sequence.
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| std::process::abort())
    };
}

pub mod blobs;
mod db_file;
mod group_commit;
pub mod layout;
pub mod meta;
pub mod recovery;
pub mod sealed;
mod summary;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use coffer_engine::{
    BucketChange, BucketRecord, BucketUsage, ByteRange, ByteStream, DeleteOptions, Deleted, Engine, EngineError,
    EngineResult, KeyRecord, ListPage, ListQuery, ListedVersion, ObjectChange, ObjectRecord, PartRecord, SealingKey,
    Segment, StagedData, UploadRecord, UserRecord, WriteCondition,
};
use futures::{StreamExt, stream};

use crate::blobs::{Blobs, StagedBlob};
use crate::layout::Layout;
use crate::meta::Meta;
use crate::sealed::{BlobKey, SALT_BYTES};

/// The largest plain body kept inline, in the metadata database, unless
/// [`Store::with_inline_max_bytes`] says otherwise: a small object then costs
/// one database commit and no file of its own.
pub const DEFAULT_INLINE_MAX_BYTES: usize = 16 << 10;

/// The embedded engine. Cheap to clone; clones share one database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    inline_max_bytes: usize,
}

struct Inner {
    blobs: Blobs,
    meta: Meta,
    layout: Layout,
    /// Set when a data file may have been left without a record: the next
    /// start then sweeps orphans even after a clean shutdown.
    sweep_at_next_start: AtomicBool,
}

impl Store {
    /// Opens (creating if needed) the data directory and recovers it: staging
    /// files are removed, and after an unclean shutdown every data file no
    /// record refers to is removed too.
    pub fn open(data_dir: &Path) -> EngineResult<Store> {
        let layout = Layout::create(data_dir)?;
        let meta = Meta::open(&layout.metadata_db())?;
        let blobs = Blobs::new(layout.clone());
        recovery::recover(&layout, &meta)?;
        layout.mark_running()?;
        Ok(Store {
            inner: Arc::new(Inner {
                blobs,
                meta,
                layout,
                sweep_at_next_start: AtomicBool::new(false),
            }),
            inline_max_bytes: DEFAULT_INLINE_MAX_BYTES,
        })
    }

    /// Keeps plain bodies of up to `max` bytes in the metadata database
    /// rather than in files of their own; 0 keeps every body in a file.
    pub fn with_inline_max_bytes(mut self, max: usize) -> Store {
        self.inline_max_bytes = max;
        self
    }

    /// Records a clean shutdown, so the next start can skip the orphan sweep
    /// (unless a failed write may have left an orphan behind).
    pub fn close(&self) -> EngineResult<()> {
        match self.inner.sweep_at_next_start.load(Ordering::Relaxed) {
            true => Ok(()),
            false => self.inner.layout.mark_stopped(),
        }
    }

    /// Runs a write as a task of its own, to its end even if the request
    /// that asked for it goes away: once a change has joined a batch it may
    /// commit after its caller stopped waiting, and what follows the commit
    /// (freeing the data files it replaced) must happen all the same. Reads
    /// run on the calling task.
    async fn write<T, F>(&self, work: impl FnOnce(Arc<Inner>) -> F) -> EngineResult<T>
    where
        T: Send + 'static,
        F: Future<Output = EngineResult<T>> + Send + 'static,
    {
        tokio::spawn(work(Arc::clone(&self.inner))).await.map_err(task_failed)?
    }
}

fn task_failed(err: tokio::task::JoinError) -> EngineError {
    EngineError::Internal(format!("storage task failed: {err}"))
}

/// Runs `work`, which touches data files, on the blocking pool.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> EngineResult<T> + Send + 'static,
) -> EngineResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(task_failed)?
}

/// The data files of an object version.
fn blobs_of(object: &ObjectRecord) -> impl Iterator<Item = &str> {
    object
        .segments
        .iter()
        .filter(|segment| !segment.inline)
        .map(|segment| segment.blob.as_str())
}

fn blobs_of_parts(parts: &[PartRecord]) -> impl Iterator<Item = &str> {
    parts.iter().map(|part| part.blob.as_str())
}

/// A staged body: a file, with the salt of its key when it is sealed, or the
/// bytes of a small plain body, to be kept with its record.
#[derive(Debug)]
enum Staged {
    File {
        blob: StagedBlob,
        salt: Option<[u8; SALT_BYTES]>,
    },
    Inline(Bytes),
}

impl StagedData for Staged {
    fn size(&self) -> u64 {
        match self {
            Staged::File { blob, .. } => blob.size(),
            Staged::Inline(bytes) => bytes.len() as u64,
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

fn staged_here(staged: Box<dyn StagedData>) -> EngineResult<Staged> {
    staged
        .into_any()
        .downcast::<Staged>()
        .map(|staged| *staged)
        .map_err(|_| EngineError::Internal("staged data from another engine".into()))
}

/// A body read up to a limit: whole, or too large, and then still whole as
/// a stream (the bytes read so far, then the rest).
enum Gathered {
    Whole(Bytes),
    TooLarge(ByteStream),
}

async fn gather_small(mut body: ByteStream, max: usize) -> EngineResult<Gathered> {
    let mut gathered = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(EngineError::Body)?;
        if gathered.len() + chunk.len() > max {
            let read = [Ok(gathered.freeze()), Ok(chunk)];
            return Ok(Gathered::TooLarge(stream::iter(read).chain(body).boxed()));
        }
        gathered.extend_from_slice(&chunk);
    }
    Ok(Gathered::Whole(gathered.freeze()))
}

impl Inner {
    /// Moves staged bytes into place, then runs `commit` with the segment
    /// that names them, and the bytes themselves when they are to be kept
    /// inline; if the commit fails, a new data file is removed again.
    async fn commit_staged<T>(
        self: &Arc<Self>,
        staged: Staged,
        commit: impl AsyncFnOnce(Segment, Option<&[u8]>) -> EngineResult<T>,
    ) -> EngineResult<T> {
        let (blob, salt) = match staged {
            Staged::File { blob, salt } => (blob, salt),
            Staged::Inline(bytes) => {
                let segment = Segment {
                    // Time-ordered, so each new row lands at the end of the
                    // table: a commit rewrites the same few pages, not a
                    // random page per object.
                    blob: uuid::Uuid::now_v7().simple().to_string(),
                    size: bytes.len() as u64,
                    inline: true,
                    ..Segment::default()
                };
                crash_point!("before-metadata");
                return commit(segment, Some(&bytes)).await;
            }
        };
        let inner = Arc::clone(self);
        let promoted = on_blocking_pool(move || inner.blobs.promote(blob)).await?;
        let mut segment = promoted.segment();
        segment.salt = salt.map(Vec::from);
        self.meta.directory_changed(promoted.directory);
        crash_point!("before-metadata");
        let blob = segment.blob.clone();
        let committed = commit(segment, None).await;
        match &committed {
            // Failing in storage, the commit may have happened but not been
            // made durable, so the record may still name the file: keep it
            // for the orphan sweep of the next start to judge.
            Err(EngineError::Io(_) | EngineError::Internal(_)) => {
                self.sweep_at_next_start.store(true, Ordering::Relaxed)
            }
            Err(_) => self.release([blob.as_str()]).await?,
            Ok(_) => {}
        }
        committed
    }

    /// Removes the data files of versions or parts no record names any more.
    async fn release<'a>(self: &Arc<Self>, blobs: impl IntoIterator<Item = &'a str>) -> EngineResult<()> {
        let blobs: Vec<String> = blobs.into_iter().map(str::to_owned).collect();
        if blobs.is_empty() {
            return Ok(());
        }
        let inner = Arc::clone(self);
        on_blocking_pool(move || {
            inner.blobs.release(blobs.iter().map(String::as_str));
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Engine for Store {
    async fn create_bucket(&self, bucket: BucketRecord) -> EngineResult<()> {
        self.write(move |inner| async move { inner.meta.create_bucket(&bucket).await })
            .await
    }

    async fn bucket(&self, name: &str) -> EngineResult<BucketRecord> {
        self.inner.meta.bucket(name)
    }

    async fn list_buckets(&self) -> EngineResult<Vec<BucketRecord>> {
        self.inner.meta.list_buckets()
    }

    async fn bucket_usage(&self, bucket: &str) -> EngineResult<BucketUsage> {
        self.inner.meta.bucket_usage(bucket)
    }

    async fn update_bucket(&self, name: &str, change: BucketChange) -> EngineResult<BucketRecord> {
        let name = name.to_owned();
        self.write(move |inner| async move { inner.meta.update_bucket(&name, change).await })
            .await
    }

    async fn delete_bucket(&self, name: &str) -> EngineResult<()> {
        let name = name.to_owned();
        self.write(move |inner| async move {
            let aborted_parts = inner.meta.delete_bucket(&name).await?;
            inner.release(blobs_of_parts(&aborted_parts)).await
        })
        .await
    }

    async fn stage(&self, body: ByteStream, sealing: Option<&SealingKey>) -> EngineResult<Box<dyn StagedData>> {
        // A fresh salt per file: one base key must never seal two files
        // under the same derived key, or AES-GCM nonces would repeat.
        let salt = sealing.map(|_| sealed::new_salt()).transpose()?;
        let key = sealing
            .zip(salt)
            .map(|(sealing, salt)| BlobKey::derive(&sealing.0, &salt));
        let body = match key {
            Some(_) => body,
            None if self.inline_max_bytes == 0 => body,
            None => match gather_small(body, self.inline_max_bytes).await? {
                Gathered::Whole(bytes) => {
                    // Inline bytes go to the database, which must not eat
                    // into the reserve kept for its own commits.
                    self.inner.blobs.check_room(bytes.len())?;
                    return Ok(Box::new(Staged::Inline(bytes)));
                }
                Gathered::TooLarge(body) => body,
            },
        };
        let blob = self.inner.blobs.stage(body, key.as_ref()).await?;
        Ok(Box::new(Staged::File { blob, salt }))
    }

    async fn put_object(
        &self,
        bucket: &str,
        mut object: ObjectRecord,
        staged: Box<dyn StagedData>,
        condition: WriteCondition,
    ) -> EngineResult<ObjectRecord> {
        let staged = staged_here(staged)?;
        let bucket = bucket.to_owned();
        self.write(move |inner| async move {
            let (stored, displaced) = inner
                .commit_staged(staged, async |segment, inline_data| {
                    object.segments = vec![segment];
                    inner.meta.put_object(&bucket, object, &condition, inline_data).await
                })
                .await?;
            inner.release(displaced.iter().flat_map(blobs_of)).await?;
            Ok(stored)
        })
        .await
    }

    async fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord> {
        self.inner.meta.object(bucket, key, version_id)
    }

    async fn open(
        &self,
        object: &ObjectRecord,
        range: Option<ByteRange>,
        sealing: Option<&SealingKey>,
    ) -> EngineResult<ByteStream> {
        if sealing.is_none() && object.segments.iter().any(|segment| segment.salt.is_some()) {
            return Err(EngineError::Internal("sealed data opened without its key".into()));
        }
        if let [segment] = object.segments.as_slice()
            && segment.inline
        {
            let data = self.inner.meta.inline_data(&segment.blob)?;
            let data = data.ok_or(EngineError::VersionGone)?;
            let range = range.map_or(0..data.len(), |range| range.first as usize..range.end as usize);
            if range.start > range.end || range.end > data.len() {
                return Err(EngineError::Internal("inline data is shorter than its record".into()));
            }
            let data = data.slice(range);
            return Ok(match data.is_empty() {
                true => stream::empty().boxed(),
                false => stream::once(async { Ok(data) }).boxed(),
            });
        }
        let base = sealing.map(|sealing| sealing.0);
        self.inner
            .blobs
            .open(object, range, |segment| {
                let salt = segment.salt.as_deref()?;
                base.as_ref().map(|base| BlobKey::derive(base, salt))
            })
            .await
    }

    async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: ObjectChange,
    ) -> EngineResult<ObjectRecord> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        self.write(move |inner| async move {
            inner
                .meta
                .update_object(&bucket, &key, version_id.as_deref(), change)
                .await
        })
        .await
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        options: &DeleteOptions,
    ) -> EngineResult<Deleted> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        let options = options.clone();
        self.write(move |inner| async move {
            let (deleted, removed) = inner
                .meta
                .delete_object(&bucket, &key, version_id.as_deref(), &options)
                .await?;
            inner.release(removed.iter().flat_map(blobs_of)).await?;
            Ok(deleted)
        })
        .await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage> {
        self.inner.meta.list_objects(bucket, query)
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &ListQuery,
        version_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<ListedVersion>> {
        self.inner.meta.list_object_versions(bucket, query, version_id_marker)
    }

    async fn create_upload(&self, bucket: &str, upload: UploadRecord) -> EngineResult<()> {
        let bucket = bucket.to_owned();
        self.write(move |inner| async move { inner.meta.create_upload(&bucket, &upload).await })
            .await
    }

    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<UploadRecord> {
        self.inner.meta.upload(bucket, key, upload_id)
    }

    async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        mut part: PartRecord,
        staged: Box<dyn StagedData>,
    ) -> EngineResult<()> {
        // Parts are kept in files, as a completed upload's segments name them.
        let staged = match staged_here(staged)? {
            Staged::Inline(bytes) => Staged::File {
                blob: self
                    .inner
                    .blobs
                    .stage(stream::once(async { Ok(bytes) }).boxed(), None)
                    .await?,
                salt: None,
            },
            file => file,
        };
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.write(move |inner| async move {
            let replaced = inner
                .commit_staged(staged, async |segment, _| {
                    part.blob = segment.blob;
                    part.salt = segment.salt;
                    inner.meta.put_part(&bucket, &key, &upload_id, &part).await
                })
                .await?;
            inner.release(blobs_of_parts(replaced.as_slice())).await
        })
        .await
    }

    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        max_parts: usize,
    ) -> EngineResult<(Vec<PartRecord>, bool)> {
        self.inner.meta.list_parts(bucket, key, upload_id, after, max_parts)
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectRecord,
        condition: WriteCondition,
    ) -> EngineResult<ObjectRecord> {
        let (bucket, upload_id) = (bucket.to_owned(), upload_id.to_owned());
        self.write(move |inner| async move {
            let (stored, displaced, unused_parts) = inner
                .meta
                .complete_upload(&bucket, &upload_id, object, &condition)
                .await?;
            inner
                .release(displaced.iter().flat_map(blobs_of).chain(blobs_of_parts(&unused_parts)))
                .await?;
            Ok(stored)
        })
        .await
    }

    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<()> {
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.write(move |inner| async move {
            let parts = inner.meta.abort_upload(&bucket, &key, &upload_id).await?;
            inner.release(blobs_of_parts(&parts)).await
        })
        .await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        query: &ListQuery,
        upload_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<UploadRecord>> {
        self.inner.meta.list_uploads(bucket, query, upload_id_marker)
    }

    async fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<Vec<u8>>) -> EngineResult<()> {
        let (bucket, kind) = (bucket.to_owned(), kind.to_owned());
        self.write(move |inner| async move { inner.meta.put_bucket_config(&bucket, &kind, document.as_deref()).await })
            .await
    }

    async fn bucket_config(&self, bucket: &str, kind: &str) -> EngineResult<Option<Vec<u8>>> {
        self.inner.meta.bucket_config(bucket, kind)
    }

    async fn create_user(&self, user: UserRecord) -> EngineResult<()> {
        self.write(move |inner| async move { inner.meta.create_user(&user).await })
            .await
    }

    async fn delete_user(&self, name: &str) -> EngineResult<Vec<KeyRecord>> {
        let name = name.to_owned();
        self.write(move |inner| async move { inner.meta.delete_user(&name).await })
            .await
    }

    async fn list_users(&self) -> EngineResult<Vec<UserRecord>> {
        self.inner.meta.list_users()
    }

    async fn create_key(&self, key: KeyRecord) -> EngineResult<()> {
        self.write(move |inner| async move { inner.meta.create_key(&key).await })
            .await
    }

    async fn update_key(&self, key: KeyRecord) -> EngineResult<()> {
        self.write(move |inner| async move { inner.meta.update_key(&key).await })
            .await
    }

    async fn delete_key(&self, access_key: &str) -> EngineResult<KeyRecord> {
        let access_key = access_key.to_owned();
        self.write(move |inner| async move { inner.meta.delete_key(&access_key).await })
            .await
    }

    async fn list_keys(&self) -> EngineResult<Vec<KeyRecord>> {
        self.inner.meta.list_keys()
    }
}
