//! Log compaction (`cleanup.policy=compact`): the closed segments of a log are rewritten so
//! that each key keeps only its latest record, as Kafka's log cleaner does.
//!
//! One pass, for one log:
//! 1. The *cleanable* range is the closed segments below the high watermark and the last stable
//!    offset (no open transaction is touched), and older than `min.compaction.lag.ms`. The part
//!    of it from the cleaner checkpoint on is *dirty* (written since the last pass). A pass runs
//!    when the dirty part is at least `min.cleanable.dirty.ratio` of the cleanable bytes, or
//!    when a dirty segment is older than `max.compaction.lag.ms`.
//! 2. An offset map is built from the dirty segments: each key's latest offset. Aborted
//!    transactional records and control batches do not count. The map stops at a segment
//!    boundary once it holds [`MAP_BUDGET_BYTES`] of keys; the rest waits for the next pass.
//! 3. Every segment from the log's start to the end of the mapped range is copied, in groups
//!    of consecutive segments that fit in `segment.bytes`, keeping a record when no later
//!    record of its key is in the map. Keyless records are dropped (a compacted topic refuses
//!    them on produce). A tombstone (null value) is dropped once it has been through a pass
//!    and its batch is older than `delete.retention.ms`. Aborted transactional data is
//!    dropped; transaction markers stay.
//! 4. A batch that keeps every record is copied byte for byte. One that keeps some keeps its
//!    header (base offset, offset range, timestamps, producer and sequence) and the kept
//!    records' bytes as they were, compressed again with its codec: records keep their offsets,
//!    so the log has gaps, as a compacted Kafka log does, and every header of a record stays
//!    (Kafka allows a header key more than once). One that keeps none disappears, unless it is
//!    its producer's last batch, which stays as an empty batch so that the producer's sequence
//!    survives a restart.
//!
//! A group's copy is written beside the log as `<base>.cleaned`, synced, renamed to
//! `<base>.swap` (the commit point), and then replaces the group's segments. [`recover`] finishes
//! or discards an interrupted swap when the log is opened. Readers holding a segment's file
//! keep reading the old bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::segment::file_stem;
use crate::{Error, Result};

/// Memory the offset map of one pass may hold (Kafka's `log.cleaner.dedupe.buffer.size` is
/// 128 MiB for all its cleaner threads).
pub(crate) const MAP_BUDGET_BYTES: usize = 64 << 20;
/// Bookkeeping counted per map entry besides the key's bytes.
const MAP_ENTRY_OVERHEAD: usize = 48;
/// Bytes read from a segment at a time while scanning it.
const READ_CHUNK: usize = 1 << 20;

pub(crate) const CLEANED_SUFFIX: &str = "cleaned";
pub(crate) const SWAP_SUFFIX: &str = "swap";
pub(crate) const CHECKPOINT_FILE: &str = "cleaner-checkpoint";

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanOutcome {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    /// The offset the next pass's dirty range starts at.
    pub checkpoint: i64,
}

/// A closed segment as the cleaner sees it: read through its own handle, so the log stays
/// unlocked while it is read.
#[derive(Clone)]
pub(crate) struct SegmentView {
    pub(crate) base: i64,
    pub(crate) next_offset: i64,
    pub(crate) size: u64,
    pub(crate) max_timestamp: i64,
    pub(crate) file: Arc<File>,
}

/// Transaction state a pass needs: which transactional batches were aborted, and each
/// producer's last batch.
pub(crate) struct TxnView {
    /// `(producer id, first offset, marker offset)`.
    pub(crate) aborted: Vec<(i64, i64, i64)>,
    /// Producer id → last offset of its last batch in the log.
    pub(crate) last_batch: HashMap<i64, i64>,
}

impl TxnView {
    fn is_aborted(&self, h: &BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.aborted.iter().any(|&(pid, first, marker)| {
                pid == h.producer_id && first <= h.base_offset && h.base_offset < marker
            })
    }
}

/// Reads a segment's batches in order, a chunk at a time, with positioned reads.
struct BatchReader<'a> {
    file: &'a File,
    size: u64,
    /// File position of `buf[0]`.
    buf_pos: u64,
    buf: Vec<u8>,
    /// Position of the next batch.
    pos: u64,
}

impl<'a> BatchReader<'a> {
    fn new(seg: &'a SegmentView) -> Self {
        BatchReader {
            file: &seg.file,
            size: seg.size,
            buf_pos: 0,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// The bytes `pos..pos + len`, read from the file when the buffer does not hold them.
    fn window(&mut self, len: usize) -> Result<&[u8]> {
        let start = self.pos.saturating_sub(self.buf_pos) as usize;
        if self.pos < self.buf_pos || start + len > self.buf.len() {
            let want = len.max(READ_CHUNK).min((self.size - self.pos) as usize);
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, self.pos)?;
            self.buf_pos = self.pos;
            return Ok(&self.buf[..len]);
        }
        Ok(&self.buf[start..start + len])
    }

    /// The next batch, checked (length and CRC); `None` at the end of the segment.
    fn next_batch(&mut self) -> Result<Option<(BatchHeader, Bytes)>> {
        if self.pos >= self.size {
            return Ok(None);
        }
        let at = self.pos;
        let corrupt = |what: String| Error::CorruptBatch(format!("at position {at}: {what}"));
        if self.size - self.pos < HEADER_LEN as u64 {
            return Err(corrupt("a partial batch header ends the segment".into()));
        }
        let h = BatchHeader::parse(self.window(HEADER_LEN)?)
            .filter(BatchHeader::has_plausible_length)
            .ok_or_else(|| corrupt("an implausible batch header".into()))?;
        let len = h.total_len();
        if self.pos + len as u64 > self.size {
            return Err(corrupt(format!(
                "a {len}-byte batch runs past the segment's end"
            )));
        }
        let raw = Bytes::copy_from_slice(self.window(len)?);
        batch::validate(&raw)?;
        self.pos += len as u64;
        Ok(Some((h, raw)))
    }
}

/// Each key's latest offset in the dirty range.
pub(crate) struct OffsetMap {
    latest: HashMap<Box<[u8]>, i64>,
    bytes: usize,
}

impl OffsetMap {
    fn get(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(key).copied()
    }
}

/// Builds the offset map from `dirty` (records at `from` and after), stopping after the
/// segment that brings it past `budget` bytes. Returns the map and how many of `dirty` it
/// covers (at least one).
pub(crate) fn build_map(
    dirty: &[SegmentView],
    from: i64,
    txn: &TxnView,
    budget: usize,
) -> Result<(OffsetMap, usize)> {
    let mut map = OffsetMap {
        latest: HashMap::new(),
        bytes: 0,
    };
    let mut covered = 0;
    for seg in dirty {
        let mut reader = BatchReader::new(seg);
        while let Some((h, raw)) = reader.next_batch()? {
            if h.is_control() || h.last_offset() < from || txn.is_aborted(&h) {
                continue;
            }
            let plain = records_section(&h, &raw)?;
            for r in raw_records(&h, &plain)? {
                let Some(key) = r.key else { continue };
                if r.offset < from {
                    continue;
                }
                match map.latest.get_mut(key) {
                    Some(o) => *o = r.offset,
                    None => {
                        map.bytes += key.len() + MAP_ENTRY_OVERHEAD;
                        map.latest.insert(key.into(), r.offset);
                    }
                }
            }
        }
        covered += 1;
        if map.bytes >= budget {
            break;
        }
    }
    Ok((map, covered))
}

fn corrupt(what: &str) -> Error {
    Error::CorruptBatch(format!("a record batch's records: {what}"))
}

fn codec_error<E: std::fmt::Display>(doing: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::CorruptBatch(format!("{doing} a batch: {e}"))
}

/// The records section of the whole batch `raw`, decompressed.
fn records_section(h: &BatchHeader, raw: &[u8]) -> Result<Bytes> {
    // Bounded: a batch that decompresses to gigabytes is refused, not held.
    Ok(
        match crate::records::decompress(h.compression(), &raw[HEADER_LEN..])? {
            std::borrow::Cow::Borrowed(b) => Bytes::copy_from_slice(b),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        },
    )
}

/// `plain` compressed with the codec of `h` and appended to `out`.
fn compress_into(h: &BatchHeader, plain: &[u8], out: &mut BytesMut) -> Result<()> {
    let put = |b: &mut BytesMut| {
        b.put_slice(plain);
        Ok(())
    };
    let failed = codec_error("compressing");
    match h.compression() {
        0 => {
            out.put_slice(plain);
            Ok(())
        }
        1 => Gzip::compress(out, put).map_err(failed),
        2 => Snappy::compress(out, put).map_err(failed),
        3 => Lz4::compress(out, put).map_err(failed),
        4 => Zstd::compress(out, put).map_err(failed),
        c => Err(Error::CorruptBatch(format!(
            "unknown compression codec {c}"
        ))),
    }
}

/// One record of a batch as it is stored.
struct RawRecord<'a> {
    offset: i64,
    /// The record's timestamp delta from the batch's base timestamp.
    timestamp_delta: i64,
    key: Option<&'a [u8]>,
    /// A null value: a tombstone.
    tombstone: bool,
    /// The whole record, its length prefix included.
    bytes: &'a [u8],
}

/// Takes a zigzag varint off the front of `buf`.
fn take_varint<T: TryFrom<i64>>(buf: &mut &[u8]) -> Result<T> {
    crate::records::take_varint(buf).map_err(|e| corrupt(&e.to_string()))
}

/// Takes a length-prefixed field (length -1: null) off the front of `buf`.
fn take_field<'a>(buf: &mut &'a [u8]) -> Result<Option<&'a [u8]>> {
    let len: i32 = take_varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let (field, rest) = buf
        .split_at_checked(len as usize)
        .ok_or_else(|| corrupt("a field longer than its record"))?;
    *buf = rest;
    Ok(Some(field))
}

/// The records of the batch `h` in its decompressed records section `plain`: each one's
/// offset, key and whether it is a tombstone, read far enough to know them.
fn raw_records<'a>(h: &BatchHeader, plain: &'a [u8]) -> Result<Vec<RawRecord<'a>>> {
    let count = usize::try_from(h.records_count).map_err(|_| corrupt("a negative count"))?;
    let mut out = Vec::with_capacity(count.min(plain.len()));
    let mut rest = plain;
    for _ in 0..count {
        let before = rest;
        let len: i32 = take_varint(&mut rest)?;
        let len = usize::try_from(len).map_err(|_| corrupt("a negative record length"))?;
        let (mut body, after) = rest
            .split_at_checked(len)
            .ok_or_else(|| corrupt("a record longer than its batch"))?;
        let bytes = &before[..before.len() - after.len()];
        rest = after;
        let (_attributes, tail) = body
            .split_first()
            .ok_or_else(|| corrupt("an empty record"))?;
        body = tail;
        let timestamp_delta: i64 = take_varint(&mut body)?;
        let offset_delta: i32 = take_varint(&mut body)?;
        let key = take_field(&mut body)?;
        let tombstone = take_field(&mut body)?.is_none();
        out.push(RawRecord {
            offset: h.base_offset + i64::from(offset_delta),
            timestamp_delta,
            key,
            tombstone,
            bytes,
        });
    }
    Ok(out)
}

/// How one pass decides which records stay.
pub(crate) struct Retain<'a> {
    pub(crate) map: &'a OffsetMap,
    pub(crate) txn: &'a TxnView,
    /// Records below this went through an earlier pass.
    pub(crate) checkpoint: i64,
    /// Tombstones in batches whose max timestamp is below this may go.
    pub(crate) tombstone_horizon: i64,
}

impl Retain<'_> {
    fn keeps(&self, h: &BatchHeader, r: &RawRecord<'_>) -> bool {
        let Some(key) = r.key else { return false };
        if self.map.get(key).is_some_and(|latest| latest > r.offset) {
            return false;
        }
        let expired_tombstone =
            r.tombstone && r.offset < self.checkpoint && h.max_timestamp < self.tombstone_horizon;
        !expired_tombstone
    }

    /// What of the batch `raw` (header `h`) stays, and how many records went.
    fn filter(&self, h: &BatchHeader, raw: Bytes) -> Result<(Option<Bytes>, u64)> {
        if h.is_control() {
            return Ok((Some(raw), 0));
        }
        let aborted = self.txn.is_aborted(h);
        let plain = if aborted {
            Bytes::new()
        } else {
            records_section(h, &raw)?
        };
        let records = if aborted {
            Vec::new()
        } else {
            raw_records(h, &plain)?
        };
        let kept: Vec<&RawRecord<'_>> = records.iter().filter(|r| self.keeps(h, r)).collect();
        let removed = u64::try_from(h.records_count).unwrap_or(0) - kept.len() as u64;
        if removed == 0 {
            return Ok((Some(raw), 0));
        }
        if kept.is_empty() {
            let last_of_producer = h.producer_id >= 0
                && self.txn.last_batch.get(&h.producer_id) == Some(&h.last_offset());
            if !last_of_producer {
                return Ok((None, removed));
            }
            let mut empty = batch::empty_batch(h);
            batch::stamp_offset_and_epoch(&mut empty, h.base_offset, h.leader_epoch);
            return Ok((Some(Bytes::from(empty)), removed));
        }
        let plain: Vec<u8> = kept.iter().flat_map(|r| r.bytes.iter().copied()).collect();
        let mut out = BytesMut::with_capacity(HEADER_LEN + plain.len());
        out.put_slice(&raw[..HEADER_LEN]);
        compress_into(h, &plain, &mut out)?;
        // The batch's max timestamp is that of the records it keeps (time lookups trust it),
        // unless the broker stamped the batch's append time.
        if !h.is_log_append_time() {
            let max = kept
                .iter()
                .map(|r| h.base_timestamp.saturating_add(r.timestamp_delta))
                .max()
                .unwrap_or(h.max_timestamp);
            batch::set_max_timestamp(&mut out, max);
        }
        batch::set_records_count(&mut out, kept.len() as i32);
        Ok((Some(out.freeze()), removed))
    }
}

/// Consecutive closed segments that are rewritten into one.
pub(crate) fn groups(segs: &[SegmentView], segment_bytes: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < segs.len() {
        let mut end = start + 1;
        let mut size = segs[start].size;
        while end < segs.len() {
            let next = &segs[end];
            let span = next.next_offset - segs[start].base;
            if size + next.size > segment_bytes || span > i64::from(u32::MAX / 2) {
                break;
            }
            size += next.size;
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Writes the cleaned copy of `group` to `<first base>.cleaned` and syncs it. Returns its path,
/// its size and the records removed.
pub(crate) fn write_group(
    dir: &Path,
    group: &[SegmentView],
    retain: &Retain<'_>,
) -> Result<(PathBuf, u64, u64)> {
    // A name of its own per pass: nothing else ever writes to it, even a pass of another
    // `Log` on a directory deleted and created again meanwhile.
    static PASS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let pass = PASS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = file_stem(dir, group[0].base)
        .with_extension(format!("{}.{pass}.{CLEANED_SUFFIX}", std::process::id()));
    let file = File::create(&path)?;
    let copy = || -> Result<(u64, u64)> {
        let mut out = std::io::BufWriter::with_capacity(READ_CHUNK, &file);
        let mut written = 0u64;
        let mut removed = 0u64;
        for seg in group {
            let mut reader = BatchReader::new(seg);
            while let Some((h, raw)) = reader.next_batch()? {
                let (kept, gone) = retain.filter(&h, raw)?;
                removed += gone;
                if let Some(b) = kept {
                    out.write_all(&b)?;
                    written += b.len() as u64;
                }
            }
        }
        out.flush()?;
        drop(out);
        file.sync_all()?;
        Ok((written, removed))
    };
    match copy() {
        Ok((written, removed)) => Ok((path, written, removed)),
        Err(e) => {
            // A failed copy (a corrupt batch, a read cut short) leaves nothing behind.
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Whether the segment file of `v` is still the one at its path: false once its directory was
/// deleted (topic deletion), or deleted and created again.
pub(crate) fn still_on_disk(dir: &Path, v: &SegmentView) -> bool {
    use std::os::unix::fs::MetadataExt;
    let path = file_stem(dir, v.base).with_extension("log");
    match (std::fs::metadata(path), v.file.metadata()) {
        (Ok(on_disk), Ok(open)) => on_disk.dev() == open.dev() && on_disk.ino() == open.ino(),
        _ => false,
    }
}

pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Finishes or discards compaction interrupted by a crash, before the log's segments are
/// listed: a `.cleaned` copy was not committed and is deleted; a `.swap` copy was, so the
/// segments it replaces (its own base and any base within its offsets) are deleted and it
/// becomes the segment.
pub(crate) fn recover(dir: &Path) -> Result<()> {
    let mut swaps = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some(CLEANED_SUFFIX) => {
                tracing::warn!(path = %path.display(), "deleting an unfinished compaction copy");
                std::fs::remove_file(&path)?;
            }
            Some(SWAP_SUFFIX) => {
                if let Some(base) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    swaps.push((base, path));
                }
            }
            _ => {}
        }
    }
    for (base, swap) in swaps {
        let last = last_offset_in(&swap)?;
        let bases: Vec<i64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse::<i64>().ok()
            })
            .filter(|&b| b == base || (b > base && last.is_some_and(|l| b <= l)))
            .collect();
        for b in bases {
            let stem = file_stem(dir, b);
            for ext in ["log", "index", "timeindex"] {
                match std::fs::remove_file(stem.with_extension(ext)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        let stem = file_stem(dir, base);
        for ext in ["index", "timeindex"] {
            let _ = std::fs::remove_file(stem.with_extension(ext));
        }
        std::fs::rename(&swap, stem.with_extension("log"))?;
        tracing::warn!(dir = %dir.display(), base, "finished a compaction swap interrupted by a crash");
    }
    sync_dir(dir)?;
    Ok(())
}

/// The last offset of the last whole batch in the file at `path`.
fn last_offset_in(path: &Path) -> Result<Option<i64>> {
    let file = File::open(path)?;
    let view = SegmentView {
        base: 0,
        next_offset: 0,
        size: file.metadata()?.len(),
        max_timestamp: -1,
        file: Arc::new(file),
    };
    let mut reader = BatchReader::new(&view);
    let mut last = None;
    // A swap was synced before it was renamed, so every batch in it is whole.
    while let Some((h, _)) = reader.next_batch()? {
        last = Some(h.last_offset());
    }
    Ok(last)
}

pub(crate) fn read_checkpoint(dir: &Path) -> i64 {
    std::fs::read_to_string(dir.join(CHECKPOINT_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the batch at the start of `batch` (whole, CRC not checked) holds a record without
/// a key: the record walk of compaction and of the keyless-record check, for the fuzzer.
pub fn keyless_record_in(batch: &[u8]) -> Result<bool> {
    let h = BatchHeader::parse(batch)
        .filter(|h| h.has_plausible_length() && h.total_len() <= batch.len())
        .ok_or_else(|| corrupt("not a whole batch"))?;
    let plain = records_section(&h, &batch[..h.total_len()])?;
    Ok(raw_records(&h, &plain)?.iter().any(|r| r.key.is_none()))
}

/// Refuses a batch with a keyless record: a compacted topic could never clean it (Kafka
/// answers the same, INVALID_RECORD).
pub(crate) fn check_keys(raw: &[u8], h: &BatchHeader) -> Result<()> {
    if h.is_control() {
        return Ok(());
    }
    let plain = records_section(h, raw)?;
    if let Some(r) = raw_records(h, &plain)?.iter().find(|r| r.key.is_none()) {
        return Err(crate::records::keyless(r.offset - h.base_offset));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The record walk never panics, whatever follows a batch header.
        #[test]
        fn the_record_walk_takes_any_bytes(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            count in -2i32..40,
            codec in 0i16..6,
        ) {
            let mut b = vec![0u8; HEADER_LEN];
            b.extend_from_slice(&body);
            let len = (b.len() - 12) as i32;
            b[8..12].copy_from_slice(&len.to_be_bytes());
            b[16] = 2;
            b[21..23].copy_from_slice(&codec.to_be_bytes());
            b[57..61].copy_from_slice(&count.to_be_bytes());
            let _ = keyless_record_in(&b);
        }
    }

    #[test]
    fn kept_records_are_the_bytes_they_were() {
        let records = [
            (Some("x"), Some("v0")),
            (Some("y"), Some("v1")),
            (Some("x"), Some("v2")),
        ];
        let raw = crate::cleaner_tests::Batch::plain(&records, 1000).encode();
        let h = batch::validate(&raw).expect("valid");
        let plain = records_section(&h, &raw).expect("section");
        let parsed = raw_records(&h, &plain).expect("records");
        assert_eq!(parsed.len(), 3);
        assert!(!keyless_record_in(&raw).expect("walk"));
        let txn = TxnView {
            aborted: Vec::new(),
            last_batch: HashMap::new(),
        };
        let map = OffsetMap {
            latest: [(b"x".to_vec().into_boxed_slice(), 2)]
                .into_iter()
                .collect(),
            bytes: 0,
        };
        let retain = Retain {
            map: &map,
            txn: &txn,
            checkpoint: 0,
            tombstone_horizon: 0,
        };
        let (kept, removed) = retain.filter(&h, raw.clone()).expect("filter");
        let kept = kept.expect("a batch stays");
        assert_eq!(removed, 1);
        let out = batch::validate(&kept).expect("a valid batch");
        assert_eq!(
            (out.base_offset, out.last_offset(), out.records_count),
            (0, 2, 2)
        );
        assert_eq!(out.base_timestamp, h.base_timestamp);
        // The records section is the second and third records, byte for byte.
        let expected: Vec<u8> = [parsed[1].bytes, parsed[2].bytes].concat();
        assert_eq!(&kept[HEADER_LEN..], &expected[..]);
    }
}
