//! The at-rest encryption format of data files ("sealed" blobs), described in
//! `docs/encryption-format.md`. Each data file gets its own AES-256 key,
//! derived with HKDF-SHA256 from a base key (the server's or the customer's)
//! and a random salt kept in the record, never in the file. The plaintext is
//! cut into 64 KiB chunks sealed independently with AES-256-GCM, so a range
//! read decrypts only the chunks it covers. Each chunk's nonce is its index
//! plus a flag marking the final chunk, so reordered, dropped, duplicated or
//! truncated chunks all fail authentication. This module is pure computation:
//! it never touches a file.

use std::fmt;
use std::io;
use std::ops::Range;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use bytes::BytesMut;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

/// Plaintext bytes per chunk. Small enough that a small range read decrypts
/// little more than it returns, large enough that the tags cost 0.02 %.
pub const CHUNK_PLAIN_BYTES: usize = 64 << 10;
/// The GCM authentication tag that follows each chunk's ciphertext.
pub const TAG_BYTES: usize = 16;
/// Bytes of a sealed chunk that is not the final one.
pub const CHUNK_SEALED_BYTES: usize = CHUNK_PLAIN_BYTES + TAG_BYTES;
/// Length of the salts [`new_salt`] makes: 128 random bits make a repeated
/// salt, and so a repeated key and nonce, as unlikely as guessing a key.
pub const SALT_BYTES: usize = 16;
/// HKDF's `info`: names this format, so a key derived for anything else from
/// the same base key is unrelated to a blob key.
const KEY_INFO: &[u8] = b"coffer blob v1";

/// The AES-256 key of one data file. Its bytes are wiped when it is dropped.
#[derive(Clone)]
pub struct BlobKey([u8; 32]);

impl BlobKey {
    /// HKDF-SHA256 of `base_key` with `salt`. The salt must be new for every
    /// data file (see [`new_salt`]): chunk nonces restart at 0 in each file,
    /// so two files sealed under one key would reuse nonces, which breaks GCM.
    pub fn derive(base_key: &[u8; 32], salt: &[u8]) -> BlobKey {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(Some(salt), base_key)
            .expand(KEY_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        BlobKey(key)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

impl Drop for BlobKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Never prints the key, so a key cannot reach a log through `{:?}`.
impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlobKey(..)")
    }
}

/// A fresh random salt from the operating system, for one data file.
pub fn new_salt() -> io::Result<[u8; SALT_BYTES]> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt)?;
    Ok(salt)
}

/// Chunks of a `plain_len`-byte plaintext. An empty plaintext still has one
/// (empty) final chunk, so that even an empty file has a tag to verify.
pub fn chunk_count(plain_len: u64) -> u64 {
    plain_len.div_ceil(CHUNK_PLAIN_BYTES as u64).max(1)
}

/// Size of the sealed file of a `plain_len`-byte plaintext.
pub fn sealed_len(plain_len: u64) -> u64 {
    plain_len + chunk_count(plain_len) * TAG_BYTES as u64
}

/// What to read from a sealed file to get one plaintext range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRange {
    /// Indexes of the chunks to open.
    pub chunks: Range<u64>,
    /// Bytes of the sealed file holding those chunks.
    pub bytes: Range<u64>,
    /// Plaintext bytes to drop from the start of the first opened chunk.
    pub skip: usize,
}

/// Maps the plaintext range `[first, end)` of a `plain_len`-byte plaintext to
/// the sealed chunks that hold it. An empty range maps to one chunk (the one
/// holding `first`, or the final one), so that reading nothing from an empty
/// file still authenticates it.
///
/// # Panics
/// If `first > end` or `end > plain_len`.
pub fn sealed_range(plain_len: u64, first: u64, end: u64) -> SealedRange {
    assert!(
        first <= end && end <= plain_len,
        "range {first}..{end} outside 0..{plain_len}"
    );
    let chunk = CHUNK_PLAIN_BYTES as u64;
    let final_chunk = chunk_count(plain_len) - 1;
    let first_chunk = (first / chunk).min(final_chunk);
    let end_chunk = if end > first {
        (end - 1) / chunk + 1
    } else {
        first_chunk + 1
    };
    SealedRange {
        chunks: first_chunk..end_chunk,
        bytes: first_chunk * CHUNK_SEALED_BYTES as u64
            ..(end_chunk * CHUNK_SEALED_BYTES as u64).min(sealed_len(plain_len)),
        skip: (first - first_chunk * chunk) as usize,
    }
}

/// The nonce of chunk `index`: the index as a big-endian u64, three zero
/// bytes, then 1 for the final chunk and 0 for every other. Binding the
/// position into the nonce is what makes moved or dropped chunks fail.
fn chunk_nonce(index: u64, is_final: bool) -> Nonce<Aes256Gcm> {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(is_final);
    nonce.into()
}

/// Seals a plaintext fed in pieces of any size into the sealed format.
pub struct Sealer {
    cipher: Aes256Gcm,
    next_index: u64,
    /// Plaintext of the chunk being filled. A full chunk is kept until more
    /// bytes arrive, because only then is it known not to be the final one.
    pending: Vec<u8>,
}

impl Sealer {
    pub fn new(key: &BlobKey) -> Sealer {
        Sealer {
            cipher: key.cipher(),
            next_index: 0,
            pending: Vec::with_capacity(CHUNK_PLAIN_BYTES),
        }
    }

    /// Takes more plaintext; appends to `out` every chunk it completes.
    pub fn update(&mut self, mut plain: &[u8], out: &mut BytesMut) {
        while !plain.is_empty() {
            if self.pending.len() == CHUNK_PLAIN_BYTES {
                self.seal_pending(false, out);
            }
            let take = (CHUNK_PLAIN_BYTES - self.pending.len()).min(plain.len());
            self.pending.extend_from_slice(&plain[..take]);
            plain = &plain[take..];
        }
    }

    /// Seals the final chunk, empty if no plaintext came at all.
    pub fn finish(mut self, out: &mut BytesMut) {
        self.seal_pending(true, out);
    }

    fn seal_pending(&mut self, is_final: bool, out: &mut BytesMut) {
        let start = out.len();
        out.extend_from_slice(&self.pending);
        let tag = self
            .cipher
            .encrypt_inout_detached(&chunk_nonce(self.next_index, is_final), b"", (&mut out[start..]).into())
            .expect("a chunk is far below GCM's length limit");
        out.extend_from_slice(&tag);
        self.pending.clear();
        self.next_index += 1;
    }
}

/// A chunk that failed authentication: a wrong key, or sealed bytes that were
/// altered, moved, cut short or extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkError {
    pub index: u64,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sealed chunk {} failed authentication: wrong key, or the data file was altered",
            self.index
        )
    }
}

impl std::error::Error for ChunkError {}

impl From<ChunkError> for io::Error {
    fn from(err: ChunkError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// Opens sealed chunks of one data file, in any order.
pub struct Opener {
    cipher: Aes256Gcm,
}

impl Opener {
    pub fn new(key: &BlobKey) -> Opener {
        Opener { cipher: key.cipher() }
    }

    /// Decrypts sealed chunk `index` (ciphertext then tag) in place and
    /// returns its plaintext, the front of `sealed`. `is_final` must come
    /// from the plaintext length in the record, not from the file, so that a
    /// file cut at a chunk boundary fails here.
    pub fn open_chunk<'a>(&self, index: u64, is_final: bool, sealed: &'a mut [u8]) -> Result<&'a mut [u8], ChunkError> {
        let length_fits = if is_final {
            (TAG_BYTES..=CHUNK_SEALED_BYTES).contains(&sealed.len())
        } else {
            sealed.len() == CHUNK_SEALED_BYTES
        };
        if !length_fits {
            return Err(ChunkError { index });
        }
        let (text, tag) = sealed.split_at_mut(sealed.len() - TAG_BYTES);
        let tag = Tag::<Aes256Gcm>::try_from(&*tag).expect("the tag is TAG_BYTES long");
        self.cipher
            .decrypt_inout_detached(&chunk_nonce(index, is_final), b"", text.into(), &tag)
            .map_err(|_| ChunkError { index })?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [u8; 32] = {
        let mut key = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            key[i] = i as u8;
            i += 1;
        }
        key
    };
    const SALT: [u8; 16] = [
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    ];

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn seal(key: &BlobKey, plain: &[u8]) -> Vec<u8> {
        let mut sealer = Sealer::new(key);
        let mut out = BytesMut::new();
        sealer.update(plain, &mut out);
        sealer.finish(&mut out);
        out.to_vec()
    }

    // The expected values below come from an independent implementation of
    // the format in docs/encryption-format.md (Python's `cryptography`: HKDF
    // with SHA-256, AESGCM with the documented nonces). They pin the format:
    // if one changes, files already written stop opening.

    #[test]
    fn key_derivation_matches_the_documented_hkdf() {
        assert_eq!(
            hex(&BlobKey::derive(&BASE, &SALT).0),
            "a0c10fca176dd2e86c34cf991f5a4121ea24e007046ee21a3b661825f0aba66f"
        );
    }

    #[test]
    fn sealed_bytes_match_the_documented_format() {
        let key = BlobKey::derive(&BASE, &SALT);
        assert_eq!(hex(&seal(&key, b"")), "655198de66f0305093624d6c4a532421");
        assert_eq!(
            hex(&seal(&key, b"coffer")),
            "d6a95ef07a7749e186fd6a304bcd2ca5ad14de4a49b7"
        );
        // Two chunks: a full non-final one and a one-byte final one.
        let plain: Vec<u8> = (0..CHUNK_PLAIN_BYTES + 1).map(|i| (i % 251) as u8).collect();
        let sealed = seal(&key, &plain);
        assert_eq!(sealed.len(), 65569);
        assert_eq!(
            hex(&<Sha256 as sha2::Digest>::digest(&sealed)),
            "d579a86619efc1344bd8959047f6c773db3b7967f7b834bf2d5d41834f6e50ca"
        );
    }

    #[test]
    fn chunk_nonce_layout() {
        assert_eq!(hex(&chunk_nonce(0x0102, false)), "000000000000010200000000");
        assert_eq!(hex(&chunk_nonce(u64::MAX, true)), "ffffffffffffffff00000001");
    }

    #[test]
    fn sealed_len_counts_one_tag_per_chunk() {
        let chunk = CHUNK_PLAIN_BYTES as u64;
        assert_eq!(sealed_len(0), 16);
        assert_eq!(sealed_len(1), 17);
        assert_eq!(sealed_len(chunk - 1), chunk + 15);
        assert_eq!(sealed_len(chunk), chunk + 16);
        assert_eq!(sealed_len(chunk + 1), chunk + 33);
        assert_eq!(sealed_len(3 * chunk), 3 * chunk + 48);
    }

    #[test]
    fn sealed_range_covers_exactly_the_needed_chunks() {
        let chunk = CHUNK_PLAIN_BYTES as u64;
        let sealed = CHUNK_SEALED_BYTES as u64;
        let size = 3 * chunk + 10;
        assert_eq!(
            sealed_range(size, 0, size),
            SealedRange {
                chunks: 0..4,
                bytes: 0..sealed_len(size),
                skip: 0
            }
        );
        assert_eq!(
            sealed_range(size, chunk - 1, chunk + 1),
            SealedRange {
                chunks: 0..2,
                bytes: 0..2 * sealed,
                skip: CHUNK_PLAIN_BYTES - 1
            }
        );
        assert_eq!(
            sealed_range(size, chunk, 2 * chunk),
            SealedRange {
                chunks: 1..2,
                bytes: sealed..2 * sealed,
                skip: 0
            }
        );
        assert_eq!(
            sealed_range(size, 3 * chunk + 9, size),
            SealedRange {
                chunks: 3..4,
                bytes: 3 * sealed..sealed_len(size),
                skip: 9
            }
        );
        assert_eq!(
            sealed_range(0, 0, 0),
            SealedRange {
                chunks: 0..1,
                bytes: 0..16,
                skip: 0
            }
        );
        // An empty range at the end of a whole number of chunks reads the
        // final chunk, not a chunk past the end.
        assert_eq!(sealed_range(2 * chunk, 2 * chunk, 2 * chunk).chunks, 1..2);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn sealed_range_refuses_a_range_past_the_end() {
        sealed_range(10, 5, 11);
    }

    #[test]
    fn sealer_output_does_not_depend_on_how_the_plaintext_is_cut() {
        let key = BlobKey::derive(&BASE, &SALT);
        let plain: Vec<u8> = (0..2 * CHUNK_PLAIN_BYTES + 5).map(|i| (i * 7 % 256) as u8).collect();
        let whole = seal(&key, &plain);
        for piece in [1, 1000, CHUNK_PLAIN_BYTES - 1, CHUNK_PLAIN_BYTES, CHUNK_PLAIN_BYTES + 1] {
            let mut sealer = Sealer::new(&key);
            let mut out = BytesMut::new();
            for part in plain.chunks(piece) {
                sealer.update(part, &mut out);
                sealer.update(b"", &mut out);
            }
            sealer.finish(&mut out);
            assert_eq!(out.as_ref(), whole.as_slice(), "pieces of {piece} bytes");
        }
    }

    #[test]
    fn open_chunk_refuses_a_wrong_length_or_flag() {
        let key = BlobKey::derive(&BASE, &SALT);
        let opener = Opener::new(&key);
        let plain = vec![7u8; CHUNK_PLAIN_BYTES + 1];
        let sealed = seal(&key, &plain);
        let (first, last) = sealed.split_at(CHUNK_SEALED_BYTES);
        assert_eq!(
            opener.open_chunk(0, false, &mut first.to_vec()).unwrap(),
            &plain[..CHUNK_PLAIN_BYTES]
        );
        assert_eq!(opener.open_chunk(1, true, &mut last.to_vec()).unwrap(), &[7u8]);
        // The right bytes under the wrong flag or index.
        assert_eq!(
            opener.open_chunk(0, true, &mut first.to_vec()),
            Err(ChunkError { index: 0 })
        );
        assert_eq!(
            opener.open_chunk(1, false, &mut last.to_vec()),
            Err(ChunkError { index: 1 })
        );
        assert_eq!(
            opener.open_chunk(2, true, &mut last.to_vec()),
            Err(ChunkError { index: 2 })
        );
        // Lengths no sealed chunk can have.
        assert!(opener.open_chunk(1, true, &mut last[..TAG_BYTES - 1].to_vec()).is_err());
        assert!(
            opener
                .open_chunk(0, false, &mut first[..CHUNK_SEALED_BYTES - 1].to_vec())
                .is_err()
        );
    }

    #[test]
    fn key_debug_hides_the_key() {
        assert_eq!(format!("{:?}", BlobKey::derive(&BASE, &SALT)), "BlobKey(..)");
    }

    #[test]
    fn new_salts_differ() {
        assert_ne!(new_salt().unwrap(), new_salt().unwrap());
    }
}
