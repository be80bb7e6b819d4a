#![doc = include_str!("../README.md")]

mod command;
mod error;
pub mod raft;
mod state;
mod store;
pub mod topic_config;

pub use command::{
    Command, Endpoint, PartitionAssignment, PipelineMeta, PluginMeta, SCRAM_MAX_ITERATIONS,
    SCRAM_MECHANISMS, SCRAM_MIN_ITERATIONS, ScramChange, ScramCredential, StartPosition,
};
pub use error::{Error, Result};
pub use state::{
    BrokerInfo, ClusterState, Reassignment, TopicMeta, validate_plugin_name, validate_scram_change,
};
pub use store::MetadataStore;

/// The most partitions one request may create, across all its topics, as in Kafka's controller
/// (`MAX_PARTITIONS_PER_BATCH`): a partition count from a corrupted or hostile request would
/// otherwise have the broker build metadata for hundreds of millions of partitions.
pub const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;

/// Checks a request's total of new partitions against [`MAX_PARTITIONS_PER_REQUEST`].
pub fn check_partitions_per_request(total: i64) -> Result<()> {
    if total > MAX_PARTITIONS_PER_REQUEST {
        return Err(Error::PolicyViolation(format!(
            "Excessively large number of partitions per request: {total} requested, the limit is {MAX_PARTITIONS_PER_REQUEST}."
        )));
    }
    Ok(())
}

/// Name of the internal metadata log, as in KRaft; reserved for Weir itself.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// Name of the Raft log of the controller quorum (`<data-dir>/__raft_metadata-0`); reserved
/// for Weir itself.
pub const RAFT_LOG: &str = "__raft_metadata";
/// Name of the internal committed-offsets log, as in Kafka; reserved for Weir itself.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's rule for topic names: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`, and not
/// the metadata log's name.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name == METADATA_TOPIC || name == OFFSETS_TOPIC {
        return Err(Error::ReservedTopicName(name.to_string()));
    }
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." || !ok_chars {
        return Err(Error::InvalidTopicName(name.to_string()));
    }
    Ok(())
}
