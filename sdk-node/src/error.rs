//! `weir_sdk::Error` → a JS `Error` carrying a stable code. napi errors only carry a message
//! across the boundary, so the message is `WEIR_ERROR:` followed by JSON that `index.js`
//! turns back into a `WeirError` with `.code`, `.topic`, `.reason`, `.failed`, ….

use serde_json::{Value, json};
use weir_sdk::Error;

/// Marks a message `index.js` should parse.
pub(crate) const PREFIX: &str = "WEIR_ERROR:";

/// The stable code JavaScript sees for each error kind.
fn code(e: &Error) -> &'static str {
    match e {
        Error::Config(_) => "CONFIG",
        Error::UnknownTopic(_) => "UNKNOWN_TOPIC",
        Error::UnknownPartition { .. } => "UNKNOWN_PARTITION",
        Error::NotAuthorized(_) => "NOT_AUTHORIZED",
        Error::Rejected { .. } => "REJECTED",
        Error::RecordTooLarge(_) => "RECORD_TOO_LARGE",
        Error::Unreachable(_) => "UNREACHABLE",
        Error::Timeout(_) => "TIMEOUT",
        Error::Cancelled => "CANCELLED",
        Error::GroupNotEmpty(_) => "GROUP_NOT_EMPTY",
        Error::Write { .. } => "WRITE",
        Error::Payload(_) => "PAYLOAD",
        Error::Api { .. } => "API",
        Error::Closed => "CLOSED",
        Error::Kafka { .. } => "KAFKA",
    }
}

fn describe(e: &Error) -> Value {
    let mut v = json!({
        "code": code(e),
        "message": e.to_string(),
        "retriable": e.is_retriable(),
    });
    if let Some(k) = e.kafka_code() {
        v["kafkaCode"] = json!(format!("{k:?}"));
    }
    match e {
        Error::UnknownTopic(t) | Error::RecordTooLarge(t) => v["topic"] = json!(t),
        Error::UnknownPartition { topic, partition } => {
            v["topic"] = json!(topic);
            v["partition"] = json!(partition);
        }
        Error::Rejected { topic, reason } => {
            v["topic"] = json!(topic);
            v["reason"] = json!(reason);
        }
        Error::GroupNotEmpty(g) => v["groupId"] = json!(g),
        Error::Api { status, .. } => v["status"] = json!(status),
        Error::Write { total, failed } => {
            v["total"] = json!(total);
            v["failed"] = failed
                .iter()
                .map(|(i, e)| {
                    let mut d = describe(e);
                    d["index"] = json!(i);
                    d
                })
                .collect();
        }
        _ => {}
    }
    v
}

/// The napi error for `e`.
pub(crate) fn to_js(e: Error) -> napi::Error {
    napi::Error::from_reason(format!("{PREFIX}{}", describe(&e)))
}

/// A `CONFIG` error raised by the binding itself (bad option values).
pub(crate) fn config(msg: impl Into<String>) -> napi::Error {
    to_js(Error::Config(msg.into()))
}

pub(crate) type Result<T> = napi::Result<T>;

/// `?`-friendly conversion of SDK results.
pub(crate) trait IntoJs<T> {
    fn js(self) -> Result<T>;
}

impl<T> IntoJs<T> for weir_sdk::Result<T> {
    fn js(self) -> Result<T> {
        self.map_err(to_js)
    }
}
