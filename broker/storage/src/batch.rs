//! Kafka v2 record batch headers (KIP-98 format). Only the fixed 61-byte header is parsed on the
//! produce path; records stay as the client encoded (and compressed) them.

use crate::{Error, Result};

/// Size of the fixed part of a v2 record batch.
pub const HEADER_LEN: usize = 61;
/// `baseOffset` (8) + `batchLength` (4): the part not counted in `batchLength`.
pub(crate) const LOG_OVERHEAD: usize = 12;

const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const LEADER_EPOCH_OFFSET: usize = 12;
const RECORDS_COUNT_OFFSET: usize = 57;

const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// The fixed header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the header at the start of `buf`; `None` if fewer than [`HEADER_LEN`] bytes.
    pub fn parse(buf: &[u8]) -> Option<BatchHeader> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, 8),
            leader_epoch: be_i32(buf, 12),
            magic: buf[16] as i8,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            records_count: be_i32(buf, 57),
        })
    }

    /// Bytes the whole batch occupies, header included.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    /// Whether the length claims at least a whole header: a zeroed or torn region does not.
    pub fn has_plausible_length(&self) -> bool {
        self.batch_length >= (HEADER_LEN - LOG_OVERHEAD) as i32
    }
    /// The whole batch's length when it is plausible and ends within `avail` bytes from its
    /// start: how a reader of back-to-back batches finds where the whole ones end.
    pub fn whole_len_within(&self, avail: usize) -> Option<usize> {
        let len = self.total_len();
        (self.has_plausible_length() && len <= avail).then_some(len)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }
}

/// Checks that `buf` is exactly one well-formed v2 batch: sizes agree, magic is 2, the CRC32C over
/// attributes..end matches, and the offset/record counts are consistent.
pub fn validate(buf: &[u8]) -> Result<BatchHeader> {
    let h = BatchHeader::parse(buf).ok_or_else(|| {
        Error::CorruptBatch(format!(
            "{} bytes is shorter than a batch header",
            buf.len()
        ))
    })?;
    if h.magic != 2 {
        return Err(Error::UnsupportedMagic(h.magic));
    }
    if !h.has_plausible_length() || h.total_len() != buf.len() {
        return Err(Error::CorruptBatch(format!(
            "batch length {} does not match the {} bytes present",
            h.batch_length,
            buf.len()
        )));
    }
    let crc = crc32c::crc32c(&buf[ATTRIBUTES_OFFSET..]);
    if crc != h.crc {
        return Err(Error::CorruptBatch(format!(
            "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
            h.crc
        )));
    }
    if h.last_offset_delta < 0 || h.records_count < 0 {
        return Err(Error::CorruptBatch(
            "negative offset delta or record count".into(),
        ));
    }
    Ok(h)
}

/// Splits a produce request's `records` into batches, validating each (header, CRC and every
/// record, see `records.rs`). Producers send one batch per partition, but the format allows
/// several back to back. `checks`: what the record walk checks besides the structure (keys on a
/// compacted topic, UTF-8 header keys for plugins).
pub fn split_producer_batches(
    records: &[u8],
    max_batch_bytes: usize,
    checks: crate::records::RecordChecks,
) -> Result<Vec<(usize, BatchHeader)>> {
    let mut out = Vec::with_capacity(1);
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < LOG_OVERHEAD + 5 {
            return Err(Error::CorruptBatch("truncated record batch".into()));
        }
        let magic = rest[16] as i8;
        if magic != 2 {
            return Err(Error::UnsupportedMagic(magic));
        }
        let len = LOG_OVERHEAD as i64 + i64::from(be_i32(rest, 8));
        if len < HEADER_LEN as i64 || len as usize > rest.len() {
            return Err(Error::CorruptBatch(format!(
                "batch claims {len} bytes, {} present",
                rest.len()
            )));
        }
        let len = len as usize;
        if len > max_batch_bytes {
            return Err(Error::BatchTooLarge {
                size: len,
                max: max_batch_bytes,
            });
        }
        let h = validate(&rest[..len])?;
        if h.is_control() {
            return Err(Error::CorruptBatch(
                "producers may not write control batches".into(),
            ));
        }
        if h.records_count == 0 || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1
        {
            return Err(Error::CorruptBatch(format!(
                "record count {} does not match last offset delta {}",
                h.records_count, h.last_offset_delta
            )));
        }
        crate::records::validate_producer_records(&rest[..len], &h, checks)?;
        out.push((pos, h));
        pos += len;
    }
    if out.is_empty() {
        return Err(Error::CorruptBatch(
            "produce request carries no record batch".into(),
        ));
    }
    Ok(out)
}

/// Stamps the broker-assigned base offset and leader epoch into a batch (neither is covered by
/// the CRC), and for `LogAppendTime` topics the append time (which is, so the CRC is redone).
pub(crate) fn stamp(
    header: &mut [u8; HEADER_LEN],
    records: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) {
    header[0..8].copy_from_slice(&base_offset.to_be_bytes());
    header[LEADER_EPOCH_OFFSET..LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attrs = be_i16(header, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
        header[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
        header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_OFFSET..]), records);
        header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// A batch with no records that keeps `original`'s producer, sequence and offset range: what
/// is left when a plugin moves every record of a producer's batch elsewhere. Kafka's log
/// cleaner leaves such batches too, and clients skip them.
pub fn empty_batch(original: &BatchHeader) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN);
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    // No records, so nothing is compressed.
    b.extend_from_slice(&(original.attributes & !0x07).to_be_bytes());
    b.extend_from_slice(&original.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&original.base_timestamp.to_be_bytes());
    b.extend_from_slice(&original.max_timestamp.to_be_bytes());
    b.extend_from_slice(&original.producer_id.to_be_bytes());
    b.extend_from_slice(&original.producer_epoch.to_be_bytes());
    b.extend_from_slice(&original.base_sequence.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Sets the base offset and leader epoch of a whole batch (neither is covered by the CRC).
pub(crate) fn stamp_offset_and_epoch(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_OFFSET..LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Sets the record count of a whole batch whose records section was replaced (the cleaner
/// keeps a batch's header and some of its records), and redoes its length and CRC.
pub(crate) fn set_records_count(batch: &mut [u8], count: i32) {
    batch[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
    let len = (batch.len() - LOG_OVERHEAD) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets a batch's max timestamp; the CRC is left to the caller (see [`set_records_count`]).
pub(crate) fn set_max_timestamp(batch: &mut [u8], ts: i64) {
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&ts.to_be_bytes());
}

/// Sets a batch's last offset delta (the offsets it spans, records or not) and redoes the CRC.
pub fn set_last_offset_delta(batch: &mut [u8], delta: i32) {
    batch[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&delta.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Encodes `(key, value)` records as one uncompressed v2 batch written by the broker itself
/// (no producer id): how Weir's internal logs store their entries.
pub fn encode_records(
    entries: &[(Option<bytes::Bytes>, Option<bytes::Bytes>)],
    timestamp: i64,
) -> Result<bytes::Bytes> {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The codec starts a new batch where offset - sequence changes; keep it constant.
            sequence: i as i32,
            timestamp,
            key: key.clone(),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| Error::CorruptBatch(format!("encoding a record batch: {e}")))?;
    Ok(buf.freeze())
}

/// Encodes a transaction marker: one control record whose key is (version 0, type 1 = COMMIT or
/// 0 = ABORT) and whose value is (version 0, coordinator epoch).
pub(crate) fn control_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Result<bytes::Bytes> {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(bytes::Bytes::from(key)),
        value: Some(bytes::Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| Error::CorruptBatch(format!("encoding a transaction marker: {e}")))?;
    Ok(buf.freeze())
}

/// Whether the control batch `raw` is a COMMIT marker (false for ABORT or unreadable).
pub(crate) fn control_is_commit(raw: &[u8]) -> bool {
    let mut b = bytes::Bytes::copy_from_slice(raw);
    kafka_protocol::records::RecordBatchDecoder::decode(&mut b)
        .ok()
        .and_then(|set| set.records.into_iter().next())
        .and_then(|r| r.key)
        .is_some_and(|k| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 1)
}

#[cfg(test)]
pub(crate) mod test_util {
    //! Builds real batches with the codec crate's encoder, as a client would.
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    pub(crate) fn batch(values: &[&str], first_ts: i64, compression: Compression) -> Bytes {
        producer_batch(values, first_ts, compression, -1, -1, 0)
    }

    /// A batch from an idempotent producer: `producer_id`, `epoch`, first sequence `seq`.
    pub(crate) fn producer_batch(
        values: &[&str],
        first_ts: i64,
        compression: Compression,
        producer_id: i64,
        epoch: i16,
        seq: i32,
    ) -> Bytes {
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch: epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: seq + i as i32,
                timestamp: first_ts + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                headers: [(
                    StrBytes::from_static_str("h"),
                    Some(Bytes::from_static(b"x")),
                )]
                .into_iter()
                .collect(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::batch;
    use super::*;
    use crate::records::RecordChecks;
    use kafka_protocol::records::Compression;

    #[test]
    fn validates_and_stamps_real_batches() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = batch(&["a", "b", "c"], 1000, c);
            let parts =
                split_producer_batches(&b, 1 << 20, RecordChecks::default()).expect("valid");
            assert_eq!(parts.len(), 1);
            assert_eq!(parts[0].1.records_count, 3);
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&b[..HEADER_LEN]);
            stamp(&mut header, &b[HEADER_LEN..], 42, 7, Some(5000));
            let m = [&header[..], &b[HEADER_LEN..]].concat();
            let h = validate(&m).expect("still valid after stamping");
            assert_eq!(
                (h.base_offset, h.leader_epoch, h.max_timestamp),
                (42, 7, 5000)
            );
            assert!(h.is_log_append_time());
        }
    }

    #[test]
    fn rejects_bad_crc_size_and_magic() {
        let b = batch(&["a"], 0, Compression::None);
        let mut bad = b.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            split_producer_batches(&bad, 1 << 20, RecordChecks::default()),
            Err(Error::CorruptBatch(_))
        ));
        assert!(matches!(
            split_producer_batches(&b, 10, RecordChecks::default()),
            Err(Error::BatchTooLarge { .. })
        ));
        assert!(matches!(
            split_producer_batches(&b[..30], 1 << 20, RecordChecks::default()),
            Err(Error::CorruptBatch(_))
        ));
        let mut m1 = b.to_vec();
        m1[16] = 1;
        assert!(matches!(
            split_producer_batches(&m1, 1 << 20, RecordChecks::default()),
            Err(Error::UnsupportedMagic(1))
        ));
        assert!(split_producer_batches(&[], 1 << 20, RecordChecks::default()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = split_producer_batches(&data, 1 << 20, RecordChecks::default());
        }
    }
}
