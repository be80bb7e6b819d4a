use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An advertised listener address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: i32,
}

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
        /// The broker's HTTP API (`host:port`), where peers fetch plugin binaries.
        #[serde(default)]
        http: Option<String>,
        /// Every listener's advertised address by listener name (Kafka's
        /// `advertised.listeners`); `host:port` above is the inter-broker listener's.
        #[serde(default)]
        listeners: BTreeMap<String, Endpoint>,
    },
    /// Removes a stopped broker that holds no replicas (`weir cluster remove-broker`).
    UnregisterBroker {
        node_id: i32,
    },
    /// The controller fences a broker that stopped heartbeating, and unfences it when it is back.
    SetBrokerFenced {
        node_id: i32,
        fenced: bool,
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
    /// A partition leader changes the in-sync replica set: drops a follower that fell behind,
    /// or adds one that caught up. Refused unless `leader_epoch` is the partition's current one.
    AlterPartition {
        topic: String,
        partition: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
    },
    /// Moves leadership to the preferred replica (the first assigned) when it is in sync and
    /// not fenced: after a failed broker returns, or on ElectLeaders.
    ElectPreferredLeader {
        topic: String,
        partition: i32,
    },
    /// Starts a partition reassignment (KIP-455), or replaces the one under way, with
    /// `Some(target)`; cancels the one under way with `None`. During a reassignment the
    /// partition's replicas are the target followed by the replicas leaving it; it completes
    /// when every target replica is in the ISR (see `ClusterState::apply`).
    ReassignPartition {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
    },
    /// Reserves a block of producer ids.
    AllocateProducerIds {
        count: i64,
    },
    /// Deploys a plugin, or replaces the deployed version of one. The wasm binary itself lives
    /// in the plugin blob log under its SHA-256; the definition names it.
    DeployPlugin(PluginMeta),
    RemovePlugin {
        name: String,
    },
    CreatePipeline(PipelineMeta),
    DeletePipeline {
        name: String,
    },
    SetPipelinePaused {
        name: String,
        paused: bool,
    },
    /// Creates, replaces and deletes users' SCRAM credentials (AlterUserScramCredentials),
    /// applied together.
    AlterScramCredentials {
        changes: Vec<ScramChange>,
    },
}

/// The SCRAM mechanisms a credential may be for, by their SASL names.
pub const SCRAM_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];
/// Kafka's bounds on a SCRAM credential's PBKDF2 iterations (both mechanisms).
pub const SCRAM_MIN_ITERATIONS: u32 = 4096;
pub const SCRAM_MAX_ITERATIONS: u32 = 16384;

/// What the broker keeps of a SCRAM password (RFC 5802): enough to check a client's proof,
/// not enough to make one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// One user's credential for one mechanism: set (`Some`) or deleted (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramChange {
    pub user: String,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub credential: Option<ScramCredential>,
}

/// A deployed plugin: which binary, with which defaults and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginMeta {
    pub name: String,
    pub version: String,
    /// SHA-256 of the wasm component, hex.
    pub sha256: String,
    pub size: u64,
    /// Configuration passed to `init`; a topic's `weir.plugin.<name>.<key>` configs override it.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    pub memory_bytes: u64,
    pub timeout_ms: u64,
    pub deployed_at_ms: i64,
}

/// Where a pipeline starts reading its input when it has no committed position yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartPosition {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

/// An asynchronous pipeline: records of `input` run through `plugins` and land in `output`
/// (records a plugin routes go to the topics it names instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineMeta {
    pub name: String,
    pub input: String,
    pub plugins: Vec<String>,
    /// Where kept and replaced records go. `None`: only routed records are written.
    pub output: Option<String>,
    pub start: StartPosition,
    pub paused: bool,
    pub created_at_ms: i64,
}
