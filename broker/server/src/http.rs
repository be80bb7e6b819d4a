//! The broker's HTTP API: health, Prometheus metrics and a JSON view of topics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::broker::Broker;

pub(crate) fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/topics", get(topics))
        .with_state(broker)
}

async fn health(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    if *b.shutdown_signal().borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ok")
    }
}

async fn metrics(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let parts = b.all_partitions();
    b.metrics.partitions.set(parts.len() as i64);
    b.metrics
        .log_bytes
        .set(parts.iter().map(|p| p.log.size_bytes() as i64).sum());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        b.metrics.encode(),
    )
}

#[derive(Serialize)]
struct PartitionView {
    partition: i32,
    leader: i32,
    log_start_offset: i64,
    high_watermark: i64,
    size_bytes: u64,
}

#[derive(Serialize)]
struct TopicView {
    name: String,
    topic_id: String,
    partitions: Vec<PartitionView>,
    configs: std::collections::BTreeMap<String, String>,
}

async fn topics(State(b): State<Arc<Broker>>) -> Json<Vec<TopicView>> {
    let state = b.metadata.snapshot();
    let views = state
        .topics
        .values()
        .map(|t| TopicView {
            name: t.name.clone(),
            topic_id: t.topic_id.to_string(),
            configs: t.configs.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let local = b.partition(&t.name, p.partition);
                    PartitionView {
                        partition: p.partition,
                        leader: p.leader,
                        log_start_offset: local.as_ref().map_or(-1, |l| l.log.log_start_offset()),
                        high_watermark: local.as_ref().map_or(-1, |l| l.log.high_watermark()),
                        size_bytes: local.as_ref().map_or(0, |l| l.log.size_bytes()),
                    }
                })
                .collect(),
        })
        .collect();
    Json(views)
}
