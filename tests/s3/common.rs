//! Test harness: spawns the real `coffer` binary, builds SDK clients, and
//! provides a hand-written HTTP/1.1 client plus a small SigV4 signer for raw
//! (malformed / anonymous / streaming) requests.

#![allow(dead_code)]

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;

pub const ACCESS_KEY: &str = "COFFERTESTACCESSKEY1";
pub const SECRET_KEY: &str = "coffer/test/secret/key/0123456789abcdefXYZ";
pub const REGION: &str = "us-east-1";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub endpoint: String,
    /// The admin API (`coffer admin --endpoint`).
    pub admin_endpoint: String,
    pub region: String,
    pub data_dir: PathBuf,
    /// Holds the temp directory (data dir + logs) alive.
    root: Arc<tempfile::TempDir>,
    pub stdout_lines: Arc<Mutex<Vec<String>>>,
    log_path: PathBuf,
    pub client: Client,
    /// Whether root keys were passed through the environment.
    env_keys: bool,
    /// More `coffer serve` arguments, kept for restarts.
    extra_args: Vec<String>,
}

static SPAWN_COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Spawned {
    pub child: Child,
    pub addr: SocketAddr,
    pub endpoint: String,
    /// The admin API (`coffer admin --endpoint`).
    pub admin_endpoint: String,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub log_path: PathBuf,
}

/// Spawn `coffer serve` and wait for the listening line.
pub fn spawn_coffer(data_dir: &Path, log_dir: &Path, region: Option<&str>, env_keys: bool) -> Spawned {
    spawn_coffer_with(data_dir, log_dir, region, env_keys, &[])
}

/// [`spawn_coffer`] with more `coffer serve` arguments.
pub fn spawn_coffer_with(
    data_dir: &Path,
    log_dir: &Path,
    region: Option<&str>,
    env_keys: bool,
    extra_args: &[String],
) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--admin-listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir);
    if let Some(r) = region {
        cmd.arg("--region").arg(r);
    }
    cmd.args(extra_args);
    // Most suites look at the data files objects leave: there, every object
    // gets one. The suites of small objects kept inline pass the flag.
    if !extra_args.iter().any(|arg| arg == "--inline-max-bytes") {
        cmd.arg("--inline-max-bytes").arg("0");
    }
    cmd.env_remove("COFFER_ACCESS_KEY").env_remove("COFFER_SECRET_KEY");
    if env_keys {
        cmd.env("COFFER_ACCESS_KEY", ACCESS_KEY)
            .env("COFFER_SECRET_KEY", SECRET_KEY);
    }
    spawn_command(cmd, log_dir)
}

/// Spawn `cmd`, a `coffer serve` command line, with its stderr in a log file
/// in `log_dir`, and wait for the listening line.
pub fn spawn_command(mut cmd: Command, log_dir: &Path) -> Spawned {
    let n = SPAWN_COUNTER.fetch_add(1, Ordering::SeqCst);
    let log_path = log_dir.join(format!("server-{n}.stderr.log"));
    let log = std::fs::File::create(&log_path).expect("create server log");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log));
    let mut child = cmd.spawn().expect("spawn coffer binary");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            let reader = BufReader::new(stdout);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut endpoint = None;
    let admin_endpoint = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(pos) = line.find("coffer listening on http") {
                    endpoint = Some(line[pos + "coffer listening on ".len()..].trim().to_string());
                }
                if let Some(pos) = line.find("coffer admin API on http://") {
                    break line[pos + "coffer admin API on ".len()..].trim().to_string();
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "coffer did not print its listening line within {STARTUP_TIMEOUT:?}\nstdout: {:?}\nstderr:\n{log}",
                    lines.lock().unwrap()
                );
            }
        }
    };
    let endpoint = endpoint.expect("the listening line comes before the admin line");
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let hostport = endpoint
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_string();
    let addr = hostport
        .to_socket_addrs()
        .expect("parse listen address")
        .next()
        .expect("listen address");
    Spawned {
        child,
        addr,
        endpoint,
        admin_endpoint,
        lines,
        log_path,
    }
}

pub fn make_client(endpoint: &str, region: &str, access: &str, secret: &str) -> Client {
    Client::from_conf(client_config(endpoint, region, access, secret).build())
}

/// The configuration of the tests' SDK clients, to build on.
pub fn client_config(endpoint: &str, region: &str, access: &str, secret: &str) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access, secret, None, None, "coffer-tests"))
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(240))
                .build(),
        )
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(None, true)
    }

    pub fn start_with(region: Option<&str>, env_keys: bool) -> Server {
        let root = Arc::new(
            tempfile::Builder::new()
                .prefix("coffer-s3-test")
                .tempdir()
                .expect("tempdir"),
        );
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        Self::start_on(root, data_dir, region, env_keys, Vec::new())
    }

    /// A server started with more `coffer serve` arguments.
    pub fn start_with_args(extra_args: &[&str]) -> Server {
        let root = Arc::new(
            tempfile::Builder::new()
                .prefix("coffer-s3-test")
                .tempdir()
                .expect("tempdir"),
        );
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let extra_args = extra_args.iter().map(|arg| arg.to_string()).collect();
        Self::start_on(root, data_dir, None, true, extra_args)
    }

    fn start_on(
        root: Arc<tempfile::TempDir>,
        data_dir: PathBuf,
        region: Option<&str>,
        env_keys: bool,
        extra_args: Vec<String>,
    ) -> Server {
        let sp = spawn_coffer_with(&data_dir, root.path(), region, env_keys, &extra_args);
        let region = region.unwrap_or(REGION).to_string();
        let client = make_client(&sp.endpoint, &region, ACCESS_KEY, SECRET_KEY);
        Server {
            child: Some(sp.child),
            addr: sp.addr,
            endpoint: sp.endpoint,
            admin_endpoint: sp.admin_endpoint,
            region,
            data_dir,
            root,
            stdout_lines: sp.lines,
            log_path: sp.log_path,
            client,
            env_keys,
            extra_args,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGKILL the server and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send SIGTERM and wait (up to `timeout`) for exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal_and_wait("-TERM", timeout)
    }

    pub fn signal_and_wait(&mut self, sig: &str, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take().expect("server running");
        let st = Command::new("kill")
            .arg(sig)
            .arg(c.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill {sig} failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start a new server process on the same data directory (the old one
    /// must have been stopped). Returns a new `Server` sharing the temp dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server before restarting");
        let sp = spawn_coffer_with(
            &self.data_dir,
            self.root.path(),
            Some(&self.region),
            self.env_keys,
            &self.extra_args,
        );
        self.client = make_client(&sp.endpoint, &self.region, ACCESS_KEY, SECRET_KEY);
        self.child = Some(sp.child);
        self.addr = sp.addr;
        self.endpoint = sp.endpoint;
        self.admin_endpoint = sp.admin_endpoint;
        self.stdout_lines = sp.lines;
        self.log_path = sp.log_path;
    }

    /// Restarts with `extra_args` in place of the `coffer serve` arguments it
    /// had (the old process must have been stopped).
    pub fn restart_with_args(&mut self, extra_args: &[&str]) {
        self.extra_args = extra_args.iter().map(|arg| arg.to_string()).collect();
        self.restart();
    }

    /// Waits up to `timeout` for the server to exit on its own.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("server running");
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client_with(&self, access: &str, secret: &str) -> Client {
        make_client(&self.endpoint, &self.region, access, secret)
    }

    pub fn signer(&self) -> Signer {
        Signer::new(ACCESS_KEY, SECRET_KEY, &self.region)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// Unique bucket name within this test binary.
    pub async fn new_bucket(&self, prefix: &str) -> String {
        let b = bucket_name(prefix);
        self.client
            .create_bucket()
            .bucket(&b)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {b}: {e:?}"));
        b
    }

    pub async fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) -> String {
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
        out.e_tag().unwrap_or_default().to_string()
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// Perform a raw request signed with the root credentials (SigV4 header auth, signed payload).
    pub fn signed(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let mut h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let payload_hash = sha256_hex(body);
        let target = self.signer().sign(
            method,
            path,
            query,
            &mut h,
            &self.host(),
            &payload_hash,
            SystemTime::now(),
        );
        raw_request(self.addr, method, &target, &h, body)
    }

    /// Raw request without any authentication.
    pub fn anonymous(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
        let h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        raw_request(self.addr, method, target, &h, body)
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.server_log();
            let tail: String = log
                .chars()
                .rev()
                .take(4000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprintln!("---- coffer stderr (tail) ----\n{tail}\n------------------------------");
        }
        self.kill();
    }
}

static BUCKET_COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn bucket_name(prefix: &str) -> String {
    let n = BUCKET_COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    let mut p: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    p.truncate(30);
    format!("{p}-{n}-{:x}", nanos & 0xfffff)
}

// ---------------------------------------------------------------------------
// SDK error helpers
// ---------------------------------------------------------------------------

pub fn err_status<E>(e: &SdkError<E, HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

pub fn err_code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> String {
    e.code().unwrap_or("").to_string()
}

/// Assert an SDK call failed with the given HTTP status and (if non-empty) S3 error code.
#[track_caller]
pub fn expect_err<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
    status: u16,
    code: &str,
) -> SdkError<E, HttpResponse> {
    match r {
        Ok(v) => panic!("expected error {status} {code}, got success: {v:?}"),
        Err(e) => {
            let got_status = err_status(&e);
            let got_code = err_code(&e);
            assert_eq!(
                got_status, status,
                "wrong HTTP status (code {got_code:?}); error: {e:?}"
            );
            if !code.is_empty() {
                assert_eq!(got_code, code, "wrong S3 error code; error: {e:?}");
            }
            e
        }
    }
}

// ---------------------------------------------------------------------------
// Hashing helpers
// ---------------------------------------------------------------------------

/// The completion of an upload of one part, part 1 with ETag `e_tag`.
pub fn one_part(e_tag: &str) -> aws_sdk_s3::types::CompletedMultipartUpload {
    aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(e_tag)
                .build(),
        )
        .build()
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

pub fn md5_b64(data: &[u8]) -> String {
    b64(&Md5::digest(data))
}

pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(data))
}

pub fn sha256_b64(data: &[u8]) -> String {
    use sha2::Digest;
    b64(&Sha256::digest(data))
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn crc32_table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
        }
        *e = c;
    }
    t
}

/// Incremental reflected CRC-32 family (CRC32 and CRC32C).
pub struct Crc32 {
    table: [u32; 256],
    crc: u32,
}

impl Crc32 {
    pub fn ieee() -> Self {
        Crc32 {
            table: crc32_table(0xEDB8_8320),
            crc: 0xFFFF_FFFF,
        }
    }
    pub fn castagnoli() -> Self {
        Crc32 {
            table: crc32_table(0x82F6_3B78),
            crc: 0xFFFF_FFFF,
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.crc;
        for &b in data {
            c = self.table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
        self.crc = c;
    }
    pub fn finish(&self) -> u32 {
        self.crc ^ 0xFFFF_FFFF
    }
    pub fn b64(&self) -> String {
        b64(&self.finish().to_be_bytes())
    }
}

pub fn crc32_b64(data: &[u8]) -> String {
    let mut c = Crc32::ieee();
    c.update(data);
    c.b64()
}

pub fn crc32c_b64(data: &[u8]) -> String {
    let mut c = Crc32::castagnoli();
    c.update(data);
    c.b64()
}

/// Deterministic pseudo-random bytes (xorshift64*), never all zeros.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------
// Filesystem helpers
// ---------------------------------------------------------------------------

/// Count regular files (recursively) under `dir`; 0 if missing.
pub fn count_files(dir: &Path) -> usize {
    list_files(dir).len()
}

pub fn list_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            out.extend(list_files(&e.path()));
        } else if ft.is_file() {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((e.path(), len));
        }
    }
    out
}

pub fn dir_bytes(dir: &Path) -> u64 {
    list_files(dir).iter().map(|(_, l)| *l).sum()
}

/// Poll `f` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 client
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Text content of the first `<tag>...</tag>` in the body.
    pub fn xml(&self, tag: &str) -> Option<String> {
        xml_tag(&self.text(), tag)
    }
    /// Assert this is an S3 error response with the given status and code.
    #[track_caller]
    pub fn assert_s3_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "unexpected status; response: {self}");
        let rid = self.header("x-amz-request-id");
        assert!(
            rid.is_some_and(|v| !v.is_empty()),
            "missing x-amz-request-id; response: {self}"
        );
        assert_eq!(
            self.xml("Code").as_deref(),
            Some(code),
            "wrong error code; response: {self}"
        );
        assert!(self.text().contains("<Error>"), "no <Error> element; response: {self}");
        assert!(self.xml("Message").is_some(), "no <Message>; response: {self}");
        assert!(self.text().contains("<RequestId>"), "no <RequestId>; response: {self}");
    }
}

impl std::fmt::Display for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {v}")?;
        }
        let t = self.text();
        let t: String = t.chars().take(2000).collect();
        write!(f, "\n{t}")
    }
}

pub fn xml_tag(s: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = s.find(&open)? + open.len();
    let end = s[start..].find(&close)? + start;
    Some(s[start..end].to_string())
}

pub fn xml_tags(s: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(p) = rest.find(&open) {
        let after = &rest[p + open.len()..];
        let Some(e) = after.find(&close) else { break };
        out.push(after[..e].to_string());
        rest = &after[e + close.len()..];
    }
    out
}

fn build_head(method: &str, target: &str, host: &str, headers: &[(String, String)], body_len: usize) -> Vec<u8> {
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_cl = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if !has_cl && (body_len > 0 || method == "PUT" || method == "POST") {
        req.push_str(&format!("Content-Length: {body_len}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    req.into_bytes()
}

/// Send one HTTP/1.1 request (Connection: close) and read the whole response.
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut data = build_head(method, target, &addr.to_string(), headers, body.len());
    data.extend_from_slice(body);
    // The server may answer (and close) before reading the whole body; ignore write errors.
    let _ = s.write_all(&data);
    let _ = s.flush();
    read_response(&mut s, method == "HEAD")
}

pub fn read_response(s: &mut impl Read, head: bool) -> RawResponse {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    // Read until headers complete.
    let header_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        match s.read(&mut tmp) {
            Ok(0) => panic!(
                "connection closed before a complete response head was received (got {} bytes: {:?})",
                buf.len(),
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) => panic!(
                "error reading response head: {e} (got {:?})",
                String::from_utf8_lossy(&buf)
            ),
        }
    };
    let head_str = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head_str.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut rest = buf[header_end + 4..].to_vec();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            if let Some(b) = try_dechunk(&rest) {
                break b;
            }
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => panic!("connection closed inside chunked body"),
                Ok(n) => rest.extend_from_slice(&tmp[..n]),
            }
        }
    } else if let Some(cl) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < cl {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => {
                    panic!("connection closed after {} of {cl} body bytes", rest.len())
                }
                Ok(n) => rest.extend_from_slice(&tmp[..n]),
            }
        }
        rest.truncate(cl);
        rest
    } else {
        loop {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&tmp[..n]),
            }
        }
        rest
    };
    RawResponse { status, headers, body }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn try_dechunk(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let le = find(&data[i..], b"\r\n")? + i;
        let size_str = String::from_utf8_lossy(&data[i..le]).into_owned();
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).ok()?;
        i = le + 2;
        if size == 0 {
            // skip trailers until empty line
            loop {
                let le = find(&data[i..], b"\r\n")? + i;
                if le == i {
                    return Some(out);
                }
                i = le + 2;
            }
        }
        if data.len() < i + size + 2 {
            return None;
        }
        out.extend_from_slice(&data[i..i + size]);
        i += size + 2;
    }
}

/// Send a request to a full URL as produced by the presigner (host must be ours).
pub fn raw_url_request(
    addr: SocketAddr,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let rest = url.strip_prefix("http://").expect("http url");
    let slash = rest.find('/').unwrap_or(rest.len());
    let target = if slash == rest.len() {
        "/".to_string()
    } else {
        rest[slash..].to_string()
    };
    let host = &rest[..slash];
    let mut h = vec![("Host".to_string(), host.to_string())];
    h.extend(headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("host")).cloned());
    raw_request(addr, method, &target, &h, body)
}

// ---------------------------------------------------------------------------
// SigV4 signer
// ---------------------------------------------------------------------------

pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub struct Signer {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// The service the credential scope names; `s3` but for attack tests.
    pub service: String,
}

/// S3-style URI encoding (RFC 3986 unreserved characters kept).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        if b[i] == b'+' && plus_as_space {
            out.push(b' ');
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf8 after decode")
}

/// (YYYYMMDDTHHMMSSZ, YYYYMMDD)
pub fn amz_date(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let date = format!("{y:04}{m:02}{d:02}");
    let full = format!("{date}T{:02}{:02}{:02}Z", sod / 3600, (sod % 3600) / 60, sod % 60);
    (full, date)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = (z - era * 146097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Signer {
    pub fn new(access: &str, secret: &str, region: &str) -> Signer {
        Signer {
            access_key: access.into(),
            secret_key: secret.into(),
            region: region.into(),
            service: "s3".into(),
        }
    }

    pub fn scope(&self, date: &str) -> String {
        format!("{date}/{}/{}/aws4_request", self.region, self.service)
    }

    pub fn signing_key(&self, date: &str) -> Vec<u8> {
        let k = hmac_sha256(format!("AWS4{}", self.secret_key).as_bytes(), date.as_bytes());
        let k = hmac_sha256(&k, self.region.as_bytes());
        let k = hmac_sha256(&k, self.service.as_bytes());
        hmac_sha256(&k, b"aws4_request")
    }

    /// Canonical query string, and the request-target query in the same encoding.
    fn query_parts(query: &[(&str, &str)]) -> (String, String) {
        let mut enc: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        enc.sort();
        let canonical = enc
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let target = query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    uri_encode(k, false)
                } else {
                    format!("{}={}", uri_encode(k, false), uri_encode(v, false))
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        (canonical, target)
    }

    /// Signs a request in place: adds Host, x-amz-date, x-amz-content-sha256 and
    /// Authorization headers. `path` is the raw (unencoded) path, e.g. "/bucket/my key".
    /// Returns the request target (encoded path + query) to send, and leaves the
    /// seed signature retrievable through `sign_full`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &mut Vec<(String, String)>,
        host: &str,
        payload_hash: &str,
        now: SystemTime,
    ) -> String {
        self.sign_full(method, path, query, headers, host, payload_hash, now).0
    }

    /// Like `sign`, returning (target, seed signature, amz date, short date).
    #[allow(clippy::too_many_arguments)]
    pub fn sign_full(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &mut Vec<(String, String)>,
        host: &str,
        payload_hash: &str,
        now: SystemTime,
    ) -> (String, String, String, String) {
        let (amz, date) = amz_date(now);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            headers.insert(0, ("Host".into(), host.into()));
        }
        headers.push(("x-amz-date".into(), amz.clone()));
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
        {
            headers.push(("x-amz-content-sha256".into(), payload_hash.into()));
        }
        let enc_path = uri_encode(path, true);
        let (canon_q, target_q) = Self::query_parts(query);
        let mut canon_h: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                k == "host" || k.starts_with("x-amz-") || k == "content-type" || k == "content-md5"
            })
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect();
        canon_h.sort();
        let signed_headers = canon_h.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
        let canon_headers: String = canon_h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical_request =
            format!("{method}\n{enc_path}\n{canon_q}\n{canon_headers}\n{signed_headers}\n{payload_hash}");
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz}\n{}\n{}",
            self.scope(&date),
            sha256_hex(canonical_request.as_bytes())
        );
        let sig = hex::encode(hmac_sha256(&self.signing_key(&date), sts.as_bytes()));
        headers.push((
            "Authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={signed_headers}, Signature={sig}",
                self.access_key,
                self.scope(&date)
            ),
        ));
        let target = if target_q.is_empty() {
            enc_path
        } else {
            format!("{enc_path}?{target_q}")
        };
        (target, sig, amz, date)
    }

    /// Signature of one aws-chunked chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
    pub fn chunk_signature(&self, amz: &str, date: &str, prev_sig: &str, data: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{amz}\n{}\n{prev_sig}\n{EMPTY_SHA256}\n{}",
            self.scope(date),
            sha256_hex(data)
        );
        hex::encode(hmac_sha256(&self.signing_key(date), sts.as_bytes()))
    }
}

/// Build a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body. `corrupt_chunk` replaces
/// the signature of that chunk index with garbage.
pub fn signed_chunked_body(
    signer: &Signer,
    amz: &str,
    date: &str,
    seed: &str,
    data: &[u8],
    chunk_size: usize,
    corrupt_chunk: Option<usize>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = seed.to_string();
    let mut chunks: Vec<&[u8]> = data.chunks(chunk_size).collect();
    chunks.push(&[]);
    for (i, c) in chunks.iter().enumerate() {
        let mut sig = signer.chunk_signature(amz, date, &prev, c);
        prev = sig.clone();
        if corrupt_chunk == Some(i) {
            sig = "0".repeat(64);
        }
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Compute the encoded length of a signed aws-chunked body without building it.
pub fn signed_chunked_len(data_len: usize, chunk_size: usize) -> usize {
    let mut total = 0;
    let mut left = data_len;
    loop {
        let n = left.min(chunk_size);
        total += format!("{n:x}").len() + ";chunk-signature=".len() + 64 + 2 + n + 2;
        if n == 0 {
            break;
        }
        left -= n;
    }
    total
}

// ---------------------------------------------------------------------------
// Users, through `coffer admin`
// ---------------------------------------------------------------------------

/// Runs `coffer admin` against the server's admin API with the given keys;
/// returns its stdout, or its stderr as the error.
pub fn admin(server: &Server, keys: (&str, &str), args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("admin")
        .arg("--endpoint")
        .arg(&server.admin_endpoint)
        .args(args)
        .env("COFFER_ACCESS_KEY", keys.0)
        .env("COFFER_SECRET_KEY", keys.1)
        .output()
        .expect("run coffer admin");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

pub fn root_admin(server: &Server, args: &[&str]) -> String {
    admin(server, (ACCESS_KEY, SECRET_KEY), args).unwrap_or_else(|err| panic!("coffer admin {args:?}: {err}"))
}

pub fn add_user(server: &Server, name: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    root_admin(
        server,
        &[
            "user",
            "add",
            name,
            "--access-key",
            access_key,
            "--secret-key",
            secret_key,
        ],
    );
    make_client(&server.endpoint, &server.region, access_key, secret_key)
}

// ---------------------------------------------------------------------------
// `coffer serve` with a command line of the test's own
// ---------------------------------------------------------------------------

/// `coffer serve` with only the arguments and `COFFER_*` variables a test
/// gives it: variables set where the tests run must not leak into it.
pub fn serve_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("serve").args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("COFFER_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// A server spawned by [`spawn_command`], killed when dropped however the
/// test ends.
pub struct Running(pub Spawned);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

/// A server refusing to start must do so before it binds anything.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `cmd`, a `coffer serve` expected to refuse to start, to its exit:
/// its status and its stderr.
pub fn run_to_exit(mut cmd: Command) -> (ExitStatus, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer");
    let deadline = Instant::now() + REFUSAL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("coffer did not exit within {REFUSAL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stderr)
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/// An SDK client of a server serving HTTPS that trusts only the certificate
/// `ca_pem` (PEM), and signs with the root keys.
pub fn make_tls_client(endpoint: &str, region: &str, ca_pem: &str) -> Client {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let trust = TrustStore::empty().with_pem_certificate(ca_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(TlsContext::builder().with_trust_store(trust).build().unwrap())
        .build_https();
    Client::from_conf(
        client_config(endpoint, region, ACCESS_KEY, SECRET_KEY)
            .http_client(http)
            .build(),
    )
}
