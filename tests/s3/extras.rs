//! Documented Amazon S3 behaviour that goes beyond the minimal Coffer contract
//! (kept separate so failures here are easy to triage).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::common::*;

#[tokio::test]
async fn user_metadata_over_2kb_is_rejected() {
    // S3: user-defined metadata is limited to 2 KB -> 400 MetadataTooLarge.
    let s = Server::start().await;
    let b = s.new_bucket("metasize").await;
    let r = s
        .client
        .put_object()
        .bucket(&b)
        .key("big-meta")
        .metadata("big", "x".repeat(2100))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(r, 400, "MetadataTooLarge");
    expect_err(s.client.head_object().bucket(&b).key("big-meta").send().await, 404, "");
    // Just under the limit is fine.
    s.client
        .put_object()
        .bucket(&b)
        .key("ok-meta")
        .metadata("m", "y".repeat(1900))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("1.9 KB of metadata");
}

#[tokio::test]
async fn location_constraint_for_other_region_is_rejected() {
    // S3: creating a bucket with a LocationConstraint for a different region
    // than the endpoint -> 400 IllegalLocationConstraintException.
    let s = Server::start().await;
    let b = bucket_name("illegal");
    let r = s
        .client
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from("eu-west-1"))
                .build(),
        )
        .send()
        .await;
    expect_err(r, 400, "IllegalLocationConstraintException");
    expect_err(s.client.head_bucket().bucket(&b).send().await, 404, "");
}

#[tokio::test]
async fn head_bucket_reports_region() {
    let s = Server::start().await;
    let b = s.new_bucket("region").await;
    let out = s.client.head_bucket().bucket(&b).send().await.unwrap();
    assert_eq!(
        out.bucket_region(),
        Some("us-east-1"),
        "HeadBucket must return x-amz-bucket-region"
    );
}

#[tokio::test]
async fn put_object_conditional_writes() {
    // S3 conditional writes: If-None-Match: * and If-Match on PutObject.
    let s = Server::start().await;
    let b = s.new_bucket("condput").await;
    let mut wrong: Vec<String> = Vec::new();
    let put = |key: &'static str, body: &'static [u8]| {
        s.client
            .put_object()
            .bucket(&b)
            .key(key)
            .body(ByteStream::from_static(body))
    };
    if let Err(e) = put("k", b"first").if_none_match("*").send().await {
        wrong.push(format!(
            "If-None-Match * on a new key: {} {}",
            err_status(&e),
            err_code(&e)
        ));
    }
    match put("k", b"second").if_none_match("*").send().await {
        Ok(_) => wrong.push("If-None-Match * on an existing key: accepted (200), object overwritten".into()),
        Err(e) if err_status(&e) != 412 => wrong.push(format!(
            "If-None-Match * on an existing key: {} {}",
            err_status(&e),
            err_code(&e)
        )),
        Err(_) => {}
    }
    s.put(&b, "k", "first").await;
    match put("k", b"third")
        .if_match("\"00000000000000000000000000000000\"")
        .send()
        .await
    {
        Ok(_) => wrong.push("If-Match with a wrong ETag: accepted (200), object overwritten".into()),
        Err(e) if err_status(&e) != 412 => wrong.push(format!(
            "If-Match with a wrong ETag: {} {}",
            err_status(&e),
            err_code(&e)
        )),
        Err(_) => {}
    }
    s.put(&b, "k", "first").await;
    if let Err(e) = put("k", b"fourth").if_match(quoted_md5(b"first")).send().await {
        wrong.push(format!(
            "If-Match with the current ETag: {} {}",
            err_status(&e),
            err_code(&e)
        ));
    }
    match put("absent", b"x").if_match(quoted_md5(b"x")).send().await {
        Ok(_) => wrong.push("If-Match on a missing key: accepted (200)".into()),
        Err(e) if err_status(&e) != 404 || err_code(&e) != "NoSuchKey" => wrong.push(format!(
            "If-Match on a missing key: {} {}",
            err_status(&e),
            err_code(&e)
        )),
        Err(_) => {}
    }
    assert!(wrong.is_empty(), "conditional PutObject deviations: {wrong:#?}");
}

#[tokio::test]
async fn expect_100_continue() {
    let s = Server::start().await;
    let b = s.new_bucket("expect").await;
    let body = pseudo_random_bytes(5, 10_000);
    let mut h = vec![
        ("Expect".to_string(), "100-continue".to_string()),
        ("Content-Length".to_string(), body.len().to_string()),
    ];
    let target = s.signer().sign(
        "PUT",
        &format!("/{b}/continued"),
        &[],
        &mut h,
        &s.host(),
        &sha256_hex(&body),
        SystemTime::now(),
    );
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("PUT {target} HTTP/1.1\r\n");
    for (k, v) in &h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).expect("server must answer 100 Continue");
    let interim = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "expected 100 Continue, got {interim:?}"
    );
    conn.write_all(&body).unwrap();
    let r = read_response(&mut conn, false);
    assert_eq!(r.status, 200, "{r}");
    assert!(s.get(&b, "continued").await == body);

    // A request that fails authentication gets its final status without 100 Continue.
    let mut h = vec![
        ("Expect".to_string(), "100-continue".to_string()),
        ("Content-Length".to_string(), body.len().to_string()),
    ];
    let target = Signer::new(ACCESS_KEY, "wrong-secret", REGION).sign(
        "PUT",
        &format!("/{b}/denied"),
        &[],
        &mut h,
        &s.host(),
        &sha256_hex(&body),
        SystemTime::now(),
    );
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("PUT {target} HTTP/1.1\r\n");
    for (k, v) in &h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).unwrap();
    let r = read_response(&mut conn, false);
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.xml("Code").as_deref(), Some("SignatureDoesNotMatch"), "{r}");
}

#[tokio::test]
async fn directory_marker_keys_and_delimiter() {
    let s = Server::start().await;
    let b = s.new_bucket("markers").await;
    for k in ["photos/", "photos/2024/", "photos/2024/a.jpg", "photos/b.jpg"] {
        s.put(&b, k, "").await;
    }
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .prefix("photos/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, vec!["photos/", "photos/b.jpg"]);
    assert_eq!(cps, vec!["photos/2024/"]);
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(cps, vec!["photos/"]);
}

#[tokio::test]
async fn malformed_checksum_value_rejected() {
    // A checksum header that is not valid base64 of the right size is a client error.
    let s = Server::start().await;
    let b = s.new_bucket("badvalue").await;
    for (h, v) in [
        ("x-amz-checksum-crc32", "not base64!"),
        ("x-amz-checksum-sha256", "AAAA"),
        ("x-amz-checksum-crc32c", "AAAAAAAAAAA="),
    ] {
        let r = s.signed("PUT", &format!("/{b}/k"), &[], &[(h, v)], b"hello world");
        assert_eq!(r.status, 400, "{h}: {v}: {r}");
        assert!(r.xml("Code").is_some(), "{r}");
    }
    expect_err(s.client.head_object().bucket(&b).key("k").send().await, 404, "");
}

#[tokio::test]
async fn wrong_region_in_credential_scope() {
    // S3: 400 AuthorizationHeaderMalformed when the scope names another region.
    let s = Server::start().await;
    let mut h = Vec::new();
    let target = Signer::new(ACCESS_KEY, SECRET_KEY, "eu-west-1").sign(
        "GET",
        "/",
        &[],
        &mut h,
        &s.host(),
        EMPTY_SHA256,
        SystemTime::now(),
    );
    let r = raw_request(s.addr, "GET", &target, &h, b"");
    r.assert_s3_error(400, "AuthorizationHeaderMalformed");
}

#[tokio::test]
async fn declared_size_over_5gib_is_entity_too_large() {
    // S3: a single PUT may not exceed 5 GiB -> 400 EntityTooLarge, refused up front.
    let s = Server::start().await;
    let b = s.new_bucket("toolarge").await;
    let size = (5u64 << 30) + 1;
    let mut h = vec![
        ("x-amz-content-sha256".to_string(), "UNSIGNED-PAYLOAD".to_string()),
        ("Content-Length".to_string(), size.to_string()),
    ];
    let target = s.signer().sign(
        "PUT",
        &format!("/{b}/huge"),
        &[],
        &mut h,
        &s.host(),
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("PUT {target} HTTP/1.1\r\n");
    for (k, v) in &h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).unwrap();
    let _ = conn.write_all(&[0u8; 4096]);
    let r = read_response(&mut conn, false);
    r.assert_s3_error(400, "EntityTooLarge");
    expect_err(s.client.head_object().bucket(&b).key("huge").send().await, 404, "");
}

#[tokio::test]
async fn head_object_with_range() {
    // HeadObject accepts Range like GetObject.
    let s = Server::start().await;
    let b = s.new_bucket("headrange").await;
    s.put(&b, "k", "0123456789").await;
    let r = s.signed("HEAD", &format!("/{b}/k"), &[], &[("Range", "bytes=2-5")], b"");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"), "{r}");
    assert_eq!(r.header("content-length"), Some("4"), "{r}");
    let r416 = s.signed("HEAD", &format!("/{b}/k"), &[], &[("Range", "bytes=20-")], b"");
    assert_eq!(r416.status, 416, "{r416}");
    assert_eq!(r.status, 206, "ranged HEAD must answer 206 like GET: {r}");
}

#[tokio::test]
async fn invalid_continuation_token() {
    let s = Server::start().await;
    let b = s.new_bucket("badtoken").await;
    s.put(&b, "k", "v").await;
    let r = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .continuation_token("this-is-not-a-token!!")
        .send()
        .await;
    expect_err(r, 400, "InvalidArgument");
}
