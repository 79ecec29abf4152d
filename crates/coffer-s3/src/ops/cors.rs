//! CORS: the bucket's CORS configuration (Put/Get/DeleteBucketCors).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;

impl CofferS3 {
    pub(super) async fn do_put_bucket_cors(
        &self,
        _req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        Err(s3_error!(NotImplemented))
    }

    pub(super) async fn do_get_bucket_cors(
        &self,
        _req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        Err(s3_error!(NotImplemented))
    }

    pub(super) async fn do_delete_bucket_cors(
        &self,
        _req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        Err(s3_error!(NotImplemented))
    }
}
