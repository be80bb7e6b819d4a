/// Errors of the wire layer. None of them is answered on the wire: the connection is closed
/// and the reason logged, as a Kafka broker does for requests it cannot parse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("request of {size} bytes exceeds socket.request.max.bytes ({max})")]
    FrameTooLarge { size: i64, max: usize },
    #[error("frame of {size} bytes is too short for a request header")]
    FrameTooShort { size: usize },
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} version {version} is not supported (supported {min}..={max})")]
    UnsupportedVersion {
        api: kafka_protocol::messages::ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: kafka_protocol::messages::ApiKey,
        version: i16,
        reason: String,
    },
    #[error("failed to encode {api:?} v{version} response: {reason}")]
    Encode {
        api: kafka_protocol::messages::ApiKey,
        version: i16,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
