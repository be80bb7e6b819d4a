//! A durable key/value journal on a Weir log: each record is a JSON key and a JSON value (or a
//! null value to delete the key). Internal state such as committed offsets and transactions
//! lives in these, as Kafka keeps it in `__consumer_offsets` and `__transaction_state`.

use std::path::Path;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_protocol::kafka::records::RecordBatchDecoder;
use weir_storage::{Log, LogConfig};

use crate::broker::now_ms;
use crate::{Error, Result};

/// Calls `f` with every record of an internal log, in order, reading `chunk` bytes at a time
/// (at least one batch each).
pub(crate) fn scan(
    log: &Log,
    name: &str,
    chunk: usize,
    f: impl FnMut(weir_protocol::kafka::records::Record) -> Result<()>,
) -> Result<()> {
    scan_to(log, name, chunk, false, f)
}

/// As [`scan`]; `to_log_end` reads past the high watermark to the log end (a new leader of a
/// replicated internal partition loads everything its log has).
pub(crate) fn scan_to(
    log: &Log,
    name: &str,
    chunk: usize,
    to_log_end: bool,
    mut f: impl FnMut(weir_protocol::kafka::records::Record) -> Result<()>,
) -> Result<()> {
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let mut bytes = if to_log_end {
            log.read_replica(offset, chunk)?.records
        } else {
            log.read(offset, chunk, true)?.records
        };
        if bytes.is_empty() {
            break;
        }
        let sets = RecordBatchDecoder::decode_all(&mut bytes).map_err(|e| {
            Error::Storage(weir_storage::Error::CorruptBatch(format!("{name}: {e}")))
        })?;
        for set in sets {
            for r in set.records {
                offset = r.offset + 1;
                f(r)?;
            }
        }
    }
    Ok(())
}

/// The entries of a journal in log order: a key and its value, or `None` where it was deleted.
pub(crate) type Entries<K, V> = Vec<(K, Option<V>)>;

fn corrupt(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(weir_storage::Error::CorruptBatch(format!("{name}: {e}")))
}

/// One record batch of journal entries: JSON keys, JSON values or null (deleted).
pub(crate) fn encode_entries<K: Serialize, V: Serialize>(
    name: &str,
    entries: &[(K, Option<V>)],
    now: i64,
) -> Result<Bytes> {
    let mut encoded = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let key = Bytes::from(serde_json::to_vec(key).map_err(|e| corrupt(name, e))?);
        let value = match value {
            Some(v) => Some(Bytes::from(
                serde_json::to_vec(v).map_err(|e| corrupt(name, e))?,
            )),
            None => None,
        };
        encoded.push((Some(key), value));
    }
    Ok(weir_storage::encode_records(&encoded, now)?)
}

/// Every entry of a journal log in order (to its log end with `to_log_end`).
pub(crate) fn read_entries<K: DeserializeOwned, V: DeserializeOwned>(
    log: &Log,
    name: &str,
    to_log_end: bool,
) -> Result<Entries<K, V>> {
    let mut entries = Vec::new();
    scan_to(log, name, 4 << 20, to_log_end, |r| {
        let Some(key) = r.key else { return Ok(()) };
        let key = serde_json::from_slice(&key).map_err(|e| corrupt(name, e))?;
        let value = match r.value {
            Some(v) => Some(serde_json::from_slice(&v).map_err(|e| corrupt(name, e))?),
            None => None,
        };
        entries.push((key, value));
        Ok(())
    })?;
    Ok(entries)
}

pub(crate) struct KvLog {
    name: &'static str,
    log: Log,
    /// Entries in the log since it was opened or last compacted (replayed ones included).
    written: std::sync::atomic::AtomicU64,
}

/// Compact once this many entries were written and they outnumber the live keys 4 to 1.
const COMPACT_AFTER: u64 = 20_000;

/// Whether a journal of `written` entries with `live` live keys is worth compacting.
pub(crate) fn worth_compacting(written: u64, live: usize) -> bool {
    written > COMPACT_AFTER && written > 4 * live as u64
}

impl KvLog {
    /// Opens `<data-dir>/<name>-0` and returns every entry in log order, for the caller to fold
    /// (last write wins; `None` deletes).
    pub(crate) fn open<K: DeserializeOwned, V: DeserializeOwned>(
        data_dir: &Path,
        name: &'static str,
        clean: bool,
    ) -> Result<(KvLog, Entries<K, V>)> {
        let cfg = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            // Small segments, so that compaction can drop the old ones.
            segment_bytes: 8 << 20,
            ..LogConfig::default()
        };
        let log = Log::open(&data_dir.join(format!("{name}-0")), cfg, clean, now_ms())?;
        let kv = KvLog {
            name,
            log,
            written: std::sync::atomic::AtomicU64::new(0),
        };
        let entries = read_entries(&kv.log, name, false)?;
        kv.written
            .store(entries.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok((kv, entries))
    }

    /// Whether the log holds enough superseded entries to be worth compacting, given the
    /// number of live keys.
    pub(crate) fn should_compact(&self, live: usize) -> bool {
        worth_compacting(
            self.written.load(std::sync::atomic::Ordering::Relaxed),
            live,
        )
    }

    /// Rewrites the live state and drops everything before it. Crash-safe by construction: the
    /// live copy is appended first (a crash leaves old entries plus the copy, which replay to the
    /// same state), then the log start moves to the copy and older segments are deleted.
    pub(crate) fn compact<K: Serialize, V: Serialize>(
        &self,
        live: &[(K, Option<V>)],
    ) -> Result<()> {
        let start = self.log.log_end_offset();
        self.append(live)?;
        self.log.delete_records_before(start)?;
        self.written
            .store(live.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            log = self.name,
            live = live.len(),
            from = start,
            "compacted"
        );
        Ok(())
    }

    /// Appends entries (`None` deletes the key) as one write.
    pub(crate) fn append<K: Serialize, V: Serialize>(
        &self,
        entries: &[(K, Option<V>)],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let buf = encode_entries(self.name, entries, now)?;
        let info = self.log.append(&buf, 0, now)?;
        self.log.set_high_watermark(info.last_offset + 1);
        self.written
            .fetch_add(entries.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn close(&self) -> Result<()> {
        Ok(self.log.close()?)
    }

    pub(crate) fn flush_if_due(&self) {
        let _ = self.log.flush_if_due(now_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_the_latest_value_of_every_live_key() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let (kv, entries) = KvLog::open::<String, i64>(dir.path(), "kv", false).expect("open");
            assert!(entries.is_empty());
            for i in 0..30_000i64 {
                kv.append(&[(format!("k{}", i % 3), Some(i))])
                    .expect("append");
            }
            kv.append::<String, i64>(&[("k2".into(), None)])
                .expect("delete");
            assert!(kv.should_compact(2));
            kv.compact(&[
                ("k0".to_string(), Some(29_997i64)),
                ("k1".to_string(), Some(29_998)),
            ])
            .expect("compact");
            assert!(!kv.should_compact(2));
            kv.append(&[("k3".to_string(), Some(7i64))])
                .expect("append after");
            kv.close().expect("close");
        }
        let (_, entries) = KvLog::open::<String, i64>(dir.path(), "kv", true).expect("reopen");
        assert_eq!(
            entries,
            vec![
                ("k0".to_string(), Some(29_997)),
                ("k1".to_string(), Some(29_998)),
                ("k3".to_string(), Some(7)),
            ],
            "only the compacted copy and later writes are replayed"
        );
    }
}
