use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::versions::supported_range;
use crate::{Error, Result};

/// A decoded request: its header and typed body.
#[derive(Debug)]
pub struct Request {
    pub api: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    Request(Box<Request>),
    /// An ApiVersions request of a version newer than Weir knows. Kafka answers these with a
    /// v0 response carrying UNSUPPORTED_VERSION and the supported list, so the client can retry
    /// with a version both sides understand.
    ApiVersionsFallback {
        correlation_id: i32,
    },
}

/// Decodes one request frame (without its 4-byte size prefix).
pub fn decode_request(mut frame: Bytes) -> Result<Decoded> {
    if frame.len() < 8 {
        return Err(Error::FrameTooShort { size: frame.len() });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(raw_key).map_err(|_| Error::UnknownApiKey(raw_key))?;
    let Some((min, max)) = supported_range(api) else {
        return Err(Error::UnsupportedVersion {
            api,
            version,
            min: 0,
            max: -1,
        });
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions && version > max {
            let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            return Ok(Decoded::ApiVersionsFallback { correlation_id });
        }
        return Err(Error::UnsupportedVersion {
            api,
            version,
            min,
            max,
        });
    }
    let malformed = |reason: String| Error::Malformed {
        api,
        version,
        reason,
    };
    // The codec pre-sizes arrays from lengths read off the wire; a hostile length can make that
    // overflow and panic. Treat a panic as what it is: a malformed request.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let header = RequestHeader::decode(&mut frame, api.request_header_version(version))?;
        let body = RequestKind::decode(api, &mut frame, version)?;
        Ok::<_, anyhow_free::DecodeError>((header, body))
    }));
    match decoded {
        Ok(Ok((header, body))) => Ok(Decoded::Request(Box::new(Request {
            api,
            version,
            header,
            body,
        }))),
        Ok(Err(e)) => Err(malformed(e.0)),
        Err(_) => Err(malformed("array length out of range".into())),
    }
}

/// Encodes a response body with its header and 4-byte size prefix into `buf` (cleared first),
/// ready for the socket. A connection reuses one buffer: a fetch response is as large as the
/// records it carries, and a fresh buffer of that size costs a page fault (and the kernel
/// zeroing the page) for every page written.
pub fn encode_response_into(
    buf: &mut BytesMut,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<()> {
    let encode_err = |reason: String| Error::Encode {
        api,
        version,
        reason,
    };
    // Fetch responses carry up to fetch.max.bytes of records: size the buffer once rather than
    // growing it by doubling (each growth copies everything so far into fresh pages).
    let body_hint = match body {
        ResponseKind::Fetch(f) => f.compute_size(version).unwrap_or(0),
        _ => 0,
    };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api.response_header_version(version);
    buf.clear();
    let need = 64 + body_hint;
    if buf.capacity() < need {
        // A new allocation rather than `reserve`: growing would copy the old capacity over.
        *buf = BytesMut::new();
        *buf = BytesMut::with_capacity(need);
    }
    sized_frame_into(buf, &header, header_version, |buf| {
        body.encode(buf, version).map_err(|e| e.to_string())
    })
    .map_err(encode_err)
}

/// `header` and what `body` writes, behind a 4-byte size prefix.
fn sized_frame<H: Encodable>(
    capacity: usize,
    header: &H,
    header_version: i16,
    body: impl FnOnce(&mut BytesMut) -> std::result::Result<(), String>,
) -> std::result::Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(capacity);
    sized_frame_into(&mut buf, header, header_version, body)?;
    Ok(buf.freeze())
}

/// [`sized_frame`] appended to `buf`, which must be empty.
fn sized_frame_into<H: Encodable>(
    buf: &mut BytesMut,
    header: &H,
    header_version: i16,
    body: impl FnOnce(&mut BytesMut) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    buf.put_i32(0);
    header
        .encode(buf, header_version)
        .map_err(|e| e.to_string())?;
    body(buf)?;
    let size = i32::try_from(buf.len() - 4).map_err(|e| e.to_string())?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Encodes a request (header and body) with its 4-byte size prefix: what a broker sends when
/// it is the client, as a follower fetching from its partition leader.
pub fn encode_request<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &T,
) -> Result<Bytes> {
    let encode_err = |reason: String| Error::Encode {
        api,
        version,
        reason,
    };
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(kafka_protocol::protocol::StrBytes::from_string(
            client_id.to_string(),
        )));
    let header_version = api.request_header_version(version);
    sized_frame(256, &header, header_version, |buf| {
        body.encode(buf, version).map_err(|e| e.to_string())
    })
    .map_err(encode_err)
}

/// Decodes a response frame (without its size prefix) to a request of `api` v`version`:
/// `(correlation id, body)`.
pub fn decode_response<T: Decodable>(
    api: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<(i32, T)> {
    let malformed = |reason: String| Error::Malformed {
        api,
        version,
        reason,
    };
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))?;
        let body = T::decode(&mut frame, version)?;
        Ok::<_, anyhow_free::DecodeError>((header.correlation_id, body))
    }));
    match decoded {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(malformed(e.0)),
        Err(_) => Err(malformed("array length out of range".into())),
    }
}

/// `kafka-protocol` reports errors as `anyhow::Error`; keep that type out of our API.
mod anyhow_free {
    pub(crate) struct DecodeError(pub(crate) String);
    impl<E: std::fmt::Display> From<E> for DecodeError {
        fn from(e: E) -> Self {
            DecodeError(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, ProduceRequest};
    use kafka_protocol::protocol::StrBytes;

    fn frame<T: Encodable>(api: ApiKey, version: i16, body: &T) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")))
            .encode(&mut buf, api.request_header_version(version))
            .expect("header");
        body.encode(&mut buf, version).expect("body");
        buf.freeze()
    }

    #[test]
    fn decodes_a_metadata_request() {
        let f = frame(ApiKey::Metadata, 12, &MetadataRequest::default());
        match decode_request(f).expect("decode") {
            Decoded::Request(r) => {
                assert_eq!(r.api, ApiKey::Metadata);
                assert_eq!(r.header.correlation_id, 7);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn newer_api_versions_gets_the_fallback() {
        let mut f = BytesMut::new();
        f.put_i16(ApiKey::ApiVersions as i16);
        f.put_i16(99);
        f.put_i32(42);
        f.put_i16(-1);
        match decode_request(f.freeze()).expect("decode") {
            Decoded::ApiVersionsFallback { correlation_id } => assert_eq!(correlation_id, 42),
            other => panic!("unexpected {other:?}"),
        }
        let _ = ApiVersionsRequest::default();
    }

    #[test]
    fn unknown_key_and_unsupported_version_are_errors() {
        let mut f = BytesMut::new();
        f.put_i16(9999);
        f.put_i16(0);
        f.put_i32(1);
        assert!(matches!(
            decode_request(f.freeze()),
            Err(Error::UnknownApiKey(9999))
        ));
        let f = frame(ApiKey::Produce, 3, &ProduceRequest::default());
        let mut raw = BytesMut::from(&f[..]);
        raw[2..4].copy_from_slice(&2i16.to_be_bytes());
        assert!(matches!(
            decode_request(raw.freeze()),
            Err(Error::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn hostile_array_length_is_malformed_not_a_crash() {
        // Produce v9 (flexible): header, then transactional_id (compact nullable string: 0 = null),
        // acks, timeout, then a compact array whose varint length claims ~4 billion topics.
        let mut f = BytesMut::new();
        f.put_i16(ApiKey::Produce as i16);
        f.put_i16(9);
        f.put_i32(1);
        f.put_i16(-1); // client id null
        f.put_u8(0); // header tagged fields
        f.put_u8(0); // transactional id: null
        f.put_i16(1);
        f.put_i32(1000);
        f.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            decode_request(f.freeze()),
            Err(Error::Malformed { .. })
        ));
        // Non-flexible v3 with an int32 length of i32::MAX.
        let mut f = BytesMut::new();
        f.put_i16(ApiKey::Produce as i16);
        f.put_i16(3);
        f.put_i32(1);
        f.put_i16(-1);
        f.put_i16(-1);
        f.put_i16(1);
        f.put_i32(1000);
        f.put_i32(i32::MAX);
        assert!(matches!(
            decode_request(f.freeze()),
            Err(Error::Malformed { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_request(Bytes::from(data));
        }
    }
}
