//! The embedded engine's hot paths through its public API: writing a small
//! object (staging, then the commit: promotion of the data file and the
//! durable redb transaction), the redb commit alone, listing 10,000 keys in
//! pages of 1,000, and the sealed-file encryption.
//!
//! `cargo bench -p coffer-store --bench store`. Figures are in
//! docs/performance.md, "Micro-benchmarks (cargo bench)".
//!
//! Writes run in a data directory on the real disk (the system's temporary
//! directory), because what a commit costs is mostly its fsyncs. Listings
//! and lookups run on tmpfs (`/dev/shm`, when there is one) so that filling
//! the bucket with 10,000 objects takes seconds; they read pages the cache
//! holds either way.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use coffer_engine::{
    BucketRecord, ByteStream, Checksums, ContentHeaders, Engine, ListQuery, NULL_VERSION_ID, ObjectRecord,
    WriteCondition,
};
use coffer_store::Store;
use coffer_store::meta::Meta;
use coffer_store::sealed::{BlobKey, CHUNK_SEALED_BYTES, Opener, SALT_BYTES, Sealer, chunk_count, sealed_len};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use tempfile::TempDir;
use tokio::runtime::Runtime;

const BUCKET: &str = "bench";
/// Keys in the listed bucket, and the page size S3 clients ask for.
const LISTED_KEYS: usize = 10_000;
const PAGE: usize = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A data directory on the disk the system keeps temporary files on.
fn disk_dir() -> TempDir {
    tempfile::Builder::new().prefix("coffer-bench-").tempdir().unwrap()
}

/// A data directory in memory where the machine has tmpfs, else on disk.
fn memory_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("coffer-bench-").clone();
    if shm.is_dir() {
        builder.tempdir_in(shm).unwrap()
    } else {
        builder.tempdir().unwrap()
    }
}

fn bucket() -> BucketRecord {
    BucketRecord {
        name: BUCKET.to_owned(),
        owner: "owner".to_owned(),
        location: None,
        created: time::OffsetDateTime::now_utc(),
        versioning: None,
        object_lock_enabled: false,
        default_encryption: None,
        quota_bytes: None,
    }
}

/// A record as a PUT with default headers makes it: ETag, Content-Type and
/// the CRC64NVME checksum Coffer computes when a client names none.
fn object(key: &str, size: u64) -> ObjectRecord {
    ObjectRecord {
        key: key.to_owned(),
        version_id: NULL_VERSION_ID.to_owned(),
        size,
        etag: "9e107d9d372bb6826bd81d3542a419d6".to_owned(),
        last_modified: time::OffsetDateTime::now_utc(),
        owner: "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8".to_owned(),
        content: ContentHeaders {
            content_type: Some("application/octet-stream".to_owned()),
            ..Default::default()
        },
        user_metadata: Default::default(),
        checksums: Checksums {
            crc64nvme: Some("AAAAAAAAAAA=".to_owned()),
            checksum_type: Some("FULL_OBJECT".to_owned()),
            ..Default::default()
        },
        segments: Vec::new(),
        storage_class: None,
        tags: Default::default(),
        lock: None,
        encryption: None,
        delete_marker: false,
        acl: None,
    }
}

fn payload(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

fn body(bytes: &Bytes) -> ByteStream {
    futures::stream::iter([Ok(bytes.clone())]).boxed()
}

/// Keys never written before, so that every write is an insert.
fn fresh_key() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("objects/{:08}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Writing one object: `Engine::stage` of its body, then
/// `Engine::put_object`, the commit. `commit` times the commit alone (the
/// body staged beforehand), `stage_and_commit` both, as a PUT pays them.
fn write(c: &mut Criterion) {
    let rt = runtime();
    let dir = disk_dir();
    let store = Store::open(dir.path()).unwrap();
    rt.block_on(store.create_bucket(bucket())).unwrap();

    let mut group = c.benchmark_group("store_write");
    for len in [4usize << 10, 64 << 10] {
        let data = payload(len);
        let size = if len < 64 << 10 { "4KiB" } else { "64KiB" };
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("commit", size), &data, |b, data| {
            b.iter_batched(
                || rt.block_on(store.stage(body(data), None)).unwrap(),
                |staged| {
                    rt.block_on(store.put_object(
                        BUCKET,
                        object(&fresh_key(), len as u64),
                        staged,
                        WriteCondition::Always,
                    ))
                    .unwrap()
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_with_input(BenchmarkId::new("stage_and_commit", size), &data, |b, data| {
            b.iter(|| {
                rt.block_on(async {
                    let staged = store.stage(body(data), None).await.unwrap();
                    store
                        .put_object(BUCKET, object(&fresh_key(), len as u64), staged, WriteCondition::Always)
                        .await
                        .unwrap()
                })
            })
        });
    }
    group.finish();
    store.close().unwrap();
}

/// The durable redb transaction alone (`Meta::put_object`, one write per
/// batch), without a data file, on the same disk: what a metadata commit
/// costs. And a version's lookup (`Meta::object`), as every GET and HEAD makes
/// it on the request's task.
fn meta(c: &mut Criterion) {
    let rt = runtime();
    let dir = disk_dir();
    let meta = Meta::open(&dir.path().join("coffer.redb")).unwrap();
    rt.block_on(meta.create_bucket(&bucket())).unwrap();
    let mut group = c.benchmark_group("meta");
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_object", |b| {
        b.iter(|| {
            rt.block_on(meta.put_object(BUCKET, object(&fresh_key(), 4096), &WriteCondition::Always, None))
                .unwrap()
        })
    });
    let key = "lookup/object-00001.bin";
    rt.block_on(meta.put_object(BUCKET, object(key, 16), &WriteCondition::Always, None))
        .unwrap();
    group.bench_function("object_lookup", |b| {
        b.iter(|| black_box(meta.object(BUCKET, black_box(key), None).unwrap()))
    });
    group.finish();
}

/// A bucket of 10,000 objects: keys `dNNN/object-NNNNN.bin`, 100 to each of
/// 100 prefixes, so one listing with `/` as delimiter has 100 entries.
fn filled_store(rt: &Runtime) -> (TempDir, Store) {
    let dir = memory_dir();
    let store = Store::open(dir.path()).unwrap();
    let data = payload(16);
    rt.block_on(async {
        store.create_bucket(bucket()).await.unwrap();
        for i in 0..LISTED_KEYS {
            let key = format!("d{:03}/object-{i:05}.bin", i / 100);
            let staged = store.stage(body(&data), None).await.unwrap();
            store
                .put_object(BUCKET, object(&key, data.len() as u64), staged, WriteCondition::Always)
                .await
                .unwrap();
        }
    });
    (dir, store)
}

/// `Engine::list_objects` over the 10,000 keys: the first page of 1,000,
/// all ten pages one after the other (each starting after the last key of
/// the one before, as ListObjectsV2's continuation does), and the 100
/// common prefixes of a delimited listing; plus `Engine::object`, the
/// lookup every GET and HEAD starts with.
fn list(c: &mut Criterion) {
    let rt = runtime();
    // Filled on first use, so that a run filtered to other benches skips it.
    let filled = std::cell::OnceCell::new();
    let store = || &filled.get_or_init(|| filled_store(&rt)).1;
    let page = |start_after: Option<String>, delimiter: Option<&str>| ListQuery {
        prefix: String::new(),
        delimiter: delimiter.map(str::to_owned),
        start_after,
        max_keys: PAGE,
    };

    let mut group = c.benchmark_group("store_list");
    group.throughput(Throughput::Elements(PAGE as u64));
    group.bench_function("first_page_of_1000", |b| {
        let store = store();
        b.iter(|| {
            let listed = rt.block_on(store.list_objects(BUCKET, &page(None, None))).unwrap();
            assert_eq!(listed.entries.len(), PAGE);
            black_box(listed)
        })
    });
    group.throughput(Throughput::Elements(LISTED_KEYS as u64));
    group.bench_function("10000_keys_in_pages_of_1000", |b| {
        let store = store();
        b.iter(|| {
            let mut start_after = None;
            let mut listed = 0;
            loop {
                let page = rt
                    .block_on(store.list_objects(BUCKET, &page(start_after, None)))
                    .unwrap();
                listed += page.entries.len();
                start_after = page.entries.last().map(|entry| entry.sort_key().to_owned());
                if !page.truncated {
                    break;
                }
            }
            assert_eq!(listed, LISTED_KEYS);
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("100_common_prefixes", |b| {
        let store = store();
        b.iter(|| {
            let listed = rt.block_on(store.list_objects(BUCKET, &page(None, Some("/")))).unwrap();
            assert_eq!(listed.entries.len(), 100);
            black_box(listed)
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("object_lookup", |b| {
        let store = store();
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % LISTED_KEYS;
            let key = format!("d{:03}/object-{i:05}.bin", i / 100);
            black_box(rt.block_on(store.object(BUCKET, &key, None)).unwrap())
        })
    });
    group.finish();
    if let Some((dir, store)) = filled.into_inner() {
        store.close().unwrap();
        drop(dir);
    }
}

/// The sealed format (`sealed.rs`): sealing a body as staging does, opening
/// every chunk as a whole read does, and the per-file key derivation.
fn sealed(c: &mut Criterion) {
    let key = BlobKey::derive(&[7u8; 32], &[9u8; SALT_BYTES]);
    let mut group = c.benchmark_group("sealed");
    for len in [4usize << 10, 8 << 20] {
        let plain = payload(len);
        let size = if len < 1 << 20 { "4KiB" } else { "8MiB" };
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("seal", size), &plain, |b, plain| {
            b.iter(|| {
                let mut sealer = Sealer::new(&key);
                let mut out = BytesMut::with_capacity(sealed_len(plain.len() as u64) as usize);
                // Bodies arrive in pieces; staging feeds each as it comes.
                for piece in plain.chunks(64 << 10) {
                    sealer.update(piece, &mut out);
                }
                sealer.finish(&mut out);
                black_box(out)
            })
        });
        let mut sealed = BytesMut::new();
        let mut sealer = Sealer::new(&key);
        sealer.update(&plain, &mut sealed);
        sealer.finish(&mut sealed);
        let chunks = chunk_count(len as u64);
        group.bench_with_input(BenchmarkId::new("open", size), &sealed, |b, sealed| {
            b.iter_batched_ref(
                || sealed.to_vec(),
                |buffer| {
                    let opener = Opener::new(&key);
                    for (index, chunk) in buffer.chunks_mut(CHUNK_SEALED_BYTES).enumerate() {
                        let index = index as u64;
                        black_box(opener.open_chunk(index, index + 1 == chunks, chunk).unwrap());
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("derive_key", |b| {
        b.iter(|| BlobKey::derive(black_box(&[7u8; 32]), black_box(&[9u8; SALT_BYTES])))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: the whole suite must stay within a couple of minutes on
    // a 2-core machine. `--measurement-time` and `--quick` still apply.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500));
    targets = write, meta, list, sealed
}
criterion_main!(benches);
