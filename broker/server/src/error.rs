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
    /// New partitions whose files would not fit under the process's open-file limit
    /// (POLICY_VIOLATION, as Kafka answers a request over its partition limits).
    #[error(
        "not enough open files for {partitions} more partition(s) on this broker: they need about \
         {needed} files and {open} of the limit of {limit} are in use (each partition keeps its \
         segment files open); raise the open-file limit (ulimit -n, LimitNOFILE= under systemd, \
         ulimits.nofile in Compose) and restart weir"
    )]
    OpenFileLimit {
        partitions: usize,
        needed: u64,
        open: u64,
        limit: u64,
    },
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
            Error::OpenFileLimit { .. } => {
                weir_protocol::kafka::ResponseError::PolicyViolation.code()
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
