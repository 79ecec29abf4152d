//! The hashes of bodies that stream in at the same time, hashed side by
//! side.
//!
//! A large body's chunks are held back (up to [`HOLD`] bytes; [`RUN_AHEAD`]
//! while a round has the body) rather than hashed as they pass. When one
//! body holds [`HOLD`], its task takes every other body that holds at least
//! a quarter of that, and hashes the bytes they all have: their MD5s in the
//! lanes of one vector, and the SHA-256s of those whose request signs one
//! between the MD5 steps, on the SHA unit ([`super::md5_lanes`]), a slice
//! of the bytes at a time so that the kernel reads it from the core's
//! cache. Four uploads cost about what two cost on their own. What a body
//! holds beyond the common length waits for the next round. A body that
//! finds no company waits for some while it may hold more, then is hashed
//! on its own, so one upload alone is no slower; and a body stays on its
//! own until it passes [`HOLD`], so small bodies never touch the shared
//! state. Waits are asynchronous, between a body's chunks
//! ([`BodyHashes::caught_up`]): a worker thread blocked on one would stall
//! the other requests it serves (17% of the machine idle during 64 MiB
//! PUTs at c4, 11% without). A body waits when it holds [`RUN_AHEAD`] while
//! a round has it, and when it holds that much with no company while the
//! others are in a round (on the other worker): hashed alone, by AWS-LC,
//! its MD5 and SHA-256 cost 11% of the server's CPU during 64 MiB PUTs at
//! c4, 3% once it waited for the others. hyper hands a large body over in
//! pieces of up to 408 KiB, which is why [`HOLD`] is several of them: with
//! less, bodies seldom held anything at the same time.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use bytes::Bytes;
use s3s::crypto::Checksum;

use super::md5_lanes::{self, Kernel, LANES, States};
use super::{Md5, Sha256, sha256_ni};

/// How much of a body is held back before it is hashed.
const HOLD: usize = 1 << 20;
/// How much all bodies together may hold back; past it each body hashes
/// what it holds at once, on its own.
const HELD_AT_MOST: usize = 64 << 20;
/// How far a body may run ahead while a round is hashing it, before its
/// next chunk waits for that round to end; and how much a body with no
/// company holds before it waits for the others' round to end.
const RUN_AHEAD: usize = 2 * HOLD;
/// How much a body with no company holds before it is hashed on its own.
const ALONE_PAST: usize = 4 * HOLD;
/// The blocks of each body one kernel call hashes: 16 KiB a body, so that
/// where the SHA-256s run after the MD5 lanes rather than between their
/// steps (no SHA-NI), they find the blocks in the core's cache.
const SLICE_BLOCKS: usize = 256;

/// The hashes of one body: its MD5 and, if asked for, its SHA-256.
pub struct BodyHashes(Mode);

// One `Mode` lives per request, inside the request's hasher: boxing the
// contexts would cost an allocation each and save nothing.
#[allow(clippy::large_enum_variant)]
enum Mode {
    /// Hashing each chunk as it comes: a small body, a CPU without lanes.
    Alone { hashes: Hashes, seen: usize },
    /// Held in [`Shared`] under this id.
    Shared(u64),
}

/// The running hashes of one body. Both see the same bytes, so both have
/// the same partial block buffered.
struct Hashes {
    md5: Md5,
    sha256: Option<Sha256>,
}

impl Hashes {
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        if let Some(sha256) = &mut self.sha256 {
            sha256.update(bytes);
        }
    }

    fn finalize(self) -> ([u8; 16], Option<[u8; 32]>) {
        (self.md5.finalize(), self.sha256.map(Sha256::finalize))
    }
}

impl BodyHashes {
    /// The MD5 of a body, and its SHA-256 if `with_sha256`.
    pub fn new(with_sha256: bool) -> BodyHashes {
        BodyHashes(Mode::Alone {
            hashes: Hashes {
                md5: Md5::new(),
                sha256: with_sha256.then(Sha256::new),
            },
            seen: 0,
        })
    }

    pub fn update(&mut self, chunk: &Bytes) {
        match &mut self.0 {
            Mode::Alone { hashes, seen } => {
                *seen += chunk.len();
                match SHARED.as_ref() {
                    Some(shared) if *seen > HOLD => {
                        let Mode::Alone { hashes, .. } = std::mem::replace(&mut self.0, Mode::Shared(NO_BODY)) else {
                            unreachable!("matched as alone")
                        };
                        self.0 = Mode::Shared(shared.join(hashes, chunk.clone()));
                    }
                    _ => hashes.update(chunk),
                }
            }
            Mode::Shared(id) => shared().add(*id, chunk.clone()),
        }
    }

    /// Resolves once the body may take more chunks: at once, unless it
    /// holds [`RUN_AHEAD`] already and a round has it, or others are in a
    /// round it could not join ([`Wait`]). The caller waits for
    /// it between chunks, so that a body runs ahead of its hashing by a
    /// bounded amount without blocking a worker thread.
    pub fn caught_up(&self) -> impl Future<Output = ()> + Send + use<> {
        let id = match self.0 {
            Mode::Shared(id) if id != NO_BODY => Some(id),
            _ => None,
        };
        async move {
            let Some(id) = id else {
                return;
            };
            let mut waited = false;
            shared()
                .until(|bodies| match bodies.wait(id) {
                    Wait::No => true,
                    Wait::ForItsRound => false,
                    Wait::ForCompany => std::mem::replace(&mut waited, true),
                })
                .await;
        }
    }

    /// The MD5, and the SHA-256 if one was asked for.
    pub async fn finalize(mut self) -> ([u8; 16], Option<[u8; 32]>) {
        match std::mem::replace(&mut self.0, Mode::Shared(NO_BODY)) {
            Mode::Alone { hashes, .. } => hashes.finalize(),
            Mode::Shared(id) => shared().finish(id).await,
        }
    }
}

impl Drop for BodyHashes {
    fn drop(&mut self) {
        if let Mode::Shared(id) = self.0
            && id != NO_BODY
        {
            shared().leave(id);
        }
    }
}

/// An id no body has: what a finalized [`BodyHashes`] is left holding.
const NO_BODY: u64 = 0;

static SHARED: LazyLock<Option<Shared>> = LazyLock::new(|| md5_lanes::kernel().map(Shared::new));

fn shared() -> &'static Shared {
    SHARED.as_ref().expect("a body is shared only where lanes exist")
}

struct Shared {
    kernel: Kernel,
    /// Whether SHA-256s are hashed interleaved, rather than one by one.
    sha256_ni: bool,
    next_id: AtomicU64,
    bodies: Mutex<Bodies>,
    /// Signalled whenever a round ends.
    round_ended: tokio::sync::Notify,
}

#[derive(Default)]
struct Bodies {
    by_id: HashMap<u64, Body>,
    held: usize,
}

struct Body {
    /// `None` while a round is hashing this body.
    hashes: Option<Hashes>,
    held: VecDeque<Bytes>,
    held_len: usize,
    /// The body's [`BodyHashes`] was dropped during a round.
    left: bool,
}

/// One body's part in a round: its hashes and the bytes taken to hash.
struct Taken {
    id: u64,
    hashes: Hashes,
    chunks: VecDeque<Bytes>,
}

impl Shared {
    fn new(kernel: Kernel) -> Shared {
        Shared {
            kernel,
            sha256_ni: sha256_ni::available(),
            next_id: AtomicU64::new(NO_BODY + 1),
            bodies: Mutex::default(),
            round_ended: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bodies> {
        self.bodies.lock().expect("shared bodies lock poisoned")
    }

    fn join(&self, hashes: Hashes, chunk: Bytes) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = Body {
            hashes: Some(hashes),
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
        // A body a round has holds on: its caller waits ([`BodyHashes::caught_up`]).
        if (held_len < HOLD && bodies.held <= HELD_AT_MOST) || bodies.by_id[&id].hashes.is_none() {
            return;
        }
        let alone = bodies.held > HELD_AT_MOST;
        // With no company free (the others may all be in a round on another
        // worker), the body waits for some while it may still hold more:
        // past RUN_AHEAD, for the others' round to end
        // ([`BodyHashes::caught_up`]).
        if !alone
            && !bodies.by_id.iter().any(|(other, body)| may_join(id, *other, body))
            && (held_len < RUN_AHEAD || bodies.wait(id) == Wait::ForCompany)
        {
            return;
        }
        let round = take_round(&mut bodies, id, alone);
        drop(bodies);
        let round = self.hash(round);
        self.end_round(round);
    }

    /// Waits until the bodies are as `ready` asks, asking again whenever a
    /// round ends (which is when a body's state changes).
    async fn until(&self, mut ready: impl FnMut(&Bodies) -> bool) {
        loop {
            let round_ended = self.round_ended.notified();
            let mut round_ended = std::pin::pin!(round_ended);
            // Registered before the check, so that a round ending between
            // the check and the wait still wakes this one.
            round_ended.as_mut().enable();
            if ready(&self.lock()) {
                return;
            }
            round_ended.await;
        }
    }

    /// The body's hashes, once it has ended: what it still holds is hashed
    /// in a round with the others, unless that is little.
    async fn finish(&self, id: u64) -> ([u8; 16], Option<[u8; 32]>) {
        loop {
            self.until(|bodies| bodies.by_id.get(&id).is_none_or(|body| body.hashes.is_some()))
                .await;
            let mut bodies = self.lock();
            if bodies.by_id[&id].hashes.is_none() {
                continue;
            }
            if bodies.by_id[&id].held_len < HOLD / 4 {
                let body = bodies.by_id.remove(&id).expect("a shared body is registered");
                bodies.held -= body.held_len;
                drop(bodies);
                let mut hashes = body.hashes.expect("no round holds the body");
                for chunk in &body.held {
                    hashes.update(chunk);
                }
                return hashes.finalize();
            }
            let round = take_round(&mut bodies, id, false);
            drop(bodies);
            let round = self.hash(round);
            self.end_round(round);
        }
    }

    fn leave(&self, id: u64) {
        let mut bodies = self.lock();
        let Some(body) = bodies.by_id.get_mut(&id) else {
            return;
        };
        if body.hashes.is_none() {
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
                only.hashes.update(&chunk);
            }
            return round;
        }
        for taken in &mut round {
            taken.fill_block();
        }
        let blocks = round.iter().map(|taken| taken.len() / 64).min().unwrap_or(0);
        let mut md5_states: States = [[0; 4]; LANES];
        for (state, taken) in md5_states.iter_mut().zip(&round) {
            *state = taken.hashes.md5.chaining();
        }
        // The SHA-256s leave the round while it runs, since the slices
        // borrow it. With SHA-NI they run on chaining values, like the
        // MD5s; without, each body's AWS-LC context takes the same slices.
        let mut sha256s: Vec<(usize, Sha256)> = round
            .iter_mut()
            .enumerate()
            .filter_map(|(at, taken)| Some((at, taken.hashes.sha256.take()?)))
            .collect();
        let mut sha256_states: Vec<sha256_ni::State> = match self.sha256_ni {
            true => sha256s.iter().map(|(_, sha256)| sha256.chaining()).collect(),
            false => Vec::new(),
        };
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
                .min(blocks - done)
                .min(SLICE_BLOCKS);
            let data: [&[u8]; LANES] = std::array::from_fn(|lane| {
                let lane = lane.min(round.len() - 1);
                cursors[lane].bytes(&round[lane].chunks)
            });
            if self.sha256_ni {
                let slices: Vec<&[u8]> = sha256s.iter().map(|(at, _)| data[*at]).collect();
                let mut states: Vec<&mut sha256_ni::State> = sha256_states.iter_mut().collect();
                self.kernel
                    .md5_and_sha256(&mut md5_states, data, &mut states, &slices, run);
            } else {
                self.kernel.md5(&mut md5_states, data, run);
                for (at, sha256) in &mut sha256s {
                    sha256.update(&data[*at][..run * 64]);
                }
            }
            for cursor in &mut cursors {
                cursor.advance(run * 64);
            }
            done += run;
        }
        let skipped = blocks as u64 * 64;
        if blocks > 0 {
            for ((taken, cursor), state) in round.iter_mut().zip(&cursors).zip(md5_states) {
                taken.hashes.md5.skip_ahead(state, skipped);
                cursor.keep_rest(&mut taken.chunks);
            }
            for ((_, sha256), state) in sha256s.iter_mut().zip(sha256_states) {
                sha256.skip_ahead(state, skipped);
            }
        }
        for (at, sha256) in sha256s {
            round[at].hashes.sha256 = Some(sha256);
        }
        round
    }

    /// Gives each body of the round back its hashes and the bytes not yet
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
            body.hashes = Some(taken.hashes);
            body.held_len += rest;
            for chunk in taken.chunks.into_iter().rev() {
                body.held.push_front(chunk);
            }
            bodies.held += rest;
        }
        drop(bodies);
        self.round_ended.notify_waiters();
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
                .filter(|(other, body)| may_join(id, **other, body))
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
                hashes: body.hashes.take().expect("a chosen body is in no round"),
                chunks: std::mem::take(&mut body.held),
            }
        })
        .collect();
    bodies.held -= taken_len;
    round
}

/// What a body's next chunk waits for.
#[derive(Debug, PartialEq)]
enum Wait {
    No,
    /// The round that has the body, which holds [`RUN_AHEAD`].
    ForItsRound,
    /// The end of a round of others, since the body holds [`RUN_AHEAD`]
    /// and none is free to join it; then it goes on, so that rounds ending
    /// one after another never starve it.
    ForCompany,
}

impl Bodies {
    fn wait(&self, id: u64) -> Wait {
        let Some(body) = self.by_id.get(&id) else {
            return Wait::No;
        };
        if body.held_len < RUN_AHEAD {
            Wait::No
        } else if body.hashes.is_none() {
            Wait::ForItsRound
        } else if body.held_len < ALONE_PAST
            && self
                .by_id
                .iter()
                .any(|(other, body)| *other != id && body.hashes.is_none())
        {
            Wait::ForCompany
        } else {
            Wait::No
        }
    }
}

/// Whether the body `other` may join a round of the body `id`: it is in no
/// round and holds at least a quarter of [`HOLD`].
fn may_join(id: u64, other: u64, body: &Body) -> bool {
    other != id && body.hashes.is_some() && body.held_len >= HOLD / 4
}

impl Taken {
    fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// Completes the partly filled block of the hashes from the front of
    /// the chunks, so that the kernels start on a block boundary.
    fn fill_block(&mut self) {
        while self.hashes.md5.buffered() != 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            let wanted = (64 - self.hashes.md5.buffered()).min(front.len());
            self.hashes.update(&front.split_to(wanted));
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
    use futures::FutureExt;
    use futures::executor::block_on;

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
        let (mut first_hashes, mut second_hashes) = (BodyHashes::new(true), BodyHashes::new(false));
        // Past HOLD a body is shared; with no company it holds on.
        first_hashes.update(&first.slice(..HOLD + 1));
        let Mode::Shared(first_id) = first_hashes.0 else {
            panic!("a body past HOLD is shared");
        };
        assert_eq!(held_len(first_id), HOLD + 1, "a body with no company waits for some");
        // The second reached HOLD and took the first into its round, which
        // hashed what both held, block by block.
        second_hashes.update(&second.slice(..HOLD + 1));
        assert!(
            held_len(first_id) < 64,
            "the first body's bytes were hashed in the second's round"
        );
        // The second now holds too little to join: past RUN_AHEAD the first
        // hashes on its own.
        let ahead = HOLD + 1 + RUN_AHEAD;
        first_hashes.update(&first.slice(HOLD + 1..ahead));
        assert_eq!(held_len(first_id), 0, "past RUN_AHEAD a body hashes alone");
        first_hashes.update(&first.slice(ahead..));
        second_hashes.update(&second.slice(HOLD + 1..));
        assert_eq!(
            block_on(first_hashes.finalize()),
            (Md5::checksum(&first), Some(Sha256::checksum(&first)))
        );
        assert_eq!(block_on(second_hashes.finalize()), (Md5::checksum(&second), None));
    }

    #[test]
    fn a_body_with_no_company_past_run_ahead_waits_for_the_others_round() {
        if SHARED.is_none() {
            return;
        }
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (first, second) = (body(ALONE_PAST + 4 * HOLD, 3), body(2 * HOLD, 4));
        let (mut first_hashes, mut second_hashes) = (BodyHashes::new(true), BodyHashes::new(true));
        second_hashes.update(&second.slice(..HOLD + 1));
        first_hashes.update(&first.slice(..HOLD + 1));
        let (Mode::Shared(first_id), Mode::Shared(second_id)) = (&first_hashes.0, &second_hashes.0) else {
            panic!("bodies past HOLD are shared");
        };
        let (first_id, second_id) = (*first_id, *second_id);
        assert!(held_len(first_id) < 64, "the two bodies were hashed in one round");
        // The second is in a round, as on another worker: the first, past
        // RUN_AHEAD, holds on and waits for that round rather than hash alone.
        second_hashes.update(&second.slice(HOLD + 1..HOLD + HOLD / 2));
        let round = take_round(&mut shared().lock(), second_id, true);
        let ahead = HOLD + 1 + RUN_AHEAD;
        first_hashes.update(&first.slice(HOLD + 1..ahead));
        assert!(
            held_len(first_id) >= RUN_AHEAD,
            "a body with the others in a round holds on"
        );
        let mut caught_up = Box::pin(first_hashes.caught_up());
        assert!(
            (&mut caught_up).now_or_never().is_none(),
            "its next chunk waits for the round"
        );
        shared().end_round(shared().hash(round));
        assert!(
            (&mut caught_up).now_or_never().is_some(),
            "the round's end lets it go on"
        );
        // The second is free and holds enough: the first's next chunk takes
        // it into a round of the two.
        first_hashes.update(&first.slice(ahead..ahead + 1));
        assert!(held_len(second_id) < 64, "the first took the second into its round");
        // Past ALONE_PAST a body with no company is hashed alone, round or not.
        let round = take_round(&mut shared().lock(), second_id, true);
        first_hashes.update(&first.slice(ahead + 1..ahead + 1 + ALONE_PAST));
        assert_eq!(held_len(first_id), 0, "past ALONE_PAST a body hashes alone");
        shared().end_round(shared().hash(round));
        first_hashes.update(&first.slice(ahead + 1 + ALONE_PAST..));
        second_hashes.update(&second.slice(HOLD + HOLD / 2..));
        assert_eq!(
            block_on(first_hashes.finalize()),
            (Md5::checksum(&first), Some(Sha256::checksum(&first)))
        );
        assert_eq!(
            block_on(second_hashes.finalize()),
            (Md5::checksum(&second), Some(Sha256::checksum(&second)))
        );
    }

    /// Bodies on threads of their own, in chunks of awkward sizes (empty,
    /// shorter than a block, not a multiple of one), some abandoned half
    /// way, every other one with a SHA-256: every finished one gets the
    /// hashes of its bytes.
    #[test]
    fn concurrent_bodies_in_any_chunking_get_their_own_hashes() {
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
                    let with_sha256 = seed % 2 == 0;
                    let mut hashes = BodyHashes::new(with_sha256);
                    for (n, chunk) in chunks.iter().enumerate() {
                        if seed == 5 && n == chunks.len() / 2 {
                            return;
                        }
                        hashes.update(chunk);
                        block_on(hashes.caught_up());
                    }
                    let expected = (Md5::checksum(&body), with_sha256.then(|| Sha256::checksum(&body)));
                    assert_eq!(block_on(hashes.finalize()), expected, "body {seed}");
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
