use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{ClusterState, Command, Result};

/// The local metadata store: an ordered log of commands in sled, and the state they produce.
///
/// `propose` is the one way to change metadata. In a single node it appends and applies
/// locally; under the Raft quorum it becomes a proposal that returns once committed.
#[derive(Clone)]
pub struct MetadataStore {
    db: sled::Db,
    log: sled::Tree,
    state: Arc<Mutex<ClusterState>>,
    cluster_id: String,
}

impl MetadataStore {
    pub fn open(dir: &Path) -> Result<MetadataStore> {
        let db = sled::open(dir)?;
        let log = db.open_tree("log")?;
        let cluster_id = match db.get("cluster_id")? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => {
                // Kafka cluster ids are 22-character base64url UUIDs; a simple UUID serves the same purpose.
                let id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
                db.insert("cluster_id", id.as_bytes())?;
                db.flush()?;
                id
            }
        };
        let mut state = ClusterState::default();
        for entry in log.iter() {
            let (k, v) = entry?;
            let index = u64::from_be_bytes(k.as_ref().try_into().unwrap_or([0; 8]));
            let cmd: Command = serde_json::from_slice(&v)?;
            if let Err(e) = state.apply(index, cmd) {
                // A command that was valid when written is valid on replay; if not, keep going
                // rather than refuse to start, and say so.
                tracing::warn!(index, error = %e, "metadata command failed on replay");
            }
        }
        Ok(MetadataStore {
            db,
            log,
            state: Arc::new(Mutex::new(state)),
            cluster_id,
        })
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

    /// Validates, persists and applies `cmd`; the state after it is returned.
    pub fn propose(&self, cmd: Command) -> Result<ClusterState> {
        let mut state = self.state.lock();
        state.validate(&cmd)?;
        let index = state.applied_index + 1;
        self.log
            .insert(index.to_be_bytes(), serde_json::to_vec(&cmd)?)?;
        self.db.flush()?;
        state.apply(index, cmd)?;
        Ok(state.clone())
    }

    /// Makes sure everything is on disk (clean shutdown).
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
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
        let id;
        {
            let store = MetadataStore::open(dir.path()).expect("open");
            id = store.cluster_id().to_string();
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
            store
                .propose(Command::DeleteTopic { name: "b".into() })
                .expect("delete");
        }
        let store = MetadataStore::open(dir.path()).expect("reopen");
        assert_eq!(store.cluster_id(), id);
        let s = store.snapshot();
        assert_eq!(s.topics.len(), 1);
        let a = s.topic("a").expect("a");
        assert_eq!(a.partitions.len(), 2);
        assert_eq!(
            a.configs,
            BTreeMap::from([("segment.ms".to_string(), "5".to_string())])
        );
    }

    #[test]
    fn invalid_commands_are_rejected_with_kafka_codes() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = MetadataStore::open(dir.path()).expect("open");
        let e = store.propose(create("bad/name", 1)).expect_err("invalid");
        assert_eq!(e.kafka_code(), 17);
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
    }
}
