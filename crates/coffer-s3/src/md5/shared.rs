//! The MD5s of bodies that stream in at the same time, hashed side by side.
//!
//! A large body's chunks are held back (up to [`HOLD`] bytes; [`RUN_AHEAD`]
//! while a round has the body) rather than hashed as they pass. When one
//! body holds [`HOLD`], its task takes every other body that holds at least
//! a quarter of that, and hashes the bytes they all have in the lanes of one
//! vector ([`super::lanes`]): four uploads cost about what two cost on their
//! own. What a body holds beyond the common length waits for the next
//! round. A body that finds no company is hashed on its own, so one upload
//! alone is no slower; and a body stays on its own until it passes [`HOLD`],
//! so small bodies never touch the shared state. hyper hands a large body
//! over in pieces of up to 408 KiB, which is why [`HOLD`] is several of
//! them: with less, bodies seldom held anything at the same time.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};

use bytes::Bytes;
use s3s::crypto::Checksum;

use super::Md5;
use super::lanes::{self, Kernel, LANES, States};

/// How much of a body is held back before it is hashed.
const HOLD: usize = 1 << 20;
/// How much all bodies together may hold back; past it each body hashes
/// what it holds at once, on its own.
const HELD_AT_MOST: usize = 64 << 20;
/// How far a body may run ahead while a round is hashing it, before its
/// next chunk waits for that round to end.
const RUN_AHEAD: usize = 2 * HOLD;

/// The MD5 of one body.
pub struct BodyMd5(Mode);

enum Mode {
    /// Hashing each chunk as it comes: a small body, a CPU without lanes.
    Alone { md5: Md5, seen: usize },
    /// Held in [`Shared`] under this id.
    Shared(u64),
}

impl BodyMd5 {
    pub fn new() -> BodyMd5 {
        BodyMd5(Mode::Alone {
            md5: Md5::new(),
            seen: 0,
        })
    }

    pub fn update(&mut self, chunk: &Bytes) {
        match &mut self.0 {
            Mode::Alone { md5, seen } => {
                *seen += chunk.len();
                match SHARED.as_ref() {
                    Some(shared) if *seen > HOLD => {
                        let md5 = std::mem::replace(md5, Md5::new());
                        self.0 = Mode::Shared(shared.join(md5, chunk.clone()));
                    }
                    _ => md5.update(chunk),
                }
            }
            Mode::Shared(id) => shared().add(*id, chunk.clone()),
        }
    }

    pub fn finalize(mut self) -> [u8; 16] {
        match std::mem::replace(&mut self.0, Mode::Shared(NO_BODY)) {
            Mode::Alone { md5, .. } => md5.finalize(),
            Mode::Shared(id) => shared().finish(id),
        }
    }
}

impl Drop for BodyMd5 {
    fn drop(&mut self) {
        if let Mode::Shared(id) = self.0
            && id != NO_BODY
        {
            shared().leave(id);
        }
    }
}

/// An id no body has: what a finalized [`BodyMd5`] is left holding.
const NO_BODY: u64 = 0;

static SHARED: LazyLock<Option<Shared>> = LazyLock::new(|| lanes::kernel().map(Shared::new));

fn shared() -> &'static Shared {
    SHARED.as_ref().expect("a body is shared only where lanes exist")
}

struct Shared {
    kernel: Kernel,
    next_id: AtomicU64,
    bodies: Mutex<Bodies>,
    /// Signalled whenever a round ends.
    round_ended: Condvar,
}

#[derive(Default)]
struct Bodies {
    by_id: HashMap<u64, Body>,
    held: usize,
}

struct Body {
    /// `None` while a round is hashing this body.
    md5: Option<Md5>,
    held: VecDeque<Bytes>,
    held_len: usize,
    /// The body's [`BodyMd5`] was dropped during a round.
    left: bool,
}

/// One body's part in a round: its MD5 and the bytes taken to hash.
struct Taken {
    id: u64,
    md5: Md5,
    chunks: VecDeque<Bytes>,
}

impl Shared {
    fn new(kernel: Kernel) -> Shared {
        Shared {
            kernel,
            next_id: AtomicU64::new(NO_BODY + 1),
            bodies: Mutex::default(),
            round_ended: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bodies> {
        self.bodies.lock().expect("md5 bodies lock poisoned")
    }

    fn join(&self, md5: Md5, chunk: Bytes) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = Body {
            md5: Some(md5),
            held: VecDeque::new(),
            held_len: 0,
            left: false,
        };
        self.lock().by_id.insert(id, body);
        self.add(id, chunk);
        id
    }

    fn add(&self, id: u64, chunk: Bytes) {
        let mut bodies = self.lock();
        let len = chunk.len();
        let body = bodies.by_id.get_mut(&id).expect("a shared body is registered");
        body.held_len += len;
        body.held.push_back(chunk);
        let held_len = body.held_len;
        bodies.held += len;
        if held_len < HOLD && bodies.held <= HELD_AT_MOST {
            return;
        }
        while bodies.by_id[&id].md5.is_none() {
            if bodies.by_id[&id].held_len < RUN_AHEAD {
                return;
            }
            bodies = self.round_ended.wait(bodies).expect("md5 bodies lock poisoned");
        }
        let alone = bodies.held > HELD_AT_MOST;
        let round = take_round(&mut bodies, id, alone);
        drop(bodies);
        let round = self.hash(round);
        self.end_round(round);
    }

    fn finish(&self, id: u64) -> [u8; 16] {
        let mut bodies = self.lock();
        while bodies.by_id[&id].md5.is_none() {
            bodies = self.round_ended.wait(bodies).expect("md5 bodies lock poisoned");
        }
        let body = bodies.by_id.remove(&id).expect("a shared body is registered");
        bodies.held -= body.held_len;
        drop(bodies);
        let mut md5 = body.md5.expect("no round holds the body");
        for chunk in &body.held {
            md5.update(chunk);
        }
        md5.finalize()
    }

    fn leave(&self, id: u64) {
        let mut bodies = self.lock();
        let Some(body) = bodies.by_id.get_mut(&id) else {
            return;
        };
        if body.md5.is_none() {
            body.left = true;
        } else {
            let held = body.held_len;
            bodies.by_id.remove(&id);
            bodies.held -= held;
        }
    }

    /// Hashes the bytes every body of the round holds, side by side, and
    /// gives back what each holds beyond them. A round of one hashes all.
    fn hash(&self, mut round: Vec<Taken>) -> Vec<Taken> {
        if let [only] = &mut round[..] {
            for chunk in only.chunks.drain(..) {
                only.md5.update(&chunk);
            }
            return round;
        }
        for taken in &mut round {
            taken.fill_block();
        }
        let blocks = round.iter().map(|taken| taken.len() / 64).min().unwrap_or(0);
        let mut states: States = [[0; 4]; LANES];
        for (state, taken) in states.iter_mut().zip(&round) {
            *state = taken.md5.chaining();
        }
        let mut cursors: Vec<Cursor> = round.iter().map(|_| Cursor::default()).collect();
        let mut done = 0;
        while done < blocks {
            for (cursor, taken) in cursors.iter_mut().zip(&round) {
                cursor.next_piece(&taken.chunks);
            }
            let run = cursors
                .iter()
                .zip(&round)
                .map(|(cursor, taken)| cursor.blocks(&taken.chunks))
                .min()
                .unwrap_or(0)
                .min(blocks - done);
            let data: [&[u8]; LANES] = std::array::from_fn(|lane| {
                let lane = lane.min(round.len() - 1);
                cursors[lane].bytes(&round[lane].chunks)
            });
            (self.kernel)(&mut states, data, run);
            for cursor in &mut cursors {
                cursor.advance(run * 64);
            }
            done += run;
        }
        if blocks > 0 {
            for ((taken, cursor), state) in round.iter_mut().zip(&cursors).zip(states) {
                taken.md5.skip_ahead(state, blocks as u64 * 64);
                cursor.keep_rest(&mut taken.chunks);
            }
        }
        round
    }

    /// Gives each body of the round back its MD5 and the bytes not yet
    /// hashed, ahead of any it was handed meanwhile.
    fn end_round(&self, round: Vec<Taken>) {
        let mut bodies = self.lock();
        for taken in round {
            let rest: usize = taken.chunks.iter().map(Bytes::len).sum();
            let body = bodies
                .by_id
                .get_mut(&taken.id)
                .expect("a body in a round stays registered");
            if body.left {
                let held = body.held_len;
                bodies.by_id.remove(&taken.id);
                bodies.held -= held;
                continue;
            }
            body.md5 = Some(taken.md5);
            body.held_len += rest;
            for chunk in taken.chunks.into_iter().rev() {
                body.held.push_front(chunk);
            }
            bodies.held += rest;
        }
        drop(bodies);
        self.round_ended.notify_all();
    }
}

/// Takes the body `id` and, unless it must go `alone`, up to [`LANES`] - 1
/// others that hold at least a quarter of [`HOLD`] and are in no round.
fn take_round(bodies: &mut Bodies, id: u64, alone: bool) -> Vec<Taken> {
    let mut ids = vec![id];
    if !alone {
        ids.extend(
            bodies
                .by_id
                .iter()
                .filter(|(other, body)| **other != id && body.md5.is_some() && body.held_len >= HOLD / 4)
                .map(|(other, _)| *other)
                .take(LANES - 1),
        );
    }
    let mut taken_len = 0;
    let round = ids
        .into_iter()
        .map(|id| {
            let body = bodies.by_id.get_mut(&id).expect("a chosen body is registered");
            taken_len += body.held_len;
            body.held_len = 0;
            Taken {
                id,
                md5: body.md5.take().expect("a chosen body is in no round"),
                chunks: std::mem::take(&mut body.held),
            }
        })
        .collect();
    bodies.held -= taken_len;
    round
}

impl Taken {
    fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// Completes the MD5's partly filled block from the front of the
    /// chunks, so that the lanes start on a block boundary.
    fn fill_block(&mut self) {
        while self.md5.buffered() != 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            let wanted = (64 - self.md5.buffered()).min(front.len());
            self.md5.update(&front.split_to(wanted));
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
    }
}

/// Where a lane is in its body's chunks.
#[derive(Default)]
struct Cursor {
    chunk: usize,
    offset: usize,
    /// A block that straddles two or more chunks, copied together.
    straddling: Option<[u8; 64]>,
}

impl Cursor {
    /// Moves past an exhausted chunk, and joins a block that straddles
    /// chunks into one piece.
    fn next_piece(&mut self, chunks: &VecDeque<Bytes>) {
        while chunks.get(self.chunk).is_some_and(|chunk| self.offset == chunk.len()) {
            self.chunk += 1;
            self.offset = 0;
        }
        if chunks
            .get(self.chunk)
            .is_some_and(|chunk| chunk.len() - self.offset < 64)
        {
            let mut block = [0; 64];
            let (mut filled, mut chunk, mut offset) = (0, self.chunk, self.offset);
            while filled < 64 {
                let source = &chunks[chunk][offset..];
                let n = source.len().min(64 - filled);
                block[filled..filled + n].copy_from_slice(&source[..n]);
                filled += n;
                offset += n;
                if offset == chunks[chunk].len() {
                    chunk += 1;
                    offset = 0;
                }
            }
            self.straddling = Some(block);
            (self.chunk, self.offset) = (chunk, offset);
        }
    }

    /// How many whole blocks the current piece holds.
    fn blocks(&self, chunks: &VecDeque<Bytes>) -> usize {
        match self.straddling {
            Some(_) => 1,
            None => (chunks[self.chunk].len() - self.offset) / 64,
        }
    }

    fn bytes<'a>(&'a self, chunks: &'a VecDeque<Bytes>) -> &'a [u8] {
        match &self.straddling {
            Some(block) => block,
            None => &chunks[self.chunk][self.offset..],
        }
    }

    fn advance(&mut self, bytes: usize) {
        if self.straddling.take().is_none() {
            self.offset += bytes;
        }
    }

    /// Drops the chunks hashed, keeping what lies past the cursor.
    fn keep_rest(&self, chunks: &mut VecDeque<Bytes>) {
        chunks.drain(..self.chunk);
        if let Some(front) = chunks.front_mut() {
            let _ = front.split_to(self.offset);
        }
        if chunks.front().is_some_and(Bytes::is_empty) {
            chunks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize, seed: usize) -> Bytes {
        (0..len)
            .map(|i| (i * (seed + 7) + i / 253) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    /// The body in chunks of sizes that cycle through `sizes`.
    fn chunked(body: &Bytes, sizes: &[usize]) -> Vec<Bytes> {
        let (mut chunks, mut at) = (Vec::new(), 0);
        for size in sizes.iter().cycle() {
            if at == body.len() {
                return chunks;
            }
            let end = (at + size).min(body.len());
            chunks.push(body.slice(at..end));
            at = end;
        }
        unreachable!()
    }

    /// The tests' bodies would otherwise join each other's rounds.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn held_len(id: u64) -> usize {
        shared().lock().by_id[&id].held_len
    }

    #[test]
    fn a_body_that_has_held_enough_hashes_the_others_with_it() {
        if SHARED.is_none() {
            return;
        }
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (first, second) = (body(3 * HOLD + 77, 1), body(3 * HOLD + 5, 2));
        let (mut first_md5, mut second_md5) = (BodyMd5::new(), BodyMd5::new());
        // Past HOLD each body is shared; the first then holds 3/4 of HOLD.
        first_md5.update(&first.slice(..HOLD + 1));
        first_md5.update(&first.slice(HOLD + 1..HOLD + 1 + HOLD * 3 / 4));
        let Mode::Shared(first_id) = first_md5.0 else {
            panic!("a body past HOLD is shared");
        };
        assert_eq!(held_len(first_id), HOLD * 3 / 4);
        second_md5.update(&second.slice(..HOLD + 1));
        second_md5.update(&second.slice(HOLD + 1..2 * HOLD + 1));
        // The second reached HOLD and took the first into its round, which
        // hashed what both held, block by block.
        assert!(
            held_len(first_id) < 64,
            "the first body's bytes were hashed in the second's round"
        );
        first_md5.update(&first.slice(HOLD + 1 + HOLD * 3 / 4..));
        second_md5.update(&second.slice(2 * HOLD + 1..));
        assert_eq!(first_md5.finalize(), Md5::checksum(&first));
        assert_eq!(second_md5.finalize(), Md5::checksum(&second));
    }

    /// Bodies on threads of their own, in chunks of awkward sizes (empty,
    /// shorter than a block, not a multiple of one), some abandoned half
    /// way: every finished one gets the MD5 of its bytes.
    #[test]
    fn concurrent_bodies_in_any_chunking_get_their_own_md5() {
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let chunkings: [&[usize]; 4] = [
            &[65_536],
            &[1, 0, 63, 64, 65, 100_000],
            &[4_093, 131_071],
            &[300_000, 7],
        ];
        let threads: Vec<_> = (0..8)
            .map(|seed| {
                std::thread::spawn(move || {
                    let body = body((1 << 20) + seed * 40_961, seed);
                    let chunks = chunked(&body, chunkings[seed % chunkings.len()]);
                    let mut md5 = BodyMd5::new();
                    for (n, chunk) in chunks.iter().enumerate() {
                        if seed == 5 && n == chunks.len() / 2 {
                            return;
                        }
                        md5.update(chunk);
                    }
                    assert_eq!(md5.finalize(), Md5::checksum(&body), "body {seed}");
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
