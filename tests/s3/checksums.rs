//! Integrity: x-amz-checksum-* (header and trailer), Content-MD5, and a
//! 100 MiB streamed upload.

use std::io::Write;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use md5::{Digest as _, Md5};

use crate::common::*;

const HELLO: &[u8] = b"hello world";
// Known-answer values for "hello world".
const CRC32: &str = "DUoRhQ==";
const CRC32C: &str = "yZRlqg==";
const CRC64NVME: &str = "jSnVw/bqjr4=";
const SHA1: &str = "Kq5sNclPz7QV2+lfQIuc6R7oRu0=";
const SHA256: &str = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";

#[derive(Clone, Copy, Debug)]
enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

const ALL: [Algo; 5] = [Algo::Crc32, Algo::Crc32c, Algo::Crc64Nvme, Algo::Sha1, Algo::Sha256];

impl Algo {
    fn expected(self) -> &'static str {
        match self {
            Algo::Crc32 => CRC32,
            Algo::Crc32c => CRC32C,
            Algo::Crc64Nvme => CRC64NVME,
            Algo::Sha1 => SHA1,
            Algo::Sha256 => SHA256,
        }
    }
    /// A well-formed but wrong value of the right length.
    fn wrong(self) -> &'static str {
        match self {
            Algo::Crc32 | Algo::Crc32c => "AAAAAA==",
            Algo::Crc64Nvme => "AAAAAAAAAAA=",
            Algo::Sha1 => "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            Algo::Sha256 => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
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
    fn header(self) -> &'static str {
        match self {
            Algo::Crc32 => "x-amz-checksum-crc32",
            Algo::Crc32c => "x-amz-checksum-crc32c",
            Algo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algo::Sha1 => "x-amz-checksum-sha1",
            Algo::Sha256 => "x-amz-checksum-sha256",
        }
    }
}

fn put_with_value(
    s: &Server,
    b: &str,
    k: &str,
    algo: Algo,
    value: &str,
    body: &'static [u8],
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    let req = s
        .client
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(body));
    match algo {
        Algo::Crc32 => req.checksum_crc32(value),
        Algo::Crc32c => req.checksum_crc32_c(value),
        Algo::Crc64Nvme => req.checksum_crc64_nvme(value),
        Algo::Sha1 => req.checksum_sha1(value),
        Algo::Sha256 => req.checksum_sha256(value),
    }
}

fn get_value(
    algo: Algo,
    crc32: Option<&str>,
    crc32c: Option<&str>,
    crc64: Option<&str>,
    sha1: Option<&str>,
    sha256: Option<&str>,
) -> Option<String> {
    match algo {
        Algo::Crc32 => crc32,
        Algo::Crc32c => crc32c,
        Algo::Crc64Nvme => crc64,
        Algo::Sha1 => sha1,
        Algo::Sha256 => sha256,
    }
    .map(String::from)
}

#[tokio::test]
async fn checksum_headers_verified_and_returned() {
    let s = Server::start().await;
    let b = s.new_bucket("cksum").await;
    for algo in ALL {
        let key = format!("hdr-{algo:?}");
        let out = put_with_value(&s, &b, &key, algo, algo.expected(), HELLO)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{algo:?}: put with correct checksum failed: {e:?}"));
        assert_eq!(out.e_tag(), Some(quoted_md5(HELLO).as_str()));
        let echoed = get_value(
            algo,
            out.checksum_crc32(),
            out.checksum_crc32_c(),
            out.checksum_crc64_nvme(),
            out.checksum_sha1(),
            out.checksum_sha256(),
        );
        assert_eq!(
            echoed.as_deref(),
            Some(algo.expected()),
            "{algo:?}: PutObject response checksum"
        );

        let head = s
            .client
            .head_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let v = get_value(
            algo,
            head.checksum_crc32(),
            head.checksum_crc32_c(),
            head.checksum_crc64_nvme(),
            head.checksum_sha1(),
            head.checksum_sha256(),
        );
        assert_eq!(v.as_deref(), Some(algo.expected()), "{algo:?}: HeadObject checksum");

        let get = s
            .client
            .get_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let v = get_value(
            algo,
            get.checksum_crc32(),
            get.checksum_crc32_c(),
            get.checksum_crc64_nvme(),
            get.checksum_sha1(),
            get.checksum_sha256(),
        );
        assert_eq!(v.as_deref(), Some(algo.expected()), "{algo:?}: GetObject checksum");
        assert_eq!(get.body.collect().await.unwrap().into_bytes().as_ref(), HELLO);

        // Raw HEAD with x-amz-checksum-mode: ENABLED.
        let r = s.signed(
            "HEAD",
            &format!("/{b}/{key}"),
            &[],
            &[("x-amz-checksum-mode", "ENABLED")],
            b"",
        );
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.header(algo.header()), Some(algo.expected()), "{algo:?}: {r}");
        // Without checksum mode, S3 does not return the checksum.
        let r = s.signed("HEAD", &format!("/{b}/{key}"), &[], &[], b"");
        assert_eq!(r.status, 200, "{r}");
        assert!(
            r.header(algo.header()).is_none(),
            "{algo:?}: checksum returned without x-amz-checksum-mode: {r}"
        );
    }
}

#[tokio::test]
async fn checksum_header_mismatch_is_bad_digest() {
    let s = Server::start().await;
    let b = s.new_bucket("badcksum").await;
    s.put(&b, "existing", "keep me").await;
    for algo in ALL {
        let key = format!("bad-{algo:?}");
        let r = put_with_value(&s, &b, &key, algo, algo.wrong(), HELLO).send().await;
        expect_err(r, 400, "BadDigest");
        expect_err(s.client.head_object().bucket(&b).key(&key).send().await, 404, "");
        // Overwrite with a bad checksum leaves the old object in place.
        let r = put_with_value(&s, &b, "existing", algo, algo.wrong(), HELLO)
            .send()
            .await;
        expect_err(r, 400, "BadDigest");
        assert_eq!(s.get(&b, "existing").await, b"keep me", "{algo:?}");
    }
    // Raw request too: full S3 error XML.
    let r = s.signed(
        "PUT",
        &format!("/{b}/raw"),
        &[],
        &[("x-amz-checksum-sha256", Algo::Sha256.wrong())],
        HELLO,
    );
    r.assert_s3_error(400, "BadDigest");
    let r = s.signed(
        "PUT",
        &format!("/{b}/raw"),
        &[],
        &[("x-amz-checksum-sha256", &sha256_b64(HELLO))],
        HELLO,
    );
    assert_eq!(r.status, 200, "{r}");
    let list = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["existing", "raw"]);
    let tmp = s.tmp_dir();
    assert!(
        eventually(std::time::Duration::from_secs(5), || count_files(&tmp) == 0).await,
        "{:?}",
        list_files(&tmp)
    );
}

#[tokio::test]
async fn checksum_trailers_computed_by_sdk() {
    let s = Server::start().await;
    let b = s.new_bucket("trailers").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.txt");
    std::fs::write(&path, HELLO).unwrap();
    for algo in ALL {
        let key = format!("trl-{algo:?}");
        s.client
            .put_object()
            .bucket(&b)
            .key(&key)
            .checksum_algorithm(algo.sdk())
            .body(ByteStream::from_path(&path).await.unwrap())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{algo:?}: trailer upload failed: {e:?}"));
        let head = s
            .client
            .head_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let v = get_value(
            algo,
            head.checksum_crc32(),
            head.checksum_crc32_c(),
            head.checksum_crc64_nvme(),
            head.checksum_sha1(),
            head.checksum_sha256(),
        );
        assert_eq!(v.as_deref(), Some(algo.expected()), "{algo:?}: stored trailer checksum");
        assert_eq!(s.get(&b, &key).await, HELLO);
    }
}

#[tokio::test]
async fn content_md5() {
    let s = Server::start().await;
    let b = s.new_bucket("md5").await;
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("ok")
        .content_md5(md5_b64(HELLO))
        .body(ByteStream::from_static(HELLO))
        .send()
        .await
        .expect("correct Content-MD5");
    assert_eq!(out.e_tag(), Some(quoted_md5(HELLO).as_str()));

    // Valid base64 of 16 bytes, but wrong digest -> BadDigest.
    let wrong = md5_b64(b"something else");
    let r = s
        .client
        .put_object()
        .bucket(&b)
        .key("bad")
        .content_md5(&wrong)
        .body(ByteStream::from_static(HELLO))
        .send()
        .await;
    expect_err(r, 400, "BadDigest");
    expect_err(s.client.head_object().bucket(&b).key("bad").send().await, 404, "");

    // Not base64 / not 16 bytes -> InvalidDigest.
    for bad in ["not-base64!!", &b64(b"short"), &b64(&[0u8; 17])] {
        let r = s.signed("PUT", &format!("/{b}/invalid"), &[], &[("Content-MD5", bad)], HELLO);
        r.assert_s3_error(400, "InvalidDigest");
    }
    let r = s.signed("PUT", &format!("/{b}/bad2"), &[], &[("Content-MD5", &wrong)], HELLO);
    r.assert_s3_error(400, "BadDigest");
    let list = s.client.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["ok"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_object_100mib_crc32c() {
    const SIZE: usize = 100 * 1024 * 1024;
    let s = Server::start().await;
    let b = s.new_bucket("large").await;
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.bin");
    let mut md5 = Md5::new();
    let mut crc = Crc32::castagnoli();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let block = 4 * 1024 * 1024;
        for i in 0..(SIZE / block) {
            let chunk = pseudo_random_bytes(0xC0FFEE + i as u64, block);
            md5.update(&chunk);
            crc.update(&chunk);
            f.write_all(&chunk).unwrap();
        }
        f.flush().unwrap();
    }
    let md5_hex = hex::encode(md5.finalize());
    let crc_b64 = crc.b64();
    eprintln!("generated 100 MiB in {:?}", t0.elapsed());

    let t1 = Instant::now();
    let out = s
        .client
        .put_object()
        .bucket(&b)
        .key("big/object.bin")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("100 MiB put");
    eprintln!("uploaded 100 MiB in {:?}", t1.elapsed());
    assert_eq!(out.e_tag(), Some(format!("\"{md5_hex}\"").as_str()));
    assert_eq!(out.checksum_crc32_c(), Some(crc_b64.as_str()));

    let head = s
        .client
        .head_object()
        .bucket(&b)
        .key("big/object.bin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(SIZE as i64));
    assert_eq!(head.checksum_crc32_c(), Some(crc_b64.as_str()));

    let t2 = Instant::now();
    let mut get = s
        .client
        .get_object()
        .bucket(&b)
        .key("big/object.bin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("100 MiB get");
    assert_eq!(get.e_tag(), Some(format!("\"{md5_hex}\"").as_str()));
    assert_eq!(get.checksum_crc32_c(), Some(crc_b64.as_str()));
    assert_eq!(get.content_length(), Some(SIZE as i64));
    let mut md5 = Md5::new();
    let mut crc = Crc32::castagnoli();
    let mut n = 0usize;
    while let Some(chunk) = get.body.try_next().await.expect("read body") {
        md5.update(&chunk);
        crc.update(&chunk);
        n += chunk.len();
    }
    eprintln!("downloaded 100 MiB in {:?}", t2.elapsed());
    assert_eq!(n, SIZE);
    assert_eq!(hex::encode(md5.finalize()), md5_hex);
    assert_eq!(crc.b64(), crc_b64);

    // A ranged read from the middle.
    let r = s.signed(
        "GET",
        &format!("/{b}/big/object.bin"),
        &[],
        &[("Range", "bytes=52428800-52428899")],
        b"",
    );
    assert_eq!(r.status, 206, "{}", r.status);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 52428800-52428899/{SIZE}").as_str())
    );
    let block = 4 * 1024 * 1024;
    let i = 52428800 / block;
    let off = 52428800 % block;
    let expected = pseudo_random_bytes(0xC0FFEE + i as u64, block);
    assert!(r.body == expected[off..off + 100]);
}
