//! Length-prefixed bincode 2 frames: a `u32` big-endian payload length, then
//! the payload.
//!
//! The length is checked against [`MAX_RPC_MESSAGE_SIZE`] before a byte of
//! the payload is allocated. Truncated, oversize and garbage frames are typed
//! errors; after one the connection must be closed (the stream position is
//! lost), which is what callers do.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::NetError;
use crate::backend::NodeId;
use crate::injector::FailureInjector;
use crate::limits::MAX_RPC_MESSAGE_SIZE;
use crate::trace::{EventKind, FrameRejection};

/// Bytes of the length prefix.
pub const HEADER_BYTES: usize = 4;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RPC_MESSAGE_SIZE>()
}

/// Encodes `message` as one frame (header included).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, NetError> {
    let mut frame = vec![0u8; HEADER_BYTES];
    bincode::serde::encode_into_std_write(message, &mut frame, config())
        .map_err(|e| NetError::FrameGarbage(format!("cannot encode: {e}")))?;
    let len = frame.len() - HEADER_BYTES;
    if len > MAX_RPC_MESSAGE_SIZE {
        return Err(NetError::FrameTooLarge {
            len,
            limit: MAX_RPC_MESSAGE_SIZE,
        });
    }
    frame[..HEADER_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frame)
}

/// Decodes one frame's payload; trailing bytes make it garbage.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, NetError> {
    let (message, used) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|e| NetError::FrameGarbage(e.to_string()))?;
    if used != payload.len() {
        return Err(NetError::FrameGarbage(format!(
            "{} trailing bytes after the message",
            payload.len() - used
        )));
    }
    Ok(message)
}

/// Writes `message` as one frame and flushes it.
pub async fn write_frame<W, T>(writer: &mut W, message: &T) -> Result<(), NetError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let frame = encode(message)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames.
pub async fn read_frame<R, T>(reader: &mut R) -> Result<Option<T>, NetError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut header = [0u8; HEADER_BYTES];
    let got = read_fully(reader, &mut header).await?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_BYTES {
        return Err(NetError::FrameTruncated {
            expected: HEADER_BYTES,
            got,
        });
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_RPC_MESSAGE_SIZE {
        return Err(NetError::FrameTooLarge {
            len,
            limit: MAX_RPC_MESSAGE_SIZE,
        });
    }
    let mut payload = vec![0u8; len];
    let got = read_fully(reader, &mut payload).await?;
    if got < len {
        return Err(NetError::FrameTruncated { expected: len, got });
    }
    decode(&payload).map(Some)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
async fn read_fully<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<usize, NetError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// The kind of rejection a frame error is, if it is one.
pub fn rejection(err: &NetError) -> Option<FrameRejection> {
    match err {
        NetError::FrameTooLarge { .. } => Some(FrameRejection::Oversize),
        NetError::FrameTruncated { .. } => Some(FrameRejection::Truncated),
        NetError::FrameGarbage(_) => Some(FrameRejection::Garbage),
        _ => None,
    }
}

/// Records a frame error seen by `node` as an event and a counter; returns
/// whether it was a frame rejection (other errors are the caller's).
pub fn record_rejection(injector: &FailureInjector, node: NodeId, err: &NetError) -> bool {
    match rejection(err) {
        Some(reason) => {
            injector.record(EventKind::FrameRejected { node, reason });
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Ping {
        id: u64,
        body: String,
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn round_trip_and_clean_eof() {
        block_on(async {
            let ping = Ping {
                id: 7,
                body: "hello".into(),
            };
            let mut wire = Vec::new();
            write_frame(&mut wire, &ping).await.unwrap();
            write_frame(&mut wire, &ping).await.unwrap();
            let mut reader = wire.as_slice();
            assert_eq!(
                read_frame::<_, Ping>(&mut reader).await.unwrap(),
                Some(ping)
            );
            assert!(read_frame::<_, Ping>(&mut reader).await.unwrap().is_some());
            assert_eq!(read_frame::<_, Ping>(&mut reader).await.unwrap(), None);
        });
    }

    #[test]
    fn oversize_header_is_rejected_before_allocation() {
        block_on(async {
            let mut wire = ((MAX_RPC_MESSAGE_SIZE + 1) as u32).to_be_bytes().to_vec();
            wire.extend_from_slice(b"abc");
            let err = read_frame::<_, Ping>(&mut wire.as_slice())
                .await
                .unwrap_err();
            assert_eq!(
                err,
                NetError::FrameTooLarge {
                    len: MAX_RPC_MESSAGE_SIZE + 1,
                    limit: MAX_RPC_MESSAGE_SIZE
                }
            );
            let huge = u32::MAX.to_be_bytes();
            let err = read_frame::<_, Ping>(&mut huge.as_slice())
                .await
                .unwrap_err();
            assert!(matches!(err, NetError::FrameTooLarge { .. }));
        });
    }

    #[test]
    fn truncation_and_garbage_are_typed() {
        block_on(async {
            let frame = encode(&Ping {
                id: 1,
                body: "x".repeat(100),
            })
            .unwrap();
            let cut = &frame[..frame.len() - 10];
            let err = read_frame::<_, Ping>(&mut &cut[..]).await.unwrap_err();
            assert!(matches!(err, NetError::FrameTruncated { got, .. } if got == frame.len() - 14));
            let err = read_frame::<_, Ping>(&mut &frame[..2]).await.unwrap_err();
            assert_eq!(
                err,
                NetError::FrameTruncated {
                    expected: 4,
                    got: 2
                }
            );

            let mut garbage = 8u32.to_be_bytes().to_vec();
            garbage.extend_from_slice(&[0xff; 8]);
            let err = read_frame::<_, Ping>(&mut garbage.as_slice())
                .await
                .unwrap_err();
            assert!(matches!(err, NetError::FrameGarbage(_)), "{err}");

            let mut trailing = encode(&Ping {
                id: 1,
                body: String::new(),
            })
            .unwrap();
            trailing.push(0);
            let len = (trailing.len() - HEADER_BYTES) as u32;
            trailing[..4].copy_from_slice(&len.to_be_bytes());
            let err = read_frame::<_, Ping>(&mut trailing.as_slice())
                .await
                .unwrap_err();
            assert!(matches!(err, NetError::FrameGarbage(_)), "{err}");
        });
    }

    #[test]
    fn encoding_an_oversize_message_is_refused() {
        let big = vec![0u8; MAX_RPC_MESSAGE_SIZE + 1];
        let err = encode(&big).unwrap_err();
        assert!(matches!(err, NetError::FrameTooLarge { .. }), "{err}");
        let at_limit = vec![0u8; MAX_RPC_MESSAGE_SIZE - 8];
        assert!(encode(&at_limit).is_ok());
    }
}
