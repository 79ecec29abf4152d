//! The embedded engine through its public API: listing semantics, overwrite
//! and delete freeing data files, and recovery after an unclean stop.

use std::path::Path;

use coffer_engine::{
    BucketChange, BucketRecord, BucketUsage, ByteRange, ByteStream, Engine, EngineError, ListEntry, ListPage,
    ListQuery, NULL_VERSION_ID, ObjectRecord, PartRecord, SealingKey, UploadRecord, VERSIONING_ENABLED,
    VERSIONING_SUSPENDED, WriteCondition,
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
        default_encryption: None,
        quota_bytes: None,
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
        acl: None,
    }
}

fn body(bytes: &'static [u8]) -> ByteStream {
    futures::stream::iter([Ok(bytes::Bytes::from_static(bytes))]).boxed()
}

async fn put(store: &Store, bucket: &str, key: &str, bytes: &'static [u8]) {
    let staged = store.stage(body(bytes), None).await.unwrap();
    store
        .put_object(bucket, object(key, bytes.len() as u64), staged, WriteCondition::Always)
        .await
        .unwrap();
}

async fn read_all(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    let record = store.object(bucket, key, None).await.unwrap();
    let chunks: Vec<bytes::Bytes> = store
        .open(&record, None, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

/// A store keeping every object in a data file, which these tests count.
fn open(dir: &Path) -> Store {
    Store::open(dir).unwrap().with_inline_max_bytes(0)
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
    let store = open(dir.path());
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
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    put(&store, "b", "k", b"first").await;
    put(&store, "b", "k", b"second").await;
    assert_eq!(read_all(&store, "b", "k").await, b"second");
    assert_eq!(count_files(&dir.path().join("blobs")), 1);
    assert!(matches!(
        store.delete_bucket("b").await,
        Err(EngineError::BucketNotEmpty(_))
    ));
    store.delete_object("b", "k", None, &Default::default()).await.unwrap();
    assert_eq!(count_files(&dir.path().join("blobs")), 0);
    assert!(matches!(
        store.object("b", "k", None).await,
        Err(EngineError::NoSuchKey(_))
    ));
    store.delete_bucket("b").await.unwrap();
}

/// A snapshot read often enough keeps the versions and inline bodies it
/// found; the next commit must end them, so that reads see the write.
#[tokio::test]
async fn what_a_snapshot_kept_ends_with_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket(bucket("b")).await.unwrap();
    put(&store, "b", "small", b"old bytes").await;
    for _ in 0..200 {
        assert_eq!(read_all(&store, "b", "small").await, b"old bytes");
    }
    put(&store, "b", "small", b"newer bytes").await;
    let record = store.object("b", "small", None).await.unwrap();
    assert_eq!(record.size, 11);
    assert_eq!(read_all(&store, "b", "small").await, b"newer bytes");
    for _ in 0..200 {
        assert_eq!(read_all(&store, "b", "small").await, b"newer bytes");
    }
    store
        .delete_object("b", "small", None, &Default::default())
        .await
        .unwrap();
    assert!(matches!(
        store.object("b", "small", None).await,
        Err(EngineError::NoSuchKey(_))
    ));
    store.delete_bucket("b").await.unwrap();
    assert!(matches!(
        store.object("b", "small", None).await,
        Err(EngineError::NoSuchBucket(_))
    ));
}

#[tokio::test]
async fn an_open_version_stays_readable_after_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    put(&store, "b", "k", b"old bytes").await;
    let old = store.object("b", "k", None).await.unwrap();
    let reader = store.open(&old, None, None).await.unwrap();
    put(&store, "b", "k", b"new bytes").await;
    let chunks: Vec<bytes::Bytes> = reader.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"old bytes");
    assert!(matches!(
        store.open(&old, None, None).await,
        Err(EngineError::VersionGone)
    ));
}

#[tokio::test]
async fn recovery_removes_staging_files_and_orphans_after_an_unclean_stop() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create_bucket(bucket("b")).await.unwrap();
        put(&store, "b", "kept", b"kept").await;
        // The debris of a crash: a half-received body, and a data file renamed
        // into place whose record was never committed. There is no close(), so
        // the RUNNING marker stays, as after a crash.
        std::fs::write(dir.path().join("tmp/partial"), b"half").unwrap();
        std::fs::write(dir.path().join("blobs/ab/ab000000000000000000000000000000"), b"orphan").unwrap();
    }
    let store = open(dir.path());
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
    assert_eq!(count_files(&dir.path().join("blobs")), 1);
    assert_eq!(read_all(&store, "b", "kept").await, b"kept");
    store.close().unwrap();
}

#[tokio::test]
async fn a_failed_body_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let failing: ByteStream = futures::stream::iter([
        Ok(bytes::Bytes::from_static(b"some")),
        Err(std::io::Error::other("client went away")),
    ])
    .boxed();
    assert!(matches!(store.stage(failing, None).await, Err(EngineError::Body(_))));
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
}

fn upload(key: &str, upload_id: &str) -> UploadRecord {
    UploadRecord {
        upload_id: upload_id.to_owned(),
        key: key.to_owned(),
        initiated: time::OffsetDateTime::now_utc(),
        owner: "owner".to_owned(),
        content: Default::default(),
        user_metadata: Default::default(),
        checksum_algorithm: None,
        checksum_type: None,
        storage_class: None,
        tags: Default::default(),
        lock: None,
        encryption: None,
        acl: None,
    }
}

fn part(part_number: u32, size: u64) -> PartRecord {
    PartRecord {
        part_number,
        size,
        etag: format!("etag{part_number}"),
        last_modified: time::OffsetDateTime::now_utc(),
        checksums: Default::default(),
        blob: String::new(),
        salt: None,
    }
}

async fn put_part(
    store: &Store,
    key: &str,
    upload_id: &str,
    number: u32,
    bytes: &'static [u8],
) -> Result<(), EngineError> {
    let staged = store.stage(body(bytes), None).await.unwrap();
    store
        .put_part("b", key, upload_id, part(number, bytes.len() as u64), staged)
        .await
}

/// The object a completion of all of an upload's parts would commit.
async fn completion(store: &Store, key: &str, upload_id: &str) -> ObjectRecord {
    let (parts, _) = store.list_parts("b", key, upload_id, 0, 10_000).await.unwrap();
    ObjectRecord {
        size: parts.iter().map(|p| p.size).sum(),
        segments: parts.iter().map(PartRecord::segment).collect(),
        ..object(key, 0)
    }
}

#[tokio::test]
async fn a_part_committed_after_an_abort_is_refused_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    store.create_upload("b", upload("k", "u1")).await.unwrap();
    put_part(&store, "k", "u1", 1, b"first part").await.unwrap();
    put_part(&store, "k", "u1", 1, b"first part, again").await.unwrap();
    assert_eq!(count_files(&dir.path().join("blobs")), 1, "a replaced part is freed");

    // A part whose body finished streaming before the abort, committing after it.
    let late = store.stage(body(b"late part"), None).await.unwrap();
    store.abort_upload("b", "k", "u1").await.unwrap();
    assert_eq!(
        count_files(&dir.path().join("blobs")),
        0,
        "the abort frees committed parts"
    );
    let refused = store.put_part("b", "k", "u1", part(2, 9), late).await;
    assert!(matches!(refused, Err(EngineError::NoSuchUpload(_))));
    assert_eq!(count_files(&dir.path().join("blobs")), 0);
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
    assert!(matches!(
        store.abort_upload("b", "k", "u1").await,
        Err(EngineError::NoSuchUpload(_))
    ));
    assert!(matches!(
        store.list_parts("b", "k", "u1", 0, 10).await,
        Err(EngineError::NoSuchUpload(_))
    ));
}

#[tokio::test]
async fn complete_reuses_part_files_and_frees_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    store.create_upload("b", upload("k", "u1")).await.unwrap();
    for (number, bytes) in [(1, &b"hello "[..]), (2, b"unused"), (3, b"world")] {
        put_part(&store, "k", "u1", number, bytes).await.unwrap();
    }
    let mut object = completion(&store, "k", "u1").await;
    object.segments.remove(1);
    object.size = 11;
    store
        .complete_upload("b", "u1", object.clone(), WriteCondition::Always)
        .await
        .unwrap();
    assert_eq!(read_all(&store, "b", "k").await, b"hello world");
    assert_eq!(
        count_files(&dir.path().join("blobs")),
        2,
        "the unused part is freed, the others are reused"
    );
    assert!(matches!(
        store.complete_upload("b", "u1", object, WriteCondition::Always).await,
        Err(EngineError::NoSuchUpload(_))
    ));
    assert!(matches!(
        store.abort_upload("b", "k", "u1").await,
        Err(EngineError::NoSuchUpload(_))
    ));
}

#[tokio::test]
async fn a_completion_naming_a_replaced_part_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    store.create_upload("b", upload("k", "u1")).await.unwrap();
    put_part(&store, "k", "u1", 1, b"old").await.unwrap();
    let stale = completion(&store, "k", "u1").await;
    put_part(&store, "k", "u1", 1, b"new").await.unwrap();
    let refused = store.complete_upload("b", "u1", stale, WriteCondition::Always).await;
    assert!(matches!(refused, Err(EngineError::InvalidPart(1))));
    assert!(
        store.upload("b", "k", "u1").await.is_ok(),
        "a refused completion leaves the upload as it was"
    );
}

#[tokio::test]
async fn uploads_list_by_key_then_id_and_die_with_their_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    store.create_bucket(bucket("b2")).await.unwrap();
    for (key, id) in [("a/x", "u2"), ("a/x", "u1"), ("b", "u3"), ("c/y", "u4")] {
        store.create_upload("b", upload(key, id)).await.unwrap();
    }
    store.create_upload("b2", upload("a", "u5")).await.unwrap();
    let ids = |page: ListPage<UploadRecord>| -> Vec<String> {
        page.entries
            .into_iter()
            .map(|entry| match entry {
                ListEntry::Item(upload) => format!("{}@{}", upload.key, upload.upload_id),
                ListEntry::CommonPrefix(prefix) => format!("{prefix}*"),
            })
            .collect()
    };
    let all = ListQuery {
        max_keys: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_uploads("b", &all, None).await.unwrap()),
        ["a/x@u1", "a/x@u2", "b@u3", "c/y@u4"]
    );
    let after = ListQuery {
        start_after: Some("a/x".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(store.list_uploads("b", &after, Some("u1")).await.unwrap()),
        ["a/x@u2", "b@u3", "c/y@u4"]
    );
    assert_eq!(
        ids(store.list_uploads("b", &after, None).await.unwrap()),
        ["b@u3", "c/y@u4"]
    );
    let grouped = ListQuery {
        delimiter: Some("/".into()),
        ..all
    };
    assert_eq!(
        ids(store.list_uploads("b", &grouped, None).await.unwrap()),
        ["a/*", "b@u3", "c/*"]
    );

    put_part(&store, "b", "u3", 1, b"part").await.unwrap();
    store.delete_bucket("b").await.unwrap();
    assert_eq!(
        count_files(&dir.path().join("blobs")),
        0,
        "deleting a bucket aborts its uploads"
    );
    assert!(
        store.upload("b2", "a", "u5").await.is_ok(),
        "another bucket's uploads stay"
    );
}

#[tokio::test]
async fn bucket_configurations_are_kept_per_kind_and_die_with_their_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    store.create_bucket(bucket("b2")).await.unwrap();
    store
        .put_bucket_config("b", "policy", Some(b"{}".to_vec()))
        .await
        .unwrap();
    store
        .put_bucket_config("b", "cors", Some(b"<CORS/>".to_vec()))
        .await
        .unwrap();
    store
        .put_bucket_config("b2", "policy", Some(b"other".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        store.bucket_config("b", "policy").await.unwrap().as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(store.bucket_config("b", "acl").await.unwrap(), None);
    store.put_bucket_config("b", "cors", None).await.unwrap();
    assert_eq!(store.bucket_config("b", "cors").await.unwrap(), None);
    assert!(matches!(
        store.bucket_config("missing", "policy").await,
        Err(EngineError::NoSuchBucket(_))
    ));

    store.delete_bucket("b").await.unwrap();
    store.create_bucket(bucket("b")).await.unwrap();
    assert_eq!(
        store.bucket_config("b", "policy").await.unwrap(),
        None,
        "a new bucket starts bare"
    );
    assert_eq!(
        store.bucket_config("b2", "policy").await.unwrap().as_deref(),
        Some(&b"other"[..])
    );
}

#[tokio::test]
async fn a_database_from_before_versioning_keeps_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create_bucket(bucket("b")).await.unwrap();
        store.close().unwrap();
    }
    // Write the one-record-per-key table an older Coffer kept, by hand.
    let old_objects: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("objects");
    {
        let db = redb::Database::create(dir.path().join("coffer.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(old_objects).unwrap();
            for key in ["a", "b/c"] {
                let mut value = vec![1u8];
                rmp_serde::encode::write_named(&mut value, &object(key, 0)).unwrap();
                table.insert(format!("b\0{key}").as_bytes(), value.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    let page = store.list_objects("b", &grouped(None, 10)).await.unwrap();
    assert_eq!(names(&page), ["a", "b/*"]);
    assert_eq!(
        store.object("b", "b/c", None).await.unwrap().version_id,
        NULL_VERSION_ID
    );
    put(&store, "b", "a", b"new").await;
    assert_eq!(read_all(&store, "b", "a").await, b"new");
    let versions = store
        .list_object_versions(
            "b",
            &ListQuery {
                max_keys: 10,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        versions.entries.len(),
        2,
        "the overwrite replaced the migrated null version"
    );
}

#[tokio::test]
async fn sealed_objects_need_their_key_and_their_salt_is_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    let key = SealingKey([7; 32]);
    for name in ["one", "two"] {
        let staged = store.stage(body(b"secret bytes"), Some(&key)).await.unwrap();
        store
            .put_object("b", object(name, 12), staged, WriteCondition::Always)
            .await
            .unwrap();
    }
    let one = store.object("b", "one", None).await.unwrap();
    let two = store.object("b", "two", None).await.unwrap();
    let (salt_one, salt_two) = (one.segments[0].salt.clone(), two.segments[0].salt.clone());
    assert!(
        salt_one.is_some() && salt_one != salt_two,
        "each file gets its own salt"
    );
    let on_disk = std::fs::read(
        dir.path()
            .join("blobs")
            .join(&one.segments[0].blob[..2])
            .join(&one.segments[0].blob),
    )
    .unwrap();
    assert!(
        !on_disk.windows(6).any(|w| w == b"secret"),
        "the file holds no plaintext"
    );

    let read = |sealing: Option<SealingKey>| {
        let (store, one) = (store.clone(), one.clone());
        async move {
            let stream = store
                .open(&one, Some(ByteRange { first: 7, end: 12 }), sealing.as_ref())
                .await?;
            stream
                .try_collect::<Vec<_>>()
                .await
                .map(|chunks| chunks.concat())
                .map_err(EngineError::Io)
        }
    };
    assert_eq!(read(Some(key.clone())).await.unwrap(), b"bytes");
    assert!(read(None).await.is_err(), "sealed data cannot be read without a key");
    assert!(read(Some(SealingKey([8; 32]))).await.is_err(), "nor with another key");
}

fn usage(objects: u64, bytes: u64, uploads: u64) -> BucketUsage {
    BucketUsage {
        objects,
        bytes,
        uploads,
    }
}

fn versioning(state: &'static str) -> BucketChange {
    Box::new(move |bucket: &mut BucketRecord| {
        bucket.versioning = Some(state.to_owned());
        Ok(())
    })
}

#[tokio::test]
async fn usage_follows_every_write_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_bucket(bucket("b")).await.unwrap();
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(0, 0, 0));
    put(&store, "b", "a", b"abc").await;
    put(&store, "b", "a", b"abcde").await;
    put(&store, "b", "c", b"xy").await;
    assert_eq!(
        store.bucket_usage("b").await.unwrap(),
        usage(2, 7, 0),
        "an overwrite replaces the null version"
    );
    store.delete_object("b", "a", None, &Default::default()).await.unwrap();
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(1, 2, 0));

    store.update_bucket("b", versioning(VERSIONING_ENABLED)).await.unwrap();
    put(&store, "b", "c", b"xyz").await;
    assert_eq!(
        store.bucket_usage("b").await.unwrap(),
        usage(2, 5, 0),
        "a versioned write keeps the version it hides"
    );
    let marker = store.delete_object("b", "c", None, &Default::default()).await.unwrap();
    assert_eq!(
        store.bucket_usage("b").await.unwrap(),
        usage(2, 5, 0),
        "a delete marker holds no data"
    );
    store
        .delete_object("b", "c", marker.version_id.as_deref(), &Default::default())
        .await
        .unwrap();
    store
        .delete_object("b", "c", Some(NULL_VERSION_ID), &Default::default())
        .await
        .unwrap();
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(1, 3, 0));
    store
        .update_bucket("b", versioning(VERSIONING_SUSPENDED))
        .await
        .unwrap();
    put(&store, "b", "c", b"1234").await;
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(2, 7, 0));

    store.create_upload("b", upload("k", "u1")).await.unwrap();
    store.create_upload("b", upload("k", "u2")).await.unwrap();
    put_part(&store, "k", "u1", 1, b"hello").await.unwrap();
    assert_eq!(
        store.bucket_usage("b").await.unwrap(),
        usage(2, 7, 2),
        "parts count only once their upload is complete"
    );
    store.abort_upload("b", "k", "u2").await.unwrap();
    let object = completion(&store, "k", "u1").await;
    store
        .complete_upload("b", "u1", object, WriteCondition::Always)
        .await
        .unwrap();
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(3, 12, 0));

    store.create_upload("b", upload("k", "u3")).await.unwrap();
    for key in ["a", "c", "k"] {
        let page = store
            .list_object_versions(
                "b",
                &ListQuery {
                    prefix: key.to_owned(),
                    max_keys: 10,
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        for entry in page.entries {
            if let ListEntry::Item(version) = entry {
                store
                    .delete_object("b", key, Some(&version.object.version_id), &Default::default())
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(0, 0, 1));
    store.delete_bucket("b").await.unwrap();
    assert!(matches!(
        store.bucket_usage("b").await,
        Err(EngineError::NoSuchBucket(_))
    ));
    store.create_bucket(bucket("b")).await.unwrap();
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(0, 0, 0));
}

#[tokio::test]
async fn a_quota_refuses_only_writes_that_grow_the_bucket_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_bucket(BucketRecord {
            quota_bytes: Some(10),
            ..bucket("b")
        })
        .await
        .unwrap();
    put(&store, "b", "a", b"123456").await;
    let staged = store.stage(body(b"654321"), None).await.unwrap();
    let refused = store
        .put_object("b", object("b", 6), staged, WriteCondition::Always)
        .await;
    assert!(matches!(refused, Err(EngineError::QuotaExceeded(name)) if name == "b"));
    assert!(matches!(
        store.object("b", "b", None).await,
        Err(EngineError::NoSuchKey(_))
    ));
    assert_eq!(count_files(&dir.path().join("blobs")), 1, "the refused data is removed");
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(1, 6, 0));

    put(&store, "b", "a", b"1234").await;
    put(&store, "b", "b", b"123456").await;
    assert_eq!(
        store.bucket_usage("b").await.unwrap(),
        usage(2, 10, 0),
        "a write may fill the quota exactly"
    );

    let lowered = Box::new(|bucket: &mut BucketRecord| {
        bucket.quota_bytes = Some(5);
        Ok(())
    });
    store.update_bucket("b", lowered).await.unwrap();
    put(&store, "b", "a", b"abcd").await;
    put(&store, "b", "b", b"abc").await;
    assert_eq!(
        store.bucket_usage("b").await.unwrap(),
        usage(2, 7, 0),
        "a bucket over its quota may still shrink, or be rewritten at the same size"
    );

    store.create_upload("b", upload("k", "u1")).await.unwrap();
    put_part(&store, "k", "u1", 1, b"xy").await.unwrap();
    let object = completion(&store, "k", "u1").await;
    assert!(matches!(
        store.complete_upload("b", "u1", object, WriteCondition::Always).await,
        Err(EngineError::QuotaExceeded(_))
    ));
    assert_eq!(
        store.list_parts("b", "k", "u1", 0, 10).await.unwrap().0.len(),
        1,
        "a refused completion leaves its upload as it was"
    );
}

#[tokio::test]
async fn usage_is_counted_when_a_database_kept_none() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create_bucket(bucket("b")).await.unwrap();
        store.create_bucket(bucket("b2")).await.unwrap();
        put(&store, "b", "a", b"abc").await;
        put(&store, "b", "c", b"de").await;
        store.update_bucket("b2", versioning(VERSIONING_ENABLED)).await.unwrap();
        put(&store, "b2", "a", b"1").await;
        store.delete_object("b2", "a", None, &Default::default()).await.unwrap();
        store.create_upload("b2", upload("k", "u1")).await.unwrap();
        store.close().unwrap();
    }
    // What a Coffer from before usage was kept leaves: no usage table.
    {
        let db = redb::Database::create(dir.path().join("coffer.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let usage_table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("bucket_usage");
        assert!(txn.delete_table(usage_table).unwrap());
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.bucket_usage("b").await.unwrap(), usage(2, 5, 0));
    assert_eq!(store.bucket_usage("b2").await.unwrap(), usage(1, 1, 1));
}
