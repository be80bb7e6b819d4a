//! Transaction markers: a COMMIT or ABORT control batch for one producer, written to every
//! partition of a transaction. The coordinator writes the marker itself on partitions it
//! leads, and sends WriteTxnMarkers (v1) to the leader of each other partition; either way a
//! marker counts once the partition's in-sync replicas have it, so a leader change cannot
//! lose it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use weir_protocol::kafka::messages::{
    ApiKey, ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use weir_protocol::kafka::protocol::StrBytes;

use crate::broker::Broker;

/// How long a marker may take to reach the partition's in-sync replicas.
const MARKER_TIMEOUT: Duration = Duration::from_secs(5);
const VERSION: i16 = 1;

type Outcome = ((String, i32), Result<(), i16>);

/// Writes the marker on `topic`/`partition`, which this broker must lead, and waits until
/// its in-sync replicas have it. Serves WriteTxnMarkers too.
pub(crate) async fn write_marker(
    broker: &Broker,
    topic: &str,
    partition: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Result<(), i16> {
    let Some(part) = broker.partition(topic, partition) else {
        return Err(broker.missing_partition_code(topic, partition));
    };
    let me = broker.config.node_id;
    let (end, epoch) = part
        .append_marker_as_leader(me, producer_id, producer_epoch, commit, coordinator_epoch)
        .map_err(|e| e.kafka_code())?;
    broker.notify_append();
    broker
        .await_high_watermark(&part, end, epoch, MARKER_TIMEOUT)
        .await
}

/// Writes the marker on every partition in `partitions`, where each is led now; returns each
/// partition's outcome (an error is worth retrying after the leader changes).
pub(crate) async fn write_all(
    broker: &Arc<Broker>,
    partitions: &[(String, i32)],
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Vec<Outcome> {
    let me = broker.config.node_id;
    let mut outcomes = Vec::with_capacity(partitions.len());
    let mut remote: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for (topic, partition) in partitions {
        match broker.leader_of(topic, *partition) {
            None => outcomes.push((
                (topic.clone(), *partition),
                Err(ResponseError::UnknownTopicOrPartition.code()),
            )),
            Some(l) if l == me || broker.config.quorum.is_none() => {
                let r = write_marker(
                    broker,
                    topic,
                    *partition,
                    producer_id,
                    producer_epoch,
                    commit,
                    coordinator_epoch,
                )
                .await;
                outcomes.push(((topic.clone(), *partition), r));
            }
            Some(l) if l < 0 => outcomes.push((
                (topic.clone(), *partition),
                Err(ResponseError::LeaderNotAvailable.code()),
            )),
            Some(l) => remote
                .entry(l)
                .or_default()
                .push((topic.clone(), *partition)),
        }
    }
    let marker = Marker {
        producer_id,
        producer_epoch,
        commit,
        coordinator_epoch,
    };
    let sends = remote
        .into_iter()
        .map(|(leader, parts)| send(broker, leader, parts, marker));
    for sent in futures_util::future::join_all(sends).await {
        outcomes.extend(sent);
    }
    outcomes
}

#[derive(Clone, Copy)]
struct Marker {
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
}

/// One WriteTxnMarkers request to broker `leader` for `parts`.
async fn send(broker: &Broker, leader: i32, parts: Vec<(String, i32)>, m: Marker) -> Vec<Outcome> {
    let fail = |parts: &[(String, i32)], c: i16| -> Vec<Outcome> {
        parts.iter().map(|tp| (tp.clone(), Err(c))).collect()
    };
    let Some((host, port)) = broker.active_broker_address(leader) else {
        return fail(&parts, ResponseError::LeaderNotAvailable.code());
    };
    let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
    for (topic, partition) in &parts {
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partition_indexes.push(*partition),
            None => topics.push(
                WritableTxnMarkerTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partition_indexes(vec![*partition]),
            ),
        }
    }
    let req = WriteTxnMarkersRequest::default().with_markers(vec![
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(m.producer_id))
            .with_producer_epoch(m.producer_epoch)
            .with_transaction_result(m.commit)
            .with_coordinator_epoch(m.coordinator_epoch)
            .with_topics(topics),
    ]);
    let resp: WriteTxnMarkersResponse = match crate::coordinator_client::call(
        &broker.config.security,
        &host,
        port,
        ApiKey::WriteTxnMarkers,
        VERSION,
        &req,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(broker = leader, error = %e, "WriteTxnMarkers failed");
            return fail(&parts, ResponseError::NetworkException.code());
        }
    };
    parts
        .into_iter()
        .map(|(topic, partition)| {
            let code = resp
                .markers
                .iter()
                .filter(|r| r.producer_id.0 == m.producer_id)
                .flat_map(|r| &r.topics)
                .filter(|t| t.name.as_str() == topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == partition)
                .map_or(ResponseError::UnknownServerError.code(), |p| p.error_code);
            (
                (topic, partition),
                if code == 0 { Ok(()) } else { Err(code) },
            )
        })
        .collect()
}
