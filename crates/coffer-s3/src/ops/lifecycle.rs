//! Lifecycle: Put/Get/DeleteBucketLifecycleConfiguration. The rules are
//! checked and converted by [`crate::lifecycle`] and kept as the bucket's
//! `lifecycle` configuration document; [`crate::expiry`] enforces them.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::error::from_engine;
use crate::lifecycle::{CONFIG_KIND, Lifecycle};

impl CofferS3 {
    pub(super) async fn do_put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        // s3s hands over an empty body as no configuration; validation
        // answers it as S3 does, like a configuration without rules.
        let config = req.input.lifecycle_configuration.unwrap_or_default();
        let lifecycle = Lifecycle::from_dto(&config)?;
        self.set_bucket_config(&bucket.name, CONFIG_KIND, Some(lifecycle.encode()))
            .await?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub(super) async fn do_get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let document = self
            .engine
            .bucket_config(&bucket.name, CONFIG_KIND)
            .await
            .map_err(from_engine)?
            .ok_or_else(|| {
                s3_error!(
                    NoSuchLifecycleConfiguration,
                    "The lifecycle configuration does not exist"
                )
            })?;
        let lifecycle = Lifecycle::decode(&document).map_err(from_engine)?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(lifecycle.to_dto().rules),
            ..Default::default()
        }))
    }

    /// Answers 204 whether or not the bucket had rules, as S3 does. The
    /// worker's place in the bucket goes too: it belongs to the rules.
    pub(super) async fn do_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        self.set_bucket_config(&bucket.name, CONFIG_KIND, None).await?;
        self.set_bucket_config(&bucket.name, crate::expiry::CURSOR_KIND, None)
            .await?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }
}
