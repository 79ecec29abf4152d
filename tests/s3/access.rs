//! Who may do what: bucket policies (including anonymous access), ACLs
//! (canned, grant headers, Get/Put*Acl), and reads of another user's bucket
//! as a copy source.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, Permission, Type};

use crate::common::*;

/// An unsigned request, as a browser or `curl` would send it.
fn anonymous(server: &Server, method: &str, target: &str) -> RawResponse {
    raw_request(server.addr, method, target, &[], b"")
}

async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_public_read_policy_lets_anyone_read_and_nothing_more() {
    let server = Server::start().await;
    let s3 = &server.client;
    let bucket = bucket_name("public");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    put(s3, &bucket, "hello.txt", b"hello world").await;

    let denied = anonymous(&server, "GET", &format!("/{bucket}/hello.txt"));
    assert_eq!(denied.status, 403);
    assert!(String::from_utf8_lossy(&denied.body).contains("<Code>AccessDenied</Code>"));
    let missing = expect_err(
        s3.get_bucket_policy().bucket(&bucket).send().await,
        404,
        "NoSuchBucketPolicy",
    );
    drop(missing);

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*",
            "Action":["s3:GetObject"],"Resource":["arn:aws:s3:::{bucket}/*"]}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    let stored = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
    assert_eq!(
        stored.policy(),
        Some(policy.as_str()),
        "the policy is returned as written"
    );
    let status = s3.get_bucket_policy_status().bucket(&bucket).send().await.unwrap();
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(true));

    let read = anonymous(&server, "GET", &format!("/{bucket}/hello.txt"));
    assert_eq!((read.status, read.body.as_slice()), (200, &b"hello world"[..]));
    assert_eq!(
        anonymous(&server, "GET", &format!("/{bucket}?list-type=2")).status,
        403,
        "no ListBucket"
    );
    assert_eq!(
        anonymous(&server, "PUT", &format!("/{bucket}/new.txt")).status,
        403,
        "no PutObject"
    );
    assert_eq!(
        anonymous(&server, "DELETE", &format!("/{bucket}/hello.txt")).status,
        403,
        "no DeleteObject"
    );
    assert_eq!(
        anonymous(&server, "GET", "/").status,
        403,
        "ListBuckets needs a signature"
    );

    s3.delete_bucket_policy().bucket(&bucket).send().await.unwrap();
    assert_eq!(anonymous(&server, "GET", &format!("/{bucket}/hello.txt")).status, 403);
}

#[tokio::test]
async fn malformed_policies_are_refused_with_malformed_policy() {
    let server = Server::start().await;
    let s3 = &server.client;
    let bucket = bucket_name("malformed");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for policy in [
        "not json".to_owned(),
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}"#.to_owned(),
        format!(r#"{{"Statement":[{{"Effect":"Perhaps","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#),
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::someone-else/*"}]}"#.to_owned(),
    ] {
        expect_err(s3.put_bucket_policy().bucket(&bucket).policy(policy).send().await, 400, "MalformedPolicy");
    }
}

#[tokio::test]
async fn policies_grant_and_deny_other_users() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let bob = add_user(&server, "bob", "BOBKEY", "bob-secret-1");
    let bucket = bucket_name("shared");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();
    put(&alice, &bucket, "docs/a.txt", b"a").await;
    put(&alice, &bucket, "private/b.txt", b"b").await;
    expect_err(
        bob.get_object().bucket(&bucket).key("docs/a.txt").send().await,
        403,
        "AccessDenied",
    );

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::000000000000:user/bob"]}},
              "Action":["s3:GetObject","s3:ListBucket","s3:PutObject"],
              "Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"]}},
            {{"Effect":"Deny","Principal":{{"AWS":"bob"}},"Action":"s3:GetObject",
              "Resource":"arn:aws:s3:::{bucket}/private/*"}},
            {{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::{bucket}/*",
              "Condition":{{"StringNotEquals":{{"s3:x-amz-acl":"bucket-owner-full-control"}}}}}}]}}"#
    );
    alice
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(&policy)
        .send()
        .await
        .unwrap();

    let read = bob.get_object().bucket(&bucket).key("docs/a.txt").send().await.unwrap();
    assert_eq!(read.body.collect().await.unwrap().into_bytes().as_ref(), b"a");
    let listed = bob.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
    expect_err(
        bob.get_object().bucket(&bucket).key("private/b.txt").send().await,
        403,
        "AccessDenied",
    );
    expect_err(
        bob.put_object()
            .bucket(&bucket)
            .key("docs/c.txt")
            .body(ByteStream::from_static(b"c"))
            .send()
            .await,
        403,
        "AccessDenied",
    );
    bob.put_object()
        .bucket(&bucket)
        .key("docs/c.txt")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"c"))
        .send()
        .await
        .unwrap();
    let listed = alice
        .list_objects_v2()
        .bucket(&bucket)
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let writer = listed
        .contents()
        .iter()
        .find(|object| object.key() == Some("docs/c.txt"))
        .and_then(|object| object.owner())
        .and_then(|owner| owner.display_name());
    assert_eq!(
        writer,
        Some("bob"),
        "a listing names each object's writer, not the caller"
    );
    expect_err(
        bob.delete_object().bucket(&bucket).key("docs/a.txt").send().await,
        403,
        "AccessDenied",
    );
    expect_err(
        bob.get_bucket_policy().bucket(&bucket).send().await,
        403,
        "AccessDenied",
    );
    // The owner reads the policy even when its statements say nothing of it.
    alice.get_bucket_policy().bucket(&bucket).send().await.unwrap();
}

#[tokio::test]
async fn canned_acls_and_grants_open_what_they_name() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let bob = add_user(&server, "bob", "BOBKEY", "bob-secret-1");
    let bucket = bucket_name("acl");
    alice.create_bucket().bucket(&bucket).send().await.unwrap();

    alice
        .put_object()
        .bucket(&bucket)
        .key("public.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"for everyone"))
        .send()
        .await
        .unwrap();
    put(&alice, &bucket, "private.txt", b"for alice").await;
    let public = anonymous(&server, "GET", &format!("/{bucket}/public.txt"));
    assert_eq!((public.status, public.body.as_slice()), (200, &b"for everyone"[..]));
    assert_eq!(anonymous(&server, "GET", &format!("/{bucket}/private.txt")).status, 403);

    let acl = alice
        .get_object_acl()
        .bucket(&bucket)
        .key("public.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.display_name()), Some("alice"));
    let permissions: Vec<_> = acl
        .grants()
        .iter()
        .map(|g| (g.grantee().map(|g| g.r#type().clone()), g.permission().cloned()))
        .collect();
    assert!(permissions.contains(&(Some(Type::CanonicalUser), Some(Permission::FullControl))));
    assert!(permissions.contains(&(Some(Type::Group), Some(Permission::Read))));

    let bob_id = bob
        .list_buckets()
        .send()
        .await
        .unwrap()
        .owner()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    expect_err(
        bob.get_object().bucket(&bucket).key("private.txt").send().await,
        403,
        "AccessDenied",
    );
    alice
        .put_object_acl()
        .bucket(&bucket)
        .key("private.txt")
        .grant_read(format!("id=\"{bob_id}\""))
        .send()
        .await
        .unwrap();
    let read = bob
        .get_object()
        .bucket(&bucket)
        .key("private.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(read.body.collect().await.unwrap().into_bytes().as_ref(), b"for alice");

    let default = alice.get_bucket_acl().bucket(&bucket).send().await.unwrap();
    assert_eq!(default.grants().len(), 1, "a new bucket is private");
    expect_err(bob.list_objects_v2().bucket(&bucket).send().await, 403, "AccessDenied");
    alice
        .put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bob.list_objects_v2().bucket(&bucket).send().await.unwrap().key_count(),
        Some(2)
    );
    assert_eq!(anonymous(&server, "GET", &format!("/{bucket}?list-type=2")).status, 403);
    expect_err(
        bob.put_bucket_acl()
            .bucket(&bucket)
            .acl(BucketCannedAcl::PublicReadWrite)
            .send()
            .await,
        403,
        "AccessDenied",
    );

    let public_bucket = bucket_name("acl-public");
    alice
        .create_bucket()
        .bucket(&public_bucket)
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    let written = raw_request(
        server.addr,
        "PUT",
        &format!("/{public_bucket}/drop.txt"),
        &[],
        b"anonymous bytes",
    );
    assert_eq!(written.status, 200, "public-read-write lets anyone write");
    assert_eq!(
        anonymous(&server, "GET", &format!("/{public_bucket}?list-type=2")).status,
        200
    );
}

#[tokio::test]
async fn copying_needs_read_access_to_the_source() {
    let server = Server::start().await;
    let alice = add_user(&server, "alice", "ALICEKEY", "alice-secret-1");
    let bob = add_user(&server, "bob", "BOBKEY", "bob-secret-1");
    let source = bucket_name("source");
    let target = bucket_name("target");
    alice.create_bucket().bucket(&source).send().await.unwrap();
    bob.create_bucket().bucket(&target).send().await.unwrap();
    put(&alice, &source, "secret.txt", b"secret").await;
    let copy = bob
        .copy_object()
        .bucket(&target)
        .key("stolen.txt")
        .copy_source(format!("{source}/secret.txt"))
        .send()
        .await;
    expect_err(copy, 403, "AccessDenied");
    alice
        .put_object_acl()
        .bucket(&source)
        .key("secret.txt")
        .acl(ObjectCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    bob.copy_object()
        .bucket(&target)
        .key("shared.txt")
        .copy_source(format!("{source}/secret.txt"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn public_access_block_overrides_public_policies_and_acls() {
    use aws_sdk_s3::types::PublicAccessBlockConfiguration;
    let server = Server::start().await;
    let s3 = &server.client;
    let bucket = bucket_name("blocked");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("public.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"public"))
        .send()
        .await
        .unwrap();
    let public_policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    );
    expect_err(
        s3.get_public_access_block().bucket(&bucket).send().await,
        404,
        "NoSuchPublicAccessBlockConfiguration",
    );

    let block = |acls: bool, ignore: bool, policy: bool, restrict: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(acls)
            .ignore_public_acls(ignore)
            .block_public_policy(policy)
            .restrict_public_buckets(restrict)
            .build()
    };
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(block(true, true, true, false))
        .send()
        .await
        .unwrap();
    let stored = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    assert_eq!(
        stored
            .public_access_block_configuration()
            .and_then(|c| c.block_public_acls()),
        Some(true)
    );
    assert_eq!(
        anonymous(&server, "GET", &format!("/{bucket}/public.txt")).status,
        403,
        "IgnorePublicAcls"
    );
    expect_err(
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(&public_policy)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    expect_err(
        s3.put_object()
            .bucket(&bucket)
            .key("another.txt")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        403,
        "AccessDenied",
    );

    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(block(false, false, false, true))
        .send()
        .await
        .unwrap();
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(&public_policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous(&server, "GET", &format!("/{bucket}/public.txt")).status,
        200,
        "the ACL still grants"
    );
    put(s3, &bucket, "private.txt", b"private").await;
    assert_eq!(
        anonymous(&server, "GET", &format!("/{bucket}/private.txt")).status,
        403,
        "RestrictPublicBuckets voids the public policy"
    );

    s3.delete_public_access_block().bucket(&bucket).send().await.unwrap();
    assert_eq!(anonymous(&server, "GET", &format!("/{bucket}/private.txt")).status, 200);
}

#[tokio::test]
async fn bucket_owner_enforced_disables_acls() {
    use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    let server = Server::start().await;
    let s3 = &server.client;
    let bucket = bucket_name("enforced");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    expect_err(
        s3.get_bucket_ownership_controls().bucket(&bucket).send().await,
        404,
        "OwnershipControlsNotFoundError",
    );
    let controls = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_ownership_controls()
        .bucket(&bucket)
        .ownership_controls(controls)
        .send()
        .await
        .unwrap();
    let stored = s3.get_bucket_ownership_controls().bucket(&bucket).send().await.unwrap();
    let setting = stored
        .ownership_controls()
        .map(|c| c.rules()[0].object_ownership().clone());
    assert_eq!(setting, Some(ObjectOwnership::BucketOwnerEnforced));
    expect_err(
        s3.put_object()
            .bucket(&bucket)
            .key("k")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
    );
    s3.put_object()
        .bucket(&bucket)
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    expect_err(
        s3.put_bucket_acl()
            .bucket(&bucket)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
    );
    s3.delete_bucket_ownership_controls()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s3.put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
}
