//! Sealed data files through `Blobs`: stage with a key, promote, open ranges.
//! Every plaintext byte range must come back exactly, and any change to the
//! file (a flipped bit, a lost or moved chunk) or a wrong key must fail with
//! `InvalidData` rather than return bytes.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use coffer_engine::{ByteRange, ByteStream, EngineError, NULL_VERSION_ID, ObjectRecord, Segment};
use coffer_store::blobs::Blobs;
use coffer_store::layout::Layout;
use coffer_store::sealed::{BlobKey, CHUNK_PLAIN_BYTES, CHUNK_SEALED_BYTES, new_salt, sealed_len};
use futures::{StreamExt, TryStreamExt};

const CHUNK: u64 = CHUNK_PLAIN_BYTES as u64;
const SEALED_CHUNK: u64 = CHUNK_SEALED_BYTES as u64;
const BASE_KEY: [u8; 32] = [0x42; 32];

struct Fixture {
    _dir: tempfile::TempDir,
    layout: Layout,
    blobs: Blobs,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let blobs = Blobs::new(layout.clone());
    Fixture {
        _dir: dir,
        layout,
        blobs,
    }
}

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn plaintext(len: u64) -> Vec<u8> {
    let mut rng = Rng(len ^ 0x9e37_79b9_7f4a_7c15);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// The body in uneven pieces, some empty, some spanning chunk boundaries.
fn body(plain: &[u8]) -> ByteStream {
    let mut pieces = Vec::new();
    let mut rest = Bytes::copy_from_slice(plain);
    let sizes = [1, 0, 1000, CHUNK_PLAIN_BYTES, 3, 200_000, CHUNK_PLAIN_BYTES - 1];
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        pieces.push(Ok(rest.split_to((*size).min(rest.len()))));
    }
    futures::stream::iter(pieces).boxed()
}

fn record(segments: Vec<Segment>) -> ObjectRecord {
    ObjectRecord {
        key: "key".to_owned(),
        version_id: NULL_VERSION_ID.to_owned(),
        size: segments.iter().map(|segment| segment.size).sum(),
        etag: "etag".to_owned(),
        last_modified: time::OffsetDateTime::now_utc(),
        owner: "owner".to_owned(),
        content: Default::default(),
        user_metadata: Default::default(),
        checksums: Default::default(),
        segments,
        storage_class: None,
        tags: Default::default(),
        lock: None,
        encryption: None,
        delete_marker: false,
        acl: None,
    }
}

/// Stages `plain` (sealed under `key` if given) and moves it into `blobs/`.
async fn store(fx: &Fixture, plain: &[u8], key: Option<&BlobKey>) -> Segment {
    let staged = fx.blobs.stage(body(plain), key).await.unwrap();
    assert_eq!(staged.size(), plain.len() as u64);
    fx.blobs.promote(staged).unwrap().segment()
}

/// Reads `range` of `object`, each segment opened with the key `keys` gives
/// it; an error from `open` and one from the stream come back alike.
async fn read(
    fx: &Fixture,
    object: &ObjectRecord,
    range: Option<(u64, u64)>,
    keys: impl FnMut(&Segment) -> Option<BlobKey>,
) -> io::Result<Vec<u8>> {
    let range = range.map(|(first, end)| ByteRange { first, end });
    let stream = match fx.blobs.open(object, range, keys).await {
        Ok(stream) => stream,
        Err(EngineError::Io(err)) => return Err(err),
        Err(other) => panic!("unexpected error opening: {other}"),
    };
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    assert!(
        chunks.iter().all(|chunk| !chunk.is_empty()),
        "the stream yielded an empty chunk"
    );
    Ok(chunks.concat())
}

fn assert_invalid_data(result: io::Result<Vec<u8>>, what: &str) {
    match result {
        Ok(bytes) => panic!("{what}: read {} bytes instead of failing", bytes.len()),
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}: {err}"),
    }
}

fn key(salt: &[u8]) -> BlobKey {
    BlobKey::derive(&BASE_KEY, salt)
}

fn sizes() -> [u64; 6] {
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, (3 << 20) + 17]
}

#[tokio::test]
async fn round_trip_whole_objects() {
    let fx = fixture();
    for size in sizes() {
        let plain = plaintext(size);
        let salt = new_salt().unwrap();
        let segment = store(&fx, &plain, Some(&key(&salt))).await;
        assert_eq!(segment.size, size, "the segment records the plaintext size");
        let file = std::fs::read(fx.layout.blob_file(&segment.blob)).unwrap();
        assert_eq!(file.len() as u64, sealed_len(size), "size {size}");
        if size >= 16 {
            assert!(
                !file.windows(16).any(|window| window == &plain[..16]),
                "size {size}: plaintext found in the file"
            );
        }
        let object = record(vec![segment]);
        // A key derived anew from the same base key and salt opens the file.
        let read_back = read(&fx, &object, None, |_| Some(key(&salt))).await.unwrap();
        assert!(read_back == plain, "size {size}: whole object differs");
    }
}

#[tokio::test]
async fn every_range_of_small_objects() {
    let fx = fixture();
    for size in 0..=40u64 {
        let plain = plaintext(size);
        let blob_key = key(&new_salt().unwrap());
        let object = record(vec![store(&fx, &plain, Some(&blob_key)).await]);
        for first in 0..=size {
            for end in first..=size {
                let got = read(&fx, &object, Some((first, end)), |_| Some(blob_key.clone()))
                    .await
                    .unwrap();
                assert!(
                    got == plain[first as usize..end as usize],
                    "size {size}, range {first}..{end}"
                );
            }
        }
    }
}

#[tokio::test]
async fn ranges_around_chunk_boundaries() {
    let fx = fixture();
    let size = 2 * CHUNK + 5;
    let plain = plaintext(size);
    let blob_key = key(&new_salt().unwrap());
    let object = record(vec![store(&fx, &plain, Some(&blob_key)).await]);
    let points = [
        0,
        1,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK - 1,
        2 * CHUNK,
        2 * CHUNK + 1,
        size - 1,
        size,
    ];
    for first in points {
        for end in points.into_iter().filter(|end| *end >= first) {
            let got = read(&fx, &object, Some((first, end)), |_| Some(blob_key.clone()))
                .await
                .unwrap();
            assert!(got == plain[first as usize..end as usize], "range {first}..{end}");
        }
    }
}

#[tokio::test]
async fn random_ranges_of_large_objects() {
    let fx = fixture();
    let mut rng = Rng(7);
    for size in [CHUNK + 1, (3 << 20) + 17] {
        let plain = plaintext(size);
        let blob_key = key(&new_salt().unwrap());
        let object = record(vec![store(&fx, &plain, Some(&blob_key)).await]);
        for round in 0..120 {
            // Most ranges are short (read in the opening call), some long
            // (streamed): few, as unoptimized test builds decrypt slowly.
            let first = rng.below(size + 1);
            let end = if round % 8 != 0 {
                (first + rng.below(3 * CHUNK)).min(size)
            } else {
                first + rng.below(size - first + 1)
            };
            let got = read(&fx, &object, Some((first, end)), |_| Some(blob_key.clone()))
                .await
                .unwrap();
            assert!(
                got == plain[first as usize..end as usize],
                "size {size}, range {first}..{end}"
            );
        }
    }
}

#[tokio::test]
async fn ranges_across_sealed_plain_and_empty_segments() {
    let fx = fixture();
    let parts = [
        plaintext(CHUNK + 3),
        plaintext(0),
        plaintext(1000),
        plaintext(5 * CHUNK + 1),
    ];
    // Sealed, sealed and empty, plain, sealed: each sealed one under its own key.
    let keys: Vec<Option<BlobKey>> = vec![
        Some(key(&new_salt().unwrap())),
        Some(key(&new_salt().unwrap())),
        None,
        Some(key(&new_salt().unwrap())),
    ];
    let mut segments = Vec::new();
    for (part, key) in parts.iter().zip(&keys) {
        segments.push(store(&fx, part, key.as_ref()).await);
    }
    let key_of = |segment: &Segment| {
        let at = segments.iter().position(|s| s.blob == segment.blob).unwrap();
        keys[at].clone()
    };
    let object = record(segments.clone());
    let plain = parts.concat();
    let size = plain.len() as u64;
    let mut rng = Rng(11);
    for round in 0..100 {
        let first = rng.below(size + 1);
        let end = if round % 2 == 0 {
            (first + rng.below(2 * CHUNK)).min(size)
        } else {
            first + rng.below(size - first + 1)
        };
        let got = read(&fx, &object, Some((first, end)), key_of).await.unwrap();
        assert!(got == plain[first as usize..end as usize], "range {first}..{end}");
    }
    assert!(read(&fx, &object, None, key_of).await.unwrap() == plain);
}

/// Stores a sealed object of `size` bytes, lets `damage` change its file,
/// and returns the reads of the whole object and of a small range at `probe`.
async fn read_after<F>(size: u64, probe: u64, damage: F) -> (io::Result<Vec<u8>>, io::Result<Vec<u8>>)
where
    F: FnOnce(&std::fs::File),
{
    let fx = fixture();
    let blob_key = key(&new_salt().unwrap());
    let segment = store(&fx, &plaintext(size), Some(&blob_key)).await;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(fx.layout.blob_file(&segment.blob))
        .unwrap();
    damage(&file);
    let object = record(vec![segment]);
    let whole = read(&fx, &object, None, |_| Some(blob_key.clone())).await;
    let small = read(&fx, &object, Some((probe, probe + 1)), |_| Some(blob_key.clone())).await;
    (whole, small)
}

#[tokio::test]
async fn a_flipped_bit_anywhere_fails() {
    let size = 3 * CHUNK + 100;
    let places = [
        ("first byte", 0, 0),
        ("tag of chunk 0", SEALED_CHUNK - 1, 10),
        ("middle of chunk 1", SEALED_CHUNK + 500, SEALED_CHUNK + 500),
        ("last chunk", 3 * SEALED_CHUNK + 7, 3 * CHUNK + 7),
        ("last byte", sealed_len(size) - 1, size - 1),
    ];
    for (what, at, probe) in places {
        let (whole, small) = read_after(size, probe, |file| {
            let mut byte = [0u8];
            file.read_exact_at(&mut byte, at).unwrap();
            file.write_all_at(&[byte[0] ^ 0x01], at).unwrap();
        })
        .await;
        assert_invalid_data(whole, what);
        assert_invalid_data(small, what);
    }
}

#[tokio::test]
async fn a_lost_chunk_fails() {
    let size = 3 * CHUNK;
    let (whole, small) = read_after(size, 0, |file| file.set_len(sealed_len(size) - SEALED_CHUNK).unwrap()).await;
    assert_invalid_data(whole, "file cut by one chunk");
    assert_invalid_data(small, "file cut by one chunk");
}

#[tokio::test]
async fn a_file_cut_at_a_chunk_boundary_fails_even_if_its_length_fits_the_record() {
    // The file of a 2 chunks + 1 byte object cut after its second chunk,
    // read as if the record said 2 chunks: the lengths agree, and only the
    // final-chunk flag tells that chunk 1 was not the end.
    let fx = fixture();
    let blob_key = key(&new_salt().unwrap());
    let mut segment = store(&fx, &plaintext(2 * CHUNK + 1), Some(&blob_key)).await;
    let path = fx.layout.blob_file(&segment.blob);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(2 * SEALED_CHUNK)
        .unwrap();
    segment.size = 2 * CHUNK;
    let object = record(vec![segment]);
    assert_invalid_data(read(&fx, &object, None, |_| Some(blob_key.clone())).await, "whole");
    assert_invalid_data(
        read(&fx, &object, Some((2 * CHUNK - 1, 2 * CHUNK)), |_| {
            Some(blob_key.clone())
        })
        .await,
        "last byte",
    );
    // The chunk before it, read alone, is intact.
    assert!(
        read(&fx, &object, Some((0, 10)), |_| Some(blob_key.clone()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn swapped_chunks_fail() {
    let size = 3 * CHUNK + 100;
    let (whole, small) = read_after(size, 5, |file| {
        let mut first = vec![0u8; CHUNK_SEALED_BYTES];
        let mut second = vec![0u8; CHUNK_SEALED_BYTES];
        file.read_exact_at(&mut first, 0).unwrap();
        file.read_exact_at(&mut second, SEALED_CHUNK).unwrap();
        file.write_all_at(&second, 0).unwrap();
        file.write_all_at(&first, SEALED_CHUNK).unwrap();
    })
    .await;
    assert_invalid_data(whole, "chunks 0 and 1 swapped");
    assert_invalid_data(small, "chunks 0 and 1 swapped");
}

#[tokio::test]
async fn a_wrong_key_fails() {
    let fx = fixture();
    let salt = new_salt().unwrap();
    for size in sizes() {
        let object = record(vec![store(&fx, &plaintext(size), Some(&key(&salt))).await]);
        let other_salt = key(&new_salt().unwrap());
        let other_base = BlobKey::derive(&[0x43; 32], &salt);
        for (what, wrong) in [("other salt", other_salt), ("other base key", other_base)] {
            let whole = read(&fx, &object, None, |_| Some(wrong.clone())).await;
            assert_invalid_data(whole, &format!("size {size}, {what}"));
        }
    }
}

#[tokio::test]
async fn a_streamed_read_fails_in_the_stream_after_good_bytes() {
    // A long read is streamed: the damage in its last chunk is found only
    // after the chunks before it were handed out.
    let fx = fixture();
    let size = 3 << 20;
    let blob_key = key(&new_salt().unwrap());
    let segment = store(&fx, &plaintext(size), Some(&blob_key)).await;
    let file = OpenOptions::new()
        .write(true)
        .open(fx.layout.blob_file(&segment.blob))
        .unwrap();
    file.write_all_at(b"X", sealed_len(size) - 20).unwrap();
    let object = record(vec![segment]);
    let mut stream = fx.blobs.open(&object, None, |_| Some(blob_key.clone())).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 4 * CHUNK_PLAIN_BYTES);
    let err = stream.try_for_each(|_| async { Ok(()) }).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn plain_blobs_are_unchanged() {
    let fx = fixture();
    let plain = plaintext(CHUNK + 3);
    let segment = store(&fx, &plain, None).await;
    assert_eq!(std::fs::read(fx.layout.blob_file(&segment.blob)).unwrap(), plain);
    let object = record(vec![segment]);
    assert!(read(&fx, &object, Some((10, CHUNK + 1)), |_| None).await.unwrap() == plain[10..CHUNK as usize + 1]);
}
