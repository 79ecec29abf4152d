//! Users and access keys: the `coffer admin` CLI over the admin API, and what
//! other users may and may not do with a user's buckets.

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[tokio::test]
async fn users_own_their_buckets_and_are_kept_out_of_others() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let bob = add_user(&server, "bob", "BOBKEY", "bob-secret-1");
    let bucket = bucket_name("alice");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();
    alice
        .put_object()
        .bucket(&bucket)
        .key("k")
        .body(ByteStream::from_static(b"alice's"))
        .send()
        .await
        .unwrap();

    let listed = bob.list_buckets().send().await.unwrap();
    assert!(
        listed.buckets().is_empty(),
        "ListBuckets lists only what the caller owns"
    );
    let owner = alice.list_buckets().send().await.unwrap().owner().unwrap().clone();
    assert_eq!(owner.display_name(), Some("alice"));
    assert_eq!(owner.id().map(str::len), Some(64));

    expect_err(
        bob.get_object().bucket(&bucket).key("k").send().await,
        403,
        "AccessDenied",
    );
    expect_err(bob.list_objects_v2().bucket(&bucket).send().await, 403, "AccessDenied");
    expect_err(
        bob.put_object()
            .bucket(&bucket)
            .key("k")
            .body(ByteStream::from_static(b"bob's"))
            .send()
            .await,
        403,
        "AccessDenied",
    );
    expect_err(bob.delete_bucket().bucket(&bucket).send().await, 403, "AccessDenied");
    expect_err(
        bob.create_bucket().bucket(&bucket).send().await,
        409,
        "BucketAlreadyExists",
    );
    expect_err(
        alice.create_bucket().bucket(&bucket).send().await,
        409,
        "BucketAlreadyOwnedByYou",
    );

    let body = alice.get_object().bucket(&bucket).key("k").send().await.unwrap().body;
    assert_eq!(body.collect().await.unwrap().into_bytes().as_ref(), b"alice's");
}

#[tokio::test]
async fn keys_can_be_added_disabled_and_removed_while_serving() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    alice.create_bucket().bucket(bucket_name("a")).send().await.unwrap();

    root_admin(
        &server,
        &[
            "key",
            "add",
            "alice",
            "--access-key",
            "ALICE2",
            "--secret-key",
            "alice-secret-2",
        ],
    );
    let second = make_client(&server.endpoint, &server.region, "ALICE2", "alice-secret-2");
    assert_eq!(
        second.list_buckets().send().await.unwrap().buckets().len(),
        1,
        "a key of the same user"
    );

    root_admin(&server, &["key", "disable", "ALICE2"]);
    expect_err(second.list_buckets().send().await, 403, "InvalidAccessKeyId");
    root_admin(&server, &["key", "enable", "ALICE2"]);
    second.list_buckets().send().await.unwrap();

    root_admin(&server, &["key", "remove", "ALICE2"]);
    expect_err(second.list_buckets().send().await, 403, "InvalidAccessKeyId");
    alice.list_buckets().send().await.unwrap();

    let generated = root_admin(&server, &["key", "add", "alice"]);
    assert!(
        generated.contains("\"secret_key\""),
        "a generated key is shown once: {generated}"
    );
}

#[tokio::test]
async fn only_admins_use_the_admin_api_and_users_with_buckets_stay() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let refused = admin(&server, ("ALICEKEY", "alice-secret-1"), &["user", "list"]).unwrap_err();
    assert!(refused.contains("AccessDenied"), "{refused}");
    let refused = admin(&server, (ACCESS_KEY, "not-the-secret"), &["user", "list"]).unwrap_err();
    assert!(refused.contains("SignatureDoesNotMatch"), "{refused}");
    let duplicate = admin(&server, (ACCESS_KEY, SECRET_KEY), &["user", "add", "alice"]).unwrap_err();
    assert!(duplicate.contains("EntityAlreadyExists"), "{duplicate}");
    let taken_key = admin(
        &server,
        (ACCESS_KEY, SECRET_KEY),
        &[
            "user",
            "add",
            "carol",
            "--access-key",
            "ALICEKEY",
            "--secret-key",
            "carol-secret",
        ],
    )
    .unwrap_err();
    assert!(taken_key.contains("EntityAlreadyExists"), "{taken_key}");
    assert!(
        !root_admin(&server, &["user", "list"]).contains("carol"),
        "a refused user is not left behind"
    );

    let bucket = bucket_name("a");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();
    let conflict = admin(&server, (ACCESS_KEY, SECRET_KEY), &["user", "remove", "alice"]).unwrap_err();
    assert!(conflict.contains("DeleteConflict"), "{conflict}");
    alice.delete_bucket().bucket(&bucket).send().await.unwrap();
    root_admin(&server, &["user", "remove", "alice"]);
    expect_err(alice.list_buckets().send().await, 403, "InvalidAccessKeyId");

    root_admin(
        &server,
        &[
            "user",
            "add",
            "ops",
            "--admin",
            "--access-key",
            "OPSKEY",
            "--secret-key",
            "ops-secret-1",
        ],
    );
    let listed = admin(&server, ("OPSKEY", "ops-secret-1"), &["user", "list"]).unwrap();
    assert!(
        listed.contains("\"ops\""),
        "an admin user may use the admin API: {listed}"
    );
}

#[tokio::test]
async fn users_and_keys_survive_a_restart() {
    let mut server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let bucket = bucket_name("a");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();
    server
        .terminate(std::time::Duration::from_secs(10))
        .expect("clean exit");
    server.restart();
    let alice = make_client(&server.endpoint, &server.region, "ALICEKEY", "alice-secret-1");
    let listed = alice.list_buckets().send().await.unwrap();
    assert_eq!(listed.buckets().len(), 1);
    assert_eq!(listed.buckets()[0].name(), Some(bucket.as_str()));
}
