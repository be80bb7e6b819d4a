use std::time::Duration;

use weir_protocol::kafka::ResponseError;
use weir_protocol::kafka::messages::fetch_request::FetchPartition;
use weir_protocol::kafka::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use weir_protocol::kafka::messages::{FetchRequest, FetchResponse, ProducerId};

use weir_protocol::Splice;
use weir_storage::FileSlice;

use crate::broker::Broker;
use crate::partition::Partition;

/// Below this many bytes of records a response carries them in memory (one write); above, they
/// go from the page cache to the socket with `sendfile` (a write per part between them).
const SPLICE_MIN_BYTES: usize = 64 << 10;

/// A fetch response, and the records it sends straight from the log files: `records[i]` goes
/// in the partition `splices[i]` names (both in response order).
pub(crate) struct FetchReply {
    pub(crate) body: FetchResponse,
    pub(crate) splices: Vec<Splice>,
    pub(crate) records: Vec<FileSlice>,
}

impl FetchReply {
    fn new(body: FetchResponse) -> FetchReply {
        FetchReply {
            body,
            splices: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Puts the records in the response itself when they are too few to be worth a
    /// `sendfile` each; a read that fails answers its partition with the error.
    fn finish(mut self, total: usize) -> FetchReply {
        if total >= SPLICE_MIN_BYTES {
            return self;
        }
        for (s, slice) in self.splices.drain(..).zip(self.records.drain(..)) {
            let Some(p) = self
                .body
                .responses
                .get_mut(s.topic)
                .and_then(|t| t.partitions.get_mut(s.partition))
            else {
                continue;
            };
            match slice.read() {
                Ok(bytes) => p.records = Some(bytes),
                Err(e) => {
                    tracing::warn!(error = %e, "reading fetched records failed");
                    p.error_code = e.kafka_code();
                    p.records = Some(bytes::Bytes::new());
                }
            }
        }
        self
    }
}

/// Serves a fetch, long-polling until `min_bytes` are available or `max_wait_ms` passes.
///
/// Fetch sessions (KIP-227) are refused cleanly: every response carries session id 0, so
/// clients keep sending full fetch requests; an incremental request for a session this broker
/// never created gets FETCH_SESSION_ID_NOT_FOUND.
pub(crate) async fn handle(broker: &Broker, req: FetchRequest) -> FetchReply {
    if req.session_id != 0 && req.session_epoch > 0 {
        return FetchReply::new(
            FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code()),
        );
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let mut appends = broker.subscribe_appends();
    let mut stop = broker.shutdown_signal();
    loop {
        appends.borrow_and_update();
        let (reply, bytes, errors) = read_all(broker, &req);
        if bytes >= min_bytes.max(1) || errors || tokio::time::Instant::now() >= deadline {
            return reply.finish(bytes);
        }
        tokio::select! {
            changed = appends.changed() => if changed.is_err() { return reply.finish(bytes) },
            _ = tokio::time::sleep_until(deadline) => {}
            _ = stop.wait_for(|s| *s) => return reply.finish(bytes),
        }
    }
}

/// Why a partition of a fetch gets no records: a wire error, or (to a follower) the epoch and
/// offset where its log diverged from the leader's.
enum Refusal {
    Code(i16),
    Diverged(i32, i64),
}

/// Checks that this broker leads the partition at the epoch the fetcher knows, and for a
/// follower that its log agrees with the leader's history up to where it fetches from.
fn check_fetch(
    broker: &Broker,
    partition: &Partition,
    replica: Option<i32>,
    p: &FetchPartition,
) -> Result<(), Refusal> {
    if !partition.is_leader(broker.config.node_id) {
        return Err(Refusal::Code(ResponseError::NotLeaderOrFollower.code()));
    }
    let epoch = partition.leader_epoch();
    if p.current_leader_epoch >= 0 {
        if p.current_leader_epoch < epoch {
            return Err(Refusal::Code(ResponseError::FencedLeaderEpoch.code()));
        }
        if p.current_leader_epoch > epoch {
            return Err(Refusal::Code(ResponseError::UnknownLeaderEpoch.code()));
        }
    }
    if replica.is_some() && p.last_fetched_epoch >= 0 {
        let (e, end) = partition.log.end_offset_for_epoch(p.last_fetched_epoch);
        if e < 0 {
            // The follower's epoch predates this leader's whole epoch history: its log agrees
            // up to where that history starts (offsets before it were written earlier).
            let first = partition.log.first_epoch_start().unwrap_or(0);
            if p.fetch_offset > first {
                return Err(Refusal::Diverged(p.last_fetched_epoch, first));
            }
        } else if e != p.last_fetched_epoch || end < p.fetch_offset {
            return Err(Refusal::Diverged(e, end));
        }
    }
    Ok(())
}

/// Locates every partition's records (reading none of them) and builds the response around
/// them: `(reply, bytes of records, whether some partition failed)`.
fn read_all(broker: &Broker, req: &FetchRequest) -> (FetchReply, usize, bool) {
    let read_committed = req.isolation_level == 1;
    // A broker fetching as a follower names itself (v15+ in replica_state).
    let replica = [req.replica_id.0, req.replica_state.replica_id.0]
        .into_iter()
        .find(|&id| id >= 0);
    let mut budget = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let mut total = 0usize;
    let mut errors = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    let (mut splices, mut records) = (Vec::new(), Vec::new());
    for t in &req.topics {
        let name = t.topic.to_string();
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut out = PartitionData::default()
                .with_partition_index(p.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_preferred_read_replica((-1).into())
                .with_aborted_transactions(read_committed.then(Vec::new));
            let Some(partition) = broker.partition(&name, p.partition) else {
                errors = true;
                parts.push(out.with_error_code(broker.missing_partition_code(&name, p.partition)));
                continue;
            };
            match check_fetch(broker, &partition, replica, p) {
                Ok(()) => {}
                Err(Refusal::Code(code)) => {
                    errors = true;
                    parts.push(out.with_error_code(code));
                    continue;
                }
                Err(Refusal::Diverged(epoch, end_offset)) => {
                    errors = true;
                    parts.push(
                        out.with_high_watermark(partition.log.high_watermark())
                            .with_log_start_offset(partition.log.log_start_offset())
                            .with_diverging_epoch(
                                EpochEndOffset::default()
                                    .with_epoch(epoch)
                                    .with_end_offset(end_offset),
                            ),
                    );
                    continue;
                }
            }
            let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
            // KIP-74: the first partition with data returns at least one batch, however large.
            let read = match replica {
                Some(id) => {
                    partition.follower_fetched(id, p.fetch_offset);
                    if partition.advance_high_watermark(broker.config.node_id) {
                        broker.notify_append();
                    }
                    partition.log.slice_replica(p.fetch_offset, limit)
                }
                None => {
                    partition
                        .log
                        .slice_isolated(p.fetch_offset, limit, total == 0, read_committed)
                }
            };
            match read {
                Ok(r) => {
                    total += r.records.len();
                    budget = budget.saturating_sub(r.records.len());
                    let aborted = read_committed.then(|| {
                        r.aborted
                            .iter()
                            .map(|(pid, first)| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(*pid))
                                    .with_first_offset(*first)
                            })
                            .collect()
                    });
                    out = out
                        .with_high_watermark(r.high_watermark)
                        .with_last_stable_offset(r.last_stable_offset)
                        .with_log_start_offset(r.log_start_offset)
                        .with_aborted_transactions(aborted)
                        .with_records(Some(bytes::Bytes::new()));
                    if !r.records.is_empty() {
                        splices.push(Splice {
                            topic: topics.len(),
                            partition: parts.len(),
                            len: r.records.len(),
                        });
                        records.push(r.records);
                    }
                }
                Err(e) => {
                    errors = true;
                    out = out
                        .with_error_code(e.kafka_code())
                        .with_high_watermark(partition.log.high_watermark())
                        .with_last_stable_offset(partition.log.last_stable_offset())
                        .with_log_start_offset(partition.log.log_start_offset());
                }
            }
            parts.push(out);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(parts),
        );
    }
    (
        FetchReply {
            body: FetchResponse::default().with_responses(topics),
            splices,
            records,
        },
        total,
        errors,
    )
}
