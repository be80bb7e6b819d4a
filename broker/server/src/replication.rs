//! Followers replicate from partition leaders the Kafka way: a fetcher per leader broker sends
//! Fetch requests (v12) carrying this broker's id as `replica_id`, for every partition it
//! follows on that leader. The leader answers with what it has up to its log end, its high
//! watermark, and (when the follower's last epoch diverges from the leader's history) the
//! epoch and offset to truncate to; see ARCHITECTURE.md.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::BrokerStream;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt as _;
use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::fetch_request::{FetchPartition, FetchTopic};
use weir_protocol::kafka::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use weir_protocol::kafka::protocol::StrBytes;

use crate::broker::{Broker, now_ms};
use crate::partition::PartitionRef;

/// The Fetch version followers use: the last one that names topics (v13 uses topic ids) and
/// already carries `last_fetched_epoch` / `diverging_epoch`.
const FETCH_VERSION: i16 = 12;
/// How long the leader may hold a follower's fetch when there is nothing new.
const MAX_WAIT_MS: i32 = 500;
const PARTITION_MAX_BYTES: i32 = 4 << 20;
const MAX_BYTES: i32 = 32 << 20;
/// Pause after a failed connection or request before trying again.
const BACKOFF: Duration = Duration::from_millis(300);

/// A partition a fetcher replicates, with the leader epoch it follows.
#[derive(Clone)]
struct Followed {
    partition: PartitionRef,
    epoch: i32,
}

type Wanted = Arc<Mutex<BTreeMap<(String, i32), Followed>>>;

struct Fetcher {
    wanted: Wanted,
    task: tokio::task::JoinHandle<()>,
}

/// The replica fetchers of one broker, one per leader it follows partitions of.
#[derive(Default)]
pub(crate) struct Fetchers {
    by_leader: Mutex<HashMap<i32, Fetcher>>,
}

impl Drop for Fetchers {
    fn drop(&mut self) {
        for f in self.by_leader.lock().values() {
            f.task.abort();
        }
    }
}

impl Fetchers {
    /// Makes the fetchers follow exactly `follow`: `(leader, partition, leader epoch)`.
    pub(crate) fn set(&self, broker: &Arc<Broker>, follow: Vec<(i32, PartitionRef, i32)>) {
        let mut by_leader: HashMap<i32, BTreeMap<(String, i32), Followed>> = HashMap::new();
        for (leader, partition, epoch) in follow {
            by_leader.entry(leader).or_default().insert(
                (partition.topic.clone(), partition.index),
                Followed { partition, epoch },
            );
        }
        let mut fetchers = self.by_leader.lock();
        fetchers.retain(|leader, f| {
            let keep = by_leader.contains_key(leader) && !f.task.is_finished();
            if !keep {
                f.task.abort();
            }
            keep
        });
        for (leader, wanted) in by_leader {
            if let Some(f) = fetchers.get(&leader) {
                *f.wanted.lock() = wanted;
                continue;
            }
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                tracing::error!("replica fetchers need a tokio runtime");
                return;
            };
            let wanted: Wanted = Arc::new(Mutex::new(wanted));
            let task = rt.spawn(run(Arc::downgrade(broker), leader, wanted.clone()));
            fetchers.insert(leader, Fetcher { wanted, task });
        }
    }
}

/// Fetches from `leader` until the broker goes away or the task is aborted.
async fn run(broker: std::sync::Weak<Broker>, leader: i32, wanted: Wanted) {
    let mut conn: Option<BrokerStream> = None;
    let mut correlation = 0i32;
    loop {
        let Some(b) = broker.upgrade() else { return };
        if *b.shutdown_signal().borrow() {
            return;
        }
        // A partition this broker stopped hosting (moved away by a reassignment, deleted)
        // is not fetched, even before the next reconcile takes it off the list.
        let followed: Vec<Followed> = wanted
            .lock()
            .values()
            .filter(|f| {
                b.partition(&f.partition.topic, f.partition.index)
                    .is_some_and(|p| Arc::ptr_eq(&p, &f.partition))
            })
            .cloned()
            .collect();
        if followed.is_empty() {
            drop(b);
            tokio::time::sleep(BACKOFF).await;
            continue;
        }
        if conn.is_none() {
            match connect(&b, leader).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(leader, error = %e, "replica fetcher cannot reach the leader");
                    drop(b);
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let Some(stream) = conn.as_mut() else {
            continue;
        };
        correlation = correlation.wrapping_add(1);
        let req = fetch_request(b.config.node_id, &followed);
        let result = exchange(stream, correlation, &req).await;
        match result {
            Ok(resp) => {
                let pause = apply_response(&b, &followed, resp);
                drop(b);
                if pause {
                    tokio::time::sleep(BACKOFF).await;
                }
            }
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed; reconnecting");
                conn = None;
                drop(b);
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

async fn connect(broker: &Broker, leader: i32) -> std::io::Result<BrokerStream> {
    let addr = broker
        .metadata
        .read(|s| s.brokers.get(&leader).map(|b| (b.host.clone(), b.port)))
        .ok_or_else(|| std::io::Error::other(format!("broker {leader} is not registered")))?;
    let port = u16::try_from(addr.1).map_err(std::io::Error::other)?;
    crate::auth::connect(
        &broker.config.security,
        &addr.0,
        port,
        Duration::from_secs(5),
    )
    .await
}

fn fetch_request(me: i32, followed: &[Followed]) -> FetchRequest {
    let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    for f in followed {
        let log = &f.partition.log;
        topics.entry(f.partition.topic.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(f.partition.index)
                .with_current_leader_epoch(f.epoch)
                .with_fetch_offset(log.log_end_offset())
                .with_last_fetched_epoch(log.latest_epoch().map_or(-1, |(e, _)| e))
                .with_log_start_offset(log.log_start_offset())
                .with_partition_max_bytes(PARTITION_MAX_BYTES),
        );
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(me))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(MAX_BYTES)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(t, partitions)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

/// Sends one fetch and reads its response.
async fn exchange(
    stream: &mut BrokerStream,
    correlation: i32,
    req: &FetchRequest,
) -> Result<FetchResponse, String> {
    let frame = weir_protocol::encode_request(
        ApiKey::Fetch,
        FETCH_VERSION,
        correlation,
        "weir-replica-fetcher",
        req,
    )
    .map_err(|e| e.to_string())?;
    let io = async {
        stream.write_all(&frame).await.map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
        weir_protocol::read_frame(stream, 256 << 20)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the leader closed the connection".to_string())
    };
    let wait = Duration::from_millis(MAX_WAIT_MS as u64) + Duration::from_secs(15);
    let frame: Bytes = tokio::time::timeout(wait, io)
        .await
        .map_err(|_| "fetch timed out".to_string())??;
    let (cid, resp): (i32, FetchResponse) =
        weir_protocol::decode_response(ApiKey::Fetch, FETCH_VERSION, frame)
            .map_err(|e| e.to_string())?;
    if cid != correlation {
        return Err(format!("correlation id {cid}, expected {correlation}"));
    }
    if resp.error_code != 0 {
        return Err(format!("fetch failed with error code {}", resp.error_code));
    }
    Ok(resp)
}

/// Appends what the leader sent and takes its high watermark; truncates where the leader says
/// this log diverged. Returns true when the fetcher should pause (every partition refused).
fn apply_response(broker: &Broker, followed: &[Followed], resp: FetchResponse) -> bool {
    let by_key: HashMap<(&str, i32), &Followed> = followed
        .iter()
        .map(|f| ((f.partition.topic.as_str(), f.partition.index), f))
        .collect();
    let mut progressed = false;
    let mut appended = false;
    for t in &resp.responses {
        for p in &t.partitions {
            let Some(f) = by_key.get(&(t.topic.as_str(), p.partition_index)) else {
                continue;
            };
            let part = &f.partition;
            if part.leader_epoch() != f.epoch {
                continue; // metadata moved on while the fetch was out
            }
            if p.error_code != 0 {
                handle_error(part, p.error_code, p.log_start_offset);
                continue;
            }
            progressed = true;
            if p.diverging_epoch.epoch >= 0 || p.diverging_epoch.end_offset >= 0 {
                truncate_diverged(part, p.diverging_epoch.epoch, p.diverging_epoch.end_offset);
                continue;
            }
            if let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) {
                match part.log.append_replica(records, now_ms()) {
                    Ok(_) => appended = true,
                    Err(e) => {
                        tracing::error!(topic = %part.topic, partition = part.index, error = %e, "could not append replicated records");
                        continue;
                    }
                }
            }
            part.log.reset_high_watermark(p.high_watermark);
            follow_log_start(part, p.log_start_offset);
        }
    }
    if appended {
        broker.notify_append();
    }
    !progressed
}

/// A follower's log starts no earlier than the leader's (DeleteRecords, and the compaction of
/// the coordinator partition, move it on the leader): records deleted there are deleted here,
/// up to this replica's high watermark, so that they cannot come back with a leader change.
fn follow_log_start(part: &PartitionRef, leader_log_start: i64) {
    let target = leader_log_start.min(part.log.high_watermark());
    if target <= part.log.log_start_offset() {
        return;
    }
    if let Err(e) = part.log.delete_records_before(target) {
        tracing::warn!(topic = %part.topic, partition = part.index, error = %e, "could not follow the leader's log start offset");
    }
}

/// The leader's history differs from this log after `end_offset` of `epoch`: cut this log at
/// the smaller of that and where this log's own `epoch` ends.
fn truncate_diverged(part: &PartitionRef, epoch: i32, end_offset: i64) {
    let (own_epoch, own_end) = part.log.end_offset_for_epoch(epoch);
    let target = if own_epoch == epoch {
        end_offset.min(own_end)
    } else {
        end_offset
    }
    .max(0);
    tracing::info!(
        topic = %part.topic, partition = part.index, epoch, offset = target,
        "truncating a log that diverged from the leader"
    );
    if let Err(e) = part.log.truncate_to(target) {
        tracing::error!(topic = %part.topic, partition = part.index, error = %e, "truncation failed");
    }
}

fn handle_error(part: &PartitionRef, code: i16, leader_log_start: i64) {
    if code == ResponseError::OffsetOutOfRange.code()
        && leader_log_start > part.log.log_end_offset()
    {
        // The leader deleted what this follower still needs (retention): start over at the
        // leader's log start.
        tracing::warn!(topic = %part.topic, partition = part.index, start = leader_log_start, "follower behind the leader's log start; starting over there");
        if let Err(e) = part.log.restart_at(leader_log_start) {
            tracing::error!(topic = %part.topic, partition = part.index, error = %e, "could not reset the follower log");
        }
        return;
    }
    tracing::debug!(topic = %part.topic, partition = part.index, code, "replica fetch refused");
}
