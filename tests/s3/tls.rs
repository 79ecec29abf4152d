//! HTTPS (`--tls-cert`, `--tls-key`): S3 over TLS with the SDK, the
//! certificate swapped on SIGHUP for new connections while open ones go on, a
//! bad certificate refused at startup and left out on reload, and
//! `aws:SecureTransport` in bucket policies.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::common::*;

/// A reload is one file read and a pointer swap; this is for a loaded machine.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// A self-signed certificate for 127.0.0.1 and its key.
struct Identity {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn identity(common_name: &str, serial: u64) -> Identity {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    params.serial_number = Some(serial.into());
    let cert = params.self_signed(&key).unwrap();
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// The certificate and key files a server is started with.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(identity: &Identity) -> Files {
        let dir = tempfile::Builder::new().prefix("coffer-tls-test").tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        files.write(&identity.cert_pem, &identity.key_pem);
        files
    }

    fn write(&self, cert_pem: &str, key_pem: &str) {
        std::fs::write(&self.cert, cert_pem).unwrap();
        std::fs::write(&self.key, key_pem).unwrap();
    }

    fn args(&self) -> [&str; 4] {
        [
            "--tls-cert",
            self.cert.to_str().unwrap(),
            "--tls-key",
            self.key.to_str().unwrap(),
        ]
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS connection to `addr` that trusts only `trusted` (DER), handshake done.
fn connect(addr: SocketAddr, trusted: &[u8]) -> std::io::Result<TlsStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(trusted.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// The certificate the server presented on `stream`.
fn presented(stream: &TlsStream) -> Vec<u8> {
    stream.conn.peer_certificates().expect("a server certificate")[0].to_vec()
}

/// A signed GET of `path` on `stream`, leaving the connection open.
fn get_on(stream: &mut TlsStream, server: &Server, path: &str) -> RawResponse {
    let mut headers = Vec::new();
    let target = server.signer().sign(
        "GET",
        path,
        &[],
        &mut headers,
        &server.host(),
        EMPTY_SHA256,
        SystemTime::now(),
    );
    let mut head = format!("GET {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
    read_response(stream, false)
}

fn hang_up(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until the server's log says `line` `count` times.
fn wait_for_log(server: &Server, line: &str, count: usize) {
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    while server.server_log().matches(line).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {count}× {line:?} in the log:\n{}",
            server.server_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn s3_over_https_with_the_sdk() {
    let first = identity("coffer test one", 1);
    let files = Files::new(&first);
    let server = Server::start_with_args(&files.args());
    assert!(server.endpoint.starts_with("https://127.0.0.1:"), "{}", server.endpoint);
    assert!(
        server.stdout_lines.lock().unwrap()[0].starts_with("coffer listening on https://"),
        "{:?}",
        server.stdout_lines
    );

    let client = make_tls_client(&server.endpoint, &server.region, &first.cert_pem);
    let bucket = bucket_name("tls");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let body = pseudo_random_bytes(7, 300_000);
    client
        .put_object()
        .bucket(&bucket)
        .key("over/tls")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let got = client
        .get_object()
        .bucket(&bucket)
        .key("over/tls")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(server.addr).unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: coffer\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));

    // A client that does not trust the certificate is refused.
    let stranger = identity("coffer test stranger", 9);
    assert!(connect(server.addr, &stranger.der).is_err());
}

#[tokio::test]
async fn sighup_swaps_the_certificate_for_new_connections_and_keeps_open_ones() {
    let first = identity("coffer test one", 1);
    let second = identity("coffer test two", 2);
    let files = Files::new(&first);
    let server = Server::start_with_args(&files.args());
    let client = make_tls_client(&server.endpoint, &server.region, &first.cert_pem);
    let bucket = bucket_name("reload");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let path = format!("/{bucket}/k");

    let mut open = connect(server.addr, &first.der).unwrap();
    assert_eq!(presented(&open), first.der);
    let before = get_on(&mut open, &server, &path);
    assert_eq!((before.status, before.body.as_slice()), (200, &b"kept"[..]), "{before}");

    files.write(&second.cert_pem, &second.key_pem);
    hang_up(&server);
    wait_for_log(&server, "reloaded the TLS certificate", 1);
    let fresh = connect(server.addr, &second.der).expect("a new connection gets the new certificate");
    assert_eq!(
        presented(&fresh),
        second.der,
        "the new certificate: serial 2, CN coffer test two"
    );
    assert!(
        connect(server.addr, &first.der).is_err(),
        "only the new certificate is presented"
    );

    // The connection opened before the reload goes on, under the old one.
    let after = get_on(&mut open, &server, &path);
    assert_eq!((after.status, after.body.as_slice()), (200, &b"kept"[..]), "{after}");
    assert_eq!(presented(&open), first.der);

    // SDK clients trusting the new certificate work as before.
    let client = make_tls_client(&server.endpoint, &server.region, &second.cert_pem);
    let got = client.get_object().bucket(&bucket).key("k").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"kept");
}

#[test]
fn a_bad_certificate_on_reload_is_logged_and_the_old_one_kept() {
    let first = identity("coffer test one", 1);
    let files = Files::new(&first);
    let server = Server::start_with_args(&files.args());

    // A certificate whose key has not been replaced yet.
    let second = identity("coffer test two", 2);
    files.write(&second.cert_pem, &first.key_pem);
    hang_up(&server);
    wait_for_log(&server, "keeping the TLS certificate in use", 1);
    // Not PEM at all.
    files.write("not a certificate\n", &first.key_pem);
    hang_up(&server);
    wait_for_log(&server, "keeping the TLS certificate in use", 2);

    let log = server.server_log();
    assert!(log.contains("pairing the TLS private key"), "{log}");
    assert!(log.contains("no certificate (PEM `BEGIN CERTIFICATE`)"), "{log}");
    let stream = connect(server.addr, &first.der).expect("the old certificate is still served");
    assert_eq!(presented(&stream), first.der);
}

#[test]
fn a_bad_certificate_at_startup_stops_the_server() {
    let first = identity("coffer test one", 1);
    let second = identity("coffer test two", 2);
    let files = Files::new(&first);
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let args = |files: &Files| {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
        ];
        args.extend(files.args());
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_to_exit(serve_command(&args, &[]))
    };

    files.write(&first.cert_pem, &second.key_pem);
    let (status, stderr) = run(args(&files));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pairing the TLS private key"), "{stderr}");

    std::fs::remove_file(&files.cert).unwrap();
    let (status, stderr) = run(args(&files));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("reading the TLS certificate {}", files.cert.display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn policies_see_secure_transport_over_tls() {
    let first = identity("coffer test one", 1);
    let files = Files::new(&first);
    let server = Server::start_with_args(&files.args());
    let client = make_tls_client(&server.endpoint, &server.region, &first.cert_pem);
    let bucket = bucket_name("secure");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    client
        .put_object()
        .bucket(&bucket)
        .key("public")
        .body(ByteStream::from_static(b"over tls only"))
        .send()
        .await
        .unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::{bucket}/*","Condition":{{"Bool":{{"aws:SecureTransport":"true"}}}}}}]}}"#
    );
    client
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(policy)
        .send()
        .await
        .unwrap();

    let mut stream = connect(server.addr, &first.der).unwrap();
    let request = format!(
        "GET /{bucket}/public HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.host()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let anonymous = read_response(&mut stream, false);
    assert_eq!(
        (anonymous.status, anonymous.body.as_slice()),
        (200, &b"over tls only"[..]),
        "{anonymous}"
    );
}

#[test]
fn tls_from_the_config_file_with_paths_relative_to_it() {
    let first = identity("coffer test one", 1);
    let files = Files::new(&first);
    let dir = files.cert.parent().unwrap();
    let config = dir.join("coffer.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\
         tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
    )
    .unwrap();
    let mut cmd = serve_command(&["--config", config.to_str().unwrap()], &[]);
    cmd.current_dir("/");
    let server = Running(spawn_command(cmd, dir));
    assert!(server.0.endpoint.starts_with("https://"), "{}", server.0.endpoint);
    let stream = connect(server.0.addr, &first.der).unwrap();
    assert_eq!(presented(&stream), first.der);
}

#[tokio::test]
async fn sighup_without_tls_leaves_the_server_running() {
    let server = Server::start_with_args(&[]);
    hang_up(&server);
    wait_for_log(&server, "SIGHUP: nothing to reload without TLS", 1);
    server.client.list_buckets().send().await.unwrap();
}
