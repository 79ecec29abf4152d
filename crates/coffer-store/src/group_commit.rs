//! Group commit: many writes, one transaction, one fsync.
//!
//! Concurrent writes share one open database transaction, the batch. Each
//! writer in turn holds the batch's transaction alone, applies its change on
//! its own thread, and hands it back; once no writer waits to apply (or the
//! batch is full), one of the batch's writers commits it durably, after
//! syncing the directories its writes' data files were renamed into. Every
//! writer of the batch is answered only then, so each write still returns
//! only once it is durable, and under load one commit and one fsync
//! acknowledge a whole batch.
//!
//! A write that fails may have changed the transaction before failing, and
//! its changes must not be committed with the others. So when a write fails
//! in a batch that already holds other writes, the batch is rolled back: its
//! writers apply their changes again in a later batch, and the failed write
//! runs again alone in a fresh transaction, where a failure discards only its
//! own changes. Writes are therefore closures that can run more than once;
//! they are answered from their last run.
//!
//! This owns the batch and its turns; opening and committing a transaction
//! are the closures [`GroupCommit::write`] is given, so this module calls
//! nothing.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use coffer_engine::{EngineError, EngineResult};

/// The most writes one batch holds: past this the batch commits even while
/// writers wait, so no batch grows without bound.
const MAX_BATCH_WRITES: usize = 64;

/// The shared batch of a database whose transactions are `Txn`.
pub struct GroupCommit<Txn> {
    state: Mutex<State<Txn>>,
    /// Signalled when the transaction is handed back and another writer may
    /// hold it.
    turn_free: Condvar,
    /// Signalled when the batch may be committed, or a batch has ended.
    batch_changed: Condvar,
}

struct State<Txn> {
    /// The current batch's transaction, while nobody holds it; `None` also
    /// before the batch's first write opens it.
    open: Option<Txn>,
    /// A writer or a committer holds the transaction.
    held: bool,
    /// Writers waiting to hold it.
    queued: usize,
    /// The number of the current batch, and the writes it holds.
    batch: u64,
    writes: usize,
    /// How ended batches ended, until each of their writers has been told.
    ended: HashMap<u64, Ended>,
    /// Directories whose new entries must be durable before the next commit,
    /// as writes waiting for it name files in them.
    directories: HashSet<PathBuf>,
}

struct Ended {
    ending: Ending,
    untold: usize,
}

#[derive(Clone)]
enum Ending {
    Durable,
    Failed(String),
    /// The batch was discarded uncommitted: its writes run again.
    RolledBack,
}

impl<Txn> Default for GroupCommit<Txn> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                open: None,
                held: false,
                queued: 0,
                batch: 0,
                writes: 0,
                ended: HashMap::new(),
                directories: HashSet::new(),
            }),
            turn_free: Condvar::new(),
            batch_changed: Condvar::new(),
        }
    }
}

impl<Txn> GroupCommit<Txn> {
    fn state(&self) -> MutexGuard<'_, State<Txn>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, condvar: &Condvar, state: MutexGuard<'a, State<Txn>>) -> MutexGuard<'a, State<Txn>> {
        condvar.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes a directory that gained an entry a write will refer to. Call it
    /// before that write.
    pub fn directory_changed(&self, directory: PathBuf) {
        self.state().directories.insert(directory);
    }

    /// Applies `work` in the current batch and returns its result once the
    /// batch is durable. `begin` opens a transaction when the batch has none;
    /// `commit` syncs the directories it is given and commits a batch
    /// durably, and is called when this writer is the one to commit.
    pub fn write<T>(
        &self,
        begin: impl Fn() -> EngineResult<Txn>,
        mut work: impl FnMut(&Txn) -> EngineResult<T>,
        commit: impl Fn(Txn, &[PathBuf]) -> EngineResult<()>,
    ) -> EngineResult<T> {
        loop {
            let mut turn = self.take_turn(&begin)?;
            let value = match work(turn.txn()) {
                Ok(value) => value,
                Err(err) if turn.batch_is_empty() => return Err(err),
                Err(_) => {
                    turn.roll_back(&begin)?;
                    work(turn.txn())?
                }
            };
            let batch = turn.join();
            match self.await_end(batch, &commit) {
                Ending::Durable => return Ok(value),
                Ending::Failed(failure) => return Err(EngineError::Internal(failure)),
                Ending::RolledBack => continue,
            }
        }
    }

    /// Waits to hold the batch's transaction, opening one if it has none.
    fn take_turn(&self, begin: &impl Fn() -> EngineResult<Txn>) -> EngineResult<Turn<'_, Txn>> {
        let mut state = self.state();
        state.queued += 1;
        while state.held || state.writes >= MAX_BATCH_WRITES {
            state = self.wait(&self.turn_free, state);
        }
        state.queued -= 1;
        let mut turn = Turn::take(self, &mut state);
        drop(state);
        if turn.txn.is_none() {
            turn.txn = Some(begin()?);
        }
        Ok(turn)
    }

    /// Waits until `batch` ends, committing it if this writer is the one to.
    fn await_end(&self, batch: u64, commit: &impl Fn(Txn, &[PathBuf]) -> EngineResult<()>) -> Ending {
        let mut state = self.state();
        loop {
            if let Some(ended) = state.ended.get_mut(&batch) {
                let ending = ended.ending.clone();
                ended.untold -= 1;
                if ended.untold == 0 {
                    state.ended.remove(&batch);
                }
                return ending;
            }
            let may_commit =
                state.batch == batch && !state.held && (state.queued == 0 || state.writes >= MAX_BATCH_WRITES);
            if !may_commit {
                state = self.wait(&self.batch_changed, state);
                continue;
            }
            let mut turn = Turn::take(self, &mut state);
            turn.directories = state.directories.drain().collect();
            drop(state);
            let txn = turn
                .txn
                .take()
                .expect("a batch that holds writes has its transaction open");
            let ending = match commit(txn, &turn.directories) {
                Ok(()) => {
                    turn.directories.clear();
                    Ending::Durable
                }
                Err(err) => Ending::Failed(format!("the metadata commit could not be made durable: {err}")),
            };
            turn.release(ending);
            state = self.state();
        }
    }

    /// Records how the current batch ended, for its writers, and starts the
    /// next one.
    fn end_batch(&self, state: &mut State<Txn>, ending: Ending) {
        if state.writes > 0 {
            let untold = state.writes;
            state.ended.insert(state.batch, Ended { ending, untold });
            self.batch_changed.notify_all();
        }
        state.batch += 1;
        state.writes = 0;
    }

    /// Frees the turn and wakes a queued writer to take it. With none queued
    /// (or the batch full) nobody is woken: the writer handing the turn back
    /// goes on to commit the batch, or has just ended it.
    fn hand_back(&self, state: &mut State<Txn>) {
        state.held = false;
        if state.queued > 0 && state.writes < MAX_BATCH_WRITES {
            self.turn_free.notify_one();
        }
    }
}

/// Holding the batch's transaction (or, to commit it, the batch itself).
/// Dropped while still holding it (a panic, a failed `begin`, a failed write
/// in an empty batch), it discards the transaction, rolls back the batch's
/// writes if it has any, and hands the turn back, so nobody waits forever.
struct Turn<'a, Txn> {
    group: &'a GroupCommit<Txn>,
    txn: Option<Txn>,
    /// The directories a commit synced or is syncing: noted again if the
    /// commit does not succeed, since its writes' files stay.
    directories: Vec<PathBuf>,
    holding: bool,
}

impl<'a, Txn> Turn<'a, Txn> {
    fn take(group: &'a GroupCommit<Txn>, state: &mut State<Txn>) -> Turn<'a, Txn> {
        state.held = true;
        Turn {
            group,
            txn: state.open.take(),
            directories: Vec::new(),
            holding: true,
        }
    }

    fn txn(&self) -> &Txn {
        self.txn.as_ref().expect("a turn holds a transaction until it ends")
    }

    fn batch_is_empty(&self) -> bool {
        self.group.state().writes == 0
    }

    /// Discards the batch's transaction and its writes, which run again, and
    /// opens a fresh transaction for this writer alone.
    fn roll_back(&mut self, begin: &impl Fn() -> EngineResult<Txn>) -> EngineResult<()> {
        self.txn = None;
        self.group.end_batch(&mut self.group.state(), Ending::RolledBack);
        self.txn = Some(begin()?);
        Ok(())
    }

    /// Hands the transaction back with this writer's change in it; returns
    /// the batch the change belongs to.
    fn join(mut self) -> u64 {
        let mut state = self.group.state();
        state.open = self.txn.take();
        state.writes += 1;
        self.holding = false;
        self.group.hand_back(&mut state);
        state.batch
    }

    /// Ends the batch, its transaction gone, and hands the turn back.
    fn release(&mut self, ending: Ending) {
        self.txn = None;
        let mut state = self.group.state();
        state.open = None;
        state.directories.extend(self.directories.drain(..));
        self.group.end_batch(&mut state, ending);
        self.holding = false;
        self.group.hand_back(&mut state);
    }
}

impl<Txn> Drop for Turn<'_, Txn> {
    fn drop(&mut self) {
        if self.holding {
            self.release(Ending::RolledBack);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::Duration;

    use super::*;

    /// A database of strings: a transaction is a copy of the committed rows
    /// that its writes append to; a commit replaces the rows with it.
    #[derive(Default)]
    struct Rows {
        committed: Mutex<Vec<String>>,
        commits: AtomicUsize,
        synced: Mutex<Vec<PathBuf>>,
        fail_commits: AtomicUsize,
        group: GroupCommit<Mutex<Vec<String>>>,
    }

    impl Rows {
        fn write<T>(&self, work: impl FnMut(&Mutex<Vec<String>>) -> EngineResult<T>) -> EngineResult<T> {
            self.group.write(
                || Ok(Mutex::new(self.committed.lock().unwrap().clone())),
                work,
                |txn, directories| {
                    self.synced.lock().unwrap().extend_from_slice(directories);
                    if self.fail_commits.load(Ordering::SeqCst) > 0 {
                        self.fail_commits.fetch_sub(1, Ordering::SeqCst);
                        return Err(EngineError::Internal("disk gone".into()));
                    }
                    self.commits.fetch_add(1, Ordering::SeqCst);
                    *self.committed.lock().unwrap() = txn.into_inner().unwrap();
                    Ok(())
                },
            )
        }

        fn rows(&self) -> Vec<String> {
            let mut rows = self.committed.lock().unwrap().clone();
            rows.sort();
            rows
        }
    }

    fn append(txn: &Mutex<Vec<String>>, row: &str) {
        txn.lock().unwrap().push(row.to_owned());
    }

    /// Lets `first` hold the turn until the other writers have had time to
    /// queue behind it.
    fn hold_until_queued(started: &Barrier) {
        started.wait();
        thread::sleep(Duration::from_millis(100));
    }

    #[test]
    fn writers_that_queue_share_one_commit() {
        let rows = Arc::new(Rows::default());
        let started = Arc::new(Barrier::new(8));
        let writers: Vec<_> = (0..8)
            .map(|n| {
                let (rows, started) = (Arc::clone(&rows), Arc::clone(&started));
                thread::spawn(move || {
                    if n == 0 {
                        rows.write(|txn| {
                            append(txn, "w0");
                            hold_until_queued(&started);
                            Ok(())
                        })
                    } else {
                        started.wait();
                        rows.write(|txn| Ok(append(txn, &format!("w{n}"))))
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap().unwrap();
        }
        assert_eq!(rows.rows(), (0..8).map(|n| format!("w{n}")).collect::<Vec<_>>());
        assert!(
            rows.commits.load(Ordering::SeqCst) <= 2,
            "eight queued writes share the commits"
        );
    }

    #[test]
    fn a_write_failing_after_a_change_rolls_back_its_batch_and_only_its_own_change_is_lost() {
        let rows = Arc::new(Rows::default());
        let started = Arc::new(Barrier::new(2));
        let first_runs = Arc::new(AtomicUsize::new(0));
        let first = {
            let (rows, started, runs) = (Arc::clone(&rows), Arc::clone(&started), Arc::clone(&first_runs));
            thread::spawn(move || {
                rows.write(|txn| {
                    append(txn, "kept");
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        hold_until_queued(&started);
                    }
                    Ok(())
                })
            })
        };
        started.wait();
        let failed = rows.write(|txn| {
            append(txn, "half-done");
            Err::<(), _>(EngineError::NoSuchBucket("b".into()))
        });
        assert!(matches!(failed, Err(EngineError::NoSuchBucket(_))));
        first.join().unwrap().unwrap();
        assert_eq!(rows.rows(), ["kept"]);
        assert_eq!(first_runs.load(Ordering::SeqCst), 2, "the rolled-back write ran again");
    }

    #[test]
    fn a_write_that_panics_loses_no_other_write_and_blocks_nobody() {
        let rows = Arc::new(Rows::default());
        let started = Arc::new(Barrier::new(2));
        let first = {
            let (rows, started) = (Arc::clone(&rows), Arc::clone(&started));
            let mut runs = 0;
            thread::spawn(move || {
                rows.write(|txn| {
                    append(txn, "kept");
                    runs += 1;
                    if runs == 1 {
                        hold_until_queued(&started);
                    }
                    Ok(())
                })
            })
        };
        let panicking = {
            let rows = Arc::clone(&rows);
            thread::spawn(move || {
                started.wait();
                rows.write(|txn| -> EngineResult<()> {
                    append(txn, "torn");
                    panic!("a bug in a write")
                })
            })
        };
        assert!(panicking.join().is_err());
        first.join().unwrap().unwrap();
        rows.write(|txn| Ok(append(txn, "later"))).unwrap();
        assert_eq!(rows.rows(), ["kept", "later"]);
    }

    #[test]
    fn a_failed_commit_fails_its_writes_and_keeps_their_directories_for_the_next() {
        let rows = Rows::default();
        rows.fail_commits.store(1, Ordering::SeqCst);
        rows.group.directory_changed(PathBuf::from("/data/ab"));
        let failed = rows.write(|txn| Ok(append(txn, "lost")));
        assert!(matches!(failed, Err(EngineError::Internal(message)) if message.contains("disk gone")));
        rows.write(|txn| Ok(append(txn, "kept"))).unwrap();
        assert_eq!(rows.rows(), ["kept"]);
        let synced = rows.synced.lock().unwrap().clone();
        assert_eq!(synced, [PathBuf::from("/data/ab"), PathBuf::from("/data/ab")]);
    }
}
