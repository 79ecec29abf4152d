//! MD5, the ETag of every PUT: one body's from AWS-LC, and several large
//! bodies' side by side.
//!
//! MD5 is serial and is most of a large PUT's CPU time. AWS-LC's x86-64
//! assembly (OpenSSL's) hashes about a quarter faster than the pure-Rust
//! `md-5` inside `s3s::crypto::Md5`: 935–941 against 743 MiB/s on one core
//! of this machine. [`Md5`] takes its place behind s3s's `Checksum` trait.
//! A PUT's body goes through [`BodyMd5`], which hashes a large body that
//! arrives together with others in one lane of a vector ([`shared`] over
//! the kernel in [`lanes`]), and any other body with [`Md5`]. This module
//! calls nothing outside itself but AWS-LC and `std::arch`.

pub(crate) mod lanes;
mod shared;

pub use shared::BodyMd5;

use aws_lc_sys::{MD5_CTX, MD5_Final, MD5_Init, MD5_Update};
use s3s::crypto::Checksum;

/// A running MD5.
pub struct Md5(MD5_CTX);

impl Md5 {
    /// The bytes of a partial block waiting for the rest of it.
    fn buffered(&self) -> usize {
        self.0.num as usize
    }

    /// The chaining values after the whole blocks hashed so far.
    fn chaining(&self) -> [u32; 4] {
        self.0.h
    }

    /// Takes the chaining values `bytes` (whole blocks) further on, as
    /// hashed elsewhere; only between blocks.
    fn skip_ahead(&mut self, chaining: [u32; 4], bytes: u64) {
        debug_assert_eq!(self.buffered(), 0, "MD5 skipped ahead inside a block");
        self.0.h = chaining;
        let bits = (u64::from(self.0.Nh) << 32 | u64::from(self.0.Nl)).wrapping_add(bytes * 8);
        (self.0.Nl, self.0.Nh) = (bits as u32, (bits >> 32) as u32);
    }
}

impl Checksum for Md5 {
    type Output = [u8; 16];

    fn new() -> Md5 {
        let mut context = std::mem::MaybeUninit::<MD5_CTX>::uninit();
        // SAFETY: MD5_Init writes every field of the context it is given
        // and cannot fail; the context is plain data.
        unsafe {
            MD5_Init(context.as_mut_ptr());
            Md5(context.assume_init())
        }
    }

    fn update(&mut self, data: &[u8]) {
        // SAFETY: the context was initialized by MD5_Init; AWS-LC reads
        // `data.len()` bytes from `data` and keeps no pointer to them.
        unsafe { MD5_Update(&mut self.0, data.as_ptr().cast(), data.len()) };
    }

    fn finalize(mut self) -> [u8; 16] {
        let mut digest = [0; 16];
        // SAFETY: `digest` has room for the 16 bytes MD5_Final writes.
        unsafe { MD5_Final(digest.as_mut_ptr(), &mut self.0) };
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1321's test suite, and the same bytes fed in pieces across
    /// MD5's 64-byte blocks.
    #[test]
    fn agrees_with_rfc_1321_and_with_s3s() {
        let vectors: [(&[u8], &str); 3] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, expected) in vectors {
            assert_eq!(hex::encode(Md5::checksum(input)), expected);
        }
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut pieces = Md5::new();
        for piece in bytes.chunks(37) {
            pieces.update(piece);
        }
        assert_eq!(pieces.finalize(), s3s::crypto::Md5::checksum(&bytes));
    }
}
