//! Committed offsets, keyed by group/topic/partition (a null value deletes; last write wins).
//! A lone node keeps them in `<data>/__consumer_offsets-0` (a [`KvLog`]), replayed on start; a
//! cluster keeps them in the replicated partition `__consumer_offsets-0`, loaded by each new
//! leader of it, which is the group coordinator.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::kvlog::{KvLog, encode_entries, read_entries};
use crate::partition::PartitionRef;
use crate::txn::TxnMeta;
use crate::{Error, Result};

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

/// The key of a transaction's state in the replicated coordinator partition.
#[derive(Serialize)]
struct TxnKey<'a> {
    txn: &'a str,
}

/// Any key of the replicated coordinator partition: a transactional id, or an offset.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyKey {
    Txn { txn: String },
    Offset(Key),
}

/// Transaction states read back from the coordinator partition, in log order (`None`:
/// deleted).
pub(crate) type TxnEntries = Vec<(String, Option<TxnMeta>)>;

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(weir_storage::Error::CorruptBatch(format!("{NAME}: {e}")))
}

/// `group → (topic, partition) → committed`.
pub(crate) type OffsetMap = HashMap<String, BTreeMap<(String, i32), Committed>>;

/// Where committed offsets are kept: a local journal (a lone node), or, in a cluster, the
/// replicated partition `__consumer_offsets-0`, written by its leader (the group coordinator)
/// and copied by its followers like any partition.
pub(crate) enum OffsetStore {
    Local(Box<KvLog>),
    Replicated(Mutex<Option<Leading>>),
}

/// The offsets partition while this broker leads it.
#[derive(Clone)]
pub(crate) struct Leading {
    pub(crate) partition: PartitionRef,
    pub(crate) me: i32,
    /// The leader epoch whose log was loaded.
    pub(crate) epoch: i32,
}

/// A commit appended to the replicated offsets partition: durable once the high watermark of
/// `partition` reaches `end` under leader epoch `epoch`.
pub(crate) struct Durable {
    pub(crate) partition: PartitionRef,
    pub(crate) end: i64,
    pub(crate) epoch: i32,
}

/// The name used in errors about the offsets journal.
const NAME: &str = weir_metadata::OFFSETS_TOPIC;

impl OffsetStore {
    /// Opens the local offsets log and replays it; with `replicated`, starts empty until this
    /// broker leads the offsets partition (see [`OffsetStore::load`]).
    pub(crate) fn open(
        data_dir: &Path,
        clean: bool,
        replicated: bool,
    ) -> Result<(OffsetStore, OffsetMap)> {
        if replicated {
            return Ok((OffsetStore::Replicated(Mutex::new(None)), OffsetMap::new()));
        }
        let (log, entries) = KvLog::open::<Key, Committed>(data_dir, NAME, clean)?;
        Ok((OffsetStore::Local(Box::new(log)), fold(entries)))
    }

    /// Reads every entry of the replicated coordinator partition a new leader takes over:
    /// committed offsets, and the state of each transactional id (kept in the same log, so
    /// that one broker coordinates both and a transaction's offsets commit with it). The
    /// store writes nothing until [`OffsetStore::activate`].
    pub(crate) fn load(&self, partition: &PartitionRef) -> Result<(OffsetMap, TxnEntries)> {
        if matches!(self, OffsetStore::Local(_)) {
            return Ok((OffsetMap::new(), Vec::new()));
        }
        let entries = read_entries::<AnyKey, serde_json::Value>(&partition.log, NAME, true)?;
        let mut offsets = Vec::new();
        let mut txns = Vec::new();
        for (key, value) in entries {
            match key {
                AnyKey::Txn { txn } => {
                    let meta = value
                        .map(serde_json::from_value::<TxnMeta>)
                        .transpose()
                        .map_err(corrupt)?;
                    txns.push((txn, meta));
                }
                AnyKey::Offset(key) => {
                    let c = value
                        .map(serde_json::from_value::<Committed>)
                        .transpose()
                        .map_err(corrupt)?;
                    offsets.push((key, c));
                }
            }
        }
        Ok((fold(offsets), txns))
    }

    /// Starts writing the replicated partition as its leader (after [`OffsetStore::load`]
    /// and after the caller installed what it loaded, so no request sees an empty state).
    pub(crate) fn activate(&self, leading: Leading) {
        if let OffsetStore::Replicated(slot) = self {
            *slot.lock() = Some(leading);
        }
    }

    /// Appends the state of transactional id `id` (`None` deletes it) to the replicated
    /// coordinator partition; durable once the returned [`Durable`] is.
    pub(crate) fn append_txn(&self, id: &str, meta: Option<&TxnMeta>) -> Result<Durable> {
        let OffsetStore::Replicated(slot) = self else {
            return Err(Error::NotCoordinator);
        };
        let Some(l) = slot.lock().clone() else {
            return Err(Error::NotCoordinator);
        };
        let key = TxnKey { txn: id };
        let batch = encode_entries(NAME, &[(key, meta)], crate::broker::now_ms())?;
        let info = l.partition.append_as_leader(l.me, &batch)?;
        Ok(Durable {
            partition: l.partition.clone(),
            end: info.last_offset + 1,
            epoch: l.epoch,
        })
    }

    /// Stops writing the replicated partition (leadership moved away).
    pub(crate) fn resign(&self) {
        if let OffsetStore::Replicated(slot) = self {
            *slot.lock() = None;
        }
    }

    /// Whether this broker coordinates groups: always on a lone node; in a cluster while it
    /// leads the offsets partition at the epoch it loaded.
    pub(crate) fn is_coordinator(&self) -> bool {
        match self {
            OffsetStore::Local(_) => true,
            OffsetStore::Replicated(slot) => slot.lock().as_ref().is_some_and(|l| {
                l.partition.is_leader(l.me) && l.partition.leader_epoch() == l.epoch
            }),
        }
    }

    /// The epoch loaded, while leading.
    pub(crate) fn leading_epoch(&self) -> Option<i32> {
        match self {
            OffsetStore::Local(_) => None,
            OffsetStore::Replicated(slot) => slot.lock().as_ref().map(|l| l.epoch),
        }
    }

    /// Appends commits (`Some`) and deletions (`None`) as one write. In a cluster the write
    /// is durable once replicated: the returned [`Durable`] says when.
    pub(crate) fn append(
        &self,
        group: &str,
        entries: &[((String, i32), Option<Committed>)],
    ) -> Result<Option<Durable>> {
        let keyed: Vec<(Key, Option<&Committed>)> = entries
            .iter()
            .map(|((topic, partition), c)| {
                (
                    Key {
                        group: group.to_string(),
                        topic: topic.clone(),
                        partition: *partition,
                    },
                    c.as_ref(),
                )
            })
            .collect();
        match self {
            OffsetStore::Local(log) => log.append(&keyed).map(|()| None),
            OffsetStore::Replicated(slot) => {
                if keyed.is_empty() {
                    return Ok(None);
                }
                let Some(l) = slot.lock().clone() else {
                    return Err(Error::NotCoordinator);
                };
                let batch = encode_entries(NAME, &keyed, crate::broker::now_ms())?;
                let info = l.partition.append_as_leader(l.me, &batch)?;
                Ok(Some(Durable {
                    partition: l.partition.clone(),
                    end: info.last_offset + 1,
                    epoch: l.epoch,
                }))
            }
        }
    }

    /// Whether enough of the log is superseded to compact it, with `live` committed offsets.
    /// The replicated partition is not compacted (its followers must stay byte-identical).
    pub(crate) fn needs_compaction(&self, live: usize) -> bool {
        match self {
            OffsetStore::Local(log) => log.should_compact(live),
            OffsetStore::Replicated(_) => false,
        }
    }

    /// Rewrites the offsets log down to the `live` offsets.
    pub(crate) fn compact(&self, live: &OffsetMap) -> Result<()> {
        let OffsetStore::Local(log) = self else {
            return Ok(());
        };
        let entries: Vec<(Key, Option<&Committed>)> = live
            .iter()
            .flat_map(|(group, offsets)| {
                offsets.iter().map(move |((topic, partition), c)| {
                    (
                        Key {
                            group: group.clone(),
                            topic: topic.clone(),
                            partition: *partition,
                        },
                        Some(c),
                    )
                })
            })
            .collect();
        log.compact(&entries)
    }

    pub(crate) fn close(&self) -> Result<()> {
        match self {
            OffsetStore::Local(log) => log.close(),
            OffsetStore::Replicated(_) => Ok(()),
        }
    }

    pub(crate) fn flush_if_due(&self) {
        if let OffsetStore::Local(log) = self {
            log.flush_if_due();
        }
    }
}

/// Folds journal entries (last write wins; `None` deletes) into the committed offsets.
fn fold(entries: Vec<(Key, Option<Committed>)>) -> OffsetMap {
    let mut map = OffsetMap::new();
    for (key, value) in entries {
        let group = map.entry(key.group).or_default();
        match value {
            Some(c) => group.insert((key.topic, key.partition), c),
            None => group.remove(&(key.topic, key.partition)),
        };
    }
    map.retain(|_, g| !g.is_empty());
    map
}
