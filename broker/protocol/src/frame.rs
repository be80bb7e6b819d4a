use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Error, Result};

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// Reads one size-prefixed frame. Returns `Ok(None)` on a clean end of stream between frames.
///
/// The size is checked before any buffer is allocated, so a bogus length cannot make the
/// broker reserve memory it was never sent.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, max: usize) -> Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(len);
    if size < 0 || size as usize > max {
        return Err(Error::FrameTooLarge {
            size: i64::from(size),
            max,
        });
    }
    let size = size as usize;
    // Read into the allocation's spare capacity: zeroing it first cost a pass over every
    // produced byte, and a peer that announces a large frame and sends nothing touches no
    // memory.
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        let want = size - buf.len();
        if reader.read_buf(&mut (&mut buf).limit(want)).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Some(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_clean_eof() {
        let mut input: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c'];
        let frame = read_frame(&mut input, 1024).await.expect("read");
        assert_eq!(frame.as_deref(), Some(&b"abc"[..]));
        assert!(read_frame(&mut input, 1024).await.expect("eof").is_none());
    }

    #[tokio::test]
    async fn rejects_oversized_and_negative_sizes() {
        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut big, 1024).await,
            Err(Error::FrameTooLarge { .. })
        ));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        assert!(matches!(
            read_frame(&mut neg, 1024).await,
            Err(Error::FrameTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_frame_never_takes_bytes_of_the_next_one() {
        // Two frames in one read: the first must stop at its size.
        let mut input: &[u8] = &[0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c'];
        let mut reader = tokio::io::BufReader::with_capacity(4, &mut input);
        let first = read_frame(&mut reader, 1024).await.expect("read");
        assert_eq!(first.as_deref(), Some(&b"ab"[..]));
        let second = read_frame(&mut reader, 1024).await.expect("read");
        assert_eq!(second.as_deref(), Some(&b"c"[..]));
        let big = [7u8; 100_000];
        let mut framed = (big.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&big);
        framed.extend_from_slice(&[0, 0, 0, 1, b'z']);
        let mut input: &[u8] = &framed;
        let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, &mut input);
        let first = read_frame(&mut reader, 1 << 20).await.expect("read");
        assert_eq!(first.as_deref(), Some(&big[..]));
        let second = read_frame(&mut reader, 1024).await.expect("read");
        assert_eq!(second.as_deref(), Some(&b"z"[..]));
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let mut input: &[u8] = &[0, 0, 0, 10, 1, 2];
        assert!(matches!(
            read_frame(&mut input, 1024).await,
            Err(Error::Io(_))
        ));
    }
}
