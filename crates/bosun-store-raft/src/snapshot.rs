//! The snapshot file: the whole state machine at one log position, checksummed.
//!
//! Layout: the magic `BOSUNSNAP1`, then length-prefixed postcard records (a [`Header`], then one
//! record per key with its retained versions), then a CRC-32 of everything before it. Files are
//! written to a temporary name, fsynced and renamed, so a crash never leaves a half snapshot
//! under a real name; a file whose checksum does not match is refused with its path.

use crate::types::{RequestId, RequestResult, SnapshotMeta};
use bosun_store::{Mvcc, Revision, Version};
use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"BOSUNSNAP1";
/// Records larger than this are corruption, not data (values are at most 1.5 MiB).
const MAX_RECORD: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: corrupt snapshot: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// What precedes the keys in a snapshot file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub meta: SnapshotMeta,
    pub revision: Revision,
    pub compact_revision: Revision,
    pub keys: u64,
    /// The recently applied request ids and their answers (see [`crate::types::RequestId`]).
    pub dedup: Vec<(RequestId, RequestResult)>,
}

/// A snapshot read back from disk.
#[derive(Debug)]
pub struct Loaded {
    pub header: Header,
    pub state: Mvcc,
}

/// The canonical file name of a snapshot: ordered by log index.
pub fn file_name(meta: &SnapshotMeta) -> String {
    let index = meta.last_log_id.map_or(0, |l| l.index);
    format!("snap-{index:020}-{}.bin", meta.snapshot_id)
}

/// The newest snapshot file in `dir`, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut best: Option<PathBuf> = None;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_snapshot = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("snap-") && n.ends_with(".bin"));
        if is_snapshot
            && best
                .as_ref()
                .is_none_or(|b| path.file_name() > b.file_name())
        {
            best = Some(path);
        }
    }
    Ok(best)
}

/// Remove every snapshot file in `dir` older than the newest one. Only ever older: a snapshot
/// being built from an older state can finish after a newer one was installed (openraft builds
/// and installs on different tasks), and the newest file must survive that, because the log
/// before it may already be purged. Temporary files are left alone: another task may be writing
/// one (see [`remove_temporaries`]).
pub fn prune(dir: &Path) {
    let Ok(Some(newest)) = latest(dir) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_snapshot = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("snap-") && n.ends_with(".bin"));
        if is_snapshot && path.file_name() < newest.file_name() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Remove temporary files left by a process that died while writing or receiving a snapshot.
/// Only when the member opens its data dir: no other task is writing then.
pub fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".tmp"))
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Bytes of a snapshot written between two starts of its writeback.
const SYNC_EVERY: usize = 8 << 20;

/// Bytes of a snapshot written at once, between two checks of its pace.
const PACE_EVERY: usize = 1 << 20;

/// Bytes per second a snapshot is written at, at most (a 250 MB state: 16 s). At 48 MB/s the
/// writes served while all three members of one machine snapshotted had a p99 of 49-84 ms in the
/// snapshot's slowest second; at 16 MB/s, 52-73 ms (`bosun bench scheduler`, per-second p99).
const WRITE_RATE: usize = 16 << 20;

/// Start writing `len` bytes of `file` from `offset` to disk without waiting for them and
/// without a journal commit (Linux's sync_file_range with SYNC_FILE_RANGE_WRITE, as RocksDB's
/// bytes_per_sync): the pages go out as the snapshot is written, not in one flush at its end,
/// and the raft log's own fsyncs do not wait behind a commit forced every few MB by the
/// snapshot (with fdatasync here, writes stalled up to 100 ms while every member snapshotted).
/// The final fsync makes the file durable. Elsewhere: fdatasync.
fn start_writeback(file: &File, offset: usize, len: usize) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return file.sync_data();
        };
        #[allow(unsafe_code)]
        // SAFETY: sync_file_range(2) takes a file descriptor, which `file` owns and keeps open
        // for the whole call, and plain integers; it reads and writes no memory of this
        // process. A failure is reported through the return value, handled below.
        let rc = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (offset, len);
        file.sync_data()
    }
}

/// A snapshot file being written: at most [`WRITE_RATE`] bytes a second, each write taking at
/// most [`PACE_EVERY`] bytes (so one large record is paced too), and its writeback started
/// every [`SYNC_EVERY`] bytes (as etcd's and RocksDB's bytes-per-sync, see
/// [`start_writeback`]). Left to one fsync at the end, hundreds of MB of dirty pages go out at
/// once and the raft log's own fsyncs wait behind them; written at full speed, every member's
/// snapshot (all take one at the same log index) came in one burst with the requests being
/// served. The header went unpaced and stayed dirty until the end before: 25 MB of dedup
/// answers on every member at once, the slowest second of a snapshot (101–175 ms).
struct PacedFile {
    file: File,
    started: std::time::Instant,
    /// Bytes written so far.
    written: usize,
    /// Bytes whose writeback has been started.
    sent: usize,
}

impl PacedFile {
    fn new(file: File) -> Self {
        Self {
            file,
            started: std::time::Instant::now(),
            written: 0,
            sent: 0,
        }
    }
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(&buf[..buf.len().min(PACE_EVERY)])?;
        self.written += n;
        if self.written - self.sent >= SYNC_EVERY {
            start_writeback(&self.file, self.sent, self.written - self.sent)?;
            self.sent = self.written;
        }
        let due = std::time::Duration::from_secs_f64(self.written as f64 / WRITE_RATE as f64);
        if let Some(early) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(early);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Write one length-prefixed record. `scratch` is reused from record to record: the snapshot thread allocates nothing per key
/// (an allocation can wait on an allocator lock, and this thread runs at the lowest priority).
fn write_record<W: Write, T: Serialize>(
    w: &mut W,
    value: &T,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    scratch.clear();
    let bytes =
        postcard::to_extend(value, std::mem::take(scratch)).map_err(std::io::Error::other)?;
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&bytes)?;
    *scratch = bytes;
    Ok(())
}

/// Write a snapshot into `dir` under its canonical name; returns the path.
pub fn write(dir: &Path, header: &Header, state: &Mvcc) -> Result<PathBuf, SnapshotError> {
    let final_path = dir.join(file_name(&header.meta));
    let tmp = dir.join(format!("{}.tmp", header.meta.snapshot_id));
    let io = |source| SnapshotError::Io {
        path: tmp.clone(),
        source,
    };
    let started = std::time::Instant::now();
    // Paced and sent to disk as it goes, the header (with its dedup table, tens of MB) as much
    // as the keys: see [`PacedFile`].
    let file = PacedFile::new(File::create(&tmp).map_err(io)?);
    let mut w = CrcWriter {
        inner: BufWriter::with_capacity(PACE_EVERY, file),
        crc: crc32fast::Hasher::new(),
    };
    w.write_all(MAGIC).map_err(io)?;
    let mut scratch = Vec::with_capacity(64 * 1024);
    write_record(&mut w, header, &mut scratch).map_err(io)?;
    // The header's buffer (tens of MB) is not kept for the keys' records.
    scratch.shrink_to(64 * 1024);
    for (key, versions) in state.entries() {
        write_record(&mut w, &(key, versions), &mut scratch).map_err(io)?;
    }
    let crc = w.crc.clone().finalize();
    let mut inner = w.inner;
    inner.write_all(&crc.to_le_bytes()).map_err(io)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    let (written, file) = (file.written, file.file);
    let encoded = started.elapsed();
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, &final_path).map_err(io)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(
        bytes = written,
        write_ms = encoded.as_millis() as u64,
        sync_ms = (started.elapsed() - encoded).as_millis() as u64,
        "snapshot file synced"
    );
    Ok(final_path)
}

struct CrcReader<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

fn read_record<R: Read, T: DeserializeOwned>(r: &mut R, path: &Path) -> Result<T, SnapshotError> {
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|e| corrupt(format!("truncated record header: {e}")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_RECORD {
        return Err(corrupt(format!("record of {len} bytes")));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .map_err(|e| corrupt(format!("truncated record: {e}")))?;
    postcard::from_bytes(&buf).map_err(|e| corrupt(format!("undecodable record: {e}")))
}

/// Read only the header of a snapshot file (no checksum check).
pub fn read_header(path: &Path) -> Result<Header, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut r = BufReader::new(File::open(path).map_err(io)?);
    let mut magic = [0u8; MAGIC.len()];
    r.read_exact(&mut magic).map_err(io)?;
    if magic != MAGIC {
        return Err(SnapshotError::Corrupt {
            path: path.to_path_buf(),
            reason: "bad magic".into(),
        });
    }
    read_record(&mut r, path)
}

/// Read and verify a whole snapshot file.
pub fn read(path: &Path) -> Result<Loaded, SnapshotError> {
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut r = CrcReader {
        inner: BufReader::with_capacity(1 << 20, file),
        crc: crc32fast::Hasher::new(),
    };
    let mut magic = [0u8; MAGIC.len()];
    r.read_exact(&mut magic)
        .map_err(|e| corrupt(format!("truncated: {e}")))?;
    if magic != MAGIC {
        return Err(corrupt("bad magic".into()));
    }
    let header: Header = read_record(&mut r, path)?;
    let mut entries = Vec::with_capacity(header.keys.min(1 << 20) as usize);
    for _ in 0..header.keys {
        let (key, versions): (Bytes, Vec<Version>) = read_record(&mut r, path)?;
        entries.push((key, versions));
    }
    let computed = r.crc.clone().finalize();
    let mut stored = [0u8; 4];
    r.inner
        .read_exact(&mut stored)
        .map_err(|e| corrupt(format!("missing checksum: {e}")))?;
    if u32::from_le_bytes(stored) != computed {
        return Err(corrupt("checksum mismatch".into()));
    }
    let mut rest = [0u8; 1];
    if r.inner
        .read(&mut rest)
        .map_err(|e| corrupt(e.to_string()))?
        != 0
    {
        return Err(corrupt("trailing bytes after the checksum".into()));
    }
    let state = Mvcc::from_parts(header.revision, header.compact_revision, entries);
    Ok(Loaded { header, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_store::{Op, Txn};

    fn sample() -> (Header, Mvcc) {
        let mut m = Mvcc::new();
        for i in 0..50 {
            m.apply(&Txn::new().and_then([Op::put(format!("/k/{i}"), format!("v{i}"))]))
                .expect("apply");
        }
        (header_of("t-1", &m), m)
    }

    /// The header of a snapshot `id` of `m`.
    fn header_of(id: &str, m: &Mvcc) -> Header {
        Header {
            meta: SnapshotMeta {
                snapshot_id: id.into(),
                ..Default::default()
            },
            revision: m.revision(),
            compact_revision: m.compact_revision(),
            keys: m.entries().count() as u64,
            dedup: vec![],
        }
    }

    #[test]
    fn a_written_snapshot_reads_back_identically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (header, state) = sample();
        let path = write(dir.path(), &header, &state).expect("write");
        let loaded = read(&path).expect("read");
        assert_eq!(loaded.state, state);
        assert_eq!(latest(dir.path()).expect("latest"), Some(path));
    }

    /// A state larger than SYNC_EVERY is sent to disk in pieces as it is written (the
    /// writeback started on ranges past the header); it reads back whole.
    #[test]
    fn a_snapshot_written_in_several_writeback_pieces_reads_back_identically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = Mvcc::new();
        let value = vec![b'x'; 64 * 1024];
        for i in 0..(3 * SYNC_EVERY / value.len()) {
            m.apply(&Txn::new().and_then([Op::put(format!("/big/{i:05}"), value.clone())]))
                .expect("apply");
        }
        let header = header_of("t-big", &m);
        let path = write(dir.path(), &header, &m).expect("write");
        assert!(std::fs::metadata(&path).expect("stat").len() > 3 * SYNC_EVERY as u64);
        let loaded = read(&path).expect("read");
        assert_eq!(loaded.header.keys, header.keys);
        assert_eq!(loaded.state, m);
    }

    /// A record larger than a pace step (the header's dedup table) reaches the file a step at
    /// a time, each step paced, and whole.
    #[test]
    fn a_large_write_reaches_the_file_a_pace_step_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("paced");
        let mut f = PacedFile::new(File::create(&path).expect("create"));
        let buf: Vec<u8> = (0..3 * PACE_EVERY + 10).map(|i| (i % 251) as u8).collect();
        assert_eq!(f.write(&buf).expect("write"), PACE_EVERY);
        f.write_all(&buf[PACE_EVERY..]).expect("the rest");
        assert_eq!(f.written, buf.len());
        drop(f);
        assert_eq!(std::fs::read(&path).expect("read back"), buf);
    }

    #[test]
    fn a_flipped_byte_or_a_truncation_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (header, state) = sample();
        let path = write(dir.path(), &header, &state).expect("write");
        let mut bytes = std::fs::read(&path).expect("read file");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write file");
        let err = read(&path).expect_err("corrupt snapshot must be refused");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );

        bytes[mid] ^= 0x40;
        std::fs::write(&path, &bytes[..bytes.len() - 10]).expect("write file");
        let err = read(&path).expect_err("truncated snapshot must be refused");
        assert!(err.to_string().contains("snap-"), "{err}");
    }
}
