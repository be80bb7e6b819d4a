//! The records inside a producer's batch: decompressed within a bound, and their structure
//! checked as Kafka's log validator checks it before anything is appended. The batch header and
//! its CRC (see `batch.rs`) only prove that the client sent these bytes; a client that encoded
//! them wrongly (a record length that lies, a field past its record, offset deltas out of
//! order, a compressed payload that does not decompress) would otherwise leave a batch in the
//! log that every consumer of the partition stops at.

use std::borrow::Cow;
use std::io::Read;

use integer_encoding::VarInt;

use crate::batch::{BatchHeader, HEADER_LEN};
use crate::{Error, Result};

/// The most a batch's records may take once decompressed. Kafka reads a compressed batch one
/// record at a time; Weir holds a batch's records whole, so a small batch that decompresses to
/// gigabytes (a "bomb") is refused before it is held.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::InvalidRecord(format!("malformed record batch: {what}"))
}

/// A keyless record at `position` in its batch, refused by a compacted topic (which could never
/// clean it), with Kafka's words.
pub(crate) fn keyless(position: impl std::fmt::Display) -> Error {
    Error::InvalidRecord(format!(
        "Compacted topic cannot accept message without key (the record at position {position} of its batch has none)"
    ))
}

fn undecodable(codec: &str, e: impl std::fmt::Display) -> Error {
    Error::CorruptBatch(format!("the {codec} payload does not decompress: {e}"))
}

/// Reads all of `r`, refusing more than [`MAX_DECOMPRESSED_BYTES`].
fn read_bounded(codec: &str, r: impl Read) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| undecodable(codec, e))?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

fn too_large() -> Error {
    Error::InvalidRecord(format!(
        "the batch's records decompress to more than {} MiB",
        MAX_DECOMPRESSED_BYTES >> 20
    ))
}

/// The decompressed length of a snappy payload, in the xerial framing Kafka's Java client
/// writes or as one raw block (what the codec reader accepts too), without decompressing it.
fn snappy_len(section: &[u8]) -> Result<usize> {
    const MAGIC: &[u8] = b"\x82SNAPPY\x00";
    const HEADER: usize = 16;
    let block_len = |b: &[u8]| snap::raw::decompress_len(b).map_err(|e| undecodable("snappy", e));
    if !section.starts_with(MAGIC) {
        return block_len(section);
    }
    let mut rest = section.get(HEADER..).unwrap_or_default();
    let mut total = 0usize;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| undecodable("snappy", "a truncated block length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        let (block, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| undecodable("snappy", "a block longer than the payload"))?;
        total = total.saturating_add(block_len(block)?);
        rest = tail;
    }
    Ok(total)
}

/// The records section of a batch with compression `codec` (the attributes' low bits),
/// decompressed; at most [`MAX_DECOMPRESSED_BYTES`].
pub fn decompress(codec: i16, section: &[u8]) -> Result<Cow<'_, [u8]>> {
    use kafka_protocol::compression::{Decompressor, Snappy};
    Ok(match codec {
        0 => Cow::Borrowed(section),
        1 => Cow::Owned(read_bounded(
            "gzip",
            flate2::read::MultiGzDecoder::new(section),
        )?),
        2 => {
            if snappy_len(section)? > MAX_DECOMPRESSED_BYTES {
                return Err(too_large());
            }
            let mut buf = bytes::Bytes::copy_from_slice(section);
            Cow::Owned(
                Snappy::decompress(&mut buf, |b: &mut bytes::Bytes| Ok(b.to_vec()))
                    .map_err(|e| undecodable("snappy", e))?,
            )
        }
        3 => Cow::Owned(read_bounded(
            "lz4",
            lz4::Decoder::new(section).map_err(|e| undecodable("lz4", e))?,
        )?),
        4 => Cow::Owned(read_bounded(
            "zstd",
            zstd::stream::read::Decoder::new(section).map_err(|e| undecodable("zstd", e))?,
        )?),
        c => {
            return Err(Error::CorruptBatch(format!(
                "unknown compression codec {c}"
            )));
        }
    })
}

/// Why a record's varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes end inside the varint (or it runs past ten bytes).
    Truncated,
    /// It does not fit the type asked for.
    OutOfRange,
}

impl std::fmt::Display for VarintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VarintError::Truncated => "a truncated varint",
            VarintError::OutOfRange => "a varint out of range",
        })
    }
}

/// Takes a zigzag varint (a record field's encoding) off the front of `buf`. Most of a record's
/// varints are one or two bytes (lengths and deltas under 8 KiB), so those are decoded inline;
/// longer ones by integer-encoding. Every record of every produce goes through here (the check
/// below), and through the cleaner's and the plugins' record walks.
#[inline(always)]
pub fn take_varint<T: TryFrom<i64>>(buf: &mut &[u8]) -> std::result::Result<T, VarintError> {
    let zigzag = |n: u64| ((n >> 1) as i64) ^ -((n & 1) as i64);
    let v = match **buf {
        [b0, ref rest @ ..] if b0 < 0x80 => {
            *buf = rest;
            zigzag(u64::from(b0))
        }
        [b0, b1, ref rest @ ..] if b1 < 0x80 => {
            *buf = rest;
            zigzag(u64::from(b0 & 0x7f) | u64::from(b1) << 7)
        }
        _ => {
            let (v, n) = i64::decode_var(buf).ok_or(VarintError::Truncated)?;
            *buf = &buf[n..];
            v
        }
    };
    T::try_from(v).map_err(|_| VarintError::OutOfRange)
}

#[inline(always)]
fn varint<T: TryFrom<i64>>(buf: &mut &[u8]) -> Result<T> {
    take_varint(buf).map_err(invalid)
}

#[inline(always)]
fn take_field<'a>(buf: &mut &'a [u8], what: &str) -> Result<Option<&'a [u8]>> {
    let len: i32 = varint(buf)?;
    if len < -1 {
        return Err(invalid(format_args!("a {what} length of {len}")));
    }
    if len == -1 {
        return Ok(None);
    }
    let (field, rest) = buf
        .split_at_checked(len as usize)
        .ok_or_else(|| invalid(format_args!("a {what} longer than its record")))?;
    *buf = rest;
    Ok(Some(field))
}

/// What the record walk checks beyond the structure every batch must have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordChecks {
    /// A key in every record: a compacted topic, which could never clean a keyless one.
    pub keys_required: bool,
    /// Header keys in UTF-8: what plugins are promised (Kafka itself does not check them).
    pub utf8_header_keys: bool,
}

/// Checks the structure of every record in `plain` (a batch's records, decompressed) against
/// the header `h`: exactly `records_count` records filling the section, each one's length
/// matching its fields, offset deltas 0, 1, 2, … as producers write them, and header keys
/// present, and what `checks` adds. The error names the first record that fails.
pub fn check_records(h: &BatchHeader, plain: &[u8], checks: RecordChecks) -> Result<()> {
    let mut rest = plain;
    for i in 0..h.records_count.max(0) {
        let at = |what: &str| invalid(format_args!("record {i}: {what}"));
        let len: i32 = varint(&mut rest)?;
        let (mut rec, after) = usize::try_from(len)
            .ok()
            .and_then(|len| rest.split_at_checked(len))
            .ok_or_else(|| at("its length runs past the batch"))?;
        rest = after;
        rec = rec.get(1..).ok_or_else(|| at("it has no attributes"))?;
        varint::<i64>(&mut rec)?;
        let delta: i32 = varint(&mut rec)?;
        if delta != i {
            return Err(at(&format!("offset delta {delta}, expected {i}")));
        }
        if take_field(&mut rec, "key")?.is_none() && checks.keys_required {
            return Err(keyless(i));
        }
        take_field(&mut rec, "value")?;
        let headers: i32 = varint(&mut rec)?;
        if headers < 0 {
            return Err(at(&format!("{headers} headers")));
        }
        for _ in 0..headers {
            let key = take_field(&mut rec, "header key")?.ok_or_else(|| at("a null header key"))?;
            if checks.utf8_header_keys && std::str::from_utf8(key).is_err() {
                return Err(at("a header key that is not UTF-8"));
            }
            take_field(&mut rec, "header value")?;
        }
        if !rec.is_empty() {
            return Err(at(&format!("{} bytes after its last header", rec.len())));
        }
    }
    if !rest.is_empty() {
        return Err(invalid(format_args!(
            "{} bytes after the last of its {} records",
            rest.len(),
            h.records_count
        )));
    }
    Ok(())
}

/// Decompresses and checks the records of one producer batch `batch` (header `h`).
pub(crate) fn validate_producer_records(
    batch: &[u8],
    h: &BatchHeader,
    checks: RecordChecks,
) -> Result<()> {
    let plain = decompress(h.compression(), &batch[HEADER_LEN..h.total_len()])?;
    check_records(h, &plain, checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::split_producer_batches;
    use crate::batch::test_util::batch;
    use kafka_protocol::records::Compression;

    /// `raw` with its records section replaced by `section` and the CRC redone.
    fn with_section(raw: &[u8], section: &[u8], compression: i16) -> Vec<u8> {
        let mut b = raw[..HEADER_LEN].to_vec();
        b.extend_from_slice(section);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let attrs = (i16::from_be_bytes([b[21], b[22]]) & !7) | compression;
        b[21..23].copy_from_slice(&attrs.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn refused(b: &[u8]) -> String {
        match split_producer_batches(b, usize::MAX, RecordChecks::default()) {
            Err(e @ (Error::InvalidRecord(_) | Error::CorruptBatch(_))) => e.to_string(),
            other => panic!("accepted or wrong error: {other:?}"),
        }
    }

    #[test]
    fn every_codec_passes_and_malformed_records_are_refused() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let b = batch(&["a", "bb", "ccc"], 1_000, c);
            split_producer_batches(&b, usize::MAX, RecordChecks::default())
                .expect("a client's batch");
        }
        let good = batch(&["a", "bb", "ccc"], 1_000, Compression::None);
        let section = &good[HEADER_LEN..];
        // A record length that lies (the first byte is its zigzag length).
        let mut lie = section.to_vec();
        lie[0] = 0x7e;
        assert!(refused(&with_section(&good, &lie, 0)).contains("record 0"));
        // Bytes after the last record.
        let mut long = section.to_vec();
        long.extend_from_slice(&[0, 0]);
        assert!(refused(&with_section(&good, &long, 0)).contains("after the last"));
        // Offset deltas 0, 0, 2: the second record's delta (after its length, attributes and
        // one-byte timestamp delta) set to 0.
        let first_len = (section[0] >> 1) as usize + 1;
        let mut dup = section.to_vec();
        dup[first_len + 3] = 0;
        assert!(refused(&with_section(&good, &dup, 0)).contains("offset delta 0, expected 1"));
        // A compressed payload that is not one.
        assert!(refused(&with_section(&good, b"not gzip at all", 1)).contains("gzip"));
    }

    #[test]
    fn varints_read_as_integer_encoding_writes_them() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            8191,
            -8192,
            8192,
            1 << 20,
            i64::MAX,
            i64::MIN,
        ] {
            let mut enc = v.encode_var_vec();
            enc.push(0xaa);
            let mut buf = enc.as_slice();
            assert_eq!(take_varint::<i64>(&mut buf), Ok(v));
            assert_eq!(buf, [0xaa], "{v} consumed exactly");
        }
        let two_bytes = 8191i64.encode_var_vec();
        assert_eq!(
            take_varint::<i64>(&mut &two_bytes[..1]),
            Err(VarintError::Truncated)
        );
        assert_eq!(
            take_varint::<i64>(&mut &[][..]),
            Err(VarintError::Truncated)
        );
        assert_eq!(
            take_varint::<i64>(&mut &[0xff; 11][..]),
            Err(VarintError::Truncated)
        );
        let big = (i64::from(i32::MAX) + 1).encode_var_vec();
        assert_eq!(
            take_varint::<i32>(&mut &big[..]),
            Err(VarintError::OutOfRange)
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_held() {
        let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1];
        let bomb = zstd::encode_all(zeros.as_slice(), 3).expect("zstd");
        assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
        let err = decompress(4, &bomb).expect_err("too large");
        assert!(err.to_string().contains("more than 64 MiB"), "{err}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &zeros).expect("gzip");
        assert!(decompress(1, &gz.finish().expect("gzip")).is_err());
        let good = batch(&["a"], 1_000, Compression::None);
        assert!(refused(&with_section(&good, &bomb, 4)).contains("more than 64 MiB"));
    }
}
