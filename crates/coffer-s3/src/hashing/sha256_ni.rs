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
//! sha256_ni`). [`Lanes`] holds the bodies' states and runs their rounds a
//! quad at a time, for this kernel and for [`super::md5_lanes`], which runs
//! them between its MD5 steps. The steps are FIPS 180-4's, laid out for
//! SHA-NI as Intel describes it: the state as the (A, B, E, F) and (C, D,
//! G, H) halves.

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

/// The SHA-256s of `N` bodies in registers, run a quad of rounds (four
/// rounds of each body) at a time. A block is [`Lanes::start_block`], the
/// quads 0 to 15 in order, then [`Lanes::end_block`]; between the quads the
/// caller may run work of its own, which the core overlaps with these
/// rounds ([`super::md5_lanes`] runs MD5's steps there).
#[cfg(target_arch = "x86_64")]
pub(super) struct Lanes<'a, const N: usize> {
    abef: [__m128i; N],
    cdgh: [__m128i; N],
    /// The state before the block, added back at its end.
    before: ([__m128i; N], [__m128i; N]),
    /// The message schedule's last sixteen words, four to a vector.
    w: [[__m128i; N]; 4],
    data: [&'a [u8]; N],
}

#[cfg(target_arch = "x86_64")]
impl<'a, const N: usize> Lanes<'a, N> {
    /// Loads each body's state (`states` holds `N`).
    ///
    /// # Safety
    /// The CPU has SHA-NI, SSE4.1 and SSSE3, and every body of `data` holds
    /// every block later started.
    #[inline(always)]
    pub(super) unsafe fn load(states: &[&mut State], data: [&'a [u8]; N]) -> Lanes<'a, N> {
        // SAFETY: the caller's promise covers the instructions, and each
        // state is eight words, two vectors.
        unsafe {
            let mut lanes = Lanes {
                abef: [_mm_setzero_si128(); N],
                cdgh: [_mm_setzero_si128(); N],
                before: ([_mm_setzero_si128(); N], [_mm_setzero_si128(); N]),
                w: [[_mm_setzero_si128(); N]; 4],
                data,
            };
            for (body, state) in states.iter().enumerate() {
                let state: *const __m128i = state.as_ptr().cast();
                let dcba = _mm_shuffle_epi32(_mm_loadu_si128(state), 0xB1);
                let hgfe = _mm_shuffle_epi32(_mm_loadu_si128(state.add(1)), 0x1B);
                lanes.abef[body] = _mm_alignr_epi8(dcba, hgfe, 8);
                lanes.cdgh[body] = _mm_blend_epi16(hgfe, dcba, 0xF0);
            }
            lanes
        }
    }

    /// Reads block `block` of each body's data.
    ///
    /// # Safety
    /// As for [`Lanes::load`].
    #[inline(always)]
    pub(super) unsafe fn start_block(&mut self, block: usize) {
        // Message words are big-endian.
        // SAFETY: the caller's promise covers the instructions and the loads.
        unsafe {
            let byte_swap = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
            self.before = (self.abef, self.cdgh);
            for quad in 0..4 {
                for body in 0..N {
                    let words: *const __m128i = self.data[body].as_ptr().add(block * 64 + quad * 16).cast();
                    self.w[quad][body] = _mm_shuffle_epi8(_mm_loadu_si128(words), byte_swap);
                }
            }
        }
    }

    /// Rounds `4 * quad` to `4 * quad + 3` of each body; from quad 4 on,
    /// the message words they need are scheduled first.
    ///
    /// # Safety
    /// As for [`Lanes::load`], inside a started block.
    #[inline(always)]
    // Four rows of `w` and both halves of the state are indexed by body
    // together; iterators would zip five of them.
    #[allow(clippy::needless_range_loop)]
    pub(super) unsafe fn quad(&mut self, quad: usize) {
        // SAFETY: the caller's promise covers the instructions, and
        // `quad` < 16 keeps the load inside `K`.
        unsafe {
            let slot = quad % 4;
            // Loops, not `array::from_fn`: a closure would not have this
            // CPU's features, and its SHA instructions would stay calls.
            let w = &mut self.w;
            if quad >= 4 {
                for body in 0..N {
                    let sigma0 = _mm_sha256msg1_epu32(w[slot][body], w[(slot + 1) % 4][body]);
                    let w7 = _mm_alignr_epi8(w[(slot + 3) % 4][body], w[(slot + 2) % 4][body], 4);
                    w[slot][body] = _mm_sha256msg2_epu32(_mm_add_epi32(sigma0, w7), w[(slot + 3) % 4][body]);
                }
            }
            let k = _mm_loadu_si128(K.as_ptr().add(4 * quad).cast());
            for body in 0..N {
                let wk = _mm_add_epi32(w[slot][body], k);
                self.cdgh[body] = _mm_sha256rnds2_epu32(self.cdgh[body], self.abef[body], wk);
                self.abef[body] = _mm_sha256rnds2_epu32(self.abef[body], self.cdgh[body], _mm_shuffle_epi32(wk, 0x0E));
                // Keeps the quad in its place among the caller's work:
                // left to itself, LLVM gathers a block's rounds together.
                std::arch::asm!(
                    "/* {0} {1} */",
                    inout(xmm_reg) self.abef[body],
                    inout(xmm_reg) self.cdgh[body],
                    options(nomem, nostack, preserves_flags)
                );
            }
        }
    }

    /// Adds the state from before the block, after its sixteen quads.
    ///
    /// # Safety
    /// As for [`Lanes::load`].
    #[inline(always)]
    pub(super) unsafe fn end_block(&mut self) {
        // SAFETY: the caller's promise covers the instructions.
        unsafe {
            for body in 0..N {
                self.abef[body] = _mm_add_epi32(self.abef[body], self.before.0[body]);
                self.cdgh[body] = _mm_add_epi32(self.cdgh[body], self.before.1[body]);
            }
        }
    }

    /// Writes each body's state back.
    ///
    /// # Safety
    /// As for [`Lanes::load`].
    #[inline(always)]
    pub(super) unsafe fn store(&self, states: &mut [&mut State]) {
        // SAFETY: the caller's promise covers the instructions, and each
        // state is eight words, two vectors.
        unsafe {
            for (body, state) in states.iter_mut().enumerate() {
                let feba = _mm_shuffle_epi32(self.abef[body], 0x1B);
                let dchg = _mm_shuffle_epi32(self.cdgh[body], 0xB1);
                let state: *mut __m128i = state.as_mut_ptr().cast();
                _mm_storeu_si128(state, _mm_blend_epi16(feba, dchg, 0xF0));
                _mm_storeu_si128(state.add(1), _mm_alignr_epi8(dchg, feba, 8));
            }
        }
    }
}

/// The kernel for `N` bodies; each body's instructions are independent of
/// the others', so the core overlaps them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
unsafe fn interleaved<const N: usize>(mut states: [&mut State; N], data: [&[u8]; N], blocks: usize) {
    // SAFETY: the caller checked the CPU and that each body holds `blocks`
    // blocks.
    unsafe {
        let mut lanes = Lanes::load(&states[..], data);
        for block in 0..blocks {
            lanes.start_block(block);
            for quad in 0..16 {
                lanes.quad(quad);
            }
            lanes.end_block();
        }
        lanes.store(&mut states);
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
