//! Crashes at every step of a write's durable sequence, hit exactly: a test
//! build (`--features failpoints`) aborts the server at a named point inside
//! the storage engine (between writing, fsyncing, renaming and committing),
//! and after a restart the store holds either the old state or the new one,
//! whole, and no file that no record names.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// The points in write order, and whether a crash there keeps the new state.
const POINTS: [(&str, bool); 5] = [
    ("before-data-fsync", false),
    ("before-metadata", false),
    ("before-commit", false),
    ("before-directory-fsync", false),
    ("after-commit", true),
];

/// A server holding `k` = "old" and `keep` = "kept" in bucket `b`, restarted
/// to crash at `point`.
async fn armed(point: &str) -> (Server, String) {
    armed_with(point, &[]).await
}

/// [`armed`], the server started with `args` too.
async fn armed_with(point: &str, args: &[&str]) -> (Server, String) {
    let mut s = Server::start_with_args(args);
    let b = s.new_bucket("failpoint").await;
    s.put(&b, "k", "old").await;
    s.put(&b, "keep", "kept").await;
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    let failpoint = format!("{point}=return");
    s.restart_with_args(&[args, &["--failpoint", &failpoint]].concat());
    (s, b)
}

/// Waits for the crash the last request caused, then restarts unarmed.
fn crashed_and_restarted(s: &mut Server, point: &str) {
    let status = s.wait_for_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|status| !status.success()),
        "{point}: the server crashed"
    );
    s.restart_with_args(&[]);
    assert_eq!(count_files(&s.tmp_dir()), 0, "{point}: staging is empty after recovery");
}

/// Overwrites `k` on a server started with `args` and armed at `point`, and
/// checks what the restarted store holds and how many data files it keeps.
async fn overwrite_cut_at(point: &str, keeps_new: bool, args: &[&str], data_files: usize) {
    let (mut s, b) = armed_with(point, args).await;
    let put = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await;
    assert!(put.is_err(), "{point}: the write was never acknowledged");
    crashed_and_restarted(&mut s, point);
    let expected: &[u8] = if keeps_new { b"new" } else { b"old" };
    assert_eq!(s.get(&b, "k").await, expected, "{point}");
    assert_eq!(s.get(&b, "keep").await, b"kept", "{point}");
    assert_eq!(count_files(&s.blobs_dir()), data_files, "{point}: no orphan");
}

#[tokio::test]
async fn an_overwrite_cut_at_any_point_leaves_the_old_object_or_the_new_one() {
    for (point, keeps_new) in POINTS {
        // One data file per object.
        overwrite_cut_at(point, keeps_new, &[], 2).await;
    }
}

#[tokio::test]
async fn an_inline_overwrite_cut_at_any_point_leaves_the_old_object_or_the_new_one() {
    // Kept in the database, a small object has no data file to write.
    for (point, keeps_new) in POINTS.into_iter().filter(|(point, _)| *point != "before-data-fsync") {
        overwrite_cut_at(point, keeps_new, &["--inline-max-bytes", "1024"], 0).await;
    }
}

#[tokio::test]
async fn a_delete_cut_at_its_commit_leaves_the_object_or_frees_it_whole() {
    for (point, keeps_new) in POINTS.into_iter().filter(|(point, _)| point.ends_with("commit")) {
        let (mut s, b) = armed(point).await;
        let deleted = s.client.delete_object().bucket(&b).key("k").send().await;
        assert!(deleted.is_err(), "{point}");
        crashed_and_restarted(&mut s, point);
        let found = s.client.get_object().bucket(&b).key("k").send().await;
        assert_eq!(
            found.is_err(),
            keeps_new,
            "{point}: deleted exactly when the commit happened"
        );
        let files = if keeps_new { 1 } else { 2 };
        assert_eq!(count_files(&s.blobs_dir()), files, "{point}: no orphaned data file");
    }
}

#[tokio::test]
async fn a_completion_cut_before_its_commit_leaves_the_upload_to_complete_again() {
    let (mut s, b) = armed("before-commit").await;
    // Creating the upload and its part commit too: arm only the completion.
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    s.restart_with_args(&[]);
    let upload = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();
    let part = s
        .client
        .upload_part()
        .bucket(&b)
        .key("mpu")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part bytes"))
        .send()
        .await
        .unwrap();
    let parts = one_part(part.e_tag().unwrap());
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    s.restart_with_args(&["--failpoint", "before-commit=return"]);
    let completed = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .upload_id(&upload_id)
        .multipart_upload(parts.clone())
        .send()
        .await;
    assert!(completed.is_err());
    crashed_and_restarted(&mut s, "before-commit");
    expect_err(s.client.head_object().bucket(&b).key("mpu").send().await, 404, "");
    s.client
        .complete_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .upload_id(&upload_id)
        .multipart_upload(parts)
        .send()
        .await
        .expect("the upload and its part survived the crash");
    assert_eq!(s.get(&b, "mpu").await, b"part bytes");
    assert_eq!(count_files(&s.blobs_dir()), 3);
}

/// A panic while serving a request, planted with the fail crate's `panic`
/// action where a PUT has read its body and is about to fsync it (as a bug
/// there would), answers that request with S3's InternalError, is logged,
/// and is counted and access-logged like any other 500; the staging file
/// is removed and the server goes on serving.
#[tokio::test]
async fn a_panic_while_serving_answers_internal_error() {
    let s = Server::start_with_args(&["--failpoint", "before-data-fsync=panic"]);
    let b = s.new_bucket("panic").await;
    // Larger than any object kept inline in the database, so the PUT stages
    // its body in a file and reaches the point.
    let body = vec![b'x'; 64 << 10];
    let resp = s.signed("PUT", &format!("/{b}/k"), &[], &[], &body);
    resp.assert_s3_error(500, "InternalError");
    let id = resp.header("x-amz-request-id").expect("a request id").to_owned();
    assert_eq!(resp.xml("RequestId").as_deref(), Some(id.as_str()), "{resp}");
    assert_eq!(resp.xml("Resource"), Some(format!("/{b}/k")), "{resp}");
    assert_eq!(
        resp.xml("Message").as_deref(),
        Some("We encountered an internal error. Please try again.")
    );

    let listed = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .send()
        .await
        .expect("still serving");
    assert_eq!(listed.key_count(), Some(0), "nothing was stored");
    assert_eq!(count_files(&s.tmp_dir()), 0, "the staging file is gone");

    let scrape = crate::observability::scrape_after(&s, 3).await;
    assert_eq!(
        scrape.get(
            "coffer_s3_requests_total",
            &[("operation", "PutObject"), ("status", "500")]
        ),
        1.0
    );
    assert_eq!(
        scrape.get(
            "coffer_s3_errors_total",
            &[("operation", "PutObject"), ("code", "InternalError")]
        ),
        1.0
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let log = s.server_log();
            crate::observability::access_line(&log, &id).is_some()
        })
        .await,
        "an access line for the request in:\n{}",
        s.server_log()
    );
    let log = s.server_log();
    assert!(
        log.lines()
            .any(|line| line.contains("serving a request panicked") && line.contains(&id)),
        "the panic is logged with the request id:\n{log}"
    );
    let access = crate::observability::access_line(&log, &id).expect("an access log line");
    assert_eq!(access.get("status").map(String::as_str), Some("500"), "{access:?}");
    assert_eq!(
        access.get("error_code").map(String::as_str),
        Some("InternalError"),
        "{access:?}"
    );
}
