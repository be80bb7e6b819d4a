//! Weir's example services on the Rust SDK (`weir-sdk`): a producer (`POST /send` on :3001)
//! and a consumer (`GET /messages` on :3002). The same pair exists in Python and Node under
//! `python/` and `node/`, with the same HTTP contract (see README.md).

pub mod consumer;
pub mod producer;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Settings from the environment, shared by both services.
#[derive(Clone, Debug)]
pub struct Env {
    /// `KAFKA_BROKERS`, default `localhost:9092`.
    pub brokers: String,
    /// `KAFKA_TOPIC`, default `events`.
    pub topic: String,
    /// `KAFKA_GROUP_ID`, default `consumer-service`.
    pub group_id: String,
    /// `WORKER_COUNT`, default 1 (the consumer caps it at the topic's partition count).
    pub worker_count: usize,
    /// `PORT`, default 3001 (producer) or 3002 (consumer).
    pub port: u16,
    /// `WEIR_ADMIN_URL`, Weir's HTTP API (default: the first broker's host on port 9644); the
    /// SDK reads a plugin's rejection reason from it.
    pub admin_url: Option<String>,
}

impl Env {
    pub fn from_env(default_port: u16) -> anyhow::Result<Env> {
        Self::from_lookup(default_port, |k| std::env::var(k).ok())
    }

    /// `from_env` over any lookup (tests pass a map).
    pub fn from_lookup(
        default_port: u16,
        get: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Env> {
        let var = |k: &str, default: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let worker_count: usize = var("WORKER_COUNT", "1")
            .parse()
            .context("WORKER_COUNT must be a positive integer")?;
        anyhow::ensure!(worker_count >= 1, "WORKER_COUNT must be at least 1");
        let port = var("PORT", &default_port.to_string())
            .parse()
            .context("PORT must be a port number")?;
        Ok(Env {
            brokers: var("KAFKA_BROKERS", "localhost:9092"),
            topic: var("KAFKA_TOPIC", "events"),
            group_id: var("KAFKA_GROUP_ID", "consumer-service"),
            worker_count,
            port,
            admin_url: get("WEIR_ADMIN_URL").filter(|v| !v.trim().is_empty()),
        })
    }
}

/// Logs to stderr, `RUST_LOG` filtering (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Binds `0.0.0.0:port` and serves `app` until Ctrl-C or SIGTERM.
pub async fn serve(name: &str, port: u16, app: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("binding port {port}"))?;
    let addr = listener.local_addr()?;
    tracing::info!("{name} listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `{"error": message}` with `status`.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The HTTP status for an SDK error, and its JSON body (`error`, plus `reason` for a plugin
/// rejection).
pub fn sdk_error(e: &weir_sdk::Error) -> (StatusCode, Value) {
    use weir_sdk::Error as E;
    let status = match e {
        E::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::Config(_) | E::Payload(_) | E::UnknownPartition { .. } => StatusCode::BAD_REQUEST,
        E::UnknownTopic(_) => StatusCode::NOT_FOUND,
        E::NotAuthorized(_) => StatusCode::FORBIDDEN,
        E::RecordTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        E::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        E::Timeout(_) | E::Cancelled => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    let mut body = json!({ "error": e.to_string() });
    if let E::Rejected { reason, .. } = e {
        body["reason"] = json!(reason);
    }
    (status, body)
}

/// Prometheus text exposition of `registry`.
pub fn metrics_response(registry: &prometheus_client::registry::Registry) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ms` since the epoch as RFC 3339 UTC with milliseconds, e.g. `2025-01-31T12:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }

    #[test]
    fn env_defaults_and_overrides() -> anyhow::Result<()> {
        let e = Env::from_lookup(3001, |_| None)?;
        assert_eq!(
            (e.brokers.as_str(), e.topic.as_str(), e.group_id.as_str()),
            ("localhost:9092", "events", "consumer-service")
        );
        assert_eq!((e.worker_count, e.port, e.admin_url), (1, 3001, None));
        let m: HashMap<&str, &str> = [
            ("WORKER_COUNT", "4"),
            ("PORT", "8080"),
            ("KAFKA_TOPIC", "t"),
        ]
        .into_iter()
        .collect();
        let e = Env::from_lookup(3002, |k| m.get(k).map(|v| v.to_string()))?;
        assert_eq!((e.worker_count, e.port, e.topic.as_str()), (4, 8080, "t"));
        assert!(Env::from_lookup(1, |k| (k == "WORKER_COUNT").then(|| "0".into())).is_err());
        Ok(())
    }
}
