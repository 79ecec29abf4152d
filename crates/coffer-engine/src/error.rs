use thiserror::Error;

pub type EngineResult<T> = Result<T, EngineError>;

/// What can go wrong in storage. The S3 front end maps each variant to exactly
/// one S3 error; [`EngineError::Internal`] and [`EngineError::Io`] become
/// `InternalError`.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("no such bucket: {0}")]
    NoSuchBucket(String),
    #[error("bucket already exists: {name}")]
    BucketExists { name: String, owner: String },
    #[error("bucket not empty: {0}")]
    BucketNotEmpty(String),
    #[error("no such key: {0}")]
    NoSuchKey(String),
    #[error("no such version {version_id} of key {key}")]
    NoSuchVersion { key: String, version_id: String },
    /// The version asked for is a delete marker. `named` tells whether the
    /// request named it by its version id, or found it as the current version.
    #[error("version {version_id} of key {key} is a delete marker")]
    DeleteMarker {
        key: String,
        version_id: String,
        named: bool,
    },
    /// A version id that this engine could never have issued.
    #[error("invalid version id: {0}")]
    InvalidVersionId(String),
    /// The version is under a legal hold or an unexpired retention period.
    #[error("object version {version_id} of key {key} is locked")]
    ObjectLocked { key: String, version_id: String },
    /// The caller's own change refused the record it was given.
    #[error("{0}")]
    Rejected(crate::Rejection),
    #[error("no such upload: {0}")]
    NoSuchUpload(String),
    /// A part named in a completion is missing, or is not the part uploaded.
    #[error("invalid part {0}")]
    InvalidPart(u32),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("user already exists: {0}")]
    UserExists(String),
    #[error("user {0} still owns buckets")]
    UserOwnsBuckets(String),
    #[error("no such access key: {0}")]
    NoSuchAccessKey(String),
    #[error("access key already exists: {0}")]
    AccessKeyExists(String),
    /// The write would take the bucket's versions past its quota.
    #[error("bucket {0} would exceed its quota")]
    QuotaExceeded(String),
    #[error("the condition on the current version does not hold")]
    PreconditionFailed,
    #[error("the object version was replaced while it was being opened")]
    VersionGone,
    #[error("not enough space on the data volume")]
    StorageFull,
    #[error("the request body could not be read: {0}")]
    Body(std::io::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
