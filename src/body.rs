//! Response bodies: short texts, and the file body that streams exactly the promised bytes.
//!
//! The file body reads with positioned reads, so there is no shared cursor: inline when the bytes
//! are in the page cache (`preadv2` with `RWF_NOWAIT`, see `cached_io`), else `pread` on tokio's
//! blocking pool, one read in flight per response. Nothing inside `poll` ever waits for a disk.
//!
//! Reads are [`FIRST_CHUNK`] bytes until the client has taken [`GROW_AFTER`] bytes, then grow
//! with what it has taken (an eighth of it) up to the configured maximum. A client that reads
//! nothing can absorb at most about a megabyte into kernel buffers (the server caps unsent bytes
//! per socket, see `net::socket::NOTSENT_LOWAT`), so it never gets past small reads: a stalled
//! connection holds one small buffer, while a streaming one gets large reads and few syscalls.
//!
//! If the file turns out shorter than promised (truncated underneath), the body ends with an
//! error: hyper then closes the connection instead of sending a short or padded body.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;

use crate::fs::read_buffers::ReadBuffer;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::archive::Layout;
use crate::fs::stamp::Stamp;
use crate::http::segment::Segment;

/// Default for the largest positioned read, and so body frame (see the README's benchmark).
pub const DEFAULT_CHUNK_SIZE: usize = 256 * 1024;
/// The read size until the client has taken [`GROW_AFTER`] bytes.
pub const FIRST_CHUNK: usize = 8 * 1024;
/// Bytes a client must have taken before reads grow: more than the kernel buffers for a client
/// that reads nothing (measured with `NOTSENT_LOWAT` = 128 KiB: about 280 KB).
pub const GROW_AFTER: u64 = 1024 * 1024;
/// Past [`GROW_AFTER`], a read is 1/GROWTH of the bytes the client has taken.
const GROWTH: u64 = 8;

/// File bodies of at least [`GROW_AFTER`] bytes now streaming, process-wide. The hashing thread
/// stands back while there are any (see `digest`); small responses are not counted, so they pay
/// no shared-counter cost.
static LARGE_BODIES: AtomicUsize = AtomicUsize::new(0);

/// Whether large responses are streaming right now.
pub fn large_bodies_streaming() -> bool {
    LARGE_BODIES.load(Ordering::Relaxed) > 0
}

/// A response body: nothing, a short text, or a file.
pub enum Body {
    Bytes(Option<Bytes>),
    File(FileBody),
}

impl Body {
    pub fn empty() -> Body {
        Body::Bytes(None)
    }

    pub fn text(text: &'static str) -> Body {
        Body::Bytes(Some(Bytes::from_static(text.as_bytes())))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::File(file) => Pin::new(file).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Bytes(bytes) => bytes.is_none(),
            Body::File(file) => file.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Body::File(file) => file.size_hint(),
        }
    }
}

/// A document made on demand (a listing): any range of its bytes, rendered when read.
pub trait Document: Send + Sync {
    /// At most `max` bytes from `offset` (fewer only at the end).
    fn read_at(&self, offset: u64, max: usize) -> Bytes;
}

/// Where a body's file bytes come from.
#[derive(Clone)]
pub enum Source {
    /// A document rendered as it is read: [`Segment::Entity`] ranges are its bytes (no I/O,
    /// rendered inline).
    Document(Arc<dyn Document>),
    /// One open file: [`Segment::Entity`] ranges are its bytes.
    File(Arc<File>),
    /// An archive's members, opened one at a time as the body reaches them
    /// ([`Segment::Member`]).
    Members(Arc<dyn Members>),
}

/// The member files of an archive body.
pub trait Members: Send + Sync {
    /// Opens member `index` if the kernel can do it from its caches (`Ok(None)`: would block).
    fn try_open(&self, index: usize) -> io::Result<Option<Arc<File>>>;
    /// Opens member `index`, waiting for the disk if need be (blocking pool only).
    fn open(&self, index: usize) -> io::Result<Arc<File>>;
    /// Fails if the opened member is no longer the version the archive announced.
    fn check(&self, index: usize, file: &File) -> io::Result<()>;
}

/// What a read on the blocking pool hands back: the member it opened (if it had to), and bytes.
type PoolRead = io::Result<(Option<(usize, Arc<File>)>, Bytes)>;

/// Streams a list of segments (framing bytes and file or member ranges).
pub struct FileBody {
    source: Source,
    /// For an archive: its layout, which turns each [`Segment::Entity`] range into framing and
    /// member ranges one piece at a time (so a body holds a position, not a piece list).
    layout: Option<Arc<Layout>>,
    /// The member being read (archives).
    current: Option<(usize, Arc<File>)>,
    segments: VecDeque<Segment>,
    remaining: u64,
    /// The largest read.
    chunk_size: usize,
    /// File bytes produced so far (sizes the next read).
    sent: u64,
    read: Option<JoinHandle<PoolRead>>,
    /// For a file: the version it was opened as, checked after every read (the first included).
    watch: Option<(Stamp, u64)>,
    /// Whether this body counts in [`LARGE_BODIES`].
    large: bool,
}

impl Drop for FileBody {
    fn drop(&mut self) {
        if self.large {
            LARGE_BODIES.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl FileBody {
    /// `chunk_size` is the largest read (at least 1).
    pub fn new(source: Source, segments: Vec<Segment>, chunk_size: usize) -> FileBody {
        let remaining = crate::http::segment::body_length(&segments);
        let large = remaining >= GROW_AFTER;
        if large {
            LARGE_BODIES.fetch_add(1, Ordering::Relaxed);
        }
        FileBody {
            source,
            layout: None,
            watch: None,
            current: None,
            segments: segments.into(),
            remaining,
            chunk_size: chunk_size.max(1),
            sent: 0,
            read: None,
            large,
        }
    }

    /// The segments' [`Segment::Entity`] ranges are ranges of the archive `layout` (whose pieces
    /// are read from the [`Source::Members`]).
    pub fn over_layout(mut self, layout: Arc<Layout>) -> FileBody {
        self.layout = Some(layout);
        self
    }

    /// Checks, after every read (the first included, before its bytes are handed on: a response
    /// served in one read must not carry another version's bytes under this version's ETag and
    /// digest), that the file is still the version `stamp` (with
    /// `links` hard links) it was opened as: a size or mtime that changed (an in-place write, a
    /// truncation), or a ctime that changed while the link count did not (a rewrite whose mtime
    /// was set back), ends the body with an error, so the connection is cut before a byte of
    /// another version is sent. Unlinking or replacing the path by rename changes only the
    /// ctime and the link count: those responses finish, exact.
    pub fn watching(mut self, stamp: Stamp, links: u64) -> FileBody {
        self.watch = Some((stamp, links));
        self
    }

    /// Why the file is no longer the version being sent, if it is not.
    fn changed(&self, file: &File) -> Option<io::Error> {
        let (want, links) = self.watch.as_ref()?;
        let stat = match rustix::fs::fstat(file) {
            Ok(stat) => stat,
            Err(errno) => return Some(errno.into()),
        };
        let now = Stamp::of(&stat);
        #[allow(clippy::unnecessary_cast)] // st_nlink's type differs between architectures
        let same_links = stat.st_nlink as u64 == *links;
        if now.size < want.size {
            return Some(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter than the length announced",
            ));
        }
        (now.size != want.size
            || now.mtime != want.mtime
            || (now.ctime != want.ctime && same_links))
            .then(|| io::Error::other("the file changed while it was sent"))
    }

    /// The size of the next read: small until the client has proven it reads, then growing with
    /// what it has taken, within [first, maximum].
    fn next_read_size(&self) -> u64 {
        let (first, max) = (
            FIRST_CHUNK.min(self.chunk_size) as u64,
            self.chunk_size as u64,
        );
        if self.sent < GROW_AFTER {
            return first;
        }
        (self.sent / GROWTH).clamp(first, max)
    }

    /// Turns the bytes of a completed read into a frame (an empty read is a truncated file).
    fn deliver(&mut self, bytes: Bytes) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if bytes.is_empty() {
            self.remaining = 0;
            self.segments.clear();
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter than the length announced",
            ))));
        }
        if let Source::File(file) = &self.source
            && let Some(err) = self.changed(file)
        {
            self.remaining = 0;
            self.segments.clear();
            return Poll::Ready(Some(Err(err)));
        }
        if let Some(Segment::Entity(range) | Segment::Member { range, .. }) =
            self.segments.front_mut()
        {
            range.start += bytes.len() as u64;
        }
        self.remaining -= bytes.len() as u64;
        self.sent += bytes.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.read.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            if let Some(read) = self.read.as_mut() {
                let joined = ready!(Pin::new(read).poll(cx));
                self.read = None;
                return match joined {
                    Ok(Ok((opened, bytes))) => {
                        if opened.is_some() {
                            self.current = opened;
                        }
                        self.deliver(bytes)
                    }
                    Ok(Err(err)) => Poll::Ready(Some(Err(err))),
                    Err(join) => Poll::Ready(Some(Err(io::Error::other(join)))),
                };
            }
            let (index, range) = match self.segments.front_mut() {
                None => return Poll::Ready(None),
                Some(Segment::Literal(bytes)) => {
                    let bytes = std::mem::take(bytes);
                    self.segments.pop_front();
                    self.remaining -= bytes.len() as u64;
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    continue;
                }
                Some(Segment::Entity(range)) if self.layout.is_some() && !range.is_empty() => {
                    // An archive range: its first piece goes in front of what is left of it.
                    let range = range.clone();
                    let piece = self
                        .layout
                        .as_ref()
                        .and_then(|l| l.first_segment(range.clone()));
                    let Some(piece) = piece else {
                        self.segments.clear();
                        self.remaining = 0;
                        return Poll::Ready(Some(Err(io::Error::other(
                            "an archive range past the archive's end",
                        ))));
                    };
                    let rest = range.start + piece.len()..range.end;
                    self.segments.pop_front();
                    if !rest.is_empty() {
                        self.segments.push_front(Segment::Entity(rest));
                    }
                    self.segments.push_front(piece);
                    continue;
                }
                Some(Segment::Entity(range)) => (None, range.clone()),
                Some(Segment::Member { index, range }) => (Some(*index), range.clone()),
            };
            if range.is_empty() {
                self.segments.pop_front();
                // A member's bytes are all sent: it must still be the version announced.
                if let (Some(index), Source::Members(members), Some((open, file))) =
                    (index, &self.source, &self.current)
                    && *open == index
                    && let Err(err) = members.check(index, file)
                {
                    self.segments.clear();
                    self.remaining = 0;
                    return Poll::Ready(Some(Err(err)));
                }
                continue;
            }
            let offset = range.start;
            let want = (range.end - range.start).min(self.next_read_size()) as usize;
            if let (None, Source::Document(doc)) = (index, &self.source) {
                let bytes = doc.read_at(offset, want);
                return self.deliver(bytes);
            }
            let mut buf = ReadBuffer::new(want);
            let file = match (index, &self.source) {
                (None, Source::File(file)) => Arc::clone(file),
                (Some(index), Source::Members(members)) => match &self.current {
                    Some((open, file)) if *open == index => Arc::clone(file),
                    _ => match members.try_open(index) {
                        Ok(Some(file)) => {
                            self.current = Some((index, Arc::clone(&file)));
                            file
                        }
                        Ok(None) => {
                            let members = Arc::clone(members);
                            self.read = Some(tokio::task::spawn_blocking(move || {
                                let file = members.open(index)?;
                                let bytes = read_chunk(&file, buf, offset)?;
                                Ok((Some((index, file)), bytes))
                            }));
                            continue;
                        }
                        Err(err) => return Poll::Ready(Some(Err(err))),
                    },
                },
                _ => {
                    return Poll::Ready(Some(Err(io::Error::other(
                        "a body segment does not fit its source",
                    ))));
                }
            };
            match crate::fs::cached_io::try_read_at(&file, buf.as_mut_slice(), offset) {
                Ok(Some(n)) => return self.deliver(buf.into_bytes(n)),
                Ok(None) => {
                    self.read = Some(tokio::task::spawn_blocking(move || {
                        Ok((None, read_chunk(&file, buf, offset)?))
                    }));
                }
                Err(err) => return Poll::Ready(Some(Err(err))),
            }
        }
    }
}

/// One blocking positioned read into `buf` at `offset`; empty at end of file.
fn read_chunk(file: &File, mut buf: ReadBuffer, offset: u64) -> io::Result<Bytes> {
    loop {
        match file.read_at(buf.as_mut_slice(), offset) {
            Ok(n) => return Ok(buf.into_bytes(n)),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    fn file_with(data: &[u8]) -> Arc<File> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        Arc::new(file)
    }

    #[tokio::test]
    async fn streams_exactly_the_segments_across_chunk_boundaries() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let segments = vec![
            Segment::Literal(Bytes::from_static(b"head")),
            Segment::Entity(5..4_100),
            Segment::Literal(Bytes::new()),
            Segment::Entity(9_000..10_000),
            Segment::Entity(0..0),
            Segment::Literal(Bytes::from_static(b"tail")),
        ];
        for chunk in [1, 7, 1024, 4095, 4096, 65_536] {
            let body = FileBody::new(Source::File(file_with(&data)), segments.clone(), chunk);
            assert_eq!(body.size_hint().exact(), Some(4 + 4095 + 1000 + 4));
            let got = Body::File(body).collect().await.unwrap().to_bytes();
            let mut want = b"head".to_vec();
            want.extend_from_slice(&data[5..4_100]);
            want.extend_from_slice(&data[9_000..]);
            want.extend_from_slice(b"tail");
            assert_eq!(got, want, "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_ends_in_an_error_not_padding() {
        let body = FileBody::new(
            Source::File(file_with(&[7u8; 100])),
            vec![Segment::Entity(0..200)],
            64,
        );
        match Body::File(body).collect().await {
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof),
            Ok(_) => panic!("a short file must fail the body"),
        }
    }

    #[tokio::test]
    async fn frames_never_exceed_the_chunk_size_and_the_hint_counts_down() {
        let mut body = FileBody::new(
            Source::File(file_with(&[1u8; 1000])),
            vec![Segment::Entity(0..1000)],
            300,
        );
        let mut seen = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= 300);
            seen += data.len() as u64;
            assert_eq!(body.size_hint().exact(), Some(1000 - seen));
        }
        assert_eq!(seen, 1000);
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn reads_stay_small_until_the_client_has_taken_a_megabyte_then_grow_to_the_maximum() {
        let len = 4 * GROW_AFTER as usize;
        let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
        let mut body = FileBody::new(
            Source::File(file_with(&data)),
            vec![Segment::Entity(0..len as u64)],
            256 * 1024,
        );
        let (mut sent, mut largest_early, mut largest) = (0u64, 0, 0);
        let mut got = Vec::with_capacity(len);
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            if sent < GROW_AFTER {
                largest_early = largest_early.max(data.len());
            }
            largest = largest.max(data.len());
            sent += data.len() as u64;
            got.extend_from_slice(&data);
        }
        assert_eq!(got, data);
        assert_eq!(
            largest_early, FIRST_CHUNK,
            "a client that may be stalled costs one small buffer"
        );
        assert_eq!(largest, 256 * 1024, "a client that reads gets large reads");
    }

    #[tokio::test]
    async fn a_response_served_in_one_read_is_checked_against_the_version_before_it_is_handed_on() {
        // Issue 20: the check used to skip the first read, so a file (or range) of at most one
        // read rewritten between the lookup and the read was sent whole under the old version's tag.
        let file = file_with(&[1u8; 100]);
        let stat = rustix::fs::fstat(&*file).unwrap();
        let mut old = Stamp::of(&stat);
        #[allow(clippy::unnecessary_cast)]
        let links = stat.st_nlink as u64;
        let fresh = FileBody::new(
            Source::File(Arc::clone(&file)),
            vec![Segment::Entity(0..100)],
            4096,
        )
        .watching(old, links);
        assert_eq!(
            Body::File(fresh).collect().await.unwrap().to_bytes().len(),
            100
        );
        old.mtime.0 -= 10; // the version looked up is not the one the read sees
        let stale = FileBody::new(Source::File(file), vec![Segment::Entity(0..100)], 4096)
            .watching(old, links);
        let mut stale = Body::File(stale);
        let first = stale.frame().await;
        assert!(
            matches!(first, Some(Err(_))),
            "the first (and only) read must fail, not hand on the other version's bytes"
        );
    }

    #[test]
    fn the_blocking_pool_read_returns_what_is_there_and_empty_at_the_end() {
        let file = file_with(b"0123456789");
        assert_eq!(
            read_chunk(&file, ReadBuffer::new(4), 3).unwrap(),
            &b"3456"[..]
        );
        assert_eq!(
            read_chunk(&file, ReadBuffer::new(4), 8).unwrap(),
            &b"89"[..]
        );
        assert!(
            read_chunk(&file, ReadBuffer::new(4), 10)
                .unwrap()
                .is_empty()
        );
    }

    impl FileBody {
        async fn frame(&mut self) -> Option<io::Result<Frame<Bytes>>> {
            std::future::poll_fn(|cx| self.poll_frame(cx)).await
        }
    }
}
