//! Dead letters and routed records: writing them, inspecting a dead-letter topic, and replaying
//! dead letters to their source topic after a fix.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use weir_wasm::{Header, KafkaRecord};

use super::chain::{ChainOutput, DeadLetter, Policy};
use super::records::{decode_log_chunk, encode, partition_for_key};
use super::topic_plugins;
use crate::broker::{Broker, now_ms};
use crate::coordinator_client;
pub(crate) use crate::forward::Appended;
use crate::partition::Partition;
use crate::{Error, Result};

/// The headers a dead letter carries besides the record's own.
pub(crate) const DLQ_REASON: &str = "weir.dlq.reason";
pub(crate) const DLQ_PLUGIN: &str = "weir.dlq.plugin";
pub(crate) const DLQ_PLUGIN_VERSION: &str = "weir.dlq.plugin.version";
pub(crate) const DLQ_SOURCE_TOPIC: &str = "weir.dlq.source.topic";
pub(crate) const DLQ_SOURCE_PARTITION: &str = "weir.dlq.source.partition";
pub(crate) const DLQ_SOURCE_OFFSET: &str = "weir.dlq.source.offset";
pub(crate) const DLQ_TIMESTAMP: &str = "weir.dlq.timestamp";
const DLQ_PREFIX: &str = "weir.dlq.";

/// How long the records replayed from one chunk may take to be written and replicated.
const REPLAY_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The consumer group whose committed offsets track what `replay` has done per DLQ partition.
pub(crate) const REPLAY_GROUP: &str = "__weir-dlq-replay";

/// The last value of header `key`, as text.
fn header_text(headers: &[Header], key: &str) -> Option<String> {
    headers
        .iter()
        .rev()
        .find(|h| h.key == key)
        .and_then(|h| h.value.as_deref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn header(key: &str, value: impl ToString) -> Header {
    Header {
        key: key.to_string(),
        value: Some(value.to_string().into_bytes()),
    }
}

/// The record as written to the dead-letter topic: key, value, timestamp and headers as they
/// were, plus the `weir.dlq.*` headers.
fn dead_letter_record(d: DeadLetter) -> KafkaRecord {
    let DeadLetter {
        mut record,
        reason,
        plugin,
        version,
    } = d;
    record.headers.extend([
        header(DLQ_REASON, reason),
        header(DLQ_PLUGIN, plugin),
        header(DLQ_PLUGIN_VERSION, version),
        header(DLQ_SOURCE_TOPIC, &record.topic),
        header(DLQ_SOURCE_PARTITION, record.partition),
        header(DLQ_SOURCE_OFFSET, record.offset),
        header(DLQ_TIMESTAMP, now_ms()),
    ]);
    record
}

impl Broker {
    /// Appends broker-written records to `topic`, spread over its partitions by key (Kafka's
    /// default partitioner) or, without a key, by the record's source partition. With
    /// `create`, a missing topic is created with the broker's defaults whatever the
    /// auto-create setting (dead-letter topics); otherwise only if auto-create is on.
    /// Returns where the records went, for callers that wait until they are replicated.
    pub(crate) fn append_records(
        &self,
        topic: &str,
        records: Vec<KafkaRecord>,
        create: bool,
    ) -> Result<Vec<Appended>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let meta = match self.metadata.read(|s| s.topic(topic).cloned()) {
            Some(t) => t,
            None if create => match self.create_topic(topic, -1, -1, BTreeMap::new(), false) {
                Ok(t) => t,
                Err(Error::Metadata(weir_metadata::Error::TopicExists(_))) => self
                    .metadata
                    .read(|s| s.topic(topic).cloned())
                    .ok_or_else(|| weir_metadata::Error::UnknownTopic(topic.into()))?,
                Err(e) => return Err(e),
            },
            None => self
                .auto_create(topic)?
                .ok_or_else(|| weir_metadata::Error::UnknownTopic(topic.into()))?,
        };
        let n = meta.partitions.len() as i32;
        let mut by_partition: BTreeMap<i32, Vec<KafkaRecord>> = BTreeMap::new();
        for r in records {
            let p = match &r.key {
                Some(k) => partition_for_key(k, n),
                None => r.partition.rem_euclid(n.max(1)),
            };
            by_partition.entry(p).or_default().push(r);
        }
        let mut appended = Vec::with_capacity(by_partition.len());
        for (p, records) in by_partition {
            appended.push(self.append_to(topic, p, encode(records)?)?);
        }
        self.notify_append();
        Ok(appended)
    }

    /// Appends a batch the broker wrote to `topic`/`partition` when it leads it; in a cluster,
    /// a partition led elsewhere gets it through [`crate::forward::deliver`].
    pub(crate) fn append_to(
        &self,
        topic: &str,
        partition: i32,
        batch: bytes::Bytes,
    ) -> Result<Appended> {
        let me = self.config.node_id;
        let here = self
            .partition(topic, partition)
            .filter(|part| part.is_leader(me) || self.config.quorum.is_none());
        let Some(part) = here else {
            if self.config.quorum.is_none() {
                return Err(weir_metadata::Error::UnknownTopic(topic.into()).into());
            }
            return Ok(Appended::Forward {
                topic: topic.to_string(),
                partition,
                batch,
            });
        };
        let epoch = part.leader_epoch();
        let info = part.append_as_leader(me, &batch)?;
        self.metrics.records_in.inc_by(info.record_count as u64);
        Ok(Appended::Local {
            partition: part,
            end: info.last_offset + 1,
            epoch,
        })
    }

    /// Writes a chain's dead letters and routed records. Routes first fail loudly (an unknown
    /// target topic with auto-create off is an error for the whole batch); dead letters go to
    /// `dlq_topic`, created if needed. Returns where the records went.
    pub(crate) fn write_side_outputs(
        &self,
        out: &mut ChainOutput,
        dlq_topic: &str,
    ) -> Result<Vec<Appended>> {
        let mut routes: BTreeMap<String, Vec<KafkaRecord>> = BTreeMap::new();
        for (t, r) in out.routed.drain(..) {
            routes.entry(t).or_default().push(r);
        }
        let mut appended = Vec::new();
        for (t, records) in routes {
            weir_metadata::validate_topic_name(&t)?;
            appended.extend(self.append_records(&t, records, false)?);
        }
        let dead: Vec<KafkaRecord> = out.dead.drain(..).map(dead_letter_record).collect();
        appended.extend(self.append_records(dlq_topic, dead, true)?);
        Ok(appended)
    }

    /// Reads up to `limit` dead letters of `topic` from `offset` on every partition.
    pub(crate) fn inspect_dead_letters(
        &self,
        topic: &str,
        offset: i64,
        limit: usize,
    ) -> Result<Vec<DeadLetterView>> {
        let parts: Vec<_> = self
            .all_partitions()
            .into_iter()
            .filter(|p| p.topic == topic)
            .collect();
        if parts.is_empty() {
            return Err(weir_metadata::Error::UnknownTopic(topic.into()).into());
        }
        let mut out = Vec::new();
        for p in parts {
            let mut at = offset.max(p.log.log_start_offset());
            while out.len() < limit && at < p.log.high_watermark() {
                let chunk = p.log.read(at, 1 << 20, true)?;
                if chunk.records.is_empty() {
                    break;
                }
                let records = decode_log_chunk(chunk.records, topic, p.index)?;
                let Some(last) = records.last().map(|r| r.offset) else {
                    break;
                };
                at = last + 1;
                out.extend(
                    records
                        .into_iter()
                        .filter(|r| r.offset < p.log.high_watermark())
                        .map(DeadLetterView::from),
                );
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Sends dead letters of `dlq_topic` back to their source topic (or `to`), through the
    /// source topic's plugins again, so records fixed by a new plugin version land and records
    /// still bad go back to the dead-letter topic. Picks up where the last replay stopped (the
    /// group `__weir-dlq-replay` holds the position, at the group coordinator wherever it is)
    /// unless `from` is given, and stops at the end of the topic as it was when the replay
    /// started. The records are read and replayed on blocking threads.
    pub(crate) async fn replay_dead_letters(
        self: &Arc<Self>,
        dlq_topic: &str,
        to: Option<&str>,
        from: Option<i64>,
    ) -> Result<ReplayReport> {
        let parts: Vec<_> = self
            .all_partitions()
            .into_iter()
            .filter(|p| p.topic == dlq_topic)
            .collect();
        if parts.is_empty() {
            return Err(weir_metadata::Error::UnknownTopic(dlq_topic.into()).into());
        }
        let mut report = ReplayReport::default();
        for p in parts {
            let end = p.log.high_watermark();
            let committed = match from {
                Some(_) => None,
                None => coordinator_client::committed(self, REPLAY_GROUP, dlq_topic, p.index)
                    .await
                    .map_err(|e| Error::Io(std::io::Error::other(e)))?,
            };
            let mut at = from
                .or(committed)
                .unwrap_or(0)
                .max(p.log.log_start_offset());
            while at < end {
                let (b, part, to) = (self.clone(), p.clone(), to.map(str::to_string));
                let (next, r, written) = tokio::task::spawn_blocking(move || {
                    let mut written = Vec::new();
                    let next =
                        b.replay_chunk(&part, at, end, to.as_deref(), &mut report, &mut written)?;
                    Ok::<_, Error>((next, report, written))
                })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(format!("replay panicked: {e}"))))??;
                report = r;
                // Everything replayed from the chunk is in place before the position moves.
                crate::forward::deliver(self, written, REPLAY_WRITE_TIMEOUT)
                    .await
                    .map_err(|e| Error::Io(std::io::Error::other(e)))?;
                let Some(next) = next else {
                    break;
                };
                at = next;
                coordinator_client::commit(self, REPLAY_GROUP, dlq_topic, p.index, at)
                    .await
                    .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            }
        }
        Ok(report)
    }

    /// Replays the dead letters of `p` from `at` (one chunk, below `end`). Returns the offset
    /// after the last one, `None` when there was none. Blocking.
    fn replay_chunk(
        &self,
        p: &Partition,
        at: i64,
        end: i64,
        to: Option<&str>,
        report: &mut ReplayReport,
        written: &mut Vec<Appended>,
    ) -> Result<Option<i64>> {
        let chunk = p.log.read(at, 4 << 20, true)?;
        if chunk.records.is_empty() {
            return Ok(None);
        }
        let records: Vec<KafkaRecord> = decode_log_chunk(chunk.records, &p.topic, p.index)?
            .into_iter()
            .filter(|r| r.offset < end)
            .collect();
        let Some(last) = records.last().map(|r| r.offset) else {
            return Ok(None);
        };
        for r in records {
            self.replay_one(r, to, report, written)?;
        }
        Ok(Some(last + 1))
    }

    fn replay_one(
        &self,
        mut r: KafkaRecord,
        to: Option<&str>,
        report: &mut ReplayReport,
        written: &mut Vec<Appended>,
    ) -> Result<()> {
        let get = |k: &str| header_text(&r.headers, k);
        let Some(source) = to.map(str::to_string).or_else(|| get(DLQ_SOURCE_TOPIC)) else {
            report.skipped += 1;
            return Ok(());
        };
        let partition = get(DLQ_SOURCE_PARTITION)
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(0);
        r.headers.retain(|h| !h.key.starts_with(DLQ_PREFIX));
        r.topic = source.clone();
        r.partition = partition;
        r.offset = -1;
        report.replayed += 1;
        // A target that does not exist yet is created as a producer's first write would
        // create it (auto.create.topics.enable).
        if self.auto_create(&source)?.is_none() {
            return Err(weir_metadata::Error::UnknownTopic(source).into());
        }
        let state = self.metadata.snapshot();
        let Some(meta) = state.topic(&source) else {
            return Err(weir_metadata::Error::UnknownTopic(source).into());
        };
        let partition = match &r.key {
            Some(k) => partition_for_key(k, meta.partitions.len() as i32),
            None => partition.rem_euclid(meta.partitions.len().max(1) as i32),
        };
        r.partition = partition;
        let mut out = match topic_plugins(&state, &source) {
            Some(tp) => {
                let policy = Policy {
                    reject_to_dlq: true,
                    failure: tp.failure,
                };
                let mut out = self.plugins.run_chain(&source, &tp.steps, policy, vec![r]);
                report.dead_lettered_again += out.dead.len() as u64;
                report.rejected += out.rejected.len() as u64;
                if !out.rejected.is_empty() {
                    out.kept.clear();
                    out.dead.clear();
                    out.routed.clear();
                }
                report.routed += out.routed.len() as u64;
                written.extend(self.write_side_outputs(&mut out, &tp.dlq_topic)?);
                out
            }
            None => ChainOutput {
                kept: vec![r],
                ..ChainOutput::default()
            },
        };
        report.appended += out.kept.len() as u64;
        let kept = std::mem::take(&mut out.kept);
        if !kept.is_empty() {
            written.push(self.append_to(&source, partition, encode(kept)?)?);
            self.notify_append();
        }
        Ok(())
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReplayReport {
    /// Dead letters read and sent back through the source topic's plugins.
    pub replayed: u64,
    /// Records appended to the source topic.
    pub appended: u64,
    /// Records the plugins sent to the dead-letter topic again.
    pub dead_lettered_again: u64,
    /// Records that failed again under a `fail` policy (left where they were).
    pub rejected: u64,
    pub routed: u64,
    /// Records without a source topic header (not dead letters).
    pub skipped: u64,
}

/// A dead letter as the HTTP API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
    pub reason: Option<String>,
    pub plugin: Option<String>,
    pub source_topic: Option<String>,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
}

impl From<KafkaRecord> for DeadLetterView {
    fn from(r: KafkaRecord) -> Self {
        let text =
            |b: &Option<Vec<u8>>| b.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
        let get = |k: &str| header_text(&r.headers, k);
        DeadLetterView {
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            reason: get(DLQ_REASON),
            plugin: get(DLQ_PLUGIN),
            source_topic: get(DLQ_SOURCE_TOPIC),
            source_partition: get(DLQ_SOURCE_PARTITION).and_then(|v| v.parse().ok()),
            source_offset: get(DLQ_SOURCE_OFFSET).and_then(|v| v.parse().ok()),
            key: text(&r.key),
            value: text(&r.value),
            headers: r
                .headers
                .iter()
                .map(|h| (h.key.clone(), text(&h.value)))
                .collect(),
        }
    }
}
