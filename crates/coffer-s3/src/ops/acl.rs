//! ACL operations: Get/PutBucketAcl and Get/PutObjectAcl. The ACLs
//! themselves, and what they grant, are in `crate::acl`.

use coffer_engine::BucketRecord;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use super::object::requested_version;
use crate::access::ACL_CONFIG;
use crate::acl::Acl;
use crate::error::from_engine;

impl CofferS3 {
    /// The ACL a PutBucketAcl / PutObjectAcl asks for: an XML body, or a
    /// canned ACL, or grant headers, exactly one of them; and one that the
    /// bucket's settings allow.
    async fn requested_acl(
        &self,
        headers: &http::HeaderMap,
        body: Option<&AccessControlPolicy>,
        owner: &str,
        bucket: &BucketRecord,
    ) -> S3Result<Acl> {
        let acl = match (body, Acl::from_headers(headers, owner, &bucket.owner)?) {
            (Some(_), Some(_)) => {
                return Err(s3_error!(UnexpectedContent, "This request does not support content"));
            }
            (Some(policy), None) => Acl::from_policy(policy, owner)?,
            (None, Some(acl)) => acl,
            (None, None) => {
                return Err(s3_error!(
                    MissingSecurityHeader,
                    "Your request was missing a required header"
                ));
            }
        };
        self.authorizer.check_acl_allowed(bucket, &acl).await?;
        Ok(acl)
    }

    pub(super) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let acl = self.authorizer.bucket_acl(&bucket).await?;
        let (owner, grants) = acl.to_output(|id| self.authorizer.display_name(id));
        Ok(S3Response::new(GetBucketAclOutput {
            owner: Some(owner),
            grants: Some(grants),
        }))
    }

    pub(super) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let acl = self
            .requested_acl(
                &req.headers,
                req.input.access_control_policy.as_ref(),
                &bucket.owner,
                &bucket,
            )
            .await?;
        self.set_bucket_config(&bucket.name, ACL_CONFIG, Some(acl.encode().into_bytes()))
            .await?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub(super) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let object = self
            .engine
            .object(&bucket.name, &input.key, requested_version(input.version_id.as_deref()))
            .await
            .map_err(from_engine)?;
        let acl = match &object.acl {
            Some(text) => Acl::decode(text)?,
            None => Acl::private(&object.owner),
        };
        let (owner, grants) = acl.to_output(|id| self.authorizer.display_name(id));
        Ok(S3Response::new(GetObjectAclOutput {
            owner: Some(owner),
            grants: Some(grants),
            request_charged: None,
        }))
    }

    pub(super) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let version_id = requested_version(input.version_id.as_deref());
        let object = self
            .engine
            .object(&bucket.name, &input.key, version_id)
            .await
            .map_err(from_engine)?;
        let acl = self
            .requested_acl(
                &req.headers,
                input.access_control_policy.as_ref(),
                &object.owner,
                &bucket,
            )
            .await?;
        let acl = acl.encode();
        self.engine
            .update_object(
                &bucket.name,
                &input.key,
                version_id,
                Box::new(move |object| {
                    object.acl = Some(acl.clone());
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }
}
