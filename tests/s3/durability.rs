//! Process lifecycle and on-disk durability: crash recovery, space
//! reclamation, signals, restarts, generated credentials.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumMode;

use crate::common::*;

#[tokio::test]
async fn data_dir_layout() {
    let s = Server::start().await;
    let b = s.new_bucket("layout").await;
    s.put(&b, "k", "layout").await;
    assert!(s.data_dir.join("coffer.redb").is_file(), "DIR/coffer.redb missing");
    assert!(s.tmp_dir().is_dir(), "DIR/tmp missing");
    assert!(s.blobs_dir().is_dir(), "DIR/blobs missing");
    assert_eq!(count_files(&s.blobs_dir()), 1, "{:?}", list_files(&s.blobs_dir()));
    // Object data lives in subdirectories of DIR/blobs.
    let (p, len) = list_files(&s.blobs_dir()).pop().unwrap();
    assert_eq!(len, 6);
    assert_ne!(
        p.parent().unwrap(),
        s.blobs_dir().as_path(),
        "blobs must be stored in subdirectories: {p:?}"
    );
    assert_eq!(count_files(&s.tmp_dir()), 0);
}

#[tokio::test]
async fn crash_during_large_put_keeps_previous_version() {
    const TOTAL: u64 = 200 * 1024 * 1024;
    let mut s = Server::start().await;
    let b = s.new_bucket("crash").await;
    let content_a = b"content A - the committed version".to_vec();
    s.put(&b, "K", content_a.clone()).await;
    s.put(&b, "other", "another live object").await;

    // Start a 200 MiB PUT of K, streamed slowly over a raw connection.
    let signer = s.signer();
    let mut h = vec![
        ("x-amz-content-sha256".to_string(), "UNSIGNED-PAYLOAD".to_string()),
        ("Content-Length".to_string(), TOTAL.to_string()),
    ];
    let target = signer.sign(
        "PUT",
        &format!("/{b}/K"),
        &[],
        &mut h,
        &s.host(),
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let addr = s.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let stop = stop.clone();
        let sent = sent.clone();
        std::thread::spawn(move || {
            let mut conn = TcpStream::connect(addr).unwrap();
            conn.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut head = format!("PUT {target} HTTP/1.1\r\n");
            for (k, v) in &h {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            if conn.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = pseudo_random_bytes(77, 1024 * 1024);
            let mut n = 0u64;
            while n < TOTAL && !stop.load(Ordering::SeqCst) {
                if conn.write_all(&chunk).is_err() {
                    return;
                }
                n += chunk.len() as u64;
                sent.store(n, Ordering::SeqCst);
                // Fast start, then slow so the upload is still in flight when we kill.
                if n > 8 * 1024 * 1024 {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };

    let tmp = s.tmp_dir();
    let staged = eventually(Duration::from_secs(30), || {
        list_files(&tmp).iter().any(|(_, len)| *len > 0)
    })
    .await;
    assert!(
        staged,
        "no staging data appeared in DIR/tmp during the upload (sent {} bytes)",
        sent.load(Ordering::SeqCst)
    );
    assert!(
        sent.load(Ordering::SeqCst) < TOTAL,
        "upload finished before the crash could be simulated"
    );

    s.kill(); // SIGKILL
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();

    s.restart();
    assert_eq!(
        s.get(&b, "K").await,
        content_a,
        "after a crash, K must hold the last committed content"
    );
    let head = s.client.head_object().bucket(&b).key("K").send().await.unwrap();
    assert_eq!(head.content_length(), Some(content_a.len() as i64));
    assert_eq!(head.e_tag(), Some(quoted_md5(&content_a).as_str()));
    assert_eq!(s.get(&b, "other").await, b"another live object");
    assert_eq!(
        count_files(&s.tmp_dir()),
        0,
        "DIR/tmp must be emptied at startup: {:?}",
        list_files(&s.tmp_dir())
    );
    let blobs = s.blobs_dir();
    assert_eq!(
        count_files(&blobs),
        2,
        "blob files must match live objects: {:?}",
        list_files(&blobs)
    );

    // Server is fully usable after recovery.
    s.put(&b, "K", "content B").await;
    assert_eq!(s.get(&b, "K").await, b"content B");
}

#[tokio::test]
async fn overwrite_and_delete_free_space() {
    let s = Server::start().await;
    let b = s.new_bucket("space").await;
    let blobs = s.blobs_dir();
    let big = pseudo_random_bytes(1, 2 * 1024 * 1024);
    s.put(&b, "k1", big.clone()).await;
    s.put(&b, "k2", "small object").await;
    assert_eq!(count_files(&blobs), 2, "{:?}", list_files(&blobs));
    let before = dir_bytes(&blobs);
    assert!(before >= big.len() as u64);

    // Overwrite k1 with a small body: the old 2 MiB blob must go away.
    s.put(&b, "k1", "tiny").await;
    let ok = eventually(Duration::from_secs(10), || {
        count_files(&blobs) == 2 && dir_bytes(&blobs) < 1024 * 1024
    })
    .await;
    assert!(ok, "overwrite did not free the old blob: {:?}", list_files(&blobs));

    s.client.delete_object().bucket(&b).key("k1").send().await.unwrap();
    let ok = eventually(Duration::from_secs(10), || count_files(&blobs) == 1).await;
    assert!(ok, "delete did not free the blob: {:?}", list_files(&blobs));

    s.client
        .delete_objects()
        .bucket(&b)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key("k2")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let ok = eventually(Duration::from_secs(10), || count_files(&blobs) == 0).await;
    assert!(ok, "DeleteObjects did not free the blob: {:?}", list_files(&blobs));
    assert_eq!(count_files(&s.tmp_dir()), 0);
}

#[tokio::test]
async fn sigterm_exits_zero_and_data_persists() {
    let mut s = Server::start().await;
    let b = s.new_bucket("term").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("persist")
        .content_type("text/x-persist")
        .metadata("kept", "yes")
        .checksum_sha256(sha256_b64(b"persist me"))
        .body(ByteStream::from_static(b"persist me"))
        .send()
        .await
        .unwrap();
    let st = s
        .terminate(Duration::from_secs(15))
        .expect("server did not exit within 15s of SIGTERM");
    assert_eq!(st.code(), Some(0), "SIGTERM must exit with status 0, got {st:?}");

    s.restart();
    let out = s.client.list_buckets().send().await.unwrap();
    assert!(out.buckets().iter().any(|x| x.name() == Some(b.as_str())));
    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("persist")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/x-persist"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("kept")).map(String::as_str),
        Some("yes")
    );
    assert_eq!(head.checksum_sha256(), Some(sha256_b64(b"persist me").as_str()));
    assert_eq!(s.get(&b, "persist").await, b"persist me");

    let st = s
        .signal_and_wait("-INT", Duration::from_secs(15))
        .expect("server did not exit within 15s of SIGINT");
    assert_eq!(st.code(), Some(0), "SIGINT must exit with status 0, got {st:?}");
}

#[tokio::test]
async fn startup_empties_tmp() {
    let mut s = Server::start().await;
    let b = s.new_bucket("tmpclean").await;
    s.put(&b, "k", "v").await;
    s.kill();
    let tmp = s.tmp_dir();
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("stale-upload-1"), vec![7u8; 4096]).unwrap();
    std::fs::write(tmp.join("stale-upload-2"), b"partial").unwrap();
    s.restart();
    assert_eq!(count_files(&tmp), 0, "{:?}", list_files(&tmp));
    assert_eq!(s.get(&b, "k").await, b"v");
}

fn credential_tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| c.is_whitespace() || matches!(c, '=' | ':' | '"' | '\'' | ',' | '{' | '}' | '[' | ']'))
        .filter(|t| {
            t.len() >= 8
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '_' | '-'))
        })
        .map(String::from)
        .collect();
    out.dedup();
    out
}

#[tokio::test]
async fn generated_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = Server::start_with(None, false);
    let cred_path = s.data_dir.join("credentials");
    let meta = std::fs::metadata(&cred_path).expect("DIR/credentials must exist when no keys are given");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "DIR/credentials must have mode 0600"
    );
    let text = std::fs::read_to_string(&cred_path).unwrap();
    let tokens = credential_tokens(&text);
    let printed = s.stdout_lines.lock().unwrap().join("\n");

    let mut found = None;
    'outer: for ak in &tokens {
        for sk in &tokens {
            if ak == sk {
                continue;
            }
            let c = make_client(&s.endpoint, REGION, ak, sk);
            if c.list_buckets().send().await.is_ok() {
                found = Some((ak.clone(), sk.clone()));
                break 'outer;
            }
        }
    }
    let (ak, sk) = found.unwrap_or_else(|| panic!("no working key pair found in DIR/credentials: {text:?}"));
    assert!(
        printed.contains(&ak),
        "generated access key must be printed; stdout: {printed:?}"
    );
    assert!(
        printed.contains(&sk),
        "generated secret key must be printed; stdout: {printed:?}"
    );
    // The fixed test keys are not accepted.
    expect_err(s.client.list_buckets().send().await, 403, "InvalidAccessKeyId");

    // After a restart, the stored pair is reused.
    let st = s.terminate(Duration::from_secs(15)).expect("exit on SIGTERM");
    assert_eq!(st.code(), Some(0));
    s.restart();
    let c = make_client(&s.endpoint, REGION, &ak, &sk);
    c.create_bucket()
        .bucket("gen-creds")
        .send()
        .await
        .expect("stored credentials must keep working after restart");
    assert_eq!(
        std::fs::read_to_string(&cred_path).unwrap(),
        text,
        "credentials file must not change on restart"
    );
}

/// Deleting (or overwriting) an object while a GET is streaming it must not
/// corrupt or truncate the in-flight response; the space is reclaimed afterwards.
#[tokio::test]
async fn delete_during_streaming_get() {
    use std::io::Read;
    let s = Server::start().await;
    let b = s.new_bucket("streamdel").await;
    let body = pseudo_random_bytes(4242, 32 * 1024 * 1024);
    s.put(&b, "big", body.clone()).await;

    let mut h = Vec::new();
    let target = s.signer().sign(
        "GET",
        &format!("/{b}/big"),
        &[],
        &mut h,
        &s.host(),
        EMPTY_SHA256,
        SystemTime::now(),
    );
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\n");
    for (k, v) in &h {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).unwrap();
    // Read the first ~1 MiB, then pause.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < 1024 * 1024 {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    s.client
        .delete_object()
        .bucket(&b)
        .key("big")
        .send()
        .await
        .expect("delete while streaming");
    s.put(&b, "big", "replacement").await;
    s.put(&b, "filler", pseudo_random_bytes(1, 4 * 1024 * 1024)).await;
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read error while streaming: {e}"),
        }
    }
    let sep = got.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&got[..sep]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
        "expected Content-Length framing: {head}"
    );
    let data = &got[sep + 4..];
    assert_eq!(data.len(), body.len(), "in-flight GET was truncated");
    assert!(data == body.as_slice(), "in-flight GET returned corrupted data");

    assert_eq!(s.get(&b, "big").await, b"replacement");
    let blobs = s.blobs_dir();
    assert!(
        eventually(Duration::from_secs(10), || count_files(&blobs) == 2).await,
        "blob files must match live objects after the reader finished: {:?}",
        list_files(&blobs)
    );
}

/// Objects acknowledged with 200 survive an immediate SIGKILL.
#[tokio::test]
async fn acknowledged_puts_survive_sigkill() {
    let mut s = Server::start().await;
    let b = s.new_bucket("acked").await;
    let mut etags = Vec::new();
    for i in 0..20 {
        let body = pseudo_random_bytes(900 + i, 10_000 + i as usize * 1000);
        etags.push((format!("obj-{i:02}"), s.put(&b, &format!("obj-{i:02}"), body).await));
    }
    s.client.delete_object().bucket(&b).key("obj-00").send().await.unwrap();
    s.kill();
    s.restart();
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let listed: Vec<(String, String)> = out
        .contents()
        .iter()
        .map(|o| (o.key().unwrap().to_string(), o.e_tag().unwrap().to_string()))
        .collect();
    assert_eq!(listed, etags[1..].to_vec());
    for (k, e) in &etags[1..] {
        let data = s.get(&b, k).await;
        assert_eq!(&quoted_md5(&data), e, "{k}");
    }
    assert_eq!(count_files(&s.blobs_dir()), 19, "{:?}", list_files(&s.blobs_dir()));
    assert_eq!(count_files(&s.tmp_dir()), 0);
}

/// Repeatedly SIGKILL the server in the middle of many concurrent uploads,
/// overwrites and deletes; after every restart the store must be consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_kills_under_load_stay_consistent() {
    let mut s = Server::start().await;
    let b = s.new_bucket("torture").await;
    for round in 0..3u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..6u64 {
            let c = s.client.clone();
            let b = b.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let key = format!("k{}", (w * 7 + i) % 12);
                    let seed = round * 1_000_000 + w * 10_000 + i;
                    let len = 1024 + (seed as usize * 7919) % (1536 * 1024);
                    let r = if i % 5 == 4 {
                        c.delete_object()
                            .bucket(&b)
                            .key(&key)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    } else {
                        c.put_object()
                            .bucket(&b)
                            .key(&key)
                            .body(ByteStream::from(pseudo_random_bytes(seed, len)))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    };
                    if r.is_err() {
                        break; // server died
                    }
                    i += 1;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(700 + round * 300)).await;
        s.kill();
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            let _ = t.await;
        }
        s.restart();
        assert_eq!(
            count_files(&s.tmp_dir()),
            0,
            "round {round}: tmp not emptied: {:?}",
            list_files(&s.tmp_dir())
        );
        let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
        let objects: Vec<(String, String, i64)> = out
            .contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap().to_string(),
                    o.e_tag().unwrap().to_string(),
                    o.size().unwrap(),
                )
            })
            .collect();
        for (k, etag, size) in &objects {
            let data = s.get(&b, k).await;
            assert_eq!(data.len() as i64, *size, "round {round}: {k} size differs from listing");
            assert_eq!(
                &quoted_md5(&data),
                etag,
                "round {round}: {k} content does not match its ETag"
            );
        }
        let blobs = s.blobs_dir();
        let n = objects.len();
        assert!(
            eventually(Duration::from_secs(10), || count_files(&blobs) == n).await,
            "round {round}: {} blob files for {n} live objects: {:?}",
            count_files(&blobs),
            list_files(&blobs)
        );
    }
}
