//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455): moving a partition's
//! replicas to other brokers while it stays online. Each partition's change is a
//! `Command::ReassignPartition` proposed to the controller quorum; new replicas open the
//! partition and fetch from the leader, which adds them to the ISR once caught up; the
//! reassignment completes in metadata (`ClusterState::apply`) once every target replica is in
//! sync, moving leadership to the target if needed, and the brokers left out delete their copy.

use weir_metadata::{ClusterState, Command};
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use weir_protocol::kafka::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use weir_protocol::kafka::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::str_bytes;
use crate::broker::Broker;

/// Starts, replaces (`replicas` given) or cancels (`replicas` null) the reassignment of each
/// partition named; every partition gets its own error code.
pub(crate) fn alter(
    broker: &Broker,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let allow_rf_change = req.allow_replication_factor_change;
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = t.name.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let target: Option<Vec<i32>> =
                        p.replicas.map(|rs| rs.into_iter().map(|b| b.0).collect());
                    let outcome =
                        reassign(broker, &topic, p.partition_index, target, allow_rf_change);
                    let result = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match outcome {
                        Ok(()) => result,
                        Err((code, message)) => result
                            .with_error_code(code)
                            .with_error_message(Some(str_bytes(message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses)
}

/// Proposes one partition's reassignment (or its cancel); the error code and message if
/// refused.
fn reassign(
    broker: &Broker,
    topic: &str,
    partition: i32,
    target: Option<Vec<i32>>,
    allow_rf_change: bool,
) -> Result<(), (i16, String)> {
    if let Some(target) = &target
        && !allow_rf_change
        && let Some(rf) = broker.metadata.read(|s| intended_rf(s, topic, partition))
        && rf != target.len()
    {
        return Err((
            ResponseError::InvalidReplicationFactor.code(),
            format!(
                "the replication factor would change from {rf} to {}, \
                 which the request does not allow",
                target.len()
            ),
        ));
    }
    let what = match &target {
        Some(t) => format!("to {t:?}"),
        None => "cancelled".to_string(),
    };
    let cmd = Command::ReassignPartition {
        topic: topic.to_string(),
        partition,
        target,
    };
    match broker.metadata.propose(cmd) {
        Ok(_) => {
            tracing::info!(topic, partition, "partition reassignment {what}");
            Ok(())
        }
        Err(e) => Err((e.kafka_code(), e.to_string())),
    }
}

/// The replication factor the partition is meant to have: its reassignment's target size
/// while one is under way, else its replica count (KIP-860).
fn intended_rf(s: &ClusterState, topic: &str, partition: i32) -> Option<usize> {
    if let Some(r) = s.reassignment(topic, partition) {
        return Some(r.target.len());
    }
    s.topic(topic)?
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .map(|p| p.replicas.len())
}

/// The reassignments under way: of every partition (`topics` null), or of those named.
/// Partitions that do not exist or are not being reassigned are left out, as in Kafka.
pub(crate) fn list(
    broker: &Broker,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let topics = broker.metadata.read(|s| {
        s.reassignments
            .iter()
            .filter_map(|(topic, parts)| {
                let asked: Option<Vec<i32>> = wanted.as_ref().map(|w| {
                    w.iter()
                        .filter(|(name, _)| name == topic)
                        .flat_map(|(_, ps)| ps.iter().copied())
                        .collect()
                });
                let partitions: Vec<OngoingPartitionReassignment> = parts
                    .iter()
                    .filter(|(p, _)| asked.as_ref().is_none_or(|a| a.contains(p)))
                    .filter_map(|(&p, r)| {
                        let replicas = s
                            .topic(topic)?
                            .partitions
                            .iter()
                            .find(|a| a.partition == p)?
                            .replicas
                            .clone();
                        Some(
                            OngoingPartitionReassignment::default()
                                .with_partition_index(p)
                                .with_replicas(broker_ids(&replicas))
                                .with_adding_replicas(broker_ids(&r.adding_replicas))
                                .with_removing_replicas(broker_ids(&r.removing_replicas)),
                        )
                    })
                    .collect();
                (!partitions.is_empty()).then(|| {
                    OngoingTopicReassignment::default()
                        .with_name(TopicName(str_bytes(topic.clone())))
                        .with_partitions(partitions)
                })
            })
            .collect()
    });
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

/// ElectLeaders (KIP-460), as `kafka-leader-election` sends it. Preferred: each partition
/// whose first replica is in sync and up but not leading gets it as leader
/// (`Command::ElectPreferredLeader`); one led by it already answers ELECTION_NOT_NEEDED, one
/// whose preferred replica cannot lead PREFERRED_LEADER_NOT_AVAILABLE. Unclean: a partition with
/// a live leader needs no election; Weir never elects a replica outside the ISR, so one
/// without answers ELIGIBLE_LEADERS_NOT_AVAILABLE. With no partitions named, every partition is
/// considered and only those an election was tried for are listed, as Kafka lists them.
pub(crate) fn elect_leaders(
    broker: &Broker,
    req: weir_protocol::kafka::messages::ElectLeadersRequest,
    version: i16,
) -> weir_protocol::kafka::messages::ElectLeadersResponse {
    use weir_protocol::kafka::messages::ElectLeadersResponse;
    use weir_protocol::kafka::messages::elect_leaders_response::{
        PartitionResult, ReplicaElectionResult,
    };
    const PREFERRED: i8 = 0;
    let unclean = version >= 1 && req.election_type != PREFERRED;
    let state = broker.metadata.read(ClusterState::clone);
    let named = req.topic_partitions.is_some();
    let wanted: Vec<(String, Vec<i32>)> = match req.topic_partitions {
        Some(list) => list
            .into_iter()
            .map(|t| (t.topic.to_string(), t.partitions))
            .collect(),
        None => state
            .topics
            .values()
            .map(|t| {
                (
                    t.name.clone(),
                    t.partitions.iter().map(|p| p.partition).collect(),
                )
            })
            .collect(),
    };
    let active = state.active_broker_ids();
    let mut results = Vec::new();
    for (topic, partitions) in wanted {
        let mut out = Vec::new();
        for p in partitions {
            let (code, message) = match state.assignment(&topic, p) {
                Err(_) => (
                    ResponseError::UnknownTopicOrPartition.code(),
                    format!("{topic}-{p} does not exist"),
                ),
                Ok(a) if unclean => {
                    if active.contains(&a.leader) && a.isr.contains(&a.leader) {
                        (ResponseError::ElectionNotNeeded.code(), String::new())
                    } else {
                        (
                            ResponseError::EligibleLeadersNotAvailable.code(),
                            format!(
                                "{topic}-{p} has no live leader, and Weir elects none outside the ISR"
                            ),
                        )
                    }
                }
                Ok(a) => {
                    let preferred = a.replicas.first().copied().unwrap_or(-1);
                    if a.leader == preferred {
                        (ResponseError::ElectionNotNeeded.code(), String::new())
                    } else if !a.isr.contains(&preferred) || !active.contains(&preferred) {
                        (
                            ResponseError::PreferredLeaderNotAvailable.code(),
                            format!(
                                "{topic}-{p}: the preferred replica {preferred} is not in sync or not up"
                            ),
                        )
                    } else {
                        let cmd = Command::ElectPreferredLeader {
                            topic: topic.clone(),
                            partition: p,
                        };
                        match broker.metadata.propose(cmd) {
                            Ok(s)
                                if s.assignment(&topic, p).is_ok_and(|a| a.leader == preferred) =>
                            {
                                (0, String::new())
                            }
                            Ok(_) => (
                                ResponseError::PreferredLeaderNotAvailable.code(),
                                format!(
                                    "{topic}-{p}: the preferred replica {preferred} could not take over"
                                ),
                            ),
                            Err(e) => (e.kafka_code(), e.to_string()),
                        }
                    }
                }
            };
            if !named && code == ResponseError::ElectionNotNeeded.code() {
                continue;
            }
            out.push(
                PartitionResult::default()
                    .with_partition_id(p)
                    .with_error_code(code)
                    .with_error_message((!message.is_empty()).then(|| str_bytes(message))),
            );
        }
        if !out.is_empty() || named {
            results.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(topic)))
                    .with_partition_result(out),
            );
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}
