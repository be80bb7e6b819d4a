use kafka_protocol::error::ResponseError;

/// Errors of the metadata layer; `kafka_code` gives the wire code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("metadata log error: {0}")]
    Log(#[from] weir_storage::Error),
    #[error("metadata store i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata log record at offset {offset} is unreadable: {reason}")]
    Corrupt { offset: i64, reason: String },
    #[error("metadata encoding error: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("invalid topic name '{0}': use 1-249 characters of [a-zA-Z0-9._-], not '.' or '..'")]
    InvalidTopicName(String),
    #[error("topic name '{0}' is reserved for Weir's internal state")]
    ReservedTopicName(String),
    #[error(
        "topic '{name}' collides with existing topic '{existing}': '.' and '_' are the same character in metric names"
    )]
    TopicCollision { name: String, existing: String },
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    #[error("invalid replication factor: {0}")]
    InvalidReplicationFactor(String),
    /// A request the broker's policy refuses, such as one creating more partitions at once
    /// than [`MAX_PARTITIONS_PER_REQUEST`](crate::MAX_PARTITIONS_PER_REQUEST).
    #[error("{0}")]
    PolicyViolation(String),
    #[error("invalid config {name}={value}: {reason}")]
    InvalidConfig {
        name: String,
        value: String,
        reason: String,
    },
    #[error("unknown config '{0}'")]
    UnknownConfig(String),
    #[error("no plugin named '{0}' is deployed")]
    UnknownPlugin(String),
    #[error("{0}")]
    InvalidPlugin(String),
    #[error("{0}")]
    InvalidPipeline(String),
    /// A partition change from a leader whose epoch is not the current one.
    #[error("{0}")]
    FencedLeaderEpoch(String),
    /// A partition change that names replicas it cannot (not assigned, fenced, no leader).
    #[error("{0}")]
    InvalidPartitionChange(String),
    /// A reassignment target that is empty, repeats a broker or names an unregistered one.
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A cancel of a partition reassignment when none is under way.
    #[error("{0}")]
    NoReassignmentInProgress(String),
    /// A SCRAM credential change that cannot be made (unknown mechanism, iterations out of
    /// bounds, an empty user name or key).
    #[error("{0}")]
    UnacceptableCredential(String),
    /// The controller quorum could not commit the change (no leader, no majority, timeout).
    #[error("controller quorum: {0}")]
    Quorum(String),
    /// The quorum's leader refused the change while applying it.
    #[error("{message}")]
    Refused { code: i16, message: String },
}

impl Error {
    pub fn kafka_code(&self) -> i16 {
        match self {
            Error::Log(_) | Error::Io(_) | Error::Corrupt { .. } | Error::Codec(_) => {
                ResponseError::UnknownServerError.code()
            }
            Error::TopicExists(_) => ResponseError::TopicAlreadyExists.code(),
            Error::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition.code(),
            Error::InvalidTopicName(_)
            | Error::ReservedTopicName(_)
            | Error::TopicCollision { .. } => ResponseError::InvalidTopicException.code(),
            Error::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
            Error::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor.code(),
            Error::PolicyViolation(_) => ResponseError::PolicyViolation.code(),
            Error::UnknownPlugin(_) | Error::InvalidPlugin(_) | Error::InvalidPipeline(_) => {
                ResponseError::InvalidRequest.code()
            }
            Error::InvalidConfig { .. } | Error::UnknownConfig(_) => {
                ResponseError::InvalidConfig.code()
            }
            Error::FencedLeaderEpoch(_) => ResponseError::FencedLeaderEpoch.code(),
            Error::InvalidPartitionChange(_) => ResponseError::InvalidRequest.code(),
            Error::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment.code(),
            Error::NoReassignmentInProgress(_) => ResponseError::NoReassignmentInProgress.code(),
            Error::UnacceptableCredential(_) => ResponseError::UnacceptableCredential.code(),
            Error::Quorum(_) => ResponseError::RequestTimedOut.code(),
            Error::Refused { code, .. } => *code,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
