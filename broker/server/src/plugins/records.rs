//! Between Kafka record batches and the records plugins see.

use bytes::Bytes;
use weir_protocol::kafka::protocol::StrBytes;
use weir_protocol::kafka::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use weir_storage::BatchHeader;
use weir_wasm::{Header, KafkaRecord};

use crate::{Error, Result};

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(weir_storage::Error::CorruptBatch(e.to_string()))
}

/// Decodes one validated batch (decompressing it) into plugin records. `offset` is the first
/// record's offset, or `None` on the produce path where records have none yet (-1).
pub(crate) fn decode(
    batch: &[u8],
    topic: &str,
    partition: i32,
    offset: Option<i64>,
) -> Result<(Compression, Vec<KafkaRecord>)> {
    let mut buf = Bytes::copy_from_slice(batch);
    let set = RecordBatchDecoder::decode(&mut buf).map_err(corrupt)?;
    let records = set
        .records
        .into_iter()
        .map(|r| KafkaRecord {
            topic: topic.to_string(),
            partition,
            offset: offset.map_or(-1, |_| r.offset),
            timestamp: r.timestamp,
            key: r.key.map(|b| b.to_vec()),
            value: r.value.map(|b| b.to_vec()),
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.map(|b| b.to_vec()),
                })
                .collect(),
        })
        .collect();
    Ok((set.compression, records))
}

/// Decodes every record of the batches in `chunk` (a log read), with their offsets. Control
/// batches (transaction markers) are skipped.
pub(crate) fn decode_log_chunk(
    mut chunk: Bytes,
    topic: &str,
    partition: i32,
) -> Result<Vec<KafkaRecord>> {
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut chunk).map_err(corrupt)? {
        for r in set.records {
            if r.control {
                continue;
            }
            out.push(KafkaRecord {
                topic: topic.to_string(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key.map(|b| b.to_vec()),
                value: r.value.map(|b| b.to_vec()),
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| Header {
                        key: k.to_string(),
                        value: v.map(|b| b.to_vec()),
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// `i` is the record's offset within its batch.
fn to_record(i: usize, r: KafkaRecord, producer: Option<&BatchHeader>) -> Record {
    let (producer_id, producer_epoch, transactional, sequence, timestamp_type) = match producer {
        Some(h) if h.producer_id >= 0 => (
            h.producer_id,
            h.producer_epoch,
            h.is_transactional(),
            h.base_sequence.wrapping_add(i as i32),
            if h.is_log_append_time() {
                TimestampType::LogAppend
            } else {
                TimestampType::Creation
            },
        ),
        // The codec starts a new batch where offset - sequence changes; keep it constant.
        _ => (-1, -1, false, i as i32, TimestampType::Creation),
    };
    Record {
        transactional,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type,
        offset: i as i64,
        sequence,
        timestamp: r.timestamp,
        key: r.key.map(Bytes::from),
        value: r.value.map(Bytes::from),
        headers: r
            .headers
            .into_iter()
            .map(|h| (StrBytes::from_string(h.key), h.value.map(Bytes::from)))
            .collect(),
    }
}

/// Encodes records written by the broker itself (dead letters, routed and replayed records)
/// as one uncompressed batch.
pub(crate) fn encode(records: Vec<KafkaRecord>) -> Result<Bytes> {
    encode_with(records.into_iter().enumerate(), None, Compression::None)
}

/// Encodes what plugins kept of a producer's batch `h`: each record at its position in the
/// original (`positions`, ascending), with the producer's id, epoch, sequence numbers,
/// transactional flag and compression. The batch starts at the first kept position.
pub(crate) fn encode_rewritten(
    records: Vec<KafkaRecord>,
    positions: &[usize],
    h: &BatchHeader,
    compression: Compression,
) -> Result<Bytes> {
    encode_with(positions.iter().copied().zip(records), Some(h), compression)
}

fn encode_with(
    records: impl Iterator<Item = (usize, KafkaRecord)>,
    producer: Option<&BatchHeader>,
    compression: Compression,
) -> Result<Bytes> {
    let records: Vec<Record> = records.map(|(i, r)| to_record(i, r, producer)).collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .map_err(corrupt)?;
    Ok(buf.freeze())
}

/// Kafka's default partitioner for a keyed record: murmur2 of the key, made positive.
pub(crate) fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    let h = murmur2::murmur2(key, 0x9747_b28c) & 0x7fff_ffff;
    (h % partitions.max(1) as u32) as i32
}
