//! Multipart uploads through the AWS SDK: create / upload part / copy part /
//! complete / abort / list, their errors as Amazon S3 documents them, part
//! reads of completed objects, composite and full-object checksums, and large
//! streamed uploads.

use std::time::Instant;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::complete_multipart_upload::{CompleteMultipartUploadError, CompleteMultipartUploadOutput};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, MultipartUpload,
};
use md5::{Digest as _, Md5};

use crate::common::*;

pub const MIB: usize = 1 << 20;
/// Every part but the last must be at least this large.
pub const MIN_PART: usize = 5 * MIB;

// ---------------------------------------------------------------------------
// Helpers shared with `multipart_races`
// ---------------------------------------------------------------------------

/// Fast deterministic data: a random 1 MiB block, rotated and stamped per MiB
/// index, so every MiB of the stream differs (and generating 1 GiB is cheap).
pub struct Gen {
    block: Vec<u8>,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            block: pseudo_random_bytes(seed, MIB),
        }
    }

    /// Appends MiB number `i` of the stream to `out`.
    pub fn mib(&self, i: u64, out: &mut Vec<u8>) {
        let rot = (i as usize).wrapping_mul(7919) % MIB;
        let start = out.len();
        out.extend_from_slice(&self.block[rot..]);
        out.extend_from_slice(&self.block[..rot]);
        out[start..start + 8].copy_from_slice(&i.to_le_bytes());
    }

    /// Bytes `[0, len)` of the stream.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + MIB);
        let mut i = 0;
        while out.len() < len {
            self.mib(i, &mut out);
            i += 1;
        }
        out.truncate(len);
        out
    }
}

/// The ETag S3 gives a multipart object: hex MD5 of the concatenated binary
/// part MD5s, then "-N" (quoted, as in responses).
pub fn multipart_etag_of_md5s(part_md5s: &[[u8; 16]]) -> String {
    let mut concat = Vec::new();
    for m in part_md5s {
        concat.extend_from_slice(m);
    }
    format!("\"{}-{}\"", md5_hex(&concat), part_md5s.len())
}

pub fn md5_bytes(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let md5s: Vec<[u8; 16]> = parts.iter().map(|p| md5_bytes(p)).collect();
    multipart_etag_of_md5s(&md5s)
}

pub async fn create_upload(s: &Server, b: &str, k: &str) -> String {
    s.client
        .create_multipart_upload()
        .bucket(b)
        .key(k)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create upload {b}/{k}: {e:?}"))
        .upload_id()
        .expect("upload id")
        .to_string()
}

/// UploadPart through the SDK; returns the quoted ETag.
pub async fn upload_part(s: &Server, b: &str, k: &str, id: &str, n: i32, body: Vec<u8>) -> String {
    let len = body.len();
    let out = s
        .client
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n} ({len} bytes) of {b}/{k}: {e:?}"));
    out.e_tag().expect("part ETag").to_string()
}

pub fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

pub async fn complete(
    s: &Server,
    b: &str,
    k: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> Result<CompleteMultipartUploadOutput, SdkError<CompleteMultipartUploadError, aws_sdk_s3::config::http::HttpResponse>>
{
    s.client
        .complete_multipart_upload()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
}

/// Sizes of every file under `dir`, sorted.
/// Asserts that neither UploadPart nor UploadPartCopy (from `source_key` in
/// the same bucket) can add part `number` to the upload: NoSuchUpload.
pub async fn assert_no_part_can_be_added(s: &Server, b: &str, k: &str, id: &str, number: i32, source_key: &str) {
    let r = s
        .client
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .part_number(number)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchUpload");
    let r = s
        .client
        .upload_part_copy()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .part_number(number)
        .copy_source(format!("{b}/{source_key}"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchUpload");
}

pub fn file_sizes(dir: &std::path::Path) -> Vec<u64> {
    let mut v: Vec<u64> = list_files(dir).into_iter().map(|(_, l)| l).collect();
    v.sort_unstable();
    v
}

/// Total bytes under DIR/blobs and DIR/tmp.
pub fn stored_bytes(s: &Server) -> u64 {
    dir_bytes(&s.blobs_dir()) + dir_bytes(&s.tmp_dir())
}

fn upload_keys(uploads: &[MultipartUpload]) -> Vec<(String, String)> {
    uploads
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or("").to_string(),
                u.upload_id().unwrap_or("").to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Basic lifecycle
// ---------------------------------------------------------------------------

#[tokio::test]
async fn multipart_roundtrip_metadata_and_etag() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-basic").await;
    let key = "dir/multi part κ.bin";
    let created = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key(key)
        .content_type("application/x-coffer-test")
        .content_disposition("attachment; filename=\"x.bin\"")
        .content_encoding("identity")
        .content_language("en-GB")
        .cache_control("max-age=60")
        .metadata("color", "blue")
        .metadata("shape", "round")
        .send()
        .await
        .expect("create multipart upload");
    assert_eq!(created.bucket(), Some(b.as_str()));
    assert_eq!(created.key(), Some(key));
    let id = created.upload_id().expect("upload id").to_string();
    assert!(!id.is_empty());

    let datagen = Gen::new(1);
    let data = datagen.bytes(2 * MIN_PART + 1000);
    let parts: Vec<&[u8]> = vec![&data[..MIN_PART], &data[MIN_PART..2 * MIN_PART], &data[2 * MIN_PART..]];
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let e = upload_part(&s, &b, key, &id, i as i32 + 1, p.to_vec()).await;
        assert_eq!(e, quoted_md5(p), "part ETag is the quoted hex MD5 of the part");
        etags.push(e);
    }

    // Not visible as an object before completion.
    let r = s.client.head_object().bucket(&b).key(key).send().await;
    expect_err(r, 404, "");

    let refs: Vec<(i32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect();
    let out = complete(&s, &b, key, &id, &refs).await.expect("complete");
    let expected_etag = multipart_etag(&parts);
    assert_eq!(out.e_tag(), Some(expected_etag.as_str()), "multipart ETag format");
    assert!(
        expected_etag.ends_with("-3\""),
        "sanity: expected ETag {expected_etag} ends with -3"
    );
    assert_eq!(out.bucket(), Some(b.as_str()));
    assert_eq!(out.key(), Some(key));
    assert!(out.location().is_some_and(|l| !l.is_empty()), "Location missing");

    let head = s.client.head_object().bucket(&b).key(key).send().await.expect("head");
    assert_eq!(head.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.content_type(), Some("application/x-coffer-test"));
    assert_eq!(head.content_disposition(), Some("attachment; filename=\"x.bin\""));
    assert_eq!(head.content_encoding(), Some("identity"));
    assert_eq!(head.content_language(), Some("en-GB"));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    let md = head.metadata().cloned().unwrap_or_default();
    assert_eq!(md.get("color").map(String::as_str), Some("blue"), "{md:?}");
    assert_eq!(md.get("shape").map(String::as_str), Some("round"), "{md:?}");
    assert!(s.get(&b, key).await == data, "completed object bytes differ");

    // The object is listed; the upload is gone.
    let l = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let o = &l.contents()[0];
    assert_eq!(o.key(), Some(key));
    assert_eq!(o.size(), Some(data.len() as i64));
    assert_eq!(o.e_tag(), Some(expected_etag.as_str()));
    let u = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(
        u.uploads().is_empty(),
        "completed upload still listed: {:?}",
        u.uploads()
    );

    // The completed object reuses the part files: three blobs, object-sized.
    assert_eq!(
        file_sizes(&s.blobs_dir()),
        vec![1000, MIN_PART as u64, MIN_PART as u64],
        "blob files after completion"
    );
}

#[tokio::test]
async fn single_small_part_and_etag_formula() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-single").await;
    let id = create_upload(&s, &b, "one").await;
    let e = upload_part(&s, &b, "one", &id, 1, b"tiny".to_vec()).await;
    let out = complete(&s, &b, "one", &id, &[(1, &e)]).await.expect("one small part");
    // md5(md5("tiny")) + "-1"
    assert_eq!(out.e_tag(), Some(multipart_etag(&[b"tiny"]).as_str()));
    assert_eq!(s.get(&b, "one").await, b"tiny");

    // Parts need not be contiguous: 3 and 7.
    let id = create_upload(&s, &b, "gaps").await;
    let p3 = Gen::new(3).bytes(MIN_PART);
    let e3 = upload_part(&s, &b, "gaps", &id, 3, p3.clone()).await;
    let e7 = upload_part(&s, &b, "gaps", &id, 7, b"seven".to_vec()).await;
    let out = complete(&s, &b, "gaps", &id, &[(3, &e3), (7, &e7)])
        .await
        .expect("gapped parts");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&p3, b"seven"]).as_str()));
    let mut whole = p3.clone();
    whole.extend_from_slice(b"seven");
    assert!(s.get(&b, "gaps").await == whole);
    // ETags with or without quotes in the completion document.
    let id = create_upload(&s, &b, "unquoted").await;
    let e = upload_part(&s, &b, "unquoted", &id, 1, b"abc".to_vec()).await;
    let bare = e.trim_matches('"').to_string();
    complete(&s, &b, "unquoted", &id, &[(1, &bare)])
        .await
        .expect("unquoted ETag in CompleteMultipartUpload");
}

#[tokio::test]
async fn upload_part_numbers_and_replacement() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-partnum").await;
    let id = create_upload(&s, &b, "k").await;
    for bad in [0, -1, 10001, 100000] {
        let r = s
            .client
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .part_number(bad)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await;
        expect_err(r, 400, "InvalidArgument");
    }
    // Boundaries are accepted.
    upload_part(&s, &b, "k", &id, 10000, b"last".to_vec()).await;
    let first = Gen::new(10).bytes(MIN_PART);
    upload_part(&s, &b, "k", &id, 1, first.clone()).await;
    assert_eq!(count_files(&s.blobs_dir()), 2);

    // Re-uploading part 1 replaces it (and frees the old bytes).
    let second = Gen::new(11).bytes(MIN_PART + 7);
    let e1 = upload_part(&s, &b, "k", &id, 1, second.clone()).await;
    assert_eq!(e1, quoted_md5(&second));
    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let parts = lp.parts();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0].part_number(), Some(1));
    assert_eq!(parts[0].e_tag(), Some(e1.as_str()));
    assert_eq!(parts[0].size(), Some(second.len() as i64));
    assert_eq!(parts[1].part_number(), Some(10000));
    let ok = eventually(std::time::Duration::from_secs(5), || {
        file_sizes(&s.blobs_dir()) == vec![4, (MIN_PART + 7) as u64]
    })
    .await;
    assert!(ok, "replaced part's file not freed: {:?}", list_files(&s.blobs_dir()));

    // The old ETag of part 1 is no longer valid.
    let old = quoted_md5(&first);
    let e10000 = quoted_md5(b"last");
    let r = complete(&s, &b, "k", &id, &[(1, &old), (10000, &e10000)]).await;
    expect_err(r, 400, "InvalidPart");
    let out = complete(&s, &b, "k", &id, &[(1, &e1), (10000, &e10000)])
        .await
        .expect("complete with replaced part");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&second, b"last"]).as_str()));
    let mut whole = second.clone();
    whole.extend_from_slice(b"last");
    assert!(s.get(&b, "k").await == whole);
}

#[tokio::test]
async fn complete_errors() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-complete-err").await;
    let id = create_upload(&s, &b, "k").await;
    let p1 = Gen::new(20).bytes(MIN_PART);
    let small = Gen::new(21).bytes(MIB);
    let e1 = upload_part(&s, &b, "k", &id, 1, p1.clone()).await;
    let e2 = upload_part(&s, &b, "k", &id, 2, small.clone()).await;
    let e3 = upload_part(&s, &b, "k", &id, 3, b"three".to_vec()).await;

    // Unknown part number.
    let r = complete(&s, &b, "k", &id, &[(1, &e1), (4, &e3)]).await;
    expect_err(r, 400, "InvalidPart");
    // Wrong ETag for an existing part.
    let r = complete(&s, &b, "k", &id, &[(1, &e2)]).await;
    expect_err(r, 400, "InvalidPart");
    let r = complete(&s, &b, "k", &id, &[(1, "\"00000000000000000000000000000000\"")]).await;
    expect_err(r, 400, "InvalidPart");
    // Out of order.
    let r = complete(&s, &b, "k", &id, &[(2, &e2), (1, &e1)]).await;
    expect_err(r, 400, "InvalidPartOrder");
    // A part listed twice is not in ascending order either.
    let r = complete(&s, &b, "k", &id, &[(1, &e1), (1, &e1)]).await;
    expect_err(r, 400, "InvalidPartOrder");
    // A part other than the last below 5 MiB.
    let r = complete(&s, &b, "k", &id, &[(1, &e1), (2, &e2), (3, &e3)]).await;
    expect_err(r, 400, "EntityTooSmall");
    // An empty part list.
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().build())
        .send()
        .await;
    expect_err(r, 400, "MalformedXML");
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await;
    expect_err(r, 400, "MalformedXML");
    // Unknown upload id, and an upload id for another key.
    let r = complete(&s, &b, "k", "nosuchuploadid0000", &[(1, &e1)]).await;
    expect_err(r, 404, "NoSuchUpload");
    let r = complete(&s, &b, "other-key", &id, &[(1, &e1)]).await;
    expect_err(r, 404, "NoSuchUpload");
    // Raw: the error is S3 error XML.
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{e1}</ETag></Part></CompleteMultipartUpload>"
    );
    let r = s.signed(
        "POST",
        &format!("/{b}/k"),
        &[("uploadId", "nosuchuploadid0000")],
        &[],
        body.as_bytes(),
    );
    r.assert_s3_error(404, "NoSuchUpload");

    // None of the failures consumed the upload: it still completes.
    let out = complete(&s, &b, "k", &id, &[(1, &e1), (3, &e3)])
        .await
        .expect("valid completion");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&p1, b"three"]).as_str()));
    let mut whole = p1.clone();
    whole.extend_from_slice(b"three");
    assert!(s.get(&b, "k").await == whole);

    // Completing it again: the upload no longer exists.
    let r = complete(&s, &b, "k", &id, &[(1, &e1), (3, &e3)]).await;
    expect_err(r, 404, "NoSuchUpload");
}

#[tokio::test]
async fn completed_upload_frees_unlisted_parts() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-unlisted").await;
    s.put(&b, "bystander", "unrelated object").await;
    let id = create_upload(&s, &b, "k").await;
    let p1 = Gen::new(30).bytes(MIN_PART + 1);
    let p2 = Gen::new(31).bytes(MIN_PART + 2);
    let p3 = Gen::new(32).bytes(3333);
    let e1 = upload_part(&s, &b, "k", &id, 1, p1.clone()).await;
    upload_part(&s, &b, "k", &id, 2, p2.clone()).await;
    let e3 = upload_part(&s, &b, "k", &id, 3, p3.clone()).await;
    upload_part(&s, &b, "k", &id, 4, b"four".to_vec()).await;
    assert_eq!(count_files(&s.blobs_dir()), 5);

    let out = complete(&s, &b, "k", &id, &[(1, &e1), (3, &e3)])
        .await
        .expect("complete");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&p1, &p3]).as_str()));
    let expected = vec![16, 3333, (MIN_PART + 1) as u64];
    let ok = eventually(std::time::Duration::from_secs(10), || {
        file_sizes(&s.blobs_dir()) == expected
    })
    .await;
    assert!(
        ok,
        "parts left out of the completion were not freed; blob sizes {:?}, expected {expected:?}",
        file_sizes(&s.blobs_dir())
    );
    assert_eq!(count_files(&s.tmp_dir()), 0);
    let head = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.content_length(), Some((p1.len() + p3.len()) as i64));
    let mut whole = p1.clone();
    whole.extend_from_slice(&p3);
    assert!(s.get(&b, "k").await == whole);

    // Overwriting / deleting the multipart object frees its part files.
    s.put(&b, "k", "small now").await;
    let ok = eventually(std::time::Duration::from_secs(10), || {
        file_sizes(&s.blobs_dir()) == vec![9, 16]
    })
    .await;
    assert!(
        ok,
        "overwritten multipart object's parts not freed: {:?}",
        list_files(&s.blobs_dir())
    );
}

#[tokio::test]
async fn complete_conditional_writes() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-cond").await;

    // If-None-Match: * on an absent key succeeds.
    let id = create_upload(&s, &b, "k").await;
    let e = upload_part(&s, &b, "k", &id, 1, b"first version".to_vec()).await;
    let out = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e)]))
        .if_none_match("*")
        .send()
        .await
        .expect("If-None-Match: * on an absent key");
    let first_etag = out.e_tag().unwrap().to_string();

    // If-None-Match: * when the key exists -> 412; the upload survives.
    let id = create_upload(&s, &b, "k").await;
    let e = upload_part(&s, &b, "k", &id, 1, b"second version".to_vec()).await;
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e)]))
        .if_none_match("*")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
    assert_eq!(s.get(&b, "k").await, b"first version");

    // If-Match with a wrong ETag -> 412.
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e)]))
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
    assert_eq!(s.get(&b, "k").await, b"first version");

    // If-Match with the current ETag succeeds.
    s.client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e)]))
        .if_match(&first_etag)
        .send()
        .await
        .expect("If-Match with the current ETag");
    assert_eq!(s.get(&b, "k").await, b"second version");

    // If-Match on an absent key -> 404 NoSuchKey (S3 conditional writes).
    let id = create_upload(&s, &b, "absent").await;
    let e = upload_part(&s, &b, "absent", &id, 1, b"x".to_vec()).await;
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("absent")
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e)]))
        .if_match(&first_etag)
        .send()
        .await;
    expect_err(r, 404, "NoSuchKey");
}

// ---------------------------------------------------------------------------
// Abort
// ---------------------------------------------------------------------------

#[tokio::test]
async fn abort_then_everything_is_no_such_upload() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-abort").await;
    s.put(&b, "src", Gen::new(40).bytes(MIB)).await;
    let before = stored_bytes(&s);
    let id = create_upload(&s, &b, "k").await;
    let e1 = upload_part(&s, &b, "k", &id, 1, Gen::new(41).bytes(MIN_PART)).await;
    upload_part(&s, &b, "k", &id, 2, b"two".to_vec()).await;
    assert!(stored_bytes(&s) > before);

    let out = s
        .client
        .abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await;
    assert!(out.is_ok(), "abort: {out:?}");
    // Raw status check on a second upload: abort answers 204.
    let id2 = create_upload(&s, &b, "k2").await;
    let r = s.signed("DELETE", &format!("/{b}/k2"), &[("uploadId", &id2)], &[], b"");
    assert_eq!(r.status, 204, "abort status: {r}");

    // Bytes are freed by the time abort answers.
    assert_eq!(
        stored_bytes(&s),
        before,
        "files left after abort: {:?}",
        list_files(&s.blobs_dir())
    );

    assert_no_part_can_be_added(&s, &b, "k", &id, 3, "src").await;
    let r = s.client.list_parts().bucket(&b).key("k").upload_id(&id).send().await;
    expect_err(r, 404, "NoSuchUpload");
    let r = complete(&s, &b, "k", &id, &[(1, &e1)]).await;
    expect_err(r, 404, "NoSuchUpload");
    let r = s
        .client
        .abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await;
    expect_err(r, 404, "NoSuchUpload");
    // Raw: NoSuchUpload is S3 error XML, for an aborted and an unknown id.
    let r = s.signed("DELETE", &format!("/{b}/k"), &[("uploadId", &id)], &[], b"");
    r.assert_s3_error(404, "NoSuchUpload");
    let r = s.signed(
        "DELETE",
        &format!("/{b}/k"),
        &[("uploadId", "unknown-upload-id")],
        &[],
        b"",
    );
    r.assert_s3_error(404, "NoSuchUpload");
    let r = s.signed("GET", &format!("/{b}/k"), &[("uploadId", &id)], &[], b"");
    r.assert_s3_error(404, "NoSuchUpload");
    let u = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(
        u.uploads().is_empty(),
        "aborted uploads still listed: {:?}",
        u.uploads()
    );
    let r = s.client.head_object().bucket(&b).key("k").send().await;
    expect_err(r, 404, "");

    // Aborting a completed upload: NoSuchUpload, and the object stays.
    let id = create_upload(&s, &b, "done").await;
    let e = upload_part(&s, &b, "done", &id, 1, b"done".to_vec()).await;
    complete(&s, &b, "done", &id, &[(1, &e)]).await.unwrap();
    let r = s.signed("DELETE", &format!("/{b}/done"), &[("uploadId", &id)], &[], b"");
    r.assert_s3_error(404, "NoSuchUpload");
    assert_eq!(s.get(&b, "done").await, b"done");
}

#[tokio::test]
async fn misc_request_errors() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-misc").await;
    let r = s
        .client
        .create_multipart_upload()
        .bucket("no-such-bucket-for-mpu")
        .key("k")
        .send()
        .await;
    expect_err(r, 404, "NoSuchBucket");
    let r = s
        .client
        .upload_part()
        .bucket("no-such-bucket-for-mpu")
        .key("k")
        .upload_id("x")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchBucket");

    let id = create_upload(&s, &b, "k").await;
    // Content-MD5 that does not match the part body.
    let r = s
        .client
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .content_md5(md5_b64(b"something else"))
        .body(ByteStream::from_static(b"part body"))
        .send()
        .await;
    expect_err(r, 400, "BadDigest");
    let out = s
        .client
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .content_md5(md5_b64(b"part body"))
        .body(ByteStream::from_static(b"part body"))
        .send()
        .await
        .expect("part with a matching Content-MD5");
    let e = out.e_tag().unwrap().to_string();
    assert_eq!(count_files(&s.blobs_dir()), 1, "{:?}", list_files(&s.blobs_dir()));

    // The upload id of another key.
    let r = s
        .client
        .upload_part()
        .bucket(&b)
        .key("another-key")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchUpload");

    // x-amz-mp-object-size that does not match the parts.
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .mpu_object_size(10)
        .multipart_upload(completed(&[(1, &e)]))
        .send()
        .await;
    expect_err(r, 400, "");
    s.client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .mpu_object_size(9)
        .multipart_upload(completed(&[(1, &e)]))
        .send()
        .await
        .expect("x-amz-mp-object-size matching the parts");

    // partNumber together with Range is invalid.
    let r = s.signed(
        "GET",
        &format!("/{b}/k"),
        &[("partNumber", "1")],
        &[("Range", "bytes=0-1")],
        b"",
    );
    assert_eq!(r.status, 400, "GET with both partNumber and Range: {r}");

    // ListMultipartUploads reports each upload's checksum algorithm and type.
    s.client
        .create_multipart_upload()
        .bucket(&b)
        .key("with-algo")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap();
    let l = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    let u = &l.uploads()[0];
    assert_eq!(u.key(), Some("with-algo"));
    assert_eq!(u.checksum_algorithm(), Some(&ChecksumAlgorithm::Crc32C));
    assert_eq!(u.checksum_type(), Some(&ChecksumType::FullObject));
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_parts_pagination_and_fields() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-listparts").await;
    let out = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let id = out.upload_id().unwrap().to_string();
    let mut bodies = Vec::new();
    for n in 1..=7 {
        let body = format!("part number {n} {}", "x".repeat(n * 10)).into_bytes();
        let r = s
            .client
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .part_number(n as i32)
            .checksum_crc32(crc32_b64(&body))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("upload part");
        assert_eq!(r.checksum_crc32(), Some(crc32_b64(&body).as_str()));
        bodies.push(body);
    }

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = s.client.list_parts().bucket(&b).key("k").upload_id(&id).max_parts(3);
        if let Some(m) = &marker {
            req = req.part_number_marker(m);
        }
        let page = req.send().await.expect("list parts");
        pages += 1;
        assert_eq!(page.bucket(), Some(b.as_str()));
        assert_eq!(page.key(), Some("k"));
        assert_eq!(page.upload_id(), Some(id.as_str()));
        assert_eq!(page.max_parts(), Some(3));
        assert_eq!(page.checksum_algorithm(), Some(&ChecksumAlgorithm::Crc32));
        let numbers: Vec<i32> = page.parts().iter().filter_map(|p| p.part_number()).collect();
        for p in page.parts() {
            let n = p.part_number().unwrap() as usize;
            let body = &bodies[n - 1];
            assert_eq!(p.e_tag(), Some(quoted_md5(body).as_str()), "part {n} ETag");
            assert_eq!(p.size(), Some(body.len() as i64), "part {n} size");
            assert_eq!(p.checksum_crc32(), Some(crc32_b64(body).as_str()), "part {n} checksum");
            assert!(p.last_modified().is_some(), "part {n} LastModified");
        }
        seen.extend(numbers.iter().copied());
        if page.is_truncated() == Some(true) {
            assert_eq!(numbers.len(), 3, "truncated page must be full");
            assert_eq!(
                page.next_part_number_marker(),
                Some(numbers.last().unwrap().to_string().as_str()),
                "NextPartNumberMarker is the last part listed"
            );
            marker = page.next_part_number_marker().map(str::to_string);
        } else {
            assert_eq!(page.is_truncated(), Some(false));
            break;
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(seen, (1..=7).collect::<Vec<i32>>());
    assert_eq!(pages, 3);

    // A marker in the middle of a gap, and past the end.
    let page = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number_marker("5")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = page.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(numbers, vec![6, 7]);
    assert_eq!(page.is_truncated(), Some(false));
    let page = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number_marker("7")
        .send()
        .await
        .unwrap();
    assert!(page.parts().is_empty());
    assert_eq!(page.is_truncated(), Some(false));

    // Unknown upload -> NoSuchUpload.
    let r = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id("bogus")
        .send()
        .await;
    expect_err(r, 404, "NoSuchUpload");
}

/// More than 1000 parts: ListParts pages at most 1000 parts at a time.
#[tokio::test]
async fn list_parts_over_1000_parts() {
    const PARTS: i32 = 1003;
    let s = Server::start().await;
    let b = s.new_bucket("mpu-manyparts").await;
    let id = create_upload(&s, &b, "k").await;
    let mut set = tokio::task::JoinSet::new();
    for n in 1..=PARTS {
        if set.len() >= 8 {
            set.join_next().await.unwrap().unwrap();
        }
        let client = s.client.clone();
        let (b, id) = (b.clone(), id.clone());
        set.spawn(async move {
            client
                .upload_part()
                .bucket(&b)
                .key("k")
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(n.to_string().into_bytes()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("part {n}: {e:?}"));
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let page = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(page.parts().len(), 1000, "default page size is 1000");
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_part_number_marker(), Some("1000"));
    let page = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .max_parts(5000)
        .send()
        .await
        .unwrap();
    assert_eq!(page.parts().len(), 1000, "max-parts is capped at 1000");
    let page = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number_marker("1000")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = page.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(numbers, vec![1001, 1002, 1003]);
    assert_eq!(page.is_truncated(), Some(false));
    // Aborting frees all of them.
    s.client
        .abort_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        count_files(&s.blobs_dir()),
        0,
        "{} files left",
        count_files(&s.blobs_dir())
    );
}

#[tokio::test]
async fn list_multipart_uploads_paging_prefix_delimiter() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-listuploads").await;
    let mut ids = std::collections::BTreeMap::<&str, Vec<String>>::new();
    // Creation order deliberately not key order; "b" gets two uploads.
    for k in ["d", "b", "a/2", "c/x/y", "a/1", "b"] {
        let id = create_upload(&s, &b, k).await;
        ids.entry(k).or_default().push(id);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let expected: Vec<(String, String)> = ["a/1", "a/2", "b", "b", "c/x/y", "d"]
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let idx = if *k == "b" && i == 3 { 1 } else { 0 };
            (k.to_string(), ids[k][idx].clone())
        })
        .collect();

    let all = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(
        upload_keys(all.uploads()),
        expected,
        "uploads ordered by key, then by creation"
    );
    assert_eq!(all.is_truncated(), Some(false));
    for u in all.uploads() {
        assert!(u.initiated().is_some(), "Initiated missing: {u:?}");
    }

    // Prefix.
    let r = s
        .client
        .list_multipart_uploads()
        .bucket(&b)
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(upload_keys(r.uploads()), expected[..2].to_vec());
    assert_eq!(r.prefix(), Some("a/"));

    // Delimiter.
    let r = s
        .client
        .list_multipart_uploads()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = upload_keys(r.uploads()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["b", "b", "d"]);
    let prefixes: Vec<&str> = r.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, vec!["a/", "c/"]);
    assert_eq!(r.delimiter(), Some("/"));
    // Prefix + delimiter.
    let r = s
        .client
        .list_multipart_uploads()
        .bucket(&b)
        .prefix("c/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(r.uploads().is_empty(), "{:?}", r.uploads());
    let prefixes: Vec<&str> = r.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, vec!["c/x/"]);

    // Paging with max-uploads, following NextKeyMarker / NextUploadIdMarker.
    let mut got = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut id_marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = s.client.list_multipart_uploads().bucket(&b).max_uploads(2);
        if let Some(k) = &key_marker {
            req = req.key_marker(k);
        }
        if let Some(i) = &id_marker {
            req = req.upload_id_marker(i);
        }
        let page = req.send().await.unwrap();
        pages += 1;
        assert_eq!(page.max_uploads(), Some(2));
        got.extend(upload_keys(page.uploads()));
        if page.is_truncated() == Some(true) {
            let last = page.uploads().last().expect("truncated page has uploads");
            assert_eq!(page.next_key_marker(), last.key(), "NextKeyMarker");
            assert_eq!(page.next_upload_id_marker(), last.upload_id(), "NextUploadIdMarker");
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
        } else {
            break;
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(got, expected, "paged listing");
    assert_eq!(pages, 3);

    // key-marker alone: uploads of keys strictly after it.
    let r = s
        .client
        .list_multipart_uploads()
        .bucket(&b)
        .key_marker("b")
        .send()
        .await
        .unwrap();
    assert_eq!(upload_keys(r.uploads()), expected[4..].to_vec());
    // key-marker + upload-id-marker: uploads of that key after that id, then later keys.
    let r = s
        .client
        .list_multipart_uploads()
        .bucket(&b)
        .key_marker("b")
        .upload_id_marker(&ids["b"][0])
        .send()
        .await
        .unwrap();
    assert_eq!(upload_keys(r.uploads()), expected[3..].to_vec());

    // upload-id-marker without key-marker is ignored.
    let r = s
        .client
        .list_multipart_uploads()
        .bucket(&b)
        .upload_id_marker(&ids["b"][0])
        .send()
        .await
        .unwrap();
    assert_eq!(
        upload_keys(r.uploads()),
        expected,
        "upload-id-marker alone must be ignored"
    );

    // Paging one entry at a time with a delimiter: prefixes count as entries.
    let mut seen: Vec<String> = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut id_marker: Option<String> = None;
    for _ in 0..20 {
        let mut req = s
            .client
            .list_multipart_uploads()
            .bucket(&b)
            .delimiter("/")
            .max_uploads(1);
        if let Some(k) = &key_marker {
            req = req.key_marker(k);
        }
        if let Some(i) = &id_marker {
            req = req.upload_id_marker(i);
        }
        let page = req.send().await.unwrap();
        for u in page.uploads() {
            seen.push(format!("{}#{}", u.key().unwrap(), u.upload_id().unwrap()));
        }
        for p in page.common_prefixes() {
            seen.push(p.prefix().unwrap().to_string());
        }
        assert!(
            page.uploads().len() + page.common_prefixes().len() <= 1,
            "max-uploads=1 page holds more than one entry"
        );
        if page.is_truncated() != Some(true) {
            key_marker = None;
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
    }
    assert!(key_marker.is_none(), "delimiter paging did not terminate: {seen:?}");
    let want = vec![
        "a/".to_string(),
        format!("b#{}", ids["b"][0]),
        format!("b#{}", ids["b"][1]),
        "c/".to_string(),
        format!("d#{}", ids["d"][0]),
    ];
    assert_eq!(seen, want, "paging with delimiter and max-uploads=1");

    // Completed and aborted uploads disappear from the listing.
    let id_d = ids["d"][0].clone();
    let e = upload_part(&s, &b, "d", &id_d, 1, b"d".to_vec()).await;
    complete(&s, &b, "d", &id_d, &[(1, &e)]).await.unwrap();
    s.client
        .abort_multipart_upload()
        .bucket(&b)
        .key("a/1")
        .upload_id(&ids["a/1"][0])
        .send()
        .await
        .unwrap();
    let r = s.client.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(upload_keys(r.uploads()), expected[1..5].to_vec());
}

// ---------------------------------------------------------------------------
// UploadPartCopy
// ---------------------------------------------------------------------------

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-copy").await;
    let b2 = s.new_bucket("mpu-copy-src").await;
    let src = Gen::new(50).bytes(12 * MIB + 123);
    let src_etag = s.put(&b2, "source object", src.clone()).await;
    let small = b"small source".to_vec();
    s.put(&b, "small", small.clone()).await;

    let id = create_upload(&s, &b, "dest").await;
    // Part 1: first 5 MiB of the source (cross-bucket, key needing encoding).
    let range1 = &src[..MIN_PART];
    let out = s
        .client
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{b2}/{}", uri_encode("source object", true)))
        .copy_source_range(format!("bytes=0-{}", MIN_PART - 1))
        .send()
        .await
        .expect("upload part copy with range");
    let r1 = out.copy_part_result().expect("CopyPartResult");
    assert_eq!(
        r1.e_tag(),
        Some(quoted_md5(range1).as_str()),
        "copied part ETag = MD5 of the range"
    );
    assert!(r1.last_modified().is_some());
    let e1 = r1.e_tag().unwrap().to_string();
    // Part 2: a range from the middle, 5 MiB + 17 bytes.
    let (first, last) = (3 * MIB + 5, 3 * MIB + 5 + MIN_PART + 16);
    let range2 = &src[first..=last];
    let out = s
        .client
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .part_number(2)
        .copy_source(format!("{b2}/{}", uri_encode("source object", true)))
        .copy_source_range(format!("bytes={first}-{last}"))
        .copy_source_if_match(&src_etag)
        .send()
        .await
        .expect("upload part copy, mid range, If-Match");
    let e2 = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
    assert_eq!(e2, quoted_md5(range2));
    // Part 3: the whole small object (no range).
    let out = s
        .client
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .part_number(3)
        .copy_source(format!("{b}/small"))
        .send()
        .await
        .expect("upload part copy without range");
    let e3 = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
    assert_eq!(e3, quoted_md5(&small));
    // Part 4: the last byte of the source only.
    let n = src.len();
    let out = s
        .client
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .part_number(4)
        .copy_source(format!("{b2}/{}", uri_encode("source object", true)))
        .copy_source_range(format!("bytes={}-{}", n - 1, n - 1))
        .send()
        .await
        .expect("one-byte range");
    assert_eq!(
        out.copy_part_result().unwrap().e_tag(),
        Some(quoted_md5(&src[n - 1..]).as_str())
    );

    // ListParts shows copied parts with their sizes.
    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let sizes: Vec<i64> = lp.parts().iter().filter_map(|p| p.size()).collect();
    assert_eq!(
        sizes,
        vec![MIN_PART as i64, (MIN_PART + 17) as i64, small.len() as i64, 1]
    );

    let out = complete(&s, &b, "dest", &id, &[(1, &e1), (2, &e2), (3, &e3)])
        .await
        .expect("complete");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[range1, range2, &small]).as_str()));
    let mut whole = range1.to_vec();
    whole.extend_from_slice(range2);
    whole.extend_from_slice(&small);
    assert!(
        s.get(&b, "dest").await == whole,
        "object assembled from copied parts differs"
    );
    // The source is untouched.
    assert!(s.get(&b2, "source object").await == src);
}

#[tokio::test]
async fn upload_part_copy_errors_and_conditions() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-copy-err").await;
    let src = b"0123456789".to_vec();
    let etag = s.put(&b, "src", src.clone()).await;
    let lm = *s
        .client
        .head_object()
        .bucket(&b)
        .key("src")
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap();
    let past = DateTime::from_secs(lm.secs() - 3600);
    let future = DateTime::from_secs(lm.secs() + 3600);
    let id = create_upload(&s, &b, "dest").await;
    let copy = |n: i32| {
        s.client
            .upload_part_copy()
            .bucket(&b)
            .key("dest")
            .upload_id(&id)
            .part_number(n)
            .copy_source(format!("{b}/src"))
    };

    // Preconditions on the source -> 412.
    let r = copy(1)
        .copy_source_if_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed");
    let r = copy(1).copy_source_if_none_match(&etag).send().await;
    expect_err(r, 412, "PreconditionFailed");
    let r = copy(1).copy_source_if_unmodified_since(past).send().await;
    expect_err(r, 412, "PreconditionFailed");
    let r = copy(1).copy_source_if_modified_since(future).send().await;
    expect_err(r, 412, "PreconditionFailed");
    // Preconditions that hold.
    copy(1)
        .copy_source_if_match(&etag)
        .send()
        .await
        .expect("if-match holds");
    copy(2)
        .copy_source_if_none_match("\"0123456789abcdef0123456789abcdef\"")
        .send()
        .await
        .expect("if-none-match holds");
    copy(3)
        .copy_source_if_modified_since(past)
        .send()
        .await
        .expect("if-modified-since holds");
    copy(4)
        .copy_source_if_unmodified_since(future)
        .send()
        .await
        .expect("if-unmodified-since holds");

    // Ranges.
    let out = copy(5).copy_source_range("bytes=2-5").send().await.expect("range 2-5");
    assert_eq!(
        out.copy_part_result().unwrap().e_tag(),
        Some(quoted_md5(b"2345").as_str())
    );
    let out = copy(6)
        .copy_source_range("bytes=0-9")
        .send()
        .await
        .expect("whole range");
    assert_eq!(out.copy_part_result().unwrap().e_tag(), Some(quoted_md5(&src).as_str()));
    for bad in ["bytes=0-10", "bytes=10-12"] {
        let r = copy(7).copy_source_range(bad).send().await;
        let e = r.expect_err(bad);
        let (st, code) = (err_status(&e), err_code(&e));
        assert!(
            (st == 400 && code == "InvalidArgument") || (st == 416 && code == "InvalidRange"),
            "range {bad} beyond the source: expected 400 InvalidArgument or 416 InvalidRange, got {st} {code}"
        );
    }
    for bad in ["bytes=5-2", "0-2", "bytes=a-b"] {
        let r = copy(7).copy_source_range(bad).send().await;
        expect_err(r, 400, "InvalidArgument");
    }
    // Missing source, bad part number, unknown upload.
    let r = s
        .client
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .part_number(7)
        .copy_source(format!("{b}/missing"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchKey");
    let r = copy(0).send().await;
    expect_err(r, 400, "InvalidArgument");
    let r = copy(10001).send().await;
    expect_err(r, 400, "InvalidArgument");
    let r = s
        .client
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id("bogus-upload")
        .part_number(1)
        .copy_source(format!("{b}/src"))
        .send()
        .await;
    expect_err(r, 404, "NoSuchUpload");

    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key("dest")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = lp.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5, 6], "only the successful copies are parts");
}

/// A completed multipart object (whose data is several part files) as the
/// source of ranged reads, CopyObject and UploadPartCopy across part
/// boundaries; shared bytes survive the source's deletion; everything is
/// freed at the end.
#[tokio::test]
async fn multipart_object_as_source_across_part_boundaries() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-src").await;
    let data = Gen::new(65).bytes(2 * MIN_PART + 777);
    let parts: [&[u8]; 3] = [&data[..MIN_PART], &data[MIN_PART..2 * MIN_PART], &data[2 * MIN_PART..]];
    let id = create_upload(&s, &b, "src").await;
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        etags.push(upload_part(&s, &b, "src", &id, i as i32 + 1, p.to_vec()).await);
    }
    let refs: Vec<(i32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect();
    complete(&s, &b, "src", &id, &refs).await.unwrap();

    // Ranged GETs across the part boundaries, and the tail.
    for (first, last) in [
        (MIN_PART - 10, MIN_PART + 9),
        (MIN_PART - 1, 2 * MIN_PART),
        (10, data.len() - 1),
        (2 * MIN_PART, 2 * MIN_PART),
    ] {
        let range = format!("bytes={first}-{last}");
        let g = s
            .client
            .get_object()
            .bucket(&b)
            .key("src")
            .range(&range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {range}: {e:?}"));
        assert_eq!(
            g.content_range(),
            Some(format!("bytes {first}-{last}/{}", data.len()).as_str())
        );
        let body = g.body.collect().await.unwrap().into_bytes();
        assert!(body[..] == data[first..=last], "GET {range} bytes differ");
    }

    // CopyObject of the whole multipart object.
    s.client
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/src"))
        .send()
        .await
        .expect("copy multipart object");
    // UploadPartCopy of ranges spanning part boundaries into a new upload.
    let id2 = create_upload(&s, &b, "assembled").await;
    let (f1, l1) = (MIN_PART - 3 * MIB, MIN_PART + 3 * MIB - 1);
    let (f2, l2) = (2 * MIN_PART - 50, data.len() - 1);
    let mut etags2 = Vec::new();
    for (n, (f, l)) in [(f1, l1), (f2, l2)].into_iter().enumerate() {
        let out = s
            .client
            .upload_part_copy()
            .bucket(&b)
            .key("assembled")
            .upload_id(&id2)
            .part_number(n as i32 + 1)
            .copy_source(format!("{b}/src"))
            .copy_source_range(format!("bytes={f}-{l}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy range {f}-{l}: {e:?}"));
        let e = out.copy_part_result().unwrap().e_tag().unwrap().to_string();
        assert_eq!(e, quoted_md5(&data[f..=l]), "copied range {f}-{l}");
        etags2.push(e);
    }
    // Delete the source before completing: copied parts are independent of it.
    s.client.delete_object().bucket(&b).key("src").send().await.unwrap();
    complete(&s, &b, "assembled", &id2, &[(1, &etags2[0]), (2, &etags2[1])])
        .await
        .expect("complete from copied ranges");
    let mut want = data[f1..=l1].to_vec();
    want.extend_from_slice(&data[f2..=l2]);
    assert!(s.get(&b, "assembled").await == want, "assembled object differs");
    assert!(
        s.get(&b, "copy").await == data,
        "copy of the deleted multipart object differs"
    );

    // Replacing a multipart object with another completion frees the old parts.
    let id3 = create_upload(&s, &b, "assembled").await;
    let e = upload_part(&s, &b, "assembled", &id3, 1, b"replacement".to_vec()).await;
    complete(&s, &b, "assembled", &id3, &[(1, &e)]).await.unwrap();
    assert_eq!(s.get(&b, "assembled").await, b"replacement");
    let expected = data.len() as u64 + 11;
    let ok = eventually(std::time::Duration::from_secs(10), || stored_bytes(&s) == expected).await;
    assert!(
        ok,
        "stored bytes {} != live {expected}: {:?}",
        stored_bytes(&s),
        list_files(&s.blobs_dir())
    );
    for k in ["copy", "assembled"] {
        s.client.delete_object().bucket(&b).key(k).send().await.unwrap();
    }
    let ok = eventually(std::time::Duration::from_secs(10), || stored_bytes(&s) == 0).await;
    assert!(
        ok,
        "files left after deleting everything: {:?}",
        list_files(&s.blobs_dir())
    );
}

// ---------------------------------------------------------------------------
// Part reads of a completed object
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_and_head_by_part_number() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-partread").await;
    let data = Gen::new(60).bytes(2 * MIN_PART + 100);
    let parts: [&[u8]; 3] = [&data[..MIN_PART], &data[MIN_PART..2 * MIN_PART], &data[2 * MIN_PART..]];
    let id = create_upload(&s, &b, "k").await;
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        etags.push(upload_part(&s, &b, "k", &id, i as i32 + 1, p.to_vec()).await);
    }
    let refs: Vec<(i32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect();
    let out = complete(&s, &b, "k", &id, &refs).await.unwrap();
    let etag = out.e_tag().unwrap().to_string();
    let total = data.len();

    let mut offset = 0;
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let (first, last) = (offset, offset + p.len() - 1);
        offset += p.len();
        let h = s
            .client
            .head_object()
            .bucket(&b)
            .key("k")
            .part_number(n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HEAD partNumber={n}: {e:?}"));
        assert_eq!(h.content_length(), Some(p.len() as i64), "HEAD part {n} length");
        assert_eq!(h.parts_count(), Some(3), "HEAD part {n} x-amz-mp-parts-count");
        assert_eq!(h.e_tag(), Some(etag.as_str()), "HEAD part {n} ETag is the object's");

        let g = s
            .client
            .get_object()
            .bucket(&b)
            .key("k")
            .part_number(n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET partNumber={n}: {e:?}"));
        assert_eq!(g.parts_count(), Some(3));
        assert_eq!(
            g.content_range(),
            Some(format!("bytes {first}-{last}/{total}").as_str())
        );
        assert_eq!(g.content_length(), Some(p.len() as i64));
        let body = g.body.collect().await.unwrap().into_bytes();
        assert!(body[..] == p[..], "GET part {n} bytes differ");

        // Raw: status is 206 for both.
        let pn = n.to_string();
        let r = s.signed("HEAD", &format!("/{b}/k"), &[("partNumber", &pn)], &[], b"");
        assert_eq!(r.status, 206, "HEAD partNumber={n}: {r}");
        assert_eq!(r.header("x-amz-mp-parts-count"), Some("3"));
        assert_eq!(r.header("content-length"), Some(p.len().to_string().as_str()));
        if n == 3 {
            let r = s.signed("GET", &format!("/{b}/k"), &[("partNumber", &pn)], &[], b"");
            assert_eq!(r.status, 206, "GET partNumber={n}: {}", r.status);
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {first}-{last}/{total}").as_str())
            );
            assert!(r.body[..] == p[..], "raw GET part {n} bytes differ");
        }
    }
    // A part number beyond the object's parts.
    let r = s.signed("GET", &format!("/{b}/k"), &[("partNumber", "4")], &[], b"");
    r.assert_s3_error(416, "InvalidPartNumber");
    let r = s.client.head_object().bucket(&b).key("k").part_number(4).send().await;
    expect_err(r, 416, "");
    // A plain GET/HEAD is the whole object.
    let h = s.client.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.content_length(), Some(total as i64));
}

// ---------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algo {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use crc_fast::CrcAlgorithm as C;
        match self {
            Algo::Crc32 => (crc_fast::checksum(C::Crc32IsoHdlc, data) as u32)
                .to_be_bytes()
                .to_vec(),
            Algo::Crc32c => (crc_fast::checksum(C::Crc32Iscsi, data) as u32).to_be_bytes().to_vec(),
            Algo::Crc64Nvme => crc_fast::checksum(C::Crc64Nvme, data).to_be_bytes().to_vec(),
            Algo::Sha1 => {
                use sha1::Digest as _;
                sha1::Sha1::digest(data).to_vec()
            }
            Algo::Sha256 => {
                use sha2::Digest as _;
                sha2::Sha256::digest(data).to_vec()
            }
        }
    }
    fn sdk(self) -> ChecksumAlgorithm {
        match self {
            Algo::Crc32 => ChecksumAlgorithm::Crc32,
            Algo::Crc32c => ChecksumAlgorithm::Crc32C,
            Algo::Crc64Nvme => ChecksumAlgorithm::Crc64Nvme,
            Algo::Sha1 => ChecksumAlgorithm::Sha1,
            Algo::Sha256 => ChecksumAlgorithm::Sha256,
        }
    }
}

/// The one checksum value of `algo` carried by an SDK output.
macro_rules! checksum_of {
    ($out:expr, $algo:expr) => {
        match $algo {
            Algo::Crc32 => $out.checksum_crc32(),
            Algo::Crc32c => $out.checksum_crc32_c(),
            Algo::Crc64Nvme => $out.checksum_crc64_nvme(),
            Algo::Sha1 => $out.checksum_sha1(),
            Algo::Sha256 => $out.checksum_sha256(),
        }
    };
}

macro_rules! with_checksum {
    ($req:expr, $algo:expr, $value:expr) => {
        match $algo {
            Algo::Crc32 => $req.checksum_crc32($value),
            Algo::Crc32c => $req.checksum_crc32_c($value),
            Algo::Crc64Nvme => $req.checksum_crc64_nvme($value),
            Algo::Sha1 => $req.checksum_sha1($value),
            Algo::Sha256 => $req.checksum_sha256($value),
        }
    };
}

/// 64 MiB in 5 MiB parts (the last 4 MiB) with per-part checksums of `algo`,
/// completed as `kind`; checks every reported checksum against our own.
async fn checksum_upload_64mib(algo: Algo, kind: ChecksumType) {
    let t0 = Instant::now();
    let s = Server::start().await;
    let b = s.new_bucket("mpu-cksum").await;
    let key = format!("cksum-{algo:?}-{}", kind.as_str());
    let data = Gen::new(70 + algo as u64).bytes(64 * MIB);
    let chunks: Vec<&[u8]> = data.chunks(MIN_PART).collect();
    assert_eq!(chunks.len(), 13);

    let created = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key(&key)
        .checksum_algorithm(algo.sdk())
        .checksum_type(kind.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {algo:?} {kind:?}: {e:?}"));
    assert_eq!(created.checksum_algorithm(), Some(&algo.sdk()));
    assert_eq!(created.checksum_type(), Some(&kind));
    let id = created.upload_id().unwrap().to_string();

    let mut part_sums = Vec::new();
    let mut completed_parts = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let n = i as i32 + 1;
        let sum = b64(&algo.digest(chunk));
        let req = s
            .client
            .upload_part()
            .bucket(&b)
            .key(&key)
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(algo.sdk())
            .body(ByteStream::from(chunk.to_vec()));
        let out = with_checksum!(req, algo, &sum)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{algo:?} part {n}: {e:?}"));
        assert_eq!(
            checksum_of!(out, algo),
            Some(sum.as_str()),
            "{algo:?} part {n} checksum"
        );
        let etag = out.e_tag().unwrap().to_string();
        let cp = CompletedPart::builder().part_number(n).e_tag(&etag);
        completed_parts.push(with_checksum!(cp, algo, &sum).build());
        part_sums.push(sum);
    }

    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key(&key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(lp.checksum_algorithm(), Some(&algo.sdk()));
    assert_eq!(lp.checksum_type(), Some(&kind));
    for (p, sum) in lp.parts().iter().zip(&part_sums) {
        assert_eq!(
            checksum_of!(p, algo),
            Some(sum.as_str()),
            "ListParts checksum of part {:?}",
            p.part_number()
        );
    }
    assert_eq!(lp.parts().len(), 13);

    let expected = match kind {
        ChecksumType::Composite => {
            let mut raw = Vec::new();
            for c in &chunks {
                raw.extend(algo.digest(c));
            }
            format!("{}-{}", b64(&algo.digest(&raw)), chunks.len())
        }
        _ => b64(&algo.digest(&data)),
    };
    let out = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key(&key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed_parts))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete {algo:?} {kind:?}: {e:?}"));
    assert_eq!(
        checksum_of!(out, algo),
        Some(expected.as_str()),
        "CompleteMultipartUpload checksum"
    );
    assert_eq!(
        out.checksum_type(),
        Some(&kind),
        "CompleteMultipartUpload checksum type"
    );
    assert_eq!(out.e_tag(), Some(multipart_etag(&chunks).as_str()));

    let h = s
        .client
        .head_object()
        .bucket(&b)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(checksum_of!(h, algo), Some(expected.as_str()), "HEAD checksum");
    assert_eq!(h.checksum_type(), Some(&kind), "HEAD x-amz-checksum-type");
    assert_eq!(h.content_length(), Some(data.len() as i64));

    let g = s
        .client
        .get_object()
        .bucket(&b)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(checksum_of!(g, algo), Some(expected.as_str()), "GET checksum");
    assert_eq!(g.checksum_type(), Some(&kind), "GET x-amz-checksum-type");
    let body = g
        .body
        .collect()
        .await
        .expect("GET body (SDK validates full-object CRCs)")
        .into_bytes();
    assert!(body[..] == data[..], "object bytes differ");
    // A part read carries that part's checksum for composite objects.
    let g = s
        .client
        .get_object()
        .bucket(&b)
        .key(&key)
        .part_number(2)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let body = g.body.collect().await.unwrap().into_bytes();
    assert!(body[..] == chunks[1][..], "part 2 bytes differ");
    eprintln!("checksum {algo:?} {kind:?}: {:?}", t0.elapsed());
}

#[tokio::test]
async fn checksum_64mib_crc32_composite() {
    checksum_upload_64mib(Algo::Crc32, ChecksumType::Composite).await;
}

#[tokio::test]
async fn checksum_64mib_crc32_full_object() {
    checksum_upload_64mib(Algo::Crc32, ChecksumType::FullObject).await;
}

#[tokio::test]
async fn checksum_64mib_crc32c_composite() {
    checksum_upload_64mib(Algo::Crc32c, ChecksumType::Composite).await;
}

#[tokio::test]
async fn checksum_64mib_crc32c_full_object() {
    checksum_upload_64mib(Algo::Crc32c, ChecksumType::FullObject).await;
}

#[tokio::test]
async fn checksum_64mib_crc64nvme_full_object() {
    checksum_upload_64mib(Algo::Crc64Nvme, ChecksumType::FullObject).await;
}

#[tokio::test]
async fn checksum_64mib_sha1_composite() {
    checksum_upload_64mib(Algo::Sha1, ChecksumType::Composite).await;
}

#[tokio::test]
async fn checksum_64mib_sha256_composite() {
    checksum_upload_64mib(Algo::Sha256, ChecksumType::Composite).await;
}

#[tokio::test]
async fn checksum_type_rules_and_mismatches() {
    let s = Server::start().await;
    let b = s.new_bucket("mpu-cksum-rules").await;
    // Unsupported combinations.
    for (algo, kind) in [
        (Algo::Crc64Nvme, ChecksumType::Composite),
        (Algo::Sha1, ChecksumType::FullObject),
        (Algo::Sha256, ChecksumType::FullObject),
    ] {
        let r = s
            .client
            .create_multipart_upload()
            .bucket(&b)
            .key("k")
            .checksum_algorithm(algo.sdk())
            .checksum_type(kind.clone())
            .send()
            .await;
        let e = r.expect_err(&format!("{algo:?} {kind:?} must be rejected"));
        assert_eq!(err_status(&e), 400, "{algo:?} {kind:?}: {e:?}");
    }
    // A checksum type without an algorithm.
    let r = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await;
    expect_err(r, 400, "");

    // Defaults: CRC32/CRC32C/SHA* -> COMPOSITE, CRC64NVME -> FULL_OBJECT.
    for (algo, kind) in [
        (Algo::Crc32, ChecksumType::Composite),
        (Algo::Crc32c, ChecksumType::Composite),
        (Algo::Sha1, ChecksumType::Composite),
        (Algo::Sha256, ChecksumType::Composite),
        (Algo::Crc64Nvme, ChecksumType::FullObject),
    ] {
        let out = s
            .client
            .create_multipart_upload()
            .bucket(&b)
            .key("defaults")
            .checksum_algorithm(algo.sdk())
            .send()
            .await
            .unwrap();
        assert_eq!(out.checksum_type(), Some(&kind), "default checksum type of {algo:?}");
    }

    // Wrong part checksum -> BadDigest; a different algorithm than the upload's -> 400.
    let id = s
        .client
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let r = s
        .client
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(b64(&Algo::Sha256.digest(b"other")))
        .body(ByteStream::from_static(b"part body"))
        .send()
        .await;
    expect_err(r, 400, "BadDigest");
    let r = s
        .client
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_crc32(b64(&Algo::Crc32.digest(b"part body")))
        .body(ByteStream::from_static(b"part body"))
        .send()
        .await;
    expect_err(r, 400, "");
    let lp = s
        .client
        .list_parts()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert!(
        lp.parts().is_empty(),
        "rejected parts must not be stored: {:?}",
        lp.parts()
    );
    assert_eq!(count_files(&s.blobs_dir()), 0, "{:?}", list_files(&s.blobs_dir()));

    // A correct part; completion naming a wrong part checksum -> InvalidPart.
    let sum = b64(&Algo::Sha256.digest(b"part body"));
    let out = s
        .client
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&sum)
        .body(ByteStream::from_static(b"part body"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_sha256(), Some(sum.as_str()));
    let etag = out.e_tag().unwrap().to_string();
    let bad = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(&etag)
                .checksum_sha256(b64(&Algo::Sha256.digest(b"nope")))
                .build(),
        )
        .build();
    let r = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(bad)
        .send()
        .await;
    expect_err(r, 400, "InvalidPart");
    let good = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(&etag)
                .checksum_sha256(&sum)
                .build(),
        )
        .build();
    let out = s
        .client
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .multipart_upload(good)
        .send()
        .await
        .expect("complete with matching part checksum");
    let composite = format!("{}-1", b64(&Algo::Sha256.digest(&Algo::Sha256.digest(b"part body"))));
    assert_eq!(out.checksum_sha256(), Some(composite.as_str()));

    // FULL_OBJECT CRC32C: the whole-object checksum sent with the completion is verified.
    let p1 = Gen::new(80).bytes(MIN_PART);
    let p2 = b"tail of the object".to_vec();
    let mut whole = p1.clone();
    whole.extend_from_slice(&p2);
    let full = b64(&Algo::Crc32c.digest(&whole));
    for (attempt, value) in [("wrong", b64(&Algo::Crc32c.digest(b"nope"))), ("right", full.clone())] {
        let id = s
            .client
            .create_multipart_upload()
            .bucket(&b)
            .key("full")
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let mut parts = Vec::new();
        for (i, p) in [&p1, &p2].iter().enumerate() {
            let out = s
                .client
                .upload_part()
                .bucket(&b)
                .key("full")
                .upload_id(&id)
                .part_number(i as i32 + 1)
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .checksum_crc32_c(b64(&Algo::Crc32c.digest(p)))
                .body(ByteStream::from(p.to_vec()))
                .send()
                .await
                .unwrap();
            parts.push(
                CompletedPart::builder()
                    .part_number(i as i32 + 1)
                    .e_tag(out.e_tag().unwrap())
                    .build(),
            );
        }
        let r = s
            .client
            .complete_multipart_upload()
            .bucket(&b)
            .key("full")
            .upload_id(&id)
            .checksum_crc32_c(&value)
            .checksum_type(ChecksumType::FullObject)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        if attempt == "wrong" {
            expect_err(r, 400, "BadDigest");
        } else {
            let out = r.expect("complete with the right full-object checksum");
            assert_eq!(out.checksum_crc32_c(), Some(full.as_str()));
            assert_eq!(out.checksum_type(), Some(&ChecksumType::FullObject));
        }
    }
    assert!(s.get(&b, "full").await == whole);
}

// ---------------------------------------------------------------------------
// Large upload
// ---------------------------------------------------------------------------

/// 1 GiB in 64 parts of 16 MiB, generated on the fly and never held whole;
/// verified by streaming it back and hashing as we go.
#[tokio::test]
async fn upload_1gib_in_many_parts() {
    const PART_MIB: u64 = 16;
    const PARTS: u64 = 64;
    let t0 = Instant::now();
    let s = Server::start().await;
    let b = s.new_bucket("mpu-1gib").await;
    let id = create_upload(&s, &b, "big").await;
    let datagen = std::sync::Arc::new(Gen::new(90));

    // Whole-stream CRC64/NVME as the parts are generated (MD5 in a debug build
    // is slow: only the first and last parts' MD5s are computed here).
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut etags = vec![String::new(); PARTS as usize];
    let mut checked_md5s = Vec::new();
    let mut inflight = tokio::task::JoinSet::new();
    for p in 0..PARTS {
        let mut body = Vec::with_capacity((PART_MIB as usize) * MIB);
        for m in 0..PART_MIB {
            datagen.mib(p * PART_MIB + m, &mut body);
        }
        crc.update(&body);
        if p == 0 || p == PARTS - 1 {
            checked_md5s.push((p as usize, md5_bytes(&body)));
        }
        if inflight.len() >= 2 {
            let (n, e): (u64, String) = inflight.join_next().await.unwrap().unwrap();
            etags[n as usize] = e;
        }
        let client = s.client.clone();
        let (b, id) = (b.clone(), id.clone());
        inflight.spawn(async move {
            let out = client
                .upload_part()
                .bucket(&b)
                .key("big")
                .upload_id(&id)
                .part_number(p as i32 + 1)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap_or_else(|e| panic!("1 GiB: part {}: {e:?}", p + 1));
            (p, out.e_tag().unwrap().to_string())
        });
    }
    while let Some(r) = inflight.join_next().await {
        let (n, e) = r.unwrap();
        etags[n as usize] = e;
    }
    let uploaded = t0.elapsed();
    for (n, m) in &checked_md5s {
        assert_eq!(etags[*n], format!("\"{}\"", hex::encode(m)), "part {} ETag", n + 1);
    }
    let part_md5s: Vec<[u8; 16]> = etags
        .iter()
        .map(|e| {
            hex::decode(e.trim_matches('"'))
                .ok()
                .and_then(|v| v.try_into().ok())
                .unwrap_or_else(|| panic!("part ETag {e:?} is not a quoted hex MD5"))
        })
        .collect();
    let distinct: std::collections::HashSet<_> = part_md5s.iter().collect();
    assert_eq!(
        distinct.len(),
        PARTS as usize,
        "distinct parts must have distinct ETags"
    );
    let refs: Vec<(i32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect();
    let out = complete(&s, &b, "big", &id, &refs).await.expect("complete 1 GiB");
    let expected_etag = multipart_etag_of_md5s(&part_md5s);
    assert_eq!(out.e_tag(), Some(expected_etag.as_str()));
    assert!(expected_etag.ends_with("-64\""));
    let expected_crc = crc.finalize();

    let total = PARTS * PART_MIB * MIB as u64;
    let h = s
        .client
        .head_object()
        .bucket(&b)
        .key("big")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(total as i64));
    if let Some(v) = h.checksum_crc64_nvme() {
        assert_eq!(
            v,
            b64(&expected_crc.to_be_bytes()),
            "default full-object CRC64NVME of the 1 GiB object"
        );
    }
    let mut g = s.client.get_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(g.content_length(), Some(total as i64));
    assert_eq!(g.e_tag(), Some(expected_etag.as_str()));
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut n = 0u64;
    // Compare the first bytes of every MiB against the generator as we go.
    let mut probe = Vec::with_capacity(MIB);
    while let Some(chunk) = g.body.try_next().await.expect("read 1 GiB body") {
        let mut off = 0usize;
        while off < chunk.len() {
            let pos = n + off as u64;
            let in_mib = (pos % MIB as u64) as usize;
            let take = (MIB - in_mib).min(chunk.len() - off);
            if in_mib == 0 && take >= 64 {
                probe.clear();
                datagen.mib(pos / MIB as u64, &mut probe);
                assert!(chunk[off..off + 64] == probe[..64], "data differs at offset {pos}");
            }
            off += take;
        }
        crc.update(&chunk);
        n += chunk.len() as u64;
    }
    assert_eq!(n, total);
    assert_eq!(crc.finalize(), expected_crc, "1 GiB body CRC64/NVME differs");
    // The object's blobs are its 64 parts.
    assert_eq!(count_files(&s.blobs_dir()), PARTS as usize);
    assert_eq!(dir_bytes(&s.blobs_dir()), total);
    eprintln!("1 GiB: uploaded in {uploaded:?}, total {:?}", t0.elapsed());
}
