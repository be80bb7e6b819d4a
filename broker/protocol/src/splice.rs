//! Fetch responses whose records the broker does not copy: the response is encoded with a
//! 16-byte token in each such partition's records field, then cut at the tokens into parts,
//! with each token's length prefix rewritten for the real records. The sender writes
//! `parts[0]`, the records of splice 0 (from the page cache, with `sendfile`), `parts[1]`, and
//! so on. Everything else about the encoding stays with the codec, for every Fetch version.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use integer_encoding::VarInt;
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseKind};

use crate::{Error, Result, encode_response_into};

/// A partition of a [`FetchResponse`] whose records are sent from elsewhere: its position in
/// `responses` and `partitions`, and how many bytes of records the sender will write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    pub topic: usize,
    pub partition: usize,
    pub len: usize,
}

/// A response frame with a hole per splice: `parts[i]` goes before the records of splice `i`,
/// and the last part after the last splice. The 4-byte size prefix counts the records.
#[derive(Debug)]
pub struct SplicedFrame {
    pub parts: Vec<Bytes>,
}

const TOKEN_LEN: usize = 16;

/// The first Fetch version with flexible fields (records are COMPACT_RECORDS).
const FIRST_FLEXIBLE_FETCH: i16 = 12;

/// Token `k`: 12 random bytes for this process, then `k`. A token can only be confused with
/// other bytes of the response that precede it (topic names, error messages), which would have
/// to hold these random bytes and the exact length prefix before them.
fn token(k: usize) -> [u8; TOKEN_LEN] {
    static NONCE: OnceLock<[u8; 12]> = OnceLock::new();
    let nonce = NONCE.get_or_init(|| {
        let random = || {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        };
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&random().to_be_bytes());
        n[8..].copy_from_slice(&random().to_be_bytes()[..4]);
        n
    });
    let mut t = [0u8; TOKEN_LEN];
    t[..12].copy_from_slice(nonce);
    t[12..].copy_from_slice(&(k as u32).to_be_bytes());
    t
}

/// The records field's length prefix for `len` bytes: an INT32 before flexible versions, an
/// unsigned varint of `len + 1` (COMPACT_RECORDS) after.
fn length_prefix(
    out: &mut BytesMut,
    flexible: bool,
    len: usize,
) -> std::result::Result<(), String> {
    if flexible {
        let n = u32::try_from(len + 1).map_err(|e| e.to_string())?;
        out.extend_from_slice(&n.encode_var_vec());
        Ok(())
    } else {
        out.put_i32(i32::try_from(len).map_err(|e| e.to_string())?);
        Ok(())
    }
}

/// Encodes `body` as a Fetch v`version` response with the records of every `splices` entry
/// left out, to be sent between the returned parts. `splices` must be in response order (topic,
/// then partition); their records fields are overwritten. `scratch` is the buffer the whole
/// response is first encoded into (a connection's reusable one).
pub fn encode_fetch_spliced(
    scratch: &mut BytesMut,
    version: i16,
    correlation_id: i32,
    mut body: FetchResponse,
    splices: &[Splice],
) -> Result<SplicedFrame> {
    let err = |reason: String| Error::Encode {
        api: ApiKey::Fetch,
        version,
        reason,
    };
    let mut last = None;
    for (k, s) in splices.iter().enumerate() {
        if last.is_some_and(|l| l >= (s.topic, s.partition)) {
            return Err(err("splices out of response order".into()));
        }
        last = Some((s.topic, s.partition));
        let p = body
            .responses
            .get_mut(s.topic)
            .and_then(|t| t.partitions.get_mut(s.partition))
            .ok_or_else(|| {
                err(format!(
                    "no partition {}/{} to splice",
                    s.topic, s.partition
                ))
            })?;
        p.records = Some(Bytes::copy_from_slice(&token(k)));
    }
    encode_response_into(
        scratch,
        ApiKey::Fetch,
        version,
        correlation_id,
        &ResponseKind::Fetch(body),
    )?;
    let flexible = version >= FIRST_FLEXIBLE_FETCH;
    let mut token_prefix = BytesMut::new();
    length_prefix(&mut token_prefix, flexible, TOKEN_LEN).map_err(err)?;
    let mut parts = Vec::with_capacity(splices.len() + 1);
    let mut size = scratch.len() as u64;
    let mut from = 0;
    for (k, s) in splices.iter().enumerate() {
        let t = token(k);
        let at = scratch[from..]
            .windows(TOKEN_LEN)
            .enumerate()
            .find(|(i, w)| {
                *w == t && from + i >= token_prefix.len() && {
                    let start = from + i - token_prefix.len();
                    scratch[start..from + i] == token_prefix[..]
                }
            })
            .map(|(i, _)| from + i)
            .ok_or_else(|| err(format!("splice {k} not found in the encoded response")))?;
        let mut part = BytesMut::with_capacity(at - from + 5);
        part.extend_from_slice(&scratch[from..at - token_prefix.len()]);
        length_prefix(&mut part, flexible, s.len).map_err(err)?;
        size = size + part.len() as u64 + s.len as u64 - (at + TOKEN_LEN - from) as u64;
        parts.push(part);
        from = at + TOKEN_LEN;
    }
    parts.push(BytesMut::from(&scratch[from..]));
    let frame_size = i32::try_from(size - 4)
        .map_err(|_| err(format!("response of {size} bytes is too large for a frame")))?;
    parts[0][..4].copy_from_slice(&frame_size.to_be_bytes());
    Ok(SplicedFrame {
        parts: parts.into_iter().map(BytesMut::freeze).collect(),
    })
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn response(records: &[Vec<Option<Vec<u8>>>]) -> FetchResponse {
        let topics = records
            .iter()
            .enumerate()
            .map(|(t, parts)| {
                let partitions = parts
                    .iter()
                    .enumerate()
                    .map(|(p, r)| {
                        PartitionData::default()
                            .with_partition_index(p as i32)
                            .with_high_watermark(1000 + p as i64)
                            .with_records(r.clone().map(Bytes::from))
                    })
                    .collect();
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(format!("topic-{t}"))))
                    .with_partitions(partitions)
            })
            .collect();
        FetchResponse::default().with_responses(topics)
    }

    proptest::proptest! {
        /// Parts with the records put back between them are byte for byte the plain encoding,
        /// for every supported Fetch version and record lengths across the varint sizes.
        #[test]
        fn parts_and_records_make_the_plain_encoding(
            version in 4i16..=12,
            topics in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::option::of(proptest::prop_oneof![
                        0usize..200,
                        proptest::strategy::Just(127usize),
                        proptest::strategy::Just(16_383usize),
                        proptest::strategy::Just(16_384usize),
                        70_000usize..70_100,
                    ]),
                    1..5,
                ),
                1..4,
            ),
        ) {
            let records: Vec<Vec<Option<Vec<u8>>>> = topics
                .iter()
                .enumerate()
                .map(|(t, ps)| {
                    ps.iter()
                        .enumerate()
                        .map(|(p, len)| len.map(|n| vec![(t * 16 + p) as u8; n]))
                        .collect()
                })
                .collect();
            let mut plain = BytesMut::new();
            encode_response_into(
                &mut plain,
                ApiKey::Fetch,
                version,
                7,
                &ResponseKind::Fetch(response(&records)),
            )
            .expect("plain encoding");
            let mut splices = Vec::new();
            let mut sent = Vec::new();
            for (t, ps) in records.iter().enumerate() {
                for (p, r) in ps.iter().enumerate() {
                    if let Some(r) = r.as_ref().filter(|r| !r.is_empty()) {
                        splices.push(Splice { topic: t, partition: p, len: r.len() });
                        sent.push(r.clone());
                    }
                }
            }
            let mut scratch = BytesMut::new();
            let frame = encode_fetch_spliced(&mut scratch, version, 7, response(&records), &splices)
                .expect("spliced encoding");
            proptest::prop_assert_eq!(frame.parts.len(), splices.len() + 1);
            let mut joined = Vec::new();
            for (i, part) in frame.parts.iter().enumerate() {
                joined.extend_from_slice(part);
                if let Some(r) = sent.get(i) {
                    joined.extend_from_slice(r);
                }
            }
            proptest::prop_assert_eq!(&joined[..], &plain[..]);
        }
    }

    #[test]
    fn splices_out_of_order_or_missing_are_refused() {
        let records = vec![vec![Some(vec![1u8; 10]), Some(vec![2u8; 10])]];
        let mut scratch = BytesMut::new();
        let s = |partition| Splice {
            topic: 0,
            partition,
            len: 10,
        };
        assert!(
            encode_fetch_spliced(&mut scratch, 12, 1, response(&records), &[s(1), s(0)]).is_err()
        );
        assert!(encode_fetch_spliced(&mut scratch, 12, 1, response(&records), &[s(2)]).is_err());
        assert!(
            encode_fetch_spliced(&mut scratch, 12, 1, response(&records), &[s(0), s(1)]).is_ok()
        );
    }
}
