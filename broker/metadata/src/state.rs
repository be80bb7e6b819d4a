use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Command, Error, PartitionAssignment, Result, topic_config, validate_topic_name};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionAssignment>,
    /// Overrides only; defaults come from the broker configuration.
    pub configs: BTreeMap<String, String>,
}

/// Everything the metadata log describes, as of the last applied command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub applied_index: u64,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMeta>,
    pub next_producer_id: i64,
}

impl ClusterState {
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
                        Some(v) => topic_config::validate(k, v)?,
                        None => topic_config::lookup(k).map(|_| ())?,
                    }
                }
                Ok(())
            }
        }
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
                self.brokers.insert(
                    node_id,
                    BrokerInfo {
                        node_id,
                        host,
                        port,
                        rack,
                    },
                );
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
        }
        self.applied_index = index;
        Ok(())
    }
}
