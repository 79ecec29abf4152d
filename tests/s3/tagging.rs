//! Object and bucket tagging, and GetObjectAttributes: round trips, version
//! ids, every limit S3 enforces with its exact status and code, tags given in
//! `x-amz-tagging` on PUT, copy and multipart upload, who may tag, and the
//! attributes of single-PUT and multipart objects and of older versions.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectAttributes, Tag, Tagging,
    TaggingDirective, VersioningConfiguration,
};

use crate::common::*;
use crate::multipart::{MIN_PART, complete, create_upload, upload_part};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    Tagging::builder()
        .set_tag_set(Some(pairs.iter().map(|(k, v)| tag(k, v)).collect()))
        .build()
        .unwrap()
}

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `count` tags `0=0`, `1=1`, ..., as s3-tests makes them.
fn numbered(count: usize) -> Vec<(String, String)> {
    (0..count).map(|i| (i.to_string(), i.to_string())).collect()
}

async fn put_tags(client: &Client, bucket: &str, key: &str, tags: &[(String, String)]) {
    let set = tags.iter().map(|(k, v)| tag(k, v)).collect();
    client
        .put_object_tagging()
        .bucket(bucket)
        .key(key)
        .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put tagging {bucket}/{key}: {e:?}"));
}

async fn object_tags(client: &Client, bucket: &str, key: &str, version_id: Option<&str>) -> Vec<(String, String)> {
    let out = client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get tagging {bucket}/{key}: {e:?}"));
    pairs(out.tag_set())
}

async fn versioned_bucket(s: &Server, prefix: &str) -> String {
    let b = s.new_bucket(prefix).await;
    s.client
        .put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
    b
}

fn tagging_xml(tags: &str) -> Vec<u8> {
    format!(r#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>{tags}</TagSet></Tagging>"#)
        .into_bytes()
}

// ---------------------------------------------------------------------------
// Object tagging
// ---------------------------------------------------------------------------

#[tokio::test]
async fn object_tags_round_trip_replace_and_delete() {
    let s = Server::start().await;
    let b = s.new_bucket("tags-rt").await;
    s.put(&b, "k", "body").await;
    assert!(
        object_tags(&s.client, &b, "k", None).await.is_empty(),
        "a new object has no tags"
    );

    let max = numbered(10);
    put_tags(&s.client, &b, "k", &max).await;
    assert_eq!(
        object_tags(&s.client, &b, "k", None).await,
        max,
        "ten tags, the most S3 allows"
    );

    let long = vec![("k".repeat(128), "v".repeat(256))];
    put_tags(&s.client, &b, "k", &long).await;
    assert_eq!(
        object_tags(&s.client, &b, "k", None).await,
        long,
        "a put replaces the whole set; 128 and 256 characters are allowed"
    );

    let unicode = owned(&[("Ünïcode 名前", "a+b-c=d.e_f:g/h@i 3"), ("empty", "")]);
    put_tags(&s.client, &b, "k", &unicode).await;
    let mut sorted = unicode.clone();
    sorted.sort();
    assert_eq!(object_tags(&s.client, &b, "k", None).await, sorted);

    // An unversioned bucket reports no version id.
    let out = s
        .client
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&[("a", "1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), None);

    let get = s.client.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(get.tag_count(), Some(1), "x-amz-tagging-count on GET");
    let head = s.signed("HEAD", &format!("/{b}/k"), &[], &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-amz-tagging-count"), Some("1"), "and on HEAD: {head}");

    let raw = s.signed("DELETE", &format!("/{b}/k"), &[("tagging", "")], &[], b"");
    assert_eq!(raw.status, 204, "DeleteObjectTagging answers 204: {raw}");
    assert!(object_tags(&s.client, &b, "k", None).await.is_empty());
    let get = s.client.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(get.tag_count(), None, "no count header without tags");
    let head = s.signed("HEAD", &format!("/{b}/k"), &[], &[], b"");
    assert_eq!(head.header("x-amz-tagging-count"), None);
    assert_eq!(s.get(&b, "k").await, b"body", "tagging leaves the data alone");

    // An overwrite is a new object, without the old one's tags.
    put_tags(&s.client, &b, "k", &numbered(2)).await;
    s.put(&b, "k", "new body").await;
    assert!(object_tags(&s.client, &b, "k", None).await.is_empty());
}

#[tokio::test]
async fn object_tags_follow_version_ids() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "tags-versions").await;
    let v1 = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let v1 = v1.version_id().unwrap().to_owned();
    let v2 = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    let v2 = v2.version_id().unwrap().to_owned();

    let out = s
        .client
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .tagging(tagging(&[("old", "yes")]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    let out = s
        .client
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&[("current", "yes")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.version_id(),
        Some(v2.as_str()),
        "without a version id, the current version"
    );

    assert_eq!(
        object_tags(&s.client, &b, "k", Some(&v1)).await,
        owned(&[("old", "yes")])
    );
    assert_eq!(
        object_tags(&s.client, &b, "k", Some(&v2)).await,
        owned(&[("current", "yes")])
    );
    let out = s.client.get_object_tagging().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(out.version_id(), Some(v2.as_str()));
    assert_eq!(pairs(out.tag_set()), owned(&[("current", "yes")]));
    let old = s
        .client
        .get_object()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.tag_count(), Some(1));

    let out = s
        .client
        .delete_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    assert!(object_tags(&s.client, &b, "k", Some(&v1)).await.is_empty());
    assert_eq!(
        object_tags(&s.client, &b, "k", Some(&v2)).await,
        owned(&[("current", "yes")])
    );

    // A delete marker has no tags: the key reads as gone, the marker by id
    // as a method it does not allow.
    let marker = s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    let r = s.signed("GET", &format!("/{b}/k"), &[("tagging", "")], &[], b"");
    r.assert_s3_error(404, "NoSuchKey");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()));
    expect_err(
        s.client
            .put_object_tagging()
            .bucket(&b)
            .key("k")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_err(
        s.client
            .get_object_tagging()
            .bucket(&b)
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        405,
        "MethodNotAllowed",
    );
    expect_err(
        s.client
            .delete_object_tagging()
            .bucket(&b)
            .key("k")
            .version_id(&marker)
            .send()
            .await,
        405,
        "MethodNotAllowed",
    );
    assert_eq!(
        object_tags(&s.client, &b, "k", Some(&v2)).await,
        owned(&[("current", "yes")])
    );
    expect_err(
        s.client
            .get_object_tagging()
            .bucket(&b)
            .key("k")
            .version_id("0000000000000000ffffffffffffffff")
            .send()
            .await,
        404,
        "NoSuchVersion",
    );
}

#[tokio::test]
async fn object_tag_limits_are_refused_as_s3_refuses_them() {
    let s = Server::start().await;
    let b = s.new_bucket("tags-limits").await;
    s.put(&b, "k", "body").await;
    let kept = owned(&[("kept", "1")]);
    put_tags(&s.client, &b, "k", &kept).await;

    let refused = |tags: Vec<(String, String)>| {
        let set = tags.iter().map(|(k, v)| tag(k, v)).collect();
        s.client
            .put_object_tagging()
            .bucket(&b)
            .key("k")
            .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
            .send()
    };
    let err = expect_err(refused(numbered(11)).await, 400, "BadRequest");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some("Object tags cannot be greater than 10")
    );
    expect_err(
        refused(vec![("k".repeat(129), "v".to_owned())]).await,
        400,
        "InvalidTag",
    );
    expect_err(
        refused(vec![("k".to_owned(), "v".repeat(257))]).await,
        400,
        "InvalidTag",
    );
    // 65 characters outside the BMP are 130 UTF-16 code units, as S3 counts.
    expect_err(
        refused(vec![("\u{1D49C}".repeat(65), String::new())]).await,
        400,
        "InvalidTag",
    );
    let err = expect_err(refused(owned(&[("same", "1"), ("same", "2")])).await, 400, "InvalidTag");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some("Cannot provide multiple Tags with the same key")
    );
    let err = expect_err(refused(owned(&[("aws:owner", "me")])).await, 400, "InvalidTag");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some("Your TagKey cannot be prefixed with aws:")
    );
    expect_err(refused(owned(&[("", "v")])).await, 400, "InvalidTag");
    expect_err(refused(owned(&[("k", "a,b")])).await, 400, "InvalidTag");
    expect_err(refused(owned(&[("k#", "v")])).await, 400, "InvalidTag");
    assert_eq!(
        object_tags(&s.client, &b, "k", None).await,
        kept,
        "a refused set changes nothing"
    );

    // A tag without a value does not match S3's schema.
    let r = s.signed(
        "PUT",
        &format!("/{b}/k"),
        &[("tagging", "")],
        &[],
        &tagging_xml("<Tag><Key>k</Key></Tag>"),
    );
    r.assert_s3_error(400, "MalformedXML");

    expect_err(
        s.client
            .put_object_tagging()
            .bucket(&b)
            .key("missing")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_err(
        s.client.get_object_tagging().bucket(&b).key("missing").send().await,
        404,
        "NoSuchKey",
    );
    expect_err(
        s.client.delete_object_tagging().bucket(&b).key("missing").send().await,
        404,
        "NoSuchKey",
    );
    expect_err(
        s.client
            .get_object_tagging()
            .bucket("no-such-bucket-here")
            .key("k")
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

// ---------------------------------------------------------------------------
// x-amz-tagging on writes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn put_object_takes_tags_from_its_header() {
    let s = Server::start().await;
    let b = s.new_bucket("tags-header").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("k")
        .tagging("foo=bar&bar&sp%20ace=a%2Fb+c&&")
        .body(ByteStream::from_static(b"body"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&s.client, &b, "k", None).await,
        owned(&[("bar", ""), ("foo", "bar"), ("sp ace", "a/b c")]),
        "URL query parameters: a key without `=` has an empty value"
    );

    let put = |key: &'static str, header: String| {
        s.client
            .put_object()
            .bucket(&b)
            .key(key)
            .tagging(header)
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    let too_many: Vec<String> = (0..11).map(|i| format!("{i}={i}")).collect();
    expect_err(put("refused", too_many.join("&")).await, 400, "BadRequest");
    expect_err(put("refused", "a=1&a=2".to_owned()).await, 400, "InvalidArgument");
    expect_err(put("refused", "=v".to_owned()).await, 400, "InvalidArgument");
    expect_err(put("refused", "a=%FF".to_owned()).await, 400, "InvalidArgument");
    expect_err(
        put("refused", format!("{}=v", "k".repeat(129))).await,
        400,
        "InvalidTag",
    );
    expect_err(put("refused", "aws%3Ak=v".to_owned()).await, 400, "InvalidTag");
    expect_err(put("refused", "k=a%2Cb".to_owned()).await, 400, "InvalidTag");
    expect_err(s.client.head_object().bucket(&b).key("refused").send().await, 404, "");
    assert!(
        count_files(&s.tmp_dir()) == 0 && count_files(&s.blobs_dir()) == 1,
        "refused before a byte was stored"
    );
}

#[tokio::test]
async fn copy_object_copies_or_replaces_tags() {
    let s = Server::start().await;
    let b = s.new_bucket("tags-copy").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("src")
        .tagging("from=source&n=1")
        .body(ByteStream::from_static(b"source"))
        .send()
        .await
        .unwrap();
    let source = owned(&[("from", "source"), ("n", "1")]);

    let copy = |key: &'static str| {
        s.client
            .copy_object()
            .bucket(&b)
            .key(key)
            .copy_source(format!("{b}/src"))
    };
    copy("default").send().await.unwrap();
    assert_eq!(
        object_tags(&s.client, &b, "default", None).await,
        source,
        "COPY is the default"
    );
    copy("copied")
        .tagging_directive(TaggingDirective::Copy)
        .tagging("ignored=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&s.client, &b, "copied", None).await,
        source,
        "COPY ignores x-amz-tagging"
    );
    copy("replaced")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("new=tags")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags(&s.client, &b, "replaced", None).await,
        owned(&[("new", "tags")])
    );
    copy("cleared")
        .tagging_directive(TaggingDirective::Replace)
        .send()
        .await
        .unwrap();
    assert!(
        object_tags(&s.client, &b, "cleared", None).await.is_empty(),
        "REPLACE without x-amz-tagging leaves no tags"
    );
    assert_eq!(s.get(&b, "replaced").await, b"source");

    expect_err(
        copy("refused")
            .tagging_directive(TaggingDirective::Replace)
            .tagging("aws:k=v")
            .send()
            .await,
        400,
        "InvalidTag",
    );
    expect_err(
        copy("refused")
            .tagging_directive(TaggingDirective::from("MERGE"))
            .send()
            .await,
        400,
        "InvalidArgument",
    );
    expect_err(s.client.head_object().bucket(&b).key("refused").send().await, 404, "");
}

#[tokio::test]
async fn multipart_upload_tags_the_completed_object() {
    let s = Server::start().await;
    let b = s.new_bucket("tags-mpu").await;
    let created = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .tagging("phase=upload&team=storage")
        .send()
        .await
        .unwrap();
    let id = created.upload_id().unwrap().to_owned();
    let etag = upload_part(&s, &b, "k", &id, 1, b"only part".to_vec()).await;
    complete(&s, &b, "k", &id, &[(1, &etag)]).await.unwrap();
    assert_eq!(
        object_tags(&s.client, &b, "k", None).await,
        owned(&[("phase", "upload"), ("team", "storage")])
    );
    let get = s.client.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(get.tag_count(), Some(2));

    expect_err(
        s.client
            .create_multipart_upload()
            .bucket(&b)
            .key("k2")
            .tagging("x=1&x=2")
            .send()
            .await,
        400,
        "InvalidArgument",
    );
    let too_many: Vec<String> = (0..11).map(|i| format!("{i}={i}")).collect();
    expect_err(
        s.client
            .create_multipart_upload()
            .bucket(&b)
            .key("k2")
            .tagging(too_many.join("&"))
            .send()
            .await,
        400,
        "BadRequest",
    );
    let uploads = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "a refused create starts no upload");
}

// ---------------------------------------------------------------------------
// Who may tag
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tagging_needs_its_own_actions() {
    let s = Server::start().await;
    let bob = add_user(&s, "bob", "BOBTAGKEY", "bob-tag-secret-1");
    let b = s.new_bucket("tags-access").await;
    s.put(&b, "k", "body").await;
    put_tags(&s.client, &b, "k", &owned(&[("a", "1")])).await;

    expect_err(
        bob.get_object_tagging().bucket(&b).key("k").send().await,
        403,
        "AccessDenied",
    );
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"bob"}},
            "Action":["s3:GetObjectTagging","s3:PutObjectTagging","s3:GetObjectAttributes"],
            "Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    );
    s.client
        .put_bucket_policy()
        .bucket(&b)
        .policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(object_tags(&bob, &b, "k", None).await, owned(&[("a", "1")]));
    put_tags(&bob, &b, "k", &owned(&[("by", "bob")])).await;
    expect_err(
        bob.delete_object_tagging().bucket(&b).key("k").send().await,
        403,
        "AccessDenied",
    );
    expect_err(bob.get_object().bucket(&b).key("k").send().await, 403, "AccessDenied");
    let attributes = bob
        .get_object_attributes()
        .bucket(&b)
        .key("k")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(attributes.object_size(), Some(4));
    expect_err(bob.get_bucket_tagging().bucket(&b).send().await, 403, "AccessDenied");
}

// ---------------------------------------------------------------------------
// Bucket tagging
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bucket_tags_round_trip_and_no_such_tag_set() {
    let s = Server::start().await;
    let b = s.new_bucket("tags-bucket").await;
    let err = expect_err(
        s.client.get_bucket_tagging().bucket(&b).send().await,
        404,
        "NoSuchTagSet",
    );
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some("The TagSet does not exist")
    );

    let fifty = numbered(50);
    let set: Vec<Tag> = fifty.iter().map(|(k, v)| tag(k, v)).collect();
    s.client
        .put_bucket_tagging()
        .bucket(&b)
        .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
        .send()
        .await
        .unwrap();
    let out = s.client.get_bucket_tagging().bucket(&b).send().await.unwrap();
    let mut expected = fifty.clone();
    expected.sort();
    assert_eq!(
        pairs(out.tag_set()),
        expected,
        "fifty tags, the most S3 allows on a bucket"
    );

    let r = s.signed(
        "PUT",
        &format!("/{b}"),
        &[("tagging", "")],
        &[(
            "content-md5",
            &md5_b64(&tagging_xml("<Tag><Key>env</Key><Value>prod</Value></Tag>")),
        )],
        &tagging_xml("<Tag><Key>env</Key><Value>prod</Value></Tag>"),
    );
    assert_eq!(r.status, 204, "PutBucketTagging answers 204: {r}");
    let out = s.client.get_bucket_tagging().bucket(&b).send().await.unwrap();
    assert_eq!(
        pairs(out.tag_set()),
        owned(&[("env", "prod")]),
        "a put replaces the set"
    );

    let refused = |tags: Vec<(String, String)>| {
        let set = tags.iter().map(|(k, v)| tag(k, v)).collect();
        s.client
            .put_bucket_tagging()
            .bucket(&b)
            .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
            .send()
    };
    let err = expect_err(refused(numbered(51)).await, 400, "BadRequest");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(&err),
        Some("Bucket tag count cannot be greater than 50")
    );
    expect_err(refused(vec![("k".repeat(129), String::new())]).await, 400, "InvalidTag");
    expect_err(
        refused(vec![("k".to_owned(), "v".repeat(257))]).await,
        400,
        "InvalidTag",
    );
    expect_err(refused(owned(&[("d", "1"), ("d", "2")])).await, 400, "InvalidTag");
    expect_err(refused(owned(&[("aws:cloudformation", "x")])).await, 400, "InvalidTag");
    let out = s.client.get_bucket_tagging().bucket(&b).send().await.unwrap();
    assert_eq!(
        pairs(out.tag_set()),
        owned(&[("env", "prod")]),
        "a refused set changes nothing"
    );

    let r = s.signed("DELETE", &format!("/{b}"), &[("tagging", "")], &[], b"");
    assert_eq!(r.status, 204, "{r}");
    expect_err(
        s.client.get_bucket_tagging().bucket(&b).send().await,
        404,
        "NoSuchTagSet",
    );
    s.client
        .delete_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("deleting no tags succeeds");
    expect_err(
        s.client.get_bucket_tagging().bucket("no-such-bucket-here").send().await,
        404,
        "NoSuchBucket",
    );
}

// ---------------------------------------------------------------------------
// GetObjectAttributes
// ---------------------------------------------------------------------------

const ALL_ATTRIBUTES: [ObjectAttributes; 5] = [
    ObjectAttributes::Etag,
    ObjectAttributes::Checksum,
    ObjectAttributes::ObjectParts,
    ObjectAttributes::StorageClass,
    ObjectAttributes::ObjectSize,
];

#[tokio::test]
async fn attributes_of_a_single_put_object() {
    let s = Server::start().await;
    let b = s.new_bucket("attrs-put").await;
    let body = b"attributes body".to_vec();
    let put = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .checksum_sha256(sha256_b64(&body))
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();

    let out = s
        .client
        .get_object_attributes()
        .bucket(&b)
        .key("k")
        .set_object_attributes(Some(ALL_ATTRIBUTES.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some(md5_hex(&body).as_str()), "the ETag comes unquoted");
    assert_eq!(put.e_tag(), Some(quoted_md5(&body).as_str()));
    assert_eq!(out.object_size(), Some(body.len() as i64));
    assert_eq!(out.storage_class().map(|c| c.as_str()), Some("STANDARD"));
    let checksum = out.checksum().expect("checksum");
    assert_eq!(checksum.checksum_sha256(), Some(sha256_b64(&body).as_str()));
    assert_eq!(checksum.checksum_type().map(|t| t.as_str()), Some("FULL_OBJECT"));
    assert!(out.object_parts().is_none(), "a single PUT has no parts");
    assert_eq!(out.last_modified(), head.last_modified());
    assert_eq!(out.version_id(), None, "an unversioned bucket reports no version id");

    // Only what was asked for, and Last-Modified as a header whatever it was.
    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("attributes", "")],
        &[("x-amz-object-attributes", "ObjectSize")],
        b"",
    );
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.xml("ObjectSize").as_deref(), Some("15"));
    assert!(
        r.xml("ETag").is_none() && r.xml("Checksum").is_none() && r.xml("StorageClass").is_none(),
        "{r}"
    );
    assert!(r.header("last-modified").is_some());
    assert!(r.text().contains("<GetObjectAttributesResponse"), "{r}");
    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("attributes", "")],
        &[("x-amz-object-attributes", "ETag,StorageClass")],
        b"",
    );
    assert_eq!(r.xml("ETag"), Some(md5_hex(&body)), "bare in the XML too: {r}");
    assert_eq!(r.xml("StorageClass").as_deref(), Some("STANDARD"));

    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("attributes", "")],
        &[("x-amz-object-attributes", "ETag,Colour")],
        b"",
    );
    r.assert_s3_error(400, "InvalidArgument");
    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("attributes", "")],
        &[("x-amz-object-attributes", "")],
        b"",
    );
    r.assert_s3_error(400, "InvalidRequest");
    expect_err(
        s.client
            .get_object_attributes()
            .bucket(&b)
            .key("missing")
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await,
        404,
        "NoSuchKey",
    );
}

/// A multipart upload of `parts` (all but the last `MIN_PART` bytes), with
/// SHA256 part checksums when `sha256`; returns the part bodies.
async fn multipart_object(s: &Server, b: &str, key: &str, parts: usize, sha256: bool) -> Vec<Vec<u8>> {
    let bodies: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let len = if i + 1 == parts { 1000 + i } else { MIN_PART };
            pseudo_random_bytes(i as u64 + 1, len)
        })
        .collect();
    let id = if sha256 {
        let out = s
            .client
            .create_multipart_upload()
            .bucket(b)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .unwrap();
        out.upload_id().unwrap().to_owned()
    } else {
        create_upload(s, b, key).await
    };
    let mut completed = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let n = i as i32 + 1;
        let mut req = s
            .client
            .upload_part()
            .bucket(b)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(body.clone()));
        if sha256 {
            req = req.checksum_sha256(sha256_b64(body));
        }
        let etag = req.send().await.unwrap().e_tag().unwrap().to_owned();
        let mut part = CompletedPart::builder().part_number(n).e_tag(etag);
        if sha256 {
            part = part.checksum_sha256(sha256_b64(body));
        }
        completed.push(part.build());
    }
    s.client
        .complete_multipart_upload()
        .bucket(b)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await
        .unwrap();
    bodies
}

#[tokio::test]
async fn attributes_of_a_multipart_object_page_its_parts() {
    let s = Server::start().await;
    let b = s.new_bucket("attrs-mpu").await;
    let bodies = multipart_object(&s, &b, "k", 4, true).await;
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    let size: usize = bodies.iter().map(Vec::len).sum();

    let attributes = |max_parts: Option<i32>, marker: Option<&str>| {
        s.client
            .get_object_attributes()
            .bucket(&b)
            .key("k")
            .set_object_attributes(Some(ALL_ATTRIBUTES.to_vec()))
            .set_max_parts(max_parts)
            .set_part_number_marker(marker.map(str::to_owned))
            .send()
    };
    let out = attributes(None, None).await.unwrap();
    assert_eq!(
        out.e_tag().map(|e| format!("\"{e}\"")).as_deref(),
        head.e_tag(),
        "the multipart ETag, unquoted"
    );
    assert!(out.e_tag().unwrap().ends_with("-4"));
    assert_eq!(out.object_size(), Some(size as i64));
    let mut raw = Vec::new();
    for body in &bodies {
        raw.extend(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sha256_b64(body)).unwrap());
    }
    let checksum = out.checksum().expect("checksum");
    assert_eq!(
        checksum.checksum_sha256(),
        Some(sha256_b64(&raw).as_str()),
        "the composite checksum, without the -4 that HEAD shows"
    );
    assert_eq!(checksum.checksum_type().map(|t| t.as_str()), Some("COMPOSITE"));
    let parts = out.object_parts().expect("ObjectParts");
    assert_eq!(parts.total_parts_count(), Some(4));
    assert_eq!(parts.is_truncated(), Some(false));
    assert_eq!(parts.max_parts(), Some(1000));
    let listed: Vec<(i32, i64, String)> = parts
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap(),
                p.size().unwrap(),
                p.checksum_sha256().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(i32, i64, String)> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| (i as i32 + 1, body.len() as i64, sha256_b64(body)))
        .collect();
    assert_eq!(listed, expected);

    // Pages of at most max-parts, after the marker.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..4 {
        let out = attributes(Some(3), marker.as_deref()).await.unwrap();
        let parts = out.object_parts().unwrap();
        assert_eq!(parts.max_parts(), Some(3));
        assert_eq!(
            parts.total_parts_count(),
            Some(4),
            "the count is of all parts, on every page"
        );
        assert_eq!(parts.part_number_marker(), marker.as_deref());
        seen.extend(parts.parts().iter().map(|p| p.part_number().unwrap()));
        if parts.is_truncated() != Some(true) {
            assert_eq!(parts.next_part_number_marker(), None);
            break;
        }
        assert_eq!(parts.next_part_number_marker(), Some("3"));
        marker = parts.next_part_number_marker().map(str::to_owned);
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    let out = attributes(Some(2), Some("1")).await.unwrap();
    let numbers: Vec<i32> = out
        .object_parts()
        .unwrap()
        .parts()
        .iter()
        .map(|p| p.part_number().unwrap())
        .collect();
    assert_eq!(numbers, [2, 3]);
    let out = attributes(None, Some("4")).await.unwrap();
    assert!(out.object_parts().unwrap().parts().is_empty());
    assert_eq!(out.object_parts().unwrap().is_truncated(), Some(false));
    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("attributes", "")],
        &[("x-amz-object-attributes", "ObjectParts"), ("x-amz-max-parts", "-1")],
        b"",
    );
    r.assert_s3_error(400, "InvalidArgument");
    assert!(r.xml("PartsCount").is_none());

    // Without a checksum algorithm of its own, S3 tells only the number of parts.
    multipart_object(&s, &b, "plain", 3, false).await;
    let out = s
        .client
        .get_object_attributes()
        .bucket(&b)
        .key("plain")
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    let parts = out.object_parts().expect("ObjectParts");
    assert_eq!(parts.total_parts_count(), Some(3));
    assert!(parts.parts().is_empty() && parts.is_truncated().is_none() && parts.max_parts().is_none());
}

#[tokio::test]
async fn attributes_of_versions_and_delete_markers() {
    let s = Server::start().await;
    let b = versioned_bucket(&s, "attrs-versions").await;
    let v1 = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .unwrap();
    let v1 = v1.version_id().unwrap().to_owned();
    let v2 = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"second!"))
        .send()
        .await
        .unwrap();
    let v2 = v2.version_id().unwrap().to_owned();

    let attributes = |version_id: Option<&str>| {
        s.client
            .get_object_attributes()
            .bucket(&b)
            .key("k")
            .set_version_id(version_id.map(str::to_owned))
            .object_attributes(ObjectAttributes::ObjectSize)
            .object_attributes(ObjectAttributes::Etag)
            .send()
    };
    let out = attributes(Some(&v1)).await.unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    assert_eq!(out.object_size(), Some(5));
    assert_eq!(out.e_tag(), Some(md5_hex(b"first").as_str()));
    let out = attributes(None).await.unwrap();
    assert_eq!(out.version_id(), Some(v2.as_str()));
    assert_eq!(out.object_size(), Some(7));

    let marker = s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("attributes", "")],
        &[("x-amz-object-attributes", "ETag")],
        b"",
    );
    r.assert_s3_error(404, "NoSuchKey");
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()));
    expect_err(attributes(Some(&marker)).await, 405, "MethodNotAllowed");
    assert_eq!(
        attributes(Some(&v1)).await.unwrap().object_size(),
        Some(5),
        "older versions stay readable"
    );
    expect_err(
        attributes(Some("0000000000000000ffffffffffffffff")).await,
        404,
        "NoSuchVersion",
    );
}
