//! The topic-level configs Weir accepts, with Kafka's names, types and validation.
//!
//! Every config listed is stored and shown by DescribeConfigs. Those marked `enforced` change
//! how the log behaves now; the others are accepted so that existing tooling and topic files
//! work unchanged, and take effect when the feature behind them lands (see the docs).

use crate::{Error, Result};

/// Kafka's DescribeConfigs config types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// An integer at least this large.
    AtLeast(i64),
    /// An integer in this inclusive range.
    Between(i64, i64),
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items are all in the set.
    ListOf(&'static [&'static str]),
    Bool,
    Ratio,
    /// Any string.
    Any,
}

#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    pub rule: Rule,
    /// Kafka's default, used unless the broker configuration sets another.
    pub default: &'static str,
    pub enforced: bool,
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    rule: Rule,
    default: &'static str,
    enforced: bool,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        rule,
        default,
        enforced,
        doc,
    }
}

use ConfigType::*;
use Rule::*;

pub const CLEANUP_POLICY: &str = "cleanup.policy";
pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const SEGMENT_MS: &str = "segment.ms";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const MESSAGE_TIMESTAMP_TYPE: &str = "message.timestamp.type";
pub const TIMESTAMP_AFTER_MAX_MS: &str = "message.timestamp.after.max.ms";
pub const TIMESTAMP_BEFORE_MAX_MS: &str = "message.timestamp.before.max.ms";
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
pub const FLUSH_MESSAGES: &str = "flush.messages";
pub const FLUSH_MS: &str = "flush.ms";
pub const INDEX_INTERVAL_BYTES: &str = "index.interval.bytes";
pub const WEIR_DLQ_TOPIC: &str = "weir.dlq.topic";
pub const WEIR_PLUGINS: &str = "weir.plugins";
pub const WEIR_PLUGINS_FAILURE_POLICY: &str = "weir.plugins.failure.policy";
pub const WEIR_PLUGINS_REJECT_POLICY: &str = "weir.plugins.reject.policy";
/// `weir.plugin.<plugin>.<key>`: a per-topic value for a plugin's configuration key.
pub const WEIR_PLUGIN_PREFIX: &str = "weir.plugin.";

/// The plugin names in a `weir.plugins` value.
pub fn plugin_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The definition every `weir.plugin.<plugin>.<key>` config shares.
pub const PLUGIN_CONFIG_DEF: ConfigDef = def(
    "weir.plugin.*",
    String,
    Any,
    "",
    true,
    "A topic-level value for one configuration key of a plugin in weir.plugins: `weir.plugin.<plugin>.<key>` overrides the value given when the plugin was deployed.",
);

/// All known topic configs, sorted by name.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def(
        CLEANUP_POLICY,
        List,
        ListOf(&["delete", "compact"]),
        "delete",
        true,
        "delete: remove old segments by retention.ms/retention.bytes. compact: closed segments keep only the latest record of each key (tombstones go after delete.retention.ms), and records without a key are refused (INVALID_RECORD). Both may be given.",
    ),
    def(
        "compression.gzip.level",
        Int,
        Between(-1, 9),
        "-1",
        false,
        "The gzip level when the broker recompresses (Weir stores batches as produced). Accepted for compatibility with Kafka's tooling; Weir does not act on it yet.",
    ),
    def(
        "compression.lz4.level",
        Int,
        Between(1, 17),
        "9",
        false,
        "The lz4 level when the broker recompresses (Weir stores batches as produced). Accepted for compatibility with Kafka's tooling; Weir does not act on it yet.",
    ),
    def(
        "compression.type",
        String,
        OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
        "producer",
        false,
        "Batches are stored as the producer compressed them (producer); re-compression on the broker is pending.",
    ),
    def(
        "compression.zstd.level",
        Int,
        Between(-131072, 22),
        "3",
        false,
        "The zstd level when the broker recompresses (Weir stores batches as produced). Accepted for compatibility with Kafka's tooling; Weir does not act on it yet.",
    ),
    def(
        DELETE_RETENTION_MS,
        Long,
        AtLeast(0),
        "86400000",
        true,
        "How long a tombstone (a record with a null value) stays in a compacted topic after the compaction pass that first kept it, judged by its batch's timestamp.",
    ),
    def(
        "file.delete.delay.ms",
        Long,
        AtLeast(0),
        "60000",
        false,
        "Accepted for compatibility; segments are deleted immediately.",
    ),
    def(
        FLUSH_MESSAGES,
        Long,
        AtLeast(1),
        "9223372036854775807",
        true,
        "fsync the log after this many records (1 = every batch). Default leaves flushing to the OS.",
    ),
    def(
        FLUSH_MS,
        Long,
        AtLeast(0),
        "9223372036854775807",
        true,
        "fsync the log when unflushed data is this old.",
    ),
    def(
        "follower.replication.throttled.replicas",
        List,
        Any,
        "",
        false,
        "Replicas whose follower replication is throttled. Accepted for compatibility with Kafka's tooling; Weir does not act on it yet.",
    ),
    def(
        INDEX_INTERVAL_BYTES,
        Int,
        AtLeast(0),
        "4096",
        true,
        "Bytes between offset index entries.",
    ),
    def(
        "leader.replication.throttled.replicas",
        List,
        Any,
        "",
        false,
        "Replicas whose leader replication is throttled. Accepted for compatibility with Kafka's tooling; Weir does not act on it yet.",
    ),
    def(
        "local.retention.bytes",
        Long,
        AtLeast(-2),
        "-2",
        false,
        "Tiered storage: bytes kept locally (-2: retention.bytes). Weir has no tiered storage, so everything is local.",
    ),
    def(
        "local.retention.ms",
        Long,
        AtLeast(-2),
        "-2",
        false,
        "Tiered storage: time kept locally (-2: retention.ms). Weir has no tiered storage, so everything is local.",
    ),
    def(
        MAX_COMPACTION_LAG_MS,
        Long,
        AtLeast(1),
        "9223372036854775807",
        true,
        "A closed segment not compacted for this long is compacted whatever min.cleanable.dirty.ratio says (judged by its newest record).",
    ),
    def(
        MAX_MESSAGE_BYTES,
        Int,
        AtLeast(0),
        "1048588",
        true,
        "Largest record batch the topic accepts (MESSAGE_TOO_LARGE beyond it).",
    ),
    def(
        TIMESTAMP_AFTER_MAX_MS,
        Long,
        AtLeast(0),
        "3600000",
        true,
        "How far ahead of the broker's clock a CreateTime record's timestamp may be (INVALID_TIMESTAMP beyond it); checked on each batch's max timestamp. Kafka 4's default, one hour.",
    ),
    def(
        TIMESTAMP_BEFORE_MAX_MS,
        Long,
        AtLeast(0),
        "9223372036854775807",
        true,
        "How far behind the broker's clock a CreateTime record's timestamp may be (INVALID_TIMESTAMP beyond it); checked on each batch's first timestamp.",
    ),
    def(
        MESSAGE_TIMESTAMP_TYPE,
        String,
        OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
        true,
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's time.",
    ),
    def(
        MIN_CLEANABLE_DIRTY_RATIO,
        Double,
        Ratio,
        "0.5",
        true,
        "Compaction runs when the closed segments written since the last pass are at least this share of the closed segments' bytes. The active segment is never compacted.",
    ),
    def(
        MIN_COMPACTION_LAG_MS,
        Long,
        AtLeast(0),
        "0",
        true,
        "Records younger than this (by their segment's newest timestamp) are not compacted.",
    ),
    def(
        MIN_INSYNC_REPLICAS,
        Int,
        AtLeast(1),
        "1",
        false,
        "Stored now; enforced for acks=all once replication lands.",
    ),
    def(
        "preallocate",
        Boolean,
        Bool,
        "false",
        false,
        "Accepted; segments are not preallocated.",
    ),
    def(
        "remote.log.copy.disable",
        Boolean,
        Bool,
        "false",
        false,
        "Tiered storage: stop copying segments to remote storage. Weir has no tiered storage.",
    ),
    def(
        "remote.log.delete.on.disable",
        Boolean,
        Bool,
        "false",
        false,
        "Tiered storage: delete remote segments when tiering is turned off. Weir has no tiered storage.",
    ),
    def(
        "remote.storage.enable",
        Boolean,
        OneOf(&["false"]),
        "false",
        false,
        "Tiered storage. Weir has none: only false is accepted.",
    ),
    def(
        RETENTION_BYTES,
        Long,
        AtLeast(-1),
        "-1",
        true,
        "Delete the oldest segments while a partition is larger than this (-1: no limit).",
    ),
    def(
        RETENTION_MS,
        Long,
        AtLeast(-1),
        "604800000",
        true,
        "Delete segments whose newest record is older than this (-1: keep forever).",
    ),
    def(
        SEGMENT_BYTES,
        Int,
        AtLeast(14),
        "1073741824",
        true,
        "Roll to a new segment file at this size.",
    ),
    def(
        "segment.index.bytes",
        Int,
        AtLeast(4),
        "10485760",
        false,
        "Accepted; indexes grow as needed.",
    ),
    def(
        "segment.jitter.ms",
        Long,
        AtLeast(0),
        "0",
        false,
        "Accepted; no jitter is applied.",
    ),
    def(
        SEGMENT_MS,
        Long,
        AtLeast(1),
        "604800000",
        true,
        "Roll to a new segment when the active one is this old.",
    ),
    def(
        "unclean.leader.election.enable",
        Boolean,
        Bool,
        "false",
        false,
        "Stored; unclean election stays off with replication.",
    ),
    def(
        WEIR_DLQ_TOPIC,
        String,
        Any,
        "",
        true,
        "Weir: the dead-letter topic for this topic's plugins. Empty means `<topic>.dlq`.",
    ),
    def(
        WEIR_PLUGINS,
        List,
        Any,
        "",
        true,
        "Weir: comma-separated plugins that run, in order, on every record produced to this topic, before it is appended.",
    ),
    def(
        WEIR_PLUGINS_FAILURE_POLICY,
        String,
        OneOf(&["fail", "dead-letter", "pass"]),
        "fail",
        true,
        "Weir: what happens to a batch when a plugin fails (traps, times out, runs out of memory, returns an error): fail the produce, send the records to the dead-letter topic, or pass them on unchanged.",
    ),
    def(
        WEIR_PLUGINS_REJECT_POLICY,
        String,
        OneOf(&["fail", "dead-letter"]),
        "fail",
        true,
        "Weir: what happens when a plugin rejects a record: fail the produce with INVALID_RECORD and the plugin's reason, or send the record to the dead-letter topic and append the rest.",
    ),
];

pub fn lookup(name: &str) -> Result<&'static ConfigDef> {
    if let Some(rest) = name.strip_prefix(WEIR_PLUGIN_PREFIX)
        && rest
            .split_once('.')
            .is_some_and(|(p, k)| !p.is_empty() && !k.is_empty())
    {
        return Ok(&PLUGIN_CONFIG_DEF);
    }
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Error::UnknownConfig(name.to_string()))
}

/// Validates `name=value` against the config's type and rule.
pub fn validate(name: &str, value: &str) -> Result<()> {
    let d = lookup(name)?;
    let bad = |reason: std::string::String| Error::InvalidConfig {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    match d.rule {
        AtLeast(min) => {
            let v: i64 = value
                .trim()
                .parse()
                .map_err(|_| bad("not an integer".into()))?;
            if v < min {
                return Err(bad(format!("must be at least {min}")));
            }
            if d.kind == Int && v > i64::from(i32::MAX) {
                return Err(bad("must fit in a 32-bit integer".into()));
            }
        }
        Between(min, max) => {
            let v: i64 = value
                .trim()
                .parse()
                .map_err(|_| bad("not an integer".into()))?;
            if !(min..=max).contains(&v) {
                return Err(bad(format!("must be between {min} and {max}")));
            }
        }
        OneOf(set) => {
            if !set.contains(&value) {
                return Err(bad(format!("must be one of {}", set.join(", "))));
            }
        }
        ListOf(set) => {
            if value.split(',').map(str::trim).any(|v| !set.contains(&v)) {
                return Err(bad(format!("items must be among {}", set.join(", "))));
            }
        }
        Bool => {
            if !matches!(value, "true" | "false") {
                return Err(bad("must be true or false".into()));
            }
        }
        Any => {}
        Ratio => {
            let v: f64 = value.parse().map_err(|_| bad("not a number".into()))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(bad("must be between 0 and 1".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_defaults_validate() {
        assert!(TOPIC_CONFIGS.windows(2).all(|w| w[0].name < w[1].name));
        for d in TOPIC_CONFIGS {
            validate(d.name, d.default).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "forever").is_err());
        assert!(validate("segment.bytes", "99999999999").is_err());
        assert!(matches!(
            validate("no.such", "1"),
            Err(Error::UnknownConfig(_))
        ));
    }
}
