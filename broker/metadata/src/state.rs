use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Command, Error, PartitionAssignment, PipelineMeta, PluginMeta, Result, topic_config,
    validate_topic_name,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Set by the controller when the broker stops heartbeating; a fenced broker is left out of
    /// metadata and of new replica placements until it heartbeats (or registers) again.
    #[serde(default)]
    pub fenced: bool,
}

impl BrokerInfo {
    pub fn new(node_id: i32, host: String, port: i32, rack: Option<String>) -> Self {
        BrokerInfo {
            node_id,
            host,
            port,
            rack,
            fenced: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionAssignment>,
    /// Overrides only; defaults come from the broker configuration.
    pub configs: BTreeMap<String, String>,
}

impl TopicMeta {
    /// The plugins that run on records produced to this topic, in order (`weir.plugins`).
    pub fn plugin_chain(&self) -> Vec<String> {
        self.configs
            .get(topic_config::WEIR_PLUGINS)
            .map(|v| topic_config::plugin_list(v).map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// A plugin or pipeline name: 1-64 characters of `[a-zA-Z0-9._-]`.
pub fn validate_plugin_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(Error::InvalidPlugin(format!(
            "invalid name '{name}': use 1-64 characters of [a-zA-Z0-9._-]"
        )));
    }
    Ok(())
}

/// Everything the metadata log describes, as of the last applied command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub applied_index: u64,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMeta>,
    pub next_producer_id: i64,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginMeta>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineMeta>,
}

impl ClusterState {
    /// Registered brokers that are not fenced: the ones clients are told about and replicas
    /// and coordinators are placed on, in node id order.
    pub fn active_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn active_broker_ids(&self) -> Vec<i32> {
        self.active_brokers().map(|b| b.node_id).collect()
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicMeta> {
        self.topics.values().find(|t| t.topic_id == id)
    }

    /// Checks that `cmd` can be applied to the current state, without applying it.
    pub fn validate(&self, cmd: &Command) -> Result<()> {
        match cmd {
            Command::RegisterBroker { .. } | Command::AllocateProducerIds { .. } => Ok(()),
            Command::SetBrokerFenced { node_id, .. } => {
                if self.brokers.contains_key(node_id) {
                    Ok(())
                } else {
                    Err(Error::Quorum(format!("broker {node_id} is not registered")))
                }
            }
            Command::CreateTopic {
                name,
                partitions,
                configs,
                ..
            } => {
                validate_topic_name(name)?;
                if self.topics.contains_key(name) {
                    return Err(Error::TopicExists(name.clone()));
                }
                if partitions.is_empty() {
                    return Err(Error::InvalidPartitions(
                        "a topic needs at least one partition".into(),
                    ));
                }
                for (k, v) in configs {
                    topic_config::validate(k, v)?;
                    self.check_plugin_refs(k, v)?;
                }
                Ok(())
            }
            Command::DeleteTopic { name } => self.existing(name).map(|_| ()),
            Command::CreatePartitions { name, partitions } => {
                let t = self.existing(name)?;
                let next = t.partitions.len() as i32;
                if partitions.is_empty() {
                    return Err(Error::InvalidPartitions(format!(
                        "topic '{name}' already has {next} partitions"
                    )));
                }
                if partitions
                    .iter()
                    .enumerate()
                    .any(|(i, p)| p.partition != next + i as i32)
                {
                    return Err(Error::InvalidPartitions(
                        "new partitions must follow the existing ones".into(),
                    ));
                }
                Ok(())
            }
            Command::AlterTopicConfigs { name, configs } => {
                self.existing(name)?;
                for (k, v) in configs {
                    match v {
                        Some(v) => {
                            topic_config::validate(k, v)?;
                            self.check_plugin_refs(k, v)?;
                        }
                        None => topic_config::lookup(k).map(|_| ())?,
                    }
                }
                Ok(())
            }
            Command::DeployPlugin(p) => {
                validate_plugin_name(&p.name)?;
                if p.version.is_empty() || p.version.len() > 64 {
                    return Err(Error::InvalidPlugin(
                        "a plugin version must be 1-64 characters".into(),
                    ));
                }
                if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::InvalidPlugin("sha256 must be 64 hex digits".into()));
                }
                Ok(())
            }
            Command::RemovePlugin { name } => {
                if !self.plugins.contains_key(name) {
                    return Err(Error::UnknownPlugin(name.clone()));
                }
                let users: Vec<String> = self
                    .topics
                    .values()
                    .filter(|t| t.plugin_chain().iter().any(|p| p == name))
                    .map(|t| format!("topic {}", t.name))
                    .chain(
                        self.pipelines
                            .values()
                            .filter(|p| p.plugins.contains(name))
                            .map(|p| format!("pipeline {}", p.name)),
                    )
                    .collect();
                if !users.is_empty() {
                    return Err(Error::InvalidPlugin(format!(
                        "plugin '{name}' is in use by {}; detach it first",
                        users.join(", ")
                    )));
                }
                Ok(())
            }
            Command::CreatePipeline(p) => {
                validate_plugin_name(&p.name)?;
                if self.pipelines.contains_key(&p.name) {
                    return Err(Error::InvalidPipeline(format!(
                        "pipeline '{}' already exists",
                        p.name
                    )));
                }
                self.existing(&p.input)?;
                if let Some(out) = &p.output {
                    validate_topic_name(out)?;
                    if out == &p.input {
                        return Err(Error::InvalidPipeline(
                            "a pipeline's output must differ from its input".into(),
                        ));
                    }
                }
                if p.plugins.is_empty() && p.output.is_none() {
                    return Err(Error::InvalidPipeline(
                        "a pipeline needs plugins or an output topic".into(),
                    ));
                }
                for name in &p.plugins {
                    if !self.plugins.contains_key(name) {
                        return Err(Error::UnknownPlugin(name.clone()));
                    }
                }
                Ok(())
            }
            Command::DeletePipeline { name } | Command::SetPipelinePaused { name, .. } => {
                if self.pipelines.contains_key(name) {
                    Ok(())
                } else {
                    Err(Error::InvalidPipeline(format!(
                        "pipeline '{name}' does not exist"
                    )))
                }
            }
        }
    }

    /// A topic's `weir.plugins` may only name deployed plugins.
    fn check_plugin_refs(&self, key: &str, value: &str) -> Result<()> {
        if key != topic_config::WEIR_PLUGINS {
            return Ok(());
        }
        for name in topic_config::plugin_list(value) {
            if !self.plugins.contains_key(name) {
                return Err(Error::InvalidConfig {
                    name: key.into(),
                    value: value.into(),
                    reason: format!("no plugin named '{name}' is deployed"),
                });
            }
        }
        Ok(())
    }

    fn existing(&self, name: &str) -> Result<&TopicMeta> {
        self.topics
            .get(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))
    }

    /// Validates and applies one command at log position `index`.
    pub fn apply(&mut self, index: u64, cmd: Command) -> Result<()> {
        self.validate(&cmd)?;
        match cmd {
            Command::RegisterBroker {
                node_id,
                host,
                port,
                rack,
            } => {
                self.brokers
                    .insert(node_id, BrokerInfo::new(node_id, host, port, rack));
            }
            Command::SetBrokerFenced { node_id, fenced } => {
                if let Some(b) = self.brokers.get_mut(&node_id) {
                    b.fenced = fenced;
                }
            }
            Command::CreateTopic {
                name,
                topic_id,
                partitions,
                configs,
            } => {
                self.topics.insert(
                    name.clone(),
                    TopicMeta {
                        name,
                        topic_id,
                        partitions,
                        configs,
                    },
                );
            }
            Command::DeleteTopic { name } => {
                self.topics.remove(&name);
            }
            Command::CreatePartitions { name, partitions } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    t.partitions.extend(partitions);
                }
            }
            Command::AlterTopicConfigs { name, configs } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    for (k, v) in configs {
                        match v {
                            Some(v) => t.configs.insert(k, v),
                            None => t.configs.remove(&k),
                        };
                    }
                }
            }
            Command::AllocateProducerIds { count } => {
                self.next_producer_id += count.max(0);
            }
            Command::DeployPlugin(p) => {
                self.plugins.insert(p.name.clone(), p);
            }
            Command::RemovePlugin { name } => {
                self.plugins.remove(&name);
            }
            Command::CreatePipeline(p) => {
                self.pipelines.insert(p.name.clone(), p);
            }
            Command::DeletePipeline { name } => {
                self.pipelines.remove(&name);
            }
            Command::SetPipelinePaused { name, paused } => {
                if let Some(p) = self.pipelines.get_mut(&name) {
                    p.paused = paused;
                }
            }
        }
        self.applied_index = index;
        Ok(())
    }
}
