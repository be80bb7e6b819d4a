//! The Raft state machine: [`ClusterState`], shared with the [`crate::MetadataStore`] readers.
//! Snapshots are the state as JSON in `<data>/raft-snapshot.json`, loaded on open.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Applied, BasicNode, Entry, NodeId, TypeConfig};
use crate::ClusterState;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AppliedState {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    state: ClusterState,
}

#[derive(Clone)]
pub(crate) struct StateMachine {
    state: Arc<Mutex<ClusterState>>,
    applied: Arc<Mutex<AppliedState>>,
    path: PathBuf,
}

fn err(verb: ErrorVerb, e: impl ToString) -> StorageError<NodeId> {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        AnyError::error(e.to_string()),
    )
    .into()
}

impl StateMachine {
    /// Loads the last snapshot into `state`.
    pub(crate) fn open(data_dir: &Path, state: Arc<Mutex<ClusterState>>) -> crate::Result<Self> {
        let path = data_dir.join("raft-snapshot.json");
        let mut applied = AppliedState::default();
        match std::fs::read(&path) {
            Ok(b) => {
                let snap: SnapshotFile = serde_json::from_slice(&b)?;
                applied.last_applied = snap.meta.last_log_id;
                applied.membership = snap.meta.last_membership.clone();
                *state.lock() = snap.state;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(StateMachine {
            state,
            applied: Arc::new(Mutex::new(applied)),
            path,
        })
    }

    fn persist(&self, snap: &SnapshotFile) -> std::io::Result<Vec<u8>> {
        let bytes = serde_json::to_vec(snap).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(bytes)
    }

    fn current(&self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(ErrorVerb::Read, e)),
        };
        let snap: SnapshotFile =
            serde_json::from_slice(&bytes).map_err(|e| err(ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta: snap.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let (state, applied) = {
            // Both locks, so the state and its applied id agree.
            let state = self.state.lock();
            let applied = self.applied.lock();
            (state.clone(), applied.clone())
        };
        let id = applied.last_applied.map_or_else(
            || "empty".to_string(),
            |l| format!("{}-{}", l.leader_id.term, l.index),
        );
        let snap = SnapshotFile {
            meta: SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.membership,
                snapshot_id: id,
            },
            state,
        };
        let bytes = self.persist(&snap).map_err(|e| err(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta: snap.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let a = self.applied.lock();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        for entry in entries {
            let mut state = self.state.lock();
            let mut applied = self.applied.lock();
            applied.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => Applied { error: None },
                EntryPayload::Normal(cmd) => match state.apply(entry.log_id.index + 1, cmd) {
                    Ok(()) => Applied { error: None },
                    Err(e) => Applied {
                        error: Some((e.kafka_code(), e.to_string())),
                    },
                },
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    Applied { error: None }
                }
            };
            out.push(result);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let snap: SnapshotFile =
            serde_json::from_slice(snapshot.get_ref()).map_err(|e| err(ErrorVerb::Read, e))?;
        let snap = SnapshotFile {
            meta: meta.clone(),
            state: snap.state,
        };
        self.persist(&snap).map_err(|e| err(ErrorVerb::Write, e))?;
        let mut state = self.state.lock();
        let mut applied = self.applied.lock();
        *state = snap.state;
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        self.current()
    }
}
