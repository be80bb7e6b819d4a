//! One `.log` file and its two indexes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::index::{OffsetEntry, SparseIndex, TimeEntry};
use crate::{Error, Result};

thread_local! {
    /// See [`FileSlice::read`].
    static READ_BUFFER: std::cell::RefCell<ReadArena> = std::cell::RefCell::new(ReadArena::default());
}

/// A thread's read buffer is not grown beyond this (unless one read needs more) nor kept when
/// larger.
const MAX_READ_BUFFER_BYTES: usize = 64 << 20;

/// One allocation that reads are cut from in turn, taken back whole once nothing cut from it is
/// alive. A fetch reads several partitions and keeps every read alive until its response is
/// written: when a read does not fit, the next allocation is twice the last (up to
/// [`MAX_READ_BUFFER_BYTES`]), so that after a few fetches one allocation holds a whole fetch
/// and no read touches fresh pages.
#[derive(Default)]
struct ReadArena {
    buf: BytesMut,
    /// Size of the allocation `buf` is cut from.
    allocated: usize,
}

impl ReadArena {
    /// `n` zeroed bytes at the front of the arena.
    fn take(&mut self, n: usize) -> &mut BytesMut {
        // Back to the front of the allocation whenever nothing cut from it is alive, so that a
        // fetch starts with all of it.
        let _whole = self.buf.try_reclaim(self.allocated);
        if self.buf.capacity() < n {
            let size = (self.allocated * 2).clamp(n, MAX_READ_BUFFER_BYTES.max(n));
            // The old allocation goes first: it is freed once its last read is dropped.
            self.buf = BytesMut::new();
            self.buf = BytesMut::with_capacity(size);
            self.allocated = size;
        }
        self.buf.resize(n, 0);
        &mut self.buf
    }

    /// Cuts the first `n` bytes off as a read.
    fn cut(&mut self, n: usize) -> Bytes {
        let out = self.buf.split_to(n).freeze();
        if self.allocated > MAX_READ_BUFFER_BYTES {
            *self = ReadArena::default();
        }
        out
    }
}

/// Writes `parts` one after the other at `pos` (`pwritev`, again for what a short write left).
fn write_all_at(file: &File, parts: [&[u8]; 2], mut pos: u64) -> std::io::Result<()> {
    let [mut a, mut b] = parts;
    while !a.is_empty() || !b.is_empty() {
        let written = match rustix::io::pwritev(
            file,
            &[std::io::IoSlice::new(a), std::io::IoSlice::new(b)],
            pos,
        ) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        pos += written as u64;
        let from_a = written.min(a.len());
        a = &a[from_a..];
        b = &b[written - from_a..];
    }
    Ok(())
}

/// Bytes at the end of a slice's cut that are read at once to find the last whole batch.
const WALK_WINDOW: usize = 16 << 10;

/// Length of the whole batches at the start of `buf`.
fn whole_batches_len(buf: &[u8]) -> usize {
    let mut end = 0usize;
    while let Some(len) =
        BatchHeader::parse(&buf[end..]).and_then(|h| h.whole_len_within(buf.len() - end))
    {
        end += len;
    }
    end
}

/// A byte range of a segment file: whole batches a read located, sent to a consumer straight
/// from the page cache or read into memory. It holds the file open, so a segment deleted by
/// retention meanwhile is still readable; a log truncated under it (a follower's divergence)
/// reads short, which [`FileSlice::read`] reports as an error.
#[derive(Debug, Clone, Default)]
pub struct FileSlice {
    file: Option<Arc<File>>,
    pos: u64,
    len: u64,
}

impl FileSlice {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file and the position of the first byte (`None` when empty).
    pub fn file_range(&self) -> Option<(&File, u64)> {
        self.file
            .as_deref()
            .filter(|_| self.len > 0)
            .map(|f| (f, self.pos))
    }

    /// The bytes, read into this thread's read buffer, which is used again once every `Bytes`
    /// cut from it has been dropped. Fetches read many MiB each; a fresh buffer each time
    /// costs a page fault, and the kernel zeroing the page, for every page read.
    pub fn read(&self) -> Result<Bytes> {
        let Some((file, pos)) = self.file_range() else {
            return Ok(Bytes::new());
        };
        let n = self.len();
        READ_BUFFER.with_borrow_mut(|arena| {
            let read = file.read_exact_at(&mut arena.take(n)[..n], pos);
            let out = arena.cut(n);
            read?;
            Ok(out)
        })
    }
}

pub(crate) fn file_stem(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{base_offset:020}"))
}

pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    /// One past the last offset stored in this segment.
    pub(crate) next_offset: i64,
    pub(crate) size: u64,
    pub(crate) max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp` (-1 when empty).
    pub(crate) max_timestamp_batch: i64,
    /// Wall-clock time of the first append, for `segment.ms`.
    pub(crate) first_append_ms: Option<i64>,
    pub(crate) file: Arc<File>,
    log_path: PathBuf,
    offset_index: SparseIndex<OffsetEntry>,
    time_index: SparseIndex<TimeEntry>,
    bytes_since_index: u64,
}

/// What a scan of a segment found.
pub(crate) struct ScanOutcome {
    pub(crate) truncated_bytes: u64,
}

impl Segment {
    pub(crate) fn create(dir: &Path, base_offset: i64) -> Result<Segment> {
        let stem = file_stem(dir, base_offset);
        let log_path = stem.with_extension("log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)?;
        let mut offset_index = SparseIndex::open(&stem.with_extension("index"))?;
        offset_index.clear()?;
        let mut time_index = SparseIndex::open(&stem.with_extension("timeindex"))?;
        time_index.clear()?;
        Ok(Segment {
            base_offset,
            next_offset: base_offset,
            size: 0,
            max_timestamp: -1,
            max_timestamp_batch: -1,
            first_append_ms: None,
            file: Arc::new(file),
            log_path,
            offset_index,
            time_index,
            bytes_since_index: 0,
        })
    }

    /// Opens an existing segment. With `recover`, every batch is re-validated (length and CRC),
    /// a torn or corrupt tail is cut off, and the indexes are rebuilt. Without it, the indexes
    /// are trusted when sane and only the tail after the last index entry is read.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        recover: bool,
        index_interval: u64,
    ) -> Result<(Segment, ScanOutcome)> {
        let stem = file_stem(dir, base_offset);
        let log_path = stem.with_extension("log");
        let file = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let size = file.metadata()?.len();
        let offset_index = SparseIndex::open(&stem.with_extension("index"))?;
        let time_index = SparseIndex::open(&stem.with_extension("timeindex"))?;
        let mut seg = Segment {
            base_offset,
            next_offset: base_offset,
            size,
            max_timestamp: -1,
            max_timestamp_batch: -1,
            first_append_ms: None,
            file: Arc::new(file),
            log_path,
            offset_index,
            time_index,
            bytes_since_index: 0,
        };
        let trusted = !recover
            && seg.offset_index.is_sane(size)
            && seg.time_index.is_monotonic()
            && { seg.load_tail()? }
            && {
                let last_rel = seg.rel(seg.next_offset - 1);
                seg.time_index
                    .last()
                    .is_none_or(|t| t.rel_offset <= last_rel)
            };
        let outcome = if trusted {
            ScanOutcome { truncated_bytes: 0 }
        } else {
            seg.rebuild(index_interval)?
        };
        Ok((seg, outcome))
    }

    /// Reads batch headers from the last offset-index entry to the end, to learn `next_offset`
    /// and the newest timestamps without touching the rest of the file. False when the file
    /// does not end on a whole batch (the tail of a write that failed part way): the segment
    /// then needs the full recovery, which cuts it.
    fn load_tail(&mut self) -> Result<bool> {
        if let Some(t) = self.time_index.last() {
            self.max_timestamp = t.timestamp;
            self.max_timestamp_batch = self.base_offset + i64::from(t.rel_offset);
        }
        let start = self
            .offset_index
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut pos = start;
        while pos < self.size {
            let Some(h) = self.header_at(pos)? else { break };
            let end = pos + h.total_len() as u64;
            if end > self.size {
                break;
            }
            self.note_batch(&h);
            pos = end;
        }
        self.bytes_since_index = pos - start;
        Ok(pos == self.size)
    }

    /// Re-validates every batch, truncates at the first bad one, and rebuilds both indexes.
    fn rebuild(&mut self, index_interval: u64) -> Result<ScanOutcome> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.max_timestamp_batch = -1;
        self.bytes_since_index = 0;
        let file_size = self.size;
        let mut pos = 0u64;
        while pos < file_size {
            let Some(h) = self.header_at(pos)? else { break };
            let len = h.total_len() as u64;
            if h.magic != 2 || pos + len > file_size || h.base_offset < self.next_offset {
                break;
            }
            let mut buf = vec![0u8; len as usize];
            self.file.read_exact_at(&mut buf, pos)?;
            if batch::validate(&buf).is_err() {
                break;
            }
            self.index_batch(&h, pos, len, index_interval)?;
            self.note_batch(&h);
            pos += len;
        }
        let truncated = file_size - pos;
        if truncated > 0 {
            self.file.set_len(pos)?;
            self.file.sync_all()?;
        }
        self.size = pos;
        Ok(ScanOutcome {
            truncated_bytes: truncated,
        })
    }

    /// The segment as the compaction cleaner reads it.
    pub(crate) fn view(&self) -> crate::cleaner::SegmentView {
        crate::cleaner::SegmentView {
            base: self.base_offset,
            next_offset: self.next_offset,
            size: self.size,
            max_timestamp: self.max_timestamp,
            file: self.file.clone(),
        }
    }

    /// Reads the batch header at `pos`, `None` when fewer than a header's bytes remain.
    pub(crate) fn header_at(&self, pos: u64) -> Result<Option<BatchHeader>> {
        if pos + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut buf, pos)?;
        Ok(BatchHeader::parse(&buf).filter(BatchHeader::has_plausible_length))
    }

    fn note_batch(&mut self, h: &BatchHeader) {
        self.next_offset = h.last_offset() + 1;
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_batch = h.base_offset;
        }
    }

    fn rel(&self, offset: i64) -> u32 {
        u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX)
    }

    fn index_batch(&mut self, h: &BatchHeader, pos: u64, len: u64, interval: u64) -> Result<()> {
        if self.offset_index.entries.is_empty() || self.bytes_since_index >= interval {
            self.offset_index.append(OffsetEntry {
                rel_offset: self.rel(h.base_offset),
                position: pos as u32,
            })?;
            if h.max_timestamp > self.time_index.last().map_or(i64::MIN, |t| t.timestamp) {
                let (ts, batch_base) = if h.max_timestamp >= self.max_timestamp {
                    (h.max_timestamp, h.base_offset)
                } else {
                    (self.max_timestamp, self.max_timestamp_batch)
                };
                self.time_index.append(TimeEntry {
                    timestamp: ts,
                    rel_offset: self.rel(batch_base),
                })?;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += len;
        Ok(())
    }

    /// Appends one stamped, validated batch: its `header`, then its `records`, in one write.
    pub(crate) fn append(
        &mut self,
        header: &[u8],
        records: &[u8],
        h: &BatchHeader,
        index_interval: u64,
        now_ms: i64,
    ) -> Result<()> {
        let len = (header.len() + records.len()) as u64;
        if self.size + len > u64::from(u32::MAX) {
            return Err(Error::SegmentFull(self.log_path.display().to_string()));
        }
        let pos = self.size;
        if let Err(e) = write_all_at(&self.file, [header, records], pos) {
            // Part of the batch may be in the file (a disk that filled up mid-write). Cut it, so
            // that the file ends on a whole batch; if even that fails, the next start finds the
            // torn tail and recovers the segment.
            self.cut_back(pos);
            return Err(e.into());
        }
        let indexed = (
            self.offset_index.entries.len(),
            self.time_index.entries.len(),
            self.bytes_since_index,
        );
        self.size += len;
        if let Err(e) = self.index_batch(h, pos, len, index_interval) {
            // The batch is not appended after all: the log and both indexes go back to where
            // they were, so that a retry takes the same offsets at the same position.
            self.size = pos;
            self.bytes_since_index = indexed.2;
            self.offset_index.truncate(indexed.0);
            self.time_index.truncate(indexed.1);
            self.cut_back(pos);
            return Err(e);
        }
        self.note_batch(h);
        self.first_append_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Cuts the log file back to `pos` after a failed append (best effort: a start after a
    /// crash recovers a torn tail anyway).
    fn cut_back(&self, pos: u64) {
        if let Err(cut) = self.file.set_len(pos) {
            tracing::warn!(
                segment = %self.log_path.display(), error = %cut,
                "could not cut a failed append's partial batch"
            );
        }
    }

    /// Position of the batch that contains `offset` (or the first batch after it), if any.
    pub(crate) fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        let mut pos = u64::from(
            self.offset_index
                .lookup(self.rel(offset.max(self.base_offset))),
        );
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Position of the first batch whose max timestamp is at least `ts`.
    pub(crate) fn find_batch_by_time(&self, ts: i64) -> Result<Option<(u64, BatchHeader)>> {
        let start = self.base_offset + i64::from(self.time_index.lookup(ts));
        let Some((pos, _)) = self.find_batch(start)? else {
            return Ok(None);
        };
        self.batch_by_time_from(pos, ts)
    }

    /// The first batch at or after position `pos` whose max timestamp is at least `ts`.
    pub(crate) fn batch_by_time_from(
        &self,
        mut pos: u64,
        ts: i64,
    ) -> Result<Option<(u64, BatchHeader)>> {
        while let Some(h) = self.header_at(pos)? {
            if h.max_timestamp >= ts {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Whole batches starting at `pos`: at most `max_bytes` of them, but always the first batch
    /// when `min_one` (KIP-74), and none at or beyond `end_offset` (a batch that holds it is
    /// included). Located without reading the records: the first header, the end offset's
    /// batch through the index, and the cut at `max_bytes` at the last indexed batch below it
    /// plus a few headers.
    pub(crate) fn slice_batches(
        &self,
        pos: u64,
        max_bytes: usize,
        min_one: bool,
        end_offset: i64,
    ) -> Result<FileSlice> {
        let Some(first) = self.header_at(pos)? else {
            return Ok(FileSlice::default());
        };
        if first.base_offset >= end_offset {
            return Ok(FileSlice::default());
        }
        let budget = if min_one {
            max_bytes.max(first.total_len())
        } else {
            max_bytes
        };
        let limit = pos.saturating_add(budget as u64);
        let end = if end_offset >= self.next_offset {
            self.size
        } else {
            self.end_before(end_offset)?
        };
        let cut = if end <= limit {
            end
        } else {
            self.last_boundary(pos, limit)?
        };
        Ok(FileSlice {
            file: Some(self.file.clone()),
            pos,
            len: cut.saturating_sub(pos),
        })
    }

    /// The end of the last whole batch between the batch start `pos` and `limit` (`pos` when
    /// the first batch ends past `limit`). Starts from the last indexed batch at or below
    /// `limit` (entries are at most `index.interval.bytes` plus a batch apart), then steps
    /// over headers, reading the last [`WALK_WINDOW`] bytes at once when batches are small.
    fn last_boundary(&self, pos: u64, limit: u64) -> Result<u64> {
        let mut at = self.offset_index.floor_position(limit).max(pos);
        loop {
            let gap = (limit - at) as usize;
            if gap < HEADER_LEN {
                return Ok(at);
            }
            if gap <= WALK_WINDOW {
                let mut window = [0u8; WALK_WINDOW];
                let window = &mut window[..gap];
                self.file.read_exact_at(window, at)?;
                return Ok(at + whole_batches_len(window) as u64);
            }
            match self.header_at(at)? {
                Some(h) if at + h.total_len() as u64 <= limit => at += h.total_len() as u64,
                _ => return Ok(at),
            }
        }
    }

    pub(crate) fn read_range(&self, from: u64, to: u64) -> Result<Bytes> {
        let mut buf = BytesMut::zeroed((to - from) as usize);
        self.file.read_exact_at(&mut buf, from)?;
        Ok(buf.freeze())
    }

    /// Where the segment's batches below `offset` end: after the batch that holds `offset`
    /// (batches stay whole), or before the first batch past it.
    fn end_before(&self, offset: i64) -> Result<u64> {
        Ok(match self.find_batch(offset)? {
            Some((pos, h)) if h.base_offset < offset => pos + h.total_len() as u64,
            Some((pos, _)) => pos,
            None => self.size,
        })
    }

    /// Cuts the segment so that it ends just before `offset`.
    pub(crate) fn truncate_to(&mut self, offset: i64, index_interval: u64) -> Result<()> {
        let cut = self.end_before(offset)?;
        self.file.set_len(cut)?;
        self.size = cut;
        self.rebuild(index_interval)?;
        Ok(())
    }

    /// Adds the final time-index entry and makes everything durable; called when the segment
    /// stops being the active one, and on clean shutdown.
    pub(crate) fn seal(&mut self) -> Result<()> {
        self.seal_unsynced()?;
        self.flush()
    }

    /// [`Segment::seal`] without the sync: the files to sync, for the caller to sync later.
    pub(crate) fn seal_unsynced(&mut self) -> Result<Vec<Arc<File>>> {
        if self.max_timestamp > self.time_index.last().map_or(i64::MIN, |t| t.timestamp) {
            let rel = self.rel(self.max_timestamp_batch);
            self.time_index.append(TimeEntry {
                timestamp: self.max_timestamp,
                rel_offset: rel,
            })?;
        }
        Ok(vec![
            self.file.clone(),
            Arc::new(self.offset_index.handle()?),
            Arc::new(self.time_index.handle()?),
        ])
    }

    /// Closes the index files of a segment that no longer grows (a rolled one): a sealed
    /// segment keeps only its log open. Anything that writes an index again reopens it.
    pub(crate) fn release_index_files(&mut self) {
        self.offset_index.release();
        self.time_index.release();
    }

    #[cfg(test)]
    pub(crate) fn open_index_files(&self) -> usize {
        usize::from(self.offset_index.is_open()) + usize::from(self.time_index.is_open())
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.file.sync_data()?;
        self.offset_index.sync()?;
        self.time_index.sync()?;
        Ok(())
    }

    pub(crate) fn delete(&self) -> Result<()> {
        std::fs::remove_file(&self.log_path)?;
        self.offset_index.delete()?;
        self.time_index.delete()?;
        Ok(())
    }
}

#[cfg(test)]
mod arena_tests {
    use super::ReadArena;

    fn read(arena: &mut ReadArena, n: usize, fill: u8) -> bytes::Bytes {
        arena.take(n)[..n].fill(fill);
        arena.cut(n)
    }

    #[test]
    fn a_fetch_of_several_reads_reuses_one_allocation_once_grown() {
        let mut arena = ReadArena::default();
        let sizes = [3 << 20, 5 << 20, 4 << 20, 6 << 20];
        // A few fetches grow the arena until one allocation holds a whole fetch...
        for _ in 0..4 {
            let views: Vec<_> = sizes.iter().map(|&n| read(&mut arena, n, 1)).collect();
            drop(views);
        }
        let allocated = arena.allocated;
        let first: Vec<_> = sizes.iter().map(|&n| read(&mut arena, n, 2)).collect();
        let ptrs: Vec<_> = first.iter().map(|b| b.as_ptr()).collect();
        assert!(first.iter().all(|b| b.iter().all(|&x| x == 2)));
        drop(first);
        // ...and then every fetch reads into the same memory, with nothing allocated.
        let again: Vec<_> = sizes.iter().map(|&n| read(&mut arena, n, 3)).collect();
        assert_eq!(again.iter().map(|b| b.as_ptr()).collect::<Vec<_>>(), ptrs);
        assert_eq!(arena.allocated, allocated);
        assert!(again.iter().all(|b| b.iter().all(|&x| x == 3)));
    }

    #[test]
    fn live_reads_are_never_overwritten() {
        let mut arena = ReadArena::default();
        let a = read(&mut arena, 1000, 7);
        let b = read(&mut arena, 5000, 8);
        let c = read(&mut arena, 100, 9);
        assert!(a.iter().all(|&x| x == 7) && a.len() == 1000);
        assert!(b.iter().all(|&x| x == 8) && b.len() == 5000);
        assert!(c.iter().all(|&x| x == 9) && c.len() == 100);
    }
}
