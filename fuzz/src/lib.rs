//! What Coffer's fuzz targets share: one Coffer S3 service per process, over
//! a store in a fresh directory, and a plain-text request format that the
//! harness turns into a (usually signed) HTTP request for it.
//!
//! # The request format
//!
//! An input holds up to [`REQUESTS_MAX`] requests separated by a line
//! `%%%%`. Each is written like HTTP/1.1, with bare `\n` allowed:
//!
//! ```text
//! PUT /fuzz/key?tagging
//! content-type: text/plain
//! x-fuzz-sign: header
//!
//! body bytes…
//! ```
//!
//! Headers named `x-fuzz-*` tell the harness what to do and are not sent:
//!
//! - `x-fuzz-sign: header | query | none` — SigV4 in an Authorization header
//!   (the default), a presigned URL, or the request as written.
//! - `x-fuzz-user: root | alice | nobody` — whose key signs: the admin, a
//!   plain user, or an access key the server does not know.
//! - `x-fuzz-split: N` — the body arrives in pieces of N bytes (0: whole).
//! - `x-fuzz-cut: N` — the client goes away after N bytes of the body.
//! - `x-fuzz-chunked: 1` — no Content-Length, as with `Transfer-Encoding: chunked`.
//! - `x-fuzz-listener: admin` — the request goes to the admin API (users,
//!   keys, and the lifecycle worker's test clock and passes) instead of S3.
//!
//! The harness sets Content-Length (hyper would hold a body to it), a Host
//! when none is given, and, when signing, `x-amz-date` and
//! `x-amz-content-sha256` (the body's SHA-256) unless the input gives them.
//! Placeholders are replaced everywhere: `{{DATE}}` (now, as `x-amz-date`),
//! `{{DAY}}`, `{{UPLOAD}}`, `{{VERSION}}` and `{{ETAG}}` (the last upload id,
//! version id and ETag a response of this process carried). In a body,
//! `{{SIG}}` becomes the signature due at that place of an aws-chunked body
//! (a chunk's or the trailer's), and in a browser form the `policy` field, if
//! it is JSON, is base64-encoded and `{{POLICY-SIG}}` becomes its signature.
//! So inputs stay readable and a mutated one still passes the signature
//! check: what is fuzzed is everything after it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use coffer_engine::{Engine, SealingKey};
use coffer_s3::{CofferService, KeyStore, User};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use sha2::{Digest, Sha256};

pub const REGION: &str = "us-east-1";
/// Requests to `bucket.fuzz.test` address `bucket` (virtual-hosted style).
pub const DOMAIN: &str = "fuzz.test";
/// Requests in one input, at most.
pub const REQUESTS_MAX: usize = 8;
/// Bytes of a response body read, at most.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

/// An access key pair.
pub struct Key {
    pub access: &'static str,
    pub secret: &'static str,
}

/// The admin user's key.
pub const ROOT: Key = Key {
    access: "FUZZROOTACCESSKEY000",
    secret: "fuzz/root/secret/key/0000000000000000000",
};
/// A plain user's key.
pub const ALICE: Key = Key {
    access: "FUZZALICEACCESSKEY00",
    secret: "fuzz/alice/secret/key/000000000000000000",
};
/// A key the server does not know.
pub const NOBODY: Key = Key {
    access: "FUZZUNKNOWNACCESSKEY",
    secret: "fuzz/unknown/secret/key/0000000000000000",
};

/// What earlier responses carried that later requests may name.
#[derive(Default, Clone)]
pub struct Remembered {
    pub upload: String,
    pub version: String,
    pub etag: String,
}

/// The Coffer S3 service of this process, its admin API and its runtime.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    service: CofferService,
    admin: CofferService,
    /// The keys both services authenticate with; the admin API may change
    /// them, the harness puts its own back after every request.
    keys: KeyStore,
    remembered: Mutex<Remembered>,
    /// Keeps the lifecycle worker's stop signal open.
    _stop: tokio::sync::watch::Sender<bool>,
}

/// The server, set up on first use: buckets `fuzz` (an object `a.txt`),
/// `fuzz-ver` (versioned, two versions of `v.txt`) and `fuzz-pub` (a policy
/// letting everyone do anything, so unsigned requests reach operations), and
/// an upload in progress for `fuzz/mp` (`{{UPLOAD}}`).
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

/// A response as the harness read it.
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Server {
    fn start() -> Server {
        let dir = data_dir();
        let store = coffer_store::Store::open(&dir).expect("opening the fuzzing store");
        let engine: Arc<dyn Engine> = Arc::new(store);
        let keys = KeyStore::default();
        let service = coffer_s3::service(
            Arc::clone(&engine),
            keys.clone(),
            REGION,
            Some(DOMAIN),
            SealingKey([7; 32]),
        );
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let settings = coffer_s3::expiry::Settings {
            interval_seconds: std::num::NonZeroU64::new(3600).expect("not zero"),
            pass_entries: std::num::NonZeroUsize::new(10_000).expect("not zero"),
        };
        let worker = coffer_s3::expiry::Worker::new(Arc::clone(&engine), settings, stopping.clone());
        let monitor = coffer_s3::monitor::Monitor {
            engine: Arc::clone(&engine),
            metrics: Arc::new(coffer_s3::metrics::Metrics::new()),
            lifecycle: Arc::clone(&worker),
            metrics_token: None,
            stopping,
        };
        let admin = coffer_s3::admin::service(engine, keys.clone(), REGION, Some(worker), monitor, "/dev/shm");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let server = Server {
            runtime,
            service,
            admin,
            keys,
            remembered: Mutex::new(Remembered::default()),
            _stop: stop,
        };
        server.restore_keys();
        server.populate();
        server
    }

    fn populate(&self) {
        let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::fuzz-pub","arn:aws:s3:::fuzz-pub/*"]}]}"#;
        let setup = [
            "PUT /fuzz\n\n".to_owned(),
            "PUT /fuzz/a.txt\ncontent-type: text/plain\n\nhello, fuzzer\n".to_owned(),
            "PUT /fuzz-ver\n\n".to_owned(),
            "PUT /fuzz-ver?versioning\n\n<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
                .to_owned(),
            "PUT /fuzz-ver/v.txt\n\nfirst".to_owned(),
            "PUT /fuzz-ver/v.txt\n\nsecond".to_owned(),
            "PUT /fuzz-pub\n\n".to_owned(),
            format!("PUT /fuzz-pub?policy\n\n{public}"),
            "PUT /fuzz-pub/p.txt\n\npublic".to_owned(),
            "POST /fuzz/mp?uploads\n\n".to_owned(),
        ];
        for request in setup {
            let answers = self.run(request.as_bytes());
            let answer = answers.last().expect("one request");
            assert!(
                answer.status.is_success(),
                "setting up: {request:?} answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
    }

    /// The harness's keys, as they were before the admin API changed them.
    fn restore_keys(&self) {
        self.keys.insert(
            ROOT.access,
            ROOT.secret,
            true,
            User::named(coffer_s3::admin::ROOT_USER, true),
        );
        self.keys
            .insert(ALICE.access, ALICE.secret, true, User::named("alice", false));
        self.keys.remove(NOBODY.access);
    }

    /// Runs `future` on the server's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Serves the requests of `input` in order, and returns their answers;
    /// panics if serving one fails (the service must always answer).
    pub fn run(&self, input: &[u8]) -> Vec<Answer> {
        let mut answers = Vec::new();
        for text in split_requests(input).into_iter().take(REQUESTS_MAX) {
            let remembered = self.remembered.lock().expect("not poisoned").clone();
            let mut spec = parse(text);
            let admin = take_listener(&mut spec.headers);
            let Some(request) = build(spec, &remembered) else {
                continue;
            };
            if std::env::var_os("COFFER_FUZZ_TRACE").is_some() {
                eprint!("{} {} -> ", request.method(), request.uri());
            }
            answers.push(if admin {
                self.serve_admin(request)
            } else {
                self.serve(request)
            });
        }
        answers
    }

    /// Serves one request and reads its answer whole (up to 1 MiB).
    pub fn serve(&self, request: Request<s3s::Body>) -> Answer {
        self.serve_with(&self.service, request)
    }

    /// Serves one request of the admin API.
    pub fn serve_admin(&self, request: Request<s3s::Body>) -> Answer {
        let answer = self.serve_with(&self.admin, request);
        self.restore_keys();
        answer
    }

    fn serve_with(&self, service: &CofferService, request: Request<s3s::Body>) -> Answer {
        let is_head = request.method() == Method::HEAD;
        let answer = self.runtime.block_on(async {
            let response = service
                .for_peer("192.0.2.7:40000".parse().expect("an address"))
                .call(request)
                .await
                .unwrap_or_else(|err| panic!("the service failed instead of answering: {err:?}"));
            let (parts, mut body) = response.into_parts();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    // A body that fails mid-way is how a server reports a
                    // failure after the status was sent; it is an answer.
                    Err(_) => break,
                }
                if bytes.len() > RESPONSE_BYTES_MAX {
                    break;
                }
            }
            Answer {
                status: parts.status,
                headers: parts.headers,
                body: bytes,
            }
        });
        if std::env::var_os("COFFER_FUZZ_TRACE").is_some() {
            let code = xml_text(&answer.body, "Code").unwrap_or_default();
            let message = xml_text(&answer.body, "Message").unwrap_or_default();
            eprintln!("{} {code} {message}", answer.status.as_u16());
            if std::env::var_os("COFFER_FUZZ_TRACE").is_some_and(|v| v == "body") {
                eprintln!("{}", String::from_utf8_lossy(&answer.body));
            }
        }
        check_answer(&answer, is_head);
        self.remember(&answer);
        answer
    }

    fn remember(&self, answer: &Answer) {
        let mut remembered = self.remembered.lock().expect("not poisoned");
        if let Some(upload) = xml_text(&answer.body, "UploadId") {
            remembered.upload = upload;
        }
        if let Some(version) = answer.headers.get("x-amz-version-id").and_then(|v| v.to_str().ok()) {
            remembered.version = version.to_owned();
        }
        if let Some(etag) = answer.headers.get(http::header::ETAG).and_then(|v| v.to_str().ok()) {
            remembered.etag = etag.to_owned();
        }
    }
}

/// What every answer must be: an error is a complete S3 error document
/// (the edge adds the request id to all of them), and no client input may
/// make the server fail internally.
fn check_answer(answer: &Answer, is_head: bool) {
    assert!(
        answer.headers.contains_key("x-amz-request-id"),
        "an answer without x-amz-request-id"
    );
    if answer.status == http::StatusCode::INTERNAL_SERVER_ERROR && std::env::var_os("COFFER_FUZZ_ALLOW_500").is_none() {
        panic!(
            "500 Internal Server Error on client input: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    if answer.status.as_u16() >= 400 && !is_head && !answer.body.is_empty() {
        let text = String::from_utf8_lossy(&answer.body);
        assert!(
            text.contains("<Error>") && text.contains("<Code>") && text.contains("<RequestId>"),
            "an error answer ({}) that is not a complete S3 error: {text}",
            answer.status
        );
    }
}

/// The directory the store lives in: under `COFFER_FUZZ_DIR`, else
/// `/dev/shm` (fsync is free there), else the temporary directory; one per
/// process, named by its id. Directories of processes that are gone (a
/// crashed or finished run) are removed first.
fn data_dir() -> std::path::PathBuf {
    let base = std::env::var_os("COFFER_FUZZ_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let shm = std::path::Path::new("/dev/shm");
            shm.is_dir().then(|| shm.to_path_buf())
        })
        .unwrap_or_else(std::env::temp_dir);
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("coffer-fuzz-")) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("coffer-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the fuzzing data directory");
    dir
}

/// The text of the first `<tag>` element of an XML body.
fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let (_, rest) = text.split_once(&format!("<{tag}>"))?;
    let (value, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(value.to_owned())
}

// ---------------------------------------------------------------------------
// The request format.

/// A request as written in an input.
#[derive(Debug, Default, Clone)]
pub struct Spec {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// How the harness signs a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Header,
    Query,
    None,
}

fn split_requests(input: &[u8]) -> Vec<&[u8]> {
    const SEPARATOR: &[u8] = b"\n%%%%\n";
    let mut requests = Vec::new();
    let mut rest = input;
    while let Some(at) = find(rest, SEPARATOR) {
        requests.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    requests.push(rest);
    requests
}

/// Reads a request: a request line, header lines, an empty line, the body.
/// Whatever the bytes, it makes something of them.
pub fn parse(text: &[u8]) -> Spec {
    let (head, body) = match (find(text, b"\r\n\r\n"), find(text, b"\n\n")) {
        (Some(crlf), Some(lf)) if crlf < lf => (&text[..crlf], &text[crlf + 4..]),
        (_, Some(lf)) => (&text[..lf], &text[lf + 2..]),
        (Some(crlf), None) => (&text[..crlf], &text[crlf + 4..]),
        (None, None) => (text, &[][..]),
    };
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.splitn(2, |b| *b == b' ');
    let method = words.next().unwrap_or_default().to_vec();
    let target = words.next().unwrap_or(b"/").to_vec();
    let headers = lines
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let value = &line[colon + 1..];
            let value = &value[value.iter().take_while(|b| **b == b' ').count()..];
            Some((line[..colon].to_vec(), value.to_vec()))
        })
        .collect();
    Spec {
        method,
        target,
        headers,
        body: body.to_vec(),
    }
}

/// The harness's directives of a request (its `x-fuzz-*` headers).
struct Directives {
    sign: Sign,
    key: &'static Key,
    split: usize,
    cut: Option<usize>,
    chunked: bool,
}

impl Directives {
    fn take(headers: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Directives {
        let mut directives = Directives {
            sign: Sign::Header,
            key: &ROOT,
            split: 0,
            cut: None,
            chunked: false,
        };
        headers.retain(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let Some(directive) = name.strip_prefix(b"x-fuzz-") else {
                return true;
            };
            let value = String::from_utf8_lossy(value);
            let value = value.trim();
            let number = || value.parse::<usize>().ok();
            match directive {
                b"sign" => {
                    directives.sign = match value {
                        "header" => Sign::Header,
                        "query" => Sign::Query,
                        _ => Sign::None,
                    }
                }
                b"user" => {
                    directives.key = match value {
                        "root" => &ROOT,
                        "alice" => &ALICE,
                        _ => &NOBODY,
                    }
                }
                b"split" => directives.split = number().unwrap_or(0),
                b"cut" => directives.cut = number(),
                b"chunked" => directives.chunked = value != "0",
                _ => {}
            }
            false
        });
        directives
    }
}

/// Whether the request is for the admin API (`x-fuzz-listener: admin`).
fn take_listener(headers: &mut Vec<(Vec<u8>, Vec<u8>)>) -> bool {
    let mut admin = false;
    headers.retain(|(name, value)| {
        if !name.eq_ignore_ascii_case(b"x-fuzz-listener") {
            return true;
        }
        admin = value.trim_ascii() == b"admin";
        false
    });
    admin
}

/// Replaces each `{{NAME}}` of `values` in `bytes`.
fn substitute(bytes: &[u8], values: &[(&str, &str)]) -> Vec<u8> {
    if find(bytes, b"{{").is_none() {
        return bytes.to_vec();
    }
    let mut out = bytes.to_vec();
    for (name, value) in values {
        out = replace(&out, format!("{{{{{name}}}}}").as_bytes(), value.as_bytes());
    }
    out
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Turns a written request into the request hyper would hand the service;
/// `None` for bytes hyper would refuse before (an invalid method or target).
pub fn build(spec: Spec, remembered: &Remembered) -> Option<Request<s3s::Body>> {
    build_with_body(spec, remembered).map(|(request, _)| request)
}

/// [`build`], and the body the request carries.
pub fn build_with_body(mut spec: Spec, remembered: &Remembered) -> Option<(Request<s3s::Body>, Bytes)> {
    let directives = Directives::take(&mut spec.headers);
    let now = time::OffsetDateTime::now_utc();
    let amz_date = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("a date formats");
    let day = amz_date[..8].to_owned();
    let values = [
        ("DATE", amz_date.as_str()),
        ("DAY", day.as_str()),
        ("UPLOAD", remembered.upload.as_str()),
        ("VERSION", remembered.version.as_str()),
        ("ETAG", remembered.etag.as_str()),
    ];
    let method = Method::from_bytes(&spec.method).ok()?;
    let mut uri = Uri::try_from(substitute(&spec.target, &values)).ok()?;
    let mut headers = HeaderMap::new();
    for (name, value) in &spec.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(&substitute(value, &values)),
        ) else {
            continue;
        };
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        headers.append(name, value);
    }
    if !headers.contains_key(http::header::HOST) {
        headers.insert(http::header::HOST, HeaderValue::from_static("localhost:9000"));
    }
    let mut body = substitute(&spec.body, &values);
    let key = directives.key;
    let scope = format!("{day}/{REGION}/s3/aws4_request");
    if method == Method::POST && find(&body, b"{{POLICY-SIG}}").is_some() {
        body = sign_form(&body, key, &day);
    }
    let streaming = headers
        .get("x-amz-content-sha256")
        .is_some_and(|value| value.as_bytes().starts_with(b"STREAMING-"));
    let mut chunks = None;
    if streaming {
        let placeholder = [b'0'; 64];
        body = replace(&body, b"{{SIG}}", &placeholder);
        let walked = Chunks::walk(&body);
        if !headers.contains_key("x-amz-decoded-content-length") {
            headers.insert("x-amz-decoded-content-length", HeaderValue::from(walked.decoded_length));
        }
        chunks = Some(walked);
    }
    if directives.chunked {
        headers.remove(http::header::CONTENT_LENGTH);
    } else {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut seed_signature = String::new();
    match directives.sign {
        Sign::None => {}
        Sign::Header => {
            if !headers.contains_key("x-amz-date") {
                headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).expect("ascii"));
            }
            if !headers.contains_key("x-amz-content-sha256") {
                let hash = hex::encode(Sha256::digest(&body));
                headers.insert("x-amz-content-sha256", HeaderValue::from_str(&hash).expect("hex"));
            }
            let signed = signed_header_names(&headers);
            let query = decoded_query(&uri);
            let payload = headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let canonical = canonical_request(&method, &uri, &query, &headers, &signed, &payload)?;
            let signature = signature(key, &day, &string_to_sign(&amz_date, &scope, &canonical));
            let authorization = format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
                key.access,
                signed.join(";")
            );
            headers.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&authorization).ok()?);
            seed_signature = signature;
        }
        Sign::Query => {
            let signed = signed_header_names(&headers);
            let mut added: Vec<(String, String)> = vec![
                ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
                ("X-Amz-Credential".into(), format!("{}/{scope}", key.access)),
                ("X-Amz-Date".into(), amz_date.clone()),
                ("X-Amz-SignedHeaders".into(), signed.join(";")),
            ];
            let mut query = decoded_query(&uri);
            if !query.iter().any(|(name, _)| name == "X-Amz-Expires") {
                added.push(("X-Amz-Expires".into(), "300".into()));
            }
            query.extend(added.iter().cloned());
            let canonical = canonical_request(&method, &uri, &query, &headers, &signed, "UNSIGNED-PAYLOAD")?;
            let signature = signature(key, &day, &string_to_sign(&amz_date, &scope, &canonical));
            added.push(("X-Amz-Signature".into(), signature));
            let mut target = uri.path().to_owned();
            target.push('?');
            if let Some(original) = uri.query().filter(|q| !q.is_empty()) {
                target.push_str(original);
                target.push('&');
            }
            let encoded: Vec<String> = added
                .iter()
                .map(|(name, value)| format!("{}={}", uri_encode(name, true), uri_encode(value, true)))
                .collect();
            target.push_str(&encoded.join("&"));
            uri = Uri::try_from(target).ok()?;
        }
    }
    if let Some(chunks) = chunks {
        chunks.sign(&mut body, key, &amz_date, &scope, &day, &seed_signature);
    }
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(s3s::Body::empty())
        .ok()?;
    *request.headers_mut() = headers;
    let body = Bytes::from(body);
    *request.body_mut() = s3s::Body::http_body(FuzzBody {
        data: body.clone(),
        piece: directives.split,
        cut: directives.cut,
        exact: !directives.chunked,
    });
    Some((request, body))
}

/// The data an aws-chunked body carries, if its framing is strictly well
/// formed: chunk sizes of 1 to 8 hex digits, each followed by nothing or a
/// 64-character chunk signature, data followed by CRLF, up to a final
/// zero-size chunk.
pub fn aws_chunked_data(body: &[u8]) -> Option<Vec<u8>> {
    let walked = Chunks::walk(body);
    walked.well_formed.then(|| {
        walked
            .chunks
            .iter()
            .flat_map(|(_, data)| body[data.clone()].iter().copied())
            .collect()
    })
}

/// Signs a browser form: its `policy` field, base64-encoded if it is JSON,
/// and `{{POLICY-SIG}}` replaced by the signature of the policy.
fn sign_form(body: &[u8], key: &Key, day: &str) -> Vec<u8> {
    use base64::Engine as _;
    let mut body = body.to_vec();
    let marker = b"name=\"policy\"";
    let mut policy = Vec::new();
    if let Some(at) = find(&body, marker)
        && let Some(start) = find(&body[at..], b"\r\n\r\n").map(|p| at + p + 4)
    {
        let end = find(&body[start..], b"\r\n--").map_or(body.len(), |p| start + p);
        policy = body[start..end].to_vec();
        if policy.first() == Some(&b'{') {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&policy);
            body.splice(start..end, encoded.bytes());
            policy = encoded.into_bytes();
        }
    }
    let signature = hex::encode(hmac(&signing_key(key, day), &policy));
    replace(&body, b"{{POLICY-SIG}}", signature.as_bytes())
}

/// The headers a harness signature covers: every one the request has, as
/// Amazon S3 requires of `x-amz-*` headers.
fn signed_header_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name != "authorization")
        .collect();
    names.sort();
    names.dedup();
    names
}

fn decoded_query(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The canonical request of SigV4, as s3s builds it: the decoded path
/// re-encoded, the decoded query re-encoded and sorted by name, the signed
/// headers with their values trimmed and joined.
fn canonical_request(
    method: &Method,
    uri: &Uri,
    query: &[(String, String)],
    headers: &HeaderMap,
    signed: &[String],
    payload: &str,
) -> Option<String> {
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8().ok()?;
    let mut query: Vec<(String, String)> = query
        .iter()
        .filter(|(name, _)| name != "X-Amz-Signature")
        .map(|(name, value)| (uri_encode(name, true), uri_encode(value, true)))
        .collect();
    query.sort_by(|a, b| a.0.cmp(&b.0));
    let query: Vec<String> = query.iter().map(|(name, value)| format!("{name}={value}")).collect();
    let mut canonical_headers = String::new();
    for name in signed {
        let mut values = Vec::new();
        for value in headers.get_all(name.as_str()) {
            let value = value.to_str().ok()?;
            values.push(value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Some(format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{payload}",
        uri_encode(&path, false),
        query.join("&"),
        signed.join(";")
    ))
}

fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'~' | b'.' => out.push(byte as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(key: &Key, day: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{}", key.secret).as_bytes(), day.as_bytes());
    let k = hmac(&k, REGION.as_bytes());
    let k = hmac(&k, b"s3");
    hmac(&k, b"aws4_request")
}

fn signature(key: &Key, day: &str, string_to_sign: &str) -> String {
    hex::encode(hmac(&signing_key(key, day), string_to_sign.as_bytes()))
}

/// The framing of an aws-chunked body, as far as it can be followed: where
/// each signature to fill in is and what it covers.
struct Chunks {
    /// Per chunk: where its signature is (if it has one) and its data.
    chunks: Vec<(Option<usize>, std::ops::Range<usize>)>,
    /// Where the trailer's signature is, and the trailer lines before it.
    trailer: Option<(usize, std::ops::Range<usize>)>,
    decoded_length: u64,
    /// Whether the framing is strictly well formed up to the final chunk.
    well_formed: bool,
}

impl Chunks {
    fn walk(body: &[u8]) -> Chunks {
        const SIGNATURE: &[u8] = b";chunk-signature=";
        let mut walked = Chunks {
            chunks: Vec::new(),
            trailer: None,
            decoded_length: 0,
            well_formed: false,
        };
        let mut pos = 0;
        while let Some(line_len) = find(&body[pos..], b"\r\n") {
            let line = &body[pos..pos + line_len];
            let size_end = line.iter().position(|b| *b == b';').unwrap_or(line.len());
            let Some(size) = std::str::from_utf8(&line[..size_end])
                .ok()
                .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            else {
                return walked;
            };
            let signature = find(line, SIGNATURE).map(|at| pos + at + SIGNATURE.len());
            let data_start = pos + line_len + 2;
            let data_end = data_start.saturating_add(size).min(body.len());
            walked.chunks.push((signature, data_start..data_end));
            walked.decoded_length = walked.decoded_length.saturating_add(size as u64);
            let extension = &line[size_end..];
            let strict = (1..=8).contains(&size_end)
                && line[..size_end].iter().all(u8::is_ascii_hexdigit)
                && (extension.is_empty()
                    || (extension.starts_with(SIGNATURE) && extension.len() == SIGNATURE.len() + 64))
                && (size == 0 || body.get(data_end..data_end + 2) == Some(b"\r\n"));
            if !strict {
                return walked;
            }
            if size == 0 {
                walked.well_formed = true;
                let trailer = &body[data_start..];
                let marker = b"x-amz-trailer-signature:";
                if let Some(at) = find(trailer, marker) {
                    walked.trailer = Some((data_start + at + marker.len(), data_start..data_start + at));
                }
                return walked;
            }
            pos = data_end + 2;
            if pos > body.len() {
                return walked;
            }
        }
        walked
    }

    /// Fills in each placeholder signature (64 zeros) in `body`.
    fn sign(&self, body: &mut [u8], key: &Key, amz_date: &str, scope: &str, day: &str, seed: &str) {
        let empty = hex::encode(Sha256::digest(b""));
        let mut previous = seed.to_owned();
        let fill = |body: &mut [u8], at: usize, string_to_sign: String| -> String {
            let placeholder = body.get(at..at + 64).is_some_and(|s| s.iter().all(|b| *b == b'0'));
            if placeholder {
                let signature = signature(key, day, &string_to_sign);
                body[at..at + 64].copy_from_slice(signature.as_bytes());
            }
            String::from_utf8_lossy(body.get(at..at + 64).unwrap_or_default()).into_owned()
        };
        for (at, data) in &self.chunks {
            let Some(at) = *at else { continue };
            let hash = hex::encode(Sha256::digest(&body[data.clone()]));
            let string_to_sign = format!("AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n{hash}");
            previous = fill(body, at, string_to_sign);
        }
        if let Some((at, lines)) = &self.trailer {
            let mut entries: Vec<(String, String)> = body[lines.clone()]
                .split(|b| *b == b'\n')
                .filter_map(|line| {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let colon = line.iter().position(|b| *b == b':')?;
                    let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
                    let value = String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned();
                    Some((name, value))
                })
                .collect();
            entries.sort();
            let canonical: String = entries.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
            let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
            let string_to_sign = format!("AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n{hash}");
            fill(body, *at, string_to_sign);
        }
    }
}

/// A request body as hyper hands it over: in pieces, with an exact size
/// when Content-Length was sent, perhaps ending early with an error (the
/// client went away).
struct FuzzBody {
    data: Bytes,
    piece: usize,
    cut: Option<usize>,
    exact: bool,
}

impl http_body::Body for FuzzBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.cut == Some(0) {
            this.cut = None;
            this.data = Bytes::new();
            let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away");
            return Poll::Ready(Some(Err(reset)));
        }
        if this.data.is_empty() {
            return Poll::Ready(None);
        }
        let mut n = if this.piece == 0 {
            this.data.len()
        } else {
            this.piece.min(this.data.len())
        };
        if let Some(cut) = &mut this.cut {
            n = n.min(*cut);
            *cut -= n;
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(this.data.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && self.cut.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.exact {
            http_body::SizeHint::with_exact(self.data.len() as u64)
        } else {
            http_body::SizeHint::default()
        }
    }
}
