//! Data files: staging a body durably, moving it into place, reading ranges of
//! it back, and freeing it once no record refers to it.

use std::any::Any;
use std::fs;
use std::io::{self, SeekFrom};

use bytes::{Bytes, BytesMut};
use coffer_engine::{ByteRange, ByteStream, EngineError, EngineResult, ObjectRecord, Segment, StagedData};
use futures::{StreamExt, TryStreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::layout::{Layout, sync_dir};

/// Bodies are written in chunks of this size, so a request holds at most this
/// much of its body in memory.
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Reads hand out chunks of at most this size.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// `ENOSPC`: the volume is full.
const NO_SPACE_ERRNO: i32 = 28;

/// Maps a write error to [`EngineError::StorageFull`] when the disk is full.
fn write_error(err: io::Error) -> EngineError {
    if err.raw_os_error() == Some(NO_SPACE_ERRNO) {
        EngineError::StorageFull
    } else {
        EngineError::Io(err)
    }
}

/// Creates, reads and removes data files in one [`Layout`].
#[derive(Debug, Clone)]
pub struct Blobs {
    layout: Layout,
}

/// A body written and fsynced in `tmp/`. Dropping it removes the file.
#[derive(Debug)]
pub struct StagedBlob {
    id: String,
    size: u64,
    layout: Layout,
    promoted: bool,
}

impl StagedData for StagedBlob {
    fn size(&self) -> u64 {
        self.size
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if !self.promoted {
            let _ = fs::remove_file(self.layout.staging_file(&self.id));
        }
    }
}

/// A data file in `blobs/`, ready to be referenced by a record.
#[derive(Debug)]
pub struct PromotedBlob {
    id: String,
    size: u64,
}

impl PromotedBlob {
    pub fn segment(&self) -> Segment {
        Segment {
            blob: self.id.clone(),
            size: self.size,
            part_number: 0,
            etag: None,
            checksums: Default::default(),
        }
    }
}

impl Blobs {
    pub fn new(layout: Layout) -> Blobs {
        Blobs { layout }
    }

    /// Streams `body` into a new staging file and fsyncs it. A body stream
    /// error is returned as [`EngineError::Body`] and the file is removed.
    pub async fn stage(&self, mut body: ByteStream) -> EngineResult<StagedBlob> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.layout.staging_file(&id);
        let mut staged = StagedBlob {
            id,
            size: 0,
            layout: self.layout.clone(),
            promoted: false,
        };
        let mut file = tokio::fs::File::create(&path).await.map_err(write_error)?;
        let mut buffer = BytesMut::with_capacity(WRITE_BUFFER_BYTES);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(EngineError::Body)?;
            staged.size += chunk.len() as u64;
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= WRITE_BUFFER_BYTES {
                file.write_all(&buffer).await.map_err(write_error)?;
                buffer.clear();
            }
        }
        file.write_all(&buffer).await.map_err(write_error)?;
        file.sync_all().await.map_err(write_error)?;
        Ok(staged)
    }

    /// Moves a staged file into `blobs/` durably (rename, then fsync the
    /// directory). Blocking.
    pub fn promote(&self, mut staged: StagedBlob) -> EngineResult<PromotedBlob> {
        let target = self.layout.blob_file(&staged.id);
        fs::rename(self.layout.staging_file(&staged.id), &target)?;
        staged.promoted = true;
        sync_dir(&self.layout.blob_dir(&staged.id)).map_err(write_error)?;
        Ok(PromotedBlob {
            id: std::mem::take(&mut staged.id),
            size: staged.size,
        })
    }

    /// Unlinks data files no record refers to any more. A file that cannot be
    /// removed stays as an orphan for recovery. Blocking.
    pub fn release<'a>(&self, blobs: impl IntoIterator<Item = &'a str>) {
        for blob in blobs {
            let path = self.layout.blob_file(blob);
            if let Err(err) = fs::remove_file(&path)
                && err.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %err, "could not free a data file");
            }
        }
    }

    /// Opens every data file of `object` now, then streams the requested range
    /// from them. Opening up front ties the bytes to this exact version: once
    /// open, a file stays readable even if a newer version unlinks it.
    ///
    /// Opening (and, for a range of at most one read chunk, reading) happens
    /// in one blocking call: each trip to the blocking pool costs thread
    /// hand-offs that would otherwise dominate small GETs.
    pub async fn open(&self, object: &ObjectRecord, range: Option<ByteRange>) -> EngineResult<ByteStream> {
        let range = range.unwrap_or(ByteRange {
            first: 0,
            end: object.size,
        });
        let mut pieces = Vec::new();
        let mut segment_first = 0u64;
        for segment in &object.segments {
            let segment_end = segment_first + segment.size;
            let first = range.first.max(segment_first);
            let end = range.end.min(segment_end);
            if first < end {
                pieces.push((self.layout.blob_file(&segment.blob), first - segment_first, end - first));
            }
            segment_first = segment_end;
        }
        let whole_in_one_read = range.end - range.first <= READ_CHUNK_BYTES as u64;
        let opened = tokio::task::spawn_blocking(move || open_pieces(pieces, whole_in_one_read))
            .await
            .map_err(|e| EngineError::Internal(format!("storage task failed: {e}")))??;
        Ok(match opened {
            Opened::Read(bytes) if bytes.is_empty() => stream::empty().boxed(),
            Opened::Read(bytes) => stream::once(async move { Ok(bytes) }).boxed(),
            Opened::Files(files) => stream::iter(files)
                .map(|(file, len)| read_file(tokio::fs::File::from_std(file), len))
                .flatten()
                .boxed(),
        })
    }
}

/// The data files of a read, opened and positioned; or, for a small read,
/// the bytes themselves.
enum Opened {
    Files(Vec<(fs::File, u64)>),
    Read(Bytes),
}

/// Opens each `(path, offset, len)` piece at its offset; with `read_now`,
/// reads them all and closes them again. Blocking.
fn open_pieces(pieces: Vec<(std::path::PathBuf, u64, u64)>, read_now: bool) -> EngineResult<Opened> {
    let mut files = Vec::with_capacity(pieces.len());
    for (path, offset, len) in pieces {
        let mut file = match fs::File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(EngineError::VersionGone),
            Err(err) => return Err(err.into()),
        };
        io::Seek::seek(&mut file, SeekFrom::Start(offset))?;
        files.push((file, len));
    }
    if !read_now {
        return Ok(Opened::Files(files));
    }
    let mut bytes = Vec::with_capacity(files.iter().map(|(_, len)| *len as usize).sum());
    for (file, len) in files {
        let read = io::Read::read_to_end(&mut io::Read::take(file, len), &mut bytes)?;
        if (read as u64) < len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "data file is shorter than its record").into());
        }
    }
    Ok(Opened::Read(Bytes::from(bytes)))
}

/// Streams `len` bytes from the current position of `file`.
fn read_file(file: tokio::fs::File, len: u64) -> ByteStream {
    stream::try_unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(READ_CHUNK_BYTES);
        let mut buffer = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            let read = file.read(&mut buffer[filled..]).await?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "data file is shorter than its record",
                ));
            }
            filled += read;
        }
        Ok(Some((Bytes::from(buffer), (file, remaining - want as u64))))
    })
    .into_stream()
    .boxed()
}
