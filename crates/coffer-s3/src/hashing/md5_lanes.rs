//! Eight MD5 compressions at once, one per 32-bit lane of a 256-bit vector,
//! with up to four SHA-256 compressions between their steps.
//!
//! One MD5 is a chain of 64 dependent steps per block, so a core runs it at
//! the chain's latency and leaves most of its vector units idle. Eight
//! independent bodies in the lanes of one vector cost about what two cost
//! one after the other: a lane runs at 510 MiB/s here, eight at 3.8 GiB/s,
//! AWS-LC on one body at 876 MiB/s. The SHA-256 of a signed body runs on
//! the SHA unit ([`super::sha256_ni`]); a quad of its rounds after every
//! four MD5 steps, in the same instruction stream, fills the core's wait
//! on MD5's chain: four bodies' MD5s and SHA-256s at 1.77 GiB/s, against
//! 1.13 GiB/s one after the other (three: 1.41 against 1.00), the MD5s
//! alone 1.95 (`cargo bench -p coffer-s3 --bench checksum --
//! md5_and_sha256`). [`kernel`] picks the best the CPU offers: AVX-512VL
//! (rotates and the round functions are one instruction each) or AVX2, and
//! none elsewhere.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::sha256_ni;

/// How many bodies one call hashes side by side.
pub const LANES: usize = 8;

/// The most SHA-256s [`Kernel::md5_and_sha256`] runs beside the MD5 steps;
/// any more are hashed after them, by [`sha256_ni::compress`].
const SHA256_BESIDE: usize = 4;

/// MD5's chaining values (A, B, C, D) of each lane.
pub type States = [[u32; 4]; LANES];

/// The vector instructions a kernel is written in.
#[derive(Clone, Copy, Debug)]
pub enum Kernel {
    Avx512,
    Avx2,
}

/// The fastest kernel this CPU runs, or `None` when it has no vector unit
/// worth using (then each body is hashed on its own).
pub fn kernel() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
            return Some(Kernel::Avx512);
        }
        if is_x86_feature_detected!("avx2") {
            return Some(Kernel::Avx2);
        }
    }
    None
}

impl Kernel {
    /// Compresses the first `blocks` 64-byte blocks of each lane's data
    /// into that lane's state. Every slice holds at least `blocks * 64`
    /// bytes; a lane without a body of its own is given any slice and its
    /// state ignored.
    pub fn md5(self, states: &mut States, data: [&[u8]; LANES], blocks: usize) {
        check(&data, blocks);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `kernel` names only instruction sets the CPU has, and
        // `check` proved every lane holds `blocks` blocks.
        unsafe {
            match self {
                Kernel::Avx512 => avx512::compress(states, &data, blocks),
                Kernel::Avx2 => avx2::compress(states, &data, blocks),
            }
        }
    }

    /// [`Kernel::md5`], and the SHA-256 of each of `sha256_data`'s bodies
    /// into its state (the SHA-256s are a subset of the lanes, or other
    /// bodies: the two are independent). Up to [`SHA256_BESIDE`] of them
    /// are hashed between MD5's steps, in the same instruction stream: an
    /// MD5 step waits on the last, and the core fills that wait with
    /// SHA-256 rounds, which wait on their own unit. Only where
    /// [`sha256_ni::available`] says so.
    pub fn md5_and_sha256(
        self,
        states: &mut States,
        data: [&[u8]; LANES],
        sha256_states: &mut [&mut sha256_ni::State],
        sha256_data: &[&[u8]],
        blocks: usize,
    ) {
        assert!(sha256_ni::available(), "SHA-NI asked for on a CPU without it");
        assert_eq!(sha256_states.len(), sha256_data.len(), "one state per body");
        check(&data, blocks);
        check(sha256_data, blocks);
        let beside = sha256_states.len().min(SHA256_BESIDE);
        let (now, after) = sha256_states.split_at_mut(beside);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `kernel` names only instruction sets the CPU has, the
        // assertion above covers SHA-NI, and `check` proved every body
        // holds `blocks` blocks.
        unsafe {
            match now.len() {
                0 => self.md5(states, data, blocks),
                1 => self.beside::<1>(states, &data, now, sha256_data, blocks),
                2 => self.beside::<2>(states, &data, now, sha256_data, blocks),
                3 => self.beside::<3>(states, &data, now, sha256_data, blocks),
                4 => self.beside::<4>(states, &data, now, sha256_data, blocks),
                _ => unreachable!("at most {SHA256_BESIDE} beside"),
            }
        }
        sha256_ni::compress(after, &sha256_data[beside..], blocks);
    }

    /// # Safety
    /// The CPU has this kernel's instructions and SHA-NI, and every body
    /// holds `blocks` blocks.
    #[cfg(target_arch = "x86_64")]
    unsafe fn beside<const N: usize>(
        self,
        states: &mut States,
        data: &[&[u8]; LANES],
        sha256_states: &mut [&mut sha256_ni::State],
        sha256_data: &[&[u8]],
        blocks: usize,
    ) {
        // SAFETY: the caller's promises are the kernels' preconditions.
        unsafe {
            let mut sha256 = sha256_ni::Lanes::<N>::load(sha256_states, std::array::from_fn(|body| sha256_data[body]));
            match self {
                Kernel::Avx512 => avx512::compress_with_sha256(states, data, blocks, &mut sha256),
                Kernel::Avx2 => avx2::compress_with_sha256(states, data, blocks, &mut sha256),
            }
            sha256.store(sha256_states);
        }
    }
}

fn check(data: &[&[u8]], blocks: usize) {
    for lane in data {
        assert!(lane.len() >= blocks * 64, "a lane shorter than the blocks asked for");
    }
}

/// Work run in the instruction stream of the MD5 steps, a part after every
/// four of a block's 64, so that the core overlaps it with MD5's chain.
#[cfg(target_arch = "x86_64")]
trait Beside {
    /// # Safety
    /// As the implementation's constructor requires, for block `block`.
    unsafe fn start_block(&mut self, block: usize);
    /// # Safety
    /// As for [`Beside::start_block`], inside a started block.
    unsafe fn quarter(&mut self, quarter: usize);
    /// # Safety
    /// As for [`Beside::start_block`].
    unsafe fn end_block(&mut self);
}

/// Nothing beside: MD5 on its own.
#[cfg(target_arch = "x86_64")]
struct Alone;

#[cfg(target_arch = "x86_64")]
impl Beside for Alone {
    #[inline(always)]
    unsafe fn start_block(&mut self, _: usize) {}
    #[inline(always)]
    unsafe fn quarter(&mut self, _: usize) {}
    #[inline(always)]
    unsafe fn end_block(&mut self) {}
}

/// A quad of SHA-256 rounds of each body after every four MD5 steps: the
/// 16 quads of a SHA-256 block beside the 64 steps of an MD5 block.
#[cfg(target_arch = "x86_64")]
impl<const N: usize> Beside for sha256_ni::Lanes<'_, N> {
    #[inline(always)]
    unsafe fn start_block(&mut self, block: usize) {
        // SAFETY: passed on from the caller.
        unsafe { sha256_ni::Lanes::start_block(self, block) }
    }
    #[inline(always)]
    unsafe fn quarter(&mut self, quarter: usize) {
        // SAFETY: passed on from the caller.
        unsafe { self.quad(quarter) }
    }
    #[inline(always)]
    unsafe fn end_block(&mut self) {
        // SAFETY: passed on from the caller.
        unsafe { sha256_ni::Lanes::end_block(self) }
    }
}

/// The 64 steps of one block, written once for both instruction sets: each
/// set supplies `rol!(x, s)` and the four round functions `f!`, `g!`, `h!`,
/// `i!` (RFC 1321, 3.4).
#[cfg(target_arch = "x86_64")]
macro_rules! md5_block {
    ($a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $beside:ident) => {{
        // The work beside runs after every four steps, and stays there:
        // LLVM would otherwise move it all to one end of the block.
        macro_rules! quarter {
            ($n:literal) => {
                $beside.quarter($n);
                std::arch::asm!(
                    "/* {0} {1} {2} {3} */",
                    inout(ymm_reg) $a,
                    inout(ymm_reg) $b,
                    inout(ymm_reg) $c,
                    inout(ymm_reg) $d,
                    options(nomem, nostack, preserves_flags)
                );
            };
        }
        macro_rules! step {
                ($fun:ident, $w:ident, $x:ident, $y:ident, $z:ident, $k:expr, $t:expr, $s:literal) => {
                    // The word, the constant and `$w` are summed apart from the
                    // round function; left to itself, LLVM adds them one by one
                    // after it, three adds on the chain where one will do.
                    let mut early = _mm256_add_epi32($w, _mm256_add_epi32($m[$k], _mm256_set1_epi32($t as i32)));
                    std::arch::asm!("/* {0} */", inout(ymm_reg) early, options(pure, nomem, nostack, preserves_flags));
                    let sum = _mm256_add_epi32(early, $fun!($x, $y, $z));
                    $w = _mm256_add_epi32($x, rol!(sum, $s));
                };
            }
        step!(f, $a, $b, $c, $d, 0, 0xd76aa478u32, 7);
        step!(f, $d, $a, $b, $c, 1, 0xe8c7b756u32, 12);
        step!(f, $c, $d, $a, $b, 2, 0x242070dbu32, 17);
        step!(f, $b, $c, $d, $a, 3, 0xc1bdceeeu32, 22);
        quarter!(0);
        step!(f, $a, $b, $c, $d, 4, 0xf57c0fafu32, 7);
        step!(f, $d, $a, $b, $c, 5, 0x4787c62au32, 12);
        step!(f, $c, $d, $a, $b, 6, 0xa8304613u32, 17);
        step!(f, $b, $c, $d, $a, 7, 0xfd469501u32, 22);
        quarter!(1);
        step!(f, $a, $b, $c, $d, 8, 0x698098d8u32, 7);
        step!(f, $d, $a, $b, $c, 9, 0x8b44f7afu32, 12);
        step!(f, $c, $d, $a, $b, 10, 0xffff5bb1u32, 17);
        step!(f, $b, $c, $d, $a, 11, 0x895cd7beu32, 22);
        quarter!(2);
        step!(f, $a, $b, $c, $d, 12, 0x6b901122u32, 7);
        step!(f, $d, $a, $b, $c, 13, 0xfd987193u32, 12);
        step!(f, $c, $d, $a, $b, 14, 0xa679438eu32, 17);
        step!(f, $b, $c, $d, $a, 15, 0x49b40821u32, 22);
        quarter!(3);

        step!(g, $a, $b, $c, $d, 1, 0xf61e2562u32, 5);
        step!(g, $d, $a, $b, $c, 6, 0xc040b340u32, 9);
        step!(g, $c, $d, $a, $b, 11, 0x265e5a51u32, 14);
        step!(g, $b, $c, $d, $a, 0, 0xe9b6c7aau32, 20);
        quarter!(4);
        step!(g, $a, $b, $c, $d, 5, 0xd62f105du32, 5);
        step!(g, $d, $a, $b, $c, 10, 0x02441453u32, 9);
        step!(g, $c, $d, $a, $b, 15, 0xd8a1e681u32, 14);
        step!(g, $b, $c, $d, $a, 4, 0xe7d3fbc8u32, 20);
        quarter!(5);
        step!(g, $a, $b, $c, $d, 9, 0x21e1cde6u32, 5);
        step!(g, $d, $a, $b, $c, 14, 0xc33707d6u32, 9);
        step!(g, $c, $d, $a, $b, 3, 0xf4d50d87u32, 14);
        step!(g, $b, $c, $d, $a, 8, 0x455a14edu32, 20);
        quarter!(6);
        step!(g, $a, $b, $c, $d, 13, 0xa9e3e905u32, 5);
        step!(g, $d, $a, $b, $c, 2, 0xfcefa3f8u32, 9);
        step!(g, $c, $d, $a, $b, 7, 0x676f02d9u32, 14);
        step!(g, $b, $c, $d, $a, 12, 0x8d2a4c8au32, 20);
        quarter!(7);

        step!(h, $a, $b, $c, $d, 5, 0xfffa3942u32, 4);
        step!(h, $d, $a, $b, $c, 8, 0x8771f681u32, 11);
        step!(h, $c, $d, $a, $b, 11, 0x6d9d6122u32, 16);
        step!(h, $b, $c, $d, $a, 14, 0xfde5380cu32, 23);
        quarter!(8);
        step!(h, $a, $b, $c, $d, 1, 0xa4beea44u32, 4);
        step!(h, $d, $a, $b, $c, 4, 0x4bdecfa9u32, 11);
        step!(h, $c, $d, $a, $b, 7, 0xf6bb4b60u32, 16);
        step!(h, $b, $c, $d, $a, 10, 0xbebfbc70u32, 23);
        quarter!(9);
        step!(h, $a, $b, $c, $d, 13, 0x289b7ec6u32, 4);
        step!(h, $d, $a, $b, $c, 0, 0xeaa127fau32, 11);
        step!(h, $c, $d, $a, $b, 3, 0xd4ef3085u32, 16);
        step!(h, $b, $c, $d, $a, 6, 0x04881d05u32, 23);
        quarter!(10);
        step!(h, $a, $b, $c, $d, 9, 0xd9d4d039u32, 4);
        step!(h, $d, $a, $b, $c, 12, 0xe6db99e5u32, 11);
        step!(h, $c, $d, $a, $b, 15, 0x1fa27cf8u32, 16);
        step!(h, $b, $c, $d, $a, 2, 0xc4ac5665u32, 23);
        quarter!(11);

        step!(i, $a, $b, $c, $d, 0, 0xf4292244u32, 6);
        step!(i, $d, $a, $b, $c, 7, 0x432aff97u32, 10);
        step!(i, $c, $d, $a, $b, 14, 0xab9423a7u32, 15);
        step!(i, $b, $c, $d, $a, 5, 0xfc93a039u32, 21);
        quarter!(12);
        step!(i, $a, $b, $c, $d, 12, 0x655b59c3u32, 6);
        step!(i, $d, $a, $b, $c, 3, 0x8f0ccc92u32, 10);
        step!(i, $c, $d, $a, $b, 10, 0xffeff47du32, 15);
        step!(i, $b, $c, $d, $a, 1, 0x85845dd1u32, 21);
        quarter!(13);
        step!(i, $a, $b, $c, $d, 8, 0x6fa87e4fu32, 6);
        step!(i, $d, $a, $b, $c, 15, 0xfe2ce6e0u32, 10);
        step!(i, $c, $d, $a, $b, 6, 0xa3014314u32, 15);
        step!(i, $b, $c, $d, $a, 13, 0x4e0811a1u32, 21);
        quarter!(14);
        step!(i, $a, $b, $c, $d, 4, 0xf7537e82u32, 6);
        step!(i, $d, $a, $b, $c, 11, 0xbd3af235u32, 10);
        step!(i, $c, $d, $a, $b, 2, 0x2ad7d2bbu32, 15);
        step!(i, $b, $c, $d, $a, 9, 0xeb86d391u32, 21);
        quarter!(15);
    }};
}

/// The driver both instruction sets share: gathers the lanes' states into
/// four vectors, transposes each block's words into sixteen vectors (word
/// `k` of every lane in one), runs the steps with `$beside`'s work between
/// them and adds the block's result.
#[cfg(target_arch = "x86_64")]
macro_rules! compress_lanes {
    ($states:ident, $data:ident, $blocks:ident, $beside:ident) => {{
        let column = |word: usize| {
            let lane = |n: usize| $states[n][word] as i32;
            _mm256_setr_epi32(lane(0), lane(1), lane(2), lane(3), lane(4), lane(5), lane(6), lane(7))
        };
        let (mut a, mut b, mut c, mut d) = (column(0), column(1), column(2), column(3));
        for block in 0..$blocks {
            let offset = block * 64;
            let half = |at: usize| {
                let row = |n: usize| _mm256_loadu_si256($data[n].as_ptr().add(offset + at).cast());
                transpose([row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)])
            };
            let (low, high) = (half(0), half(32));
            let m = [
                low[0], low[1], low[2], low[3], low[4], low[5], low[6], low[7], high[0], high[1], high[2], high[3],
                high[4], high[5], high[6], high[7],
            ];
            let (aa, bb, cc, dd) = (a, b, c, d);
            $beside.start_block(block);
            md5_block!(a, b, c, d, m, $beside);
            $beside.end_block();
            a = _mm256_add_epi32(a, aa);
            b = _mm256_add_epi32(b, bb);
            c = _mm256_add_epi32(c, cc);
            d = _mm256_add_epi32(d, dd);
        }
        for (word, vector) in [a, b, c, d].into_iter().enumerate() {
            let mut lanes = [0u32; LANES];
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), vector);
            for (state, value) in $states.iter_mut().zip(lanes) {
                state[word] = value;
            }
        }
    }};
}

/// Turns eight rows of eight words (a row per lane) into eight columns (a
/// word of every lane each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose(rows: [__m256i; 8]) -> [__m256i; 8] {
    let pairs = |x, y| (_mm256_unpacklo_epi32(x, y), _mm256_unpackhi_epi32(x, y));
    let (t0, t1) = pairs(rows[0], rows[1]);
    let (t2, t3) = pairs(rows[2], rows[3]);
    let (t4, t5) = pairs(rows[4], rows[5]);
    let (t6, t7) = pairs(rows[6], rows[7]);
    let quads = |x, y| (_mm256_unpacklo_epi64(x, y), _mm256_unpackhi_epi64(x, y));
    let (u0, u1) = quads(t0, t2);
    let (u2, u3) = quads(t1, t3);
    let (u4, u5) = quads(t4, t6);
    let (u6, u7) = quads(t5, t7);
    let low = |x, y| _mm256_permute2x128_si256::<0x20>(x, y);
    let high = |x, y| _mm256_permute2x128_si256::<0x31>(x, y);
    [
        low(u0, u4),
        low(u1, u5),
        low(u2, u6),
        low(u3, u7),
        high(u0, u4),
        high(u1, u5),
        high(u2, u6),
        high(u3, u7),
    ]
}

/// The two kernels of an instruction set, MD5 alone and with SHA-256s
/// beside, each compiled for exactly the instructions it runs.
#[cfg(target_arch = "x86_64")]
macro_rules! kernels {
    ($features:literal) => {
        /// # Safety
        /// The CPU has the kernel's instructions, and every lane of `data`
        /// holds at least `blocks` blocks.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn compress(states: &mut States, data: &[&[u8]; LANES], blocks: usize) {
            let alone = &mut Alone;
            // SAFETY: the caller's promises are the loads' preconditions.
            unsafe { compress_lanes!(states, data, blocks, alone) }
        }

        /// # Safety
        /// As for `compress`, and the CPU has SHA-NI, and `sha256`'s
        /// bodies hold `blocks` blocks too.
        #[target_feature(enable = $features)]
        #[target_feature(enable = "sha,sse4.1,ssse3")]
        pub(super) unsafe fn compress_with_sha256<const N: usize>(
            states: &mut States,
            data: &[&[u8]; LANES],
            blocks: usize,
            sha256: &mut sha256_ni::Lanes<'_, N>,
        ) {
            // SAFETY: as above.
            unsafe { compress_lanes!(states, data, blocks, sha256) }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;

    // The round functions as `vpternlogd` truth tables over (x, y, z).
    macro_rules! f {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_ternarylogic_epi32::<0xca>($x, $y, $z)
        };
    }
    macro_rules! g {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_ternarylogic_epi32::<0xe4>($x, $y, $z)
        };
    }
    macro_rules! h {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_ternarylogic_epi32::<0x96>($x, $y, $z)
        };
    }
    macro_rules! i {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_ternarylogic_epi32::<0x39>($x, $y, $z)
        };
    }
    macro_rules! rol {
        ($x:expr, $s:literal) => {
            _mm256_rol_epi32::<$s>($x)
        };
    }

    kernels!("avx2,avx512f,avx512vl");
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    macro_rules! f {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256($z, _mm256_and_si256($x, _mm256_xor_si256($y, $z)))
        };
    }
    macro_rules! g {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256($y, _mm256_and_si256($z, _mm256_xor_si256($x, $y)))
        };
    }
    macro_rules! h {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256(_mm256_xor_si256($x, $y), $z)
        };
    }
    macro_rules! i {
        ($x:expr, $y:expr, $z:expr) => {
            _mm256_xor_si256(
                $y,
                _mm256_or_si256($x, _mm256_xor_si256($z, _mm256_set1_epi32(-1))),
            )
        };
    }
    macro_rules! rol {
        ($x:expr, $s:literal) => {
            _mm256_or_si256(_mm256_slli_epi32::<$s>($x), _mm256_srli_epi32::<{ 32 - $s }>($x))
        };
    }

    kernels!("avx2");
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::hashing::Sha256;
    use aws_lc_sys::{MD5_CTX, MD5_Init, MD5_Update};
    use s3s::crypto::Checksum;

    /// The chaining values AWS-LC reaches over `data`'s whole blocks.
    fn reference(data: &[u8]) -> [u32; 4] {
        let mut context = std::mem::MaybeUninit::<MD5_CTX>::uninit();
        // SAFETY: MD5_Init fills the context; MD5_Update reads `data`.
        unsafe {
            MD5_Init(context.as_mut_ptr());
            let mut context = context.assume_init();
            MD5_Update(&mut context, data.as_ptr().cast(), data.len() / 64 * 64);
            context.h
        }
    }

    fn sha256_reference(data: &[u8]) -> sha256_ni::State {
        let mut sha256 = Sha256::new();
        sha256.update(data);
        sha256.chaining()
    }

    fn kernels() -> Vec<Kernel> {
        let mut kernels = Vec::new();
        if is_x86_feature_detected!("avx2") {
            kernels.push(Kernel::Avx2);
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
            kernels.push(Kernel::Avx512);
        }
        kernels
    }

    /// Each lane's MD5 state after `blocks` blocks, with `sha256_bodies`
    /// SHA-256s beside (none: [`Kernel::md5`]), lane 5 and the second
    /// SHA-256 starting part-way through a body.
    fn check(kernel: Kernel, blocks: usize, sha256_bodies: usize) {
        let bodies: Vec<Vec<u8>> = (0..LANES)
            .map(|lane| (0..64 * 40).map(|i| (i * (lane + 3) + i / 61) as u8).collect())
            .collect();
        let mut states = [[0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]; LANES];
        states[5] = reference(&bodies[0][..64 * 3]);
        let data: [&[u8]; LANES] = std::array::from_fn(|lane| &bodies[lane][..]);
        let sha256_data: Vec<&[u8]> = (0..sha256_bodies).map(|body| &bodies[LANES - 1 - body][..]).collect();
        let mut sha256_states: Vec<sha256_ni::State> = (0..sha256_bodies).map(|_| sha256_reference(&[])).collect();
        if sha256_bodies > 1 {
            sha256_states[1] = sha256_reference(&bodies[2][..64 * 2]);
        }
        if sha256_bodies == 0 {
            kernel.md5(&mut states, data, blocks);
        } else {
            let mut refs: Vec<&mut sha256_ni::State> = sha256_states.iter_mut().collect();
            kernel.md5_and_sha256(&mut states, data, &mut refs, &sha256_data, blocks);
        }
        let joined = |lead: &[u8], body: &[u8]| [lead, &body[..blocks * 64]].concat();
        for (lane, state) in states.iter().enumerate() {
            let lead = if lane == 5 { &bodies[0][..64 * 3] } else { &[][..] };
            let expected = reference(&joined(lead, &bodies[lane]));
            assert_eq!(
                *state, expected,
                "{kernel:?}: lane {lane}, {blocks} blocks, {sha256_bodies} SHA-256s"
            );
        }
        for (body, state) in sha256_states.iter().enumerate() {
            let lead = if body == 1 { &bodies[2][..64 * 2] } else { &[][..] };
            let expected = sha256_reference(&joined(lead, sha256_data[body]));
            assert_eq!(*state, expected, "{kernel:?}: SHA-256 {body}, {blocks} blocks");
        }
    }

    #[test]
    fn each_kernel_this_cpu_runs_agrees_with_aws_lc() {
        for kernel in kernels() {
            for blocks in [0, 1, 2, 7, 40] {
                check(kernel, blocks, 0);
            }
        }
    }

    #[test]
    fn sha256s_beside_the_lanes_agree_with_aws_lc() {
        if !sha256_ni::available() {
            eprintln!("this CPU has no SHA-NI; nothing to check");
            return;
        }
        for kernel in kernels() {
            for sha256_bodies in 1..=LANES {
                for blocks in [0, 1, 17] {
                    check(kernel, blocks, sha256_bodies);
                }
            }
        }
    }
}
