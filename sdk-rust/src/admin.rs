//! [`Admin`]: topics and consumer groups over the Kafka protocol, plus Weir's own plugins
//! and dead letters over its HTTP admin API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::{Body, Http, enc};
use crate::reader::PartitionLag;

#[derive(Clone, Debug)]
pub struct AdminConfig {
    pub brokers: String,
    /// Weir's HTTP admin API; defaults to the first broker's host on port 9644.
    pub admin_url: Option<String>,
    /// Deadline of each request.
    pub timeout: Duration,
    pub client_id: Option<String>,
    pub extra: crate::Properties,
}

impl AdminConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        AdminConfig {
            brokers: brokers.into(),
            admin_url: None,
            timeout: Duration::from_secs(30),
            client_id: None,
            extra: crate::Properties::default(),
        }
    }
}

/// A topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// -1 for the broker's default.
    pub replication_factor: i32,
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
        }
    }

    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(key.into(), value.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    /// Every config with its effective value (defaults included).
    pub configs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Partitions the member holds, decoded from the consumer protocol's assignment.
    pub assignment: Vec<(String, i32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupInfo {
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

/// Where [`Admin::reset_offsets`] moves a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    /// An absolute offset, clamped to what the partition holds.
    Offset(i64),
    /// The first record at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// A deployed plugin as Weir reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub config: BTreeMap<String, String>,
    pub memory_bytes: u64,
    pub timeout_ms: u64,
    pub deployed_at_ms: i64,
    pub health: Option<PluginHealth>,
    pub topics: Vec<String>,
    pub pipelines: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginHealth {
    /// `ok`, `failing` or `failed`.
    pub state: String,
    pub consecutive_failures: u32,
    pub failures_total: u64,
    pub last_error: Option<String>,
}

/// Options of [`Admin::deploy_plugin`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginOptions {
    /// Required by the broker; defaults to "1".
    pub version: Option<String>,
    pub memory_mb: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// Passed to the plugin's `init`.
    pub config: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginLogLine {
    pub timestamp_ms: i64,
    pub level: String,
    pub message: String,
}

/// A record of a dead-letter topic with the reason it is there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
    pub reason: Option<String>,
    pub plugin: Option<String>,
    pub source_topic: Option<String>,
    pub source_partition: Option<i32>,
    pub source_offset: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayReport {
    pub replayed: u64,
    pub appended: u64,
    pub dead_lettered_again: u64,
    pub rejected: u64,
    pub routed: u64,
    pub skipped: u64,
}

/// Cluster administration. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    admin: AdminClient<DefaultClientContext>,
    config: AdminConfig,
    http: Http,
}

impl Admin {
    pub fn new(config: AdminConfig) -> Result<Admin> {
        if config.brokers.trim().is_empty() {
            return Err(Error::Config("brokers is empty".into()));
        }
        let admin = client_config(&config, None)
            .create()
            .map_err(|e| Error::Config(e.to_string()))?;
        let http = Http::new(
            config.admin_url.as_deref(),
            &config.brokers,
            config.timeout,
            crate::http::basic_auth(&config.extra),
        );
        Ok(Admin {
            inner: Arc::new(Inner {
                admin,
                config,
                http,
            }),
        })
    }

    /// The HTTP admin API this client talks to.
    pub fn admin_url(&self) -> &str {
        self.inner.http.base()
    }

    fn opts(&self) -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(self.inner.config.timeout))
    }

    // ---- topics ------------------------------------------------------------------------

    pub async fn create_topic(&self, spec: &TopicSpec) -> Result<()> {
        let repl = TopicReplication::Fixed(spec.replication_factor);
        let mut t = NewTopic::new(&spec.name, spec.partitions, repl);
        for (k, v) in &spec.configs {
            t = t.set(k, v);
        }
        let res = self.inner.admin.create_topics([&t], &self.opts()).await?;
        for r in res {
            r.map_err(|(name, code)| topic_error(&name, code, "create"))?;
        }
        Ok(())
    }

    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let res = self
            .inner
            .admin
            .delete_topics(&[name], &self.opts())
            .await?;
        for r in res {
            r.map_err(|(name, code)| topic_error(&name, code, "delete"))?;
        }
        Ok(())
    }

    /// Grows `name` to `total` partitions.
    pub async fn create_partitions(&self, name: &str, total: usize) -> Result<()> {
        let np = NewPartitions::new(name, total);
        let res = self
            .inner
            .admin
            .create_partitions([&np], &self.opts())
            .await?;
        for r in res {
            r.map_err(|(name, code)| topic_error(&name, code, "add partitions to"))?;
        }
        Ok(())
    }

    /// Topic names, internal (`__`) topics left out.
    pub async fn list_topics(&self) -> Result<Vec<String>> {
        let md = self.metadata(None).await?;
        let mut names: Vec<String> = md
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| !t.starts_with("__"))
            .collect();
        names.sort();
        Ok(names)
    }

    pub async fn describe_topic(&self, name: &str) -> Result<TopicInfo> {
        let md = self.metadata(Some(name.to_string())).await?;
        let (_, partitions) = md
            .into_iter()
            .find(|(t, _)| t == name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))?;
        let res = self
            .inner
            .admin
            .describe_configs([&ResourceSpecifier::Topic(name)], &self.opts())
            .await?;
        let mut configs = BTreeMap::new();
        for r in res {
            let r = r.map_err(|code| topic_error(name, code, "describe"))?;
            for e in r.entries {
                if let Some(v) = e.value {
                    configs.insert(e.name, v);
                }
            }
        }
        Ok(TopicInfo {
            name: name.to_string(),
            partitions,
            configs,
        })
    }

    /// Sets and deletes topic configs incrementally (other overrides stay).
    pub async fn alter_topic_configs(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<()> {
        let body = json!({ "set": set, "delete": delete });
        let _: serde_json::Value = self
            .inner
            .http
            .call(
                "PUT",
                format!("/v1/topics/{}/configs", enc(name)),
                Body::Json(body),
            )
            .await
            .map_err(|e| not_found_as_topic(e, name))?;
        Ok(())
    }

    async fn metadata(&self, topic: Option<String>) -> Result<Vec<(String, Vec<PartitionInfo>)>> {
        let inner = self.inner.clone();
        let what = topic.clone().unwrap_or_default();
        let md = blocking(move || {
            inner
                .admin
                .inner()
                .fetch_metadata(topic.as_deref(), inner.config.timeout)
        })
        .await?
        .map_err(|e| Error::from_kafka(e, &what))?;
        let mut out = Vec::new();
        for t in md.topics() {
            if let Some(e) = t.error() {
                let code = RDKafkaErrorCode::from(e);
                if code == RDKafkaErrorCode::UnknownTopicOrPartition {
                    continue;
                }
                return Err(topic_error(t.name(), code, "describe"));
            }
            let parts = t
                .partitions()
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                })
                .collect();
            out.push((t.name().to_string(), parts));
        }
        Ok(out)
    }

    // ---- consumer groups ---------------------------------------------------------------

    pub async fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        self.groups(None).await
    }

    /// One group; a group the broker does not know comes back with state `Dead`.
    pub async fn describe_group(&self, group: &str) -> Result<GroupInfo> {
        let mut gs = self.groups(Some(group.to_string())).await?;
        Ok(gs.pop().unwrap_or(GroupInfo {
            group_id: group.to_string(),
            state: "Dead".into(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        }))
    }

    async fn groups(&self, group: Option<String>) -> Result<Vec<GroupInfo>> {
        let consumer = self.consumer(None)?;
        let timeout = self.inner.config.timeout;
        let mut out = blocking(move || {
            let list = consumer.fetch_group_list(group.as_deref(), timeout)?;
            Ok::<_, KafkaError>(
                list.groups()
                    .iter()
                    .map(|g| GroupInfo {
                        group_id: g.name().to_string(),
                        state: g.state().to_string(),
                        protocol_type: g.protocol_type().to_string(),
                        protocol: g.protocol().to_string(),
                        members: g
                            .members()
                            .iter()
                            .map(|m| GroupMember {
                                member_id: m.id().to_string(),
                                client_id: m.client_id().to_string(),
                                client_host: m.client_host().to_string(),
                                assignment: m
                                    .assignment()
                                    .map(decode_assignment)
                                    .unwrap_or_default(),
                            })
                            .collect(),
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .await??;
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// The group's committed offset and lag for every partition it has committed.
    pub async fn group_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let topics = self.metadata(None).await?;
        let consumer = self.consumer(Some(group))?;
        let timeout = self.inner.config.timeout;
        blocking(move || {
            let mut tpl = TopicPartitionList::new();
            for (t, parts) in &topics {
                for p in parts {
                    tpl.add_partition(t, p.partition);
                }
            }
            let committed = consumer.committed_offsets(tpl, timeout)?;
            let mut out = Vec::new();
            for e in committed.elements() {
                let Some(pos) = e.offset().to_raw().filter(|o| *o >= 0) else {
                    continue;
                };
                let (_, high) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
                out.push(PartitionLag {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    position: pos,
                    high_watermark: high,
                    lag: (high - pos).max(0),
                });
            }
            Ok::<_, KafkaError>(out)
        })
        .await?
        .map_err(Error::from)
    }

    /// Moves `group`'s committed offsets on every partition of `topic`. The group must have
    /// no live members. Returns the new offset of each partition.
    pub async fn reset_offsets(
        &self,
        group: &str,
        topic: &str,
        to: OffsetReset,
    ) -> Result<Vec<(i32, i64)>> {
        let g = self.describe_group(group).await?;
        if !g.members.is_empty() {
            return Err(Error::GroupNotEmpty(group.to_string()));
        }
        let partitions: Vec<i32> = self
            .describe_topic_partitions(topic)
            .await?
            .into_iter()
            .map(|p| p.partition)
            .collect();
        let consumer = self.consumer(Some(group))?;
        let timeout = self.inner.config.timeout;
        let t = topic.to_string();
        blocking(move || {
            let times = match to {
                OffsetReset::Timestamp(ms) => {
                    let mut q = TopicPartitionList::new();
                    for p in &partitions {
                        q.add_partition_offset(&t, *p, Offset::Offset(ms))?;
                    }
                    Some(consumer.offsets_for_times(q, timeout)?)
                }
                _ => None,
            };
            let mut tpl = TopicPartitionList::new();
            let mut out = Vec::new();
            for p in partitions {
                let (low, high) = consumer.fetch_watermarks(&t, p, timeout)?;
                let o = match to {
                    OffsetReset::Earliest => low,
                    OffsetReset::Latest => high,
                    OffsetReset::Offset(o) => o.clamp(low, high),
                    OffsetReset::Timestamp(_) => times
                        .as_ref()
                        .and_then(|l| l.find_partition(&t, p))
                        .and_then(|e| e.offset().to_raw())
                        .filter(|o| *o >= 0)
                        .unwrap_or(high),
                };
                tpl.add_partition_offset(&t, p, Offset::Offset(o))?;
                out.push((p, o));
            }
            consumer.commit(&tpl, CommitMode::Sync)?;
            Ok::<_, KafkaError>(out)
        })
        .await?
        .map_err(|e| Error::from_kafka(e, topic))
    }

    async fn describe_topic_partitions(&self, topic: &str) -> Result<Vec<PartitionInfo>> {
        self.metadata(Some(topic.to_string()))
            .await?
            .into_iter()
            .find(|(t, _)| t == topic)
            .map(|(_, p)| p)
            .ok_or_else(|| Error::UnknownTopic(topic.to_string()))
    }

    pub async fn delete_group(&self, group: &str) -> Result<()> {
        let res = self
            .inner
            .admin
            .delete_groups(&[group], &self.opts())
            .await?;
        for r in res {
            r.map_err(|(g, code)| match code {
                RDKafkaErrorCode::NonEmptyGroup => Error::GroupNotEmpty(g),
                code => Error::Kafka {
                    code: Some(code),
                    message: format!("cannot delete group '{g}': {code}"),
                },
            })?;
        }
        Ok(())
    }

    fn consumer(&self, group: Option<&str>) -> Result<Arc<BaseConsumer>> {
        let c: BaseConsumer = client_config(&self.inner.config, group)
            .create()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Arc::new(c))
    }

    // ---- plugins (Weir) ----------------------------------------------------------------

    /// Deploys (or upgrades) plugin `name` from a wasm component; the broker compiles and
    /// checks it before accepting it.
    pub async fn deploy_plugin(
        &self,
        name: &str,
        wasm: Vec<u8>,
        opts: &PluginOptions,
    ) -> Result<PluginInfo> {
        let mut q = format!("version={}", enc(opts.version.as_deref().unwrap_or("1")));
        if let Some(m) = opts.memory_mb {
            q.push_str(&format!("&memory_mb={m}"));
        }
        if let Some(t) = opts.timeout_ms {
            q.push_str(&format!("&timeout_ms={t}"));
        }
        for (k, v) in &opts.config {
            q.push_str(&format!("&config.{}={}", enc(k), enc(v)));
        }
        self.inner
            .http
            .call(
                "PUT",
                format!("/v1/plugins/{}?{q}", enc(name)),
                Body::Bytes(wasm),
            )
            .await
    }

    pub async fn list_plugins(&self) -> Result<Vec<PluginInfo>> {
        self.inner
            .http
            .call("GET", "/v1/plugins".into(), Body::None)
            .await
    }

    pub async fn describe_plugin(&self, name: &str) -> Result<PluginInfo> {
        self.inner
            .http
            .call("GET", format!("/v1/plugins/{}", enc(name)), Body::None)
            .await
    }

    /// Removes a plugin; refused while a topic or pipeline uses it.
    pub async fn remove_plugin(&self, name: &str) -> Result<()> {
        let _: serde_json::Value = self
            .inner
            .http
            .call("DELETE", format!("/v1/plugins/{}", enc(name)), Body::None)
            .await?;
        Ok(())
    }

    pub async fn plugin_logs(&self, name: &str, limit: usize) -> Result<Vec<PluginLogLine>> {
        self.inner
            .http
            .call(
                "GET",
                format!("/v1/plugins/{}/logs?limit={limit}", enc(name)),
                Body::None,
            )
            .await
    }

    /// Sets the chain of plugins run on `topic`'s produce path (`weir.plugins`); an empty
    /// list detaches them all.
    pub async fn set_topic_plugins(&self, topic: &str, plugins: &[&str]) -> Result<()> {
        if plugins.is_empty() {
            return self
                .alter_topic_configs(topic, &BTreeMap::new(), &["weir.plugins".into()])
                .await;
        }
        let set = BTreeMap::from([("weir.plugins".to_string(), plugins.join(","))]);
        self.alter_topic_configs(topic, &set, &[]).await
    }

    // ---- dead letters (Weir) -----------------------------------------------------------

    /// Dead letters of `dlq_topic` from `offset`, at most `limit`.
    pub async fn inspect_dead_letters(
        &self,
        dlq_topic: &str,
        offset: i64,
        limit: usize,
    ) -> Result<Vec<DeadLetter>> {
        self.inner
            .http
            .call(
                "GET",
                format!("/v1/dlq/{}?offset={offset}&limit={limit}", enc(dlq_topic)),
                Body::None,
            )
            .await
            .map_err(|e| not_found_as_topic(e, dlq_topic))
    }

    /// Sends dead letters back through their source topic's current plugins (or to `to`),
    /// from where the last replay stopped (or `from`).
    pub async fn replay_dead_letters(
        &self,
        dlq_topic: &str,
        to: Option<&str>,
        from: Option<i64>,
    ) -> Result<ReplayReport> {
        let mut q = Vec::new();
        if let Some(t) = to {
            q.push(format!("to={}", enc(t)));
        }
        if let Some(f) = from {
            q.push(format!("from={f}"));
        }
        let q = if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        };
        self.inner
            .http
            .call(
                "POST",
                format!("/v1/dlq/{}/replay{q}", enc(dlq_topic)),
                Body::None,
            )
            .await
            .map_err(|e| not_found_as_topic(e, dlq_topic))
    }
}

fn client_config(c: &AdminConfig, group: Option<&str>) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &c.brokers)
        .set(
            "client.id",
            c.client_id.as_deref().unwrap_or("weir-sdk-admin"),
        )
        .set("enable.auto.commit", "false")
        // Describing a topic must not create it (librdkafka's producer-side default does).
        .set("allow.auto.create.topics", "false");
    if let Some(g) = group {
        cfg.set("group.id", g);
    }
    for (k, v) in &c.extra {
        cfg.set(k, v);
    }
    cfg
}

fn topic_error(name: &str, code: RDKafkaErrorCode, what: &str) -> Error {
    match code {
        RDKafkaErrorCode::UnknownTopicOrPartition => Error::UnknownTopic(name.to_string()),
        RDKafkaErrorCode::TopicAuthorizationFailed => {
            Error::NotAuthorized(format!("cannot {what} topic '{name}'"))
        }
        code => Error::Kafka {
            code: Some(code),
            message: format!("cannot {what} topic '{name}': {code}"),
        },
    }
}

fn not_found_as_topic(e: Error, topic: &str) -> Error {
    match e {
        Error::Api { status: 404, .. } => Error::UnknownTopic(topic.to_string()),
        e => e,
    }
}

/// Decodes a consumer-protocol `ConsumerProtocolAssignment` (version, then topics with their
/// partitions); anything malformed yields what was read so far.
fn decode_assignment(b: &[u8]) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut r = b;
    let take = |r: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if r.len() < n {
            return None;
        }
        let (h, t) = r.split_at(n);
        *r = t;
        Some(h.to_vec())
    };
    let i16_ = |r: &mut &[u8]| take(r, 2).map(|v| i16::from_be_bytes([v[0], v[1]]));
    let i32_ = |r: &mut &[u8]| take(r, 4).map(|v| i32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    let _version = i16_(&mut r);
    let Some(topics) = i32_(&mut r) else {
        return out;
    };
    for _ in 0..topics.max(0) {
        let Some(len) = i16_(&mut r) else { break };
        let Some(name) = take(&mut r, len.max(0) as usize) else {
            break;
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some(n) = i32_(&mut r) else { break };
        for _ in 0..n.max(0) {
            let Some(p) = i32_(&mut r) else { return out };
            out.push((name.clone(), p));
        }
    }
    out
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::Closed)
}

#[cfg(test)]
mod tests {
    use super::decode_assignment;

    #[test]
    fn assignment_decodes_and_survives_truncation() {
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 3, b'a', b'b', b'c', 0, 0, 0, 2];
        b.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 7]);
        assert_eq!(
            decode_assignment(&b),
            vec![("abc".to_string(), 4), ("abc".to_string(), 7)]
        );
        for n in 0..b.len() {
            let _ = decode_assignment(&b[..n]);
        }
        assert!(decode_assignment(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_empty());
    }
}
