//! PutObject / GetObject / HeadObject basics: bodies, ETags, metadata, ranges,
//! response-* overrides, key rules, versionId=null, concurrency.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};

use crate::common::*;

#[tokio::test]
async fn put_get_roundtrip_etag_is_md5() {
    let s = Server::start().await;
    let b = s.new_bucket("obj").await;
    let body = pseudo_random_bytes(7, 100_000);
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("dir/file.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put");
    assert_eq!(out.e_tag(), Some(quoted_md5(&body).as_str()));

    let got = s
        .client
        .get_object()
        .bucket(&b)
        .key("dir/file.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(got.e_tag(), Some(quoted_md5(&body).as_str()));
    assert_eq!(got.content_length(), Some(body.len() as i64));
    assert!(got.last_modified().is_some());
    let data = got.body.collect().await.unwrap().into_bytes();
    assert!(data.as_ref() == body.as_slice(), "body mismatch");

    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("dir/file.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.e_tag(), Some(quoted_md5(&body).as_str()));
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert!(head.last_modified().is_some());

    // Raw: 200, request id, Last-Modified, ETag, Content-Length, Accept-Ranges.
    let r = s.signed("GET", &format!("/{b}/dir/file.bin"), &[], &[], b"");
    assert_eq!(r.status, 200, "{r}");
    assert!(r.body == body);
    assert_eq!(r.header("etag"), Some(quoted_md5(&body).as_str()));
    assert_eq!(r.header("content-length"), Some(body.len().to_string().as_str()));
    assert!(r.header("last-modified").is_some(), "{r}");
    assert!(r.header("x-amz-request-id").is_some(), "{r}");
}

#[tokio::test]
async fn put_empty_object() {
    let s = Server::start().await;
    let b = s.new_bucket("empty").await;
    let etag = s.put(&b, "empty", Vec::new()).await;
    assert_eq!(etag, "\"d41d8cd98f00b204e9800998ecf8427e\"");
    let head = s.client.head_object().bucket(&b).key("empty").send().await.unwrap();
    assert_eq!(head.content_length(), Some(0));
    assert_eq!(s.get(&b, "empty").await, b"");
}

#[tokio::test]
async fn overwrite_replaces_content_and_metadata() {
    let s = Server::start().await;
    let b = s.new_bucket("ow").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("k")
        .metadata("old", "1")
        .content_type("text/plain")
        .body(ByteStream::from_static(b"first version"))
        .send()
        .await
        .unwrap();
    let etag = s.put(&b, "k", "second").await;
    assert_eq!(etag, quoted_md5(b"second"));
    assert_eq!(s.get(&b, "k").await, b"second");
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.content_length(), Some(6));
    assert!(
        head.metadata().map(|m| m.get("old").is_none()).unwrap_or(true),
        "old metadata must be gone: {head:?}"
    );
}

#[tokio::test]
async fn metadata_and_standard_headers_roundtrip() {
    let s = Server::start().await;
    let b = s.new_bucket("meta").await;
    let expires = DateTime::from_secs(1_900_000_000);
    s.client
        .put_object()
        .bucket(&b)
        .key("m.txt")
        .body(ByteStream::from_static(b"meta body"))
        .content_type("text/x-coffer; charset=utf-8")
        .content_encoding("gzip")
        .content_disposition("attachment; filename=\"report.txt\"")
        .content_language("de-DE")
        .cache_control("max-age=3600, must-revalidate")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("MixedCase", "Value With Spaces")
        .metadata("empty", "")
        .send()
        .await
        .expect("put with metadata");

    let head = s.client.head_object().bucket(&b).key("m.txt").send().await.unwrap();
    let get = s.client.get_object().bucket(&b).key("m.txt").send().await.unwrap();
    for (what, ct, ce, cd, cl, cc, ex, md) in [
        (
            "head",
            head.content_type(),
            head.content_encoding(),
            head.content_disposition(),
            head.content_language(),
            head.cache_control(),
            head.expires_string(),
            head.metadata(),
        ),
        (
            "get",
            get.content_type(),
            get.content_encoding(),
            get.content_disposition(),
            get.content_language(),
            get.cache_control(),
            get.expires_string(),
            get.metadata(),
        ),
    ] {
        assert_eq!(ct, Some("text/x-coffer; charset=utf-8"), "{what} content-type");
        assert_eq!(ce, Some("gzip"), "{what} content-encoding");
        assert_eq!(
            cd,
            Some("attachment; filename=\"report.txt\""),
            "{what} content-disposition"
        );
        assert_eq!(cl, Some("de-DE"), "{what} content-language");
        assert_eq!(cc, Some("max-age=3600, must-revalidate"), "{what} cache-control");
        let ex = ex.unwrap_or_else(|| panic!("{what}: Expires missing"));
        let parsed = DateTime::from_str(ex, DateTimeFormat::HttpDate)
            .unwrap_or_else(|e| panic!("{what}: bad Expires {ex:?}: {e}"));
        assert_eq!(parsed.secs(), expires.secs(), "{what} expires");
        let md = md.unwrap_or_else(|| panic!("{what}: no metadata"));
        assert_eq!(md.get("color").map(String::as_str), Some("blue"), "{what} {md:?}");
        // User metadata names are returned lower-case.
        assert_eq!(
            md.get("mixedcase").map(String::as_str),
            Some("Value With Spaces"),
            "{what} {md:?}"
        );
    }
    let body = get.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), b"meta body");
}

#[tokio::test]
async fn default_content_type_is_binary_octet_stream() {
    let s = Server::start().await;
    let b = s.new_bucket("ct").await;
    let r = s.signed("PUT", &format!("/{b}/noct"), &[], &[], b"abc");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("etag"), Some(quoted_md5(b"abc").as_str()));
    let head = s.client.head_object().bucket(&b).key("noct").send().await.unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
}

fn range_get(s: &Server, b: &str, key: &str, range: &str) -> RawResponse {
    s.signed("GET", &format!("/{b}/{key}"), &[], &[("Range", range)], b"")
}

#[tokio::test]
async fn range_requests() {
    let s = Server::start().await;
    let b = s.new_bucket("range").await;
    let body = pseudo_random_bytes(11, 100);
    s.put(&b, "r", body.clone()).await;

    let cases: [(&str, usize, usize); 7] = [
        ("bytes=0-9", 0, 9),
        ("bytes=10-19", 10, 19),
        ("bytes=99-99", 99, 99),
        ("bytes=-10", 90, 99),    // suffix
        ("bytes=90-", 90, 99),    // open-ended
        ("bytes=95-200", 95, 99), // end clipped to size
        ("bytes=-200", 0, 99),    // suffix longer than object
    ];
    for (range, start, end) in cases {
        let r = range_get(&s, &b, "r", range);
        assert_eq!(r.status, 206, "{range}: {r}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {start}-{end}/100").as_str()),
            "{range}: {r}"
        );
        assert_eq!(
            r.header("content-length"),
            Some((end - start + 1).to_string().as_str()),
            "{range}"
        );
        assert!(r.body == body[start..=end], "{range}: body mismatch");
        assert_eq!(
            r.header("etag"),
            Some(quoted_md5(&body).as_str()),
            "{range}: ETag is the whole object's"
        );
    }

    for range in ["bytes=100-", "bytes=150-160", "bytes=100-200"] {
        let r = range_get(&s, &b, "r", range);
        r.assert_s3_error(416, "InvalidRange");
    }

    // Through the SDK as well.
    let out = s
        .client
        .get_object()
        .bucket(&b)
        .key("r")
        .range("bytes=-5")
        .send()
        .await
        .expect("sdk ranged get");
    assert_eq!(out.content_range(), Some("bytes 95-99/100"));
    assert_eq!(out.content_length(), Some(5));
    let data = out.body.collect().await.unwrap().into_bytes();
    assert_eq!(data.as_ref(), &body[95..]);
    expect_err(
        s.client
            .get_object()
            .bucket(&b)
            .key("r")
            .range("bytes=500-")
            .send()
            .await,
        416,
        "InvalidRange",
    );
}

#[tokio::test]
async fn malformed_range_is_ignored() {
    // RFC 9110 / S3: a syntactically invalid Range header is ignored -> full 200 response.
    let s = Server::start().await;
    let b = s.new_bucket("badrange").await;
    s.put(&b, "r", "0123456789").await;
    let mut wrong = Vec::new();
    // Invalid syntax, first > last, and multiple ranges (unsupported by S3) all
    // yield the whole object with 200.
    for range in ["bytes=abc", "bytes=5-2", "bytes=0-1,3-4", "items=0-3"] {
        let r = range_get(&s, &b, "r", range);
        if r.status != 200 || r.body != b"0123456789" {
            wrong.push(format!("{range:?}: {} {:?}", r.status, r.xml("Code")));
        }
    }
    assert!(wrong.is_empty(), "expected 200 with the full object for: {wrong:#?}");
}

#[tokio::test]
async fn response_header_overrides() {
    let s = Server::start().await;
    let b = s.new_bucket("override").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("o")
        .content_type("text/plain")
        .body(ByteStream::from_static(b"override me"))
        .send()
        .await
        .unwrap();
    let exp = DateTime::from_secs(2_000_000_000);
    let out = s
        .client
        .get_object()
        .bucket(&b)
        .key("o")
        .response_content_type("application/x-overridden")
        .response_content_language("fr")
        .response_content_disposition("inline; filename=\"x.bin\"")
        .response_content_encoding("identity")
        .response_cache_control("no-cache")
        .response_expires(exp)
        .send()
        .await
        .expect("get with overrides");
    assert_eq!(out.content_type(), Some("application/x-overridden"));
    assert_eq!(out.content_language(), Some("fr"));
    assert_eq!(out.content_disposition(), Some("inline; filename=\"x.bin\""));
    assert_eq!(out.content_encoding(), Some("identity"));
    assert_eq!(out.cache_control(), Some("no-cache"));
    let ex = out.expires_string().expect("Expires override");
    assert_eq!(
        DateTime::from_str(ex, DateTimeFormat::HttpDate).unwrap().secs(),
        exp.secs()
    );
    assert_eq!(out.body.collect().await.unwrap().into_bytes().as_ref(), b"override me");

    // Overrides do not change the stored object.
    let head = s.client.head_object().bucket(&b).key("o").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert!(head.content_language().is_none());
}

#[tokio::test]
async fn key_length_limits() {
    let s = Server::start().await;
    let b = s.new_bucket("keylen").await;
    let k1024 = "k".repeat(1024);
    s.put(&b, &k1024, "max").await;
    assert_eq!(s.get(&b, &k1024).await, b"max");
    // 512 two-byte characters = 1024 bytes.
    let k_utf8 = "é".repeat(512);
    s.put(&b, &k_utf8, "utf8").await;
    assert_eq!(s.get(&b, &k_utf8).await, b"utf8");
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec![k1024.as_str(), k_utf8.as_str()]);

    let k1025 = "k".repeat(1025);
    let r = s
        .client
        .put_object()
        .bucket(&b)
        .key(&k1025)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(r, 400, "KeyTooLongError");
    let k_utf8_long = format!("{}a", "é".repeat(512));
    let r = s
        .client
        .put_object()
        .bucket(&b)
        .key(&k_utf8_long)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(r, 400, "KeyTooLongError");
    let r = s.signed("PUT", &format!("/{b}/{k1025}"), &[], &[], b"x");
    r.assert_s3_error(400, "KeyTooLongError");
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(out.key_count(), Some(2));
}

#[tokio::test]
async fn special_character_keys() {
    let s = Server::start().await;
    let b = s.new_bucket("special").await;
    let keys = [
        "with space.txt",
        "plus+sign",
        "percent%20literal",
        "question?mark",
        "hash#tag",
        "amp&eq=semi;colon",
        "unicode/ünïcödé/日本語/😀",
        "dir//double-slash",
        "trailing/",
        "quote\"and'apos",
        "tilde~star*paren()",
        "brackets[]{}<>",
    ];
    for (i, k) in keys.iter().enumerate() {
        let body = format!("body-{i}");
        let etag = s.put(&b, k, body.clone()).await;
        assert_eq!(etag, quoted_md5(body.as_bytes()), "{k}");
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.get(&b, k).await, format!("body-{i}").as_bytes(), "{k}");
        s.client
            .head_object()
            .bucket(&b)
            .key(*k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {k}: {e:?}"));
    }
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let mut listed: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .map(String::from)
        .collect();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "listing must contain exact keys in byte order");
    listed.clear();
    for k in keys {
        s.client.delete_object().bucket(&b).key(k).send().await.unwrap();
    }
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(out.contents().is_empty(), "{:?}", out.contents());
}

#[tokio::test]
async fn missing_objects() {
    let s = Server::start().await;
    let b = s.new_bucket("missing").await;
    let e = expect_err(
        s.client.get_object().bucket(&b).key("nope").send().await,
        404,
        "NoSuchKey",
    );
    assert!(e.into_service_error().is_no_such_key());
    let e = expect_err(s.client.head_object().bucket(&b).key("nope").send().await, 404, "");
    assert!(e.into_service_error().is_not_found());
    let r = s.signed("GET", &format!("/{b}/nope"), &[], &[], b"");
    r.assert_s3_error(404, "NoSuchKey");
    let r = s.signed("HEAD", &format!("/{b}/nope"), &[], &[], b"");
    assert_eq!(r.status, 404);
    assert!(r.header("x-amz-request-id").is_some(), "{r}");
}

#[tokio::test]
async fn version_id_null_accepted() {
    let s = Server::start().await;
    let b = s.new_bucket("vnull").await;
    s.put(&b, "k", "versioned?").await;
    let out = s
        .client
        .get_object()
        .bucket(&b)
        .key("k")
        .version_id("null")
        .send()
        .await
        .expect("get versionId=null");
    assert_eq!(out.body.collect().await.unwrap().into_bytes().as_ref(), b"versioned?");
    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("k")
        .version_id("null")
        .send()
        .await
        .expect("head versionId=null");
    assert_eq!(head.content_length(), Some(10));
    s.client
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id("null")
        .send()
        .await
        .expect("delete versionId=null");
    expect_err(s.client.get_object().bucket(&b).key("k").send().await, 404, "NoSuchKey");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_to_same_key() {
    let s = Server::start().await;
    let b = s.new_bucket("race").await;
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| pseudo_random_bytes(1000 + i, 512 * 1024 + i as usize * 4097))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for body in bodies.clone() {
        let c = s.client.clone();
        let b = b.clone();
        set.spawn(async move {
            c.put_object()
                .bucket(&b)
                .key("contended")
                .body(ByteStream::from(body))
                .send()
                .await
                .map(|o| o.e_tag().map(String::from))
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().expect("concurrent put");
    }
    let out = s.client.get_object().bucket(&b).key("contended").send().await.unwrap();
    let etag = out.e_tag().unwrap().to_string();
    let data = out.body.collect().await.unwrap().into_bytes().to_vec();
    let idx = bodies
        .iter()
        .position(|x| *x == data)
        .expect("GET must return exactly one of the uploaded bodies intact");
    assert_eq!(etag, quoted_md5(&bodies[idx]));
    let head = s.client.head_object().bucket(&b).key("contended").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_length(), Some(bodies[idx].len() as i64));

    // Only one blob should remain for the single live object.
    let blobs = s.blobs_dir();
    let ok = eventually(Duration::from_secs(10), || count_files(&blobs) == 1).await;
    assert!(
        ok,
        "expected exactly 1 blob file after concurrent overwrites, found {:?}",
        list_files(&blobs)
    );
    let listed: HashSet<String> = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect();
    assert_eq!(listed.len(), 1);
}

/// Large bodies uploaded together have their MD5s computed side by side
/// (`crates/coffer-s3/src/hashing/shared.rs`); each must still get the ETag
/// of its own bytes. The sizes are not multiples of MD5's 64-byte block.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_large_puts_each_get_the_md5_of_their_own_body() {
    let s = Server::start().await;
    let b = s.new_bucket("lanes").await;
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| pseudo_random_bytes(2000 + i, (3 << 20) + i as usize * 77_777))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (i, body) in bodies.iter().cloned().enumerate() {
        let c = s.client.clone();
        let b = b.clone();
        set.spawn(async move {
            let out = c
                .put_object()
                .bucket(&b)
                .key(format!("large-{i}"))
                .body(ByteStream::from(body))
                .send()
                .await
                .expect("concurrent large put");
            (i, out.e_tag().map(String::from))
        });
    }
    while let Some(joined) = set.join_next().await {
        let (i, etag) = joined.unwrap();
        assert_eq!(etag, Some(quoted_md5(&bodies[i])), "the ETag of body {i}");
    }
    for (i, body) in bodies.iter().enumerate() {
        let head = s
            .client
            .head_object()
            .bucket(&b)
            .key(format!("large-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.e_tag(),
            Some(quoted_md5(body).as_str()),
            "the stored ETag of body {i}"
        );
    }
}

/// Readers racing with overwrites must always see one complete version whose
/// ETag matches its body.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_during_overwrites_are_consistent() {
    let s = Server::start().await;
    let b = s.new_bucket("rw").await;
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|i| pseudo_random_bytes(500 + i, 256 * 1024 + i as usize))
        .collect();
    s.put(&b, "hot", bodies[0].clone()).await;
    let writer = {
        let c = s.client.clone();
        let b = b.clone();
        let bodies = bodies.clone();
        tokio::spawn(async move {
            for i in 0..24 {
                c.put_object()
                    .bucket(&b)
                    .key("hot")
                    .body(ByteStream::from(bodies[i % 4].clone()))
                    .send()
                    .await
                    .expect("overwrite");
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..3 {
        let c = s.client.clone();
        let b = b.clone();
        let bodies = bodies.clone();
        readers.push(tokio::spawn(async move {
            for _ in 0..15 {
                let out = c
                    .get_object()
                    .bucket(&b)
                    .key("hot")
                    .send()
                    .await
                    .expect("get during overwrite");
                let etag = out.e_tag().unwrap().to_string();
                let data = out
                    .body
                    .collect()
                    .await
                    .expect("read body during overwrite")
                    .into_bytes()
                    .to_vec();
                assert!(
                    bodies.contains(&data),
                    "GET returned a torn/unknown body ({} bytes)",
                    data.len()
                );
                assert_eq!(etag, quoted_md5(&data), "ETag does not match the body returned");
            }
        }));
    }
    writer.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    let blobs = s.blobs_dir();
    assert!(
        eventually(Duration::from_secs(10), || count_files(&blobs) == 1).await,
        "old blobs not reclaimed: {:?}",
        list_files(&blobs)
    );
}

#[tokio::test]
async fn unicode_keys_are_not_normalized() {
    // NFC "é" and NFD "e\u{301}" are different byte sequences and thus different keys.
    let s = Server::start().await;
    let b = s.new_bucket("nfc").await;
    s.put(&b, "caf\u{e9}", "nfc").await;
    s.put(&b, "cafe\u{301}", "nfd").await;
    assert_eq!(s.get(&b, "caf\u{e9}").await, b"nfc");
    assert_eq!(s.get(&b, "cafe\u{301}").await, b"nfd");
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(out.key_count(), Some(2));
    // Case matters too.
    s.put(&b, "Key", "upper").await;
    s.put(&b, "key", "lower").await;
    assert_eq!(s.get(&b, "Key").await, b"upper");
    assert_eq!(s.get(&b, "key").await, b"lower");
}

/// A PUT whose connection dies before Content-Length bytes arrive must not
/// create (or replace) the object.
#[tokio::test]
async fn truncated_upload_is_not_stored() {
    use std::io::Write;
    let s = Server::start().await;
    let b = s.new_bucket("trunc").await;
    s.put(&b, "existing", "old").await;
    for key in ["existing", "fresh"] {
        let mut h = vec![
            ("x-amz-content-sha256".to_string(), "UNSIGNED-PAYLOAD".to_string()),
            ("Content-Length".to_string(), "100000".to_string()),
        ];
        let target = s.signer().sign(
            "PUT",
            &format!("/{b}/{key}"),
            &[],
            &mut h,
            &s.host(),
            "UNSIGNED-PAYLOAD",
            std::time::SystemTime::now(),
        );
        let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
        let mut head = format!("PUT {target} HTTP/1.1\r\n");
        for (k, v) in &h {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&pseudo_random_bytes(3, 50_000)).unwrap();
        conn.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(conn);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.get(&b, "existing").await, b"old");
    expect_err(s.client.head_object().bucket(&b).key("fresh").send().await, 404, "");
    let tmp = s.tmp_dir();
    assert!(
        eventually(Duration::from_secs(5), || count_files(&tmp) == 0).await,
        "staging file leaked: {:?}",
        list_files(&tmp)
    );
    assert_eq!(count_files(&s.blobs_dir()), 1, "{:?}", list_files(&s.blobs_dir()));
}

/// Dot segments and leading slashes are part of the key: no path normalization.
#[tokio::test]
async fn path_like_keys_are_literal() {
    let s = Server::start().await;
    let b = s.new_bucket("dots").await;
    let keys = ["a/./b", "a/../b", "./x", "../y", "/leading", "a/b/..", "..."];
    let mut wrong = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let body = format!("dot-{i}");
        let r = s
            .client
            .put_object()
            .bucket(&b)
            .key(*k)
            .body(ByteStream::from(body.clone().into_bytes()))
            .send()
            .await;
        if let Err(e) = r {
            wrong.push(format!("PUT {k:?}: {} {}", err_status(&e), err_code(&e)));
        }
    }
    for (i, k) in keys.iter().enumerate() {
        match s.client.get_object().bucket(&b).key(*k).send().await {
            Ok(out) => {
                let data = out.body.collect().await.unwrap().into_bytes();
                if data.as_ref() != format!("dot-{i}").as_bytes() {
                    wrong.push(format!("GET {k:?}: got {:?}", String::from_utf8_lossy(&data)));
                }
            }
            Err(e) => wrong.push(format!("GET {k:?}: {} {}", err_status(&e), err_code(&e))),
        }
    }
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let mut listed: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    listed.sort();
    let mut expected = keys.to_vec();
    expected.sort();
    if listed != expected {
        wrong.push(format!("listing: {listed:?} != {expected:?}"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
