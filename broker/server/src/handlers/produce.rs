use std::time::Duration;

use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use weir_protocol::kafka::messages::{ProduceRequest, ProduceResponse};
use weir_storage::AppendInfo;

use super::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::partition::{Partition, PartitionRef};
use crate::plugins::chain::{ChainOutput, Policy};
use crate::plugins::{TopicPlugins, records, topic_plugins};

/// How long a produce may wait for its dead letters and routed records to be written.
const SIDE_OUTPUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a partition's produce failed.
enum Refused {
    Error(crate::Error),
    /// Plugins rejected records: `(index in the request's records, message)`.
    Rejected(Vec<(usize, String)>),
}

impl<E: Into<crate::Error>> From<E> for Refused {
    fn from(e: E) -> Self {
        Refused::Error(e.into())
    }
}

/// Appends each partition's batches to its log, first running the topic's plugins (if it has
/// any) over the records. Only the partition's leader takes writes. acks=1 answers once the
/// leader's log has the batch; acks=all refuses with NOT_ENOUGH_REPLICAS when fewer than
/// `min.insync.replicas` replicas (at most the partition's replica count) are in sync, and otherwise answers once every in-sync
/// replica has the batch (the high watermark passed it), or with REQUEST_TIMED_OUT after the
/// request's timeout.
pub(crate) async fn handle(broker: &Broker, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let bad_acks = !matches!(acks, -1..=1);
    let me = broker.config.node_id;
    let mut appended = false;
    let mut waits: Vec<Wait> = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for (ti, topic) in req.topic_data.into_iter().enumerate() {
        let name = topic.name.to_string();
        let (plugins, min_isr) = broker.metadata.read(|s| {
            (
                topic_plugins(s, &name),
                s.topic(&name).map_or(1, |t| broker.min_insync_replicas(t)),
            )
        });
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            if bad_acks {
                parts.push(resp.with_error_code(ResponseError::InvalidRequiredAcks.code()));
                continue;
            }
            let Some(partition) = broker
                .partition(&name, pd.index)
                .filter(|p| p.is_leader(me))
            else {
                parts.push(resp.with_error_code(broker.missing_partition_code(&name, pd.index)));
                continue;
            };
            // As Kafka since KIP-966 (its effective min ISR): a partition with fewer replicas
            // than min.insync.replicas needs all of them, not more than it can ever have.
            let required = min_isr.min(partition.replica_count().max(1));
            if acks == -1
                && partition.in_sync_count(me, broker.config.replica_lag_time_max) < required
            {
                let message = format!(
                    "{name}-{}: {} of the {} replicas are in sync, min.insync.replicas is {min_isr}",
                    pd.index,
                    partition.in_sync_count(me, broker.config.replica_lag_time_max),
                    partition.replica_count(),
                );
                tracing::debug!(%message, "acks=all produce refused");
                parts.push(
                    resp.with_error_code(ResponseError::NotEnoughReplicas.code())
                        .with_error_message(Some(str_bytes(message))),
                );
                continue;
            }
            let records = pd.records.unwrap_or_default();
            let epoch = partition.leader_epoch();
            let result = match &plugins {
                None => partition
                    .log
                    .append(&records, epoch, now_ms())
                    .map_err(Refused::from),
                Some(tp) => {
                    run_blocking(|| produce_with_plugins(broker, &partition, epoch, &records, tp))
                }
            };
            match result {
                Ok(info) => {
                    if !info.duplicate {
                        partition.advance_high_watermark(me);
                        broker.metrics.records_in.inc_by(info.record_count as u64);
                        appended = true;
                    }
                    if acks == -1 && partition.log.high_watermark() <= info.last_offset {
                        waits.push(Wait {
                            topic: ti,
                            partition: parts.len(),
                            target: info.last_offset + 1,
                            epoch,
                            min_isr,
                            part: partition.clone(),
                        });
                    }
                    parts.push(
                        resp.with_base_offset(info.base_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(info.log_start_offset),
                    );
                }
                Err(Refused::Error(e)) => {
                    if e.kafka_code() == ResponseError::KafkaStorageError.code() {
                        log_storage_failure(&name, pd.index, &e);
                    }
                    tracing::debug!(topic = %name, partition = pd.index, error = %e, "produce rejected");
                    parts.push(
                        resp.with_error_code(e.kafka_code())
                            .with_error_message(Some(str_bytes(e.to_string()))),
                    );
                }
                Err(Refused::Rejected(errors)) => {
                    parts.push(rejected_response(resp, &name, pd.index, errors));
                }
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(parts),
        );
    }
    if appended {
        broker.notify_append();
    }
    if !waits.is_empty() {
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        for (w, code) in await_replication(broker, waits, timeout).await {
            if let Some(p) = responses
                .get_mut(w.topic)
                .and_then(|t| t.partition_responses.get_mut(w.partition))
            {
                p.error_code = code;
            }
        }
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// An acks=all append waiting for the in-sync replicas.
struct Wait {
    topic: usize,
    partition: usize,
    /// The high watermark that covers the batch.
    target: i64,
    epoch: i32,
    min_isr: usize,
    part: PartitionRef,
}

/// Waits until every append is replicated to the ISR; returns the ones that failed, with the
/// error code: NOT_LEADER_OR_FOLLOWER when leadership moved, NOT_ENOUGH_REPLICAS_AFTER_APPEND
/// when the ISR shrank below `min.insync.replicas`, REQUEST_TIMED_OUT at the deadline.
async fn await_replication(
    broker: &Broker,
    waits: Vec<Wait>,
    timeout: Duration,
) -> Vec<(Wait, i16)> {
    // One deadline for the whole request: later partitions wait only for what is left of it.
    let deadline = tokio::time::Instant::now() + timeout;
    let mut failed = Vec::new();
    for w in waits {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match broker
            .await_high_watermark(&w.part, w.target, w.epoch, left)
            .await
        {
            Err(code) => failed.push((w, code)),
            Ok(()) if w.part.isr().len() < w.min_isr => {
                failed.push((w, ResponseError::NotEnoughReplicasAfterAppend.code()));
            }
            Ok(()) => {}
        }
    }
    failed
}

fn rejected_response(
    resp: PartitionProduceResponse,
    name: &str,
    index: i32,
    errors: Vec<(usize, String)>,
) -> PartitionProduceResponse {
    let first = errors
        .first()
        .map(|(i, m)| format!("record {i}: {m}"))
        .unwrap_or_default();
    let message = if errors.len() > 1 {
        format!("{first} (and {} more rejected)", errors.len() - 1)
    } else {
        first
    };
    tracing::debug!(topic = %name, partition = index, %message, "produce rejected by plugin");
    resp.with_error_code(ResponseError::InvalidRecord.code())
        .with_error_message(Some(str_bytes(message)))
        .with_record_errors(
            errors
                .into_iter()
                .map(|(i, m)| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(i as i32)
                        .with_batch_index_error_message(Some(str_bytes(m)))
                })
                .collect(),
        )
}

/// Runs `f`, which may block for as long as a plugin's time budget, without stalling the other
/// connections served by this async worker.
fn run_blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The produce path of a topic with plugins. Every batch of the request runs through the chain
/// first; if any record is rejected (under the `fail` policy) nothing is written. Otherwise
/// routed records and dead letters are written, then the topic's records: the producer's batch
/// as sent when no plugin changed anything, else a batch re-encoded from what the plugins kept.
fn produce_with_plugins(
    broker: &Broker,
    partition: &Partition,
    epoch: i32,
    records: &[u8],
    tp: &TopicPlugins,
) -> Result<AppendInfo, Refused> {
    let max = partition.log.config().max_message_bytes;
    // Keys are not required yet on a compacted topic: a plugin may give keyless records one
    // (what the plugins hand back is checked when it is appended). Header keys must be UTF-8,
    // as plugins are promised.
    let checks = weir_storage::records::RecordChecks {
        keys_required: false,
        utf8_header_keys: true,
    };
    let batches = weir_storage::split_producer_batches(records, max, checks)?;
    let policy = Policy {
        reject_to_dlq: tp.reject_to_dlq,
        failure: tp.failure,
    };
    let mut runs: Vec<(&[u8], weir_storage::BatchHeader, _, ChainOutput)> = Vec::new();
    let mut rejected = Vec::new();
    let mut first_index = 0;
    for (pos, h) in batches {
        let bytes = &records[pos..pos + h.total_len()];
        if let Some((base, last)) = partition.log.duplicate_of(&h)? {
            // A producer retry of a batch already appended: the plugins ran for it then.
            if runs.is_empty() {
                return Ok(AppendInfo {
                    base_offset: base,
                    last_offset: last,
                    log_append_time: -1,
                    log_start_offset: partition.log.log_start_offset(),
                    record_count: 0,
                    duplicate: true,
                });
            }
            continue;
        }
        let compression = h.attributes & records::COMPRESSION_MASK;
        let decode =
            || records::decode(bytes, &h, &partition.topic, partition.index).map(|(_, recs)| recs);
        let (n, out) = match records::plain_records(bytes, &h)? {
            // ABI 0.2.0 plugins get the records region as the producer wrote it.
            Some(plain) => {
                let raw = weir_wasm::RawBatch {
                    topic: &partition.topic,
                    partition: partition.index,
                    base_offset: -1,
                    base_timestamp: h.base_timestamp,
                    count: h.records_count.max(0) as u32,
                    records: &plain,
                };
                let out = broker.plugins.run_chain_raw(
                    &partition.topic,
                    &tp.steps,
                    policy,
                    &raw,
                    decode,
                )?;
                (raw.count as usize, out)
            }
            None => {
                let recs = decode()?;
                let n = recs.len();
                let out = broker
                    .plugins
                    .run_chain(&partition.topic, &tp.steps, policy, recs);
                (n, out)
            }
        };
        rejected.extend(
            out.rejected
                .iter()
                .map(|(i, m)| (first_index + i, m.clone())),
        );
        first_index += n;
        runs.push((bytes, h, compression, out));
    }
    if !rejected.is_empty() {
        return Err(Refused::Rejected(rejected));
    }
    let mut total: Option<AppendInfo> = None;
    for (bytes, h, compression, mut out) in runs {
        // Dead letters and routed records are in place (forwarded to their partitions'
        // leaders in a cluster) before the producer's records are appended.
        let side = broker.write_side_outputs(&mut out, &tp.dlq_topic)?;
        crate::forward::deliver_blocking(broker, side, SIDE_OUTPUT_TIMEOUT)
            .map_err(|e| crate::Error::Io(std::io::Error::other(e)))?;
        let now = now_ms();
        let info = if out.changed {
            let kept = std::mem::take(&mut out.kept);
            // Kept records stay at the offsets the producer computes for them (base + position
            // in its batch), so its delivery reports are right; removed ones leave gaps.
            let (mut batch, first) = match out.kept_positions.first() {
                Some(&first) => (
                    records::encode_rewritten(kept, &out.kept_positions, &h, compression)?.to_vec(),
                    first,
                ),
                None => (weir_storage::empty_batch(&h), 0),
            };
            weir_storage::set_last_offset_delta(&mut batch, h.last_offset_delta - first as i32);
            partition
                .log
                .append_rewritten(&batch, first as i64, &h, epoch, now)?
        } else {
            partition.log.append_validated(bytes, &h, epoch, now)?
        };
        total = Some(match total {
            None => info,
            Some(t) => AppendInfo {
                last_offset: info.last_offset.max(t.last_offset),
                record_count: t.record_count + info.record_count,
                ..t
            },
        });
    }
    total.ok_or_else(|| {
        Refused::Error(crate::Error::Storage(weir_storage::Error::CorruptBatch(
            "produce request carries no record batch".into(),
        )))
    })
}

/// Logs at ERROR a produce that the storage layer failed (a full or failing disk): its client
/// only sees KAFKA_STORAGE_ERROR, which it retries. At most one line every 10 s for the whole
/// broker, with the number of failures since the last one.
fn log_storage_failure(topic: &str, partition: i32, e: &crate::Error) {
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
    static LAST_LOGGED_MS: AtomicI64 = AtomicI64::new(i64::MIN);
    static FAILURES: AtomicU64 = AtomicU64::new(0);
    let failures = FAILURES.fetch_add(1, Relaxed) + 1;
    let now = now_ms();
    let last = LAST_LOGGED_MS.load(Relaxed);
    if now.saturating_sub(last) >= STORAGE_FAILURE_LOG_INTERVAL_MS
        && LAST_LOGGED_MS
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_ok()
    {
        FAILURES.store(0, Relaxed);
        tracing::error!(%topic, partition, failures, error = %e, "appending to a log failed");
    }
}

const STORAGE_FAILURE_LOG_INTERVAL_MS: i64 = 10_000;
