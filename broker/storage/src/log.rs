//! A partition's log: an ordered set of segments with one active segment at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use parking_lot::Mutex;

use crate::batch::{self, BatchHeader};
use crate::cleaner::{self, CleanOutcome, Retain, SegmentView};
use crate::flusher::{Flusher, Sealed, read_recovery_point};
use crate::producer_state::{ProducerStates, SequenceCheck};
use crate::segment::{FileSlice, Segment};
use crate::{Error, Result};

/// Per-topic settings the log honours (Kafka's topic-level names in the docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment when the active one would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first append is older than this.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger; -1 is unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: bytes between offset-index entries.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync after this many records; `u64::MAX` leaves it to the OS.
    pub flush_messages: u64,
    /// `flush.ms`: fsync when unflushed data is older; `i64::MAX` leaves it to the OS.
    pub flush_ms: i64,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps its own time.
    pub log_append_time: bool,
    /// `message.timestamp.after.max.ms`: how far ahead of the broker's clock a CreateTime
    /// batch's timestamps may be.
    pub timestamp_after_max_ms: i64,
    /// `message.timestamp.before.max.ms`: how far behind it they may be.
    pub timestamp_before_max_ms: i64,
    /// `cleanup.policy` includes `compact`: closed segments keep each key's latest record, and
    /// keyless records are refused.
    pub compact: bool,
    /// `min.cleanable.dirty.ratio`: the share of the cleanable bytes written since the last
    /// compaction that starts the next one.
    pub min_cleanable_dirty_ratio: f64,
    /// `delete.retention.ms`: how long a tombstone stays after its first compaction.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment older than this is compacted whatever the
    /// dirty ratio.
    pub max_compaction_lag_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            log_append_time: false,
            timestamp_after_max_ms: i64::MAX,
            timestamp_before_max_ms: i64::MAX,
            compact: false,
            min_cleanable_dirty_ratio: 0.5,
            delete_retention_ms: 24 * 3600 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

/// `message.timestamp.after.max.ms` and `before.max.ms` for a CreateTime batch, checked on
/// its header: the max timestamp against the first bound and the first record's timestamp
/// against the second (Kafka checks each record; the header keeps this free of per-record
/// work). LogAppendTime batches are stamped by the broker and not checked.
fn check_timestamps(cfg: &LogConfig, h: &BatchHeader, now_ms: i64) -> Result<()> {
    if cfg.log_append_time || h.is_control() {
        return Ok(());
    }
    let after = now_ms.saturating_add(cfg.timestamp_after_max_ms);
    let before = now_ms.saturating_sub(cfg.timestamp_before_max_ms);
    for ts in [h.max_timestamp, h.base_timestamp] {
        // -1 is "no timestamp" (old clients); Kafka lets it through.
        if ts == -1 {
            continue;
        }
        if ts > after {
            return Err(Error::InvalidTimestamp(format!(
                "timestamp {ts} is more than message.timestamp.after.max.ms ({} ms) ahead of the broker's time {now_ms}",
                cfg.timestamp_after_max_ms
            )));
        }
        if ts < before {
            return Err(Error::InvalidTimestamp(format!(
                "timestamp {ts} is more than message.timestamp.before.max.ms ({} ms) behind the broker's time {now_ms}",
                cfg.timestamp_before_max_ms
            )));
        }
    }
    Ok(())
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's timestamp for `LogAppendTime` topics, else -1.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    pub record_count: i64,
    /// The batch was a retry of one already in the log (idempotent producer): nothing was
    /// appended and the offsets are those of the original.
    pub duplicate: bool,
}

/// Records served by a read (`Bytes`, or a [`FileSlice`] to send from the page cache), with
/// the offsets a fetch response reports.
#[derive(Debug, Clone)]
pub struct ReadResult<R = Bytes> {
    pub records: R,
    pub high_watermark: i64,
    /// The last stable offset: below it, every transaction is decided.
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// For read_committed reads: aborted transactions `(producer id, first offset)` with data
    /// in the returned range, so that consumers skip them.
    pub aborted: Vec<(i64, i64)>,
}

impl ReadResult<FileSlice> {
    /// The same read with its records in memory.
    pub fn read(self) -> Result<ReadResult> {
        Ok(ReadResult {
            records: self.records.read()?,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset,
            log_start_offset: self.log_start_offset,
            log_end_offset: self.log_end_offset,
            aborted: self.aborted,
        })
    }
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub deleted_segments: usize,
    pub deleted_bytes: u64,
}

pub struct Log {
    dir: PathBuf,
    inner: Mutex<Inner>,
    /// Held through a compaction pass: one at a time per log.
    cleaning: Mutex<()>,
}

struct Inner {
    config: LogConfig,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    high_watermark: i64,
    unflushed_records: u64,
    last_flush_ms: i64,
    /// `(leader epoch, first offset written in it)`.
    epochs: Vec<(i32, i64)>,
    producers: ProducerStates,
    /// Syncs rolled segments in the background.
    flusher: Arc<Flusher>,
    /// Where the dirty part of a compacted log starts (see [`crate::cleaner`]).
    clean_checkpoint: i64,
    /// Truncations so far: a compaction pass that saw this change under it swaps nothing in
    /// and leaves the checkpoint alone (a segment cut and written again can look unchanged).
    truncations: u64,
}

const LOG_START_FILE: &str = "log-start-offset";
const EPOCHS_FILE: &str = "leader-epochs";

fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    Ok(replace_file(path, contents, true)?)
}

/// Replaces `path` with `contents` through a temporary file and a rename, so a reader sees the
/// old contents or the new, never a torn mix; with `sync`, the new contents are on disk before
/// the rename.
pub(crate) fn replace_file(path: &Path, contents: &str, sync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    if sync {
        std::fs::File::open(&tmp)?.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

impl Inner {
    /// Appends `batches` (positions in `records` and headers, validated), all or none; a
    /// producer's retry of a batch already in the log is acknowledged again.
    fn append_batches(
        &mut self,
        dir: &Path,
        records: &[u8],
        batches: &[(usize, BatchHeader)],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        for (_, h) in batches {
            check_timestamps(&self.config, h, now_ms)?;
        }
        let log_append_time = self.config.log_append_time.then_some(now_ms);
        let base_offset = self.log_end_offset();
        let mut next = base_offset;
        for (pos, h) in batches {
            if let SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } = self.producers.check(h)?
            {
                // Producers send one batch per partition; a retried one is acknowledged again.
                if batches.len() == 1 {
                    return Ok(self.duplicate(base_offset, last_offset));
                }
                continue;
            }
            let stamped = self.write_batch(
                dir,
                &records[*pos..*pos + h.total_len()],
                h,
                next,
                leader_epoch,
                log_append_time,
                now_ms,
            )?;
            self.producers.update(&stamped);
            next = stamped.last_offset() + 1;
        }
        self.appended(
            base_offset,
            next,
            next - base_offset,
            log_append_time,
            now_ms,
        )
    }
}

impl Log {
    /// Opens the log in `dir`, creating it if needed. After an unclean shutdown the segments not
    /// known to be on disk (the active one, and any rolled since the recovery point) are
    /// re-validated and cut at the first torn batch.
    pub fn open(dir: &Path, config: LogConfig, clean_shutdown: bool, now_ms: i64) -> Result<Log> {
        std::fs::create_dir_all(dir)?;
        cleaner::recover(dir)?;
        let mut bases: Vec<i64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".log")?.parse::<i64>().ok()
            })
            .collect();
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let last = bases.len().saturating_sub(1);
        // Without a recovery point (a log from before there was one) rolled segments were
        // synced at the roll, so only the active one is in doubt.
        let recovery_point = read_recovery_point(dir).unwrap_or(i64::MAX);
        let mut torn = false;
        for (i, base) in bases.into_iter().enumerate() {
            // A segment deleted below (after a torn one) is not worth re-validating first.
            let recover = !torn && !clean_shutdown && (i == last || base >= recovery_point);
            let (mut seg, outcome) =
                Segment::open(dir, base, recover, config.index_interval_bytes)?;
            if i != last {
                // Only the active segment's indexes grow; closing the others' at once keeps a
                // start within the files the running log holds.
                seg.release_index_files();
            }
            if torn {
                // The log ends where an earlier segment was cut: what follows would leave a gap.
                tracing::warn!(dir = %dir.display(), base, "recovery: deleting a segment after a torn one");
                seg.delete()?;
                continue;
            }
            if outcome.truncated_bytes > 0 {
                tracing::warn!(
                    dir = %dir.display(), base, truncated = outcome.truncated_bytes,
                    "recovered segment: cut a torn or corrupt tail"
                );
                torn = true;
            }
            segments.insert(base, seg);
        }
        if segments.is_empty() {
            segments.insert(0, Segment::create(dir, 0)?);
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let log_start_offset = std::fs::read_to_string(dir.join(LOG_START_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(first_base)
            .max(first_base);
        let epochs = std::fs::read_to_string(dir.join(EPOCHS_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (e, o) = l.split_once(' ')?;
                Some((e.parse().ok()?, o.parse().ok()?))
            })
            .collect();
        let mut inner = Inner {
            config,
            segments,
            log_start_offset,
            high_watermark: 0,
            unflushed_records: 0,
            last_flush_ms: now_ms,
            epochs,
            producers: ProducerStates::default(),
            flusher: Arc::default(),
            clean_checkpoint: cleaner::read_checkpoint(dir),
            truncations: 0,
        };
        inner.rebuild_producer_state(dir)?;
        inner.high_watermark = inner.log_end_offset();
        inner.log_start_offset = inner.log_start_offset.min(inner.log_end_offset());
        Ok(Log {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
            cleaning: Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates and appends the batches of one produce request, all or none.
    pub fn append(&self, records: &[u8], leader_epoch: i32, now_ms: i64) -> Result<AppendInfo> {
        let mut inner = self.inner.lock();
        let checks = crate::records::RecordChecks {
            keys_required: inner.config.compact,
            ..Default::default()
        };
        let batches =
            batch::split_producer_batches(records, inner.config.max_message_bytes, checks)?;
        inner.append_batches(&self.dir, records, &batches, leader_epoch, now_ms)
    }

    /// Appends one producer batch that [`batch::split_producer_batches`] already validated,
    /// header and records, with this log's `max_message_bytes` (`batch` and `h` are one of its
    /// results): the produce path with plugins, which validates before the plugins run, appends
    /// the batches they left unchanged without walking their records again. Keys are checked
    /// here on a compacted log, since the plugins ran before.
    pub fn append_validated(
        &self,
        batch: &[u8],
        h: &BatchHeader,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let mut inner = self.inner.lock();
        if inner.config.compact {
            cleaner::check_keys(batch, h)?;
        }
        inner.append_batches(&self.dir, batch, &[(0, *h)], leader_epoch, now_ms)
    }

    /// The offsets of `h` if it is a retry of a batch already in the log (idempotent
    /// producer), checked without appending anything.
    pub fn duplicate_of(&self, h: &BatchHeader) -> Result<Option<(i64, i64)>> {
        Ok(match self.inner.lock().producers.check(h)? {
            SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } => Some((base_offset, last_offset)),
            SequenceCheck::Append => None,
        })
    }

    /// Appends `batch`, which a plugin made from the producer's `original` batch (records
    /// replaced, dropped or moved elsewhere). The kept records keep the offsets the producer
    /// will compute for them (base offset + position in its batch): `batch` starts at
    /// `first_offset` within the original and spans to its end, leaving gaps where records
    /// went, as compaction does. Idempotence follows the original: a retry of it is recognised
    /// as a duplicate, and the producer's next expected sequence is the one after it.
    pub fn append_rewritten(
        &self,
        batch: &[u8],
        first_offset: i64,
        original: &BatchHeader,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let mut inner = self.inner.lock();
        check_timestamps(&inner.config, original, now_ms)?;
        let log_append_time = inner.config.log_append_time.then_some(now_ms);
        let base_offset = inner.log_end_offset();
        if let SequenceCheck::Duplicate {
            base_offset,
            last_offset,
        } = inner.producers.check(original)?
        {
            return Ok(inner.duplicate(base_offset, last_offset));
        }
        let h = batch::validate(batch)?;
        if inner.config.compact {
            cleaner::check_keys(batch, &h)?;
        }
        let stamped = inner.write_batch(
            &self.dir,
            batch,
            &h,
            base_offset + first_offset,
            leader_epoch,
            log_append_time,
            now_ms,
        )?;
        // The producer's view: the original's sequence range, at the offsets written.
        inner.producers.update(&BatchHeader {
            base_offset,
            ..*original
        });
        let next = stamped.last_offset() + 1;
        let records = i64::from(h.records_count);
        inner.appended(base_offset, next, records, log_append_time, now_ms)
    }

    /// Writes a transaction marker (a control batch: COMMIT or ABORT) for `producer_id`, ending
    /// its open transaction on this partition. Returns the marker's offset.
    pub fn append_control(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<i64> {
        let marker = batch::control_batch(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            now_ms,
        )?;
        let mut inner = self.inner.lock();
        let offset = inner.log_end_offset();
        let h = batch::validate(&marker)?;
        let h = inner.write_batch(&self.dir, &marker, &h, offset, leader_epoch, None, now_ms)?;
        inner.producers.end_transaction(&h, commit);
        inner.appended(offset, offset + 1, 1, None, now_ms)?;
        Ok(offset)
    }

    /// Forgets producers idle for `max_idle` with no open transaction
    /// (`producer.id.expiration.ms`); returns how many.
    pub fn expire_producers(&self, max_idle: std::time::Duration) -> usize {
        self.inner
            .lock()
            .producers
            .expire(std::time::Instant::now(), max_idle)
    }

    /// The producers with state in this partition (DescribeProducers).
    pub fn active_producers(&self) -> Vec<crate::producer_state::ActiveProducer> {
        self.inner.lock().producers.active()
    }

    /// The last stable offset (the high watermark when no transaction is open).
    pub fn last_stable_offset(&self) -> i64 {
        self.inner.lock().last_stable_offset()
    }

    /// Reads whole batches starting with the one that holds `offset`, never past the high
    /// watermark. `min_one` returns the first batch even when it is larger than `max_bytes`.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> Result<ReadResult> {
        self.read_isolated(offset, max_bytes, min_one, false)
    }

    /// As `read`, but for `read_committed` consumers when `committed`: never past the last
    /// stable offset, with the aborted transactions in range.
    pub fn read_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        committed: bool,
    ) -> Result<ReadResult> {
        let inner = self.inner.lock();
        inner
            .slice_isolated(offset, max_bytes, min_one, committed)?
            .read()
    }

    /// [`Log::read_isolated`] without reading the records: where they are in the log.
    pub fn slice_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        committed: bool,
    ) -> Result<ReadResult<FileSlice>> {
        self.inner
            .lock()
            .slice_isolated(offset, max_bytes, min_one, committed)
    }

    /// The first offset whose record timestamp is at least `ts`, with that timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>> {
        let inner = self.inner.lock();
        for seg in inner.segments.values() {
            if seg.max_timestamp < ts {
                continue;
            }
            let mut next = seg.find_batch_by_time(ts)?;
            // A batch may hold no record at or after `ts` though its max timestamp says so (an
            // empty batch kept by compaction): the search goes on with the batches after it.
            while let Some((pos, h)) = next {
                let found = record_at_or_after(seg, pos, &h, |rts| rts >= ts)?;
                match found {
                    Some((off, rts)) if off >= inner.log_start_offset => {
                        return Ok((off < inner.high_watermark).then_some((off, rts)));
                    }
                    Some((_, rts)) => return Ok(Some((inner.log_start_offset, rts))),
                    None => next = seg.batch_by_time_from(pos + h.total_len() as u64, ts)?,
                }
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the greatest timestamp (ListOffsets -3).
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>> {
        let inner = self.inner.lock();
        let Some(seg) = inner
            .segments
            .values()
            .filter(|s| s.max_timestamp_batch >= 0)
            .reduce(|a, b| {
                if b.max_timestamp > a.max_timestamp {
                    b
                } else {
                    a
                }
            })
        else {
            return Ok(None);
        };
        let Some((pos, h)) = seg.find_batch(seg.max_timestamp_batch)? else {
            return Ok(None);
        };
        let max = seg.max_timestamp;
        record_at_or_after(seg, pos, &h, |rts| rts >= max)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.inner.lock().log_end_offset()
    }
    pub fn log_start_offset(&self) -> i64 {
        self.inner.lock().log_start_offset
    }
    pub fn high_watermark(&self) -> i64 {
        self.inner.lock().high_watermark
    }
    /// Moves the high watermark (the leader does this once the in-sync replicas have the data;
    /// a single node does it right after the append).
    /// Moves the high watermark forward to `hwm` (never past the log end). It never moves
    /// back here: concurrent appenders report their ends in any order (only truncation lowers
    /// it).
    pub fn set_high_watermark(&self, hwm: i64) {
        let mut inner = self.inner.lock();
        let end = inner.log_end_offset();
        inner.high_watermark = inner.high_watermark.max(hwm.min(end));
    }
    pub fn size_bytes(&self) -> u64 {
        self.inner.lock().segments.values().map(|s| s.size).sum()
    }
    /// Index files its segments hold open.
    #[cfg(test)]
    pub(crate) fn open_index_files(&self) -> usize {
        self.inner
            .lock()
            .segments
            .values()
            .map(Segment::open_index_files)
            .sum()
    }

    pub fn segment_count(&self) -> usize {
        self.inner.lock().segments.len()
    }
    pub fn config(&self) -> LogConfig {
        self.inner.lock().config.clone()
    }
    pub fn set_config(&self, config: LogConfig) {
        self.inner.lock().config = config;
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1 means the high watermark) and
    /// drops segments wholly below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let mut inner = self.inner.lock();
        let target = if offset < 0 {
            inner.high_watermark
        } else {
            offset
        };
        if target > inner.high_watermark {
            return Err(Error::OffsetOutOfRange {
                offset: target,
                start: inner.log_start_offset,
                end: inner.high_watermark,
            });
        }
        if target > inner.log_start_offset {
            inner.set_log_start(&self.dir, target)?;
            inner.delete_segments_below_start()?;
        }
        Ok(inner.log_start_offset)
    }

    /// Applies `retention.ms`, `retention.bytes` and `segment.ms`.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<RetentionOutcome> {
        let mut inner = self.inner.lock();
        let cfg = inner.config.clone();
        let mut out = RetentionOutcome::default();
        // Roll an old active segment so that it can expire (segment.ms, or fully past retention).
        let active = inner.active();
        let expired = cfg.retention_ms >= 0
            && active.max_timestamp >= 0
            && active.max_timestamp < now_ms - cfg.retention_ms;
        let aged = active
            .first_append_ms
            .is_some_and(|t| now_ms - t >= cfg.segment_ms);
        if active.size > 0 && (expired || aged) {
            inner.roll(&self.dir, now_ms)?;
        }
        loop {
            let total: u64 = inner.segments.values().map(|s| s.size).sum();
            let Some((&base, oldest)) = inner.segments.iter().next() else {
                break;
            };
            if inner.segments.len() == 1 {
                break;
            }
            let by_time = cfg.retention_ms >= 0 && oldest.max_timestamp < now_ms - cfg.retention_ms;
            let by_size =
                cfg.retention_bytes >= 0 && total - oldest.size >= cfg.retention_bytes as u64;
            // The next segment's base, not this one's end: compaction leaves gaps, and a
            // compacted segment may even be empty.
            let next_base = inner
                .segments
                .keys()
                .nth(1)
                .copied()
                .unwrap_or(oldest.next_offset);
            let by_start = next_base <= inner.log_start_offset;
            if !(by_time || by_size || by_start) {
                break;
            }
            if let Some(seg) = inner.segments.remove(&base) {
                out.deleted_segments += 1;
                out.deleted_bytes += seg.size;
                seg.delete()?;
            }
            if next_base > inner.log_start_offset {
                inner.set_log_start(&self.dir, next_base)?;
            }
        }
        Ok(out)
    }

    /// One compaction pass (see [`crate::cleaner`]) when the topic is compacted and enough of
    /// its closed segments are dirty; `None` when there was nothing to do.
    pub fn clean(&self, now_ms: i64) -> Result<Option<CleanOutcome>> {
        self.clean_within(now_ms, cleaner::MAP_BUDGET_BYTES)
    }

    /// [`Log::clean`] with an offset map of at most `map_budget` bytes.
    pub(crate) fn clean_within(
        &self,
        now_ms: i64,
        map_budget: usize,
    ) -> Result<Option<CleanOutcome>> {
        let _pass = self.cleaning.lock();
        let (cfg, segs, checkpoint, txn, truncations) = {
            let inner = self.inner.lock();
            if !inner.config.compact {
                return Ok(None);
            }
            let cfg = inner.config.clone();
            // Below the high watermark and the last stable offset, older than the minimum lag,
            // and never the active segment.
            let end = inner.last_stable_offset();
            let young = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
            let active = inner.active().base_offset;
            let segs: Vec<SegmentView> = inner
                .segments
                .values()
                .take_while(|s| {
                    s.base_offset < active && s.next_offset <= end && s.max_timestamp <= young
                })
                .map(|s| s.view())
                .collect();
            let checkpoint = inner.clean_checkpoint.max(inner.log_start_offset);
            (
                cfg,
                segs,
                checkpoint,
                inner.producers.txn_view(),
                inner.truncations,
            )
        };
        let Some(first_dirty) = segs.iter().position(|s| s.next_offset > checkpoint) else {
            return Ok(None);
        };
        let total: u64 = segs.iter().map(|s| s.size).sum();
        let dirty: u64 = segs[first_dirty..].iter().map(|s| s.size).sum();
        if dirty == 0 {
            return Ok(None);
        }
        let oldest_dirty = segs[first_dirty].max_timestamp;
        let overdue =
            oldest_dirty >= 0 && now_ms.saturating_sub(oldest_dirty) >= cfg.max_compaction_lag_ms;
        if (dirty as f64) < cfg.min_cleanable_dirty_ratio * total as f64 && !overdue {
            return Ok(None);
        }
        let (map, covered) =
            cleaner::build_map(&segs[first_dirty..], checkpoint, &txn, map_budget)?;
        let upto = first_dirty + covered;
        let new_checkpoint = segs[upto - 1].next_offset;
        let retain = Retain {
            map: &map,
            txn: &txn,
            checkpoint,
            tombstone_horizon: now_ms.saturating_sub(cfg.delete_retention_ms),
        };
        let mut out = CleanOutcome {
            segments_before: upto,
            checkpoint: new_checkpoint,
            ..CleanOutcome::default()
        };
        // `out.checkpoint`: how far the log is clean once the pass ends, which is up to the
        // first group it had to leave.
        for range in cleaner::groups(&segs[..upto], cfg.segment_bytes) {
            let group = &segs[range];
            let (path, size, removed) = cleaner::write_group(&self.dir, group, &retain)?;
            let swapped = self.swap_in(group, &path, truncations).inspect_err(|_| {
                // Not committed (a committed copy was renamed away): nothing to keep.
                let _ = std::fs::remove_file(&path);
            })?;
            if swapped {
                out.segments_after += 1;
                out.bytes_before += group.iter().map(|s| s.size).sum::<u64>();
                out.bytes_after += size;
                out.records_removed += removed;
            } else {
                // The log changed under the pass (retention, DeleteRecords, truncation): this
                // group is left for the next one, and is not clean.
                out.segments_after += group.len();
                out.checkpoint = out.checkpoint.min(group[0].base);
            }
        }
        let new_checkpoint = out.checkpoint;
        let mut inner = self.inner.lock();
        if new_checkpoint > inner.clean_checkpoint && inner.truncations == truncations {
            inner.clean_checkpoint = new_checkpoint;
            write_atomically(
                &self.dir.join(cleaner::CHECKPOINT_FILE),
                &new_checkpoint.to_string(),
            )?;
        }
        Ok(Some(out))
    }

    /// Replaces the segments of `group` with their cleaned copy at `cleaned`, unless any of
    /// them changed since the pass looked at them (then the copy is deleted and `false`
    /// returned).
    fn swap_in(&self, group: &[SegmentView], cleaned: &Path, truncations: u64) -> Result<bool> {
        let mut inner = self.inner.lock();
        let unchanged = inner.truncations == truncations
            && group.iter().all(|v| {
                inner.segments.get(&v.base).is_some_and(|s| {
                    Arc::ptr_eq(&s.file, &v.file)
                        && s.size == v.size
                        && s.next_offset == v.next_offset
                }) && cleaner::still_on_disk(&self.dir, v)
            });
        if !unchanged {
            // The directory may be gone with its topic.
            let _ = std::fs::remove_file(cleaned);
            return Ok(false);
        }
        let first = group[0].base;
        let stem = crate::segment::file_stem(&self.dir, first);
        let swap = stem.with_extension(cleaner::SWAP_SUFFIX);
        // The commit point: from here a crash ends with the copy in place (cleaner::recover).
        std::fs::rename(cleaned, &swap)?;
        cleaner::sync_dir(&self.dir)?;
        for v in group {
            if let Some(seg) = inner.segments.remove(&v.base) {
                seg.delete()?;
            }
        }
        std::fs::rename(&swap, stem.with_extension("log"))?;
        cleaner::sync_dir(&self.dir)?;
        let interval = inner.config.index_interval_bytes;
        let (mut seg, _) = Segment::open(&self.dir, first, true, interval)?;
        seg.seal()?;
        seg.release_index_files();
        inner.segments.insert(first, seg);
        Ok(true)
    }

    /// Removes everything at and after `offset` (a follower does this when its log diverged).
    pub fn truncate_to(&self, offset: i64) -> Result<()> {
        let mut inner = self.inner.lock();
        if offset >= inner.log_end_offset() {
            return Ok(());
        }
        let interval = inner.config.index_interval_bytes;
        let doomed: Vec<i64> = inner.segments.range(offset..).map(|(b, _)| *b).collect();
        for base in doomed {
            if inner.segments.len() == 1 {
                break;
            }
            if let Some(seg) = inner.segments.remove(&base) {
                seg.delete()?;
            }
        }
        let offset = offset.max(inner.segments.keys().next().copied().unwrap_or(0));
        inner.active_mut().truncate_to(offset, interval)?;
        let active = inner.active().base_offset;
        inner.flusher.restart_from(&self.dir, active)?;
        inner.high_watermark = inner.high_watermark.min(inner.log_end_offset());
        inner.epochs.retain(|&(_, start)| start < offset);
        inner.producers.truncate(offset);
        let end = inner.log_end_offset();
        inner.producers.write_snapshot(&self.dir, end)?;
        let epochs = inner.epochs_text();
        write_atomically(&self.dir.join(EPOCHS_FILE), &epochs)?;
        inner.truncations += 1;
        // What is written from here on has not been through a compaction pass.
        if inner.clean_checkpoint > end {
            inner.clean_checkpoint = end;
            write_atomically(&self.dir.join(cleaner::CHECKPOINT_FILE), &end.to_string())?;
        }
        Ok(())
    }

    /// fsyncs the active segment (rolled segments are synced in the background after the roll).
    pub fn flush(&self, now_ms: i64) -> Result<()> {
        self.inner.lock().flush(now_ms)
    }

    /// Applies `flush.ms`.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<bool> {
        let mut inner = self.inner.lock();
        if inner.unflushed_records > 0
            && now_ms.saturating_sub(inner.last_flush_ms) >= inner.config.flush_ms
        {
            inner.flush(now_ms)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Makes the log durable before a clean shutdown.
    pub fn close(&self) -> Result<()> {
        // A compaction pass under way finishes its swap first.
        let _pass = self.cleaning.lock();
        let mut inner = self.inner.lock();
        inner.active_mut().seal()?;
        inner.flusher.sync_pending(&self.dir)?;
        let end = inner.log_end_offset();
        inner.producers.write_snapshot(&self.dir, end)
    }

    /// Appends batches a follower fetched from its leader: their offsets, leader epochs and
    /// timestamps are the leader's and are kept as they are. Batches wholly below the log end
    /// (a repeated fetch) are skipped; a batch may start past the log end (the leader's log has
    /// gaps where plugins dropped records). Returns the new log end offset.
    pub fn append_replica(&self, records: &[u8], now_ms: i64) -> Result<i64> {
        let mut inner = self.inner.lock();
        let mut pos = 0;
        let mut count = 0i64;
        while pos < records.len() {
            let Some(h) = BatchHeader::parse(&records[pos..]) else {
                // A fetch response may end with a partial batch (max bytes); it comes again.
                break;
            };
            if h.batch_length <= 0 || pos + h.total_len() > records.len() {
                break;
            }
            let raw = &records[pos..pos + h.total_len()];
            pos += h.total_len();
            let h = batch::validate(raw)?;
            if h.last_offset() < inner.log_end_offset() {
                continue;
            }
            if h.base_offset < inner.log_end_offset() {
                return Err(Error::CorruptBatch(format!(
                    "replicated batch {}..={} overlaps the log end {}",
                    h.base_offset,
                    h.last_offset(),
                    inner.log_end_offset()
                )));
            }
            let stamped = inner.write_batch(
                &self.dir,
                raw,
                &h,
                h.base_offset,
                h.leader_epoch,
                None,
                now_ms,
            )?;
            if stamped.is_control() {
                inner
                    .producers
                    .end_transaction(&stamped, batch::control_is_commit(raw));
            } else {
                inner.producers.update(&stamped);
            }
            count += i64::from(h.records_count);
        }
        let end = inner.log_end_offset();
        if count > 0 {
            inner.appended(end, end, count, None, now_ms)?;
        }
        Ok(end)
    }

    /// Reads whole batches from `offset` up to the log end, not only the high watermark: what a
    /// follower fetches from its leader.
    pub fn read_replica(&self, offset: i64, max_bytes: usize) -> Result<ReadResult> {
        let inner = self.inner.lock();
        inner.slice_replica(offset, max_bytes)?.read()
    }

    /// [`Log::read_replica`] without reading the records.
    pub fn slice_replica(&self, offset: i64, max_bytes: usize) -> Result<ReadResult<FileSlice>> {
        self.inner.lock().slice_replica(offset, max_bytes)
    }

    /// Empties the log and starts it again at `offset`: a follower whose leader no longer has
    /// the records after this log's end (retention) starts over at the leader's log start.
    pub fn restart_at(&self, offset: i64) -> Result<()> {
        let mut inner = self.inner.lock();
        let bases: Vec<i64> = inner.segments.keys().copied().collect();
        for base in bases {
            if let Some(seg) = inner.segments.remove(&base) {
                seg.delete()?;
            }
        }
        inner
            .segments
            .insert(offset, Segment::create(&self.dir, offset)?);
        inner.flusher.restart_from(&self.dir, offset)?;
        inner.set_log_start(&self.dir, offset)?;
        inner.high_watermark = offset;
        inner.epochs.clear();
        inner.producers = ProducerStates::default();
        inner.producers.write_snapshot(&self.dir, offset)?;
        write_atomically(&self.dir.join(EPOCHS_FILE), "")?;
        Ok(())
    }

    /// Sets the high watermark to `hwm` (bounded by the log end), up or down: a follower takes
    /// the leader's.
    pub fn reset_high_watermark(&self, hwm: i64) {
        let mut inner = self.inner.lock();
        let end = inner.log_end_offset();
        inner.high_watermark = hwm.clamp(0, end);
    }

    /// Records that leader epoch `epoch` starts at the current log end (a new leader does this
    /// on election, so that the previous epoch's end is known even before it writes).
    pub fn start_epoch(&self, epoch: i32) -> Result<()> {
        let mut inner = self.inner.lock();
        let end = inner.log_end_offset();
        inner.note_epoch(&self.dir, epoch, end)
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` this log has, and the offset
    /// where it ends (the start of the next epoch, or the log end for the latest one).
    /// `(-1, -1)` when the log has no epoch at or below `epoch`.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let inner = self.inner.lock();
        let leo = inner.log_end_offset();
        let Some(i) = inner.epochs.iter().rposition(|&(e, _)| e <= epoch) else {
            if inner.epochs.is_empty() {
                // No epoch recorded (nothing written yet): the whole log is "epoch 0".
                return if leo == 0 { (-1, -1) } else { (0, leo) };
            }
            return (-1, -1);
        };
        let end = inner.epochs.get(i + 1).map_or(leo, |&(_, start)| start);
        (inner.epochs[i].0, end)
    }

    /// Where the oldest leader epoch this log knows starts.
    pub fn first_epoch_start(&self) -> Option<i64> {
        self.inner.lock().epochs.first().map(|&(_, start)| start)
    }

    /// The latest `(epoch, start offset)` the log has seen, for replication.
    pub fn latest_epoch(&self) -> Option<(i32, i64)> {
        self.inner.lock().epochs.last().copied()
    }
}

impl Inner {
    /// Writes a validated batch (header `h`) at `offset` to the active segment, rolling first
    /// if due: its header stamped with the offset and leader epoch (and the log-append time) in
    /// a copy of its own, then the records straight from the producer's request. Returns the
    /// header as stored.
    #[allow(clippy::too_many_arguments)]
    fn write_batch(
        &mut self,
        dir: &Path,
        batch: &[u8],
        h: &BatchHeader,
        offset: i64,
        leader_epoch: i32,
        log_append_time: Option<i64>,
        now_ms: i64,
    ) -> Result<BatchHeader> {
        let (head, records) = batch
            .split_at_checked(batch::HEADER_LEN)
            .ok_or_else(|| Error::CorruptBatch("shorter than a batch header".into()))?;
        let mut header = [0u8; batch::HEADER_LEN];
        header.copy_from_slice(head);
        batch::stamp(&mut header, records, offset, leader_epoch, log_append_time);
        let stamped = BatchHeader {
            base_offset: offset,
            leader_epoch,
            max_timestamp: log_append_time.unwrap_or(h.max_timestamp),
            ..*h
        };
        self.maybe_roll(dir, batch.len() as u64, now_ms)?;
        self.note_epoch(dir, leader_epoch, offset)?;
        let interval = self.config.index_interval_bytes;
        self.active_mut()
            .append(&header, records, &stamped, interval, now_ms)?;
        Ok(stamped)
    }

    /// Refuses an offset outside `log start..=log end`; returns the log end.
    fn check_offset(&self, offset: i64) -> Result<i64> {
        let leo = self.log_end_offset();
        if offset < self.log_start_offset || offset > leo {
            return Err(Error::OffsetOutOfRange {
                offset,
                start: self.log_start_offset,
                end: leo,
            });
        }
        Ok(leo)
    }

    fn slice_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        committed: bool,
    ) -> Result<ReadResult<FileSlice>> {
        let leo = self.check_offset(offset)?;
        let lso = self.last_stable_offset();
        let upper = if committed { lso } else { self.high_watermark };
        let records = self.slice_batches(offset, max_bytes, min_one, upper)?;
        let aborted = if committed && !records.is_empty() {
            self.producers.aborted_between(offset, upper)
        } else {
            Vec::new()
        };
        Ok(ReadResult {
            records,
            high_watermark: self.high_watermark,
            last_stable_offset: lso,
            log_start_offset: self.log_start_offset,
            log_end_offset: leo,
            aborted,
        })
    }

    /// The last stable offset: the first offset of the oldest open transaction, but never
    /// below the log start (DeleteRecords may remove an open transaction's first records, as
    /// Kafka's first unstable offset then moves up to the log start), and never above the high
    /// watermark.
    fn last_stable_offset(&self) -> i64 {
        let hwm = self.high_watermark;
        let lso = self.producers.last_stable_offset(hwm);
        if lso < self.log_start_offset {
            self.log_start_offset.min(hwm)
        } else {
            lso
        }
    }

    fn slice_replica(&self, offset: i64, max_bytes: usize) -> Result<ReadResult<FileSlice>> {
        let leo = self.check_offset(offset)?;
        let records = self.slice_batches(offset, max_bytes, true, leo)?;
        Ok(ReadResult {
            records,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset(),
            log_start_offset: self.log_start_offset,
            log_end_offset: leo,
            aborted: Vec::new(),
        })
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` and never reaching
    /// `upper` (empty when `offset` is at or past it).
    fn slice_batches(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        upper: i64,
    ) -> Result<FileSlice> {
        if offset >= upper {
            return Ok(FileSlice::default());
        }
        let first = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(offset, |(b, _)| *b);
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            if let Some((pos, _)) = seg.find_batch(offset)? {
                return seg.slice_batches(pos, max_bytes, min_one, upper);
            }
        }
        Ok(FileSlice::default())
    }

    /// The answer to a producer's retry of a batch already at `base_offset..=last_offset`.
    fn duplicate(&self, base_offset: i64, last_offset: i64) -> AppendInfo {
        AppendInfo {
            base_offset,
            last_offset,
            log_append_time: -1,
            log_start_offset: self.log_start_offset,
            record_count: 0,
            duplicate: true,
        }
    }

    /// Counts `records` towards `flush.messages` (flushing when reached) and describes an
    /// append of `base_offset..next`.
    fn appended(
        &mut self,
        base_offset: i64,
        next: i64,
        records: i64,
        log_append_time: Option<i64>,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        self.unflushed_records += records as u64;
        if self.unflushed_records >= self.config.flush_messages {
            self.flush(now_ms)?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: next - 1,
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: self.log_start_offset,
            record_count: records,
            duplicate: false,
        })
    }

    fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }
    fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    fn maybe_roll(&mut self, dir: &Path, incoming: u64, now_ms: i64) -> Result<()> {
        let active = self.active();
        let full = active.size > 0 && active.size + incoming > self.config.segment_bytes;
        let aged = active
            .first_append_ms
            .is_some_and(|t| now_ms - t >= self.config.segment_ms);
        let offsets_exhausted = active.next_offset - active.base_offset > i64::from(u32::MAX / 2);
        if full || aged || offsets_exhausted {
            self.roll(dir, now_ms)?;
        }
        Ok(())
    }

    fn roll(&mut self, dir: &Path, now_ms: i64) -> Result<()> {
        let next = self.log_end_offset();
        let files = self.active_mut().seal_unsynced()?;
        self.active_mut().release_index_files();
        // The snapshot bounds the replay after a crash to the segments after it. The flusher
        // syncs it with the sealed segment.
        self.producers.write_snapshot_unsynced(dir, next)?;
        self.segments.insert(next, Segment::create(dir, next)?);
        let sealed = Sealed {
            next_base: next,
            files,
        };
        self.flusher.sync_in_background(dir, sealed);
        self.unflushed_records = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    fn flush(&mut self, now_ms: i64) -> Result<()> {
        self.active().flush()?;
        self.unflushed_records = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Loads the producer-state snapshot and replays the batch headers written after it.
    fn rebuild_producer_state(&mut self, dir: &Path) -> Result<()> {
        let (mut states, mut from) = ProducerStates::read_snapshot(dir);
        if from > self.log_end_offset() {
            // The log lost data the snapshot saw (torn tail): replay everything.
            states = ProducerStates::default();
            from = 0;
        }
        let first = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(from, |(b, _)| *b);
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            let mut pos = match seg.find_batch(from)? {
                Some((pos, _)) => pos,
                None => continue,
            };
            while let Some(h) = seg.header_at(pos)? {
                if h.base_offset >= from {
                    if h.is_control() {
                        let raw = seg.read_range(pos, pos + h.total_len() as u64)?;
                        states.end_transaction(&h, batch::control_is_commit(&raw));
                    } else {
                        states.update(&h);
                    }
                }
                pos += h.total_len() as u64;
            }
        }
        self.producers = states;
        Ok(())
    }

    fn set_log_start(&mut self, dir: &Path, offset: i64) -> Result<()> {
        self.log_start_offset = offset;
        self.producers.prune_aborted(offset);
        write_atomically(&dir.join(LOG_START_FILE), &offset.to_string())
    }

    fn delete_segments_below_start(&mut self) -> Result<()> {
        while self.segments.len() > 1 {
            let mut bases = self.segments.keys();
            let (Some(&base), Some(&next_base)) = (bases.next(), bases.next()) else {
                break;
            };
            if next_base > self.log_start_offset {
                break;
            }
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete()?;
            }
        }
        Ok(())
    }

    fn note_epoch(&mut self, dir: &Path, epoch: i32, offset: i64) -> Result<()> {
        if epoch >= 0 && self.epochs.last().is_none_or(|&(e, _)| epoch > e) {
            self.epochs.push((epoch, offset));
            write_atomically(&dir.join(EPOCHS_FILE), &self.epochs_text())?;
        }
        Ok(())
    }

    fn epochs_text(&self) -> String {
        self.epochs
            .iter()
            .map(|(e, o)| format!("{e} {o}\n"))
            .collect()
    }
}

/// Decodes the batch at `pos` and returns the first record (offset, timestamp) matching `pred`.
fn record_at_or_after(
    seg: &Segment,
    pos: u64,
    h: &BatchHeader,
    pred: impl Fn(i64) -> bool,
) -> Result<Option<(i64, i64)>> {
    if h.is_log_append_time() {
        return Ok(pred(h.max_timestamp).then_some((h.base_offset, h.max_timestamp)));
    }
    let mut raw = seg.read_range(pos, pos + h.total_len() as u64)?;
    let set =
        RecordBatchDecoder::decode(&mut raw).map_err(|e| Error::CorruptBatch(e.to_string()))?;
    Ok(set
        .records
        .iter()
        .find(|r| pred(r.timestamp))
        .map(|r| (r.offset, r.timestamp)))
}
