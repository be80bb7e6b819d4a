//! The `weir` command line: parses configuration and runs a broker until Ctrl-C or SIGTERM.

mod admin;
mod memcpy;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use weir_server::auth::{Mechanism, Security, SecurityProtocol, TlsFiles, Users};
use weir_server::{BrokerConfig, ListenerConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "Weir: a Kafka-compatible streaming broker with WebAssembly plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker node (a single node on embedded defaults unless told otherwise).
    Serve(Box<ServeArgs>),
    /// Manage WebAssembly plugins on a running broker (deploy, list, attach to topics, logs).
    Plugin {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::PluginCmd,
    },
    /// Inspect and replay dead letters.
    Dlq {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::DlqCmd,
    },
    /// Manage SASL users (SCRAM credentials) on a running broker: list, set, delete.
    User {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::UserCmd,
    },
    /// Show the cluster: brokers (fenced or not) and the controller quorum.
    Cluster {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::ClusterCmd,
    },
    /// Manage topics: list, describe, create, alter, delete, and apply a YAML file of them.
    Topic {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::TopicCmd,
    },
    /// Consumer groups: list them, show their lag, reset their offsets.
    Group {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::GroupCmd,
    },
    /// Manage asynchronous topic-to-topic pipelines.
    Pipeline {
        #[command(flatten)]
        admin: admin::Admin,
        #[command(subcommand)]
        cmd: admin::PipelineCmd,
    },
}

#[derive(Args, Debug)]
#[command(args_override_self = true)]
struct ServeArgs {
    /// Optional config file (TOML or YAML) whose keys are these flags' names, e.g.
    /// `listen = "0.0.0.0:9092"` or `log-retention-ms: 3600000`. Flags and env vars win over it.
    #[arg(long, env = "WEIR_CONFIG")]
    config: Option<PathBuf>,

    /// This node's id, unique in the cluster.
    #[arg(long, env = "WEIR_NODE_ID", default_value_t = 1)]
    node_id: i32,

    /// Address the Kafka listener binds (port 0 picks a free port). The default `[::]` accepts
    /// IPv4 and IPv6 (falling back to 0.0.0.0 where IPv6 is off).
    #[arg(long, env = "WEIR_LISTEN", default_value = "[::]:9092")]
    listen: SocketAddr,

    /// Address clients are told to connect to, `host:port` or `PLAINTEXT://host:port` (like
    /// KAFKA_ADVERTISED_LISTENERS). Defaults to the listener's address, `localhost` when it binds
    /// all interfaces. Set it in containers, Kubernetes and on cloud VMs.
    #[arg(long, env = "WEIR_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,

    /// Several named Kafka listeners (Kafka's `listeners`), `NAME://HOST:PORT,...`, e.g.
    /// `INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:9092` for clients inside and outside a
    /// Docker network. Replaces --listen. Clients are told the addresses of the listener they
    /// connected to.
    #[arg(long, env = "WEIR_LISTENERS")]
    listeners: Option<String>,

    /// Each listener's address as clients are told it (Kafka's `advertised.listeners`),
    /// `NAME://HOST:PORT,...`, e.g. `INTERNAL://weir:29092,EXTERNAL://localhost:9092`. A
    /// listener not named here advertises its bound address.
    #[arg(long, env = "WEIR_ADVERTISED_LISTENERS")]
    advertised_listeners: Option<String>,

    /// The security protocol of each listener (Kafka's `listener.security.protocol.map`),
    /// `NAME:PROTOCOL,...`, e.g. `INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL`. A listener named
    /// after a protocol (`SASL_SSL://...`) uses it; others default to --security-protocol.
    #[arg(long, env = "WEIR_LISTENER_SECURITY_PROTOCOL_MAP")]
    listener_security_protocol_map: Option<String>,

    /// The listener brokers use to reach each other (Kafka's `inter.broker.listener.name`);
    /// default: the first of --listeners.
    #[arg(long, env = "WEIR_INTER_BROKER_LISTENER_NAME")]
    inter_broker_listener_name: Option<String>,

    /// Join a controller quorum (Kafka's controller.quorum.voters): `ID@HOST:PORT,...`, every
    /// voter's controller address, this node's included. Without it the node keeps its metadata
    /// in a local log.
    #[arg(long, env = "WEIR_CONTROLLER_VOTERS")]
    controller_voters: Option<String>,

    /// Where this node's controller listener binds (default: its own address in the voters).
    #[arg(long, env = "WEIR_CONTROLLER_LISTEN")]
    controller_listen: Option<SocketAddr>,

    /// Cluster id written on first start of a quorum member (default: derived from the voters).
    #[arg(long, env = "WEIR_CLUSTER_ID")]
    cluster_id: Option<String>,

    /// A broker that stops heartbeating for this long is fenced by the controller
    /// (broker.session.timeout.ms).
    #[arg(long, env = "WEIR_BROKER_SESSION_TIMEOUT_MS", default_value_t = 9000)]
    broker_session_timeout_ms: u64,

    /// The roles of this node in a cluster (Kafka's process.roles): "broker,controller"
    /// (combined, the default for a node in --controller-voters), "controller" (a dedicated
    /// voter that hosts no partitions) or "broker" (a node outside the voter list, which joins
    /// the quorum as a non-voting member; give it --controller-listen).
    #[arg(long, env = "WEIR_PROCESS_ROLES")]
    process_roles: Option<String>,

    /// A follower that has not caught up with its leader for this long leaves the in-sync
    /// replicas (replica.lag.time.max.ms).
    #[arg(long, env = "WEIR_REPLICA_LAG_TIME_MAX_MS", default_value_t = 30000)]
    replica_lag_time_max_ms: u64,

    /// Default for the topic config min.insync.replicas: with acks=all, fewer in-sync
    /// replicas than this refuse the write with NOT_ENOUGH_REPLICAS.
    #[arg(long, env = "WEIR_MIN_INSYNC_REPLICAS")]
    min_insync_replicas: Option<u32>,

    /// Address of the HTTP API (health, Prometheus metrics at /metrics, topic view).
    #[arg(long, env = "WEIR_HTTP_LISTEN", default_value = "[::]:9644")]
    http_listen: SocketAddr,

    /// Turn the HTTP API off.
    #[arg(long, env = "WEIR_NO_HTTP")]
    no_http: bool,

    /// Directory for partition logs and metadata.
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,

    /// Rack of this broker (broker.rack), used for replica placement.
    #[arg(long, env = "WEIR_RACK")]
    rack: Option<String>,

    /// Create topics on first use by a producer or consumer (auto.create.topics.enable).
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    auto_create_topics: bool,

    /// Partitions of auto-created topics and of CreateTopics with -1 (num.partitions).
    #[arg(long, env = "WEIR_NUM_PARTITIONS", default_value_t = 1)]
    num_partitions: i32,

    /// Replication factor when a request says -1 (default.replication.factor).
    #[arg(long, env = "WEIR_DEFAULT_REPLICATION_FACTOR", default_value_t = 1)]
    default_replication_factor: i16,

    /// Default retention.ms for topics (log.retention.ms); -1 keeps data forever.
    #[arg(long, env = "WEIR_LOG_RETENTION_MS")]
    log_retention_ms: Option<i64>,

    /// Default retention.bytes per partition (log.retention.bytes); -1 is unlimited.
    #[arg(long, env = "WEIR_LOG_RETENTION_BYTES")]
    log_retention_bytes: Option<i64>,

    /// Default segment.bytes (log.segment.bytes).
    #[arg(long, env = "WEIR_LOG_SEGMENT_BYTES")]
    log_segment_bytes: Option<i64>,

    /// Default segment.ms (log.roll.ms).
    #[arg(long, env = "WEIR_LOG_ROLL_MS")]
    log_roll_ms: Option<i64>,

    /// Default max.message.bytes (message.max.bytes).
    #[arg(long, env = "WEIR_MESSAGE_MAX_BYTES")]
    message_max_bytes: Option<i64>,

    /// Default flush.messages (log.flush.interval.messages): 1 fsyncs every batch. Unset leaves
    /// flushing to the OS page cache, as Kafka does.
    #[arg(long, env = "WEIR_LOG_FLUSH_MESSAGES")]
    log_flush_messages: Option<i64>,

    /// Default flush.ms (log.flush.interval.ms).
    #[arg(long, env = "WEIR_LOG_FLUSH_MS")]
    log_flush_ms: Option<i64>,

    /// Default message.timestamp.type: CreateTime or LogAppendTime.
    #[arg(long, env = "WEIR_LOG_MESSAGE_TIMESTAMP_TYPE")]
    log_message_timestamp_type: Option<String>,

    /// How often retention runs (log.retention.check.interval.ms).
    #[arg(
        long,
        env = "WEIR_LOG_RETENTION_CHECK_INTERVAL_MS",
        default_value_t = 30_000
    )]
    log_retention_check_interval_ms: u64,

    /// How often compacted topics are checked for a compaction pass (log.cleaner.backoff.ms).
    #[arg(long, env = "WEIR_LOG_CLEANER_BACKOFF_MS", default_value_t = 15_000)]
    log_cleaner_backoff_ms: u64,

    /// Largest request accepted (socket.request.max.bytes); larger ones close the connection.
    #[arg(
        long,
        env = "WEIR_SOCKET_REQUEST_MAX_BYTES",
        default_value_t = 104_857_600
    )]
    socket_request_max_bytes: usize,

    /// SO_SNDBUF of client connections (socket.send.buffer.bytes; -1: the OS's autotuning).
    /// Kafka's default is 102400. Weir's is 262144: over loopback a fixed buffer of that size
    /// served fetches at about twice the rate of the autotuned one (which grows to
    /// net.ipv4.tcp_wmem's maximum) for half the broker CPU, see BENCHMARKS.md. Links with a
    /// large bandwidth-delay product want it larger (or -1); under 128 KiB fetches slow down
    /// sharply.
    #[arg(
        long,
        env = "WEIR_SOCKET_SEND_BUFFER_BYTES",
        default_value_t = weir_server::DEFAULT_SOCKET_SEND_BUFFER_BYTES as i32,
        allow_negative_numbers = true
    )]
    socket_send_buffer_bytes: i32,

    /// SO_RCVBUF of client connections (socket.receive.buffer.bytes; -1, the default: the OS's
    /// autotuning). Kafka's default is 102400.
    #[arg(
        long,
        env = "WEIR_SOCKET_RECEIVE_BUFFER_BYTES",
        default_value_t = -1,
        allow_negative_numbers = true
    )]
    socket_receive_buffer_bytes: i32,

    /// Client connections served at once (max.connections); past it, new connections wait to
    /// be accepted until one closes.
    #[arg(long, env = "WEIR_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// A client connection that sends nothing for this long after its last response is closed
    /// (connections.max.idle.ms; Kafka's default, 600000; -1: never). Clients reconnect when
    /// they next need the broker.
    #[arg(
        long,
        env = "WEIR_CONNECTIONS_MAX_IDLE_MS",
        default_value_t = 600_000,
        allow_negative_numbers = true
    )]
    connections_max_idle_ms: i64,

    /// How long the first rebalance of an empty consumer group waits for more members
    /// (group.initial.rebalance.delay.ms). Kafka's default is 3000; 0 suits development.
    #[arg(
        long,
        env = "WEIR_GROUP_INITIAL_REBALANCE_DELAY_MS",
        default_value_t = 3000
    )]
    group_initial_rebalance_delay_ms: u64,

    /// How long committed offsets of a group without members are kept
    /// (offsets.retention.minutes; Kafka's default is 7 days).
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_MINUTES", default_value_t = 10080)]
    offsets_retention_minutes: u64,

    /// The same in milliseconds; overrides --offsets-retention-minutes when set.
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_MS")]
    offsets_retention_ms: Option<u64>,

    /// How long a partition keeps the state of an idempotent producer that sends nothing
    /// (producer.id.expiration.ms; Kafka's default is one day). Checked with retention.
    #[arg(
        long,
        env = "WEIR_PRODUCER_ID_EXPIRATION_MS",
        default_value_t = 86_400_000
    )]
    producer_id_expiration_ms: u64,

    /// How long the transaction coordinator keeps a transactional id it has not heard of, with
    /// no transaction open (transactional.id.expiration.ms; Kafka's default is 7 days).
    #[arg(
        long,
        env = "WEIR_TRANSACTIONAL_ID_EXPIRATION_MS",
        default_value_t = 604_800_000
    )]
    transactional_id_expiration_ms: u64,

    /// Security of the Kafka listener (Kafka's listener security protocols): PLAINTEXT, SSL
    /// (TLS), SASL_PLAINTEXT (SASL authentication) or SASL_SSL (both). Defaults to the scheme
    /// of --advertised-listener (`SASL_SSL://host:9092`), else PLAINTEXT.
    #[arg(long, env = "WEIR_SECURITY_PROTOCOL")]
    security_protocol: Option<String>,

    /// SASL mechanisms served (sasl.enabled.mechanisms).
    #[arg(
        long,
        env = "WEIR_SASL_ENABLED_MECHANISMS",
        default_value = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    )]
    sasl_enabled_mechanisms: String,

    /// File of SASL users, one `name:password` per line (`#` starts a comment). Each user may
    /// authenticate with any enabled mechanism.
    #[arg(long, env = "WEIR_SASL_USERS_FILE")]
    sasl_users_file: Option<PathBuf>,

    /// SASL users inline, `name:password,name:password` (passwords without commas; use
    /// --sasl-users-file otherwise). Added to the file's.
    #[arg(long, env = "WEIR_SASL_USERS", hide_env_values = true)]
    sasl_users: Option<String>,

    /// The SASL user this broker authenticates as to the other brokers of a cluster
    /// (replication, coordinator calls); needed by cluster members with a SASL listener.
    #[arg(long, env = "WEIR_INTER_BROKER_USER")]
    inter_broker_user: Option<String>,

    /// The listener's TLS certificate chain, PEM, leaf first (SSL and SASL_SSL).
    #[arg(long, env = "WEIR_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,

    /// The private key of the TLS certificate, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "WEIR_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,

    /// CA certificates, PEM: what a cluster member checks the other brokers' certificates
    /// against, and with --tls-client-auth required the CAs of client certificates.
    #[arg(long, env = "WEIR_TLS_CA_FILE")]
    tls_ca_file: Option<PathBuf>,

    /// TLS client authentication (ssl.client.auth): `none` or `required` (clients present a
    /// certificate issued by --tls-ca-file).
    #[arg(long, env = "WEIR_TLS_CLIENT_AUTH", default_value = "none")]
    tls_client_auth: String,

    /// Log filter, e.g. `info` or `weir_server=debug` (RUST_LOG syntax). Raft's own chatter
    /// is at `warn` unless asked for (`openraft=info`).
    #[arg(long, env = "WEIR_LOG", default_value = "info,openraft=warn")]
    log: String,
}

/// Turns the config file into leading `--key=value` arguments, skipping keys whose environment
/// variable is set, so that precedence is flag > env > file > default.
fn file_args(path: &PathBuf) -> anyhow::Result<Vec<OsString>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let map: BTreeMap<String, serde_json::Value> = if is_yaml {
        serde_yaml_ng::from_str(&text)
            .with_context(|| format!("parsing YAML {}", path.display()))?
    } else {
        toml::from_str(&text).with_context(|| format!("parsing TOML {}", path.display()))?
    };
    let cmd = ServeArgs::augment_args(clap::Command::new("serve"));
    let mut out = Vec::new();
    for (key, value) in map {
        let flag = key.replace('_', "-");
        let Some(arg) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()))
        else {
            bail!(
                "unknown key '{key}' in {}; run `weir serve --help` for the options",
                path.display()
            );
        };
        if arg
            .get_env()
            .is_some_and(|env| std::env::var_os(env).is_some())
        {
            continue;
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        out.push(OsString::from(format!("--{flag}={value}")));
    }
    Ok(out)
}

fn parse_cli() -> anyhow::Result<Cli> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = Cli::try_parse_from(&args).unwrap_or_else(|e| e.exit());
    let Command::Serve(serve) = &first.command else {
        return Ok(first);
    };
    let Some(path) = serve.config.clone() else {
        return Ok(first);
    };
    // Re-parse with the file's settings placed before the user's own arguments.
    let pos = args.iter().position(|a| a == "serve").unwrap_or(1) + 1;
    let mut merged = args[..pos].to_vec();
    merged.extend(file_args(&path)?);
    merged.extend_from_slice(&args[pos..]);
    Ok(Cli::try_parse_from(merged).unwrap_or_else(|e| e.exit()))
}

/// A socket buffer size flag: -1 leaves the buffer to the OS (Kafka's convention), a positive
/// value fixes it; anything else is refused at start.
fn socket_buffer(flag: &str, bytes: i32) -> anyhow::Result<Option<usize>> {
    match bytes {
        -1 => Ok(None),
        n if n > 0 => Ok(Some(n as usize)),
        n => bail!("--{flag} must be -1 (the OS's default) or a positive number of bytes, not {n}"),
    }
}

/// The listener's security from the flags: protocol, mechanisms, users and TLS files.
/// One Kafka listener of `--listeners`.
struct NamedListener {
    name: String,
    listen: SocketAddr,
    advertised: Option<(String, u16)>,
    protocol: SecurityProtocol,
}

/// Parses `host:port` (a bracketed IPv6 host allowed) of an advertised listener.
fn host_port(s: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("listener address '{s}' must be host:port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("bad port in listener address '{s}'"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// `NAME://HOST:PORT,...` as `(NAME, HOST:PORT)` pairs; names are unique.
fn named_addresses(flag: &str, spec: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, addr) = part
            .split_once("://")
            .with_context(|| format!("{flag}: '{part}' is not NAME://HOST:PORT"))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            bail!("{flag}: '{part}' has no listener name");
        }
        if out.iter().any(|(n, _)| *n == name) {
            bail!("{flag}: listener {name} is named twice");
        }
        out.push((name, addr.to_string()));
    }
    if out.is_empty() {
        bail!("{flag} is empty");
    }
    Ok(out)
}

/// The named listeners of `--listeners`, the inter-broker one first; `None` without it.
fn named_listeners(a: &ServeArgs) -> anyhow::Result<Option<Vec<NamedListener>>> {
    let Some(spec) = &a.listeners else {
        if a.advertised_listeners.is_some()
            || a.inter_broker_listener_name.is_some()
            || a.listener_security_protocol_map.is_some()
        {
            bail!(
                "--advertised-listeners, --listener-security-protocol-map and \
                 --inter-broker-listener-name go with --listeners"
            );
        }
        return Ok(None);
    };
    if a.advertised_listener.is_some() {
        bail!(
            "--advertised-listener is for a single listener: with --listeners, use \
             --advertised-listeners NAME://HOST:PORT,..."
        );
    }
    let mut map = BTreeMap::new();
    for part in a
        .listener_security_protocol_map
        .iter()
        .flat_map(|m| m.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (name, proto) = part.split_once(':').with_context(|| {
            format!("--listener-security-protocol-map: '{part}' is not NAME:PROTOCOL")
        })?;
        map.insert(
            name.trim().to_ascii_uppercase(),
            SecurityProtocol::parse(proto.trim())?,
        );
    }
    let default = match &a.security_protocol {
        Some(p) => SecurityProtocol::parse(p)?,
        None => SecurityProtocol::Plaintext,
    };
    let advertised: BTreeMap<String, (String, u16)> = match &a.advertised_listeners {
        None => BTreeMap::new(),
        Some(spec) => named_addresses("--advertised-listeners", spec)?
            .into_iter()
            .map(|(n, addr)| Ok((n, host_port(&addr)?)))
            .collect::<anyhow::Result<_>>()?,
    };
    let addresses = named_addresses("--listeners", spec)?;
    // A misspelt entry first: it is also why a listener would seem to have none.
    if let Some(n) = map.keys().find(|n| !addresses.iter().any(|(l, _)| l == *n)) {
        bail!("--listener-security-protocol-map names {n}, which is not one of --listeners");
    }
    let mut out = Vec::new();
    for (name, addr) in addresses {
        let (host, port) = host_port(&addr)?;
        let host = if host.is_empty() {
            "::".to_string()
        } else {
            host
        };
        let listen = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .with_context(|| format!("--listeners: cannot resolve '{addr}' of {name}"))?;
        // As in Kafka, a map must cover every listener not named after a protocol: a
        // forgotten (or misspelt) entry must not leave a listener open in PLAINTEXT.
        let protocol = match (map.get(&name), SecurityProtocol::parse(&name)) {
            (Some(p), _) => *p,
            (None, Ok(p)) => p,
            (None, Err(_)) if map.is_empty() => default,
            (None, Err(_)) => {
                bail!("--listener-security-protocol-map has no entry for listener {name}")
            }
        };
        out.push(NamedListener {
            advertised: advertised.get(&name).cloned(),
            name,
            listen,
            protocol,
        });
    }
    if let Some(n) = advertised
        .keys()
        .find(|n| !out.iter().any(|l| l.name == **n))
    {
        bail!("--advertised-listeners names {n}, which is not one of --listeners");
    }
    if let Some(ib) = &a.inter_broker_listener_name {
        let ib = ib.to_ascii_uppercase();
        let i = out.iter().position(|l| l.name == ib).with_context(|| {
            format!("--inter-broker-listener-name {ib} is not one of --listeners")
        })?;
        let l = out.remove(i);
        out.insert(0, l);
    }
    Ok(Some(out))
}

/// The security every listener starts from: users and certificates loaded when any listener
/// needs them (with several listeners, `protocol` is the combination of theirs; each listener
/// then takes its own with `Security::with_protocol`).
fn security(a: &ServeArgs, named: Option<&[NamedListener]>) -> anyhow::Result<Security> {
    if let Some(named) = named {
        let sasl = named.iter().any(|l| l.protocol.uses_sasl());
        let tls = named.iter().any(|l| l.protocol.uses_tls());
        let combined = match (sasl, tls) {
            (false, false) => SecurityProtocol::Plaintext,
            (false, true) => SecurityProtocol::Ssl,
            (true, false) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        };
        return security_for(a, combined);
    }
    // A scheme that names a security protocol sets it (`SASL_SSL://host:9092`); a listener
    // name such as `EXTERNAL://` says nothing about security and is ignored, as before.
    let scheme = a
        .advertised_listener
        .as_deref()
        .and_then(|s| s.split_once("://"))
        .and_then(|(scheme, _)| SecurityProtocol::parse(scheme).ok().map(|p| (scheme, p)));
    let protocol = match (&a.security_protocol, scheme) {
        (Some(p), _) => SecurityProtocol::parse(p)?,
        (None, Some((_, p))) => p,
        (None, None) => SecurityProtocol::Plaintext,
    };
    if let (Some((s, p)), Some(_)) = (scheme, &a.security_protocol)
        && p != protocol
    {
        bail!(
            "--advertised-listener says {s} but --security-protocol is {}",
            protocol.name()
        );
    }
    security_for(a, protocol)
}

/// Users, mechanisms and certificates for a listener speaking `protocol` (with several
/// listeners: the combination of theirs).
fn security_for(a: &ServeArgs, protocol: SecurityProtocol) -> anyhow::Result<Security> {
    let mut pairs = Vec::new();
    if let Some(path) = &a.sasl_users_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --sasl-users-file {}", path.display()))?;
        pairs.extend(
            weir_server::auth::parse_user_lines(&text)
                .with_context(|| format!("--sasl-users-file {}", path.display()))?,
        );
    }
    for entry in a.sasl_users.iter().flat_map(|s| s.split(',')) {
        if entry.trim().is_empty() {
            continue;
        }
        let (name, pw) = entry
            .split_once(':')
            .context("--sasl-users: expected name:password,name:password")?;
        pairs.push((name.trim().to_string(), pw.to_string()));
    }
    if !protocol.uses_sasl() && !pairs.is_empty() {
        bail!(
            "SASL users are configured but the listener is {}: set --security-protocol \
             SASL_PLAINTEXT or SASL_SSL",
            protocol.name()
        );
    }
    let client_auth = match a.tls_client_auth.to_ascii_lowercase().as_str() {
        "none" => false,
        "required" => true,
        other => bail!("--tls-client-auth must be none or required, not {other:?}"),
    };
    let tls = match (&a.tls_cert_file, &a.tls_key_file) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            ca: a.tls_ca_file.clone(),
            client_auth,
        }),
        (None, None) => None,
        _ => bail!("--tls-cert-file and --tls-key-file go together"),
    };
    if tls.is_some() && !protocol.uses_tls() {
        bail!(
            "a TLS certificate is configured but the listener is {}: set --security-protocol \
             SSL or SASL_SSL",
            protocol.name()
        );
    }
    let users = Users::from_pairs(pairs)?;
    Ok(Security::new(
        protocol,
        Mechanism::parse_list(&a.sasl_enabled_mechanisms)?,
        users,
        a.inter_broker_user.clone(),
        tls,
    )?)
}

fn broker_config(a: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let named = named_listeners(a)?;
    let base = security(a, named.as_deref())?;
    let (listen, advertised, listener_name, security, extra_listeners) = match named {
        None => {
            let advertised = match &a.advertised_listener {
                None => None,
                Some(s) => Some(host_port(s.rsplit("://").next().unwrap_or(s))?),
            };
            // The listener's name: the scheme of --advertised-listener, else its protocol.
            let name = a
                .advertised_listener
                .as_deref()
                .and_then(|s| s.split_once("://"))
                .map_or(base.protocol.name().to_string(), |(n, _)| {
                    n.to_ascii_uppercase()
                });
            (a.listen, advertised, name, base, Vec::new())
        }
        Some(mut named) => {
            let first = named.remove(0);
            let extra = named
                .into_iter()
                .map(|l| {
                    Ok(ListenerConfig {
                        security: base.with_protocol(l.protocol)?,
                        name: l.name,
                        listen: l.listen,
                        advertised: l.advertised,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let security = base.with_protocol(first.protocol)?;
            (first.listen, first.advertised, first.name, security, extra)
        }
    };
    let mut topic_defaults = BTreeMap::new();
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            topic_defaults.insert(k.to_string(), v);
        }
    };
    set("retention.ms", a.log_retention_ms.map(|v| v.to_string()));
    set(
        "retention.bytes",
        a.log_retention_bytes.map(|v| v.to_string()),
    );
    set("segment.bytes", a.log_segment_bytes.map(|v| v.to_string()));
    set("segment.ms", a.log_roll_ms.map(|v| v.to_string()));
    set(
        "max.message.bytes",
        a.message_max_bytes.map(|v| v.to_string()),
    );
    set(
        "flush.messages",
        a.log_flush_messages.map(|v| v.to_string()),
    );
    set("flush.ms", a.log_flush_ms.map(|v| v.to_string()));
    set(
        "min.insync.replicas",
        a.min_insync_replicas.map(|v| v.to_string()),
    );
    set(
        "message.timestamp.type",
        a.log_message_timestamp_type.clone(),
    );
    if a.num_partitions < 1 {
        bail!("--num-partitions must be at least 1");
    }
    let quorum = match &a.controller_voters {
        None => {
            if a.process_roles.is_some() {
                bail!("--process-roles needs --controller-voters (a cluster)");
            }
            None
        }
        Some(spec) => {
            let voters = weir_metadata::raft::QuorumConfig::parse_voters(spec)
                .context("--controller-voters")?;
            let voter = u64::try_from(a.node_id).is_ok_and(|id| voters.contains_key(&id));
            let mut roles: Vec<String> = a
                .process_roles
                .as_deref()
                .unwrap_or(if voter { "broker,controller" } else { "broker" })
                .split(',')
                .map(|r| r.trim().to_ascii_lowercase())
                .filter(|r| !r.is_empty())
                .collect();
            roles.sort();
            roles.dedup();
            let controller_only = match roles.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["broker", "controller"] => false,
                ["controller"] => true,
                ["broker"] => false,
                _ => bail!(
                    "--process-roles must be broker,controller, controller or broker (got '{}')",
                    roles.join(",")
                ),
            };
            if roles.iter().any(|r| r == "controller") != voter {
                bail!(
                    "node {} {} the voter list, so its roles must {} controller",
                    a.node_id,
                    if voter { "is in" } else { "is not in" },
                    if voter { "include" } else { "not include" },
                );
            }
            if !voter && a.controller_listen.is_none() {
                bail!(
                    "node {} is not in --controller-voters: give --controller-listen HOST:PORT \
                     (reachable by the voters) so it can join as a non-voting broker",
                    a.node_id
                );
            }
            Some(weir_server::QuorumSettings {
                voters,
                listen: a.controller_listen,
                cluster_id: a.cluster_id.clone(),
                session_timeout: Duration::from_millis(a.broker_session_timeout_ms.max(100)),
                controller_only,
            })
        }
    };
    let config = BrokerConfig {
        quorum,
        replica_lag_time_max: Duration::from_millis(a.replica_lag_time_max_ms.max(100)),
        node_id: a.node_id,
        listen,
        http_listen: (!a.no_http).then_some(a.http_listen),
        advertised,
        http_advertised: None,
        rack: a.rack.clone(),
        data_dir: a.data_dir.clone(),
        auto_create_topics: a.auto_create_topics,
        num_partitions: a.num_partitions,
        default_replication_factor: a.default_replication_factor,
        topic_defaults,
        retention_check_interval: Duration::from_millis(a.log_retention_check_interval_ms.max(1)),
        cleaner_backoff: Duration::from_millis(a.log_cleaner_backoff_ms.max(1)),
        max_request_bytes: a.socket_request_max_bytes,
        socket_send_buffer: socket_buffer("socket-send-buffer-bytes", a.socket_send_buffer_bytes)?,
        socket_receive_buffer: socket_buffer(
            "socket-receive-buffer-bytes",
            a.socket_receive_buffer_bytes,
        )?,
        max_connections: a.max_connections as usize,
        connections_max_idle: u64::try_from(a.connections_max_idle_ms)
            .ok()
            .map(|ms| Duration::from_millis(ms.max(1))),
        group_initial_rebalance_delay: Duration::from_millis(a.group_initial_rebalance_delay_ms),
        offsets_retention: match a.offsets_retention_ms {
            Some(ms) => Duration::from_millis(ms),
            None => Duration::from_secs(a.offsets_retention_minutes.saturating_mul(60)),
        },
        producer_id_expiration: Duration::from_millis(a.producer_id_expiration_ms),
        transactional_id_expiration: Duration::from_millis(a.transactional_id_expiration_ms),
        security,
        listener_name,
        extra_listeners,
    };
    config.validate().context("invalid broker defaults")?;
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Raises the soft open-file limit to the hard one, as the JVM does for Kafka: each partition
/// keeps its segment files open. The limit it ends at (`None`: unlimited).
fn open_file_limit() -> Option<u64> {
    match weir_server::raise_open_file_limit() {
        Ok(l) => {
            if l.after != l.before {
                tracing::info!(
                    from = l.before,
                    to = l.after,
                    "raised the open-file limit to the hard limit"
                );
            }
            if l.after.is_some_and(|n| n < LOW_OPEN_FILE_LIMIT) {
                tracing::warn!(
                    limit = l.after,
                    "the open-file limit is low: each partition keeps 3 files open, and 1 more \
                     per older segment; raise the hard limit (ulimit -Hn, LimitNOFILE= under \
                     systemd)"
                );
            }
            l.after
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            None
        }
    }
}

/// Below this many open files, `weir serve` warns at start (a few hundred partitions).
const LOW_OPEN_FILE_LIMIT: u64 = 4096;

/// A start that failed for want of file descriptors says which limit and what to do.
fn explain_start_failure(e: weir_server::Error, limit: Option<u64>) -> anyhow::Error {
    let emfile = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|io| io.raw_os_error() == Some(EMFILE));
    let e = anyhow::Error::new(e).context("starting the broker");
    match (emfile, limit) {
        (true, Some(limit)) => e.context(format!(
            "the data directory's partitions need more open files than the limit of {limit} \
             allows: raise it (ulimit -Hn and -n, LimitNOFILE= under systemd, ulimits.nofile in \
             Compose) and start weir again"
        )),
        _ => e,
    }
}

/// `EMFILE`: the process has as many files open as its limit allows.
const EMFILE: i32 = 24;

fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let cli = parse_cli()?;
    let args = match cli.command {
        Command::Serve(args) => args,
        Command::Plugin { admin, cmd } => return admin::plugin(admin.authorize()?, cmd),
        Command::Dlq { admin, cmd } => return admin::dlq(admin.authorize()?, cmd),
        Command::Pipeline { admin, cmd } => return admin::pipeline(admin.authorize()?, cmd),
        Command::Cluster { admin, cmd } => return admin::cluster(admin.authorize()?, cmd),
        Command::User { admin, cmd } => return admin::user(admin.authorize()?, cmd),
        Command::Topic { admin, cmd } => return admin::topic(admin.authorize()?, cmd),
        Command::Group { admin, cmd } => return admin::group(admin.authorize()?, cmd),
    };
    memcpy::keep_memcpy_off_rep_movsb();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log redirected to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = broker_config(&args)?;
    let files = open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let running = weir_server::start(config)
            .await
            .map_err(|e| explain_start_failure(e, files))?;
        let (host, port) = running.broker.advertised.clone();
        let http = running.http_addr.map_or("off".to_string(), |a| a.to_string());
        tracing::info!(
            kafka = %running.kafka_addr, advertised = %format!("{host}:{port}"), http = %http,
            data = %data_dir.display(), startup_ms = started.elapsed().as_millis() as u64, "weir is ready"
        );
        println!("weir ready: kafka={host}:{port} http={http} data={}", data_dir.display());
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and flushing logs");
        running.shutdown().await.context("shutting down")?;
        tracing::info!("stopped cleanly");
        Ok::<_, anyhow::Error>(())
    })?;
    let _ = Cli::command;
    Ok(())
}
