//! Kafka framing: a 4-byte big-endian size, then that many bytes of request.

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    Negative { size: i32 },
    #[error("frame size {size} exceeds socket.request.max.bytes {max}")]
    TooLarge { size: i32, max: i32 },
    #[error("connection closed in the middle of a {expected}-byte frame")]
    Truncated { expected: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, request_bytes_max: i32) -> Result<Option<Bytes>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(len);
    if size < 0 {
        return Err(FrameError::Negative { size });
    }
    if size > request_bytes_max {
        return Err(FrameError::TooLarge { size, max: request_bytes_max });
    }
    let mut buf = BytesMut::zeroed(size as usize);
    match r.read_exact(&mut buf).await {
        Ok(_) => Ok(Some(buf.freeze())),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(FrameError::Truncated { expected: size as usize })
        }
        Err(e) => Err(e.into()),
    }
}
