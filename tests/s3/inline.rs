//! Small objects kept inline, in the metadata database: they read, range,
//! copy, version and delete like any other object, leave no data file, larger
//! or encrypted ones still get theirs, and rotten inline bytes fail their
//! read and the scrub as rotten files do.

use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};

use crate::common::*;
use crate::versioning::set_versioning;

const INLINE_MAX_BYTES: usize = 16 << 10;

async fn inline_server() -> Server {
    Server::start_with_args(&["--inline-max-bytes", &INLINE_MAX_BYTES.to_string()])
}

async fn read(s: &Server, bucket: &str, key: &str, range: Option<&str>) -> Result<Vec<u8>, String> {
    let out = s
        .client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(str::to_owned))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let bytes = out.body.collect().await.map_err(|e| format!("{e:?}"))?;
    Ok(bytes.into_bytes().to_vec())
}

#[tokio::test]
async fn small_objects_need_no_data_file_and_read_back_whole_and_in_ranges() {
    let s = inline_server().await;
    let b = s.new_bucket("inline").await;
    let small = pseudo_random_bytes(1, INLINE_MAX_BYTES);
    let etag = s.put(&b, "small", small.clone()).await;
    assert_eq!(etag, format!("\"{}\"", md5_hex(&small)));
    s.put(&b, "empty", Vec::new()).await;
    assert_eq!(
        count_files(&s.blobs_dir()),
        0,
        "objects up to the limit are kept inline"
    );

    assert_eq!(read(&s, &b, "small", None).await.unwrap(), small);
    assert_eq!(
        read(&s, &b, "small", Some("bytes=100-199")).await.unwrap(),
        small[100..200]
    );
    assert_eq!(
        read(&s, &b, "small", Some("bytes=-10")).await.unwrap(),
        small[small.len() - 10..]
    );
    assert_eq!(read(&s, &b, "empty", None).await.unwrap(), b"");
    let head = s.client.head_object().bucket(&b).key("small").send().await.unwrap();
    assert_eq!(head.content_length(), Some(INLINE_MAX_BYTES as i64));

    let larger = pseudo_random_bytes(2, INLINE_MAX_BYTES + 1);
    s.put(&b, "larger", larger.clone()).await;
    assert_eq!(count_files(&s.blobs_dir()), 1, "a larger object gets a data file");
    assert_eq!(read(&s, &b, "larger", None).await.unwrap(), larger);
}

#[tokio::test]
async fn encrypted_objects_keep_their_sealed_data_files() {
    let s = inline_server().await;
    let b = s.new_bucket("inline-sse").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("sealed")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(count_files(&s.blobs_dir()), 1, "sealed data is never kept inline");
    assert_eq!(read(&s, &b, "sealed", None).await.unwrap(), b"secret");
}

#[tokio::test]
async fn inline_objects_overwrite_copy_version_and_delete() {
    let s = inline_server().await;
    let b = s.new_bucket("inline-life").await;
    s.put(&b, "k", "first").await;
    s.put(&b, "k", "second").await;
    assert_eq!(read(&s, &b, "k", None).await.unwrap(), b"second");
    s.client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/k"))
        .send()
        .await
        .unwrap();
    s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    expect_err(s.client.head_object().bucket(&b).key("k").send().await, 404, "");
    assert_eq!(read(&s, &b, "copy", None).await.unwrap(), b"second");

    set_versioning(&s.client, &b, BucketVersioningStatus::Enabled).await;
    let mut ids = Vec::new();
    for body in ["v1", "v2", "v3"] {
        let out = s
            .client
            .put_object()
            .bucket(&b)
            .key("v")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
        ids.push(out.version_id().unwrap().to_owned());
    }
    s.client
        .delete_object()
        .bucket(&b)
        .key("v")
        .version_id(&ids[1])
        .send()
        .await
        .unwrap();
    for (id, body) in [(&ids[0], "v1"), (&ids[2], "v3")] {
        let out = s
            .client
            .get_object()
            .bucket(&b)
            .key("v")
            .version_id(id)
            .send()
            .await
            .unwrap();
        assert_eq!(out.body.collect().await.unwrap().into_bytes(), body.as_bytes());
    }
    expect_err(
        s.client
            .get_object()
            .bucket(&b)
            .key("v")
            .version_id(&ids[1])
            .send()
            .await,
        404,
        "NoSuchVersion",
    );
    assert_eq!(count_files(&s.blobs_dir()), 0);
}

#[tokio::test]
async fn a_small_part_is_kept_in_a_file_and_completes() {
    let s = inline_server().await;
    let b = s.new_bucket("inline-mpu").await;
    let upload = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s
        .client
        .upload_part()
        .bucket(&b)
        .key("mpu")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"one small part"))
        .send()
        .await
        .unwrap();
    assert_eq!(count_files(&s.blobs_dir()), 1, "parts are kept in files");
    s.client
        .complete_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .upload_id(upload_id)
        .multipart_upload(one_part(part.e_tag().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&s, &b, "mpu", None).await.unwrap(), b"one small part");
}

/// Flips a bit in every copy of `marker` in the file at `path` (a
/// copy-on-write database may still hold stale copies of a value).
fn rot_every_copy(path: &std::path::Path, marker: &[u8]) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let found: Vec<usize> = bytes
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| *window == marker)
        .map(|(at, _)| at)
        .collect();
    for at in &found {
        bytes[at + marker.len() / 2] ^= 0x04;
    }
    std::fs::write(path, bytes).unwrap();
    found.len()
}

#[tokio::test]
async fn rotten_inline_bytes_fail_the_read_and_the_scrub() {
    let mut s = inline_server().await;
    let b = s.new_bucket("inline-rot").await;
    let body = pseudo_random_bytes(7, 4096);
    s.put(&b, "rotten-one", body.clone()).await;
    s.put(&b, "intact", "intact").await;
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    let rotten = rot_every_copy(&s.data_dir.join("coffer.redb"), &body[1000..1100]);
    assert!(rotten > 0, "the body is in the database file");
    s.restart();

    assert!(
        read(&s, &b, "rotten-one", None).await.is_err(),
        "rotten inline bytes must not read back whole"
    );
    assert_eq!(read(&s, &b, "intact", None).await.unwrap(), b"intact");
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["scrub", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .expect("run coffer scrub");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the scrub fails on damage: {text}");
    assert!(
        text.contains("rotten-one"),
        "the scrub names the damaged object: {text}"
    );
    assert!(!text.contains("intact"), "and only that one: {text}");
}
