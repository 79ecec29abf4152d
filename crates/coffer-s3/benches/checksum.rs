//! Body hashing on the PUT path: `checksum::BodyHasher` (MD5 for the ETag
//! plus the one checksum algorithm a request declares) over 4 KiB and 8 MiB
//! bodies, and each hash it can run on its own: MD5 from AWS-LC (`src/hashing/`,
//! what a PUT runs) beside s3s's pure-Rust one, the others from `s3s::crypto`;
//! and MD5 of several bodies side by side in the lanes of the vector kernel
//! (`src/hashing/md5_lanes.rs`), and SHA-256 of several bodies interleaved
//! (`src/hashing/sha256_ni.rs`), which large PUTs arriving together share.
//!
//! `cargo bench -p coffer-s3 --bench checksum`. Figures are in
//! docs/performance.md, "Micro-benchmarks (cargo bench)".

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};

/// The crate's own `src/checksum.rs`, compiled into this bench: its
/// `BodyHasher` is private to coffer-s3, and this measures the very code a
/// PUT runs rather than a copy of it.
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../src/checksum.rs"]
mod checksum;

/// The crate's hashes, which `checksum.rs` reaches as `crate::hashing`. Its unit
/// tests' helpers come along, unused: a bench runs no `#[test]`.
#[allow(dead_code, unused_imports)]
#[path = "../src/hashing/mod.rs"]
mod hashing;

use checksum::{Algorithm, BodyHasher};

const SMALL: usize = 4 << 10;
const LARGE: usize = 8 << 20;
/// How the large body arrives: hyper hands a body over in pieces of what
/// each socket read returned; 64 KiB is a typical one on loopback.
const CHUNK: usize = 64 << 10;

fn body(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The body as the chunks a request stream carries.
fn chunks(body: &Bytes) -> Vec<Bytes> {
    (0..body.len())
        .step_by(CHUNK)
        .map(|start| body.slice(start..(start + CHUNK).min(body.len())))
        .collect()
}

/// `BodyHasher::wrap` over the body's stream, drained, then `finish`: what a
/// PUT pays in hashing, outside the storage write.
fn body_hasher(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("body_hasher");
    let cases = [
        ("md5+crc64nvme", Algorithm::Crc64Nvme),
        ("md5+crc32c", Algorithm::Crc32c),
        ("md5+sha256", Algorithm::Sha256),
    ];
    for len in [SMALL, LARGE] {
        let pieces = chunks(&body(len));
        group.throughput(Throughput::Bytes(len as u64));
        for (name, algorithm) in cases {
            group.bench_with_input(BenchmarkId::new(name, size_name(len)), &pieces, |b, pieces| {
                b.iter(|| {
                    let hasher = BodyHasher::new(&[algorithm], None);
                    let stream = futures::stream::iter(pieces.clone().into_iter().map(Ok)).boxed();
                    let mut wrapped = hasher.wrap(stream);
                    runtime.block_on(async {
                        while let Some(chunk) = wrapped.next().await {
                            black_box(chunk.unwrap());
                        }
                    });
                    drop(wrapped);
                    black_box(runtime.block_on(hasher.finish()))
                })
            });
        }
    }
    group.finish();
}

/// Each hash alone over one buffer: where BodyHasher's time goes.
fn hashes(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash");
    for len in [SMALL, LARGE] {
        let data = body(len);
        group.throughput(Throughput::Bytes(len as u64));
        let size = size_name(len);
        group.bench_with_input(BenchmarkId::new("md5", size), &data, |b, data| {
            b.iter(|| black_box(hashing::Md5::checksum(data)))
        });
        group.bench_with_input(BenchmarkId::new("md5_s3s", size), &data, |b, data| {
            b.iter(|| black_box(s3s::crypto::Md5::checksum(data)))
        });
        group.bench_with_input(BenchmarkId::new("sha256", size), &data, |b, data| {
            b.iter(|| black_box(Sha256::checksum(data)))
        });
        group.bench_with_input(BenchmarkId::new("sha1", size), &data, |b, data| {
            b.iter(|| black_box(Sha1::checksum(data)))
        });
        group.bench_with_input(BenchmarkId::new("crc32c", size), &data, |b, data| {
            b.iter(|| black_box(Crc32c::checksum(data)))
        });
        group.bench_with_input(BenchmarkId::new("crc32", size), &data, |b, data| {
            b.iter(|| black_box(Crc32::checksum(data)))
        });
        group.bench_with_input(BenchmarkId::new("crc64nvme", size), &data, |b, data| {
            b.iter(|| black_box(Crc64Nvme::checksum(data)))
        });
    }
    group.finish();
}

/// 8 MiB hashed as one body by AWS-LC, and as eight and as four bodies in
/// the kernel's lanes (four leave half the lanes idle).
fn lanes(c: &mut Criterion) {
    let Some(kernel) = hashing::md5_lanes::kernel() else {
        return;
    };
    let mut group = c.benchmark_group("md5_lanes");
    let data = body(LARGE);
    group.throughput(Throughput::Bytes(LARGE as u64));
    group.bench_function("aws_lc_one_body", |b| {
        b.iter(|| black_box(hashing::Md5::checksum(&data)))
    });
    for bodies in [4, 8] {
        let len = LARGE / bodies;
        group.bench_function(format!("kernel_{bodies}_bodies"), |b| {
            b.iter(|| {
                let mut states = [[0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]; hashing::md5_lanes::LANES];
                let lanes = std::array::from_fn(|lane| &data[(lane % bodies) * len..][..len]);
                kernel.md5(&mut states, lanes, len / 64);
                black_box(states)
            })
        });
    }
    group.finish();
}

/// 8 MiB hashed with SHA-256 as one body by AWS-LC, and as one to four
/// bodies by `sha256_ni::compress` (one goes to AWS-LC's block function,
/// four as three interleaved and one).
fn sha256_interleaved(c: &mut Criterion) {
    if !hashing::sha256_ni::available() {
        return;
    }
    let mut group = c.benchmark_group("sha256_ni");
    let data = body(LARGE);
    group.throughput(Throughput::Bytes(LARGE as u64));
    group.bench_function("aws_lc_one_body", |b| {
        b.iter(|| black_box(hashing::Sha256::checksum(&data)))
    });
    for bodies in [1, 2, 3, 4] {
        let len = LARGE / bodies / 64 * 64;
        // Each body in an allocation of its own, as requests' chunks are.
        let copies: Vec<Vec<u8>> = (0..bodies).map(|body| data[body * len..][..len].to_vec()).collect();
        group.bench_function(format!("kernel_{bodies}_bodies"), |b| {
            b.iter(|| {
                let mut states = vec![[0u32; 8]; bodies];
                let slices: Vec<&[u8]> = copies.iter().map(Vec::as_slice).collect();
                let mut refs: Vec<&mut [u32; 8]> = states.iter_mut().collect();
                hashing::sha256_ni::compress(&mut refs, &slices, len / 64);
                black_box(states)
            })
        });
    }
    group.finish();
}

/// 8 MiB as three and as four bodies, each hashed with MD5 in the lanes
/// and with SHA-256, as a round of signed PUTs hashes them: one pass after
/// the other, and the SHA-256s run between the MD5 steps.
fn md5_and_sha256(c: &mut Criterion) {
    let Some(kernel) = hashing::md5_lanes::kernel() else {
        return;
    };
    if !hashing::sha256_ni::available() {
        return;
    }
    let mut group = c.benchmark_group("md5_and_sha256");
    let data = body(LARGE);
    group.throughput(Throughput::Bytes(LARGE as u64));
    for bodies in [3, 4] {
        let len = LARGE / bodies / 64 * 64;
        let copies: Vec<Vec<u8>> = (0..bodies).map(|body| data[body * len..][..len].to_vec()).collect();
        for beside in [false, true] {
            let name = if beside { "beside" } else { "one_after_the_other" };
            group.bench_function(format!("{name}_{bodies}_bodies"), |b| {
                b.iter(|| {
                    let mut states = [[0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]; hashing::md5_lanes::LANES];
                    let lanes = std::array::from_fn(|lane| &copies[lane % bodies][..]);
                    let mut sha256_states = vec![[0u32; 8]; bodies];
                    let slices: Vec<&[u8]> = copies.iter().map(Vec::as_slice).collect();
                    let mut refs: Vec<&mut [u32; 8]> = sha256_states.iter_mut().collect();
                    if beside {
                        kernel.md5_and_sha256(&mut states, lanes, &mut refs, &slices, len / 64);
                    } else {
                        kernel.md5(&mut states, lanes, len / 64);
                        hashing::sha256_ni::compress(&mut refs, &slices, len / 64);
                    }
                    black_box((states, sha256_states))
                })
            });
        }
    }
    group.finish();
}

fn size_name(len: usize) -> &'static str {
    match len {
        SMALL => "4KiB",
        LARGE => "8MiB",
        _ => unreachable!("only the two sizes above"),
    }
}

criterion_group! {
    name = benches;
    // Short runs: the whole suite must stay within a couple of minutes on
    // a 2-core machine. `--measurement-time` and `--quick` still apply.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
    targets = body_hasher, hashes, lanes, sha256_interleaved, md5_and_sha256
}
criterion_main!(benches);
