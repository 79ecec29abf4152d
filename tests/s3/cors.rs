//! Bucket CORS: Put/Get/DeleteBucketCors, preflight `OPTIONS` requests from
//! a browser's point of view, and the CORS headers of actual requests, as
//! Amazon S3 answers them.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::common::*;

const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of \
                           Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers \
                           are not whitelisted by the resource's CORS spec.";

fn rule(origins: &[&str], methods: &[&str]) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    CorsRule::builder()
        .set_allowed_origins(Some(origins.iter().map(|s| s.to_string()).collect()))
        .set_allowed_methods(Some(methods.iter().map(|s| s.to_string()).collect()))
}

async fn put_cors(s: &Server, bucket: &str, rules: Vec<CorsRule>) {
    s.client
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .set_cors_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("put bucket cors on {bucket}: {e:?}"));
}

/// An unauthenticated preflight, as a browser sends it.
fn preflight(s: &Server, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    s.anonymous("OPTIONS", target, headers, b"")
}

const CORS_HEADERS: [&str; 7] = [
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Vary",
];

#[track_caller]
fn assert_no_cors_headers(r: &RawResponse) {
    for name in CORS_HEADERS {
        assert_eq!(r.header(name), None, "{name} set; response: {r}");
    }
}

#[track_caller]
fn assert_refused(r: &RawResponse, status: u16, code: &str, message: &str) {
    r.assert_s3_error(status, code);
    let got = r.xml("Message").map(|text| text.replace("&apos;", "'"));
    assert_eq!(got.as_deref(), Some(message), "response: {r}");
    assert_no_cors_headers(r);
}

#[tokio::test]
async fn cors_configuration_round_trip() {
    let s = Server::start().await;
    let b = s.new_bucket("cors-rt").await;
    let e = expect_err(
        s.client.get_bucket_cors().bucket(&b).send().await,
        404,
        "NoSuchCORSConfiguration",
    );
    assert_eq!(e.message(), Some("The CORS configuration does not exist"));

    let full = rule(
        &["http://www.example.com", "http://*.example.org"],
        &["PUT", "POST", "DELETE"],
    )
    .id("full rule")
    .allowed_headers("Content-Type")
    .allowed_headers("x-amz-*")
    .expose_headers("ETag")
    .expose_headers("x-amz-request-id")
    .max_age_seconds(3000)
    .build()
    .unwrap();
    let minimal = rule(&["*"], &["GET"]).build().unwrap();
    put_cors(&s, &b, vec![full.clone(), minimal.clone()]).await;
    let got = s.client.get_bucket_cors().bucket(&b).send().await.unwrap();
    assert_eq!(got.cors_rules(), [full, minimal.clone()]);

    // A new configuration replaces the old one whole.
    put_cors(&s, &b, vec![minimal.clone()]).await;
    let got = s.client.get_bucket_cors().bucket(&b).send().await.unwrap();
    assert_eq!(got.cors_rules(), [minimal]);

    let r = s.signed("DELETE", &format!("/{b}"), &[("cors", "")], &[], b"");
    assert_eq!(r.status, 204, "response: {r}");
    expect_err(
        s.client.get_bucket_cors().bucket(&b).send().await,
        404,
        "NoSuchCORSConfiguration",
    );
    // Deleting no configuration is not an error.
    s.client.delete_bucket_cors().bucket(&b).send().await.unwrap();

    expect_err(
        s.client.get_bucket_cors().bucket("cors-no-such-bucket").send().await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn invalid_cors_configurations_are_rejected() {
    let s = Server::start().await;
    let b = s.new_bucket("cors-invalid").await;
    let put = |rules: Vec<CorsRule>| {
        s.client
            .put_bucket_cors()
            .bucket(&b)
            .cors_configuration(
                CorsConfiguration::builder()
                    .set_cors_rules(Some(rules))
                    .build()
                    .unwrap(),
            )
            .send()
    };

    let e = expect_err(
        put(vec![rule(&["*"], &["GET", "PATCH"]).build().unwrap()]).await,
        400,
        "InvalidRequest",
    );
    assert_eq!(
        e.message(),
        Some("Found unsupported HTTP method in CORS config. Unsupported method is PATCH")
    );
    let e = expect_err(
        put(vec![rule(&["*"], &["OPTIONS"]).build().unwrap()]).await,
        400,
        "InvalidRequest",
    );
    assert_eq!(
        e.message(),
        Some("Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS")
    );
    let e = expect_err(
        put(vec![rule(&["http://*.example.*"], &["GET"]).build().unwrap()]).await,
        400,
        "InvalidRequest",
    );
    assert_eq!(
        e.message(),
        Some("AllowedOrigin \"http://*.example.*\" can not have more than one wildcard.")
    );
    let e = expect_err(
        put(vec![rule(&["*"], &["GET"]).allowed_headers("x-*-*").build().unwrap()]).await,
        400,
        "InvalidRequest",
    );
    assert_eq!(
        e.message(),
        Some("AllowedHeader \"x-*-*\" can not have more than one wildcard.")
    );
    expect_err(
        put(vec![rule(&["*"], &["GET"]).expose_headers("*").build().unwrap()]).await,
        400,
        "InvalidRequest",
    );
    let too_many = (0..101).map(|_| rule(&["*"], &["GET"]).build().unwrap()).collect();
    expect_err(put(too_many).await, 400, "MalformedXML");
    expect_err(put(vec![]).await, 400, "MalformedXML");
    // A rule without an origin does not validate against S3's schema.
    let r = s.signed(
        "PUT",
        &format!("/{b}"),
        &[("cors", "")],
        &[],
        b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    r.assert_s3_error(400, "MalformedXML");

    // Nothing was stored by any of them; 100 rules are accepted.
    expect_err(
        s.client.get_bucket_cors().bucket(&b).send().await,
        404,
        "NoSuchCORSConfiguration",
    );
    put(vec![rule(&["*"], &["GET"]).build().unwrap(); 100]).await.unwrap();
    assert_eq!(
        s.client
            .get_bucket_cors()
            .bucket(&b)
            .send()
            .await
            .unwrap()
            .cors_rules()
            .len(),
        100
    );
}

#[tokio::test]
async fn preflight_answers_from_the_first_matching_rule() {
    let s = Server::start().await;
    let b = s.new_bucket("cors-preflight").await;
    put_cors(
        &s,
        &b,
        vec![
            rule(&["http://www.example.com"], &["PUT", "POST"])
                .allowed_headers("Content-Type")
                .allowed_headers("x-amz-*")
                .expose_headers("ETag")
                .expose_headers("x-amz-request-id")
                .max_age_seconds(3000)
                .build()
                .unwrap(),
            rule(&["http://*.example.com"], &["GET"]).build().unwrap(),
            rule(&["*"], &["GET", "HEAD"]).build().unwrap(),
        ],
    )
    .await;
    let target = format!("/{b}/photos/cat.jpg");

    // All of the first rule: requested headers echoed lowercase, in order.
    let r = preflight(
        &s,
        &target,
        &[
            ("Origin", "http://www.example.com"),
            ("Access-Control-Request-Method", "PUT"),
            (
                "Access-Control-Request-Headers",
                "Content-Type,X-Amz-Date, x-amz-content-sha256",
            ),
        ],
    );
    assert_eq!(r.status, 200, "response: {r}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://www.example.com"));
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("PUT, POST"));
    assert_eq!(
        r.header("Access-Control-Allow-Headers"),
        Some("content-type, x-amz-date, x-amz-content-sha256")
    );
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.header("Access-Control-Max-Age"), Some("3000"));
    assert_eq!(r.header("Vary"), Some(VARY));
    assert!(r.header("x-amz-request-id").is_some(), "response: {r}");
    assert!(r.body.is_empty(), "response: {r}");

    // The bucket itself is a resource too.
    let r = preflight(
        &s,
        &format!("/{b}"),
        &[
            ("Origin", "http://www.example.com"),
            ("Access-Control-Request-Method", "POST"),
        ],
    );
    assert_eq!(r.status, 200, "response: {r}");
    assert_eq!(r.header("Access-Control-Allow-Headers"), None);

    // A header the first rule does not allow, and no later rule allows PUT.
    let r = preflight(
        &s,
        &target,
        &[
            ("Origin", "http://www.example.com"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type, authorization"),
        ],
    );
    assert_refused(&r, 403, "AccessForbidden", NOT_ALLOWED);
    assert_eq!(r.xml("Method").as_deref(), Some("PUT"));
    assert_eq!(r.xml("ResourceType").as_deref(), Some("OBJECT"));

    // The wildcard origin of the second rule: one label or more before the domain.
    let r = preflight(
        &s,
        &target,
        &[
            ("Origin", "http://app.example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(r.status, 200, "response: {r}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://app.example.com"));
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET"));
    assert_eq!(r.header("Access-Control-Expose-Headers"), None);
    assert_eq!(r.header("Access-Control-Max-Age"), None);
    assert_eq!(r.header("Vary"), Some(VARY));
    let r = preflight(
        &s,
        &target,
        &[
            ("Origin", "http://a.b.example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://a.b.example.com"));
    let r = preflight(
        &s,
        &target,
        &[
            ("Origin", "http://app.example.com"),
            ("Access-Control-Request-Method", "DELETE"),
        ],
    );
    assert_refused(&r, 403, "AccessForbidden", NOT_ALLOWED);
    assert_eq!(r.xml("Method").as_deref(), Some("DELETE"));

    // Only the `*` rule takes other origins, and answers `*` without credentials.
    for origin in [
        "http://example.com",
        "https://app.example.com",
        "http://www.example.com:80",
    ] {
        let r = preflight(
            &s,
            &target,
            &[("Origin", origin), ("Access-Control-Request-Method", "HEAD")],
        );
        assert_eq!(r.status, 200, "{origin}: {r}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"), "{origin}");
        assert_eq!(r.header("Access-Control-Allow-Credentials"), None, "{origin}");
        assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD"), "{origin}");
        assert_eq!(r.header("Vary"), Some(VARY), "{origin}");
    }
    // The `*` rule allows no requested header.
    let r = preflight(
        &s,
        &target,
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "x-custom"),
        ],
    );
    assert_refused(&r, 403, "AccessForbidden", NOT_ALLOWED);
}

#[tokio::test]
async fn preflight_without_what_it_needs_is_refused() {
    let s = Server::start().await;
    let with_cors = s.new_bucket("cors-refusals").await;
    let without_cors = s.new_bucket("cors-none").await;
    put_cors(&s, &with_cors, vec![rule(&["*"], &["GET"]).build().unwrap()]).await;

    let r = preflight(
        &s,
        &format!("/{with_cors}/k"),
        &[("Access-Control-Request-Method", "GET")],
    );
    assert_refused(
        &r,
        400,
        "BadRequest",
        "Insufficient information. Origin request header needed.",
    );
    let r = preflight(&s, &format!("/{with_cors}/k"), &[("Origin", "http://a.com")]);
    assert_refused(&r, 400, "BadRequest", "Invalid Access-Control-Request-Method: null");

    let asks = [("Origin", "http://a.com"), ("Access-Control-Request-Method", "PUT")];
    let r = preflight(&s, &format!("/{without_cors}/k"), &asks);
    assert_refused(
        &r,
        403,
        "AccessForbidden",
        "CORSResponse: CORS is not enabled for this bucket.",
    );
    assert_eq!(r.xml("Method").as_deref(), Some("PUT"));
    assert_eq!(r.xml("ResourceType").as_deref(), Some("BUCKET"));
    let r = preflight(&s, &format!("/{without_cors}/k"), &[("Origin", "http://a.com")]);
    assert_refused(
        &r,
        403,
        "AccessForbidden",
        "CORSResponse: CORS is not enabled for this bucket.",
    );
    assert_eq!(r.xml("Method").as_deref(), Some("OPTIONS"));
    let r = preflight(&s, "/cors-no-such-bucket/k", &asks);
    assert_refused(&r, 403, "AccessForbidden", "CORSResponse: Bucket not found");

    // Once the configuration is removed, the bucket answers no preflight.
    s.client.delete_bucket_cors().bucket(&with_cors).send().await.unwrap();
    let r = preflight(
        &s,
        &format!("/{with_cors}/k"),
        &[("Origin", "http://a.com"), ("Access-Control-Request-Method", "GET")],
    );
    assert_refused(
        &r,
        403,
        "AccessForbidden",
        "CORSResponse: CORS is not enabled for this bucket.",
    );
}

#[tokio::test]
async fn actual_requests_carry_the_matching_rules_headers() {
    let s = Server::start().await;
    let b = s.new_bucket("cors-actual").await;
    put_cors(
        &s,
        &b,
        vec![
            rule(&["http://*.example.com"], &["GET", "HEAD"])
                .expose_headers("ETag")
                .expose_headers("x-amz-meta-color")
                .max_age_seconds(600)
                .build()
                .unwrap(),
        ],
    )
    .await;
    s.put(&b, "k", b"hello".to_vec()).await;
    let path = format!("/{b}/k");

    let r = s.signed("GET", &path, &[], &[("Origin", "http://app.example.com")], b"");
    assert_eq!(r.status, 200, "response: {r}");
    assert_eq!(r.body, b"hello");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://app.example.com"));
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD"));
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("ETag, x-amz-meta-color")
    );
    assert_eq!(r.header("Access-Control-Max-Age"), Some("600"));
    assert_eq!(r.header("Vary"), Some(VARY));

    // Errors carry them too, so the page's script can read the error.
    let r = s.signed(
        "GET",
        &format!("/{b}/missing"),
        &[],
        &[("Origin", "http://app.example.com")],
        b"",
    );
    r.assert_s3_error(404, "NoSuchKey");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("http://app.example.com"));

    // No Origin: not a cross-origin request.
    let r = s.signed("GET", &path, &[], &[], b"");
    assert_eq!(r.status, 200, "response: {r}");
    assert_no_cors_headers(&r);
    // An origin no rule allows, and a method no rule allows, are served without them.
    let r = s.signed("GET", &path, &[], &[("Origin", "http://example.org")], b"");
    assert_eq!(r.status, 200, "response: {r}");
    assert_no_cors_headers(&r);
    let r = s.signed("PUT", &path, &[], &[("Origin", "http://app.example.com")], b"new");
    assert_eq!(r.status, 200, "response: {r}");
    assert_no_cors_headers(&r);
    assert_eq!(s.get(&b, "k").await, b"new");
    // Access-Control-Request-Method decides, even on an actual request.
    let r = s.signed(
        "GET",
        &path,
        &[],
        &[
            ("Origin", "http://app.example.com"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "response: {r}");
    assert_no_cors_headers(&r);

    // A bucket without CORS answers cross-origin requests without CORS headers.
    let plain = s.new_bucket("cors-plain").await;
    s.put(&plain, "k", b"x".to_vec()).await;
    let r = s.signed(
        "GET",
        &format!("/{plain}/k"),
        &[],
        &[("Origin", "http://app.example.com")],
        b"",
    );
    assert_eq!(r.status, 200, "response: {r}");
    assert_no_cors_headers(&r);
}
