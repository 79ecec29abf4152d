//! CopyObject: a server-side copy, same or cross bucket.

use coffer_engine::WriteCondition;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::lock::lock_headers;
use super::object::{PUT_OBJECT_BYTES_MAX, new_object, reported_version, requested_version};
use super::{CofferS3, tagging};
use crate::checksum::{Algorithm, DEFAULT_ALGORITHM, set_checksums};
use crate::conditions::{Conditions, WhenUnchanged};
use crate::error::from_engine;
use crate::headers::{content_headers, user_metadata};
use crate::sse::{customer_key, sealing_for_write, set_encryption};

/// The bucket, key and version id an `x-amz-copy-source` names.
pub(crate) fn copy_source(source: &CopySource) -> S3Result<(&str, &str, Option<&str>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((bucket, key, version_id.as_deref())),
        _ => Err(s3_error!(
            NotImplemented,
            "Copying from an access point is not supported."
        )),
    }
}

/// Whether a copy's `x-amz-metadata-directive` or `x-amz-tagging-directive`
/// replaces what the source has (REPLACE) or keeps it (COPY, the default).
fn replaces(directive: Option<&str>, what: &str) -> S3Result<bool> {
    match directive {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(other) => Err(s3_error!(InvalidArgument, "Unknown {what} directive: {other}")),
    }
}

impl CofferS3 {
    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let target_bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let user = self.caller(&req)?;
        let input = &req.input;
        let (source_bucket, source_key, source_version) = copy_source(&input.copy_source)?;
        let source_bucket_record = self.source_bucket(&req, source_bucket, source_key).await?;
        let replace = replaces(
            input.metadata_directive.as_ref().map(MetadataDirective::as_str),
            "metadata",
        )?;
        let requested_tags = replaces(
            input.tagging_directive.as_ref().map(TaggingDirective::as_str),
            "tagging",
        )?
        .then(|| tagging::from_header(input.tagging.as_deref()))
        .transpose()?;
        let same_object = source_bucket == input.bucket && source_key == input.key;
        let encryption_asked = input.server_side_encryption.is_some() || input.sse_customer_algorithm.is_some();
        if same_object && !replace && input.storage_class.is_none() && !encryption_asked {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };

        let algorithm = Algorithm::from_request(input.checksum_algorithm.as_ref())?;
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
        let sealing = sealing_for_write(
            &self.master_key,
            input.server_side_encryption.as_ref(),
            customer,
            target_bucket.default_encryption.as_ref(),
        )?;
        let source = self
            .open_version(
                source_bucket,
                source_key,
                requested_version(source_version),
                source_customer.as_ref(),
                |source| {
                conditions.check(source, WhenUnchanged::PreconditionFailed)?;
                if source.size > PUT_OBJECT_BYTES_MAX {
                    return Err(s3_error!(
                        InvalidRequest,
                        "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"
                    ));
                }
                Ok(((), None))
            })
            .await
            .map_err(|err| {
                // S3 refuses a source that names a delete marker as a bad request.
                if *err.code() == S3ErrorCode::MethodNotAllowed {
                    s3_error!(
                        InvalidRequest,
                        "The source of a copy request may not specifically refer to a delete marker by version id."
                    )
                } else {
                    err
                }
            })?;
        self.check_quota(&target_bucket, &input.key, source.object.size).await?;
        let algorithm =
            algorithm.unwrap_or_else(|| Algorithm::of(&source.object.checksums).unwrap_or(DEFAULT_ALGORITHM));
        let (staged, digest) = self
            .stage_hashed(
                source.body,
                None,
                &[algorithm],
                sealing.as_ref().map(|sealing| &sealing.key),
            )
            .await?;
        let (content, metadata) = if replace {
            (
                content_headers!(req.headers, input),
                user_metadata(input.metadata.as_ref())?,
            )
        } else {
            (source.object.content.clone(), source.object.user_metadata.clone())
        };
        let acl = self
            .requested_object_acl(&req.headers, &target_bucket, &user.id)
            .await?;
        let lock = self.requested_lock(&target_bucket, lock_headers!(input)).await?;
        let mut object = new_object(input.key.clone(), &digest, staged.size(), user.id, content, metadata);
        object.acl = acl;
        object.lock = lock;
        object.encryption = sealing.map(|sealing| sealing.record);
        object.tags = requested_tags.unwrap_or_else(|| source.object.tags.clone());
        let mut result = CopyObjectResult {
            e_tag: Some(ETag::Strong(object.etag.clone())),
            last_modified: Some(object.last_modified.into()),
            ..Default::default()
        };
        set_checksums!(result, &object.checksums, with_type);
        let stored = self
            .engine
            .put_object(&target_bucket.name, object, staged, WriteCondition::Always)
            .await
            .map_err(from_engine)?;
        let mut output = CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: reported_version(&source_bucket_record, &source.object),
            version_id: reported_version(&target_bucket, &stored),
            ..Default::default()
        };
        set_encryption!(output, stored.encryption.as_ref());
        Ok(S3Response::new(output))
    }
}
