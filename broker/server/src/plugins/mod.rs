//! WebAssembly plugins on topics: the registry of deployed plugins, pools of live instances,
//! per-plugin health and logs, and the chain that runs a topic's plugins over a batch.
//!
//! - `blobs.rs`: plugin binaries, durable in an internal log.
//! - `records.rs`: Kafka batches to plugin records and back.
//! - `chain.rs`: one batch through a topic's plugins, giving what to append, reject, route and
//!   dead-letter.
//! - `dlq.rs`: dead-letter records, their inspection and replay.
//! - `pipeline.rs`: asynchronous topic-to-topic pipelines.

pub(crate) mod admin;
mod blobs;

pub(crate) use blobs::NAME as BLOB_LOG;
pub(crate) mod chain;
pub(crate) mod dlq;
pub(crate) mod http;
pub(crate) mod pipeline;
pub(crate) mod records;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use weir_metadata::{ClusterState, PluginMeta, TopicMeta, topic_config};
use weir_wasm::{Instance, KafkaRecord, Level, Limits, Module, Outcomes, RawBatch, Runtime};

use blobs::BlobStore;
pub(crate) use blobs::MAX_PLUGIN_BYTES;
use sha2::Digest as _;

use crate::broker::now_ms;
use crate::metrics::{PluginErrorLabel, PluginLabel, PluginOutcomeLabel, PluginTopicLabel};
use crate::{Error, Result};

/// Consecutive failures after which a plugin is marked failed.
pub(crate) const FAIL_AFTER: u32 = 10;
/// How long a failed plugin rests before it is tried again.
pub(crate) const RETRY_FAILED_AFTER: Duration = Duration::from_secs(30);
/// Lines of plugin log kept per plugin.
const LOG_LINES: usize = 1000;
/// Idle instances kept per plugin binary and configuration.
const POOL_SIZE: usize = 8;

/// One plugin of a chain, resolved against the metadata: which binary, with which
/// configuration and limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) sha256: String,
    pub(crate) config: Vec<(String, String)>,
    pub(crate) limits: Limits,
}

impl Step {
    /// `meta` with its deploy-time config overridden by the topic's `weir.plugin.<name>.<key>`.
    pub(crate) fn resolve(meta: &PluginMeta, topic: Option<&TopicMeta>) -> Step {
        let mut config: BTreeMap<String, String> = meta.config.clone();
        if let Some(t) = topic {
            let prefix = format!("{}{}.", topic_config::WEIR_PLUGIN_PREFIX, meta.name);
            for (k, v) in &t.configs {
                if let Some(key) = k.strip_prefix(&prefix) {
                    config.insert(key.to_string(), v.clone());
                }
            }
        }
        Step {
            name: meta.name.clone(),
            version: meta.version.clone(),
            sha256: meta.sha256.clone(),
            config: config.into_iter().collect(),
            limits: Limits {
                memory_bytes: meta.memory_bytes as usize,
                timeout: Duration::from_millis(meta.timeout_ms),
            },
        }
    }
}

/// What a topic does with its records' plugin outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicPlugins {
    pub(crate) steps: Vec<Step>,
    /// `weir.plugins.reject.policy=dead-letter`.
    pub(crate) reject_to_dlq: bool,
    pub(crate) failure: FailurePolicy,
    pub(crate) dlq_topic: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailurePolicy {
    Fail,
    DeadLetter,
    Pass,
}

/// The plugin chain of `topic`, or `None` when it has no plugins.
pub(crate) fn topic_plugins(state: &ClusterState, topic: &str) -> Option<TopicPlugins> {
    let t = state.topic(topic)?;
    let chain = t.plugin_chain();
    if chain.is_empty() {
        return None;
    }
    let steps = chain
        .iter()
        .filter_map(|name| state.plugins.get(name))
        .map(|meta| Step::resolve(meta, Some(t)))
        .collect();
    let get = |k: &str| t.configs.get(k).map(String::as_str);
    Some(TopicPlugins {
        steps,
        reject_to_dlq: get(topic_config::WEIR_PLUGINS_REJECT_POLICY) == Some("dead-letter"),
        failure: match get(topic_config::WEIR_PLUGINS_FAILURE_POLICY) {
            Some("dead-letter") => FailurePolicy::DeadLetter,
            Some("pass") => FailurePolicy::Pass,
            _ => FailurePolicy::Fail,
        },
        dlq_topic: dlq_topic_for(t),
    })
}

pub(crate) fn dlq_topic_for(t: &TopicMeta) -> String {
    match t.configs.get(topic_config::WEIR_DLQ_TOPIC) {
        Some(d) if !d.is_empty() => d.clone(),
        _ => format!("{}.dlq", t.name),
    }
}

#[derive(Debug, Default, Clone)]
struct Health {
    sha256: String,
    consecutive_failures: u32,
    failed_since: Option<i64>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    failures_total: u64,
}

/// A plugin's health as the HTTP API and CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginHealth {
    /// `ok`, `failing` (recent failures) or `failed` (marked failed, retried every 30 s).
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub failures_total: u64,
    pub failed_since_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub timestamp_ms: i64,
    pub level: &'static str,
    pub message: String,
}

type ModuleCell = Arc<OnceLock<std::result::Result<Module, String>>>;

/// The plugin host of one broker.
pub(crate) struct Plugins {
    runtime: Runtime,
    blobs: BlobStore,
    /// Compiled plugins by SHA-256, compiled once on first use.
    modules: Mutex<HashMap<String, ModuleCell>>,
    /// Idle instances by binary and configuration.
    pools: Mutex<HashMap<Step, Vec<Instance>>>,
    health: Mutex<HashMap<String, Health>>,
    logs: Arc<Mutex<HashMap<String, VecDeque<LogLine>>>>,
    metrics: Arc<crate::metrics::PluginMetrics>,
    /// In a cluster: fetches a binary this broker lacks (deployed through another broker)
    /// from its peers.
    peers: OnceLock<BlobSource>,
}

/// Fetches the binary with a SHA-256 from elsewhere (the cluster's other brokers).
pub(crate) type BlobSource = Box<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

impl Plugins {
    /// Where binaries missing here come from (set once, in a cluster).
    pub(crate) fn set_peer_source(&self, source: BlobSource) {
        let _ = self.peers.set(source);
    }

    /// The stored binary, or one fetched from a peer (checked against its SHA-256 and stored).
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        if let Some(b) = self.blobs.get(sha256)? {
            return Ok(Some(b));
        }
        let Some(fetched) = self.peers.get().and_then(|src| src(sha256)) else {
            return Ok(None);
        };
        let actual = hex::encode(sha2::Sha256::digest(&fetched));
        if actual != sha256 {
            return Err(Error::Plugin(format!(
                "a peer sent a binary with SHA-256 {actual}, not {sha256}"
            )));
        }
        self.blobs.put(sha256, &fetched)?;
        tracing::info!(
            sha256,
            bytes = fetched.len(),
            "plugin binary fetched from a peer broker"
        );
        Ok(Some(fetched))
    }

    pub(crate) fn open(
        data_dir: &Path,
        clean: bool,
        metrics: Arc<crate::metrics::PluginMetrics>,
    ) -> Result<Plugins> {
        let runtime = Runtime::new(Some(data_dir.join("plugin-cache")))
            .map_err(|e| Error::Plugin(e.to_string()))?;
        Ok(Plugins {
            runtime,
            blobs: BlobStore::open(data_dir, clean)?,
            modules: Mutex::new(HashMap::new()),
            pools: Mutex::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
            logs: Arc::new(Mutex::new(HashMap::new())),
            metrics,
            peers: OnceLock::new(),
        })
    }

    /// Compiles `wasm`, checks it implements the plugin world, and stores it durably. Returns
    /// its SHA-256. Blocking: call from a blocking thread.
    pub(crate) fn store(&self, wasm: &[u8]) -> Result<String> {
        let module = self
            .runtime
            .compile(wasm)
            .map_err(|e| Error::Plugin(e.to_string()))?;
        let sha = module.sha256().to_string();
        self.blobs.put(&sha, wasm)?;
        let cell: ModuleCell = Arc::new(OnceLock::new());
        let _ = cell.set(Ok(module));
        self.modules.lock().insert(sha.clone(), cell);
        Ok(sha)
    }

    /// The binary stored under `sha256`, for download.
    pub(crate) fn binary(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.blobs.get(sha256)
    }

    /// Compiles (or loads from the cache) the plugins `state` names, so the first batch does not
    /// wait for it. Blocking.
    pub(crate) fn warm(&self, state: &ClusterState) {
        for p in state.plugins.values() {
            if let Err(e) = self.module(&p.sha256) {
                tracing::error!(plugin = %p.name, version = %p.version, error = %e, "plugin unusable");
            }
        }
    }

    fn module(&self, sha256: &str) -> std::result::Result<Module, String> {
        let cell = self
            .modules
            .lock()
            .entry(sha256.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            let wasm = self
                .blob(sha256)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("plugin binary {sha256} is missing from the store"))?;
            self.runtime.compile(&wasm).map_err(|e| e.to_string())
        })
        .clone()
    }

    /// Forgets idle instances of binaries other than the deployed ones (after a new version or
    /// a removal), and the health of removed plugins.
    pub(crate) fn retain(&self, state: &ClusterState) {
        self.pools.lock().retain(|step, _| {
            state
                .plugins
                .get(&step.name)
                .is_some_and(|p| p.sha256 == step.sha256)
        });
        self.health
            .lock()
            .retain(|name, _| state.plugins.contains_key(name));
    }

    fn log_sink(&self, plugin: &str) -> weir_wasm::LogSink {
        let logs = self.logs.clone();
        let plugin = plugin.to_string();
        Arc::new(move |level: Level, message: &str| {
            push_log(&logs, &plugin, level, message.to_string());
        })
    }

    pub(crate) fn note_host(&self, plugin: &str, level: Level, message: String) {
        push_log(&self.logs, plugin, level, message);
    }

    /// The last `limit` log lines of `plugin`.
    pub(crate) fn logs(&self, plugin: &str, limit: usize) -> Vec<LogLine> {
        self.logs.lock().get(plugin).map_or_else(Vec::new, |l| {
            l.iter()
                .skip(l.len().saturating_sub(limit))
                .cloned()
                .collect()
        })
    }

    pub(crate) fn health(&self, plugin: &str) -> PluginHealth {
        let h = self.health.lock().get(plugin).cloned().unwrap_or_default();
        PluginHealth {
            state: if h.failed_since.is_some() {
                "failed"
            } else if h.consecutive_failures > 0 {
                "failing"
            } else {
                "ok"
            },
            consecutive_failures: h.consecutive_failures,
            failures_total: h.failures_total,
            failed_since_ms: h.failed_since,
            last_error: h.last_error,
        }
    }

    /// The ABI version of the stored component `sha256`, compiling it if need be.
    pub(crate) fn abi_version(&self, sha256: &str) -> Option<&'static str> {
        self.module(sha256).ok().map(|m| m.abi_version())
    }

    /// Whether `step`'s plugin takes raw batches (ABI 0.2.0).
    pub(crate) fn takes_raw(&self, step: &Step) -> bool {
        self.module(&step.sha256)
            .is_ok_and(|m| m.takes_raw_batches())
    }

    /// Runs one plugin over a batch. Blocking. Failures are counted, logged, and reported as
    /// an error message.
    pub(crate) fn invoke(
        &self,
        topic: &str,
        step: &Step,
        records: Input<'_>,
    ) -> std::result::Result<Outcomes, String> {
        {
            let mut health = self.health.lock();
            let h = health.entry(step.name.clone()).or_default();
            if h.sha256 != step.sha256 {
                // A new version starts with a clean slate.
                *h = Health {
                    sha256: step.sha256.clone(),
                    ..Health::default()
                };
            }
            if h.failed_since.is_some()
                && h.last_attempt
                    .is_some_and(|t| t.elapsed() < RETRY_FAILED_AFTER)
            {
                return Err(format!(
                    "plugin '{}' is marked failed after {} consecutive failures (last: {})",
                    step.name,
                    h.consecutive_failures,
                    h.last_error.as_deref().unwrap_or("unknown")
                ));
            }
            h.last_attempt = Some(Instant::now());
        }
        let label = PluginTopicLabel {
            plugin: step.name.clone(),
            topic: topic.to_string(),
        };
        self.metrics.invocations.get_or_create(&label).inc();
        let started = Instant::now();
        let result = self.call(step, records);
        self.metrics
            .latency
            .get_or_create(&PluginLabel {
                plugin: step.name.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        let mut health = self.health.lock();
        let h = health.entry(step.name.clone()).or_default();
        match result {
            Ok(outcomes) => {
                if h.failed_since.is_some() {
                    tracing::info!(plugin = %step.name, "plugin recovered");
                }
                h.consecutive_failures = 0;
                h.failed_since = None;
                self.metrics
                    .failed
                    .get_or_create(&PluginLabel {
                        plugin: step.name.clone(),
                    })
                    .set(0);
                Ok(outcomes)
            }
            Err(e) => {
                self.metrics
                    .errors
                    .get_or_create(&PluginErrorLabel {
                        plugin: step.name.clone(),
                        topic: topic.to_string(),
                        kind: e.kind().to_string(),
                    })
                    .inc();
                let msg = format!("plugin '{}' {} failed: {e}", step.name, step.version);
                h.consecutive_failures += 1;
                h.failures_total += 1;
                h.last_error = Some(e.to_string());
                if h.consecutive_failures >= FAIL_AFTER && h.failed_since.is_none() {
                    h.failed_since = Some(now_ms());
                    self.metrics
                        .failed
                        .get_or_create(&PluginLabel {
                            plugin: step.name.clone(),
                        })
                        .set(1);
                    tracing::error!(plugin = %step.name, failures = h.consecutive_failures, "plugin marked failed");
                }
                drop(health);
                tracing::warn!(plugin = %step.name, topic, error = %e, "plugin failure");
                self.note_host(&step.name, Level::Error, format!("[{topic}] {msg}"));
                Err(msg)
            }
        }
    }

    fn call(
        &self,
        step: &Step,
        records: Input<'_>,
    ) -> std::result::Result<Outcomes, weir_wasm::Error> {
        let pooled = self.pools.lock().get_mut(step).and_then(Vec::pop);
        let mut instance = match pooled {
            Some(i) => i,
            None => {
                let module = self
                    .module(&step.sha256)
                    .map_err(weir_wasm::Error::Invalid)?;
                module.instantiate(&step.config, step.limits, self.log_sink(&step.name))?
            }
        };
        let outcomes = match records {
            Input::Records(records) => instance.process(records)?,
            Input::Raw(raw) => instance.process_raw(raw)?,
        };
        // An instance whose memory grew past half its cap is dropped rather than reused, so a
        // leaking guest starts fresh instead of running into its limit.
        if instance.memory_bytes() <= step.limits.memory_bytes / 2 {
            let mut pools = self.pools.lock();
            let pool = pools.entry(step.clone()).or_default();
            if pool.len() < POOL_SIZE {
                pool.push(instance);
            }
        }
        Ok(outcomes)
    }

    /// Counts one step's outcomes.
    pub(crate) fn count(&self, topic: &str, plugin: &str, outcome: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        self.metrics
            .records
            .get_or_create(&PluginOutcomeLabel {
                plugin: plugin.to_string(),
                topic: topic.to_string(),
                outcome: outcome.to_string(),
            })
            .inc_by(n as u64);
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.blobs.close()
    }
}

/// A batch for one plugin: decoded records, or (ABI 0.2.0 plugins) the batch's records region.
#[derive(Clone, Copy)]
pub(crate) enum Input<'a> {
    Records(&'a [KafkaRecord]),
    Raw(&'a RawBatch<'a>),
}

fn push_log(
    logs: &Mutex<HashMap<String, VecDeque<LogLine>>>,
    plugin: &str,
    level: Level,
    message: String,
) {
    let level = match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    tracing::debug!(plugin, level, "{message}");
    let mut logs = logs.lock();
    let lines = logs.entry(plugin.to_string()).or_default();
    if lines.len() >= LOG_LINES {
        lines.pop_front();
    }
    lines.push_back(LogLine {
        timestamp_ms: now_ms(),
        level,
        message,
    });
}
