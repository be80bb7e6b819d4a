//! The HTTP admin API for plugins, dead letters and pipelines (under `/v1`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use weir_metadata::{PipelineMeta, StartPosition};

use super::MAX_PLUGIN_BYTES;
use crate::Error;
use crate::broker::Broker;

type B = State<Arc<Broker>>;

pub(crate) fn routes() -> Router<Arc<Broker>> {
    Router::new()
        .route("/v1/plugins", get(list_plugins))
        .route(
            "/v1/plugins/{name}",
            get(describe_plugin)
                .put(deploy_plugin)
                .delete(remove_plugin)
                .layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
        .route("/v1/plugins/{name}/logs", get(plugin_logs))
        .route("/v1/plugins/{name}/binary", get(plugin_binary))
        .route("/v1/topics/{topic}/configs", put(alter_topic_configs))
        .route("/v1/dlq/{topic}", get(inspect_dlq))
        .route("/v1/dlq/{topic}/replay", post(replay_dlq))
        .route("/v1/pipelines", get(list_pipelines).post(create_pipeline))
        .route(
            "/v1/pipelines/{name}",
            get(describe_pipeline).delete(delete_pipeline),
        )
        .route("/v1/pipelines/{name}/pause", post(pause_pipeline))
        .route("/v1/pipelines/{name}/resume", post(resume_pipeline))
}

/// An error as JSON `{"error": "..."}` with a status that fits it.
pub(crate) struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Metadata(
                weir_metadata::Error::UnknownTopic(_) | weir_metadata::Error::UnknownPlugin(_),
            ) => StatusCode::NOT_FOUND,
            Error::Io(_) | Error::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(ApiError::from)
}

async fn list_plugins(State(b): B) -> impl IntoResponse {
    Json(b.plugin_views())
}

async fn describe_plugin(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    b.plugin_views()
        .into_iter()
        .find(|p| p.meta.name == name)
        .map(Json)
        .ok_or_else(|| not_found(format!("no plugin named '{name}' is deployed")))
}

/// `PUT /v1/plugins/NAME?version=V[&memory_mb=M][&timeout_ms=T][&config.KEY=VALUE...]` with the
/// wasm component as the body.
async fn deploy_plugin(
    State(b): B,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let mut version = None;
    let mut memory = None;
    let mut timeout = None;
    let mut config = BTreeMap::new();
    for (k, v) in params {
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("{k} must be a number")))
        };
        match k.as_str() {
            "version" => version = Some(v),
            "memory_mb" => memory = Some(num(&v)? << 20),
            "timeout_ms" => timeout = Some(num(&v)?),
            _ => match k.strip_prefix("config.") {
                Some(key) if !key.is_empty() => {
                    config.insert(key.to_string(), v);
                }
                _ => {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "unknown parameter '{k}' (expected version, memory_mb, timeout_ms or config.KEY)"
                        ),
                    ));
                }
            },
        }
    }
    let version = version.ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "the version parameter is required".into(),
        )
    })?;
    if body.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the request body must be the plugin's wasm component".into(),
        ));
    }
    let meta =
        blocking(move || b.deploy_plugin(&name, &version, &body, config, memory, timeout)).await?;
    Ok((StatusCode::CREATED, Json(meta)))
}

async fn remove_plugin(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    blocking(move || b.remove_plugin(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct LogsQuery {
    limit: Option<usize>,
}

async fn plugin_logs(
    State(b): B,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> impl IntoResponse {
    Json(b.plugin_logs(&name, q.limit.unwrap_or(100)))
}

async fn plugin_binary(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    let bin = blocking(move || b.plugin_binary(&name)).await?;
    let bin = bin.ok_or_else(|| not_found("no such plugin".into()))?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bin))
}

/// `{"set": {"k": "v"}, "delete": ["k"]}`: incremental, like IncrementalAlterConfigs.
#[derive(Deserialize)]
struct ConfigChange {
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    delete: Vec<String>,
    /// Check only: answer what the change would answer, change nothing.
    #[serde(default)]
    validate_only: bool,
}

async fn alter_topic_configs(
    State(b): B,
    Path(topic): Path<String>,
    Json(change): Json<ConfigChange>,
) -> ApiResult<impl IntoResponse> {
    let mut changes: BTreeMap<String, Option<String>> =
        change.set.into_iter().map(|(k, v)| (k, Some(v))).collect();
    for k in change.delete {
        changes.insert(k, None);
    }
    let validate_only = change.validate_only;
    blocking(move || b.alter_topic_configs(&topic, changes, validate_only)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct InspectQuery {
    offset: Option<i64>,
    limit: Option<usize>,
}

async fn inspect_dlq(
    State(b): B,
    Path(topic): Path<String>,
    Query(q): Query<InspectQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let offset = q.offset.unwrap_or(0);
    Ok(Json(
        blocking(move || b.inspect_dead_letters(&topic, offset, limit)).await?,
    ))
}

#[derive(Deserialize)]
struct ReplayQuery {
    to: Option<String>,
    from: Option<i64>,
}

async fn replay_dlq(
    State(b): B,
    Path(topic): Path<String>,
    Query(q): Query<ReplayQuery>,
) -> ApiResult<impl IntoResponse> {
    // A task of its own: a client that goes away does not stop the replay between appending
    // records and committing the position past them.
    let replay =
        tokio::spawn(async move { b.replay_dead_letters(&topic, q.to.as_deref(), q.from).await });
    let report = replay
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(report))
}

/// A pipeline definition as posted.
#[derive(Deserialize)]
struct NewPipeline {
    name: String,
    input: String,
    #[serde(default)]
    plugins: Vec<String>,
    output: Option<String>,
    /// `earliest` (default), `latest`, `offset:N` or `timestamp:MS`.
    start: Option<String>,
    #[serde(default)]
    paused: bool,
}

fn parse_start(s: Option<&str>) -> Result<StartPosition, ApiError> {
    let bad = || {
        ApiError(
            StatusCode::BAD_REQUEST,
            "start must be earliest, latest, offset:N or timestamp:MS".into(),
        )
    };
    Ok(match s.unwrap_or("earliest") {
        "earliest" => StartPosition::Earliest,
        "latest" => StartPosition::Latest,
        other => match other.split_once(':') {
            Some(("offset", n)) => StartPosition::Offset(n.parse().map_err(|_| bad())?),
            Some(("timestamp", n)) => StartPosition::Timestamp(n.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
    })
}

async fn create_pipeline(State(b): B, Json(p): Json<NewPipeline>) -> ApiResult<impl IntoResponse> {
    let meta = PipelineMeta {
        start: parse_start(p.start.as_deref())?,
        name: p.name,
        input: p.input,
        plugins: p.plugins,
        output: p.output,
        paused: p.paused,
        created_at_ms: 0,
    };
    let b2 = b.clone();
    let meta = blocking(move || b2.create_pipeline(meta)).await?;
    b.reconcile_pipelines();
    Ok((StatusCode::CREATED, Json(meta)))
}

async fn list_pipelines(State(b): B) -> impl IntoResponse {
    Json(b.pipeline_views())
}

async fn describe_pipeline(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    b.pipeline_views()
        .into_iter()
        .find(|p| p.meta.name == name)
        .map(Json)
        .ok_or_else(|| not_found(format!("pipeline '{name}' does not exist")))
}

async fn delete_pipeline(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    blocking(move || b.delete_pipeline(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause_pipeline(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    blocking(move || b.set_pipeline_paused(&name, true)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resume_pipeline(State(b): B, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    let b2 = b.clone();
    blocking(move || b2.set_pipeline_paused(&name, false)).await?;
    b.reconcile_pipelines();
    Ok(StatusCode::NO_CONTENT)
}
