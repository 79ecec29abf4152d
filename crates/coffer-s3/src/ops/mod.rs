//! The S3 operations Coffer serves, one file per family. Each `do_*` method
//! holds an operation's semantics; the `S3` impl below only routes to them.

mod access_settings;
mod acl;
mod attributes;
mod bucket;
mod copy;
mod cors;
mod encryption;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod object;
mod policy;
mod post;
mod tagging;

// What the fuzz targets (`fuzz/`) reach through `crate::fuzzing`.
#[cfg(feature = "fuzzing")]
pub(crate) use self::{
    copy::copy_source,
    cors::validate as validate_cors,
    tagging::{Tagged, from_header as tags_from_header, from_xml as tags_from_xml},
};

use std::sync::Arc;

use coffer_engine::{
    BucketRecord, ByteRange, ByteStream, Engine, EngineError, NULL_VERSION_ID, ObjectRecord, SealingKey, StagedData,
};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::access::{AuthorizedBucket, Authorizer};
use crate::auth::User;
use crate::checksum::{Algorithm, BodyHasher, Digest, SignedSha256Mismatch};
use crate::error::{from_engine, quota_exceeded};
use crate::sse::{CustomerKey, key_for_read};

/// How often an operation starts over when the version it read is replaced
/// before its data could be opened.
const OPEN_ATTEMPTS_MAX: usize = 8;

/// Headers naming the account a request expects to own its bucket(s).
const EXPECTED_OWNER: &str = "x-amz-expected-bucket-owner";
const EXPECTED_SOURCE_OWNER: &str = "x-amz-source-expected-bucket-owner";

/// An object version whose data is open for reading.
struct Opened<T> {
    object: ObjectRecord,
    /// What the caller's plan made of the version.
    plan: T,
    range: Option<ByteRange>,
    body: ByteStream,
}

/// S3's semantics over a storage engine.
pub struct CofferS3 {
    engine: Arc<dyn Engine>,
    authorizer: Arc<Authorizer>,
    region: String,
    /// Seals the data of SSE-S3 versions.
    master_key: SealingKey,
}

impl CofferS3 {
    pub fn new(engine: Arc<dyn Engine>, authorizer: Arc<Authorizer>, region: &str, master_key: SealingKey) -> CofferS3 {
        CofferS3 {
            engine,
            authorizer,
            region: region.to_owned(),
            master_key,
        }
    }

    /// The user who signed the request, or S3's anonymous user. The access
    /// hook has already decided that this caller may make this request.
    fn caller<T>(&self, req: &S3Request<T>) -> S3Result<User> {
        self.authorizer.caller(req.credentials.as_ref())
    }

    /// Reads the record of a key's version, lets `plan` check it and choose
    /// the bytes wanted, and opens them with the key the version's encryption
    /// needs (`customer`'s for SSE-C). If the version is replaced between
    /// the record read and the open, it starts over, so the record and the
    /// bytes always belong to one version.
    async fn open_version<T>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        customer: Option<&CustomerKey>,
        plan: impl Fn(&ObjectRecord) -> S3Result<(T, Option<ByteRange>)>,
    ) -> S3Result<Opened<T>> {
        for _ in 0..OPEN_ATTEMPTS_MAX {
            let object = self.engine.object(bucket, key, version_id).await.map_err(from_engine)?;
            let sealing = key_for_read(&self.master_key, &object, customer)?;
            let (planned, range) = plan(&object)?;
            match self.engine.open(&object, range, sealing.as_ref()).await {
                Ok(body) => {
                    let body = crate::integrity::verified(&object, range, body);
                    return Ok(Opened {
                        object,
                        plan: planned,
                        range,
                        body,
                    });
                }
                Err(EngineError::VersionGone) => continue,
                Err(err) => return Err(from_engine(err)),
            }
        }
        Err(from_engine(EngineError::VersionGone))
    }

    /// Streams `body` into staging, hashing it with MD5 and `algorithms`,
    /// and sealing it under `sealing` if given.
    async fn stage_hashed(
        &self,
        body: ByteStream,
        signed_sha256: Option<[u8; 32]>,
        algorithms: &[Algorithm],
        sealing: Option<&SealingKey>,
    ) -> S3Result<(Box<dyn StagedData>, Digest)> {
        let hasher = BodyHasher::new(algorithms, signed_sha256);
        let staged = self
            .engine
            .stage(hasher.wrap(body), sealing)
            .await
            .map_err(from_engine)?;
        let digest = hasher
            .finish()
            .await
            .map_err(|SignedSha256Mismatch| crate::error::sha256_mismatch())?;
        Ok((staged, digest))
    }

    /// Refuses, before a byte of it is stored, a write of `size` bytes to
    /// `key` that would take `bucket` past its quota. The usage read here is
    /// a snapshot: the engine judges the quota again in the commit, where
    /// writes that committed meanwhile count too.
    async fn check_quota(&self, bucket: &BucketRecord, key: &str, size: u64) -> S3Result<()> {
        let Some(max) = bucket.quota_bytes else {
            return Ok(());
        };
        let used = self.engine.bucket_usage(&bucket.name).await.map_err(from_engine)?.bytes;
        if used.saturating_add(size) <= max {
            return Ok(());
        }
        // Unless versioning is enabled, the write replaces the key's null
        // version, whose bytes it frees.
        let freed = if bucket.versioning_enabled() {
            0
        } else {
            match self.engine.object(&bucket.name, key, Some(NULL_VERSION_ID)).await {
                Ok(null_version) => null_version.size,
                Err(
                    EngineError::NoSuchVersion { .. } | EngineError::NoSuchKey(_) | EngineError::DeleteMarker { .. },
                ) => 0,
                Err(err) => return Err(from_engine(err)),
            }
        };
        if size > freed && used.saturating_sub(freed).saturating_add(size) > max {
            return Err(quota_exceeded());
        }
        Ok(())
    }

    /// The encoded ACL a write of a new object by `owner` asks for in its
    /// headers, if the bucket's settings allow it.
    async fn requested_object_acl(
        &self,
        headers: &http::HeaderMap,
        bucket: &BucketRecord,
        owner: &str,
    ) -> S3Result<Option<String>> {
        let Some(acl) = crate::acl::Acl::from_headers(headers, owner, &bucket.owner)? else {
            return Ok(None);
        };
        self.authorizer.check_acl_allowed(bucket, &acl).await?;
        Ok(Some(acl.encode()))
    }

    /// Sets (or with `None`, removes) one configuration document of a bucket.
    async fn set_bucket_config(&self, bucket: &str, kind: &str, document: Option<Vec<u8>>) -> S3Result<()> {
        self.engine
            .put_bucket_config(bucket, kind, document)
            .await
            .map_err(from_engine)
    }

    /// The bucket a request addresses, if it is owned by the account the
    /// request's `x-amz-expected-bucket-owner` names, if any. Whether the
    /// caller may use it was decided by the access hook (`crate::access`).
    async fn target_bucket<T>(&self, req: &S3Request<T>, name: &str) -> S3Result<BucketRecord> {
        self.bucket_owned_by_expected(req, name, EXPECTED_OWNER).await
    }

    /// The source of a copy: checked against `x-amz-source-expected-bucket-owner`,
    /// and the caller must be allowed to read `key` in it.
    async fn source_bucket<T>(&self, req: &S3Request<T>, name: &str, key: &str) -> S3Result<BucketRecord> {
        let bucket = self.bucket_owned_by_expected(req, name, EXPECTED_SOURCE_OWNER).await?;
        self.authorizer
            .authorize(
                req.credentials.as_ref(),
                &bucket,
                Some(key),
                "s3:GetObject",
                Default::default,
            )
            .await?;
        Ok(bucket)
    }

    async fn bucket_owned_by_expected<T>(
        &self,
        req: &S3Request<T>,
        name: &str,
        expected_owner_header: &str,
    ) -> S3Result<BucketRecord> {
        let authorized = req
            .extensions
            .get::<AuthorizedBucket>()
            .filter(|authorized| authorized.0.name == name);
        let bucket = match authorized {
            Some(authorized) => authorized.0.clone(),
            None => self.engine.bucket(name).await.map_err(from_engine)?,
        };
        let expected_owner = req.headers.get(expected_owner_header).map(http::HeaderValue::as_bytes);
        if expected_owner.is_some_and(|owner| owner != bucket.owner.as_bytes()) {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(bucket)
    }
}

#[async_trait::async_trait]
impl S3 for CofferS3 {
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.do_list_buckets(req).await
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.do_create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.do_head_bucket(req).await
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.do_delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.do_get_bucket_location(req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.do_get_bucket_versioning(req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.do_put_bucket_versioning(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.do_put_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.do_get_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.do_head_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.do_list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.do_list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart_upload(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }

    async fn put_bucket_cors(&self, req: S3Request<PutBucketCorsInput>) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.do_put_bucket_cors(req).await
    }

    async fn get_bucket_cors(&self, req: S3Request<GetBucketCorsInput>) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.do_get_bucket_cors(req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.do_delete_bucket_cors(req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.do_put_bucket_policy(req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.do_get_bucket_policy(req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.do_delete_bucket_policy(req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.do_get_bucket_policy_status(req).await
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.do_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.do_put_bucket_acl(req).await
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.do_get_object_acl(req).await
    }

    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.do_put_object_acl(req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.do_put_public_access_block(req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.do_get_public_access_block(req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.do_delete_public_access_block(req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.do_put_bucket_ownership_controls(req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.do_get_bucket_ownership_controls(req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.do_delete_bucket_ownership_controls(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.do_list_object_versions(req).await
    }

    async fn post_object(&self, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
        self.do_post_object(req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.do_put_object_lock_configuration(req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.do_get_object_lock_configuration(req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.do_put_object_retention(req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.do_get_object_retention(req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.do_put_object_legal_hold(req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.do_get_object_legal_hold(req).await
    }

    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        self.do_put_bucket_encryption(req).await
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.do_get_bucket_encryption(req).await
    }

    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        self.do_delete_bucket_encryption(req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.do_put_object_tagging(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.do_get_object_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.do_delete_object_tagging(req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.do_put_bucket_tagging(req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.do_get_bucket_tagging(req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.do_delete_bucket_tagging(req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.do_get_object_attributes(req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.do_put_bucket_lifecycle_configuration(req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.do_get_bucket_lifecycle_configuration(req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.do_delete_bucket_lifecycle(req).await
    }
}
