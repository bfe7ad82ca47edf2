//! Write coalescing for HTTP/2 over TLS. The h2 crate writes each frame as soon as it is
//! framed, and a download client's `SETTINGS_MAX_FRAME_SIZE` is usually 16 KiB (curl, browsers):
//! one `poll_write` and one `poll_flush` per 16 KiB, so one TLS record and one `writev` per
//! 16 KiB — 65,000 system calls per GiB (measured with `strace -c`). [`Coalesce`] gathers writes
//! into one buffer of [`CAPACITY`] bytes and passes them on when it is full, or at the flush
//! that follows a flush with no write in between.
//!
//! Why that rule is safe: h2 flushes after every frame it writes, and once more when it has no
//! frame left to write (`Prioritize::poll_complete` ends every pass with a flush). A flush that
//! follows fresh writes is therefore deferred — its caller is woken at once, so h2 runs again
//! and either writes more (gathered) or reaches its closing flush, which finds nothing fresh
//! and passes everything on. No byte waits longer than one more pass of the connection task.
//! Reads pass through untouched; a blocked socket still blocks the writer (the buffer never
//! grows past its capacity); shutdown passes everything on first.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes gathered before they are passed on: eight 16 KiB frames.
pub const CAPACITY: usize = 128 * 1024;

/// `T` with writes gathered into one buffer.
pub struct Coalesce<T> {
    inner: T,
    buf: Vec<u8>,
    /// How much of `buf` has been passed on already.
    written: usize,
    /// Bytes were gathered since the last `poll_flush`.
    fresh: bool,
}

impl<T> Coalesce<T> {
    pub fn new(inner: T) -> Coalesce<T> {
        Coalesce {
            inner,
            buf: Vec::new(),
            written: 0,
            fresh: false,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Passes the buffer on until it is empty (`Ready`) or the inner writer blocks (`Pending`).
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Room for `len` more bytes: drains first when they would not fit.
    fn make_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<()>> {
        if self.buf.len() + len > CAPACITY {
            return self.drain(cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.make_room(cx, data.len()))?;
        if data.len() >= CAPACITY {
            // Too big to gather (and the buffer is empty): straight through.
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        if this.buf.capacity() == 0 {
            this.buf.reserve_exact(CAPACITY);
        }
        this.buf.extend_from_slice(data);
        this.fresh = true;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len: usize = slices.iter().map(|s| s.len()).sum();
        std::task::ready!(this.make_room(cx, len))?;
        if len >= CAPACITY {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, slices);
        }
        if this.buf.capacity() == 0 {
            this.buf.reserve_exact(CAPACITY);
        }
        for slice in slices {
            this.buf.extend_from_slice(slice);
        }
        this.fresh = true;
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if std::mem::take(&mut this.fresh) {
            // Deferred (see the module comment): run the caller again, which flushes again.
            cx.waker().wake_by_ref();
            return Poll::Ready(Ok(()));
        }
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_writes_are_gathered_and_arrive_in_order_at_the_flush() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let mut io = Coalesce::new(ours);
        let mut want = Vec::new();
        for i in 0..100u32 {
            let piece = vec![i as u8; 9 + (i as usize * 37) % 16_384];
            io.write_all(&piece).await.unwrap();
            want.extend_from_slice(&piece);
        }
        io.flush().await.unwrap();
        io.flush().await.unwrap();
        let mut got = vec![0u8; want.len()];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn nothing_is_passed_on_before_the_buffer_fills_or_a_flush() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let mut io = Coalesce::new(ours);
        io.write_all(&[1u8; 1000]).await.unwrap();
        let mut byte = [0u8; 1];
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(50), theirs.read(&mut byte))
                .await;
        assert!(early.is_err(), "held until the flush");
        io.flush().await.unwrap();
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(50), theirs.read(&mut byte))
                .await;
        assert!(early.is_err(), "the first flush after a write is deferred");
        io.flush().await.unwrap();
        let mut got = vec![0u8; 1000];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(got, vec![1u8; 1000]);
    }

    #[tokio::test]
    async fn a_deferred_flush_wakes_its_caller() {
        let (ours, _theirs) = tokio::io::duplex(1 << 20);
        let mut io = Coalesce::new(ours);
        io.write_all(b"frame").await.unwrap();
        let woken = std::sync::Arc::new(Woken::default());
        let waker = std::task::Waker::from(std::sync::Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut io).poll_flush(&mut cx).is_ready());
        assert!(
            woken.0.load(std::sync::atomic::Ordering::SeqCst),
            "woken to flush again"
        );
        assert!(Pin::new(&mut io).poll_flush(&mut cx).is_ready());
        assert!(io.buf.is_empty(), "the second flush passed everything on");
    }

    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicBool);
    impl std::task::Wake for Woken {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_blocked_peer_blocks_the_writer_without_growing_the_buffer() {
        let (ours, mut theirs) = tokio::io::duplex(4096);
        let mut io = Coalesce::new(ours);
        let total = 3 * CAPACITY + 5;
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            for piece in data.chunks(16_393) {
                io.write_all(piece).await.unwrap();
                assert!(io.buf.len() <= CAPACITY);
            }
            io.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        while got.len() < total {
            let mut chunk = vec![0u8; 8192];
            let n = theirs.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        writer.await.unwrap();
        assert_eq!(got, expected);
    }
}
