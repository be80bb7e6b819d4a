//! Transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
//! ListTransactions, DescribeTransactions (InitProducerId is in producer_id.rs).

use weir_protocol::kafka::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use weir_protocol::kafka::messages::describe_transactions_response::{
    TopicData, TransactionState as Described,
};
use weir_protocol::kafka::messages::list_transactions_response::TransactionState as Listed;
use weir_protocol::kafka::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use weir_protocol::kafka::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use weir_protocol::kafka::messages::*;

use std::sync::Arc;

use super::str_bytes;
use crate::broker::{Broker, now_ms};
use crate::group::{Committed, partition_code};
use crate::txn::fenced_code;

/// PRODUCER_FENCED came with v2 of AddPartitionsToTxn, AddOffsetsToTxn and EndTxn; older
/// requests get INVALID_PRODUCER_EPOCH, as Kafka answers them.
const FENCED_SINCE: i16 = 2;

pub(crate) async fn add_partitions(
    broker: &Broker,
    req: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    // v0-3: one transaction per request, from the producer itself.
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), *p)))
        .collect();
    let outcome = broker
        .txns
        .add_partitions(
            broker,
            req.v3_and_below_transactional_id.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            &wanted,
        )
        .await
        .map_err(|c| fenced_code(c, version, FENCED_SINCE));
    let results = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(partition_code(
                                    &outcome,
                                    t.name.as_str(),
                                    *p,
                                ))
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

pub(crate) async fn add_offsets(
    broker: &Broker,
    req: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let code = broker
        .txns
        .add_offsets(
            broker,
            req.transactional_id.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            req.group_id.as_str(),
        )
        .await;
    AddOffsetsToTxnResponse::default().with_error_code(fenced_code(code, version, FENCED_SINCE))
}

pub(crate) async fn offset_commit(
    broker: &Broker,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let now = now_ms();
    let offsets = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    (t.name.to_string(), p.partition_index),
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        commit_ms: now,
                    },
                )
            })
        })
        .collect();
    // The group first (v3+ carry the member, generation and instance), as Kafka's coordinator
    // validates it before the transaction.
    let code = match broker.groups.check_txn_commit(
        req.group_id.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
    ) {
        Err(code) => code,
        Ok(()) => {
            let code = broker
                .txns
                .txn_offset_commit(
                    broker,
                    req.transactional_id.as_str(),
                    req.producer_id.0,
                    req.producer_epoch,
                    req.group_id.as_str(),
                    offsets,
                )
                .await;
            // A stale epoch is INVALID_PRODUCER_EPOCH here at every version, as on Kafka's
            // produce path (its transaction verification turns PRODUCER_FENCED into it).
            fenced_code(code, 0, i16::MAX)
        }
    };
    TxnOffsetCommitResponse::default().with_topics(
        req.topics
            .into_iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(
                        t.partitions
                            .into_iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

pub(crate) async fn end_txn(
    broker: &Arc<Broker>,
    req: EndTxnRequest,
    version: i16,
) -> EndTxnResponse {
    let code = broker
        .txns
        .end_txn(
            broker,
            req.transactional_id.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
        )
        .await;
    EndTxnResponse::default().with_error_code(fenced_code(code, version, FENCED_SINCE))
}

/// WriteTxnMarkers, from a transaction coordinator to this broker as the leader of the
/// partitions named: each marker is written and replicated before its partition answers.
pub(crate) async fn write_markers(
    broker: &Broker,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut results = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in m.topics {
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for p in t.partition_indexes {
                let outcome = crate::txn::write_marker(
                    broker,
                    t.name.as_str(),
                    p,
                    m.producer_id.0,
                    m.producer_epoch,
                    m.transaction_result,
                    m.coordinator_epoch,
                )
                .await;
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(outcome.err().unwrap_or(0)),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions),
            );
        }
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}

pub(crate) fn list(broker: &Broker, req: ListTransactionsRequest) -> ListTransactionsResponse {
    const KNOWN: [&str; 6] = [
        "Empty",
        "Ongoing",
        "PrepareCommit",
        "PrepareAbort",
        "CompleteCommit",
        "CompleteAbort",
    ];
    let states: Vec<String> = req.state_filters.iter().map(|s| s.to_string()).collect();
    let unknown = states
        .iter()
        .filter(|s| !KNOWN.contains(&s.as_str()))
        .map(|s| str_bytes(s.clone()))
        .collect();
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(
            broker
                .txns
                .list(&states, &pids)
                .into_iter()
                .map(|(id, pid, state)| {
                    Listed::default()
                        .with_transactional_id(TransactionalId(str_bytes(id)))
                        .with_producer_id(ProducerId(pid))
                        .with_transaction_state(str_bytes(state.name()))
                })
                .collect(),
        )
}

pub(crate) fn describe(
    broker: &Broker,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    DescribeTransactionsResponse::default().with_transaction_states(
        req.transactional_ids
            .into_iter()
            .map(|id| match broker.txns.describe(id.as_str()) {
                None => Described::default()
                    .with_transactional_id(id)
                    .with_error_code(
                        weir_protocol::kafka::ResponseError::TransactionalIdNotFound.code(),
                    ),
                Some(m) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (t, p) in &m.partitions {
                        match topics.iter_mut().find(|d| d.topic.as_str() == t) {
                            Some(d) => d.partitions.push(*p),
                            None => topics.push(
                                TopicData::default()
                                    .with_topic(TopicName(str_bytes(t.clone())))
                                    .with_partitions(vec![*p]),
                            ),
                        }
                    }
                    Described::default()
                        .with_transactional_id(id)
                        .with_transaction_state(str_bytes(m.state.name()))
                        .with_transaction_timeout_ms(m.timeout_ms as i32)
                        .with_transaction_start_time_ms(m.started_ms)
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.epoch)
                        .with_topics(topics)
                }
            })
            .collect(),
    )
}

/// DescribeProducers: the producers with state in each partition this broker leads (their
/// epoch, last sequence and timestamp, and the start of an open transaction), as
/// `kafka-transactions.sh describe-producers` and the Admin client's `describeProducers` read
/// them. Other partitions get NOT_LEADER_OR_FOLLOWER or UNKNOWN_TOPIC_OR_PARTITION.
pub(crate) fn describe_producers(
    broker: &Broker,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    use weir_protocol::kafka::messages::describe_producers_response::{
        PartitionResponse, ProducerState, TopicResponse,
    };
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|p| {
                    let r = PartitionResponse::default().with_partition_index(p);
                    let part = match broker.led_partition(&name, p) {
                        Ok(part) => part,
                        Err(c) => return r.with_error_code(c),
                    };
                    r.with_active_producers(
                        part.log
                            .active_producers()
                            .into_iter()
                            .map(|a| {
                                ProducerState::default()
                                    .with_producer_id(ProducerId(a.producer_id))
                                    .with_producer_epoch(i32::from(a.epoch))
                                    .with_last_sequence(a.last_sequence)
                                    .with_last_timestamp(a.last_timestamp)
                                    .with_coordinator_epoch(-1)
                                    .with_current_txn_start_offset(a.txn_start_offset.unwrap_or(-1))
                            })
                            .collect(),
                    )
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
