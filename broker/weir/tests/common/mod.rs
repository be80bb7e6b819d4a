//! Shared harness: starts the real `weir` binary on ephemeral ports with a fresh data dir.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;

pub struct Weir {
    child: Option<Child>,
    pub kafka: String,
    pub http: String,
    pub data: PathBuf,
    extra: Vec<String>,
    /// The open-file limit (soft, hard) it runs under, when a test sets one.
    open_files: Option<(u64, u64)>,
    _tmp: Option<tempfile::TempDir>,
}

fn spawn(
    data: &Path,
    listen: &str,
    extra: &[String],
    open_files: Option<(u64, u64)>,
) -> (Child, String, String) {
    let cmd = match open_files {
        None => serve_command(data, listen, extra),
        Some((soft, hard)) => with_open_file_limit(serve_command(data, listen, extra), soft, hard),
    };
    let (child, ready) = spawn_command(cmd);
    let (kafka, http) = wait_ready(&ready);
    (child, kafka, http)
}

/// `cmd` run by `sh` under an open-file limit of `soft` and `hard` (`ulimit`), exec'd so that
/// its process is the child's.
fn with_open_file_limit(cmd: Command, soft: u64, hard: u64) -> Command {
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(format!(
            "ulimit -S -n {soft} && ulimit -H -n {hard} && exec \"$0\" \"$@\""
        ))
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_remove("RUST_LOG");
    limited
}

/// `weir serve` on `listen`, HTTP on an ephemeral port, data in `data`, then `extra`.
fn serve_command<S: AsRef<std::ffi::OsStr>>(data: &Path, listen: &str, extra: &[S]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args([
        "serve",
        "--listen",
        listen,
        "--http-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data)
    .args(extra)
    .env_remove("RUST_LOG");
    cmd
}

/// Runs `weir serve` with `extra` on a fresh data directory and ephemeral ports, for settings
/// that must be refused at start: whether it succeeded, and its stdout and stderr.
pub fn serve_output(extra: &[&str]) -> (bool, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = serve_command(&tmp.path().join("data"), "127.0.0.1:0", extra)
        .output()
        .expect("run weir serve");
    outcome(&out)
}

/// Whether a finished `weir` succeeded, and its stdout then stderr.
fn outcome(out: &std::process::Output) -> (bool, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Starts `weir serve`; the receiver gets its ready line.
fn spawn_child(data: &Path, listen: &str, extra: &[String]) -> (Child, mpsc::Receiver<String>) {
    spawn_command(serve_command(data, listen, extra))
}

/// Starts a `weir serve` command; the receiver gets its ready line.
fn spawn_command(mut cmd: Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn weir");
    let rx = ready_lines(&mut child);
    (child, rx)
}

/// The ready lines a `weir serve` child (started with piped stdout) prints, as they come.
pub fn ready_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("weir ready:") {
                let _ = tx.send(line);
            }
        }
    });
    rx
}

/// The Kafka and HTTP addresses from the ready line.
fn wait_ready(rx: &mpsc::Receiver<String>) -> (String, String) {
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("weir did not become ready within 60 s");
    ready_fields(&line)
}

fn ready_fields(line: &str) -> (String, String) {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .expect("ready line field")
            .to_string()
    };
    (field("kafka="), field("http="))
}

/// A free TCP port on 127.0.0.1 for a listener whose address must be known before it binds
/// (a controller voter). Taken from 20000-32767, below Linux's ephemeral range, so that the
/// `:0` binds of the other brokers under test cannot grab it in between.
///
/// A port is never handed out twice in one test process: tests run in parallel, and two of them
/// drawing the same free port before either member binds it would fail one start.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let seed = RandomState::new().hash_one(std::process::id());
    for i in 0..1000u64 {
        let port = 20000 + ((seed.wrapping_add(i.wrapping_mul(7919))) % 12768) as u16;
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free port in 20000-32767");
}

/// Starts `n` brokers that form one controller quorum (node ids 1..=n), all at once, since
/// each waits for a majority before it is ready.
/// Cluster flags for failover tests: a silent broker is fenced after 1.5 s; a follower that
/// has not caught up for 2 s leaves the ISR.
pub const FAST_FAILOVER: &[&str] = &[
    "--broker-session-timeout-ms",
    "1500",
    "--replica-lag-time-max-ms",
    "2000",
];

/// Three members started with [`FAST_FAILOVER`] and `extra`, each listing all three brokers
/// (so a replication factor of 3 can be placed).
pub fn three_brokers(extra: &[&str]) -> Vec<Weir> {
    let args: Vec<&str> = FAST_FAILOVER.iter().chain(extra).copied().collect();
    let nodes = start_cluster(3, &args);
    for n in &nodes {
        wait_for("every member to list the three brokers", || {
            raw_metadata(n, Some(&[])).is_some_and(|md| md.brokers.len() == 3)
        });
    }
    nodes
}

/// The member started with `--node-id id`.
pub fn node(nodes: &[Weir], id: i32) -> &Weir {
    nodes
        .iter()
        .find(|n| n.node_id() == Some(id))
        .unwrap_or_else(|| panic!("no node {id}"))
}

pub fn node_mut(nodes: &mut [Weir], id: i32) -> &mut Weir {
    nodes
        .iter_mut()
        .find(|n| n.node_id() == Some(id))
        .unwrap_or_else(|| panic!("no node {id}"))
}

pub fn running(nodes: &[Weir]) -> impl Iterator<Item = &Weir> {
    nodes.iter().filter(|n| n.is_running())
}

/// The Kafka addresses of the running members, comma-separated.
pub fn bootstrap(nodes: &[Weir]) -> String {
    running(nodes)
        .map(|n| n.kafka.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `GET /v1/cluster` of `w`, parsed.
pub fn cluster_view(w: &Weir) -> serde_json::Value {
    let (code, body) = w.http_get("/v1/cluster");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

pub fn start_cluster(n: usize, extra_args: &[&str]) -> Vec<Weir> {
    start_cluster_each(n, extra_args, |_| Vec::new())
}

/// As [`start_cluster`], with `per_node(id)` adding arguments to member `id` only.
pub fn start_cluster_each(
    n: usize,
    extra_args: &[&str],
    per_node: impl Fn(usize) -> Vec<String>,
) -> Vec<Weir> {
    // A voter's port is chosen before its member binds it, so something else on the machine can
    // take it in between (seen once in CI: "controller listener ...: Address already in use").
    // Such a start is retried with new ports; a member that cannot start fails every attempt.
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        if let Some(cluster) = try_start_cluster(n, extra_args, &per_node) {
            return cluster;
        }
        eprintln!("cluster start attempt {attempt} of {ATTEMPTS}: a member did not become ready");
    }
    panic!("a cluster member did not become ready within 60 s, {ATTEMPTS} attempts");
}

/// One attempt of [`start_cluster_each`]: `None` (every member stopped) if a member exits or
/// is not ready within 60 s.
fn try_start_cluster(
    n: usize,
    extra_args: &[&str],
    per_node: &impl Fn(usize) -> Vec<String>,
) -> Option<Vec<Weir>> {
    let voters: Vec<String> = (1..=n)
        .map(|id| format!("{id}@127.0.0.1:{}", free_port()))
        .collect();
    let voters = voters.join(",");
    let started: Vec<_> = (1..=n)
        .map(|id| {
            let tmp = tempfile::tempdir().expect("tmp");
            let data = tmp.path().join("data");
            let mut extra = vec![
                "--node-id".to_string(),
                id.to_string(),
                "--controller-voters".to_string(),
                voters.clone(),
            ];
            extra.extend(extra_args.iter().map(|s| s.to_string()));
            extra.extend(per_node(id));
            let (child, rx) = spawn_child(&data, "127.0.0.1:0", &extra);
            (tmp, data, extra, child, rx)
        })
        .collect();
    let mut ready = Vec::new();
    let mut waiting = started.into_iter();
    while let Some((tmp, data, extra, mut child, rx)) = waiting.next() {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            // Leave no member running behind a failed start.
            let _ = child.kill();
            for (_, _, _, mut c, _) in waiting {
                let _ = c.kill();
            }
            drop(ready);
            return None;
        };
        let (kafka, http) = ready_fields(&line);
        ready.push(Weir {
            child: Some(child),
            kafka,
            http,
            data,
            extra,
            open_files: None,
            _tmp: Some(tmp),
        });
    }
    Some(ready)
}

impl Weir {
    pub fn start(extra: &[&str]) -> Weir {
        Weir::start_limited(extra, None)
    }

    /// [`Weir::start`] under an open-file limit of (soft, hard), kept across restarts.
    pub fn start_with_open_files(soft: u64, hard: u64, extra: &[&str]) -> Weir {
        Weir::start_limited(extra, Some((soft, hard)))
    }

    fn start_limited(extra: &[&str], open_files: Option<(u64, u64)>) -> Weir {
        let tmp = tempfile::tempdir().expect("tmp");
        let data = tmp.path().join("data");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, kafka, http) = spawn(&data, "127.0.0.1:0", &extra, open_files);
        Weir {
            child: Some(child),
            kafka,
            http,
            data,
            extra,
            open_files,
            _tmp: Some(tmp),
        }
    }

    /// SIGTERM and wait: the clean shutdown path.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let status = c.wait().expect("wait");
            assert!(status.success(), "weir exited with {status}");
        }
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill");
            let _ = c.wait();
        }
    }

    /// Starts again on the same data dir and port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        let (child, kafka, http) = spawn(&self.data, &self.kafka, &self.extra, self.open_files);
        assert_eq!(kafka, self.kafka);
        self.child = Some(child);
        self.http = http;
    }

    /// Whether this handle has a process (not stopped or killed through it; a paused one counts).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The value of command-line flag `name` it was started with.
    pub fn flag(&self, name: &str) -> Option<String> {
        self.extra
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.extra.get(i + 1))
            .cloned()
    }

    /// The `--node-id` it was started with (every [`start_cluster`] member has one).
    pub fn node_id(&self) -> Option<i32> {
        self.extra
            .iter()
            .position(|a| a == "--node-id")
            .and_then(|i| self.extra.get(i + 1))
            .and_then(|id| id.parse().ok())
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("not running").id()
    }

    /// SIGSTOP: the process freezes with its sockets open (no heartbeats, no fetches, no
    /// answers) until [`Weir::resume`]. A paused process is still killed on drop.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Weir::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let c = self.child.as_ref().expect("not running");
        let status = Command::new("kill")
            .args([sig, &c.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {}: {status}", c.id());
    }

    pub fn producer(&self, extra: &[(&str, &str)]) -> FutureProducer {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.kafka)
            .set("message.timeout.ms", "10000");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create().expect("producer")
    }

    pub fn consumer(&self) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.kafka)
            .set("group.id", "unused-manual-assignment")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .expect("consumer")
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.kafka)
            .create()
            .expect("admin")
    }

    /// Creates `name` with `partitions` partitions (replication factor 1) through the admin
    /// client, and waits for the answer.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
        let admin = self.admin();
        let created = runtime()
            .block_on(admin.create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(15))),
            ))
            .expect("create topics");
        created[0].as_ref().expect("topic created");
    }

    pub fn http_get(&self, path: &str) -> (u16, String) {
        self.http_request("GET", path, None)
    }

    /// One request to the HTTP API (with a JSON body when given): the status code and the
    /// response body.
    pub fn http_request(
        &self,
        method: &str,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.http).expect("http connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let request = match json {
            Some(body) => {
                let body = body.to_string();
                format!(
                    "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            None => format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        };
        s.write_all(request.as_bytes()).expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Reads `n` messages from `topic`/`partition` starting at `offset` with manual assignment.
pub fn consume(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    offset: i64,
    n: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::{Offset, TopicPartitionList};
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} messages arrived",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.expect("consume error").detach());
        }
    }
    out
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Correlation id of requests built by [`raw_request`].
pub const RAW_CORRELATION_ID: i32 = 11;

/// A size-prefixed request frame, as a client would put it on the socket.
pub fn raw_request<T: kafka_protocol::protocol::Encodable>(
    api: kafka_protocol::messages::ApiKey,
    version: i16,
    body: &T,
) -> Vec<u8> {
    use bytes::BufMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let mut buf = bytes::BytesMut::new();
    buf.put_i32(0);
    kafka_protocol::messages::RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(RAW_CORRELATION_ID)
        .with_client_id(Some(StrBytes::from_static_str("raw")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header");
    body.encode(&mut buf, version).expect("body");
    let n = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&n.to_be_bytes());
    buf.to_vec()
}

/// Reads one size-prefixed response frame; `None` if the connection closed first.
pub fn read_raw_response(s: &mut std::net::TcpStream) -> Option<bytes::Bytes> {
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(bytes::Bytes::from(body))
}

/// A one-record v2 batch as a producer would send it (`producer_id` -1 for a plain producer).
pub fn raw_batch(value: &str, producer_id: i64, epoch: i16, sequence: i32) -> bytes::Bytes {
    raw_batch_at(value, producer_id, epoch, sequence, 1000)
}

/// [`raw_batch`] with the record's create time (ms); a recent one keeps time-based retention
/// from deleting the record while a test runs.
pub fn raw_batch_at(
    value: &str,
    producer_id: i64,
    epoch: i16,
    sequence: i32,
    timestamp: i64,
) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let rec = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence,
        timestamp,
        key: None,
        value: Some(bytes::Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&rec],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf.freeze()
}

/// Polls `ok` every 100 ms until it holds; panics naming `what` after 30 s.
pub fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A connection to `addr` that gives up after `timeout` to connect and to read, so that a
/// dead or paused broker cannot hang a test; `None` when it does not connect.
pub fn raw_connect(addr: &str, timeout: Duration) -> Option<std::net::TcpStream> {
    use std::net::ToSocketAddrs;
    let addr = addr.to_socket_addrs().ok()?.next()?;
    let s = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    Some(s)
}

/// Sends one request built by [`raw_request`] and returns the response body after its header;
/// `None` when the broker closed the connection or did not answer within the read timeout.
pub fn raw_roundtrip<T: kafka_protocol::protocol::Encodable>(
    s: &mut std::net::TcpStream,
    api: kafka_protocol::messages::ApiKey,
    version: i16,
    body: &T,
) -> Option<bytes::Bytes> {
    use kafka_protocol::protocol::Decodable;
    use std::io::Write;
    s.write_all(&raw_request(api, version, body)).ok()?;
    let mut b = read_raw_response(s)?;
    kafka_protocol::messages::ResponseHeader::decode(&mut b, api.response_header_version(version))
        .ok()?;
    Some(b)
}

/// Metadata v9 asked of `w` alone (not of a broker a client picks): the brokers it lists and,
/// with `topics` given, those topics (all topics with `None`). `None` when `w` does not
/// answer within 5 s.
pub fn raw_metadata(
    w: &Weir,
    topics: Option<&[&str]>,
) -> Option<kafka_protocol::messages::MetadataResponse> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
    use kafka_protocol::protocol::Decodable;
    let req = MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default().with_name(Some(TopicName(t.to_string().into())))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    let mut s = raw_connect(&w.kafka, Duration::from_secs(5))?;
    let mut b = raw_roundtrip(&mut s, ApiKey::Metadata, 9, &req)?;
    MetadataResponse::decode(&mut b, 9).ok()
}

/// OffsetCommit v8 of one offset, as a member (`generation`, `member`) or from outside the
/// group (-1, ""); the partition's error code.
pub fn raw_commit_offset(
    s: &mut std::net::TcpStream,
    group: &str,
    (generation, member): (i32, &str),
    (topic, partition): (&str, i32),
    offset: i64,
) -> i16 {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{
        ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, TopicName,
    };
    use kafka_protocol::protocol::Decodable;
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(group.to_string().into()))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member.to_string().into())
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset),
                ]),
        ]);
    let mut b = raw_roundtrip(s, ApiKey::OffsetCommit, 8, &commit).expect("an OffsetCommit answer");
    let r = OffsetCommitResponse::decode(&mut b, 8).expect("decode");
    r.topics[0].partitions[0].error_code
}

/// `(protocol type, state)` of `group` as ListGroups v4 lists it; `None` when it is not listed.
pub fn raw_listed_group(s: &mut std::net::TcpStream, group: &str) -> Option<(String, String)> {
    use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
    use kafka_protocol::messages::{ApiKey, ListGroupsResponse};
    use kafka_protocol::protocol::Decodable;
    let mut b = raw_roundtrip(s, ApiKey::ListGroups, 4, &ListGroupsRequest::default())
        .expect("a ListGroups answer");
    let listed = ListGroupsResponse::decode(&mut b, 4).expect("decode");
    listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == group)
        .map(|g| (g.protocol_type.to_string(), g.group_state.to_string()))
}

/// A Produce request (v3 and later) of one batch to `topic`/`partition`.
pub fn raw_produce_request(
    topic: &str,
    partition: i32,
    acks: i16,
    records: bytes::Bytes,
) -> kafka_protocol::messages::ProduceRequest {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

/// One partition as a broker's Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub leader: i32,
    pub leader_epoch: i32,
    /// In the order Metadata lists them (the preferred leader first).
    pub replicas: Vec<i32>,
    /// Sorted.
    pub isr: Vec<i32>,
}

/// Partition `p` of `topic` as broker `w` alone sees it (Metadata v9); `None` when `w` does not
/// answer, or does not know the topic or partition.
pub fn raw_partition(w: &Weir, topic: &str, p: i32) -> Option<PartitionView> {
    let md = raw_metadata(w, Some(&[topic]))?;
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))?;
    if t.error_code != 0 {
        return None;
    }
    let part = t.partitions.iter().find(|x| x.partition_index == p)?;
    let mut isr: Vec<i32> = part.isr_nodes.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    Some(PartitionView {
        leader: part.leader_id.0,
        leader_epoch: part.leader_epoch,
        replicas: part.replica_nodes.iter().map(|b| b.0).collect(),
        isr,
    })
}

/// Runs the `weir` binary with `args` (an admin command): whether it succeeded, and its stdout
/// and stderr.
pub fn weir_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("run weir");
    outcome(&out)
}
