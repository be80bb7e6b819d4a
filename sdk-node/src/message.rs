//! Messages and deliveries as JavaScript objects. Keys, values and header values are
//! `Buffer`s (or null); offsets and timestamps are numbers (safe up to 2^53).

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use weir_sdk::{Delivery, Header, Message};

#[napi(object)]
pub struct JsHeader {
    pub key: String,
    pub value: Option<Buffer>,
}

/// A message to write. `topic` may be omitted (the writer's topic is used); `partition`
/// overrides the balancer; `timestamp` is ms since the epoch.
#[napi(object)]
pub struct OutgoingMessage {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub key: Option<Buffer>,
    pub value: Option<Buffer>,
    pub headers: Option<Vec<JsHeader>>,
    pub timestamp: Option<i64>,
}

impl From<OutgoingMessage> for Message {
    fn from(m: OutgoingMessage) -> Self {
        Message {
            topic: m.topic.unwrap_or_default(),
            partition: m.partition,
            offset: -1,
            key: m.key.map(|b| b.to_vec()),
            value: m.value.map(|b| b.to_vec()),
            headers: m
                .headers
                .unwrap_or_default()
                .into_iter()
                .map(|h| Header {
                    key: h.key,
                    value: h.value.map(|b| b.to_vec()),
                })
                .collect(),
            timestamp_ms: m.timestamp,
        }
    }
}

/// A message read from Weir.
#[napi(object)]
pub struct IncomingMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Buffer>,
    pub value: Option<Buffer>,
    pub headers: Vec<JsHeader>,
    pub timestamp: Option<i64>,
}

impl From<Message> for IncomingMessage {
    fn from(m: Message) -> Self {
        IncomingMessage {
            topic: m.topic,
            partition: m.partition.unwrap_or(-1),
            offset: m.offset,
            key: m.key.map(Buffer::from),
            value: m.value.map(Buffer::from),
            headers: m
                .headers
                .into_iter()
                .map(|h| JsHeader {
                    key: h.key,
                    value: h.value.map(Buffer::from),
                })
                .collect(),
            timestamp: m.timestamp_ms,
        }
    }
}

/// Where a written message landed.
#[napi(object)]
pub struct JsDelivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl From<Delivery> for JsDelivery {
    fn from(d: Delivery) -> Self {
        JsDelivery {
            topic: d.topic,
            partition: d.partition,
            offset: d.offset,
        }
    }
}

/// A topic partition, and for commits and seeks an offset.
#[napi(object)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: Option<i64>,
}
