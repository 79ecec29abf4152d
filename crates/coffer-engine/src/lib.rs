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
pub use list::{ListEntry, ListPage, ListQuery, Listed, ListedVersion, ObjectSummary};
pub use record::{
    BucketEncryption, BucketRecord, BucketUsage, COMPLIANCE, Checksums, ContentHeaders, EncryptionRecord, GOVERNANCE,
    KeyRecord, LockRecord, NULL_VERSION_ID, ObjectRecord, PartRecord, Segment, UploadRecord, UserRecord,
    VERSIONING_ENABLED, VERSIONING_SUSPENDED,
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

/// The key an object's data is sealed under at rest: a customer's (SSE-C) or
/// the server's master key (SSE-S3). The engine derives a key per data file
/// from it and never stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey(pub [u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
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

/// Why a caller's change to a record was refused, in the caller's own terms:
/// the engine hands it back untouched as [`EngineError::Rejected`].
pub type Rejection = Box<dyn std::error::Error + Send + Sync>;

/// A change to one object version's record, applied atomically with the read
/// of that record; returning an error leaves the record as it was. The engine
/// may apply it more than once, each time to the record as read then.
pub type ObjectChange = Box<dyn Fn(&mut ObjectRecord) -> Result<(), Rejection> + Send + Sync>;

/// A change to a bucket's record, applied atomically with its read; like an
/// [`ObjectChange`], it may be applied more than once.
pub type BucketChange = Box<dyn Fn(&mut BucketRecord) -> Result<(), Rejection> + Send + Sync>;

/// How a delete without a version id treats the key, and who asks.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// The id of the user deleting; a delete marker it creates is theirs.
    pub owner: String,
    /// Whether GOVERNANCE-mode retention may be overridden (the caller has
    /// asked for it and is allowed to).
    pub bypass_governance: bool,
}

/// What a delete did, as S3 reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed, or the delete marker created; `None` when the
    /// bucket is unversioned and no version was named.
    pub version_id: Option<String>,
    /// Whether the version removed, or the one created, is a delete marker.
    pub delete_marker: bool,
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

    /// Applies `change` to a bucket's record; returns the record as stored.
    async fn update_bucket(&self, name: &str, change: BucketChange) -> EngineResult<BucketRecord>;

    /// Removes a bucket with no object versions and no delete markers;
    /// [`EngineError::BucketNotEmpty`] otherwise.
    async fn delete_bucket(&self, name: &str) -> EngineResult<()>;

    /// Writes a body durably into the staging area; with a `sealing` key, the
    /// bytes are encrypted (AES-256-GCM) under a key derived from it.
    async fn stage(&self, body: ByteStream, sealing: Option<&SealingKey>) -> EngineResult<Box<dyn StagedData>>;

    /// What a bucket holds now; one lookup, whatever the bucket's size.
    async fn bucket_usage(&self, bucket: &str) -> EngineResult<BucketUsage>;

    /// Makes `object` the current version of its key, its data being `staged`,
    /// if `condition` holds ([`EngineError::PreconditionFailed`] or
    /// [`EngineError::NoSuchKey`] otherwise) and the bucket's quota allows
    /// it ([`EngineError::QuotaExceeded`] otherwise, judged in the same
    /// transaction as the write); returns the record as stored.
    ///
    /// The bucket's versioning state, read in the same transaction, decides
    /// the version id: a new unique id when versioning is enabled; otherwise
    /// [`NULL_VERSION_ID`], replacing the key's null version (whose bytes are
    /// released) unless it is locked ([`EngineError::ObjectLocked`]).
    async fn put_object(
        &self,
        bucket: &str,
        object: ObjectRecord,
        staged: Box<dyn StagedData>,
        condition: WriteCondition,
    ) -> EngineResult<ObjectRecord>;

    /// Returns the record of a key's version (the current one when `version_id`
    /// is `None`), or [`EngineError::NoSuchKey`] / [`EngineError::NoSuchVersion`];
    /// [`EngineError::DeleteMarker`] when that version is a delete marker.
    async fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord>;

    /// Streams the bytes of an object version whose record was already read,
    /// decrypting sealed data with the key it was staged with.
    /// Fails with [`EngineError::VersionGone`] if that version was replaced or
    /// removed since its record was read; the caller reads the record again.
    async fn open(
        &self,
        object: &ObjectRecord,
        range: Option<ByteRange>,
        sealing: Option<&SealingKey>,
    ) -> EngineResult<ByteStream>;

    /// Applies `change` to the record of a key's version (the current one when
    /// `version_id` is `None`) and returns the record as stored. Fails as
    /// [`Engine::object`] does when there is no such version.
    async fn update_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        change: ObjectChange,
    ) -> EngineResult<ObjectRecord>;

    /// Deletes as S3 does. With a `version_id`, removes that version for good
    /// (succeeding when it does not exist) unless it is locked
    /// ([`EngineError::ObjectLocked`]). Without one, an unversioned bucket
    /// loses the key's null version; a versioned bucket gets a new delete
    /// marker as the key's current version, and a suspended one a null delete
    /// marker in place of the null version.
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        options: &DeleteOptions,
    ) -> EngineResult<Deleted>;

    /// Lists the current versions of keys in a bucket, in UTF-8 byte order;
    /// keys whose current version is a delete marker are left out.
    async fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage>;

    /// Lists every version and delete marker in a bucket: by key in UTF-8
    /// byte order, then newest first. A page starts after `start_after`'s
    /// version `version_id_marker`, or after all versions of `start_after`.
    async fn list_object_versions(
        &self,
        bucket: &str,
        query: &ListQuery,
        version_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<ListedVersion>>;

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
    /// upload's parts) the current version of its key as
    /// [`Engine::put_object`] does, quota check included, if `condition`
    /// holds and every segment is still the part it names
    /// ([`EngineError::InvalidPart`] otherwise). Parts left out are freed.
    /// Returns the record as stored.
    async fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: ObjectRecord,
        condition: WriteCondition,
    ) -> EngineResult<ObjectRecord>;

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
