use std::collections::BTreeMap;

use weir_protocol::kafka::messages::create_partitions_response::CreatePartitionsTopicResult;
use weir_protocol::kafka::messages::create_topics_request::CreatableTopic;
use weir_protocol::kafka::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use weir_protocol::kafka::messages::delete_topics_response::DeletableTopicResult;
use weir_protocol::kafka::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};

use super::{message, str_bytes};
use crate::Error;
use crate::broker::{Broker, Placement};
use crate::partition::effective_configs;

const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

pub(crate) fn create_topics(
    broker: &Broker,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    // As Kafka's controller: a request creating too many partitions in all is refused whole.
    let total: i64 = req
        .topics
        .iter()
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => i64::from(broker.config.num_partitions),
            (0, n) => i64::from(n.max(0)),
            (manual, _) => manual as i64,
        })
        .sum();
    let too_many = weir_metadata::check_partitions_per_request(total).err();
    let mut seen = std::collections::HashSet::new();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.to_string();
            let result = CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            if let Some(e) = &too_many {
                return result
                    .with_error_code(e.kafka_code())
                    .with_error_message(Some(str_bytes(e.to_string())));
            }
            if !seen.insert(name.clone()) {
                return result
                    .with_error_code(weir_protocol::kafka::ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "topic '{name}' appears more than once in the request"
                    ))));
            }
            let mut configs = BTreeMap::new();
            for c in &t.configs {
                if let Some(v) = &c.value {
                    configs.insert(c.name.to_string(), v.to_string());
                }
            }
            let placement = if t.assignments.is_empty() {
                Placement::Spread {
                    partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                }
            } else {
                match manual_placement(&t) {
                    Ok(p) => p,
                    Err(e) => {
                        return result
                            .with_error_code(e.kafka_code())
                            .with_error_message(message(&e));
                    }
                }
            };
            match broker.create_topic_placed(&name, placement, configs, req.validate_only) {
                Ok(meta) => {
                    let cfgs = (version >= 5).then(|| {
                        effective_configs(&broker.config, &meta.configs)
                            .into_iter()
                            .map(|(k, (v, set))| {
                                CreatableTopicConfigs::default()
                                    .with_name(str_bytes(k))
                                    .with_value(Some(str_bytes(v)))
                                    .with_config_source(if set {
                                        SOURCE_TOPIC
                                    } else {
                                        SOURCE_DEFAULT
                                    })
                            })
                            .collect()
                    });
                    result
                        .with_topic_id(meta.topic_id)
                        .with_num_partitions(meta.partitions.len() as i32)
                        .with_replication_factor(
                            meta.partitions
                                .first()
                                .map_or(1, |p| p.replicas.len() as i16),
                        )
                        .with_configs(cfgs)
                }
                Err(e) => result
                    .with_error_code(e.kafka_code())
                    .with_error_message(message(&e)),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// A CreateTopics manual assignment as Kafka checks it: no partition count or replication
/// factor beside it, and partitions numbered 0, 1, 2... in any order.
fn manual_placement(t: &CreatableTopic) -> Result<Placement, Error> {
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(Error::InvalidRequest(
            "both a partition count or replication factor and a replica assignment were set".into(),
        ));
    }
    let mut lists: Vec<(i32, Vec<i32>)> = t
        .assignments
        .iter()
        .map(|a| {
            (
                a.partition_index,
                a.broker_ids.iter().map(|b| b.0).collect(),
            )
        })
        .collect();
    lists.sort_by_key(|(p, _)| *p);
    if lists.iter().enumerate().any(|(i, (p, _))| *p != i as i32) {
        return Err(weir_metadata::Error::InvalidReplicaAssignment(
            "the assigned partitions must be numbered 0, 1, 2... without gaps".into(),
        )
        .into());
    }
    Ok(Placement::Manual(
        lists.into_iter().map(|(_, replicas)| replicas).collect(),
    ))
}

pub(crate) fn delete_topics(broker: &Broker, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // v0-5 name topics in `topic_names`; v6 in `topics`, by name or by id.
    let mut targets: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
        .collect();
    targets.extend(
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id)),
    );
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let resolved = name.clone().or_else(|| {
                broker
                    .metadata
                    .read(|s| s.topic_by_id(id).map(|t| t.name.clone()))
            });
            let result = DeletableTopicResult::default()
                .with_name(name.map(|n| TopicName(str_bytes(n))))
                .with_topic_id(id);
            let Some(resolved) = resolved else {
                return result
                    .with_error_code(weir_protocol::kafka::ResponseError::UnknownTopicId.code());
            };
            // A topic named by its id is answered with its name too, as Kafka does.
            let result = result.with_name(Some(TopicName(str_bytes(resolved.clone()))));
            match broker.delete_topic(&resolved) {
                Ok(meta) => result.with_topic_id(meta.topic_id),
                Err(e) => result
                    .with_error_code(e.kafka_code())
                    .with_error_message(message(&e)),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

pub(crate) fn create_partitions(
    broker: &Broker,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    // Each topic's increase is checked by the broker; the request's total here, as Kafka does.
    let current = |name: &str| {
        broker
            .metadata
            .read(|s| s.topic(name).map(|t| t.partitions.len() as i64))
            .unwrap_or(0)
    };
    let total: i64 = req
        .topics
        .iter()
        .map(|t| (i64::from(t.count) - current(t.name.as_str())).max(0))
        .sum();
    let too_many = weir_metadata::check_partitions_per_request(total).err();
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            if let Some(e) = &too_many {
                return CreatePartitionsTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(e.kafka_code())
                    .with_error_message(Some(str_bytes(e.to_string())));
            }
            let manual = t.assignments.as_ref().map(|lists| {
                lists
                    .iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
            let outcome: Result<(), Error> =
                broker.create_partitions(&t.name, t.count, manual, req.validate_only);
            let r = CreatePartitionsTopicResult::default().with_name(t.name);
            match outcome {
                Ok(()) => r,
                Err(e) => r
                    .with_error_code(e.kafka_code())
                    .with_error_message(message(&e)),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
