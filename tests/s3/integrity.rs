//! Bit rot: bytes altered on disk after an object was stored never reach a
//! client as if they were whole, and `coffer scrub` (offline) and the
//! background scrub report every damaged version.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use crate::common::*;

/// The data file holding exactly `size` bytes (each test makes sizes unique).
fn data_file_of_size(s: &Server, size: u64) -> PathBuf {
    let found: Vec<_> = list_files(&s.blobs_dir())
        .into_iter()
        .filter(|(_, len)| *len == size)
        .collect();
    assert_eq!(found.len(), 1, "one data file of {size} bytes: {found:?}");
    found[0].0.clone()
}

/// Flips one bit of the byte at `at` in `path`.
fn rot(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x04;
    std::fs::write(path, bytes).unwrap();
}

async fn full_read(s: &Server, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let out = s
        .client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    out.body
        .collect()
        .await
        .map(|bytes| bytes.into_bytes().to_vec())
        .map_err(|e| format!("{e:?}"))
}

async fn multipart(s: &Server, bucket: &str, key: &str, parts: &[Vec<u8>]) {
    let upload = s
        .client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut done = CompletedMultipartUpload::builder();
    for (index, part) in parts.iter().enumerate() {
        let number = index as i32 + 1;
        let out = s
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        done = done.parts(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s.client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(done.build())
        .send()
        .await
        .unwrap();
}

fn run_scrub(data_dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["scrub", "--data-dir"])
        .arg(data_dir)
        .env_remove("COFFER_MASTER_KEY")
        .output()
        .expect("run coffer scrub");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn rotten_bytes_fail_the_read_instead_of_reaching_the_client() {
    let s = Server::start().await;
    let b = s.new_bucket("rot").await;
    let single = pseudo_random_bytes(1, 300_001);
    s.put(&b, "single", single.clone()).await;
    let parts = [pseudo_random_bytes(2, 5 << 20), pseudo_random_bytes(3, 70_003)];
    multipart(&s, &b, "multi", &parts).await;
    assert_eq!(full_read(&s, &b, "single").await.unwrap(), single);
    assert_eq!(full_read(&s, &b, "multi").await.unwrap(), parts.concat());

    rot(&data_file_of_size(&s, 300_001), 150_000);
    rot(&data_file_of_size(&s, 70_003), 70_002);
    let read = full_read(&s, &b, "single").await;
    assert!(read.is_err(), "a rotten single PUT must not read back whole");
    let read = full_read(&s, &b, "multi").await;
    assert!(read.is_err(), "a rotten part must not read back whole");
    // Copies read through the same checks: rot does not spread.
    let copied = s
        .client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/single"))
        .send()
        .await;
    assert!(copied.is_err(), "a copy of rotten data must fail");
    expect_err(s.client.head_object().bucket(&b).key("copy").send().await, 404, "");
    // The intact part of the multipart object still reads by part number.
    let first = s
        .client
        .get_object()
        .bucket(&b)
        .key("multi")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.body.collect().await.unwrap().into_bytes().to_vec(), parts[0]);
    assert!(
        eventually(Duration::from_secs(10), || s
            .server_log()
            .contains("stored data does not match"))
        .await,
        "the server logs the rot"
    );
}

#[tokio::test]
async fn coffer_scrub_reports_every_damaged_version() {
    let mut s = Server::start().await;
    let b = s.new_bucket("scrub").await;
    s.put(&b, "intact", pseudo_random_bytes(4, 10_007)).await;
    s.put(&b, "rotten", pseudo_random_bytes(5, 10_009)).await;
    s.put(&b, "short", pseudo_random_bytes(6, 10_011)).await;
    s.client
        .put_object()
        .bucket(&b)
        .key("sealed")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(pseudo_random_bytes(7, 20_000)))
        .send()
        .await
        .unwrap();
    multipart(
        &s,
        &b,
        "multi",
        &[pseudo_random_bytes(8, 5 << 20), pseudo_random_bytes(9, 10_013)],
    )
    .await;
    assert!(
        s.terminate(Duration::from_secs(30))
            .is_some_and(|status| status.success())
    );

    let (ok, text) = run_scrub(&s.data_dir);
    assert!(ok, "an intact store scrubs clean: {text}");
    assert!(text.contains("scrubbed 5 versions"), "{text}");

    rot(&data_file_of_size(&s, 10_009), 0);
    let short = data_file_of_size(&s, 10_011);
    let bytes = std::fs::read(&short).unwrap();
    std::fs::write(&short, &bytes[..10_000]).unwrap();
    // The sealed file is the plaintext plus one 16-byte tag per 64 KiB chunk.
    rot(&data_file_of_size(&s, 20_016), 19_000);
    rot(&data_file_of_size(&s, 10_013), 5);
    let (ok, text) = run_scrub(&s.data_dir);
    assert!(!ok, "damage makes the scrub fail: {text}");
    for key in ["rotten", "short", "sealed", "multi"] {
        assert!(
            text.contains(&format!("damaged: {b}/{key} ")),
            "{key} is reported: {text}"
        );
    }
    assert!(!text.contains(&format!("{b}/intact ")), "{text}");
    assert!(text.contains("4 damaged"), "{text}");
}

#[tokio::test]
async fn the_background_scrub_logs_damage() {
    let s = Server::start_with_args(&["--scrub-interval", "1"]);
    let b = s.new_bucket("bgscrub").await;
    s.put(&b, "rotten", pseudo_random_bytes(10, 12_345)).await;
    rot(&data_file_of_size(&s, 12_345), 100);
    let logged = eventually(Duration::from_secs(20), || {
        s.server_log().contains("scrub found a damaged object version")
    })
    .await;
    assert!(logged, "{}", s.server_log());
    assert!(s.server_log().contains("rotten"));
}
