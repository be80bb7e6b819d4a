//! The producer service: JSON over HTTP in, records to Weir out.
//!
//! - `POST /send` `{message|value, key?, headers?, partition?, topic?}` → `{topic, partition, offset}`
//! - `POST /send-batch` `{messages: [...]}` → `{results: [{topic, partition, offset} | {error}]}`
//! - `GET /health` → 200 when the broker answers a metadata request, else 503
//! - `GET /metrics` → Prometheus text (sent, failed, send latency)

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use weir_sdk::{Admin, AdminConfig, Context, Delivery, Message, Writer, WriterConfig};

use crate::{Env, error_response, metrics_response, sdk_error};

/// How long one send may take, retries included, before it fails with a timeout.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a send waits for a topic the broker does not know to appear.
const UNKNOWN_TOPIC_AFTER: Duration = Duration::from_secs(3);
/// Deadline of the health check's metadata request.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// One message of a send request, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRequest {
    pub value: Vec<u8>,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub partition: Option<i32>,
    pub topic: Option<String>,
}

/// Validates one `{message|value, key?, headers?, partition?, topic?}` object. A string value
/// is sent as is; any other JSON value is sent as its JSON text.
pub fn parse_send(v: &Value) -> Result<SendRequest, String> {
    let obj = v
        .as_object()
        .ok_or("the body must be a JSON object with a `message` or `value`")?;
    let value = match obj.get("message").or_else(|| obj.get("value")) {
        None | Some(Value::Null) => return Err("missing `message` (or `value`)".into()),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let key = match obj.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => h
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(format!("header `{k}` must be a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`headers` must be an object of string to string".into()),
    };
    let partition = match obj.get("partition") {
        None | Some(Value::Null) => None,
        Some(p) => Some(
            p.as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p >= 0)
                .ok_or("`partition` must be a non-negative integer")?,
        ),
    };
    let topic = match obj.get("topic") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
        Some(_) => return Err("`topic` must be a non-empty string".into()),
    };
    Ok(SendRequest {
        value,
        key,
        headers,
        partition,
        topic,
    })
}

impl SendRequest {
    fn into_message(self) -> Message {
        let mut m = Message::new(self.value);
        if let Some(k) = self.key {
            m = m.with_key(k);
        }
        for (k, v) in self.headers {
            m = m.with_header(k, v);
        }
        if let Some(p) = self.partition {
            m = m.with_partition(p);
        }
        if let Some(t) = self.topic {
            m = m.with_topic(t);
        }
        m
    }
}

struct Metrics {
    registry: Registry,
    sent: Counter,
    failed: Counter,
    latency: Histogram,
}

impl Metrics {
    fn new() -> Self {
        let sent = Counter::default();
        let failed = Counter::default();
        let latency = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let mut registry = Registry::default();
        registry.register(
            "producer_messages_sent",
            "Messages the broker acknowledged",
            sent.clone(),
        );
        registry.register(
            "producer_messages_failed",
            "Messages that could not be sent (invalid, rejected or broker errors)",
            failed.clone(),
        );
        registry.register(
            "producer_send_duration_seconds",
            "Time from a send to its acknowledgement (or failure)",
            latency.clone(),
        );
        Metrics {
            registry,
            sent,
            failed,
            latency,
        }
    }
}

struct AppState {
    writer: Writer,
    admin: Admin,
    metrics: Metrics,
}

type Shared = Arc<AppState>;

/// The service's routes over a writer for `env`.
pub fn app(env: &Env) -> anyhow::Result<Router> {
    let mut wc = WriterConfig::new(&env.brokers).topic(&env.topic);
    wc.write_timeout = SEND_TIMEOUT;
    wc.admin_url = env.admin_url.clone();
    wc.client_id = Some("producer-service".into());
    // A topic the broker says does not exist (auto-creation off) fails the send after 3 s
    // with UnknownTopic (a 404) rather than waiting out SEND_TIMEOUT as a timeout.
    wc.extra.push((
        "topic.metadata.propagation.max.ms".into(),
        UNKNOWN_TOPIC_AFTER.as_millis().to_string(),
    ));
    let writer = Writer::new(wc)?;
    let mut ac = AdminConfig::new(&env.brokers);
    ac.timeout = HEALTH_TIMEOUT;
    ac.admin_url = env.admin_url.clone();
    let admin = Admin::new(ac)?;
    let state = Arc::new(AppState {
        writer,
        admin,
        metrics: Metrics::new(),
    });
    Ok(Router::new()
        .route("/send", post(send))
        .route("/send-batch", post(send_batch))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state))
}

pub async fn run(env: Env) -> anyhow::Result<()> {
    tracing::info!(brokers = %env.brokers, topic = %env.topic, "producer-service starting");
    crate::serve("producer-service", env.port, app(&env)?).await
}

fn delivery_json(d: &Delivery) -> Value {
    json!({ "topic": d.topic, "partition": d.partition, "offset": d.offset })
}

/// Sends one message, counting it and timing it.
async fn send_one(s: &AppState, req: SendRequest) -> Result<Delivery, weir_sdk::Error> {
    let started = Instant::now();
    let r = s
        .writer
        .write_message(&Context::background(), req.into_message())
        .await;
    s.metrics.latency.observe(started.elapsed().as_secs_f64());
    match &r {
        Ok(_) => {
            s.metrics.sent.inc();
        }
        Err(e) => {
            s.metrics.failed.inc();
            tracing::warn!("send failed: {e}");
        }
    }
    r
}

fn parse_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error_response(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        ))
    })
}

async fn send(State(s): State<Shared>, body: Bytes) -> Response {
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let req = match parse_send(&v) {
        Ok(r) => r,
        Err(e) => {
            s.metrics.failed.inc();
            return error_response(StatusCode::BAD_REQUEST, e);
        }
    };
    match send_one(&s, req).await {
        Ok(d) => Json(delivery_json(&d)).into_response(),
        Err(e) => {
            let (status, body) = sdk_error(&e);
            (status, Json(body)).into_response()
        }
    }
}

async fn send_batch(State(s): State<Shared>, body: Bytes) -> Response {
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(msgs) = v.get("messages").and_then(Value::as_array) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the body must be {\"messages\": [...]}",
        );
    };
    // Every message is sent concurrently (the SDK batches them); results keep the order.
    let mut tasks = Vec::with_capacity(msgs.len());
    for m in msgs {
        tasks.push(match parse_send(m) {
            Ok(req) => {
                let s = s.clone();
                Ok(tokio::spawn(async move { send_one(&s, req).await }))
            }
            Err(e) => {
                s.metrics.failed.inc();
                Err(e)
            }
        });
    }
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(match t {
            Err(e) => json!({ "error": e }),
            Ok(handle) => match handle.await {
                Ok(Ok(d)) => delivery_json(&d),
                Ok(Err(e)) => sdk_error(&e).1,
                Err(e) => json!({ "error": format!("send task failed: {e}") }),
            },
        });
    }
    Json(json!({ "results": results })).into_response()
}

async fn health(State(s): State<Shared>) -> Response {
    let check = tokio::time::timeout(HEALTH_TIMEOUT, s.admin.list_topics()).await;
    match check {
        Ok(Ok(_)) => Json(json!({ "status": "ok", "broker": "reachable" })).into_response(),
        Ok(Err(e)) => unhealthy(e.to_string()),
        Err(_) => unhealthy("the broker did not answer a metadata request in time".into()),
    }
}

fn unhealthy(error: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "error", "broker": "unreachable", "error": error })),
    )
        .into_response()
}

async fn metrics(State(s): State<Shared>) -> Response {
    metrics_response(&s.metrics.registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_message_or_value_and_stringifies_json() -> Result<(), String> {
        let r = parse_send(&json!({"message": "hi", "key": "k", "headers": {"a": "b"}}))?;
        assert_eq!(r.value, b"hi");
        assert_eq!(r.key.as_deref(), Some("k"));
        assert_eq!(r.headers, vec![("a".to_string(), "b".to_string())]);
        let r = parse_send(&json!({"value": {"n": 1}, "partition": 2, "topic": "t"}))?;
        assert_eq!(r.value, br#"{"n":1}"#);
        assert_eq!((r.partition, r.topic.as_deref()), (Some(2), Some("t")));
        Ok(())
    }

    #[test]
    fn parse_rejects_bad_requests() {
        for bad in [
            json!([1]),
            json!({}),
            json!({"value": null}),
            json!({"value": "x", "headers": {"a": 1}}),
            json!({"value": "x", "headers": [1]}),
            json!({"value": "x", "partition": -1}),
            json!({"value": "x", "partition": "1"}),
            json!({"value": "x", "topic": ""}),
        ] {
            assert!(parse_send(&bad).is_err(), "{bad} should be refused");
        }
    }
}
