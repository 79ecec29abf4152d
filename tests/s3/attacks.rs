//! Authentication attacks and keys that try to escape the data directory.

use std::time::SystemTime;

use crate::common::*;

/// Signs a GET of `path` with `signer` and sends it.
fn signed_get(s: &Server, signer: &Signer, path: &str) -> RawResponse {
    let mut headers = Vec::new();
    let target = signer.sign(
        "GET",
        path,
        &[],
        &mut headers,
        &s.host(),
        &sha256_hex(b""),
        SystemTime::now(),
    );
    raw_request(s.addr, "GET", &target, &headers, b"")
}

#[tokio::test]
async fn signatures_for_another_service_or_region_are_refused() {
    let s = Server::start().await;
    let b = s.new_bucket("scope").await;
    s.put(&b, "k", "secret").await;
    let mut other_service = s.signer();
    other_service.service = "iam".into();
    let r = signed_get(&s, &other_service, &format!("/{b}/k"));
    r.assert_s3_error(400, "AuthorizationHeaderMalformed");
    assert!(!r.text().contains("secret"), "{r}");

    let other_region = Signer::new(ACCESS_KEY, SECRET_KEY, "eu-west-3");
    let r = signed_get(&s, &other_region, &format!("/{b}/k"));
    r.assert_s3_error(400, "AuthorizationHeaderMalformed");
}

/// Found by fuzzing: s3s reads the digits of SigV4 dates as `c - b'0'`
/// before checking them, so a byte below '0' panicked (in builds with
/// overflow checks) and the connection ended unanswered.
#[tokio::test]
async fn dates_that_are_not_digits_are_refused() {
    let s = Server::start().await;
    let b = s.new_bucket("dates").await;
    let mut headers = Vec::new();
    let target = s.signer().sign(
        "GET",
        &format!("/{b}"),
        &[],
        &mut headers,
        &s.host(),
        &sha256_hex(b""),
        SystemTime::now(),
    );
    let bad_date: Vec<_> = headers
        .iter()
        .map(|(name, value)| match name.as_str() {
            "x-amz-date" => (name.clone(), "\"0260101T000000Z".to_owned()),
            _ => (name.clone(), value.clone()),
        })
        .collect();
    raw_request(s.addr, "GET", &target, &bad_date, b"").assert_s3_error(400, "InvalidRequest");
    let bad_scope: Vec<_> = headers
        .iter()
        .map(|(name, value)| match name.as_str() {
            "Authorization" => (name.clone(), value.replacen("Credential=", "Credential=x/2026-1-1/", 1)),
            _ => (name.clone(), value.clone()),
        })
        .collect();
    raw_request(s.addr, "GET", &target, &bad_scope, b"").assert_s3_error(400, "InvalidRequest");
    let presigned = format!(
        "/{b}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ACCESS_KEY}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=%220260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
        "0".repeat(64)
    );
    s.anonymous("GET", &presigned, &[], b"")
        .assert_s3_error(400, "InvalidRequest");
    // The request as signed goes through.
    let r = raw_request(s.addr, "GET", &target, &headers, b"");
    assert_eq!(r.status, 200, "{r}");
}

#[tokio::test]
async fn signed_headers_cannot_be_changed_or_unsigned_ones_slipped_in() {
    let s = Server::start().await;
    let b = s.new_bucket("inject").await;
    let mut headers = vec![("x-amz-meta-owner".to_owned(), "alice".to_owned())];
    let target = s.signer().sign(
        "PUT",
        &format!("/{b}/k"),
        &[],
        &mut headers,
        &s.host(),
        &sha256_hex(b"body"),
        SystemTime::now(),
    );
    // A signed header changed in transit.
    let changed: Vec<_> = headers
        .iter()
        .map(|(name, value)| match name.as_str() {
            "x-amz-meta-owner" => (name.clone(), "mallory".to_owned()),
            _ => (name.clone(), value.clone()),
        })
        .collect();
    let r = raw_request(s.addr, "PUT", &target, &changed, b"body");
    r.assert_s3_error(403, "SignatureDoesNotMatch");
    // A header the signature does not cover, injected beside the signed ones.
    let mut injected = headers.clone();
    injected.push(("x-amz-meta-role".to_owned(), "admin".to_owned()));
    let r = raw_request(s.addr, "PUT", &target, &injected, b"body");
    r.assert_s3_error(403, "AccessDenied");
    expect_err(s.client.head_object().bucket(&b).key("k").send().await, 404, "");
    // The request as signed goes through.
    let r = raw_request(s.addr, "PUT", &target, &headers, b"body");
    assert_eq!(r.status, 200, "{r}");
}

#[tokio::test]
async fn keys_that_look_like_paths_stay_keys() {
    let s = Server::start().await;
    let b = s.new_bucket("traversal").await;
    let outside = s.data_dir.parent().unwrap().join("escaped");
    let keys = [
        "../../../../escaped",
        "../escaped",
        "a/../../escaped",
        "%2e%2e/%2e%2e/escaped",
        "%252e%252e%252fescaped",
        "..\\..\\escaped",
        "./.",
    ];
    for key in keys {
        s.put(&b, key, key).await;
    }
    for key in keys {
        assert_eq!(s.get(&b, key).await, key.as_bytes(), "{key}");
    }
    let listed = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let mut names: Vec<_> = listed.contents().iter().map(|o| o.key().unwrap().to_owned()).collect();
    names.sort();
    let mut expected: Vec<_> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "each key is stored as sent");
    assert!(!outside.exists(), "nothing was written outside the data directory");
    assert_eq!(count_files(&s.blobs_dir()), keys.len());
    // A path that climbs out of the bucket in the request line names no other bucket.
    let r = signed_get(&s, &s.signer(), &format!("/{b}/../{b}/../../etc/passwd"));
    assert!(r.status == 404 || r.status == 400 || r.status == 403, "{r}");
    assert!(!r.text().contains("root:"), "{r}");
}
