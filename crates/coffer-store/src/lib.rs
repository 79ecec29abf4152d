//! Coffer's embedded engine: metadata in one redb database, object bytes in
//! plain files, all under one data directory.
//!
//! This crate owns the data directory and its on-disk format (see
//! `docs/architecture.md`): [`layout`] names every file, [`blobs`] writes,
//! reads and frees data files, [`sealed`] is their at-rest encryption format,
//! [`meta`] keeps the records in redb, and [`recovery`] makes the directory
//! consistent at startup. It implements
//! [`coffer_engine::Engine`] and may call only `coffer-engine`, redb and the
//! file system; it knows nothing of S3 or HTTP.
//!
//! Write order for every new object version: stream into `tmp/`, fsync, rename
//! into `blobs/`, fsync that directory, commit the record in redb. Only then is
//! the write acknowledged. Bytes a commit stops referencing are unlinked after
//! the commit; a crash before that leaves an unreferenced file, which recovery
//! removes.

/// Stops the process on the spot, as a power cut would, when a test build
/// (feature `failpoints`) was told to crash at `$name`; elsewhere it is
/// nothing. Each one sits between two steps of a write's durable sequence.
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| std::process::abort())
    };
}

pub mod blobs;
pub mod layout;
pub mod meta;
pub mod recovery;
pub mod sealed;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use coffer_engine::{
    BucketChange, BucketRecord, BucketUsage, ByteRange, ByteStream, DeleteOptions, Deleted, Engine, EngineError,
    EngineResult, KeyRecord, ListPage, ListQuery, ListedVersion, ObjectChange, ObjectRecord, PartRecord, SealingKey,
    Segment, StagedData, UploadRecord, UserRecord, WriteCondition,
};

use crate::blobs::{Blobs, StagedBlob};
use crate::layout::Layout;
use crate::meta::Meta;
use crate::sealed::{BlobKey, SALT_BYTES};

/// The embedded engine. Cheap to clone; clones share one database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    blobs: Blobs,
    meta: Meta,
    layout: Layout,
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
            inner: Arc::new(Inner { blobs, meta, layout }),
        })
    }

    /// Records a clean shutdown, so the next start can skip the orphan sweep.
    pub fn close(&self) -> EngineResult<()> {
        self.inner.layout.mark_stopped()
    }

    async fn blocking<T, F>(&self, work: F) -> EngineResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> EngineResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| EngineError::Internal(format!("storage task failed: {e}")))?
    }
}

/// The data files of an object version.
fn blobs_of(object: &ObjectRecord) -> impl Iterator<Item = &str> {
    object.segments.iter().map(|segment| segment.blob.as_str())
}

fn blobs_of_parts(parts: &[PartRecord]) -> impl Iterator<Item = &str> {
    parts.iter().map(|part| part.blob.as_str())
}

/// A staged body and, when it is sealed, the salt of its file's key.
#[derive(Debug)]
struct Staged {
    blob: StagedBlob,
    salt: Option<[u8; SALT_BYTES]>,
}

impl StagedData for Staged {
    fn size(&self) -> u64 {
        self.blob.size()
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

impl Inner {
    /// Moves staged bytes into place, then runs `commit` with the new data
    /// file's segment; if the commit fails, the file is removed again.
    fn commit_staged<T>(&self, staged: Staged, commit: impl FnOnce(Segment) -> EngineResult<T>) -> EngineResult<T> {
        let mut segment = self.blobs.promote(staged.blob)?.segment();
        segment.salt = staged.salt.map(Vec::from);
        crash_point!("before-metadata");
        let blob = segment.blob.clone();
        let committed = commit(segment);
        if committed.is_err() {
            self.blobs.release([blob.as_str()]);
        }
        committed
    }
}

#[async_trait]
impl Engine for Store {
    async fn create_bucket(&self, bucket: BucketRecord) -> EngineResult<()> {
        self.blocking(move |inner| inner.meta.create_bucket(&bucket)).await
    }

    async fn bucket(&self, name: &str) -> EngineResult<BucketRecord> {
        let name = name.to_owned();
        self.blocking(move |inner| inner.meta.bucket(&name)).await
    }

    async fn list_buckets(&self) -> EngineResult<Vec<BucketRecord>> {
        self.blocking(|inner| inner.meta.list_buckets()).await
    }

    async fn bucket_usage(&self, bucket: &str) -> EngineResult<BucketUsage> {
        let bucket = bucket.to_owned();
        self.blocking(move |inner| inner.meta.bucket_usage(&bucket)).await
    }

    async fn update_bucket(&self, name: &str, change: BucketChange) -> EngineResult<BucketRecord> {
        let name = name.to_owned();
        self.blocking(move |inner| inner.meta.update_bucket(&name, change))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> EngineResult<()> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let aborted_parts = inner.meta.delete_bucket(&name)?;
            inner.blobs.release(blobs_of_parts(&aborted_parts));
            Ok(())
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
        let blob = self.inner.blobs.stage(body, key.as_ref()).await?;
        Ok(Box::new(Staged { blob, salt }))
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
        self.blocking(move |inner| {
            let (stored, displaced) = inner.commit_staged(staged, |segment| {
                object.segments = vec![segment];
                inner.meta.put_object(&bucket, object, &condition)
            })?;
            inner.blobs.release(displaced.iter().flat_map(blobs_of));
            Ok(stored)
        })
        .await
    }

    async fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        self.blocking(move |inner| inner.meta.object(&bucket, &key, version_id.as_deref()))
            .await
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
        self.blocking(move |inner| inner.meta.update_object(&bucket, &key, version_id.as_deref(), change))
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
        self.blocking(move |inner| {
            let (deleted, removed) = inner
                .meta
                .delete_object(&bucket, &key, version_id.as_deref(), &options)?;
            inner.blobs.release(removed.iter().flat_map(blobs_of));
            Ok(deleted)
        })
        .await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.blocking(move |inner| inner.meta.list_objects(&bucket, &query))
            .await
    }

    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &ListQuery,
        version_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<ListedVersion>> {
        let (bucket, query, marker) = (bucket.to_owned(), query.clone(), version_id_marker.map(str::to_owned));
        self.blocking(move |inner| inner.meta.list_object_versions(&bucket, &query, marker.as_deref()))
            .await
    }

    async fn create_upload(&self, bucket: &str, upload: UploadRecord) -> EngineResult<()> {
        let bucket = bucket.to_owned();
        self.blocking(move |inner| inner.meta.create_upload(&bucket, &upload))
            .await
    }

    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<UploadRecord> {
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.blocking(move |inner| inner.meta.upload(&bucket, &key, &upload_id))
            .await
    }

    async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        mut part: PartRecord,
        staged: Box<dyn StagedData>,
    ) -> EngineResult<()> {
        let staged = staged_here(staged)?;
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.blocking(move |inner| {
            let replaced = inner.commit_staged(staged, |segment| {
                part.blob = segment.blob;
                part.salt = segment.salt;
                inner.meta.put_part(&bucket, &key, &upload_id, &part)
            })?;
            inner.blobs.release(blobs_of_parts(replaced.as_slice()));
            Ok(())
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
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.blocking(move |inner| inner.meta.list_parts(&bucket, &key, &upload_id, after, max_parts))
            .await
    }

    async fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectRecord,
        condition: WriteCondition,
    ) -> EngineResult<ObjectRecord> {
        let (bucket, upload_id) = (bucket.to_owned(), upload_id.to_owned());
        self.blocking(move |inner| {
            let (stored, displaced, unused_parts) =
                inner.meta.complete_upload(&bucket, &upload_id, object, &condition)?;
            inner.blobs.release(displaced.iter().flat_map(blobs_of));
            inner.blobs.release(blobs_of_parts(&unused_parts));
            Ok(stored)
        })
        .await
    }

    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<()> {
        let (bucket, key, upload_id) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
        self.blocking(move |inner| {
            let parts = inner.meta.abort_upload(&bucket, &key, &upload_id)?;
            inner.blobs.release(blobs_of_parts(&parts));
            Ok(())
        })
        .await
    }

    async fn list_uploads(
        &self,
        bucket: &str,
        query: &ListQuery,
        upload_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<UploadRecord>> {
        let (bucket, query, marker) = (bucket.to_owned(), query.clone(), upload_id_marker.map(str::to_owned));
        self.blocking(move |inner| inner.meta.list_uploads(&bucket, &query, marker.as_deref()))
            .await
    }

    async fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<Vec<u8>>) -> EngineResult<()> {
        let (bucket, kind) = (bucket.to_owned(), kind.to_owned());
        self.blocking(move |inner| inner.meta.put_bucket_config(&bucket, &kind, document.as_deref()))
            .await
    }

    async fn bucket_config(&self, bucket: &str, kind: &str) -> EngineResult<Option<Vec<u8>>> {
        let (bucket, kind) = (bucket.to_owned(), kind.to_owned());
        self.blocking(move |inner| inner.meta.bucket_config(&bucket, &kind))
            .await
    }

    async fn create_user(&self, user: UserRecord) -> EngineResult<()> {
        self.blocking(move |inner| inner.meta.create_user(&user)).await
    }

    async fn delete_user(&self, name: &str) -> EngineResult<Vec<KeyRecord>> {
        let name = name.to_owned();
        self.blocking(move |inner| inner.meta.delete_user(&name)).await
    }

    async fn list_users(&self) -> EngineResult<Vec<UserRecord>> {
        self.blocking(|inner| inner.meta.list_users()).await
    }

    async fn create_key(&self, key: KeyRecord) -> EngineResult<()> {
        self.blocking(move |inner| inner.meta.create_key(&key)).await
    }

    async fn update_key(&self, key: KeyRecord) -> EngineResult<()> {
        self.blocking(move |inner| inner.meta.update_key(&key)).await
    }

    async fn delete_key(&self, access_key: &str) -> EngineResult<KeyRecord> {
        let access_key = access_key.to_owned();
        self.blocking(move |inner| inner.meta.delete_key(&access_key)).await
    }

    async fn list_keys(&self) -> EngineResult<Vec<KeyRecord>> {
        self.blocking(|inner| inner.meta.list_keys()).await
    }
}
