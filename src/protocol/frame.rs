//! Kafka framing: a 4-byte big-endian size, then that many bytes of request. Every frame is
//! bounded before it is read: its size by `socket.request.max.bytes`, its bytes by the shared
//! `queued.max.request.bytes` budget, and its arrival by a deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame size {size} is negative")]
    Negative { size: i32 },
    #[error("frame size {size} exceeds socket.request.max.bytes {max}")]
    TooLarge { size: i32, max: i32 },
    #[error("connection closed in the middle of a {expected}-byte frame")]
    Truncated { expected: usize },
    #[error("no request for connections.max.idle.ms ({idle_ms} ms)")]
    Idle { idle_ms: u64 },
    #[error("a {size}-byte frame did not arrive within gregor.request.read.timeout.ms ({timeout_ms} ms)")]
    Slow { size: usize, timeout_ms: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The limits every frame is read under; one per listener, shared by its connections.
#[derive(Debug, Clone)]
pub struct FrameLimits {
    pub request_bytes_max: i32,
    pub idle: Duration,
    pub read_timeout: Duration,
    /// Bytes of requests read but not answered, over all connections; `None`: no limit.
    pub queued: Option<QueuedBytes>,
}

/// Kafka's request memory pool: a frame takes its size from it before its body is read and gives
/// it back when its request has been handled.
#[derive(Debug, Clone)]
pub struct QueuedBytes {
    budget: Arc<Semaphore>,
    capacity: usize,
}

impl QueuedBytes {
    pub fn new(capacity: usize) -> QueuedBytes {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        QueuedBytes { budget: Arc::new(Semaphore::new(capacity)), capacity }
    }

    /// Bytes not taken right now.
    pub fn available(&self) -> usize {
        self.budget.available_permits()
    }

    async fn take(&self, size: usize) -> OwnedSemaphorePermit {
        // A frame larger than the whole budget waits for all of it, as Kafka lets one
        // allocation through when the pool is free.
        let n = size.clamp(1, self.capacity) as u32;
        self.budget.clone().acquire_many_owned(n).await.expect("the budget is never closed")
    }
}

/// One request frame and the share of the queued-bytes budget it holds until dropped.
pub struct Frame {
    pub bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

/// Reads one frame; `Ok(None)` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, limits: &FrameLimits) -> Result<Option<Frame>, FrameError> {
    let mut len = [0u8; 4];
    // Between requests a client may stay silent up to connections.max.idle.ms.
    let first = match tokio::time::timeout(limits.idle, r.read(&mut len)).await {
        Err(_) => return Err(FrameError::Idle { idle_ms: limits.idle.as_millis() as u64 }),
        Ok(Ok(0)) => return Ok(None),
        Ok(read) => read?,
    };
    let started = tokio::time::Instant::now();
    let deadline = started + limits.read_timeout;
    let slow = |size| FrameError::Slow { size, timeout_ms: limits.read_timeout.as_millis() as u64 };
    if first < 4 {
        match tokio::time::timeout_at(deadline, r.read_exact(&mut len[first..])).await {
            Err(_) => return Err(slow(0)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(FrameError::Truncated { expected: 4 });
            }
            Ok(read) => read?,
        };
    }
    let size = i32::from_be_bytes(len);
    if size < 0 {
        return Err(FrameError::Negative { size });
    }
    if size > limits.request_bytes_max {
        return Err(FrameError::TooLarge { size, max: limits.request_bytes_max });
    }
    let size = size as usize;
    // Waiting for budget is Kafka's muted channel: this connection reads nothing meanwhile,
    // and the wait does not count against the frame's deadline.
    let waiting = tokio::time::Instant::now();
    let budget = match &limits.queued {
        Some(q) => Some(q.take(size).await),
        None => None,
    };
    let deadline = deadline + waiting.elapsed();
    let mut buf = BytesMut::zeroed(size);
    match tokio::time::timeout_at(deadline, r.read_exact(&mut buf)).await {
        Err(_) => Err(slow(size)),
        Ok(Ok(_)) => Ok(Some(Frame { bytes: buf.freeze(), _budget: budget })),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Truncated { expected: size }),
        Ok(Err(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(queued: Option<QueuedBytes>) -> FrameLimits {
        FrameLimits {
            request_bytes_max: 1000,
            idle: Duration::from_secs(5),
            read_timeout: Duration::from_millis(200),
            queued,
        }
    }

    #[tokio::test]
    async fn a_frame_holds_its_bytes_of_the_budget_until_dropped() {
        let q = QueuedBytes::new(100);
        let mut input: &[u8] = &[0, 0, 0, 3, 1, 2, 3];
        let f = read_frame(&mut input, &limits(Some(q.clone()))).await.unwrap().unwrap();
        assert_eq!(&f.bytes[..], &[1, 2, 3]);
        assert_eq!(q.available(), 97);
        drop(f);
        assert_eq!(q.available(), 100);
    }

    #[tokio::test]
    async fn sizes_out_of_bounds_are_refused_before_reading() {
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xfb];
        assert!(matches!(read_frame(&mut neg, &limits(None)).await, Err(FrameError::Negative { .. })));
        let mut big: &[u8] = &[0, 0, 0x10, 0];
        assert!(matches!(read_frame(&mut big, &limits(None)).await, Err(FrameError::TooLarge { .. })));
        let mut cut: &[u8] = &[0, 0, 0, 9, 1];
        assert!(matches!(read_frame(&mut cut, &limits(None)).await, Err(FrameError::Truncated { expected: 9 })));
        let mut none: &[u8] = &[];
        assert!(read_frame(&mut none, &limits(None)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_frame_that_trickles_past_its_deadline_is_refused() {
        let (mut client, mut server) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        client.write_all(&[0, 0, 0, 10, 1]).await.unwrap();
        // The other 9 bytes never come; the client stays connected.
        let r = read_frame(&mut server, &limits(None)).await;
        assert!(matches!(r, Err(FrameError::Slow { size: 10, .. })), "{:?}", r.err());
        drop(client);
    }
}
