use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use weir_metadata::topic_config as tc;

/// The default `socket.send.buffer.bytes` (Kafka's is 102400). Over loopback, fetches were
/// served at about twice the rate of the OS's autotuned buffer (which grows to megabytes) with
/// this fixed one, at half the broker's CPU (BENCHMARKS.md, 2026-11-24 07:49).
pub const DEFAULT_SOCKET_SEND_BUFFER_BYTES: usize = 262_144;

/// Everything one broker needs to start. The `weir` binary builds it from flags, environment
/// and an optional config file.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub listen: SocketAddr,
    pub http_listen: Option<SocketAddr>,
    /// `host:port` clients are told to connect to; defaults to the bound listener.
    pub advertised: Option<(String, u16)>,
    /// `host:port` of the HTTP API as peers reach it (set by the server once it is bound).
    pub http_advertised: Option<String>,
    pub rack: Option<String>,
    pub data_dir: PathBuf,
    pub auto_create_topics: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    /// Broker-wide defaults for topic configs (Kafka's `log.*` settings), by topic config name.
    pub topic_defaults: BTreeMap<String, String>,
    pub retention_check_interval: Duration,
    /// `log.cleaner.backoff.ms`: how often compacted topics are checked for a compaction pass.
    pub cleaner_backoff: Duration,
    pub max_request_bytes: usize,
    /// `socket.send.buffer.bytes`: SO_SNDBUF of client connections (`None`: the OS's
    /// autotuning).
    pub socket_send_buffer: Option<usize>,
    /// `socket.receive.buffer.bytes`: SO_RCVBUF of client connections (`None`: the OS's).
    pub socket_receive_buffer: Option<usize>,
    /// `max.connections`: client connections served at once; past it, new ones wait to be
    /// accepted.
    pub max_connections: usize,
    /// `connections.max.idle.ms`: a client connection that sends nothing for this long after
    /// its last response is closed (a leaked or abandoned connection would otherwise hold a
    /// slot forever); `None`: never.
    pub connections_max_idle: Option<Duration>,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members.
    pub group_initial_rebalance_delay: Duration,
    /// `offsets.retention.minutes`: committed offsets of an empty group expire after this.
    pub offsets_retention: Duration,
    /// `producer.id.expiration.ms`: a partition forgets an idempotent producer idle this long
    /// (and not in a transaction).
    pub producer_id_expiration: Duration,
    /// `transactional.id.expiration.ms`: the coordinator forgets a transactional id with no
    /// open transaction that it has not heard of this long.
    pub transactional_id_expiration: Duration,
    /// Membership of a controller quorum (`None`: a lone node with a local metadata log).
    pub quorum: Option<QuorumSettings>,
    /// `replica.lag.time.max.ms`: a follower that has not caught up with its leader for this
    /// long leaves the ISR.
    pub replica_lag_time_max: Duration,
    /// TLS and SASL of the Kafka listener (Kafka's `listeners=SASL_SSL://...`,
    /// `sasl.enabled.mechanisms`); brokers of a cluster use it to reach each other too.
    pub security: crate::auth::Security,
    /// The name of the listener above (`listen`, `advertised`, `security`): the inter-broker
    /// listener. Kafka's listener names, e.g. `PLAINTEXT` or `INTERNAL`.
    pub listener_name: String,
    /// More Kafka listeners (Kafka's `listeners` beyond the inter-broker one), each with its
    /// own address, advertised address and security: e.g. `INTERNAL` for containers on a
    /// Docker network and `EXTERNAL` for the host. Clients are told the addresses of the
    /// listener they connected to.
    pub extra_listeners: Vec<ListenerConfig>,
}

/// A named Kafka listener besides the inter-broker one.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub name: String,
    pub listen: SocketAddr,
    /// Defaults to the bound address (`localhost` when it binds all interfaces).
    pub advertised: Option<(String, u16)>,
    pub security: crate::auth::Security,
}

impl BrokerConfig {
    /// Whether any listener authenticates with SASL (then the HTTP API wants a user too).
    pub fn sasl_anywhere(&self) -> bool {
        self.security.protocol.uses_sasl()
            || self
                .extra_listeners
                .iter()
                .any(|l| l.security.protocol.uses_sasl())
    }
}

/// A controller quorum member's settings (Kafka's `controller.quorum.voters`).
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    /// Every voter's controller address by node id, this node's included.
    pub voters: BTreeMap<u64, String>,
    /// Where this node's controller listener binds (default: its address in `voters`).
    pub listen: Option<SocketAddr>,
    /// The cluster id written on first start; by default derived from the voter list, so
    /// every member agrees without coordination.
    pub cluster_id: Option<String>,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub session_timeout: Duration,
    /// `process.roles=controller`: a dedicated controller that votes in the quorum but does
    /// not register as a broker (it hosts no partitions and clients are not sent to it).
    pub controller_only: bool,
}

impl BrokerConfig {
    /// A single node with Kafka's defaults, data in `data_dir`, listening on ephemeral ports.
    pub fn ephemeral(data_dir: PathBuf) -> BrokerConfig {
        BrokerConfig {
            node_id: 1,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            advertised: None,
            http_advertised: None,
            rack: None,
            data_dir,
            auto_create_topics: true,
            num_partitions: 1,
            default_replication_factor: 1,
            topic_defaults: BTreeMap::new(),
            retention_check_interval: Duration::from_secs(30),
            cleaner_backoff: Duration::from_secs(15),
            max_request_bytes: weir_protocol::DEFAULT_MAX_REQUEST_BYTES,
            socket_send_buffer: Some(DEFAULT_SOCKET_SEND_BUFFER_BYTES),
            socket_receive_buffer: None,
            max_connections: 10_000,
            connections_max_idle: Some(Duration::from_secs(600)),
            group_initial_rebalance_delay: Duration::from_millis(0),
            offsets_retention: Duration::from_secs(7 * 24 * 3600),
            producer_id_expiration: Duration::from_secs(24 * 3600),
            transactional_id_expiration: Duration::from_secs(7 * 24 * 3600),
            quorum: None,
            replica_lag_time_max: Duration::from_secs(30),
            security: crate::auth::Security::plaintext(),
            listener_name: "PLAINTEXT".to_string(),
            extra_listeners: Vec::new(),
        }
    }

    /// The value a topic gets for `name` when it does not override it.
    pub fn topic_default(&self, name: &str) -> Option<String> {
        self.topic_defaults
            .get(name)
            .cloned()
            .or_else(|| tc::lookup(name).ok().map(|d| d.default.to_string()))
    }

    /// Checks the broker-level topic defaults against the same rules as topic configs.
    pub fn validate(&self) -> Result<(), weir_metadata::Error> {
        for (k, v) in &self.topic_defaults {
            tc::validate(k, v)?;
        }
        Ok(())
    }
}

/// Topic config name → the broker-level config that sets its default (Kafka's names).
pub const BROKER_SYNONYMS: &[(&str, &str)] = &[
    (tc::CLEANUP_POLICY, "log.cleanup.policy"),
    (tc::DELETE_RETENTION_MS, "log.cleaner.delete.retention.ms"),
    (
        tc::MAX_COMPACTION_LAG_MS,
        "log.cleaner.max.compaction.lag.ms",
    ),
    (
        tc::MIN_CLEANABLE_DIRTY_RATIO,
        "log.cleaner.min.cleanable.ratio",
    ),
    (
        tc::MIN_COMPACTION_LAG_MS,
        "log.cleaner.min.compaction.lag.ms",
    ),
    (tc::FLUSH_MESSAGES, "log.flush.interval.messages"),
    (tc::FLUSH_MS, "log.flush.interval.ms"),
    (tc::INDEX_INTERVAL_BYTES, "log.index.interval.bytes"),
    (tc::MAX_MESSAGE_BYTES, "message.max.bytes"),
    (tc::MESSAGE_TIMESTAMP_TYPE, "log.message.timestamp.type"),
    (tc::MIN_INSYNC_REPLICAS, "min.insync.replicas"),
    (tc::RETENTION_BYTES, "log.retention.bytes"),
    (tc::RETENTION_MS, "log.retention.ms"),
    (tc::SEGMENT_BYTES, "log.segment.bytes"),
    (tc::SEGMENT_MS, "log.roll.ms"),
    (
        tc::TIMESTAMP_AFTER_MAX_MS,
        "log.message.timestamp.after.max.ms",
    ),
    (
        tc::TIMESTAMP_BEFORE_MAX_MS,
        "log.message.timestamp.before.max.ms",
    ),
];
