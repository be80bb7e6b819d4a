use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use weir_protocol::kafka::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use weir_protocol::kafka::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};

use crate::broker::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// v8+ (KIP-405): the start of the log kept on local disk, which is all of it here.
const EARLIEST_LOCAL: i64 = -4;
/// v9+ (KIP-1005): the last offset in tiered storage; -1 without tiered storage, as Kafka.
const LATEST_TIERED: i64 = -5;

pub(crate) fn handle(
    broker: &Broker,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    // leader_epoch exists from v4; earlier versions must leave it at its default.
    let epoch_of = |e: i32| if version >= 4 { e } else { -1 };
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let part = match broker.led_partition(&name, p.partition_index) {
                        Ok(part) => part,
                        Err(c) => return resp.with_error_code(c),
                    };
                    let log = &part.log;
                    let found = match p.timestamp {
                        LATEST if read_committed => Ok(Some((log.last_stable_offset(), -1))),
                        LATEST => Ok(Some((log.high_watermark(), -1))),
                        EARLIEST => Ok(Some((log.log_start_offset(), -1))),
                        MAX_TIMESTAMP => log.max_timestamp_offset(),
                        EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
                        LATEST_TIERED => return resp.with_leader_epoch(-1),
                        // Any other timestamp, negative ones too, as Kafka: the first record
                        // stamped at or after it.
                        ts => log.offset_for_timestamp(ts),
                    };
                    match found {
                        Ok(Some((offset, ts))) => resp
                            .with_offset(offset)
                            .with_timestamp(ts)
                            .with_leader_epoch(epoch_of(part.leader_epoch())),
                        Ok(None) => resp.with_leader_epoch(epoch_of(part.leader_epoch())),
                        Err(e) => resp.with_error_code(e.kafka_code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// OffsetForLeaderEpoch: for each partition, the largest leader epoch at or below the one asked
/// for and the offset where it ends in the leader's log. Consumers use it after a leader change
/// to detect a log that was truncated under them.
pub(crate) fn offset_for_leader_epoch(
    broker: &Broker,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let me = broker.config.node_id;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(part) = broker.partition(&name, p.partition) else {
                        return resp
                            .with_error_code(broker.missing_partition_code(&name, p.partition));
                    };
                    if !part.is_leader(me) {
                        return resp.with_error_code(ResponseError::NotLeaderOrFollower.code());
                    }
                    let epoch = part.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch < epoch {
                        return resp.with_error_code(ResponseError::FencedLeaderEpoch.code());
                    }
                    if p.current_leader_epoch > epoch {
                        return resp.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    }
                    let (e, end) = part.log.end_offset_for_epoch(p.leader_epoch);
                    resp.with_leader_epoch(e).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
