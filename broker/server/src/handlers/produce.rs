use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use weir_protocol::kafka::messages::{ProduceRequest, ProduceResponse};
use weir_storage::AppendInfo;

use super::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::partition::Partition;
use crate::plugins::chain::{ChainOutput, Policy};
use crate::plugins::{TopicPlugins, records, topic_plugins};

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
/// any) over the records. The response waits for nothing more on a single node: acks=1 and
/// acks=all both mean "in this broker's log" (replication will make acks=all wait for the
/// in-sync replicas).
pub(crate) async fn handle(broker: &Broker, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let bad_acks = !matches!(acks, -1..=1);
    let mut appended = false;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.to_string();
        let plugins = broker.metadata.read(|s| topic_plugins(s, &name));
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
            let Some(partition) = broker.partition(&name, pd.index) else {
                parts.push(resp.with_error_code(broker.missing_partition_code(&name, pd.index)));
                continue;
            };
            let records = pd.records.unwrap_or_default();
            let result = match &plugins {
                None => partition
                    .log
                    .append(&records, partition.leader_epoch, now_ms())
                    .map_err(Refused::from),
                Some(tp) => run_blocking(|| produce_with_plugins(broker, &partition, &records, tp)),
            };
            match result {
                Ok(info) => {
                    if !info.duplicate {
                        partition.log.set_high_watermark(info.last_offset + 1);
                        broker.metrics.records_in.inc_by(info.record_count as u64);
                        appended = true;
                    }
                    parts.push(
                        resp.with_base_offset(info.base_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(info.log_start_offset),
                    );
                }
                Err(Refused::Error(e)) => {
                    tracing::debug!(topic = %name, partition = pd.index, error = %e, "produce rejected");
                    parts.push(
                        resp.with_error_code(e.kafka_code())
                            .with_error_message(Some(str_bytes(e.to_string()))),
                    );
                }
                Err(Refused::Rejected(errors)) => {
                    let first = errors
                        .first()
                        .map(|(i, m)| format!("record {i}: {m}"))
                        .unwrap_or_default();
                    let message = if errors.len() > 1 {
                        format!("{first} (and {} more rejected)", errors.len() - 1)
                    } else {
                        first
                    };
                    tracing::debug!(topic = %name, partition = pd.index, %message, "produce rejected by plugin");
                    parts.push(
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
                            ),
                    );
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
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
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
    records: &[u8],
    tp: &TopicPlugins,
) -> Result<AppendInfo, Refused> {
    let max = partition.log.config().max_message_bytes;
    let batches = weir_storage::split_producer_batches(records, max)?;
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
        let (compression, recs) = records::decode(bytes, &h, &partition.topic, partition.index)?;
        let n = recs.len();
        let out = broker
            .plugins
            .run_chain(&partition.topic, &tp.steps, policy, recs);
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
        broker.write_side_outputs(&mut out, &tp.dlq_topic)?;
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
                .append_rewritten(&batch, first as i64, &h, partition.leader_epoch, now)?
        } else {
            partition.log.append(bytes, partition.leader_epoch, now)?
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
