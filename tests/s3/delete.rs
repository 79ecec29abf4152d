//! DeleteObject and DeleteObjects.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use crate::common::*;

fn oid(k: &str) -> ObjectIdentifier {
    ObjectIdentifier::builder().key(k).build().unwrap()
}

#[tokio::test]
async fn delete_object_returns_204_even_for_missing_key() {
    let s = Server::start().await;
    let b = s.new_bucket("del").await;
    s.put(&b, "k", "bye").await;
    let r = s.signed("DELETE", &format!("/{b}/k"), &[], &[], b"");
    assert_eq!(r.status, 204, "{r}");
    assert!(r.header("x-amz-request-id").is_some());
    expect_err(s.client.get_object().bucket(&b).key("k").send().await, 404, "NoSuchKey");

    // Deleting again (missing key) is still 204.
    let r = s.signed("DELETE", &format!("/{b}/k"), &[], &[], b"");
    assert_eq!(r.status, 204, "{r}");
    s.client
        .delete_object()
        .bucket(&b)
        .key("never-existed")
        .send()
        .await
        .expect("delete missing key");

    // versionId=null
    s.put(&b, "v", "x").await;
    let r = s.signed("DELETE", &format!("/{b}/v"), &[("versionId", "null")], &[], b"");
    assert_eq!(r.status, 204, "{r}");
    expect_err(s.client.head_object().bucket(&b).key("v").send().await, 404, "");

    let missing = bucket_name("nobucket");
    expect_err(
        s.client.delete_object().bucket(&missing).key("k").send().await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn delete_objects_verbose() {
    let s = Server::start().await;
    let b = s.new_bucket("multi").await;
    for k in ["a", "b", "c", "keep"] {
        s.put(&b, k, k).await;
    }
    let out = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .objects(oid("a"))
                .objects(oid("b"))
                .objects(oid("c"))
                .objects(oid("missing"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("delete objects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    // S3 reports keys that did not exist as deleted too.
    assert_eq!(deleted, vec!["a", "b", "c", "missing"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["keep"]);
}

#[tokio::test]
async fn delete_objects_quiet() {
    let s = Server::start().await;
    let b = s.new_bucket("quiet").await;
    for k in ["a", "b"] {
        s.put(&b, k, k).await;
    }
    let out = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .objects(oid("a"))
                .objects(oid("b"))
                .objects(oid("zzz"))
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("quiet delete");
    assert!(
        out.deleted().is_empty(),
        "Quiet mode must not list deleted keys: {:?}",
        out.deleted()
    );
    assert!(out.errors().is_empty());
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(out.contents().is_empty());
}

#[tokio::test]
async fn delete_objects_version_id_null() {
    let s = Server::start().await;
    let b = s.new_bucket("dnull").await;
    s.put(&b, "a", "a").await;
    s.put(&b, "b", "b").await;
    let out = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").version_id("null").build().unwrap())
                .objects(oid("b"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("delete with versionId=null");
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, vec!["a", "b"]);
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(out.contents().is_empty());
}

#[tokio::test]
async fn delete_objects_per_key_errors() {
    // A version id that cannot exist in an unversioned bucket fails only for that key.
    let s = Server::start().await;
    let b = s.new_bucket("perkey").await;
    s.put(&b, "good", "g").await;
    s.put(&b, "bad", "b").await;
    for quiet in [false, true] {
        let out = s
            .client
            .delete_objects()
            .bucket(&b)
            .delete(
                Delete::builder()
                    .objects(oid("good"))
                    .objects(
                        ObjectIdentifier::builder()
                            .key("bad")
                            .version_id("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
                            .build()
                            .unwrap(),
                    )
                    .quiet(quiet)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("delete objects with a failing key");
        let errs = out.errors();
        assert_eq!(
            errs.len(),
            1,
            "quiet={quiet}: exactly one per-key error expected: {out:?}"
        );
        assert_eq!(errs[0].key(), Some("bad"));
        assert!(errs[0].code().is_some_and(|c| !c.is_empty()), "{:?}", errs[0]);
        let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
        if quiet {
            assert!(deleted.is_empty(), "{deleted:?}");
        } else {
            assert_eq!(deleted, vec!["good"]);
        }
        // "bad" still exists.
        assert_eq!(s.get(&b, "bad").await, b"b");
        s.put(&b, "good", "g").await;
    }
}

#[tokio::test]
async fn delete_objects_empty_list_is_malformed() {
    let s = Server::start().await;
    let b = s.new_bucket("emptydel").await;
    let body =
        br#"<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></Delete>"#;
    let md5 = md5_b64(body);
    let r = s.signed(
        "POST",
        &format!("/{b}"),
        &[("delete", "")],
        &[("Content-MD5", &md5), ("Content-Type", "application/xml")],
        body,
    );
    r.assert_s3_error(400, "MalformedXML");
}

#[tokio::test]
async fn delete_objects_missing_bucket() {
    let s = Server::start().await;
    let b = bucket_name("nosuch");
    let r = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().objects(oid("a")).build().unwrap())
        .send()
        .await;
    expect_err(r, 404, "NoSuchBucket");
}

#[tokio::test]
async fn delete_objects_xml_special_characters() {
    let s = Server::start().await;
    let b = s.new_bucket("xmlchars").await;
    let keys = ["a&b", "<tag>", "quote\"s", "apos'", "ünï/😀", "sp ace"];
    for k in keys {
        s.put(&b, k, "x").await;
    }
    let mut del = Delete::builder();
    for k in keys {
        del = del.objects(oid(k));
    }
    let out = s
        .client
        .delete_objects()
        .bucket(&b)
        .delete(del.build().unwrap())
        .send()
        .await
        .expect("delete objects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    let mut expected = keys.to_vec();
    expected.sort();
    assert_eq!(deleted, expected);
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(out.contents().is_empty(), "{:?}", out.contents());
}
