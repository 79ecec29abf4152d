//! Request-rate fairness: 1,000 keep-alive connections that each send
//! requests as fast as they are answered must all be served, none starved
//! by the others, and a client arriving meanwhile must still get through.
//!
//! This is a test, not a benchmark: it asserts no rate or latency, only that
//! every connection gets answers while all of them are busy. It ends as soon
//! as the slowest connection has had its answers; the deadline only turns a
//! starved connection into a failure instead of a hang.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Connections open at once, each sending requests back to back.
const CONNECTIONS: usize = 1000;
/// Answers every connection must get while all of them are busy.
const ANSWERS_EACH: usize = 3;
/// How long the slowest connection may take to get them: long enough never
/// to matter unless a connection is starved (all have theirs in about 3 s
/// with the debug build on two shared cores), short enough to fail instead
/// of hanging.
const DEADLINE: Duration = Duration::from_secs(25);
/// The object every connection reads.
const BODY: &[u8] = b"fair share, sixteen times over\n";

/// File descriptors the test needs: one socket per connection here, and as
/// many in the server, which inherits this process's limit; with room for
/// the tests running beside it.
const OPEN_FILES_NEEDED: u64 = CONNECTIONS as u64 + 512;
/// The soft limit the test asks for, within the hard one.
const OPEN_FILES_WANTED: u64 = 8192;

/// Raises this process's soft limit on open files (which the server it
/// spawns inherits), within the hard limit: many systems start shells with
/// a soft limit of 1024, too few for 1,000 connections.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    let wanted = OPEN_FILES_WANTED.min(limit.rlim_max);
    assert!(
        wanted >= OPEN_FILES_NEEDED,
        "this test opens {CONNECTIONS} connections and needs {OPEN_FILES_NEEDED} open files; \
         the hard limit (ulimit -Hn) is {}",
        limit.rlim_max
    );
    if limit.rlim_cur < wanted {
        limit.rlim_cur = wanted;
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    }
}

/// A request, signed once (SigV4 in headers, valid for 15 minutes from its
/// date) and sent as is, again and again, on a keep-alive connection.
fn signed_request(s: &Server, method: &str, path: &str) -> Vec<u8> {
    let mut headers = Vec::new();
    let target = s.signer().sign(
        method,
        path,
        &[],
        &mut headers,
        &s.host(),
        EMPTY_SHA256,
        SystemTime::now(),
    );
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Reads one response from a keep-alive connection: its status and body
/// (the server gives every response here a Content-Length).
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>, head: bool) -> std::io::Result<(u16, Vec<u8>)> {
    let broken = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head_text = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let status = head_text
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| broken(format!("a status line: {head_text}")))?;
    let length: usize = if head {
        0
    } else {
        head_text
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| broken(format!("a Content-Length: {head_text}")))?
    };
    while buffer.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[header_end..header_end + length].to_vec();
    buffer.drain(..header_end + length);
    Ok((status, body))
}

/// Sends GET and HEAD in turn on `stream` until `stop`, counting the
/// answers in `answered`; any failure ends the loop and is returned.
async fn busy_connection(
    mut stream: TcpStream,
    requests: Arc<[Vec<u8>; 2]>,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut buffer = Vec::new();
    for turn in 0usize.. {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let head = turn % 2 == 1;
        stream
            .write_all(&requests[turn % 2])
            .await
            .map_err(|err| format!("sending request {turn}: {err}"))?;
        let (status, body) = read_response(&mut stream, &mut buffer, head)
            .await
            .map_err(|err| format!("reading answer {turn}: {err}"))?;
        if status != 200 || (!head && body != BODY) {
            return Err(format!("answer {turn}: {status} {}", String::from_utf8_lossy(&body)));
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_busy_connections_are_all_served_and_another_client_gets_through() {
    raise_open_files_limit();
    let s = Server::start().await;
    let b = s.new_bucket("fair").await;
    s.put(&b, "object", BODY).await;
    let path = format!("/{b}/object");
    let requests = Arc::new([signed_request(&s, "GET", &path), signed_request(&s, "HEAD", &path)]);

    // The connections open all at once, as a crowd of clients starting
    // together would, and every one is open before any sends, so all 1,000
    // are busy at once; the server serves up to --max-connections (4096).
    let connecting: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(TcpStream::connect(s.addr)))
        .collect();
    let mut streams = Vec::with_capacity(CONNECTIONS);
    for (i, connected) in connecting.into_iter().enumerate() {
        let stream = connected
            .await
            .expect("the connecting task")
            .unwrap_or_else(|err| panic!("connection {i}: {err}"));
        streams.push(stream);
    }
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let answered: Vec<Arc<AtomicUsize>> = (0..CONNECTIONS).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let tasks: Vec<_> = streams
        .into_iter()
        .zip(&answered)
        .map(|(stream, answered)| {
            tokio::spawn(busy_connection(
                stream,
                Arc::clone(&requests),
                Arc::clone(answered),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let counts = || answered.iter().map(|n| n.load(Ordering::Relaxed)).collect::<Vec<_>>();

    // Meanwhile another client writes and reads, on connections of its own.
    let other_client = async {
        for round in 0..3 {
            let key = format!("meanwhile-{round}");
            let data = format!("written under load, round {round}");
            s.client
                .put_object()
                .bucket(&b)
                .key(&key)
                .body(ByteStream::from(data.clone().into_bytes()))
                .send()
                .await
                .unwrap_or_else(|err| panic!("PUT {key} under load: {err:?}"));
            assert_eq!(s.get(&b, &key).await, data.as_bytes(), "GET {key} under load");
        }
    };
    if tokio::time::timeout(DEADLINE, other_client).await.is_err() {
        stop.store(true, Ordering::Relaxed);
        panic!("another client's PUT and GET were not answered in {DEADLINE:?} under load");
    }
    // The busy connections go on until `stop`: the other client was served
    // while all of them were.

    // Every connection gets its answers while the others keep going.
    loop {
        let now = counts();
        let behind = now.iter().filter(|&&n| n < ANSWERS_EACH).count();
        if behind == 0 {
            break;
        }
        let failed = tasks.iter().filter(|task| task.is_finished()).count();
        if failed > 0 || started.elapsed() > DEADLINE {
            stop.store(true, Ordering::Relaxed);
            let mut errors = Vec::new();
            for task in tasks.into_iter().filter(|task| task.is_finished()) {
                if let Ok(Err(err)) = task.await {
                    errors.push(err);
                }
            }
            panic!(
                "{behind} of {CONNECTIONS} connections had fewer than {ANSWERS_EACH} answers after {:?} \
                 (least {}, most {}, {} in all); {failed} connections failed: {:?}",
                started.elapsed(),
                now.iter().min().unwrap(),
                now.iter().max().unwrap(),
                now.iter().sum::<usize>(),
                errors.iter().take(5).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for (i, task) in tasks.into_iter().enumerate() {
        task.await
            .expect("the connection's task")
            .unwrap_or_else(|err| panic!("connection {i}: {err}"));
    }
    let mut last = counts();
    last.sort_unstable();
    eprintln!(
        "fairness: {CONNECTIONS} connections, every one answered {ANSWERS_EACH}+ times in {elapsed:?}; \
         answers per connection: least {}, median {}, most {}; {} in all",
        last[0],
        last[CONNECTIONS / 2],
        last[CONNECTIONS - 1],
        last.iter().sum::<usize>()
    );
}
