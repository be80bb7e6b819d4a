/// Errors of the broker. Request handlers turn them into Kafka error codes per partition or
/// resource; only connection-level failures end a connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] weir_storage::Error),
    #[error(transparent)]
    Metadata(#[from] weir_metadata::Error),
    #[error(transparent)]
    Protocol(#[from] weir_protocol::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Plugin(String),
    /// A request whose fields contradict each other (INVALID_REQUEST).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// This broker does not coordinate groups (it does not lead the offsets partition).
    #[error("this broker is not the group coordinator")]
    NotCoordinator,
    /// This broker is not the leader of the partition (any more).
    #[error("this broker is not the leader of {topic}-{partition}")]
    NotLeader { topic: String, partition: i32 },
}

impl Error {
    pub fn kafka_code(&self) -> i16 {
        match self {
            Error::Storage(e) => e.kafka_code(),
            Error::Metadata(e) => e.kafka_code(),
            Error::Protocol(_) => weir_protocol::kafka::ResponseError::InvalidRequest.code(),
            Error::Io(_) => weir_protocol::kafka::ResponseError::KafkaStorageError.code(),
            Error::Config(_) => weir_protocol::kafka::ResponseError::InvalidConfig.code(),
            Error::Plugin(_) => weir_protocol::kafka::ResponseError::InvalidRecord.code(),
            Error::InvalidRequest(_) => weir_protocol::kafka::ResponseError::InvalidRequest.code(),
            Error::NotCoordinator => weir_protocol::kafka::ResponseError::NotCoordinator.code(),
            Error::NotLeader { .. } => {
                weir_protocol::kafka::ResponseError::NotLeaderOrFollower.code()
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
