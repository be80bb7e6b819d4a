//! The broker's HTTP API: health, Prometheus metrics and a JSON view of topics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::broker::Broker;
use crate::metrics::GroupPartitionLabel;
use crate::plugins::http::{ApiResult, blocking};

pub(crate) fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/topics", get(topics).post(create_topic))
        .route("/v1/topics/{topic}", axum::routing::delete(delete_topic))
        .route(
            "/v1/topics/{topic}/partitions",
            axum::routing::post(add_partitions),
        )
        .route("/v1/groups", get(groups))
        .route("/v1/groups/{group}", axum::routing::delete(delete_group))
        .route(
            "/v1/groups/{group}/offsets",
            axum::routing::post(reset_offsets),
        )
        .route("/v1/cluster", get(cluster))
        .route(
            "/v1/cluster/brokers/{id}",
            axum::routing::delete(remove_broker),
        )
        .route("/v1/users", get(users))
        .route(
            "/v1/users/{user}",
            axum::routing::put(set_user).delete(delete_user),
        )
        .merge(crate::plugins::http::routes())
        .route("/", get(console))
        .route("/console", get(console))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            broker.clone(),
            require_user,
        ))
        .with_state(broker)
}

/// Paths served without credentials: liveness probes and Prometheus scrapes.
const OPEN_PATHS: &[&str] = &["/health", "/metrics"];

/// With a SASL listener, the HTTP API (console, admin, plugins, the CLI) wants the same users,
/// as HTTP Basic authentication; `/health` and `/metrics` stay open. Without SASL it is open,
/// as Kafka's own listeners are without it.
async fn require_user(
    State(broker): State<Arc<Broker>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !broker.config.sasl_anywhere() || OPEN_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let credentials = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::basic_credentials);
    // The check may run PBKDF2 (a user made through the API): off the runtime's workers.
    let b = broker.clone();
    let ok = match credentials {
        None => false,
        Some((user, password)) => tokio::task::spawn_blocking(move || {
            b.config
                .security
                .directory(&b.metadata)
                .check_password(&user, &password)
        })
        .await
        .unwrap_or(false),
    };
    if ok {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"weir\", charset=\"UTF-8\"",
        )],
        Json(serde_json::json!({
            "error": "authentication required: the listener uses SASL, so the HTTP API wants \
                      one of its users (HTTP Basic; the CLI's --user and WEIR_PASSWORD)"
        })),
    )
        .into_response()
}

/// `POST /v1/topics`: what `weir topic create` and `weir topic apply` send.
#[derive(serde::Deserialize)]
struct NewTopic {
    name: String,
    /// -1 or absent: the broker's default (`--num-partitions`).
    #[serde(default = "broker_default")]
    partitions: i32,
    #[serde(default = "broker_default_rf")]
    replication_factor: i16,
    #[serde(default)]
    configs: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    validate_only: bool,
}

fn broker_default() -> i32 {
    -1
}

fn broker_default_rf() -> i16 {
    -1
}

async fn create_topic(
    State(b): State<Arc<Broker>>,
    Json(t): Json<NewTopic>,
) -> ApiResult<impl IntoResponse> {
    let meta = blocking(move || {
        b.create_topic_placed(
            &t.name,
            crate::broker::Placement::Spread {
                partitions: t.partitions,
                replication_factor: t.replication_factor,
            },
            t.configs,
            t.validate_only,
        )
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "name": meta.name,
            "topic_id": meta.topic_id.to_string(),
            "partitions": meta.partitions.len(),
            "replication_factor": meta.partitions.first().map_or(0, |p| p.replicas.len()),
            "configs": meta.configs,
        })),
    ))
}

async fn delete_topic(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(topic): axum::extract::Path<String>,
) -> ApiResult<impl IntoResponse> {
    blocking(move || b.delete_topic(&topic)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct PartitionCount {
    /// The new total number of partitions (more than now: partitions are never removed).
    count: i32,
    /// Check only: answer what the change would answer, change nothing.
    #[serde(default)]
    validate_only: bool,
}

async fn add_partitions(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(topic): axum::extract::Path<String>,
    Json(p): Json<PartitionCount>,
) -> ApiResult<impl IntoResponse> {
    blocking(move || b.create_partitions(&topic, p.count, None, p.validate_only)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/groups/{group}`: what `weir group delete` sends. As DeleteGroups: only a group
/// with no active member, and its committed offsets go with it.
async fn delete_group(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(group): axum::extract::Path<String>,
) -> ApiResult<impl IntoResponse> {
    use crate::plugins::http::ApiError;
    use weir_protocol::kafka::ResponseError;
    let g = group.clone();
    let code = blocking(move || Ok(b.groups.delete_group(&g))).await?;
    match ResponseError::try_from_code(code) {
        None => Ok(StatusCode::NO_CONTENT),
        Some(ResponseError::GroupIdNotFound) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("group '{group}' does not exist (or this broker is not its coordinator)"),
        )),
        Some(ResponseError::NonEmptyGroup) => Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "group '{group}' has active members: stop its consumers first (only an empty group can be deleted)"
            ),
        )),
        Some(e) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("deleting group '{group}' failed: {e:?}"),
        )),
    }
}

/// `POST /v1/groups/{group}/offsets`: what `weir group reset-offsets` sends.
#[derive(serde::Deserialize)]
struct OffsetReset {
    /// Topics to reset, every partition of each; empty: the partitions the group has committed
    /// offsets for (kafka-consumer-groups --all-topics).
    #[serde(default)]
    topics: Vec<String>,
    /// `earliest`, `latest`, `offset` (value), `timestamp` (value, ms since the epoch: the first
    /// offset at or after it) or `shift` (value, added to the committed offset).
    to: String,
    #[serde(default)]
    value: Option<i64>,
    /// Plan only: answer what would be committed, commit nothing.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
struct OffsetResetView {
    topic: String,
    partition: i32,
    /// The committed offset before (-1: none).
    previous: i64,
    offset: i64,
    /// The target was outside the log (before its start or past its end) and was moved to the
    /// nearest end, as kafka-consumer-groups does (with a warning).
    clamped: bool,
}

/// Resets a group's committed offsets, as `kafka-consumer-groups --reset-offsets` does: only
/// while the group has no active member (its consumers would overwrite them), each target
/// within the partition's log start and high watermark.
async fn reset_offsets(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(group): axum::extract::Path<String>,
    Json(r): Json<OffsetReset>,
) -> ApiResult<impl IntoResponse> {
    use crate::plugins::http::ApiError;
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let view = b.groups.describe(&group);
    if let Some(v) = &view
        && !v.members.is_empty()
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "group '{group}' has {} active member(s): stop its consumers first (offsets can only be reset on an inactive group)",
                v.members.len()
            ),
        ));
    }
    let committed: std::collections::BTreeMap<(String, i32), i64> = view
        .map(|v| v.offsets.into_iter().collect())
        .unwrap_or_default();
    let mut targets: Vec<(String, i32)> = Vec::new();
    for topic in &r.topics {
        let partitions = b
            .metadata
            .read(|s| s.topic(topic).map(|t| t.partitions.len() as i32))
            .ok_or_else(|| {
                ApiError(
                    StatusCode::NOT_FOUND,
                    format!("topic '{topic}' does not exist"),
                )
            })?;
        targets.extend((0..partitions).map(|p| (topic.clone(), p)));
    }
    if r.topics.is_empty() {
        // Partitions of topics deleted since the commit are left alone.
        targets = b.metadata.read(|s| {
            committed
                .keys()
                .filter(|(t, p)| {
                    s.topic(t)
                        .is_some_and(|t| (*p as usize) < t.partitions.len())
                })
                .cloned()
                .collect()
        });
    }
    if targets.is_empty() {
        return Err(bad(format!(
            "group '{group}' has no committed offsets: name the topics to reset"
        )));
    }
    let value = || {
        r.value
            .ok_or_else(|| bad(format!("'{}' needs a value", r.to)))
    };
    let mut plan = Vec::new();
    for (topic, partition) in &targets {
        let partition = *partition;
        let part = b.partition(topic, partition).ok_or_else(|| {
            bad(format!(
                "partition {topic}-{partition} is not hosted on this broker: ask its leader"
            ))
        })?;
        let (start, end) = (part.log.log_start_offset(), part.log.high_watermark());
        let previous = committed
            .get(&(topic.clone(), partition))
            .copied()
            .unwrap_or(-1);
        let target = match r.to.as_str() {
            "earliest" => start,
            "latest" => end,
            "offset" => value()?,
            "timestamp" => part
                .log
                .offset_for_timestamp(value()?)
                .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_or(end, |(offset, _)| offset),
            "shift" => (if previous >= 0 { previous } else { end }).saturating_add(value()?),
            other => {
                return Err(bad(format!(
                    "unknown reset '{other}': earliest, latest, offset, timestamp or shift"
                )));
            }
        };
        let offset = target.clamp(start, end);
        plan.push(OffsetResetView {
            topic: topic.clone(),
            partition,
            previous,
            offset,
            clamped: offset != target,
        });
    }
    if !r.dry_run {
        let now = crate::broker::now_ms();
        let entries = plan
            .iter()
            .map(|p| {
                (
                    (p.topic.clone(), p.partition),
                    crate::group::Committed {
                        offset: p.offset,
                        leader_epoch: -1,
                        metadata: None,
                        commit_ms: now,
                    },
                )
            })
            .collect();
        let failed = |code: i16| {
            ApiError(
                StatusCode::CONFLICT,
                format!(
                    "the group coordinator refused the offsets: {}",
                    weir_protocol::kafka::ResponseError::try_from_code(code)
                        .map_or(format!("error {code}"), |e| format!("{e:?}"))
                ),
            )
        };
        let (results, durable) = b
            .groups
            .commit(&group, -1, "", None, entries, |_, _| true)
            .map_err(failed)?;
        if let Some(code) = results.iter().map(|(_, c)| *c).find(|c| *c != 0) {
            return Err(failed(code));
        }
        if let Some(d) = durable {
            b.await_high_watermark(
                &d.partition,
                d.end,
                d.epoch,
                std::time::Duration::from_secs(5),
            )
            .await
            .map_err(failed)?;
        }
    }
    Ok(Json(plan))
}

/// The web console: one page that reads the JSON API above (topics, groups and their lag, the
/// cluster, plugins, pipelines) and refreshes itself.
async fn console() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("console.html"),
    )
}

/// Unknown paths get a JSON error like every other failure of the API.
async fn not_found(uri: axum::http::Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": format!("no such endpoint: {}", uri.path()) })),
    )
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
    b.metrics.group_lag.clear();
    for g in group_views(&b) {
        for p in g.partitions {
            let labels = GroupPartitionLabel {
                group: g.group.clone(),
                topic: p.topic,
                partition: p.partition.to_string(),
            };
            b.metrics.group_lag.get_or_create(&labels).set(p.lag);
        }
    }
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

/// Brokers, and the controller quorum as this node sees it.
async fn cluster(State(b): State<Arc<Broker>>) -> Json<serde_json::Value> {
    let state = b.metadata.snapshot();
    let brokers: Vec<_> = state
        .brokers
        .values()
        .map(|x| {
            serde_json::json!({
                "node_id": x.node_id, "host": x.host, "port": x.port, "rack": x.rack,
                "fenced": x.fenced,
            })
        })
        .collect();
    let controller = match b.metadata.quorum_status() {
        Some(q) => serde_json::json!({
            "mode": "quorum",
            "node_id": q.node_id,
            "state": q.state,
            "leader": q.leader,
            "term": q.term,
            "last_applied": q.last_applied,
            "voters": q.voters,
            "learners": b.metadata.learners(),
        }),
        None => serde_json::json!({ "mode": "single-node", "leader": b.config.node_id }),
    };
    // Under-replicated: fewer in-sync replicas than assigned. Offline: no leader at all.
    let mut under_replicated = Vec::new();
    let mut offline = Vec::new();
    let mut leaders = serde_json::Map::new();
    for t in state.topics.values() {
        for p in &t.partitions {
            let view = serde_json::json!({
                "topic": t.name, "partition": p.partition, "leader": p.leader,
                "leader_epoch": p.leader_epoch, "replicas": p.replicas, "isr": p.isr,
            });
            if p.leader < 0 {
                offline.push(view);
            } else if p.isr.len() < p.replicas.len() {
                under_replicated.push(view);
            }
            let n = leaders.entry(p.leader.to_string()).or_insert(0.into());
            *n = (n.as_u64().unwrap_or(0) + 1).into();
        }
    }
    Json(serde_json::json!({
        "cluster_id": b.metadata.cluster_id(),
        "node_id": b.config.node_id,
        "brokers": brokers,
        "controller": controller,
        "partitions_led_by_broker": leaders,
        "under_replicated_partitions": under_replicated,
        "offline_partitions": offline,
    }))
}

/// `GET /v1/users`: every SASL user, where it comes from and its SCRAM credentials (never
/// the credentials themselves).
async fn users(State(b): State<Arc<Broker>>) -> Json<serde_json::Value> {
    let users: Vec<serde_json::Value> = crate::handlers::scram::all_users(&b)
        .into_iter()
        .map(|(name, view)| {
            let credentials: Vec<serde_json::Value> = view
                .credentials
                .iter()
                .map(|(m, i)| serde_json::json!({ "mechanism": m, "iterations": i }))
                .collect();
            serde_json::json!({ "name": name, "source": view.source, "credentials": credentials })
        })
        .collect();
    Json(serde_json::json!({ "users": users }))
}

/// `PUT /v1/users/{user}`: what `weir user set` sends.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetUser {
    password: String,
    /// Default: both SCRAM mechanisms.
    #[serde(default)]
    mechanisms: Vec<String>,
    #[serde(default)]
    iterations: Option<u32>,
}

/// Creates a user, or changes its password, with a SCRAM credential per mechanism (a fresh
/// random salt each), like AlterUserScramCredentials.
async fn set_user(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(user): axum::extract::Path<String>,
    Json(req): Json<SetUser>,
) -> ApiResult<impl IntoResponse> {
    use crate::auth::scram::{self, DEFAULT_ITERATIONS, Hash};
    use crate::plugins::http::ApiError;
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    if !b.config.sasl_anywhere() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "no listener uses SASL, so users would not be used: start the broker with a \
             SASL_PLAINTEXT or SASL_SSL listener first"
                .into(),
        ));
    }
    crate::handlers::scram::check_not_file_user(&b, &user).map_err(bad)?;
    if req.password.is_empty() {
        return Err(bad("the password must not be empty".into()));
    }
    let names = if req.mechanisms.is_empty() {
        weir_metadata::SCRAM_MECHANISMS.map(String::from).to_vec()
    } else {
        req.mechanisms
    };
    let mut hashes = Vec::new();
    for name in &names {
        let hash = match crate::auth::Mechanism::from_name(&name.to_ascii_uppercase()) {
            Some(m) => Hash::of(m),
            None => None,
        }
        .ok_or_else(|| {
            bad(format!(
                "unknown SCRAM mechanism '{name}': use SCRAM-SHA-256 or SCRAM-SHA-512"
            ))
        })?;
        if !hashes.contains(&hash) {
            hashes.push(hash);
        }
    }
    let iterations = req.iterations.unwrap_or(DEFAULT_ITERATIONS);
    // Bounds first: a huge count would tie up a thread in PBKDF2.
    if !(weir_metadata::SCRAM_MIN_ITERATIONS..=weir_metadata::SCRAM_MAX_ITERATIONS)
        .contains(&iterations)
    {
        return Err(bad(format!(
            "iterations must be {}-{}",
            weir_metadata::SCRAM_MIN_ITERATIONS,
            weir_metadata::SCRAM_MAX_ITERATIONS
        )));
    }
    let password = req.password;
    let who = user.clone();
    let changes = blocking(move || {
        hashes
            .into_iter()
            .map(|hash| {
                Ok(weir_metadata::ScramChange {
                    user: who.clone(),
                    mechanism: hash.mechanism().name().to_string(),
                    credential: Some(scram::derive(hash, &password, iterations)?),
                })
            })
            .collect::<crate::Result<Vec<_>>>()
    })
    .await?;
    for c in &changes {
        weir_metadata::validate_scram_change(&c.user, &c.mechanism, c.credential.as_ref())
            .map_err(|e| bad(e.to_string()))?;
    }
    let broker = b.clone();
    blocking(move || Ok(crate::handlers::scram::apply(&broker, changes)?)).await?;
    Ok(Json(
        serde_json::json!({ "user": user, "mechanisms": names }),
    ))
}

/// `DELETE /v1/users/{user}`: removes every SCRAM credential the user was given through the
/// API; it can no longer log in.
async fn delete_user(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(user): axum::extract::Path<String>,
) -> ApiResult<impl IntoResponse> {
    use crate::plugins::http::ApiError;
    crate::handlers::scram::check_not_file_user(&b, &user)
        .map_err(|m| ApiError(StatusCode::BAD_REQUEST, m))?;
    let mechanisms: Vec<String> = b.metadata.read(|s| {
        s.scram_credentials
            .get(&user)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    });
    if mechanisms.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("user '{user}' does not exist"),
        ));
    }
    let changes = mechanisms
        .into_iter()
        .map(|mechanism| weir_metadata::ScramChange {
            user: user.clone(),
            mechanism,
            credential: None,
        })
        .collect();
    blocking(move || Ok(crate::handlers::scram::apply(&b, changes)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/cluster/brokers/{id}`: removes a stopped broker that holds no replicas.
async fn remove_broker(
    State(b): State<Arc<Broker>>,
    axum::extract::Path(id): axum::extract::Path<i32>,
) -> (StatusCode, Json<serde_json::Value>) {
    let outcome = tokio::task::spawn_blocking(move || b.remove_broker(id)).await;
    match outcome {
        Ok(Ok(())) => (StatusCode::OK, Json(serde_json::json!({ "removed": id }))),
        Ok(Err(e)) => (
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": e.to_string() })),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e.to_string() })),
        ),
    }
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

#[derive(Serialize)]
struct GroupPartitionView {
    topic: String,
    partition: i32,
    committed_offset: i64,
    log_end_offset: i64,
    lag: i64,
}

#[derive(Serialize)]
struct GroupLagView {
    group: String,
    state: &'static str,
    protocol: String,
    generation: i32,
    members: usize,
    total_lag: i64,
    partitions: Vec<GroupPartitionView>,
}

/// Every group with its committed offsets against the log end (what kafka-consumer-groups
/// --describe prints): lag = high watermark - committed.
fn group_views(b: &Broker) -> Vec<GroupLagView> {
    b.groups
        .list()
        .into_iter()
        .filter_map(|(id, ..)| b.groups.describe(&id))
        .map(|v| {
            let partitions: Vec<GroupPartitionView> = v
                .offsets
                .iter()
                .map(|((topic, partition), committed)| {
                    let end = b
                        .partition(topic, *partition)
                        .map_or(-1, |p| p.log.high_watermark());
                    GroupPartitionView {
                        topic: topic.clone(),
                        partition: *partition,
                        committed_offset: *committed,
                        log_end_offset: end,
                        lag: if end >= 0 {
                            (end - committed).max(0)
                        } else {
                            0
                        },
                    }
                })
                .collect();
            GroupLagView {
                group: v.group_id,
                state: v.state.name(),
                protocol: v.protocol,
                generation: v.generation,
                members: v.members.len(),
                total_lag: partitions.iter().map(|p| p.lag).sum(),
                partitions,
            }
        })
        .collect()
}

async fn groups(State(b): State<Arc<Broker>>) -> Json<Vec<GroupLagView>> {
    Json(group_views(&b))
}
