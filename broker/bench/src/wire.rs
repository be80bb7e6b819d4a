//! The wire load generator: produce and consume that cost the client almost nothing per record,
//! so the broker, not the client, is what a workload measures.
//!
//! librdkafka on one core tops out near 1 core in the consume and 100 B rows (it builds, queues
//! and frees a message object per record), at rates where Weir's broker is at a tenth to a third
//! of its core. This client speaks the protocol directly through `kafka-protocol`: the producer
//! sends one pre-encoded v2 batch per partition in every request (`producer_id` -1, so the
//! broker appends each copy at new offsets, as it would a plain producer's) with up to
//! [`IN_FLIGHT`] requests outstanding on one connection, and checks every partition's error
//! code; the consumer sends full fetches (no session) from each partition's next offset and
//! reads only batch headers (record count, last offset) out of the records it gets back. Both
//! talk to the bootstrap broker, so a single node only; identical for every broker.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use weir_storage::BatchHeader;

/// Produce v9 and Fetch v12: flexible versions with topic names that Kafka 4.x and Weir both
/// serve.
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;
/// Requests outstanding per connection (the Java producer's default).
const IN_FLIGHT: usize = 5;
/// Bytes of records per batch: librdkafka's `batch.size` in the other rows.
const BATCH_BYTES: usize = 1_000_000;
/// A record's framing in a v2 batch is under 16 bytes for these sizes (length, attributes,
/// timestamp and offset deltas, key and value lengths, header count).
const RECORD_OVERHEAD: usize = 16;
const FETCH_MAX_BYTES: i32 = 50 << 20;
const PARTITION_MAX_BYTES: i32 = 10 << 20;
const CLIENT_ID: &str = "weir-bench-wire";
const DEADLINE: Duration = Duration::from_secs(300);

/// What a produce workload sent.
pub(crate) struct Produced {
    pub(crate) elapsed: Duration,
    /// Records acknowledged (whole requests, so at least the count asked for).
    pub(crate) records: u64,
}

fn connect(bootstrap: &str) -> anyhow::Result<TcpStream> {
    let addr = bootstrap.split(',').next().unwrap_or(bootstrap);
    let s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    Ok(s)
}

/// Reads one size-prefixed response into `buf` (reused between calls) and returns it.
fn read_response(s: &mut TcpStream, buf: &mut BytesMut) -> anyhow::Result<Bytes> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).context("reading a response size")?;
    let len = usize::try_from(i32::from_be_bytes(len)).context("negative response size")?;
    if len > 1 << 30 {
        bail!("response of {len} bytes");
    }
    // `reserve` takes the old allocation back once the previous response's `Bytes` are gone.
    buf.clear();
    buf.reserve(len);
    buf.resize(len, 0);
    s.read_exact(&mut buf[..]).context("reading a response")?;
    Ok(buf.split().freeze())
}

/// Sends `count` records of `size` bytes (at least; whole requests) spread evenly over the
/// partitions, as fast as the broker acknowledges them with `acks` (1 or -1).
pub(crate) fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    size: usize,
    count: u64,
    acks: i16,
) -> anyhow::Result<Produced> {
    let per_batch = (BATCH_BYTES / (size + RECORD_OVERHEAD)).max(1);
    let value = Bytes::from(vec![b'w'; size]);
    let entries = vec![(None, Some(value)); per_batch];
    let batch = weir_storage::encode_records(&entries, crate::load::now_ms())?;
    let per_request = per_batch as u64 * partitions as u64;
    let requests = count.div_ceil(per_request).max(1);
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(
                    (0..partitions)
                        .map(|p| {
                            PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(batch.clone()))
                        })
                        .collect(),
                ),
        ]);
    let mut frame =
        weir_protocol::encode_request(ApiKey::Produce, PRODUCE_VERSION, 0, CLIENT_ID, &req)?
            .to_vec();
    let mut s = connect(bootstrap)?;
    let mut buf = BytesMut::new();
    let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
    let (mut sent, mut acked) = (0u64, 0u64);
    let t0 = Instant::now();
    while acked < requests {
        if sent < requests && in_flight.len() < IN_FLIGHT {
            // The correlation id follows the size, the api key and the version.
            let id = sent as i32;
            frame[8..12].copy_from_slice(&id.to_be_bytes());
            s.write_all(&frame).context("sending a produce request")?;
            in_flight.push_back(id);
            sent += 1;
            continue;
        }
        let resp = read_response(&mut s, &mut buf)?;
        let (id, resp): (i32, ProduceResponse) =
            weir_protocol::decode_response(ApiKey::Produce, PRODUCE_VERSION, resp)?;
        if in_flight.pop_front() != Some(id) {
            bail!("produce response {id} out of order");
        }
        for t in &resp.responses {
            for p in &t.partition_responses {
                if p.error_code != 0 {
                    bail!(
                        "produce to {topic}-{} failed with error code {}",
                        p.index,
                        p.error_code
                    );
                }
            }
        }
        acked += 1;
        if t0.elapsed() > DEADLINE {
            bail!("produced only {acked} of {requests} requests in {DEADLINE:?}");
        }
    }
    Ok(Produced {
        elapsed: t0.elapsed(),
        records: requests * per_request,
    })
}

/// What a consume workload read after its first response.
pub(crate) struct Consumed {
    pub(crate) elapsed: Duration,
    pub(crate) records: u64,
}

/// Reads `count` records from offset 0 of every partition. Timed from the first response with
/// records, like the librdkafka consumer and ConsumerPerformance; the records of that response
/// are not counted.
pub(crate) fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: u64,
) -> anyhow::Result<Consumed> {
    let mut s = connect(bootstrap)?;
    let mut buf = BytesMut::new();
    let mut next = vec![0i64; partitions as usize];
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let start = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let mut seen = 0u64;
    let mut correlation = 0i32;
    while seen < count {
        if start.elapsed() > DEADLINE {
            bail!("consumed only {seen} of {count} records in {DEADLINE:?}");
        }
        let req = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(name.clone())
                    .with_partitions(
                        next.iter()
                            .enumerate()
                            .map(|(p, &offset)| {
                                FetchPartition::default()
                                    .with_partition(p as i32)
                                    .with_fetch_offset(offset)
                                    .with_partition_max_bytes(PARTITION_MAX_BYTES)
                            })
                            .collect(),
                    ),
            ]);
        correlation += 1;
        let frame = weir_protocol::encode_request(
            ApiKey::Fetch,
            FETCH_VERSION,
            correlation,
            CLIENT_ID,
            &req,
        )?;
        s.write_all(&frame).context("sending a fetch")?;
        let resp = read_response(&mut s, &mut buf)?;
        let (id, resp): (i32, FetchResponse) =
            weir_protocol::decode_response(ApiKey::Fetch, FETCH_VERSION, resp)?;
        if id != correlation {
            bail!("fetch response {id}, expected {correlation}");
        }
        if resp.error_code != 0 {
            bail!("fetch failed with error code {}", resp.error_code);
        }
        for p in resp.responses.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 {
                bail!(
                    "fetch from {topic}-{} failed with error code {}",
                    p.partition_index,
                    p.error_code
                );
            }
            let Some(slot) = next.get_mut(p.partition_index as usize) else {
                bail!("fetch answered partition {}", p.partition_index);
            };
            let records = p.records.as_deref().unwrap_or_default();
            let mut at = 0;
            // Whole batches only: a response may end with part of one.
            while let Some(h) = records.get(at..).and_then(BatchHeader::parse) {
                let Some(len) = h.whole_len_within(records.len() - at) else {
                    break;
                };
                if h.base_offset >= *slot && !h.is_control() {
                    seen += h.records_count.max(0) as u64;
                }
                *slot = (*slot).max(h.last_offset() + 1);
                at += len;
            }
        }
        if seen > 0 {
            first.get_or_insert_with(|| (Instant::now(), seen));
        }
    }
    // A first response that held every record leaves nothing to time after it.
    let (t0, before) = match first {
        Some((t, before)) if before < seen => (t, before),
        _ => (start, 0),
    };
    Ok(Consumed {
        elapsed: t0.elapsed(),
        records: seen - before,
    })
}
