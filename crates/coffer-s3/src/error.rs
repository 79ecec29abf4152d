//! The one place where storage errors become S3 errors.

use coffer_engine::EngineError;
use s3s::{S3Error, S3ErrorCode, s3_error};

/// Maps an engine error to the S3 error Amazon S3 returns for that condition.
/// Unexpected failures become `InternalError` and are logged here, once.
pub fn from_engine(err: EngineError) -> S3Error {
    match err {
        EngineError::NoSuchBucket(_) => {
            s3_error!(NoSuchBucket, "The specified bucket does not exist")
        }
        EngineError::BucketExists { .. } => s3_error!(
            BucketAlreadyExists,
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
        ),
        EngineError::BucketNotEmpty(_) => s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"),
        EngineError::NoSuchKey(_) => s3_error!(NoSuchKey, "The specified key does not exist."),
        EngineError::NoSuchVersion { .. } => {
            s3_error!(NoSuchVersion, "The specified version does not exist.")
        }
        EngineError::DeleteMarker { version_id, named, .. } => {
            let mut err = if named {
                s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                )
            } else {
                s3_error!(NoSuchKey, "The specified key does not exist.")
            };
            let mut headers = http::HeaderMap::new();
            headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
            if let Ok(version_id) = http::HeaderValue::from_str(&version_id) {
                headers.insert("x-amz-version-id", version_id);
            }
            err.set_headers(headers);
            err
        }
        EngineError::InvalidVersionId(_) => s3_error!(InvalidArgument, "Invalid version id specified"),
        EngineError::ObjectLocked { .. } => {
            s3_error!(AccessDenied, "Access Denied because object protected by object lock.")
        }
        EngineError::Rejected(rejection) => match rejection.downcast::<S3Error>() {
            Ok(err) => *err,
            Err(other) => {
                tracing::error!(%other, "a change was refused for a reason that is no S3 error");
                s3_error!(InternalError, "We encountered an internal error. Please try again.")
            }
        },
        EngineError::NoSuchUpload(_) => s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        EngineError::InvalidPart(_) => invalid_part(),
        EngineError::NoSuchUser(_) => custom("NoSuchEntity", http::StatusCode::NOT_FOUND, "The user does not exist."),
        EngineError::NoSuchAccessKey(_) => custom(
            "NoSuchEntity",
            http::StatusCode::NOT_FOUND,
            "The access key does not exist.",
        ),
        EngineError::UserExists(_) => custom(
            "EntityAlreadyExists",
            http::StatusCode::CONFLICT,
            "A user with that name already exists.",
        ),
        EngineError::AccessKeyExists(_) => custom(
            "EntityAlreadyExists",
            http::StatusCode::CONFLICT,
            "That access key is already in use.",
        ),
        EngineError::UserOwnsBuckets(_) => custom(
            "DeleteConflict",
            http::StatusCode::CONFLICT,
            "The user still owns buckets; delete them first.",
        ),
        EngineError::QuotaExceeded(_) => quota_exceeded(),
        EngineError::PreconditionFailed => {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        }
        EngineError::Body(err) => from_body_error(err),
        EngineError::StorageFull => custom(
            "XCofferStorageFull",
            http::StatusCode::INSUFFICIENT_STORAGE,
            "The server has no space left to store this object.",
        ),
        err @ (EngineError::VersionGone | EngineError::Io(_) | EngineError::Internal(_)) => {
            tracing::error!(%err, "storage failed");
            s3_error!(InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

/// Maps a failure while reading a request body. s3s reports the verification
/// failures of signed and streamed bodies only as error text (its error
/// types are private), so the text is matched here and nowhere else.
pub(crate) fn from_body_error(err: std::io::Error) -> S3Error {
    let text = err.to_string();
    // The edge's watch fails a stalled body; s3s's body layers wrap the
    // error, keeping its text but not its kind.
    if err.kind() == std::io::ErrorKind::TimedOut || text.contains(crate::request_body::STALLED) {
        s3_error!(
            RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
        )
    } else if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided."
        )
    } else if text.contains("Sha256Mismatch") {
        sha256_mismatch()
    } else if text.contains("FormatError") {
        s3_error!(IncompleteBody, "The request body is not valid aws-chunked encoding.")
    } else {
        tracing::debug!(%text, "request body ended early");
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        )
    }
}

/// A body whose SHA-256 is not the signed `x-amz-content-sha256`.
pub(crate) fn sha256_mismatch() -> S3Error {
    custom(
        "XAmzContentSHA256Mismatch",
        http::StatusCode::BAD_REQUEST,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
}

/// An S3 error code that s3s has no variant for.
pub fn custom(code: &'static str, status: http::StatusCode, message: &'static str) -> S3Error {
    let mut err = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    err.set_status_code(status);
    err
}

/// A completion names a part that was not uploaded, or not with that ETag.
pub fn invalid_part() -> S3Error {
    s3_error!(
        InvalidPart,
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )
}

/// A write would take its bucket past the quota an administrator set. S3 has
/// no bucket quotas; the code is the one MinIO gives for them.
pub fn quota_exceeded() -> S3Error {
    custom("QuotaExceeded", http::StatusCode::FORBIDDEN, "Bucket quota exceeded")
}
