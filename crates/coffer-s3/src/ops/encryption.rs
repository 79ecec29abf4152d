//! Bucket default encryption: Put, Get and DeleteBucketEncryption. The
//! default is kept in the bucket's record, where every write already looks.

use coffer_engine::BucketEncryption;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::error::{custom, from_engine};
use crate::sse::AES256;

impl CofferS3 {
    pub(super) async fn do_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let malformed = || {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        };
        let [rule] = req.input.server_side_encryption_configuration.rules.as_slice() else {
            return Err(malformed());
        };
        let default = rule
            .apply_server_side_encryption_by_default
            .as_ref()
            .ok_or_else(malformed)?;
        match default.sse_algorithm.as_str() {
            AES256 if default.kms_master_key_id.is_some() => {
                return Err(s3_error!(
                    InvalidArgument,
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
                ));
            }
            AES256 => {}
            ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE => {
                return Err(s3_error!(
                    NotImplemented,
                    "Coffer has no key management service; use AES256."
                ));
            }
            _ => return Err(malformed()),
        }
        let encryption = BucketEncryption {
            algorithm: AES256.to_owned(),
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        };
        self.set_default_encryption(&bucket.name, Some(encryption)).await?;
        Ok(S3Response::new(PutBucketEncryptionOutput::default()))
    }

    pub(super) async fn do_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let encryption = bucket.default_encryption.ok_or_else(|| {
            custom(
                "ServerSideEncryptionConfigurationNotFoundError",
                http::StatusCode::NOT_FOUND,
                "The server side encryption configuration was not found",
            )
        })?;
        let rule = ServerSideEncryptionRule {
            apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                kms_master_key_id: None,
                sse_algorithm: ServerSideEncryption::from(encryption.algorithm),
            }),
            bucket_key_enabled: Some(encryption.bucket_key_enabled),
        };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
        }))
    }

    pub(super) async fn do_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        self.set_default_encryption(&bucket.name, None).await?;
        Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
    }

    async fn set_default_encryption(&self, bucket: &str, encryption: Option<BucketEncryption>) -> S3Result<()> {
        self.engine
            .update_bucket(
                bucket,
                Box::new(move |bucket| {
                    bucket.default_encryption = encryption.clone();
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)?;
        Ok(())
    }
}
