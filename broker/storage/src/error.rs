use kafka_protocol::error::ResponseError;

/// Errors of the storage layer. `kafka_code` maps each to the code a Kafka broker returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    #[error("record batch magic {0} is not supported (only v2 record batches are accepted)")]
    UnsupportedMagic(i8),
    #[error("record batch of {size} bytes exceeds max.message.bytes ({max})")]
    BatchTooLarge { size: usize, max: usize },
    /// A record timestamp outside `message.timestamp.after/before.max.ms`.
    #[error("{0}")]
    InvalidTimestamp(String),
    /// A record the topic cannot take (a keyless record in a compacted topic).
    #[error("{0}")]
    InvalidRecord(String),
    #[error("offset {offset} is out of range [{start}, {end})")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("segment is full: {0}")]
    SegmentFull(String),
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error("producer {producer_id}: epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    #[error(
        "data directory {dir} is in use by another process ({reason}); is another weir running on it?"
    )]
    DataDirInUse { dir: String, reason: String },
}

impl Error {
    /// The Kafka error code for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            Error::Io(_) | Error::SegmentFull(_) | Error::DataDirInUse { .. } => {
                ResponseError::KafkaStorageError.code()
            }
            Error::CorruptBatch(_) => ResponseError::CorruptMessage.code(),
            Error::UnsupportedMagic(_) | Error::InvalidRecord(_) => {
                ResponseError::InvalidRecord.code()
            }
            Error::BatchTooLarge { .. } => ResponseError::MessageTooLarge.code(),
            Error::InvalidTimestamp(_) => ResponseError::InvalidTimestamp.code(),
            Error::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange.code(),
            Error::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber.code(),
            Error::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch.code(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
