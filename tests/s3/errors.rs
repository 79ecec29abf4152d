//! Error responses: XML structure, request ids, malformed input, unimplemented
//! operations.

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{AccelerateConfiguration, BucketAccelerateStatus};

use crate::common::*;

#[tokio::test]
async fn error_xml_structure() {
    let s = Server::start().await;
    let missing = bucket_name("nosuch");
    let r = s.signed("GET", &format!("/{missing}/some/key"), &[], &[], b"");
    r.assert_s3_error(404, "NoSuchBucket");
    let body = r.text();
    assert!(body.contains("<Resource>"), "error must include Resource: {r}");
    assert!(
        r.header("content-type").is_some_and(|c| c.contains("xml")),
        "error content-type should be XML: {r}"
    );
    let rid_hdr = r.header("x-amz-request-id").unwrap();
    assert_eq!(
        r.xml("RequestId").as_deref(),
        Some(rid_hdr),
        "body RequestId must equal the x-amz-request-id header"
    );

    let b = s.new_bucket("errs").await;
    let r = s.signed("GET", &format!("/{b}/missing-key"), &[], &[], b"");
    r.assert_s3_error(404, "NoSuchKey");
    assert!(r.text().contains("<Resource>"), "{r}");
    let r = s.signed("DELETE", &format!("/{missing}"), &[], &[], b"");
    r.assert_s3_error(404, "NoSuchBucket");
    assert!(r.text().contains("<Resource>"), "{r}");
}

#[tokio::test]
async fn every_response_has_request_id() {
    let s = Server::start().await;
    let b = s.new_bucket("rid").await;
    let path = format!("/{b}/obj");
    let etag = quoted_md5(b"data");
    let responses = vec![
        s.signed("GET", "/", &[], &[], b""),
        s.signed("HEAD", &format!("/{b}"), &[], &[], b""),
        s.signed("PUT", &path, &[], &[], b"data"),
        s.signed("GET", &path, &[], &[], b""),
        s.signed("HEAD", &path, &[], &[], b""),
        s.signed("GET", &path, &[], &[("If-None-Match", &etag)], b""),
        s.signed("GET", &path, &[], &[("Range", "bytes=0-1")], b""),
        s.signed("GET", &format!("/{b}"), &[("list-type", "2")], &[], b""),
        s.signed("DELETE", &path, &[], &[], b""),
        s.signed("HEAD", &path, &[], &[], b""),
        s.anonymous("GET", "/", &[], b""),
    ];
    let expected = [200, 200, 200, 200, 200, 304, 206, 200, 204, 404, 403];
    let mut ids = HashSet::new();
    for (r, want) in responses.iter().zip(expected) {
        assert_eq!(r.status, want, "{r}");
        let id = r
            .header("x-amz-request-id")
            .unwrap_or_else(|| panic!("missing x-amz-request-id: {r}"));
        assert!(!id.is_empty());
        ids.insert(id.to_string());
    }
    assert_eq!(ids.len(), responses.len(), "request ids must be unique");
}

#[tokio::test]
async fn malformed_xml_delete_objects() {
    let s = Server::start().await;
    let b = s.new_bucket("malformed").await;
    s.put(&b, "a", "a").await;
    for body in [
        &b"<Delete><Object><Key>a</Key></Object>"[..], // truncated
        &b"this is not xml at all"[..],
        &b"<Delete><Object><Key>a</Key></Object></Delete"[..],
        &b"<Delete><Object><Nope>a</Nope></Object></Delete>"[..], // Object without Key
    ] {
        let md5 = md5_b64(body);
        let r = s.signed(
            "POST",
            &format!("/{b}"),
            &[("delete", "")],
            &[("Content-MD5", &md5)],
            body,
        );
        r.assert_s3_error(400, "MalformedXML");
    }
    assert_eq!(s.get(&b, "a").await, b"a");
}

#[tokio::test]
async fn malformed_xml_create_bucket() {
    let s = Server::start().await;
    let b = bucket_name("badcfg");
    let body = b"<CreateBucketConfiguration><LocationConstraint>us-east-1";
    let r = s.signed("PUT", &format!("/{b}"), &[], &[], body);
    r.assert_s3_error(400, "MalformedXML");
    expect_err(s.client.head_bucket().bucket(&b).send().await, 404, "");
}

#[tokio::test]
async fn unimplemented_operation_is_501() {
    let s = Server::start().await;
    let b = s.new_bucket("notimpl").await;
    let r = s
        .client
        .put_bucket_accelerate_configuration()
        .bucket(&b)
        .accelerate_configuration(
            AccelerateConfiguration::builder()
                .status(BucketAccelerateStatus::Enabled)
                .build(),
        )
        .send()
        .await;
    expect_err(r, 501, "NotImplemented");

    let body = br#"<AccelerateConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></AccelerateConfiguration>"#;
    let r = s.signed("PUT", &format!("/{b}"), &[("accelerate", "")], &[], body);
    r.assert_s3_error(501, "NotImplemented");

    // The server keeps working afterwards.
    s.put(&b, "k", "still alive").await;
    assert_eq!(s.get(&b, "k").await, b"still alive");
}

/// Two requests on one keep-alive connection: an error response must not
/// drop the connection.
#[tokio::test]
async fn keep_alive_survives_errors() {
    let s = Server::start().await;
    let b = s.new_bucket("keepalive").await;
    s.put(&b, "k", "kept").await;
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let signer = s.signer();
    for (path, want) in [
        (format!("/{b}/missing"), 404u16),
        (format!("/{b}/k"), 200),
        (format!("/{}/x", bucket_name("nb")), 404),
        (format!("/{b}/k"), 200),
    ] {
        let mut h = Vec::new();
        let target = signer.sign("GET", &path, &[], &mut h, &s.host(), EMPTY_SHA256, SystemTime::now());
        let mut req = format!("GET {target} HTTP/1.1\r\n");
        for (k, v) in &h {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        conn.write_all(req.as_bytes()).unwrap();
        let r = read_response(&mut conn, false);
        assert_eq!(r.status, want, "{r}");
        if want == 200 {
            assert_eq!(r.body, b"kept");
        }
    }
}

#[tokio::test]
async fn invalid_range_error_body() {
    let s = Server::start().await;
    let b = s.new_bucket("ir").await;
    s.put(&b, "k", "0123456789").await;
    let r = s.signed("GET", &format!("/{b}/k"), &[], &[("Range", "bytes=10-20")], b"");
    r.assert_s3_error(416, "InvalidRange");
    // Content-Range for an unsatisfiable range reports the size (RFC 9110).
    if let Some(cr) = r.header("content-range") {
        assert_eq!(cr, "bytes */10", "{r}");
    }
}

/// s3s reads the body of an XML request whole, itself, before the operation
/// runs, and answered any failure to read it with 500 InternalError (found
/// by fuzzing). A body that does not match its signed SHA-256 gets S3's
/// XAmzContentSHA256Mismatch, and an aws-chunked one, which s3s cannot read
/// for these operations, is refused up front.
#[tokio::test]
async fn xml_bodies_that_cannot_be_read_get_s3_errors() {
    let s = Server::start().await;
    let b = s.new_bucket("xmlbody").await;
    let body = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>";
    let path = format!("/{b}");

    let mut headers = Vec::new();
    let target = s.signer().sign(
        "PUT",
        &path,
        &[("tagging", "")],
        &mut headers,
        &s.host(),
        &sha256_hex(b"another body"),
        SystemTime::now(),
    );
    raw_request(s.addr, "PUT", &target, &headers, body).assert_s3_error(400, "XAmzContentSHA256Mismatch");

    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(body);
    chunked.extend_from_slice(b"\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    let mut headers = vec![
        ("Content-Encoding".to_owned(), "aws-chunked".to_owned()),
        ("x-amz-decoded-content-length".to_owned(), body.len().to_string()),
        ("x-amz-trailer".to_owned(), "x-amz-checksum-crc32".to_owned()),
    ];
    let target = s.signer().sign(
        "PUT",
        &path,
        &[("tagging", "")],
        &mut headers,
        &s.host(),
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        SystemTime::now(),
    );
    let r = raw_request(s.addr, "PUT", &target, &headers, &chunked);
    r.assert_s3_error(400, "InvalidRequest");
    assert!(r.text().contains("aws-chunked"), "{r}");

    // The same document, sent plainly, is taken.
    let r = s.signed("PUT", &path, &[("tagging", "")], &[], body);
    assert_eq!(r.status, 204, "{r}");
}
