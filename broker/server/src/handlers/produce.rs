use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use weir_protocol::kafka::messages::{ProduceRequest, ProduceResponse};

use super::str_bytes;
use crate::broker::{Broker, now_ms};

/// Appends each partition's batches to its log. The response waits for nothing more on a
/// single node: acks=1 and acks=all both mean "in this broker's log" (replication will make
/// acks=all wait for the in-sync replicas).
pub(crate) fn handle(broker: &Broker, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let bad_acks = !matches!(acks, -1..=1);
    let mut appended = false;
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        let name = topic.name.to_string();
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
                parts.push(resp.with_error_code(ResponseError::UnknownTopicOrPartition.code()));
                continue;
            };
            let records = pd.records.unwrap_or_default();
            match partition
                .log
                .append(&records, partition.leader_epoch, now_ms())
            {
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
                Err(e) => {
                    tracing::debug!(topic = %name, partition = pd.index, error = %e, "produce rejected");
                    parts.push(
                        resp.with_error_code(e.kafka_code())
                            .with_error_message(Some(str_bytes(e.to_string()))),
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
