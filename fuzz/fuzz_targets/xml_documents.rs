//! The other XML request bodies, each input read as every one of them with
//! s3s's deserializer as the operations receive them; where Coffer reads the
//! document further, that too: ACLs (`Acl::from_policy`, stored and read
//! back), CORS configurations (checked, stored, read back and matched
//! against a browser request), and object and bucket tag sets.
#![no_main]

use s3s::dto::*;
use s3s::xml;

fn parse<T: for<'x> xml::Deserialize<'x>>(bytes: &[u8]) -> Option<T> {
    let mut d = xml::Deserializer::new(bytes);
    let value = T::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(value)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(policy) = parse::<AccessControlPolicy>(data) {
        let _ = coffer_s3::fuzzing::acl_document(&policy, "owner-id");
    }
    if let Some(config) = parse::<CORSConfiguration>(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert("origin", http::HeaderValue::from_static("https://app.example.com"));
        headers.insert("access-control-request-method", http::HeaderValue::from_static("PUT"));
        headers.insert(
            "access-control-request-headers",
            http::HeaderValue::from_static("content-type, x-amz-meta-a"),
        );
        let _ = coffer_s3::fuzzing::cors(&config, &headers, &http::Method::OPTIONS);
    }
    if let Some(tagging) = parse::<Tagging>(data) {
        let _ = coffer_s3::fuzzing::tagging_document(&tagging, false);
        let _ = coffer_s3::fuzzing::tagging_document(&tagging, true);
    }
    let _ = parse::<Delete>(data);
    let _ = parse::<CompletedMultipartUpload>(data);
    let _ = parse::<CreateBucketConfiguration>(data);
    let _ = parse::<VersioningConfiguration>(data);
    let _ = parse::<ObjectLockConfiguration>(data);
    let _ = parse::<ObjectLockRetention>(data);
    let _ = parse::<ObjectLockLegalHold>(data);
    let _ = parse::<PublicAccessBlockConfiguration>(data);
    let _ = parse::<OwnershipControls>(data);
    let _ = parse::<ServerSideEncryptionConfiguration>(data);
});
