//! SHA-256 compressions of two or three bodies interleaved on one core, with
//! the CPU's SHA instructions (SHA-NI).
//!
//! One SHA-256 is a chain of 32 `sha256rnds2` per block, each waiting for
//! the last, so one body leaves the SHA unit idle most of the time: 1.86 GiB/s
//! here for AWS-LC and for the `sha2` crate alike. Two bodies' rounds
//! interleaved fill some of those gaps (2.38 GiB/s for the two), three more
//! (3.11 GiB/s); four run out of registers (a throwaway kernel: 2.68 GiB/s).
//! [`compress`] therefore takes bodies three at a time, and hands a body
//! left alone to AWS-LC's own block function, faster than this kernel for
//! one (1.61 GiB/s) (`cargo bench -p coffer-s3 --bench checksum --
//! sha256_ni`). The steps are FIPS 180-4's, laid out for SHA-NI as Intel
//! describes it: the state as the (A, B, E, F) and (C, D, G, H) halves.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// SHA-256's chaining values (A through H) of one body.
pub type State = [u32; 8];

/// Whether this CPU has the SHA instructions the kernel needs.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("sha") && is_x86_feature_detected!("sse4.1") && is_x86_feature_detected!("ssse3")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compresses the first `blocks` 64-byte blocks of each body's data into
/// its state, interleaving the bodies three (or what is left) at a time.
/// Every slice holds at least `blocks * 64` bytes. Only where [`available`]
/// says so.
pub fn compress(states: &mut [&mut State], data: &[&[u8]], blocks: usize) {
    assert!(available(), "SHA-NI asked for on a CPU without it");
    assert_eq!(states.len(), data.len(), "one state per body");
    for body in data {
        assert!(body.len() >= blocks * 64, "a body shorter than the blocks asked for");
    }
    // AWS-LC's block function hashes one block even when asked for none.
    if blocks == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    interleave_by_three(states, data, blocks);
}

/// [`compress`]'s work, once it has checked the CPU and the slices.
#[cfg(target_arch = "x86_64")]
fn interleave_by_three(states: &mut [&mut State], data: &[&[u8]], blocks: usize) {
    let mut at = 0;
    while at < states.len() {
        let take = (states.len() - at).min(3);
        let (states, data) = (&mut states[at..at + take], &data[at..at + take]);
        // SAFETY: `compress` checked that the SHA, SSE4.1 and SSSE3
        // instructions exist and that every body holds `blocks` blocks.
        unsafe {
            match states {
                [a] => aws_lc_sys::SHA256_TransformBlocks(a.as_mut_ptr(), data[0].as_ptr(), blocks),
                [a, b] => interleaved::<2>([&mut **a, &mut **b], [data[0], data[1]], blocks),
                [a, b, c] => interleaved::<3>([&mut **a, &mut **b, &mut **c], [data[0], data[1], data[2]], blocks),
                _ => unreachable!("bodies are taken one, two or three at a time"),
            }
        }
        at += take;
    }
}

/// The round constants of FIPS 180-4, 4.2.2.
#[cfg(target_arch = "x86_64")]
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// Four rounds of each body, the message words `w` (plus the constants
/// of rounds `4 * quad ..`) in each.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rounds4<const N: usize>(quad: usize, abef: &mut [__m128i; N], cdgh: &mut [__m128i; N], w: &[__m128i; N]) {
    // SAFETY (for the whole function): the caller runs where SHA-NI exists,
    // and `quad` < 16 keeps the load inside `K`.
    unsafe {
        let k = _mm_loadu_si128(K.as_ptr().add(4 * quad).cast());
        let wk: [__m128i; N] = std::array::from_fn(|body| _mm_add_epi32(w[body], k));
        for body in 0..N {
            cdgh[body] = _mm_sha256rnds2_epu32(cdgh[body], abef[body], wk[body]);
        }
        for body in 0..N {
            abef[body] = _mm_sha256rnds2_epu32(abef[body], cdgh[body], _mm_shuffle_epi32(wk[body], 0x0E));
        }
    }
}

/// The kernel for `N` bodies; each body's instructions are independent of
/// the others', so the core overlaps them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
unsafe fn interleaved<const N: usize>(states: [&mut State; N], data: [&[u8]; N], blocks: usize) {
    // SAFETY (for the whole function): the caller checked the CPU and that
    // each body holds `blocks` blocks, so every load is in bounds.
    unsafe {
        let mut abef = [_mm_setzero_si128(); N];
        let mut cdgh = [_mm_setzero_si128(); N];
        for body in 0..N {
            let state: *const __m128i = states[body].as_ptr().cast();
            let dcba = _mm_shuffle_epi32(_mm_loadu_si128(state), 0xB1);
            let hgfe = _mm_shuffle_epi32(_mm_loadu_si128(state.add(1)), 0x1B);
            abef[body] = _mm_alignr_epi8(dcba, hgfe, 8);
            cdgh[body] = _mm_blend_epi16(hgfe, dcba, 0xF0);
        }
        // Message words are big-endian.
        let byte_swap = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        for block in 0..blocks {
            let (abef_before, cdgh_before) = (abef, cdgh);
            let mut w: [[__m128i; N]; 4] = std::array::from_fn(|quad| {
                std::array::from_fn(|body| {
                    let words: *const __m128i = data[body].as_ptr().add(block * 64 + quad * 16).cast();
                    _mm_shuffle_epi8(_mm_loadu_si128(words), byte_swap)
                })
            });
            for (quad, words) in w.iter().enumerate() {
                rounds4(quad, &mut abef, &mut cdgh, words);
            }
            for quad in 4..16 {
                let slot = quad % 4;
                let next: [__m128i; N] = std::array::from_fn(|body| {
                    let sigma0 = _mm_sha256msg1_epu32(w[slot][body], w[(slot + 1) % 4][body]);
                    let w7 = _mm_alignr_epi8(w[(slot + 3) % 4][body], w[(slot + 2) % 4][body], 4);
                    _mm_sha256msg2_epu32(_mm_add_epi32(sigma0, w7), w[(slot + 3) % 4][body])
                });
                w[slot] = next;
                rounds4(quad, &mut abef, &mut cdgh, &w[slot]);
            }
            for body in 0..N {
                abef[body] = _mm_add_epi32(abef[body], abef_before[body]);
                cdgh[body] = _mm_add_epi32(cdgh[body], cdgh_before[body]);
            }
        }
        for body in 0..N {
            let feba = _mm_shuffle_epi32(abef[body], 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh[body], 0xB1);
            let state: *mut __m128i = states[body].as_mut_ptr().cast();
            _mm_storeu_si128(state, _mm_blend_epi16(feba, dchg, 0xF0));
            _mm_storeu_si128(state.add(1), _mm_alignr_epi8(dchg, feba, 8));
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::hashing::Sha256;
    use s3s::crypto::Checksum;

    fn body(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * (seed + 3) + i / 251) as u8).collect()
    }

    /// Each body's chaining values after its whole blocks, as AWS-LC gives
    /// them, for one to seven bodies at once (every grouping `compress`
    /// makes), some starting mid-body.
    #[test]
    fn each_grouping_agrees_with_aws_lc() {
        if !available() {
            eprintln!("this CPU has no SHA-NI; nothing to check");
            return;
        }
        for bodies in 1..=7 {
            for blocks in [0, 1, 2, 17] {
                let data: Vec<Vec<u8>> = (0..bodies).map(|seed| body(64 * (blocks + seed), seed)).collect();
                let mut expected = Vec::new();
                let mut states = Vec::new();
                for (seed, bytes) in data.iter().enumerate() {
                    let mut lead = Sha256::new();
                    lead.update(&bytes[..64 * seed]);
                    let mut whole = Sha256::new();
                    whole.update(&bytes[..64 * (seed + blocks)]);
                    expected.push(whole.chaining());
                    states.push(lead.chaining());
                }
                let slices: Vec<&[u8]> = data
                    .iter()
                    .enumerate()
                    .map(|(seed, bytes)| &bytes[64 * seed..])
                    .collect();
                let mut refs: Vec<&mut State> = states.iter_mut().collect();
                compress(&mut refs, &slices, blocks);
                assert_eq!(states, expected, "{bodies} bodies, {blocks} blocks");
            }
        }
    }
}
