//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, GetBucketVersioning.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::common::*;

#[tokio::test]
async fn create_list_head_delete_bucket() {
    let s = Server::start().await;
    let b1 = s.new_bucket("alpha").await;
    let b2 = s.new_bucket("beta").await;

    let out = s.client.list_buckets().send().await.expect("list buckets");
    let names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert!(
        names.contains(&b1.as_str()) && names.contains(&b2.as_str()),
        "{names:?}"
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ListBuckets must return buckets in alphabetical order");
    for b in out.buckets() {
        assert!(b.creation_date().is_some(), "bucket without CreationDate: {b:?}");
    }
    assert!(out.owner().is_some(), "ListBuckets response must contain an Owner");

    s.client.head_bucket().bucket(&b1).send().await.expect("head bucket");

    // DeleteBucket returns 204 No Content.
    let r = s.signed("DELETE", &format!("/{b1}"), &[], &[], b"");
    assert_eq!(r.status, 204, "DeleteBucket: {r}");
    assert!(r.header("x-amz-request-id").is_some());

    let e = expect_err(s.client.head_bucket().bucket(&b1).send().await, 404, "");
    assert!(e.into_service_error().is_not_found());

    let out = s.client.list_buckets().send().await.unwrap();
    let names: Vec<&str> = out.buckets().iter().filter_map(|b| b.name()).collect();
    assert!(
        !names.contains(&b1.as_str()) && names.contains(&b2.as_str()),
        "{names:?}"
    );
}

#[tokio::test]
async fn list_buckets_empty() {
    let s = Server::start().await;
    let out = s.client.list_buckets().send().await.expect("list buckets");
    assert!(out.buckets().is_empty(), "{:?}", out.buckets());
}

#[tokio::test]
async fn create_bucket_already_owned_by_you() {
    let s = Server::start().await;
    let b = s.new_bucket("dup").await;
    let e = expect_err(
        s.client.create_bucket().bucket(&b).send().await,
        409,
        "BucketAlreadyOwnedByYou",
    );
    assert!(e.into_service_error().is_bucket_already_owned_by_you());
}

#[tokio::test]
async fn create_bucket_invalid_names() {
    let s = Server::start().await;
    let long = "a".repeat(64);
    let invalid = [
        "ab",            // too short
        long.as_str(),   // too long
        "UpperCase",     // uppercase
        "under_score",   // underscore
        "-leadingdash",  // must start with letter or digit
        "trailingdash-", // must end with letter or digit
        ".leadingdot",
        "trailingdot.",
        "two..dots",           // adjacent periods
        "192.168.5.4",         // formatted as an IP address
        "xn--punycode",        // reserved prefix
        "bucket-s3alias",      // reserved suffix
        "bucket--ol-s3",       // reserved suffix
        "sthree-bucket",       // reserved prefix
        "amzn-s3-demo-bucket", // reserved prefix
        "bucket--x-s3",        // reserved suffix
        "bucket.mrap",         // reserved suffix
        "bucket--table-s3",    // reserved suffix
        "has space",
    ];
    let mut wrong = Vec::new();
    for name in invalid {
        // Raw signed request: the SDK itself treats some suffixes (e.g. --x-s3) specially.
        let r = s.signed("PUT", &format!("/{name}"), &[], &[], b"");
        if r.status != 400 || r.xml("Code").as_deref() != Some("InvalidBucketName") {
            wrong.push(format!("{name:?}: {} {:?}", r.status, r.xml("Code")));
        }
    }
    assert!(wrong.is_empty(), "expected 400 InvalidBucketName for: {wrong:#?}");
    // Nothing got created.
    let out = s.client.list_buckets().send().await.unwrap();
    assert!(out.buckets().is_empty(), "{:?}", out.buckets());
}

#[tokio::test]
async fn create_bucket_valid_edge_names() {
    let s = Server::start().await;
    let long = format!("b{}", "0".repeat(62));
    for name in ["abc", long.as_str(), "a.b-c.d", "123", "my.bucket.name"] {
        s.client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
        s.client
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {name}: {e:?}"));
        s.put(name, "k", "v").await;
        assert_eq!(s.get(name, "k").await, b"v");
    }
}

#[tokio::test]
async fn create_bucket_with_empty_configuration() {
    let s = Server::start().await;
    let b = bucket_name("cfg");
    s.client
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(CreateBucketConfiguration::builder().build())
        .send()
        .await
        .expect("create bucket with empty CreateBucketConfiguration");
    s.client.head_bucket().bucket(&b).send().await.unwrap();
}

#[tokio::test]
async fn create_bucket_with_location_constraint() {
    // A server configured for another region accepts a matching LocationConstraint
    // and reports it through GetBucketLocation.
    let s = Server::start_with(Some("eu-west-1"), true);
    let b = bucket_name("loc");
    s.client
        .create_bucket()
        .bucket(&b)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from("eu-west-1"))
                .build(),
        )
        .send()
        .await
        .expect("create bucket with LocationConstraint");
    let loc = s
        .client
        .get_bucket_location()
        .bucket(&b)
        .send()
        .await
        .expect("get location");
    assert_eq!(loc.location_constraint().map(|c| c.as_str()), Some("eu-west-1"));
    s.put(&b, "k", "hello").await;
    assert_eq!(s.get(&b, "k").await, b"hello");
}

#[tokio::test]
async fn get_bucket_location_us_east_1_is_empty() {
    let s = Server::start().await;
    let b = s.new_bucket("loc").await;
    let loc = s
        .client
        .get_bucket_location()
        .bucket(&b)
        .send()
        .await
        .expect("get location");
    // us-east-1 is reported as an empty LocationConstraint.
    let c = loc
        .location_constraint()
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    assert!(
        c.is_empty(),
        "expected empty LocationConstraint for us-east-1, got {c:?}"
    );

    let r = s.signed("GET", &format!("/{b}"), &[("location", "")], &[], b"");
    assert_eq!(r.status, 200, "{r}");
    assert!(r.text().contains("LocationConstraint"), "{r}");
    assert!(
        !r.text().contains("us-east-1"),
        "us-east-1 must be reported as empty: {r}"
    );
}

#[tokio::test]
async fn get_bucket_versioning_unversioned() {
    let s = Server::start().await;
    let b = s.new_bucket("ver").await;
    let out = s
        .client
        .get_bucket_versioning()
        .bucket(&b)
        .send()
        .await
        .expect("get versioning");
    assert!(
        out.status().is_none(),
        "unversioned bucket must have no Status: {out:?}"
    );
    assert!(out.mfa_delete().is_none(), "{out:?}");
    let r = s.signed("GET", &format!("/{b}"), &[("versioning", "")], &[], b"");
    assert_eq!(r.status, 200, "{r}");
    assert!(r.text().contains("VersioningConfiguration"), "{r}");
    assert!(!r.text().contains("<Status>"), "{r}");
}

#[tokio::test]
async fn delete_bucket_errors() {
    let s = Server::start().await;
    let missing = bucket_name("missing");
    let e = expect_err(
        s.client.delete_bucket().bucket(&missing).send().await,
        404,
        "NoSuchBucket",
    );
    drop(e);

    let b = s.new_bucket("full").await;
    s.put(&b, "obj", "data").await;
    expect_err(s.client.delete_bucket().bucket(&b).send().await, 409, "BucketNotEmpty");
    // Still there, with its object.
    assert_eq!(s.get(&b, "obj").await, b"data");

    s.client.delete_object().bucket(&b).key("obj").send().await.unwrap();
    s.client
        .delete_bucket()
        .bucket(&b)
        .send()
        .await
        .expect("delete emptied bucket");
    expect_err(s.client.head_bucket().bucket(&b).send().await, 404, "");
    // Name can be reused.
    s.client.create_bucket().bucket(&b).send().await.expect("recreate");
    let out = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    assert!(out.contents().is_empty(), "recreated bucket must be empty");
}

#[tokio::test]
async fn operations_on_missing_bucket() {
    let s = Server::start().await;
    let b = bucket_name("nobucket");
    expect_err(s.client.head_bucket().bucket(&b).send().await, 404, "");
    expect_err(
        s.client.get_bucket_location().bucket(&b).send().await,
        404,
        "NoSuchBucket",
    );
    expect_err(
        s.client.get_bucket_versioning().bucket(&b).send().await,
        404,
        "NoSuchBucket",
    );
    expect_err(s.client.list_objects_v2().bucket(&b).send().await, 404, "NoSuchBucket");
    expect_err(s.client.list_objects().bucket(&b).send().await, 404, "NoSuchBucket");
    expect_err(
        s.client.list_object_versions().bucket(&b).send().await,
        404,
        "NoSuchBucket",
    );
    expect_err(
        s.client
            .put_object()
            .bucket(&b)
            .key("k")
            .body(b"x".to_vec().into())
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
    expect_err(
        s.client.get_object().bucket(&b).key("k").send().await,
        404,
        "NoSuchBucket",
    );
    expect_err(s.client.head_object().bucket(&b).key("k").send().await, 404, "");
    expect_err(
        s.client.delete_object().bucket(&b).key("k").send().await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_same_bucket() {
    let s = Server::start().await;
    let b = bucket_name("race");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = s.client.clone();
        let b = b.clone();
        set.spawn(async move {
            c.create_bucket()
                .bucket(&b)
                .send()
                .await
                .map_err(|e| (err_status(&e), err_code(&e)))
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err((409, code)) if code == "BucketAlreadyOwnedByYou" => {}
            Err(other) => panic!("unexpected CreateBucket result under contention: {other:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one concurrent CreateBucket must succeed");
    let out = s.client.list_buckets().send().await.unwrap();
    assert_eq!(out.buckets().iter().filter(|x| x.name() == Some(b.as_str())).count(), 1);
}
