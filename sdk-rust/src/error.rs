//! One error type for the SDK, with messages that say what to do next.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work (bad broker list, unknown option, missing topic).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The topic does not exist and the broker does not create it on first use.
    #[error(
        "topic '{0}' does not exist: create it first (the SDK's Admin create_topic, or any Kafka admin tool such as kafka-topics.sh)"
    )]
    UnknownTopic(String),

    /// The partition does not exist on the topic.
    #[error("partition {partition} of topic '{topic}' does not exist")]
    UnknownPartition { topic: String, partition: i32 },

    /// The broker refused the request for lack of rights.
    #[error("not authorized: {0}; check the principal's ACLs")]
    NotAuthorized(String),

    /// A WebAssembly plugin on the topic rejected the record; nothing of its batch was written.
    #[error("record rejected by a plugin on topic '{topic}': {reason}")]
    Rejected { topic: String, reason: String },

    /// The record is larger than the topic's `max.message.bytes`.
    #[error("record too large for topic '{0}': raise max.message.bytes or split the record")]
    RecordTooLarge(String),

    /// No broker answered.
    #[error("no broker reachable at {0}: is Weir running and the address right?")]
    Unreachable(String),

    /// The operation's deadline passed.
    #[error("timed out: {0}")]
    Timeout(String),

    /// The caller's [`crate::Context`] was cancelled.
    #[error("cancelled")]
    Cancelled,

    /// The group has live members, so its offsets cannot be reset.
    #[error("group '{0}' has active members: stop its consumers before resetting offsets")]
    GroupNotEmpty(String),

    /// Some messages of a `write_messages` call failed; the others were written.
    #[error("{} of {total} messages failed; first: {}", failed.len(), failed.first().map(|(i, e)| format!("message {i}: {e}")).unwrap_or_default())]
    Write {
        total: usize,
        /// Index in the call's messages, and why that message failed.
        failed: Vec<(usize, Error)>,
    },

    /// A payload did not (de)serialize.
    #[error("payload: {0}")]
    Payload(String),

    /// Weir's HTTP admin API refused the request.
    #[error("weir admin API ({status}): {message}")]
    Api { status: u16, message: String },

    /// The reader or writer has been closed.
    #[error("closed")]
    Closed,

    /// Any other broker or client error, with the Kafka error code where there is one.
    #[error("{message}")]
    Kafka {
        code: Option<RDKafkaErrorCode>,
        message: String,
    },
}

impl Error {
    /// The Kafka error code behind this error, if it came from the broker.
    pub fn kafka_code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            Error::Kafka { code, .. } => *code,
            Error::UnknownTopic(_) | Error::UnknownPartition { .. } => {
                Some(RDKafkaErrorCode::UnknownTopicOrPartition)
            }
            Error::Rejected { .. } => Some(RDKafkaErrorCode::InvalidRecord),
            Error::RecordTooLarge(_) => Some(RDKafkaErrorCode::MessageSizeTooLarge),
            Error::NotAuthorized(_) => Some(RDKafkaErrorCode::TopicAuthorizationFailed),
            _ => None,
        }
    }

    /// True when retrying the same call later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Unreachable(_) | Error::Timeout(_) => true,
            Error::Kafka { code: Some(c), .. } => matches!(
                c,
                RDKafkaErrorCode::NotLeaderForPartition
                    | RDKafkaErrorCode::LeaderNotAvailable
                    | RDKafkaErrorCode::NotEnoughReplicas
                    | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
                    | RDKafkaErrorCode::RequestTimedOut
                    | RDKafkaErrorCode::NetworkException
                    | RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::AllBrokersDown
                    | RDKafkaErrorCode::CoordinatorNotAvailable
                    | RDKafkaErrorCode::NotCoordinator
            ),
            _ => false,
        }
    }

    /// Maps a librdkafka error, naming `topic` where the code is about one.
    pub(crate) fn from_kafka(e: KafkaError, topic: &str) -> Error {
        let Some(code) = e.rdkafka_error_code() else {
            return Error::Kafka {
                code: None,
                message: e.to_string(),
            };
        };
        match code {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                Error::UnknownTopic(topic.to_string())
            }
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed => {
                Error::NotAuthorized(e.to_string())
            }
            RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize => {
                Error::RecordTooLarge(topic.to_string())
            }
            RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::OperationTimedOut => {
                Error::Timeout(e.to_string())
            }
            RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure => {
                Error::Unreachable(e.to_string())
            }
            _ => Error::Kafka {
                code: Some(code),
                message: e.to_string(),
            },
        }
    }
}

impl From<KafkaError> for Error {
    fn from(e: KafkaError) -> Self {
        Error::from_kafka(e, "")
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Payload(e.to_string())
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::Payload(e.to_string())
    }
}
