//! POST Object: browser form uploads, stored through the PUT path.
//!
//! By the time this runs, s3s has verified the form's signature and its
//! policy (expiration, conditions, content-length-range) and parsed the
//! fields into the input, and [`crate::post_form`] has put the file's name
//! in the key. What a PUT carries in headers (Content-MD5, checksums,
//! Expires, the expected bucket owner) a form carries in fields, so those
//! fields replace the form request's own headers, which describe the whole
//! form, and `do_put_object` stores the object. s3s then answers as the form
//! asks: a 303 to `success_action_redirect`, or `success_action_status`.

use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;

/// Request headers that describe an uploaded object's body or its bucket.
/// In a form upload they come from form fields; the request's own would
/// describe the multipart body.
const OBJECT_HEADERS: [&str; 12] = [
    "content-md5",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-algorithm",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
    "expires",
    "x-amz-expected-bucket-owner",
];

impl CofferS3 {
    pub(super) async fn do_post_object(
        &self,
        mut req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        set_object_headers(&mut req.headers, &req.input)?;
        let put = self.do_put_object(req.map_input(put_object_input)).await?;
        // s3s writes this ETag as it is into the 201 body and the redirect's
        // query; Amazon S3 writes it quoted there, as in the ETag header.
        let etag = put.output.e_tag.as_ref().map(|etag| format!("\"{}\"", etag.value()));
        let mut resp = S3Response::new(PostObjectOutput {
            e_tag: etag.clone().map(ETag::Strong),
            ..Default::default()
        });
        resp.headers = put.headers;
        if let Some(etag) = etag.and_then(|etag| HeaderValue::try_from(etag).ok()) {
            resp.headers.insert(http::header::ETAG, etag);
        }
        Ok(resp)
    }
}

/// Replaces the request's object headers with the form's fields.
fn set_object_headers(headers: &mut HeaderMap, input: &PostObjectInput) -> S3Result<()> {
    for name in OBJECT_HEADERS {
        headers.remove(name);
    }
    let expires = input
        .expires
        .as_ref()
        .map(|expires| {
            let mut text = Vec::new();
            expires
                .format(TimestampFormat::HttpDate, &mut text)
                .map_err(|_| s3_error!(InvalidArgument, "Invalid Expires"))?;
            Ok::<_, s3s::S3Error>(String::from_utf8_lossy(&text).into_owned())
        })
        .transpose()?;
    let fields = [
        ("content-md5", input.content_md5.as_deref()),
        ("x-amz-checksum-crc32", input.checksum_crc32.as_deref()),
        ("x-amz-checksum-crc32c", input.checksum_crc32c.as_deref()),
        ("x-amz-checksum-crc64nvme", input.checksum_crc64nvme.as_deref()),
        ("x-amz-checksum-sha1", input.checksum_sha1.as_deref()),
        ("x-amz-checksum-sha256", input.checksum_sha256.as_deref()),
        (
            "x-amz-sdk-checksum-algorithm",
            input.checksum_algorithm.as_ref().map(ChecksumAlgorithm::as_str),
        ),
        ("expires", expires.as_deref()),
        ("x-amz-expected-bucket-owner", input.expected_bucket_owner.as_deref()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            let value = HeaderValue::try_from(value)
                .map_err(|_| s3_error!(InvalidArgument, "The form field {name} is not a valid header value."))?;
            headers.insert(name, value);
        }
    }
    Ok(())
}

/// The PUT a form upload amounts to: the same fields, without the ones that
/// say how to answer.
fn put_object_input(x: PostObjectInput) -> PutObjectInput {
    PutObjectInput {
        acl: x.acl,
        body: x.body,
        bucket: x.bucket,
        bucket_key_enabled: x.bucket_key_enabled,
        cache_control: x.cache_control,
        checksum_algorithm: x.checksum_algorithm,
        checksum_crc32: x.checksum_crc32,
        checksum_crc32c: x.checksum_crc32c,
        checksum_crc64nvme: x.checksum_crc64nvme,
        checksum_sha1: x.checksum_sha1,
        checksum_sha256: x.checksum_sha256,
        content_disposition: x.content_disposition,
        content_encoding: x.content_encoding,
        content_language: x.content_language,
        content_length: x.content_length,
        content_md5: x.content_md5,
        content_type: x.content_type,
        expected_bucket_owner: x.expected_bucket_owner,
        expires: x.expires,
        grant_full_control: x.grant_full_control,
        grant_read: x.grant_read,
        grant_read_acp: x.grant_read_acp,
        grant_write_acp: x.grant_write_acp,
        if_match: x.if_match,
        if_none_match: x.if_none_match,
        key: x.key,
        metadata: x.metadata,
        object_lock_legal_hold_status: x.object_lock_legal_hold_status,
        object_lock_mode: x.object_lock_mode,
        object_lock_retain_until_date: x.object_lock_retain_until_date,
        request_payer: x.request_payer,
        sse_customer_algorithm: x.sse_customer_algorithm,
        sse_customer_key: x.sse_customer_key,
        sse_customer_key_md5: x.sse_customer_key_md5,
        ssekms_encryption_context: x.ssekms_encryption_context,
        ssekms_key_id: x.ssekms_key_id,
        server_side_encryption: x.server_side_encryption,
        storage_class: x.storage_class,
        tagging: x.tagging,
        website_redirect_location: x.website_redirect_location,
        write_offset_bytes: x.write_offset_bytes,
    }
}
