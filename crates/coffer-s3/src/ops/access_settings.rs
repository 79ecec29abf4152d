//! Bucket-wide access settings: PublicAccessBlock and Object Ownership
//! (Put/Get/Delete of each). `crate::access` enforces them.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::access::{OWNERSHIP_CONFIG, PUBLIC_ACCESS_BLOCK_CONFIG, PublicAccessBlock};
use crate::error::custom;

fn no_public_access_block() -> S3Error {
    custom(
        "NoSuchPublicAccessBlockConfiguration",
        http::StatusCode::NOT_FOUND,
        "The public access block configuration was not found",
    )
}

const OWNERSHIP_SETTINGS: [&str; 3] = ["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"];

impl CofferS3 {
    pub(super) async fn do_put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let given = &req.input.public_access_block_configuration;
        let settings = PublicAccessBlock {
            block_public_acls: given.block_public_acls.unwrap_or(false),
            ignore_public_acls: given.ignore_public_acls.unwrap_or(false),
            block_public_policy: given.block_public_policy.unwrap_or(false),
            restrict_public_buckets: given.restrict_public_buckets.unwrap_or(false),
        };
        let document = serde_json::to_vec(&settings).expect("settings always serialize");
        self.set_bucket_config(&bucket.name, PUBLIC_ACCESS_BLOCK_CONFIG, Some(document))
            .await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput {}))
    }

    pub(super) async fn do_get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let settings = self
            .authorizer
            .public_access_block(&bucket.name)
            .await?
            .ok_or_else(no_public_access_block)?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(settings.block_public_acls),
                ignore_public_acls: Some(settings.ignore_public_acls),
                block_public_policy: Some(settings.block_public_policy),
                restrict_public_buckets: Some(settings.restrict_public_buckets),
            }),
        }))
    }

    pub(super) async fn do_delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        self.set_bucket_config(&bucket.name, PUBLIC_ACCESS_BLOCK_CONFIG, None)
            .await?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
    }

    pub(super) async fn do_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let rules = &req.input.ownership_controls.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(MalformedXML, "Ownership controls hold exactly one rule"));
        };
        let setting = rule.object_ownership.as_str();
        if !OWNERSHIP_SETTINGS.contains(&setting) {
            return Err(s3_error!(MalformedXML, "Unknown ObjectOwnership {setting}"));
        }
        self.set_bucket_config(&bucket.name, OWNERSHIP_CONFIG, Some(setting.as_bytes().to_vec()))
            .await?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }

    pub(super) async fn do_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let setting = self.authorizer.ownership(&bucket.name).await?.ok_or_else(|| {
            s3_error!(
                OwnershipControlsNotFoundError,
                "The bucket ownership controls were not found"
            )
        })?;
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from(setting),
                }],
            }),
        }))
    }

    pub(super) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        self.set_bucket_config(&bucket.name, OWNERSHIP_CONFIG, None).await?;
        Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
    }
}
