use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use parking_lot::Mutex;
use weir_storage::{Log, LogConfig};

use crate::raft::{Quorum, QuorumConfig, QuorumStatus};
use crate::{ClusterState, Command, Error, METADATA_TOPIC, Result};

/// The local metadata store: an ordered log of commands and the state they produce.
///
/// As in KRaft, the commands live in a log of the broker's own format,
/// `<data-dir>/__cluster_metadata-0`, one JSON command per record, fsynced on every append; the
/// cluster id lives in `<data-dir>/meta.properties`. On start the log is replayed into
/// [`ClusterState`]. `propose` is the one way to change metadata: on a single node it appends and
/// applies locally; under the Raft quorum it becomes a proposal that returns once committed.
#[derive(Clone)]
pub struct MetadataStore {
    backend: Backend,
    state: Arc<Mutex<ClusterState>>,
    cluster_id: String,
}

/// Where commands go: a local log (a single node that is not part of a quorum), or the
/// controller quorum.
#[derive(Clone)]
enum Backend {
    Local(Arc<Log>),
    Quorum(Arc<Quorum>),
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The metadata logs (local and Raft) fsync every append and keep everything.
pub(crate) fn log_config() -> LogConfig {
    LogConfig {
        flush_messages: 1,
        retention_ms: -1,
        retention_bytes: -1,
        segment_bytes: 64 << 20,
        ..LogConfig::default()
    }
}

/// Reads `cluster.id` from `meta.properties`, creating the file on first start with `fresh`
/// (a random id when `None`).
fn cluster_id(data_dir: &Path, fresh: Option<String>) -> Result<String> {
    let path = data_dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(id) = text.lines().find_map(|l| l.strip_prefix("cluster.id="))
    {
        return Ok(id.trim().to_string());
    }
    // Kafka cluster ids are 22 characters (a base64url UUID); 22 hex digits of a UUID serve too.
    let id = fresh.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..22].to_string());
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        format!("# written by weir\nversion=1\ncluster.id={id}\n"),
    )?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(id)
}

fn encode(cmd: &Command) -> Result<Bytes> {
    let value = Bytes::from(serde_json::to_vec(cmd)?);
    Ok(weir_storage::encode_records(
        &[(None, Some(value))],
        now_ms(),
    )?)
}

impl MetadataStore {
    /// Opens the metadata log under `data_dir` and replays it.
    pub fn open(data_dir: &Path) -> Result<MetadataStore> {
        std::fs::create_dir_all(data_dir)?;
        let cluster_id = cluster_id(data_dir, None)?;
        let dir: PathBuf = data_dir.join(format!("{METADATA_TOPIC}-0"));
        // Always re-validated on open: the metadata log is small and must never serve a torn write.
        let log = Log::open(&dir, log_config(), false, now_ms())?;
        let mut state = ClusterState::default();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let mut chunk = log.read(offset, 1 << 20, true)?.records;
            if chunk.is_empty() {
                break;
            }
            let sets = RecordBatchDecoder::decode_all(&mut chunk).map_err(|e| Error::Corrupt {
                offset,
                reason: e.to_string(),
            })?;
            for record in sets.into_iter().flat_map(|s| s.records) {
                offset = record.offset + 1;
                let value = record.value.unwrap_or_default();
                let cmd: Command = serde_json::from_slice(&value).map_err(|e| Error::Corrupt {
                    offset: record.offset,
                    reason: e.to_string(),
                })?;
                if let Err(e) = state.apply(offset as u64, cmd) {
                    // A command that was valid when written is valid on replay; if not, keep
                    // going rather than refuse to start, and say so.
                    tracing::warn!(offset = record.offset, error = %e, "metadata command failed on replay");
                }
            }
        }
        Ok(MetadataStore {
            backend: Backend::Local(Arc::new(log)),
            state: Arc::new(Mutex::new(state)),
            cluster_id,
        })
    }

    /// Joins (or starts) the controller quorum; metadata then comes from the Raft log.
    /// `cluster_id` is written on first start (every member must use the same).
    pub fn open_quorum(
        data_dir: &Path,
        config: QuorumConfig,
        cluster_id: String,
    ) -> Result<MetadataStore> {
        std::fs::create_dir_all(data_dir)?;
        let cluster_id = self::cluster_id(data_dir, Some(cluster_id))?;
        let state = Arc::new(Mutex::new(ClusterState::default()));
        let quorum = Quorum::start(config, data_dir, state.clone())?;
        Ok(MetadataStore {
            backend: Backend::Quorum(Arc::new(quorum)),
            state,
            cluster_id,
        })
    }

    /// The quorum as this node sees it (`None` for a node outside any quorum).
    pub fn quorum_status(&self) -> Option<QuorumStatus> {
        match &self.backend {
            Backend::Local(_) => None,
            Backend::Quorum(q) => Some(q.status()),
        }
    }

    /// The end of the metadata log of a lone node (`None` in a quorum, whose status says).
    pub fn local_log_end(&self) -> Option<i64> {
        match &self.backend {
            Backend::Local(log) => Some(log.log_end_offset()),
            Backend::Quorum(_) => None,
        }
    }

    /// Brokers that joined the quorum as non-voting members.
    pub fn learners(&self) -> Vec<u64> {
        match &self.backend {
            Backend::Local(_) => Vec::new(),
            Backend::Quorum(q) => q.learners(),
        }
    }

    /// Takes a non-voting member out of the quorum (after its broker was unregistered).
    pub fn remove_learner(&self, node_id: u64) -> Result<()> {
        match &self.backend {
            Backend::Local(_) => Err(Error::Quorum("this node is not part of a quorum".into())),
            Backend::Quorum(q) => q.remove_learner(node_id),
        }
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// A consistent copy of the current state.
    pub fn snapshot(&self) -> ClusterState {
        self.state.lock().clone()
    }

    /// Reads the state without copying it.
    pub fn read<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> T {
        f(&self.state.lock())
    }

    /// Validates, durably appends and applies `cmd`; the state after it is returned.
    pub fn propose(&self, cmd: Command) -> Result<ClusterState> {
        match &self.backend {
            Backend::Local(log) => {
                let mut state = self.state.lock();
                state.validate(&cmd)?;
                let info = log.append(&encode(&cmd)?, 0, now_ms())?;
                log.set_high_watermark(info.last_offset + 1);
                state.apply((info.last_offset + 1) as u64, cmd)?;
                Ok(state.clone())
            }
            Backend::Quorum(q) => {
                // Refuse what is already invalid here; the leader validates again on apply.
                self.state.lock().validate(&cmd)?;
                let applied = q.propose(cmd)?;
                if let Some((code, message)) = applied.error {
                    return Err(Error::Refused { code, message });
                }
                Ok(self.state.lock().clone())
            }
        }
    }

    /// Makes sure everything is on disk (clean shutdown).
    pub fn flush(&self) -> Result<()> {
        if let Backend::Local(log) = &self.backend {
            log.close()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, PartitionAssignment};
    use std::collections::BTreeMap;

    fn create(name: &str, n: i32) -> Command {
        Command::CreateTopic {
            name: name.into(),
            topic_id: uuid::Uuid::new_v4(),
            partitions: (0..n)
                .map(|p| PartitionAssignment {
                    partition: p,
                    replicas: vec![1],
                    isr: vec![1],
                    leader: 1,
                    leader_epoch: 0,
                })
                .collect(),
            configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
        }
    }

    #[test]
    fn commands_persist_and_replay() {
        let dir = tempfile::tempdir().expect("tmp");
        let (id, b_id);
        {
            let store = MetadataStore::open(dir.path()).expect("open");
            id = store.cluster_id().to_string();
            assert_eq!(id.len(), 22);
            store.propose(create("a", 2)).expect("create");
            store.propose(create("b", 1)).expect("create");
            assert!(matches!(
                store.propose(create("a", 1)),
                Err(Error::TopicExists(_))
            ));
            store
                .propose(Command::AlterTopicConfigs {
                    name: "a".into(),
                    configs: BTreeMap::from([
                        ("retention.ms".into(), None),
                        ("segment.ms".into(), Some("5".into())),
                    ]),
                })
                .expect("alter");
            b_id = store.snapshot().topic("b").expect("b").topic_id;
            store
                .propose(Command::DeleteTopic { name: "b".into() })
                .expect("delete");
        }
        let store = MetadataStore::open(dir.path()).expect("reopen");
        assert_eq!(store.cluster_id(), id);
        let s = store.snapshot();
        assert_eq!(s.applied_index, 4, "four commands were accepted");
        assert_eq!(s.topics.len(), 1);
        let a = s.topic("a").expect("a");
        assert_eq!(a.partitions.len(), 2);
        assert_eq!(
            a.configs,
            BTreeMap::from([("segment.ms".to_string(), "5".to_string())])
        );
        // The deleted topic's id is remembered (its files, if a crash left any, are removed).
        assert_eq!(s.deleted_topic_ids, [b_id].into());
    }

    #[test]
    fn invalid_commands_are_rejected_with_kafka_codes() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = MetadataStore::open(dir.path()).expect("open");
        let e = store.propose(create("bad/name", 1)).expect_err("invalid");
        assert_eq!(e.kafka_code(), 17);
        assert_eq!(
            store
                .propose(create(METADATA_TOPIC, 1))
                .expect_err("reserved")
                .kafka_code(),
            17
        );
        let mut c = create("t", 1);
        if let Command::CreateTopic { configs, .. } = &mut c {
            configs.insert("retention.ms".into(), "soon".into());
        }
        assert_eq!(store.propose(c).expect_err("bad config").kafka_code(), 40);
        let e = store
            .propose(Command::DeleteTopic {
                name: "nope".into(),
            })
            .expect_err("unknown");
        assert_eq!(e.kafka_code(), 3);
        assert_eq!(
            store.snapshot().applied_index,
            0,
            "rejected commands are not logged"
        );
    }
}
