//! Body integrity: the ETag's MD5, `Content-MD5`, the `x-amz-checksum-*`
//! algorithms and the SHA-256 a request signs, computed while the body
//! streams to storage and checked before the object is committed.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use coffer_engine::{ByteStream, Checksums};
use futures::StreamExt;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::{S3Error, S3Result, TrailingHeaders, s3_error};

use crate::hashing::BodyHashes;

/// The checksum algorithms S3 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Crc64Nvme,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    /// The algorithm's name as S3 spells it in `x-amz-checksum-algorithm`.
    pub fn parse(name: &str) -> Option<Algorithm> {
        ALGORITHMS.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The algorithm a request names in `x-amz-checksum-algorithm`, if any.
    pub fn from_request(named: Option<&s3s::dto::ChecksumAlgorithm>) -> S3Result<Option<Algorithm>> {
        named
            .map(|named| {
                Algorithm::parse(named.as_str())
                    .ok_or_else(|| s3_error!(InvalidRequest, "Invalid checksum algorithm: {}", named.as_str()))
            })
            .transpose()
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header (or trailer) that carries this algorithm's value.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm a stored set of checksums was made with.
    pub fn of(checksums: &Checksums) -> Option<Algorithm> {
        ALGORITHMS.into_iter().find(|a| a.value(checksums).is_some())
    }

    pub fn enable(self, hasher: &mut ChecksumHasher) {
        match self {
            Algorithm::Crc32 => hasher.crc32 = Some(Crc32::new()),
            Algorithm::Crc32c => hasher.crc32c = Some(Crc32c::new()),
            Algorithm::Crc64Nvme => hasher.crc64nvme = Some(Crc64Nvme::new()),
            Algorithm::Sha1 => hasher.sha1 = Some(Sha1::new()),
            Algorithm::Sha256 => hasher.sha256 = Some(Sha256::new()),
        }
    }

    /// The stored value of this algorithm in `checksums`, if any.
    pub fn value(self, checksums: &Checksums) -> Option<&String> {
        match self {
            Algorithm::Crc32 => checksums.crc32.as_ref(),
            Algorithm::Crc32c => checksums.crc32c.as_ref(),
            Algorithm::Crc64Nvme => checksums.crc64nvme.as_ref(),
            Algorithm::Sha1 => checksums.sha1.as_ref(),
            Algorithm::Sha256 => checksums.sha256.as_ref(),
        }
    }

    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Algorithm::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Algorithm::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Algorithm::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    /// The checksum of `data` in one go, as raw bytes.
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Algorithm::Crc32 => Crc32::checksum(data).to_vec(),
            Algorithm::Crc32c => Crc32c::checksum(data).to_vec(),
            Algorithm::Crc64Nvme => Crc64Nvme::checksum(data).to_vec(),
            Algorithm::Sha1 => Sha1::checksum(data).as_ref().to_vec(),
            Algorithm::Sha256 => Sha256::checksum(data).as_ref().to_vec(),
        }
    }
}

/// How a multipart object's checksum derives from its parts' checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    /// The checksum of the concatenated part checksums, followed by `-N`.
    Composite,
    /// The checksum of the whole object's bytes, combined from the parts'.
    FullObject,
}

impl ChecksumKind {
    pub const COMPOSITE: &str = "COMPOSITE";
    pub const FULL_OBJECT: &str = "FULL_OBJECT";

    pub fn name(self) -> &'static str {
        match self {
            ChecksumKind::Composite => Self::COMPOSITE,
            ChecksumKind::FullObject => Self::FULL_OBJECT,
        }
    }

    /// The kind an upload uses: the one asked for, if the algorithm supports
    /// it; by default FULL_OBJECT for CRC64NVME and COMPOSITE for the others,
    /// as in Amazon S3.
    pub fn for_upload(algorithm: Algorithm, requested: Option<&str>) -> S3Result<ChecksumKind> {
        let kind = match requested {
            None => {
                if algorithm == Algorithm::Crc64Nvme {
                    ChecksumKind::FullObject
                } else {
                    ChecksumKind::Composite
                }
            }
            Some(name) if name.eq_ignore_ascii_case(Self::COMPOSITE) => ChecksumKind::Composite,
            Some(name) if name.eq_ignore_ascii_case(Self::FULL_OBJECT) => ChecksumKind::FullObject,
            Some(name) => return Err(s3_error!(InvalidRequest, "Invalid checksum type: {name}")),
        };
        let supported = match kind {
            ChecksumKind::Composite => algorithm != Algorithm::Crc64Nvme,
            ChecksumKind::FullObject => algorithm.crc().is_some(),
        };
        if !supported {
            return Err(s3_error!(
                InvalidRequest,
                "The {} checksum type cannot be used with the {} checksum algorithm.",
                kind.name(),
                algorithm.name()
            ));
        }
        Ok(kind)
    }

    pub fn parse(name: &str) -> Option<ChecksumKind> {
        [ChecksumKind::Composite, ChecksumKind::FullObject]
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
    }
}

/// The checksum of a multipart object from its parts' checksums and sizes,
/// in part order; `None` if a part lacks a checksum of `algorithm`.
pub fn combine_parts(algorithm: Algorithm, kind: ChecksumKind, parts: &[(&Checksums, u64)]) -> Option<String> {
    let mut raw = Vec::with_capacity(parts.len());
    for (checksums, _) in parts {
        raw.push(BASE64.decode(algorithm.value(checksums)?).ok()?);
    }
    match kind {
        ChecksumKind::Composite => {
            let digest = algorithm.digest(&raw.concat());
            Some(format!("{}-{}", BASE64.encode(digest), parts.len()))
        }
        ChecksumKind::FullObject => {
            let crc = algorithm.crc()?;
            let width = raw.first()?.len();
            let mut combined: Option<u64> = None;
            for (bytes, (_, size)) in raw.iter().zip(parts) {
                let value = bytes.iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
                combined = Some(match combined {
                    None => value,
                    Some(sofar) => crc_fast::checksum_combine(crc, sofar, value, *size),
                });
            }
            Some(BASE64.encode(&combined?.to_be_bytes()[8 - width..]))
        }
    }
}

/// The algorithm S3 uses for a new object when the client names none.
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::Crc64Nvme;

/// What a client declared about a body's integrity, before it was read.
#[derive(Debug)]
pub struct Declared {
    pub algorithm: Algorithm,
    /// The value sent in a header; `None` if it comes in a trailer or not at all.
    value: Option<String>,
    in_trailer: bool,
    content_md5: Option<[u8; 16]>,
}

impl Declared {
    /// Reads the checksum headers of a request that carries a body.
    /// `fallback` is used when the request names no algorithm.
    pub fn from_headers(headers: &HeaderMap, fallback: Algorithm) -> S3Result<Declared> {
        let content_md5 = headers
            .get("content-md5")
            .map(|value| {
                let decoded = BASE64.decode(value.as_bytes()).ok();
                decoded
                    .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
                    .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))
            })
            .transpose()?;

        let mut in_header = ALGORITHMS.into_iter().filter_map(|a| {
            headers
                .get(a.header())
                .map(|value| (a, String::from_utf8_lossy(value.as_bytes()).into_owned()))
        });
        let first = in_header.next();
        if in_header.next().is_some() {
            return Err(s3_error!(InvalidRequest, "Expecting a single x-amz-checksum- header"));
        }
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|value| value.to_str().ok())
            .and_then(|name| {
                ALGORITHMS
                    .into_iter()
                    .find(|a| a.header().eq_ignore_ascii_case(name.trim()))
            });
        let named = ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"]
            .iter()
            .find_map(|header| headers.get(*header))
            .map(|value| {
                let name = String::from_utf8_lossy(value.as_bytes());
                Algorithm::parse(&name).ok_or_else(|| s3_error!(InvalidRequest, "Invalid checksum algorithm: {name}"))
            })
            .transpose()?;

        let declared = match (first, trailer) {
            (Some((algorithm, value)), _) => Declared {
                algorithm,
                value: Some(value),
                in_trailer: false,
                content_md5,
            },
            (None, Some(algorithm)) => Declared {
                algorithm,
                value: None,
                in_trailer: true,
                content_md5,
            },
            (None, None) => Declared {
                algorithm: named.unwrap_or(fallback),
                value: None,
                in_trailer: false,
                content_md5,
            },
        };
        Ok(declared)
    }

    /// Checks what was computed against what was declared. Trailers are read
    /// here, after the body has been consumed.
    pub fn verify(&self, digest: &Digest, trailers: Option<&TrailingHeaders>) -> S3Result<()> {
        if let Some(md5) = self.content_md5
            && md5 != digest.md5
        {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
        let from_trailer = || {
            trailers.and_then(|t| {
                t.read(|headers| {
                    headers
                        .get(self.algorithm.header())
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                })
                .flatten()
            })
        };
        let expected = match (&self.value, self.in_trailer) {
            (Some(value), _) => Some(value.clone()),
            (None, true) => Some(from_trailer().ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "The trailing checksum {} was not sent.",
                    self.algorithm.header()
                )
            })?),
            (None, false) => None,
        };
        if let Some(expected) = expected
            && self.algorithm.value(&digest.checksums).map(String::as_str) != Some(expected.trim())
        {
            return Err(bad_checksum(self.algorithm));
        }
        Ok(())
    }
}

fn bad_checksum(algorithm: Algorithm) -> S3Error {
    S3Error::with_message(
        s3s::S3ErrorCode::BadDigest,
        format!(
            "The {} you specified did not match the calculated checksum.",
            algorithm.name()
        ),
    )
}

/// What was computed over a body.
#[derive(Debug, Clone)]
pub struct Digest {
    pub md5: [u8; 16],
    pub checksums: Checksums,
}

impl Digest {
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }
}

struct Hashers {
    hashes: BodyHashes,
    checksum: ChecksumHasher,
    /// The SHA-256 the request signs (`x-amz-content-sha256`), when s3s
    /// left checking it to the operation.
    signed_sha256: Option<[u8; 32]>,
    /// SHA-256 is one of the checksums asked for. `hashes` computes it,
    /// once, whether it is asked for, signed, or both.
    sha256_asked: bool,
}

/// A body whose SHA-256 is not the one its request signs: S3's
/// XAmzContentSHA256Mismatch.
#[derive(Debug)]
pub struct SignedSha256Mismatch;

/// Hashes a body as it streams past; [`BodyHasher::finish`] gives the
/// digest once the stream has been consumed.
#[derive(Clone)]
pub struct BodyHasher {
    state: Arc<Mutex<Option<Hashers>>>,
}

impl BodyHasher {
    /// Hashes with MD5 and each of `algorithms`, and checks the body
    /// against `signed_sha256`, if any.
    pub fn new(algorithms: &[Algorithm], signed_sha256: Option<[u8; 32]>) -> BodyHasher {
        let sha256_asked = algorithms.contains(&Algorithm::Sha256);
        let mut checksum = ChecksumHasher::default();
        for algorithm in algorithms.iter().filter(|algorithm| **algorithm != Algorithm::Sha256) {
            algorithm.enable(&mut checksum);
        }
        BodyHasher {
            state: Arc::new(Mutex::new(Some(Hashers {
                hashes: BodyHashes::new(signed_sha256.is_some() || sha256_asked),
                checksum,
                signed_sha256,
                sha256_asked,
            }))),
        }
    }

    /// Wraps `body` so that every chunk passing through is hashed. The next
    /// chunk is read once the hashes have caught up with this one.
    pub fn wrap(&self, body: ByteStream) -> ByteStream {
        let state = Arc::clone(&self.state);
        body.then(move |chunk| {
            let caught_up = match (&chunk, state.lock().expect("hasher lock poisoned").as_mut()) {
                (Ok(bytes), Some(hashers)) => {
                    hashers.hashes.update(bytes);
                    hashers.checksum.update(bytes);
                    Some(hashers.hashes.caught_up())
                }
                _ => None,
            };
            async move {
                if let Some(caught_up) = caught_up {
                    caught_up.await;
                }
                chunk
            }
        })
        .boxed()
    }

    /// The digest of the body, once it has been read whole, if it is the
    /// body the request signed.
    pub async fn finish(&self) -> Result<Digest, SignedSha256Mismatch> {
        let hashers = self
            .state
            .lock()
            .expect("hasher lock poisoned")
            .take()
            .expect("a body is hashed once");
        let (md5, sha256) = hashers.hashes.finalize().await;
        if hashers.signed_sha256.is_some_and(|signed| sha256 != Some(signed)) {
            return Err(SignedSha256Mismatch);
        }
        let sums = hashers.checksum.finalize();
        let checksums = Checksums {
            crc32: sums.checksum_crc32,
            crc32c: sums.checksum_crc32c,
            crc64nvme: sums.checksum_crc64nvme,
            sha1: sums.checksum_sha1,
            sha256: sha256.filter(|_| hashers.sha256_asked).map(|sum| BASE64.encode(sum)),
            checksum_type: Some("FULL_OBJECT".to_owned()),
        };
        Ok(Digest { md5, checksums })
    }
}

/// Copies stored checksums onto an S3 output that has the five checksum
/// fields; with `with_type`, onto one that has `checksum_type` too.
macro_rules! set_checksums {
    ($output:expr, $checksums:expr) => {{
        let checksums: &coffer_engine::Checksums = $checksums;
        $output.checksum_crc32 = checksums.crc32.clone();
        $output.checksum_crc32c = checksums.crc32c.clone();
        $output.checksum_crc64nvme = checksums.crc64nvme.clone();
        $output.checksum_sha1 = checksums.sha1.clone();
        $output.checksum_sha256 = checksums.sha256.clone();
    }};
    ($output:expr, $checksums:expr, with_type) => {{
        let checksums: &coffer_engine::Checksums = $checksums;
        set_checksums!($output, checksums);
        $output.checksum_type = checksums.checksum_type.clone().map(s3s::dto::ChecksumType::from);
    }};
}
pub(crate) use set_checksums;
