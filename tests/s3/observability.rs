//! Operations: the health probes and Prometheus metrics of the admin
//! listener, the access log, and the admin calls for bucket usage, bucket
//! quotas and the server.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;
use crate::lifecycle::{expire_after, rule, set_rules};

fn admin_addr(server: &Server) -> SocketAddr {
    server
        .admin_endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("the admin endpoint is an address")
}

/// An unsigned GET on the admin listener.
fn admin_get(server: &Server, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    raw_request(admin_addr(server), "GET", path, &headers, b"")
}

/// One sample of a scrape: a series and its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape of `/metrics`, parsed.
pub(crate) struct Scrape {
    samples: Vec<Sample>,
    /// Each metric family's name and type, from its `# TYPE` line.
    types: BTreeMap<String, String>,
}

/// `k="v",k2="v2"`, with the escapes OpenMetrics allows in values.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("a label in {text}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("an escape at the end of {text}"),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => panic!("an unterminated label value in {text}"),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

impl Scrape {
    #[track_caller]
    fn parse(text: &str) -> Scrape {
        assert!(
            text.ends_with("# EOF\n"),
            "an OpenMetrics exposition ends with # EOF:\n{text}"
        );
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').expect("# TYPE name type");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').expect("labels end with }"))),
                None => (series, BTreeMap::new()),
            };
            let family = ["_total", "_bucket", "_sum", "_count", "_info"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|family| types.contains_key(*family)))
                .unwrap_or(name);
            assert!(types.contains_key(family), "{name} has no # TYPE line before it");
            samples.push(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().unwrap_or_else(|_| panic!("a number: {line}")),
            });
        }
        Scrape { samples, types }
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    #[track_caller]
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).unwrap_or_else(|| {
            let same_name: Vec<&Sample> = self.samples.iter().filter(|sample| sample.name == name).collect();
            panic!("no {name} {labels:?}; the series of that name: {same_name:#?}")
        })
    }

    /// The samples of `name` with these labels among theirs, in order.
    fn all(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|sample| {
                sample.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }
}

#[track_caller]
fn scrape(server: &Server) -> Scrape {
    let resp = admin_get(server, "/metrics", &[]);
    assert_eq!(resp.status, 200, "{resp}");
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{resp}"
    );
    Scrape::parse(&resp.text())
}

/// A scrape once `requests` S3 requests have been counted: a request is
/// counted when its response body is done, a moment after the client has
/// read it.
pub(crate) async fn scrape_after(server: &Server, requests: usize) -> Scrape {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = scrape(server);
        let counted: f64 = scrape
            .all("coffer_s3_requests_total", &[])
            .iter()
            .map(|s| s.value)
            .sum();
        if counted as usize >= requests || std::time::Instant::now() > deadline {
            assert_eq!(counted as usize, requests, "requests counted");
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn put(server: &Server, bucket: &str, key: &str, body: &[u8]) -> RawResponse {
    server.signed("PUT", &format!("/{bucket}/{key}"), &[], &[], body)
}

/// A request signed with a secret that is not the key's.
fn forged(server: &Server, target: &str) -> RawResponse {
    let signer = Signer::new(ACCESS_KEY, "not-the-secret-key", &server.region);
    let mut headers = Vec::new();
    let target = signer.sign(
        "GET",
        target,
        &[],
        &mut headers,
        &server.host(),
        EMPTY_SHA256,
        SystemTime::now(),
    );
    raw_request(server.addr, "GET", &target, &headers, b"")
}

/// Sends the head of a signed, unsigned-payload PUT declaring `length`
/// bytes, and none of them; returns the connection.
fn put_head(server: &Server, bucket: &str, key: &str, length: usize) -> TcpStream {
    let mut headers = vec![("Content-Length".to_owned(), length.to_string())];
    let target = server.signer().sign(
        "PUT",
        &format!("/{bucket}/{key}"),
        &[],
        &mut headers,
        &server.host(),
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut head = format!("PUT {target} HTTP/1.1\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

#[tokio::test]
async fn metrics_count_requests_by_operation_status_and_error_code() {
    let server = Server::start().await;
    let bucket = server.new_bucket("metrics").await;
    let empty = server.new_bucket("empty").await;
    assert_eq!(put(&server, &bucket, "five", b"12345").status, 200);
    assert_eq!(put(&server, &bucket, "seven", b"1234567").status, 200);
    let got = server.signed("GET", &format!("/{bucket}/five"), &[], &[], b"");
    assert_eq!(got.body, b"12345");
    let missing = server.signed("GET", &format!("/{bucket}/nothing"), &[], &[], b"");
    missing.assert_s3_error(404, "NoSuchKey");
    let head_missing = server.signed("HEAD", &format!("/{bucket}/nothing"), &[], &[], b"");
    assert_eq!(head_missing.status, 404);
    let denied = server.anonymous("GET", &format!("/{bucket}?list-type=2"), &[], b"");
    denied.assert_s3_error(403, "AccessDenied");
    forged(&server, &format!("/{bucket}/five")).assert_s3_error(403, "SignatureDoesNotMatch");
    let created = server.signed("POST", &format!("/{bucket}/big"), &[("uploads", "")], &[], b"");
    assert_eq!(created.status, 200, "{created}");
    let upload_id = created.xml("UploadId").expect("an upload id");

    let scrape = scrape_after(&server, 10).await;
    let requests = |operation: &str, status: &str| {
        scrape.get(
            "coffer_s3_requests_total",
            &[("operation", operation), ("status", status)],
        )
    };
    assert_eq!(requests("CreateBucket", "200"), 2.0);
    assert_eq!(requests("PutObject", "200"), 2.0);
    assert_eq!(requests("GetObject", "200"), 1.0);
    assert_eq!(requests("GetObject", "404"), 1.0);
    assert_eq!(requests("HeadObject", "404"), 1.0);
    assert_eq!(requests("ListObjectsV2", "403"), 1.0);
    assert_eq!(requests("CreateMultipartUpload", "200"), 1.0);
    assert_eq!(
        requests("unknown", "403"),
        1.0,
        "a request whose signature fails never reaches an operation"
    );

    let errors =
        |operation: &str, code: &str| scrape.get("coffer_s3_errors_total", &[("operation", operation), ("code", code)]);
    assert_eq!(errors("GetObject", "NoSuchKey"), 1.0);
    assert_eq!(
        errors("HeadObject", "NoSuchKey"),
        1.0,
        "HEAD errors have no body but a code"
    );
    assert_eq!(errors("ListObjectsV2", "AccessDenied"), 1.0);
    assert_eq!(errors("unknown", "SignatureDoesNotMatch"), 1.0);
    assert!(
        scrape
            .all("coffer_s3_errors_total", &[("operation", "PutObject")])
            .is_empty(),
        "successes are no errors"
    );

    let bytes = |name: &str, operation: &str| scrape.get(name, &[("operation", operation)]);
    assert_eq!(bytes("coffer_s3_received_bytes_total", "PutObject"), 12.0);
    assert_eq!(bytes("coffer_s3_received_bytes_total", "GetObject"), 0.0);
    assert_eq!(
        bytes("coffer_s3_sent_bytes_total", "GetObject"),
        (got.body.len() + missing.body.len()) as f64,
        "an object's bytes and an error document's"
    );
    assert_eq!(
        bytes("coffer_s3_sent_bytes_total", "HeadObject"),
        0.0,
        "HEAD sends no body"
    );

    assert_eq!(scrape.types["coffer_s3_request_duration_seconds"], "histogram");
    assert_eq!(scrape.types["coffer_s3_requests"], "counter");
    let durations = scrape.all(
        "coffer_s3_request_duration_seconds_bucket",
        &[("operation", "GetObject")],
    );
    assert_eq!(durations.len(), 16, "15 bounds and +Inf");
    assert!(
        durations.windows(2).all(|pair| pair[0].value <= pair[1].value),
        "buckets are cumulative: {durations:?}"
    );
    assert_eq!(durations.last().unwrap().labels["le"], "+Inf");
    assert_eq!(durations.last().unwrap().value, 2.0);
    assert_eq!(
        scrape.get(
            "coffer_s3_request_duration_seconds_count",
            &[("operation", "GetObject")]
        ),
        2.0
    );
    assert!(scrape.get("coffer_s3_request_duration_seconds_sum", &[("operation", "GetObject")]) > 0.0);

    let usage = |scrape: &Scrape, name: &str, of: &str| scrape.get(name, &[("bucket", of)]);
    assert_eq!(usage(&scrape, "coffer_bucket_objects", &bucket), 2.0);
    assert_eq!(usage(&scrape, "coffer_bucket_stored_bytes", &bucket), 12.0);
    assert_eq!(usage(&scrape, "coffer_bucket_multipart_uploads", &bucket), 1.0);
    assert_eq!(usage(&scrape, "coffer_bucket_objects", &empty), 0.0);
    assert_eq!(usage(&scrape, "coffer_bucket_stored_bytes", &empty), 0.0);
    assert_eq!(usage(&scrape, "coffer_bucket_multipart_uploads", &empty), 0.0);
    assert_eq!(
        scrape.get("coffer_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert!(scrape.get("coffer_uptime_seconds", &[]) > 0.0);

    let deleted = server.signed("DELETE", &format!("/{bucket}/seven"), &[], &[], b"");
    assert_eq!(deleted.status, 204, "{deleted}");
    let aborted = server.signed(
        "DELETE",
        &format!("/{bucket}/big"),
        &[("uploadId", &upload_id)],
        &[],
        b"",
    );
    assert_eq!(aborted.status, 204, "{aborted}");
    server.client.delete_bucket().bucket(&empty).send().await.unwrap();
    let scrape = scrape_after(&server, 13).await;
    assert_eq!(usage(&scrape, "coffer_bucket_objects", &bucket), 1.0);
    assert_eq!(usage(&scrape, "coffer_bucket_stored_bytes", &bucket), 5.0);
    assert_eq!(usage(&scrape, "coffer_bucket_multipart_uploads", &bucket), 0.0);
    assert!(
        scrape.all("coffer_bucket_objects", &[("bucket", &empty)]).is_empty(),
        "a deleted bucket has no series"
    );
    assert_eq!(
        scrape.get(
            "coffer_s3_requests_total",
            &[("operation", "PutObject"), ("status", "200")]
        ),
        2.0,
        "counters keep their counts"
    );
}

#[tokio::test]
async fn lifecycle_work_shows_in_the_metrics() {
    let server = Server::start_with_args(&["--lifecycle-test-clock"]);
    let bucket = server.new_bucket("expiring").await;
    set_rules(&server, &bucket, &rule("", &expire_after(1)));
    assert_eq!(put(&server, &bucket, "old", b"bytes").status, 200);
    let before = scrape(&server);
    assert_eq!(before.get("coffer_lifecycle_passes_total", &[("outcome", "done")]), 0.0);

    root_admin(&server, &["lifecycle", "advance-clock", "--days", "3"]);
    root_admin(&server, &["lifecycle", "run"]);
    let after = scrape(&server);
    assert_eq!(after.get("coffer_lifecycle_passes_total", &[("outcome", "done")]), 1.0);
    assert_eq!(
        after.get("coffer_lifecycle_passes_total", &[("outcome", "failed")]),
        0.0
    );
    assert_eq!(
        after.get("coffer_lifecycle_examined_total", &[("kind", "version")]),
        1.0
    );
    assert_eq!(
        after.get("coffer_lifecycle_actions_total", &[("action", "expire")]),
        1.0
    );
    assert_eq!(
        after.get(
            "coffer_lifecycle_actions_total",
            &[("action", "delete_noncurrent_version")]
        ),
        0.0
    );
    assert_eq!(after.get("coffer_lifecycle_failures_total", &[]), 0.0);
    assert_eq!(after.get("coffer_bucket_objects", &[("bucket", &bucket)]), 0.0);
}

#[tokio::test]
async fn a_metrics_token_is_required_once_set_and_probes_stay_open() {
    let server = Server::start_with_args(&["--metrics-token", "scrape-me-0123"]);
    for headers in [
        &[][..],
        &[("Authorization", "Bearer scrape-me-012")][..],
        &[("Authorization", "Bearer scrape-me-01234")][..],
        &[("Authorization", "Basic scrape-me-0123")][..],
    ] {
        let refused = admin_get(&server, "/metrics", headers);
        assert_eq!(refused.status, 401, "{headers:?}: {refused}");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
        assert!(!refused.text().contains("coffer_"), "{refused}");
    }
    let allowed = admin_get(&server, "/metrics", &[("Authorization", "Bearer scrape-me-0123")]);
    assert_eq!(allowed.status, 200, "{allowed}");
    Scrape::parse(&allowed.text());
    assert_eq!(admin_get(&server, "/health/live", &[]).status, 200);
    assert_eq!(admin_get(&server, "/health/ready", &[]).status, 200);
}

#[tokio::test]
async fn readiness_turns_503_while_in_flight_requests_drain() {
    let mut server = Server::start().await;
    let bucket = server.new_bucket("drain").await;
    let live = admin_get(&server, "/health/live", &[]);
    assert_eq!((live.status, live.text().as_str()), (200, "live\n"));
    let ready = admin_get(&server, "/health/ready", &[]);
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));

    // A PUT whose body is still on its way when the server is told to stop.
    let mut slow = put_head(&server, &bucket, "slow", 10);
    slow.write_all(b"12345").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let not_ready = eventually(Duration::from_secs(10), || {
        admin_get(&server, "/health/ready", &[]).status == 503
    })
    .await;
    assert!(not_ready, "readiness answers 503 once the server shuts down");
    assert_eq!(admin_get(&server, "/health/live", &[]).status, 200);
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(server.addr).is_err()).await,
        "the S3 listener accepts no new connection"
    );

    slow.write_all(b"67890").unwrap();
    let finished = read_response(&mut slow, false);
    assert_eq!(finished.status, 200, "the request in flight completes: {finished}");
    let exit = server.terminate(Duration::from_secs(20)).expect("the server exits");
    assert!(exit.success(), "{exit:?}");
}

/// The fields of the access log line of `request_id` in a text log.
pub(crate) fn access_line(log: &str, request_id: &str) -> Option<BTreeMap<String, String>> {
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(" access: ") && line.contains(&format!("request_id={request_id} ")))
        .collect();
    assert!(lines.len() <= 1, "one line per request: {lines:#?}");
    let (_, fields) = lines.first()?.split_once(" access: ")?;
    Some(
        fields
            .split_whitespace()
            .map(|field| {
                let (name, value) = field.split_once('=').unwrap_or_else(|| panic!("name=value: {field}"));
                (name.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect(),
    )
}

fn request_id(resp: &RawResponse) -> String {
    resp.header("x-amz-request-id").expect("a request id").to_owned()
}

#[tokio::test]
async fn every_s3_request_has_one_access_log_line() {
    let server = Server::start().await;
    let bucket = server.new_bucket("logged").await;
    let stored = put(&server, &bucket, "dir/file.txt", b"sixsix");
    assert_eq!(stored.status, 200);
    let read = server.signed("GET", &format!("/{bucket}/dir/file.txt"), &[], &[], b"");
    assert_eq!(read.body, b"sixsix");
    let refused = server.anonymous("GET", &format!("/{bucket}/dir/file.txt"), &[], b"");
    refused.assert_s3_error(403, "AccessDenied");
    let bad_signature = forged(&server, &format!("/{bucket}/dir/file.txt"));
    bad_signature.assert_s3_error(403, "SignatureDoesNotMatch");

    let ids = [&stored, &read, &refused, &bad_signature].map(request_id);
    assert!(
        eventually(Duration::from_secs(10), || {
            let log = server.server_log();
            ids.iter().all(|id| access_line(&log, id).is_some())
        })
        .await,
        "an access line for each request in:\n{}",
        server.server_log()
    );
    let log = server.server_log();
    let [put_line, get_line, anonymous_line, forged_line] = ids.map(|id| access_line(&log, &id).unwrap());

    let expect = |line: &BTreeMap<String, String>, expected: &[(&str, &str)]| {
        for (name, value) in expected {
            assert_eq!(line.get(*name).map(String::as_str), Some(*value), "{name} in {line:?}");
        }
        let latency: f64 = line["latency_ms"].parse().expect("latency_ms is a number");
        assert!(latency >= 0.0, "{line:?}");
    };
    expect(
        &put_line,
        &[
            ("method", "PUT"),
            ("user", "root"),
            ("operation", "PutObject"),
            ("bucket", &bucket),
            ("key", "dir/file.txt"),
            ("status", "200"),
            ("error_code", "-"),
            ("bytes_in", "6"),
            ("bytes_out", "0"),
        ],
    );
    expect(
        &get_line,
        &[
            ("method", "GET"),
            ("user", "root"),
            ("operation", "GetObject"),
            ("status", "200"),
            ("bytes_in", "0"),
            ("bytes_out", "6"),
        ],
    );
    expect(
        &anonymous_line,
        &[
            ("user", "anonymous"),
            ("operation", "GetObject"),
            ("key", "dir/file.txt"),
            ("status", "403"),
            ("error_code", "AccessDenied"),
            ("bytes_out", &refused.body.len().to_string()),
        ],
    );
    expect(
        &forged_line,
        &[
            ("user", "-"),
            ("operation", "unknown"),
            ("bucket", "-"),
            ("status", "403"),
            ("error_code", "SignatureDoesNotMatch"),
        ],
    );
}

#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let server = Server::start_with_args(&["--log-format", "json"]);
    let bucket = server.new_bucket("json").await;
    let stored = put(&server, &bucket, "k", b"0123456789");
    assert_eq!(stored.status, 200);
    let id = request_id(&stored);
    let parsed = |log: &str| -> Vec<serde_json::Value> {
        log.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    };
    let line = |log: &str| parsed(log).into_iter().find(|line| line["request_id"] == id.as_str());
    assert!(
        eventually(Duration::from_secs(10), || line(&server.server_log()).is_some()).await,
        "{}",
        server.server_log()
    );
    let access = line(&server.server_log()).unwrap();
    assert_eq!(access["target"], "access");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["user"], "root");
    assert_eq!(access["operation"], "PutObject");
    assert_eq!(access["bucket"], bucket.as_str());
    assert_eq!(access["key"], "k");
    assert_eq!(access["status"], 200);
    assert_eq!(access["bytes_in"], 10);
    assert_eq!(access["bytes_out"], 0);
    assert!(access["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{access}");
    assert!(access["timestamp"].is_string(), "{access}");
}

fn admin_json(server: &Server, args: &[&str]) -> serde_json::Value {
    let out = root_admin(server, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn bucket_info_reports_usage_and_a_quota_refuses_before_storing() {
    let server = Server::start().await;
    let bucket = server.new_bucket("quota").await;
    assert_eq!(put(&server, &bucket, "k", b"four").status, 200);
    let info = admin_json(&server, &["bucket", "info", &bucket]);
    assert_eq!(info["name"], bucket.as_str());
    assert_eq!(info["owner"], "root");
    assert_eq!(info["versioning"], "Unversioned");
    assert_eq!(info["object_lock"], false);
    assert_eq!(info["quota_bytes"], serde_json::Value::Null);
    assert_eq!(
        (&info["objects"], &info["bytes"], &info["uploads_in_progress"]),
        (&1.into(), &4.into(), &0.into())
    );

    let limited = admin_json(&server, &["bucket", "quota", &bucket, "--max-bytes", "10"]);
    assert_eq!(limited["quota_bytes"], 10);

    // Refused from its declared size alone: no byte of the body is sent.
    let mut declared = put_head(&server, &bucket, "big", 100);
    let refused = read_response(&mut declared, false);
    refused.assert_s3_error(403, "QuotaExceeded");
    assert_eq!(refused.xml("Message").as_deref(), Some("Bucket quota exceeded"));

    assert_eq!(
        put(&server, &bucket, "k", b"nine-byte").status,
        200,
        "replacing an object frees its bytes first"
    );
    put(&server, &bucket, "other", b"xy").assert_s3_error(403, "QuotaExceeded");
    expect_err(
        server
            .client
            .copy_object()
            .bucket(&bucket)
            .key("copy")
            .copy_source(format!("{bucket}/k"))
            .send()
            .await,
        403,
        "QuotaExceeded",
    );
    let upload = server
        .client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = server
        .client
        .upload_part()
        .bucket(&bucket)
        .key("parts")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"xy"))
        .send()
        .await
        .unwrap();
    let completed = one_part(part.e_tag().unwrap());
    expect_err(
        server
            .client
            .complete_multipart_upload()
            .bucket(&bucket)
            .key("parts")
            .upload_id(upload_id)
            .multipart_upload(completed.clone())
            .send()
            .await,
        403,
        "QuotaExceeded",
    );

    for key in ["big", "other", "copy", "parts"] {
        let head = server.client.head_object().bucket(&bucket).key(key).send().await;
        expect_err(head, 404, "");
    }
    let info = admin_json(&server, &["bucket", "info", &bucket]);
    assert_eq!(
        (&info["objects"], &info["bytes"], &info["uploads_in_progress"]),
        (&1.into(), &9.into(), &1.into()),
        "the refused writes stored nothing, and the upload is still there"
    );
    assert_eq!(count_files(&server.tmp_dir()), 0);
    assert_eq!(count_files(&server.blobs_dir()), 2, "the object and the part");

    let cleared = admin_json(&server, &["bucket", "quota", &bucket, "--clear"]);
    assert_eq!(cleared["quota_bytes"], serde_json::Value::Null);
    server
        .client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .upload_id(upload_id)
        .multipart_upload(completed)
        .send()
        .await
        .unwrap();
    assert_eq!(put(&server, &bucket, "other", b"xy").status, 200);

    add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let refused = admin(
        &server,
        ("ALICEKEY", "alice-secret-1"),
        &["bucket", "quota", &bucket, "--max-bytes", "1"],
    )
    .unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");
    let missing = admin(&server, (ACCESS_KEY, SECRET_KEY), &["bucket", "info", "no-such-bucket"]).unwrap_err();
    assert!(missing.contains("NoSuchBucket"), "{missing}");
}

#[tokio::test]
async fn bucket_info_names_the_owning_user() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let bucket = bucket_name("alices");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();
    let info = admin_json(&server, &["bucket", "info", &bucket]);
    assert_eq!(info["owner"], "alice");
    assert_eq!(info["owner_id"].as_str().map(str::len), Some(64));
}

#[tokio::test]
async fn server_info_reports_version_uptime_and_storage_used() {
    let server = Server::start().await;
    let first = server.new_bucket("first").await;
    let second = server.new_bucket("second").await;
    assert_eq!(put(&server, &first, "a", b"abc").status, 200);
    assert_eq!(put(&server, &first, "b", b"defgh").status, 200);
    assert_eq!(put(&server, &second, "c", b"ij").status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let info = admin_json(&server, &["server", "info"]);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["uptime_seconds"].as_u64().is_some_and(|s| s >= 1), "{info}");
    let data_dir = std::path::absolute(&server.data_dir).unwrap();
    assert_eq!(info["data_dir"], data_dir.display().to_string().as_str());
    assert_eq!(info["buckets"], 2);
    assert_eq!(info["objects"], 3);
    assert_eq!(info["bytes"], 10);
    assert_eq!(info["uploads_in_progress"], 0);
}
