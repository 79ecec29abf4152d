//! Clients that try to hold the server: headers that never end, bodies that
//! stall, more connections than the server serves at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;

/// The server's limits, as `src/server.rs` and `request_body.rs` set them.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// How much later than its limit the server may act.
const SLACK: Duration = Duration::from_secs(10);

/// Waits for the server to close `stream`; returns how long that took.
fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) if started.elapsed() < limit => return started.elapsed(),
            Ok(_) => continue,
            _ => panic!("the server kept the connection open past {limit:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_end_and_idle_connections_are_cut_off() {
    let s = Server::start().await;
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    let mut idle = TcpStream::connect(s.addr).unwrap();
    // Meanwhile, everyone else is served.
    let b = s.new_bucket("slowloris").await;
    s.put(&b, "k", "served").await;
    let closed_slow = tokio::task::spawn_blocking(move || time_until_closed(&mut slow, HEADER_READ_TIMEOUT + SLACK));
    let closed_idle = tokio::task::spawn_blocking(move || time_until_closed(&mut idle, HEADER_READ_TIMEOUT + SLACK));
    let (slow_after, idle_after) = (closed_slow.await.unwrap(), closed_idle.await.unwrap());
    assert!(slow_after >= HEADER_READ_TIMEOUT - SLACK, "{slow_after:?}");
    assert!(idle_after >= HEADER_READ_TIMEOUT - SLACK, "{idle_after:?}");
    assert_eq!(s.get(&b, "k").await, b"served");
}

/// Sends a signed request whose body declares 1000 bytes, sends 10 and
/// stalls; returns the answer.
fn stall(s: &Server, path: &str, query: &[(&str, &str)]) -> tokio::task::JoinHandle<RawResponse> {
    let mut headers = vec![("Content-Length".to_owned(), "1000".to_owned())];
    let target = s.signer().sign(
        "PUT",
        path,
        query,
        &mut headers,
        &s.host(),
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let addr = s.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(BODY_IDLE_TIMEOUT + SLACK + SLACK))
            .unwrap();
        let mut head = format!("PUT {target} HTTP/1.1\r\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&[b'x'; 10]).unwrap();
        read_response(&mut stream, false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_request_timeout_and_leaves_nothing() {
    let s = Server::start().await;
    let b = s.new_bucket("stall").await;
    let started = Instant::now();
    let object = stall(&s, &format!("/{b}/stalled"), &[]);
    // An XML body, which s3s reads whole before the operation runs; it
    // answered a stall there with nothing until the client gave up.
    let document = stall(&s, &format!("/{b}"), &[("tagging", "")]);
    object.await.unwrap().assert_s3_error(400, "RequestTimeout");
    document.await.unwrap().assert_s3_error(400, "RequestTimeout");
    assert!(
        started.elapsed() >= BODY_IDLE_TIMEOUT - SLACK / 2,
        "{:?}",
        started.elapsed()
    );
    expect_err(s.client.head_object().bucket(&b).key("stalled").send().await, 404, "");
    assert_eq!(count_files(&s.tmp_dir()), 0);
    assert_eq!(count_files(&s.blobs_dir()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_one() {
    let s = Server::start_with_args(&["--max-connections", "1"]);
    let holder = TcpStream::connect(s.addr).unwrap();
    // Give the server the moment it needs to take it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = tokio::task::spawn_blocking({
        let (addr, host, signer) = (s.addr, s.host(), s.signer());
        move || {
            let mut headers = Vec::new();
            let target = signer.sign(
                "GET",
                "/",
                &[],
                &mut headers,
                &host,
                &sha256_hex(b""),
                SystemTime::now(),
            );
            raw_request(addr, "GET", &target, &headers, b"")
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection is not served while the first is open"
    );
    drop(holder);
    let served = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    let response = served.expect("served once the first connection closed").unwrap();
    assert_eq!(response.status, 200, "{response}");
}
