//! The records a plugin sees, and how they are read out of ABI 0.2.0's batch buffer.

use std::ops::Range;
use std::sync::Arc;

use crate::__bindings::weir::plugin::types as wit;

/// Bytes that share a batch's buffer: reading a batch allocates no key or value.
#[derive(Clone)]
struct Shared {
    buf: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Shared {
    fn new(bytes: Vec<u8>) -> Self {
        let range = 0..bytes.len();
        Shared {
            buf: Arc::new(bytes),
            range,
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }
}

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Shared {}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// A Kafka record header. Kafka allows a header without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// One record as a plugin sees it.
///
/// The constructors and `with_*` setters are for tests: the broker builds the records a plugin
/// gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<Shared>,
    value: Option<Shared>,
    headers: Vec<Header>,
}

impl Record {
    /// A record with this value, no key and no headers, on partition 0 of topic `test`, with no
    /// offset (-1, as on the produce path) and timestamp 0.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record {
            value: Some(Shared::new(value.into())),
            ..Record::tombstone()
        }
    }

    /// A record with no value (a tombstone), otherwise like [`Record::new`].
    pub fn tombstone() -> Self {
        Record {
            topic: Arc::from("test"),
            partition: 0,
            offset: -1,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Arc::from(topic.into());
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = partition;
        self
    }

    pub fn with_offset(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }

    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(Shared::new(key.into()));
        self
    }

    /// Appends a header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// The topic the record was produced to (or, in a pipeline, read from).
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The record's offset in a pipeline; -1 on the produce path.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Milliseconds since the Unix epoch (the producer's create time).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(Shared::as_slice)
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.value.as_ref().map(Shared::as_slice)
    }

    /// The value, empty for a tombstone.
    pub fn value_bytes(&self) -> &[u8] {
        self.value().unwrap_or_default()
    }

    /// The value as UTF-8 text (empty for a tombstone).
    pub fn value_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.value_bytes())
    }

    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The value of the last header with this key (Kafka allows repeated keys); `Some(&[])` for
    /// a header without a value.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|header| header.key == key)
            .map(|header| header.value.as_deref().unwrap_or_default())
    }
}

impl From<wit::Header> for Header {
    fn from(header: wit::Header) -> Self {
        Header {
            key: header.key,
            value: header.value,
        }
    }
}

impl From<Header> for wit::Header {
    fn from(header: Header) -> Self {
        wit::Header {
            key: header.key,
            value: header.value,
        }
    }
}

fn malformed(what: &str) -> String {
    format!("malformed record batch from the broker: {what}")
}

/// Reads a zig-zag varint (Kafka's encoding of signed integers) off the front of `rest`. Most
/// of a record's varints are one or two bytes (lengths under 8 KiB): those are inlined, the
/// rest is prost's.
#[inline(always)]
fn varint(rest: &mut &[u8]) -> Result<i64, String> {
    let n = match *rest {
        [b0, after @ ..] if *b0 < 0x80 => {
            *rest = after;
            u64::from(*b0)
        }
        [b0, b1, after @ ..] if *b1 < 0x80 => {
            *rest = after;
            u64::from(b0 & 0x7f) | u64::from(*b1) << 7
        }
        _ => prost::encoding::decode_varint(rest)
            .map_err(|_| malformed("truncated or overlong varint"))?,
    };
    Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
}

/// A length-prefixed field (length -1: none) off the front of `rest`, which ends where its
/// record ends; `base` is where `rest` ends in the batch. The field's place in the batch.
#[inline(always)]
fn field(rest: &mut &[u8], base: usize) -> Result<Option<Range<usize>>, String> {
    let len = varint(rest)?;
    if len < 0 {
        return Ok(None);
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= rest.len())
        .ok_or_else(|| malformed("field longer than its record"))?;
    let start = base - rest.len();
    *rest = &rest[len..];
    Ok(Some(start..start + len))
}

/// The records of an ABI 0.2.0 batch (`records` in Kafka's record format, see the WIT).
pub(crate) fn read_batch(batch: wit::RecordBatch) -> Result<Vec<Record>, String> {
    let topic: Arc<str> = Arc::from(batch.topic);
    let buf = Arc::new(batch.records);
    let shared = |range: Option<Range<usize>>| {
        range.map(|range| Shared {
            buf: buf.clone(),
            range,
        })
    };
    let mut records = Vec::with_capacity(batch.count as usize);
    let mut rest: &[u8] = &buf;
    for _ in 0..batch.count {
        let len = varint(&mut rest)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= rest.len())
            .ok_or_else(|| malformed("record longer than the batch"))?;
        let (mut rec, after) = rest.split_at(len);
        rest = after;
        // Where `rec` ends in the batch: field positions are counted back from it.
        let end = buf.len() - rest.len();
        // The attributes byte is unused in v2 records.
        rec = rec
            .get(1..)
            .ok_or_else(|| malformed("record without attributes"))?;
        let timestamp_delta = varint(&mut rec)?;
        let offset_delta = varint(&mut rec)?;
        let key = field(&mut rec, end)?;
        let value = field(&mut rec, end)?;
        let count = varint(&mut rec)?;
        let mut headers = Vec::with_capacity(count.clamp(0, 64) as usize);
        for _ in 0..count.max(0) {
            let name = field(&mut rec, end)?.ok_or_else(|| malformed("null header key"))?;
            let name = std::str::from_utf8(&buf[name])
                .map_err(|_| malformed("header key is not UTF-8"))?
                .to_string();
            let value = field(&mut rec, end)?.map(|r| buf[r].to_vec());
            headers.push(Header { key: name, value });
        }
        records.push(Record {
            topic: topic.clone(),
            partition: batch.partition,
            offset: if batch.base_offset < 0 {
                -1
            } else {
                batch.base_offset.saturating_add(offset_delta)
            },
            timestamp: batch.base_timestamp.saturating_add(timestamp_delta),
            key: shared(key),
            value: shared(value),
            headers,
        });
    }
    if !rest.is_empty() {
        return Err(malformed("bytes after the last record"));
    }
    Ok(records)
}

/// The batch the broker would pass for `records` (for tests of the SDK itself).
#[cfg(test)]
pub(crate) fn write_batch(records: &[Record]) -> wit::RecordBatch {
    use integer_encoding::VarInt;

    fn put<T: VarInt>(out: &mut Vec<u8>, v: T) {
        out.extend_from_slice(&v.encode_var_vec());
    }
    fn put_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
        match v {
            None => put(out, -1i32),
            Some(b) => {
                put(out, b.len() as i32);
                out.extend_from_slice(b);
            }
        }
    }
    let base_offset = records.first().map_or(-1, |r| r.offset);
    let base_timestamp = records.iter().map(|r| r.timestamp).min().unwrap_or(0);
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let mut body = vec![0u8];
        put(&mut body, r.timestamp - base_timestamp);
        put(
            &mut body,
            if base_offset < 0 {
                i as i64
            } else {
                r.offset - base_offset
            } as i32,
        );
        put_field(&mut body, r.key());
        put_field(&mut body, r.value());
        put(&mut body, r.headers.len() as i32);
        for h in &r.headers {
            put_field(&mut body, Some(h.key.as_bytes()));
            put_field(&mut body, h.value.as_deref());
        }
        put(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
    }
    wit::RecordBatch {
        topic: records.first().map_or("", |r| r.topic()).to_string(),
        partition: records.first().map_or(0, |r| r.partition),
        base_offset,
        base_timestamp,
        count: records.len() as u32,
        records: out,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accessors_and_headers() {
        let record = Record::new("v")
            .with_key("k")
            .with_header("a", "1")
            .with_header("a", "2")
            .with_topic("orders")
            .with_offset(7);
        assert_eq!(record.value(), Some(&b"v"[..]));
        assert_eq!(record.key(), Some(&b"k"[..]));
        assert_eq!(record.header("a"), Some(&b"2"[..]));
        assert_eq!(record.header("b"), None);
        assert_eq!(record.topic(), "orders");
        assert_eq!(record.offset(), 7);
        assert_eq!(record.value_str(), Ok("v"));
        assert_eq!(Record::tombstone().value_bytes(), b"");
        assert!(Record::new(vec![0xff]).value_str().is_err());
    }

    #[test]
    fn reads_the_batch_the_broker_writes() {
        let records = vec![
            Record::new("x")
                .with_topic("t")
                .with_partition(3)
                .with_offset(9)
                .with_timestamp(1234)
                .with_header("h", ""),
            Record::tombstone()
                .with_topic("t")
                .with_partition(3)
                .with_offset(12)
                .with_timestamp(1200)
                .with_key("k"),
        ];
        let read = read_batch(write_batch(&records)).expect("read");
        assert_eq!(read, records);
        assert_eq!(read[1].offset(), 12);
        assert_eq!(read[0].timestamp(), 1234);

        // On the produce path every offset is -1.
        let produced = vec![Record::new("a"), Record::new("b")];
        assert_eq!(read_batch(write_batch(&produced)).expect("read"), produced);
    }

    fn any_record() -> impl Strategy<Value = Record> {
        // Lengths across one-, two- and three-byte varints; offsets and timestamps far apart.
        let bytes = || {
            prop_oneof![
                (0usize..200).prop_map(|n| vec![b'v'; n]),
                (8000usize..8400).prop_map(|n| vec![b'w'; n]),
                Just(vec![b'x'; 20_000]),
            ]
        };
        (
            proptest::option::of(bytes()),
            proptest::option::of(bytes()),
            proptest::collection::vec(("[a-z]{0,3}", proptest::option::of(bytes())), 0..3),
            0i64..1 << 40,
            0i64..1 << 20,
        )
            .prop_map(|(key, value, headers, timestamp, offset)| {
                let mut record = Record::tombstone()
                    .with_timestamp(timestamp)
                    .with_offset(offset);
                record.key = key.map(Shared::new);
                record.value = value.map(Shared::new);
                record.headers = headers
                    .into_iter()
                    .map(|(key, value)| Header { key, value })
                    .collect();
                record
            })
    }

    proptest! {
        #[test]
        fn reads_back_what_kafka_encoding_holds(
            mut records in proptest::collection::vec(any_record(), 1..6)
        ) {
            // Offsets rise within a batch, as in a log.
            records.sort_by_key(Record::offset);
            prop_assert_eq!(read_batch(write_batch(&records)).expect("read"), records);
        }

        #[test]
        fn any_bytes_are_read_or_refused(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            count in 0u32..4,
        ) {
            let batch = wit::RecordBatch {
                topic: "t".into(),
                partition: 0,
                base_offset: -1,
                base_timestamp: 0,
                count,
                records: bytes,
            };
            let _ = read_batch(batch);
        }
    }

    #[test]
    fn a_malformed_batch_is_an_error_not_a_panic() {
        let mut batch = write_batch(&[Record::new("value").with_key("key")]);
        let whole = batch.records.clone();
        for cut in 0..whole.len() {
            batch.records = whole[..cut].to_vec();
            assert!(read_batch(batch.clone()).is_err(), "cut at {cut}");
        }
        batch.records = whole.clone();
        batch.count = 2;
        assert!(read_batch(batch.clone()).is_err());
        batch.count = 0;
        assert!(read_batch(batch).is_err());
    }
}
