//! Coffer's embedded engine: metadata in one redb database, object bytes in
//! plain files, all under one data directory.
//!
//! This crate owns the data directory and its on-disk format (see
//! `docs/architecture.md`): [`layout`] names every file, [`blobs`] writes,
//! reads and frees data files, [`meta`] keeps the records in redb, and
//! [`recovery`] makes the directory consistent at startup. It implements
//! [`coffer_engine::Engine`] and may call only `coffer-engine`, redb and the
//! file system; it knows nothing of S3 or HTTP.
//!
//! Write order for every new object version: stream into `tmp/`, fsync, rename
//! into `blobs/`, fsync that directory, commit the record in redb. Only then is
//! the write acknowledged. Bytes a commit stops referencing are unlinked after
//! the commit; a crash before that leaves an unreferenced file, which recovery
//! removes.

pub mod blobs;
pub mod layout;
pub mod meta;
pub mod recovery;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use coffer_engine::{
    BucketRecord, ByteRange, ByteStream, Engine, EngineError, EngineResult, ListPage, ListQuery, ObjectRecord,
    Replaced, StagedData, WriteCondition,
};

use crate::blobs::{Blobs, StagedBlob};
use crate::layout::Layout;
use crate::meta::Meta;

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

    async fn delete_bucket(&self, name: &str) -> EngineResult<()> {
        let name = name.to_owned();
        self.blocking(move |inner| inner.meta.delete_bucket(&name)).await
    }

    async fn stage(&self, body: ByteStream) -> EngineResult<Box<dyn StagedData>> {
        let staged = self.inner.blobs.stage(body).await?;
        Ok(Box::new(staged))
    }

    async fn put_object(
        &self,
        bucket: &str,
        mut object: ObjectRecord,
        staged: Box<dyn StagedData>,
        condition: WriteCondition,
    ) -> EngineResult<Replaced> {
        let staged = staged
            .into_any()
            .downcast::<StagedBlob>()
            .map_err(|_| EngineError::Internal("staged data from another engine".into()))?;
        let bucket = bucket.to_owned();
        self.blocking(move |inner| {
            let blob = inner.blobs.promote(*staged)?;
            object.segments = vec![blob.segment()];
            let replaced = inner.meta.put_object(&bucket, &object, &condition);
            match &replaced {
                Ok(replaced) => inner.blobs.release(replaced.previous.iter()),
                Err(_) => inner.blobs.release(std::iter::once(&object)),
            }
            replaced
        })
        .await
    }

    async fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        self.blocking(move |inner| inner.meta.object(&bucket, &key, version_id.as_deref()))
            .await
    }

    async fn open(&self, object: &ObjectRecord, range: Option<ByteRange>) -> EngineResult<ByteStream> {
        self.inner.blobs.open(object, range).await
    }

    async fn delete_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<Replaced> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        self.blocking(move |inner| {
            let replaced = inner.meta.delete_object(&bucket, &key, version_id.as_deref())?;
            inner.blobs.release(replaced.previous.iter());
            Ok(replaced)
        })
        .await
    }

    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage> {
        let (bucket, query) = (bucket.to_owned(), query.clone());
        self.blocking(move |inner| inner.meta.list_objects(&bucket, &query))
            .await
    }
}
