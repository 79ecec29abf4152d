//! The records every backend stores. Field additions must carry
//! `#[serde(default)]` so that records written by an older Coffer still load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The version id S3 gives objects written while versioning is off.
pub const NULL_VERSION_ID: &str = "null";

/// A bucket and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    /// The id of the user who created the bucket.
    pub owner: String,
    /// The LocationConstraint given at creation; `None` is us-east-1's empty one.
    #[serde(default)]
    pub location: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// `Enabled` or `Suspended` once versioning has been configured.
    #[serde(default)]
    pub versioning: Option<String>,
    #[serde(default)]
    pub object_lock_enabled: bool,
    /// How new versions are encrypted when a write asks for nothing.
    #[serde(default)]
    pub default_encryption: Option<BucketEncryption>,
    /// The most bytes the bucket's versions may hold together. A write that
    /// would grow them past it is refused ([`crate::EngineError::QuotaExceeded`]);
    /// one that shrinks them, or replaces a version with one no larger, is not.
    #[serde(default)]
    pub quota_bytes: Option<u64>,
}

/// What a bucket holds. Backends keep it current with every write, so
/// reading it costs no walk of the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketUsage {
    /// Object versions holding data, current or not; delete markers are not
    /// counted. In a bucket that never had versioning, the object count.
    pub objects: u64,
    /// The size of those versions together.
    pub bytes: u64,
    /// Multipart uploads in progress. Their parts are not in `bytes`.
    pub uploads: u64,
}

/// A bucket's default server-side encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `AES256`.
    pub algorithm: String,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// The versioning states S3 names.
pub const VERSIONING_ENABLED: &str = "Enabled";
pub const VERSIONING_SUSPENDED: &str = "Suspended";

impl BucketRecord {
    /// Whether writes create new versions rather than replace the null one.
    pub fn versioning_enabled(&self) -> bool {
        self.versioning.as_deref() == Some(VERSIONING_ENABLED)
    }
}

/// The standard HTTP headers S3 stores with an object and returns on reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_encoding: Option<String>,
    #[serde(default)]
    pub content_disposition: Option<String>,
    #[serde(default)]
    pub content_language: Option<String>,
    #[serde(default)]
    pub cache_control: Option<String>,
    /// The Expires header exactly as the client sent it.
    #[serde(default)]
    pub expires: Option<String>,
}

/// Base64 checksums of an object or of one of its parts, as S3 returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    #[serde(default)]
    pub crc32: Option<String>,
    #[serde(default)]
    pub crc32c: Option<String>,
    #[serde(default)]
    pub crc64nvme: Option<String>,
    #[serde(default)]
    pub sha1: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE`, when a checksum is present.
    #[serde(default)]
    pub checksum_type: Option<String>,
}

impl Checksums {
    pub fn is_empty(&self) -> bool {
        self.crc32.is_none()
            && self.crc32c.is_none()
            && self.crc64nvme.is_none()
            && self.sha1.is_none()
            && self.sha256.is_none()
    }
}

/// One stretch of an object's bytes, held by one data file. A single PUT makes
/// one segment; a multipart upload makes one per part, in part order, so that
/// completing an upload never copies bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// The backend's name for the data file.
    pub blob: String,
    pub size: u64,
    /// The part number for multipart objects, 0 for a single PUT.
    #[serde(default)]
    pub part_number: u32,
    /// The part's ETag (hex MD5, unquoted) for multipart objects.
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub checksums: Checksums,
    /// The random salt the data file's key was derived with, when the data is
    /// sealed (encrypted at rest); `None` for plain data.
    #[serde(default)]
    pub salt: Option<Vec<u8>>,
    /// Whether the backend keeps the bytes with the metadata rather than in a
    /// data file of their own (small objects).
    #[serde(default)]
    pub inline: bool,
}

/// The retention mode anyone allowed may override.
pub const GOVERNANCE: &str = "GOVERNANCE";
/// The retention mode nobody can override, shorten or remove.
pub const COMPLIANCE: &str = "COMPLIANCE";

/// Object lock state of a version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// `GOVERNANCE` or `COMPLIANCE`.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub retain_until: Option<OffsetDateTime>,
    #[serde(default)]
    pub legal_hold: bool,
}

impl LockRecord {
    /// Whether the version must not be removed at `now`: it is under a legal
    /// hold, or retained until later in a mode the caller cannot override.
    pub fn forbids_removal(&self, now: OffsetDateTime, bypass_governance: bool) -> bool {
        let retained = self.retain_until.is_some_and(|until| until > now);
        let overridable = bypass_governance && self.mode.as_deref() == Some(GOVERNANCE);
        self.legal_hold || (retained && !overridable)
    }
}

/// Server-side encryption applied to a version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionRecord {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    #[serde(default)]
    pub key_id: Option<String>,
    /// For a customer-provided key (SSE-C): the base64 MD5 of that key, which
    /// every read must present again. `None` when the server's key is used.
    #[serde(default)]
    pub customer_key_md5: Option<String>,
}

/// One version of an object: its metadata and where its bytes are.
///
/// Stored as MessagePack with named fields, in this order: the fields a
/// listing shows come first, and the listing's reader (`coffer-store`'s
/// `summary.rs`) stops once it has read them. Records written in another
/// order read the same, only without that shortcut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub key: String,
    pub size: u64,
    /// Hex MD5 of the body, or of the part MD5s followed by `-N`; unquoted.
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// The id of the user who wrote this version.
    pub owner: String,
    #[serde(default)]
    pub checksums: Checksums,
    #[serde(default)]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub delete_marker: bool,
    /// [`NULL_VERSION_ID`] while the bucket is unversioned.
    pub version_id: String,
    #[serde(default)]
    pub content: ContentHeaders,
    /// `x-amz-meta-*` values, keyed by the lower-case name after the prefix.
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub lock: Option<LockRecord>,
    #[serde(default)]
    pub encryption: Option<EncryptionRecord>,
    /// The version's access control list, as the front end encodes it;
    /// `None` is the default: its owner alone.
    #[serde(default)]
    pub acl: Option<String>,
}

impl ObjectRecord {
    /// A delete marker for `key`, made by `owner` now.
    pub fn delete_marker(key: &str, version_id: String, owner: &str) -> ObjectRecord {
        ObjectRecord {
            key: key.to_owned(),
            version_id,
            size: 0,
            etag: String::new(),
            last_modified: OffsetDateTime::now_utc(),
            owner: owner.to_owned(),
            content: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
            checksums: Checksums::default(),
            segments: Vec::new(),
            storage_class: None,
            tags: BTreeMap::new(),
            lock: None,
            encryption: None,
            delete_marker: true,
            acl: None,
        }
    }

    /// The ETag as S3 sends it, in double quotes.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// A multipart upload in progress: what CreateMultipartUpload declared, to be
/// applied to the object that completing it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub upload_id: String,
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub initiated: OffsetDateTime,
    /// The id of the user who created the upload.
    pub owner: String,
    #[serde(default)]
    pub content: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    /// The checksum algorithm every part must carry, as S3 names it.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT`.
    #[serde(default)]
    pub checksum_type: Option<String>,
    #[serde(default)]
    pub storage_class: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub lock: Option<LockRecord>,
    #[serde(default)]
    pub encryption: Option<EncryptionRecord>,
    /// The ACL the completed object gets, as the front end encodes it.
    #[serde(default)]
    pub acl: Option<String>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub part_number: u32,
    pub size: u64,
    /// Hex MD5 of the part, unquoted.
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    #[serde(default)]
    pub checksums: Checksums,
    /// The backend's name for the part's data file; set by the engine.
    #[serde(default)]
    pub blob: String,
    /// The salt of the part's sealed data file; set by the engine.
    #[serde(default)]
    pub salt: Option<Vec<u8>>,
}

impl PartRecord {
    /// The segment this part becomes in the completed object.
    pub fn segment(&self) -> Segment {
        Segment {
            blob: self.blob.clone(),
            size: self.size,
            part_number: self.part_number,
            etag: Some(self.etag.clone()),
            checksums: self.checksums.clone(),
            salt: self.salt.clone(),
            inline: false,
        }
    }
}

/// A user who can own buckets and sign requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The name administrators use for the user; unique.
    pub name: String,
    /// The canonical id S3 shows in Owner elements; stable for a name.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// Whether the user may use the admin API.
    #[serde(default)]
    pub admin: bool,
}

/// An access key pair of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub access_key: String,
    /// Kept in the clear: SigV4 verification needs it.
    pub secret_key: String,
    /// The name of the user the key belongs to.
    pub user: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}
