//! Requests through the real S3 service, in memory: the `CofferService`
//! that `coffer serve` hands hyper (`coffer_s3::service` with metrics), over
//! the embedded engine, fed `http::Request`s signed as the AWS SDKs sign
//! them. No socket and no HTTP parsing; everything from the edge inward is
//! what a request runs: the edge and its preflight checks, s3s's routing and
//! SigV4 verification, the access hook, the operation and the engine.
//!
//! s3s keeps its SigV4 functions private, so the signature is measured as
//! the difference of two requests that s3s refuses: one signed with an
//! access key Coffer does not know (refused once the key lookup fails,
//! before any signature arithmetic) and one with a known key and a wrong
//! secret (refused after the canonical request, the key derivation and the
//! signature are computed). Everything else those two requests do is the
//! same.
//!
//! `cargo bench -p coffer-s3 --bench service`. Figures are in
//! docs/performance.md, "Micro-benchmarks (cargo bench)". The data
//! directory is on tmpfs (`/dev/shm`) where the machine has one, so PUTs
//! measure CPU, not fsync latency (the coffer-store bench measures that).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use coffer_engine::{Engine, SealingKey};
use coffer_s3::metrics::Metrics;
use coffer_s3::{CofferService, KeyStore, User};
use coffer_store::Store;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use http::{HeaderMap, Method, Request, StatusCode};
use s3s::Body;
use tempfile::TempDir;
use tokio::runtime::Runtime;

const REGION: &str = "us-east-1";
const HOST: &str = "127.0.0.1:9000";
const ACCESS_KEY: &str = "AKIACOFFERBENCH00001";
const SECRET_KEY: &str = "cofferBenchSecretKey0000000000000000000a";
const BUCKET: &str = "bench";

/// The server, in memory, with a bucket holding two 4 KiB objects: one
/// private, one readable by anyone (`x-amz-acl: public-read`).
struct Fixture {
    rt: Runtime,
    service: CofferService,
    _dir: TempDir,
}

fn start() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("coffer-bench-").clone();
    let dir = if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    }
    .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let engine: Arc<dyn Engine> = Arc::new(store);
    let keys = KeyStore::default();
    keys.insert(
        ACCESS_KEY,
        SECRET_KEY,
        true,
        User::named(coffer_s3::admin::ROOT_USER, true),
    );
    let service =
        coffer_s3::service(engine, keys, REGION, None, SealingKey([0x42; 32])).with_metrics(Arc::new(Metrics::new()));
    let fixture = Fixture { rt, service, _dir: dir };
    let small = payload(4 << 10);
    for (path, body, headers) in [
        (format!("/{BUCKET}"), Bytes::new(), &[][..]),
        (format!("/{BUCKET}/private"), small.clone(), &[][..]),
        (format!("/{BUCKET}/public"), small, &[("x-amz-acl", "public-read")][..]),
    ] {
        let put = Prepared::new(
            Method::PUT,
            &path,
            body,
            headers,
            Signer::Key(SECRET_KEY, Payload::Hashed),
        );
        fixture.expect(&put, StatusCode::OK);
    }
    fixture
}

impl Fixture {
    /// Sends `prepared` through the service and reads the whole response.
    fn send(&self, prepared: &Prepared) -> (StatusCode, usize) {
        self.rt.block_on(async {
            let resp = self.service.call(prepared.request()).await.unwrap();
            let status = resp.status();
            let mut body = resp.into_body();
            let mut len = 0;
            while let Some(chunk) = body.next().await {
                len += chunk.unwrap().len();
            }
            (status, len)
        })
    }

    /// The error code of the answer to `prepared`, which must be refused.
    fn refusal(&self, prepared: &Prepared) -> String {
        self.rt.block_on(async {
            let mut resp = self.service.call(prepared.request()).await.unwrap();
            assert!(resp.status().is_client_error(), "{} {}", prepared.method, prepared.path);
            let body = resp.body_mut().store_all_limited(1 << 20).await.unwrap();
            let text = String::from_utf8_lossy(&body);
            let code = text
                .split("<Code>")
                .nth(1)
                .and_then(|rest| rest.split("</Code>").next());
            code.unwrap_or_default().to_owned()
        })
    }

    fn expect(&self, prepared: &Prepared, status: StatusCode) -> usize {
        let (got, len) = self.send(prepared);
        assert_eq!(got, status, "{} {}", prepared.method, prepared.path);
        len
    }
}

/// How a request's payload is named in its signature.
#[derive(Clone, Copy)]
enum Payload {
    /// Its SHA-256, which s3s checks as the body streams in.
    Hashed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
}

/// Who signs a request.
#[derive(Clone, Copy)]
enum Signer<'a> {
    Anonymous,
    /// Signed with [`ACCESS_KEY`] and this secret.
    Key(&'a str, Payload),
    /// Signed with an access key the server does not know.
    UnknownKey,
}

/// A request signed once, sent as many times as the bench needs: the
/// signature stays valid for the 15 minutes of allowed clock skew.
struct Prepared {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    fn new(method: Method, path: &str, body: Bytes, extra: &[(&'static str, &str)], signer: Signer<'_>) -> Prepared {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("http://{HOST}{path}"))
            .header(http::header::HOST, HOST)
            .body(())
            .unwrap();
        if method == Method::PUT {
            request
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, body.len().into());
        }
        for (name, value) in extra {
            request
                .headers_mut()
                .insert(*name, http::HeaderValue::from_str(value).unwrap());
        }
        let (access_key, secret_key, payload) = match signer {
            Signer::Anonymous => (None, "", Payload::Unsigned),
            Signer::Key(secret, payload) => (Some(ACCESS_KEY), secret, payload),
            Signer::UnknownKey => (Some("AKIACOFFERBENCHNOKEY"), SECRET_KEY, Payload::Hashed),
        };
        if let Some(access_key) = access_key {
            let mut settings = SigningSettings::default();
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            let identity = Credentials::new(access_key, secret_key, None, None, "bench").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(REGION)
                .name("s3")
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .unwrap()
                .into();
            let signable_body = match payload {
                Payload::Hashed => SignableBody::Bytes(&body),
                Payload::Unsigned => SignableBody::UnsignedPayload,
            };
            let headers = request
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), value.to_str().unwrap()));
            let signable =
                SignableRequest::new(method.as_str(), request.uri().to_string(), headers, signable_body).unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            instructions.apply_to_request_http1x(&mut request);
        }
        Prepared {
            method,
            path: path.to_owned(),
            headers: request.headers().clone(),
            body,
        }
    }

    /// The request as hyper hands it to the service: origin-form target,
    /// headers as sent, the body in memory.
    fn request(&self) -> Request<Body> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .body(Body::from(self.body.clone()))
            .unwrap();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

fn payload(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

/// SigV4 on its own: two requests s3s refuses, the second after computing
/// the signature (see the module's documentation).
fn sigv4(c: &mut Criterion) {
    // Started on first use, so that a run filtered to other benches skips it.
    let started = std::cell::OnceCell::new();
    let fixture = || started.get_or_init(start);
    let path = format!("/{BUCKET}/private");
    let mut group = c.benchmark_group("sigv4_get");
    group.bench_function("refused_unknown_access_key", |b| {
        let fixture = fixture();
        let get = Prepared::new(Method::GET, &path, Bytes::new(), &[], Signer::UnknownKey);
        assert_eq!(fixture.refusal(&get), "InvalidAccessKeyId");
        b.iter(|| black_box(fixture.expect(&get, StatusCode::FORBIDDEN)))
    });
    group.bench_function("refused_signature_mismatch", |b| {
        let fixture = fixture();
        let wrong = "wrongBenchSecretKey00000000000000000000a";
        let get = Prepared::new(
            Method::GET,
            &path,
            Bytes::new(),
            &[],
            Signer::Key(wrong, Payload::Hashed),
        );
        assert_eq!(fixture.refusal(&get), "SignatureDoesNotMatch");
        b.iter(|| black_box(fixture.expect(&get, StatusCode::FORBIDDEN)))
    });
    group.finish();
}

/// Whole requests: HEAD and GET of a 4 KiB object, signed and anonymous
/// (the anonymous one reads the public object, so the access hook also
/// looks at its ACL), and PUTs with the payload's SHA-256 signed (s3s hashes
/// the body as it streams) or `UNSIGNED-PAYLOAD`.
fn requests(c: &mut Criterion) {
    // Started on first use, so that a run filtered to other benches skips it.
    let started = std::cell::OnceCell::new();
    let fixture = || started.get_or_init(start);
    let mut group = c.benchmark_group("s3_request");
    group.throughput(Throughput::Elements(1));
    for (method, name) in [(Method::HEAD, "head_4KiB"), (Method::GET, "get_4KiB")] {
        group.bench_function(BenchmarkId::new(name, "signed"), |b| {
            let fixture = fixture();
            let signer = Signer::Key(SECRET_KEY, Payload::Hashed);
            let req = Prepared::new(method.clone(), &format!("/{BUCKET}/private"), Bytes::new(), &[], signer);
            b.iter(|| black_box(fixture.expect(&req, StatusCode::OK)))
        });
        group.bench_function(BenchmarkId::new(name, "anonymous"), |b| {
            let fixture = fixture();
            let path = format!("/{BUCKET}/public");
            let req = Prepared::new(method.clone(), &path, Bytes::new(), &[], Signer::Anonymous);
            b.iter(|| black_box(fixture.expect(&req, StatusCode::OK)))
        });
    }
    for (len, size) in [(4usize << 10, "4KiB"), (1 << 20, "1MiB")] {
        let body = payload(len);
        group.throughput(Throughput::Bytes(len as u64));
        for (payload, how) in [
            (Payload::Hashed, "signed_payload"),
            (Payload::Unsigned, "unsigned_payload"),
        ] {
            group.bench_function(BenchmarkId::new(format!("put_{size}"), how), |b| {
                let fixture = fixture();
                let path = format!("/{BUCKET}/put-{size}-{how}");
                let signer = Signer::Key(SECRET_KEY, payload);
                let req = Prepared::new(Method::PUT, &path, body.clone(), &[], signer);
                b.iter(|| black_box(fixture.expect(&req, StatusCode::OK)))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole suite must stay within a couple of minutes on
    // a 2-core machine. `--measurement-time` and `--quick` still apply.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
    targets = sigv4, requests
}
criterion_main!(benches);
