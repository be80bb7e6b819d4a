//! The Raft log on disk: entries as records of a Weir log (`<data>/__raft_metadata-0`, fsynced on
//! append; record offset = Raft index - `base`), and the vote, committed id, last purged id and
//! `base` in `raft-state.json`, replaced atomically. `base` moves only when a snapshot from the
//! leader replaces a log that ends before it: the log is emptied and restarts at the snapshot.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, StorageError,
    StorageIOError, Vote,
};
use serde::{Deserialize, Serialize};
use weir_storage::Log;

use crate::store::log_config;

use super::{Entry, NodeId, TypeConfig, now_ms};

type StorageResult<T> = Result<T, StorageError<NodeId>>;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct HardState {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
    #[serde(default)]
    base: u64,
}

/// Cheap to clone: the reader handed to replication tasks shares the log.
#[derive(Clone)]
pub(crate) struct LogStore {
    log: Arc<parking_lot::RwLock<Arc<Log>>>,
    dir: PathBuf,
    state_path: PathBuf,
    hard: Arc<parking_lot::Mutex<HardState>>,
}

fn io_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl ToString,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, AnyError::error(e.to_string())).into()
}

impl LogStore {
    pub(crate) fn open(data_dir: &Path) -> crate::Result<LogStore> {
        let dir = data_dir.join(format!("{}-0", crate::RAFT_LOG));
        let log = Log::open(&dir, log_config(), false, now_ms())?;
        let state_path = data_dir.join("raft-state.json");
        let hard = match std::fs::read(&state_path) {
            Ok(b) => serde_json::from_slice(&b)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HardState::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(LogStore {
            log: Arc::new(parking_lot::RwLock::new(Arc::new(log))),
            dir,
            state_path,
            hard: Arc::new(parking_lot::Mutex::new(hard)),
        })
    }

    /// True when this node has never voted nor stored an entry.
    pub(crate) fn is_pristine(&self) -> bool {
        let h = self.hard.lock();
        h.vote.is_none() && h.last_purged.is_none() && self.log().log_end_offset() == 0
    }

    fn log(&self) -> Arc<Log> {
        self.log.read().clone()
    }

    fn base(&self) -> u64 {
        self.hard.lock().base
    }

    /// One past the last index stored.
    fn end_index(&self) -> u64 {
        self.base() + self.log().log_end_offset().max(0) as u64
    }

    fn save_hard(&self, f: impl FnOnce(&mut HardState)) -> std::io::Result<()> {
        let mut h = self.hard.lock();
        f(&mut h);
        let tmp = self.state_path.with_extension("tmp");
        let bytes = serde_json::to_vec(&*h).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.state_path)?;
        if let Some(dir) = self.state_path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Entries with indexes in `start..end`.
    fn read_range(&self, start: u64, end: u64) -> StorageResult<Vec<Entry>> {
        let log = self.log();
        let base = self.base();
        let mut out = Vec::new();
        // Record offsets from here on.
        let mut offset = start
            .saturating_sub(base)
            .max(log.log_start_offset().max(0) as u64);
        let end = end
            .saturating_sub(base)
            .min(log.log_end_offset().max(0) as u64);
        while offset < end {
            let read_err =
                |e: String| io_err(ErrorSubject::LogIndex(offset + base), ErrorVerb::Read, e);
            let mut chunk = log
                .read(offset as i64, 1 << 20, true)
                .map_err(|e| read_err(e.to_string()))?
                .records;
            if chunk.is_empty() {
                break;
            }
            let sets =
                RecordBatchDecoder::decode_all(&mut chunk).map_err(|e| read_err(e.to_string()))?;
            for r in sets.into_iter().flat_map(|s| s.records) {
                let at = r.offset as u64;
                if at < offset {
                    continue;
                }
                if at >= end {
                    return Ok(out);
                }
                let value = r.value.unwrap_or_default();
                let entry: Entry = serde_json::from_slice(&value)
                    .map_err(|e| io_err(ErrorSubject::LogIndex(at + base), ErrorVerb::Read, e))?;
                out.push(entry);
                offset = at + 1;
            }
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e + 1,
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        self.read_range(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id = self.hard.lock().last_purged;
        let end = self.end_index();
        let last = if end > 0 {
            self.read_range(end - 1, end)?.pop().map(|e| e.log_id)
        } else {
            None
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let v = *vote;
        self.save_hard(|h| h.vote = Some(v))
            .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        Ok(self.hard.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        self.save_hard(|h| h.committed = committed)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self.hard.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let log = self.log();
        for entry in entries {
            let index = entry.log_id.index;
            let werr = |e: String| io_err(ErrorSubject::LogIndex(index), ErrorVerb::Write, e);
            let expected = self.end_index();
            if index != expected {
                return Err(werr(format!(
                    "raft index {index} does not follow the log end {expected}"
                )));
            }
            let value = Bytes::from(serde_json::to_vec(&entry).map_err(|e| werr(e.to_string()))?);
            let batch = weir_storage::encode_records(&[(None, Some(value))], now_ms())
                .map_err(|e| werr(e.to_string()))?;
            let term = i32::try_from(entry.log_id.leader_id.term).unwrap_or(i32::MAX);
            let info = log
                .append(&batch, term, now_ms())
                .map_err(|e| werr(e.to_string()))?;
            log.set_high_watermark(info.last_offset + 1);
        }
        // Appends are fsynced (flush.messages=1) before they return.
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let at = log_id.index.saturating_sub(self.base());
        self.log()
            .truncate_to(at as i64)
            .map_err(|e| io_err(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let derr = |e: String| io_err(ErrorSubject::Log(log_id), ErrorVerb::Delete, e);
        let next = log_id.index + 1;
        if next >= self.end_index() {
            // A snapshot covers the whole log: start an empty log at `next`.
            let mut guard = self.log.write();
            guard.close().map_err(|e| derr(e.to_string()))?;
            std::fs::remove_dir_all(&self.dir).map_err(|e| derr(e.to_string()))?;
            let fresh = Log::open(&self.dir, log_config(), false, now_ms())
                .map_err(|e| derr(e.to_string()))?;
            *guard = Arc::new(fresh);
            return self
                .save_hard(|h| {
                    h.last_purged = Some(log_id);
                    h.base = next;
                })
                .map_err(|e| derr(e.to_string()));
        }
        self.save_hard(|h| h.last_purged = Some(log_id))
            .map_err(|e| derr(e.to_string()))?;
        let at = next - self.base();
        self.log()
            .delete_records_before(at as i64)
            .map(|_| ())
            .map_err(|e| derr(e.to_string()))
    }
}
