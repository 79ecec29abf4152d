//! Lifecycle: Put/Get/DeleteBucketLifecycleConfiguration, and the worker
//! that enforces the rules, watched through the S3 API on a server started
//! with `--lifecycle-test-clock`: the tests move its clock forward and run
//! passes through `coffer admin lifecycle`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
};

use crate::common::*;
use crate::versioning::{all_versions, put_version, set_versioning, versioned_bucket};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

fn lifecycle_server() -> Server {
    Server::start_with_args(&["--lifecycle-test-clock"])
}

/// The server's lifecycle clock, as far as the test has moved it.
struct Clock<'a> {
    server: &'a Server,
    offset: i64,
}

impl Clock<'_> {
    fn of(server: &Server) -> Clock<'_> {
        Clock { server, offset: 0 }
    }

    fn now(&self) -> i64 {
        unix_now() + self.offset
    }

    fn advance_days(&mut self, days: i64) {
        root_admin(
            self.server,
            &["lifecycle", "advance-clock", "--days", &days.to_string()],
        );
        self.offset += days * DAY;
    }

    /// Moves the clock to `target`, in seconds since the epoch.
    fn advance_to(&mut self, target: i64) {
        let by = target - self.now();
        assert!(by >= 0, "the clock only moves forward");
        root_admin(
            self.server,
            &["lifecycle", "advance-clock", "--seconds", &by.to_string()],
        );
        self.offset += by;
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Runs one lifecycle pass and returns its report.
fn run_pass(s: &Server) -> serde_json::Value {
    let out = root_admin(s, &["lifecycle", "run"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("a pass report: {e}: {out}"))
}

/// When an action counted in `days` from `start` falls due: S3 rounds the
/// sum up to the next midnight UTC.
fn due(start: i64, days: i64) -> i64 {
    ((start + days * DAY) / DAY + 1) * DAY
}

/// Puts `rules` (the XML of `<Rule>` elements) as the bucket's lifecycle
/// configuration.
fn put_rules(s: &Server, bucket: &str, rules: &str) -> RawResponse {
    let body = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
    s.signed(
        "PUT",
        &format!("/{bucket}"),
        &[("lifecycle", "")],
        &[("Content-MD5", &md5_b64(body.as_bytes()))],
        body.as_bytes(),
    )
}

#[track_caller]
pub(crate) fn set_rules(s: &Server, bucket: &str, rules: &str) {
    let r = put_rules(s, bucket, rules);
    assert_eq!(r.status, 200, "{r}");
}

fn get_rules(s: &Server, bucket: &str) -> RawResponse {
    s.signed("GET", &format!("/{bucket}"), &[("lifecycle", "")], &[], b"")
}

/// One enabled rule with this `<Filter>` content.
fn filtered(filter: &str, actions: &str) -> String {
    format!("<Rule><Status>Enabled</Status><Filter>{filter}</Filter>{actions}</Rule>")
}

/// One enabled rule over the keys under `prefix`.
pub(crate) fn rule(prefix: &str, actions: &str) -> String {
    filtered(&format!("<Prefix>{prefix}</Prefix>"), actions)
}

pub(crate) fn expire_after(days: u32) -> String {
    format!("<Expiration><Days>{days}</Days></Expiration>")
}

fn expiring(id: &str, prefix: &str, days: i32) -> LifecycleRule {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .unwrap()
}

fn configuration(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
    BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .unwrap()
}

/// Seconds since the epoch at which the current version of `key` was written.
async fn written(s: &Server, bucket: &str, key: &str) -> i64 {
    let head = s.client.head_object().bucket(bucket).key(key).send().await.unwrap();
    head.last_modified().expect("a last-modified time").secs()
}

async fn exists(s: &Server, bucket: &str, key: &str) -> bool {
    match s.client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(e) if err_status(&e) == 404 => false,
        Err(e) => panic!("head {bucket}/{key}: {e:?}"),
    }
}

#[track_caller]
fn assert_reported(report: &serde_json::Value, field: &str, expected: u64) {
    assert_eq!(report[field].as_u64(), Some(expected), "{field} in {report}");
}

/// (version id, is delete marker) of every version of the bucket's keys, as listed.
fn version_ids(s: &Server, bucket: &str) -> Vec<(String, bool)> {
    all_versions(s, bucket, 1000)
        .into_iter()
        .map(|(_, id, _, marker)| (id, marker))
        .collect()
}

/// Starts an upload of `key` with `parts` small parts; returns its id.
async fn start_upload(s: &Server, bucket: &str, key: &str, parts: i32) -> String {
    let upload_id = s
        .client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    for part_number in 1..=parts {
        s.client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(part_number)
            .body(ByteStream::from_static(b"part"))
            .send()
            .await
            .unwrap();
    }
    upload_id
}

#[tokio::test]
async fn configuration_round_trips() {
    let s = Server::start().await;
    let b = s.new_bucket("lc-config").await;
    let r = get_rules(&s, &b);
    r.assert_s3_error(404, "NoSuchLifecycleConfiguration");
    assert_eq!(
        r.xml("Message").as_deref(),
        Some("The lifecycle configuration does not exist")
    );

    let unnamed = LifecycleRule::builder()
        .status(ExpirationStatus::Disabled)
        .filter(LifecycleRuleFilter::builder().build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(7)
                .newer_noncurrent_versions(3)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(2)
                .build(),
        )
        .build()
        .unwrap();
    s.client
        .put_bucket_lifecycle_configuration()
        .bucket(&b)
        .lifecycle_configuration(configuration(vec![expiring("logs", "logs/", 30), unnamed]))
        .send()
        .await
        .unwrap();

    let got = s
        .client
        .get_bucket_lifecycle_configuration()
        .bucket(&b)
        .send()
        .await
        .unwrap();
    let rules = got.rules();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[0].id(), Some("logs"));
    assert_eq!(rules[0].status(), &ExpirationStatus::Enabled);
    assert_eq!(rules[0].filter().and_then(|f| f.prefix()), Some("logs/"));
    assert_eq!(rules[0].expiration().and_then(|e| e.days()), Some(30));
    // S3 names a rule put without an ID.
    assert!(rules[1].id().is_some_and(|id| !id.is_empty()), "{rules:?}");
    assert_eq!(rules[1].status(), &ExpirationStatus::Disabled);
    let noncurrent = rules[1].noncurrent_version_expiration().unwrap();
    assert_eq!(
        (noncurrent.noncurrent_days(), noncurrent.newer_noncurrent_versions()),
        (Some(7), Some(3))
    );
    assert_eq!(
        rules[1]
            .abort_incomplete_multipart_upload()
            .and_then(|abort| abort.days_after_initiation()),
        Some(2)
    );

    // 204 with rules and without, as S3 answers.
    for _ in 0..2 {
        let r = s.signed("DELETE", &format!("/{b}"), &[("lifecycle", "")], &[], b"");
        assert_eq!(r.status, 204, "{r}");
    }
    expect_err(
        s.client.get_bucket_lifecycle_configuration().bucket(&b).send().await,
        404,
        "NoSuchLifecycleConfiguration",
    );
}

#[tokio::test]
async fn invalid_configurations_are_refused_and_change_nothing() {
    let s = Server::start().await;
    let b = s.new_bucket("lc-refuse").await;
    set_rules(&s, &b, &rule("a/", &expire_after(1)));
    let before = get_rules(&s, &b).text();
    let same_id = "<Rule><ID>same</ID><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule>";
    for (rules, status, code) in [
        (rule("", &expire_after(0)), 400, "InvalidArgument"),
        (
            rule("", "<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>"),
            400,
            "InvalidArgument",
        ),
        (rule("", ""), 400, "InvalidRequest"),
        (same_id.repeat(2), 400, "InvalidArgument"),
        (
            rule(
                "",
                "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>",
            ),
            501,
            "NotImplemented",
        ),
        (String::new(), 400, "MalformedXML"),
    ] {
        put_rules(&s, &b, &rules).assert_s3_error(status, code);
    }
    let empty = s.signed("PUT", &format!("/{b}"), &[("lifecycle", "")], &[], b"");
    empty.assert_s3_error(400, "MalformedXML");
    assert_eq!(
        get_rules(&s, &b).text(),
        before,
        "a refused configuration changes nothing"
    );

    put_rules(&s, &bucket_name("lc-missing"), &rule("", &expire_after(1))).assert_s3_error(404, "NoSuchBucket");
}

#[tokio::test]
async fn lifecycle_calls_are_authorized_as_the_lifecycle_actions() {
    let s = Server::start().await;
    let alice = add_user(&s, "alice", "ALICEKEY", "alice-secret-1");
    let b = s.new_bucket("lc-access").await;
    set_rules(&s, &b, &rule("", &expire_after(1)));
    let put = || {
        alice
            .put_bucket_lifecycle_configuration()
            .bucket(&b)
            .lifecycle_configuration(configuration(vec![expiring("x", "x/", 1)]))
            .send()
    };
    let get = || alice.get_bucket_lifecycle_configuration().bucket(&b).send();
    let delete = || alice.delete_bucket_lifecycle().bucket(&b).send();
    expect_err(get().await, 403, "AccessDenied");
    expect_err(put().await, 403, "AccessDenied");
    expect_err(delete().await, 403, "AccessDenied");

    let allow = |actions: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
                "Principal":{{"AWS":["arn:aws:iam::000000000000:user/alice"]}},
                "Action":[{actions}],"Resource":"arn:aws:s3:::{b}"}}]}}"#
        )
    };
    let policy = allow(r#""s3:GetLifecycleConfiguration""#);
    s.client
        .put_bucket_policy()
        .bucket(&b)
        .policy(policy)
        .send()
        .await
        .unwrap();
    get().await.unwrap();
    expect_err(put().await, 403, "AccessDenied");
    expect_err(delete().await, 403, "AccessDenied");

    // S3 authorizes removing the rules as putting them.
    let policy = allow(r#""s3:PutLifecycleConfiguration""#);
    s.client
        .put_bucket_policy()
        .bucket(&b)
        .policy(policy)
        .send()
        .await
        .unwrap();
    expect_err(get().await, 403, "AccessDenied");
    put().await.unwrap();
    delete().await.unwrap();
    get_rules(&s, &b).assert_s3_error(404, "NoSuchLifecycleConfiguration");
}

#[tokio::test]
async fn the_test_calls_are_refused_without_the_test_clock() {
    let s = Server::start().await;
    for args in [
        &["lifecycle", "run"][..],
        &["lifecycle", "advance-clock", "--days", "1"],
    ] {
        let err = admin(&s, (ACCESS_KEY, SECRET_KEY), args).expect_err("refused");
        assert!(
            err.contains("403") && err.contains("AccessDenied") && err.contains("--lifecycle-test-clock"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn expiration_days_remove_objects_from_the_midnight_they_fall_due() {
    let s = lifecycle_server();
    let mut clock = Clock::of(&s);
    let b = s.new_bucket("lc-days").await;
    set_rules(&s, &b, &rule("logs/", &expire_after(2)));
    for key in ["logs/a", "logs/b", "keep/c"] {
        s.put(&b, key, "x").await;
    }
    let first = written(&s, &b, "logs/a").await;
    let last = written(&s, &b, "logs/b").await;

    clock.advance_to(due(first, 2) - HOUR);
    let report = run_pass(&s);
    assert_reported(&report, "expired", 0);
    assert_reported(&report, "versions_examined", 3);
    assert!(exists(&s, &b, "logs/a").await && exists(&s, &b, "logs/b").await);

    clock.advance_to(due(last, 2) + HOUR);
    let report = run_pass(&s);
    assert_reported(&report, "expired", 2);
    assert_eq!(report["walk_complete"], true, "{report}");
    assert!(!exists(&s, &b, "logs/a").await);
    assert!(!exists(&s, &b, "logs/b").await);
    assert!(exists(&s, &b, "keep/c").await, "outside the rule's prefix");
    assert!(
        version_ids(&s, &b).iter().all(|(_, marker)| !marker),
        "no marker in an unversioned bucket"
    );
    assert_eq!(count_files(&s.blobs_dir()), 1, "the expired objects' data is freed");
}

#[tokio::test]
async fn expiration_date_removes_objects_from_that_midnight() {
    let s = lifecycle_server();
    let mut clock = Clock::of(&s);
    let b = s.new_bucket("lc-date").await;
    let date = due(unix_now(), 1);
    let (_, day) = amz_date(UNIX_EPOCH + Duration::from_secs(date as u64));
    let iso = format!("{}-{}-{}T00:00:00Z", &day[..4], &day[4..6], &day[6..]);
    set_rules(
        &s,
        &b,
        &rule("", &format!("<Expiration><Date>{iso}</Date></Expiration>")),
    );
    s.put(&b, "k", "x").await;

    clock.advance_to(date - HOUR);
    assert_reported(&run_pass(&s), "expired", 0);
    assert!(exists(&s, &b, "k").await);
    clock.advance_to(date);
    assert_reported(&run_pass(&s), "expired", 1);
    assert!(!exists(&s, &b, "k").await);
}

#[tokio::test]
async fn expiration_in_a_versioned_bucket_puts_a_delete_marker_in_front() {
    let s = lifecycle_server();
    let mut clock = Clock::of(&s);
    let b = versioned_bucket(&s, "lc-vexp").await;
    set_rules(&s, &b, &rule("", &expire_after(1)));
    let v1 = put_version(&s.client, &b, "k", "one").await.unwrap();

    clock.advance_days(3);
    assert_reported(&run_pass(&s), "expired", 1);
    assert!(!exists(&s, &b, "k").await);
    let listed = version_ids(&s, &b);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[0].1, "a delete marker is the current version: {listed:?}");
    assert_eq!(listed[1], (v1.clone(), false), "the version is kept");
    let old = s
        .client
        .get_object()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.body.collect().await.unwrap().into_bytes().as_ref(), b"one");

    // A marker with a version behind it is not expired, however old.
    clock.advance_days(30);
    let report = run_pass(&s);
    assert_reported(&report, "expired", 0);
    assert_reported(&report, "delete_markers_removed", 0);
    assert_eq!(version_ids(&s, &b), listed);
}

#[tokio::test]
async fn expiration_in_a_suspended_bucket_replaces_the_null_version_with_a_null_marker() {
    let s = lifecycle_server();
    let b = versioned_bucket(&s, "lc-susp").await;
    let v1 = put_version(&s.client, &b, "k", "versioned").await.unwrap();
    set_versioning(&s.client, &b, BucketVersioningStatus::Suspended).await;
    s.put(&b, "k", "null").await;
    set_rules(&s, &b, &rule("", &expire_after(1)));

    Clock::of(&s).advance_days(3);
    assert_reported(&run_pass(&s), "expired", 1);
    assert_eq!(
        version_ids(&s, &b),
        [("null".to_owned(), true), (v1, false)],
        "the null version is gone, a null marker in its place"
    );
    assert_eq!(count_files(&s.blobs_dir()), 1);
}

#[tokio::test]
async fn noncurrent_versions_go_days_after_they_were_replaced_but_the_newest_stay() {
    let s = lifecycle_server();
    let mut clock = Clock::of(&s);
    let b = versioned_bucket(&s, "lc-nonc").await;
    let noncurrent = |newer: &str| {
        format!("<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>{newer}</NoncurrentVersionExpiration>")
    };
    set_rules(
        &s,
        &b,
        &[
            rule(
                "few/",
                &noncurrent("<NewerNoncurrentVersions>2</NewerNoncurrentVersions>"),
            ),
            rule("all/", &noncurrent("")),
        ]
        .concat(),
    );
    let start = unix_now();
    let mut few = Vec::new();
    for n in 1..=5 {
        few.push(put_version(&s.client, &b, "few/k", &n.to_string()).await.unwrap());
    }
    let mut all = Vec::new();
    for n in 1..=3 {
        all.push(put_version(&s.client, &b, "all/k", &n.to_string()).await.unwrap());
    }
    let replaced = written(&s, &b, "all/k").await;

    clock.advance_to(due(start, 1) - HOUR);
    assert_reported(&run_pass(&s), "noncurrent_versions_deleted", 0);
    assert_eq!(version_ids(&s, &b).len(), 8);

    clock.advance_to(due(replaced, 1) + HOUR);
    let report = run_pass(&s);
    assert_reported(&report, "noncurrent_versions_deleted", 4);
    assert_reported(&report, "expired", 0);
    let kept = |ids: &[String]| ids.iter().rev().map(|id| (id.clone(), false)).collect::<Vec<_>>();
    let expected = [kept(&all[2..]), kept(&few[2..])].concat();
    assert_eq!(
        version_ids(&s, &b),
        expected,
        "the current version and the 2 newest noncurrent stay"
    );
    assert_eq!(count_files(&s.blobs_dir()), 4);
}

#[tokio::test]
async fn lone_delete_markers_go_and_the_others_wait_for_their_versions() {
    let s = lifecycle_server();
    let b = versioned_bucket(&s, "lc-marker").await;
    set_rules(
        &s,
        &b,
        &rule(
            "",
            "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\
             <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
        ),
    );
    // Deleting a key without versions leaves a marker alone.
    s.client.delete_object().bucket(&b).key("lone").send().await.unwrap();
    let v1 = put_version(&s.client, &b, "kept", "data").await.unwrap();
    let marker = s
        .client
        .delete_object()
        .bucket(&b)
        .key("kept")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();

    assert_reported(&run_pass(&s), "delete_markers_removed", 1);
    assert_eq!(version_ids(&s, &b), [(marker.clone(), true), (v1, false)]);

    // Once its version is gone, the marker is alone, and goes in the pass after.
    Clock::of(&s).advance_days(3);
    let report = run_pass(&s);
    assert_reported(&report, "noncurrent_versions_deleted", 1);
    assert_reported(&report, "delete_markers_removed", 0);
    assert_eq!(version_ids(&s, &b), [(marker, true)]);
    assert_reported(&run_pass(&s), "delete_markers_removed", 1);
    assert!(version_ids(&s, &b).is_empty());
    s.client.delete_bucket().bucket(&b).send().await.unwrap();
}

#[tokio::test]
async fn incomplete_uploads_are_aborted_and_their_parts_freed() {
    let s = lifecycle_server();
    let b = s.new_bucket("lc-abort").await;
    set_rules(
        &s,
        &b,
        &rule(
            "tmp/",
            "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
             </AbortIncompleteMultipartUpload>",
        ),
    );
    let aborted = start_upload(&s, &b, "tmp/u", 2).await;
    let kept = start_upload(&s, &b, "keep/u", 1).await;
    assert_eq!(count_files(&s.blobs_dir()), 3);

    assert_reported(&run_pass(&s), "uploads_aborted", 0);
    Clock::of(&s).advance_days(3);
    let report = run_pass(&s);
    assert_reported(&report, "uploads_aborted", 1);
    assert_reported(&report, "uploads_examined", 2);
    expect_err(
        s.client
            .list_parts()
            .bucket(&b)
            .key("tmp/u")
            .upload_id(&aborted)
            .send()
            .await,
        404,
        "NoSuchUpload",
    );
    let parts = s
        .client
        .list_parts()
        .bucket(&b)
        .key("keep/u")
        .upload_id(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(count_files(&s.blobs_dir()), 1, "the aborted upload's parts are freed");
}

#[tokio::test]
async fn size_filters_and_their_conjunction_choose_what_expires() {
    let s = lifecycle_server();
    let b = s.new_bucket("lc-size").await;
    set_rules(
        &s,
        &b,
        &[
            filtered("<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>", &expire_after(1)),
            filtered(
                "<And><Prefix>small/</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></And>",
                &expire_after(1),
            ),
        ]
        .concat(),
    );
    for (key, size) in [("big", 100), ("mid", 8), ("small/a", 3), ("small/b", 8), ("tiny", 3)] {
        s.put(&b, key, vec![b'x'; size]).await;
    }
    Clock::of(&s).advance_days(3);
    assert_reported(&run_pass(&s), "expired", 2);
    for (key, kept) in [
        ("big", false),
        ("mid", true),
        ("small/a", false),
        ("small/b", true),
        ("tiny", true),
    ] {
        assert_eq!(exists(&s, &b, key).await, kept, "{key}");
    }
}

#[tokio::test]
async fn a_pass_stops_after_its_entries_and_the_next_resumes_there_after_a_restart() {
    let mut s = Server::start_with_args(&["--lifecycle-test-clock", "--lifecycle-pass-entries", "2"]);
    let b = s.new_bucket("lc-resume").await;
    set_rules(&s, &b, &rule("", &expire_after(1)));
    for key in ["a", "b", "c", "d"] {
        s.put(&b, key, "x").await;
    }
    Clock::of(&s).advance_days(3);
    let report = run_pass(&s);
    assert_reported(&report, "versions_examined", 2);
    assert_reported(&report, "expired", 2);
    assert_eq!(report["walk_complete"], false, "{report}");

    s.terminate(Duration::from_secs(30)).expect("a clean exit");
    s.restart();
    // Behind where the walk stopped, and due too: the clock restarts with the server.
    s.put(&b, "a2", "x").await;
    Clock::of(&s).advance_days(3);
    let report = run_pass(&s);
    assert_reported(&report, "expired", 2);
    assert_eq!(report["walk_complete"], true, "{report}");
    for (key, kept) in [("a2", true), ("c", false), ("d", false)] {
        assert_eq!(exists(&s, &b, key).await, kept, "{key}");
    }
    // The next walk starts over.
    assert_reported(&run_pass(&s), "expired", 1);
    assert!(!exists(&s, &b, "a2").await);
}

#[tokio::test]
async fn a_key_with_more_versions_than_a_pass_is_covered_pass_by_pass() {
    let mut s = Server::start_with_args(&["--lifecycle-test-clock", "--lifecycle-pass-entries", "2"]);
    let b = versioned_bucket(&s, "lc-long").await;
    set_rules(
        &s,
        &b,
        &rule(
            "",
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
             <NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
        ),
    );
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(put_version(&s.client, &b, "k", &n.to_string()).await.unwrap());
    }
    Clock::of(&s).advance_days(3);
    // The newest two: the current one and the one noncurrent version kept.
    let report = run_pass(&s);
    assert_reported(&report, "noncurrent_versions_deleted", 0);
    assert_eq!(report["walk_complete"], false, "{report}");
    assert_reported(&run_pass(&s), "noncurrent_versions_deleted", 2);

    // What the walk learnt of the key survives a restart with its place.
    s.terminate(Duration::from_secs(30)).expect("a clean exit");
    s.restart();
    Clock::of(&s).advance_days(3);
    let report = run_pass(&s);
    assert_reported(&report, "noncurrent_versions_deleted", 1);
    assert_eq!(report["walk_complete"], true, "{report}");
    assert_eq!(version_ids(&s, &b), [(ids[4].clone(), false), (ids[3].clone(), false)]);
}

#[tokio::test]
async fn the_worker_runs_a_pass_every_interval() {
    let s = Server::start_with_args(&["--lifecycle-test-clock", "--lifecycle-interval", "1"]);
    let b = s.new_bucket("lc-timer").await;
    set_rules(&s, &b, &rule("", &expire_after(1)));
    s.put(&b, "k", "x").await;
    Clock::of(&s).advance_days(3);
    for _ in 0..100 {
        if !exists(&s, &b, "k").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no pass expired the object within 20 s");
}

#[tokio::test]
async fn tag_filters_expire_only_the_tagged_objects() {
    let s = lifecycle_server();
    let mut clock = Clock::of(&s);
    let b = s.new_bucket("lc-tags").await;
    set_rules(
        &s,
        &b,
        &filtered(
            "<And><Prefix>t/</Prefix><Tag><Key>class</Key><Value>temp</Value></Tag></And>",
            &expire_after(1),
        ),
    );
    for (key, tagging) in [("t/temp", "class=temp&x=y"), ("t/keep", "class=keep"), ("t/none", "")] {
        s.client
            .put_object()
            .bucket(&b)
            .key(key)
            .tagging(tagging)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let start = written(&s, &b, "t/none").await;
    clock.advance_to(due(start, 1) + HOUR);
    assert_reported(&run_pass(&s), "expired", 1);
    assert!(!exists(&s, &b, "t/temp").await, "tagged class=temp");
    assert!(exists(&s, &b, "t/keep").await && exists(&s, &b, "t/none").await);
}

#[tokio::test]
async fn locked_versions_outlive_their_rules() {
    let s = lifecycle_server();
    let mut clock = Clock::of(&s);
    let b = bucket_name("lc-lock");
    s.client
        .create_bucket()
        .bucket(&b)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    set_rules(
        &s,
        &b,
        &rule(
            "",
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
        ),
    );
    let held = put_version(&s.client, &b, "k", "held").await.unwrap();
    s.client
        .put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .version_id(&held)
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let free = put_version(&s.client, &b, "k", "free").await.unwrap();
    let current = put_version(&s.client, &b, "k", "current").await.unwrap();
    let replaced = written(&s, &b, "k").await;
    clock.advance_to(due(replaced, 1) + HOUR);
    let report = run_pass(&s);
    assert_reported(&report, "noncurrent_versions_deleted", 1);
    assert_reported(&report, "locked", 1);
    assert_eq!(
        version_ids(&s, &b),
        [(current, false), (held, false)],
        "{free} went, the held one stayed"
    );
}
