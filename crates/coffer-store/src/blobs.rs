//! Data files: staging a body durably, moving it into place, reading ranges of
//! it back, and freeing it once no record refers to it. A data file holds
//! either the plaintext or, when staged with a key, the body sealed in the
//! format of [`crate::sealed`]; the record tells which (see
//! `docs/encryption-format.md`), and a segment's size is always the plaintext
//! size.

use std::fs;
use std::io::{self, SeekFrom};
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use coffer_engine::{ByteRange, ByteStream, EngineError, EngineResult, ObjectRecord, Segment};
use futures::{StreamExt, TryStreamExt, future, stream};
use tokio::io::AsyncReadExt;

use crate::layout::Layout;
use crate::sealed::{
    BlobKey, CHUNK_PLAIN_BYTES, CHUNK_SEALED_BYTES, Opener, Sealer, chunk_count, sealed_len, sealed_range,
};

/// Bodies are written in pieces of at least this size (plus the chunk that
/// crossed it), so a request holds about this much of its body in memory
/// besides the piece being written. Small enough that a chunk is still in
/// the CPU's cache, from hashing, when it is copied for the disk: 256 KiB
/// wrote 64 MiB bodies a few percent faster than 1 MiB
/// (`docs/performance.md`).
const WRITE_BUFFER_BYTES: usize = 256 << 10;
/// How much of a large body [`StagingFile`] hands to the disk at a time.
const WRITEBACK_BYTES: u64 = 8 << 20;
/// Reads hand out chunks of at most this size.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// Sealed chunks read and opened together, so that reads of a sealed file
/// hand out chunks of the same size as reads of a plain one.
const SEALED_CHUNKS_PER_READ: u64 = (READ_CHUNK_BYTES / CHUNK_PLAIN_BYTES) as u64;
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

impl StagedBlob {
    /// The number of body bytes staged (before any sealing).
    pub fn size(&self) -> u64 {
        self.size
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
    /// The directory whose entry for the file must be synced before a record
    /// refers to it durably.
    pub directory: PathBuf,
}

impl PromotedBlob {
    pub fn segment(&self) -> Segment {
        Segment {
            blob: self.id.clone(),
            size: self.size,
            ..Segment::default()
        }
    }
}

impl Blobs {
    pub fn new(layout: Layout) -> Blobs {
        Blobs { layout }
    }

    /// Streams `body` into a new staging file and fsyncs it; with `key`, the
    /// file holds the body sealed under that key. A body stream error is
    /// returned as [`EngineError::Body`] and the file is removed.
    pub async fn stage(&self, mut body: ByteStream, key: Option<&BlobKey>) -> EngineResult<StagedBlob> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.layout.staging_file(&id);
        let mut staged = StagedBlob {
            id,
            size: 0,
            layout: self.layout.clone(),
            promoted: false,
        };
        self.check_room(0)?;
        let mut file = StagingFile::create(path).await.map_err(write_error)?;
        let mut sealer = key.map(Sealer::new);
        // A plain body's chunks are written as they came, gathered; a sealed
        // body's are sealed into `sealed` first.
        let (mut gathered, mut gathered_len) = (Vec::new(), 0);
        let mut sealed = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(EngineError::Body)?;
            staged.size += chunk.len() as u64;
            let ready = match &mut sealer {
                Some(sealer) => {
                    sealer.update(&chunk, &mut sealed);
                    (sealed.len() >= WRITE_BUFFER_BYTES).then(|| sealed.split().freeze())
                }
                None => Some(chunk),
            };
            if let Some(ready) = ready {
                gathered_len += ready.len();
                gathered.push(ready);
            }
            if gathered_len >= WRITE_BUFFER_BYTES {
                self.check_room(gathered_len)?;
                file.write(std::mem::take(&mut gathered)).await.map_err(write_error)?;
                gathered_len = 0;
            }
        }
        if let Some(sealer) = sealer {
            sealer.finish(&mut sealed);
            gathered_len += sealed.len();
            gathered.push(sealed.freeze());
        }
        if !gathered.is_empty() {
            self.check_room(gathered_len)?;
            file.write(gathered).await.map_err(write_error)?;
        }
        file.settle().await.map_err(write_error)?;
        crash_point!("before-data-fsync");
        file.sync().await.map_err(write_error)?;
        Ok(staged)
    }

    /// Refuses a write of `bytes` that would leave less free space than the
    /// metadata's reserve.
    pub fn check_room(&self, bytes: usize) -> EngineResult<()> {
        match self.layout.has_room_for(bytes as u64)? {
            true => Ok(()),
            false => Err(EngineError::StorageFull),
        }
    }

    /// Moves a staged file into `blobs/`. The rename is durable once the
    /// directory it names, [`PromotedBlob::directory`], is synced. Blocking.
    pub fn promote(&self, mut staged: StagedBlob) -> EngineResult<PromotedBlob> {
        let target = self.layout.blob_file(&staged.id);
        fs::rename(self.layout.staging_file(&staged.id), &target)?;
        staged.promoted = true;
        Ok(PromotedBlob {
            directory: self.layout.blob_dir(&staged.id),
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
    ///
    /// `key_of` gives the key of each sealed segment the range touches, and
    /// `None` for a plain one. Of a sealed file only the chunks holding the
    /// range are read and opened; one that fails authentication is an error
    /// of kind [`io::ErrorKind::InvalidData`], returned here when it is found
    /// before the stream starts and in the stream after. An empty sealed
    /// segment inside the range is authenticated too, so that an empty
    /// object cannot be swapped or cut unnoticed.
    pub async fn open(
        &self,
        object: &ObjectRecord,
        range: Option<ByteRange>,
        mut key_of: impl FnMut(&Segment) -> Option<BlobKey>,
    ) -> EngineResult<ByteStream> {
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
            let empty_in_range = segment.size == 0 && range.first <= segment_first && segment_first <= range.end;
            if first < end || empty_in_range {
                let key = key_of(segment);
                if first < end || key.is_some() {
                    pieces.push(Piece {
                        path: self.layout.blob_file(&segment.blob),
                        first: first - segment_first,
                        end: end - segment_first,
                        sealed: key.map(|key| (key, segment.size)),
                    });
                }
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
                .map(|file| match file {
                    OpenFile::Plain(file, len) => read_file(tokio::fs::File::from_std(file), len),
                    OpenFile::Sealed(reader) => read_sealed(reader),
                })
                .flatten()
                .boxed(),
        })
    }
}

/// The part of one data file a read needs: plaintext bytes `[first, end)` of
/// its segment, and for a sealed file its key and the segment's size.
struct Piece {
    path: std::path::PathBuf,
    first: u64,
    end: u64,
    sealed: Option<(BlobKey, u64)>,
}

/// The data files of a read, opened and positioned; or, for a small read,
/// the bytes themselves.
enum Opened {
    Files(Vec<OpenFile>),
    Read(Bytes),
}

/// A data file opened at the first byte a read needs from it.
enum OpenFile {
    /// A plain file, and how many bytes to read.
    Plain(fs::File, u64),
    /// Boxed: its cipher's key schedule makes it large.
    Sealed(Box<SealedReader>),
}

/// Opens each piece at its offset; with `read_now`, reads them all and closes
/// them again. Blocking.
fn open_pieces(pieces: Vec<Piece>, read_now: bool) -> EngineResult<Opened> {
    let mut files = Vec::with_capacity(pieces.len());
    let mut total = 0;
    for piece in pieces {
        let mut file = match fs::File::open(piece.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(EngineError::VersionGone),
            Err(err) => return Err(err.into()),
        };
        total += piece.end - piece.first;
        match piece.sealed {
            None => {
                io::Seek::seek(&mut file, SeekFrom::Start(piece.first))?;
                files.push(OpenFile::Plain(file, piece.end - piece.first));
            }
            Some((key, plain_size)) => {
                let reader = SealedReader::open(file, &key, plain_size, piece.first, piece.end)?;
                files.push(OpenFile::Sealed(Box::new(reader)));
            }
        }
    }
    if !read_now {
        return Ok(Opened::Files(files));
    }
    let mut bytes = Vec::with_capacity(total as usize);
    for file in files {
        match file {
            OpenFile::Plain(file, len) => {
                let read = io::Read::read_to_end(&mut io::Read::take(file, len), &mut bytes)?;
                if (read as u64) < len {
                    return Err(shorter_than_record().into());
                }
            }
            OpenFile::Sealed(mut reader) => {
                while !reader.is_done() {
                    bytes.extend_from_slice(&reader.read_next()?);
                }
            }
        }
    }
    Ok(Opened::Read(Bytes::from(bytes)))
}

fn shorter_than_record() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "data file is shorter than its record")
}

/// A sealed data file being read: the chunks that hold one plaintext range.
struct SealedReader {
    /// Positioned at the start of chunk `next_chunk`.
    file: fs::File,
    opener: Opener,
    /// The segment's plaintext size, from the record: it alone decides which
    /// chunk is final, so a file cut at a chunk boundary cannot pass.
    plain_size: u64,
    next_chunk: u64,
    end_chunk: u64,
    /// Plaintext bytes to drop from the next chunk opened.
    skip: usize,
    /// Plaintext bytes of the range not yet handed out.
    remaining: u64,
}

impl SealedReader {
    /// Positions `file` at the chunks holding plaintext `[first, end)`.
    /// Checks the file's length first: a file cut short or extended fails
    /// here, before any byte is streamed. Blocking.
    fn open(mut file: fs::File, key: &BlobKey, plain_size: u64, first: u64, end: u64) -> io::Result<SealedReader> {
        let expected = sealed_len(plain_size);
        let actual = file.metadata()?.len();
        if actual != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("sealed data file is {actual} bytes, its record needs {expected}"),
            ));
        }
        let range = sealed_range(plain_size, first, end);
        io::Seek::seek(&mut file, SeekFrom::Start(range.bytes.start))?;
        Ok(SealedReader {
            file,
            opener: Opener::new(key),
            plain_size,
            next_chunk: range.chunks.start,
            end_chunk: range.chunks.end,
            skip: range.skip,
            remaining: end - first,
        })
    }

    fn is_done(&self) -> bool {
        self.next_chunk == self.end_chunk
    }

    /// Reads and opens the next few chunks, and returns the plaintext of the
    /// range they hold. Blocking.
    fn read_next(&mut self) -> io::Result<Bytes> {
        let final_chunk = chunk_count(self.plain_size) - 1;
        let count = (self.end_chunk - self.next_chunk).min(SEALED_CHUNKS_PER_READ);
        let start = self.next_chunk * CHUNK_SEALED_BYTES as u64;
        let end = ((self.next_chunk + count) * CHUNK_SEALED_BYTES as u64).min(sealed_len(self.plain_size));
        let mut buffer = vec![0u8; (end - start) as usize];
        io::Read::read_exact(&mut self.file, &mut buffer).map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => shorter_than_record(),
            _ => err,
        })?;
        // Each chunk's plaintext is moved down over the tags before it, so
        // the range is one slice of the buffer and is handed out uncopied.
        let mut plain_len = 0;
        for (i, index) in (self.next_chunk..self.next_chunk + count).enumerate() {
            let at = i * CHUNK_SEALED_BYTES;
            let sealed = &mut buffer[at..(at + CHUNK_SEALED_BYTES).min(end as usize - start as usize)];
            let len = self.opener.open_chunk(index, index == final_chunk, sealed)?.len();
            buffer.copy_within(at..at + len, plain_len);
            plain_len += len;
        }
        let take = (plain_len - self.skip).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let bytes = Bytes::from(buffer).slice(self.skip..self.skip + take);
        self.next_chunk += count;
        self.skip = 0;
        self.remaining -= take as u64;
        Ok(bytes)
    }
}

/// Streams the range of a sealed file. Reading and opening run together on
/// the blocking pool, which keeps the decryption off the async workers and
/// costs the same one trip per read as a `tokio::fs::File` read.
fn read_sealed(reader: Box<SealedReader>) -> ByteStream {
    stream::try_unfold(reader, |mut reader| async move {
        if reader.is_done() {
            return Ok(None);
        }
        let (reader, read) = tokio::task::spawn_blocking(move || {
            let read = reader.read_next();
            (reader, read)
        })
        .await
        .map_err(|e| io::Error::other(format!("storage task failed: {e}")))?;
        Ok(Some((read?, reader)))
    })
    // An empty segment is read only to authenticate it: it adds no bytes.
    .try_filter(|bytes| future::ready(!bytes.is_empty()))
    .boxed()
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
                return Err(shorter_than_record());
            }
            filled += read;
        }
        Ok(Some((Bytes::from(buffer), (file, remaining - want as u64))))
    })
    .into_stream()
    .boxed()
}

/// A staging file being written. The chunks of each [`WRITE_BUFFER_BYTES`]
/// go to the blocking pool as they came, owned, and are written there while
/// the next ones arrive.
///
/// The file is opened for direct I/O (`O_DIRECT`): each piece is copied
/// into a buffer aligned as direct I/O asks and goes from there straight
/// to the disk, past the page cache; only the body's last bytes beyond a
/// whole [`DIRECT_ALIGN`] go through the cache. The cache's work on every
/// page (allocating it, charging it, dirtying it, writing it back) costs
/// more than the copy: 64 MiB PUTs at c4 ran at 1,261–1,277 MiB/s direct
/// against 1,033–1,061 through the cache, on 1.43 server cores against
/// 1.52. MinIO writes large objects the same way.
///
/// Where the file system refuses direct I/O (`EINVAL`: tmpfs before Linux
/// 6.6, or a device whose blocks are larger than [`DIRECT_ALIGN`]), the
/// file goes through the page cache: its chunks in one gathered write, with
/// no copy of ours, and every [`WRITEBACK_BYTES`] handed to the disk while
/// the rest still arrives, so that the fsync has little left to wait for
/// (a hint only: the fsync makes the data durable, and reports what the
/// hint could not do).
struct StagingFile {
    /// The file and what has been written to it; the blocking pool has it
    /// while a write is in flight.
    writer: Option<Writer>,
    /// The write of the previous piece, if it may not have finished.
    in_flight: Option<tokio::task::JoinHandle<(Writer, io::Result<()>)>>,
}

impl StagingFile {
    async fn create(path: PathBuf) -> io::Result<StagingFile> {
        let writer = tokio::task::spawn_blocking(move || Writer::create(path))
            .await
            .map_err(io::Error::other)??;
        Ok(StagingFile {
            writer: Some(writer),
            in_flight: None,
        })
    }

    /// Starts writing `chunks` once the previous write has finished.
    async fn write(&mut self, chunks: Vec<Bytes>) -> io::Result<()> {
        self.settle().await?;
        let mut writer = self.writer.take().expect("no write in flight after settling");
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let written = writer.write(&chunks);
            (writer, written)
        }));
        Ok(())
    }

    /// Waits for the last write started.
    async fn settle(&mut self) -> io::Result<()> {
        let Some(write) = self.in_flight.take() else {
            return Ok(());
        };
        let (writer, written) = write.await.map_err(io::Error::other)?;
        self.writer = Some(writer);
        written
    }

    /// Writes what is left and fsyncs the file (after
    /// [`StagingFile::settle`]).
    async fn sync(mut self) -> io::Result<()> {
        let mut writer = self.writer.take().expect("no write in flight after settling");
        tokio::task::spawn_blocking(move || {
            writer.finish()?;
            writer.file.sync_all()
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// The alignment of direct I/O's buffers, offsets and lengths: a page, the
/// largest logical block of common disks.
const DIRECT_ALIGN: usize = 4096;
/// `EINVAL`: the file system refuses direct I/O, or its alignment.
const INVALID_ERRNO: i32 = 22;

/// A staging file's writes, on the blocking pool.
struct Writer {
    file: fs::File,
    /// Bytes written so far.
    written: u64,
    /// How far writeback has been started, through the page cache.
    handed: u64,
    /// With direct I/O: the pieces copied in, and the bytes past the last
    /// whole [`DIRECT_ALIGN`] kept for the next write.
    aligned: Option<AlignedBuffer>,
}

impl Writer {
    fn create(path: PathBuf) -> io::Result<Writer> {
        use std::os::unix::fs::OpenOptionsExt;
        let direct = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path);
        let (file, aligned) = match direct {
            Ok(file) => (file, Some(AlignedBuffer::new())),
            Err(err) if err.raw_os_error() == Some(INVALID_ERRNO) => (fs::File::create(path)?, None),
            Err(err) => return Err(err),
        };
        Ok(Writer {
            file,
            written: 0,
            handed: 0,
            aligned,
        })
    }

    fn write(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        if self.aligned.is_none() {
            write_gathered(&self.file, chunks)?;
            self.written += chunks.iter().map(|chunk| chunk.len() as u64).sum::<u64>();
            if self.written - self.handed >= WRITEBACK_BYTES + WRITE_BUFFER_BYTES as u64 {
                start_writeback(&self.file, self.handed, WRITEBACK_BYTES);
                self.handed += WRITEBACK_BYTES;
            }
            return Ok(());
        }
        for chunk in chunks {
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let aligned = self.aligned.as_mut().expect("direct I/O has its buffer");
                rest = &rest[aligned.fill(rest)..];
                if !rest.is_empty() {
                    self.write_whole()?;
                }
            }
        }
        self.write_whole()
    }

    /// Writes the buffer's whole [`DIRECT_ALIGN`]s, keeping the rest.
    fn write_whole(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let aligned = self.aligned.as_mut().expect("direct I/O has its buffer");
        let whole = aligned.whole();
        if let Err(err) = self.file.write_all_at(whole, self.written) {
            if err.raw_os_error() != Some(INVALID_ERRNO) {
                return Err(err);
            }
            // The file system took the file but not this write: the page
            // cache takes it, and the rest, at the same offsets.
            stop_direct_io(&self.file)?;
            self.file.write_all_at(whole, self.written)?;
        }
        self.written += whole.len() as u64;
        aligned.keep_rest();
        Ok(())
    }

    /// Writes the bytes past the last whole [`DIRECT_ALIGN`], which direct
    /// I/O cannot.
    fn finish(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.aligned {
            Some(aligned) if !aligned.rest().is_empty() => {
                stop_direct_io(&self.file)?;
                self.file.write_all_at(aligned.rest(), self.written)
            }
            _ => Ok(()),
        }
    }
}

/// Turns direct I/O off for the file's later writes.
fn stop_direct_io(file: &fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl reads and sets the flags of a descriptor `file` keeps
    // open for the whole call, and touches no memory of ours.
    let set = unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        flags >= 0 && libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_DIRECT) == 0
    };
    if set { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Bytes that start at an address aligned for direct I/O: one allocation
/// per staging file, of [`WRITE_BUFFER_BYTES`] and the few bytes a write
/// leaves, so that memory stays flat however the pieces come.
struct AlignedBuffer {
    bytes: Vec<u8>,
    /// Where the aligned bytes start in `bytes`.
    start: usize,
    len: usize,
}

impl AlignedBuffer {
    fn new() -> AlignedBuffer {
        let bytes = vec![0; WRITE_BUFFER_BYTES + 2 * DIRECT_ALIGN];
        let start = bytes.as_ptr().align_offset(DIRECT_ALIGN);
        AlignedBuffer { bytes, start, len: 0 }
    }

    /// Copies in as much of `bytes` as there is room for, and says how much.
    fn fill(&mut self, bytes: &[u8]) -> usize {
        let at = self.start + self.len;
        let taken = bytes.len().min(self.bytes.len() - at);
        self.bytes[at..at + taken].copy_from_slice(&bytes[..taken]);
        self.len += taken;
        taken
    }

    /// The bytes up to the last whole [`DIRECT_ALIGN`].
    fn whole(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len / DIRECT_ALIGN * DIRECT_ALIGN]
    }

    /// The bytes past [`AlignedBuffer::whole`].
    fn rest(&self) -> &[u8] {
        &self.bytes[self.start + self.whole().len()..self.start + self.len]
    }

    /// Drops the whole part, moving the rest to the start.
    fn keep_rest(&mut self) {
        let whole = self.whole().len();
        self.bytes
            .copy_within(self.start + whole..self.start + self.len, self.start);
        self.len -= whole;
    }
}

/// Writes all of `chunks`, in as few calls as the kernel allows.
fn write_gathered(mut file: &fs::File, chunks: &[Bytes]) -> io::Result<()> {
    use std::io::{IoSlice, Write};
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|chunk| IoSlice::new(chunk)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn start_writeback(file: &fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range reads no memory of ours, and the descriptor is
    // open for the whole call since `file` is borrowed.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4099) as u8).collect()
    }

    /// Writes `bytes` through `writer` in pieces of `piece` bytes, each
    /// piece in two chunks, and reads the file back.
    fn written(writer: &mut Writer, path: &std::path::Path, bytes: &[u8], piece: usize) -> Vec<u8> {
        for part in bytes.chunks(piece) {
            let (first, second) = part.split_at(part.len() / 3);
            writer
                .write(&[Bytes::copy_from_slice(first), Bytes::copy_from_slice(second)])
                .unwrap();
        }
        writer.finish().unwrap();
        writer.file.sync_all().unwrap();
        fs::read(path).unwrap()
    }

    fn is_direct(file: &fs::File) -> bool {
        // SAFETY: fcntl reads the flags of a descriptor `file` keeps open.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) & libc::O_DIRECT != 0 }
    }

    /// Direct I/O where the file system allows it, the page cache where it
    /// does not, and direct writes the kernel refuses (from a buffer off
    /// its alignment) taken by the page cache instead: each file holds
    /// exactly the body, whatever its length and pieces.
    #[test]
    fn every_length_reads_back_whole_direct_or_not() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, DIRECT_ALIGN - 1, DIRECT_ALIGN, DIRECT_ALIGN + 1, 300_001, 700_001] {
            let bytes = body(len);
            // The last is longer than the buffer: written in several passes.
            for piece in [1_000, DIRECT_ALIGN, 70_001, 600_001] {
                let path = dir.path().join(format!("{len}-{piece}"));
                let mut direct = Writer::create(path.clone()).unwrap();
                let what = format!("{len} bytes in pieces of {piece}");
                assert_eq!(written(&mut direct, &path, &bytes, piece), bytes, "{what}, direct");
                if len == DIRECT_ALIGN && direct.aligned.is_some() {
                    assert!(is_direct(&direct.file), "{what}: whole blocks only, all direct");
                }

                let mut buffered = Writer::create(path.clone()).unwrap();
                stop_direct_io(&buffered.file).unwrap();
                buffered.aligned = None;
                assert_eq!(written(&mut buffered, &path, &bytes, piece), bytes, "{what}, cached");

                let mut refused = Writer::create(path.clone()).unwrap();
                let Some(aligned) = &mut refused.aligned else {
                    continue;
                };
                aligned.start += 1;
                assert_eq!(written(&mut refused, &path, &bytes, piece), bytes, "{what}, refused");
                if len >= DIRECT_ALIGN {
                    assert!(!is_direct(&refused.file), "{what}: refused, the file left direct I/O");
                }
            }
        }
    }
}
