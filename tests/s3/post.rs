//! Browser form uploads (POST Object): real multipart/form-data requests with
//! a SigV4-signed POST policy, sent over a raw socket as a browser would.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::*;

const BOUNDARY: &str = "----CofferFormBoundary7MA4YWxkTrZu0gW";

/// An ISO 8601 timestamp, as POST policies give their expiration.
fn iso8601(t: SystemTime) -> String {
    let (full, _) = amz_date(t);
    format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &full[0..4],
        &full[4..6],
        &full[6..8],
        &full[9..11],
        &full[11..13],
        &full[13..15]
    )
}

/// A browser form: its fields, in order, and the file that ends it.
struct Form {
    fields: Vec<(String, String)>,
    file: Option<(String, Vec<u8>)>,
}

impl Form {
    /// A form whose policy expires at `expiration` and holds `conditions`
    /// plus the SigV4 ones, with `fields` and the SigV4 fields, signed with
    /// `secret`.
    fn signed(s: &Server, expiration: SystemTime, conditions: &[Value], fields: &[(&str, &str)], secret: &str) -> Form {
        let (amz, date) = amz_date(SystemTime::now());
        let credential = format!("{ACCESS_KEY}/{date}/{}/s3/aws4_request", s.region);
        let mut all_conditions = conditions.to_vec();
        all_conditions.extend([
            json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
            json!({ "x-amz-credential": credential }),
            json!({ "x-amz-date": amz }),
        ]);
        let policy = json!({ "expiration": iso8601(expiration), "conditions": all_conditions });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signer = Signer::new(ACCESS_KEY, secret, &s.region);
        let signature = hex::encode(hmac_sha256(&signer.signing_key(&date), policy.as_bytes()));
        let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        form.extend([
            ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
            ("x-amz-credential".to_owned(), credential),
            ("x-amz-date".to_owned(), amz),
            ("policy".to_owned(), policy),
            ("x-amz-signature".to_owned(), signature),
        ]);
        Form {
            fields: form,
            file: None,
        }
    }

    fn file(mut self, name: &str, data: &[u8]) -> Form {
        self.file = Some((name.to_owned(), data.to_vec()));
        self
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, value) in &self.fields {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((name, data)) = &self.file {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    }

    /// Posts the form to `target` on the server, with `host` as the Host.
    fn post_to(&self, s: &Server, host: &str, target: &str) -> RawResponse {
        let headers = [
            ("Host".to_owned(), host.to_owned()),
            (
                "Content-Type".to_owned(),
                format!("multipart/form-data; boundary={BOUNDARY}"),
            ),
        ];
        raw_request(s.addr, "POST", target, &headers, &self.body())
    }

    fn post(&self, s: &Server, bucket: &str) -> RawResponse {
        self.post_to(s, &s.host(), &format!("/{bucket}"))
    }
}

fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

/// A form for `bucket` whose policy allows keys under `uploads/` and the
/// given other fields verbatim.
fn upload_form(s: &Server, bucket: &str, key: &str, fields: &[(&str, &str)]) -> Form {
    let mut conditions = vec![json!({ "bucket": bucket }), json!(["starts-with", "$key", "uploads/"])];
    conditions.extend(
        fields
            .iter()
            .map(|(name, value)| json!(["eq", format!("${name}"), value])),
    );
    let mut all_fields = vec![("key", key)];
    all_fields.extend_from_slice(fields);
    Form::signed(s, in_an_hour(), &conditions, &all_fields, SECRET_KEY)
}

async fn assert_absent(s: &Server, bucket: &str, key: &str) {
    let err = s.client.head_object().bucket(bucket).key(key).send().await.unwrap_err();
    assert_eq!(err_status(&err), 404, "{bucket}/{key} exists");
}

#[tokio::test]
async fn post_stores_the_file_with_its_fields_and_answers_201() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let data = pseudo_random_bytes(7, 3000);
    let conditions = [
        json!({ "bucket": bucket }),
        json!(["starts-with", "$key", "uploads/"]),
        json!(["starts-with", "$Content-Type", "image/"]),
        json!({ "x-amz-meta-uuid": "14365123651274" }),
        json!(["starts-with", "$x-amz-meta-tag", ""]),
        json!({ "success_action_status": "201" }),
        json!(["content-length-range", 1, 10000]),
    ];
    let fields = [
        ("key", "uploads/${filename}"),
        ("Content-Type", "image/png"),
        ("x-amz-meta-uuid", "14365123651274"),
        ("x-amz-meta-tag", "holiday"),
        ("success_action_status", "201"),
    ];
    let form = Form::signed(&s, in_an_hour(), &conditions, &fields, SECRET_KEY).file("beach photo.png", &data);
    let resp = form.post(&s, &bucket);
    assert_eq!(resp.status, 201, "{resp}");
    let etag = quoted_md5(&data);
    assert_eq!(resp.header("etag"), Some(etag.as_str()), "{resp}");
    assert_eq!(resp.xml("Bucket").as_deref(), Some(bucket.as_str()), "{resp}");
    assert_eq!(resp.xml("Key").as_deref(), Some("uploads/beach photo.png"), "{resp}");
    assert_eq!(
        resp.xml("ETag").as_deref(),
        Some(etag.replace('"', "&quot;").as_str()),
        "{resp}"
    );
    assert!(resp.xml("Location").is_some(), "{resp}");

    let head = s
        .client
        .head_object()
        .bucket(&bucket)
        .key("uploads/beach photo.png")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("image/png"));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    let metadata = head.metadata().unwrap();
    assert_eq!(metadata.get("uuid").map(String::as_str), Some("14365123651274"));
    assert_eq!(metadata.get("tag").map(String::as_str), Some("holiday"));
    assert_eq!(s.get(&bucket, "uploads/beach photo.png").await, data);
}

#[tokio::test]
async fn post_answers_204_by_default_and_200_when_asked() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;

    let resp = upload_form(&s, &bucket, "uploads/a", &[])
        .file("a.txt", b"first")
        .post(&s, &bucket);
    assert_eq!(resp.status, 204, "{resp}");
    assert_eq!(resp.header("etag"), Some(quoted_md5(b"first").as_str()));
    assert!(resp.body.is_empty(), "{resp}");
    let head = s
        .client
        .head_object()
        .bucket(&bucket)
        .key("uploads/a")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("binary/octet-stream"));

    let resp = upload_form(&s, &bucket, "uploads/b", &[("success_action_status", "200")])
        .file("b.txt", b"second")
        .post(&s, &bucket);
    assert_eq!(resp.status, 200, "{resp}");
    assert!(resp.body.is_empty(), "{resp}");
    assert_eq!(s.get(&bucket, "uploads/b").await, b"second");
}

#[tokio::test]
async fn post_redirects_303_with_bucket_key_and_etag() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let redirect = "http://app.example.com/done?from=form";
    let resp = upload_form(&s, &bucket, "uploads/r.txt", &[("success_action_redirect", redirect)])
        .file("r.txt", b"redirected")
        .post(&s, &bucket);
    assert_eq!(resp.status, 303, "{resp}");
    let location = resp.header("location").expect("a Location");
    let etag = md5_hex(b"redirected");
    assert_eq!(
        location,
        format!("{redirect}&bucket={bucket}&key=uploads%2Fr.txt&etag=%22{etag}%22"),
        "{resp}"
    );
    assert_eq!(s.get(&bucket, "uploads/r.txt").await, b"redirected");
}

#[tokio::test]
async fn post_verifies_content_md5_from_its_field() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let wrong = md5_b64(b"something else");
    let resp = upload_form(&s, &bucket, "uploads/m", &[("Content-MD5", wrong.as_str())])
        .file("m", b"payload")
        .post(&s, &bucket);
    resp.assert_s3_error(400, "BadDigest");
    assert_absent(&s, &bucket, "uploads/m").await;

    let right = md5_b64(b"payload");
    let resp = upload_form(&s, &bucket, "uploads/m", &[("Content-MD5", right.as_str())])
        .file("m", b"payload")
        .post(&s, &bucket);
    assert_eq!(resp.status, 204, "{resp}");
}

#[tokio::test]
async fn post_with_an_expired_policy_is_denied() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let conditions = [json!({ "bucket": bucket }), json!(["starts-with", "$key", ""])];
    let expired = SystemTime::now() - Duration::from_secs(60);
    let resp = Form::signed(&s, expired, &conditions, &[("key", "late")], SECRET_KEY)
        .file("late", b"too late")
        .post(&s, &bucket);
    resp.assert_s3_error(403, "AccessDenied");
    assert_eq!(
        resp.xml("Message").as_deref(),
        Some("Invalid according to Policy: Policy expired.")
    );
    assert_absent(&s, &bucket, "late").await;
}

#[tokio::test]
async fn post_with_a_bad_signature_is_refused() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let conditions = [json!({ "bucket": bucket }), json!(["starts-with", "$key", ""])];
    let resp = Form::signed(&s, in_an_hour(), &conditions, &[("key", "forged")], "not-the-secret")
        .file("forged", b"forged")
        .post(&s, &bucket);
    resp.assert_s3_error(403, "SignatureDoesNotMatch");
    assert_absent(&s, &bucket, "forged").await;
}

#[tokio::test]
async fn post_outside_the_content_length_range_is_refused() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let conditions = [
        json!({ "bucket": bucket }),
        json!(["starts-with", "$key", ""]),
        json!(["content-length-range", 10, 100]),
    ];
    let form =
        |data: &[u8]| Form::signed(&s, in_an_hour(), &conditions, &[("key", "sized")], SECRET_KEY).file("f", data);

    form(&[b'x'; 101])
        .post(&s, &bucket)
        .assert_s3_error(400, "EntityTooLarge");
    form(&[b'x'; 9])
        .post(&s, &bucket)
        .assert_s3_error(400, "EntityTooSmall");
    assert_absent(&s, &bucket, "sized").await;
    let resp = form(&[b'x'; 100]).post(&s, &bucket);
    assert_eq!(resp.status, 204, "{resp}");
}

#[tokio::test]
async fn post_violating_a_condition_is_denied_naming_it() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;

    let resp = upload_form(&s, &bucket, "elsewhere/x", &[])
        .file("x", b"x")
        .post(&s, &bucket);
    resp.assert_s3_error(403, "AccessDenied");
    assert_eq!(
        resp.xml("Message").as_deref(),
        Some(
            r#"Invalid according to Policy: Policy Condition failed: [&quot;starts-with&quot;, &quot;$key&quot;, &quot;uploads/&quot;]"#
        )
    );
    assert_absent(&s, &bucket, "elsewhere/x").await;

    let conditions = [
        json!({ "bucket": bucket }),
        json!(["starts-with", "$key", "uploads/"]),
        json!({ "Content-Type": "text/plain" }),
    ];
    let fields = [("key", "uploads/typed"), ("Content-Type", "text/html")];
    let resp = Form::signed(&s, in_an_hour(), &conditions, &fields, SECRET_KEY)
        .file("typed", b"<p>")
        .post(&s, &bucket);
    resp.assert_s3_error(403, "AccessDenied");
    let message = resp.xml("Message").unwrap();
    assert!(
        message.contains("Policy Condition failed: [&quot;eq&quot;, &quot;$content-type&quot;"),
        "{resp}"
    );
    assert_absent(&s, &bucket, "uploads/typed").await;

    // Every field must be named by a condition.
    let conditions = [json!({ "bucket": bucket }), json!(["starts-with", "$key", "uploads/"])];
    let fields = [("key", "uploads/extra"), ("x-amz-meta-extra", "1")];
    let resp = Form::signed(&s, in_an_hour(), &conditions, &fields, SECRET_KEY)
        .file("extra", b"extra")
        .post(&s, &bucket);
    resp.assert_s3_error(403, "AccessDenied");
    assert_eq!(
        resp.xml("Message").as_deref(),
        Some("Invalid according to Policy: Extra input fields: x-amz-meta-extra")
    );
    assert_absent(&s, &bucket, "uploads/extra").await;
}

#[tokio::test]
async fn post_without_a_file_or_with_oversized_fields_is_refused() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post").await;
    let resp = upload_form(&s, &bucket, "uploads/none", &[]).post(&s, &bucket);
    resp.assert_s3_error(400, "InvalidArgument");
    assert_absent(&s, &bucket, "uploads/none").await;

    let large = "v".repeat(21 * 1024);
    let resp = upload_form(&s, &bucket, "uploads/large", &[("x-amz-meta-large", large.as_str())])
        .file("large", b"x")
        .post(&s, &bucket);
    resp.assert_s3_error(400, "MaxPostPreDataLengthExceededError");
    assert_absent(&s, &bucket, "uploads/large").await;
}

#[tokio::test]
async fn post_to_a_virtual_hosted_bucket() {
    let s = Server::start_with_args(&["--domain", "localhost.test"]);
    let bucket = s.new_bucket("post").await;
    let host = format!("{bucket}.localhost.test:{}", s.addr.port());
    let resp = upload_form(&s, &bucket, "uploads/${filename}", &[])
        .file("v.txt", b"by host")
        .post_to(&s, &host, "/");
    assert_eq!(resp.status, 204, "{resp}");
    assert_eq!(s.get(&bucket, "uploads/v.txt").await, b"by host");
}

#[tokio::test]
async fn post_tags_the_object_from_its_x_amz_tagging_field() {
    let s = Server::start().await;
    let bucket = s.new_bucket("post-tags").await;
    let resp = upload_form(&s, &bucket, "uploads/t", &[("x-amz-tagging", "a=1&b=two")])
        .file("t.txt", b"tagged")
        .post(&s, &bucket);
    assert_eq!(resp.status, 204, "{resp}");
    let tags = s
        .client
        .get_object_tagging()
        .bucket(&bucket)
        .key("uploads/t")
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("a", "1"), ("b", "two")]);

    let resp = upload_form(&s, &bucket, "uploads/refused", &[("x-amz-tagging", "aws:k=v")])
        .file("t.txt", b"refused")
        .post(&s, &bucket);
    resp.assert_s3_error(400, "InvalidTag");
    assert_absent(&s, &bucket, "uploads/refused").await;
}
