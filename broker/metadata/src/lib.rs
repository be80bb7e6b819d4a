#![doc = include_str!("../README.md")]

mod command;
mod error;
mod state;
mod store;
pub mod topic_config;

pub use command::{Command, PartitionAssignment};
pub use error::{Error, Result};
pub use state::{BrokerInfo, ClusterState, TopicMeta};
pub use store::MetadataStore;

/// Kafka's rule for topic names: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." || !ok_chars {
        return Err(Error::InvalidTopicName(name.to_string()));
    }
    Ok(())
}
