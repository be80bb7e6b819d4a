use std::collections::BTreeMap;

use weir_metadata::topic_config::{self as tc, ConfigType};
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::alter_configs_response::AlterConfigsResourceResponse;
use weir_protocol::kafka::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use weir_protocol::kafka::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncAlterResponse;
use weir_protocol::kafka::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use weir_protocol::kafka::protocol::StrBytes;

use super::{message, str_bytes};
use crate::broker::Broker;
use crate::config::BROKER_SYNONYMS;
use crate::partition::effective_configs;
use crate::{Error, Result};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

pub(crate) fn describe(
    broker: &Broker,
    req: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            // Null or empty asks for every config, as Kafka reads it.
            let keys: Vec<String> = r
                .configuration_keys
                .map(|k| k.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let wanted = |name: &str| keys.is_empty() || keys.iter().any(|x| x == name);
            let res = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                TOPIC => {
                    let name = r.resource_name.to_string();
                    let Some(topic) = broker.metadata.read(|s| s.topic(&name).cloned()) else {
                        return res
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(format!(
                                "topic '{name}' does not exist"
                            ))));
                    };
                    // The fixed table, plus the per-topic plugin settings
                    // (`weir.plugin.<plugin>.<key>`), whose names are open-ended.
                    let plugin_settings = topic
                        .configs
                        .iter()
                        .filter(|(k, _)| k.starts_with(tc::WEIR_PLUGIN_PREFIX))
                        .map(|(k, v)| (k.clone(), (v.clone(), true)));
                    let configs = effective_configs(&broker.config, &topic.configs)
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .chain(plugin_settings)
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, (value, set))| {
                            let def = tc::lookup(&k).ok();
                            let source = if set {
                                SOURCE_TOPIC
                            } else {
                                default_source(broker, &k)
                            };
                            let mut entry = DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(k.clone()))
                                .with_value(Some(str_bytes(value.clone())))
                                .with_config_source(source)
                                .with_config_type(
                                    def.map_or(ConfigType::String as i8, |d| d.kind as i8),
                                );
                            if req.include_documentation && version >= 3 {
                                entry = entry.with_documentation(def.map(|d| str_bytes(d.doc)));
                            }
                            if req.include_synonyms {
                                entry = entry.with_synonyms(topic_synonyms(
                                    broker,
                                    &k,
                                    set.then_some(value.as_str()),
                                ));
                            }
                            entry
                        })
                        .collect();
                    res.with_configs(configs)
                }
                BROKER => {
                    let configs = broker_configs(broker)
                        .into_iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, (v, source))| {
                            let entry = DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(k.clone()))
                                .with_value(Some(str_bytes(v.clone())))
                                .with_read_only(true)
                                .with_config_source(source)
                                .with_config_type(ConfigType::String as i8);
                            if req.include_synonyms {
                                entry.with_synonyms(vec![synonym(k, v, source)])
                            } else {
                                entry
                            }
                        })
                        .collect();
                    res.with_configs(configs)
                }
                BROKER_LOGGER => res,
                _ => res
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "resource type {} is not supported",
                        r.resource_type
                    )))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn default_source(broker: &Broker, topic_key: &str) -> i8 {
    if broker.config.topic_defaults.contains_key(topic_key) {
        SOURCE_STATIC_BROKER
    } else {
        SOURCE_DEFAULT
    }
}

fn synonym(name: String, value: String, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_source(source)
}

/// Where a topic config's value may come from, in Kafka's order of precedence: the topic's own
/// setting, the broker's setting under its broker name (`retention.ms` is `log.retention.ms`),
/// and the default under that same broker name.
fn topic_synonyms(broker: &Broker, key: &str, set: Option<&str>) -> Vec<DescribeConfigsSynonym> {
    let mut out = Vec::new();
    if let Some(v) = set {
        out.push(synonym(key.to_string(), v.to_string(), SOURCE_TOPIC));
    }
    let broker_key = BROKER_SYNONYMS
        .iter()
        .find(|(t, _)| *t == key)
        .map_or(key, |(_, b)| *b);
    if let Some(v) = broker.config.topic_defaults.get(key) {
        out.push(synonym(
            broker_key.to_string(),
            v.clone(),
            SOURCE_STATIC_BROKER,
        ));
    }
    if let Ok(def) = tc::lookup(key) {
        out.push(synonym(
            broker_key.to_string(),
            def.default.to_string(),
            SOURCE_DEFAULT,
        ));
    }
    out
}

/// The broker's own settings, read-only, under Kafka's broker config names, each with its
/// source: the topic defaults say whether `--topic-default` set them.
fn broker_configs(broker: &Broker) -> BTreeMap<String, (String, i8)> {
    let c = &broker.config;
    let mut m = BTreeMap::new();
    let mut flag = |k: &str, v: String| {
        m.insert(k.to_string(), (v, SOURCE_STATIC_BROKER));
    };
    flag("broker.id", c.node_id.to_string());
    flag("node.id", c.node_id.to_string());
    flag(
        "auto.create.topics.enable",
        c.auto_create_topics.to_string(),
    );
    flag("num.partitions", c.num_partitions.to_string());
    flag(
        "default.replication.factor",
        c.default_replication_factor.to_string(),
    );
    flag("log.dirs", c.data_dir.display().to_string());
    flag("socket.request.max.bytes", c.max_request_bytes.to_string());
    flag("max.connections", c.max_connections.to_string());
    flag(
        "connections.max.idle.ms",
        c.connections_max_idle
            .map_or_else(|| "-1".to_string(), |d| d.as_millis().to_string()),
    );
    let buffer = |b: Option<usize>| b.map_or_else(|| "-1".to_string(), |n| n.to_string());
    flag("socket.send.buffer.bytes", buffer(c.socket_send_buffer));
    flag(
        "socket.receive.buffer.bytes",
        buffer(c.socket_receive_buffer),
    );
    flag(
        "log.retention.check.interval.ms",
        c.retention_check_interval.as_millis().to_string(),
    );
    flag(
        "log.cleaner.backoff.ms",
        c.cleaner_backoff.as_millis().to_string(),
    );
    let mut advertised = vec![format!(
        "{}://{}:{}",
        c.listener_name, broker.advertised.0, broker.advertised.1
    )];
    let mut bound = vec![format!("{}://{}", c.listener_name, c.listen)];
    for l in &c.extra_listeners {
        if let Some((host, port)) = broker.listeners.get(&l.name) {
            advertised.push(format!("{}://{host}:{port}", l.name));
        }
        bound.push(format!("{}://{}", l.name, l.listen));
    }
    flag("advertised.listeners", advertised.join(","));
    flag("listeners", bound.join(","));
    flag("inter.broker.listener.name", c.listener_name.clone());
    flag(
        "group.initial.rebalance.delay.ms",
        c.group_initial_rebalance_delay.as_millis().to_string(),
    );
    flag(
        "offsets.retention.minutes",
        (c.offsets_retention.as_secs() / 60).to_string(),
    );
    for (topic_key, broker_key) in BROKER_SYNONYMS {
        m.insert(
            broker_key.to_string(),
            (
                c.topic_default(topic_key).unwrap_or_default(),
                default_source(broker, topic_key),
            ),
        );
    }
    // Kafka's coarser spelling of the retention, which tools read when `log.retention.ms` is
    // unset: whole hours, -1 for no limit.
    let retention_ms: i64 = c
        .topic_default(tc::RETENTION_MS)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    m.insert(
        "log.retention.hours".into(),
        (
            if retention_ms < 0 {
                "-1".into()
            } else {
                (retention_ms / 3_600_000).to_string()
            },
            default_source(broker, tc::RETENTION_MS),
        ),
    );
    m
}

/// `(error_code, error_message)` for an alter outcome.
fn code_and_message(outcome: Result<()>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err(e) => (e.kafka_code(), message(&e)),
    }
}

fn resource_error(
    resource_type: i8,
    resource_name: StrBytes,
    outcome: Result<()>,
) -> AlterConfigsResourceResponse {
    let (code, msg) = code_and_message(outcome);
    AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(resource_name)
        .with_error_code(code)
        .with_error_message(msg)
}

fn not_a_topic(resource_type: i8) -> Result<()> {
    Err(Error::Config(match resource_type {
        BROKER | BROKER_LOGGER => {
            "broker configs are static in Weir: set them with `weir serve` flags, env vars or the config file".into()
        }
        16 => "client-metrics config resources are not supported by Weir".into(),
        32 => "group config resources are not supported by Weir: group timeouts are the broker's (`weir serve --help`)".into(),
        t => format!("config resource type {t} is not supported by Weir"),
    }))
}

/// Kafka refuses a resource whose request names one config twice (a set and a delete of the
/// same key would otherwise depend on their order), and changes nothing of it.
fn no_duplicate_keys<'a>(mut names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    match names.find(|n| !seen.insert(*n)) {
        Some(_) => Err(Error::InvalidRequest(
            "Error due to duplicate config keys".into(),
        )),
        None => Ok(()),
    }
}

/// AlterConfigs replaces the whole set of topic overrides with the given one.
pub(crate) fn alter(broker: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let outcome =
                if let Err(e) = no_duplicate_keys(r.configs.iter().map(|c| c.name.as_str())) {
                    Err(e)
                } else if r.resource_type == TOPIC {
                    let name = r.resource_name.to_string();
                    match broker
                        .metadata
                        .read(|s| s.topic(&name).map(|t| t.configs.clone()))
                    {
                        None => Err(weir_metadata::Error::UnknownTopic(name.clone()).into()),
                        Some(existing) => {
                            let mut changes: BTreeMap<String, Option<String>> =
                                existing.keys().map(|k| (k.clone(), None)).collect();
                            for c in &r.configs {
                                changes.insert(
                                    c.name.to_string(),
                                    c.value.as_ref().map(|v| v.to_string()),
                                );
                            }
                            broker.alter_topic_configs(&name, changes, req.validate_only)
                        }
                    }
                } else {
                    not_a_topic(r.resource_type)
                };
            resource_error(r.resource_type, r.resource_name, outcome)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// IncrementalAlterConfigs: SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) per config.
pub(crate) fn incremental_alter(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let outcome = if let Err(e) =
                no_duplicate_keys(r.configs.iter().map(|c| c.name.as_str()))
            {
                Err(e)
            } else if r.resource_type == TOPIC {
                let name = r.resource_name.to_string();
                match broker.metadata.read(|s| s.topic(&name).cloned()) {
                    None => Err(weir_metadata::Error::UnknownTopic(name.clone()).into()),
                    Some(topic) => {
                        let eff = effective_configs(&broker.config, &topic.configs);
                        let mut changes = BTreeMap::new();
                        let mut bad = None;
                        for c in &r.configs {
                            let key = c.name.to_string();
                            let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                            let current = eff
                                .get(key.as_str())
                                .map(|(v, _)| v.clone())
                                .unwrap_or_default();
                            let mut items: Vec<String> = current
                                .split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(String::from)
                                .collect();
                            let not_a_list =
                                tc::lookup(&key).is_ok_and(|d| d.kind != ConfigType::List);
                            if matches!(c.config_operation, 2 | 3) && not_a_list {
                                bad = Some(Error::Config(format!(
                                    "Can't {} key {key} because its type is not LIST.",
                                    if c.config_operation == 2 {
                                        "APPEND to"
                                    } else {
                                        "SUBTRACT from"
                                    }
                                )));
                                break;
                            }
                            let change = match c.config_operation {
                                0 => Some(value),
                                // Deleting what is not set is done already, as at Kafka
                                // (kafka-reassign-partitions clears throttles it never set).
                                1 if !topic.configs.contains_key(&key) => continue,
                                1 => None,
                                2 => {
                                    for v in value.split(',').map(str::trim) {
                                        if !items.iter().any(|i| i == v) {
                                            items.push(v.to_string());
                                        }
                                    }
                                    Some(items.join(","))
                                }
                                3 => {
                                    let drop: Vec<&str> = value.split(',').map(str::trim).collect();
                                    items.retain(|i| !drop.contains(&i.as_str()));
                                    Some(items.join(","))
                                }
                                op => {
                                    bad = Some(Error::Config(format!(
                                        "unknown config operation {op} for '{key}'"
                                    )));
                                    None
                                }
                            };
                            changes.insert(key, change);
                        }
                        match bad {
                            Some(e) => Err(e),
                            None => broker.alter_topic_configs(&name, changes, req.validate_only),
                        }
                    }
                }
            } else if matches!(r.resource_type, BROKER | BROKER_LOGGER)
                && r.configs.iter().all(|c| c.config_operation == 1)
            {
                // Nothing is set dynamically on a broker, so deleting is done already.
                Ok(())
            } else {
                not_a_topic(r.resource_type)
            };
            let (code, msg) = code_and_message(outcome);
            IncAlterResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(msg)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
