//! ABI 0.2.0's batch: records in Kafka's record encoding, and its outcomes in the host's terms.

use integer_encoding::VarInt;

use crate::bindings::v2::weir::plugin::types as v2;
use crate::{Header, KafkaRecord, Outcome, RawBatch, Replacement};

fn put_varint<T: VarInt>(out: &mut Vec<u8>, v: T) {
    let mut tmp = [0u8; 10];
    let n = v.encode_var(&mut tmp);
    out.extend_from_slice(&tmp[..n]);
}

/// A length-prefixed byte string; length -1 is null.
fn put_bytes_field(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => put_varint(out, -1i32),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Appends `r` to `out` in the record format of Kafka's record batch v2 (the length varint
/// first), with these deltas from the batch's base timestamp and offset. `body` is scratch.
pub fn encode_record(
    out: &mut Vec<u8>,
    body: &mut Vec<u8>,
    r: &KafkaRecord,
    timestamp_delta: i64,
    offset_delta: i32,
) {
    body.clear();
    body.push(0); // attributes: unused in v2 records
    put_varint(body, timestamp_delta);
    put_varint(body, offset_delta);
    put_bytes_field(body, r.key.as_deref());
    put_bytes_field(body, r.value.as_deref());
    put_varint(body, r.headers.len() as i32);
    for h in &r.headers {
        put_bytes_field(body, Some(h.key.as_bytes()));
        put_bytes_field(body, h.value.as_deref());
    }
    put_varint(out, body.len() as i32);
    out.extend_from_slice(body);
}

/// Encodes `records`, which are of one topic partition, into `out` (cleared first; `body` is
/// scratch) and returns them as the batch a 0.2.0 plugin gets.
pub(crate) fn fill<'a>(
    out: &'a mut Vec<u8>,
    body: &mut Vec<u8>,
    records: &'a [KafkaRecord],
) -> RawBatch<'a> {
    let first = records.first();
    let base_offset = first.map_or(-1, |r| r.offset);
    let base_timestamp = records.iter().map(|r| r.timestamp).min().unwrap_or(0);
    out.clear();
    for (i, r) in records.iter().enumerate() {
        // On the produce path (offset -1) the delta is the record's position, as producers
        // write it; in a pipeline it is the distance from the first offset.
        let offset_delta = if base_offset < 0 {
            i as i32
        } else {
            r.offset.saturating_sub(base_offset) as i32
        };
        let ts_delta = r.timestamp.saturating_sub(base_timestamp);
        encode_record(out, body, r, ts_delta, offset_delta);
    }
    RawBatch {
        topic: first.map_or("", |r| r.topic.as_str()),
        partition: first.map_or(0, |r| r.partition),
        base_offset,
        base_timestamp,
        count: records.len() as u32,
        records: out,
    }
}

fn header(h: v2::Header) -> Header {
    Header {
        key: h.key,
        value: h.value,
    }
}

/// A 0.2.0 outcome as the host's (0.1.0) type: the variants are the same.
pub(crate) fn outcome(o: v2::Outcome) -> Outcome {
    match o {
        v2::Outcome::Keep => Outcome::Keep,
        v2::Outcome::Replace(r) => Outcome::Replace(Replacement {
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(header).collect(),
        }),
        v2::Outcome::Drop => Outcome::Drop,
        v2::Outcome::Reject(m) => Outcome::Reject(m),
        v2::Outcome::DeadLetter(m) => Outcome::DeadLetter(m),
        v2::Outcome::Route(t) => Outcome::Route(t),
    }
}

/// A 0.2.0 log level as the host's type.
pub(crate) fn level(l: v2::Level) -> crate::Level {
    use crate::Level;
    match l {
        v2::Level::Trace => Level::Trace,
        v2::Level::Debug => Level::Debug,
        v2::Level::Info => Level::Info,
        v2::Level::Warn => Level::Warn,
        v2::Level::Error => Level::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_encoded_as_kafka_writes_them() {
        let r = KafkaRecord {
            topic: "t".into(),
            partition: 2,
            offset: -1,
            timestamp: 1_005,
            key: None,
            value: Some(b"ab".to_vec()),
            headers: vec![Header {
                key: "h".into(),
                value: None,
            }],
        };
        let (mut out, mut body) = (Vec::new(), Vec::new());
        let records = [r.clone(), r];
        let batch = fill(&mut out, &mut body, &records);
        // length 11, attributes 0, ts delta 0, offset delta 0/1, key -1, value "ab", 1 header
        // with key "h" and no value; zig-zag: -1 -> 1, 1 -> 2, 2 -> 4, 11 -> 22.
        let one = |delta: u8| vec![22, 0, 0, delta, 1, 4, b'a', b'b', 2, 2, b'h', 1];
        assert_eq!(batch.records, [one(0), one(2)].concat());
        assert_eq!(
            (batch.count, batch.partition, batch.base_offset),
            (2, 2, -1)
        );
        assert_eq!((batch.topic, batch.base_timestamp), ("t", 1_005));
    }
}
