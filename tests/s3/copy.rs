//! CopyObject: same/cross bucket, metadata directives, copy-source conditions,
//! copy onto itself.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::MetadataDirective;

use crate::common::*;

async fn put_with_meta(s: &Server, b: &str, k: &str, body: &'static [u8]) -> String {
    s.client
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(body))
        .content_type("text/x-source")
        .cache_control("max-age=60")
        .metadata("origin", "source")
        .send()
        .await
        .expect("put source")
        .e_tag()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn copy_same_bucket_copies_data_and_metadata() {
    let s = Server::start().await;
    let b = s.new_bucket("copy").await;
    let etag = put_with_meta(&s, &b, "src", b"copy me please").await;
    let out = s
        .client
        .copy_object()
        .bucket(&b)
        .key("dst")
        .copy_source(format!("{b}/src"))
        .send()
        .await
        .expect("copy");
    let res = out.copy_object_result().expect("CopyObjectResult");
    assert_eq!(
        res.e_tag(),
        Some(etag.as_str()),
        "copy of a single-part object keeps the MD5 ETag"
    );
    assert!(res.last_modified().is_some());

    let got = s.client.get_object().bucket(&b).key("dst").send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("text/x-source"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(
        got.metadata().and_then(|m| m.get("origin")).map(String::as_str),
        Some("source")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"copy me please"
    );
    // Source untouched.
    assert_eq!(s.get(&b, "src").await, b"copy me please");
}

#[tokio::test]
async fn copy_cross_bucket_and_special_keys() {
    let s = Server::start().await;
    let b1 = s.new_bucket("src").await;
    let b2 = s.new_bucket("dst").await;
    let key = "dir/a b+c é?&.txt";
    let body = pseudo_random_bytes(3, 300_000);
    let etag = s.put(&b1, key, body.clone()).await;
    let out = s
        .client
        .copy_object()
        .bucket(&b2)
        .key("copied/κλειδί")
        .copy_source(format!("{b1}/{}", uri_encode(key, true)))
        .send()
        .await
        .expect("cross-bucket copy");
    assert_eq!(out.copy_object_result().and_then(|r| r.e_tag()), Some(etag.as_str()));
    assert!(s.get(&b2, "copied/κλειδί").await == body);

    // A leading slash in x-amz-copy-source is accepted too.
    s.client
        .copy_object()
        .bucket(&b2)
        .key("second")
        .copy_source(format!("/{b1}/{}", uri_encode(key, true)))
        .send()
        .await
        .expect("copy with leading slash");
    assert!(s.get(&b2, "second").await == body);
}

#[tokio::test]
async fn copy_metadata_directive() {
    let s = Server::start().await;
    let b = s.new_bucket("directive").await;
    put_with_meta(&s, &b, "src", b"directive body").await;

    // COPY (explicit): metadata in the request is ignored.
    s.client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/src"))
        .metadata_directive(MetadataDirective::Copy)
        .metadata("ignored", "yes")
        .send()
        .await
        .expect("copy COPY");
    let h = s.client.head_object().bucket(&b).key("copy").send().await.unwrap();
    let md = h.metadata().cloned().unwrap_or_default();
    assert_eq!(md.get("origin").map(String::as_str), Some("source"), "{md:?}");
    assert!(
        !md.contains_key("ignored"),
        "COPY directive must ignore request metadata: {md:?}"
    );
    assert_eq!(h.content_type(), Some("text/x-source"));

    // REPLACE: metadata and content headers come from the request.
    s.client
        .copy_object()
        .bucket(&b)
        .key("replace")
        .copy_source(format!("{b}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("fresh", "value")
        .content_type("application/x-replaced")
        .send()
        .await
        .expect("copy REPLACE");
    let h = s.client.head_object().bucket(&b).key("replace").send().await.unwrap();
    let md = h.metadata().cloned().unwrap_or_default();
    assert_eq!(md.get("fresh").map(String::as_str), Some("value"), "{md:?}");
    assert!(!md.contains_key("origin"), "REPLACE must drop source metadata: {md:?}");
    assert_eq!(h.content_type(), Some("application/x-replaced"));
    assert!(h.cache_control().is_none(), "REPLACE must drop source Cache-Control");
    assert_eq!(s.get(&b, "replace").await, b"directive body");
}

#[tokio::test]
async fn copy_onto_itself() {
    let s = Server::start().await;
    let b = s.new_bucket("self").await;
    let etag = put_with_meta(&s, &b, "k", b"self copy").await;
    let r = s
        .client
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/k"))
        .send()
        .await;
    expect_err(r, 400, "InvalidRequest");
    let r = s
        .client
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/k"))
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await;
    expect_err(r, 400, "InvalidRequest");

    s.client
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/k"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("updated", "true")
        .content_type("text/x-updated")
        .send()
        .await
        .expect("copy onto itself with REPLACE");
    let h = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.e_tag(), Some(etag.as_str()));
    assert_eq!(h.content_type(), Some("text/x-updated"));
    assert_eq!(
        h.metadata().and_then(|m| m.get("updated")).map(String::as_str),
        Some("true")
    );
    assert_eq!(s.get(&b, "k").await, b"self copy");
}

#[tokio::test]
async fn copy_source_conditions() {
    let s = Server::start().await;
    let b = s.new_bucket("copycond").await;
    let etag = s.put(&b, "src", "conditional copy").await;
    let lm = *s
        .client
        .head_object()
        .bucket(&b)
        .key("src")
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap();
    let before = DateTime::from_secs(lm.secs() - 3600);
    let after = DateTime::from_secs(lm.secs() + 3600);
    let src = format!("{b}/src");
    let bad = "\"0123456789abcdef0123456789abcdef\"";
    let c = &s.client;

    // Failing conditions -> 412 PreconditionFailed, destination not created.
    expect_err(
        c.copy_object()
            .bucket(&b)
            .key("d1")
            .copy_source(&src)
            .copy_source_if_match(bad)
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    expect_err(
        c.copy_object()
            .bucket(&b)
            .key("d1")
            .copy_source(&src)
            .copy_source_if_none_match(&etag)
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    expect_err(
        c.copy_object()
            .bucket(&b)
            .key("d1")
            .copy_source(&src)
            .copy_source_if_unmodified_since(before)
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    expect_err(
        c.copy_object()
            .bucket(&b)
            .key("d1")
            .copy_source(&src)
            .copy_source_if_modified_since(lm)
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    // if-none-match false + if-modified-since true -> 412.
    expect_err(
        c.copy_object()
            .bucket(&b)
            .key("d1")
            .copy_source(&src)
            .copy_source_if_none_match(&etag)
            .copy_source_if_modified_since(before)
            .send()
            .await,
        412,
        "PreconditionFailed",
    );
    expect_err(c.head_object().bucket(&b).key("d1").send().await, 404, "");

    // Passing conditions.
    c.copy_object()
        .bucket(&b)
        .key("ok1")
        .copy_source(&src)
        .copy_source_if_match(&etag)
        .send()
        .await
        .expect("if-match");
    c.copy_object()
        .bucket(&b)
        .key("ok2")
        .copy_source(&src)
        .copy_source_if_none_match(bad)
        .send()
        .await
        .expect("if-none-match");
    c.copy_object()
        .bucket(&b)
        .key("ok3")
        .copy_source(&src)
        .copy_source_if_modified_since(before)
        .send()
        .await
        .expect("if-modified-since");
    c.copy_object()
        .bucket(&b)
        .key("ok4")
        .copy_source(&src)
        .copy_source_if_unmodified_since(after)
        .send()
        .await
        .expect("if-unmodified-since");
    // if-match true + if-unmodified-since false -> copy proceeds (200).
    c.copy_object()
        .bucket(&b)
        .key("ok5")
        .copy_source(&src)
        .copy_source_if_match(&etag)
        .copy_source_if_unmodified_since(before)
        .send()
        .await
        .expect("if-match true wins over if-unmodified-since false");
    for k in ["ok1", "ok2", "ok3", "ok4", "ok5"] {
        assert_eq!(s.get(&b, k).await, b"conditional copy", "{k}");
    }
}

#[tokio::test]
async fn copy_missing_source_or_destination() {
    let s = Server::start().await;
    let b = s.new_bucket("copymiss").await;
    s.put(&b, "src", "x").await;
    let r = s
        .client
        .copy_object()
        .bucket(&b)
        .key("d")
        .copy_source(format!("{b}/nope"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchKey");
    let missing = bucket_name("nosuch");
    let r = s
        .client
        .copy_object()
        .bucket(&b)
        .key("d")
        .copy_source(format!("{missing}/src"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchBucket");
    let r = s
        .client
        .copy_object()
        .bucket(&missing)
        .key("d")
        .copy_source(format!("{b}/src"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchBucket");
}

#[tokio::test]
async fn copy_overwrites_existing_destination() {
    let s = Server::start().await;
    let b = s.new_bucket("copyow").await;
    s.put(&b, "src", "new content").await;
    s.put(&b, "dst", "old content that is longer").await;
    s.client
        .copy_object()
        .bucket(&b)
        .key("dst")
        .copy_source(format!("{b}/src"))
        .send()
        .await
        .unwrap();
    assert_eq!(s.get(&b, "dst").await, b"new content");
    let blobs = s.blobs_dir();
    let ok = eventually(std::time::Duration::from_secs(10), || count_files(&blobs) <= 2).await;
    assert!(
        ok,
        "overwritten copy destination must free its old blob: {:?}",
        list_files(&blobs)
    );
}
