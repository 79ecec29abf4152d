//! Faults of the machine: a data volume that fills up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

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

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

#[tokio::test]
async fn a_full_volume_refuses_writes_cleanly_and_recovers_when_space_is_freed() {
    let mut s = Server::start().await;
    assert!(s.terminate(Duration::from_secs(30)).is_some());
    let Some(_volume) = SmallVolume::mount(&s.data_dir, 24) else {
        eprintln!("skipped: this test needs permission to mount a tmpfs");
        return;
    };
    s.restart();
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
