//! Group commit: many writers, one fsync.
//!
//! Every metadata write commits to redb without syncing (redb keeps such a
//! commit out of the file's header, so a crash forgets it), then waits until a
//! durable commit covers it. One waiter at a time leads: it takes redb's write
//! lock, so no commit can slip in unseen, notes how many commits there are,
//! fsyncs the directories those commits' data files were renamed into, and
//! makes an empty durable commit, which persists every commit before it. The
//! writers that queued behind it are answered together, so under load one
//! fsync acknowledges a whole batch of writes, and each write still returns
//! only once it is durable.
//!
//! This owns the bookkeeping (tickets, the leader's turn, the directories to
//! sync); the leader's work itself is the closure [`GroupCommit::wait_durable`]
//! is given, so this module calls nothing.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use coffer_engine::{EngineError, EngineResult};

/// The state of the commits made since the database was opened.
#[derive(Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    turn_done: Condvar,
}

#[derive(Default)]
struct State {
    /// Commits made so far; a commit's ticket is the count it raised this to.
    committed: u64,
    /// Every commit whose ticket is at most this is durable.
    durable: u64,
    /// Every commit whose ticket is at most this (and above `durable`) was
    /// waiting when a durable commit failed; they are answered with the error.
    failed: u64,
    failure: String,
    leading: bool,
    /// Directories whose new entries must be durable before the next durable
    /// commit, as commits waiting for it name files in them.
    directories: HashSet<PathBuf>,
}

impl GroupCommit {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes a directory that gained an entry the next commit will refer to.
    /// Call it before that commit.
    pub fn directory_changed(&self, directory: PathBuf) {
        self.state().directories.insert(directory);
    }

    /// Counts a commit that has just returned; its ticket for
    /// [`GroupCommit::wait_durable`].
    pub fn committed(&self) -> u64 {
        let mut state = self.state();
        state.committed += 1;
        state.committed
    }

    /// Returns once the commit with `ticket` is durable. If no turn is under
    /// way, this caller leads one: `lock` takes redb's write lock (a write
    /// transaction), so that every commit counted then is already in the
    /// database and every commit not counted waits for a later turn; then
    /// `make_durable` syncs the directories noted so far and commits that
    /// transaction durably.
    pub fn wait_durable<Lock>(
        &self,
        ticket: u64,
        lock: impl FnOnce() -> EngineResult<Lock>,
        make_durable: impl FnOnce(Lock, &[PathBuf]) -> EngineResult<()>,
    ) -> EngineResult<()> {
        let mut turn = Some((lock, make_durable));
        let mut state = self.state();
        loop {
            if state.durable >= ticket {
                return Ok(());
            }
            if state.failed >= ticket {
                return Err(EngineError::Internal(state.failure.clone()));
            }
            // A turn covers every commit counted before it, so a caller leads
            // at most once: afterwards its ticket is durable or failed.
            let next = if state.leading { None } else { turn.take() };
            let Some((lock, make_durable)) = next else {
                state = self
                    .turn_done
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            };
            state.leading = true;
            drop(state);
            let outcome = self.lead(lock, make_durable);
            state = self.state();
            state.leading = false;
            match outcome {
                Ok(covered) => state.durable = state.durable.max(covered),
                Err(err) => {
                    state.failed = state.committed;
                    state.failure = format!("the metadata commit could not be made durable: {err}");
                }
            }
            self.turn_done.notify_all();
        }
    }

    /// One turn; returns the count of commits it made durable.
    fn lead<Lock>(
        &self,
        lock: impl FnOnce() -> EngineResult<Lock>,
        make_durable: impl FnOnce(Lock, &[PathBuf]) -> EngineResult<()>,
    ) -> EngineResult<u64> {
        let locked = lock()?;
        let (covers, directories) = {
            let mut state = self.state();
            (state.committed, state.directories.drain().collect::<Vec<_>>())
        };
        make_durable(locked, &directories).inspect_err(|_| {
            // The batch's commits stay in the database and a later durable
            // commit will persist them: their files' entries must be synced
            // before that one, too.
            self.state().directories.extend(directories);
        })?;
        Ok(covers)
    }
}
