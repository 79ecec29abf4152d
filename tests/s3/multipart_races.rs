//! Coffer's multipart guarantees beyond S3: abort racing streaming part
//! uploads and completions, space accounting, and SIGKILL during uploads and
//! completions.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;
use crate::multipart::*;

const HOLD: u8 = 0;
const FINISH: u8 = 1;
const ABANDON: u8 = 2;

/// A part upload over a raw connection whose body is sent slowly: the first
/// MiB at once, then a trickle until told to finish (send the rest and read
/// the response) or to abandon (close the connection mid-body).
struct SlowPart {
    control: Arc<AtomicU8>,
    sent: Arc<AtomicU64>,
    handle: JoinHandle<Option<RawResponse>>,
    total: usize,
}

impl SlowPart {
    fn start(s: &Server, bucket: &str, key: &str, upload_id: &str, part: u32, total: usize, seed: u64) -> SlowPart {
        let mut h = vec![
            ("x-amz-content-sha256".to_string(), "UNSIGNED-PAYLOAD".to_string()),
            ("Content-Length".to_string(), total.to_string()),
        ];
        let pn = part.to_string();
        let target = s.signer().sign(
            "PUT",
            &format!("/{bucket}/{key}"),
            &[("partNumber", &pn), ("uploadId", upload_id)],
            &mut h,
            &s.host(),
            "UNSIGNED-PAYLOAD",
            SystemTime::now(),
        );
        let control = Arc::new(AtomicU8::new(HOLD));
        let sent = Arc::new(AtomicU64::new(0));
        let addr = s.addr;
        let handle = {
            let control = control.clone();
            let sent = sent.clone();
            std::thread::spawn(move || {
                let body = Gen::new(seed).bytes(total);
                let mut conn = TcpStream::connect(addr).ok()?;
                conn.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut head = format!("PUT {target} HTTP/1.1\r\n");
                for (k, v) in &h {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                conn.write_all(head.as_bytes()).ok()?;
                let mut n = MIB.min(total - 1);
                conn.write_all(&body[..n]).ok()?;
                sent.store(n as u64, Ordering::SeqCst);
                loop {
                    match control.load(Ordering::SeqCst) {
                        HOLD => {
                            // Trickle, but never finish the body while held.
                            let step = 4096.min(total - 1 - n);
                            if step > 0 {
                                conn.write_all(&body[n..n + step]).ok()?;
                                n += step;
                                sent.store(n as u64, Ordering::SeqCst);
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        FINISH => {
                            conn.write_all(&body[n..]).ok()?;
                            sent.store(total as u64, Ordering::SeqCst);
                            return Some(read_response(&mut conn, false));
                        }
                        _ => {
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return None;
                        }
                    }
                }
            })
        };
        SlowPart {
            control,
            sent,
            handle,
            total,
        }
    }

    /// Lets the rest of the body go without waiting for the response.
    fn release(&self) {
        self.control.store(FINISH, Ordering::SeqCst);
    }

    fn finish(self) -> RawResponse {
        self.release();
        self.wait()
    }

    fn wait(self) -> RawResponse {
        self.handle
            .join()
            .expect("slow part thread panicked")
            .expect("slow part: connection failed before a response")
    }

    fn abandon(self) {
        self.control.store(ABANDON, Ordering::SeqCst);
        let _ = self.handle.join();
    }
}

/// Waits until `n` staging files in DIR/tmp hold data.
async fn wait_staged(s: &Server, n: usize) {
    let tmp = s.tmp_dir();
    let ok = eventually(Duration::from_secs(30), || {
        list_files(&tmp).iter().filter(|(_, len)| *len > 0).count() >= n
    })
    .await;
    assert!(
        ok,
        "expected {n} part bodies staging in DIR/tmp: {:?}",
        list_files(&tmp)
    );
}

// ---------------------------------------------------------------------------
// Abort vs streaming part uploads
// ---------------------------------------------------------------------------

#[tokio::test]
async fn abort_while_parts_stream_frees_everything() {
    let s = Server::start().await;
    let b = s.new_bucket("race-abort").await;
    s.put(&b, "bystander", Gen::new(100).bytes(MIB + 3)).await;
    let before = stored_bytes(&s);
    let blobs_before = file_sizes(&s.blobs_dir());

    let id = create_upload(&s, &b, "k").await;
    upload_part(&s, &b, "k", &id, 1, Gen::new(101).bytes(MIN_PART)).await;
    upload_part(&s, &b, "k", &id, 2, Gen::new(102).bytes(MIN_PART + 1)).await;
    assert_eq!(count_files(&s.blobs_dir()), 3);

    // Three parts streaming (one of them re-uploads part 2), one client that will give up.
    let slow: Vec<SlowPart> = [(2u32, 103u64), (3, 104), (4, 105)]
        .into_iter()
        .map(|(n, seed)| SlowPart::start(&s, &b, "k", &id, n, 8 * MIB + n as usize, seed))
        .collect();
    let quitter = SlowPart::start(&s, &b, "k", &id, 5, 8 * MIB, 106);
    wait_staged(&s, 4).await;
    for p in &slow {
        assert!(p.sent.load(Ordering::SeqCst) < p.total as u64);
    }

    let r = s.signed("DELETE", &format!("/{b}/k"), &[("uploadId", &id)], &[], b"");
    assert_eq!(r.status, 204, "abort while parts stream: {r}");

    // When abort has answered, the committed parts' files are gone.
    assert_eq!(
        file_sizes(&s.blobs_dir()),
        blobs_before,
        "committed part files must be gone when abort returns: {:?}",
        list_files(&s.blobs_dir())
    );
    let r = s.client.list_parts().bucket(&b).key("k").upload_id(&id).send().await;
    expect_err(r, 404, "NoSuchUpload");

    // The streaming parts fail with NoSuchUpload when they try to commit.
    for p in slow {
        p.finish().assert_s3_error(404, "NoSuchUpload");
    }
    // Their bytes are gone as soon as they answered: only the quitter's staging file remains.
    assert_eq!(
        file_sizes(&s.blobs_dir()),
        blobs_before,
        "refused parts' bytes left in DIR/blobs after their responses"
    );
    assert!(
        count_files(&s.tmp_dir()) <= 1,
        "refused parts' bytes left in DIR/tmp after their responses: {:?}",
        list_files(&s.tmp_dir())
    );
    quitter.abandon();

    // ... and their bytes are deleted: storage is back to where it was.
    let ok = eventually(Duration::from_secs(5), || stored_bytes(&s) == before).await;
    assert!(
        ok,
        "after abort and the end of every part request, stored bytes {} != {before} before the upload\nblobs: {:?}\ntmp: {:?}",
        stored_bytes(&s),
        list_files(&s.blobs_dir()),
        list_files(&s.tmp_dir())
    );
    assert_eq!(count_files(&s.tmp_dir()), 0);

    // Nothing can revive the upload.
    assert_no_part_can_be_added(&s, &b, "k", &id, 1, "bystander").await;
    let r = complete(&s, &b, "k", &id, &[(1, &quoted_md5(&Gen::new(101).bytes(MIN_PART)))]).await;
    expect_err(r, 404, "NoSuchUpload");
    let u = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(u.uploads().is_empty());
    assert_eq!(stored_bytes(&s), before);
}

/// Exact byte accounting around a whole upload lifecycle that ends in abort,
/// with parts replaced and copied.
#[tokio::test]
async fn abort_restores_exact_storage_size() {
    let s = Server::start().await;
    let b = s.new_bucket("race-bytes").await;
    s.put(&b, "src", Gen::new(110).bytes(2 * MIB + 5)).await;
    let before = stored_bytes(&s);
    let id = create_upload(&s, &b, "k").await;
    upload_part(&s, &b, "k", &id, 1, Gen::new(111).bytes(MIN_PART)).await;
    upload_part(&s, &b, "k", &id, 1, Gen::new(112).bytes(MIN_PART + 9)).await;
    upload_part(&s, &b, "k", &id, 2, b"second".to_vec()).await;
    s.client
        .upload_part_copy()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(3)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=0-99999")
        .send()
        .await
        .unwrap();
    let during = stored_bytes(&s);
    assert_eq!(during, before + (MIN_PART + 9) as u64 + 6 + 100_000);
    s.client
        .abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(stored_bytes(&s), before, "blobs: {:?}", list_files(&s.blobs_dir()));
}

/// A part still streaming when its upload completes cannot commit afterwards.
#[tokio::test]
async fn complete_while_part_streams() {
    let s = Server::start().await;
    let b = s.new_bucket("race-complete-part").await;
    let p1 = Gen::new(115).bytes(MIN_PART);
    let id = create_upload(&s, &b, "k").await;
    let e1 = upload_part(&s, &b, "k", &id, 1, p1.clone()).await;
    let e2 = upload_part(&s, &b, "k", &id, 2, b"end".to_vec()).await;
    let slow = SlowPart::start(&s, &b, "k", &id, 3, 4 * MIB, 116);
    let again = SlowPart::start(&s, &b, "k", &id, 1, 4 * MIB, 117);
    wait_staged(&s, 2).await;
    complete(&s, &b, "k", &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("complete");
    slow.finish().assert_s3_error(404, "NoSuchUpload");
    again.finish().assert_s3_error(404, "NoSuchUpload");
    let mut whole = p1.clone();
    whole.extend_from_slice(b"end");
    assert!(s.get(&b, "k").await == whole, "late parts must not change the object");
    let ok = eventually(Duration::from_secs(5), || stored_bytes(&s) == whole.len() as u64).await;
    assert!(
        ok,
        "late part bytes left behind: blobs {:?} tmp {:?}",
        list_files(&s.blobs_dir()),
        list_files(&s.tmp_dir())
    );
}

/// Two uploads of the same part number at once: one wins, the other's bytes are freed.
#[tokio::test]
async fn concurrent_uploads_of_one_part_number_keep_one() {
    let s = Server::start().await;
    let b = s.new_bucket("race-same-part").await;
    let id = create_upload(&s, &b, "k").await;
    let (la, lb) = (3 * MIB + 1, 3 * MIB + 2);
    let a = SlowPart::start(&s, &b, "k", &id, 1, la, 118);
    let c = SlowPart::start(&s, &b, "k", &id, 1, lb, 119);
    wait_staged(&s, 2).await;
    let (ra, rc) = (a.finish(), c.finish());
    assert_eq!(ra.status, 200, "{ra}");
    assert_eq!(rc.status, 200, "{rc}");
    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(lp.parts().len(), 1);
    let size = lp.parts()[0].size().unwrap() as usize;
    let etag = lp.parts()[0].e_tag().unwrap().to_string();
    let winner = if size == la { &ra } else { &rc };
    assert_eq!(
        winner.header("etag"),
        Some(etag.as_str()),
        "listed part is one of the uploads"
    );
    let ok = eventually(Duration::from_secs(5), || {
        file_sizes(&s.blobs_dir()) == vec![size as u64]
    })
    .await;
    assert!(ok, "replaced part bytes not freed: {:?}", list_files(&s.blobs_dir()));
    assert_eq!(count_files(&s.tmp_dir()), 0);
    complete(&s, &b, "k", &id, &[(1, &etag)]).await.unwrap();
    let seed = if size == la { 118 } else { 119 };
    assert!(s.get(&b, "k").await == Gen::new(seed).bytes(size));
}

/// Part bodies finishing at the very moment the abort arrives: whichever way
/// each commit falls, nothing of the upload remains once everything answered.
#[tokio::test]
async fn abort_racing_part_commits() {
    const ROUNDS: usize = 10;
    let s = Server::start().await;
    let b = s.new_bucket("race-commit").await;
    s.put(&b, "bystander", b"still here".to_vec()).await;
    let before = stored_bytes(&s);
    let (mut committed, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let id = create_upload(&s, &b, "k").await;
        upload_part(&s, &b, "k", &id, 1, b"committed early".to_vec()).await;
        let parts: Vec<SlowPart> = (2..5u32)
            .map(|n| SlowPart::start(&s, &b, "k", &id, n, MIB + 100 * n as usize, 150 + n as u64))
            .collect();
        wait_staged(&s, 3).await;
        for p in &parts {
            p.release();
        }
        std::thread::sleep(Duration::from_millis(round as u64 * 4));
        let r = s.signed("DELETE", &format!("/{b}/k"), &[("uploadId", &id)], &[], b"");
        assert_eq!(r.status, 204, "round {round}: abort: {r}");
        for p in parts {
            let r = p.wait();
            match r.status {
                200 => committed += 1,
                _ => {
                    r.assert_s3_error(404, "NoSuchUpload");
                    refused += 1;
                }
            }
        }
        let r = s.client.list_parts().bucket(&b).key("k").upload_id(&id).send().await;
        expect_err(r, 404, "NoSuchUpload");
        let ok = eventually(Duration::from_secs(5), || stored_bytes(&s) == before).await;
        assert!(
            ok,
            "round {round}: stored bytes {} != {before}: blobs {:?} tmp {:?}",
            stored_bytes(&s),
            list_files(&s.blobs_dir()),
            list_files(&s.tmp_dir())
        );
    }
    eprintln!("abort vs part commits: {committed} parts committed before the abort, {refused} refused");
}

/// An UploadPartCopy still copying when the upload is aborted fails with
/// NoSuchUpload and leaves nothing behind.
#[tokio::test]
async fn abort_during_upload_part_copy() {
    let s = Server::start().await;
    let b = s.new_bucket("race-copy").await;
    let src = Gen::new(160).bytes(24 * MIB);
    s.put(&b, "src", src).await;
    let before = stored_bytes(&s);
    let id = create_upload(&s, &b, "k").await;
    let copy = {
        let client = s.client.clone();
        let (b, id) = (b.clone(), id.clone());
        tokio::spawn(async move {
            client
                .upload_part_copy()
                .bucket(&b)
                .key("k")
                .upload_id(&id)
                .part_number(1)
                .copy_source(format!("{b}/src"))
                .send()
                .await
        })
    };
    let tmp = s.tmp_dir();
    let staged = eventually(Duration::from_secs(30), || list_files(&tmp).iter().any(|(_, l)| *l > 0)).await;
    let r = s.signed("DELETE", &format!("/{b}/k"), &[("uploadId", &id)], &[], b"");
    assert_eq!(r.status, 204, "abort during copy: {r}");
    let res = copy.await.unwrap();
    if staged {
        expect_err(res, 404, "NoSuchUpload");
    } else {
        eprintln!("abort_during_upload_part_copy: copy finished before it could be observed staging");
    }
    let ok = eventually(Duration::from_secs(5), || stored_bytes(&s) == before).await;
    assert!(
        ok,
        "copy bytes left behind: blobs {:?} tmp {:?}",
        list_files(&s.blobs_dir()),
        list_files(&s.tmp_dir())
    );
}

// ---------------------------------------------------------------------------
// Abort vs complete
// ---------------------------------------------------------------------------

#[tokio::test]
async fn abort_racing_complete_exactly_one_wins() {
    const ROUNDS: usize = 30;
    let s = Server::start().await;
    let b = s.new_bucket("race-ac").await;
    let src = Gen::new(120).bytes(MIN_PART);
    s.put(&b, "src", src.clone()).await;
    let src_etag = quoted_md5(&src);
    let (mut completes, mut aborts) = (0, 0);
    let mut live_bytes = src.len() as u64;
    for round in 0..ROUNDS {
        let key = format!("obj-{round}");
        let id = create_upload(&s, &b, &key).await;
        s.client
            .upload_part_copy()
            .bucket(&b)
            .key(&key)
            .upload_id(&id)
            .part_number(1)
            .copy_source(format!("{b}/src"))
            .send()
            .await
            .unwrap();
        let tail = format!("tail of round {round}").into_bytes();
        let e2 = upload_part(&s, &b, &key, &id, 2, tail.clone()).await;

        let parts = [(1, src_etag.as_str()), (2, e2.as_str())];
        let delay = Duration::from_micros((round % 5) as u64 * 300);
        let complete_first = round % 2 == 0;
        let c = async {
            if !complete_first {
                tokio::time::sleep(delay).await;
            }
            complete(&s, &b, &key, &id, &parts).await
        };
        let a = async {
            if complete_first {
                tokio::time::sleep(delay).await;
            }
            s.client
                .abort_multipart_upload()
                .bucket(&b)
                .key(&key)
                .upload_id(&id)
                .send()
                .await
        };
        let (c, a) = tokio::join!(c, a);
        match (c, a) {
            (Ok(out), Err(e)) => {
                assert_eq!(
                    (err_status(&e), err_code(&e).as_str()),
                    (404, "NoSuchUpload"),
                    "round {round}: complete won, abort must answer NoSuchUpload: {e:?}"
                );
                assert_eq!(out.e_tag(), Some(multipart_etag(&[&src, &tail]).as_str()));
                let got = s.get(&b, &key).await;
                assert!(
                    got.len() == src.len() + tail.len(),
                    "round {round}: object size {}",
                    got.len()
                );
                assert!(
                    got[..src.len()] == src[..] && got[src.len()..] == tail[..],
                    "round {round}: bytes differ"
                );
                completes += 1;
                live_bytes += got.len() as u64;
            }
            (Err(e), Ok(_)) => {
                assert_eq!(
                    (err_status(&e), err_code(&e).as_str()),
                    (404, "NoSuchUpload"),
                    "round {round}: abort won, complete must answer NoSuchUpload: {e:?}"
                );
                let r = s.client.get_object().bucket(&b).key(&key).send().await;
                expect_err(r, 404, "NoSuchKey");
                aborts += 1;
            }
            (Ok(out), Ok(_)) => panic!("round {round}: both complete ({out:?}) and abort succeeded"),
            (Err(c), Err(a)) => panic!("round {round}: both failed: complete {c:?}; abort {a:?}"),
        }
        let r = s.client.list_parts().bucket(&b).key(&key).upload_id(&id).send().await;
        expect_err(r, 404, "NoSuchUpload");
    }
    eprintln!("abort vs complete: {completes} completions won, {aborts} aborts won");
    // Storage holds exactly the source and the completed objects.
    let ok = eventually(Duration::from_secs(10), || stored_bytes(&s) == live_bytes).await;
    assert!(
        ok,
        "stored bytes {} != live bytes {live_bytes}: {:?}",
        stored_bytes(&s),
        list_files(&s.blobs_dir())
    );
    assert_eq!(count_files(&s.blobs_dir()), 1 + 2 * completes);
}

/// Two completions of one upload with different part lists at once: the
/// object is what the winner reported, and only the winner's parts remain.
#[tokio::test]
async fn complete_racing_complete() {
    const ROUNDS: usize = 10;
    let s = Server::start().await;
    let b = s.new_bucket("race-cc").await;
    for round in 0..ROUNDS {
        let key = format!("k{round}");
        let id = create_upload(&s, &b, &key).await;
        let a = format!("part one of round {round}").into_bytes();
        let c = format!("the second part, round {round}!").into_bytes();
        let ea = upload_part(&s, &b, &key, &id, 1, a.clone()).await;
        let ec = upload_part(&s, &b, &key, &id, 2, c.clone()).await;
        let (pa, pc) = ([(1, ea.as_str())], [(2, ec.as_str())]);
        let (ra, rc) = tokio::join!(complete(&s, &b, &key, &id, &pa), complete(&s, &b, &key, &id, &pc));
        let winner = match (&ra, &rc) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
                let (st, code) = (err_status(e), err_code(e));
                assert!(
                    (st == 404 && code == "NoSuchUpload") || (st == 400 && code == "InvalidPart"),
                    "round {round}: losing completion answered {st} {code}: {e:?}"
                );
                if ra.is_ok() { &a } else { &c }
            }
            (Ok(_), Ok(_)) => panic!("round {round}: both completions of one upload succeeded"),
            (Err(x), Err(y)) => panic!("round {round}: both completions failed: {x:?} / {y:?}"),
        };
        assert!(
            s.get(&b, &key).await == *winner,
            "round {round}: object is not the winner's"
        );
        let r = s.client.list_parts().bucket(&b).key(&key).upload_id(&id).send().await;
        expect_err(r, 404, "NoSuchUpload");
    }
    // Only the winners' parts are stored: one file per object.
    let l = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let live: u64 = l.contents().iter().filter_map(|o| o.size()).map(|n| n as u64).sum();
    let ok = eventually(Duration::from_secs(10), || {
        stored_bytes(&s) == live && count_files(&s.blobs_dir()) == ROUNDS
    })
    .await;
    assert!(
        ok,
        "stored {} bytes in {} files for {ROUNDS} objects of {live} bytes: {:?}",
        stored_bytes(&s),
        count_files(&s.blobs_dir()),
        list_files(&s.blobs_dir())
    );
}

// ---------------------------------------------------------------------------
// SIGKILL
// ---------------------------------------------------------------------------

#[tokio::test]
async fn kill9_while_parts_stream_leaves_no_orphans() {
    let mut s = Server::start().await;
    let b = s.new_bucket("kill-parts").await;
    let other = Gen::new(130).bytes(MIB + 1);
    s.put(&b, "other", other.clone()).await;
    let p1 = Gen::new(131).bytes(MIN_PART + 11);
    let p2 = b"committed second part".to_vec();
    let id = create_upload(&s, &b, "k").await;
    let e1 = upload_part(&s, &b, "k", &id, 1, p1.clone()).await;
    let e2 = upload_part(&s, &b, "k", &id, 2, p2.clone()).await;
    let id2 = create_upload(&s, &b, "k2").await;
    upload_part(&s, &b, "k2", &id2, 1, b"part of another upload".to_vec()).await;

    let slow: Vec<SlowPart> = [(3u32, 132u64), (2, 133), (4, 134)]
        .into_iter()
        .map(|(n, seed)| SlowPart::start(&s, &b, "k", &id, n, 16 * MIB, seed))
        .collect();
    wait_staged(&s, 3).await;
    s.kill();
    for p in slow {
        p.abandon();
    }
    s.restart();

    assert_eq!(
        count_files(&s.tmp_dir()),
        0,
        "DIR/tmp after restart: {:?}",
        list_files(&s.tmp_dir())
    );
    let mut expected = vec![other.len() as u64, p1.len() as u64, p2.len() as u64, 22];
    expected.sort_unstable();
    assert_eq!(
        file_sizes(&s.blobs_dir()),
        expected,
        "after kill -9 and restart, blob files must be exactly live objects and committed parts: {:?}",
        list_files(&s.blobs_dir())
    );
    // The upload survives with its committed parts and completes.
    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let listed: Vec<(i32, String)> = lp
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.e_tag().unwrap().to_string()))
        .collect();
    assert_eq!(listed, vec![(1, e1.clone()), (2, e2.clone())]);
    complete(&s, &b, "k", &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("complete after restart");
    let mut whole = p1.clone();
    whole.extend_from_slice(&p2);
    assert!(s.get(&b, "k").await == whole);
    assert!(s.get(&b, "other").await == other);
    s.client
        .abort_multipart_upload()
        .bucket(&b)
        .key("k2")
        .upload_id(&id2)
        .send()
        .await
        .unwrap();
    let mut expected = vec![other.len() as u64, p1.len() as u64, p2.len() as u64];
    expected.sort_unstable();
    assert_eq!(file_sizes(&s.blobs_dir()), expected);
}

#[tokio::test]
async fn kill9_during_complete_is_all_or_nothing() {
    const ROUNDS: usize = 6;
    let mut s = Server::start().await;
    let b = s.new_bucket("kill-complete").await;
    let src = Gen::new(140).bytes(3 * MIN_PART);
    s.put(&b, "src", src.clone()).await;
    // Live objects by key -> bytes; live uploads by (key, id) -> part sizes.
    let mut objects: Vec<(String, Vec<u8>)> = vec![("src".to_string(), src.clone())];
    let (mut done, mut not_done) = (0, 0);
    for round in 0..ROUNDS {
        let key = format!("obj-{round}");
        let id = create_upload(&s, &b, &key).await;
        // Distinct part sizes: two listed parts and one left out.
        let l1 = MIN_PART + round * 3 + 1;
        let l2 = MIN_PART + round * 3 + 2;
        let mut etags = Vec::new();
        for (n, (first, len)) in [(0, l1), (l1, l2), (0, 1000 + round)].into_iter().enumerate() {
            let out = s
                .client
                .upload_part_copy()
                .bucket(&b)
                .key(&key)
                .upload_id(&id)
                .part_number(n as i32 + 1)
                .copy_source(format!("{b}/src"))
                .copy_source_range(format!("bytes={first}-{}", first + len - 1))
                .send()
                .await
                .unwrap();
            etags.push(out.copy_part_result().unwrap().e_tag().unwrap().to_string());
        }
        let expected_bytes = src[..l1 + l2].to_vec();

        // Send the completion over a raw connection, then SIGKILL after a varying delay.
        let body = format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
            etags[0], etags[1]
        );
        let mut h = Vec::new();
        let target = s.signer().sign(
            "POST",
            &format!("/{b}/{key}"),
            &[("uploadId", &id)],
            &mut h,
            &s.host(),
            &sha256_hex(body.as_bytes()),
            SystemTime::now(),
        );
        let mut req = format!("POST {target} HTTP/1.1\r\n");
        for (k, v) in &h {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let mut conn = TcpStream::connect(s.addr).unwrap();
        conn.write_all(req.as_bytes()).unwrap();
        let t = Instant::now();
        std::thread::sleep(Duration::from_micros(round as u64 * 700));
        s.kill();
        drop(conn);
        let waited = t.elapsed();
        s.restart();

        assert_eq!(
            count_files(&s.tmp_dir()),
            0,
            "round {round}: DIR/tmp not empty after restart"
        );
        let head = s.client.head_object().bucket(&b).key(&key).send().await;
        let lp = s.client.list_parts().bucket(&b).key(&key).upload_id(&id).send().await;
        match head {
            Ok(h) => {
                // Completed: the whole object, and no upload left.
                done += 1;
                assert_eq!(h.content_length(), Some((l1 + l2) as i64), "round {round}");
                assert_eq!(
                    h.e_tag(),
                    Some(multipart_etag(&[&src[..l1], &src[l1..l1 + l2]]).as_str()),
                    "round {round}"
                );
                assert!(
                    s.get(&b, &key).await == expected_bytes,
                    "round {round}: object bytes differ"
                );
                expect_err(lp, 404, "NoSuchUpload");
                objects.push((key.clone(), expected_bytes));
            }
            Err(e) => {
                // Not completed: no object, the upload and all three parts intact.
                not_done += 1;
                assert_eq!(err_status(&e), 404, "round {round}: HEAD after restart: {e:?}");
                let lp = lp.unwrap_or_else(|e| panic!("round {round}: upload neither completed nor alive: {e:?}"));
                let sizes: Vec<i64> = lp.parts().iter().filter_map(|p| p.size()).collect();
                assert_eq!(sizes, vec![l1 as i64, l2 as i64, 1000 + round as i64], "round {round}");
                // Finish it now, which must also work.
                complete(&s, &b, &key, &id, &[(1, &etags[0]), (2, &etags[1])])
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: completing after restart: {e:?}"));
                assert!(s.get(&b, &key).await == expected_bytes);
                objects.push((key.clone(), expected_bytes));
            }
        }
        // Either way, the left-out part is freed: blobs are exactly the live objects' parts.
        let mut expected: Vec<u64> = vec![src.len() as u64];
        for r in 0..=round {
            expected.push((MIN_PART + r * 3 + 1) as u64);
            expected.push((MIN_PART + r * 3 + 2) as u64);
        }
        expected.sort_unstable();
        let ok = eventually(Duration::from_secs(5), || file_sizes(&s.blobs_dir()) == expected).await;
        assert!(
            ok,
            "round {round} (killed {waited:?} after sending the completion): blob sizes {:?}, expected {expected:?}",
            file_sizes(&s.blobs_dir())
        );
    }
    eprintln!("kill during complete: {done} completed before the kill, {not_done} not");
    for (k, v) in &objects {
        assert!(s.get(&b, k).await == *v, "{k} differs at the end");
    }
}

#[tokio::test]
async fn kill9_during_abort_is_all_or_nothing() {
    const ROUNDS: usize = 4;
    let mut s = Server::start().await;
    let b = s.new_bucket("kill-abort").await;
    s.put(&b, "keep", b"kept object".to_vec()).await;
    let (mut gone, mut alive) = (0, 0);
    for round in 0..ROUNDS {
        let key = format!("up-{round}");
        let id = create_upload(&s, &b, &key).await;
        let sizes: Vec<usize> = (1..=4).map(|n| 100_000 * n + round).collect();
        for (i, len) in sizes.iter().enumerate() {
            upload_part(&s, &b, &key, &id, i as i32 + 1, Gen::new(170 + i as u64).bytes(*len)).await;
        }
        let mut h = Vec::new();
        let target = s.signer().sign(
            "DELETE",
            &format!("/{b}/{key}"),
            &[("uploadId", &id)],
            &mut h,
            &s.host(),
            EMPTY_SHA256,
            SystemTime::now(),
        );
        let mut req = format!("DELETE {target} HTTP/1.1\r\n");
        for (k, v) in &h {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut conn = TcpStream::connect(s.addr).unwrap();
        conn.write_all(req.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_micros(round as u64 * 500));
        s.kill();
        drop(conn);
        s.restart();

        assert_eq!(
            count_files(&s.tmp_dir()),
            0,
            "round {round}: DIR/tmp not empty after restart"
        );
        match s.client.list_parts().bucket(&b).key(&key).upload_id(&id).send().await {
            Ok(lp) => {
                alive += 1;
                let listed: Vec<i64> = lp.parts().iter().filter_map(|p| p.size()).collect();
                let want: Vec<i64> = sizes.iter().map(|l| *l as i64).collect();
                assert_eq!(listed, want, "round {round}: surviving upload lost parts");
                let mut expected: Vec<u64> = sizes.iter().map(|l| *l as u64).collect();
                expected.push(11);
                expected.sort_unstable();
                assert_eq!(
                    file_sizes(&s.blobs_dir()),
                    expected,
                    "round {round}: upload alive after restart, but its part files differ"
                );
                s.client
                    .abort_multipart_upload()
                    .bucket(&b)
                    .key(&key)
                    .upload_id(&id)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: abort after restart: {e:?}"));
            }
            Err(e) => {
                gone += 1;
                assert_eq!(
                    (err_status(&e), err_code(&e).as_str()),
                    (404, "NoSuchUpload"),
                    "round {round}: {e:?}"
                );
            }
        }
        let ok = eventually(Duration::from_secs(5), || file_sizes(&s.blobs_dir()) == vec![11]).await;
        assert!(
            ok,
            "round {round}: after kill -9 during abort and restart, orphaned files: {:?}",
            list_files(&s.blobs_dir())
        );
    }
    eprintln!("kill during abort: {gone} aborted before the kill, {alive} not");
    assert_eq!(s.get(&b, "keep").await, b"kept object");
}
