//! Object operations: PUT, GET, HEAD, DELETE and DeleteObjects.

use coffer_engine::{
    BucketRecord, ByteRange, ByteStream, DeleteOptions, NULL_VERSION_ID, ObjectRecord, WriteCondition,
};
use futures::{StreamExt, TryStreamExt};
use http::HeaderMap;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::lock::lock_headers;
use super::{CofferS3, tagging};
use crate::checksum::{DEFAULT_ALGORITHM, Declared, Digest, set_checksums};
use crate::conditions::{Conditions, WhenUnchanged};
use crate::error::{custom, from_engine};
use crate::headers::{content_headers, user_metadata};
use crate::sse::{customer_key, key_for_read, sealing_for_write, set_encryption};

/// The largest object a single PUT may store, as in Amazon S3.
pub(super) const PUT_OBJECT_BYTES_MAX: u64 = 5 << 30;
/// DeleteObjects takes at most this many keys.
const DELETE_OBJECTS_KEYS_MAX: usize = 1000;

/// The version id a request names; `null` is the version of objects written
/// while versioning is off.
pub(super) fn requested_version(version_id: Option<&str>) -> Option<&str> {
    version_id.filter(|id| !id.is_empty())
}

/// The version id S3 reports for a version: its id, except that a bucket
/// that never had versioning configured reports none for its null versions.
pub(super) fn reported_version(bucket: &BucketRecord, object: &ObjectRecord) -> Option<String> {
    (bucket.versioning.is_some() || object.version_id != NULL_VERSION_ID).then(|| object.version_id.clone())
}

/// A request body as the engine takes it. A client that stalls fails it
/// (the edge's [`crate::request_body`] watch), which answers
/// `RequestTimeout`.
pub(super) fn body_stream(body: Option<StreamingBlob>) -> ByteStream {
    match body {
        Some(body) => body.map_err(std::io::Error::other).boxed(),
        None => futures::stream::empty().boxed(),
    }
}

/// The data an object write stores, with the SHA-256 it must have if the
/// edge left that check to the write (`crate::signed_payload`).
pub(super) fn object_data(
    extensions: &http::Extensions,
    body: Option<StreamingBlob>,
) -> (ByteStream, Option<[u8; 32]>) {
    match crate::signed_payload::take(extensions) {
        Some((body, sha256)) => (body.map_err(std::io::Error::other).boxed(), Some(sha256)),
        None => (body_stream(body), None),
    }
}

/// Refuses bodies whose declared size is over `limit` before a byte of them
/// is stored; returns the declared size, if the request declares one.
pub(super) fn check_declared_size(
    headers: &HeaderMap,
    content_length: Option<i64>,
    limit: u64,
) -> S3Result<Option<u64>> {
    let decoded = headers
        .get("x-amz-decoded-content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let declared = decoded.or(content_length.and_then(|len| u64::try_from(len).ok()));
    if declared.is_some_and(|len| len > limit) {
        return Err(s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size."
        ));
    }
    Ok(declared)
}

/// Fills the fields GET and HEAD share (their outputs are distinct types
/// with the same field names). Checksums describe the whole object, so they
/// are returned only when asked for and the whole object is read.
macro_rules! fill_read_output {
    ($plan:expr, $bucket:expr, $checksum_mode:expr, $output:expr) => {{
        let plan: &ReadPlan = &$plan;
        let object = &plan.object;
        let content = &object.content;
        $output.accept_ranges = Some("bytes".to_owned());
        $output.content_length = i64::try_from(plan.range.map_or(object.size, |r| r.end - r.first)).ok();
        $output.content_range = plan
            .range
            .map(|r| format!("bytes {}-{}/{}", r.first, r.end.saturating_sub(1), object.size));
        $output.e_tag = Some(ETag::Strong(object.etag.clone()));
        $output.last_modified = Some(object.last_modified.into());
        $output.content_type = content.content_type.clone();
        $output.content_encoding = content.content_encoding.clone();
        $output.content_disposition = content.content_disposition.clone();
        $output.content_language = content.content_language.clone();
        $output.cache_control = content.cache_control.clone();
        $output.metadata = (!object.user_metadata.is_empty()).then(|| {
            object
                .user_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        $output.parts_count = plan.parts_count;
        $output.version_id = reported_version($bucket, object);
        $output.storage_class = object.storage_class.clone().map(StorageClass::from);
        set_encryption!($output, object.encryption.as_ref());
        if let Some(lock) = &object.lock {
            $output.object_lock_mode = lock.mode.clone().map(ObjectLockMode::from);
            $output.object_lock_retain_until_date = lock.retain_until.map(Timestamp::from);
            $output.object_lock_legal_hold_status = lock
                .legal_hold
                .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON));
        }
        if $checksum_mode && plan.range.is_none_or(|r| r.first == 0 && r.end == object.size) {
            set_checksums!($output, &object.checksums, with_type);
        }
    }};
}
/// S3's conditional writes: `If-None-Match: *` writes only a new key,
/// `If-Match: "etag"` only over that exact version.
pub(super) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteCondition::Always),
        (Some(ETagCondition::ETag(etag)), None) => Ok(WriteCondition::IfEtag(etag.value().to_owned())),
        (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfAbsent),
        (Some(ETagCondition::Any), None) => Ok(WriteCondition::Always),
        (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both If-Match and If-None-Match on a write"
        )),
    }
}

/// What GET and HEAD share: which version, and which bytes of it.
struct ReadRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    version_id: Option<&'a str>,
    part_number: Option<i32>,
    range: Option<Range>,
    conditions: Conditions<'a>,
    /// Whether the client asked for the object's checksums.
    checksum_mode: bool,
}

/// Builds a [`ReadRequest`] from a GET or HEAD input (distinct types with
/// the same field names).
macro_rules! read_request {
    ($input:expr) => {
        ReadRequest {
            bucket: &$input.bucket,
            key: &$input.key,
            version_id: requested_version($input.version_id.as_deref()),
            part_number: $input.part_number,
            range: $input.range,
            conditions: Conditions {
                if_match: $input.if_match.as_ref(),
                if_none_match: $input.if_none_match.as_ref(),
                if_modified_since: $input.if_modified_since.as_ref(),
                if_unmodified_since: $input.if_unmodified_since.as_ref(),
            },
            checksum_mode: $input
                .checksum_mode
                .as_ref()
                .is_some_and(|mode| mode.as_str() == ChecksumMode::ENABLED),
        }
    };
}

impl ReadRequest<'_> {
    /// Checks the conditions against `object` and finds the bytes asked for:
    /// the number of parts (when a part was asked for) and the byte range.
    fn resolve(&self, object: &ObjectRecord) -> S3Result<(Option<i32>, Option<ByteRange>)> {
        self.conditions.check(object, WhenUnchanged::NotModified)?;
        let parts: Vec<_> = object.segments.iter().filter(|s| s.part_number > 0).collect();
        match (self.part_number, self.range) {
            (Some(_), Some(_)) => Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            )),
            (Some(number), None) => {
                let invalid_part = || {
                    custom(
                        "InvalidPartNumber",
                        http::StatusCode::RANGE_NOT_SATISFIABLE,
                        "The requested partnumber is not satisfiable",
                    )
                };
                let index = usize::try_from(number)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(invalid_part)?
                    - 1;
                if parts.is_empty() {
                    return if index == 0 {
                        Ok((None, None))
                    } else {
                        Err(invalid_part())
                    };
                }
                let part = parts.get(index).ok_or_else(invalid_part)?;
                let first: u64 = parts[..index].iter().map(|p| p.size).sum();
                let range = ByteRange {
                    first,
                    end: first + part.size,
                };
                Ok((i32::try_from(parts.len()).ok(), Some(range)))
            }
            (None, Some(range)) => {
                let satisfiable = range
                    .check(object.size)
                    .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
                let range = ByteRange {
                    first: satisfiable.start,
                    end: satisfiable.end,
                };
                Ok((None, Some(range)))
            }
            (None, None) => Ok((None, None)),
        }
    }
}

/// The part of an object a read returns.
struct ReadPlan {
    object: ObjectRecord,
    range: Option<ByteRange>,
    /// The number of parts, reported when a part was asked for.
    parts_count: Option<i32>,
}

impl CofferS3 {
    pub(super) async fn do_put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let user = self.caller(&req)?;
        if let Some(size) = check_declared_size(&req.headers, req.input.content_length, PUT_OBJECT_BYTES_MAX)? {
            self.check_quota(&bucket, &req.input.key, size).await?;
        }
        let declared = Declared::from_headers(&req.headers, DEFAULT_ALGORITHM)?;
        let acl = self.requested_object_acl(&req.headers, &bucket, &user.id).await?;
        let lock = self.requested_lock(&bucket, lock_headers!(req.input)).await?;
        let input = req.input;
        let customer = customer_key!(
            input.sse_customer_algorithm,
            input.sse_customer_key,
            input.sse_customer_key_md5
        )?;
        let sealing = sealing_for_write(
            &self.master_key,
            input.server_side_encryption.as_ref(),
            customer,
            bucket.default_encryption.as_ref(),
        )?;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let metadata = user_metadata(input.metadata.as_ref())?;
        let tags = tagging::from_header(input.tagging.as_deref())?;
        let content = content_headers!(req.headers, input);

        let (data, signed_sha256) = object_data(&req.extensions, input.body);
        let (staged, digest) = self
            .stage_hashed(
                data,
                signed_sha256,
                &[declared.algorithm],
                sealing.as_ref().map(|sealing| &sealing.key),
            )
            .await?;
        declared.verify(&digest, req.trailing_headers.as_ref())?;
        if staged.size() > PUT_OBJECT_BYTES_MAX {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed object size."
            ));
        }

        let mut object = new_object(input.key, &digest, staged.size(), user.id, content, metadata);
        object.acl = acl;
        object.lock = lock;
        object.encryption = sealing.map(|sealing| sealing.record);
        object.tags = tags;
        let mut output = PutObjectOutput {
            e_tag: Some(ETag::Strong(object.etag.clone())),
            ..Default::default()
        };
        set_encryption!(output, object.encryption.as_ref());
        set_checksums!(output, &object.checksums, with_type);
        let stored = self
            .engine
            .put_object(&bucket.name, object, staged, condition)
            .await
            .map_err(from_engine)?;
        output.version_id = reported_version(&bucket, &stored);
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let read = read_request!(input);
        let customer = customer_key!(
            input.sse_customer_algorithm,
            input.sse_customer_key,
            input.sse_customer_key_md5
        )?;
        let opened = self
            .open_version(read.bucket, read.key, read.version_id, customer.as_ref(), |object| {
                read.resolve(object)
            })
            .await?;
        let plan = ReadPlan {
            object: opened.object,
            range: opened.range,
            parts_count: opened.plan,
        };
        let mut output = GetObjectOutput {
            body: Some(StreamingBlob::wrap(sync_wrapper::SyncStream::new(opened.body))),
            ..Default::default()
        };
        fill_read_output!(plan, &bucket, read.checksum_mode, output);
        Ok(S3Response::with_headers(output, plan.headers()))
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let read = read_request!(input);
        let object = self
            .engine
            .object(read.bucket, read.key, read.version_id)
            .await
            .map_err(from_engine)?;
        let customer = customer_key!(
            input.sse_customer_algorithm,
            input.sse_customer_key,
            input.sse_customer_key_md5
        )?;
        key_for_read(&self.master_key, &object, customer.as_ref())?;
        let (parts_count, range) = read.resolve(&object)?;
        let plan = ReadPlan {
            object,
            range,
            parts_count,
        };
        let mut output = HeadObjectOutput::default();
        fill_read_output!(plan, &bucket, read.checksum_mode, output);
        Ok(S3Response::with_headers(output, plan.headers()))
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let options = self
            .delete_options(&req, &bucket, &input.key, input.bypass_governance_retention)
            .await?;
        let deleted = self
            .engine
            .delete_object(
                &bucket.name,
                &input.key,
                requested_version(input.version_id.as_deref()),
                &options,
            )
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            version_id: deleted.version_id,
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let objects = &req.input.delete.objects;
        if objects.is_empty() || objects.len() > DELETE_OBJECTS_KEYS_MAX {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in objects {
            let version_id = requested_version(object.version_id.as_deref());
            let outcome = match self
                .delete_options(&req, &bucket, &object.key, req.input.bypass_governance_retention)
                .await
            {
                Ok(options) => self
                    .engine
                    .delete_object(&bucket.name, &object.key, version_id, &options)
                    .await
                    .map_err(from_engine),
                Err(err) => Err(err),
            };
            match outcome {
                Ok(_) if quiet => {}
                Ok(done) => deleted.push(DeletedObject {
                    key: Some(object.key.clone()),
                    version_id: object.version_id.clone(),
                    delete_marker: done.delete_marker.then_some(true),
                    delete_marker_version_id: done.version_id.filter(|_| done.delete_marker),
                }),
                Err(err) => errors.push(Error {
                    code: Some(err.code().as_str().to_owned()),
                    message: err.message().map(str::to_owned),
                    key: Some(object.key.clone()),
                    version_id: object.version_id.clone(),
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            request_charged: None,
        }))
    }

    /// Who deletes, and whether they may override GOVERNANCE retention.
    async fn delete_options<T>(
        &self,
        req: &S3Request<T>,
        bucket: &BucketRecord,
        key: &str,
        bypass_requested: Option<bool>,
    ) -> S3Result<DeleteOptions> {
        Ok(DeleteOptions {
            owner: self.caller(req)?.id,
            bypass_governance: self.may_bypass_governance(req, bucket, key, bypass_requested).await,
        })
    }

    /// Whether a request may override GOVERNANCE retention: it must ask to
    /// and be allowed `s3:BypassGovernanceRetention`.
    pub(super) async fn may_bypass_governance<T>(
        &self,
        req: &S3Request<T>,
        bucket: &BucketRecord,
        key: &str,
        bypass_requested: Option<bool>,
    ) -> bool {
        bypass_requested == Some(true)
            && self
                .authorizer
                .authorize(
                    req.credentials.as_ref(),
                    bucket,
                    Some(key),
                    "s3:BypassGovernanceRetention",
                    Default::default,
                )
                .await
                .is_ok()
    }
}

/// A new version's record, from what was received and computed.
pub(super) fn new_object(
    key: String,
    digest: &Digest,
    size: u64,
    owner: String,
    content: coffer_engine::ContentHeaders,
    user_metadata: std::collections::BTreeMap<String, String>,
) -> ObjectRecord {
    ObjectRecord {
        key,
        version_id: NULL_VERSION_ID.to_owned(),
        size,
        etag: digest.etag(),
        last_modified: time::OffsetDateTime::now_utc(),
        owner,
        content,
        user_metadata,
        checksums: digest.checksums.clone(),
        segments: Vec::new(),
        storage_class: None,
        tags: Default::default(),
        lock: None,
        encryption: None,
        delete_marker: false,
        acl: None,
    }
}

impl ReadPlan {
    /// Headers GET and HEAD both return that s3s's outputs cannot carry: the
    /// stored Expires verbatim, and the number of tags, which S3 sends on
    /// HEAD too though s3s's HEAD output has no field for it.
    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(expires) = &self.object.content.expires
            && let Ok(value) = http::HeaderValue::from_str(expires)
        {
            headers.insert(http::header::EXPIRES, value);
        }
        if !self.object.tags.is_empty() {
            headers.insert("x-amz-tagging-count", http::HeaderValue::from(self.object.tags.len()));
        }
        headers
    }
}
