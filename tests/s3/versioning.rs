//! Versioning: PutBucketVersioning, version ids on every write, delete
//! markers, reads and deletes by version id, ListObjectVersions, suspended
//! buckets and their null version, and versions across a kill -9.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, Delete, ObjectIdentifier, VersioningConfiguration};

use crate::common::*;

pub(crate) async fn set_versioning(client: &Client, bucket: &str, status: BucketVersioningStatus) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("put bucket versioning");
}

pub(crate) async fn versioned_bucket(s: &Server, prefix: &str) -> String {
    let b = s.new_bucket(prefix).await;
    set_versioning(&s.client, &b, BucketVersioningStatus::Enabled).await;
    b
}

/// Puts `body` at `key` and returns the version id the response reported.
pub(crate) async fn put_version(client: &Client, bucket: &str, key: &str, body: &str) -> Option<String> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .expect("put object")
        .version_id
}

async fn get_version(client: &Client, bucket: &str, key: &str, version_id: Option<&str>) -> (Vec<u8>, Option<String>) {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .send()
        .await
        .expect("get object");
    let version = out.version_id.clone();
    (out.body.collect().await.unwrap().into_bytes().to_vec(), version)
}

/// The entries of a ListVersionsResult document, in document order: (key,
/// version id, is latest, is delete marker).
fn version_entries(xml: &str) -> Vec<(String, String, bool, bool)> {
    let mut entries = Vec::new();
    let mut rest = xml;
    loop {
        let version = rest.find("<Version>");
        let marker = rest.find("<DeleteMarker>");
        let (at, tag, is_marker) = match (version, marker) {
            (Some(v), Some(m)) if m < v => (m, "DeleteMarker", true),
            (Some(v), _) => (v, "Version", false),
            (None, Some(m)) => (m, "DeleteMarker", true),
            (None, None) => return entries,
        };
        let body = xml_tag(&rest[at..], tag).expect("a closed entry");
        entries.push((
            xml_tag(&body, "Key").unwrap(),
            xml_tag(&body, "VersionId").unwrap(),
            xml_tag(&body, "IsLatest").unwrap() == "true",
            is_marker,
        ));
        rest = &rest[at + tag.len() + body.len()..];
    }
}

/// Every (key, version id, is latest, is delete marker) in the bucket, in
/// the order S3 lists them, gathered page by page with `max_keys` per page.
pub(crate) fn all_versions(s: &Server, bucket: &str, max_keys: usize) -> Vec<(String, String, bool, bool)> {
    let mut listed = Vec::new();
    let (mut key_marker, mut version_marker) = (String::new(), String::new());
    loop {
        let max_keys = max_keys.to_string();
        let mut query = vec![("versions", ""), ("max-keys", max_keys.as_str())];
        if !key_marker.is_empty() {
            query.push(("key-marker", &key_marker));
        }
        if !version_marker.is_empty() {
            query.push(("version-id-marker", &version_marker));
        }
        let r = s.signed("GET", &format!("/{bucket}"), &query, &[], b"");
        assert_eq!(r.status, 200, "{r}");
        let page = version_entries(&r.text());
        assert!(page.len() <= max_keys.parse().unwrap(), "page over max-keys: {page:?}");
        listed.extend(page);
        if r.xml("IsTruncated").as_deref() != Some("true") {
            return listed;
        }
        key_marker = r
            .xml("NextKeyMarker")
            .expect("a truncated page names the next key marker");
        version_marker = r.xml("NextVersionIdMarker").unwrap_or_default();
    }
}

#[tokio::test]
async fn versioning_configuration_round_trips() {
    let s = Server::start().await;
    let b = s.new_bucket("vcfg").await;
    let out = s.client.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert!(out.status().is_none(), "a new bucket has no versioning status");

    set_versioning(&s.client, &b, BucketVersioningStatus::Enabled).await;
    let out = s.client.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(out.status(), Some(&BucketVersioningStatus::Enabled));

    set_versioning(&s.client, &b, BucketVersioningStatus::Suspended).await;
    let out = s.client.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(out.status(), Some(&BucketVersioningStatus::Suspended));

    let bad = b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>On</Status></VersioningConfiguration>";
    let r = s.signed("PUT", &format!("/{b}"), &[("versioning", "")], &[], bad);
    r.assert_s3_error(400, "MalformedXML");
    let out = s.client.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(
        out.status(),
        Some(&BucketVersioningStatus::Suspended),
        "a refused change changes nothing"
    );
}

#[tokio::test]
async fn enabled_bucket_keeps_every_version() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vkeep").await;
    let mut ids = Vec::new();
    for body in ["one", "two", "three"] {
        let id = put_version(&s.client, &b, "k", body)
            .await
            .expect("a versioned PUT reports its version id");
        assert_ne!(id, "null");
        ids.push(id);
    }
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 3, "every write gets its own version id: {ids:?}");

    let (body, version) = get_version(&s.client, &b, "k", None).await;
    assert_eq!(body, b"three");
    assert_eq!(version.as_deref(), Some(ids[2].as_str()));
    for (id, body) in ids.iter().zip(["one", "two", "three"]) {
        let (got, version) = get_version(&s.client, &b, "k", Some(id)).await;
        assert_eq!(got, body.as_bytes(), "version {id}");
        assert_eq!(version.as_deref(), Some(id.as_str()));
        let head = s
            .client
            .head_object()
            .bucket(&b)
            .key("k")
            .version_id(id)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(body.len() as i64));
        assert_eq!(head.version_id(), Some(id.as_str()));
    }

    let listed = all_versions(&s, &b, 1000);
    let expected: Vec<_> = ids
        .iter()
        .rev()
        .enumerate()
        .map(|(i, id)| ("k".to_owned(), id.clone(), i == 0, false))
        .collect();
    assert_eq!(listed, expected, "newest first, only the newest is latest");

    // Each version keeps its own data file until it is deleted.
    assert_eq!(count_files(&s.blobs_dir()), 3);
}

#[tokio::test]
async fn delete_marker_hides_the_key_until_it_is_removed() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vmark").await;
    let v1 = put_version(&s.client, &b, "k", "kept").await.unwrap();
    s.put(&b, "other", "visible").await;

    let deleted = s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    let marker = deleted.version_id().expect("the marker's version id").to_owned();
    assert_ne!(marker, v1);

    // The key reads as deleted, and says why.
    let r = s.signed("GET", &format!("/{b}/k"), &[], &[], b"");
    r.assert_s3_error(404, "NoSuchKey");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"), "{r}");
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()), "{r}");
    let r = s.signed("HEAD", &format!("/{b}/k"), &[], &[], b"");
    assert_eq!(r.status, 404, "{r}");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"), "{r}");
    // Asking for the marker itself is not allowed.
    let r = s.signed("GET", &format!("/{b}/k"), &[("versionId", &marker)], &[], b"");
    r.assert_s3_error(405, "MethodNotAllowed");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"), "{r}");
    let r = s.signed("HEAD", &format!("/{b}/k"), &[("versionId", &marker)], &[], b"");
    assert_eq!(r.status, 405, "{r}");
    // The older version is still there by id.
    assert_eq!(get_version(&s.client, &b, "k", Some(&v1)).await.0, b"kept");

    // Listings of current objects leave the key out; version listings show both.
    let listed = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["other"]);
    let v1_listing = s.client.list_objects().bucket(&b).send().await.unwrap();
    assert_eq!(v1_listing.contents().len(), 1);
    let versions = all_versions(&s, &b, 1000);
    assert!(
        versions.contains(&("k".to_owned(), marker.clone(), true, true)),
        "{versions:?}"
    );
    assert!(
        versions.contains(&("k".to_owned(), v1.clone(), false, false)),
        "{versions:?}"
    );

    // A bucket holding only markers and old versions is not empty.
    s.client.delete_object().bucket(&b).key("other").send().await.unwrap();
    expect_err(s.client.delete_bucket().bucket(&b).send().await, 409, "BucketNotEmpty");

    // Removing the marker brings the key back.
    let removed = s
        .client
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.delete_marker(), Some(true));
    assert_eq!(removed.version_id(), Some(marker.as_str()));
    let (body, version) = get_version(&s.client, &b, "k", None).await;
    assert_eq!(body, b"kept");
    assert_eq!(version.as_deref(), Some(v1.as_str()));
}

#[tokio::test]
async fn deleting_a_version_removes_it_for_good() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vdel").await;
    let v1 = put_version(&s.client, &b, "k", "first").await.unwrap();
    let v2 = put_version(&s.client, &b, "k", "second").await.unwrap();
    assert_eq!(count_files(&s.blobs_dir()), 2);

    let out = s
        .client
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v2.as_str()));
    assert_eq!(out.delete_marker(), None, "a real version is not a marker");
    expect_err(
        s.client.get_object().bucket(&b).key("k").version_id(&v2).send().await,
        404,
        "NoSuchVersion",
    );
    // The previous version becomes the current one again.
    let (body, version) = get_version(&s.client, &b, "k", None).await;
    assert_eq!(body, b"first");
    assert_eq!(version.as_deref(), Some(v1.as_str()));
    assert_eq!(count_files(&s.blobs_dir()), 1, "the deleted version's bytes are freed");

    // Deleting a version that is no longer there succeeds, as in S3.
    s.client
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    s.client
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    expect_err(s.client.get_object().bucket(&b).key("k").send().await, 404, "NoSuchKey");
    assert!(all_versions(&s, &b, 1000).is_empty());
    s.client
        .delete_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("an emptied bucket can go");
}

#[tokio::test]
async fn malformed_version_ids_are_invalid_arguments() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vbad").await;
    put_version(&s.client, &b, "k", "x").await.unwrap();
    let r = s.signed("GET", &format!("/{b}/k"), &[("versionId", "not-a-version")], &[], b"");
    r.assert_s3_error(400, "InvalidArgument");
    let r = s.signed(
        "DELETE",
        &format!("/{b}/k"),
        &[("versionId", "not-a-version")],
        &[],
        b"",
    );
    r.assert_s3_error(400, "InvalidArgument");
    // Well-formed but unknown: no such version.
    let unknown = "0000000000000fff0123456789abcdef";
    let r = s.signed("GET", &format!("/{b}/k"), &[("versionId", unknown)], &[], b"");
    r.assert_s3_error(404, "NoSuchVersion");
    let r = s.signed(
        "GET",
        &format!("/{b}"),
        &[("versions", ""), ("version-id-marker", unknown)],
        &[],
        b"",
    );
    r.assert_s3_error(400, "InvalidArgument");
}

#[tokio::test]
async fn suspended_bucket_writes_the_null_version() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vsusp").await;
    let v1 = put_version(&s.client, &b, "k", "versioned").await.unwrap();
    set_versioning(&s.client, &b, BucketVersioningStatus::Suspended).await;

    assert_eq!(put_version(&s.client, &b, "k", "null-1").await.as_deref(), Some("null"));
    assert_eq!(put_version(&s.client, &b, "k", "null-2").await.as_deref(), Some("null"));
    let versions = all_versions(&s, &b, 1000);
    assert_eq!(
        versions,
        [
            ("k".to_owned(), "null".to_owned(), true, false),
            ("k".to_owned(), v1.clone(), false, false)
        ],
        "the second null write replaced the first"
    );
    assert_eq!(get_version(&s.client, &b, "k", Some("null")).await.0, b"null-2");
    assert_eq!(
        count_files(&s.blobs_dir()),
        2,
        "the replaced null version's bytes are freed"
    );

    // A delete in a suspended bucket puts a null marker in place of the null version.
    let deleted = s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), Some(true));
    assert_eq!(deleted.version_id(), Some("null"));
    let versions = all_versions(&s, &b, 1000);
    assert_eq!(
        versions,
        [
            ("k".to_owned(), "null".to_owned(), true, true),
            ("k".to_owned(), v1.clone(), false, false)
        ]
    );
    assert_eq!(get_version(&s.client, &b, "k", Some(&v1)).await.0, b"versioned");

    // Re-enabled, new writes get ids again and the null marker stays in history.
    set_versioning(&s.client, &b, BucketVersioningStatus::Enabled).await;
    let v3 = put_version(&s.client, &b, "k", "again").await.unwrap();
    assert_ne!(v3, "null");
    let versions = all_versions(&s, &b, 1000);
    let ids: Vec<_> = versions.iter().map(|v| v.1.as_str()).collect();
    assert_eq!(ids, [v3.as_str(), "null", v1.as_str()]);
}

#[tokio::test]
async fn unversioned_bucket_lists_null_versions_and_reports_no_ids() {
    let s = Server::start().await;
    let b = s.new_bucket("vnone").await;
    assert_eq!(put_version(&s.client, &b, "k", "one").await, None);
    assert_eq!(put_version(&s.client, &b, "k", "two").await, None);
    let (_, version) = get_version(&s.client, &b, "k", None).await;
    assert_eq!(version, None, "a never-versioned bucket reports no version id");
    assert_eq!(
        all_versions(&s, &b, 1000),
        [("k".to_owned(), "null".to_owned(), true, false)]
    );
    assert_eq!(count_files(&s.blobs_dir()), 1);
    let deleted = s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(deleted.delete_marker(), None, "no marker without versioning");
    assert!(all_versions(&s, &b, 1000).is_empty());
    assert_eq!(count_files(&s.blobs_dir()), 0);
}

#[tokio::test]
async fn list_object_versions_pages_through_every_version_in_order() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vpage").await;
    let mut expected = Vec::new();
    for key in ["a", "b/1", "b/2", "c"] {
        let mut ids = Vec::new();
        for round in 0..3 {
            ids.push(put_version(&s.client, &b, key, &format!("{key}{round}")).await.unwrap());
        }
        let marker = s.client.delete_object().bucket(&b).key(key).send().await.unwrap();
        let marker = marker.version_id().unwrap().to_owned();
        expected.push((key.to_owned(), marker, true, true));
        for id in ids.into_iter().rev() {
            expected.push((key.to_owned(), id, false, false));
        }
    }
    for max_keys in [1, 2, 3, 5, 1000] {
        assert_eq!(all_versions(&s, &b, max_keys), expected, "max-keys {max_keys}");
    }

    // Prefix and delimiter group versions as listings group keys.
    let out = s
        .client
        .list_object_versions()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = out.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(prefixes, ["b/"]);
    let keys: BTreeSet<_> = out.versions().iter().map(|v| v.key().unwrap()).collect();
    assert_eq!(keys, BTreeSet::from(["a", "c"]));
    let out = s
        .client
        .list_object_versions()
        .bucket(&b)
        .prefix("b/2")
        .send()
        .await
        .unwrap();
    assert_eq!(out.versions().len(), 3);
    assert_eq!(out.delete_markers().len(), 1);

    // A page that ends inside a key's history continues inside it.
    let first = s
        .client
        .list_object_versions()
        .bucket(&b)
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.next_key_marker(), Some("a"));
    let second = s
        .client
        .list_object_versions()
        .bucket(&b)
        .max_keys(1)
        .key_marker("a")
        .version_id_marker(first.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.versions().len(), 1);
    assert_eq!(second.versions()[0].key(), Some("a"));
    assert_eq!(second.versions()[0].is_latest(), Some(false));

    let r = s.signed(
        "GET",
        &format!("/{b}"),
        &[("versions", ""), ("version-id-marker", "null")],
        &[],
        b"",
    );
    r.assert_s3_error(400, "InvalidArgument");
}

#[tokio::test]
async fn delete_objects_reports_markers_and_versions() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vmulti").await;
    let v1 = put_version(&s.client, &b, "gone", "x").await.unwrap();
    put_version(&s.client, &b, "marked", "y").await.unwrap();
    let out = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("gone").version_id(&v1).build().unwrap())
                .objects(ObjectIdentifier::builder().key("marked").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let gone = out.deleted().iter().find(|d| d.key() == Some("gone")).unwrap();
    assert_eq!(gone.version_id(), Some(v1.as_str()));
    assert_eq!(gone.delete_marker(), None);
    let marked = out.deleted().iter().find(|d| d.key() == Some("marked")).unwrap();
    assert_eq!(marked.delete_marker(), Some(true));
    let marker_id = marked.delete_marker_version_id().expect("the new marker's id");
    let versions = all_versions(&s, &b, 1000);
    assert!(versions.iter().all(|v| v.0 == "marked"), "{versions:?}");
    assert!(versions.contains(&("marked".to_owned(), marker_id.to_owned(), true, true)));
}

#[tokio::test]
async fn copy_and_multipart_create_new_versions() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "vcopy").await;
    let old = put_version(&s.client, &b, "src", "old bytes").await.unwrap();
    put_version(&s.client, &b, "src", "new bytes").await.unwrap();

    let copied = s
        .client
        .copy_object()
        .bucket(&b)
        .key("dst")
        .copy_source(format!("{b}/src?versionId={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id(), Some(old.as_str()));
    let dst_version = copied.version_id().expect("the copy's version id").to_owned();
    let (body, version) = get_version(&s.client, &b, "dst", None).await;
    assert_eq!(body, b"old bytes");
    assert_eq!(version.as_deref(), Some(dst_version.as_str()));

    let upload = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("dst")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s
        .client
        .upload_part()
        .bucket(&b)
        .key("dst")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart bytes"))
        .send()
        .await
        .unwrap();
    let done = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("dst")
        .upload_id(upload_id)
        .multipart_upload(one_part(part.e_tag().unwrap()))
        .send()
        .await
        .unwrap();
    let mpu_version = done.version_id().expect("the completed upload's version id").to_owned();
    assert_ne!(mpu_version, dst_version);
    assert_eq!(get_version(&s.client, &b, "dst", None).await.0, b"multipart bytes");
    assert_eq!(
        get_version(&s.client, &b, "dst", Some(&dst_version)).await.0,
        b"old bytes"
    );

    // A specific delete marker can never be a copy source.
    let marker = s.client.delete_object().bucket(&b).key("src").send().await.unwrap();
    let marker = marker.version_id().unwrap();
    expect_err(
        s.client
            .copy_object()
            .bucket(&b)
            .key("x")
            .copy_source(format!("{b}/src"))
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_err(
        s.client
            .copy_object()
            .bucket(&b)
            .key("x")
            .copy_source(format!("{b}/src?versionId={marker}"))
            .send()
            .await,
        400,
        "InvalidRequest",
    );
}

/// Writers add versions and remove others while the server is killed with
/// SIGKILL; after the restart every acknowledged version is there, every
/// acknowledged removal stuck, and nothing else appeared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_survive_sigkill_without_loss_or_resurrection() {
    let mut s = Server::start().await;
    let b = versioned_bucket(&s, "vkill").await;
    #[derive(Default)]
    struct Acked {
        present: BTreeSet<(String, String)>,
        removed: BTreeSet<(String, String)>,
        /// Versions whose removal was sent but never acknowledged.
        removing: BTreeSet<(String, String)>,
    }
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, bucket, acked) = (s.client.clone(), b.clone(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            for round in 0.. {
                let key = format!("k{}", (writer + round) % 3);
                let put = client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(format!("{writer}-{round}").into_bytes()))
                    .send()
                    .await;
                let Ok(put) = put else { return };
                let id = put.version_id().unwrap().to_owned();
                acked.lock().unwrap().present.insert((key.clone(), id.clone()));
                if round % 2 == 1 {
                    {
                        let mut acked = acked.lock().unwrap();
                        acked.present.remove(&(key.clone(), id.clone()));
                        acked.removing.insert((key.clone(), id.clone()));
                    }
                    let removal = client
                        .delete_object()
                        .bucket(&bucket)
                        .key(&key)
                        .version_id(&id)
                        .send()
                        .await;
                    if removal.is_err() {
                        return;
                    }
                    let mut acked = acked.lock().unwrap();
                    acked.removing.remove(&(key.clone(), id.clone()));
                    acked.removed.insert((key, id));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    s.restart();

    let listed: BTreeSet<(String, String)> = all_versions(&s, &b, 1000)
        .into_iter()
        .map(|(key, id, _, marker)| {
            assert!(!marker, "no delete marker was ever written");
            (key, id)
        })
        .collect();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.present.len() + acked.removed.len() > 10,
        "the writers made progress"
    );
    for version in &acked.present {
        assert!(listed.contains(version), "acknowledged version {version:?} was lost");
    }
    for version in &acked.removed {
        assert!(!listed.contains(version), "removed version {version:?} came back");
    }
    // Besides those, only a removal cut short may have left its version, and
    // at most one unacknowledged write per writer may have landed.
    let unacknowledged = listed
        .difference(&acked.present)
        .filter(|version| !acked.removing.contains(*version))
        .count();
    assert!(
        unacknowledged <= 4,
        "{unacknowledged} versions appeared that no writer saw acknowledged"
    );
    // Every listed version reads back, so no record points at missing bytes.
    for (key, id) in &listed {
        get_version(&s.client, &b, key, Some(id)).await;
    }
}
