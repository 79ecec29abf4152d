//! Faults of the machine: a data volume that fills up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};

use crate::common::*;

/// A small tmpfs mounted over a directory for the length of a test.
struct SmallVolume {
    at: PathBuf,
}

impl SmallVolume {
    /// Mounts a tmpfs of `megabytes` over `at`; `None` where the test may not
    /// mount file systems (it needs root).
    fn mount(at: &Path, megabytes: u32) -> Option<SmallVolume> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?;
        status.success().then(|| SmallVolume { at: at.to_path_buf() })
    }
}

/// A server whose data directory is a tmpfs of `megabytes`; `None` (after
/// saying so) where the test may not mount one.
async fn server_on_small_volume(megabytes: u32) -> Option<(Server, SmallVolume)> {
    let mut s = Server::start().await;
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    let Some(volume) = SmallVolume::mount(&s.data_dir, megabytes) else {
        eprintln!("skipped: this test needs permission to mount a tmpfs");
        return None;
    };
    s.restart();
    Some((s, volume))
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

#[tokio::test]
async fn a_full_volume_refuses_writes_cleanly_and_recovers_when_space_is_freed() {
    let Some((mut s, _volume)) = server_on_small_volume(24).await else {
        return;
    };
    let b = s.new_bucket("full").await;
    let body = pseudo_random_bytes(1, 1 << 20);
    let mut stored = Vec::new();
    let refusal = loop {
        assert!(stored.len() < 40, "a 24 MiB volume cannot take 40 MiB");
        let key = format!("k{}", stored.len());
        let put = s
            .client
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        match put {
            Ok(_) => stored.push(key),
            Err(err) => break err,
        }
    };
    assert_eq!(err_status(&refusal), 507, "{refusal:?}");
    assert_eq!(err_code(&refusal), "XCofferStorageFull");
    assert!(
        stored.len() >= 15,
        "most of the volume holds data: {} objects",
        stored.len()
    );
    assert_eq!(count_files(&s.tmp_dir()), 0, "nothing half-written remains");
    assert_eq!(count_files(&s.blobs_dir()), stored.len());

    // Reads go on; so do metadata writes, and deletes bring space back.
    assert_eq!(s.get(&b, &stored[0]).await, body);
    s.new_bucket("still-possible").await;
    for key in stored.drain(..3) {
        s.client.delete_object().bucket(&b).key(&key).send().await.unwrap();
    }
    s.client
        .put_object()
        .bucket(&b)
        .key("after")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("writes resume once space is freed");
    stored.push("after".to_owned());

    s.kill();
    s.restart();
    for key in &stored {
        assert_eq!(s.get(&b, key).await, body, "{key} survives");
    }
}

/// Fills what is left of the volume at `dir` with one file; returns its path.
fn fill_up(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0x5a_u8; 64 << 10];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    // The last partial block: whatever single bytes still fit.
    while std::io::Write::write_all(&mut file, &[0x5a]).is_ok() {}
    path
}

#[tokio::test]
async fn a_volume_filled_by_another_process_stops_metadata_writes_until_freed_without_a_restart() {
    let Some((s, _volume)) = server_on_small_volume(24).await else {
        return;
    };
    let b = s.new_bucket("filled").await;
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for key in &keys {
        s.put(&b, key, pseudo_random_bytes(2, 2000)).await;
    }

    // Another process takes every byte, the reserve included. Metadata keeps
    // growing (buckets with large tag sets) until redb's file must grow and
    // a commit fails inside redb, which then refuses all writes.
    let filler = fill_up(&s.data_dir);
    let tags = Tagging::builder()
        .set_tag_set(Some(
            (0..50)
                .map(|i| {
                    Tag::builder()
                        .key(format!("{i:0>128}"))
                        .value("v".repeat(256))
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    let mut refused = None;
    for i in 0..400 {
        let bucket = format!("{b}-{i}");
        let created = s.client.create_bucket().bucket(&bucket).send().await;
        let tagged = match created {
            Ok(_) => s
                .client
                .put_bucket_tagging()
                .bucket(&bucket)
                .tagging(tags.clone())
                .send()
                .await
                .map_err(|err| format!("{err:?}")),
            Err(err) => Err(format!("{err:?}")),
        };
        if let Err(err) = tagged {
            refused = Some(err);
            break;
        }
    }
    let refused = refused.expect("metadata cannot grow forever on a full volume");
    assert!(refused.contains("InternalError"), "{refused}");
    assert_eq!(s.get(&b, &keys[30]).await.len(), 2000, "reads go on");
    // redb refuses every write after an I/O error until it is opened again:
    // the store reopens it, and deletes go on even before space is freed.
    for key in &keys[..20] {
        s.client
            .delete_object()
            .bucket(&b)
            .key(key)
            .send()
            .await
            .expect("deletes go on after the failed commit");
    }
    let reopened = || s.server_log().contains("reopened the metadata database");
    assert!(eventually(Duration::from_secs(10), reopened).await);

    std::fs::remove_file(filler).unwrap();
    for key in &keys[20..25] {
        s.client
            .delete_object()
            .bucket(&b)
            .key(key)
            .send()
            .await
            .expect("deletes resume once space is freed, without a restart");
    }
    s.put(&b, "after", "after").await;
    assert_eq!(s.get(&b, "after").await, b"after");
    for key in &keys[25..] {
        assert_eq!(s.get(&b, key).await.len(), 2000, "{key} is intact");
    }
}
