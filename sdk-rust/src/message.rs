//! Messages as the SDK writes and reads them, with typed payload helpers.

use rdkafka::Timestamp;
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// One record header. Kafka allows repeated keys and null values; both are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// A record. For writes, `topic` may be empty (the writer's topic is used), `partition`
/// overrides the balancer and `offset` is ignored; reads fill every field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: Option<i32>,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; on writes `None` lets the client stamp it.
    pub timestamp_ms: Option<i64>,
}

impl Message {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Message {
            value: Some(value.into()),
            offset: -1,
            ..Default::default()
        }
    }

    /// A message whose value is `v` as JSON (serde).
    pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<Self> {
        Ok(Self::new(serde_json::to_vec(v)?).with_header("content-type", "application/json"))
    }

    /// A message whose value is `m` encoded as protobuf (prost).
    pub fn protobuf<M: prost::Message>(m: &M) -> Self {
        Self::new(m.encode_to_vec()).with_header("content-type", "application/x-protobuf")
    }

    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Appends a header (repeated keys are allowed, as in Kafka).
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// The value of the last header named `key` (Kafka's "last one wins" convention).
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_deref())
    }

    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    pub fn value_str(&self) -> Option<&str> {
        self.value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Decodes the value as JSON into `T`.
    pub fn value_json<T: DeserializeOwned>(&self) -> Result<T> {
        let v = self
            .value
            .as_deref()
            .ok_or_else(|| Error::Payload("the message has a null value".into()))?;
        Ok(serde_json::from_slice(v)?)
    }

    /// Decodes the value as the protobuf message `M`.
    pub fn value_protobuf<M: prost::Message + Default>(&self) -> Result<M> {
        let v = self
            .value
            .as_deref()
            .ok_or_else(|| Error::Payload("the message has a null value".into()))?;
        Ok(M::decode(v)?)
    }

    pub(crate) fn from_borrowed(m: &BorrowedMessage<'_>) -> Self {
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| Header {
                        key: h.key.to_string(),
                        value: h.value.map(<[u8]>::to_vec),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let timestamp_ms = match m.timestamp() {
            Timestamp::NotAvailable => None,
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => Some(t),
        };
        Message {
            topic: m.topic().to_string(),
            partition: Some(m.partition()),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms,
        }
    }
}

/// Where a written message landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}
