//! The consumer service: reads `KAFKA_TOPIC` in group `KAFKA_GROUP_ID` from startup (from the
//! earliest offset when the group has none) with `WORKER_COUNT` readers (at most one per
//! partition), and keeps the last 1000 messages in memory.
//!
//! - `GET /messages?limit=100&offset=0` → `{messages, total, limit, offset}`, newest first
//! - `GET /messages/latest` → the newest message, 404 when there is none
//! - `GET /stats` → `{count, rate_per_sec, lag: {total, partitions}, last_offset, started_at, …}`
//! - `DELETE /messages` → `{cleared}`
//! - `GET /health`, `GET /metrics`

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use weir_sdk::{Admin, AdminConfig, Context, Message, Reader, ReaderConfig, StartOffset};

use crate::{Env, error_response, metrics_response, now_ms, rfc3339};

/// Messages kept in memory.
pub const BUFFER_SIZE: usize = 1000;
/// `GET /messages` without `limit`.
const DEFAULT_LIMIT: usize = 100;
/// The window `rate_per_sec` averages over.
const RATE_WINDOW_SECS: i64 = 10;
const BROKER_TIMEOUT: Duration = Duration::from_secs(3);

/// A consumed message as the API shows it: key and value as UTF-8 text (lossy), headers as an
/// object (the last value of a repeated key wins), timestamp in ms since the epoch.
pub fn message_json(m: &Message) -> Value {
    let text = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let headers: serde_json::Map<String, Value> = m
        .headers
        .iter()
        .map(|h| (h.key.clone(), json!(text(&h.value))))
        .collect();
    json!({
        "topic": m.topic,
        "partition": m.partition,
        "offset": m.offset,
        "key": text(&m.key),
        "value": text(&m.value),
        "headers": headers,
        "timestamp": m.timestamp_ms,
    })
}

/// The last [`BUFFER_SIZE`] messages, oldest at the front.
#[derive(Default)]
pub struct Buffer {
    messages: VecDeque<Value>,
}

impl Buffer {
    pub fn push(&mut self, m: Value) {
        if self.messages.len() == BUFFER_SIZE {
            self.messages.pop_front();
        }
        self.messages.push_back(m);
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Newest first: skips the `offset` newest, then takes `limit`.
    pub fn page(&self, limit: usize, offset: usize) -> Vec<Value> {
        self.messages
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn latest(&self) -> Option<&Value> {
        self.messages.back()
    }

    pub fn clear(&mut self) -> usize {
        let n = self.messages.len();
        self.messages.clear();
        n
    }
}

/// Messages per second over the last [`RATE_WINDOW_SECS`], in one-second buckets.
#[derive(Default)]
struct Rate {
    buckets: VecDeque<(i64, u64)>,
}

impl Rate {
    fn add(&mut self, now_s: i64) {
        match self.buckets.back_mut() {
            Some((s, n)) if *s == now_s => *n += 1,
            _ => self.buckets.push_back((now_s, 1)),
        }
        self.prune(now_s);
    }

    fn prune(&mut self, now_s: i64) {
        while self
            .buckets
            .front()
            .is_some_and(|(s, _)| *s <= now_s - RATE_WINDOW_SECS)
        {
            self.buckets.pop_front();
        }
    }

    fn per_sec(&mut self, now_s: i64, uptime_s: i64) -> f64 {
        self.prune(now_s);
        let n: u64 = self.buckets.iter().map(|(_, n)| n).sum();
        n as f64 / uptime_s.clamp(1, RATE_WINDOW_SECS) as f64
    }
}

#[derive(Clone, Default)]
struct Lag {
    total: i64,
    partitions: BTreeMap<i32, i64>,
}

struct Metrics {
    registry: Registry,
    consumed: Counter,
    lag: Gauge,
    partition_lag: Family<Vec<(String, String)>, Gauge>,
    buffered: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let consumed = Counter::default();
        let lag = Gauge::default();
        let partition_lag = Family::<Vec<(String, String)>, Gauge>::default();
        let buffered = Gauge::default();
        let mut registry = Registry::default();
        registry.register(
            "consumer_messages_consumed",
            "Messages read from the topic",
            consumed.clone(),
        );
        registry.register(
            "consumer_lag",
            "Messages written to the topic but not yet read by this service (all partitions)",
            lag.clone(),
        );
        registry.register(
            "consumer_partition_lag",
            "Lag of each partition this service reads",
            partition_lag.clone(),
        );
        registry.register(
            "consumer_buffered_messages",
            "Messages held in memory (at most 1000)",
            buffered.clone(),
        );
        Metrics {
            registry,
            consumed,
            lag,
            partition_lag,
            buffered,
        }
    }
}

struct AppState {
    env: Env,
    admin: Admin,
    started_ms: i64,
    buffer: Mutex<Buffer>,
    count: AtomicU64,
    rate: Mutex<Rate>,
    last_offset: Mutex<BTreeMap<i32, i64>>,
    readers: Mutex<Vec<Arc<Reader>>>,
    /// `starting`, `waiting for topic`, `consuming` or the last startup error.
    status: Mutex<String>,
    lag: Mutex<Lag>,
    metrics: Metrics,
}

type Shared = Arc<AppState>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AppState {
    fn record(&self, m: &Message) {
        let now = now_ms();
        lock(&self.buffer).push(message_json(m));
        self.count.fetch_add(1, Ordering::Relaxed);
        self.metrics.consumed.inc();
        lock(&self.rate).add(now.div_euclid(1000));
        if let Some(p) = m.partition {
            let mut last = lock(&self.last_offset);
            let e = last.entry(p).or_insert(m.offset);
            *e = (*e).max(m.offset);
        }
    }

    fn set_status(&self, s: impl Into<String>) {
        *lock(&self.status) = s.into();
    }

    /// Lag summed over this service's readers, refreshed from the broker (the last known
    /// value when the broker does not answer in time).
    async fn refresh_lag(&self) -> Lag {
        let readers = lock(&self.readers).clone();
        let mut fresh = Lag::default();
        for r in readers {
            match tokio::time::timeout(BROKER_TIMEOUT, r.lag()).await {
                Ok(Ok(parts)) => {
                    for p in parts.into_iter().filter(|p| p.topic == self.env.topic) {
                        fresh.total += p.lag;
                        fresh.partitions.insert(p.partition, p.lag);
                    }
                }
                Ok(Err(e)) => {
                    tracing::debug!("lag: {e}");
                    return lock(&self.lag).clone();
                }
                Err(_) => return lock(&self.lag).clone(),
            }
        }
        self.metrics.lag.set(fresh.total);
        self.metrics.partition_lag.clear();
        for (p, l) in &fresh.partitions {
            self.metrics
                .partition_lag
                .get_or_create(&vec![("partition".to_string(), p.to_string())])
                .set(*l);
        }
        *lock(&self.lag) = fresh.clone();
        fresh
    }
}

/// Starts the readers once the topic exists: `WORKER_COUNT` of them, capped at the topic's
/// partition count, each reading in the group until `ctx` is cancelled.
async fn start_workers(s: Shared, ctx: Context) -> Vec<JoinHandle<()>> {
    let partitions = loop {
        if ctx.is_cancelled() {
            return Vec::new();
        }
        match tokio::time::timeout(BROKER_TIMEOUT, s.admin.describe_topic(&s.env.topic)).await {
            Ok(Ok(info)) if !info.partitions.is_empty() => break info.partitions.len(),
            Ok(Ok(_)) | Ok(Err(weir_sdk::Error::UnknownTopic(_))) => {
                s.set_status("waiting for topic");
            }
            Ok(Err(e)) => s.set_status(format!("waiting for the broker: {e}")),
            Err(_) => s.set_status("waiting for the broker: no answer"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let workers = s.env.worker_count.min(partitions).max(1);
    if workers < s.env.worker_count {
        tracing::info!(
            "WORKER_COUNT={} capped at the {partitions} partitions of '{}'",
            s.env.worker_count,
            s.env.topic
        );
    }
    let mut handles = Vec::new();
    for i in 0..workers {
        let mut rc = ReaderConfig::new(&s.env.brokers, &s.env.topic).group(&s.env.group_id);
        rc.start_offset = StartOffset::Earliest;
        rc.client_id = Some(format!("consumer-service-{i}"));
        let reader = match Reader::new(rc).await {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::error!("reader {i}: {e}");
                s.set_status(format!("error: {e}"));
                continue;
            }
        };
        lock(&s.readers).push(reader.clone());
        let (s, ctx) = (s.clone(), ctx.clone());
        handles.push(tokio::spawn(async move {
            loop {
                match reader.read_message(&ctx).await {
                    Ok(m) => s.record(&m),
                    Err(weir_sdk::Error::Cancelled) => break,
                    Err(e) => {
                        tracing::warn!("reader {i}: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }));
    }
    if !handles.is_empty() {
        s.set_status("consuming");
        tracing::info!(
            "consuming '{}' in group '{}' with {} reader(s)",
            s.env.topic,
            s.env.group_id,
            handles.len()
        );
    }
    handles
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/messages", get(messages).delete(clear))
        .route("/messages/latest", get(latest))
        .route("/stats", get(stats))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

pub async fn run(env: Env) -> anyhow::Result<()> {
    tracing::info!(
        brokers = %env.brokers, topic = %env.topic, group = %env.group_id,
        workers = env.worker_count, "consumer-service starting"
    );
    let mut ac = AdminConfig::new(&env.brokers);
    ac.timeout = BROKER_TIMEOUT;
    ac.admin_url = env.admin_url.clone();
    let port = env.port;
    let state = Arc::new(AppState {
        admin: Admin::new(ac)?,
        env,
        started_ms: now_ms(),
        buffer: Mutex::new(Buffer::default()),
        count: AtomicU64::new(0),
        rate: Mutex::new(Rate::default()),
        last_offset: Mutex::new(BTreeMap::new()),
        readers: Mutex::new(Vec::new()),
        status: Mutex::new("starting".into()),
        lag: Mutex::new(Lag::default()),
        metrics: Metrics::new(),
    });
    let ctx = Context::background();
    let starter = tokio::spawn(start_workers(state.clone(), ctx.clone()));
    let served = crate::serve("consumer-service", port, router(state.clone())).await;

    // Stop reading, then commit and leave the group.
    ctx.cancel();
    if let Ok(handles) = starter.await {
        for h in handles {
            let _ = h.await;
        }
    }
    let readers = std::mem::take(&mut *lock(&state.readers));
    for r in readers {
        if let Ok(r) = Arc::try_unwrap(r)
            && let Err(e) = r.close().await
        {
            tracing::warn!("closing a reader: {e}");
        }
    }
    served
}

fn query_usize(q: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, String> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("`{name}` must be a non-negative integer")),
    }
}

async fn messages(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (limit, offset) = match (
        query_usize(&q, "limit", DEFAULT_LIMIT),
        query_usize(&q, "offset", 0),
    ) {
        (Ok(l), Ok(o)) => (l.min(BUFFER_SIZE), o),
        (Err(e), _) | (_, Err(e)) => return error_response(StatusCode::BAD_REQUEST, e),
    };
    let buf = lock(&s.buffer);
    Json(json!({
        "messages": buf.page(limit, offset),
        "total": buf.len(),
        "limit": limit,
        "offset": offset,
    }))
    .into_response()
}

async fn latest(State(s): State<Shared>) -> Response {
    match lock(&s.buffer).latest() {
        Some(m) => Json(m.clone()).into_response(),
        None => error_response(StatusCode::NOT_FOUND, "no messages consumed yet"),
    }
}

async fn clear(State(s): State<Shared>) -> Response {
    let cleared = lock(&s.buffer).clear();
    Json(json!({ "cleared": cleared })).into_response()
}

async fn stats(State(s): State<Shared>) -> Response {
    let lag = s.refresh_lag().await;
    let now = now_ms();
    let rate = lock(&s.rate).per_sec(now.div_euclid(1000), (now - s.started_ms) / 1000);
    let per_partition = |m: &BTreeMap<i32, i64>| -> serde_json::Map<String, Value> {
        m.iter().map(|(p, v)| (p.to_string(), json!(v))).collect()
    };
    let last_offset = per_partition(&lock(&s.last_offset));
    Json(json!({
        "topic": s.env.topic,
        "group_id": s.env.group_id,
        "workers": lock(&s.readers).len(),
        "status": lock(&s.status).clone(),
        "count": s.count.load(Ordering::Relaxed),
        "buffered": lock(&s.buffer).len(),
        "rate_per_sec": (rate * 100.0).round() / 100.0,
        "lag": { "total": lag.total, "partitions": per_partition(&lag.partitions) },
        "last_offset": last_offset,
        "started_at": rfc3339(s.started_ms),
    }))
    .into_response()
}

async fn health(State(s): State<Shared>) -> Response {
    let status = lock(&s.status).clone();
    let check = tokio::time::timeout(BROKER_TIMEOUT, s.admin.list_topics()).await;
    let error = match check {
        Ok(Ok(_)) => {
            return Json(json!({ "status": "ok", "broker": "reachable", "consumer": status }))
                .into_response();
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the broker did not answer a metadata request in time".into(),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "status": "error", "broker": "unreachable", "consumer": status, "error": error
        })),
    )
        .into_response()
}

async fn metrics(State(s): State<Shared>) -> Response {
    s.refresh_lag().await;
    s.metrics.buffered.set(lock(&s.buffer).len() as i64);
    metrics_response(&s.metrics.registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_keeps_the_last_1000_newest_first() {
        let mut b = Buffer::default();
        for i in 0..1005 {
            b.push(json!(i));
        }
        assert_eq!(b.len(), BUFFER_SIZE);
        assert_eq!(b.latest(), Some(&json!(1004)));
        assert_eq!(b.page(3, 0), vec![json!(1004), json!(1003), json!(1002)]);
        assert_eq!(b.page(2, 998), vec![json!(6), json!(5)]);
        assert!(b.page(5, 1000).is_empty());
        assert_eq!(b.clear(), BUFFER_SIZE);
        assert!(b.is_empty() && b.latest().is_none());
    }

    #[test]
    fn rate_averages_over_the_window() {
        let mut r = Rate::default();
        for s in 100..110 {
            for _ in 0..5 {
                r.add(s);
            }
        }
        assert_eq!(r.per_sec(109, 1000), 5.0);
        assert_eq!(r.per_sec(115, 1000), 2.0);
        assert_eq!(r.per_sec(200, 1000), 0.0);
        let mut young = Rate::default();
        young.add(1);
        young.add(1);
        assert_eq!(young.per_sec(1, 0), 2.0);
    }

    #[test]
    fn message_json_shows_text_and_headers() {
        let mut m = Message::new("v")
            .with_key("k")
            .with_header("a", "1")
            .with_header("a", "2");
        m.topic = "t".into();
        m.partition = Some(1);
        m.offset = 7;
        m.timestamp_ms = Some(5);
        assert_eq!(
            message_json(&m),
            json!({"topic": "t", "partition": 1, "offset": 7, "key": "k", "value": "v",
                   "headers": {"a": "2"}, "timestamp": 5})
        );
    }
}
