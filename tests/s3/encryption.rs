//! Encryption at rest: SSE-S3, SSE-C (single PUT, ranges, multipart, copy),
//! bucket default encryption, and the master key across restarts.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

use crate::common::*;

/// A customer key: base64 of the key and of its MD5.
struct CustomerKey {
    key: String,
    md5: String,
}

fn customer_key(seed: u8) -> CustomerKey {
    let raw = [seed; 32];
    CustomerKey {
        key: b64(&raw),
        md5: md5_b64(&raw),
    }
}

/// True when no data file under the data directory contains `needle`.
fn absent_from_disk(s: &Server, needle: &[u8]) -> bool {
    list_files(&s.blobs_dir())
        .iter()
        .all(|(path, _)| !std::fs::read(path).unwrap().windows(needle.len()).any(|w| w == needle))
}

async fn get_with_key(
    client: &Client,
    bucket: &str,
    key: &str,
    customer: Option<&CustomerKey>,
    range: Option<&str>,
) -> Result<Vec<u8>, (u16, String)> {
    let mut request = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(str::to_owned));
    if let Some(customer) = customer {
        request = request
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&customer.key)
            .sse_customer_key_md5(&customer.md5);
    }
    match request.send().await {
        Ok(out) => Ok(out.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => Err((err_status(&e), err_code(&e))),
    }
}

#[tokio::test]
async fn sse_s3_seals_data_and_reports_it() {
    let s = Server::start().await;
    let b = s.new_bucket("sses3").await;
    let body = b"plaintext that must never reach the disk as is".repeat(2000);
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert!(absent_from_disk(&s, b"plaintext that must never"));

    let got = s.client.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(
        got.e_tag(),
        Some(quoted_md5(&body).as_str()),
        "the ETag is the plaintext's MD5"
    );
    assert_eq!(got.body.collect().await.unwrap().into_bytes().to_vec(), body);
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    // A range across the format's 64 KiB chunks.
    let ranged = get_with_key(&s.client, &b, "k", None, Some("bytes=65530-70000"))
        .await
        .unwrap();
    assert_eq!(ranged, body[65530..=70000]);
    // Customer keys do not open server-encrypted data.
    let key = customer_key(1);
    assert_eq!(
        get_with_key(&s.client, &b, "k", Some(&key), None).await,
        Err((400, "InvalidRequest".to_owned()))
    );
}

#[tokio::test]
async fn sse_c_needs_the_same_key_for_every_read() {
    let s = Server::start().await;
    let b = s.new_bucket("ssec").await;
    let key = customer_key(7);
    let body = pseudo_random_bytes(3, 300_000);
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.key)
        .sse_customer_key_md5(&key.md5)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(out.sse_customer_key_md5(), Some(key.md5.as_str()));
    assert!(absent_from_disk(&s, &body[1000..1064]));

    assert_eq!(get_with_key(&s.client, &b, "k", Some(&key), None).await.unwrap(), body);
    assert_eq!(
        get_with_key(&s.client, &b, "k", Some(&key), Some("bytes=100000-200000"))
            .await
            .unwrap(),
        body[100_000..=200_000]
    );
    assert_eq!(
        get_with_key(&s.client, &b, "k", None, None).await,
        Err((400, "InvalidRequest".to_owned()))
    );
    assert_eq!(
        get_with_key(&s.client, &b, "k", Some(&customer_key(8)), None).await,
        Err((403, "AccessDenied".to_owned()))
    );
    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.key)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(head.sse_customer_key_md5(), Some(key.md5.as_str()));
    expect_err(s.client.head_object().bucket(&b).key("k").send().await, 400, "");

    // Malformed customer keys are refused before anything is stored.
    let raw = |headers: &[(&str, &str)]| s.signed("PUT", &format!("/{b}/bad"), &[], headers, b"x");
    raw(&[
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", &key.key),
        ("x-amz-server-side-encryption-customer-key-md5", &customer_key(9).md5),
    ])
    .assert_s3_error(400, "InvalidArgument");
    raw(&[
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", &b64(b"too short")),
        ("x-amz-server-side-encryption-customer-key-md5", &md5_b64(b"too short")),
    ])
    .assert_s3_error(400, "InvalidArgument");
    raw(&[
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", &key.key),
        ("x-amz-server-side-encryption-customer-key-md5", &key.md5),
    ])
    .assert_s3_error(400, "InvalidArgument");
    expect_err(s.client.head_object().bucket(&b).key("bad").send().await, 404, "");
}

#[tokio::test]
async fn sse_c_multipart_and_copy() {
    let s = Server::start().await;
    let b = s.new_bucket("ssecmpu").await;
    let key = customer_key(3);
    let upload = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("big")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.key)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.sse_customer_key_md5(), Some(key.md5.as_str()));
    let upload_id = upload.upload_id().unwrap();
    let parts = [pseudo_random_bytes(1, 5 << 20), pseudo_random_bytes(2, 70_000)];
    let refused = s
        .client
        .upload_part()
        .bucket(&b)
        .key("big")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"a part without the upload's key"))
        .send()
        .await;
    expect_err(refused, 400, "InvalidRequest");
    let mut completed = CompletedMultipartUpload::builder();
    for (index, part) in parts.iter().enumerate() {
        let number = index as i32 + 1;
        let out = s
            .client
            .upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(upload_id)
            .part_number(number)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key.key)
            .sse_customer_key_md5(&key.md5)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        completed = completed.parts(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    s.client
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(upload_id)
        .multipart_upload(completed.build())
        .send()
        .await
        .unwrap();
    let whole = parts.concat();
    assert_eq!(
        get_with_key(&s.client, &b, "big", Some(&key), None).await.unwrap(),
        whole
    );
    let across = format!("bytes={}-{}", (5 << 20) - 10, (5 << 20) + 10);
    assert_eq!(
        get_with_key(&s.client, &b, "big", Some(&key), Some(&across))
            .await
            .unwrap(),
        whole[(5 << 20) - 10..=(5 << 20) + 10]
    );
    assert!(absent_from_disk(&s, &whole[4000..4064]));

    // Copying out needs the source's key and re-seals under the target's.
    let refused = s
        .client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/big"))
        .send()
        .await;
    expect_err(refused, 400, "InvalidRequest");
    let copied = s
        .client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/big"))
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&key.key)
        .copy_source_sse_customer_key_md5(&key.md5)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(copied.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(get_with_key(&s.client, &b, "copy", None, None).await.unwrap(), whole);
}

#[tokio::test]
async fn bucket_default_encryption_applies_to_plain_writes() {
    let s = Server::start().await;
    let b = s.new_bucket("ssedef").await;
    expect_err(
        s.client.get_bucket_encryption().bucket(&b).send().await,
        404,
        "ServerSideEncryptionConfigurationNotFoundError",
    );
    let config = |algorithm: ServerSideEncryption| {
        ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(algorithm)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap()
    };
    expect_err(
        s.client
            .put_bucket_encryption()
            .bucket(&b)
            .server_side_encryption_configuration(config(ServerSideEncryption::AwsKms))
            .send()
            .await,
        501,
        "NotImplemented",
    );
    s.client
        .put_bucket_encryption()
        .bucket(&b)
        .server_side_encryption_configuration(config(ServerSideEncryption::Aes256))
        .send()
        .await
        .unwrap();
    let got = s.client.get_bucket_encryption().bucket(&b).send().await.unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm(),
        &ServerSideEncryption::Aes256
    );

    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"default sealed bytes"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert!(absent_from_disk(&s, b"default sealed"));

    s.client.delete_bucket_encryption().bucket(&b).send().await.unwrap();
    expect_err(
        s.client.get_bucket_encryption().bucket(&b).send().await,
        404,
        "ServerSideEncryptionConfigurationNotFoundError",
    );
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("plain")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), None);
    assert_eq!(
        s.get(&b, "k").await,
        b"default sealed bytes",
        "older sealed versions still read"
    );
}

#[tokio::test]
async fn the_master_key_is_kept_and_can_be_given() {
    let mut s = Server::start().await;
    let b = s.new_bucket("ssekey").await;
    s.client
        .put_object()
        .bucket(&b)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"survives restarts"))
        .send()
        .await
        .unwrap();
    let stored = std::fs::read_to_string(s.data_dir.join("master.key")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(s.data_dir.join("master.key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "only the owner may read the master key");
    s.kill();
    s.restart();
    assert_eq!(s.get(&b, "k").await, b"survives restarts");
    assert_eq!(std::fs::read_to_string(s.data_dir.join("master.key")).unwrap(), stored);

    let given = "11".repeat(32);
    let other = Server::start_with_args(&["--master-key", &given]);
    let b2 = other.new_bucket("ssegiven").await;
    other
        .client
        .put_object()
        .bucket(&b2)
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"given key"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.get(&b2, "k").await, b"given key");
    assert!(
        !other.data_dir.join("master.key").exists(),
        "a given key is not written down"
    );
}
