//! Object lock: bucket configuration and default retention, retention and
//! legal holds on versions, the lock headers of writes, and the removals
//! they refuse, before and after a kill -9.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule,
    VersioningConfiguration,
};

use crate::common::*;

async fn lock_bucket(s: &Server, prefix: &str) -> String {
    let b = bucket_name(prefix);
    s.client
        .create_bucket()
        .bucket(&b)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create a bucket with object lock");
    b
}

fn in_future(seconds: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(seconds))
}

fn retention(mode: ObjectLockRetentionMode, until: DateTime) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(until)
        .build()
}

async fn put(client: &Client, bucket: &str, key: &str) -> String {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"locked bytes"))
        .send()
        .await
        .expect("put")
        .version_id
        .expect("a lock bucket is versioned")
}

async fn delete_version(client: &Client, bucket: &str, key: &str, version: &str, bypass: bool) -> Result<(), String> {
    let mut request = client.delete_object().bucket(bucket).key(key).version_id(version);
    if bypass {
        request = request.bypass_governance_retention(true);
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{} {}", err_status(&e), err_code(&e)))
}

fn default_rule(mode: ObjectLockRetentionMode, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .mode(mode)
                        .set_days(days)
                        .set_years(years)
                        .build(),
                )
                .build(),
        )
        .build()
}

#[tokio::test]
async fn lock_configuration_round_trips_and_pins_versioning() {
    let s = Server::start().await;
    let b = lock_bucket(&s, "lcfg").await;
    let versioning = s.client.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(
        versioning.status(),
        Some(&BucketVersioningStatus::Enabled),
        "object lock turns versioning on"
    );
    let out = s
        .client
        .get_object_lock_configuration()
        .bucket(&b)
        .send()
        .await
        .unwrap();
    let config = out.object_lock_configuration().unwrap();
    assert_eq!(config.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(config.rule().is_none());

    let rule = default_rule(ObjectLockRetentionMode::Governance, Some(3), None);
    s.client
        .put_object_lock_configuration()
        .bucket(&b)
        .object_lock_configuration(rule.clone())
        .send()
        .await
        .unwrap();
    let out = s
        .client
        .get_object_lock_configuration()
        .bucket(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_lock_configuration(), Some(&rule));

    for (config, status, code) in [
        (
            default_rule(ObjectLockRetentionMode::Governance, Some(1), Some(1)),
            400,
            "MalformedXML",
        ),
        (
            default_rule(ObjectLockRetentionMode::Governance, None, None),
            400,
            "MalformedXML",
        ),
        (
            default_rule(ObjectLockRetentionMode::Compliance, Some(0), None),
            400,
            "InvalidArgument",
        ),
        (
            default_rule(ObjectLockRetentionMode::Compliance, None, Some(-1)),
            400,
            "InvalidArgument",
        ),
    ] {
        expect_err(
            s.client
                .put_object_lock_configuration()
                .bucket(&b)
                .object_lock_configuration(config)
                .send()
                .await,
            status,
            code,
        );
    }
    // Versioning can no longer be suspended.
    expect_err(
        s.client
            .put_bucket_versioning()
            .bucket(&b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        409,
        "InvalidBucketState",
    );

    // A bucket without object lock has no configuration, and gets one only
    // once it is versioned.
    let plain = s.new_bucket("lplain").await;
    expect_err(
        s.client.get_object_lock_configuration().bucket(&plain).send().await,
        404,
        "ObjectLockConfigurationNotFoundError",
    );
    let enable = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .build();
    expect_err(
        s.client
            .put_object_lock_configuration()
            .bucket(&plain)
            .object_lock_configuration(enable.clone())
            .send()
            .await,
        409,
        "InvalidBucketState",
    );
    s.client
        .put_bucket_versioning()
        .bucket(&plain)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s.client
        .put_object_lock_configuration()
        .bucket(&plain)
        .object_lock_configuration(enable)
        .send()
        .await
        .expect("a versioned bucket can turn object lock on");
    s.client
        .get_object_lock_configuration()
        .bucket(&plain)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn governance_retention_yields_only_to_an_allowed_bypass() {
    let s = Server::start().await;
    let b = lock_bucket(&s, "lgov").await;
    let until = in_future(3600);
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let v1 = out.version_id().unwrap().to_owned();

    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(
        head.object_lock_retain_until_date().map(|d| d.secs()),
        Some(until.secs())
    );
    let got = s
        .client
        .get_object_retention()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.retention().unwrap().mode(),
        Some(&ObjectLockRetentionMode::Governance)
    );

    assert_eq!(
        delete_version(&s.client, &b, "k", &v1, false).await,
        Err("403 AccessDenied".into())
    );
    // A delete without a version only adds a marker: always allowed.
    let marker = s.client.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(marker.delete_marker(), Some(true));

    // Shortening governance retention needs the bypass too.
    let shorter = retention(ObjectLockRetentionMode::Governance, in_future(60));
    expect_err(
        s.client
            .put_object_retention()
            .bucket(&b)
            .key("k")
            .version_id(&v1)
            .retention(shorter.clone())
            .send()
            .await,
        403,
        "AccessDenied",
    );

    // Another user allowed to delete, but not to bypass, still cannot.
    let bob = add_user(
        &s,
        "bob",
        "BOBACCESSKEY00000001",
        "bob-secret-key-0000000000000000000000000",
    );
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":["s3:DeleteObject","s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    );
    s.client
        .put_bucket_policy()
        .bucket(&b)
        .policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        delete_version(&bob, &b, "k", &v1, true).await,
        Err("403 AccessDenied".into())
    );

    // The owner may bypass governance.
    s.client
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(shorter)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("the owner may shorten governance retention with the bypass");
    delete_version(&s.client, &b, "k", &v1, true)
        .await
        .expect("the owner may bypass governance");
    expect_err(
        s.client.get_object().bucket(&b).key("k").version_id(&v1).send().await,
        404,
        "NoSuchVersion",
    );
}

#[tokio::test]
async fn compliance_retention_can_only_grow() {
    let s = Server::start().await;
    let b = lock_bucket(&s, "lcomp").await;
    let v1 = put(&s.client, &b, "k").await;
    let until = in_future(3600);
    s.client
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(retention(ObjectLockRetentionMode::Compliance, until))
        .send()
        .await
        .unwrap();
    assert_eq!(
        delete_version(&s.client, &b, "k", &v1, true).await,
        Err("403 AccessDenied".into())
    );
    for weaker in [
        retention(ObjectLockRetentionMode::Compliance, in_future(60)),
        retention(ObjectLockRetentionMode::Governance, in_future(7200)),
        ObjectLockRetention::builder().build(),
    ] {
        expect_err(
            s.client
                .put_object_retention()
                .bucket(&b)
                .key("k")
                .version_id(&v1)
                .retention(weaker)
                .bypass_governance_retention(true)
                .send()
                .await,
            403,
            "AccessDenied",
        );
    }
    let later = in_future(7200);
    s.client
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(retention(ObjectLockRetentionMode::Compliance, later))
        .send()
        .await
        .expect("compliance retention may be extended");
    let got = s
        .client
        .get_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.retention().unwrap().retain_until_date().map(|d| d.secs()),
        Some(later.secs())
    );

    // A retention date in the past is refused.
    expect_err(
        s.client
            .put_object_retention()
            .bucket(&b)
            .key("k")
            .version_id(&v1)
            .retention(retention(
                ObjectLockRetentionMode::Compliance,
                DateTime::from_secs(1_000_000),
            ))
            .send()
            .await,
        400,
        "InvalidArgument",
    );
}

#[tokio::test]
async fn legal_hold_blocks_removal_until_released() {
    let s = Server::start().await;
    let b = lock_bucket(&s, "lhold").await;
    let v1 = put(&s.client, &b, "k").await;
    expect_err(
        s.client.get_object_legal_hold().bucket(&b).key("k").send().await,
        404,
        "NoSuchObjectLockConfiguration",
    );
    expect_err(
        s.client.get_object_retention().bucket(&b).key("k").send().await,
        404,
        "NoSuchObjectLockConfiguration",
    );
    let hold = |status| ObjectLockLegalHold::builder().status(status).build();
    s.client
        .put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .legal_hold(hold(ObjectLockLegalHoldStatus::On))
        .send()
        .await
        .unwrap();
    let got = s
        .client
        .get_object_legal_hold()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On));
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(
        delete_version(&s.client, &b, "k", &v1, true).await,
        Err("403 AccessDenied".into())
    );

    s.client
        .put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .legal_hold(hold(ObjectLockLegalHoldStatus::Off))
        .send()
        .await
        .unwrap();
    let got = s
        .client
        .get_object_legal_hold()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.legal_hold().unwrap().status(),
        Some(&ObjectLockLegalHoldStatus::Off)
    );
    delete_version(&s.client, &b, "k", &v1, false).await.expect("released");
}

#[tokio::test]
async fn default_retention_locks_new_versions_of_every_write() {
    let s = Server::start().await;
    let b = lock_bucket(&s, "ldef").await;
    s.client
        .put_object_lock_configuration()
        .bucket(&b)
        .object_lock_configuration(default_rule(ObjectLockRetentionMode::Compliance, Some(1), None))
        .send()
        .await
        .unwrap();
    let v1 = put(&s.client, &b, "put").await;
    let got = s
        .client
        .get_object_retention()
        .bucket(&b)
        .key("put")
        .send()
        .await
        .unwrap();
    let retention = got.retention().unwrap();
    assert_eq!(retention.mode(), Some(&ObjectLockRetentionMode::Compliance));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let until = retention.retain_until_date().unwrap().secs();
    assert!(
        (until - now - 86_400).abs() < 120,
        "one day of retention, got {}s",
        until - now
    );
    assert_eq!(
        delete_version(&s.client, &b, "put", &v1, true).await,
        Err("403 AccessDenied".into())
    );

    let copied = s
        .client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/put"))
        .send()
        .await
        .unwrap();
    let copy_version = copied.version_id().unwrap();
    assert_eq!(
        delete_version(&s.client, &b, "copy", copy_version, true).await,
        Err("403 AccessDenied".into())
    );

    // Explicit headers win over the default: a multipart upload with only a
    // legal hold still gets the default retention, and the hold.
    let upload = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = s
        .client
        .upload_part()
        .bucket(&b)
        .key("mpu")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("mpu")
        .upload_id(upload_id)
        .multipart_upload(one_part(part.e_tag().unwrap()))
        .send()
        .await
        .unwrap();
    let head = s.client.head_object().bucket(&b).key("mpu").send().await.unwrap();
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(
        delete_version(&s.client, &b, "mpu", done.version_id().unwrap(), true).await,
        Err("403 AccessDenied".into())
    );
}

#[tokio::test]
async fn lock_headers_are_checked() {
    let s = Server::start().await;
    let b = lock_bucket(&s, "lhdr").await;
    let mode_only = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(mode_only, 400, "InvalidArgument");
    let past = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(1_000_000))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(past, 400, "InvalidArgument");

    let plain = s.new_bucket("lnolock").await;
    let refused = s
        .client
        .put_object()
        .bucket(&plain)
        .key("k")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(refused, 400, "InvalidRequest");
    s.put(&plain, "k", "x").await;
    expect_err(
        s.client
            .put_object_retention()
            .bucket(&plain)
            .key("k")
            .retention(retention(ObjectLockRetentionMode::Governance, in_future(60)))
            .send()
            .await,
        400,
        "InvalidRequest",
    );
    expect_err(
        s.client
            .put_object_legal_hold()
            .bucket(&plain)
            .key("k")
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(ObjectLockLegalHoldStatus::On)
                    .build(),
            )
            .send()
            .await,
        400,
        "InvalidRequest",
    );
}

#[tokio::test]
async fn locks_hold_across_a_kill() {
    let mut s = Server::start().await;
    let b = lock_bucket(&s, "lkill").await;
    let v1 = put(&s.client, &b, "k").await;
    s.client
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(retention(ObjectLockRetentionMode::Compliance, in_future(3600)))
        .send()
        .await
        .unwrap();
    s.kill();
    s.restart();
    assert_eq!(
        delete_version(&s.client, &b, "k", &v1, true).await,
        Err("403 AccessDenied".into())
    );
    let got = s
        .client
        .get_object_retention()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.retention().unwrap().mode(),
        Some(&ObjectLockRetentionMode::Compliance)
    );
    assert_eq!(
        count_files(&s.blobs_dir()),
        1,
        "the locked version's bytes are still there"
    );
}
