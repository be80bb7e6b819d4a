//! The records a plugin sees.

use crate::__bindings::weir::plugin::types as wit;

/// A Kafka record header. Kafka allows a header without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// One record as a plugin sees it.
///
/// The constructors and `with_*` setters are for tests: the broker builds the records a plugin
/// gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

impl Record {
    /// A record with this value, no key and no headers, on partition 0 of topic `test`, with no
    /// offset (-1, as on the produce path) and timestamp 0.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record {
            value: Some(value.into()),
            ..Record::tombstone()
        }
    }

    /// A record with no value (a tombstone), otherwise like [`Record::new`].
    pub fn tombstone() -> Self {
        Record {
            topic: "test".to_string(),
            partition: 0,
            offset: -1,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = partition;
        self
    }

    pub fn with_offset(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }

    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// The topic the record was produced to (or, in a pipeline, read from).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The record's offset in a pipeline; -1 on the produce path.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Milliseconds since the Unix epoch (the producer's create time).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The value, empty for a tombstone.
    pub fn value_bytes(&self) -> &[u8] {
        self.value().unwrap_or_default()
    }

    /// The value as UTF-8 text (empty for a tombstone).
    pub fn value_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.value_bytes())
    }

    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The value of the last header with this key (Kafka allows repeated keys); `Some(&[])` for
    /// a header without a value.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|header| header.key == key)
            .map(|header| header.value.as_deref().unwrap_or_default())
    }
}

impl From<wit::Header> for Header {
    fn from(header: wit::Header) -> Self {
        Header {
            key: header.key,
            value: header.value,
        }
    }
}

impl From<Header> for wit::Header {
    fn from(header: Header) -> Self {
        wit::Header {
            key: header.key,
            value: header.value,
        }
    }
}

impl From<wit::KafkaRecord> for Record {
    fn from(record: wit::KafkaRecord) -> Self {
        Record {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key,
            value: record.value,
            headers: record.headers.into_iter().map(Header::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_headers() {
        let record = Record::new("v")
            .with_key("k")
            .with_header("a", "1")
            .with_header("a", "2")
            .with_topic("orders")
            .with_offset(7);
        assert_eq!(record.value(), Some(&b"v"[..]));
        assert_eq!(record.key(), Some(&b"k"[..]));
        assert_eq!(record.header("a"), Some(&b"2"[..]));
        assert_eq!(record.header("b"), None);
        assert_eq!(record.topic(), "orders");
        assert_eq!(record.offset(), 7);
        assert_eq!(record.value_str(), Ok("v"));
        assert_eq!(Record::tombstone().value_bytes(), b"");
        assert!(Record::new(vec![0xff]).value_str().is_err());
    }

    #[test]
    fn converts_from_wit() {
        let record = Record::from(wit::KafkaRecord {
            topic: "t".to_string(),
            partition: 3,
            offset: 9,
            timestamp: 1234,
            key: None,
            value: Some(b"x".to_vec()),
            headers: vec![wit::Header {
                key: "h".to_string(),
                value: None,
            }],
        });
        assert_eq!(record.partition(), 3);
        assert_eq!(record.timestamp(), 1234);
        assert_eq!(record.header("h"), Some(&b""[..]));
    }
}
