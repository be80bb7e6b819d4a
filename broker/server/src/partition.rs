use std::collections::BTreeMap;
use std::sync::Arc;

use weir_storage::{Log, LogConfig};

use crate::config::BrokerConfig;
use weir_metadata::topic_config as tc;

/// A partition this broker hosts: its log, and the leader epoch it writes with.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub leader_epoch: i32,
    pub log: Log,
}

pub type PartitionRef = Arc<Partition>;

/// The effective configs of a topic: each known config's value and whether the topic sets it.
pub(crate) fn effective_configs(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<&'static str, (String, bool)> {
    tc::TOPIC_CONFIGS
        .iter()
        .map(|d| match overrides.get(d.name) {
            Some(v) => (d.name, (v.clone(), true)),
            None => (
                d.name,
                (broker.topic_default(d.name).unwrap_or_default(), false),
            ),
        })
        .collect()
}

/// Builds the storage settings from a topic's effective configs.
pub(crate) fn log_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let eff = effective_configs(broker, overrides);
    let num = |k: &str, fallback: i64| -> i64 {
        eff.get(k)
            .and_then(|(v, _)| v.trim().parse().ok())
            .unwrap_or(fallback)
    };
    let d = LogConfig::default();
    let cleanup = eff
        .get(tc::CLEANUP_POLICY)
        .map(|(v, _)| v.as_str())
        .unwrap_or("delete");
    LogConfig {
        segment_bytes: num(tc::SEGMENT_BYTES, d.segment_bytes as i64).max(14) as u64,
        segment_ms: num(tc::SEGMENT_MS, d.segment_ms),
        // Until compaction lands, a compact-only topic keeps everything rather than losing keys.
        retention_ms: if cleanup.contains("delete") {
            num(tc::RETENTION_MS, d.retention_ms)
        } else {
            -1
        },
        retention_bytes: if cleanup.contains("delete") {
            num(tc::RETENTION_BYTES, d.retention_bytes)
        } else {
            -1
        },
        max_message_bytes: num(tc::MAX_MESSAGE_BYTES, d.max_message_bytes as i64).max(0) as usize,
        index_interval_bytes: num(tc::INDEX_INTERVAL_BYTES, d.index_interval_bytes as i64).max(0)
            as u64,
        flush_messages: num(tc::FLUSH_MESSAGES, i64::MAX).max(1) as u64,
        flush_ms: num(tc::FLUSH_MS, i64::MAX),
        log_append_time: eff
            .get(tc::MESSAGE_TIMESTAMP_TYPE)
            .is_some_and(|(v, _)| v == "LogAppendTime"),
    }
}
