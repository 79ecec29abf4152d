//! Group commit: many writes, one transaction, one fsync.
//!
//! Concurrent writes share one open database transaction, the batch. Each
//! write applies its change to the batch's transaction in turn, on its own
//! task and without waiting for any other thread; once every writer that was
//! waiting has applied (or the batch is full), the last of them hands the
//! batch to the committing thread, which syncs the directories its writes'
//! data files were renamed into, commits it durably and tells its writers.
//! Writers waiting on a batch await it without holding a thread, and are
//! answered only once it is durable, so each write still returns only once
//! it is durable, and under load one commit and one fsync acknowledge a
//! whole batch. The database has one writer: while a batch commits, new
//! writes wait for it, and form the next batch. The commit runs on a thread
//! of its own, so no runtime worker blocks in the sync or hands its tasks to
//! another thread, and a batch ends even if the writer that handed it over
//! has gone.
//!
//! A write that fails may have changed the transaction before failing, and
//! its changes must not be committed with the others. So when a write fails
//! in a batch that already holds other writes, the batch is rolled back: its
//! writers apply their changes again in a later batch, and the failed write
//! runs again alone in a fresh transaction, where a failure discards only its
//! own changes. Writes are therefore closures that can run more than once;
//! they are answered from their last run.
//!
//! This owns the batch, whose turn it is and the committing thread; opening
//! and committing a transaction are the closures it is given, so this module
//! calls nothing.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use coffer_engine::{EngineError, EngineResult};
use tokio::sync::Notify;

/// The most writes one batch holds: past this the batch commits even while
/// writers wait, so no batch grows without bound.
const MAX_BATCH_WRITES: usize = 64;

/// The shared batch of a database whose transactions are `Txn`.
pub struct GroupCommit<Txn> {
    shared: Arc<Shared<Txn>>,
    /// Hands batches to the committing thread; taken on drop, which ends
    /// the thread.
    batches: Option<Sender<Batch<Txn>>>,
    committer: Option<JoinHandle<()>>,
}

/// What the writers and the committing thread share.
struct Shared<Txn> {
    state: Mutex<State<Txn>>,
    /// Woken when a commit starts or ends, or a writer stops waiting.
    changed: Notify,
}

/// A batch handed to the committing thread.
struct Batch<Txn> {
    txn: Txn,
    directories: Vec<PathBuf>,
}

struct State<Txn> {
    /// The current batch's transaction; `None` before the batch's first write
    /// opens it, and while the batch commits.
    open: Option<Txn>,
    committing: bool,
    /// Writers waiting to apply their change, once the commit under way ends.
    waiting: usize,
    /// The number of the current batch, the writes it holds, and how many of
    /// their writers have gone (their requests cancelled) and need no answer.
    batch: u64,
    writes: usize,
    departed: usize,
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

impl<Txn: Send + 'static> GroupCommit<Txn> {
    /// Starts the committing thread. `commit` syncs the directories it is
    /// given and commits a batch durably; it runs on that thread, one batch
    /// at a time.
    pub fn new(commit: impl Fn(Txn, &[PathBuf]) -> EngineResult<()> + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                open: None,
                committing: false,
                waiting: 0,
                batch: 0,
                writes: 0,
                departed: 0,
                ended: HashMap::new(),
                directories: HashSet::new(),
            }),
            changed: Notify::new(),
        });
        let (batches, handed) = channel();
        let committer = std::thread::Builder::new().name("metadata-commit".into()).spawn({
            let shared = Arc::clone(&shared);
            move || shared.commit_batches(handed, commit)
        })?;
        Ok(GroupCommit {
            shared,
            batches: Some(batches),
            committer: Some(committer),
        })
    }
}

impl<Txn> Shared<Txn> {
    fn state(&self) -> MutexGuard<'_, State<Txn>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The committing thread: commits each batch handed to it and tells its
    /// writers how it ended. A panic in `commit` fails the batch (it may have
    /// committed, so its writes must not run again), not the thread.
    fn commit_batches(&self, handed: Receiver<Batch<Txn>>, commit: impl Fn(Txn, &[PathBuf]) -> EngineResult<()>) {
        for Batch { txn, directories } in handed {
            let ending = match catch_unwind(AssertUnwindSafe(|| commit(txn, &directories))) {
                Ok(Ok(())) => Ending::Durable,
                Ok(Err(err)) => Ending::Failed(format!("the metadata commit could not be made durable: {err}")),
                Err(_) => Ending::Failed("the metadata commit panicked".into()),
            };
            self.end_commit(ending, directories);
        }
    }

    /// Ends the batch under commit and wakes every writer. The directories
    /// of a commit that did not succeed are kept, since their files stay and
    /// their writes may be tried again.
    fn end_commit(&self, ending: Ending, directories: Vec<PathBuf>) {
        let mut state = self.state();
        if !matches!(ending, Ending::Durable) {
            state.directories.extend(directories);
        }
        state.committing = false;
        end_batch(&mut state, ending);
        drop(state);
        self.changed.notify_waiters();
    }
}

impl<Txn> Drop for GroupCommit<Txn> {
    /// Lets the committing thread finish the batch it holds, and stop.
    fn drop(&mut self) {
        self.batches.take();
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}

impl<Txn> GroupCommit<Txn> {
    fn state(&self) -> MutexGuard<'_, State<Txn>> {
        self.shared.state()
    }

    /// Notes a directory that gained an entry a write will refer to. Call it
    /// before that write.
    pub fn directory_changed(&self, directory: PathBuf) {
        self.state().directories.insert(directory);
    }

    /// Applies `work` in the current batch and returns its result once the
    /// batch is durable. `begin` opens a transaction when the batch has none.
    pub async fn write<T>(
        &self,
        begin: impl Fn() -> EngineResult<Txn>,
        mut work: impl FnMut(&Txn) -> EngineResult<T>,
    ) -> EngineResult<T> {
        loop {
            let (value, batch) = self.apply(&begin, &mut work).await?;
            let mut told = Told {
                group: self,
                batch: Some(batch),
            };
            match self.await_end(&mut told).await {
                Ending::Durable => return Ok(value),
                Ending::Failed(failure) => return Err(EngineError::Internal(failure)),
                Ending::RolledBack => continue,
            }
        }
    }

    /// Applies `work` to the batch's transaction once no commit is under
    /// way; returns its result and the batch it joined.
    async fn apply<T>(
        &self,
        begin: &impl Fn() -> EngineResult<Txn>,
        work: &mut impl FnMut(&Txn) -> EngineResult<T>,
    ) -> EngineResult<(T, u64)> {
        let mut waiting = Waiting {
            group: self,
            counted: false,
        };
        loop {
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            if let Some(applied) = self.try_apply(&mut waiting, begin, work) {
                return applied;
            }
            changed.await;
        }
    }

    /// Applies `work` now, or (`None`) counts this writer as waiting while a
    /// commit is under way or the batch is full.
    fn try_apply<T>(
        &self,
        waiting: &mut Waiting<'_, Txn>,
        begin: &impl Fn() -> EngineResult<Txn>,
        work: &mut impl FnMut(&Txn) -> EngineResult<T>,
    ) -> Option<EngineResult<(T, u64)>> {
        let mut state = self.state();
        if state.committing || state.writes >= MAX_BATCH_WRITES {
            if !waiting.counted {
                waiting.counted = true;
                state.waiting += 1;
            }
            return None;
        }
        if waiting.counted {
            waiting.counted = false;
            state.waiting -= 1;
        }
        let mut turn = Turn {
            state,
            txn: None,
            changed: &self.shared.changed,
        };
        let value = match turn.run(begin, work) {
            Ok(value) => value,
            Err(err) if turn.state.writes == 0 => return Some(Err(err)),
            Err(_) => {
                turn.roll_back();
                match turn.run(begin, work) {
                    Ok(value) => value,
                    Err(err) => return Some(Err(err)),
                }
            }
        };
        Some(Ok((value, turn.join())))
    }

    /// Waits until the batch ends, handing it to the committing thread if
    /// this writer is the one to: the batch is current, nobody commits, and
    /// no writer still waits to join it (or it is full).
    async fn await_end(&self, told: &mut Told<'_, Txn>) -> Ending {
        loop {
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            match self.end_or_commit(told) {
                Some(ending) => return ending,
                None => changed.await,
            }
        }
    }

    /// The batch's ending if it has ended; otherwise hands the batch over to
    /// be committed if this writer may, and returns `None` to wait.
    fn end_or_commit(&self, told: &mut Told<'_, Txn>) -> Option<Ending> {
        let batch = told.batch.expect("a writer is told its batch's end once");
        let mut state = self.state();
        if let Some(ending) = told.take(&mut state) {
            return Some(ending);
        }
        let may_commit =
            state.batch == batch && !state.committing && (state.waiting == 0 || state.writes >= MAX_BATCH_WRITES);
        if !may_commit {
            return None;
        }
        let txn = state
            .open
            .take()
            .expect("a batch that holds writes has its transaction open");
        state.committing = true;
        let directories = state.directories.drain().collect();
        drop(state);
        let handed = self
            .batches
            .as_ref()
            .map(|batches| batches.send(Batch { txn, directories }));
        if let Some(Err(unsent)) = handed {
            let stopped = Ending::Failed("the metadata commit thread has stopped".into());
            self.shared.end_commit(stopped, unsent.0.directories);
        }
        None
    }
}

/// Records how the current batch ended, for its writers, and starts the
/// next one. The caller wakes the writers.
fn end_batch<Txn>(state: &mut State<Txn>, ending: Ending) {
    let untold = state.writes - state.departed;
    if untold > 0 {
        state.ended.insert(state.batch, Ended { ending, untold });
    }
    state.open = None;
    state.batch += 1;
    state.writes = 0;
    state.departed = 0;
}

/// The batch's transaction, held to apply one write. Dropped before the write
/// joins (a panic in it, or a failure), it discards the transaction and, if
/// the batch holds other writes, rolls them back, so none is committed with a
/// half-applied change; either way it wakes the batch's writers, one of which
/// may now commit.
struct Turn<'a, Txn> {
    state: MutexGuard<'a, State<Txn>>,
    txn: Option<Txn>,
    changed: &'a Notify,
}

impl<Txn> Turn<'_, Txn> {
    fn run<T>(
        &mut self,
        begin: &impl Fn() -> EngineResult<Txn>,
        work: &mut impl FnMut(&Txn) -> EngineResult<T>,
    ) -> EngineResult<T> {
        let txn = match self.state.open.take() {
            Some(txn) => txn,
            None => begin()?,
        };
        work(self.txn.insert(txn))
    }

    /// Discards the batch and its writes, which run again.
    fn roll_back(&mut self) {
        self.txn = None;
        end_batch(&mut self.state, Ending::RolledBack);
        self.changed.notify_waiters();
    }

    /// Hands the transaction back with this write's change in it; returns
    /// the batch the change belongs to.
    fn join(mut self) -> u64 {
        self.state.open = self.txn.take();
        self.state.writes += 1;
        self.state.batch
    }
}

impl<Txn> Drop for Turn<'_, Txn> {
    fn drop(&mut self) {
        let Some(txn) = self.txn.take() else {
            return;
        };
        drop(txn);
        if self.state.writes > 0 {
            end_batch(&mut self.state, Ending::RolledBack);
        }
        // Writers woken now look once the state's lock is released.
        self.changed.notify_waiters();
    }
}

/// A writer counted among those waiting to apply; uncounted if it is dropped
/// (its request cancelled) while waiting, so the batch need not wait for it.
struct Waiting<'a, Txn> {
    group: &'a GroupCommit<Txn>,
    counted: bool,
}

impl<Txn> Drop for Waiting<'_, Txn> {
    fn drop(&mut self) {
        if self.counted {
            self.group.state().waiting -= 1;
            self.group.shared.changed.notify_waiters();
        }
    }
}

/// A writer's claim on its batch's ending; given up if the writer is dropped
/// before being told, so the ending is not kept for it forever.
struct Told<'a, Txn> {
    group: &'a GroupCommit<Txn>,
    batch: Option<u64>,
}

impl<Txn> Told<'_, Txn> {
    fn take(&mut self, state: &mut State<Txn>) -> Option<Ending> {
        let batch = self.batch?;
        let ended = state.ended.get_mut(&batch)?;
        let ending = ended.ending.clone();
        ended.untold -= 1;
        if ended.untold == 0 {
            state.ended.remove(&batch);
        }
        self.batch = None;
        Some(ending)
    }
}

impl<Txn> Drop for Told<'_, Txn> {
    fn drop(&mut self) {
        let Some(batch) = self.batch else {
            return;
        };
        let mut state = self.group.state();
        if state.batch == batch {
            state.departed += 1;
        } else {
            let _ = self.take(&mut state);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A database of strings: a transaction is a copy of the committed rows
    /// that its writes append to; a commit replaces the rows with it.
    #[derive(Default)]
    struct Disk {
        committed: Mutex<Vec<String>>,
        commits: AtomicUsize,
        synced: Mutex<Vec<PathBuf>>,
        /// The next this many commits fail.
        failing_commits: AtomicUsize,
        /// The next this many commits take 200 ms, for writers to queue.
        slow_commits: AtomicUsize,
    }

    impl Disk {
        fn commit(&self, txn: Mutex<Vec<String>>, directories: &[PathBuf]) -> EngineResult<()> {
            let take_one = |count: &AtomicUsize| {
                count
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            };
            self.synced.lock().unwrap().extend_from_slice(directories);
            if take_one(&self.slow_commits) {
                std::thread::sleep(Duration::from_millis(200));
            }
            if take_one(&self.failing_commits) {
                return Err(EngineError::Internal("disk gone".into()));
            }
            self.commits.fetch_add(1, Ordering::SeqCst);
            *self.committed.lock().unwrap() = txn.into_inner().unwrap();
            Ok(())
        }
    }

    struct Rows {
        disk: Arc<Disk>,
        group: GroupCommit<Mutex<Vec<String>>>,
    }

    impl Default for Rows {
        fn default() -> Self {
            let disk = Arc::new(Disk::default());
            let group = GroupCommit::new({
                let disk = Arc::clone(&disk);
                move |txn, directories| disk.commit(txn, directories)
            })
            .unwrap();
            Rows { disk, group }
        }
    }

    impl Rows {
        async fn write<T>(&self, work: impl FnMut(&Mutex<Vec<String>>) -> EngineResult<T>) -> EngineResult<T> {
            self.group
                .write(|| Ok(Mutex::new(self.disk.committed.lock().unwrap().clone())), work)
                .await
        }

        fn rows(&self) -> Vec<String> {
            let mut rows = self.disk.committed.lock().unwrap().clone();
            rows.sort();
            rows
        }
    }

    fn append(txn: &Mutex<Vec<String>>, row: &str) -> EngineResult<()> {
        txn.lock().unwrap().push(row.to_owned());
        Ok(())
    }

    /// Starts a write of `row` whose commit is slow, and returns once it is
    /// committing: writers started now wait for it, in the order started.
    async fn commit_slowly(rows: &Arc<Rows>, row: &'static str) -> tokio::task::JoinHandle<EngineResult<()>> {
        rows.disk.slow_commits.store(1, Ordering::SeqCst);
        let writer = {
            let rows = Arc::clone(rows);
            tokio::spawn(async move { rows.write(|txn| append(txn, row)).await })
        };
        while rows.disk.slow_commits.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        writer
    }

    // One worker thread, so writers woken together apply in the order they
    // started waiting; the slow commit runs on the committing thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn writers_that_wait_for_a_commit_share_the_next_one() {
        let rows = Arc::new(Rows::default());
        let first = commit_slowly(&rows, "w0").await;
        let waiting: Vec<_> = (1..8)
            .map(|n| {
                let rows = Arc::clone(&rows);
                tokio::spawn(async move { rows.write(|txn| append(txn, &format!("w{n}"))).await })
            })
            .collect();
        first.await.unwrap().unwrap();
        for writer in waiting {
            writer.await.unwrap().unwrap();
        }
        assert_eq!(rows.rows(), (0..8).map(|n| format!("w{n}")).collect::<Vec<_>>());
        assert_eq!(
            rows.disk.commits.load(Ordering::SeqCst),
            2,
            "the seven waiting writes share one commit"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_write_failing_after_a_change_rolls_back_its_batch_and_only_its_own_change_is_lost() {
        let rows = Arc::new(Rows::default());
        let first = commit_slowly(&rows, "w0").await;
        let kept_runs = Arc::new(AtomicUsize::new(0));
        let kept = {
            let (rows, runs) = (Arc::clone(&rows), Arc::clone(&kept_runs));
            tokio::spawn(async move {
                rows.write(|txn| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    append(txn, "kept")
                })
                .await
            })
        };
        let failing = {
            let rows = Arc::clone(&rows);
            tokio::spawn(async move {
                rows.write(|txn| {
                    append(txn, "half-done")?;
                    Err::<(), _>(EngineError::NoSuchBucket("b".into()))
                })
                .await
            })
        };
        first.await.unwrap().unwrap();
        assert!(matches!(failing.await.unwrap(), Err(EngineError::NoSuchBucket(_))));
        kept.await.unwrap().unwrap();
        assert_eq!(rows.rows(), ["kept", "w0"]);
        assert_eq!(kept_runs.load(Ordering::SeqCst), 2, "the rolled-back write ran again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_write_that_panics_loses_no_other_write_and_blocks_nobody() {
        let rows = Arc::new(Rows::default());
        let first = commit_slowly(&rows, "w0").await;
        let kept = {
            let rows = Arc::clone(&rows);
            tokio::spawn(async move { rows.write(|txn| append(txn, "kept")).await })
        };
        let panicking = {
            let rows = Arc::clone(&rows);
            tokio::spawn(async move {
                rows.write(|txn| -> EngineResult<()> {
                    append(txn, "torn")?;
                    panic!("a bug in a write")
                })
                .await
            })
        };
        first.await.unwrap().unwrap();
        assert!(panicking.await.is_err());
        kept.await.unwrap().unwrap();
        rows.write(|txn| append(txn, "later")).await.unwrap();
        assert_eq!(rows.rows(), ["kept", "later", "w0"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_writer_that_goes_away_while_waiting_holds_up_nobody() {
        let rows = Arc::new(Rows::default());
        let first = commit_slowly(&rows, "w0").await;
        let gone = {
            let rows = Arc::clone(&rows);
            tokio::spawn(async move { rows.write(|txn| append(txn, "gone")).await })
        };
        let kept = {
            let rows = Arc::clone(&rows);
            tokio::spawn(async move { rows.write(|txn| append(txn, "kept")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        gone.abort();
        first.await.unwrap().unwrap();
        kept.await.unwrap().unwrap();
        assert_eq!(rows.rows(), ["kept", "w0"]);
        assert!(
            rows.group.state().ended.is_empty(),
            "no ending is kept for a writer gone"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_batch_commits_and_ends_after_the_writer_that_handed_it_over_has_gone() {
        let rows = Arc::new(Rows::default());
        let first = commit_slowly(&rows, "w0").await;
        first.abort();
        let later = rows.write(|txn| append(txn, "later")).await;
        later.unwrap();
        assert_eq!(rows.rows(), ["later", "w0"]);
        assert_eq!(rows.disk.commits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_commit_fails_its_writes_and_keeps_their_directories_for_the_next() {
        let rows = Rows::default();
        rows.disk.failing_commits.store(1, Ordering::SeqCst);
        rows.group.directory_changed(PathBuf::from("/data/ab"));
        let failed = rows.write(|txn| append(txn, "lost")).await;
        assert!(matches!(failed, Err(EngineError::Internal(message)) if message.contains("disk gone")));
        rows.write(|txn| append(txn, "kept")).await.unwrap();
        assert_eq!(rows.rows(), ["kept"]);
        let synced = rows.disk.synced.lock().unwrap().clone();
        assert_eq!(synced, [PathBuf::from("/data/ab"), PathBuf::from("/data/ab")]);
    }
}
