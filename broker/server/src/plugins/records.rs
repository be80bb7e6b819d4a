//! Between Kafka record batches and the records plugins see.
//!
//! Records are read and written here rather than with the kafka-protocol crate's record types,
//! which keep headers in a map: Kafka allows a header key more than once, and a record that
//! passes through a plugin must keep every header it came with. The batch framing is Kafka's v2
//! format; compression uses the kafka-protocol crate's codecs.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use weir_protocol::kafka::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
use weir_storage::{BatchHeader, HEADER_LEN};
use weir_wasm::{Header, KafkaRecord};

use crate::{Error, Result};

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Storage(weir_storage::Error::CorruptBatch(e.to_string()))
}

/// The codec a batch's attributes name (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
pub(crate) type Codec = i16;

fn decompress(codec: Codec, data: Bytes) -> Result<Bytes> {
    // Bounded (see weir_storage::records): a decompression bomb is refused, not held.
    match weir_storage::records::decompress(codec, &data).map_err(corrupt)? {
        std::borrow::Cow::Borrowed(_) => Ok(data),
        std::borrow::Cow::Owned(v) => Ok(Bytes::from(v)),
    }
}

fn compress(codec: Codec, plain: &[u8], out: &mut BytesMut) -> Result<()> {
    let put = |b: &mut BytesMut| {
        b.put_slice(plain);
        Ok(())
    };
    match codec {
        0 => {
            out.put_slice(plain);
            Ok(())
        }
        1 => Gzip::compress(out, put).map_err(corrupt),
        2 => Snappy::compress(out, put).map_err(corrupt),
        3 => Lz4::compress(out, put).map_err(corrupt),
        4 => Zstd::compress(out, put).map_err(corrupt),
        other => Err(corrupt(format!("unknown compression codec {other}"))),
    }
}

/// Reads a zigzag varint (Kafka's record fields) with the storage crate's reader.
fn varint<T: TryFrom<i64>>(buf: &mut Bytes) -> Result<T> {
    let mut rest: &[u8] = buf;
    let v = weir_storage::records::take_varint(&mut rest)
        .map_err(|e| corrupt(format_args!("{e} in a record")))?;
    buf.advance(buf.len() - rest.len());
    Ok(v)
}

/// A length-prefixed byte string; length -1 is null.
fn bytes_field(buf: &mut Bytes) -> Result<Option<Vec<u8>>> {
    let len: i32 = varint(buf)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if len > buf.len() {
        return Err(corrupt("record field longer than its record"));
    }
    Ok(Some(buf.split_to(len).to_vec()))
}

/// Decodes the records of one batch. `with_offsets`: give each record its offset (a log
/// read); otherwise -1 (the produce path, where records have no offset yet).
fn decode_batch(
    batch: &[u8],
    h: &BatchHeader,
    topic: &str,
    partition: i32,
    with_offsets: bool,
) -> Result<Vec<KafkaRecord>> {
    let section = Bytes::copy_from_slice(&batch[HEADER_LEN..h.total_len()]);
    let mut plain = decompress(h.attributes & COMPRESSION_MASK, section)?;
    let log_append_time = h.attributes & TIMESTAMP_TYPE_BIT != 0;
    let count = h.records_count.max(0) as usize;
    let mut out = Vec::with_capacity(count.min(plain.len()));
    for _ in 0..count {
        let len: i32 = varint(&mut plain)?;
        if len < 0 || len as usize > plain.len() {
            return Err(corrupt("record length beyond its batch"));
        }
        let mut rec = plain.split_to(len as usize);
        let _attributes = rec.try_get_i8().map_err(corrupt)?;
        let ts_delta: i64 = varint(&mut rec)?;
        let offset_delta: i32 = varint(&mut rec)?;
        let key = bytes_field(&mut rec)?;
        let value = bytes_field(&mut rec)?;
        let n_headers: i32 = varint(&mut rec)?;
        let mut headers = Vec::with_capacity(n_headers.clamp(0, 64) as usize);
        for _ in 0..n_headers.max(0) {
            let k = bytes_field(&mut rec)?.ok_or_else(|| corrupt("null header key"))?;
            let key = String::from_utf8(k).map_err(|_| corrupt("header key is not UTF-8"))?;
            headers.push(Header {
                key,
                value: bytes_field(&mut rec)?,
            });
        }
        out.push(KafkaRecord {
            topic: topic.to_string(),
            partition,
            offset: if with_offsets {
                h.base_offset + i64::from(offset_delta)
            } else {
                -1
            },
            timestamp: if log_append_time {
                h.max_timestamp
            } else {
                h.base_timestamp + ts_delta
            },
            key,
            value,
            headers,
        });
    }
    Ok(out)
}

/// The records region of one producer batch as an ABI 0.2.0 plugin gets it: decompressed.
/// `batch` must be one that `weir_storage::split_producer_batches` accepted with
/// `utf8_header_keys`: that walk checked every record's structure as [`decode`] needs it (a
/// client's malformed batch is refused there rather than blamed on the plugin) and that the
/// records fill the region exactly, so nothing is walked again here. Nothing is allocated per
/// record. `None` for a batch with log-append-time timestamps (rewritten on append), which
/// takes the decoding path.
pub(crate) fn plain_records<'a>(
    batch: &'a [u8],
    h: &BatchHeader,
) -> Result<Option<std::borrow::Cow<'a, [u8]>>> {
    if h.attributes & TIMESTAMP_TYPE_BIT != 0 {
        return Ok(None);
    }
    let section = &batch[HEADER_LEN..h.total_len()];
    let plain = weir_storage::records::decompress(h.compression(), section).map_err(corrupt)?;
    Ok(Some(plain))
}

/// Decodes one validated producer batch into plugin records (offsets -1), with its codec.
pub(crate) fn decode(
    batch: &[u8],
    h: &BatchHeader,
    topic: &str,
    partition: i32,
) -> Result<(Codec, Vec<KafkaRecord>)> {
    Ok((
        h.attributes & COMPRESSION_MASK,
        decode_batch(batch, h, topic, partition, false)?,
    ))
}

/// Decodes every record of the batches in `chunk` (a log read), with their offsets. Control
/// batches (transaction markers) are skipped; a partial batch at the end is ignored.
pub(crate) fn decode_log_chunk(
    chunk: Bytes,
    topic: &str,
    partition: i32,
) -> Result<Vec<KafkaRecord>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(h) = BatchHeader::parse(&chunk[pos..]) {
        let Some(len) = h.whole_len_within(chunk.len() - pos) else {
            break;
        };
        if h.attributes & CONTROL_BIT == 0 {
            out.extend(decode_batch(
                &chunk[pos..pos + len],
                &h,
                topic,
                partition,
                true,
            )?);
        }
        pos += len;
    }
    Ok(out)
}

/// Encodes records written by the broker itself (dead letters, routed and replayed records)
/// as one uncompressed batch.
pub(crate) fn encode(records: Vec<KafkaRecord>) -> Result<Bytes> {
    encode_with(records.into_iter().enumerate(), None, 0)
}

/// Encodes what plugins kept of a producer's batch `h`: each record at its position in the
/// original (`positions`, ascending), with the producer's id, epoch, sequence numbers,
/// transactional flag and codec. The batch starts at the first kept position.
pub(crate) fn encode_rewritten(
    records: Vec<KafkaRecord>,
    positions: &[usize],
    h: &BatchHeader,
    codec: Codec,
) -> Result<Bytes> {
    encode_with(positions.iter().copied().zip(records), Some(h), codec)
}

fn encode_with(
    records: impl Iterator<Item = (usize, KafkaRecord)>,
    producer: Option<&BatchHeader>,
    codec: Codec,
) -> Result<Bytes> {
    let records: Vec<(usize, KafkaRecord)> = records.collect();
    let first = records.first().map_or(0, |(p, _)| *p);
    let last = records.last().map_or(0, |(p, _)| *p);
    let base_ts = records.iter().map(|(_, r)| r.timestamp).min().unwrap_or(-1);
    let max_ts = records.iter().map(|(_, r)| r.timestamp).max().unwrap_or(-1);
    let mut plain = Vec::new();
    let mut body = Vec::new();
    for (pos, r) in &records {
        weir_wasm::encode_record(
            &mut plain,
            &mut body,
            r,
            r.timestamp - base_ts,
            (pos - first) as i32,
        );
    }
    let (producer_id, epoch, base_sequence, mut attributes) = match producer {
        Some(h) if h.producer_id >= 0 => (
            h.producer_id,
            h.producer_epoch,
            h.base_sequence.wrapping_add(first as i32),
            h.attributes & (TRANSACTIONAL_BIT | TIMESTAMP_TYPE_BIT),
        ),
        Some(h) => (-1, -1, -1, h.attributes & TIMESTAMP_TYPE_BIT),
        None => (-1, -1, -1, 0),
    };
    attributes |= codec & COMPRESSION_MASK;
    let mut out = BytesMut::with_capacity(HEADER_LEN + plain.len());
    out.put_i64(0);
    out.put_i32(0); // batch length, set below
    out.put_i32(-1);
    out.put_i8(2);
    out.put_u32(0); // CRC, set below
    out.put_i16(attributes);
    out.put_i32((last - first) as i32);
    out.put_i64(base_ts);
    out.put_i64(max_ts);
    out.put_i64(producer_id);
    out.put_i16(epoch);
    out.put_i32(base_sequence);
    out.put_i32(records.len() as i32);
    compress(codec, &plain, &mut out)?;
    let batch_len = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&batch_len.to_be_bytes());
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

/// Kafka's default partitioner for a keyed record: murmur2 of the key, made positive.
pub(crate) fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    let h = murmur2::murmur2(key, 0x9747_b28c) & 0x7fff_ffff;
    (h % partitions.max(1) as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(value: &str, headers: &[(&str, Option<&str>)]) -> KafkaRecord {
        KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset: -1,
            timestamp: 1_700_000_000_000,
            key: Some(b"k".to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: (*k).to_string(),
                    value: v.map(|v| v.as_bytes().to_vec()),
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips_every_codec_with_duplicate_and_null_headers() {
        for codec in 0..=4 {
            let records = vec![
                rec(
                    "a",
                    &[("trace", Some("1")), ("x", None), ("trace", Some("2"))],
                ),
                rec("", &[]),
            ];
            let batch = encode(records.clone()).expect("encode");
            let h = weir_storage::validate_batch(&batch).expect("valid");
            assert_eq!(h.records_count, 2);
            let (_, back) = decode(&batch, &h, "t", 0).expect("decode");
            assert_eq!(back, records, "codec none");
            let producer = BatchHeader {
                producer_id: 7,
                producer_epoch: 1,
                base_sequence: 10,
                ..h
            };
            let rewritten =
                encode_rewritten(records.clone(), &[1, 3], &producer, codec).expect("encode");
            let h2 = weir_storage::validate_batch(&rewritten).expect("valid");
            assert_eq!(h2.attributes & COMPRESSION_MASK, codec);
            assert_eq!((h2.base_sequence, h2.last_offset_delta), (11, 2));
            let (_, back) = decode(&rewritten, &h2, "t", 0).expect("decode");
            assert_eq!(back, records, "codec {codec}");
            let with_offsets = decode_log_chunk(rewritten, "t", 0).expect("chunk");
            assert_eq!(
                with_offsets.iter().map(|r| r.offset).collect::<Vec<_>>(),
                [0, 2]
            );
        }
    }

    #[test]
    fn what_the_produce_check_passes_is_decoded() {
        let records = vec![
            rec("a", &[("trace", Some("1")), ("x", None)]),
            rec("bb", &[]),
            // Two-byte length varints.
            rec(&"c".repeat(200), &[("long", Some(&"d".repeat(70)))]),
        ];
        for codec in [0, 1] {
            let producer = BatchHeader {
                producer_id: -1,
                ..weir_storage::validate_batch(&encode(records.clone()).expect("encode"))
                    .expect("valid")
            };
            let batch = encode_rewritten(records.clone(), &[0, 1, 2], &producer, codec)
                .expect("encode")
                .to_vec();
            let h = weir_storage::validate_batch(&batch).expect("valid");
            let plain = plain_records(&batch, &h)
                .expect("plain")
                .expect("create time");
            let mut body = Vec::new();
            let mut expected = Vec::new();
            for (i, r) in records.iter().enumerate() {
                weir_wasm::encode_record(&mut expected, &mut body, r, 0, i as i32);
            }
            assert_eq!(&plain[..], &expected[..], "codec {codec}");
            if codec != 0 {
                continue;
            }
            // Every one-byte change inside the records region (the CRC redone, as a buggy
            // client would send it): what the produce path's check lets through to a plugin,
            // the decoder reads.
            let checks = weir_storage::records::RecordChecks {
                keys_required: false,
                utf8_header_keys: true,
            };
            let mut refused = 0;
            for at in HEADER_LEN..batch.len() {
                for delta in [1u8, 0x40, 0x80] {
                    let mut bad = batch.clone();
                    bad[at] = bad[at].wrapping_add(delta);
                    let crc = crc32c::crc32c(&bad[21..]);
                    bad[17..21].copy_from_slice(&crc.to_be_bytes());
                    let Ok(split) = weir_storage::split_producer_batches(&bad, usize::MAX, checks)
                    else {
                        refused += 1;
                        continue;
                    };
                    let bh = split[0].1;
                    plain_records(&bad, &bh).expect("plain");
                    decode(&bad, &bh, "t", 0).expect("what the check passes decodes");
                }
            }
            assert!(
                refused > 50,
                "the check refuses some changes: {refused} refused"
            );
        }
    }
}
