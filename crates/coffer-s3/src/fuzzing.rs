//! Entry points for the fuzz targets in `fuzz/`, compiled only with the
//! `fuzzing` feature (off by default; nothing but the fuzz crate turns it
//! on). Not an API: it exists so that each parser of client bytes can be
//! fuzzed on its own, faster than through [`crate::service`].
//!
//! Each function runs a parser the way the request path runs it and hands
//! back what it made of the input, so that a target can check properties of
//! the result; the stored forms are also written and read back, as a
//! configuration put now is read on every later request. Whatever a client
//! sends, these must return (an S3 error at worst), never panic.

use std::collections::BTreeMap;

use http::{HeaderMap, Method, Request};
use s3s::dto::{AccessControlPolicy, CORSConfiguration, CopySource, Tagging};
use s3s::{Body, S3Result, s3_error};

pub use crate::lifecycle::{Action as LifecycleAction, Lifecycle, VersionFacts};
pub use crate::policy::{MalformedPolicy, Policy, Principal, Request as PolicyRequest, Verdict};

/// The checks made before s3s sees a request (`preflight.rs`); they may
/// drop the Range header.
pub fn preflight(req: &mut Request<Body>, region: &str) -> S3Result<()> {
    crate::preflight::check(req, region)
}

/// A browser form upload's fields, read (and `${filename}` substituted)
/// before s3s sees them (`post_form.rs`). `None` if `req` is not a form
/// upload; otherwise the request's body is replaced by the one s3s would
/// get.
pub async fn post_form(req: &mut Request<Body>) -> Option<S3Result<()>> {
    let boundary = crate::post_form::form_boundary(req)?;
    Some(crate::post_form::prepare(req, boundary.as_bytes()).await)
}

/// The tags of an `x-amz-tagging` header.
pub fn tagging_header(value: &str) -> S3Result<BTreeMap<String, String>> {
    crate::ops::tags_from_header(Some(value))
}

/// The tags of a Tagging document, for a bucket or an object.
pub fn tagging_document(tagging: &Tagging, bucket: bool) -> S3Result<BTreeMap<String, String>> {
    let tagged = if bucket {
        crate::ops::Tagged::Bucket
    } else {
        crate::ops::Tagged::Object
    };
    crate::ops::tags_from_xml(tagging, tagged)
}

/// The bucket, key and version an `x-amz-copy-source` header names: parsed
/// by s3s, then checked by CopyObject.
pub fn copy_source(header: &str) -> S3Result<(String, String, Option<String>)> {
    let source = CopySource::parse(header).map_err(|err| s3_error!(InvalidArgument, "{err}"))?;
    let (bucket, key, version) = crate::ops::copy_source(&source)?;
    Ok((bucket.to_owned(), key.to_owned(), version.map(str::to_owned)))
}

/// Whether the `x-amz-acl` / `x-amz-grant-*` headers ask for an ACL.
pub fn acl_headers(headers: &HeaderMap, owner: &str, bucket_owner: &str) -> S3Result<bool> {
    let acl = crate::acl::Acl::from_headers(headers, owner, bucket_owner)?;
    if let Some(acl) = &acl {
        round_trip_acl(acl);
    }
    Ok(acl.is_some())
}

/// The ACL of an AccessControlPolicy document (PutBucketAcl, PutObjectAcl):
/// whether it is public.
pub fn acl_document(policy: &AccessControlPolicy, owner: &str) -> S3Result<bool> {
    let acl = crate::acl::Acl::from_policy(policy, owner)?;
    round_trip_acl(&acl);
    Ok(acl.is_public())
}

fn round_trip_acl(acl: &crate::acl::Acl) {
    let stored = crate::acl::Acl::decode(&acl.encode()).expect("a stored ACL reads back");
    assert_eq!(&stored, acl, "an ACL changed in storage");
    let _ = acl.to_output(|_| None);
}

/// The integrity a body's headers declare: the checksum algorithm's name.
pub fn checksum_headers(headers: &HeaderMap) -> S3Result<&'static str> {
    crate::checksum::Declared::from_headers(headers, crate::checksum::DEFAULT_ALGORITHM)
        .map(|declared| declared.algorithm.name())
}

/// A CORS configuration as PutBucketCors checks and stores it, then the
/// headers it would add to a request with `headers` and `method` (`None`
/// without an `Origin` or a matching rule).
pub fn cors(config: &CORSConfiguration, headers: &HeaderMap, method: &Method) -> S3Result<Option<HeaderMap>> {
    let config = crate::ops::validate_cors(config)?;
    let stored = crate::cors::Config::decode(&config.encode()).expect("a stored CORS configuration reads back");
    assert_eq!(stored, config, "a CORS configuration changed in storage");
    let Some(request) = crate::cors::CorsRequest::from_headers(headers, method) else {
        return Ok(None);
    };
    Ok(config.find(&request).map(|found| {
        let mut answer = HeaderMap::new();
        found.apply(&request, &mut answer);
        answer
    }))
}
