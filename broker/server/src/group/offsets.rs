//! Committed offsets, durable in an internal log `<data>/__consumer_offsets-0` (Weir's own log
//! format; one record per committed partition, keyed by group/topic/partition, a null value
//! deleting it). The whole log is replayed on start; last write wins.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use weir_protocol::kafka::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use weir_storage::{Log, LogConfig};

use crate::broker::now_ms;
use crate::{Error, Result};

pub(crate) use weir_metadata::OFFSETS_TOPIC;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Committed {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
    pub(crate) commit_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Key {
    group: String,
    topic: String,
    partition: i32,
}

/// `group → (topic, partition) → committed`.
pub(crate) type OffsetMap = HashMap<String, BTreeMap<(String, i32), Committed>>;

pub(crate) struct OffsetStore {
    log: Log,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(weir_storage::Error::CorruptBatch(format!(
        "{OFFSETS_TOPIC}: {e}"
    )))
}

impl OffsetStore {
    /// Opens the offsets log and replays it.
    pub(crate) fn open(data_dir: &Path, clean: bool) -> Result<(OffsetStore, OffsetMap)> {
        let cfg = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: 100 << 20,
            ..LogConfig::default()
        };
        let log = Log::open(
            &data_dir.join(format!("{OFFSETS_TOPIC}-0")),
            cfg,
            clean,
            now_ms(),
        )?;
        let mut map = OffsetMap::new();
        let mut offset = log.log_start_offset();
        while offset < log.log_end_offset() {
            let mut chunk = log.read(offset, 4 << 20, true)?.records;
            if chunk.is_empty() {
                break;
            }
            for set in RecordBatchDecoder::decode_all(&mut chunk).map_err(corrupt)? {
                for r in set.records {
                    offset = r.offset + 1;
                    let Some(key) = r.key else { continue };
                    let key: Key = serde_json::from_slice(&key).map_err(corrupt)?;
                    let group = map.entry(key.group).or_default();
                    match r.value {
                        Some(v) => {
                            group.insert(
                                (key.topic, key.partition),
                                serde_json::from_slice(&v).map_err(corrupt)?,
                            );
                        }
                        None => {
                            group.remove(&(key.topic, key.partition));
                        }
                    }
                }
            }
        }
        map.retain(|_, g| !g.is_empty());
        Ok((OffsetStore { log }, map))
    }

    /// Appends commits (`Some`) and deletions (`None`) as one write.
    pub(crate) fn append(
        &self,
        group: &str,
        entries: &[((String, i32), Option<Committed>)],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut records = Vec::with_capacity(entries.len());
        for (i, ((topic, partition), value)) in entries.iter().enumerate() {
            let key = Key {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
            };
            records.push(Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: now,
                key: Some(Bytes::from(serde_json::to_vec(&key).map_err(corrupt)?)),
                value: match value {
                    Some(c) => Some(Bytes::from(serde_json::to_vec(c).map_err(corrupt)?)),
                    None => None,
                },
                headers: Default::default(),
            });
        }
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(corrupt)?;
        let info = self.log.append(&buf, 0, now)?;
        self.log.set_high_watermark(info.last_offset + 1);
        Ok(())
    }

    pub(crate) fn close(&self) -> Result<()> {
        Ok(self.log.close()?)
    }

    pub(crate) fn flush_if_due(&self) {
        let _ = self.log.flush_if_due(now_ms());
    }
}
