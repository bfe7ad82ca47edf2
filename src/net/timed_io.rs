//! A connection wrapper that enforces the two timeouts hyper has no knob for:
//!
//! - **send stall**: a write that stays blocked (the client reads nothing) for `send_timeout`
//!   fails, so hyper drops the connection and with it the response's file handle and buffer;
//! - **idle**: a connection on which nothing was read or written for `idle_timeout`, while no
//!   write is blocked and no HTTP/2 stream is in flight, fails (an idle keep-alive connection, or
//!   a client that connected and said nothing). An HTTP/2 stream waiting for flow-control window
//!   is timed by `net::streams` instead.
//!
//! The request-header timeout (a client trickling a header) is hyper's own `header_read_timeout`.
//! Deadlines are checked lazily: a successful read or write only records the time (no timer
//! re-registration per write); the timers are re-armed when they fire early.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `T` with an idle timeout and a send-stall timeout.
pub struct TimedIo<T> {
    inner: T,
    idle_timeout: Duration,
    send_timeout: Duration,
    /// When a read or write last moved a byte.
    last_activity: Instant,
    idle: Pin<Box<Sleep>>,
    /// Since when the current write has been blocked, if it is.
    blocked_since: Option<Instant>,
    stall: Pin<Box<Sleep>>,
    /// HTTP/2 streams in flight on this connection (see `net::streams`), if it may carry any.
    streams: Option<Arc<AtomicUsize>>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, idle_timeout: Duration, send_timeout: Duration) -> TimedIo<T> {
        let now = Instant::now();
        TimedIo {
            inner,
            idle_timeout,
            send_timeout,
            last_activity: now,
            idle: Box::pin(tokio::time::sleep_until(now + idle_timeout)),
            blocked_since: None,
            stall: Box::pin(tokio::time::sleep_until(now + send_timeout)),
            streams: None,
        }
    }

    /// Not idle while any of these streams is in flight.
    pub fn with_streams(mut self, streams: Arc<AtomicUsize>) -> TimedIo<T> {
        self.streams = Some(streams);
        self
    }

    fn streams_in_flight(&self) -> bool {
        self.streams
            .as_ref()
            .is_some_and(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Polls the idle timer: `Err` once `idle_timeout` has passed since the last activity.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        // A blocked write pushed the timer out (see `on_write`); bring it back in.
        let due = self.last_activity + self.idle_timeout;
        if self.idle.deadline() > due {
            self.idle.as_mut().reset(due);
        }
        while self.idle.as_mut().poll(cx).is_ready() {
            let deadline = self.last_activity + self.idle_timeout;
            if deadline <= Instant::now() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ));
            }
            self.idle.as_mut().reset(deadline);
        }
        Ok(())
    }

    /// Records a write's outcome and polls the stall timer while the write is blocked.
    fn on_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.blocked_since = None;
            self.last_activity = Instant::now();
            return polled;
        }
        let since = match self.blocked_since {
            Some(since) => since,
            None => {
                // While blocked, only the stall timer counts: move the idle timer out of the
                // way, or its firing wakes every stalled connection (and hyper then allocates a
                // read buffer for each: measured +16 KB per stalled connection).
                let now = Instant::now();
                self.idle
                    .as_mut()
                    .reset(now + self.send_timeout + self.idle_timeout);
                self.blocked_since = Some(now);
                now
            }
        };
        while self.stall.as_mut().poll(cx).is_ready() {
            let deadline = since + self.send_timeout;
            if deadline <= Instant::now() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client read nothing for the send timeout",
                )));
            }
            self.stall.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                // A blocked write is the stall timer's business, not idleness.
                if this.blocked_since.is_none() && !this.streams_in_flight() {
                    this.poll_idle(cx)?;
                }
                Poll::Pending
            }
            ready => {
                this.last_activity = Instant::now();
                ready
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.on_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.on_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            // A flush that moved nothing is not activity: HTTP/2 flushes on every wake-up, and
            // would otherwise keep a connection whose streams all wait for window "active".
            Poll::Ready(done) => Poll::Ready(done),
            blocked => this.on_write(cx, blocked),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_after_the_idle_timeout() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut io = TimedIo::new(ours, Duration::from_secs(5), Duration::from_secs(60));
        let started = Instant::now();
        let err = io.read(&mut [0u8; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_pushes_the_idle_deadline_back() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut io = TimedIo::new(ours, Duration::from_secs(5), Duration::from_secs(60));
        let started = Instant::now();
        let talker = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                theirs.write_all(b"x").await.unwrap();
            }
            theirs
        });
        let mut buf = [0u8; 1];
        for _ in 0..3 {
            io.read_exact(&mut buf).await.unwrap();
        }
        let _theirs = talker.await.unwrap();
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(12 + 5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_blocked_for_the_send_timeout_fails() {
        let (ours, _theirs) = tokio::io::duplex(8);
        let mut io = TimedIo::new(ours, Duration::from_secs(5), Duration::from_secs(30));
        let started = Instant::now();
        let err = io.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_blocked_write_clears_the_idle_timeout_counts_from_the_last_activity() {
        let (ours, mut theirs) = tokio::io::duplex(8);
        let mut io = TimedIo::new(ours, Duration::from_secs(5), Duration::from_secs(30));
        let reader = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let mut buf = [0u8; 16];
            theirs.read_exact(&mut buf).await.unwrap();
            theirs
        });
        io.write_all(&[1u8; 16]).await.unwrap(); // blocked for 10 s, then drained
        let _theirs = reader.await.unwrap();
        let unblocked = Instant::now();
        let err = io.read(&mut [0u8; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            unblocked.elapsed(),
            Duration::from_secs(5),
            "not the pushed-out deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_reader_is_not_a_stall() {
        let (ours, mut theirs) = tokio::io::duplex(8);
        let mut io = TimedIo::new(ours, Duration::from_secs(5), Duration::from_secs(30));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 8];
            while got.len() < 64 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let n = theirs.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        io.write_all(&[7u8; 64]).await.unwrap();
        assert_eq!(reader.await.unwrap(), vec![7u8; 64]);
    }
}
