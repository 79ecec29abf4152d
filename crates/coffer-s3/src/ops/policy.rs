//! Bucket policies: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus.
//! The policy is checked when it is put and kept as the client wrote it.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::access::POLICY_CONFIG;
use crate::error::from_engine;
use crate::policy::Policy;

fn no_policy() -> s3s::S3Error {
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
}

impl CofferS3 {
    pub(super) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let text = req.input.policy.into_bytes();
        let policy = Policy::parse(&text, &bucket.name).map_err(|e| s3_error!(MalformedPolicy, "{}", e.0))?;
        let blocked = self.authorizer.public_access_block(&bucket.name).await?;
        if blocked.is_some_and(|b| b.block_public_policy) && policy.is_public() {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        self.set_bucket_config(&bucket.name, POLICY_CONFIG, Some(text)).await?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub(super) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let text = self.stored_policy(&bucket.name).await?.ok_or_else(no_policy)?;
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(String::from_utf8_lossy(&text).into_owned()),
        }))
    }

    pub(super) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        self.set_bucket_config(&bucket.name, POLICY_CONFIG, None).await?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub(super) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let text = self.stored_policy(&bucket.name).await?.ok_or_else(no_policy)?;
        let policy = Policy::parse(&text, &bucket.name).map_err(|e| s3_error!(InternalError, "{}", e.0))?;
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(policy.is_public()),
            }),
        }))
    }

    async fn stored_policy(&self, bucket: &str) -> S3Result<Option<Vec<u8>>> {
        self.engine
            .bucket_config(bucket, POLICY_CONFIG)
            .await
            .map_err(from_engine)
    }
}
