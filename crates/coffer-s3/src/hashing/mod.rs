//! The hashes of every object body Coffer stores: MD5, its ETag, and the
//! SHA-256 a request signs (`x-amz-content-sha256`), each from AWS-LC for
//! one body, and for several large bodies that stream in together side by
//! side.
//!
//! Both are serial and are most of a large PUT's CPU time. AWS-LC's x86-64
//! assembly (OpenSSL's) hashes MD5 about a quarter faster than the pure-Rust
//! `md-5` inside `s3s::crypto::Md5`: 935–941 against 743 MiB/s on one core
//! of this machine. [`Md5`] takes its place behind s3s's `Checksum` trait.
//! A PUT's body goes through [`BodyHashes`], which hashes a large body that
//! arrives together with others in one lane of a vector for MD5
//! ([`md5_lanes`]) and interleaved with them for SHA-256 ([`sha256_ni`]),
//! in rounds that [`shared`] arranges, and any other body with [`Md5`] and
//! [`Sha256`]. This module calls nothing outside itself but AWS-LC and
//! `std::arch`.

pub(crate) mod md5_lanes;
pub(crate) mod sha256_ni;
mod shared;

pub use shared::BodyHashes;

use aws_lc_sys::{MD5_CTX, MD5_Final, MD5_Init, MD5_Update, SHA256_CTX, SHA256_Final, SHA256_Init, SHA256_Update};
use s3s::crypto::Checksum;

/// A running hash of AWS-LC's, behind s3s's `Checksum` trait, that can also
/// hand its whole blocks to a kernel of Coffer's and take the result back.
/// Both hashes here have 64-byte blocks and a 64-bit count of bits hashed.
macro_rules! aws_lc_hash {
    ($(#[$doc:meta])* $name:ident, $context:ty, $init:ident, $update:ident, $final:ident, $chaining:ty, $digest:literal) => {
        $(#[$doc])*
        pub struct $name($context);

        impl $name {
            /// The bytes of a partial block waiting for the rest of it.
            fn buffered(&self) -> usize {
                self.0.num as usize
            }

            /// The chaining values after the whole blocks hashed so far.
            fn chaining(&self) -> $chaining {
                self.0.h
            }

            /// Takes the chaining values `bytes` (whole blocks) further on,
            /// as hashed elsewhere; only between blocks.
            fn skip_ahead(&mut self, chaining: $chaining, bytes: u64) {
                debug_assert_eq!(self.buffered(), 0, "a hash skipped ahead inside a block");
                self.0.h = chaining;
                let bits = (u64::from(self.0.Nh) << 32 | u64::from(self.0.Nl)).wrapping_add(bytes * 8);
                (self.0.Nl, self.0.Nh) = (bits as u32, (bits >> 32) as u32);
            }
        }

        impl Checksum for $name {
            type Output = [u8; $digest];

            fn new() -> $name {
                let mut context = std::mem::MaybeUninit::<$context>::uninit();
                // SAFETY: the init function writes every field of the
                // context it is given and cannot fail; the context is
                // plain data.
                unsafe {
                    $init(context.as_mut_ptr());
                    $name(context.assume_init())
                }
            }

            fn update(&mut self, data: &[u8]) {
                // SAFETY: the context was initialized; AWS-LC reads
                // `data.len()` bytes from `data` and keeps no pointer to them.
                unsafe { $update(&mut self.0, data.as_ptr().cast(), data.len()) };
            }

            fn finalize(mut self) -> [u8; $digest] {
                let mut digest = [0; $digest];
                // SAFETY: `digest` has room for the bytes the final function writes.
                unsafe { $final(digest.as_mut_ptr(), &mut self.0) };
                digest
            }
        }
    };
}

aws_lc_hash!(
    /// A running MD5.
    Md5, MD5_CTX, MD5_Init, MD5_Update, MD5_Final, [u32; 4], 16
);
aws_lc_hash!(
    /// A running SHA-256.
    Sha256, SHA256_CTX, SHA256_Init, SHA256_Update, SHA256_Final, [u32; 8], 32
);

#[cfg(test)]
mod tests {
    use super::*;

    /// `H` gives the `vectors`' digests, and the same digest as s3s's `R`
    /// for bytes fed in pieces across the 64-byte blocks.
    fn agrees<H: Checksum, R: Checksum>(vectors: &[(&[u8], &str)]) {
        for (input, expected) in vectors {
            assert_eq!(hex::encode(H::checksum(input)), *expected);
        }
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut pieces = H::new();
        for piece in bytes.chunks(37) {
            pieces.update(piece);
        }
        assert_eq!(pieces.finalize().as_ref(), R::checksum(&bytes).as_ref());
    }

    /// RFC 1321's test suite.
    #[test]
    fn md5_agrees_with_rfc_1321_and_with_s3s() {
        agrees::<Md5, s3s::crypto::Md5>(&[
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ]);
    }

    /// FIPS 180-4's examples.
    #[test]
    fn sha256_agrees_with_fips_180_4_and_with_s3s() {
        agrees::<Sha256, s3s::crypto::Sha256>(&[
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ]);
    }
}
