use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One partition's placement and leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionAssignment {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
}

/// A change to cluster metadata. Commands are the unit of replication: the store persists them
/// in order and every replica applies them in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    RegisterBroker {
        node_id: i32,
        host: String,
        port: i32,
        rack: Option<String>,
    },
    CreateTopic {
        name: String,
        topic_id: Uuid,
        partitions: Vec<PartitionAssignment>,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        partitions: Vec<PartitionAssignment>,
    },
    /// Sets (`Some`) or removes (`None`, back to the default) topic config overrides.
    AlterTopicConfigs {
        name: String,
        configs: BTreeMap<String, Option<String>>,
    },
    /// Reserves a block of producer ids.
    AllocateProducerIds {
        count: i64,
    },
}
