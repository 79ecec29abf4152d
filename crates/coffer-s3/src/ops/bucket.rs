//! Bucket operations: create, head, list, delete, location, versioning.

use coffer_engine::{BucketRecord, EngineError, VERSIONING_ENABLED, VERSIONING_SUSPENDED};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::access::ACL_CONFIG;
use crate::acl::Acl;
use crate::error::from_engine;

impl CofferS3 {
    pub(super) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let user = self.caller(&req)?;
        let buckets = self.engine.list_buckets().await.map_err(from_engine)?;
        let buckets = buckets
            .into_iter()
            .filter(|bucket| bucket.owner == user.id)
            .filter(|bucket| {
                req.input
                    .prefix
                    .as_deref()
                    .is_none_or(|prefix| bucket.name.starts_with(prefix))
            })
            .map(|bucket| Bucket {
                name: Some(bucket.name),
                creation_date: Some(bucket.created.into()),
                bucket_region: Some(bucket.location.unwrap_or_else(|| self.region.clone())),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(self.owner_of(&user.id)),
            prefix: req.input.prefix,
            continuation_token: None,
        }))
    }

    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let user = self.caller(&req)?;
        let input = req.input;
        let location = input
            .create_bucket_configuration
            .and_then(|config| config.location_constraint)
            .map(|constraint| constraint.as_str().to_owned())
            .filter(|constraint| !constraint.is_empty());
        if let Some(constraint) = &location
            && constraint != &self.region
        {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to."
            ));
        }
        let acl = Acl::from_headers(&req.headers, &user.id, &user.id)?;
        let object_lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
        let record = BucketRecord {
            name: input.bucket.clone(),
            owner: user.id.clone(),
            location,
            created: time::OffsetDateTime::now_utc(),
            // Object lock needs versions to protect, so it turns versioning on for good.
            versioning: object_lock.then(|| VERSIONING_ENABLED.to_owned()),
            object_lock_enabled: object_lock,
            default_encryption: None,
            quota_bytes: None,
        };
        match self.engine.create_bucket(record).await {
            Ok(()) => {
                if let Some(acl) = acl {
                    self.set_bucket_config(&input.bucket, ACL_CONFIG, Some(acl.encode().into_bytes()))
                        .await?;
                }
                Ok(S3Response::new(CreateBucketOutput {
                    location: Some(format!("/{}", input.bucket)),
                }))
            }
            Err(EngineError::BucketExists { owner, .. }) if owner == user.id => Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            )),
            Err(err) => Err(from_engine(err)),
        }
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(bucket.location.unwrap_or_else(|| self.region.clone())),
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.target_bucket(&req, &req.input.bucket).await?;
        self.engine
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(super) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: bucket.location.map(BucketLocationConstraint::from),
        }))
    }

    pub(super) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let configuration = &req.input.versioning_configuration;
        if configuration
            .mfa_delete
            .as_ref()
            .is_some_and(|mfa| mfa.as_str() == MFADelete::ENABLED)
        {
            return Err(s3_error!(
                NotImplemented,
                "MFA delete is not supported; send MfaDelete Disabled or leave it out."
            ));
        }
        let status = match configuration.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(status @ (VERSIONING_ENABLED | VERSIONING_SUSPENDED)) => status.to_owned(),
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
        };
        self.engine
            .update_bucket(
                &bucket.name,
                Box::new(move |bucket| {
                    if bucket.object_lock_enabled && status != VERSIONING_ENABLED {
                        return Err(Box::new(s3_error!(
                            InvalidBucketState,
                            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                        )));
                    }
                    bucket.versioning = Some(status.clone());
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(PutBucketVersioningOutput::default()))
    }

    pub(super) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: bucket.versioning.map(BucketVersioningStatus::from),
            mfa_delete: None,
        }))
    }
}

impl CofferS3 {
    /// The Owner element for a canonical user id.
    pub(super) fn owner_of(&self, id: &str) -> Owner {
        Owner {
            id: Some(id.to_owned()),
            display_name: self.authorizer.display_name(id),
        }
    }
}
