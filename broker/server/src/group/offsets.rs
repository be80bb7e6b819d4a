//! Committed offsets, keyed by group/topic/partition (a null value deletes; last write wins).
//! A lone node keeps them in `<data>/__consumer_offsets-0` (a [`KvLog`]), replayed on start; a
//! cluster keeps them in the replicated partition `__consumer_offsets-0`, loaded by each new
//! leader of it, which is the group coordinator.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::stored::{GroupEntries, StoredGroup};
use crate::kvlog::{KvLog, encode_entries, read_entries, worth_compacting};
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

/// The key of a group's membership record (see `stored.rs`).
#[derive(Serialize)]
struct GroupKey<'a> {
    group_meta: &'a str,
}

/// Any key of the replicated coordinator partition: a transactional id, a group's
/// membership, or an offset.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyKey {
    Txn { txn: String },
    Group { group_meta: String },
    Offset(Key),
}

/// Transaction states read back from the coordinator partition, in log order (`None`:
/// deleted).
pub(crate) type TxnEntries = Vec<(String, Option<TxnMeta>)>;

/// What a new leader of the coordinator partition reads from it.
#[derive(Default)]
pub(crate) struct Loaded {
    pub(crate) offsets: OffsetMap,
    pub(crate) txns: TxnEntries,
    pub(crate) groups: GroupEntries,
    /// Entries in the partition from its log start.
    pub(crate) entries: usize,
}

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
    /// Entries in the partition from its log start (the loaded ones included).
    written: Arc<AtomicU64>,
    /// A copy of the live state appended at `[from, to)`: the log start moves to `from` once
    /// the high watermark reaches `to` (see [`OffsetStore::compact_replicated`]).
    cut: Arc<Mutex<Option<(i64, i64)>>>,
}

impl Leading {
    /// Leading `partition` at `epoch`, whose log held `entries` entries when loaded.
    pub(crate) fn new(partition: PartitionRef, me: i32, epoch: i32, entries: usize) -> Leading {
        Leading {
            partition,
            me,
            epoch,
            written: Arc::new(AtomicU64::new(entries as u64)),
            cut: Arc::new(Mutex::new(None)),
        }
    }
}

/// Entries per record batch when the live state is copied.
const COPY_CHUNK: usize = 2000;

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
    pub(crate) fn load(&self, partition: &PartitionRef) -> Result<Loaded> {
        if matches!(self, OffsetStore::Local(_)) {
            return Ok(Loaded::default());
        }
        let entries = read_entries::<AnyKey, serde_json::Value>(&partition.log, NAME, true)?;
        let count = entries.len();
        let mut offsets = Vec::new();
        let mut txns = Vec::new();
        let mut groups = Vec::new();
        for (key, value) in entries {
            match key {
                AnyKey::Group { group_meta } => {
                    let g = value
                        .map(serde_json::from_value::<StoredGroup>)
                        .transpose()
                        .map_err(corrupt)?;
                    groups.push((group_meta, g));
                }
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
        Ok(Loaded {
            offsets: fold(offsets),
            txns,
            groups,
            entries: count,
        })
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
        self.append_one(TxnKey { txn: id }, meta)
    }

    /// Appends group `id`'s membership (`None` deletes it) to the replicated coordinator
    /// partition.
    pub(crate) fn append_group(&self, id: &str, group: Option<&StoredGroup>) -> Result<Durable> {
        self.append_one(GroupKey { group_meta: id }, group)
    }

    fn append_one<K: Serialize, V: Serialize>(&self, key: K, value: Option<&V>) -> Result<Durable> {
        let OffsetStore::Replicated(slot) = self else {
            return Err(Error::NotCoordinator);
        };
        let Some(l) = slot.lock().clone() else {
            return Err(Error::NotCoordinator);
        };
        let batch = encode_entries(NAME, &[(key, value)], crate::broker::now_ms())?;
        let info = l.partition.append_as_leader(l.me, &batch)?;
        l.written.fetch_add(1, Ordering::Relaxed);
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
                l.written.fetch_add(keyed.len() as u64, Ordering::Relaxed);
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

    /// In a cluster, compacts the coordinator partition once enough of it is superseded:
    /// appends a copy of the live state (every committed offset and transaction), and once
    /// that copy is replicated ([`OffsetStore::advance_cut`]) moves the log start to it, which
    /// the followers follow. The caller holds what keeps every other writer out (the group and
    /// transaction coordinators' locks), so nothing lands between the copy's entries.
    pub(crate) fn compact_replicated<'a>(
        &self,
        offsets: impl Iterator<Item = (&'a String, &'a BTreeMap<(String, i32), Committed>)>,
        groups: Vec<(&'a str, &'a StoredGroup)>,
        txns: &HashMap<String, TxnMeta>,
    ) -> Result<()> {
        let OffsetStore::Replicated(slot) = self else {
            return Ok(());
        };
        let Some(l) = slot.lock().clone() else {
            return Ok(());
        };
        let offsets = live_entries(offsets);
        let live = offsets.len() + groups.len() + txns.len();
        let written = l.written.load(Ordering::Relaxed);
        let from = l.partition.log.log_end_offset();
        let now = crate::broker::now_ms();
        fn copy<K: Serialize, V: Serialize>(
            l: &Leading,
            entries: &[(K, Option<V>)],
            now: i64,
        ) -> Result<()> {
            for chunk in entries.chunks(COPY_CHUNK) {
                l.partition
                    .append_as_leader(l.me, &encode_entries(NAME, chunk, now)?)?;
            }
            Ok(())
        }
        copy(&l, &offsets, now)?;
        let txns: Vec<(TxnKey, Option<&TxnMeta>)> = txns
            .iter()
            .map(|(id, m)| (TxnKey { txn: id }, Some(m)))
            .collect();
        copy(&l, &txns, now)?;
        let groups: Vec<(GroupKey, Option<&StoredGroup>)> = groups
            .into_iter()
            .map(|(id, g)| (GroupKey { group_meta: id }, Some(g)))
            .collect();
        copy(&l, &groups, now)?;
        let to = l.partition.log.log_end_offset();
        l.written.store(live as u64, Ordering::Relaxed);
        *l.cut.lock() = Some((from, to));
        tracing::info!(
            live,
            superseded = written,
            from,
            "coordinator partition: live state copied for compaction"
        );
        Ok(())
    }

    /// Whether the coordinator partition is worth compacting, with `live` live entries (and
    /// no earlier compaction waits for its copy to replicate).
    pub(crate) fn wants_compaction(&self, live: usize) -> bool {
        let OffsetStore::Replicated(slot) = self else {
            return false;
        };
        slot.lock().as_ref().is_some_and(|l| {
            worth_compacting(l.written.load(Ordering::Relaxed), live) && l.cut.lock().is_none()
        })
    }

    /// Moves the log start of the coordinator partition to the live-state copy once its
    /// in-sync replicas have all of it.
    pub(crate) fn advance_cut(&self) {
        let OffsetStore::Replicated(slot) = self else {
            return;
        };
        let Some(l) = slot.lock().clone() else {
            return;
        };
        let mut cut = l.cut.lock();
        let Some((from, to)) = *cut else { return };
        if l.partition.log.high_watermark() < to {
            return;
        }
        match l.partition.log.delete_records_before(from) {
            Ok(start) => {
                *cut = None;
                tracing::info!(log_start = start, "coordinator partition compacted");
            }
            Err(e) => tracing::warn!(error = %e, "compacting the coordinator partition failed"),
        }
    }

    /// Rewrites the offsets log down to the `live` offsets.
    pub(crate) fn compact(&self, live: &OffsetMap) -> Result<()> {
        let OffsetStore::Local(log) = self else {
            return Ok(());
        };
        log.compact(&live_entries(live.iter()))
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

/// Journal entries for live committed offsets, by group.
fn live_entries<'a>(
    offsets: impl Iterator<Item = (&'a String, &'a BTreeMap<(String, i32), Committed>)>,
) -> Vec<(Key, Option<&'a Committed>)> {
    offsets
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
        .collect()
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::sync::Arc;

    use weir_metadata::PartitionAssignment;
    use weir_storage::{Log, LogConfig};

    use super::*;
    use crate::partition::Partition;
    use crate::txn::{TxnMeta, TxnState};

    fn committed(offset: i64) -> Committed {
        Committed {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_ms: 0,
        }
    }

    #[test]
    fn the_replicated_coordinator_log_compacts_to_its_live_state() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = Log::open(&dir.path().join("p"), LogConfig::default(), false, 0).expect("log");
        let a = PartitionAssignment {
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
        };
        let part: PartitionRef = Arc::new(Partition::new("offsets".into(), 0, log, &a));
        let (store, _) = OffsetStore::open(dir.path(), true, true).expect("open");
        let loaded = store.load(&part).expect("load");
        assert!(loaded.offsets.is_empty() && loaded.txns.is_empty() && loaded.entries == 0);
        store.activate(Leading::new(part.clone(), 1, 0, 0));

        // Many commits of two keys, one of them deleted, and a transaction's state.
        let tp = |p: i32| ("t".to_string(), p);
        for i in 0..25_000 {
            store
                .append("g", &[(tp(i % 2), Some(committed(i64::from(i))))])
                .expect("commit");
        }
        store.append("g", &[(tp(1), None)]).expect("delete");
        let meta = TxnMeta {
            producer_id: 7,
            epoch: 3,
            last_producer_id: -1,
            last_epoch: -1,
            timeout_ms: 60_000,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            pending_offsets: Vec::new(),
            started_ms: -1,
            updated_ms: 0,
        };
        store.append_txn("tx", Some(&meta)).expect("txn state");
        let members = StoredGroup {
            protocol_type: Some("consumer".into()),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            members: Vec::new(),
        };
        store.append_group("g", Some(&members)).expect("membership");

        let live: BTreeMap<(String, i32), Committed> = BTreeMap::from([(tp(0), committed(24_998))]);
        let txns = HashMap::from([("tx".to_string(), meta)]);
        assert!(store.wants_compaction(2));
        let group = "g".to_string();
        store
            .compact_replicated([(&group, &live)].into_iter(), vec![("g", &members)], &txns)
            .expect("compact");
        assert!(
            !store.wants_compaction(2),
            "compacted, nothing superseded yet"
        );
        // A lone replica: the copy is replicated as soon as it is written.
        store.advance_cut();
        let start = part.log.log_start_offset();
        assert_eq!(start, 25_003, "the log starts at the copy");

        let loaded = store.load(&part).expect("reload");
        assert_eq!(loaded.entries, 3, "only the copy is left");
        assert_eq!(loaded.offsets.get("g"), Some(&live));
        assert_eq!(loaded.groups, vec![("g".to_string(), Some(members))]);
        let txns = loaded.txns;
        assert_eq!(txns.len(), 1);
        assert_eq!(txns[0].0, "tx");
        assert_eq!(
            txns[0].1.as_ref().map(|m| (m.producer_id, m.epoch)),
            Some((7, 3))
        );
    }
}
