//! Checking stored bytes against the checksums recorded when they were
//! written, as they are read: a data file that rotted on disk fails its read
//! instead of reaching a client (or a copy) as if it were whole. Every data
//! file (segment) a read covers entirely is checked: with its part checksum,
//! else the object's full-object checksum (single PUTs), else its MD5. A
//! sealed file needs no checksum: AES-GCM already refuses altered bytes.
//! Used by every read (`ops`) and by the scrub (`scrub.rs`); calls nothing
//! but the engine's records and `checksum.rs`.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use coffer_engine::{ByteRange, ByteStream, ObjectRecord, Segment};
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;

use crate::checksum::Algorithm;
use crate::hashing::Md5;

/// What one segment's bytes must hash to.
enum Expected {
    Checksum(Algorithm, String),
    Md5([u8; 16]),
}

/// A hash of one segment in progress.
enum Running {
    /// Boxed: a hasher with room for every algorithm is large.
    Checksum(Box<ChecksumHasher>, Algorithm, String),
    Md5(Md5, [u8; 16]),
}

impl Running {
    fn start(expected: Expected) -> Running {
        match expected {
            Expected::Checksum(algorithm, value) => {
                let mut hasher = Box::<ChecksumHasher>::default();
                algorithm.enable(&mut hasher);
                Running::Checksum(hasher, algorithm, value)
            }
            Expected::Md5(md5) => Running::Md5(Md5::new(), md5),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Running::Checksum(hasher, _, _) => hasher.update(bytes),
            Running::Md5(hasher, _) => hasher.update(bytes),
        }
    }

    fn matches(self) -> bool {
        match self {
            Running::Checksum(hasher, algorithm, expected) => {
                let sums = hasher.finalize();
                let computed = match algorithm {
                    Algorithm::Crc32 => sums.checksum_crc32,
                    Algorithm::Crc32c => sums.checksum_crc32c,
                    Algorithm::Crc64Nvme => sums.checksum_crc64nvme,
                    Algorithm::Sha1 => sums.checksum_sha1,
                    Algorithm::Sha256 => sums.checksum_sha256,
                };
                computed.as_deref() == Some(expected.as_str())
            }
            Running::Md5(hasher, expected) => hasher.finalize() == expected,
        }
    }
}

/// The checksum a segment of `object` was recorded with, if it has one
/// this read can check.
fn expected(object: &ObjectRecord, segment: &Segment) -> Option<Expected> {
    if segment.salt.is_some() {
        return None;
    }
    let single = object.segments.len() == 1;
    let composite = object.checksums.checksum_type.as_deref() == Some("COMPOSITE");
    let recorded = Algorithm::of(&segment.checksums)
        .map(|algorithm| (algorithm, &segment.checksums))
        .or_else(|| {
            (single && !composite).then(|| Algorithm::of(&object.checksums).map(|a| (a, &object.checksums)))?
        });
    if let Some((algorithm, checksums)) = recorded {
        return algorithm
            .value(checksums)
            .map(|value| Expected::Checksum(algorithm, value.clone()));
    }
    let etag = segment.etag.as_deref().or(single.then_some(object.etag.as_str()))?;
    let md5 = hex::decode(etag).ok()?.try_into().ok()?;
    Some(Expected::Md5(md5))
}

/// One stretch of a read: the bytes of one segment it covers, and the hash
/// they must make when the read covers all of that segment.
struct Stretch {
    remaining: u64,
    hash: Option<Running>,
}

/// Wraps the body of a read of `range` of `object` so that every segment the
/// read covers entirely is checked before its last bytes go out; a mismatch
/// ends the stream with an error of kind [`io::ErrorKind::InvalidData`].
pub fn verified(object: &ObjectRecord, range: Option<ByteRange>, body: ByteStream) -> ByteStream {
    let range = range.unwrap_or(ByteRange {
        first: 0,
        end: object.size,
    });
    let mut stretches = VecDeque::new();
    let mut segment_first = 0u64;
    for segment in &object.segments {
        let segment_end = segment_first + segment.size;
        let first = range.first.max(segment_first);
        let end = range.end.min(segment_end);
        let whole = first == segment_first && end == segment_end;
        if first < end || whole {
            stretches.push_back(Stretch {
                remaining: end.saturating_sub(first),
                hash: if whole {
                    expected(object, segment).map(Running::start)
                } else {
                    None
                },
            });
        }
        segment_first = segment_end;
    }
    if stretches.iter().all(|stretch| stretch.hash.is_none()) {
        return body;
    }
    Verified {
        body,
        stretches,
        failed: false,
        key: object.key.clone(),
    }
    .boxed()
}

struct Verified {
    body: ByteStream,
    stretches: VecDeque<Stretch>,
    failed: bool,
    key: String,
}

impl Verified {
    /// Hashes `chunk` into the stretches it belongs to; false when a stretch
    /// it completes does not match, or when it is more than the read covers.
    fn check(&mut self, chunk: &[u8]) -> bool {
        let mut offset = 0;
        loop {
            while self.stretches.front().is_some_and(|stretch| stretch.remaining == 0) {
                let done = self.stretches.pop_front().expect("a stretch is there");
                if done.hash.is_some_and(|hash| !hash.matches()) {
                    return false;
                }
            }
            if offset == chunk.len() {
                return true;
            }
            let Some(stretch) = self.stretches.front_mut() else {
                return false;
            };
            let take = (chunk.len() - offset).min(usize::try_from(stretch.remaining).unwrap_or(usize::MAX));
            if let Some(hash) = &mut stretch.hash {
                hash.update(&chunk[offset..offset + take]);
            }
            stretch.remaining -= take as u64;
            offset += take;
        }
    }

    /// Ends the stream with an error in place of the item, once.
    fn fail(&mut self) -> Poll<Option<io::Result<Bytes>>> {
        self.failed = true;
        tracing::error!(key = %self.key, "stored data does not match what was written");
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "stored data does not match the checksum it was written with",
        ))))
    }
}

impl Stream for Verified {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match self.body.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) if !self.check(&chunk) => self.fail(),
            // A file shorter than its record leaves a stretch unfinished.
            Poll::Ready(None) if !self.check(&[]) || !self.stretches.is_empty() => self.fail(),
            other => other,
        }
    }
}

/// The hex MD5 of `data`, as ETags hold it.
#[cfg(test)]
fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::checksum(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use coffer_engine::{Checksums, NULL_VERSION_ID};
    use futures::TryStreamExt;

    fn object(segments: Vec<(&[u8], bool)>) -> ObjectRecord {
        let all: Vec<u8> = segments.iter().flat_map(|(bytes, _)| bytes.iter().copied()).collect();
        let multipart = segments.len() > 1;
        ObjectRecord {
            key: "k".to_owned(),
            version_id: NULL_VERSION_ID.to_owned(),
            size: all.len() as u64,
            etag: if multipart { "x-2".to_owned() } else { md5_hex(&all) },
            last_modified: time::OffsetDateTime::UNIX_EPOCH,
            owner: String::new(),
            content: Default::default(),
            user_metadata: Default::default(),
            checksums: Checksums::default(),
            segments: segments
                .iter()
                .enumerate()
                .map(|(index, (bytes, with_crc))| Segment {
                    blob: format!("b{index}"),
                    size: bytes.len() as u64,
                    part_number: if multipart { index as u32 + 1 } else { 0 },
                    etag: multipart.then(|| md5_hex(bytes)),
                    checksums: Checksums {
                        crc32c: with_crc.then(|| BASE64.encode(s3s::crypto::Crc32c::checksum(bytes))),
                        ..Default::default()
                    },
                    ..Segment::default()
                })
                .collect(),
            storage_class: None,
            tags: Default::default(),
            lock: None,
            encryption: None,
            delete_marker: false,
            acl: None,
        }
    }

    /// Reads `served` (what the disk holds) as the body of `range` of
    /// `object`, in chunks of `chunk` bytes.
    fn read(object: &ObjectRecord, range: Option<ByteRange>, served: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let chunks: Vec<io::Result<Bytes>> = served
            .chunks(chunk.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = futures::stream::iter(chunks).boxed();
        let chunks: Vec<Bytes> = futures::executor::block_on(verified(object, range, body).try_collect())?;
        Ok(chunks.concat())
    }

    #[test]
    fn whole_reads_pass_when_intact_and_fail_when_rotten_in_any_segment() {
        let parts: [&[u8]; 3] = [b"first part bytes", b"second", b"third part"];
        for crc in [true, false] {
            let object = object(parts.iter().map(|p| (*p, crc)).collect());
            let intact = parts.concat();
            for chunk in [1, 3, 7, 100] {
                assert_eq!(read(&object, None, &intact, chunk).unwrap(), intact);
                for at in 0..intact.len() {
                    let mut rotten = intact.clone();
                    rotten[at] ^= 0x20;
                    let error = read(&object, None, &rotten, chunk).unwrap_err();
                    assert_eq!(error.kind(), io::ErrorKind::InvalidData, "byte {at}, crc {crc}");
                }
            }
        }
    }

    #[test]
    fn ranges_check_the_segments_they_cover_whole_and_pass_the_rest() {
        let parts: [&[u8]; 3] = [b"aaaa", b"bbbb", b"cccc"];
        let object = object(parts.iter().map(|p| (*p, true)).collect());
        // Bytes 2..12 cover part 2 whole, parts 1 and 3 in part.
        let range = Some(ByteRange { first: 2, end: 12 });
        assert!(read(&object, range, b"aabbbbcccc", 3).is_ok());
        assert!(
            read(&object, range, b"XXbbbbcccc", 3).is_ok(),
            "part 1 is not read whole"
        );
        assert!(read(&object, range, b"aabXbbcccc", 3).is_err(), "part 2 is");
    }

    #[test]
    fn a_single_put_is_checked_by_its_object_checksum_or_md5() {
        let mut single = object(vec![(b"single put body", false)]);
        single.checksums.crc64nvme = Some(BASE64.encode(s3s::crypto::Crc64Nvme::checksum(b"single put body")));
        single.checksums.checksum_type = Some("FULL_OBJECT".to_owned());
        assert!(read(&single, None, b"single put body", 4).is_ok());
        assert!(read(&single, None, b"single put bodY", 4).is_err());
        single.checksums = Checksums::default();
        assert!(read(&single, None, b"single put body", 4).is_ok(), "by its MD5 ETag");
        assert!(read(&single, None, b"Single put body", 4).is_err());
        let empty = object(vec![(b"", false)]);
        assert!(read(&empty, None, b"", 4).is_ok());
    }

    #[test]
    fn a_file_shorter_or_longer_than_its_record_fails() {
        let parts: [&[u8]; 2] = [b"aaaa", b"bbbb"];
        let object = object(parts.iter().map(|p| (*p, true)).collect());
        assert!(read(&object, None, b"aaaabbb", 2).is_err());
        assert!(read(&object, None, b"aaaabbbbX", 2).is_err());
    }
}
