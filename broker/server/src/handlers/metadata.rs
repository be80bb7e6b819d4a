use std::collections::BTreeSet;

use weir_metadata::TopicMeta;
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use weir_protocol::kafka::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;

pub(crate) fn handle(
    broker: &Broker,
    req: MetadataRequest,
    version: i16,
    listener: &str,
) -> MetadataResponse {
    let state = broker.metadata.snapshot();
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<_>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let auto_create = version < 4 || req.allow_auto_topic_creation;
    // Without an authorizer every operation is allowed; report that when asked (v8+), as Kafka
    // does, and Kafka's "not requested" marker otherwise.
    let topic_ops = if req.include_topic_authorized_operations && version >= 8 {
        TOPIC_OPERATIONS
    } else {
        i32::MIN
    };
    let cluster_ops = if req.include_cluster_authorized_operations && (8..=10).contains(&version) {
        CLUSTER_OPERATIONS
    } else {
        i32::MIN
    };
    // Replicas on fenced (stopped) brokers are listed as offline, as Kafka lists replicas on
    // brokers that are down.
    let offline: BTreeSet<i32> = state
        .brokers
        .values()
        .filter(|b| b.fenced)
        .map(|b| b.node_id)
        .collect();
    let topics = match requested {
        None => state
            .topics
            .values()
            .map(|t| topic_response(t, topic_ops, &offline))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|t| {
                let name = match &t.name {
                    Some(n) => n.to_string(),
                    None => match state.topic_by_id(t.topic_id) {
                        Some(m) => m.name.clone(),
                        None => {
                            return MetadataResponseTopic::default()
                                .with_topic_id(t.topic_id)
                                .with_error_code(ResponseError::UnknownTopicId.code());
                        }
                    },
                };
                // Existing topics are described whatever their name (`__consumer_offsets`
                // included); only a name that would be created must be valid.
                if let Some(meta) = state.topic(&name) {
                    return topic_response(meta, topic_ops, &offline);
                }
                match weir_metadata::validate_topic_name(&name) {
                    // A lone node keeps its internal state in journals, not in topics: there
                    // is no such topic to describe (or to create).
                    Err(weir_metadata::Error::ReservedTopicName(_)) => {
                        return error_topic(&name, ResponseError::UnknownTopicOrPartition.code());
                    }
                    Err(e) => return error_topic(&name, e.kafka_code()),
                    Ok(()) => {}
                }
                let found = if auto_create {
                    broker.auto_create(&name)
                } else {
                    Ok(state.topic(&name).cloned())
                };
                match found {
                    Ok(Some(meta)) => topic_response(&meta, topic_ops, &offline),
                    Ok(None) => error_topic(&name, ResponseError::UnknownTopicOrPartition.code()),
                    Err(e) => error_topic(&name, e.kafka_code()),
                }
            })
            .collect(),
    };
    let brokers = state
        .active_brokers()
        .filter_map(|b| {
            let (host, port) = b.endpoint(listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.node_id))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_rack(b.rack.clone().map(str_bytes)),
            )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.metadata.cluster_id())))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_ops)
}

/// ACL operation bits (Kafka's AclOperation codes) a client may perform on a topic: READ, WRITE,
/// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub(crate) const TOPIC_OPERATIONS: i32 = ops(&[3, 4, 5, 6, 7, 8, 10, 11]);
/// On the cluster: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE.
pub(crate) const CLUSTER_OPERATIONS: i32 = ops(&[5, 7, 8, 9, 10, 11, 12]);

const fn ops(codes: &[i32]) -> i32 {
    let mut bits = 0;
    let mut i = 0;
    while i < codes.len() {
        bits |= 1 << codes[i];
        i += 1;
    }
    bits
}

fn error_topic(name: &str, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(name))))
        .with_error_code(code)
        .with_topic_authorized_operations(i32::MIN)
}

fn topic_response(
    t: &TopicMeta,
    authorized_operations: i32,
    offline: &BTreeSet<i32>,
) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|p| {
            // A partition whose in-sync replicas are all down has no leader until one returns.
            let code = if p.leader < 0 {
                weir_protocol::kafka::ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(code)
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&r| BrokerId(r)).collect())
                .with_isr_nodes(p.isr.iter().map(|&r| BrokerId(r)).collect())
                .with_offline_replicas(
                    p.replicas
                        .iter()
                        .filter(|r| offline.contains(r))
                        .map(|&r| BrokerId(r))
                        .collect(),
                )
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(t.topic_id)
        .with_is_internal(t.name.starts_with("__"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(authorized_operations)
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_bits_match_kafka_without_an_authorizer() {
        // Apache Kafka 3.7 with no authorizer reports these values.
        assert_eq!(super::TOPIC_OPERATIONS, 3576);
        assert_eq!(super::CLUSTER_OPERATIONS, 8096);
    }
}
