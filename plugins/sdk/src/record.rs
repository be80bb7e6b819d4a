//! The records a plugin sees, and how they are read out of ABI 0.2.0's batch buffer.
//!
//! Records are read lazily. Reading a batch finds where each record starts and ends (one varint
//! per record) and shares the broker's buffer among them; a field is decoded when the plugin
//! asks for it. The broker checks every record's structure before it calls a plugin (see
//! plugins/ABI.md), so a field that cannot be read only comes from a broker bug: it reads as
//! absent (no key, no value, no headers, the batch's timestamp) rather than trapping.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use crate::__bindings::weir::plugin::types as wit;

/// What the records of one batch share: the broker's buffer and the batch's own fields.
struct Batch {
    topic: String,
    partition: i32,
    base_offset: i64,
    base_timestamp: i64,
    bytes: Vec<u8>,
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
#[derive(Clone)]
pub struct Record {
    batch: Arc<Batch>,
    /// The record's fields (what follows its length) in `batch.bytes`.
    body: Range<usize>,
    /// The headers, decoded on first use.
    headers: OnceLock<Vec<Header>>,
}

/// Where a record's fields are, decoded from its body.
struct Fields {
    timestamp_delta: i64,
    offset_delta: i64,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    /// Where the header count starts.
    headers: usize,
}

/// A record's content, owned: what the test constructors edit.
struct Parts {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

impl Record {
    /// A record with this value, no key and no headers, on partition 0 of topic `test`, with no
    /// offset (-1, as on the produce path) and timestamp 0.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record::from_parts(Parts {
            value: Some(value.into()),
            ..Parts::empty()
        })
    }

    /// A record with no value (a tombstone), otherwise like [`Record::new`].
    pub fn tombstone() -> Self {
        Record::from_parts(Parts::empty())
    }

    pub fn with_topic(self, topic: impl Into<String>) -> Self {
        self.edit(|p| p.topic = topic.into())
    }

    pub fn with_partition(self, partition: i32) -> Self {
        self.edit(|p| p.partition = partition)
    }

    pub fn with_offset(self, offset: i64) -> Self {
        self.edit(|p| p.offset = offset)
    }

    pub fn with_timestamp(self, timestamp: i64) -> Self {
        self.edit(|p| p.timestamp = timestamp)
    }

    pub fn with_key(self, key: impl Into<Vec<u8>>) -> Self {
        self.edit(|p| p.key = Some(key.into()))
    }

    /// Appends a header.
    pub fn with_header(self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.edit(|p| p.headers.push(Header::new(key, value)))
    }

    /// The topic the record was produced to (or, in a pipeline, read from).
    pub fn topic(&self) -> &str {
        &self.batch.topic
    }

    pub fn partition(&self) -> i32 {
        self.batch.partition
    }

    /// The record's offset in a pipeline; -1 on the produce path.
    pub fn offset(&self) -> i64 {
        if self.batch.base_offset < 0 {
            return -1;
        }
        let delta = self.fields().map_or(0, |f| f.offset_delta);
        self.batch.base_offset.saturating_add(delta)
    }

    /// Milliseconds since the Unix epoch (the producer's create time).
    pub fn timestamp(&self) -> i64 {
        let delta = self.fields().map_or(0, |f| f.timestamp_delta);
        self.batch.base_timestamp.saturating_add(delta)
    }

    pub fn key(&self) -> Option<&[u8]> {
        Some(&self.batch.bytes[self.fields()?.key?])
    }

    /// The value; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        Some(&self.batch.bytes[self.fields()?.value?])
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
        self.headers.get_or_init(|| {
            self.fields()
                .and_then(|f| self.read_headers(f.headers))
                .unwrap_or_default()
        })
    }

    /// The value of the last header with this key (Kafka allows repeated keys); `Some(&[])` for
    /// a header without a value.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers()
            .iter()
            .rev()
            .find(|header| header.key == key)
            .map(|header| header.value.as_deref().unwrap_or_default())
    }

    /// Decodes where the fields are; `None` if the body is not a record.
    #[inline]
    fn fields(&self) -> Option<Fields> {
        let bytes = &self.batch.bytes;
        let end = self.body.end;
        // The attributes byte is unused in v2 records.
        let mut rest = bytes.get(self.body.start + 1..end)?;
        let timestamp_delta = varint(&mut rest)?;
        let offset_delta = varint(&mut rest)?;
        let key = field(&mut rest, end)?;
        let value = field(&mut rest, end)?;
        Some(Fields {
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers: end - rest.len(),
        })
    }

    /// The headers from the header count at `at` on; `None` if they cannot be read.
    fn read_headers(&self, at: usize) -> Option<Vec<Header>> {
        let bytes = &self.batch.bytes;
        let end = self.body.end;
        let mut rest = bytes.get(at..end)?;
        let count = varint(&mut rest)?;
        let mut headers = Vec::with_capacity(count.clamp(0, 64) as usize);
        for _ in 0..count.max(0) {
            let key = std::str::from_utf8(&bytes[field(&mut rest, end)??]).ok()?;
            let value = field(&mut rest, end)?.map(|r| bytes[r].to_vec());
            headers.push(Header {
                key: key.to_string(),
                value,
            });
        }
        Some(headers)
    }

    fn parts(&self) -> Parts {
        Parts {
            topic: self.topic().to_string(),
            partition: self.partition(),
            offset: self.offset(),
            timestamp: self.timestamp(),
            key: self.key().map(<[u8]>::to_vec),
            value: self.value().map(<[u8]>::to_vec),
            headers: self.headers().to_vec(),
        }
    }

    fn edit(self, change: impl FnOnce(&mut Parts)) -> Self {
        let mut parts = self.parts();
        change(&mut parts);
        Record::from_parts(parts)
    }

    /// A record alone in a batch of its own, as the broker would encode it.
    fn from_parts(parts: Parts) -> Self {
        let mut bytes = vec![0u8];
        put_varint(&mut bytes, 0);
        put_varint(&mut bytes, 0);
        put_field(&mut bytes, parts.key.as_deref());
        put_field(&mut bytes, parts.value.as_deref());
        put_varint(&mut bytes, parts.headers.len() as i64);
        for h in &parts.headers {
            put_field(&mut bytes, Some(h.key.as_bytes()));
            put_field(&mut bytes, h.value.as_deref());
        }
        let body = 0..bytes.len();
        Record {
            batch: Arc::new(Batch {
                topic: parts.topic,
                partition: parts.partition,
                base_offset: parts.offset.max(-1),
                base_timestamp: parts.timestamp,
                bytes,
            }),
            body,
            headers: OnceLock::from(parts.headers),
        }
    }
}

impl Parts {
    fn empty() -> Self {
        Parts {
            topic: "test".to_string(),
            partition: 0,
            offset: -1,
            timestamp: 0,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.topic() == other.topic()
            && self.partition() == other.partition()
            && self.offset() == other.offset()
            && self.timestamp() == other.timestamp()
            && self.key() == other.key()
            && self.value() == other.value()
            && self.headers() == other.headers()
    }
}

impl Eq for Record {}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("topic", &self.topic())
            .field("partition", &self.partition())
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp())
            .field("key", &self.key())
            .field("value", &self.value())
            .field("headers", &self.headers())
            .finish()
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
fn varint(rest: &mut &[u8]) -> Option<i64> {
    let n = match *rest {
        [b0, after @ ..] if *b0 < 0x80 => {
            *rest = after;
            u64::from(*b0)
        }
        [b0, b1, after @ ..] if *b1 < 0x80 => {
            *rest = after;
            u64::from(b0 & 0x7f) | u64::from(*b1) << 7
        }
        _ => prost::encoding::decode_varint(rest).ok()?,
    };
    Some(((n >> 1) as i64) ^ -((n & 1) as i64))
}

/// A length-prefixed field (length -1: none) off the front of `rest`, which ends at `end` in
/// the batch: `Some(None)` for none, `Some(Some(place in the batch))`, `None` if it overruns.
#[inline(always)]
fn field(rest: &mut &[u8], end: usize) -> Option<Option<Range<usize>>> {
    let len = varint(rest)?;
    if len < 0 {
        return Some(None);
    }
    let len = usize::try_from(len).ok().filter(|&len| len <= rest.len())?;
    let start = end - rest.len();
    *rest = &rest[len..];
    Some(Some(start..start + len))
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    prost::encoding::encode_varint(((v << 1) ^ (v >> 63)) as u64, out);
}

fn put_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// The records of an ABI 0.2.0 batch (`records` in Kafka's record format, see the WIT), read
/// one at a time. [`Records::new`] has already checked that exactly `count` records fill the
/// buffer, so every step yields one.
pub(crate) struct Records {
    batch: Arc<Batch>,
    at: usize,
    left: u32,
}

impl Records {
    /// Checks where the batch's records start and end (each at least its attributes byte,
    /// `count` of them filling `records` exactly).
    pub(crate) fn new(batch: wit::RecordBatch) -> Result<Self, String> {
        let mut rest: &[u8] = &batch.records;
        for _ in 0..batch.count {
            let len = varint(&mut rest).ok_or_else(|| malformed("truncated or overlong varint"))?;
            let len = usize::try_from(len)
                .ok()
                .filter(|&len| len <= rest.len())
                .ok_or_else(|| malformed("record longer than the batch"))?;
            if len == 0 {
                return Err(malformed("record without attributes"));
            }
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            return Err(malformed("bytes after the last record"));
        }
        Ok(Records {
            batch: Arc::new(Batch {
                topic: batch.topic,
                partition: batch.partition,
                base_offset: batch.base_offset,
                base_timestamp: batch.base_timestamp,
                bytes: batch.records,
            }),
            at: 0,
            left: batch.count,
        })
    }

    /// How many records are left.
    pub(crate) fn len(&self) -> usize {
        self.left as usize
    }
}

impl Iterator for Records {
    type Item = Record;

    #[inline]
    fn next(&mut self) -> Option<Record> {
        self.left = self.left.checked_sub(1)?;
        let mut rest = self.batch.bytes.get(self.at..)?;
        let len = varint(&mut rest)? as usize;
        let start = self.batch.bytes.len() - rest.len();
        self.at = start + len;
        Some(Record {
            batch: self.batch.clone(),
            body: start..self.at,
            headers: OnceLock::new(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

/// The records of an ABI 0.2.0 batch, all at once.
#[cfg(test)]
pub(crate) fn read_batch(batch: wit::RecordBatch) -> Result<Vec<Record>, String> {
    Ok(Records::new(batch)?.collect())
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
    let base_offset = records.first().map_or(-1, Record::offset);
    let base_timestamp = records.iter().map(Record::timestamp).min().unwrap_or(0);
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let mut body = vec![0u8];
        put(&mut body, r.timestamp() - base_timestamp);
        put(
            &mut body,
            if base_offset < 0 {
                i as i64
            } else {
                r.offset() - base_offset
            } as i32,
        );
        put_field(&mut body, r.key());
        put_field(&mut body, r.value());
        put(&mut body, r.headers().len() as i32);
        for h in r.headers() {
            put_field(&mut body, Some(h.key.as_bytes()));
            put_field(&mut body, h.value.as_deref());
        }
        put(&mut out, body.len() as i32);
        out.extend_from_slice(&body);
    }
    wit::RecordBatch {
        topic: records.first().map_or("", |r| r.topic()).to_string(),
        partition: records.first().map_or(0, Record::partition),
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
                Record::from_parts(Parts {
                    timestamp,
                    offset,
                    key,
                    value,
                    headers: headers
                        .into_iter()
                        .map(|(key, value)| Header { key, value })
                        .collect(),
                    ..Parts::empty()
                })
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
            // Whatever reads as records answers every accessor without panicking.
            for record in read_batch(batch).unwrap_or_default() {
                let _ = (record.key(), record.value(), record.headers(), record.offset());
                let _ = (record.timestamp(), format!("{record:?}"));
            }
        }
    }

    #[test]
    fn a_field_that_overruns_its_record_reads_as_absent() {
        let mut batch = write_batch(&[Record::new("value").with_key("key").with_header("h", "v")]);
        // The key's length (after length, attributes and the two deltas) claims 60 bytes.
        assert_eq!(batch.records[4], 6);
        batch.records[4] = 120;
        let record = read_batch(batch).expect("the record's own bounds hold");
        assert_eq!(record[0].key(), None);
        assert_eq!(record[0].value(), None);
        assert!(record[0].headers().is_empty());
        assert_eq!(record[0].offset(), -1);
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
