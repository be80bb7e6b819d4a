//! Plugin binaries, stored durably in the internal log `<data>/__weir_plugins-0`: one record per
//! binary, keyed by its SHA-256. Definitions in the metadata log refer to them by that key, so a
//! restart (and, with replication, every broker) has every deployed version.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use parking_lot::Mutex;
use weir_protocol::kafka::records::RecordBatchDecoder;
use weir_storage::{Log, LogConfig};

use crate::broker::now_ms;
use crate::{Error, Result};

/// The largest plugin binary accepted (Python components are ~20 MiB).
pub(crate) const MAX_PLUGIN_BYTES: usize = 128 << 20;

pub(crate) struct BlobStore {
    log: Log,
    /// SHA-256 → offset of the record holding the binary.
    index: Mutex<HashMap<String, i64>>,
}

/// The journal's name: `<data>/__weir_plugins-0`.
pub(crate) const NAME: &str = "__weir_plugins";

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(weir_storage::Error::CorruptBatch(format!("{NAME}: {e}")))
}

impl BlobStore {
    pub(crate) fn open(data_dir: &Path, clean: bool) -> Result<BlobStore> {
        let cfg = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            max_message_bytes: MAX_PLUGIN_BYTES + (1 << 20),
            ..LogConfig::default()
        };
        let log = Log::open(&data_dir.join(format!("{NAME}-0")), cfg, clean, now_ms())?;
        let mut index = HashMap::new();
        crate::kvlog::scan(&log, NAME, MAX_PLUGIN_BYTES, |r| {
            if let Some(key) = r.key {
                index.insert(String::from_utf8_lossy(&key).into_owned(), r.offset);
            }
            Ok(())
        })?;
        Ok(BlobStore {
            log,
            index: Mutex::new(index),
        })
    }

    /// Stores `wasm` under `sha256` unless it is already there; durable when this returns.
    pub(crate) fn put(&self, sha256: &str, wasm: &[u8]) -> Result<()> {
        let mut index = self.index.lock();
        if index.contains_key(sha256) {
            return Ok(());
        }
        let now = now_ms();
        let batch = weir_storage::encode_records(
            &[(
                Some(Bytes::copy_from_slice(sha256.as_bytes())),
                Some(Bytes::copy_from_slice(wasm)),
            )],
            now,
        )?;
        let info = self.log.append(&batch, 0, now)?;
        self.log.set_high_watermark(info.last_offset + 1);
        self.log.flush(now)?;
        index.insert(sha256.to_string(), info.base_offset);
        Ok(())
    }

    /// The binary stored under `sha256`.
    pub(crate) fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let Some(offset) = self.index.lock().get(sha256).copied() else {
            return Ok(None);
        };
        let mut chunk = self.log.read(offset, MAX_PLUGIN_BYTES, true)?.records;
        for set in RecordBatchDecoder::decode_all(&mut chunk).map_err(corrupt)? {
            for r in set.records {
                if r.offset == offset {
                    return Ok(r.value.map(|v| v.to_vec()));
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn close(&self) -> Result<()> {
        Ok(self.log.close()?)
    }
}
