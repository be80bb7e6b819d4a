//! Committed offsets of the groups the broker drives itself (pipelines, dead-letter replay),
//! wherever the group coordinator is. On a lone node, or when this broker leads
//! `__consumer_offsets-0`, the local [`GroupCoordinator`](crate::group::GroupCoordinator)
//! answers; otherwise a small Kafka client sends OffsetCommit (v8) and OffsetFetch (v7) to the
//! coordinator, over one cached connection per coordinator address. A request that finds the
//! coordinator moved (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE) is tried once more after
//! looking the coordinator up again; the whole call gives up after [`TIMEOUT`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use weir_protocol::kafka::messages::offset_fetch_request::OffsetFetchRequestTopic;
use weir_protocol::kafka::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use weir_protocol::kafka::protocol::{Decodable, Encodable, StrBytes};

use crate::auth::{BrokerStream, Security};
use crate::broker::Broker;

/// How long one commit or read may take, retry included (Kafka's `offsets.commit.timeout.ms`).
const TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before the second try, so that a new coordinator has time to load the offsets.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
const COMMIT_VERSION: i16 = 8;
const FETCH_VERSION: i16 = 7;
const CLIENT_ID: &str = "weir-coordinator-client";
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Commits `offset` for `group` on `topic`/`partition` (a group without members, such as a
/// pipeline's), durably: in a cluster, once the offsets partition's in-sync replicas have it.
pub(crate) async fn commit(
    broker: &Arc<Broker>,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), String> {
    retried("committing an offset", || {
        commit_once(broker, group, topic, partition, offset)
    })
    .await
}

/// The offset `group` committed for `topic`/`partition`; `None` when it has none. An error
/// (coordinator unreachable or moving) is never reported as `None`.
pub(crate) async fn committed(
    broker: &Arc<Broker>,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, String> {
    retried("reading a committed offset", || {
        committed_once(broker, group, topic, partition)
    })
    .await
}

/// Why one try failed.
#[derive(Debug)]
enum Failure {
    /// The coordinator moved or is being elected: worth a second try after a new lookup.
    Moved(i16),
    /// Any other error code.
    Code(i16),
    /// Connection, framing or decoding.
    Io(String),
}

impl Failure {
    fn from_code(code: i16) -> Failure {
        use ResponseError as E;
        let moved = [
            E::NotCoordinator,
            E::CoordinatorNotAvailable,
            E::CoordinatorLoadInProgress,
            E::NotLeaderOrFollower,
        ];
        if moved.iter().any(|e| e.code() == code) {
            Failure::Moved(code)
        } else {
            Failure::Code(code)
        }
    }
}

/// Runs `once`, and once more after a pause when the coordinator moved (each try looks it up
/// again), all within [`TIMEOUT`]; words the failure.
async fn retried<T, F, Fut>(what: &str, mut once: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let tries = async {
        match once().await {
            Err(Failure::Moved(_)) => {
                tokio::time::sleep(RETRY_PAUSE).await;
                once().await
            }
            other => other,
        }
    };
    match tokio::time::timeout(TIMEOUT, tries).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Failure::Moved(code) | Failure::Code(code))) => Err(format!(
            "{what} failed at the group coordinator (error {code})"
        )),
        Ok(Err(Failure::Io(e))) => Err(format!(
            "{what} failed: the group coordinator is unreachable ({e})"
        )),
        Err(_) => Err(format!(
            "{what} failed: the group coordinator did not answer within {} s",
            TIMEOUT.as_secs()
        )),
    }
}

/// Sends one request to another broker and reads its response, on the cached connection to
/// it, within [`TIMEOUT`] (the request must be safe to send twice: a stale cached connection
/// is retried once on a new one).
pub(crate) async fn call<Req: Encodable, Resp: Decodable>(
    security: &Security,
    host: &str,
    port: u16,
    api: ApiKey,
    version: i16,
    req: &Req,
) -> Result<Resp, String> {
    match tokio::time::timeout(TIMEOUT, roundtrip(security, host, port, api, version, req)).await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(Failure::Io(e))) => Err(e),
        Ok(Err(Failure::Moved(c) | Failure::Code(c))) => Err(format!("error {c}")),
        Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
    }
}

/// Where the group coordinator is, as seen now.
enum Coordinator {
    Local,
    Remote(String, u16),
}

async fn locate(broker: &Arc<Broker>, group: &str) -> Result<Coordinator, Failure> {
    if broker.groups.is_coordinator() {
        return Ok(Coordinator::Local);
    }
    // The first lookup in a cluster creates the offsets topic through the controller: off the
    // async threads.
    let b = broker.clone();
    let key = group.to_string();
    let found = tokio::task::spawn_blocking(move || b.coordinator_for(&key))
        .await
        .map_err(|e| Failure::Io(e.to_string()))?;
    match found {
        // This broker leads the offsets partition but has not loaded it yet.
        Some((id, ..)) if id == broker.config.node_id => Err(Failure::Moved(
            ResponseError::CoordinatorLoadInProgress.code(),
        )),
        Some((_, host, port)) => {
            let port = u16::try_from(port).map_err(|e| Failure::Io(e.to_string()))?;
            Ok(Coordinator::Remote(host, port))
        }
        None => Err(Failure::Moved(
            ResponseError::CoordinatorNotAvailable.code(),
        )),
    }
}

async fn commit_once(
    broker: &Arc<Broker>,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), Failure> {
    let (host, port) = match locate(broker, group).await? {
        Coordinator::Local => return commit_local(broker, group, topic, partition, offset).await,
        Coordinator::Remote(host, port) => (host, port),
    };
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_group_instance_id(None)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(None),
                ]),
        ]);
    let resp: OffsetCommitResponse = roundtrip(
        &broker.config.security,
        &host,
        port,
        ApiKey::OffsetCommit,
        COMMIT_VERSION,
        &req,
    )
    .await?;
    let code = resp
        .topics
        .iter()
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .map(|p| p.error_code)
        .ok_or_else(|| Failure::Io("the commit response leaves the partition out".into()))?;
    if code != 0 {
        return Err(Failure::from_code(code));
    }
    Ok(())
}

/// The local coordinator's commit; in a cluster it also waits until the offsets partition's
/// in-sync replicas have it, as OffsetCommit does.
async fn commit_local(
    broker: &Broker,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<(), Failure> {
    let durable = broker
        .groups
        .commit_internal(group, topic, partition, offset)
        .map_err(Failure::from_code)?;
    let Some(d) = durable else { return Ok(()) };
    broker
        .await_high_watermark(&d.partition, d.end, d.epoch, TIMEOUT)
        .await
        .map_err(Failure::from_code)
}

async fn committed_once(
    broker: &Arc<Broker>,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, Failure> {
    let (host, port) = match locate(broker, group).await? {
        Coordinator::Local => {
            let offset = broker.groups.committed_offset(group, topic, partition);
            // Read while coordinating: a broker that just lost the role has forgotten the
            // offsets, and "none" would send a pipeline back to its start.
            if !broker.groups.is_coordinator() {
                return Err(Failure::Moved(ResponseError::NotCoordinator.code()));
            }
            return Ok(offset);
        }
        Coordinator::Remote(host, port) => (host, port),
    };
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_indexes(vec![partition]),
        ]))
        .with_require_stable(false);
    let resp: OffsetFetchResponse = roundtrip(
        &broker.config.security,
        &host,
        port,
        ApiKey::OffsetFetch,
        FETCH_VERSION,
        &req,
    )
    .await?;
    if resp.error_code != 0 {
        return Err(Failure::from_code(resp.error_code));
    }
    let p = resp
        .topics
        .iter()
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| Failure::Io("the fetch response leaves the partition out".into()))?;
    if p.error_code != 0 {
        return Err(Failure::from_code(p.error_code));
    }
    Ok((p.committed_offset >= 0).then_some(p.committed_offset))
}

/// One connection per coordinator address, used by one request at a time.
type Slot = Arc<tokio::sync::Mutex<Option<BrokerStream>>>;

fn slot(host: &str, port: u16) -> Slot {
    static CONNECTIONS: OnceLock<parking_lot::Mutex<HashMap<(String, u16), Slot>>> =
        OnceLock::new();
    CONNECTIONS
        .get_or_init(Default::default)
        .lock()
        .entry((host.to_string(), port))
        .or_default()
        .clone()
}

/// Sends one request to `host:port` and reads its response, on the cached connection when
/// there is one (a failure there is retried once on a new connection: the cached one may have
/// gone stale; both requests are idempotent).
async fn roundtrip<Req: Encodable, Resp: Decodable>(
    security: &Security,
    host: &str,
    port: u16,
    api: ApiKey,
    version: i16,
    req: &Req,
) -> Result<Resp, Failure> {
    static CORRELATION: AtomicI32 = AtomicI32::new(0);
    let slot = slot(host, port);
    let mut cached = slot.lock().await;
    // Taken out while in use: a request cancelled by the timeout drops its connection, whose
    // response may still be on the way.
    let reused = cached.take();
    let was_cached = reused.is_some();
    let mut stream = match reused {
        Some(s) => s,
        None => connect(security, host, port).await?,
    };
    let correlation = CORRELATION.fetch_add(1, Ordering::Relaxed);
    let frame = weir_protocol::encode_request(api, version, correlation, CLIENT_ID, req)
        .map_err(|e| Failure::Io(e.to_string()))?;
    let resp = match exchange(&mut stream, &frame, api, version, correlation).await {
        Ok(r) => r,
        Err(e) if !was_cached => return Err(e),
        Err(e) => {
            tracing::debug!(host, port, error = ?e, "coordinator connection failed; reconnecting");
            stream = connect(security, host, port).await?;
            exchange(&mut stream, &frame, api, version, correlation).await?
        }
    };
    *cached = Some(stream);
    Ok(resp)
}

async fn connect(security: &Security, host: &str, port: u16) -> Result<BrokerStream, Failure> {
    crate::auth::connect(security, host, port, TIMEOUT)
        .await
        .map_err(|e| Failure::Io(e.to_string()))
}

async fn exchange<Resp: Decodable>(
    stream: &mut BrokerStream,
    frame: &[u8],
    api: ApiKey,
    version: i16,
    correlation: i32,
) -> Result<Resp, Failure> {
    let io = |e: String| Failure::Io(e);
    stream
        .write_all(frame)
        .await
        .map_err(|e| io(e.to_string()))?;
    stream.flush().await.map_err(|e| io(e.to_string()))?;
    let reply = weir_protocol::read_frame(stream, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| io(e.to_string()))?
        .ok_or_else(|| io("the coordinator closed the connection".into()))?;
    let (cid, resp) = weir_protocol::decode_response::<Resp>(api, version, reply)
        .map_err(|e| io(e.to_string()))?;
    if cid != correlation {
        return Err(io(format!("correlation id {cid}, expected {correlation}")));
    }
    Ok(resp)
}
