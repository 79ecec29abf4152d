//! Where each file of the data directory lives.
//!
//! ```text
//! DATA/coffer.redb        metadata: buckets and object records (redb)
//! DATA/tmp/<id>           bodies being received; never referenced by a record
//! DATA/blobs/<xx>/<id>    object data, one file per segment; <xx> = id[..2]
//! DATA/RUNNING            present while a server has the directory open
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use coffer_engine::EngineResult;

const METADATA_DB: &str = "coffer.redb";
const STAGING_DIR: &str = "tmp";
const BLOBS_DIR: &str = "blobs";
const RUNNING_MARKER: &str = "RUNNING";

/// Free space that object data never takes: metadata commits (deletes
/// included, which is how space comes back) must always find room, because
/// a commit that hits a full disk leaves the database refusing every write
/// until it is reopened. A twentieth of the volume, within these bounds.
const RESERVE_BYTES_MIN: u64 = 1 << 20;
const RESERVE_BYTES_MAX: u64 = 256 << 20;

/// The paths of one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// Bytes of free space object data leaves to metadata.
    reserve: u64,
}

impl Layout {
    /// Creates the directory tree if it is missing, every fan-out directory
    /// included, so that no write path ever creates a directory.
    pub fn create(root: &Path) -> EngineResult<Layout> {
        fs::create_dir_all(root)?;
        let (_, total) = space(root)?;
        let layout = Layout {
            root: root.to_path_buf(),
            reserve: (total / 20).clamp(RESERVE_BYTES_MIN, RESERVE_BYTES_MAX),
        };
        fs::create_dir_all(layout.staging_dir())?;
        fs::create_dir_all(layout.blobs_dir())?;
        for fan_out in 0..=u8::MAX {
            let dir = layout.blobs_dir().join(format!("{fan_out:02x}"));
            if !dir.exists() {
                fs::create_dir(&dir)?;
            }
        }
        sync_dir(&layout.blobs_dir())?;
        sync_dir(&layout.root)?;
        Ok(layout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `bytes` more of object data fit without eating into the
    /// space kept for metadata.
    pub fn has_room_for(&self, bytes: u64) -> io::Result<bool> {
        let (available, _) = space(&self.root)?;
        Ok(available >= bytes.saturating_add(self.reserve))
    }

    pub fn metadata_db(&self) -> PathBuf {
        self.root.join(METADATA_DB)
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.root.join(STAGING_DIR)
    }

    pub fn staging_file(&self, id: &str) -> PathBuf {
        self.staging_dir().join(id)
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join(BLOBS_DIR)
    }

    /// The directory that holds blob `id`.
    pub fn blob_dir(&self, id: &str) -> PathBuf {
        self.blobs_dir().join(&id[..2])
    }

    pub fn blob_file(&self, id: &str) -> PathBuf {
        self.blob_dir(id).join(id)
    }

    fn running_marker(&self) -> PathBuf {
        self.root.join(RUNNING_MARKER)
    }

    /// True if the last server to open the directory did not close it.
    pub fn was_left_running(&self) -> bool {
        self.running_marker().exists()
    }

    pub fn mark_running(&self) -> EngineResult<()> {
        fs::write(self.running_marker(), std::process::id().to_string())?;
        sync_dir(&self.root)?;
        Ok(())
    }

    pub fn mark_stopped(&self) -> EngineResult<()> {
        match fs::remove_file(self.running_marker()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        sync_dir(&self.root)?;
        Ok(())
    }
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Bytes available to this process, and the size, of the volume holding `dir`.
fn space(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` a valid place for the result.
    if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs succeeded, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    let block = stats.f_frsize;
    Ok((stats.f_bavail * block, stats.f_blocks * block))
}
