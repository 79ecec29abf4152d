//! The embedded engine through its public API: listing semantics, overwrite
//! and delete freeing data files, and recovery after an unclean stop.

use std::path::Path;

use coffer_engine::{
    BucketRecord, ByteStream, Engine, EngineError, ListEntry, ListPage, ListQuery, NULL_VERSION_ID, ObjectRecord,
    WriteCondition,
};
use coffer_store::Store;
use futures::{StreamExt, TryStreamExt};

fn bucket(name: &str) -> BucketRecord {
    BucketRecord {
        name: name.to_owned(),
        owner: "owner".to_owned(),
        location: None,
        created: time::OffsetDateTime::now_utc(),
        versioning: None,
        object_lock_enabled: false,
    }
}

fn object(key: &str, size: u64) -> ObjectRecord {
    ObjectRecord {
        key: key.to_owned(),
        version_id: NULL_VERSION_ID.to_owned(),
        size,
        etag: "etag".to_owned(),
        last_modified: time::OffsetDateTime::now_utc(),
        owner: "owner".to_owned(),
        content: Default::default(),
        user_metadata: Default::default(),
        checksums: Default::default(),
        segments: Vec::new(),
        storage_class: None,
        tags: Default::default(),
        lock: None,
        encryption: None,
        delete_marker: false,
    }
}

fn body(bytes: &'static [u8]) -> ByteStream {
    futures::stream::iter([Ok(bytes::Bytes::from_static(bytes))]).boxed()
}

async fn put(store: &Store, bucket: &str, key: &str, bytes: &'static [u8]) {
    let staged = store.stage(body(bytes)).await.unwrap();
    store
        .put_object(bucket, object(key, bytes.len() as u64), staged, WriteCondition::Always)
        .await
        .unwrap();
}

async fn read_all(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    let record = store.object(bucket, key, None).await.unwrap();
    let chunks: Vec<bytes::Bytes> = store.open(&record, None).await.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { count_files(&path) } else { 1 }
        })
        .sum()
}

/// Keys as they are, common prefixes with a `*` after them.
fn names(page: &ListPage) -> Vec<String> {
    page.entries
        .iter()
        .map(|entry| match entry {
            ListEntry::Item(object) => object.key.clone(),
            ListEntry::CommonPrefix(prefix) => format!("{prefix}*"),
        })
        .collect()
}

fn grouped(start_after: Option<&str>, max_keys: usize) -> ListQuery {
    ListQuery {
        delimiter: Some("/".into()),
        start_after: start_after.map(str::to_owned),
        max_keys,
        ..Default::default()
    }
}

#[tokio::test]
async fn listing_groups_by_delimiter_and_pages_past_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket(bucket("b")).await.unwrap();
    store.create_bucket(bucket("b2")).await.unwrap();
    for key in ["a/1", "a/2", "b", "c/x/1", "c/y", "d", "é"] {
        put(&store, "b", key, b"x").await;
    }
    put(&store, "b2", "a/other-bucket", b"x").await;

    let all = ListQuery {
        max_keys: 1000,
        ..Default::default()
    };
    let page = store.list_objects("b", &all).await.unwrap();
    assert_eq!(names(&page), ["a/1", "a/2", "b", "c/x/1", "c/y", "d", "é"]);
    assert!(!page.truncated);

    let page = store.list_objects("b", &grouped(None, 2)).await.unwrap();
    assert_eq!(names(&page), ["a/*", "b"]);
    assert!(page.truncated);
    let page = store.list_objects("b", &grouped(Some("b"), 2)).await.unwrap();
    assert_eq!(names(&page), ["c/*", "d"]);
    assert!(page.truncated);
    let page = store.list_objects("b", &grouped(Some("d"), 2)).await.unwrap();
    assert_eq!(names(&page), ["é"]);
    assert!(!page.truncated);

    let page = store.list_objects("b", &grouped(Some("a/"), 2)).await.unwrap();
    assert_eq!(
        names(&page),
        ["b", "c/*"],
        "a common prefix at or before start_after is not repeated"
    );

    let nested = ListQuery {
        prefix: "c/".into(),
        ..grouped(None, 10)
    };
    let page = store.list_objects("b", &nested).await.unwrap();
    assert_eq!(names(&page), ["c/x/*", "c/y"]);
}

#[tokio::test]
async fn overwrite_and_delete_free_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket(bucket("b")).await.unwrap();
    put(&store, "b", "k", b"first").await;
    put(&store, "b", "k", b"second").await;
    assert_eq!(read_all(&store, "b", "k").await, b"second");
    assert_eq!(count_files(&dir.path().join("blobs")), 1);
    assert!(matches!(
        store.delete_bucket("b").await,
        Err(EngineError::BucketNotEmpty(_))
    ));
    store.delete_object("b", "k", None).await.unwrap();
    assert_eq!(count_files(&dir.path().join("blobs")), 0);
    assert!(matches!(
        store.object("b", "k", None).await,
        Err(EngineError::NoSuchKey(_))
    ));
    store.delete_bucket("b").await.unwrap();
}

#[tokio::test]
async fn an_open_version_stays_readable_after_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket(bucket("b")).await.unwrap();
    put(&store, "b", "k", b"old bytes").await;
    let old = store.object("b", "k", None).await.unwrap();
    let reader = store.open(&old, None).await.unwrap();
    put(&store, "b", "k", b"new bytes").await;
    let chunks: Vec<bytes::Bytes> = reader.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"old bytes");
    assert!(matches!(store.open(&old, None).await, Err(EngineError::VersionGone)));
}

#[tokio::test]
async fn recovery_removes_staging_files_and_orphans_after_an_unclean_stop() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket(bucket("b")).await.unwrap();
        put(&store, "b", "kept", b"kept").await;
        // The debris of a crash: a half-received body, and a data file renamed
        // into place whose record was never committed. There is no close(), so
        // the RUNNING marker stays, as after a crash.
        std::fs::write(dir.path().join("tmp/partial"), b"half").unwrap();
        std::fs::write(dir.path().join("blobs/ab/ab000000000000000000000000000000"), b"orphan").unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
    assert_eq!(count_files(&dir.path().join("blobs")), 1);
    assert_eq!(read_all(&store, "b", "kept").await, b"kept");
    store.close().unwrap();
}

#[tokio::test]
async fn a_failed_body_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let failing: ByteStream = futures::stream::iter([
        Ok(bytes::Bytes::from_static(b"some")),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    assert!(matches!(store.stage(failing).await, Err(EngineError::Body(_))));
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
}
