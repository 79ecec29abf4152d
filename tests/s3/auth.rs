//! Authentication: SigV4 header auth, presigned URLs, streaming aws-chunked
//! (signed and unsigned-with-trailer), wrong keys, anonymous requests.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

fn headers_of(p: &aws_sdk_s3::presigning::PresignedRequest) -> Vec<(String, String)> {
    p.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn presigned_get_and_put() {
    let s = Server::start().await;
    let b = s.new_bucket("presign").await;
    s.put(&b, "dir/presigned get.txt", "presigned body").await;

    let cfg = PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let p = s
        .client
        .get_object()
        .bucket(&b)
        .key("dir/presigned get.txt")
        .presigned(cfg.clone())
        .await
        .expect("presign get");
    assert!(p.uri().contains("X-Amz-Signature="), "{}", p.uri());
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body, b"presigned body");
    assert_eq!(r.header("etag"), Some(quoted_md5(b"presigned body").as_str()));
    assert!(r.header("x-amz-request-id").is_some());

    let body = pseudo_random_bytes(99, 50_000);
    let p = s
        .client
        .put_object()
        .bucket(&b)
        .key("uploaded/ü.bin")
        .presigned(cfg.clone())
        .await
        .expect("presign put");
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), &body);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("etag"), Some(quoted_md5(&body).as_str()));
    assert!(s.get(&b, "uploaded/ü.bin").await == body);

    // Presigned HEAD and DELETE work too.
    let p = s
        .client
        .head_object()
        .bucket(&b)
        .key("uploaded/ü.bin")
        .presigned(cfg.clone())
        .await
        .unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("content-length"), Some("50000"));
    let p = s
        .client
        .delete_object()
        .bucket(&b)
        .key("uploaded/ü.bin")
        .presigned(cfg)
        .await
        .unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    assert_eq!(r.status, 204, "{r}");
    expect_err(
        s.client.head_object().bucket(&b).key("uploaded/ü.bin").send().await,
        404,
        "",
    );
}

#[tokio::test]
async fn presigned_expired_or_tampered() {
    let s = Server::start().await;
    let b = s.new_bucket("expired").await;
    s.put(&b, "k", "secret").await;

    let cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let p = s.client.get_object().bucket(&b).key("k").presigned(cfg).await.unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    r.assert_s3_error(403, "AccessDenied");
    assert!(!r.text().contains("secret"));

    let cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let p = s.client.put_object().bucket(&b).key("k").presigned(cfg).await.unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"overwrite attempt");
    r.assert_s3_error(403, "AccessDenied");
    assert_eq!(s.get(&b, "k").await, b"secret");

    // Tampered signature.
    let cfg = PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let p = s
        .client
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(cfg.clone())
        .await
        .unwrap();
    let uri = p.uri().to_string();
    let pos = uri.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut sig: Vec<char> = uri[pos..pos + 64].chars().collect();
    sig[10] = if sig[10] == 'a' { 'b' } else { 'a' };
    let tampered = format!(
        "{}{}{}",
        &uri[..pos],
        sig.into_iter().collect::<String>(),
        &uri[pos + 64..]
    );
    let r = raw_url_request(s.addr, "GET", &tampered, &headers_of(&p), b"");
    r.assert_s3_error(403, "SignatureDoesNotMatch");

    // Presigned URL for another key cannot be reused by changing the path.
    let other = uri.replacen(&format!("/{b}/k?"), &format!("/{b}/other?"), 1);
    let r = raw_url_request(s.addr, "GET", &other, &headers_of(&p), b"");
    r.assert_s3_error(403, "SignatureDoesNotMatch");

    // Presigned with an unknown access key.
    let bad = s.client_with("AKIDONOTEXIST0000000", SECRET_KEY);
    let p = bad
        .get_object()
        .bucket(&b)
        .key("k")
        .presigned(cfg.clone())
        .await
        .unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    r.assert_s3_error(403, "InvalidAccessKeyId");
    // Presigned with a wrong secret.
    let bad = s.client_with(ACCESS_KEY, "wrong-secret-wrong-secret-wrong-secret00");
    let p = bad.get_object().bucket(&b).key("k").presigned(cfg).await.unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    r.assert_s3_error(403, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn wrong_credentials() {
    let s = Server::start().await;
    let b = s.new_bucket("creds").await;
    s.put(&b, "k", "v").await;

    let unknown = s.client_with("AKIDONOTEXIST0000000", SECRET_KEY);
    expect_err(unknown.list_buckets().send().await, 403, "InvalidAccessKeyId");
    expect_err(
        unknown.get_object().bucket(&b).key("k").send().await,
        403,
        "InvalidAccessKeyId",
    );
    expect_err(
        unknown
            .put_object()
            .bucket(&b)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "InvalidAccessKeyId",
    );

    let wrong = s.client_with(ACCESS_KEY, "wrong-secret-wrong-secret-wrong-secret00");
    expect_err(wrong.list_buckets().send().await, 403, "SignatureDoesNotMatch");
    expect_err(
        wrong.get_object().bucket(&b).key("k").send().await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_err(
        wrong
            .put_object()
            .bucket(&b)
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_err(
        wrong.delete_object().bucket(&b).key("k").send().await,
        403,
        "SignatureDoesNotMatch",
    );
    expect_err(
        wrong.create_bucket().bucket("newbucket").send().await,
        403,
        "SignatureDoesNotMatch",
    );

    // Nothing changed.
    expect_err(s.client.head_object().bucket(&b).key("x").send().await, 404, "");
    assert_eq!(s.get(&b, "k").await, b"v");
    expect_err(s.client.head_bucket().bucket("newbucket").send().await, 404, "");
}

#[tokio::test]
async fn anonymous_requests_denied() {
    let s = Server::start().await;
    let b = s.new_bucket("anon").await;
    s.put(&b, "k", "private").await;
    for (method, target, body) in [
        ("GET", "/".to_string(), &b""[..]),
        ("GET", format!("/{b}"), &b""[..]),
        ("GET", format!("/{b}/k"), &b""[..]),
        ("PUT", format!("/{b}/k"), &b"anonymous overwrite"[..]),
        ("DELETE", format!("/{b}/k"), &b""[..]),
        ("PUT", "/anon-new-bucket".to_string(), &b""[..]),
        ("GET", format!("/{b}?list-type=2"), &b""[..]),
    ] {
        let r = s.anonymous(method, &target, &[], body);
        assert!(!r.text().contains("private"), "{method} {target}: {r}");
        r.assert_s3_error(403, "AccessDenied");
    }
    let r = s.anonymous("HEAD", &format!("/{b}/k"), &[], b"");
    assert_eq!(r.status, 403, "{r}");
    assert!(r.header("x-amz-request-id").is_some(), "{r}");
    assert_eq!(s.get(&b, "k").await, b"private");
    expect_err(s.client.head_bucket().bucket("anon-new-bucket").send().await, 404, "");
}

#[tokio::test]
async fn header_auth_variants() {
    let s = Server::start().await;
    let b = s.new_bucket("variants").await;
    let signer = s.signer();

    // UNSIGNED-PAYLOAD with header auth.
    let mut h = vec![("x-amz-content-sha256".to_string(), "UNSIGNED-PAYLOAD".to_string())];
    let target = signer.sign(
        "PUT",
        &format!("/{b}/unsigned"),
        &[],
        &mut h,
        &s.host(),
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let r = raw_request(s.addr, "PUT", &target, &h, b"unsigned payload");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.get(&b, "unsigned").await, b"unsigned payload");

    // Signed payload whose hash does not match the body.
    let mut h = Vec::new();
    let wrong_hash = sha256_hex(b"something else");
    let target = signer.sign(
        "PUT",
        &format!("/{b}/mismatch"),
        &[],
        &mut h,
        &s.host(),
        &wrong_hash,
        SystemTime::now(),
    );
    let r = raw_request(s.addr, "PUT", &target, &h, b"actual body");
    r.assert_s3_error(400, "XAmzContentSHA256Mismatch");
    expect_err(s.client.head_object().bucket(&b).key("mismatch").send().await, 404, "");

    // Request dated an hour ago -> RequestTimeTooSkewed.
    let mut h = Vec::new();
    let target = signer.sign(
        "GET",
        "/",
        &[],
        &mut h,
        &s.host(),
        EMPTY_SHA256,
        SystemTime::now() - Duration::from_secs(3600),
    );
    let r = raw_request(s.addr, "GET", &target, &h, b"");
    r.assert_s3_error(403, "RequestTimeTooSkewed");

    // Query-string keys and values are part of the signature.
    let mut h = Vec::new();
    let target = signer.sign(
        "GET",
        &format!("/{b}"),
        &[("list-type", "2"), ("prefix", "uns")],
        &mut h,
        &s.host(),
        EMPTY_SHA256,
        SystemTime::now(),
    );
    let tampered = target.replace("prefix=uns", "prefix=xyz");
    let r = raw_request(s.addr, "GET", &tampered, &h, b"");
    r.assert_s3_error(403, "SignatureDoesNotMatch");
    let r = raw_request(s.addr, "GET", &target, &h, b"");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.xml("Key").as_deref(), Some("unsigned"), "{r}");
}

/// A signed payload's SHA-256 is checked by Coffer as it stores object data
/// (`signed_payload.rs`), and large bodies arriving together are hashed in
/// shared rounds (`hashing/shared.rs`). Six PUTs of 3 MiB and more at once,
/// PutObject and UploadPart, two of them signed with the SHA-256 of other
/// bytes: those get XAmzContentSHA256Mismatch and store nothing; the others
/// store their own bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_signed_bodies_arriving_together_are_checked_against_their_sha256() {
    let s = Server::start().await;
    let b = s.new_bucket("signedlarge").await;
    let upload = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("parts")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| pseudo_random_bytes(3000 + i, (3 << 20) + i as usize * 55_555))
        .collect();
    let wrong = |i: usize| i == 1 || i == 4;
    let requests = bodies.iter().enumerate().map(|(i, body)| {
        let (path, number) = (format!("/{b}/signed-{i}"), (i + 1).to_string());
        let query: Vec<(&str, &str)> = match i % 2 {
            0 => vec![],
            _ => vec![("partNumber", number.as_str()), ("uploadId", upload_id.as_str())],
        };
        let path = if i % 2 == 0 { path } else { format!("/{b}/parts") };
        let hash = if wrong(i) {
            sha256_hex(b"other bytes")
        } else {
            sha256_hex(body)
        };
        let mut headers = Vec::new();
        let target = s
            .signer()
            .sign("PUT", &path, &query, &mut headers, &s.host(), &hash, SystemTime::now());
        let (addr, body) = (s.addr, body.clone());
        std::thread::spawn(move || raw_request(addr, "PUT", &target, &headers, &body))
    });
    let responses: Vec<RawResponse> = requests
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for (i, (response, body)) in responses.iter().zip(&bodies).enumerate() {
        if wrong(i) {
            response.assert_s3_error(400, "XAmzContentSHA256Mismatch");
        } else {
            assert_eq!(response.status, 200, "request {i}: {response}");
            assert_eq!(response.header("etag"), Some(quoted_md5(body).as_str()), "request {i}");
        }
    }
    for i in [0, 2] {
        assert_eq!(s.get(&b, &format!("signed-{i}")).await, bodies[i], "object {i}");
    }
    expect_err(s.client.head_object().bucket(&b).key("signed-4").send().await, 404, "");
    let parts = s
        .client
        .list_parts()
        .bucket(&b)
        .key("parts")
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = parts.parts().iter().filter_map(|part| part.part_number()).collect();
    assert_eq!(
        numbers,
        [4, 6],
        "only the parts signed with their own SHA-256 are stored"
    );
}

fn streaming_signed_put(s: &Server, path: &str, data: &[u8], chunk: usize, corrupt: Option<usize>) -> RawResponse {
    let signer = s.signer();
    let mut h = vec![
        ("Content-Encoding".to_string(), "aws-chunked".to_string()),
        ("x-amz-decoded-content-length".to_string(), data.len().to_string()),
        (
            "Content-Length".to_string(),
            signed_chunked_len(data.len(), chunk).to_string(),
        ),
        (
            "x-amz-content-sha256".to_string(),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_string(),
        ),
    ];
    let (target, seed, amz, date) = signer.sign_full(
        "PUT",
        path,
        &[],
        &mut h,
        &s.host(),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        SystemTime::now(),
    );
    let body = signed_chunked_body(&signer, &amz, &date, &seed, data, chunk, corrupt);
    assert_eq!(body.len(), signed_chunked_len(data.len(), chunk));
    raw_request(s.addr, "PUT", &target, &h, &body)
}

#[tokio::test]
async fn streaming_signed_aws_chunked() {
    let s = Server::start().await;
    let b = s.new_bucket("chunked").await;
    let data = pseudo_random_bytes(21, 200_000);
    let r = streaming_signed_put(&s, &format!("/{b}/chunked.bin"), &data, 65536, None);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("etag"), Some(quoted_md5(&data).as_str()));
    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("chunked.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_length(),
        Some(200_000),
        "stored size must be the decoded length"
    );
    assert!(s.get(&b, "chunked.bin").await == data);

    // Single chunk / empty payload.
    let r = streaming_signed_put(&s, &format!("/{b}/small"), b"tiny", 65536, None);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.get(&b, "small").await, b"tiny");
    let r = streaming_signed_put(&s, &format!("/{b}/zero"), b"", 65536, None);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.get(&b, "zero").await, b"");
    // Content-Encoding: aws-chunked must not be stored as the object's encoding.
    assert!(
        head.content_encoding().is_none_or(|e| !e.contains("aws-chunked")),
        "{head:?}"
    );
}

#[tokio::test]
async fn streaming_signed_bad_chunk_signature() {
    let s = Server::start().await;
    let b = s.new_bucket("badchunk").await;
    let data = pseudo_random_bytes(22, 150_000);
    let r = streaming_signed_put(&s, &format!("/{b}/bad"), &data, 65536, Some(1));
    r.assert_s3_error(403, "SignatureDoesNotMatch");
    expect_err(s.client.head_object().bucket(&b).key("bad").send().await, 404, "");
    // Corrupt final (empty) chunk signature also rejected.
    s.put(&b, "bad", "original").await;
    let r = streaming_signed_put(&s, &format!("/{b}/bad"), &data, 65536, Some(3));
    r.assert_s3_error(403, "SignatureDoesNotMatch");
    assert_eq!(s.get(&b, "bad").await, b"original");
    let tmp = s.tmp_dir();
    assert!(
        eventually(Duration::from_secs(5), || count_files(&tmp) == 0).await,
        "staging files leaked: {:?}",
        list_files(&tmp)
    );
}

fn unsigned_trailer_put(s: &Server, path: &str, data: &[u8], trailer_name: &str, trailer_value: &str) -> RawResponse {
    let mut body = Vec::new();
    for c in data.chunks(8192) {
        body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0\r\n{trailer_name}:{trailer_value}\r\n\r\n").as_bytes());
    let mut h = vec![
        ("Content-Encoding".to_string(), "aws-chunked".to_string()),
        ("x-amz-decoded-content-length".to_string(), data.len().to_string()),
        ("x-amz-trailer".to_string(), trailer_name.to_string()),
        (
            "x-amz-content-sha256".to_string(),
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_string(),
        ),
    ];
    let target = s.signer().sign(
        "PUT",
        path,
        &[],
        &mut h,
        &s.host(),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        SystemTime::now(),
    );
    raw_request(s.addr, "PUT", &target, &h, &body)
}

#[tokio::test]
async fn unsigned_payload_with_checksum_trailer() {
    let s = Server::start().await;
    let b = s.new_bucket("trailer").await;
    let data = pseudo_random_bytes(23, 40_000);

    let r = unsigned_trailer_put(
        &s,
        &format!("/{b}/ok"),
        &data,
        "x-amz-checksum-crc32",
        &crc32_b64(&data),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("etag"), Some(quoted_md5(&data).as_str()));
    assert!(s.get(&b, "ok").await == data);
    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("ok")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc32(), Some(crc32_b64(&data).as_str()));

    let r = unsigned_trailer_put(
        &s,
        &format!("/{b}/ok"),
        b"different",
        "x-amz-checksum-crc32c",
        &crc32c_b64(b"different"),
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.get(&b, "ok").await, b"different");

    // Wrong trailer checksum -> BadDigest, previous content intact.
    let r = unsigned_trailer_put(&s, &format!("/{b}/ok"), &data, "x-amz-checksum-crc32", "AAAAAA==");
    r.assert_s3_error(400, "BadDigest");
    assert_eq!(s.get(&b, "ok").await, b"different");
    let r = unsigned_trailer_put(
        &s,
        &format!("/{b}/new"),
        &data,
        "x-amz-checksum-crc32",
        &crc32_b64(b"not the data"),
    );
    r.assert_s3_error(400, "BadDigest");
    expect_err(s.client.head_object().bucket(&b).key("new").send().await, 404, "");
}

#[tokio::test]
async fn sdk_streaming_upload_uses_trailer() {
    // ByteStream::from_path makes the SDK send STREAMING-UNSIGNED-PAYLOAD-TRAILER
    // with an x-amz-checksum-crc32 trailer (its default).
    let s = Server::start().await;
    let b = s.new_bucket("sdkstream").await;
    let data = pseudo_random_bytes(24, 3 * 1024 * 1024 + 17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload.bin");
    std::fs::write(&path, &data).unwrap();
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("streamed")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("streaming put");
    assert_eq!(out.e_tag(), Some(quoted_md5(&data).as_str()));
    assert_eq!(out.checksum_crc32(), Some(crc32_b64(&data).as_str()));
    let got = s.get(&b, "streamed").await;
    assert!(got == data);
    let head = s.client.head_object().bucket(&b).key("streamed").send().await.unwrap();
    assert!(
        head.content_encoding().is_none_or(|e| !e.contains("aws-chunked")),
        "aws-chunked must not be stored as the object's Content-Encoding: {head:?}"
    );
}

#[tokio::test]
async fn presigned_get_with_response_overrides() {
    let s = Server::start().await;
    let b = s.new_bucket("presignovr").await;
    s.put(&b, "report.csv", "a,b\n1,2\n").await;
    let p = s
        .client
        .get_object()
        .bucket(&b)
        .key("report.csv")
        .response_content_type("text/csv")
        .response_content_disposition("attachment; filename=\"r.csv\"")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = raw_url_request(s.addr, p.method(), p.uri(), &headers_of(&p), b"");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("content-type"), Some("text/csv"), "{r}");
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"r.csv\""),
        "{r}"
    );
    assert_eq!(r.body, b"a,b\n1,2\n");
}
