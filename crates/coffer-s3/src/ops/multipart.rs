//! Multipart uploads: create, upload a part (or copy one), complete, abort,
//! and list parts and uploads.
//!
//! The guarantees beyond S3 live in the engine's transactions: a part commits
//! only if its upload still exists, and complete and abort each end the
//! upload in one transaction, so once an abort has answered no part of that
//! upload is ever stored again, and of abort and complete exactly one wins.

use coffer_engine::{BucketRecord, ByteRange, Checksums, ObjectRecord, PartRecord, StagedData, UploadRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use super::copy::copy_source;
use super::list::{Encoding, common_prefixes, max_keys};
use super::lock::lock_headers;
use super::object::{check_declared_size, object_data, requested_version, write_condition};
use super::tagging;
use crate::checksum::{Algorithm, ChecksumKind, DEFAULT_ALGORITHM, Declared, Digest, combine_parts, set_checksums};
use crate::conditions::{Conditions, WhenUnchanged};
use crate::error::{from_engine, invalid_part};
use crate::headers::{content_headers, user_metadata};
use crate::sse::{customer_key, sealing_for_part, sealing_for_write, set_encryption};

/// Part numbers run from 1 to this, as in Amazon S3.
const PART_NUMBER_MAX: u32 = 10_000;
/// Every part but the last must be at least this large.
const PART_BYTES_MIN: u64 = 5 << 20;
/// A part is at most this large.
const PART_BYTES_MAX: u64 = 5 << 30;
/// ListParts returns at most this many parts a page.
const LIST_PARTS_MAX: usize = 1000;

/// Upload ids sort by creation time, so a key's uploads list oldest first as
/// S3 lists them; the random half makes them unguessable.
fn new_upload_id() -> String {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{:016x}{:016x}",
        u64::try_from(nanos).unwrap_or_default(),
        rand::random::<u64>()
    )
}

fn part_number(number: i32) -> S3Result<u32> {
    u32::try_from(number)
        .ok()
        .filter(|n| (1..=PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })
}

/// The algorithm an upload's parts and object are checksummed with.
fn upload_algorithm(upload: &UploadRecord) -> Algorithm {
    upload
        .checksum_algorithm
        .as_deref()
        .and_then(Algorithm::parse)
        .unwrap_or(DEFAULT_ALGORITHM)
}

fn upload_kind(upload: &UploadRecord) -> ChecksumKind {
    upload
        .checksum_type
        .as_deref()
        .and_then(ChecksumKind::parse)
        .unwrap_or(ChecksumKind::FullObject)
}

/// How many parts a page of parts (ListParts, or GetObjectAttributes's
/// ObjectParts) may hold: the number asked for, at most 1000.
pub(super) fn max_parts(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "Argument max-parts must be an integer between 0 and 2147483647"
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(LIST_PARTS_MAX).min(LIST_PARTS_MAX)),
        None => Ok(LIST_PARTS_MAX),
    }
}

/// The part number a page of parts starts after.
pub(super) fn part_number_marker(marker: Option<i32>) -> S3Result<u32> {
    marker.map_or(Ok(0), |marker| {
        u32::try_from(marker)
            .map_err(|_| s3_error!(InvalidArgument, "Part number marker must be a non-negative integer"))
    })
}

/// Only the checksum of `algorithm`, as a part response reports it.
pub(super) fn only(algorithm: Algorithm, checksums: &Checksums) -> Checksums {
    let mut reported = Checksums::default();
    let value = algorithm.value(checksums).cloned();
    match algorithm {
        Algorithm::Crc32 => reported.crc32 = value,
        Algorithm::Crc32c => reported.crc32c = value,
        Algorithm::Crc64Nvme => reported.crc64nvme = value,
        Algorithm::Sha1 => reported.sha1 = value,
        Algorithm::Sha256 => reported.sha256 = value,
    }
    reported
}

/// The ETag of a multipart object: the MD5 of the parts' binary MD5s, then
/// `-` and the number of parts.
fn multipart_etag(parts: &[&PartRecord]) -> S3Result<String> {
    let mut md5s = Vec::with_capacity(parts.len() * 16);
    for part in parts {
        md5s.extend(hex::decode(&part.etag).map_err(|_| invalid_part())?);
    }
    use s3s::crypto::Checksum as _;
    Ok(format!(
        "{}-{}",
        hex::encode(crate::hashing::Md5::checksum(&md5s)),
        parts.len()
    ))
}

/// Parses `x-amz-copy-source-range: bytes=first-last` against the source size.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<Option<ByteRange>> {
    let Some(range) = range else { return Ok(None) };
    let malformed = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(malformed)?;
    let first: u64 = first.trim().parse().map_err(|_| malformed())?;
    let last: u64 = last.trim().parse().map_err(|_| malformed())?;
    if first > last {
        return Err(malformed());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
    }
    Ok(Some(ByteRange { first, end: last + 1 }))
}

impl CofferS3 {
    pub(super) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let user = self.caller(&req)?;
        let input = req.input;
        let algorithm = Algorithm::from_request(input.checksum_algorithm.as_ref())?;
        let requested_kind = input.checksum_type.as_ref().map(ChecksumType::as_str);
        let kind = match algorithm {
            Some(algorithm) => Some(ChecksumKind::for_upload(algorithm, requested_kind)?),
            None if requested_kind.is_some() => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                ));
            }
            None => None,
        };
        let acl = self.requested_object_acl(&req.headers, &bucket, &user.id).await?;
        let lock = self.requested_lock(&bucket, lock_headers!(input)).await?;
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
        let upload = UploadRecord {
            upload_id: new_upload_id(),
            key: input.key.clone(),
            initiated: time::OffsetDateTime::now_utc(),
            owner: user.id,
            content: content_headers!(req.headers, input),
            user_metadata: user_metadata(input.metadata.as_ref())?,
            checksum_algorithm: algorithm.map(|a| a.name().to_owned()),
            checksum_type: kind.map(|k| k.name().to_owned()),
            storage_class: None,
            tags: tagging::from_header(input.tagging.as_deref())?,
            lock,
            // The key itself is not kept: every part of an SSE-C upload
            // brings it again.
            encryption: sealing.map(|sealing| sealing.record),
            acl,
        };
        let encryption = upload.encryption.clone();
        let upload_id = upload.upload_id.clone();
        self.engine
            .create_upload(&bucket.name, upload)
            .await
            .map_err(from_engine)?;
        let mut output = CreateMultipartUploadOutput {
            bucket: Some(bucket.name),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: kind.map(|k| ChecksumType::from(k.name().to_owned())),
            ..Default::default()
        };
        set_encryption!(output, encryption.as_ref());
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = &req.input;
        let (bucket, upload, number) = self
            .part_target(&req, &input.bucket, &input.key, &input.upload_id, input.part_number)
            .await?;
        check_declared_size(&req.headers, input.content_length, PART_BYTES_MAX)?;
        let algorithm = upload_algorithm(&upload);
        let declared = Declared::from_headers(&req.headers, algorithm)?;
        if upload.checksum_algorithm.is_some() && declared.algorithm != algorithm {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                algorithm.name().to_lowercase(),
                declared.algorithm.name().to_lowercase()
            ));
        }
        let customer = customer_key!(
            input.sse_customer_algorithm,
            input.sse_customer_key,
            input.sse_customer_key_md5
        )?;
        let sealing = sealing_for_part(&self.master_key, upload.encryption.as_ref(), customer)?;
        let input = req.input;
        let (data, signed_sha256) = object_data(&req.extensions, input.body);
        let (staged, digest) = self
            .stage_hashed(data, signed_sha256, &[algorithm, declared.algorithm], sealing.as_ref())
            .await?;
        declared.verify(&digest, req.trailing_headers.as_ref())?;
        if staged.size() > PART_BYTES_MAX {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size."
            ));
        }
        let part = self
            .commit_part(&bucket.name, &input.key, &input.upload_id, number, staged, digest)
            .await?;
        let mut output = UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag)),
            ..Default::default()
        };
        set_checksums!(output, &only(declared.algorithm, &part.checksums));
        set_encryption!(output, upload.encryption.as_ref());
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = &req.input;
        let (bucket, upload, number) = self
            .part_target(&req, &input.bucket, &input.key, &input.upload_id, input.part_number)
            .await?;
        let (source_bucket, source_key, source_version) = copy_source(&input.copy_source)?;
        self.source_bucket(&req, source_bucket, source_key).await?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let source_customer = customer_key!(
            input.copy_source_sse_customer_algorithm,
            input.copy_source_sse_customer_key,
            input.copy_source_sse_customer_key_md5
        )?;
        let customer = customer_key!(
            input.sse_customer_algorithm,
            input.sse_customer_key,
            input.sse_customer_key_md5
        )?;
        let sealing = sealing_for_part(&self.master_key, upload.encryption.as_ref(), customer)?;
        let source = self
            .open_version(
                source_bucket,
                source_key,
                requested_version(source_version),
                source_customer.as_ref(),
                |source| {
                    conditions.check(source, WhenUnchanged::PreconditionFailed)?;
                    let range = copy_range(input.copy_source_range.as_deref(), source.size)?;
                    if range.map_or(source.size, |r| r.end - r.first) > PART_BYTES_MAX {
                        return Err(s3_error!(
                            EntityTooLarge,
                            "Your proposed upload exceeds the maximum allowed size."
                        ));
                    }
                    Ok(((), range))
                },
            )
            .await?;
        let algorithm = upload_algorithm(&upload);
        let (staged, digest) = self
            .stage_hashed(source.body, None, &[algorithm], sealing.as_ref())
            .await?;
        let part = self
            .commit_part(&bucket.name, &input.key, &input.upload_id, number, staged, digest)
            .await?;
        let mut result = CopyPartResult {
            e_tag: Some(ETag::Strong(part.etag)),
            last_modified: Some(part.last_modified.into()),
            ..Default::default()
        };
        set_checksums!(result, &only(algorithm, &part.checksums));
        let mut output = UploadPartCopyOutput {
            copy_part_result: Some(result),
            ..Default::default()
        };
        set_encryption!(output, upload.encryption.as_ref());
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let user = self.caller(&req)?;
        let input = &req.input;
        let condition = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let upload = self
            .engine
            .upload(&bucket.name, &input.key, &input.upload_id)
            .await
            .map_err(from_engine)?;
        let malformed = || {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        };
        let requested = input
            .multipart_upload
            .as_ref()
            .and_then(|upload| upload.parts.as_ref())
            .filter(|parts| !parts.is_empty())
            .ok_or_else(malformed)?;
        let (uploaded, _) = self
            .engine
            .list_parts(&bucket.name, &input.key, &input.upload_id, 0, PART_NUMBER_MAX as usize)
            .await
            .map_err(from_engine)?;

        let algorithm = upload_algorithm(&upload);
        let mut chosen: Vec<&PartRecord> = Vec::with_capacity(requested.len());
        for completed in requested {
            let number = part_number(completed.part_number.ok_or_else(malformed)?).map_err(|_| invalid_part())?;
            if chosen.last().is_some_and(|previous| previous.part_number >= number) {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. The parts list must be specified in order of the part number."
                ));
            }
            let part = uploaded
                .iter()
                .find(|part| part.part_number == number)
                .ok_or_else(invalid_part)?;
            let etag_matches = completed
                .e_tag
                .as_ref()
                .is_some_and(|etag| etag.value().trim_matches('"') == part.etag);
            let claimed = Checksums {
                crc32: completed.checksum_crc32.clone(),
                crc32c: completed.checksum_crc32c.clone(),
                crc64nvme: completed.checksum_crc64nvme.clone(),
                sha1: completed.checksum_sha1.clone(),
                sha256: completed.checksum_sha256.clone(),
                checksum_type: None,
            };
            let checksum_matches = Algorithm::of(&claimed).is_none_or(|claimed_algorithm| {
                claimed_algorithm.value(&claimed) == claimed_algorithm.value(&part.checksums)
            });
            if !etag_matches || !checksum_matches {
                return Err(invalid_part());
            }
            chosen.push(part);
        }
        if let Some((_, all_but_last)) = chosen.split_last()
            && all_but_last.iter().any(|part| part.size < PART_BYTES_MIN)
        {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size."
            ));
        }
        let size: u64 = chosen.iter().map(|part| part.size).sum();
        if let Some(declared_size) = input.mpu_object_size
            && u64::try_from(declared_size).ok() != Some(size)
        {
            return Err(s3_error!(
                InvalidRequest,
                "The provided 'x-amz-mp-object-size' header value does not match what was computed."
            ));
        }

        let kind = upload_kind(&upload);
        let sized: Vec<(&Checksums, u64)> = chosen.iter().map(|part| (&part.checksums, part.size)).collect();
        let mut checksums = Checksums {
            checksum_type: Some(kind.name().to_owned()),
            ..Default::default()
        };
        let combined = combine_parts(algorithm, kind, &sized);
        match algorithm {
            Algorithm::Crc32 => checksums.crc32 = combined,
            Algorithm::Crc32c => checksums.crc32c = combined,
            Algorithm::Crc64Nvme => checksums.crc64nvme = combined,
            Algorithm::Sha1 => checksums.sha1 = combined,
            Algorithm::Sha256 => checksums.sha256 = combined,
        }
        if let Some(expected) = req.headers.get(algorithm.header()).and_then(|v| v.to_str().ok()) {
            let computed = algorithm.value(&checksums).map(String::as_str).unwrap_or_default();
            let without_count = computed.split('-').next().unwrap_or_default();
            if expected != computed && expected != without_count {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the calculated checksum.",
                    algorithm.name()
                ));
            }
        }

        let object = ObjectRecord {
            key: input.key.clone(),
            version_id: coffer_engine::NULL_VERSION_ID.to_owned(),
            size,
            etag: multipart_etag(&chosen)?,
            last_modified: time::OffsetDateTime::now_utc(),
            owner: user.id,
            content: upload.content.clone(),
            user_metadata: upload.user_metadata.clone(),
            checksums,
            segments: chosen.iter().map(|part| part.segment()).collect(),
            storage_class: upload.storage_class.clone(),
            tags: upload.tags.clone(),
            lock: upload.lock.clone(),
            encryption: upload.encryption.clone(),
            delete_marker: false,
            acl: upload.acl.clone(),
        };
        let mut output = CompleteMultipartUploadOutput {
            bucket: Some(bucket.name.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(object.etag.clone())),
            location: Some(self.location(&req.headers, &bucket.name, &input.key)),
            ..Default::default()
        };
        if upload.checksum_algorithm.is_some() {
            set_checksums!(output, &object.checksums, with_type);
        }
        // S3 reports only server-managed encryption on completion.
        if let Some(encryption) = object.encryption.as_ref().filter(|e| e.customer_key_md5.is_none()) {
            output.server_side_encryption = Some(ServerSideEncryption::from(encryption.algorithm.clone()));
        }
        let stored = self
            .engine
            .complete_upload(&bucket.name, &input.upload_id, object, condition)
            .await
            .map_err(from_engine)?;
        output.version_id = super::object::reported_version(&bucket, &stored);
        Ok(S3Response::new(output))
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        if let Some(initiated) = &input.if_match_initiated_time {
            let upload = self
                .engine
                .upload(&bucket.name, &input.key, &input.upload_id)
                .await
                .map_err(from_engine)?;
            if upload.initiated.unix_timestamp() != time::OffsetDateTime::from(initiated.clone()).unix_timestamp() {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        self.engine
            .abort_upload(&bucket.name, &input.key, &input.upload_id)
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn do_list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let upload = self
            .engine
            .upload(&bucket.name, &input.key, &input.upload_id)
            .await
            .map_err(from_engine)?;
        let max_parts = max_parts(input.max_parts)?;
        let after = part_number_marker(input.part_number_marker)?;
        let (parts, truncated) = self
            .engine
            .list_parts(&bucket.name, &input.key, &input.upload_id, after, max_parts)
            .await
            .map_err(from_engine)?;
        let next_marker = parts
            .last()
            .filter(|_| truncated)
            .and_then(|part| i32::try_from(part.part_number).ok());
        let parts = parts
            .into_iter()
            .map(|part| {
                let mut listed = Part {
                    e_tag: Some(ETag::Strong(part.etag.clone())),
                    last_modified: Some(part.last_modified.into()),
                    part_number: i32::try_from(part.part_number).ok(),
                    size: i64::try_from(part.size).ok(),
                    ..Default::default()
                };
                if upload.checksum_algorithm.is_some() {
                    set_checksums!(listed, &only(upload_algorithm(&upload), &part.checksums));
                }
                listed
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(bucket.name),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            initiator: Some(self.initiator(&upload.owner)),
            owner: Some(self.owner_of(&upload.owner)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: upload.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
            checksum_type: upload.checksum_type.clone().map(ChecksumType::from),
            max_parts: i32::try_from(max_parts).ok(),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next_marker,
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let encoding = Encoding::from_request(input.encoding_type.as_ref())?;
        let max_uploads = max_keys(input.max_uploads)?;
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let upload_id_marker = input
            .upload_id_marker
            .as_deref()
            .filter(|m| !m.is_empty() && key_marker.is_some());
        let query = super::list::query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            key_marker.clone(),
            max_uploads,
        );
        let page = self
            .engine
            .list_uploads(&bucket.name, &query, upload_id_marker)
            .await
            .map_err(from_engine)?;
        let truncated = page.truncated;
        let (next_key, next_upload_id) = match page.entries.last() {
            Some(coffer_engine::ListEntry::Item(upload)) if truncated => {
                (Some(upload.key.clone()), Some(upload.upload_id.clone()))
            }
            Some(coffer_engine::ListEntry::CommonPrefix(prefix)) if truncated => (Some(prefix.clone()), None),
            _ => (None, None),
        };
        let (uploads, prefixes) = page.split();
        let uploads = uploads
            .into_iter()
            .map(|upload| MultipartUpload {
                checksum_algorithm: upload.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
                checksum_type: upload.checksum_type.clone().map(ChecksumType::from),
                initiated: Some(upload.initiated.into()),
                initiator: Some(self.initiator(&upload.owner)),
                key: Some(encoding.encode(&upload.key)),
                owner: Some(self.owner_of(&upload.owner)),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(upload.upload_id),
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(bucket.name),
            common_prefixes: common_prefixes(prefixes, encoding),
            delimiter: encoding.encode_opt(input.delimiter.as_deref()),
            encoding_type: encoding.output(),
            is_truncated: Some(truncated),
            key_marker: Some(encoding.encode(input.key_marker.as_deref().unwrap_or_default())),
            max_uploads: i32::try_from(max_uploads).ok(),
            next_key_marker: next_key.map(|key| encoding.encode(&key)),
            next_upload_id_marker: next_upload_id,
            prefix: Some(encoding.encode(input.prefix.as_deref().unwrap_or_default())),
            upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
            uploads: Some(uploads),
            request_charged: None,
        }))
    }

    /// What UploadPart and UploadPartCopy check first: the bucket is the
    /// caller's, the part number is valid, and the upload exists.
    async fn part_target<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
    ) -> S3Result<(BucketRecord, UploadRecord, u32)> {
        let bucket = self.target_bucket(req, bucket).await?;
        let number = part_number(number)?;
        let upload = self
            .engine
            .upload(&bucket.name, key, upload_id)
            .await
            .map_err(from_engine)?;
        Ok((bucket, upload, number))
    }

    /// Records a received part; fails with NoSuchUpload, its bytes removed,
    /// if the upload ended while the part was being received.
    async fn commit_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        staged: Box<dyn StagedData>,
        digest: Digest,
    ) -> S3Result<PartRecord> {
        let part = PartRecord {
            part_number: number,
            size: staged.size(),
            etag: digest.etag(),
            last_modified: time::OffsetDateTime::now_utc(),
            checksums: digest.checksums,
            blob: String::new(),
            salt: None,
        };
        self.engine
            .put_part(bucket, key, upload_id, part.clone(), staged)
            .await
            .map_err(from_engine)?;
        Ok(part)
    }

    /// The Initiator element of an upload started by the user with `id`.
    fn initiator(&self, id: &str) -> Initiator {
        let owner = self.owner_of(id);
        Initiator {
            id: owner.id,
            display_name: owner.display_name,
        }
    }

    /// The URL of an object, as CompleteMultipartUpload reports it.
    fn location(&self, headers: &http::HeaderMap, bucket: &str, key: &str) -> String {
        let host = headers
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("localhost");
        let key = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!("http://{host}/{bucket}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    use super::*;
    use crate::checksum::BodyHasher;

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        let part = |etag: &str| PartRecord {
            part_number: 1,
            size: 0,
            etag: etag.to_owned(),
            last_modified: time::OffsetDateTime::UNIX_EPOCH,
            checksums: Checksums::default(),
            blob: String::new(),
            salt: None,
        };
        let a = part("0cc175b9c0f1b6a831c399e269772661");
        let b = part("92eb5ffee6ae2fec3ad71c777531578f");
        let mut concatenated = hex::decode(&a.etag).unwrap();
        concatenated.extend(hex::decode(&b.etag).unwrap());
        use s3s::crypto::Checksum as _;
        let expected = format!("{}-2", hex::encode(crate::hashing::Md5::checksum(&concatenated)));
        assert_eq!(multipart_etag(&[&a, &b]).unwrap(), expected);
    }

    /// A full-object checksum combined from parts equals the checksum of the
    /// whole body; a composite one is the checksum of the part checksums.
    #[test]
    fn part_checksums_combine_as_s3_defines() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let (first, second) = body.split_at(70_000);
        for algorithm in [
            Algorithm::Crc32,
            Algorithm::Crc32c,
            Algorithm::Crc64Nvme,
            Algorithm::Sha256,
        ] {
            let checksums = |data: &[u8]| {
                let hasher = BodyHasher::new(&[algorithm], None);
                let stream = futures::stream::iter([Ok(bytes::Bytes::copy_from_slice(data))]);
                let mut hashed = hasher.wrap(Box::pin(stream));
                futures::executor::block_on(futures::StreamExt::next(&mut hashed));
                drop(hashed);
                futures::executor::block_on(hasher.finish()).unwrap().checksums
            };
            let (a, b, whole) = (checksums(first), checksums(second), checksums(&body));
            let parts = [(&a, first.len() as u64), (&b, second.len() as u64)];
            if algorithm != Algorithm::Sha256 {
                let full = combine_parts(algorithm, ChecksumKind::FullObject, &parts).unwrap();
                assert_eq!(Some(&full), algorithm.value(&whole), "{}", algorithm.name());
            }
            let mut concatenated = BASE64.decode(algorithm.value(&a).unwrap()).unwrap();
            concatenated.extend(BASE64.decode(algorithm.value(&b).unwrap()).unwrap());
            let hasher = BodyHasher::new(&[algorithm], None);
            let mut hashed = hasher.wrap(Box::pin(futures::stream::iter([Ok(bytes::Bytes::from(concatenated))])));
            futures::executor::block_on(futures::StreamExt::next(&mut hashed));
            drop(hashed);
            let expected = format!(
                "{}-2",
                algorithm
                    .value(&futures::executor::block_on(hasher.finish()).unwrap().checksums)
                    .unwrap()
            );
            assert_eq!(
                combine_parts(algorithm, ChecksumKind::Composite, &parts).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn copy_ranges_are_inclusive_and_bounded() {
        assert_eq!(
            copy_range(Some("bytes=0-9"), 10).unwrap(),
            Some(ByteRange { first: 0, end: 10 })
        );
        assert!(copy_range(Some("bytes=0-10"), 10).is_err());
        assert!(copy_range(Some("bytes=5-2"), 10).is_err());
        assert!(copy_range(Some("0-2"), 10).is_err());
        assert_eq!(copy_range(None, 10).unwrap(), None);
    }
}
