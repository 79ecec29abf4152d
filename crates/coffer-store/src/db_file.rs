//! The metadata database's file: redb's own file backend, except that new
//! space is written with zeros, by a thread of its own, soon after the file
//! grows.
//!
//! redb grows its file in large steps, as a hole, and then fills the new
//! space page by page over many commits. A commit that writes into a hole
//! makes the file system allocate blocks, and its `fdatasync` then also
//! writes the file's block map and inode, one after the other, after the
//! pages themselves. Blocks already written as zeros need neither, so each
//! commit's sync waits for its pages alone.
//!
//! Growing claims the new space at once (`fallocate`), so a growth that
//! does not fit on the volume fails cleanly, before any commit writes into
//! it, and a commit never meets a full volume halfway through its pages. The
//! zeroing thread then fills the new space piece by piece behind the
//! commits, syncing as it goes so that no commit's sync inherits its
//! backlog. It never writes over a byte redb has written: redb's writes at or
//! past the zeroing's mark are noted before they are made, and skipped.
//! Space that was a hole before this process opened the file stays one,
//! since what redb wrote there before is not known; so does new space on a
//! file system without `fallocate`.
//!
//! This may call redb's backend and the file system; it knows nothing of the
//! tables.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::{Bound, Range};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Zeros are written in pieces of this size, each under the lock that
/// redb's writes take to note themselves, so a piece is also the longest a
/// redb write waits for the zeroing.
const ZEROS_PIECE_BYTES: u64 = 256 << 10;

static ZEROS: [u8; ZEROS_PIECE_BYTES as usize] = [0; ZEROS_PIECE_BYTES as usize];

/// The zeroing syncs the file after writing this much, so that a commit's
/// sync carries at most this many bytes of zeros.
const ZEROS_PER_SYNC: u64 = 1 << 20;

/// redb's file backend for the metadata database, whose new space a thread
/// of its own writes with zeros (see the module's documentation).
#[derive(Debug)]
pub struct ZeroFilledFile {
    backend: FileBackend,
    zeroing: Arc<Zeroing>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Zeroing {
    /// The same open file, to write the zeros through.
    file: File,
    state: Mutex<ZeroingState>,
    /// Wakes the zeroing thread when the file grows or closes.
    wake: Condvar,
}

#[derive(Debug)]
struct ZeroingState {
    /// Every byte below this is allocated: written by redb or zeroed, unless
    /// it was a hole before this process opened the file.
    zeroed_below: u64,
    /// The file's length, where zeroing stops.
    len: u64,
    /// The ranges, start to end, that redb has written at or past
    /// `zeroed_below`: never zeroed.
    written: BTreeMap<u64, u64>,
    /// Set when the file closes, or when writing zeros failed (an I/O error)
    /// and stopped: redb's writes are then no longer noted.
    stopped: bool,
}

impl ZeroFilledFile {
    /// Opens the database file at `path`, creating it if it does not exist,
    /// as redb's own `Builder::create` does.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        let backend = FileBackend::new(file.try_clone()?).map_err(io::Error::other)?;
        let zeroing = Arc::new(Zeroing {
            file,
            state: Mutex::new(ZeroingState {
                zeroed_below: len,
                len,
                written: BTreeMap::new(),
                stopped: false,
            }),
            wake: Condvar::new(),
        });
        let worker = std::thread::Builder::new().name("db-zeroing".into()).spawn({
            let zeroing = Arc::clone(&zeroing);
            move || zeroing.run()
        })?;
        Ok(ZeroFilledFile {
            backend,
            zeroing,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Stops the zeroing thread and waits for it.
    fn stop_zeroing(&self) {
        self.zeroing.state().stopped = true;
        self.zeroing.wake.notify_all();
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(worker) = worker {
            let _ = worker.join();
        }
    }

    /// Waits until the zeroing has reached the end of the file, or stopped.
    #[cfg(test)]
    fn await_zeroed(&self) {
        let mut state = self.zeroing.state();
        while !state.stopped && state.zeroed_below < state.len {
            state = self
                .zeroing
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

impl Zeroing {
    fn state(&self) -> MutexGuard<'_, ZeroingState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(&self) {
        let mut unsynced = 0;
        loop {
            let mut state = self.state();
            while !state.stopped && state.zeroed_below >= state.len {
                if unsynced > 0 {
                    drop(state);
                    self.sync(&mut unsynced);
                    state = self.state();
                    continue;
                }
                state = self.wake.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.stopped {
                return;
            }
            let zeroed = match self.zero_next_piece(&mut state) {
                Ok(zeroed) => zeroed,
                Err(err) => {
                    state.stopped = true;
                    state.written.clear();
                    drop(state);
                    self.wake.notify_all();
                    tracing::warn!(%err, "stopped writing zeros ahead of the metadata database");
                    return;
                }
            };
            unsynced += zeroed;
            drop(state);
            self.wake.notify_all();
            if unsynced >= ZEROS_PER_SYNC {
                self.sync(&mut unsynced);
            }
        }
    }

    fn sync(&self, unsynced: &mut u64) {
        // A failed sync leaves the zeros to the next commit's sync, which
        // reports any error itself.
        let _ = self.file.sync_data();
        *unsynced = 0;
    }

    /// Zeros the next piece past the mark, around what redb wrote there,
    /// and moves the mark past it; returns the bytes zeroed.
    fn zero_next_piece(&self, state: &mut ZeroingState) -> io::Result<u64> {
        let start = state.zeroed_below;
        let end = (start + ZEROS_PIECE_BYTES).min(state.len);
        let mut zeroed = 0;
        let mut gap_start = start;
        let overlapping = state
            .written
            .range(..end)
            .map(|(&from, &to)| (from, to))
            .filter(|&(_, to)| to > start);
        for (from, to) in overlapping.chain([(end, end)]) {
            if from > gap_start {
                let gap = (from.min(end) - gap_start) as usize;
                self.file.write_all_at(&ZEROS[..gap], gap_start)?;
                zeroed += gap as u64;
            }
            gap_start = gap_start.max(to);
        }
        state.zeroed_below = end;
        state.written.retain(|_, &mut to| to > end);
        Ok(zeroed)
    }
}

impl ZeroingState {
    /// Notes that redb writes `start..end`, so that it is never zeroed.
    fn note_written(&mut self, start: u64, end: u64) {
        if self.stopped || end <= self.zeroed_below {
            return;
        }
        let start = start.max(self.zeroed_below);
        let entry = self.written.entry(start).or_insert(end);
        *entry = (*entry).max(end);
    }
}

/// Allocates `range` of `file` on its volume; the bytes still read as zeros.
fn claim(file: &File, range: Range<u64>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(range.start), i64::try_from(range.end - range.start)) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a range past the largest file offset",
        ));
    };
    // SAFETY: the descriptor is open for as long as `file` lives.
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl StorageBackend for ZeroFilledFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.backend.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.backend.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.zeroing.state();
        let old_len = self.backend.len()?;
        self.backend.set_len(len)?;
        if len > old_len {
            match claim(&self.zeroing.file, old_len..len) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                    state.zeroed_below = len;
                    state.written.clear();
                }
                Err(err) => {
                    self.backend.set_len(old_len)?;
                    return Err(err);
                }
            }
        }
        state.len = len;
        state.zeroed_below = state.zeroed_below.min(len);
        state.written.retain(|&from, _| from < len);
        drop(state);
        self.zeroing.wake.notify_all();
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.backend.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.zeroing.state().note_written(offset, offset + data.len() as u64);
        self.backend.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.stop_zeroing();
        self.backend.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.backend.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.backend.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.backend.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.backend.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.backend.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.backend.query_lock_range(start, end)
    }
}

impl Drop for ZeroFilledFile {
    fn drop(&mut self) {
        self.stop_zeroing();
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use redb::{Database, ReadableDatabase, TableDefinition};

    use super::*;

    fn temp_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("coffer.redb")
    }

    fn read_all(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    #[test]
    fn zeroing_skips_every_range_redb_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let len = 3 * ZEROS_PIECE_BYTES + 100;
        std::fs::write(&path, vec![0xFF; len as usize]).unwrap();
        let written = [
            (10, 20),
            (15, 30),
            (ZEROS_PIECE_BYTES - 5, ZEROS_PIECE_BYTES + 5),
            (len - 1, len),
        ];
        let zeroing = Zeroing {
            file: OpenOptions::new().write(true).open(&path).unwrap(),
            state: Mutex::new(ZeroingState {
                zeroed_below: 0,
                len,
                written: BTreeMap::new(),
                stopped: false,
            }),
            wake: Condvar::new(),
        };
        let mut state = zeroing.state();
        for (start, end) in written {
            state.note_written(start, end);
        }
        let mut zeroed = 0;
        while state.zeroed_below < len {
            zeroed += zeroing.zero_next_piece(&mut state).unwrap();
        }
        assert!(state.written.is_empty());
        drop(state);

        let bytes = read_all(&path);
        let kept = |offset: u64| written.iter().any(|&(start, end)| (start..end).contains(&offset));
        for (offset, byte) in bytes.iter().enumerate() {
            let expected = if kept(offset as u64) { 0xFF } else { 0 };
            assert_eq!(*byte, expected, "byte {offset}");
        }
        assert_eq!(zeroed, bytes.iter().filter(|byte| **byte == 0).count() as u64);
    }

    #[test]
    fn grown_space_is_claimed_zeroed_and_keeps_what_redb_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let file = ZeroFilledFile::open(&path).unwrap();
        file.set_len(8 << 20).unwrap();
        file.write(3 << 20, b"redb's page").unwrap();
        file.await_zeroed();
        let mut page = [0; 11];
        file.read(3 << 20, &mut page).unwrap();
        assert_eq!(&page, b"redb's page");
        file.set_len(1 << 20).unwrap();
        file.set_len(2 << 20).unwrap();
        file.await_zeroed();
        file.set_len(4 << 20).unwrap();
        file.await_zeroed();

        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.len(), 4 << 20);
        assert!(
            metadata.blocks() * 512 >= 4 << 20,
            "{} bytes allocated",
            metadata.blocks() * 512
        );
        assert!(read_all(&path).iter().all(|byte| *byte == 0));
        let state = file.zeroing.state();
        assert!(!state.stopped, "the zeroing did not fail");
        assert_eq!(state.zeroed_below, 4 << 20, "the zeroing reached the end");
        drop(state);
        file.close().unwrap();
    }

    #[test]
    fn a_database_on_the_file_keeps_its_rows_across_a_reopen() {
        const ROWS: TableDefinition<u64, &[u8]> = TableDefinition::new("rows");
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir);
        let row = |n: u64| vec![n as u8; 4096];
        for batch in 0..4u64 {
            let db = Database::builder()
                .create_with_backend(ZeroFilledFile::open(&path).unwrap())
                .unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(ROWS).unwrap();
                for n in batch * 500..(batch + 1) * 500 {
                    table.insert(n, row(n).as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let db = Database::builder()
            .create_with_backend(ZeroFilledFile::open(&path).unwrap())
            .unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(ROWS).unwrap();
        for n in 0..2000 {
            assert_eq!(table.get(n).unwrap().unwrap().value(), row(n).as_slice());
        }
    }
}
