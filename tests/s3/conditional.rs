//! Conditional GET/HEAD: If-Match, If-None-Match, If-Modified-Since,
//! If-Unmodified-Since, and S3's precedence rules.

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use crate::common::*;

struct Fixture {
    s: Server,
    b: String,
    etag: String,
    lm: DateTime,
}

async fn fixture() -> Fixture {
    let s = Server::start().await;
    let b = s.new_bucket("cond").await;
    let etag = s.put(&b, "k", "conditional body").await;
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    let lm = *head.last_modified().expect("Last-Modified");
    Fixture { s, b, etag, lm }
}

fn secs(d: &DateTime, delta: i64) -> DateTime {
    DateTime::from_secs(d.secs() + delta)
}

#[tokio::test]
async fn get_if_match() {
    let f = fixture().await;
    let c = &f.s.client;
    let out = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_match(&f.etag)
        .send()
        .await
        .expect("If-Match hit -> 200");
    assert_eq!(
        out.body.collect().await.unwrap().into_bytes().as_ref(),
        b"conditional body"
    );
    let r = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
    // "*" matches any existing object.
    c.get_object()
        .bucket(&f.b)
        .key("k")
        .if_match("*")
        .send()
        .await
        .expect("If-Match * -> 200");
}

#[tokio::test]
async fn get_if_none_match() {
    let f = fixture().await;
    let c = &f.s.client;
    let r = c.get_object().bucket(&f.b).key("k").if_none_match(&f.etag).send().await;
    expect_err(r, 304, "");
    c.get_object()
        .bucket(&f.b)
        .key("k")
        .if_none_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .expect("If-None-Match miss -> 200");

    // Raw: 304 without body, but with ETag and request id.
    let r =
        f.s.signed("GET", &format!("/{}/k", f.b), &[], &[("If-None-Match", &f.etag)], b"");
    assert_eq!(r.status, 304, "{r}");
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(f.etag.as_str()), "304 must carry the ETag: {r}");
    assert!(r.header("x-amz-request-id").is_some(), "{r}");
}

#[tokio::test]
async fn get_if_modified_since() {
    let f = fixture().await;
    let c = &f.s.client;
    let r = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_modified_since(f.lm)
        .send()
        .await;
    expect_err(r, 304, "");
    c.get_object()
        .bucket(&f.b)
        .key("k")
        .if_modified_since(secs(&f.lm, -3600))
        .send()
        .await
        .expect("modified since an hour before -> 200");
}

#[tokio::test]
async fn get_if_unmodified_since() {
    let f = fixture().await;
    let c = &f.s.client;
    let r = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_unmodified_since(secs(&f.lm, -3600))
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
    c.get_object()
        .bucket(&f.b)
        .key("k")
        .if_unmodified_since(f.lm)
        .send()
        .await
        .expect("unmodified since LM -> 200");
    c.get_object()
        .bucket(&f.b)
        .key("k")
        .if_unmodified_since(secs(&f.lm, 3600))
        .send()
        .await
        .expect("unmodified since LM+1h -> 200");
}

#[tokio::test]
async fn get_precedence_rules() {
    let f = fixture().await;
    let c = &f.s.client;
    // If-Match true + If-Unmodified-Since false -> 200 (If-Match wins).
    c.get_object()
        .bucket(&f.b)
        .key("k")
        .if_match(&f.etag)
        .if_unmodified_since(secs(&f.lm, -3600))
        .send()
        .await
        .expect("If-Match true, If-Unmodified-Since false -> 200");
    // If-Match false + If-Unmodified-Since true -> 412.
    let r = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_match("\"ffffffffffffffffffffffffffffffff\"")
        .if_unmodified_since(secs(&f.lm, 3600))
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
    // If-None-Match false + If-Modified-Since true -> 304.
    let r = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_none_match(&f.etag)
        .if_modified_since(secs(&f.lm, -3600))
        .send()
        .await;
    expect_err(r, 304, "");
    // If-Match false + If-None-Match true -> 412 (If-Match is evaluated first).
    let r = c
        .get_object()
        .bucket(&f.b)
        .key("k")
        .if_match("\"ffffffffffffffffffffffffffffffff\"")
        .if_none_match("\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
}

#[tokio::test]
async fn head_conditionals() {
    let f = fixture().await;
    let c = &f.s.client;
    c.head_object()
        .bucket(&f.b)
        .key("k")
        .if_match(&f.etag)
        .send()
        .await
        .expect("head If-Match hit");
    expect_err(
        c.head_object()
            .bucket(&f.b)
            .key("k")
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await,
        412,
        "",
    );
    expect_err(
        c.head_object()
            .bucket(&f.b)
            .key("k")
            .if_none_match(&f.etag)
            .send()
            .await,
        304,
        "",
    );
    expect_err(
        c.head_object()
            .bucket(&f.b)
            .key("k")
            .if_modified_since(f.lm)
            .send()
            .await,
        304,
        "",
    );
    expect_err(
        c.head_object()
            .bucket(&f.b)
            .key("k")
            .if_unmodified_since(secs(&f.lm, -3600))
            .send()
            .await,
        412,
        "",
    );
    c.head_object()
        .bucket(&f.b)
        .key("k")
        .if_match(&f.etag)
        .if_unmodified_since(secs(&f.lm, -3600))
        .send()
        .await
        .expect("head: If-Match true wins over If-Unmodified-Since false");
    expect_err(
        c.head_object()
            .bucket(&f.b)
            .key("k")
            .if_none_match(&f.etag)
            .if_modified_since(secs(&f.lm, -3600))
            .send()
            .await,
        304,
        "",
    );
}

#[tokio::test]
async fn conditional_raw_http_dates() {
    // Conditional headers sent by hand in IMF-fixdate form.
    let f = fixture().await;
    let lm = f.lm.fmt(DateTimeFormat::HttpDate).unwrap();
    let before = secs(&f.lm, -86400).fmt(DateTimeFormat::HttpDate).unwrap();
    let path = format!("/{}/k", f.b);
    let r = f.s.signed("GET", &path, &[], &[("If-Modified-Since", &lm)], b"");
    assert_eq!(r.status, 304, "{r}");
    let r = f.s.signed("GET", &path, &[], &[("If-Modified-Since", &before)], b"");
    assert_eq!(r.status, 200, "{r}");
    let r = f.s.signed("GET", &path, &[], &[("If-Unmodified-Since", &before)], b"");
    r.assert_s3_error(412, "PreconditionFailed");
    let r = f.s.signed("GET", &path, &[], &[("If-Match", "\"nope\"")], b"");
    r.assert_s3_error(412, "PreconditionFailed");
}

#[tokio::test]
async fn range_with_conditions() {
    let f = fixture().await;
    let out =
        f.s.client
            .get_object()
            .bucket(&f.b)
            .key("k")
            .range("bytes=0-10")
            .if_match(&f.etag)
            .send()
            .await
            .expect("ranged GET with matching If-Match");
    assert_eq!(out.content_range(), Some("bytes 0-10/16"));
    assert_eq!(out.body.collect().await.unwrap().into_bytes().as_ref(), b"conditional");
    let r =
        f.s.client
            .get_object()
            .bucket(&f.b)
            .key("k")
            .range("bytes=0-10")
            .if_none_match(&f.etag)
            .send()
            .await;
    expect_err(r, 304, "");
    let r =
        f.s.client
            .get_object()
            .bucket(&f.b)
            .key("k")
            .range("bytes=0-10")
            .if_match("\"abc\"")
            .send()
            .await;
    expect_err(r, 412, "PreconditionFailed");
    // A failed precondition wins over an unsatisfiable range.
    let r =
        f.s.client
            .get_object()
            .bucket(&f.b)
            .key("k")
            .range("bytes=100-")
            .if_match("\"abc\"")
            .send()
            .await;
    expect_err(r, 412, "PreconditionFailed");
}
