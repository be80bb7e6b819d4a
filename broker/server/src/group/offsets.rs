//! Committed offsets, durable in `<data>/__consumer_offsets-0` (a [`KvLog`] keyed by
//! group/topic/partition; a null value deletes). Replayed on start; last write wins.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::kvlog::KvLog;

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
    log: KvLog,
}

impl OffsetStore {
    /// Opens the offsets log and replays it.
    pub(crate) fn open(data_dir: &Path, clean: bool) -> Result<(OffsetStore, OffsetMap)> {
        let (log, entries) =
            KvLog::open::<Key, Committed>(data_dir, weir_metadata::OFFSETS_TOPIC, clean)?;
        let mut map = OffsetMap::new();
        for (key, value) in entries {
            let group = map.entry(key.group).or_default();
            match value {
                Some(c) => group.insert((key.topic, key.partition), c),
                None => group.remove(&(key.topic, key.partition)),
            };
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
        self.log.append(&keyed)
    }

    /// Whether enough of the log is superseded to compact it, with `live` committed offsets.
    pub(crate) fn needs_compaction(&self, live: usize) -> bool {
        self.log.should_compact(live)
    }

    /// Rewrites the offsets log down to the `live` offsets.
    pub(crate) fn compact(&self, live: &OffsetMap) -> Result<()> {
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
        self.log.compact(&entries)
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.log.close()
    }

    pub(crate) fn flush_if_due(&self) {
        self.log.flush_if_due();
    }
}
