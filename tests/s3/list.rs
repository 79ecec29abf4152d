//! ListObjects (v1), ListObjectsV2, ListObjectVersions.

use std::collections::BTreeSet;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, EncodingType, ObjectIdentifier};

use crate::common::*;

async fn put_keys(s: &Server, b: &str, keys: &[&str]) {
    for k in keys {
        s.put(b, k, format!("data:{k}")).await;
    }
}

#[tokio::test]
async fn list_v2_basic() {
    let s = Server::start().await;
    let b = s.new_bucket("lv2").await;
    let keys = ["b", "a", "c/d", "c/e", "aa"];
    put_keys(&s, &b, &keys).await;
    let out = s.client.list_objects_v2().bucket(&b).send().await.expect("list v2");
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, vec!["a", "aa", "b", "c/d", "c/e"]);
    assert_eq!(out.key_count(), Some(5));
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.name(), Some(b.as_str()));
    assert!(out.next_continuation_token().is_none());
    for o in out.contents() {
        let k = o.key().unwrap();
        let body = format!("data:{k}");
        assert_eq!(o.size(), Some(body.len() as i64), "{k}");
        assert_eq!(o.e_tag(), Some(quoted_md5(body.as_bytes()).as_str()), "{k}");
        assert!(o.last_modified().is_some(), "{k}");
        assert!(o.owner().is_none(), "Owner must only be returned with fetch-owner=true");
    }
    // Empty bucket.
    let b2 = s.new_bucket("lv2empty").await;
    let out = s.client.list_objects_v2().bucket(&b2).send().await.unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));
    assert_eq!(out.is_truncated(), Some(false));
}

#[tokio::test]
async fn list_v2_prefix_and_delimiter() {
    let s = Server::start().await;
    let b = s.new_bucket("delim").await;
    put_keys(&s, &b, &["a/1", "a/2", "b/1", "c", "d/e/f", "d/g", "dz"]).await;

    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, vec!["c", "dz"]);
    assert_eq!(cps, vec!["a/", "b/", "d/"]);
    assert_eq!(out.key_count(), Some(5), "KeyCount counts keys and common prefixes");
    assert_eq!(out.delimiter(), Some("/"));

    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .prefix("d/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, vec!["d/g"]);
    assert_eq!(cps, vec!["d/e/"]);
    assert_eq!(out.prefix(), Some("d/"));

    let out = s.client.list_objects_v2().bucket(&b).prefix("d").send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["d/e/f", "d/g", "dz"]);

    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .prefix("zzz")
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));

    // Non-slash delimiter.
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .delimiter("z")
        .send()
        .await
        .unwrap();
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(cps, vec!["dz"]);
}

#[tokio::test]
async fn list_v2_pagination_continuation_token() {
    let s = Server::start().await;
    let b = s.new_bucket("page").await;
    let keys: Vec<String> = (0..11).map(|i| format!("key-{i:02}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_keys(&s, &b, &refs).await;

    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let mut req = s.client.list_objects_v2().bucket(&b).max_keys(3);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let out = req.send().await.expect("page");
        pages += 1;
        assert_eq!(out.max_keys(), Some(3));
        let n = out.contents().len();
        assert_eq!(out.key_count(), Some(n as i32));
        seen.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
        if let Some(t) = &token {
            assert_eq!(
                out.continuation_token(),
                Some(t.as_str()),
                "ContinuationToken must be echoed"
            );
        }
        if out.is_truncated() == Some(true) {
            assert_eq!(n, 3);
            token = Some(
                out.next_continuation_token()
                    .expect("NextContinuationToken when truncated")
                    .to_string(),
            );
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, keys);

    // Delimiter pagination counts common prefixes towards max-keys.
    let b2 = s.new_bucket("page2").await;
    put_keys(&s, &b2, &["a/1", "a/2", "b/1", "c", "d/1", "e"]).await;
    let mut token: Option<String> = None;
    let mut items = Vec::new();
    loop {
        let mut req = s.client.list_objects_v2().bucket(&b2).delimiter("/").max_keys(2);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let out = req.send().await.unwrap();
        let n = out.contents().len() + out.common_prefixes().len();
        assert!(n <= 2);
        assert_eq!(out.key_count(), Some(n as i32));
        items.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
        items.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
        if out.is_truncated() != Some(true) {
            break;
        }
        token = out.next_continuation_token().map(String::from);
        assert!(items.len() < 20);
    }
    items.sort();
    assert_eq!(items, vec!["a/", "b/", "c", "d/", "e"]);
}

#[tokio::test]
async fn list_v2_start_after() {
    let s = Server::start().await;
    let b = s.new_bucket("startafter").await;
    put_keys(&s, &b, &["a", "b", "c", "d"]).await;
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .start_after("b")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["c", "d"]);
    assert_eq!(out.start_after(), Some("b"));
    // start-after a key that does not exist.
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .start_after("bb")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["c", "d"]);
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .start_after("z")
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));
}

#[tokio::test]
async fn list_v2_encoding_type_url() {
    let s = Server::start().await;
    let b = s.new_bucket("enc").await;
    let keys = ["dir/a&b=c", "dir/sp ace", "dir/ünï", "dir/ctl\u{1}char", "dir/plus+"];
    put_keys(&s, &b, &keys).await;
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("list encoded");
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let mut decoded = Vec::new();
    for o in out.contents() {
        let raw = o.key().unwrap();
        assert!(raw.is_ascii(), "url-encoded key must be ASCII: {raw:?}");
        assert!(
            !raw.contains('&') && !raw.contains(' ') && !raw.contains('\u{1}'),
            "key not encoded: {raw:?}"
        );
        decoded.push(percent_decode(raw, true));
    }
    let mut expected: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(decoded, expected);

    // Delimiter + encoding: common prefixes are encoded as well.
    s.put(&b, "pré/x", "1").await;
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let cps: Vec<String> = out
        .common_prefixes()
        .iter()
        .map(|p| percent_decode(p.prefix().unwrap(), true))
        .collect();
    assert_eq!(cps, vec!["dir/".to_string(), "pré/".to_string()]);
    for p in out.common_prefixes() {
        assert!(p.prefix().unwrap().is_ascii(), "{p:?}");
    }
    // Without encoding-type, keys come back verbatim (skip the control-character
    // key, which is not representable in XML 1.0).
    for (prefix, key) in [
        ("dir/a", "dir/a&b=c"),
        ("dir/ü", "dir/ünï"),
        ("dir/s", "dir/sp ace"),
        ("dir/p", "dir/plus+"),
    ] {
        let out = s
            .client
            .list_objects_v2()
            .bucket(&b)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(got, vec![key]);
        assert!(out.encoding_type().is_none());
    }
    // ListObjects v1 supports encoding-type=url too.
    let out = s
        .client
        .list_objects()
        .bucket(&b)
        .prefix("dir/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let mut decoded: Vec<String> = out
        .contents()
        .iter()
        .map(|o| percent_decode(o.key().unwrap(), true))
        .collect();
    decoded.sort();
    assert_eq!(decoded, expected);
}

#[tokio::test]
async fn list_v2_fetch_owner() {
    let s = Server::start().await;
    let b = s.new_bucket("owner").await;
    s.put(&b, "k", "v").await;
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let o = &out.contents()[0];
    let owner = o.owner().expect("Owner with fetch-owner=true");
    assert!(owner.id().is_some_and(|id| !id.is_empty()), "{owner:?}");
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(out.contents()[0].owner().is_none());
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .fetch_owner(false)
        .send()
        .await
        .unwrap();
    assert!(out.contents()[0].owner().is_none());
}

/// Every field of a listed object against what HeadObject says of it, in
/// both listing versions: a key XML must escape, the time to the
/// millisecond, the checksum's algorithm and type, and the owner.
#[tokio::test]
async fn listed_objects_show_what_head_object_shows() {
    let s = Server::start().await;
    let b = s.new_bucket("fields").await;
    let key = "a&b<c>\"d'e/é";
    s.client
        .put_object()
        .bucket(&b)
        .key(key)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from_static(b"listed"))
        .send()
        .await
        .unwrap();
    s.put(&b, "plain", "x").await;
    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(head.checksum_crc32_c().is_some());
    let v2 = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let v1 = s.client.list_objects().bucket(&b).send().await.unwrap();
    for contents in [v2.contents(), v1.contents()] {
        let keys: Vec<&str> = contents.iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, vec![key, "plain"]);
        let listed = &contents[0];
        assert_eq!(listed.e_tag(), head.e_tag());
        assert_eq!(listed.size(), Some(6));
        assert_eq!(
            listed.storage_class(),
            Some(&aws_sdk_s3::types::ObjectStorageClass::Standard)
        );
        assert_eq!(
            listed.checksum_algorithm(),
            [aws_sdk_s3::types::ChecksumAlgorithm::Crc32C]
        );
        assert_eq!(
            listed.checksum_type(),
            Some(&aws_sdk_s3::types::ChecksumType::FullObject)
        );
        // HeadObject's Last-Modified is to the second; the listing's to the
        // millisecond, truncated.
        let listed_time = listed.last_modified().unwrap();
        let head_time = head.last_modified().unwrap();
        assert_eq!(listed_time.secs(), head_time.secs());
        assert_eq!(listed_time.subsec_nanos() % 1_000_000, 0, "{listed_time:?}");
        let owner = listed.owner().expect("an owner");
        assert!(owner.id().is_some_and(|id| !id.is_empty()), "{owner:?}");
        assert_eq!(owner.display_name(), Some("root"), "{owner:?}");
    }
}

#[tokio::test]
async fn listing_order_is_utf8_bytes() {
    let s = Server::start().await;
    let b = s.new_bucket("order").await;
    // UTF-16 ordering would put U+1F600 before U+FF61; UTF-8 byte order puts it after.
    let keys = ["Z", "a", "a/b", "a0", "é", "\u{FF61}", "😀", "~", "中", "A", "a-"];
    put_keys(&s, &b, &keys).await;
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, expected);
    let out = s.client.list_objects().bucket(&b).send().await.unwrap();
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, expected);
    // Pagination across multi-byte keys.
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .start_after("\u{FF61}")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(got, vec!["😀"]);
}

#[tokio::test]
async fn list_v1_marker_and_truncation() {
    let s = Server::start().await;
    let b = s.new_bucket("lv1").await;
    put_keys(&s, &b, &["k1", "k2", "k3", "k4", "k5"]).await;

    let out = s
        .client
        .list_objects()
        .bucket(&b)
        .max_keys(2)
        .send()
        .await
        .expect("list v1");
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["k1", "k2"]);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.max_keys(), Some(2));
    assert!(
        out.next_marker().is_none(),
        "NextMarker is only returned when a delimiter is specified"
    );

    let out = s
        .client
        .list_objects()
        .bucket(&b)
        .max_keys(2)
        .marker("k2")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["k3", "k4"]);
    assert_eq!(out.marker(), Some("k2"));
    assert_eq!(out.is_truncated(), Some(true));

    let out = s
        .client
        .list_objects()
        .bucket(&b)
        .max_keys(2)
        .marker("k4")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["k5"]);
    assert_eq!(out.is_truncated(), Some(false));

    let out = s.client.list_objects().bucket(&b).send().await.unwrap();
    assert_eq!(out.contents().len(), 5);
    assert_eq!(out.is_truncated(), Some(false));
    assert!(out.next_marker().is_none());
    for o in out.contents() {
        let k = o.key().unwrap();
        assert_eq!(o.e_tag(), Some(quoted_md5(format!("data:{k}").as_bytes()).as_str()));
    }
}

#[tokio::test]
async fn list_v1_delimiter_next_marker() {
    let s = Server::start().await;
    let b = s.new_bucket("lv1d").await;
    put_keys(&s, &b, &["a/1", "a/2", "b", "c/1", "c/2", "d", "e/1"]).await;
    let mut marker: Option<String> = None;
    let mut items: Vec<String> = Vec::new();
    let mut pages = 0;
    loop {
        let mut req = s.client.list_objects().bucket(&b).delimiter("/").max_keys(2);
        if let Some(m) = &marker {
            req = req.marker(m);
        }
        let out = req.send().await.unwrap();
        pages += 1;
        let mut page: Vec<String> = out.contents().iter().map(|o| o.key().unwrap().to_string()).collect();
        page.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
        page.sort();
        assert!(page.len() <= 2, "{page:?}");
        items.extend(page.iter().cloned());
        if out.is_truncated() == Some(true) {
            let nm = out
                .next_marker()
                .expect("NextMarker must be returned when truncated with a delimiter")
                .to_string();
            assert_eq!(
                Some(&nm),
                page.last(),
                "NextMarker is the last key or common prefix returned"
            );
            marker = Some(nm);
        } else {
            break;
        }
        assert!(pages < 10);
    }
    assert_eq!(items, vec!["a/", "b", "c/", "d", "e/"]);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn list_object_versions_unversioned() {
    let s = Server::start().await;
    let b = s.new_bucket("versions").await;
    put_keys(&s, &b, &["x", "y", "z/1"]).await;
    s.put(&b, "x", "overwritten").await;
    let out = s
        .client
        .list_object_versions()
        .bucket(&b)
        .send()
        .await
        .expect("list versions");
    let keys: Vec<&str> = out.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(
        keys,
        vec!["x", "y", "z/1"],
        "one version per object on an unversioned bucket"
    );
    for v in out.versions() {
        assert_eq!(v.version_id(), Some("null"), "{v:?}");
        assert_eq!(v.is_latest(), Some(true), "{v:?}");
        assert!(
            v.e_tag().is_some() && v.size().is_some() && v.last_modified().is_some(),
            "{v:?}"
        );
    }
    let x = out.versions().iter().find(|v| v.key() == Some("x")).unwrap();
    assert_eq!(x.e_tag(), Some(quoted_md5(b"overwritten").as_str()));
    assert!(out.delete_markers().is_empty());
    assert_eq!(out.is_truncated(), Some(false));

    let out = s
        .client
        .list_object_versions()
        .bucket(&b)
        .prefix("z/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.versions().iter().filter_map(|v| v.key()).collect();
    assert_eq!(keys, vec!["z/1"]);
    let out = s
        .client
        .list_object_versions()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(cps, vec!["z/"]);
}

/// Creates 1001 objects: max-keys is capped at 1000, and DeleteObjects accepts
/// up to 1000 keys (1001 -> MalformedXML).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_keys_capped_and_delete_objects_limit() {
    let s = Server::start().await;
    let b = s.new_bucket("thousand").await;
    let keys: Vec<String> = (0..1001).map(|i| format!("obj/{i:05}")).collect();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for k in keys.clone() {
        let c = s.client.clone();
        let b = b.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire_owned().await.unwrap();
            c.put_object()
                .bucket(&b)
                .key(&k)
                .body(ByteStream::from(k.clone().into_bytes()))
                .send()
                .await
                .map(|_| ())
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().expect("put");
    }

    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .max_keys(5000)
        .send()
        .await
        .unwrap();
    assert_eq!(out.contents().len(), 1000, "max-keys must be capped at 1000");
    assert_eq!(out.key_count(), Some(1000));
    assert_eq!(out.is_truncated(), Some(true));
    let token = out.next_continuation_token().unwrap().to_string();
    let out2 = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .continuation_token(token)
        .send()
        .await
        .unwrap();
    let rest: Vec<&str> = out2.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(rest, vec!["obj/01000"]);
    assert_eq!(out2.is_truncated(), Some(false));

    let out = s.client.list_objects().bucket(&b).send().await.unwrap();
    assert_eq!(out.contents().len(), 1000, "v1 default max-keys is 1000");
    assert_eq!(out.is_truncated(), Some(true));

    let ids = |ks: &[String]| -> Vec<ObjectIdentifier> {
        ks.iter()
            .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
            .collect()
    };

    // 1001 keys in one request -> MalformedXML, nothing deleted.
    let r = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids(&keys))).build().unwrap())
        .send()
        .await;
    expect_err(r, 400, "MalformedXML");
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .start_after("obj/00999")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.key_count(),
        Some(1),
        "nothing may be deleted by a rejected DeleteObjects"
    );

    // Exactly 1000 keys is fine.
    let out = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids(&keys[..1000]))).build().unwrap())
        .send()
        .await
        .expect("delete 1000");
    assert_eq!(out.deleted().len(), 1000);
    assert!(out.errors().is_empty());
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let left: BTreeSet<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(left.into_iter().collect::<Vec<_>>(), vec!["obj/01000"]);
}

/// Common prefixes that straddle page boundaries are reported exactly once.
#[tokio::test]
async fn delimiter_pagination_one_key_per_page() {
    let s = Server::start().await;
    let b = s.new_bucket("straddle").await;
    let keys = ["a/1", "a/2", "a/3", "b", "c/1", "c/2", "d", "e/x/1", "e/y"];
    put_keys(&s, &b, &keys).await;
    let expected = vec!["a/", "b", "c/", "d", "e/"];

    // V2 with continuation tokens.
    let mut token: Option<String> = None;
    let mut items = Vec::new();
    for _ in 0..20 {
        let mut req = s.client.list_objects_v2().bucket(&b).delimiter("/").max_keys(1);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let out = req.send().await.unwrap();
        items.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
        items.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
        if out.is_truncated() != Some(true) {
            token = None;
            break;
        }
        token = out.next_continuation_token().map(String::from);
    }
    assert!(token.is_none(), "pagination did not terminate");
    assert_eq!(items, expected, "v2 pages");

    // V1 with NextMarker.
    let mut marker: Option<String> = None;
    let mut items = Vec::new();
    for _ in 0..20 {
        let mut req = s.client.list_objects().bucket(&b).delimiter("/").max_keys(1);
        if let Some(m) = &marker {
            req = req.marker(m);
        }
        let out = req.send().await.unwrap();
        items.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
        items.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
        if out.is_truncated() != Some(true) {
            marker = None;
            break;
        }
        marker = Some(out.next_marker().expect("NextMarker with delimiter").to_string());
    }
    assert!(marker.is_none(), "pagination did not terminate");
    assert_eq!(items, expected, "v1 pages");

    // Prefix + delimiter + start-after together.
    let out = s
        .client
        .list_objects_v2()
        .bucket(&b)
        .prefix("e/")
        .delimiter("/")
        .start_after("e/x/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let cps: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, vec!["e/y"]);
    assert!(cps.is_empty(), "{cps:?}");
}

#[tokio::test]
async fn list_object_versions_pagination() {
    let s = Server::start().await;
    let b = s.new_bucket("verpage").await;
    put_keys(&s, &b, &["a", "b", "c", "d", "e"]).await;
    let mut key_marker: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let mut req = s.client.list_object_versions().bucket(&b).max_keys(2);
        if let Some(m) = &key_marker {
            req = req.key_marker(m);
        }
        let out = req.send().await.unwrap();
        for v in out.versions() {
            assert_eq!(v.version_id(), Some("null"));
            assert_eq!(v.is_latest(), Some(true));
            seen.push(v.key().unwrap().to_string());
        }
        if out.is_truncated() == Some(true) {
            assert_eq!(out.versions().len(), 2);
            let next = out.next_key_marker().expect("NextKeyMarker when truncated").to_string();
            assert_eq!(Some(&next), seen.last());
            key_marker = Some(next);
        } else {
            key_marker = None;
            break;
        }
    }
    assert!(key_marker.is_none());
    assert_eq!(seen, vec!["a", "b", "c", "d", "e"]);
}
