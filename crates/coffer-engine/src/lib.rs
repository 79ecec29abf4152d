//! The storage engine contract: what Coffer stores, and the operations a
//! backend must offer to store it.
//!
//! This crate owns the records (buckets and their configuration documents,
//! object versions and the data segments an object is made of, multipart
//! uploads and their parts, users and their access keys) and the [`Engine`]
//! trait. It knows nothing of HTTP, XML or
//! S3 error codes, and it performs no I/O: the S3 front end (`coffer-s3`) calls
//! the trait, and backends (`coffer-store`, later others) implement it. A
//! backend may depend on this crate and nothing above it.

mod error;
mod list;
mod record;

pub use error::{EngineError, EngineResult};
pub use list::{ListEntry, ListPage, ListQuery, Listed};
pub use record::{
    BucketRecord, Checksums, ContentHeaders, EncryptionRecord, KeyRecord, LockRecord, NULL_VERSION_ID, ObjectRecord,
    PartRecord, Segment, UploadRecord, UserRecord,
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// A stream of body bytes, as read from a client or from storage.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Bytes written durably to a staging area but not yet part of any object.
/// Dropping it without handing it to [`Engine::put_object`] discards the bytes.
pub trait StagedData: Send + Sync + std::fmt::Debug {
    /// The number of bytes staged.
    fn size(&self) -> u64;
    /// Lets a backend recover its own concrete type.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// A byte range within an object, inclusive of `first`, exclusive of `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub end: u64,
}

/// A condition on the current version of a key, checked atomically with a
/// write (S3's conditional writes: `If-None-Match: *` and `If-Match`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// Only if the key has no current version.
    IfAbsent,
    /// Only if the current version has this ETag (unquoted).
    IfEtag(String),
}

/// The outcome of replacing or removing an object version.
#[derive(Debug, Clone)]
pub struct Replaced {
    /// The version the operation replaced or removed, if there was one.
    pub previous: Option<ObjectRecord>,
}

/// The operations the S3 front end needs from storage.
///
/// Every method is atomic: when it returns `Ok`, its effect is durable; when it
/// fails or the process dies part-way, storage is left as it was before.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Creates a bucket; [`EngineError::BucketExists`] if the name is taken.
    async fn create_bucket(&self, bucket: BucketRecord) -> EngineResult<()>;

    /// Returns a bucket's record, or [`EngineError::NoSuchBucket`].
    async fn bucket(&self, name: &str) -> EngineResult<BucketRecord>;

    /// Lists every bucket, ordered by name.
    async fn list_buckets(&self) -> EngineResult<Vec<BucketRecord>>;

    /// Removes an empty bucket; [`EngineError::BucketNotEmpty`] otherwise.
    async fn delete_bucket(&self, name: &str) -> EngineResult<()>;

    /// Writes a body durably into the staging area.
    async fn stage(&self, body: ByteStream) -> EngineResult<Box<dyn StagedData>>;

    /// Makes `object` the current version of its key, its data being `staged`,
    /// if `condition` holds ([`EngineError::PreconditionFailed`] or
    /// [`EngineError::NoSuchKey`] otherwise). The previous version's bytes are
    /// released.
    async fn put_object(
        &self,
        bucket: &str,
        object: ObjectRecord,
        staged: Box<dyn StagedData>,
        condition: WriteCondition,
    ) -> EngineResult<Replaced>;

    /// Returns the record of a key's version (the current one when `version_id`
    /// is `None`), or [`EngineError::NoSuchKey`] / [`EngineError::NoSuchVersion`].
    async fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord>;

    /// Streams the bytes of an object version whose record was already read.
    /// Fails with [`EngineError::VersionGone`] if that version was replaced or
    /// removed since its record was read; the caller reads the record again.
    async fn open(&self, object: &ObjectRecord, range: Option<ByteRange>) -> EngineResult<ByteStream>;

    /// Replaces the access control list of a key's version (the current one
    /// when `version_id` is `None`), leaving everything else as it is.
    async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> EngineResult<()>;

    /// Removes a key's version (the current one when `version_id` is `None`);
    /// succeeds with no previous version when there was nothing to remove.
    async fn delete_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<Replaced>;

    /// Lists the current versions of keys in a bucket, in UTF-8 byte order.
    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage>;

    /// Starts a multipart upload.
    async fn create_upload(&self, bucket: &str, upload: UploadRecord) -> EngineResult<()>;

    /// Returns an upload in progress, or [`EngineError::NoSuchUpload`].
    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<UploadRecord>;

    /// Adds a part to an upload, replacing any part with its number, if the
    /// upload still exists when the part is committed
    /// ([`EngineError::NoSuchUpload`] otherwise, and the bytes are removed).
    async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: PartRecord,
        staged: Box<dyn StagedData>,
    ) -> EngineResult<()>;

    /// Up to `max_parts` parts of an upload with numbers above `after`, in
    /// order, and whether more follow.
    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        max_parts: usize,
    ) -> EngineResult<(Vec<PartRecord>, bool)>;

    /// Atomically ends an upload by making `object` (whose segments name the
    /// upload's parts) the current version of its key, if `condition` holds
    /// and every segment is still the part it names
    /// ([`EngineError::InvalidPart`] otherwise). Parts left out are freed.
    async fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectRecord,
        condition: WriteCondition,
    ) -> EngineResult<Replaced>;

    /// Atomically ends an upload and frees all its parts before returning.
    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<()>;

    /// Sets (or with `None`, removes) one configuration document of a bucket:
    /// its policy, CORS rules, ACL, and so on, each under its own `kind`.
    /// The engine stores the bytes as given; their meaning is the caller's.
    async fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<Vec<u8>>) -> EngineResult<()>;

    /// One configuration document of a bucket, if it is set.
    async fn bucket_config(&self, bucket: &str, kind: &str) -> EngineResult<Option<Vec<u8>>>;

    /// Creates a user; [`EngineError::UserExists`] if the name is taken.
    async fn create_user(&self, user: UserRecord) -> EngineResult<()>;

    /// Removes a user and all its keys, unless it owns buckets
    /// ([`EngineError::UserOwnsBuckets`]); returns the keys removed.
    async fn delete_user(&self, name: &str) -> EngineResult<Vec<KeyRecord>>;

    /// Every user, ordered by name.
    async fn list_users(&self) -> EngineResult<Vec<UserRecord>>;

    /// Adds an access key to an existing user; [`EngineError::AccessKeyExists`]
    /// if the access key is taken.
    async fn create_key(&self, key: KeyRecord) -> EngineResult<()>;

    /// Changes a key (its enabled flag); [`EngineError::NoSuchAccessKey`] if absent.
    async fn update_key(&self, key: KeyRecord) -> EngineResult<()>;

    /// Removes an access key; returns it.
    async fn delete_key(&self, access_key: &str) -> EngineResult<KeyRecord>;

    /// Every access key, ordered by access key.
    async fn list_keys(&self) -> EngineResult<Vec<KeyRecord>>;

    /// Lists uploads in progress by key, then by upload id; with
    /// `upload_id_marker`, uploads of the `start_after` key after that id come
    /// first.
    async fn list_uploads(
        &self,
        bucket: &str,
        query: &ListQuery,
        upload_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<UploadRecord>>;
}
