//! Request headers and query strings that Coffer parses itself, each on its
//! own, from a request in the harness's text format (not signed, not
//! served): the checks before s3s (`preflight.rs`: credential scope,
//! `X-Amz-Expires`, signed headers, Range), Range as S3 reads it and the
//! bytes it selects, `x-amz-copy-source`, `x-amz-tagging`, `x-amz-acl` and
//! `x-amz-grant-*`, the checksum headers, and the CORS headers of a request
//! against a fixed set of rules.
#![no_main]

use coffer_fuzz::{Remembered, build, parse};
use s3s::dto::{CORSConfiguration, CORSRule, Range};

fn rules() -> CORSConfiguration {
    let rule = |origins: &[&str], methods: &[&str], headers: &[&str]| CORSRule {
        allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
        allowed_headers: Some(headers.iter().map(|s| s.to_string()).collect()),
        expose_headers: Some(vec!["ETag".into()]),
        max_age_seconds: Some(3000),
        id: None,
    };
    CORSConfiguration {
        cors_rules: vec![
            rule(
                &["https://*.example.com"],
                &["GET", "PUT"],
                &["x-amz-*", "content-type"],
            ),
            rule(&["http://localhost:*"], &["POST", "DELETE", "HEAD"], &["*"]),
            rule(&["*"], &["GET"], &[]),
        ],
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut spec = parse(data);
    spec.headers.push((b"x-fuzz-sign".to_vec(), b"none".to_vec()));
    let Some(mut request) = build(spec, &Remembered::default()) else {
        return;
    };
    let headers = request.headers().clone();
    let method = request.method().clone();
    let kept_range = coffer_s3::fuzzing::preflight(&mut request, coffer_fuzz::REGION)
        .ok()
        .and_then(|()| request.headers().get(http::header::RANGE).cloned());
    if let Some(range) = kept_range {
        // What preflight keeps, s3s parses, and a read checks against the
        // object's size.
        let range = Range::parse(range.to_str().expect("a kept Range is text")).expect("a kept Range parses");
        for size in [0, 1, 5, 1 << 20, u64::MAX] {
            if let Ok(selected) = range.check(size) {
                assert!(
                    selected.start <= selected.end && selected.end <= size,
                    "{range:?} of {size}: {selected:?}"
                );
            }
        }
    }
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(source) = text("x-amz-copy-source") {
        let _ = coffer_s3::fuzzing::copy_source(source);
    }
    if let Some(tagging) = text("x-amz-tagging") {
        let _ = coffer_s3::fuzzing::tagging_header(tagging);
    }
    let _ = coffer_s3::fuzzing::acl_headers(&headers, "owner-id", "bucket-owner-id");
    let _ = coffer_s3::fuzzing::checksum_headers(&headers);
    let _ = coffer_s3::fuzzing::cors(&rules(), &headers, &method).expect("the fixed rules are valid");
});
